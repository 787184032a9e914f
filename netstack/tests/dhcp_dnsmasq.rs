//! The DHCPv4 client against a real dnsmasq: our stack on a TAP in a network
//! namespace the test creates, dnsmasq serving the kernel side of the TAP.
//! A lease with router, DNS, NTP and domain; a renewal at T1 (dnsmasq sends
//! T1 = 3 s); and, after the pool changes under an authoritative server, a
//! NAK at the next renewal and a new lease from the new pool.
//!
//! Needs root and the `dnsmasq-base` package; fails, never skips, without
//! them.
#![cfg(all(feature = "std", target_os = "linux"))]

#[path = "linux/kernel.rs"]
#[allow(dead_code)] // This test uses `run` and little else.
mod kernel;
#[path = "linux/lab.rs"]
#[allow(dead_code)] // The lab's UDP and TCP helpers are not needed here.
mod lab;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration as StdDuration;

use duet_netstack::dhcpv4::{
    CLIENT_PORT, Dhcpv4Client, Dhcpv4Config, Dhcpv4Event, Lease, run_on_stack,
};
use duet_netstack::stack::Config;
use duet_netstack::time::Duration;
use duet_netstack::{EthernetAddress, InterfaceId};

use lab::{Net, OUR_MAC, with_lab};

/// dnsmasq serving DHCP on the TAP; killed on drop.
struct Dnsmasq {
    child: Child,
    dir: PathBuf,
}

impl Dnsmasq {
    /// Serves `first..=last` of the lab's /24, authoritatively (a request
    /// for an address outside the pool gets a NAK, RFC 2131 §4.3.2).
    fn start(net: &Net, first: u8, last: u8) -> Dnsmasq {
        let dir = std::env::temp_dir().join(format!("duet-dnsmasq-{}", net.tap));
        std::fs::create_dir_all(&dir).unwrap();
        let [a, b, c, _] = net.kernel_ip.octets();
        let range = format!("{a}.{b}.{c}.{first},{a}.{b}.{c}.{last},255.255.255.0,2m");
        let server = net.kernel_ip.to_string();
        let child = Command::new("dnsmasq")
            .args([
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                // DHCP only: no DNS listener.
                "--port=0",
                "--bind-interfaces",
                "--user=root",
                "--dhcp-authoritative",
            ])
            .arg(format!("--interface={}", net.tap))
            .arg(format!("--dhcp-range={range}"))
            .arg(format!("--dhcp-option=option:router,{server}"))
            .arg(format!("--dhcp-option=option:dns-server,{server}"))
            .arg(format!("--dhcp-option=option:ntp-server,{server}"))
            .arg("--dhcp-option=option:domain-name,iot.test")
            .arg("--dhcp-option=option:T1,3")
            .arg("--dhcp-option=option:T2,100")
            .arg(format!("--dhcp-leasefile={}", dir.join("leases").display()))
            .arg(format!("--pid-file={}", dir.join("pid").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("dnsmasq is installed (apt-get install dnsmasq-base)");
        Dnsmasq { child, dir }
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs the client after every stack poll, sending each lease event to the
/// test body.
fn start_client(lab: &lab::Lab<'_, '_>) -> mpsc::Receiver<Dhcpv4Event> {
    let (events, received) = mpsc::channel();
    let (socket, now) = lab.with(|stack| {
        stack.set_ipv4(InterfaceId::FIRST, None).unwrap();
        let socket = stack.add_udp_socket().unwrap();
        stack.udp(socket).bind(CLIENT_PORT).unwrap();
        (socket, stack.now())
    });
    let config = Dhcpv4Config {
        hardware_address: EthernetAddress(OUR_MAC),
        host_name: Some("duet-test"),
        initial_retransmit: Duration::from_secs(1),
        remembered: None,
    };
    let mut client = Dhcpv4Client::new(config, 7, now);
    lab.set_app(Box::new(move |stack| {
        let now = stack.now();
        match run_on_stack(&mut client, stack, InterfaceId::FIRST, socket, now) {
            Some(event) => {
                let _ = events.send(event);
                true
            }
            None => false,
        }
    }));
    received
}

fn next_lease(events: &mpsc::Receiver<Dhcpv4Event>, within: StdDuration) -> Lease {
    match events.recv_timeout(within) {
        Ok(Dhcpv4Event::Bound(lease)) => lease,
        other => panic!("expected a lease, got {other:?}"),
    }
}

fn host(lease: &Lease) -> u8 {
    lease.address.address().octets()[3]
}

#[test]
fn a_lease_from_dnsmasq_is_renewed_and_replaced_after_a_nak() {
    let net = Net::new("duetdhcp0", 31);
    with_lab(net, Config::default(), |lab| {
        let mut server = Dnsmasq::start(&net, 100, 150);
        let events = start_client(lab);
        let lease = next_lease(&events, StdDuration::from_secs(15));
        assert!((100..=150).contains(&host(&lease)), "{lease:?}");
        assert_eq!(lease.address.prefix_len(), 24);
        assert_eq!(lease.router, Some(net.kernel_ip));
        assert_eq!(lease.dns_servers[0], Some(net.kernel_ip));
        assert_eq!(lease.ntp_servers[0], Some(net.kernel_ip));
        assert_eq!(lease.domain(), Some("iot.test"));
        assert_eq!(lease.server, net.kernel_ip);
        assert_eq!(lease.duration, Some(Duration::from_secs(120)));
        // The interface has the address: the kernel reaches us there.
        let address = lease.address.address().to_string();
        kernel::run("ping", &["-c", "1", "-W", "2", &address]);

        // T1 = 3 s: a unicast renewal keeps the same address.
        let renewed = next_lease(&events, StdDuration::from_secs(10));
        assert_eq!(renewed.address, lease.address);

        // The pool moves; the next renewal is refused and a new lease
        // comes from the new pool.
        drop(server);
        server = Dnsmasq::start(&net, 200, 210);
        let mut event = events.recv_timeout(StdDuration::from_secs(15));
        while let Ok(Dhcpv4Event::Bound(same)) = event {
            // A renewal answered before the old server went away.
            assert_eq!(same.address, lease.address);
            event = events.recv_timeout(StdDuration::from_secs(15));
        }
        assert_eq!(event, Ok(Dhcpv4Event::Lost), "NAK for the old address");
        let moved = next_lease(&events, StdDuration::from_secs(15));
        assert!((200..=210).contains(&host(&moved)), "{moved:?}");
        let configured = lab.with(|stack| {
            stack
                .interface(InterfaceId::FIRST)
                .and_then(|i| i.ipv4())
                .map(|c| c.address.address())
        });
        assert_eq!(configured, Some(moved.address.address()));
        let address = moved.address.address().to_string();
        kernel::run("ping", &["-c", "1", "-W", "2", &address]);
        drop(server);
    });
}
