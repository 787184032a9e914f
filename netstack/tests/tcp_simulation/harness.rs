//! The simulation's machinery: two stacks with TCP on a [`VirtualLink`], a
//! driver wrapper ([`Port`]) that records the trace, and the event loop
//! ([`Sim::run_until`]) that jumps the [`VirtualClock`] from one event to the
//! next.

use std::cell::RefCell;
use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::task::Context;

use duet_netstack::driver::virtual_link::{self, LinkEnd};
use duet_netstack::driver::{FaultConfig, FrameKind, LinkConfig, VirtualClock, VirtualLink};
use duet_netstack::iface::neighbor::NeighborConfig;
use duet_netstack::stack::TcpResources;
use duet_netstack::tcp::TcpConfig;
use duet_netstack::{
    Config, Duration, EthernetAddress, Instant, InterfaceConfig, Ipv4Cidr, Ipv4Config, Stack,
    StackResources,
};
use embassy_net_driver::{Capabilities, Driver, HardwareAddress, LinkState};

use crate::common::Fnv;

pub const A: usize = 0;
pub const B: usize = 1;
pub const MAC: [[u8; 6]; 2] = [[0x02, 0, 0, 0, 0, 0x0a], [0x02, 0, 0, 0, 0, 0x0b]];
pub const IP: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)];

/// Pool buffers per stack: a poll takes at most 32 frames in (each freed
/// once processed) and queues at most 16 for the driver, so 64 is never
/// exhausted (asserted by the callers).
pub const PACKETS: usize = 64;
pub type Resources = StackResources<PACKETS, 4, 8>;
/// Ring memory: two connections of 16 KiB + 16 KiB each.
pub const RING: usize = 16 * 1024;
pub type Tcp = TcpResources<4, { 4 * RING }>;

/// One stack's memory, boxed (about 170 KiB).
pub struct Memory {
    pub resources: Box<Resources>,
    pub tcp: Box<Tcp>,
}

impl Memory {
    pub fn new() -> Self {
        Self {
            resources: Box::new(Resources::new()),
            tcp: Box::new(Tcp::new()),
        }
    }
}

/// The TCP tunables of every simulated stack: the defaults, but with more
/// retransmissions before giving up. With 30 % loss each way plus
/// corruption, one retransmission and its ACK both survive with
/// probability ≈ 0.45, so 12 timeouts in a row (the default limit, ≈ 3·10⁻⁴
/// per loss episode) would happen now and then over a thousand seeds —
/// a correct timeout, but not what these runs test. 24 makes it ≈ 10⁻⁶.
pub fn tcp_config() -> TcpConfig {
    TcpConfig {
        max_retransmissions: 24,
        ..TcpConfig::default()
    }
}

/// ARP as configured by default, but trusting an answer for an hour. The
/// address is resolved once, under the run's faults, and stays resolved:
/// with a one-minute reachable time, the re-confirmations every minute fail
/// now and then under 30 % loss each way (three requests, then a 5 s hold
/// that fails every send), which stretches a run from seconds to hours of
/// virtual time without telling anything about TCP. ARP under loss has its
/// own simulation (`tests/simulation.rs`).
pub fn neighbor_config() -> NeighborConfig {
    NeighborConfig {
        reachable_time: Duration::from_secs(3_600),
        ..NeighborConfig::default()
    }
}

/// A stack at `IP[side]` with TCP enabled; `boot` varies its random seed
/// (a rebooted peer draws new ISNs, ports and timestamps).
pub fn new_stack<'r>(memory: &'r mut Memory, side: usize, seed: u64, boot: u64) -> Stack<'r> {
    let mut stack = Stack::new(
        &mut memory.resources,
        Config {
            seed: seed ^ (side as u64 + 1 + 2 * boot).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            tcp: tcp_config(),
            neighbor: neighbor_config(),
            ..Config::default()
        },
    );
    stack
        .add_interface(InterfaceConfig {
            hardware_address: EthernetAddress(MAC[side]),
            ipv4: Some(Ipv4Config {
                address: Ipv4Cidr::new(IP[side], 24),
                gateway: None,
            }),
        })
        .expect("one interface fits");
    stack.enable_tcp(&mut memory.tcp);
    stack
}

/// Decides whether a frame delivered to `side` is taken away instead (a
/// scenario's targeted loss): `(side, frame) -> drop?`.
pub type DropRule = Box<dyn FnMut(usize, &[u8]) -> bool>;

/// What both ports saw.
#[derive(Default)]
pub struct Wire {
    /// Every frame delivered to a stack, with its side and virtual time.
    pub trace: Fnv,
    /// Hashes of the ARP frames each side sent.
    arp_sent: [HashSet<u64>; 2],
    /// ARP frames whose bytes were corrupted on the way, discarded by the
    /// port (see [`Port`]), per receiving side.
    pub arp_discarded: [u64; 2],
    /// Frames a scenario's [`DropRule`] took away, per receiving side.
    pub rule_dropped: [u64; 2],
    /// Frames handed to each stack.
    pub delivered: [u64; 2],
    pub drop_rule: Option<DropRule>,
    /// Print every frame delivered (`TCP_SIM_LOG=1`), for debugging one seed.
    pub log: bool,
}

impl Wire {
    /// Records a frame arriving at `side`; false if the port discards it.
    fn arrive(&mut self, side: usize, now: Instant, frame: &[u8]) -> bool {
        if self.log {
            println!("{now} ->{} {}", ["A", "B"][side], describe(frame));
        }
        self.trace.write_u64(now.as_micros());
        self.trace.write(&[side as u8]);
        self.trace.write_u64(frame.len() as u64);
        self.trace.write(frame);
        if FrameKind::of(frame) == FrameKind::Arp
            && !self.arp_sent[side ^ 1].contains(&Fnv::of(frame))
        {
            self.arp_discarded[side] += 1;
            return false;
        }
        if let Some(rule) = &mut self.drop_rule {
            if rule(side, frame) {
                self.rule_dropped[side] += 1;
                return false;
            }
        }
        self.delivered[side] += 1;
        true
    }

    fn sent(&mut self, side: usize, frame: &[u8]) {
        if self.log {
            println!("         {}-> {}", ["A", "B"][side], describe(frame));
        }
        if FrameKind::of(frame) == FrameKind::Arp {
            self.arp_sent[side].insert(Fnv::of(frame));
        }
    }
}

/// A link end between the stack and the wire. It hashes every frame
/// delivered into the trace, and it plays the Ethernet FCS for ARP: ARP has
/// no checksum of its own, so a corrupted ARP packet would poison a
/// neighbour cache, which is not the TCP behaviour under test. Every IPv4
/// frame is passed on as the link delivered it: a flipped bit there is
/// caught by the IPv4 or TCP checksum (or, in a MAC address, makes the frame
/// not for us), which is what the runs test.
pub struct Port {
    pub end: LinkEnd,
    pub side: usize,
    clock: VirtualClock,
    pub wire: Rc<RefCell<Wire>>,
    frame: Vec<u8>,
}

pub struct PortRx<'a> {
    frame: &'a mut Vec<u8>,
}

pub struct PortTx<'a> {
    inner: virtual_link::TxToken<'a>,
    side: usize,
    wire: &'a RefCell<Wire>,
}

impl embassy_net_driver::RxToken for PortRx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, f: F) -> R {
        f(self.frame)
    }
}

impl embassy_net_driver::TxToken for PortTx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let (side, wire) = (self.side, self.wire);
        embassy_net_driver::TxToken::consume(self.inner, len, |frame| {
            let result = f(frame);
            wire.borrow_mut().sent(side, frame);
            result
        })
    }
}

impl Driver for Port {
    type RxToken<'a>
        = PortRx<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = PortTx<'a>
    where
        Self: 'a;

    fn receive(&mut self, cx: &mut Context) -> Option<(PortRx<'_>, PortTx<'_>)> {
        loop {
            let (rx, _tx) = self.end.receive(cx)?;
            let frame = &mut self.frame;
            embassy_net_driver::RxToken::consume(rx, |bytes| {
                frame.clear();
                frame.extend_from_slice(bytes);
            });
            let now = self.clock.now();
            if self.wire.borrow_mut().arrive(self.side, now, &self.frame) {
                break;
            }
        }
        let inner = self.end.transmit(cx)?;
        Some((
            PortRx {
                frame: &mut self.frame,
            },
            PortTx {
                inner,
                side: self.side,
                wire: &self.wire,
            },
        ))
    }

    fn transmit(&mut self, cx: &mut Context) -> Option<PortTx<'_>> {
        let inner = self.end.transmit(cx)?;
        Some(PortTx {
            inner,
            side: self.side,
            wire: &self.wire,
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

/// Bounds that turn a livelock or a stall into a failure instead of a hang.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub iterations: u64,
    /// Virtual time from the start of the simulation.
    pub virtual_time: Duration,
}

/// The slowest of the thousand seeded runs takes about 10⁴ s of virtual
/// time, and none more than 6·10³ iterations: with 30 % loss each way, a
/// few retransmission timeouts in a row back off to tens of seconds, and
/// timestamps that echo a segment from before such a pause make the RTT
/// estimate (rightly, by RFC 7323 §4.3) that large too. A connection that
/// stops moving ends in a timeout long before these bounds (24
/// retransmissions, at most 60 s apart).
pub const DEFAULT_BOUNDS: Bounds = Bounds {
    iterations: 500_000,
    virtual_time: Duration::from_secs(12 * 3_600),
};

/// What an application step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Moved bytes or changed a socket: poll again at the same time.
    Progress,
    /// Nothing to do until the stacks move on.
    Wait,
    /// The scenario reached its goal.
    Done,
}

/// Two stacks on a link, at one point of virtual time.
pub struct Sim<'r> {
    pub clock: VirtualClock,
    pub ports: [Port; 2],
    pub stacks: [Stack<'r>; 2],
    pub wire: Rc<RefCell<Wire>>,
    pub iterations: u64,
    pub bounds: Bounds,
    /// Side B's stack is not polled (a peer that is switched off).
    pub b_off: bool,
    /// The clock stops here even if nothing happens then ([`Sim::run_for`]).
    stop_at: Option<Instant>,
}

impl<'r> Sim<'r> {
    /// Two fresh stacks on a link with `faults` each way (`faults[s]` for
    /// what side `s` transmits).
    pub fn new(
        seed: u64,
        faults: &[FaultConfig; 2],
        memory_a: &'r mut Memory,
        memory_b: &'r mut Memory,
    ) -> Self {
        let clock = VirtualClock::new(Instant::ZERO);
        let link = LinkConfig {
            mac_a: MAC[A],
            mac_b: MAC[B],
            faults: faults[A].clone(),
            ..LinkConfig::default()
        };
        let (end_a, end_b) = VirtualLink::pair(clock.clone(), seed, link);
        end_b.set_faults(faults[B].clone());
        let wire = Rc::new(RefCell::new(Wire {
            log: std::env::var_os("TCP_SIM_LOG").is_some(),
            ..Wire::default()
        }));
        let port = |end, side| Port {
            end,
            side,
            clock: clock.clone(),
            wire: Rc::clone(&wire),
            frame: Vec::with_capacity(1514),
        };
        let ports = [port(end_a, A), port(end_b, B)];
        let stacks = [
            new_stack(memory_a, A, seed, 0),
            new_stack(memory_b, B, seed, 0),
        ];
        Self {
            clock,
            ports,
            stacks,
            wire,
            iterations: 0,
            bounds: DEFAULT_BOUNDS,
            b_off: false,
            stop_at: None,
        }
    }

    /// Counters of both stacks and both link directions, for failure reports.
    pub fn report(&self) -> String {
        let mut out = String::new();
        for side in [A, B] {
            let stats = self.stacks[side].stats();
            out += &format!(
                "\n  side {side}: {:?}\n    {:?}\n    {:?}\n    link out {:?}",
                stats.tcp,
                stats.arp,
                stats.ipv4,
                self.ports[side].end.stats()
            );
        }
        out
    }

    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Polls both stacks at the current time; returns the earliest deadline.
    pub fn poll(&mut self) -> Option<Instant> {
        let now = self.clock.now();
        let a = self.stacks[A].poll(now, &mut self.ports[A]);
        let b = if self.b_off {
            // A switched-off machine takes nothing off the wire: frames
            // toward it are consumed and lost here.
            while let Some((rx, _)) = self.ports[B]
                .end
                .receive(&mut Context::from_waker(std::task::Waker::noop()))
            {
                embassy_net_driver::RxToken::consume(rx, |_| ());
            }
            None
        } else {
            self.stacks[B].poll(now, &mut self.ports[B])
        };
        [a, b].into_iter().flatten().min()
    }

    /// Runs until `app` says [`Step::Done`]: each iteration polls both
    /// stacks at the current time, lets `app` act, and moves the clock to
    /// the earliest next event (a stack timer, a frame arriving), or not at
    /// all when the application made progress. `Err` if the bounds are hit
    /// or nothing is left to happen before the goal.
    pub fn run_until(
        &mut self,
        what: &str,
        mut app: impl FnMut(&mut Self) -> Result<Step, String>,
    ) -> Result<(), String> {
        loop {
            let now = self.clock.now();
            let deadline = self.poll();
            let step = app(self)?;
            if step == Step::Done {
                return Ok(());
            }
            let next = if step == Step::Progress {
                Some(now)
            } else {
                [deadline, self.stop_at]
                    .into_iter()
                    .chain(self.ports.iter().map(|port| port.end.next_arrival()))
                    .flatten()
                    .min()
            };
            let Some(next) = next else {
                return Err(format!("{what}: nothing left to happen at {now}"));
            };
            self.iterations += 1;
            if self.iterations >= self.bounds.iterations
                || next >= Instant::ZERO + self.bounds.virtual_time
            {
                return Err(format!(
                    "{what}: no end in sight after {} iterations, next event at {next}",
                    self.iterations
                ));
            }
            self.clock.set(next.max(now));
        }
    }

    /// Runs with no application until no timer and no frame is pending.
    pub fn run_until_quiet(&mut self) -> Result<(), String> {
        self.run_until("quiet", |_| Ok(Step::Wait))
            .or_else(|error| {
                if error.starts_with("quiet: nothing left") {
                    Ok(())
                } else {
                    Err(error)
                }
            })
    }

    /// Runs for `span` of virtual time with no application.
    pub fn run_for(&mut self, span: Duration) -> Result<(), String> {
        let until = self.clock.now() + span;
        self.stop_at = Some(until);
        let result = self.run_until("idle", |sim| {
            Ok(if sim.clock.now() >= until {
                Step::Done
            } else {
                Step::Wait
            })
        });
        self.stop_at = None;
        result
    }
}

/// The bytes each direction carries: a fixed pseudo-random pattern per
/// direction (SplitMix64), long enough for every run.
pub fn pattern(direction: usize) -> &'static [u8] {
    use std::sync::OnceLock;
    static PATTERNS: OnceLock<[Vec<u8>; 2]> = OnceLock::new();
    let patterns = PATTERNS.get_or_init(|| {
        [0u64, 1].map(|dir| {
            let mut state = 0x5eed_0000_0000_0000 ^ dir;
            let mut bytes = Vec::with_capacity(crate::TRANSFER + 8);
            while bytes.len() < crate::TRANSFER {
                state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                bytes.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
            }
            bytes.truncate(crate::TRANSFER);
            bytes
        })
    });
    &patterns[direction]
}

/// A one-line summary of a frame for the debugging log.
pub fn describe(frame: &[u8]) -> String {
    let kind = FrameKind::of(frame);
    if kind == FrameKind::Arp && frame.len() >= 42 {
        let op = if frame[21] == 1 { "who-has" } else { "is-at" };
        return format!(
            "Arp {op} {}.{}.{}.{} from {}.{}.{}.{} dst {:02x}",
            frame[38],
            frame[39],
            frame[40],
            frame[41],
            frame[28],
            frame[29],
            frame[30],
            frame[31],
            frame[5]
        );
    }
    if kind != FrameKind::Tcp || frame.len() < 34 {
        return format!("{kind:?} {} bytes", frame.len());
    }
    let ip = &frame[14..];
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let Some(tcp) = ip.get(ihl..total.min(ip.len())) else {
        return "short".into();
    };
    if tcp.len() < 20 {
        return "short tcp".into();
    }
    let be32 = |at: usize| u32::from_be_bytes([tcp[at], tcp[at + 1], tcp[at + 2], tcp[at + 3]]);
    let offset = usize::from(tcp[12] >> 4) * 4;
    let flags = tcp[13];
    let names: String = [
        (0x02, 'S'),
        (0x10, '.'),
        (0x01, 'F'),
        (0x04, 'R'),
        (0x08, 'P'),
    ]
    .iter()
    .filter(|(bit, _)| flags & bit != 0)
    .map(|(_, c)| *c)
    .collect();
    let mut sack = String::new();
    let mut at = 20;
    while at < offset.min(tcp.len()) {
        match tcp[at] {
            0 => break,
            1 => at += 1,
            kind => {
                let len = usize::from(*tcp.get(at + 1).unwrap_or(&2)).max(2);
                if kind == 8 && at + 10 <= tcp.len() {
                    sack += &format!(" ts {} {}", be32(at + 2), be32(at + 6));
                }
                if kind == 5 {
                    let mut b = at + 2;
                    while b + 8 <= at + len && b + 8 <= tcp.len() {
                        sack += &format!(" sack {}-{}", be32(b), be32(b + 4));
                        b += 8;
                    }
                }
                at += len;
            }
        }
    }
    format!(
        "{}>{} [{names}] seq {} ack {} win {} len {}{sack}",
        u16::from_be_bytes([tcp[0], tcp[1]]),
        u16::from_be_bytes([tcp[2], tcp[3]]),
        be32(4),
        be32(8),
        u16::from_be_bytes([tcp[14], tcp[15]]),
        tcp.len().saturating_sub(offset),
    )
}
