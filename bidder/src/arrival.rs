//! When a request really arrived: a TCP stream that asks the kernel, on
//! every read, when it received the bytes (`SO_TIMESTAMPNS`), so a handler
//! knows how long its request waited in socket buffers and in the runtime's
//! queue before anyone looked at it. Under overload that wait is most of an
//! answer's latency, and invisible to a clock started in the handler.
//!
//! Reads go through `recvmsg` instead of `read`; same cost, one more
//! control message. Where the kernel gives no timestamp (another OS, a
//! socket that refused the option, or the first bytes after the system
//! switched timestamps on, which Linux does lazily), the stamp is the time
//! of the read: the wait reads as zero and nothing is shed. Never blocks: readiness is
//! tokio's, the system call is non-blocking.
#![allow(unsafe_code)]

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

/// The kernel's receive time of the bytes last read on one connection,
/// nanoseconds since the Unix epoch; shared with that connection's handlers.
#[derive(Debug, Default)]
pub struct Stamp(AtomicU64);

impl Stamp {
    /// How long ago the bytes last read arrived (zero if never or if the
    /// clock stepped back).
    pub fn waited(&self) -> Duration {
        let at = self.0.load(Ordering::Relaxed);
        if at == 0 {
            return Duration::ZERO;
        }
        let now = now_nanos();
        Duration::from_nanos(now.saturating_sub(at))
    }

    fn set(&self, nanos: u64) {
        self.0.store(nanos, Ordering::Relaxed);
    }
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A TCP stream whose reads record their kernel receive time in a [`Stamp`].
#[derive(Debug)]
pub struct StampedStream {
    inner: TcpStream,
    stamp: Arc<Stamp>,
}

impl StampedStream {
    /// Asks the kernel for receive timestamps on `inner`.
    pub fn new(inner: TcpStream) -> (StampedStream, Arc<Stamp>) {
        enable_timestamps(&inner);
        let stamp = Arc::new(Stamp::default());
        (
            StampedStream {
                inner,
                stamp: Arc::clone(&stamp),
            },
            stamp,
        )
    }
}

impl StampedStream {
    /// Waits for bytes and copies some without consuming them.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.peek(buf).await
    }
}

#[cfg(target_os = "linux")]
fn enable_timestamps(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: a valid fd owned by `stream`, a pointer to a live c_int and
    // its size; the kernel copies the value and keeps nothing.
    let _ = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
}

#[cfg(not(target_os = "linux"))]
fn enable_timestamps(_: &TcpStream) {}

/// One non-blocking `recvmsg` into `buf`; the bytes read and the kernel's
/// receive time, if it sent one.
#[cfg(target_os = "linux")]
fn recv_stamped(stream: &TcpStream, buf: &mut [u8]) -> io::Result<(usize, Option<u64>)> {
    use std::os::fd::AsRawFd;
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // Room for one SCM_TIMESTAMPNS message, aligned as cmsghdr wants.
    let mut control = [0u64; 8];
    // SAFETY: msghdr is plain data; zeroed is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: `msg` points at `iov` (over `buf`) and `control`, all live
    // for the call; MSG_DONTWAIT never blocks.
    let n = unsafe { libc::recvmsg(stream.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut stamp = None;
    // SAFETY: the CMSG_* macros walk the control buffer the kernel filled,
    // bounded by msg_controllen; the payload of SCM_TIMESTAMPNS is a
    // timespec, read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                let nanos = (ts.tv_sec as u64)
                    .saturating_mul(1_000_000_000)
                    .saturating_add(ts.tv_nsec as u64);
                stamp = Some(nanos);
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok((n as usize, stamp))
}

#[cfg(not(target_os = "linux"))]
fn recv_stamped(stream: &TcpStream, buf: &mut [u8]) -> io::Result<(usize, Option<u64>)> {
    stream.try_read(buf).map(|n| (n, None))
}

impl AsyncRead for StampedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            ready!(this.inner.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match this
                .inner
                .try_io(Interest::READABLE, || recv_stamped(&this.inner, unfilled))
            {
                Ok((n, stamp)) => {
                    if n > 0 {
                        this.stamp.set(stamp.unwrap_or_else(now_nanos));
                    }
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                // Readiness was stale; try_io cleared it, wait again.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for StampedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_read_knows_how_long_its_bytes_waited_in_the_kernel() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let (mut server, stamp) = StampedStream::new(server);
        assert_eq!(stamp.waited(), Duration::ZERO, "nothing read yet");
        // The kernel switches receive timestamps on for the whole system
        // lazily, when the first socket asks: bytes received before that
        // carry none (and read as not having waited).
        client.write_all(b"warm").await.unwrap();
        let mut buf = [0u8; 16];
        let _ = server.read(&mut buf).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;

        client.write_all(b"hello").await.unwrap();
        // The bytes sit in the kernel while nobody reads.
        std::thread::sleep(Duration::from_millis(40));
        let n = server.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"hello");
        let waited = stamp.waited();
        assert!(waited >= Duration::from_millis(35), "{waited:?}");
        assert!(waited < Duration::from_secs(5), "{waited:?}");

        // Bytes read as soon as they come waited about nothing.
        client.write_all(b"again").await.unwrap();
        let n = server.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"again");
        assert!(
            stamp.waited() < Duration::from_millis(30),
            "{:?}",
            stamp.waited()
        );

        server.write_all(b"back").await.unwrap();
        let n = client.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"back");
    }
}
