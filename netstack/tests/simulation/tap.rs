//! The tap: a driver wrapper that records what crosses the wire, for the
//! trace and for predicting which frames a stack must take in.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use std::task::Context;

use duet_netstack::driver::virtual_link::{self, LinkEnd};
use duet_netstack::driver::{FrameKind, VirtualClock};
use embassy_net_driver::{Capabilities, Driver, HardwareAddress, LinkState};

use super::MAC;
use crate::common::Fnv;

/// What both taps saw, shared between them.
#[derive(Debug, Default)]
pub(crate) struct Wire {
    pub(crate) trace: Fnv,
    /// Hashes of every frame each side sent, from the EtherType on.
    pub(crate) sent: [HashSet<u64>; 2],
    pub(crate) sent_by_kind: [[u64; FrameKind::COUNT]; 2],
    /// Frames delivered to each side that arrived with their bytes from the
    /// EtherType on as sent (not corrupted there).
    pub(crate) intact: [u64; 2],
    /// Frames delivered to each side that its stack must take in: those
    /// addressed to it or to a group that are intact, or ARP.
    pub(crate) must_accept: [u64; 2],
}

#[derive(Debug)]
pub(crate) struct Tap {
    pub(crate) side: usize,
    pub(crate) clock: VirtualClock,
    pub(crate) wire: Rc<RefCell<Wire>>,
}

impl Tap {
    fn record(&self, direction: u8, frame: &[u8]) {
        let mut wire = self.wire.borrow_mut();
        wire.trace.write_u64(self.clock.now().as_micros());
        wire.trace.write(&[self.side as u8, direction]);
        wire.trace.write_u64(frame.len() as u64);
        wire.trace.write(frame);
    }

    fn on_sent(&self, frame: &[u8]) {
        self.record(b't', frame);
        let mut wire = self.wire.borrow_mut();
        wire.sent[self.side].insert(Fnv::of(frame.get(12..).unwrap_or_default()));
        wire.sent_by_kind[self.side][FrameKind::of(frame).index()] += 1;
    }

    fn on_delivered(&self, frame: &[u8]) {
        self.record(b'r', frame);
        let mut wire = self.wire.borrow_mut();
        let peer = self.side ^ 1;
        let intact = wire.sent[peer].contains(&Fnv::of(frame.get(12..).unwrap_or_default()));
        let for_us = frame.get(..6) == Some(&MAC[self.side][..])
            || frame.first().is_some_and(|b| b & 1 == 1);
        let arp = FrameKind::of(frame) == FrameKind::Arp;
        wire.intact[self.side] += u64::from(intact);
        wire.must_accept[self.side] += u64::from(for_us && (intact || arp));
    }
}

/// A link end whose frames pass through a [`Tap`].
#[derive(Debug)]
pub(crate) struct Tapped {
    pub(crate) end: LinkEnd,
    pub(crate) tap: Tap,
}

#[derive(Debug)]
pub(crate) struct TappedRx<'a> {
    inner: virtual_link::RxToken<'a>,
    tap: &'a Tap,
}

#[derive(Debug)]
pub(crate) struct TappedTx<'a> {
    inner: virtual_link::TxToken<'a>,
    tap: &'a Tap,
}

impl embassy_net_driver::RxToken for TappedRx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, f: F) -> R {
        let tap = self.tap;
        self.inner.consume(|frame| {
            tap.on_delivered(frame);
            f(frame)
        })
    }
}

impl embassy_net_driver::TxToken for TappedTx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let tap = self.tap;
        self.inner.consume(len, |frame| {
            let result = f(frame);
            tap.on_sent(frame);
            result
        })
    }
}

impl Driver for Tapped {
    type RxToken<'a>
        = TappedRx<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = TappedTx<'a>
    where
        Self: 'a;

    fn receive(&mut self, cx: &mut Context) -> Option<(TappedRx<'_>, TappedTx<'_>)> {
        let (rx, tx) = self.end.receive(cx)?;
        let tap = &self.tap;
        Some((TappedRx { inner: rx, tap }, TappedTx { inner: tx, tap }))
    }

    fn transmit(&mut self, cx: &mut Context) -> Option<TappedTx<'_>> {
        let tx = self.end.transmit(cx)?;
        Some(TappedTx {
            inner: tx,
            tap: &self.tap,
        })
    }

    fn link_state(&mut self, cx: &mut Context) -> LinkState {
        self.end.link_state(cx)
    }

    fn capabilities(&self) -> Capabilities {
        self.end.capabilities()
    }

    fn hardware_address(&self) -> HardwareAddress {
        self.end.hardware_address()
    }
}
