//! The HTTP servers of `eddy run` (`--serve-features`, `--metrics`) in a build without the
//! `http` feature: asking for one is an error before any event is read.

use std::io;
use std::net::SocketAddr;

/// Never made: [`spawn`] always fails.
pub struct Server {
    pub addr: SocketAddr,
}

pub fn spawn<T>(addr: SocketAddr, _: T) -> io::Result<Server> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        format!("cannot listen on {addr}: this eddy was built without the `http` feature"),
    ))
}
