//! A std stream as an `embedded_io_async` transport, for tests: the calls
//! block inside the futures, which the tests run with `block_on`.

use std::io::{Read, Write};
use std::net::TcpStream;

/// The stream.
pub struct BlockingStream(pub TcpStream);

#[derive(Debug)]
pub struct IoFailure(pub std::io::ErrorKind);

impl std::fmt::Display for IoFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl std::error::Error for IoFailure {}

impl embedded_io::Error for IoFailure {
    fn kind(&self) -> embedded_io::ErrorKind {
        embedded_io::ErrorKind::Other
    }
}

impl embedded_io_async::ErrorType for BlockingStream {
    type Error = IoFailure;
}

impl embedded_io_async::Read for BlockingStream {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, IoFailure> {
        self.0.read(buf).map_err(|e| IoFailure(e.kind()))
    }
}

impl embedded_io_async::Write for BlockingStream {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, IoFailure> {
        self.0.write(buf).map_err(|e| IoFailure(e.kind()))
    }

    async fn flush(&mut self) -> Result<(), IoFailure> {
        self.0.flush().map_err(|e| IoFailure(e.kind()))
    }
}
