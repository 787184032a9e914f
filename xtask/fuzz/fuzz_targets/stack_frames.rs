//! Whole Ethernet frames into a stack at 10.0.0.1/24 with a TCP listener on
//! port 80, a socket connecting to 10.0.0.2:5000 and a UDP socket on port 7:
//! the input is frames, each behind a 2-byte length, with 50 ms passing
//! between them and four seconds of timers after the last. The first byte's
//! low bit says whether the device leaves the checksums to the stack (they
//! are verified, and a random frame rarely passes) or claims to have checked
//! them itself (so the fuzzer's frames reach the protocols behind them).
#![no_main]

use core::task::Context;
use std::collections::VecDeque;
use std::net::Ipv4Addr;

use duet_netstack::iface::{InterfaceConfig, Ipv4Cidr, Ipv4Config};
use duet_netstack::stack::TcpResources;
use duet_netstack::{Config, EthernetAddress, Instant, Stack, StackResources};
use embassy_net_driver::{Capabilities, Checksum, Driver, HardwareAddress, LinkState};
use libfuzzer_sys::fuzz_target;

const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const FRAME_MAX: usize = 1514;

/// Hands the input's frames to the stack and throws away what it sends.
struct Frames {
    queued: VecDeque<Vec<u8>>,
    stack_checks_checksums: bool,
}

struct Received(Vec<u8>);
struct Discarded;

impl embassy_net_driver::RxToken for Received {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(mut self, f: F) -> R {
        f(&mut self.0)
    }
}

impl embassy_net_driver::TxToken for Discarded {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        f(&mut vec![0; len])
    }
}

impl Driver for Frames {
    type RxToken<'a> = Received;
    type TxToken<'a> = Discarded;

    fn receive(&mut self, _: &mut Context) -> Option<(Received, Discarded)> {
        Some((Received(self.queued.pop_front()?), Discarded))
    }

    fn transmit(&mut self, _: &mut Context) -> Option<Discarded> {
        Some(Discarded)
    }

    fn link_state(&mut self, _: &mut Context) -> LinkState {
        LinkState::Up
    }

    fn capabilities(&self) -> Capabilities {
        let mut capabilities = Capabilities::default();
        capabilities.max_transmission_unit = FRAME_MAX;
        let software = if self.stack_checks_checksums {
            Checksum::Both
        } else {
            Checksum::None
        };
        capabilities.checksum.ipv4 = software;
        capabilities.checksum.tcp = software;
        capabilities.checksum.udp = software;
        capabilities.checksum.icmpv4 = software;
        capabilities
    }

    fn hardware_address(&self) -> HardwareAddress {
        HardwareAddress::Ethernet(MAC)
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, mut frames)) = data.split_first() else {
        return;
    };
    let mut resources: Box<StackResources<8, 4, 4>> = Box::new(StackResources::new());
    let mut tcp: Box<TcpResources<4, 8192>> = Box::new(TcpResources::new());
    let config = Config {
        seed: 1,
        ..Config::default()
    };
    let mut stack = Stack::new(&mut *resources, config);
    let _ = stack.add_interface(InterfaceConfig {
        hardware_address: EthernetAddress(MAC),
        ipv4: Some(Ipv4Config {
            address: Ipv4Cidr::new(Ipv4Addr::new(10, 0, 0, 1), 24),
            gateway: Some(Ipv4Addr::new(10, 0, 0, 254)),
        }),
    });
    stack.enable_tcp(&mut *tcp);
    let _ = stack.tcp_listen(80, 2, 1024, 1024);
    if let Ok(socket) = stack.add_tcp_socket(1024, 1024) {
        let _ = stack
            .tcp(socket)
            .connect((Ipv4Addr::new(10, 0, 0, 2), 5000), 40000);
    }
    if let Ok(socket) = stack.add_udp_socket() {
        let _ = stack.udp(socket).bind(7);
    }
    let mut driver = Frames {
        queued: VecDeque::new(),
        stack_checks_checksums: mode & 1 == 0,
    };
    let mut micros = 0u64;
    while let [high, low, rest @ ..] = frames {
        let len = usize::from(u16::from_be_bytes([*high, *low])).min(rest.len());
        let (frame, rest) = rest.split_at(len);
        frames = rest;
        driver.queued.push_back(frame.to_vec());
        micros += 50_000;
        stack.poll(Instant::from_micros(micros), &mut driver);
    }
    for _ in 0..4 {
        micros += 1_000_000;
        stack.poll(Instant::from_micros(micros), &mut driver);
    }
});
