//! DHCP server replies to a client from its first DISCOVER on: the input
//! is up to eight messages separated by 0xFE bytes, each with the client's
//! transaction ID and hardware address written in (so the fuzzer reaches
//! the option parsing and the state machine behind the ID check), a second
//! passing and the client's timers and transmissions run after each.
#![no_main]

use duet_netstack::dhcpv4::{Dhcpv4Client, Dhcpv4Config};
use duet_netstack::{EthernetAddress, Instant};
use libfuzzer_sys::fuzz_target;

/// Where BOOTP puts the transaction ID and the client hardware address
/// (RFC 2131 §2, figure 1).
const XID: core::ops::Range<usize> = 4..8;
const CHADDR: core::ops::Range<usize> = 28..34;
const SEPARATOR: u8 = 0xfe;

fuzz_target!(|data: &[u8]| {
    let mac = EthernetAddress([2, 0, 0, 0, 0, 1]);
    let mut client = Dhcpv4Client::new(Dhcpv4Config::new(mac), 7, Instant::ZERO);
    let mut out = [0u8; 600];
    let mut now = Instant::from_millis(10);
    if client.poll_transmit(now, &mut out).is_none() {
        return;
    }
    let xid: [u8; 4] = [out[4], out[5], out[6], out[7]];
    for piece in data.split(|&b| b == SEPARATOR).take(8) {
        let mut message = piece.to_vec();
        if message.len() >= CHADDR.end {
            message[XID].copy_from_slice(&xid);
            message[CHADDR].copy_from_slice(&mac.0);
        }
        let _ = client.handle_datagram(now, &message);
        now = Instant::from_millis(now.as_millis() + 1000);
        let _ = client.handle_timeout(now);
        let _ = client.poll_transmit(now, &mut out);
    }
});
