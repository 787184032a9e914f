//! TCP without an executor: a stream that drives the stack itself while it
//! waits, implementing the blocking `embedded_io::{Read, Write}` traits.
//!
//! For a bare-metal loop or a host thread that owns the stack and its
//! driver. Waiting is polling: `poll` is called until the socket can make
//! progress, with `now` from the caller's clock.

use embassy_net_driver::Driver;

use crate::endpoint::IpEndpoint;
use crate::stack::{Stack, TcpHandle};
use crate::tcp::{TcpError, TcpState};
use crate::time::Instant;

/// A TCP connection that blocks, owning the stack and driver for its calls.
pub struct TcpStream<'s, 'a, D: Driver, C: FnMut() -> Instant> {
    stack: &'s mut Stack<'a>,
    driver: &'s mut D,
    clock: C,
    handle: TcpHandle,
}

impl<D: Driver, C: FnMut() -> Instant> core::fmt::Debug for TcpStream<'_, '_, D, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TcpStream")
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}

impl<'s, 'a, D: Driver, C: FnMut() -> Instant> TcpStream<'s, 'a, D, C> {
    /// Opens a connection to `remote` and waits until it is established.
    pub fn connect(
        stack: &'s mut Stack<'a>,
        driver: &'s mut D,
        clock: C,
        remote: impl Into<IpEndpoint>,
        rx_len: usize,
        tx_len: usize,
    ) -> Result<Self, TcpError> {
        let handle = stack.add_tcp_socket(rx_len, tx_len)?;
        let mut stream = Self {
            stack,
            driver,
            clock,
            handle,
        };
        stream.stack.tcp(handle).connect(remote.into(), 0)?;
        loop {
            match stream.stack.tcp(handle).state() {
                TcpState::Established | TcpState::CloseWait => return Ok(stream),
                TcpState::SynSent | TcpState::SynReceived => stream.poll(),
                _ => {
                    return Err(stream
                        .stack
                        .tcp(handle)
                        .error()
                        .unwrap_or(TcpError::ConnectionRefused));
                }
            }
        }
    }

    fn poll(&mut self) {
        let now = (self.clock)();
        self.stack.poll(now, self.driver);
    }

    /// Sends FIN after the queued data and waits until the peer has it all.
    pub fn close(mut self) -> Result<(), TcpError> {
        self.stack.tcp(self.handle).close();
        loop {
            let mut tcp = self.stack.tcp(self.handle);
            if let Some(error) = tcp.error() {
                return Err(error);
            }
            if tcp.send_queue() == 0
                && !matches!(
                    tcp.state(),
                    TcpState::Established
                        | TcpState::CloseWait
                        | TcpState::FinWait1
                        | TcpState::LastAck
                )
            {
                return Ok(());
            }
            self.poll();
        }
    }
}

impl<D: Driver, C: FnMut() -> Instant> Drop for TcpStream<'_, '_, D, C> {
    fn drop(&mut self) {
        let _ = self.stack.remove_tcp_socket(self.handle);
    }
}

impl<D: Driver, C: FnMut() -> Instant> embedded_io::ErrorType for TcpStream<'_, '_, D, C> {
    type Error = TcpError;
}

impl<D: Driver, C: FnMut() -> Instant> embedded_io::Read for TcpStream<'_, '_, D, C> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, TcpError> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let mut tcp = self.stack.tcp(self.handle);
            match tcp.recv_slice(buf)? {
                0 if tcp.may_recv() => self.poll(),
                n => return Ok(n),
            }
        }
    }
}

impl<D: Driver, C: FnMut() -> Instant> embedded_io::Write for TcpStream<'_, '_, D, C> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, TcpError> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match self.stack.tcp(self.handle).send_slice(buf)? {
                0 => self.poll(),
                n => {
                    self.poll();
                    return Ok(n);
                }
            }
        }
    }

    fn flush(&mut self) -> Result<(), TcpError> {
        loop {
            let mut tcp = self.stack.tcp(self.handle);
            if let Some(error) = tcp.error() {
                return Err(error);
            }
            if tcp.send_queue() == 0 {
                return Ok(());
            }
            self.poll();
        }
    }
}
