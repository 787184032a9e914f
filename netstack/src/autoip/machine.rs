//! The AutoIP state machine (RFC 3927 §2), sans-IO: time and conflicts in,
//! ARP probes and announcements and address events out.
//!
//! ```text
//! PROBING ──PROBE_NUM probes, no conflict, ANNOUNCE_WAIT──▶ ANNOUNCING (Bound event)
//! ANNOUNCING ──ANNOUNCE_NUM announcements──▶ BOUND
//! PROBING ──conflict──▶ PROBING (new candidate; rate-limited after MAX_CONFLICTS)
//! ANNOUNCING/BOUND ──conflict──▶ defend with one announcement (§2.5 (b))
//! ANNOUNCING/BOUND ──second conflict within DEFEND_INTERVAL──▶ PROBING (Lost event)
//! ```

use core::net::Ipv4Addr;

use crate::iface::Ipv4Cidr;
use crate::rand::Rng;
use crate::time::{Duration, Instant};
use crate::wire::EthernetAddress;

/// The first and last addresses a host may pick (RFC 3927 §2.1): the first
/// and last 256 of 169.254/16 are reserved.
const FIRST_ADDRESS: u32 = u32::from_be_bytes([169, 254, 1, 0]);
const LAST_ADDRESS: u32 = u32::from_be_bytes([169, 254, 254, 255]);

/// The prefix a claimed address is configured with (RFC 3927 §2.1).
pub const PREFIX_LEN: u8 = 16;

/// Timings and limits; [`AutoIpConfig::new`] gives the RFC 3927 §9 values.
/// Tests and simulations may shorten them; a device should not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoIpConfig {
    /// The interface's hardware address, which seeds the address choice
    /// (RFC 3927 §2.1) so a device tends to get the same address each time.
    pub hardware_address: EthernetAddress,
    /// The link-local address used last time on this link, tried first
    /// (RFC 3927 §2.1: "it SHOULD use that address first").
    pub remembered: Option<Ipv4Addr>,
    /// Random wait, up to this, before the first probe (PROBE_WAIT, 1 s).
    pub probe_wait: Duration,
    /// Probes per candidate (PROBE_NUM, 3).
    pub probe_num: u8,
    /// Random gap between probes, from `probe_min` to `probe_max`
    /// (PROBE_MIN 1 s, PROBE_MAX 2 s).
    pub probe_min: Duration,
    pub probe_max: Duration,
    /// Wait after the last probe before claiming (ANNOUNCE_WAIT, 2 s).
    pub announce_wait: Duration,
    /// Announcements after claiming (ANNOUNCE_NUM, 2).
    pub announce_num: u8,
    /// Gap between announcements (ANNOUNCE_INTERVAL, 2 s).
    pub announce_interval: Duration,
    /// Conflicts after which new attempts are rate-limited (MAX_CONFLICTS, 10).
    pub max_conflicts: u8,
    /// The least time between attempts once rate-limited
    /// (RATE_LIMIT_INTERVAL, 60 s).
    pub rate_limit_interval: Duration,
    /// A second conflict within this of a defence gives the address up
    /// (DEFEND_INTERVAL, 10 s).
    pub defend_interval: Duration,
}

impl AutoIpConfig {
    /// The RFC 3927 §9 timings for the interface with `hardware_address`.
    pub const fn new(hardware_address: EthernetAddress) -> Self {
        Self {
            hardware_address,
            remembered: None,
            probe_wait: Duration::from_secs(1),
            probe_num: 3,
            probe_min: Duration::from_secs(1),
            probe_max: Duration::from_secs(2),
            announce_wait: Duration::from_secs(2),
            announce_num: 2,
            announce_interval: Duration::from_secs(2),
            max_conflicts: 10,
            rate_limit_interval: Duration::from_secs(60),
            defend_interval: Duration::from_secs(10),
        }
    }
}

/// What to put on the link, from [`AutoIp::poll_action`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AutoIpAction {
    /// An ARP probe for the candidate (RFC 5227 §2.1.1: sender IP 0.0.0.0).
    Probe(Ipv4Addr),
    /// An ARP announcement of the address (sender IP = target IP).
    Announce(Ipv4Addr),
}

/// What the state machine tells the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AutoIpEvent {
    /// The candidate survived probing: configure it (a /16, no gateway).
    Bound(Ipv4Cidr),
    /// The address was given up after a conflict it could not defend:
    /// unconfigure it. Probing for a new candidate has begun.
    Lost,
}

/// RFC 3927 §2 phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum State {
    /// Waiting to probe (PROBE_WAIT, or the rate limit) or probing the
    /// candidate (§2.2.1).
    Probing,
    /// Claimed and configured; announcements still to send (§2.4).
    Announcing,
    /// Claimed and announced; defended on conflict (§2.5).
    Bound,
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AutoIpStats {
    pub probes: u32,
    /// Announcements, defensive ones included.
    pub announcements: u32,
    /// Conflicts reported while probing or holding an address.
    pub conflicts: u32,
    /// Conflicts answered with a defensive announcement (§2.5 (b)).
    pub defences: u32,
    /// Addresses claimed.
    pub claimed: u32,
    /// Addresses given up after a second conflict (§2.5 (b)).
    pub lost: u32,
}

/// One interface's IPv4 link-local address configuration.
#[derive(Debug, Clone)]
pub struct AutoIp {
    config: AutoIpConfig,
    rng: Rng,
    state: State,
    /// The address probed for, or held.
    candidate: Ipv4Addr,
    /// Probes (while probing) or announcements (while announcing) sent.
    sent: u8,
    /// When the next probe or announcement is due, or the claim is made.
    next_at: Option<Instant>,
    /// Conflicts since the last claim, for the rate limit (§2.2.1).
    conflicts: u8,
    /// When we last defended the address (§2.5 (b)).
    defended_at: Option<Instant>,
    /// A defensive announcement is owed.
    defend: bool,
    last_conflict: Option<EthernetAddress>,
    stats: AutoIpStats,
}

impl AutoIp {
    /// Starts probing at `now`, seeded from the hardware address.
    pub fn new(config: AutoIpConfig, now: Instant) -> Self {
        Self::with_seed(config, seed_from_mac(config.hardware_address), now)
    }

    /// Starts probing at `now` with an explicit seed (simulations, tests).
    pub fn with_seed(config: AutoIpConfig, seed: u64, now: Instant) -> Self {
        let mut autoip = AutoIp {
            config,
            rng: Rng::new(seed),
            state: State::Probing,
            candidate: Ipv4Addr::from(FIRST_ADDRESS),
            sent: 0,
            next_at: None,
            conflicts: 0,
            defended_at: None,
            defend: false,
            last_conflict: None,
            stats: AutoIpStats::default(),
        };
        autoip.candidate = match config.remembered {
            Some(address) if is_selectable(address) => address,
            _ => autoip.pick_candidate(),
        };
        autoip.start_probing(now);
        autoip
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// The address being probed for, or held: the one to watch for
    /// conflicts.
    pub fn candidate(&self) -> Ipv4Addr {
        self.candidate
    }

    /// The claimed address, once probing succeeded.
    pub fn address(&self) -> Option<Ipv4Cidr> {
        (self.state != State::Probing).then(|| Ipv4Cidr::new(self.candidate, PREFIX_LEN))
    }

    /// The hardware address of the latest station that conflicted with us.
    pub fn last_conflict(&self) -> Option<EthernetAddress> {
        self.last_conflict
    }

    pub fn stats(&self) -> &AutoIpStats {
        &self.stats
    }

    /// When [`handle_timeout`](Self::handle_timeout) and
    /// [`poll_action`](Self::poll_action) are next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.defend, self.defended_at) {
            (true, Some(at)) => Some(self.next_at.map_or(at, |next| next.min(at))),
            _ => self.next_at,
        }
    }

    /// Claims the candidate once its probes went unanswered for
    /// ANNOUNCE_WAIT (RFC 3927 §2.4): returns [`AutoIpEvent::Bound`].
    pub fn handle_timeout(&mut self, now: Instant) -> Option<AutoIpEvent> {
        let probed = self.state == State::Probing && self.sent >= self.config.probe_num;
        if !probed || self.next_at.is_none_or(|at| now < at) {
            return None;
        }
        self.state = State::Announcing;
        self.sent = 0;
        self.next_at = Some(now);
        self.conflicts = 0;
        self.defended_at = None;
        self.stats.claimed = self.stats.claimed.wrapping_add(1);
        Some(AutoIpEvent::Bound(Ipv4Cidr::new(
            self.candidate,
            PREFIX_LEN,
        )))
    }

    /// The next probe or announcement to send, if one is due at `now`.
    /// Each is handed out once: one lost to a full queue is not repeated.
    pub fn poll_action(&mut self, now: Instant) -> Option<AutoIpAction> {
        if self.defend {
            self.defend = false;
            return Some(self.announce());
        }
        if self.next_at.is_none_or(|at| now < at) {
            return None;
        }
        match self.state {
            State::Probing if self.sent < self.config.probe_num => {
                self.sent += 1;
                let wait = if self.sent < self.config.probe_num {
                    self.random_between(self.config.probe_min, self.config.probe_max)
                } else {
                    self.config.announce_wait
                };
                self.next_at = Some(now + wait);
                self.stats.probes = self.stats.probes.wrapping_add(1);
                Some(AutoIpAction::Probe(self.candidate))
            }
            State::Announcing => {
                self.sent = self.sent.saturating_add(1);
                if self.sent < self.config.announce_num {
                    self.next_at = Some(now + self.config.announce_interval);
                } else {
                    self.state = State::Bound;
                    self.next_at = None;
                }
                Some(self.announce())
            }
            // Probing, all probes out: the claim is `handle_timeout`'s.
            State::Probing | State::Bound => None,
        }
    }

    /// Feeds a conflict the link reported for the candidate: an ARP packet
    /// from `from` that uses it, or a probe for it while we probe.
    ///
    /// While probing, the candidate is abandoned for a new one (§2.2.1).
    /// Holding it, we defend it with one announcement, unless we already
    /// did within DEFEND_INTERVAL: then it is given up and
    /// [`AutoIpEvent::Lost`] returned (§2.5 (b)).
    pub fn handle_conflict(&mut self, now: Instant, from: EthernetAddress) -> Option<AutoIpEvent> {
        if from == self.config.hardware_address {
            // Our own packet, reflected: not a conflict (§2.2.1).
            return None;
        }
        self.last_conflict = Some(from);
        self.stats.conflicts = self.stats.conflicts.wrapping_add(1);
        match self.state {
            State::Probing => {
                self.retry(now);
                None
            }
            State::Announcing | State::Bound => {
                let recent = self
                    .defended_at
                    .is_some_and(|at| now.saturating_since(at) < self.config.defend_interval);
                if recent {
                    self.stats.lost = self.stats.lost.wrapping_add(1);
                    self.retry(now);
                    return Some(AutoIpEvent::Lost);
                }
                self.defended_at = Some(now);
                self.defend = true;
                self.stats.defences = self.stats.defences.wrapping_add(1);
                None
            }
        }
    }

    fn announce(&mut self) -> AutoIpAction {
        self.stats.announcements = self.stats.announcements.wrapping_add(1);
        AutoIpAction::Announce(self.candidate)
    }

    /// After a conflict: a new candidate, probed after PROBE_WAIT, or after
    /// RATE_LIMIT_INTERVAL once MAX_CONFLICTS were reached (§2.2.1).
    fn retry(&mut self, now: Instant) {
        self.conflicts = self.conflicts.saturating_add(1);
        self.defended_at = None;
        self.defend = false;
        let previous = self.candidate;
        self.candidate = self.pick_candidate();
        if self.candidate == previous {
            let next = u32::from(previous) + 1;
            self.candidate = Ipv4Addr::from(if next > LAST_ADDRESS {
                FIRST_ADDRESS
            } else {
                next
            });
        }
        self.start_probing(now);
    }

    fn start_probing(&mut self, now: Instant) {
        self.state = State::Probing;
        self.sent = 0;
        let limited = self.conflicts >= self.config.max_conflicts;
        let hold = if limited {
            self.config.rate_limit_interval
        } else {
            Duration::from_micros(0)
        };
        let wait = self.random_between(Duration::from_micros(0), self.config.probe_wait);
        self.next_at = Some(now + hold + wait);
    }

    /// A pseudo-random address in 169.254.1.0–169.254.254.255 (§2.1).
    fn pick_candidate(&mut self) -> Ipv4Addr {
        let offset = self.rng.below(LAST_ADDRESS - FIRST_ADDRESS + 1);
        Ipv4Addr::from(FIRST_ADDRESS + offset)
    }

    /// A random duration in `min..=max` (just `min` if `max` is below it).
    fn random_between(&mut self, min: Duration, max: Duration) -> Duration {
        let span = max.as_micros().saturating_sub(min.as_micros());
        let span = u32::try_from(span).unwrap_or(u32::MAX - 1);
        let extra = self.rng.below(span + 1);
        Duration::from_micros(min.as_micros() + u64::from(extra))
    }
}

/// A seed from a hardware address (RFC 3927 §2.1 suggests one derived from
/// it), so the same device tends to pick the same addresses.
pub fn seed_from_mac(mac: EthernetAddress) -> u64 {
    let mut bytes = [0u8; 8];
    bytes[2..].copy_from_slice(&mac.0);
    u64::from_be_bytes(bytes)
}

/// Whether `address` may be chosen: in 169.254.1.0–169.254.254.255.
pub fn is_selectable(address: Ipv4Addr) -> bool {
    (FIRST_ADDRESS..=LAST_ADDRESS).contains(&u32::from(address))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0x12, 0x34, 0x56]);
    const OTHER: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x99]);

    fn at_ms(millis: u64) -> Instant {
        Instant::from_millis(millis)
    }

    /// Runs the machine from `now` until it claims an address or `limit`,
    /// checking every probe against RFC 3927 timings; returns the claim
    /// time and the probe times.
    fn run_probes(autoip: &mut AutoIp, mut now: Instant) -> (Instant, [Instant; 3]) {
        let mut probes = [Instant::ZERO; 3];
        let mut count = 0;
        loop {
            let next = autoip.poll_timeout().expect("a deadline while probing");
            assert!(next >= now, "deadlines do not go back");
            now = next;
            if let Some(AutoIpEvent::Bound(cidr)) = autoip.handle_timeout(now) {
                assert_eq!(cidr.address(), autoip.candidate());
                assert_eq!(count, 3);
                return (now, probes);
            }
            match autoip.poll_action(now) {
                Some(AutoIpAction::Probe(ip)) => {
                    assert_eq!(ip, autoip.candidate());
                    probes[count] = now;
                    count += 1;
                }
                other => panic!("expected a probe, got {other:?}"),
            }
        }
    }

    #[test]
    fn probes_then_claims_then_announces_on_rfc_timings() {
        let mut autoip = AutoIp::new(AutoIpConfig::new(MAC), at_ms(0));
        assert_eq!(autoip.state(), State::Probing);
        assert!(is_selectable(autoip.candidate()));
        assert_eq!(autoip.address(), None);
        let (claimed, probes) = run_probes(&mut autoip, at_ms(0));
        assert!(probes[0] <= at_ms(1000), "PROBE_WAIT: {probes:?}");
        for pair in probes.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(
                (Duration::from_secs(1)..=Duration::from_secs(2)).contains(&gap),
                "PROBE_MIN..PROBE_MAX: {gap}"
            );
        }
        assert_eq!(claimed - probes[2], Duration::from_secs(2), "ANNOUNCE_WAIT");
        assert_eq!(autoip.state(), State::Announcing);
        assert_eq!(
            autoip.address(),
            Some(Ipv4Cidr::new(autoip.candidate(), 16))
        );
        let ip = autoip.candidate();
        assert_eq!(
            autoip.poll_action(claimed),
            Some(AutoIpAction::Announce(ip))
        );
        assert_eq!(autoip.poll_action(claimed), None);
        let second = claimed + Duration::from_secs(2);
        assert_eq!(autoip.poll_timeout(), Some(second), "ANNOUNCE_INTERVAL");
        assert_eq!(autoip.poll_action(second), Some(AutoIpAction::Announce(ip)));
        assert_eq!(autoip.state(), State::Bound);
        assert_eq!(autoip.poll_timeout(), None, "quiet once bound");
        let stats = autoip.stats();
        assert_eq!(
            (stats.probes, stats.announcements, stats.claimed),
            (3, 2, 1)
        );
    }

    #[test]
    fn the_same_mac_picks_the_same_first_candidate_and_another_mac_another() {
        let first = AutoIp::new(AutoIpConfig::new(MAC), at_ms(0)).candidate();
        let again = AutoIp::new(AutoIpConfig::new(MAC), at_ms(5000)).candidate();
        let other = AutoIp::new(AutoIpConfig::new(OTHER), at_ms(0)).candidate();
        assert_eq!(first, again);
        assert_ne!(first, other);
        let remembered = Ipv4Addr::new(169, 254, 9, 9);
        let config = AutoIpConfig {
            remembered: Some(remembered),
            ..AutoIpConfig::new(MAC)
        };
        assert_eq!(AutoIp::new(config, at_ms(0)).candidate(), remembered);
        let reserved = AutoIpConfig {
            remembered: Some(Ipv4Addr::new(169, 254, 0, 9)),
            ..AutoIpConfig::new(MAC)
        };
        assert_eq!(AutoIp::new(reserved, at_ms(0)).candidate(), first);
    }

    #[test]
    fn candidates_stay_in_the_link_local_range() {
        let mut autoip = AutoIp::with_seed(AutoIpConfig::new(MAC), 99, at_ms(0));
        for k in 0..2000 {
            autoip.handle_conflict(at_ms(k), OTHER);
            assert!(is_selectable(autoip.candidate()), "{}", autoip.candidate());
        }
        assert!(!is_selectable(Ipv4Addr::new(169, 254, 0, 255)));
        assert!(!is_selectable(Ipv4Addr::new(169, 254, 255, 0)));
        assert!(is_selectable(Ipv4Addr::new(169, 254, 1, 0)));
        assert!(is_selectable(Ipv4Addr::new(169, 254, 254, 255)));
    }

    #[test]
    fn a_conflict_while_probing_moves_to_a_new_candidate() {
        let mut autoip = AutoIp::new(AutoIpConfig::new(MAC), at_ms(0));
        let first = autoip.candidate();
        let now = autoip.poll_timeout().unwrap();
        assert_eq!(autoip.poll_action(now), Some(AutoIpAction::Probe(first)));
        // A reply from the holder of the address.
        assert_eq!(
            autoip.handle_conflict(now + Duration::from_millis(5), OTHER),
            None
        );
        let second = autoip.candidate();
        assert_ne!(second, first);
        assert_eq!(autoip.state(), State::Probing);
        assert_eq!(autoip.last_conflict(), Some(OTHER));
        // Probing starts over: three probes of the new candidate.
        let (_, probes) = run_probes(&mut autoip, now);
        assert!(probes[0] <= now + Duration::from_millis(1005));
        assert_eq!(autoip.address().map(|c| c.address()), Some(second));
        assert_eq!(autoip.stats().probes, 4);
        // Our own reflected probe is no conflict.
        let mut quiet = AutoIp::new(AutoIpConfig::new(MAC), at_ms(0));
        assert_eq!(quiet.handle_conflict(at_ms(1), MAC), None);
        assert_eq!(quiet.candidate(), first);
        assert_eq!(quiet.stats().conflicts, 0);
    }

    #[test]
    fn a_bound_address_is_defended_once_then_given_up() {
        let mut autoip = AutoIp::new(AutoIpConfig::new(MAC), at_ms(0));
        let (claimed, _) = run_probes(&mut autoip, at_ms(0));
        let ours = autoip.candidate();
        autoip.poll_action(claimed);
        let t = claimed + Duration::from_secs(3);
        autoip.poll_action(t);
        assert_eq!(autoip.state(), State::Bound);

        // First conflict: one defensive announcement, the address is kept.
        assert_eq!(autoip.handle_conflict(t, OTHER), None);
        assert_eq!(autoip.poll_timeout(), Some(t));
        assert_eq!(autoip.poll_action(t), Some(AutoIpAction::Announce(ours)));
        assert_eq!(autoip.poll_action(t), None);
        assert_eq!(autoip.state(), State::Bound);
        // A conflict more than DEFEND_INTERVAL later is defended again.
        let later = t + Duration::from_secs(11);
        assert_eq!(autoip.handle_conflict(later, OTHER), None);
        assert_eq!(
            autoip.poll_action(later),
            Some(AutoIpAction::Announce(ours))
        );
        // Another within 10 s of that defence: the address is given up.
        let soon = later + Duration::from_secs(9);
        assert_eq!(autoip.handle_conflict(soon, OTHER), Some(AutoIpEvent::Lost));
        assert_eq!(autoip.state(), State::Probing);
        assert_eq!(autoip.address(), None);
        assert_ne!(autoip.candidate(), ours);
        assert_eq!(
            autoip
                .poll_action(soon + Duration::from_secs(1))
                .map(|a| matches!(a, AutoIpAction::Probe(_))),
            Some(true)
        );
        let stats = autoip.stats();
        assert_eq!((stats.conflicts, stats.defences, stats.lost), (3, 2, 1));
    }

    #[test]
    fn a_conflict_while_announcing_is_defended_too() {
        let mut autoip = AutoIp::new(AutoIpConfig::new(MAC), at_ms(0));
        let (claimed, _) = run_probes(&mut autoip, at_ms(0));
        let ours = autoip.candidate();
        assert_eq!(
            autoip.poll_action(claimed),
            Some(AutoIpAction::Announce(ours))
        );
        let t = claimed + Duration::from_millis(500);
        assert_eq!(autoip.handle_conflict(t, OTHER), None);
        assert_eq!(autoip.poll_action(t), Some(AutoIpAction::Announce(ours)));
        // The scheduled second announcement still follows.
        let second = claimed + Duration::from_secs(2);
        assert_eq!(autoip.poll_timeout(), Some(second));
        assert_eq!(
            autoip.poll_action(second),
            Some(AutoIpAction::Announce(ours))
        );
        assert_eq!(autoip.state(), State::Bound);
    }

    #[test]
    fn after_max_conflicts_attempts_are_rate_limited() {
        let mut autoip = AutoIp::new(AutoIpConfig::new(MAC), at_ms(0));
        let mut now = at_ms(0);
        for k in 1..=10u64 {
            now = autoip.poll_timeout().unwrap();
            assert!(matches!(
                autoip.poll_action(now),
                Some(AutoIpAction::Probe(_))
            ));
            autoip.handle_conflict(now, OTHER);
            let next = autoip.poll_timeout().unwrap();
            if k < 10 {
                assert!(
                    next - now <= Duration::from_secs(1),
                    "attempt {k}: PROBE_WAIT only"
                );
            }
        }
        // The tenth conflict: the next attempt waits RATE_LIMIT_INTERVAL.
        let next = autoip.poll_timeout().unwrap();
        assert!(next - now >= Duration::from_secs(60), "{}", next - now);
        assert!(next - now <= Duration::from_secs(61));
        assert_eq!(
            autoip.poll_action(Instant::from_micros(next.as_micros() - 1_000)),
            None
        );
        now = next;
        assert!(matches!(
            autoip.poll_action(now),
            Some(AutoIpAction::Probe(_))
        ));
        autoip.handle_conflict(now, OTHER);
        assert!(autoip.poll_timeout().unwrap() - now >= Duration::from_secs(60));
        // A successful claim ends the rate limit.
        let (claimed, _) = run_probes(&mut autoip, now);
        assert_eq!(autoip.state(), State::Announcing);
        let config = AutoIpConfig::new(MAC);
        assert!(claimed - now <= config.rate_limit_interval + Duration::from_secs(9));
    }

    #[test]
    fn shortened_timings_are_honoured() {
        let config = AutoIpConfig {
            probe_wait: Duration::from_millis(0),
            probe_min: Duration::from_millis(100),
            probe_max: Duration::from_millis(100),
            announce_wait: Duration::from_millis(50),
            ..AutoIpConfig::new(MAC)
        };
        let mut autoip = AutoIp::new(config, at_ms(0));
        let (claimed, probes) = run_probes(&mut autoip, at_ms(0));
        assert_eq!(probes, [at_ms(0), at_ms(100), at_ms(200)]);
        assert_eq!(claimed, at_ms(250));
    }
}
