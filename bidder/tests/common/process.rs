//! The real `bidder` binary as a child process, for tests that kill it,
//! restart it or read what it prints.

use std::net::TcpListener as StdListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use http::Method;

use super::Reply;

/// The binary Cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_bidder");

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `bidder` on `dir` and `port`, plus `extra` flags, its output discarded.
pub fn start_with(dir: &Path, port: u16, extra: &[&str]) -> Child {
    Command::new(BIN)
        .args(["--data-dir", dir.to_str().unwrap()])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// `bidder` on `dir` and `port`, its output discarded.
pub fn start(dir: &Path, port: u16) -> Child {
    start_with(dir, port, &[])
}

/// One JSON request with a bearer token to the bidder on `port`.
pub async fn call(
    port: u16,
    method: Method,
    path: &str,
    token: &str,
    body: Option<serde_json::Value>,
) -> Reply {
    super::send(
        &format!("http://127.0.0.1:{port}"),
        method,
        path,
        token,
        body,
    )
    .await
}

/// Waits until the bidder on `port` is ready (twenty seconds at most).
pub async fn wait_ready(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(Some(r)) = tokio::time::timeout(
            Duration::from_secs(1),
            super::try_send(&format!("http://127.0.0.1:{port}"), Method::GET, "/readyz"),
        )
        .await
            && r == 200
        {
            return;
        }
        assert!(Instant::now() < deadline, "bidder did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A token made with the CLI in `dir` (before a start, or while running).
pub fn admin_token(dir: &Path) -> String {
    let out = Command::new(BIN)
        .args(["--data-dir", dir.to_str().unwrap()])
        .args(["token", "create", "--role", "admin"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The events the store in data directory `dir` holds, counted by kind,
/// read from its file as a restarted bidder would find them (the bidder
/// may be dead: nothing of it is asked).
pub fn events_by_kind(dir: &Path) -> std::collections::BTreeMap<String, i64> {
    let db = rusqlite::Connection::open_with_flags(
        dir.join("bidder.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut q = db
        .prepare("SELECT kind, COUNT(*) FROM events GROUP BY kind")
        .unwrap();
    q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}
