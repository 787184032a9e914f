//! Host drivers (feature `std`): the links the stack runs over outside firmware.
//!
//! - [`virtual_link`]: two stacks joined in memory, with seeded faults, in
//!   virtual time (deterministic simulations).
//! - [`tap`]: a Linux TAP interface, with the host kernel as the peer.
//! - [`pcap`]: a wrapper that records any driver's frames to a pcap file.

pub mod pcap;
pub mod tap;
pub mod virtual_link;

#[cfg(test)]
pub(crate) mod test_frames;

pub use pcap::{PcapDriver, PcapWriter};
pub use tap::{TapCounters, TapDevice};
pub use virtual_link::{
    FaultConfig, FrameKind, LinkConfig, LinkControl, LinkEnd, LinkStats, VirtualClock, VirtualLink,
};
