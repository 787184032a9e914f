//! Footprint image `ipv4-udp`: what a small IPv4 device that talks UDP pays
//! in flash and RAM for Duet's stack, measured by `cargo xtask footprint`.
//!
//! The stack is instantiated as a firmware would: one interface with static
//! IPv4, ARP and ICMP (echo replies, port unreachable, a ping socket) and one
//! UDP echo socket, over an `embassy_net_driver::Driver` whose receive and
//! transmit frames live in a static buffer passed through
//! `core::hint::black_box`, polled in a loop with a black-boxed `now`. Black
//! boxes at the edges keep the optimiser from proving any protocol path dead,
//! so every byte the stack would ship is counted. The resources (8 packet
//! buffers, 2 sockets, 4 neighbours) sit in a static, so RAM shows up in
//! `bss` as it would on a device.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::hint::black_box;
use core::net::{IpAddr, Ipv4Addr};

use cortex_m_rt::entry;
use duet_netstack::iface::{InterfaceConfig, Ipv4Cidr, Ipv4Config};
use duet_netstack::{Config, EthernetAddress, Instant, Stack, StackResources};
use opaque_driver::OpaqueDriver;
use panic_halt as _;
use static_cell::StaticCell;

mod opaque_driver;

static RESOURCES: StaticCell<StackResources<8, 2, 4>> = StaticCell::new();
static DRIVER: StaticCell<OpaqueDriver> = StaticCell::new();

#[entry]
fn main() -> ! {
    let resources = RESOURCES.init(StackResources::new());
    let driver = DRIVER.init(OpaqueDriver { frame: [0; 1514] });
    let mut stack = Stack::new(
        resources,
        Config {
            seed: black_box(7),
            ..Config::default()
        },
    );
    let address = Ipv4Cidr::new(Ipv4Addr::new(192, 168, 1, 20), 24);
    let ipv4 = Ipv4Config {
        address,
        gateway: Some(Ipv4Addr::new(192, 168, 1, 1)),
    };
    let hardware_address = EthernetAddress([0x02, 0, 0, 0, 0, 1]);
    let _ = stack.add_interface(InterfaceConfig {
        hardware_address,
        ipv4: Some(ipv4),
    });
    let Ok(udp) = stack.add_udp_socket() else {
        panic!()
    };
    let _ = stack.udp(udp).bind(7);
    let Ok(ping) = stack.add_icmp_socket() else {
        panic!()
    };

    let mut millis = 0u64;
    let mut buffer = [0u8; 512];
    loop {
        millis += black_box(1);
        black_box(stack.poll(Instant::from_millis(millis), driver));
        if let Ok((len, meta)) = stack.udp(udp).recv_from(&mut buffer) {
            let _ = stack.udp(udp).send_to(&buffer[..len], meta.remote);
        }
        if black_box(millis as u32).is_multiple_of(1000) {
            let target = IpAddr::V4(Ipv4Addr::from_bits(black_box(0xc0a8_0101)));
            let _ = stack.icmp(ping).send_echo(target, millis as u16, b"duet");
        }
        let _ = stack.icmp(ping).recv_with(|reply| black_box(reply.seq));
        black_box(stack.stats());
    }
}
