//! The `size_of` table that `cargo xtask footprint` prints, measured as
//! compiled for the firmware target (thumbv7em-none-eabihf), where pointers and
//! `usize` are 4 bytes and alignment differs from the host.
//!
//! The table below is the only list of types: the macro emits `DUET_SIZES`
//! (one little-endian `u32` per type) and `DUET_SIZE_NAMES` (the type paths,
//! one per line, same order) as statics; xtask finds both in the ELF symbol
//! table by name and reads them from the section data. Add a type by adding
//! one line to the `size_table!` call.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::hint::black_box;

use cortex_m_rt::entry;
use panic_halt as _;

/// Copies a string's bytes into an array, so the names can be a plain static
/// (no pointer to relocate) that xtask reads straight from the ELF.
const fn bytes<const N: usize>(s: &str) -> [u8; N] {
    let s = s.as_bytes();
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = s[i];
        i += 1;
    }
    out
}

macro_rules! size_table {
    ($($ty:ty),+ $(,)?) => {
        /// `size_of` of each type in the table, in table order.
        static DUET_SIZES: [u32; [$(stringify!($ty)),+].len()] =
            [$(core::mem::size_of::<$ty>() as u32),+];
        const NAMES: &str = concat!($(stringify!($ty), "\n"),+);
        /// The table's type paths, newline-terminated, in table order.
        static DUET_SIZE_NAMES: [u8; NAMES.len()] = bytes(NAMES);
    };
}

size_table! {
    duet_netstack::socket::udp::UdpSocket,
    duet_netstack::socket::icmp::IcmpSocket,
    duet_netstack::socket::SocketSlot,
    duet_netstack::iface::Interface,
    duet_netstack::iface::neighbor::Neighbor,
    duet_netstack::pool::PacketSlot,
    duet_netstack::pool::PacketQueue,
    duet_netstack::tcp::TcpSocket,
    duet_netstack::Stack<'static>,
    duet_netstack::Stats,
    duet_netstack::time::Instant,
    duet_netstack::rand::Rng,
}

#[entry]
fn main() -> ! {
    // Referencing the statics through a black box keeps them (and their
    // symbols) in the linked image despite LTO and section garbage collection.
    black_box(&DUET_SIZES);
    black_box(&DUET_SIZE_NAMES);
    loop {
        core::hint::spin_loop();
    }
}
