//! Async ping over the shared stack.

use core::future::poll_fn;
use core::net::IpAddr;
use core::task::Poll;

use embassy_futures::select::{Either, select};
use embassy_time::Timer;

use super::Stack;
use crate::socket::{SendError, SocketHandle};
use crate::stack::StackError;
use crate::time::Duration;

/// Why a ping got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PingError {
    /// The request could not be sent.
    Send(SendError),
    /// No matching reply within the timeout.
    Timeout,
}

impl core::fmt::Display for PingError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PingError::Send(error) => write!(f, "ping not sent: {error}"),
            PingError::Timeout => f.write_str("no echo reply before the timeout"),
        }
    }
}

impl core::error::Error for PingError {}

/// An ICMP echo socket with its own identifier; removed when dropped.
#[derive(Debug)]
pub struct IcmpSocket<'a> {
    stack: Stack<'a>,
    handle: SocketHandle,
}

impl<'a> IcmpSocket<'a> {
    /// A socket bound to a fresh random echo identifier.
    pub fn new(stack: Stack<'a>) -> Result<Self, StackError> {
        let handle = stack.with(|s| {
            let handle = s.add_icmp_socket()?;
            s.icmp(handle).bind(0).map_err(|_| StackError::NoFreeSlot)?;
            Ok(handle)
        })?;
        Ok(Self { stack, handle })
    }

    /// Sends echo request `seq` to `dst` and waits up to `timeout` for its
    /// reply; returns the round-trip time. Stale replies (other sequence
    /// numbers) are discarded.
    pub async fn ping(
        &self,
        dst: IpAddr,
        seq: u16,
        payload: &[u8],
        timeout: Duration,
    ) -> Result<Duration, PingError> {
        let sent_at = super::now();
        poll_fn(|cx| {
            self.stack.with(|s| {
                let mut socket = s.icmp(self.handle);
                match socket.send_echo(dst, seq, payload) {
                    Err(SendError::WouldBlock) => {
                        socket.register_send_waker(cx);
                        Poll::Pending
                    }
                    result => Poll::Ready(result),
                }
            })
        })
        .await
        .map_err(PingError::Send)?;
        let reply = async {
            loop {
                poll_fn(|cx| self.stack.with(|s| s.icmp(self.handle).poll_recv_ready(cx))).await;
                let matched = self.stack.with(|s| {
                    s.icmp(self.handle).recv_with(|reply| {
                        reply.from == dst && reply.seq == seq && reply.payload == payload
                    })
                });
                if matched == Ok(true) {
                    return super::now() - sent_at;
                }
            }
        };
        let deadline = Timer::after(embassy_time::Duration::from_micros(timeout.as_micros()));
        match select(reply, deadline).await {
            Either::First(rtt) => Ok(rtt),
            Either::Second(()) => Err(PingError::Timeout),
        }
    }
}

impl Drop for IcmpSocket<'_> {
    fn drop(&mut self) {
        let _ = self.stack.with(|s| s.remove_socket(self.handle));
    }
}
