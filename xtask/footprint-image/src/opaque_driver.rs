//! A driver for footprint images: one frame buffer the optimiser cannot see
//! into, so no receive or transmit path of the stack can be proven dead.

use core::hint::black_box;
use core::task::Context;

use embassy_net_driver::{Capabilities, Driver, HardwareAddress, LinkState};

/// A driver with one frame buffer the optimiser cannot see into.
pub struct OpaqueDriver {
    pub frame: [u8; 1514],
}

pub struct Rx<'a>(&'a mut [u8]);
pub struct Tx<'a>(&'a mut [u8]);

impl embassy_net_driver::RxToken for Rx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, f: F) -> R {
        let len = black_box(self.0.len());
        f(black_box(&mut self.0[..len]))
    }
}

impl embassy_net_driver::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let result = f(&mut self.0[..len.min(1514)]);
        black_box(&self.0);
        result
    }
}

impl Driver for OpaqueDriver {
    type RxToken<'a> = Rx<'a>;
    type TxToken<'a> = Tx<'a>;
    fn receive(&mut self, _: &mut Context) -> Option<(Rx<'_>, Tx<'_>)> {
        if !black_box(true) {
            return None;
        }
        let (rx, tx) = self.frame.split_at_mut(757);
        Some((Rx(rx), Tx(tx)))
    }
    fn transmit(&mut self, _: &mut Context) -> Option<Tx<'_>> {
        black_box(true).then(|| Tx(&mut self.frame[..]))
    }
    fn link_state(&mut self, _: &mut Context) -> LinkState {
        if black_box(true) {
            LinkState::Up
        } else {
            LinkState::Down
        }
    }
    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::default();
        caps.max_transmission_unit = 1514;
        caps
    }
    fn hardware_address(&self) -> HardwareAddress {
        HardwareAddress::Ethernet([0x02, 0, 0, 0, 0, 1])
    }
}
