//! A bounded cache of resolved addresses ([RFC 1035 §7.4], TTL rules of
//! [RFC 2181 §8]).
//!
//! A device resolves a handful of names (its broker, its time server) again
//! and again; keeping each answer for its TTL saves a round trip per
//! connection. The cache is a fixed array: when it is full, the entry that
//! would expire first makes room, since it has the least time left to serve.
//! TTLs are capped at one day (RFC 8767 §4 recommends a cap of that order),
//! so a server's mistake cannot pin a stale address for years.
//!
//! [RFC 1035 §7.4]: https://www.rfc-editor.org/rfc/rfc1035#section-7.4
//! [RFC 2181 §8]: https://www.rfc-editor.org/rfc/rfc2181#section-8

use super::name::Name;
use super::{Answer, RecordKind};
use crate::time::{Duration, Instant, div_rem_u64};

/// The longest an answer is kept, whatever its TTL says.
pub const MAX_CACHE_TTL_SECS: u32 = 86_400;

#[derive(Debug, Clone)]
struct Entry {
    name: Name,
    kind: RecordKind,
    answer: Answer,
    expires: Instant,
}

/// Up to `N` answers, each until its TTL runs out.
#[derive(Debug, Clone)]
pub struct Cache<const N: usize> {
    entries: [Option<Entry>; N],
}

impl<const N: usize> Default for Cache<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Cache<N> {
    pub const fn new() -> Self {
        Cache {
            entries: [const { None }; N],
        }
    }

    /// The cached answer for `name` and `kind`, if it has not expired; its
    /// TTL is what is left of it at `now`.
    pub fn lookup(&self, now: Instant, name: &Name, kind: RecordKind) -> Option<Answer> {
        self.entries.iter().flatten().find_map(|entry| {
            if entry.kind != kind || now >= entry.expires || !entry.name.eq_ignore_case(name) {
                return None;
            }
            let mut answer = entry.answer.clone();
            // Rounded up, in 32-bit divisions (see `div_rem_u64`).
            let (secs, part) = div_rem_u64((entry.expires - now).as_micros(), 1_000_000);
            let left_secs = secs + u64::from(part > 0);
            answer.ttl_secs = u32::try_from(left_secs).unwrap_or(MAX_CACHE_TTL_SECS);
            Some(answer)
        })
    }

    /// Keeps `answer` for its TTL (capped at a day). A TTL of 0 means "use
    /// once, do not cache" (RFC 1035 §3.2.1), so such answers are not kept.
    pub fn insert(&mut self, now: Instant, name: &Name, kind: RecordKind, answer: &Answer) {
        let ttl = answer.ttl_secs.min(MAX_CACHE_TTL_SECS);
        if ttl == 0 || N == 0 {
            return;
        }
        let expires = now + Duration::from_secs(u64::from(ttl));
        let entry = Entry {
            name: name.clone(),
            kind,
            answer: answer.clone(),
            expires,
        };
        let slot = self.slot_for(now, name, kind);
        if let Some(slot) = self.entries.get_mut(slot) {
            *slot = Some(entry);
        }
    }

    /// The slot to write: the same name and kind, else a free or expired
    /// slot, else the entry expiring first.
    fn slot_for(&self, now: Instant, name: &Name, kind: RecordKind) -> usize {
        let same = self.entries.iter().position(|slot| {
            slot.as_ref()
                .is_some_and(|e| e.kind == kind && e.name.eq_ignore_case(name))
        });
        let free = || {
            self.entries
                .iter()
                .position(|slot| slot.as_ref().is_none_or(|e| now >= e.expires))
        };
        let soonest = || {
            self.entries
                .iter()
                .enumerate()
                .min_by_key(|(_, slot)| slot.as_ref().map(|e| e.expires))
                .map(|(index, _)| index)
        };
        same.or_else(free).or_else(soonest).unwrap_or(0)
    }

    /// Drops every entry, e.g. after the network changed.
    pub fn clear(&mut self) {
        self.entries = [const { None }; N];
    }

    /// Entries that have not expired at `now`.
    pub fn len(&self, now: Instant) -> usize {
        self.entries
            .iter()
            .flatten()
            .filter(|e| now < e.expires)
            .count()
    }

    pub fn is_empty(&self, now: Instant) -> bool {
        self.len(now) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{IpAddr, Ipv4Addr};

    fn name(text: &str) -> Name {
        Name::from_text(text).expect("valid test name")
    }

    fn answer(last: u8, ttl_secs: u32) -> Answer {
        let mut answer = Answer::new(RecordKind::A);
        answer.push(IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)));
        answer.ttl_secs = ttl_secs;
        answer
    }

    #[test]
    fn hit_until_expiry_then_miss() {
        let mut cache = Cache::<2>::new();
        let t0 = Instant::from_secs(100);
        cache.insert(t0, &name("a.test"), RecordKind::A, &answer(1, 30));
        let hit = cache.lookup(t0 + Duration::from_secs(10), &name("A.TEST"), RecordKind::A);
        let hit = hit.expect("cached");
        assert_eq!(hit.addresses(), &[IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))]);
        assert_eq!(hit.ttl_secs, 20);
        // What is left is rounded up: 1 µs short of 20 s is 20 s, 1 µs
        // left is 1 s.
        let just_after = t0 + Duration::from_micros(10_000_001);
        let hit = cache.lookup(just_after, &name("a.test"), RecordKind::A);
        assert_eq!(hit.map(|hit| hit.ttl_secs), Some(20));
        let last = t0 + Duration::from_micros(29_999_999);
        let hit = cache.lookup(last, &name("a.test"), RecordKind::A);
        assert_eq!(hit.map(|hit| hit.ttl_secs), Some(1));
        assert!(
            cache
                .lookup(t0, &name("a.test"), RecordKind::Aaaa)
                .is_none()
        );
        assert!(
            cache
                .lookup(t0 + Duration::from_secs(30), &name("a.test"), RecordKind::A)
                .is_none()
        );
        assert!(cache.is_empty(t0 + Duration::from_secs(30)));
    }

    #[test]
    fn zero_ttl_is_not_cached_and_long_ttl_is_capped() {
        let mut cache = Cache::<2>::new();
        let t0 = Instant::ZERO;
        cache.insert(t0, &name("zero.test"), RecordKind::A, &answer(1, 0));
        assert!(
            cache
                .lookup(t0, &name("zero.test"), RecordKind::A)
                .is_none()
        );
        cache.insert(t0, &name("long.test"), RecordKind::A, &answer(2, u32::MAX));
        let day = Duration::from_secs(u64::from(MAX_CACHE_TTL_SECS));
        assert!(
            cache
                .lookup(t0 + day, &name("long.test"), RecordKind::A)
                .is_none()
        );
    }

    #[test]
    fn full_cache_evicts_the_entry_expiring_first() {
        let mut cache = Cache::<2>::new();
        let t0 = Instant::ZERO;
        cache.insert(t0, &name("long.test"), RecordKind::A, &answer(1, 300));
        cache.insert(t0, &name("short.test"), RecordKind::A, &answer(2, 60));
        cache.insert(t0, &name("new.test"), RecordKind::A, &answer(3, 120));
        assert!(
            cache
                .lookup(t0, &name("short.test"), RecordKind::A)
                .is_none()
        );
        assert!(
            cache
                .lookup(t0, &name("long.test"), RecordKind::A)
                .is_some()
        );
        assert!(cache.lookup(t0, &name("new.test"), RecordKind::A).is_some());
        // Re-inserting a name replaces its entry rather than taking another.
        cache.insert(t0, &name("NEW.test"), RecordKind::A, &answer(4, 120));
        assert!(
            cache
                .lookup(t0, &name("long.test"), RecordKind::A)
                .is_some()
        );
        let renewed = cache
            .lookup(t0, &name("new.test"), RecordKind::A)
            .expect("cached");
        assert_eq!(renewed.addresses(), answer(4, 0).addresses());
        assert_eq!(cache.len(t0), 2);
    }
}
