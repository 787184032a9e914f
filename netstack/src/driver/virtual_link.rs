//! An in-memory Ethernet link between two stacks, with seeded faults, in virtual time.
//!
//! Deterministic simulations join two stacks with a [`VirtualLink`] and move a
//! shared [`VirtualClock`] themselves: a frame sent at `t` becomes receivable at
//! `t + delay + jitter (+ reorder_delay)`, and [`LinkEnd::next_arrival`] tells
//! the simulation how far to advance the clock to make progress.
//!
//! Each direction draws its faults (loss, duplication, reordering, corruption,
//! jitter) from its own [`Rng`], seeded from the link's seed, and only the end
//! that transmits in that direction ever draws from it. The same seed therefore
//! gives the same faults however the simulation interleaves the two ends.
//!
//! The link models a wire behind a bounded queue (like a switch port), not a
//! NIC ring: [`Driver::transmit`] always hands out a token, and a frame that
//! finds the queue full is tail-dropped and counted in
//! [`LinkStats::overflowed`], so the stack sees congestion as loss.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::task::{Context, Waker};
use std::vec::Vec;

use embassy_net_driver::{Capabilities, Driver, HardwareAddress, LinkState};

use crate::rand::Rng;
use crate::time::{Duration, Instant};

/// The simulation's clock, shared by both ends of a link and by the stacks.
///
/// Clones share one time: the simulation advances it, the link reads it.
#[derive(Clone, Debug, Default)]
pub struct VirtualClock(Rc<Cell<Instant>>);

impl VirtualClock {
    /// A clock reading `start`.
    pub fn new(start: Instant) -> Self {
        Self(Rc::new(Cell::new(start)))
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.0.get()
    }

    /// Jumps to `at` (normally forward, to the next event).
    pub fn set(&self, at: Instant) {
        self.0.set(at);
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.0.set(self.0.get() + by);
    }
}

/// Faults applied to one direction of the link, each decided per frame.
///
/// Probabilities are in parts per million, so 1 % is `10_000`.
#[derive(Clone, Debug, Default)]
pub struct FaultConfig {
    /// Chance that a frame is lost.
    pub loss_ppm: u32,
    /// Chance that a frame is sent twice; the copy gets its own delay and faults.
    pub duplicate_ppm: u32,
    /// Chance that a frame is held back by `reorder_delay` so later frames overtake it.
    pub reorder_ppm: u32,
    /// Chance that one random bit of the frame is flipped (the frame is still delivered).
    pub corrupt_ppm: u32,
    /// Base one-way delay.
    pub delay: Duration,
    /// Extra delay drawn uniformly from `0..=jitter` per frame; since it is
    /// independent per frame, jitter larger than the gap between frames reorders them too.
    pub jitter: Duration,
    /// Extra delay for a frame picked for reordering.
    pub reorder_delay: Duration,
}

/// How a [`VirtualLink`] is built.
#[derive(Clone, Debug)]
pub struct LinkConfig {
    /// Hardware address reported by end A.
    pub mac_a: [u8; 6],
    /// Hardware address reported by end B.
    pub mac_b: [u8; 6],
    /// Largest Ethernet frame carried, header included, FCS excluded (1514 for
    /// a 1500-byte IP MTU); longer frames are dropped.
    pub mtu: usize,
    /// Frames in flight per direction; a frame beyond it is dropped as overflow.
    pub queue_limit: usize,
    /// Faults for both directions at start; [`LinkEnd::set_faults`] changes one direction.
    pub faults: FaultConfig,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            mac_a: [0x02, 0, 0, 0, 0, 0x0a],
            mac_b: [0x02, 0, 0, 0, 0, 0x0b],
            mtu: 1514,
            queue_limit: 1024,
            faults: FaultConfig::default(),
        }
    }
}

/// What a frame carries, as far as counting needs to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// Ethertype 0x0806 (RFC 826).
    Arp,
    /// IPv4 protocol 1 (RFC 792).
    Icmpv4,
    /// IPv4 protocol 17 (RFC 768).
    Udp,
    /// IPv4 protocol 6 (RFC 9293).
    Tcp,
    /// Any other IPv4 payload, or an IPv4 frame too short to tell.
    OtherIpv4,
    /// Ethertype 0x86DD (RFC 8200).
    Ipv6,
    /// Anything else, including frames too short for an Ethernet header.
    Other,
}

impl FrameKind {
    /// Number of kinds, the length of [`LinkStats::delivered_by_kind`].
    pub const COUNT: usize = 7;
    /// Every kind, in index order.
    pub const ALL: [FrameKind; Self::COUNT] = [
        FrameKind::Arp,
        FrameKind::Icmpv4,
        FrameKind::Udp,
        FrameKind::Tcp,
        FrameKind::OtherIpv4,
        FrameKind::Ipv6,
        FrameKind::Other,
    ];

    /// Position of this kind in [`LinkStats::delivered_by_kind`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Classifies an Ethernet frame (no FCS) by its ethertype and, for IPv4,
    /// its protocol field. One IEEE 802.1Q tag is skipped.
    pub fn of(frame: &[u8]) -> FrameKind {
        const ETHERTYPE_IPV4: u16 = 0x0800;
        const ETHERTYPE_ARP: u16 = 0x0806;
        const ETHERTYPE_VLAN: u16 = 0x8100;
        const ETHERTYPE_IPV6: u16 = 0x86dd;
        // RFC 791 §3.1: Protocol is the tenth octet of the IPv4 header.
        const IPV4_PROTOCOL: usize = 9;

        let ethertype_at = |at: usize| {
            frame
                .get(at..at + 2)
                .map(|b| u16::from_be_bytes([b[0], b[1]]))
        };
        let (ethertype, payload_at) = match ethertype_at(12) {
            Some(ETHERTYPE_VLAN) => (ethertype_at(16), 18),
            other => (other, 14),
        };
        match ethertype {
            Some(ETHERTYPE_ARP) => FrameKind::Arp,
            Some(ETHERTYPE_IPV6) => FrameKind::Ipv6,
            Some(ETHERTYPE_IPV4) => match frame.get(payload_at + IPV4_PROTOCOL) {
                Some(1) => FrameKind::Icmpv4,
                Some(6) => FrameKind::Tcp,
                Some(17) => FrameKind::Udp,
                _ => FrameKind::OtherIpv4,
            },
            _ => FrameKind::Other,
        }
    }
}

/// Counters for one direction of the link, kept by the transmitting end.
///
/// Every offered frame, plus every duplicate made, ends in exactly one of
/// `dropped`, `overflowed`, `delivered`, or is still in flight:
/// `offered + duplicated == dropped + overflowed + delivered + in_flight`
/// (see [`LinkEnd::in_flight`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Frames the stack handed to this end.
    pub offered: u64,
    /// Frames lost: random loss, link down (including frames in flight when
    /// it went down), or longer than the link's MTU.
    pub dropped: u64,
    /// Extra copies made.
    pub duplicated: u64,
    /// Copies with a flipped bit.
    pub corrupted: u64,
    /// Copies held back by `reorder_delay`.
    pub reordered: u64,
    /// Copies that found the queue full.
    pub overflowed: u64,
    /// Frames the receiving stack consumed (a duplicate counts twice).
    pub delivered: u64,
    /// `delivered`, split by [`FrameKind`] of the bytes as delivered.
    pub delivered_by_kind: [u64; FrameKind::COUNT],
}

impl LinkStats {
    /// Delivered frames of one kind.
    pub fn delivered_of(&self, kind: FrameKind) -> u64 {
        self.delivered_by_kind[kind.index()]
    }
}

/// Key of a frame in flight: arrival time, then send order, so frames that
/// arrive at the same time keep FIFO order.
type Slot = (Instant, u64);

/// One direction of the link, owned by the shared state.
struct Direction {
    rng: Rng,
    faults: FaultConfig,
    in_flight: BTreeMap<Slot, Vec<u8>>,
    next_seq: u64,
    /// A frame taken off the wire for a receive token that has not been
    /// consumed yet; it is offered again if the token is dropped.
    held: Option<(Instant, Vec<u8>)>,
    stats: LinkStats,
    /// Waker of the receiving end, left by a `receive` that found nothing.
    rx_waker: Option<Waker>,
}

impl Direction {
    fn new(rng: Rng, faults: FaultConfig) -> Self {
        Self {
            rng,
            faults,
            in_flight: BTreeMap::new(),
            next_seq: 0,
            held: None,
            stats: LinkStats::default(),
            rx_waker: None,
        }
    }

    /// Decides loss and duplication for one offered frame, then launches it
    /// (and its copy). Every random draw happens before the queue is looked
    /// at, so how fast the peer drains the queue never shifts the stream.
    fn offer(&mut self, now: Instant, frame: Vec<u8>, queue_limit: usize) {
        if self.rng.chance(self.faults.loss_ppm) {
            self.stats.dropped += 1;
            return;
        }
        let copy = self
            .rng
            .chance(self.faults.duplicate_ppm)
            .then(|| frame.clone());
        self.launch(now, frame, queue_limit);
        if let Some(copy) = copy {
            self.stats.duplicated += 1;
            self.launch(now, copy, queue_limit);
        }
    }

    /// Gives one copy its corruption, reordering and delay, and queues it.
    fn launch(&mut self, now: Instant, mut frame: Vec<u8>, queue_limit: usize) {
        let corrupt = self.rng.chance(self.faults.corrupt_ppm) && !frame.is_empty();
        if corrupt {
            let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
            let offset = self.rng.below(len) as usize;
            let bit = self.rng.below(8);
            frame[offset] ^= 1 << bit;
        }
        let reorder = self.rng.chance(self.faults.reorder_ppm);
        let mut arrival =
            now + self.faults.delay + uniform_up_to(&mut self.rng, self.faults.jitter);
        if reorder {
            arrival += self.faults.reorder_delay;
        }

        if self.in_flight.len() >= queue_limit {
            self.stats.overflowed += 1;
            return;
        }
        self.stats.corrupted += u64::from(corrupt);
        self.stats.reordered += u64::from(reorder);
        self.in_flight.insert((arrival, self.next_seq), frame);
        self.next_seq += 1;
    }

    /// Moves the earliest frame due by `now` into `held`, unless one is held already.
    fn take_due(&mut self, now: Instant) -> bool {
        if self.held.is_none() {
            if let Some(entry) = self.in_flight.first_entry() {
                if entry.key().0 <= now {
                    let ((arrival, _), frame) = entry.remove_entry();
                    self.held = Some((arrival, frame));
                }
            }
        }
        self.held.is_some()
    }

    fn next_arrival(&self) -> Option<Instant> {
        match &self.held {
            Some((arrival, _)) => Some(*arrival),
            None => self.in_flight.keys().next().map(|(arrival, _)| *arrival),
        }
    }
}

/// A duration drawn uniformly from `0..=max` (multiply-shift, no modulo bias
/// worth speaking of). Draws nothing when `max` is zero.
fn uniform_up_to(rng: &mut Rng, max: Duration) -> Duration {
    let span = max.as_micros();
    if span == 0 {
        return Duration::ZERO;
    }
    let draw = rng.next_u64();
    let micros = match span.checked_add(1) {
        Some(bound) => ((u128::from(draw) * u128::from(bound)) >> 64) as u64,
        None => draw,
    };
    Duration::from_micros(micros)
}

struct Shared {
    /// Index 0 carries A -> B, index 1 carries B -> A.
    directions: [Direction; 2],
    up: bool,
    /// Wakers left by `link_state`, one per end.
    link_wakers: [Option<Waker>; 2],
    mtu: usize,
    queue_limit: usize,
}

/// Builds the two ends of an in-memory link.
#[derive(Debug)]
pub struct VirtualLink;

impl VirtualLink {
    /// Two connected ends, A and B, reading time from `clock`. The link starts up.
    ///
    /// `seed` decides every fault; each direction gets its own stream.
    pub fn pair(clock: VirtualClock, seed: u64, config: LinkConfig) -> (LinkEnd, LinkEnd) {
        let mut root = Rng::new(seed);
        let a_to_b = Rng::new(root.next_u64());
        let b_to_a = Rng::new(root.next_u64());
        let shared = Rc::new(RefCell::new(Shared {
            directions: [
                Direction::new(a_to_b, config.faults.clone()),
                Direction::new(b_to_a, config.faults),
            ],
            up: true,
            link_wakers: [None, None],
            mtu: config.mtu,
            queue_limit: config.queue_limit,
        }));
        let end = |side, mac| {
            let mut capabilities = Capabilities::default();
            capabilities.max_transmission_unit = config.mtu;
            LinkEnd {
                shared: Rc::clone(&shared),
                clock: clock.clone(),
                side,
                mac,
                capabilities: RefCell::new(capabilities),
            }
        };
        (end(0, config.mac_a), end(1, config.mac_b))
    }
}

/// One end of a [`VirtualLink`]: a [`Driver`] whose transmitted frames go to the other end.
pub struct LinkEnd {
    shared: Rc<RefCell<Shared>>,
    clock: VirtualClock,
    /// 0 for A, 1 for B; also the index of this end's outgoing direction.
    side: usize,
    mac: [u8; 6],
    capabilities: RefCell<Capabilities>,
}

impl core::fmt::Debug for LinkEnd {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LinkEnd")
            .field("side", &if self.side == 0 { "A" } else { "B" })
            .field("mac", &self.mac)
            .field("now", &self.clock.now())
            .finish_non_exhaustive()
    }
}

impl LinkEnd {
    fn outgoing(&self) -> usize {
        self.side
    }

    fn incoming(&self) -> usize {
        self.side ^ 1
    }

    /// A handle on this end's faults, link state and counters that stays
    /// with the test once the end itself has gone to a stack's runner.
    pub fn control(&self) -> LinkControl {
        LinkControl {
            shared: Rc::clone(&self.shared),
            side: self.side,
        }
    }

    /// Counters for frames transmitted by this end.
    pub fn stats(&self) -> LinkStats {
        self.control().stats()
    }

    /// Frames transmitted by this end that the peer has not consumed yet.
    pub fn in_flight(&self) -> u64 {
        let shared = self.shared.borrow();
        let direction = &shared.directions[self.outgoing()];
        (direction.in_flight.len() + usize::from(direction.held.is_some())) as u64
    }

    /// Earliest time a frame travelling toward this end becomes receivable,
    /// so the simulation knows how far to advance the clock.
    pub fn next_arrival(&self) -> Option<Instant> {
        self.shared.borrow().directions[self.incoming()].next_arrival()
    }

    /// Sets the state both ends see. Taking the link down loses the frames on
    /// the wire (counted as dropped); frames sent while it is down are dropped too.
    pub fn set_link_state(&self, state: LinkState) {
        self.control().set_link_state(state);
    }

    /// Replaces the faults of this end's outgoing direction.
    pub fn set_faults(&self, faults: FaultConfig) {
        self.control().set_faults(faults);
    }

    /// Overrides what this end reports to its stack. The wire keeps the
    /// configured MTU, so a larger reported MTU shows as drops.
    pub fn set_capabilities(&self, capabilities: Capabilities) {
        *self.capabilities.borrow_mut() = capabilities;
    }

    /// Puts a frame filled by the stack on the wire.
    fn send(&self, frame: Vec<u8>) {
        let now = self.clock.now();
        let waker = {
            let mut guard = self.shared.borrow_mut();
            let shared = &mut *guard;
            let (up, mtu, queue_limit) = (shared.up, shared.mtu, shared.queue_limit);
            let direction = &mut shared.directions[self.outgoing()];
            direction.stats.offered += 1;
            if !up || frame.len() > mtu {
                direction.stats.dropped += 1;
                return;
            }
            direction.offer(now, frame, queue_limit);
            direction.rx_waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// One end's side of a [`VirtualLink`] as the test sees it: what
/// [`LinkEnd::control`] returns, to change faults or take the link down
/// while the stacks run.
#[derive(Clone)]
pub struct LinkControl {
    shared: Rc<RefCell<Shared>>,
    /// The end's side: also the index of its outgoing direction.
    side: usize,
}

impl core::fmt::Debug for LinkControl {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LinkControl")
            .field("side", &if self.side == 0 { "A" } else { "B" })
            .finish_non_exhaustive()
    }
}

impl LinkControl {
    /// Counters for frames transmitted by this end.
    pub fn stats(&self) -> LinkStats {
        self.shared.borrow().directions[self.side].stats.clone()
    }

    /// Sets the state both ends see; see [`LinkEnd::set_link_state`].
    pub fn set_link_state(&self, state: LinkState) {
        let mut wakers = Vec::new();
        {
            let mut shared = self.shared.borrow_mut();
            let up = state == LinkState::Up;
            if shared.up == up {
                return;
            }
            shared.up = up;
            for direction in &mut shared.directions {
                if !up {
                    direction.stats.dropped += direction.in_flight.len() as u64;
                    direction.in_flight.clear();
                }
                wakers.extend(direction.rx_waker.take());
            }
            wakers.extend(shared.link_wakers.iter_mut().filter_map(Option::take));
        }
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Replaces the faults of this end's outgoing direction.
    pub fn set_faults(&self, faults: FaultConfig) {
        self.shared.borrow_mut().directions[self.side].faults = faults;
    }
}

impl Driver for LinkEnd {
    type RxToken<'a>
        = RxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = TxToken<'a>
    where
        Self: 'a;

    fn receive(&mut self, cx: &mut Context) -> Option<(RxToken<'_>, TxToken<'_>)> {
        let now = self.clock.now();
        {
            let mut shared = self.shared.borrow_mut();
            let direction = &mut shared.directions[self.incoming()];
            if !direction.take_due(now) {
                direction.rx_waker = Some(cx.waker().clone());
                return None;
            }
        }
        Some((RxToken { end: self }, TxToken { end: self }))
    }

    fn transmit(&mut self, _cx: &mut Context) -> Option<TxToken<'_>> {
        Some(TxToken { end: self })
    }

    fn link_state(&mut self, cx: &mut Context) -> LinkState {
        let mut shared = self.shared.borrow_mut();
        shared.link_wakers[self.side] = Some(cx.waker().clone());
        if shared.up {
            LinkState::Up
        } else {
            LinkState::Down
        }
    }

    fn capabilities(&self) -> Capabilities {
        self.capabilities.borrow().clone()
    }

    fn hardware_address(&self) -> HardwareAddress {
        HardwareAddress::Ethernet(self.mac)
    }
}

/// Lends the received frame; counted as delivered when consumed.
#[derive(Debug)]
pub struct RxToken<'a> {
    end: &'a LinkEnd,
}

impl embassy_net_driver::RxToken for RxToken<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let held = {
            let mut shared = self.end.shared.borrow_mut();
            let direction = &mut shared.directions[self.end.incoming()];
            let held = direction.held.take();
            if let Some((_, frame)) = &held {
                let kind = FrameKind::of(frame);
                direction.stats.delivered += 1;
                direction.stats.delivered_by_kind[kind.index()] += 1;
            }
            held
        };
        // `receive` holds a frame before it hands out this token, and only
        // this token takes it; an empty frame is what a broken invariant would give.
        let mut frame = held.map(|(_, frame)| frame).unwrap_or_default();
        f(&mut frame)
    }
}

/// Lends a buffer for one frame; the frame leaves when the closure returns.
#[derive(Debug)]
pub struct TxToken<'a> {
    end: &'a LinkEnd,
}

impl embassy_net_driver::TxToken for TxToken<'_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let mut frame = std::vec![0u8; len];
        let result = f(&mut frame);
        self.end.send(frame);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::test_frames::{self, arp_request, ipv4, ipv6, number_of, numbered, udp};
    use embassy_net_driver::{RxToken as _, TxToken as _};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;
    use std::vec;

    fn cx() -> Context<'static> {
        Context::from_waker(Waker::noop())
    }

    fn send(end: &mut LinkEnd, frame: &[u8]) {
        let token = end
            .transmit(&mut cx())
            .expect("the link always lends a tx token");
        token.consume(frame.len(), |buf| buf.copy_from_slice(frame));
    }

    /// Consumes every frame receivable now.
    fn receive_now(end: &mut LinkEnd) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        while let Some((rx, _tx)) = end.receive(&mut cx()) {
            frames.push(rx.consume(|buf| buf.to_vec()));
        }
        frames
    }

    /// Advances the clock arrival by arrival until nothing is in flight toward
    /// `end`, returning what arrived with its arrival time.
    fn drain(clock: &VirtualClock, end: &mut LinkEnd) -> Vec<(Instant, Vec<u8>)> {
        let mut frames = Vec::new();
        while let Some(at) = end.next_arrival() {
            clock.set(clock.now().max(at));
            frames.extend(receive_now(end).into_iter().map(|f| (clock.now(), f)));
        }
        frames
    }

    fn config(faults: FaultConfig) -> LinkConfig {
        LinkConfig {
            mac_a: test_frames::MAC_A,
            mac_b: test_frames::MAC_B,
            faults,
            ..LinkConfig::default()
        }
    }

    /// The identity every counter set must satisfy.
    fn assert_accounted(sender: &LinkEnd) {
        let s = sender.stats();
        assert_eq!(
            s.offered + s.duplicated,
            s.dropped + s.overflowed + s.delivered + sender.in_flight(),
            "{s:?}"
        );
        assert_eq!(
            s.delivered_by_kind.iter().sum::<u64>(),
            s.delivered,
            "{s:?}"
        );
    }

    /// Sends `count` numbered frames from A, one per millisecond, and drains B.
    fn run_stream(seed: u64, faults: FaultConfig, count: u32) -> (LinkStats, Vec<Vec<u8>>) {
        let clock = VirtualClock::default();
        let (mut a, mut b) = VirtualLink::pair(clock.clone(), seed, config(faults));
        let mut received = Vec::new();
        for n in 0..count {
            send(&mut a, &numbered(n));
            received.extend(receive_now(&mut b));
            clock.advance(Duration::from_millis(1));
        }
        received.extend(drain(&clock, &mut b).into_iter().map(|(_, f)| f));
        assert_eq!(a.in_flight(), 0);
        assert_accounted(&a);
        (a.stats(), received)
    }

    fn differing_bits(a: &[u8], b: &[u8]) -> u32 {
        a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
    }

    #[test]
    fn without_faults_frames_arrive_in_order_byte_for_byte_both_ways() {
        let clock = VirtualClock::default();
        let (mut a, mut b) = VirtualLink::pair(clock.clone(), 1, config(FaultConfig::default()));
        let sent: Vec<Vec<u8>> = (0..200).map(numbered).collect();
        for frame in &sent {
            send(&mut a, frame);
        }
        send(
            &mut b,
            &arp_request(test_frames::MAC_B, [10, 0, 0, 2], [10, 0, 0, 1]),
        );
        assert_eq!(receive_now(&mut b), sent);
        assert_eq!(receive_now(&mut a).len(), 1);

        let stats = a.stats();
        assert_eq!((stats.offered, stats.delivered), (200, 200));
        assert_eq!(stats.delivered_of(FrameKind::Udp), 200);
        assert_eq!(b.stats().delivered_of(FrameKind::Arp), 1);
        assert_eq!(
            stats.dropped + stats.duplicated + stats.corrupted + stats.reordered,
            0
        );
        assert_accounted(&a);
        assert_accounted(&b);
        assert_eq!(
            a.hardware_address(),
            HardwareAddress::Ethernet(test_frames::MAC_A)
        );
        assert_eq!(
            b.hardware_address(),
            HardwareAddress::Ethernet(test_frames::MAC_B)
        );
    }

    #[test]
    fn a_frame_waits_for_the_clock_to_reach_its_arrival() {
        let faults = FaultConfig {
            delay: Duration::from_millis(10),
            ..FaultConfig::default()
        };
        let clock = VirtualClock::new(Instant::from_secs(1));
        let (mut a, mut b) = VirtualLink::pair(clock.clone(), 1, config(faults));
        send(&mut a, &numbered(0));
        let due = Instant::from_secs(1) + Duration::from_millis(10);
        assert_eq!(b.next_arrival(), Some(due));
        assert_eq!(a.next_arrival(), None, "nothing travels toward A");
        assert!(b.receive(&mut cx()).is_none());
        assert_accounted(&a);
        assert_eq!(a.in_flight(), 1);

        clock.set(Instant::from_micros(due.as_micros() - 1));
        assert!(b.receive(&mut cx()).is_none());
        clock.set(due);
        assert_eq!(receive_now(&mut b), vec![numbered(0)]);
        assert_eq!(b.next_arrival(), None);
        assert_accounted(&a);
    }

    #[test]
    fn jitter_stays_within_its_bounds_and_varies() {
        let faults = FaultConfig {
            delay: Duration::from_millis(5),
            jitter: Duration::from_millis(2),
            ..FaultConfig::default()
        };
        let clock = VirtualClock::default();
        let (mut a, mut b) = VirtualLink::pair(clock.clone(), 3, config(faults));
        for n in 0..500 {
            send(&mut a, &numbered(n));
        }
        let arrivals: Vec<Instant> = drain(&clock, &mut b)
            .into_iter()
            .map(|(at, _)| at)
            .collect();
        assert_eq!(arrivals.len(), 500);
        let (min, max) = (arrivals[0], arrivals[499]);
        assert!(min >= Instant::from_millis(5) && max <= Instant::from_millis(7));
        assert!(
            max - min > Duration::from_millis(1),
            "jitter spreads arrivals"
        );
    }

    #[test]
    fn a_held_frame_is_offered_again_if_its_token_is_dropped() {
        let clock = VirtualClock::default();
        let (mut a, mut b) = VirtualLink::pair(clock, 1, config(FaultConfig::default()));
        send(&mut a, &numbered(1));
        send(&mut a, &numbered(2));
        assert!(
            b.receive(&mut cx()).is_some(),
            "the token is dropped unconsumed"
        );
        assert_eq!(a.in_flight(), 2);
        assert_eq!(a.stats().delivered, 0);
        assert_eq!(receive_now(&mut b), vec![numbered(1), numbered(2)]);
        assert_accounted(&a);
    }

    #[test]
    fn total_loss_delivers_nothing() {
        let faults = FaultConfig {
            loss_ppm: 1_000_000,
            ..FaultConfig::default()
        };
        let (stats, received) = run_stream(1, faults, 1000);
        assert!(received.is_empty());
        assert_eq!(
            (stats.offered, stats.dropped, stats.delivered),
            (1000, 1000, 0)
        );
    }

    #[test]
    fn twenty_percent_loss_drops_about_a_fifth() {
        let faults = FaultConfig {
            loss_ppm: 200_000,
            ..FaultConfig::default()
        };
        let (stats, received) = run_stream(2, faults, 5000);
        // Binomial(5000, 0.2): mean 1000, standard deviation 28; allow 5 sigma.
        assert!((860..=1140).contains(&stats.dropped), "{stats:?}");
        assert_eq!(received.len() as u64, 5000 - stats.dropped);
        let numbers: Vec<u32> = received.iter().map(|f| number_of(f)).collect();
        assert!(
            numbers.windows(2).all(|w| w[0] < w[1]),
            "loss never reorders"
        );
    }

    #[test]
    fn total_duplication_delivers_every_frame_twice() {
        let faults = FaultConfig {
            duplicate_ppm: 1_000_000,
            ..FaultConfig::default()
        };
        let (stats, received) = run_stream(1, faults, 500);
        assert_eq!((stats.duplicated, stats.delivered), (500, 1000));
        for (n, pair) in received.chunks(2).enumerate() {
            assert_eq!(pair, [numbered(n as u32), numbered(n as u32)]);
        }
    }

    #[test]
    fn twenty_percent_duplication_adds_about_a_fifth() {
        let faults = FaultConfig {
            duplicate_ppm: 200_000,
            ..FaultConfig::default()
        };
        let (stats, received) = run_stream(2, faults, 5000);
        assert!((860..=1140).contains(&stats.duplicated), "{stats:?}");
        assert_eq!(received.len() as u64, 5000 + stats.duplicated);
    }

    #[test]
    fn total_corruption_flips_exactly_one_bit_per_frame() {
        let faults = FaultConfig {
            corrupt_ppm: 1_000_000,
            ..FaultConfig::default()
        };
        let (stats, received) = run_stream(1, faults, 1000);
        assert_eq!((stats.corrupted, stats.delivered), (1000, 1000));
        for (n, frame) in received.iter().enumerate() {
            let original = numbered(n as u32);
            assert_eq!(frame.len(), original.len());
            assert_eq!(differing_bits(frame, &original), 1);
        }
    }

    #[test]
    fn twenty_percent_corruption_touches_about_a_fifth() {
        let faults = FaultConfig {
            corrupt_ppm: 200_000,
            ..FaultConfig::default()
        };
        let (stats, received) = run_stream(2, faults, 5000);
        assert!((860..=1140).contains(&stats.corrupted), "{stats:?}");
        let damaged = received
            .iter()
            .enumerate()
            .filter(|(n, f)| **f != numbered(*n as u32))
            .count();
        assert_eq!(damaged as u64, stats.corrupted);
    }

    #[test]
    fn corruption_is_classified_as_delivered() {
        // Every copy of an ARP frame gets one flipped bit; those that land in
        // the ethertype turn it into something else. The kind is counted from
        // the delivered bytes, not the sent ones.
        let faults = FaultConfig {
            corrupt_ppm: 1_000_000,
            ..FaultConfig::default()
        };
        let clock = VirtualClock::default();
        let (mut a, mut b) = VirtualLink::pair(clock, 9, config(faults));
        let arp = arp_request(test_frames::MAC_A, [10, 0, 0, 1], [10, 0, 0, 2]);
        let mut kinds = [0u64; FrameKind::COUNT];
        for _ in 0..2000 {
            send(&mut a, &arp);
            for frame in receive_now(&mut b) {
                kinds[FrameKind::of(&frame).index()] += 1;
            }
        }
        let stats = a.stats();
        assert_eq!(stats.delivered_by_kind, kinds);
        assert!(stats.delivered_of(FrameKind::Other) > 0, "{stats:?}");
    }

    #[test]
    fn total_reordering_delays_every_frame_and_keeps_their_order() {
        let faults = FaultConfig {
            reorder_ppm: 1_000_000,
            reorder_delay: Duration::from_millis(3),
            ..FaultConfig::default()
        };
        let clock = VirtualClock::default();
        let (mut a, mut b) = VirtualLink::pair(clock.clone(), 1, config(faults));
        for n in 0..100 {
            send(&mut a, &numbered(n));
        }
        let arrived = drain(&clock, &mut b);
        assert!(arrived.iter().all(|(at, _)| *at == Instant::from_millis(3)));
        let frames: Vec<Vec<u8>> = arrived.into_iter().map(|(_, f)| f).collect();
        assert_eq!(frames, (0..100).map(numbered).collect::<Vec<_>>());
        assert_eq!(a.stats().reordered, 100);
        assert_accounted(&a);
    }

    #[test]
    fn twenty_percent_reordering_lets_later_frames_overtake() {
        let faults = FaultConfig {
            reorder_ppm: 200_000,
            reorder_delay: Duration::from_millis(5),
            ..FaultConfig::default()
        };
        let (stats, received) = run_stream(4, faults, 5000);
        assert!((860..=1140).contains(&stats.reordered), "{stats:?}");
        let numbers: Vec<u32> = received.iter().map(|f| number_of(f)).collect();
        let overtaken = numbers.windows(2).filter(|w| w[0] > w[1]).count();
        assert!(overtaken > 500, "{overtaken} inversions");
        let mut sorted = numbers.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            (0..5000).collect::<Vec<_>>(),
            "nothing lost or doubled"
        );
    }

    #[test]
    fn a_full_queue_overflows() {
        let link = LinkConfig {
            queue_limit: 4,
            faults: FaultConfig {
                delay: Duration::from_millis(1),
                ..FaultConfig::default()
            },
            ..LinkConfig::default()
        };
        let clock = VirtualClock::default();
        let (mut a, mut b) = VirtualLink::pair(clock.clone(), 1, link);
        for n in 0..10 {
            send(&mut a, &numbered(n));
        }
        assert_eq!((a.stats().overflowed, a.in_flight()), (6, 4));
        assert_accounted(&a);
        let frames: Vec<Vec<u8>> = drain(&clock, &mut b).into_iter().map(|(_, f)| f).collect();
        assert_eq!(frames, (0..4).map(numbered).collect::<Vec<_>>());
        assert_accounted(&a);
    }

    #[test]
    fn frames_over_the_mtu_are_dropped() {
        let clock = VirtualClock::default();
        let link = LinkConfig {
            mtu: 60,
            ..LinkConfig::default()
        };
        let (mut a, mut b) = VirtualLink::pair(clock, 1, link);
        assert_eq!(a.capabilities().max_transmission_unit, 60);
        send(&mut a, &udp(1, 2, &[0; 18])); // exactly 60 bytes
        send(&mut a, &udp(1, 2, &[0; 19]));
        assert_eq!(receive_now(&mut b).len(), 1);
        assert_eq!(a.stats().dropped, 1);
        assert_accounted(&a);
    }

    #[test]
    fn all_faults_together_still_add_up() {
        let faults = FaultConfig {
            loss_ppm: 100_000,
            duplicate_ppm: 100_000,
            reorder_ppm: 100_000,
            corrupt_ppm: 100_000,
            delay: Duration::from_millis(2),
            jitter: Duration::from_micros(700),
            reorder_delay: Duration::from_millis(4),
        };
        let link = LinkConfig {
            queue_limit: 6,
            faults,
            ..LinkConfig::default()
        };
        let clock = VirtualClock::default();
        let (mut a, mut b) = VirtualLink::pair(clock.clone(), 77, link);
        for n in 0..3000 {
            send(&mut a, &numbered(n));
            if n % 3 == 0 {
                clock.advance(Duration::from_millis(1));
            }
            receive_now(&mut b);
            assert_accounted(&a);
        }
        drain(&clock, &mut b);
        assert_accounted(&a);
        let s = a.stats();
        assert!(
            s.dropped > 0 && s.duplicated > 0 && s.overflowed > 0,
            "{s:?}"
        );
        assert!(s.reordered > 0 && s.corrupted > 0, "{s:?}");
    }

    /// Runs traffic both ways with every fault on, returning what each end
    /// received and when. `b_first` changes the order the ends are served in.
    fn recorded_run(seed: u64, b_first: bool) -> Vec<(usize, Instant, Vec<u8>)> {
        let faults = FaultConfig {
            loss_ppm: 200_000,
            duplicate_ppm: 200_000,
            reorder_ppm: 200_000,
            corrupt_ppm: 200_000,
            delay: Duration::from_millis(1),
            jitter: Duration::from_millis(1),
            reorder_delay: Duration::from_millis(3),
        };
        let clock = VirtualClock::default();
        let (a, b) = VirtualLink::pair(clock.clone(), seed, config(faults));
        let mut ends = if b_first { [b, a] } else { [a, b] };
        let mut log = Vec::new();
        for n in 0..400 {
            for end in &mut ends {
                let side = end.side;
                send(end, &numbered(n * 2 + side as u32));
                log.extend(receive_now(end).into_iter().map(|f| (side, clock.now(), f)));
            }
            clock.advance(Duration::from_micros(700));
        }
        while let Some(at) = ends.iter().filter_map(LinkEnd::next_arrival).min() {
            clock.set(clock.now().max(at));
            for end in &mut ends {
                let side = end.side;
                log.extend(receive_now(end).into_iter().map(|f| (side, clock.now(), f)));
            }
        }
        // Each end's own sequence is what must match; the interleaving of the
        // two logs is the simulation's choice.
        log.sort_by_key(|(side, _, _)| *side);
        log
    }

    #[test]
    fn same_seed_same_run_whatever_the_interleaving_other_seed_other_run() {
        let first = recorded_run(42, false);
        assert_eq!(first, recorded_run(42, false));
        assert_eq!(first, recorded_run(42, true));
        assert_ne!(first, recorded_run(43, false));
    }

    #[test]
    fn the_two_directions_draw_from_different_streams() {
        let faults = FaultConfig {
            loss_ppm: 500_000,
            ..FaultConfig::default()
        };
        let clock = VirtualClock::default();
        let (mut a, mut b) = VirtualLink::pair(clock, 5, config(faults));
        let mut lost_a = Vec::new();
        let mut lost_b = Vec::new();
        for n in 0..64 {
            send(&mut a, &numbered(n));
            send(&mut b, &numbered(n));
            lost_a.push(receive_now(&mut b).is_empty());
            lost_b.push(receive_now(&mut a).is_empty());
        }
        assert_ne!(lost_a, lost_b);
    }

    #[test]
    fn a_link_that_is_down_drops_everything() {
        let faults = FaultConfig {
            delay: Duration::from_millis(1),
            ..FaultConfig::default()
        };
        let clock = VirtualClock::default();
        let (mut a, mut b) = VirtualLink::pair(clock.clone(), 1, config(faults));
        send(&mut a, &numbered(0));
        b.set_link_state(LinkState::Down);
        assert!(a.link_state(&mut cx()) == LinkState::Down);
        assert!(b.link_state(&mut cx()) == LinkState::Down);
        send(&mut a, &numbered(1));
        send(&mut b, &numbered(2));
        clock.advance(Duration::from_millis(5));
        assert!(receive_now(&mut b).is_empty() && receive_now(&mut a).is_empty());
        assert_eq!(a.stats().dropped, 2, "one on the wire, one sent while down");
        assert_eq!(b.stats().dropped, 1);
        assert_accounted(&a);
        assert_accounted(&b);

        a.set_link_state(LinkState::Up);
        assert!(b.link_state(&mut cx()) == LinkState::Up);
        send(&mut a, &numbered(3));
        assert_eq!(drain(&clock, &mut b).len(), 1);
    }

    #[test]
    fn a_control_handle_changes_one_direction_and_reads_its_counters() {
        let clock = VirtualClock::default();
        let (mut a, mut b) = VirtualLink::pair(clock.clone(), 1, config(FaultConfig::default()));
        let a_side = a.control();
        a_side.set_faults(FaultConfig {
            loss_ppm: 1_000_000,
            ..FaultConfig::default()
        });
        send(&mut a, &numbered(0));
        send(&mut b, &numbered(1));
        assert!(receive_now(&mut b).is_empty(), "A's direction loses all");
        assert_eq!(receive_now(&mut a), vec![numbered(1)], "B's does not");
        assert_eq!(a_side.stats(), a.stats());
        assert_eq!(a_side.stats().dropped, 1);

        a_side.set_faults(FaultConfig::default());
        a_side.set_link_state(LinkState::Down);
        assert!(b.link_state(&mut cx()) == LinkState::Down);
        a_side.set_link_state(LinkState::Up);
        send(&mut a, &numbered(2));
        assert_eq!(receive_now(&mut b), vec![numbered(2)]);
    }

    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn wakers_fire_on_arrival_and_on_link_change() {
        let clock = VirtualClock::default();
        let (mut a, mut b) = VirtualLink::pair(clock, 1, config(FaultConfig::default()));
        let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&counter));
        let mut context = Context::from_waker(&waker);
        assert!(b.receive(&mut context).is_none());
        send(&mut a, &numbered(0));
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        send(&mut a, &numbered(1));
        assert_eq!(
            counter.0.load(Ordering::SeqCst),
            1,
            "woken once per registration"
        );

        assert!(b.link_state(&mut context) == LinkState::Up);
        a.set_link_state(LinkState::Down);
        assert_eq!(counter.0.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn capabilities_default_to_the_mtu_and_can_be_overridden() {
        let clock = VirtualClock::default();
        let (a, _b) = VirtualLink::pair(clock, 1, LinkConfig::default());
        let caps = a.capabilities();
        assert_eq!(caps.max_transmission_unit, 1514);
        assert!(matches!(
            caps.checksum.ipv4,
            embassy_net_driver::Checksum::Both
        ));
        let mut custom = Capabilities::default();
        custom.max_transmission_unit = 1000;
        custom.checksum.udp = embassy_net_driver::Checksum::None;
        a.set_capabilities(custom);
        assert_eq!(a.capabilities().max_transmission_unit, 1000);
        assert!(matches!(
            a.capabilities().checksum.udp,
            embassy_net_driver::Checksum::None
        ));
    }

    #[test]
    fn set_faults_changes_only_the_outgoing_direction() {
        let clock = VirtualClock::default();
        let (mut a, mut b) = VirtualLink::pair(clock, 1, config(FaultConfig::default()));
        a.set_faults(FaultConfig {
            loss_ppm: 1_000_000,
            ..FaultConfig::default()
        });
        send(&mut a, &numbered(0));
        send(&mut b, &numbered(1));
        assert!(receive_now(&mut b).is_empty());
        assert_eq!(receive_now(&mut a), vec![numbered(1)]);
    }

    #[test]
    fn frames_are_classified_by_ethertype_and_protocol() {
        assert_eq!(
            FrameKind::of(&arp_request([2; 6], [1; 4], [2; 4])),
            FrameKind::Arp
        );
        assert_eq!(
            FrameKind::of(&ipv4(1, [1; 4], [2; 4], &[8, 0])),
            FrameKind::Icmpv4
        );
        assert_eq!(FrameKind::of(&udp(1, 2, b"x")), FrameKind::Udp);
        assert_eq!(
            FrameKind::of(&ipv4(6, [1; 4], [2; 4], &[0; 20])),
            FrameKind::Tcp
        );
        assert_eq!(
            FrameKind::of(&ipv4(47, [1; 4], [2; 4], &[])),
            FrameKind::OtherIpv4
        );
        assert_eq!(FrameKind::of(&ipv6()), FrameKind::Ipv6);

        // The same UDP frame behind an 802.1Q tag (TPID 0x8100, VID 5).
        let plain = udp(1, 2, b"x");
        let mut tagged = plain[..12].to_vec();
        tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
        tagged.extend_from_slice(&plain[12..]);
        assert_eq!(FrameKind::of(&tagged), FrameKind::Udp);

        assert_eq!(
            FrameKind::of(&plain[..20]),
            FrameKind::OtherIpv4,
            "truncated IPv4"
        );
        assert_eq!(
            FrameKind::of(&plain[..13]),
            FrameKind::Other,
            "no ethertype"
        );
        assert_eq!(FrameKind::of(&[]), FrameKind::Other);
        assert_eq!(
            FrameKind::of(&tagged[..17]),
            FrameKind::Other,
            "truncated tag"
        );
        let mut unknown = plain.clone();
        unknown[12..14].copy_from_slice(&0x88ccu16.to_be_bytes()); // LLDP
        assert_eq!(FrameKind::of(&unknown), FrameKind::Other);
        for (i, kind) in FrameKind::ALL.iter().enumerate() {
            assert_eq!(kind.index(), i);
        }
    }
}
