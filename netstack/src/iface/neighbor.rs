//! The neighbour cache: IPv4 address → Ethernet address, learned by ARP
//! (RFC 826), with the reachability rules of RFC 1122 §2.3.2.
//!
//! Bounded and caller-sized. Each entry parks the packets waiting for its own
//! resolution (a bounded [`PacketQueue`] in the pool), so one neighbour that
//! never answers holds back only its own traffic: after `max_requests`
//! unanswered requests its packets are failed, and for `failure_hold` further
//! sends to it fail at once instead of queueing again. When the cache is full
//! the least recently used entry makes room.

use core::net::Ipv4Addr;

use crate::pool::{PacketPool, PacketQueue};
use crate::time::{Duration, Instant};
use crate::wire::EthernetAddress;

/// Timing and bounds of the neighbour cache.
#[derive(Debug, Clone)]
pub struct NeighborConfig {
    /// How long an answer is trusted before it is confirmed again
    /// (RFC 1122 §2.3.2.1 asks for a timeout on the order of a minute).
    pub reachable_time: Duration,
    /// Time between ARP requests for one address.
    pub retransmit_interval: Duration,
    /// Requests sent before a neighbour is declared unreachable.
    pub max_requests: u8,
    /// Packets parked per unresolved neighbour (RFC 1122 §2.3.2.2: "at least one").
    pub pending_limit: u16,
    /// How long an unreachable neighbour makes sends fail immediately.
    pub failure_hold: Duration,
}

impl Default for NeighborConfig {
    fn default() -> Self {
        Self {
            reachable_time: Duration::from_secs(60),
            retransmit_interval: Duration::from_secs(1),
            max_requests: 3,
            pending_limit: 4,
            failure_hold: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Empty,
    /// Requests are out; packets wait in `pending`.
    Incomplete,
    /// Answered within `reachable_time`.
    Reachable,
    /// Past `reachable_time` and used again: still used, while being confirmed.
    Probe,
    /// Never answered: sends fail until `deadline`.
    Failed,
}

/// One cache entry. Storage for the cache is an array of these, given by the caller.
#[derive(Debug, Clone)]
pub struct Neighbor {
    ip: Ipv4Addr,
    mac: EthernetAddress,
    state: State,
    requests: u8,
    /// Next retransmission (Incomplete, Probe), end of trust (Reachable) or
    /// end of the hold (Failed).
    deadline: Instant,
    last_used: Instant,
    pending: PacketQueue,
}

impl Neighbor {
    /// An unused entry, for building storage arrays.
    pub const EMPTY: Neighbor = Neighbor {
        ip: Ipv4Addr::UNSPECIFIED,
        mac: EthernetAddress([0; 6]),
        state: State::Empty,
        requests: 0,
        deadline: Instant::ZERO,
        last_used: Instant::ZERO,
        pending: PacketQueue::new(),
    };

    /// [`Neighbor::EMPTY`] with every byte zero, for [`crate::StackResources`]:
    /// `Stack::new` sets each entry to `EMPTY` before use.
    pub(crate) const UNFORMATTED: Neighbor = Neighbor {
        pending: PacketQueue::UNFORMATTED,
        ..Neighbor::EMPTY
    };
}

/// What a sender should do with a packet for a next hop.
#[derive(Debug, PartialEq, Eq)]
pub enum Resolution {
    /// Send to this address now; if `refresh` is set, also send an ARP request
    /// to confirm it (to that address: RFC 1122 §2.3.2.1 unicast poll).
    Known { mac: EthernetAddress, refresh: bool },
    /// Park the packet in entry `index` with [`NeighborCache::park`]; if
    /// `request` is set, this is a new entry and the first request must go out.
    Wait { index: usize, request: bool },
    /// The neighbour did not answer recently: fail the send.
    Unreachable,
}

/// Timer work the cache asks for, one item at a time.
#[derive(Debug, PartialEq, Eq)]
pub enum Due {
    /// Send an ARP request for `ip`, broadcast or (when `unicast` is set) to that address.
    Request {
        ip: Ipv4Addr,
        unicast: Option<EthernetAddress>,
    },
    /// `ip` never answered: these parked packets must be dropped.
    Failed { ip: Ipv4Addr, pending: PacketQueue },
}

/// The Ethernet address `entries` hold for `ip`, if it is known.
pub fn lookup(entries: &[Neighbor], ip: Ipv4Addr) -> Option<EthernetAddress> {
    entries
        .iter()
        .find(|e| e.ip == ip && matches!(e.state, State::Reachable | State::Probe))
        .map(|e| e.mac)
}

/// The Ethernet address for `ip` if it can be used at `now` without any
/// neighbour-cache work: answered and not yet due for confirmation. Read-only,
/// for fast paths that fall back to [`NeighborCache::resolve`] otherwise.
pub fn usable(entries: &[Neighbor], ip: Ipv4Addr, now: Instant) -> Option<EthernetAddress> {
    entries
        .iter()
        .find(|e| e.ip == ip)
        .filter(|e| (e.state == State::Reachable && now < e.deadline) || e.state == State::Probe)
        .map(|e| e.mac)
}

/// Outcome of [`NeighborCache::learn`].
#[derive(Debug, PartialEq, Eq)]
pub enum Learned {
    /// Nothing was waiting.
    Nothing,
    /// These packets were waiting for the address just learned: fill in the
    /// destination and send them.
    Release(PacketQueue),
}

/// What making room for a new entry cost.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Eviction {
    /// A live entry (not free, not failed) was forgotten.
    pub live: bool,
    /// Packets that were parked on it and are now freed.
    pub dropped: usize,
}

/// The neighbour cache of one interface.
#[derive(Debug)]
pub struct NeighborCache<'a> {
    entries: &'a mut [Neighbor],
}

impl<'a> NeighborCache<'a> {
    /// A cache over `entries`, which keep whatever state they hold: the stack
    /// stores the entries of all interfaces in one array and views a slice.
    pub fn new(entries: &'a mut [Neighbor]) -> Self {
        Self { entries }
    }

    fn find(&self, ip: Ipv4Addr) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| e.state != State::Empty && e.ip == ip)
    }

    /// The Ethernet address cached for `ip`, if it is known.
    pub fn get(&self, ip: Ipv4Addr) -> Option<EthernetAddress> {
        lookup(self.entries, ip)
    }

    /// Decides how to reach `ip` for a packet about to be sent. May evict the
    /// least recently used entry; its parked packets are freed and counted in
    /// the returned number.
    pub fn resolve(
        &mut self,
        ip: Ipv4Addr,
        now: Instant,
        config: &NeighborConfig,
        pool: &mut PacketPool<'_>,
    ) -> (Resolution, Eviction) {
        if self.entries.is_empty() {
            return (Resolution::Unreachable, Eviction::default());
        }
        if let Some(index) = self.find(ip) {
            let entry = &mut self.entries[index];
            entry.last_used = now;
            match entry.state {
                State::Reachable if now >= entry.deadline => {
                    entry.state = State::Probe;
                    entry.requests = 1;
                    entry.deadline = now + config.retransmit_interval;
                    return (
                        Resolution::Known {
                            mac: entry.mac,
                            refresh: true,
                        },
                        Eviction::default(),
                    );
                }
                State::Reachable | State::Probe => {
                    return (
                        Resolution::Known {
                            mac: entry.mac,
                            refresh: false,
                        },
                        Eviction::default(),
                    );
                }
                State::Incomplete => {
                    return (
                        Resolution::Wait {
                            index,
                            request: false,
                        },
                        Eviction::default(),
                    );
                }
                State::Failed if now < entry.deadline => {
                    return (Resolution::Unreachable, Eviction::default());
                }
                State::Failed | State::Empty => {}
            }
        }
        let (index, eviction) = self.make_room(ip, pool);
        self.entries[index] = Neighbor {
            ip,
            state: State::Incomplete,
            requests: 1,
            deadline: now + config.retransmit_interval,
            last_used: now,
            ..Neighbor::EMPTY
        };
        (
            Resolution::Wait {
                index,
                request: true,
            },
            eviction,
        )
    }

    /// Parks `packet` in entry `index` (from [`Resolution::Wait`]). When the
    /// entry already holds `pending_limit` packets the oldest is dropped, since
    /// the newest is the most useful once the neighbour answers; returns the
    /// number dropped.
    pub fn park(
        &mut self,
        index: usize,
        packet: crate::pool::PacketId,
        config: &NeighborConfig,
        pool: &mut PacketPool<'_>,
    ) -> usize {
        let pending = &mut self.entries[index].pending;
        let mut dropped = 0;
        while pending.len() >= usize::from(config.pending_limit.max(1)) {
            if let Some(oldest) = pending.pop_front(pool) {
                pool.free(oldest);
                dropped += 1;
            }
        }
        pending.push_back(pool, packet);
        dropped
    }

    /// Records that `ip` is at `mac`. With `create` unset, only an existing
    /// entry is updated (RFC 826's merge rule: strangers' broadcasts do not
    /// fill the cache); with it set, an entry is made if needed.
    pub fn learn(
        &mut self,
        ip: Ipv4Addr,
        mac: EthernetAddress,
        now: Instant,
        create: bool,
        config: &NeighborConfig,
        pool: &mut PacketPool<'_>,
    ) -> (Learned, Eviction) {
        let (index, eviction) = match self.find(ip) {
            Some(index) => (index, Eviction::default()),
            None if create && !self.entries.is_empty() => {
                let (index, eviction) = self.make_room(ip, pool);
                self.entries[index].last_used = now;
                (index, eviction)
            }
            None => return (Learned::Nothing, Eviction::default()),
        };
        let entry = &mut self.entries[index];
        entry.mac = mac;
        entry.state = State::Reachable;
        entry.requests = 0;
        entry.deadline = now + config.reachable_time;
        let released = core::mem::take(&mut entry.pending);
        let learned = if released.is_empty() {
            Learned::Nothing
        } else {
            Learned::Release(released)
        };
        (learned, eviction)
    }

    /// The next piece of timer work due at `now`, if any. Call until `None`.
    pub fn next_due(&mut self, now: Instant, config: &NeighborConfig) -> Option<Due> {
        for entry in self.entries.iter_mut() {
            if entry.state == State::Empty || now < entry.deadline {
                continue;
            }
            match entry.state {
                State::Incomplete | State::Probe if entry.requests < config.max_requests => {
                    entry.requests += 1;
                    entry.deadline = now + config.retransmit_interval;
                    let unicast = (entry.state == State::Probe).then_some(entry.mac);
                    return Some(Due::Request {
                        ip: entry.ip,
                        unicast,
                    });
                }
                State::Incomplete => {
                    entry.state = State::Failed;
                    entry.deadline = now + config.failure_hold;
                    let pending = core::mem::take(&mut entry.pending);
                    return Some(Due::Failed {
                        ip: entry.ip,
                        pending,
                    });
                }
                // A neighbour that stopped confirming is forgotten; the next
                // send resolves it afresh. Nothing was parked on it.
                State::Probe | State::Failed => *entry = Neighbor::EMPTY,
                State::Reachable | State::Empty => {}
            }
        }
        None
    }

    /// When timer work is next due.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.entries
            .iter()
            .filter(|e| matches!(e.state, State::Incomplete | State::Probe | State::Failed))
            .map(|e| e.deadline)
            .min()
    }

    /// Picks the slot for a new entry: a free one, else a failed one, else the
    /// least recently used. Frees whatever the evicted entry had parked.
    /// The cache must not be empty.
    fn make_room(&mut self, ip: Ipv4Addr, pool: &mut PacketPool<'_>) -> (usize, Eviction) {
        let index = self
            .entries
            .iter()
            .enumerate()
            .min_by_key(|(_, e)| match e.state {
                State::Empty => (0, Instant::ZERO),
                State::Failed => (1, e.last_used),
                _ => (2, e.last_used),
            })
            .map(|(index, _)| index)
            .unwrap_or(0);
        let entry = &mut self.entries[index];
        let eviction = Eviction {
            live: !matches!(entry.state, State::Empty | State::Failed),
            dropped: entry.pending.free_all(pool),
        };
        *entry = Neighbor {
            ip,
            ..Neighbor::EMPTY
        };
        (index, eviction)
    }

    /// Number of entries the cache can hold.
    pub fn capacity(&self) -> usize {
        self.entries.len()
    }

    /// Number of entries in use.
    pub fn len(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| e.state != State::Empty)
            .count()
    }

    /// True when no entry is in use.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Frees every parked packet (interface going away).
    pub fn clear(&mut self, pool: &mut PacketPool<'_>) -> usize {
        let mut freed = 0;
        for entry in self.entries.iter_mut() {
            freed += entry.pending.free_all(pool);
            *entry = Neighbor::EMPTY;
        }
        freed
    }
}
