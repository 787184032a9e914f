//! Footprint image `ipv4-tcp`: what a small IPv4 device that serves TCP pays
//! in flash and RAM for Duet's stack, measured by `cargo xtask footprint`.
//!
//! One interface with static IPv4, ARP, ICMP (echo replies, unreachables)
//! and a TCP echo server (a listener with a backlog of one, 2 KiB rings),
//! over the same black-boxed driver as `ipv4-udp`, so no path can be proven
//! dead. Resources sit in statics, so RAM shows up in `bss`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::hint::black_box;
use core::net::Ipv4Addr;

use cortex_m_rt::entry;
use duet_netstack::iface::{InterfaceConfig, Ipv4Cidr, Ipv4Config};
use duet_netstack::stack::TcpResources;
use duet_netstack::{Config, EthernetAddress, Instant, Stack, StackResources};
use opaque_driver::OpaqueDriver;
use panic_halt as _;
use static_cell::StaticCell;

#[path = "../opaque_driver.rs"]
mod opaque_driver;

static RESOURCES: StaticCell<StackResources<8, 1, 4>> = StaticCell::new();
static TCP: StaticCell<TcpResources<2, 8192>> = StaticCell::new();
static DRIVER: StaticCell<OpaqueDriver> = StaticCell::new();

#[entry]
fn main() -> ! {
    let resources = RESOURCES.init(StackResources::new());
    let tcp = TCP.init(TcpResources::new());
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
    stack.enable_tcp(tcp);
    let Ok(listener) = stack.tcp_listen(7, 1, 2048, 2048) else {
        panic!()
    };

    let mut millis = 0u64;
    let mut connection = None;
    let mut buffer = [0u8; 512];
    loop {
        millis += black_box(1);
        black_box(stack.poll(Instant::from_millis(millis), driver));
        connection = connection.or_else(|| stack.tcp_accept(listener));
        if let Some(handle) = connection {
            let mut socket = stack.tcp(handle);
            if let Ok(len) = socket.recv_slice(&mut buffer) {
                let _ = socket.send_slice(&buffer[..len]);
            }
            if !socket.may_recv() {
                socket.close();
                let _ = stack.release_tcp_socket(handle);
                connection = None;
            }
        }
        black_box(stack.stats());
    }
}
