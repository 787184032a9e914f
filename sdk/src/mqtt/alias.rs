//! Topic aliases (MQTT 5.0 §3.3.2.3.4): within one network connection a
//! two-byte number stands in for a topic name, so a PUBLISH on a topic the
//! connection has named before carries an empty topic and the alias.
//!
//! Each direction has its own mappings, bounded by the Topic Alias Maximum
//! its receiver announced: the server's, in CONNACK (§3.2.2.3.8; absent is
//! 0, no aliases), bounds the aliases we send; ours, in CONNECT
//! (§3.1.2.11.5), bounds those the server sends. A mapping lives only as
//! long as its network connection [MQTT-3.3.2-7]: [`TopicAliases::begin`]
//! forgets every mapping when the next connection starts, so publishes
//! resent on it name their topic in full before any alias stands for it.
//!
//! The mappings live in caller memory cut into [`SLOT`]-byte slots: a
//! length byte, then up to [`TOPIC_MAX`] bytes of topic. 64 bytes holds the
//! topics small devices publish on (`sensors/<site>/<device>/<quantity>`)
//! at four slots to 256 bytes of RAM; a longer topic goes without an alias
//! (it costs the bytes saved, nothing else). At each connection the first
//! slots go to the server's aliases (half, unless the CONNECT names its own
//! Topic Alias Maximum), the rest to ours.
//!
//! Sending: a topic with an alias on the connection goes as an empty topic
//! and the alias; one without takes a free alias, or once all are taken
//! replaces the oldest mapping (round robin over the aliases, which is
//! first-in first-out when they were mapped in order), and goes as topic
//! and alias — re-mapping an alias that way is allowed (§3.3.2.3.4).
//!
//! Receiving: a topic with an alias maps it, an empty topic with an alias
//! is resolved from the mapping. Alias 0 or one above our maximum is a
//! Protocol Error with reason code 0x94 (Topic Alias invalid), an unmapped
//! one with an empty topic one with 0x82 (Protocol Error, §3.3.2.3.4). A
//! topic too long for a slot is delivered but not kept; should the server
//! use its alias later, the message cannot be resolved
//! ([`AliasError::Unstored`]).

use core::fmt;

/// Bytes of one alias slot: a length byte and up to [`TOPIC_MAX`] bytes of
/// topic.
pub const SLOT: usize = 64;

/// The longest topic an alias slot holds.
pub const TOPIC_MAX: usize = SLOT - 1;

/// The length byte of a slot with no mapping.
const FREE: u8 = 0;

/// The length byte of an inbound slot the server mapped to a topic longer
/// than [`TOPIC_MAX`].
const UNSTORED: u8 = u8::MAX;

/// How to send a PUBLISH's topic ([`TopicAliases::outbound`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboundAlias {
    /// No alias: the topic in full.
    None,
    /// The topic has this alias on the connection: an empty topic and the
    /// alias.
    Use(u16),
    /// The topic and this alias, which maps it (a free alias, or the one
    /// replaced next); once the packet is written, record the mapping with
    /// [`TopicAliases::map_outbound`].
    Map(u16),
}

/// Why a received Topic Alias cannot stand for a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AliasError {
    /// 0, or above the Topic Alias Maximum we announced: a Protocol Error
    /// (§3.3.2.3.4; reason code 0x94, Topic Alias invalid).
    Invalid,
    /// Sent with an empty topic but never mapped on the connection: a
    /// Protocol Error (§3.3.2.3.4; reason code 0x82).
    Unmapped,
    /// Sent with an empty topic after the server mapped it to a topic
    /// longer than [`TOPIC_MAX`]: valid, but the topic was not kept.
    Unstored,
}

impl fmt::Display for AliasError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AliasError::Invalid => "topic alias invalid",
            AliasError::Unmapped => "topic alias not mapped",
            AliasError::Unstored => "topic alias for a topic too long to keep",
        })
    }
}

/// The topic alias mappings of one network connection, both directions, in
/// `storage` ([`SLOT`] bytes per alias).
pub struct TopicAliases<T> {
    storage: T,
    /// Aliases the server may send: the first slots.
    inbound: u16,
    /// Aliases we may send: the server's maximum, at most the slots after
    /// the inbound ones; 0 until CONNACK.
    outbound: u16,
    /// The outbound alias replaced next once all are mapped, 0-based.
    next_replaced: u16,
}

impl<T> TopicAliases<T> {
    /// Mappings kept in `storage`; none until [`TopicAliases::begin`].
    pub const fn new(storage: T) -> Self {
        TopicAliases {
            storage,
            inbound: 0,
            outbound: 0,
            next_replaced: 0,
        }
    }

    /// The Topic Alias Maximum announced for this connection: the highest
    /// alias the server may send.
    pub fn inbound_maximum(&self) -> u16 {
        self.inbound
    }

    /// The highest alias we send on this connection.
    pub fn outbound_maximum(&self) -> u16 {
        self.outbound
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TopicAliases<T> {
    /// How many slots the storage holds (both directions).
    pub fn capacity(&self) -> u16 {
        u16::try_from(self.storage.as_ref().len() / SLOT).unwrap_or(u16::MAX)
    }

    /// A network connection starts: every mapping of the last one is
    /// forgotten, and `inbound` slots (at most the capacity) go to the
    /// aliases the server may send. Returns that count, the Topic Alias
    /// Maximum to announce in CONNECT.
    pub fn begin(&mut self, inbound: u16) -> u16 {
        let capacity = self.capacity();
        self.inbound = inbound.min(capacity);
        self.outbound = 0;
        self.next_replaced = 0;
        for slot in self
            .storage
            .as_mut()
            .chunks_exact_mut(SLOT)
            .take(usize::from(capacity))
        {
            if let Some(len) = slot.first_mut() {
                *len = FREE;
            }
        }
        self.inbound
    }

    /// CONNACK: the server accepts aliases up to `server_maximum` (its
    /// Topic Alias Maximum; absent is 0).
    pub fn accept(&mut self, server_maximum: u16) {
        let slots = self.capacity().saturating_sub(self.inbound);
        self.outbound = server_maximum.min(slots);
    }

    /// No storage. Checked first by every lookup, so that for storage of
    /// size zero known at compile time (`[u8; 0]`, a session without
    /// aliases) the compiler drops the alias code altogether.
    fn unused(&self) -> bool {
        self.storage.as_ref().len() < SLOT
    }

    fn slot(&self, index: u16) -> Option<&[u8]> {
        let start = usize::from(index) * SLOT;
        self.storage.as_ref().get(start..start + SLOT)
    }

    fn slot_mut(&mut self, index: u16) -> Option<&mut [u8]> {
        let start = usize::from(index) * SLOT;
        self.storage.as_mut().get_mut(start..start + SLOT)
    }

    /// The topic a slot holds; `None` when it holds none.
    fn topic_at(&self, index: u16) -> Option<&[u8]> {
        let slot = self.slot(index)?;
        match *slot.first()? {
            FREE | UNSTORED => None,
            len => slot.get(1..1 + usize::from(len)),
        }
    }

    fn store(&mut self, index: u16, topic: &str) {
        let Some((len, bytes)) = self.slot_mut(index).and_then(|s| s.split_first_mut()) else {
            return;
        };
        match (u8::try_from(topic.len()), bytes.get_mut(..topic.len())) {
            (Ok(n), Some(kept)) if n != FREE && usize::from(n) <= TOPIC_MAX => {
                kept.copy_from_slice(topic.as_bytes());
                *len = n;
            }
            _ => *len = UNSTORED,
        }
    }

    /// How to send a PUBLISH on `topic`. Nothing changes until
    /// [`TopicAliases::map_outbound`].
    pub fn outbound(&self, topic: &str) -> OutboundAlias {
        if self.unused() || self.outbound == 0 || topic.is_empty() || topic.len() > TOPIC_MAX {
            return OutboundAlias::None;
        }
        let mut free = None;
        for alias in 1..=self.outbound {
            match self.topic_at(self.inbound + alias - 1) {
                Some(mapped) if mapped == topic.as_bytes() => return OutboundAlias::Use(alias),
                Some(_) => {}
                None => {
                    free.get_or_insert(alias);
                }
            }
        }
        OutboundAlias::Map(free.unwrap_or(self.next_replaced + 1))
    }

    /// A PUBLISH with `topic` and `alias` ([`OutboundAlias::Map`]) was
    /// written: the alias stands for the topic from now on.
    pub fn map_outbound(&mut self, alias: u16, topic: &str) {
        if self.unused()
            || alias == 0
            || alias > self.outbound
            || topic.is_empty()
            || topic.len() > TOPIC_MAX
        {
            return;
        }
        self.store(self.inbound + alias - 1, topic);
        if alias - 1 == self.next_replaced {
            self.next_replaced = alias % self.outbound;
        }
    }

    /// The application sent a topic with an alias of its own choosing: the
    /// server now maps that alias to it, so ours is forgotten.
    pub fn forget_outbound(&mut self, alias: u16) {
        if self.unused() || alias == 0 || alias > self.outbound {
            return;
        }
        if let Some(len) = self
            .slot_mut(self.inbound + alias - 1)
            .and_then(|slot| slot.first_mut())
        {
            *len = FREE;
        }
    }

    /// A received PUBLISH carried `alias`: with a topic, the alias maps it
    /// from now on; with an empty topic, the alias must be mapped (resolve
    /// it with [`TopicAliases::inbound_topic`]).
    pub fn receive(&mut self, topic: &str, alias: u16) -> Result<(), AliasError> {
        if self.unused() || alias == 0 || alias > self.inbound {
            return Err(AliasError::Invalid);
        }
        if !topic.is_empty() {
            self.store(alias - 1, topic);
            return Ok(());
        }
        match self.slot(alias - 1).and_then(|slot| slot.first()) {
            Some(&UNSTORED) => Err(AliasError::Unstored),
            Some(&FREE) | None => Err(AliasError::Unmapped),
            Some(_) => Ok(()),
        }
    }

    /// The topic the server's `alias` stands for.
    pub fn inbound_topic(&self, alias: u16) -> Option<&str> {
        if self.unused() || alias == 0 || alias > self.inbound {
            return None;
        }
        core::str::from_utf8(self.topic_at(alias - 1)?).ok()
    }
}

impl<T> fmt::Debug for TopicAliases<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TopicAliases")
            .field("inbound", &self.inbound)
            .field("outbound", &self.outbound)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use duet_netstack::rand::Rng;

    /// Four slots: two inbound, two outbound, the server allowing `server`.
    fn four(storage: &mut [u8; 4 * SLOT], server: u16) -> TopicAliases<&mut [u8]> {
        let mut aliases = TopicAliases::new(&mut storage[..]);
        assert_eq!(aliases.begin(2), 2);
        aliases.accept(server);
        aliases
    }

    /// What a sender does: looks the topic up, and maps it when told to.
    fn send(aliases: &mut TopicAliases<&mut [u8]>, topic: &str) -> OutboundAlias {
        let how = aliases.outbound(topic);
        if let OutboundAlias::Map(alias) = how {
            aliases.map_outbound(alias, topic);
        }
        how
    }

    #[test]
    fn outbound_maps_a_topic_then_uses_its_alias() {
        let mut storage = [0u8; 4 * SLOT];
        let mut aliases = four(&mut storage, 10);
        assert_eq!(aliases.outbound_maximum(), 2);
        assert_eq!(send(&mut aliases, "a/b"), OutboundAlias::Map(1));
        assert_eq!(send(&mut aliases, "a/b"), OutboundAlias::Use(1));
        assert_eq!(send(&mut aliases, "c"), OutboundAlias::Map(2));
        assert_eq!(send(&mut aliases, "a/b"), OutboundAlias::Use(1));
        assert_eq!(send(&mut aliases, "c"), OutboundAlias::Use(2));
        // A prefix or an extension of a mapped topic is another topic.
        assert_eq!(aliases.outbound("a/"), OutboundAlias::Map(1));
        assert_eq!(aliases.outbound("a/b/"), OutboundAlias::Map(1));
        // Outbound slots sit after the inbound ones: the server's aliases
        // do not disturb ours.
        aliases.receive("in/1", 1).unwrap();
        aliases.receive("in/2", 2).unwrap();
        assert_eq!(aliases.outbound("a/b"), OutboundAlias::Use(1));
        assert_eq!(aliases.inbound_topic(1), Some("in/1"));
    }

    #[test]
    fn a_full_table_replaces_the_oldest_mapping_round_robin() {
        let mut storage = [0u8; 4 * SLOT];
        let mut aliases = four(&mut storage, 10);
        send(&mut aliases, "t/1");
        send(&mut aliases, "t/2");
        assert_eq!(send(&mut aliases, "t/3"), OutboundAlias::Map(1));
        assert_eq!(send(&mut aliases, "t/2"), OutboundAlias::Use(2));
        assert_eq!(send(&mut aliases, "t/1"), OutboundAlias::Map(2));
        assert_eq!(send(&mut aliases, "t/4"), OutboundAlias::Map(1));
        assert_eq!(send(&mut aliases, "t/1"), OutboundAlias::Use(2));
        assert_eq!(send(&mut aliases, "t/4"), OutboundAlias::Use(1));
        // Nothing changes until the mapping is recorded.
        assert_eq!(aliases.outbound("t/5"), OutboundAlias::Map(2));
        assert_eq!(aliases.outbound("t/5"), OutboundAlias::Map(2));
        assert_eq!(aliases.outbound("t/1"), OutboundAlias::Use(2));
    }

    #[test]
    fn the_servers_maximum_bounds_our_aliases() {
        let mut storage = [0u8; 4 * SLOT];
        // Absent (0): no aliases at all.
        let mut aliases = four(&mut storage, 0);
        assert_eq!(send(&mut aliases, "a"), OutboundAlias::None);
        assert_eq!(send(&mut aliases, "a"), OutboundAlias::None);
        // One: every new topic replaces alias 1.
        aliases.accept(1);
        assert_eq!(send(&mut aliases, "a"), OutboundAlias::Map(1));
        assert_eq!(send(&mut aliases, "b"), OutboundAlias::Map(1));
        assert_eq!(send(&mut aliases, "b"), OutboundAlias::Use(1));
        // Aliases out of range are not recorded.
        aliases.map_outbound(2, "c");
        aliases.map_outbound(0, "c");
        assert_eq!(aliases.outbound("c"), OutboundAlias::Map(1));
        // A server allowing more than our slots gets as many as we have.
        aliases.accept(u16::MAX);
        assert_eq!(aliases.outbound_maximum(), 2);
    }

    #[test]
    fn topics_too_long_for_a_slot_go_in_full() {
        let mut storage = [0u8; 4 * SLOT];
        let mut aliases = four(&mut storage, 10);
        let longest = "x".repeat(TOPIC_MAX);
        let longer = "x".repeat(TOPIC_MAX + 1);
        assert_eq!(send(&mut aliases, &longer), OutboundAlias::None);
        assert_eq!(send(&mut aliases, &longest), OutboundAlias::Map(1));
        assert_eq!(send(&mut aliases, &longest), OutboundAlias::Use(1));
        assert_eq!(send(&mut aliases, ""), OutboundAlias::None);
        // Inbound: delivered with its topic, but not kept.
        aliases.receive(&longest, 1).unwrap();
        assert_eq!(aliases.inbound_topic(1), Some(longest.as_str()));
        aliases.receive(&longer, 1).unwrap();
        assert_eq!(aliases.inbound_topic(1), None);
        assert_eq!(aliases.receive("", 1), Err(AliasError::Unstored));
        // Mapping it again to a shorter topic mends it.
        aliases.receive("short", 1).unwrap();
        assert_eq!(aliases.receive("", 1), Ok(()));
        assert_eq!(aliases.inbound_topic(1), Some("short"));
    }

    #[test]
    fn a_new_connection_forgets_every_mapping() {
        let mut storage = [0u8; 4 * SLOT];
        let mut aliases = four(&mut storage, 10);
        send(&mut aliases, "a");
        aliases.receive("in", 1).unwrap();
        assert_eq!(aliases.begin(2), 2);
        // Until CONNACK, no aliases are sent.
        assert_eq!(aliases.outbound("a"), OutboundAlias::None);
        aliases.accept(10);
        assert_eq!(aliases.outbound("a"), OutboundAlias::Map(1));
        assert_eq!(aliases.inbound_topic(1), None);
        assert_eq!(aliases.receive("", 1), Err(AliasError::Unmapped));
        // The split may change between connections: all four ours now.
        assert_eq!(aliases.begin(0), 0);
        aliases.accept(10);
        assert_eq!(aliases.outbound_maximum(), 4);
        assert_eq!(aliases.receive("in", 1), Err(AliasError::Invalid));
        // More inbound slots than there are: as many as there are.
        assert_eq!(aliases.begin(9), 4);
        aliases.accept(10);
        assert_eq!(aliases.outbound_maximum(), 0);
    }

    #[test]
    fn invalid_inbound_aliases_are_refused() {
        let mut storage = [0u8; 4 * SLOT];
        let mut aliases = four(&mut storage, 10);
        assert_eq!(aliases.inbound_maximum(), 2);
        assert_eq!(aliases.receive("t", 0), Err(AliasError::Invalid));
        assert_eq!(aliases.receive("t", 3), Err(AliasError::Invalid));
        assert_eq!(aliases.receive("", 2), Err(AliasError::Unmapped));
        assert_eq!(aliases.inbound_topic(0), None);
        assert_eq!(aliases.inbound_topic(3), None);
        // Mapping, use, replacement.
        aliases.receive("t/1", 2).unwrap();
        assert_eq!(aliases.receive("", 2), Ok(()));
        assert_eq!(aliases.inbound_topic(2), Some("t/1"));
        aliases.receive("t/22", 2).unwrap();
        assert_eq!(aliases.inbound_topic(2), Some("t/22"));
        // Our outbound mappings are no inbound ones.
        send(&mut aliases, "ours");
        assert_eq!(aliases.receive("", 1), Err(AliasError::Unmapped));
        // No storage: nothing announced, everything refused.
        let mut none = TopicAliases::new([0u8; 0]);
        assert_eq!(none.begin(5), 0);
        none.accept(10);
        assert_eq!(none.receive("t", 1), Err(AliasError::Invalid));
        assert_eq!(none.outbound("t"), OutboundAlias::None);
    }

    #[test]
    fn storage_that_is_no_multiple_of_a_slot_leaves_the_rest_unused() {
        let mut storage = [0xaau8; 3 * SLOT - 1];
        let mut aliases = TopicAliases::new(&mut storage[..]);
        assert_eq!(aliases.capacity(), 2);
        assert_eq!(aliases.begin(1), 1);
        aliases.accept(5);
        assert_eq!(aliases.outbound_maximum(), 1);
        // Stale bytes from before begin() are no mappings.
        assert_eq!(aliases.receive("", 1), Err(AliasError::Unmapped));
        assert_eq!(send(&mut aliases, "a"), OutboundAlias::Map(1));
        assert!(storage[2 * SLOT..].iter().all(|&b| b == 0xaa));
    }

    /// Random operations on random storage sizes: no panic, and every
    /// answer consistent with a model of the mappings.
    #[test]
    fn random_input_never_panics_and_agrees_with_a_model() {
        extern crate std;
        use std::collections::BTreeMap;
        use std::string::String;

        let mut rng = Rng::new(7);
        let mut storage = [0u8; 9 * SLOT + 17];
        for _ in 0..200 {
            let len = rng.below(storage.len() as u32 + 1) as usize;
            rng.fill(&mut storage[..len]);
            let mut aliases = TopicAliases::new(&mut storage[..len]);
            let inbound = aliases.begin(rng.below(8) as u16);
            aliases.accept(rng.below(8) as u16);
            let (mut ours, mut theirs) = (BTreeMap::new(), BTreeMap::new());
            for _ in 0..300 {
                let mut bytes = [0u8; 80];
                let topic_len = match rng.below(4) {
                    0 => 0,
                    1 => rng.below(80) as usize,
                    _ => 1 + rng.below(2) as usize,
                };
                rng.fill(&mut bytes[..topic_len]);
                for b in &mut bytes[..topic_len] {
                    *b = b'a' + *b % 3;
                }
                let topic = core::str::from_utf8(&bytes[..topic_len]).unwrap();
                let alias = match rng.below(3) {
                    0 => rng.below(u32::from(u16::MAX) + 1) as u16,
                    _ => rng.below(u32::from(inbound) + 2) as u16,
                };
                if rng.chance(500_000) {
                    let before = aliases.receive("", alias);
                    let model = match theirs.get(&alias) {
                        _ if alias == 0 || alias > inbound => Err(AliasError::Invalid),
                        Some(Some(_)) => Ok(()),
                        Some(None) => Err(AliasError::Unstored),
                        None => Err(AliasError::Unmapped),
                    };
                    assert_eq!(before, model);
                    let got = aliases.receive(topic, alias);
                    if alias == 0 || alias > inbound {
                        assert_eq!(got, Err(AliasError::Invalid));
                    } else if !topic.is_empty() {
                        assert_eq!(got, Ok(()));
                        let kept = (topic.len() <= TOPIC_MAX).then(|| String::from(topic));
                        theirs.insert(alias, kept);
                    }
                    let resolved = aliases.inbound_topic(alias).map(String::from);
                    assert_eq!(resolved, theirs.get(&alias).cloned().flatten());
                } else {
                    match send(&mut aliases, topic) {
                        OutboundAlias::Use(a) => {
                            assert_eq!(ours.get(&a).map(String::as_str), Some(topic))
                        }
                        OutboundAlias::Map(a) => {
                            assert!(!ours.values().any(|t| t == topic));
                            ours.insert(a, String::from(topic));
                        }
                        OutboundAlias::None => assert!(
                            topic.is_empty()
                                || topic.len() > TOPIC_MAX
                                || aliases.outbound_maximum() == 0
                        ),
                    }
                    assert!(
                        ours.keys()
                            .all(|&a| a >= 1 && a <= aliases.outbound_maximum())
                    );
                }
            }
        }
    }
}
