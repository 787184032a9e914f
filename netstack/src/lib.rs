//! # duet-netstack
//!
//! Duet's TCP/IP stack for embedded devices: `no_std`, no allocator, driven
//! through any [`embassy_net_driver::Driver`].
//!
//! Packets live in one caller-provided pool and move through the stack as
//! owned handles (see `pool`); the protocol core is sans-IO: it takes frames,
//! application calls and `now`, and returns frames and the next deadline.
#![cfg_attr(not(feature = "std"), no_std)]
// Protocol code never needs `unsafe`. Host drivers (feature `std`) talk to the
// kernel through ioctl; only the `driver` module may opt back in.
#![cfg_attr(not(feature = "std"), forbid(unsafe_code))]
#![cfg_attr(feature = "std", deny(unsafe_code))]
// With protocols left out, code shared by the remaining ones is partly
// unused; that is expected, not a defect, so it is not warned about there.
#![cfg_attr(
    not(all(feature = "udp", feature = "icmp", feature = "tcp")),
    allow(dead_code, unused_imports, unused_variables, unreachable_code)
)]

mod copy;
pub mod no_memmove;
#[macro_use]
mod fmt;

#[cfg(feature = "async")]
pub mod asynch;
#[cfg(feature = "tcp")]
pub mod blocking;
pub mod endpoint;
pub mod iface;
pub mod pool;
pub mod rand;
pub mod socket;
pub mod stack;
pub mod stats;
#[cfg(feature = "tcp")]
pub mod tcp;
pub mod time;
pub mod wire;

// Network services: sans-IO clients over UDP.
#[cfg(feature = "autoip")]
pub mod autoip;
#[cfg(feature = "dhcpv4")]
pub mod dhcpv4;
#[cfg(feature = "dns")]
pub mod dns;
#[cfg(feature = "sntp")]
pub mod sntp;

#[cfg(feature = "std")]
pub mod driver;

pub use endpoint::IpEndpoint;
pub use iface::{InterfaceConfig, InterfaceId, Ipv4Cidr, Ipv4Config};
pub use socket::{BindError, RecvError, SendError, SocketHandle};
pub use stack::{Config, Stack, StackError, StackResources};
pub use stats::Stats;
pub use time::{Duration, Instant};
pub use wire::EthernetAddress;
