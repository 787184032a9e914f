//! An in-memory `embassy-net-driver`: the stack receives the frames a test
//! queues in `inbox`, in order, and what it sends collects in `outbox`.

use std::collections::VecDeque;

use embassy_net_driver::{Capabilities, Driver, HardwareAddress, LinkState};
use std::task::Context;

#[derive(Debug)]
pub struct QueueDriver {
    pub inbox: VecDeque<Vec<u8>>,
    pub outbox: Vec<Vec<u8>>,
    mac: [u8; 6],
}

impl QueueDriver {
    /// An idle link to a stack whose Ethernet address is `mac`.
    pub fn new(mac: [u8; 6]) -> QueueDriver {
        QueueDriver {
            inbox: VecDeque::new(),
            outbox: Vec::new(),
            mac,
        }
    }
}

#[derive(Debug)]
pub struct Rx(Vec<u8>);

#[derive(Debug)]
pub struct Tx<'a>(&'a mut Vec<Vec<u8>>);

impl embassy_net_driver::RxToken for Rx {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(mut self, f: F) -> R {
        f(&mut self.0)
    }
}

impl embassy_net_driver::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0; len];
        let result = f(&mut frame);
        self.0.push(frame);
        result
    }
}

impl Driver for QueueDriver {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _cx: &mut Context) -> Option<(Rx, Tx<'_>)> {
        let frame = self.inbox.pop_front()?;
        Some((Rx(frame), Tx(&mut self.outbox)))
    }

    fn transmit(&mut self, _cx: &mut Context) -> Option<Tx<'_>> {
        Some(Tx(&mut self.outbox))
    }

    fn link_state(&mut self, _cx: &mut Context) -> LinkState {
        LinkState::Up
    }

    fn capabilities(&self) -> Capabilities {
        let mut capabilities = Capabilities::default();
        capabilities.max_transmission_unit = 1514;
        capabilities
    }

    fn hardware_address(&self) -> HardwareAddress {
        HardwareAddress::Ethernet(self.mac)
    }
}
