//! AutoIP (RFC 3927) against the Linux kernel: our stack on a TAP in a
//! network namespace the test creates, the kernel on the other side.
//! (a) Alone on the link, a 169.254/16 address is claimed and the kernel
//! reaches it. (b) The kernel already holds the first candidate and answers
//! our probe: another address is claimed. (c) The kernel starts using our
//! address: we defend it once with an announcement, and on a second
//! conflict within DEFEND_INTERVAL give it up and claim another.
//!
//! Timings are shortened through `AutoIpConfig`. Needs root and iputils
//! ping; fails, never skips, without them.
#![cfg(all(feature = "std", target_os = "linux"))]

#[path = "linux/kernel.rs"]
#[allow(dead_code)] // This test uses `run`, `ip` and little else.
mod kernel;
#[path = "linux/lab.rs"]
#[allow(dead_code)] // The lab's UDP and TCP helpers are not needed here.
mod lab;

use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration as StdDuration;

use duet_netstack::autoip::{AutoIp, AutoIpConfig, AutoIpEvent, is_selectable, run_on_stack};
use duet_netstack::stack::Config;
use duet_netstack::time::Duration;
use duet_netstack::{EthernetAddress, InterfaceId, Ipv4Cidr};

use lab::{Lab, Net, OUR_MAC, with_lab};

/// The kernel's link-local address, outside the range AutoIP picks from
/// (169.254.0.0/24 is reserved, RFC 3927 §2.1), so it has a route to
/// 169.254/16.
const KERNEL_LINK_LOCAL: &str = "169.254.0.1/16";

/// RFC 3927 timings, shortened tenfold; DEFEND_INTERVAL stays 10 s.
fn config() -> AutoIpConfig {
    AutoIpConfig {
        probe_wait: Duration::from_millis(200),
        probe_min: Duration::from_millis(100),
        probe_max: Duration::from_millis(200),
        announce_wait: Duration::from_millis(300),
        announce_interval: Duration::from_millis(200),
        ..AutoIpConfig::new(EthernetAddress(OUR_MAC))
    }
}

/// A client that would start now on the lab's stack (its first candidate
/// can be read before it runs).
fn new_autoip(lab: &Lab<'_, '_>) -> AutoIp {
    let now = lab.with(|stack| {
        stack.set_ipv4(InterfaceId::FIRST, None).unwrap();
        stack.now()
    });
    AutoIp::new(config(), now)
}

/// Runs `autoip` after every stack poll, sending each event to the test body.
fn start(lab: &Lab<'_, '_>, mut autoip: AutoIp) -> mpsc::Receiver<AutoIpEvent> {
    let (events, received) = mpsc::channel();
    lab.set_app(Box::new(move |stack| {
        let now = stack.now();
        match run_on_stack(&mut autoip, stack, InterfaceId::FIRST, now) {
            Some(event) => {
                let _ = events.send(event);
                true
            }
            None => false,
        }
    }));
    received
}

fn next_bound(events: &mpsc::Receiver<AutoIpEvent>) -> Ipv4Cidr {
    match events.recv_timeout(StdDuration::from_secs(5)) {
        Ok(AutoIpEvent::Bound(cidr)) => cidr,
        other => panic!("expected an address, got {other:?}"),
    }
}

/// Checks the claimed address is configured and reachable from the kernel.
fn assert_bound(lab: &Lab<'_, '_>, cidr: Ipv4Cidr) {
    assert!(is_selectable(cidr.address()), "{cidr:?}");
    assert_eq!(cidr.prefix_len(), 16);
    let configured = lab.with(|stack| stack.interface(InterfaceId::FIRST).and_then(|i| i.ipv4()));
    let configured = configured.expect("the interface has the address");
    assert_eq!((configured.address, configured.gateway), (cidr, None));
    let address = cidr.address().to_string();
    kernel::run("ping", &["-c", "1", "-W", "2", &address]);
}

/// The stack's (announcements sent, conflicts reported for the watch).
fn arp_counters(lab: &Lab<'_, '_>) -> (u32, u32) {
    lab.with(|stack| {
        let arp = &stack.stats().arp;
        (arp.tx_announcements, arp.watch_conflicts)
    })
}

/// Waits up to 3 s for the stack's ARP counters to reach `want`.
fn wait_for_counters(lab: &Lab<'_, '_>, want: (u32, u32)) {
    let deadline = std::time::Instant::now() + StdDuration::from_secs(3);
    while arp_counters(lab) != want && std::time::Instant::now() < deadline {
        std::thread::sleep(StdDuration::from_millis(10));
    }
    assert_eq!(arp_counters(lab), want, "(announcements, conflicts)");
}

#[test]
fn alone_on_the_link_a_link_local_address_is_claimed_and_reachable() {
    let net = Net::new("duetautoip0", 41);
    with_lab(net, Config::default(), |lab| {
        kernel::ip(&["addr", "add", KERNEL_LINK_LOCAL, "dev", net.tap]);
        let autoip = new_autoip(lab);
        let first = autoip.candidate();
        let events = start(lab, autoip);
        let cidr = next_bound(&events);
        assert_eq!(cidr.address(), first, "nobody objected to the first");
        assert_bound(lab, cidr);
        let probes = lab.with(|stack| stack.stats().arp.tx_probes);
        assert_eq!(probes, 3, "PROBE_NUM");
    });
}

#[test]
fn a_candidate_the_kernel_holds_is_abandoned_for_another() {
    let net = Net::new("duetautoip1", 42);
    with_lab(net, Config::default(), |lab| {
        kernel::ip(&["addr", "add", KERNEL_LINK_LOCAL, "dev", net.tap]);
        let autoip = new_autoip(lab);
        // The candidate is a function of our MAC: the kernel takes it first,
        // and answers our probe for it.
        let first = autoip.candidate();
        let taken = format!("{first}/16");
        kernel::ip(&["addr", "add", &taken, "dev", net.tap]);
        let events = start(lab, autoip);
        let cidr = next_bound(&events);
        assert_ne!(cidr.address(), first, "the kernel's address");
        let (_, conflicts) = arp_counters(lab);
        assert!(conflicts >= 1, "the kernel's answer was a conflict");
        assert_bound(lab, cidr);
    });
}

/// Makes the kernel send one ARP request with `ours` as its sender address
/// (it resolves `target` for a ping from `ours`), which is how a host using
/// our address shows itself. The ping itself is not answered.
fn kernel_uses(ours: Ipv4Addr, target: &str) {
    let source = ours.to_string();
    let output = Command::new("ping")
        .args(["-c", "1", "-W", "1", "-I", &source, target])
        .output()
        .expect("ping must be installed (apt-get install iputils-ping)");
    // Exit 1 is "no reply", expected; 2 would be a usage or setup error.
    assert_ne!(output.status.code(), Some(2), "{output:?}");
}

#[test]
fn an_address_the_kernel_takes_is_defended_once_then_given_up() {
    let net = Net::new("duetautoip2", 43);
    with_lab(net, Config::default(), |lab| {
        kernel::ip(&["addr", "add", KERNEL_LINK_LOCAL, "dev", net.tap]);
        // One ARP request per unresolved neighbour, not three, so each
        // `kernel_uses` is exactly one conflict.
        let solicit = format!("/proc/sys/net/ipv4/neigh/{}/mcast_solicit", net.tap);
        std::fs::write(&solicit, "1").unwrap_or_else(|e| panic!("write {solicit}: {e}"));

        let autoip = new_autoip(lab);
        let events = start(lab, autoip);
        let cidr = next_bound(&events);
        let ours = cidr.address();
        assert_bound(lab, cidr);
        // ANNOUNCE_NUM announcements are out (200 ms apart) by now.
        std::thread::sleep(StdDuration::from_millis(500));
        let (announced, conflicts) = arp_counters(lab);
        assert_eq!(conflicts, 0);

        // The kernel takes our address and uses it: one defensive
        // announcement (RFC 3927 §2.5 (b)), and we keep the address.
        kernel::ip(&["addr", "add", &format!("{ours}/16"), "dev", net.tap]);
        kernel_uses(ours, "169.254.0.77");
        wait_for_counters(lab, (announced + 1, 1));
        assert!(
            events.recv_timeout(StdDuration::from_millis(300)).is_err(),
            "no event after one conflict"
        );
        let configured =
            lab.with(|stack| stack.interface(InterfaceId::FIRST).and_then(|i| i.ipv4()));
        assert_eq!(configured.map(|c| c.address), Some(cidr));

        // Again within DEFEND_INTERVAL: the address is given up, and
        // another one claimed.
        kernel_uses(ours, "169.254.0.78");
        match events.recv_timeout(StdDuration::from_secs(3)) {
            Ok(AutoIpEvent::Lost) => {}
            other => panic!("expected the address to be given up, got {other:?}"),
        }
        let moved = next_bound(&events);
        assert_ne!(moved.address(), ours);
        let (_, conflicts) = arp_counters(lab);
        assert_eq!(conflicts, 2);
        assert_bound(lab, moved);
    });
}
