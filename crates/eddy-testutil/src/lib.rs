//! Shared by eddy's tests and benches (a dev-dependency only).

#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(feature = "tls")]
pub mod tls;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh directory under the system temp dir, removed on drop: so also when the test
/// panics, and no run leaves anything behind.
///
/// ```
/// let dir = eddy_testutil::Tmp::new("doc");
/// std::fs::write(dir.join("a.txt"), "x").unwrap();
/// let kept = dir.to_path_buf();
/// drop(dir);
/// assert!(!kept.exists());
/// ```
pub struct Tmp(PathBuf);

impl Tmp {
    /// `name` says which test it is for; the process id and a per-process counter keep
    /// concurrent tests' directories apart.
    pub fn new(name: &str) -> Tmp {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("eddy-test-{}-{n}-{name}", std::process::id()));
        // a leftover of an earlier process that had the same id
        let _ = std::fs::remove_dir_all(&p);
        if let Err(e) = std::fs::create_dir_all(&p) {
            panic!("cannot make {}: {e}", p.display());
        }
        Tmp(p)
    }

    /// A file (or directory) in it, as a string (for command lines and specs); as a path it
    /// is `join(f)`, through `Deref<Target = Path>`.
    pub fn s(&self, f: &str) -> String {
        self.0.join(f).to_string_lossy().into_owned()
    }
}

impl std::ops::Deref for Tmp {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed when dropped: a server a test started never outlives the test, also
/// when the test fails.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An HTTP answer: status code, header lines (`name: value`, lower-case names as servers
/// send them) and body.
pub struct HttpAnswer {
    pub status: u16,
    pub headers: Vec<String>,
    pub body: String,
}

/// `GET path` from `addr` (`host:port`) over a plain TCP connection with HTTP/1.1.
pub fn http_get(addr: &str, path: &str) -> HttpAnswer {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {resp:?}"));
    HttpAnswer {
        status,
        headers: lines.map(str::to_owned).collect(),
        body: body.to_owned(),
    }
}
