//! Stopping a run early (Ctrl-C, SIGTERM): the caller requests it, and every source then ends
//! its input where it is. The run finishes as if the input had ended there: the records read
//! so far are processed, the last windows fire, every output is flushed with whole rows, and
//! the summary is made. What was not read yet is not read.
//!
//! The request is process-wide, as signals are. A source waiting on a quiet live stream
//! (stdin, a FIFO) wakes up to see it within [`WAKE`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

/// How often a source blocked on a live stream looks for a stop request.
pub const WAKE: Duration = Duration::from_millis(100);

static STOP: LazyLock<Arc<AtomicBool>> = LazyLock::new(Arc::default);

/// The flag itself, for a signal handler to set (it is only ever set, never cleared).
pub fn flag() -> Arc<AtomicBool> {
    STOP.clone()
}

/// Asks every source to end its input now.
pub fn request() {
    STOP.store(true, Ordering::Relaxed);
}

/// Whether a stop was requested.
pub fn requested() -> bool {
    STOP.load(Ordering::Relaxed)
}

/// A live stream (stdin, a FIFO) that ends when a stop is requested, even while nothing
/// arrives: each read first waits, [`WAKE`] at a time, until the stream has something to
/// give (data, its end or an error).
pub struct Interruptible<R>(pub R);

#[cfg(unix)]
impl<R: std::io::Read + std::os::fd::AsRawFd> std::io::Read for Interruptible<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if requested() {
                return Ok(0);
            }
            let mut fd = libc::pollfd {
                fd: self.0.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd, for the duration of the call.
            let ready = unsafe { libc::poll(&mut fd, 1, WAKE.as_millis() as libc::c_int) };
            if ready > 0 {
                // readable, at its end, or failed: the read says which
                return self.0.read(buf);
            }
            if ready < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
}

#[cfg(not(unix))]
impl<R: std::io::Read> std::io::Read for Interruptible<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if requested() {
            return Ok(0);
        }
        self.0.read(buf)
    }
}
