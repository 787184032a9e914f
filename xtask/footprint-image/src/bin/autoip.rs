//! Footprint image `autoip`: what Duet's IPv4 link-local client (RFC 3927)
//! costs alone — candidate selection, probing, announcing, defence and rate
//! limiting — without the stack's ARP under it.
//!
//! Conflicts and time come through `core::hint::black_box`, and the actions
//! and events go into one, so no state can be proven dead.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::hint::black_box;

use cortex_m_rt::entry;
use duet_netstack::autoip::{AutoIp, AutoIpConfig};
use duet_netstack::{EthernetAddress, Instant};
use panic_halt as _;

#[entry]
fn main() -> ! {
    let mac = EthernetAddress(black_box([0x02, 0, 0, 0, 0, 1]));
    let mut millis = 0u64;
    let mut autoip = AutoIp::new(AutoIpConfig::new(mac), Instant::from_millis(millis));
    loop {
        millis += black_box(1);
        let now = Instant::from_millis(millis);
        if black_box(millis as u32).is_multiple_of(977) {
            black_box(
                autoip.handle_conflict(now, EthernetAddress(black_box([0x02, 0, 0, 0, 0, 2]))),
            );
        }
        black_box(autoip.handle_timeout(now));
        black_box(autoip.poll_action(now));
        black_box(autoip.poll_timeout());
    }
}
