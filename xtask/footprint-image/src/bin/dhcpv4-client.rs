//! Footprint image `dhcpv4-client`: what Duet's DHCPv4 client costs alone —
//! message building and parsing and the RFC 2131 state machine (INIT to
//! BOUND, renewing, rebinding, INIT-REBOOT, NAK) — without the stack under it
//! (the `ipv4-udp` image is that).
//!
//! Received bytes and time come through `core::hint::black_box`, and what
//! the client sends goes into one, so no state or message can be proven dead.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::hint::black_box;

use cortex_m_rt::entry;
use duet_netstack::dhcpv4::{CLIENT_MESSAGE_LEN, Dhcpv4Client, Dhcpv4Config};
use duet_netstack::{EthernetAddress, Instant};
use panic_halt as _;

#[entry]
fn main() -> ! {
    let config = Dhcpv4Config {
        host_name: Some("device-01"),
        remembered: black_box(None),
        ..Dhcpv4Config::new(EthernetAddress(black_box([0x02, 0, 0, 0, 0, 1])))
    };
    let mut millis = 0u64;
    let mut client = Dhcpv4Client::new(config, black_box(7), Instant::from_millis(millis));
    let mut received = [0u8; 576];
    let mut out = [0u8; CLIENT_MESSAGE_LEN];
    loop {
        millis += black_box(1);
        let now = Instant::from_millis(millis);
        black_box(&mut received);
        let len = black_box(received.len());
        let _ = black_box(client.handle_datagram(now, &received[..len]));
        let _ = black_box(client.handle_timeout(now));
        if let Some((n, to)) = client.poll_transmit(now, &mut out) {
            black_box((&out[..n], to));
        }
        black_box(client.poll_timeout());
    }
}
