//! Footprint image `sntp-client`: what Duet's SNTP client costs alone — the
//! request, every check on a reply (origin, kiss-o'-death, leap indicator,
//! stratum, zero timestamps), the clock offset, the 2036 era and the poll
//! backoff — without the stack under it.
//!
//! Received bytes and time come through `core::hint::black_box`, and what
//! the client sends or reports goes into one, so no path can be proven dead.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::hint::black_box;

use cortex_m_rt::entry;
use duet_netstack::Instant;
use duet_netstack::rand::Rng;
use duet_netstack::sntp::{SntpClient, SntpConfig};
use panic_halt as _;

#[entry]
fn main() -> ! {
    let mut client = SntpClient::new(black_box(SntpConfig::default()), Rng::new(black_box(7)));
    let mut millis = 0u64;
    let mut received = [0u8; 68];
    let mut out = [0u8; 48];
    loop {
        millis += black_box(1);
        let now = Instant::from_millis(millis);
        black_box(&mut received);
        let len = black_box(received.len());
        let _ = black_box(client.handle_datagram(now, black_box(123), &received[..len]));
        client.handle_timeout(now);
        if let Some(n) = client.poll_transmit(now, &mut out) {
            black_box(&out[..n]);
        }
        black_box(client.now_unix(now));
        black_box(client.poll_timeout());
    }
}
