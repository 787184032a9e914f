//! Footprint image `ipv4-udp`: what a small IPv4 device that talks UDP pays
//! in flash and RAM for Duet's stack, measured by `cargo xtask footprint`.
//!
//! What this image must contain: the full stack instantiated as a firmware
//! would — one interface with IPv4, ARP and ICMP, and one UDP socket — over
//! an `embassy_net_driver::Driver` whose receive and transmit frames live in a
//! static buffer passed through `core::hint::black_box`, polled in a loop with
//! a black-boxed `now`. Black boxes at the edges keep the optimiser from
//! proving any protocol path dead, so every byte the stack would ship is
//! counted. The stack engine (`Stack`, `UdpSocket`, `IcmpSocket`) is not yet
//! in this checkout; its author wires it in here when it lands, and adds its
//! types to the table in `src/bin/sizes.rs`.
//!
//! Until then the image exercises what the crate has: the seeded random
//! source (as the stack uses it for ephemeral ports and identifiers) and time
//! arithmetic, on inputs and outputs the optimiser cannot see through.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::hint::black_box;

use cortex_m_rt::entry;
use duet_netstack::rand::Rng;
use duet_netstack::time::{Duration, Instant};
use panic_halt as _;

#[entry]
fn main() -> ! {
    let mut rng = Rng::new(black_box(0x5eed));
    let mut now = Instant::from_millis(black_box(0));
    // Stands in for a frame a driver lends: black-boxed, so the optimiser
    // must assume anything about what is read from or written to it.
    let mut frame = [0u8; 64];
    loop {
        rng.fill(black_box(&mut frame[..]));
        let port = 49152 + rng.below(black_box(16384));
        let drop = rng.chance(black_box(50_000));
        now += Duration::from_millis(u64::from(black_box(port)));
        black_box((&frame, drop, now.saturating_since(black_box(Instant::ZERO))));
    }
}
