//! Errors of socket calls, shared by every socket kind.

/// Why a datagram could not be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SendError {
    /// No interface is on the destination's subnet and none has a gateway.
    NoRoute,
    /// The next hop did not answer ARP; retry after the failure hold.
    Unreachable,
    /// Larger than the interface MTU (fragmentation is not configured).
    TooLarge,
    /// The transmit queue or the packet pool is full: poll, then retry.
    WouldBlock,
    /// An address family or protocol this build does not speak.
    Unsupported,
    /// The socket is not in a state to send (closed handle, no destination).
    InvalidState,
}

impl core::fmt::Display for SendError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            SendError::NoRoute => "no route to destination",
            SendError::Unreachable => "next hop unreachable (no ARP reply)",
            SendError::TooLarge => "datagram larger than the MTU",
            SendError::WouldBlock => "transmit queue or packet pool full",
            SendError::Unsupported => "unsupported address family or protocol",
            SendError::InvalidState => "socket not ready to send",
        })
    }
}

impl core::error::Error for SendError {}

/// Why a bind failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BindError {
    /// Another socket holds the port.
    AddrInUse,
    /// No ephemeral port is free.
    NoFreePort,
    /// The socket is bound already, or the handle is not a UDP socket.
    InvalidState,
}

impl core::fmt::Display for BindError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            BindError::AddrInUse => "port in use",
            BindError::NoFreePort => "no ephemeral port free",
            BindError::InvalidState => "socket already bound or not a UDP socket",
        })
    }
}

impl core::error::Error for BindError {}

/// Why a receive returned no datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RecvError {
    /// Nothing queued yet.
    WouldBlock,
    /// The datagram was longer than the buffer; the first part was copied
    /// and the rest discarded (as `recv` does with BSD sockets).
    Truncated,
    /// The handle is not a UDP socket.
    InvalidState,
}

impl core::fmt::Display for RecvError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            RecvError::WouldBlock => "no datagram queued",
            RecvError::Truncated => "datagram truncated to the buffer",
            RecvError::InvalidState => "not a UDP socket",
        })
    }
}

impl core::error::Error for RecvError {}
