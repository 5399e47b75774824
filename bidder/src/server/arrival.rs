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
use std::mem::MaybeUninit;
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
fn recv_stamped(
    stream: &TcpStream,
    buf: &mut [MaybeUninit<u8>],
) -> io::Result<(usize, Option<u64>)> {
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
    #[cfg(test)]
    tests::RECVMSG_CALLS.with(|c| c.set(c.get() + 1));
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
fn recv_stamped(
    stream: &TcpStream,
    buf: &mut [MaybeUninit<u8>],
) -> io::Result<(usize, Option<u64>)> {
    for b in buf.iter_mut() {
        b.write(0);
    }
    // SAFETY: every byte was just initialised.
    let bytes = unsafe { &mut *(buf as *mut [MaybeUninit<u8>] as *mut [u8]) };
    stream.try_read(bytes).map(|n| (n, None))
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
            // hyper hands over a fresh ReadBuf on its spare capacity for
            // every read: initialising it would zero kilobytes per request
            // that the kernel is about to overwrite.
            // SAFETY: the kernel only writes into `unfilled`, never reads
            // it, and only the `n` bytes it reports are marked initialised.
            let unfilled = unsafe { buf.unfilled_mut() };
            let len = unfilled.len();
            let mut short = None;
            let result = this.inner.try_io(Interest::READABLE, || {
                let (n, stamp) = recv_stamped(&this.inner, unfilled)?;
                // A short read took all the kernel had: report it as
                // WouldBlock so that try_io forgets the readiness, as
                // tokio's own TcpStream does after a short read. Otherwise
                // the next poll (hyper reads again after every answer)
                // costs one more recvmsg that only says EAGAIN: a system
                // call per request, about 7 % of the bid route.
                if n > 0 && n < len {
                    short = Some((n, stamp));
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                Ok((n, stamp))
            });
            let (n, stamp) = match (result, short) {
                (Ok(read), _) | (Err(_), Some(read)) => read,
                // Readiness was stale; try_io cleared it, wait again.
                (Err(e), None) if e.kind() == io::ErrorKind::WouldBlock => continue,
                (Err(e), None) => return Poll::Ready(Err(e)),
            };
            if n > 0 {
                this.stamp.set(stamp.unwrap_or_else(now_nanos));
            }
            // SAFETY: recvmsg wrote these `n` bytes at the start of the
            // unfilled part.
            unsafe { buf.assume_init(n) };
            buf.advance(n);
            return Poll::Ready(Ok(()));
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
    use std::cell::Cell;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    thread_local! {
        /// recvmsg calls made on this thread (the tests' runtimes are
        /// single-threaded).
        pub(super) static RECVMSG_CALLS: Cell<u64> = const { Cell::new(0) };
    }

    async fn pair() -> (TcpStream, StampedStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (client, StampedStream::new(server).0)
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn after_a_short_read_the_next_poll_waits_without_a_system_call() {
        let (mut client, mut server) = pair().await;
        client.write_all(b"hello").await.unwrap();
        let mut buf = [0u8; 64];
        let n = server.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"hello");

        let calls = RECVMSG_CALLS.with(Cell::get);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut unfilled = ReadBuf::new(&mut buf);
        assert!(
            Pin::new(&mut server)
                .poll_read(&mut cx, &mut unfilled)
                .is_pending()
        );
        assert_eq!(
            RECVMSG_CALLS.with(Cell::get),
            calls,
            "the short read already drained the socket; asking again is an EAGAIN per request"
        );

        // Bytes that come later still wake the reader.
        client.write_all(b"again").await.unwrap();
        let n = tokio::time::timeout(Duration::from_secs(5), server.read(&mut buf))
            .await
            .expect("later bytes are read")
            .unwrap();
        assert_eq!(&buf[..n], b"again");
    }

    #[tokio::test]
    async fn a_read_initialises_only_the_bytes_it_received() {
        let (mut client, mut server) = pair().await;
        client.write_all(b"hello").await.unwrap();
        let mut storage = [MaybeUninit::<u8>::uninit(); 8192];
        let mut buf = ReadBuf::uninit(&mut storage);
        std::future::poll_fn(|cx| Pin::new(&mut server).poll_read(cx, &mut buf))
            .await
            .unwrap();
        assert_eq!(buf.filled(), b"hello");
        // Not the 8 KB behind them: hyper offers its whole spare capacity
        // on every read.
        assert_eq!(buf.initialized().len(), 5);
    }

    #[tokio::test]
    async fn a_read_that_fills_the_buffer_leaves_the_rest_readable() {
        let (mut client, mut server) = pair().await;
        client.write_all(b"0123456789").await.unwrap();
        // All ten bytes are in the kernel before the first read.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut got = Vec::new();
        let mut buf = [0u8; 4];
        while got.len() < 10 {
            let n = tokio::time::timeout(Duration::from_secs(5), server.read(&mut buf))
                .await
                .expect("a full read must not forget that more bytes wait")
                .unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"0123456789");
    }

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
