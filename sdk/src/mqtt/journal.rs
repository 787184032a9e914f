//! The outbox's QoS 1/2 publishes on NOR flash, so they survive a reboot or
//! a power cut: an append-only journal over two equal halves of a flash
//! region (feature `storage`, through `embedded-storage`'s [`NorFlash`]).
//!
//! A half starts with a header word (`"DJ"`, a generation number); the
//! half with the valid header of the newer generation is the live one.
//! Generations compare as serial numbers (RFC 1982): a power cut inside a
//! header leaves its generation partly erased (`0xFF` bytes), possibly
//! `u32::MAX`, and the count must go on from there without overflowing —
//! and a half whose header came out that way is complete either way, as a
//! header is written after its half's entries.
//! Entries follow, each aligned to the flash's write size:
//!
//! ```text
//! [header: magic, delivery, topic length, body length, CRC-32]  padded
//! [acknowledged mark]                                         padded, erased while live
//! [packet identifier mark: !id, check byte]                   padded, erased until sent
//! [released mark]                                             padded, erased until PUBREC
//! [topic][body]                                               padded
//! ```
//!
//! The delivery byte and the body are an outbox record's (`outbox::Delivery`:
//! QoS, RETAIN, and whether the body starts with 5.0 properties before the
//! payload), so an entry written before RETAIN or properties were kept reads
//! the same.
//!
//! An entry is written body first and header last, so a power cut leaves
//! either a whole entry or none: a missing or damaged header ends the
//! journal, and the next mount rewrites the live entries into the other
//! half. Each mark is written once, so no flash word is ever written twice
//! (flash with ECC forbids it): the packet identifier before the PUBLISH
//! first goes out, the released mark when PUBREC arrives and before the
//! PUBREL goes out, the acknowledged mark when the exchange is over. A
//! publish restored after a reboot is thus sent again under its identifier
//! (or only its PUBREL), which a broker that kept the session recognises:
//! QoS 2 stays exactly once across reboots. A power cut while a mark is
//! written leaves it unreadable (its check fails) or erased, which reads as
//! "not yet": true, as the packet the mark precedes never went out; when
//! that packet does go out, its mark is written on a copy of the entries in
//! the other half, where compaction left the damaged word erased. When a
//! half fills, its live entries move to the other half, whose header is
//! written last (a power cut mid-move keeps the old half).

use embedded_storage::nor_flash::NorFlash;

use super::codec::QoS;
use super::outbox::{Delivery, Outbox, OutboxFull, OutboxStore};
use crate::storage::{
    CHUNK, Crc32, FlashError, check_geometry, erased, newer, padded, write_padded,
};

const HALF_MAGIC: [u8; 2] = *b"DJ";
const ENTRY_MAGIC: u8 = 0xA5;
/// Header bytes before padding: magic, qos, two lengths, CRC-32.
const ENTRY_HEADER: usize = 10;
/// The packet identifier mark: the identifier inverted (so that erased
/// flash reads as no identifier: 0 is never one) and a check byte.
const PACKET_ID_MARK: usize = 3;

/// The journal over `flash[start..start + 2 * half]`.
#[derive(Debug)]
pub struct Journal<F: NorFlash> {
    flash: F,
    start: u32,
    half: u32,
    /// 0 or 1: which half is live.
    live: u32,
    generation: u32,
    /// Where the next entry goes, from the live half's start.
    head: u32,
    /// Live entries the last restore put into the outbox and not removed
    /// since: the outbox's first records.
    restored: usize,
    /// Live entries the last restore left in flash (the outbox had no
    /// room for them): they come after the restored ones, before those
    /// appended since, and the outbox does not count them (see
    /// [`Journal::entry_ordinal`]).
    left_in_flash: usize,
}

/// One entry as read back.
#[derive(Debug, Clone, Copy)]
struct Entry {
    delivery: Delivery,
    topic_len: usize,
    /// The body after the topic: the payload, after a property block if
    /// `delivery` says so.
    body_len: usize,
    crc: u32,
    acknowledged: bool,
    /// The packet identifier it was sent with, if it was.
    packet_id: Option<u16>,
    /// The server answered PUBREC.
    released: bool,
    /// Total size with padding.
    size: u32,
}

impl<F: NorFlash> Journal<F> {
    /// Mounts the journal in `half_size * 2` bytes from `start`, formatting
    /// it if neither half is valid, and repairing it if a power cut left a
    /// partial entry.
    pub fn mount(mut flash: F, start: u32, half_size: u32) -> Result<Self, FlashError> {
        check_geometry(&flash, start, half_size)?;
        let mut best: Option<(u32, u32)> = None;
        for half in 0..2 {
            let mut word = [0u8; 8];
            flash
                .read(start + half * half_size, &mut word)
                .map_err(|_| FlashError::Flash)?;
            if word[..2] == HALF_MAGIC {
                let generation = u32::from_be_bytes([word[4], word[5], word[6], word[7]]);
                if best.is_none_or(|(_, g)| newer(generation, g)) {
                    best = Some((half, generation));
                }
            }
        }
        let mut journal = Journal {
            flash,
            start,
            half: half_size,
            live: 0,
            generation: 0,
            head: 0,
            restored: 0,
            left_in_flash: 0,
        };
        match best {
            None => journal.format(0, 1)?,
            Some((half, generation)) => {
                journal.live = half;
                journal.generation = generation;
                journal.head = journal.first_entry();
                while let Some(entry) = journal.entry_at(journal.head) {
                    journal.head += entry.size;
                }
                let live = journal.half_start(journal.live);
                if !erased(&mut journal.flash, live + journal.head, live + journal.half)? {
                    // A partial entry: keep the whole ones, in the other half.
                    journal.compact()?;
                }
            }
        }
        Ok(journal)
    }

    fn first_entry(&self) -> u32 {
        padded::<F>(8)
    }

    /// Where an entry's acknowledged mark starts, from the entry's start.
    fn acknowledged_at() -> u32 {
        padded::<F>(ENTRY_HEADER)
    }

    /// Where its packet identifier mark starts.
    fn packet_id_at() -> u32 {
        Self::acknowledged_at() + padded::<F>(1)
    }

    /// Where its released mark starts.
    fn released_at() -> u32 {
        Self::packet_id_at() + padded::<F>(PACKET_ID_MARK)
    }

    /// Where its topic and payload start.
    fn body_at() -> u32 {
        Self::released_at() + padded::<F>(1)
    }

    fn half_start(&self, half: u32) -> u32 {
        self.start + half * self.half
    }

    /// Erases `half` and makes it the live, empty half of `generation`.
    fn format(&mut self, half: u32, generation: u32) -> Result<(), FlashError> {
        let from = self.half_start(half);
        self.flash
            .erase(from, from + self.half)
            .map_err(|_| FlashError::Flash)?;
        self.write_half_header(half, generation)?;
        self.live = half;
        self.generation = generation;
        self.head = self.first_entry();
        Ok(())
    }

    fn write_half_header(&mut self, half: u32, generation: u32) -> Result<(), FlashError> {
        let mut word = [0xFFu8; CHUNK];
        word[..2].copy_from_slice(&HALF_MAGIC);
        word[4..8].copy_from_slice(&generation.to_be_bytes());
        let len = padded::<F>(8) as usize;
        self.flash
            .write(self.half_start(half), &word[..len])
            .map_err(|_| FlashError::Flash)
    }

    /// The whole, undamaged entry at `offset` of the live half, if any.
    fn entry_at(&mut self, offset: u32) -> Option<Entry> {
        let base = self.half_start(self.live);
        let mut header = [0u8; ENTRY_HEADER];
        if offset + padded::<F>(ENTRY_HEADER) > self.half {
            return None;
        }
        self.flash.read(base + offset, &mut header).ok()?;
        if header[0] != ENTRY_MAGIC {
            return None;
        }
        let delivery = match Delivery::of(header[1])? {
            Delivery {
                qos: QoS::AtMostOnce,
                ..
            } => return None,
            delivery => delivery,
        };
        let topic_len = usize::from(u16::from_be_bytes([header[2], header[3]]));
        let body_len = usize::from(u16::from_be_bytes([header[4], header[5]]));
        let crc = u32::from_be_bytes([header[6], header[7], header[8], header[9]]);
        let body = Self::body_at();
        let size = body + padded::<F>(topic_len + body_len);
        if offset + size > self.half {
            return None;
        }
        let mut marks = [0u8; 1 + PACKET_ID_MARK + 1];
        let entry = base + offset;
        let (acknowledged, rest) = marks.split_at_mut(1);
        let (packet_id, released) = rest.split_at_mut(PACKET_ID_MARK);
        self.flash
            .read(entry + Self::acknowledged_at(), acknowledged)
            .ok()?;
        self.flash
            .read(entry + Self::packet_id_at(), packet_id)
            .ok()?;
        self.flash
            .read(entry + Self::released_at(), released)
            .ok()?;
        let mut sum = Crc32::new();
        sum.update(&header[1..6]);
        self.read_body(entry + body, topic_len + body_len, |bytes| {
            sum.update(bytes)
        })
        .ok()?;
        (sum.finish() == crc).then_some(Entry {
            delivery,
            topic_len,
            body_len,
            crc,
            acknowledged: marks[0] != 0xFF,
            packet_id: read_packet_id_mark(&marks[1..1 + PACKET_ID_MARK]),
            released: marks[1 + PACKET_ID_MARK] != 0xFF,
            size,
        })
    }

    /// Reads `len` bytes from `from` in chunks, handing each to `each`.
    fn read_body(
        &mut self,
        mut from: u32,
        len: usize,
        mut each: impl FnMut(&[u8]),
    ) -> Result<(), FlashError> {
        let mut chunk = [0u8; CHUNK];
        let mut left = len;
        while left > 0 {
            let n = left.min(CHUNK);
            self.flash
                .read(from, &mut chunk[..n])
                .map_err(|_| FlashError::Flash)?;
            each(&chunk[..n]);
            from += n as u32;
            left -= n;
        }
        Ok(())
    }

    /// Moves the live entries to the other half, which becomes live.
    fn compact(&mut self) -> Result<(), FlashError> {
        self.compact_without(None)
    }

    /// [`Journal::compact`], leaving out the live entry of ordinal
    /// `dropped`, if given: acknowledged, though its mark could not be
    /// written.
    fn compact_without(&mut self, dropped: Option<usize>) -> Result<(), FlashError> {
        let (from_half, to_half) = (self.live, 1 - self.live);
        let to_base = self.half_start(to_half);
        self.flash
            .erase(to_base, to_base + self.half)
            .map_err(|_| FlashError::Flash)?;
        let (mut read, mut written) = (self.first_entry(), self.first_entry());
        let mut live = 0;
        while let Some(entry) = self.entry_at(read) {
            let kept = !entry.acknowledged && dropped != Some(live);
            live += usize::from(!entry.acknowledged);
            if kept {
                // Header, then the other marks and the body; the
                // acknowledged mark stays erased.
                let from = self.half_start(from_half) + read;
                let to = to_base + written;
                self.copy(from, to, Self::acknowledged_at())?;
                // The marks rewritten from what they read as, so one a
                // power cut left half-written comes out erased (it read as
                // "not yet") rather than in the way of the whole one.
                if let Some(packet_id) = entry.packet_id {
                    write_padded(
                        &mut self.flash,
                        to + Self::packet_id_at(),
                        &[&packet_id_mark(packet_id)],
                    )?;
                    if entry.released {
                        write_padded(&mut self.flash, to + Self::released_at(), &[&[0]])?;
                    }
                }
                let body_at = Self::body_at();
                self.copy(from + body_at, to + body_at, entry.size - body_at)?;
                written += entry.size;
            }
            read += entry.size;
        }
        let generation = self.generation.wrapping_add(1);
        self.write_half_header(to_half, generation)?;
        self.live = to_half;
        self.generation = generation;
        self.head = written;
        Ok(())
    }

    fn copy(&mut self, mut from: u32, mut to: u32, len: u32) -> Result<(), FlashError> {
        let mut chunk = [0u8; CHUNK];
        let mut left = len as usize;
        while left > 0 {
            let n = left.min(CHUNK);
            self.flash
                .read(from, &mut chunk[..n])
                .map_err(|_| FlashError::Flash)?;
            self.flash
                .write(to, &chunk[..n])
                .map_err(|_| FlashError::Flash)?;
            (from, to, left) = (from + n as u32, to + n as u32, left - n);
        }
        Ok(())
    }

    /// Writes `mark` at `mark_at` of the `ordinal`-th live entry, unless
    /// that mark is written already. Its words must be erased to be
    /// written; if they are not but hold no whole mark (a power cut while
    /// writing it, which reads as "not yet"), the live entries move to the
    /// other half first, where compaction leaves that mark erased.
    fn mark(&mut self, ordinal: usize, mark_at: u32, mark: &[u8]) -> Result<(), FlashError> {
        let Some(mut at) = self.live_entry(ordinal) else {
            return Ok(());
        };
        let mut current = [0u8; CHUNK];
        let current = &mut current[..padded::<F>(mark.len()) as usize];
        self.flash
            .read(at + mark_at, current)
            .map_err(|_| FlashError::Flash)?;
        let whole = if mark_at == Self::packet_id_at() {
            read_packet_id_mark(&current[..PACKET_ID_MARK]).is_some()
        } else {
            current[0] != 0xFF
        };
        // Written once: a repeated call (a PUBREC the server sent again)
        // must not program the word a second time.
        if whole {
            return Ok(());
        }
        let mut in_the_way = current.iter().any(|b| *b != 0xFF);
        if mark_at == Self::packet_id_at() {
            // A released mark with no identifier before it, which no power
            // cut leaves (it is written after the identifier) but foreign
            // bytes can: compaction drops it with the missing identifier.
            let mut released = [0u8; 1];
            self.flash
                .read(at + Self::released_at(), &mut released)
                .map_err(|_| FlashError::Flash)?;
            in_the_way |= released[0] != 0xFF;
        }
        if in_the_way {
            self.compact()?;
            let Some(moved) = self.live_entry(ordinal) else {
                return Ok(());
            };
            at = moved;
        }
        write_padded(&mut self.flash, at + mark_at, &[mark])
    }

    /// Where in flash the `ordinal`-th live (unacknowledged) entry starts.
    /// The live entry (counted among live entries, oldest first) of the
    /// outbox's `ordinal`-th QoS 1/2 record. The outbox holds the restored
    /// entries, then those appended since; the journal holds the entries
    /// the restore left in flash between the two, which the outbox's
    /// ordinals pass over: acknowledging an appended publish must not mark
    /// one of those, which would then be lost.
    fn entry_ordinal(&self, ordinal: usize) -> usize {
        match ordinal < self.restored {
            true => ordinal,
            false => ordinal + self.left_in_flash,
        }
    }

    fn live_entry(&mut self, ordinal: usize) -> Option<u32> {
        let (mut offset, mut live) = (self.first_entry(), 0);
        while let Some(entry) = self.entry_at(offset) {
            if !entry.acknowledged {
                if live == ordinal {
                    return Some(self.half_start(self.live) + offset);
                }
                live += 1;
            }
            offset += entry.size;
        }
        None
    }

    /// Puts the live `entry` at `offset` into `outbox`, with its packet
    /// identifier and PUBREC state; whether it fitted (and read back whole).
    fn restore_entry(&mut self, entry: Entry, offset: u32, outbox: &mut Outbox<'_>) -> bool {
        let from = self.half_start(self.live) + offset + Self::body_at();
        let len = entry.topic_len + entry.body_len;
        let flash = &mut self.flash;
        let pushed = outbox.push_with(entry.delivery, entry.topic_len, entry.body_len, |body| {
            flash.read(from, &mut body[..len]).is_ok() && crc_of(entry, &body[..len]) == entry.crc
        });
        let Ok(at) = pushed else {
            return false;
        };
        if let Some(packet_id) = entry.packet_id {
            outbox.mark_sent(at, packet_id, entry.released);
        }
        true
    }

    fn try_append(
        &mut self,
        delivery: Delivery,
        topic: &str,
        body: &[u8],
    ) -> Result<(), FlashError> {
        let topic_len = u16::try_from(topic.len()).map_err(|_| FlashError::Geometry)?;
        let body_len = u16::try_from(body.len()).map_err(|_| FlashError::Geometry)?;
        let body_at = Self::body_at();
        let size = body_at + padded::<F>(topic.len() + body.len());
        if self.head + size > self.half {
            self.compact()?;
            if self.head + size > self.half {
                return Err(FlashError::Geometry);
            }
        }
        let mut fields = [0u8; 5];
        fields[0] = delivery.byte();
        fields[1..3].copy_from_slice(&topic_len.to_be_bytes());
        fields[3..5].copy_from_slice(&body_len.to_be_bytes());
        let mut sum = Crc32::new();
        sum.update(&fields);
        sum.update(topic.as_bytes());
        sum.update(body);
        let at = self.half_start(self.live) + self.head;
        write_padded(&mut self.flash, at + body_at, &[topic.as_bytes(), body])?;
        // The header last: the entry exists once it is written.
        write_padded(
            &mut self.flash,
            at,
            &[&[ENTRY_MAGIC], &fields, &sum.finish().to_be_bytes()],
        )?;
        self.head += size;
        Ok(())
    }
}

impl<F: NorFlash> OutboxStore for Journal<F> {
    fn append(&mut self, delivery: Delivery, topic: &str, body: &[u8]) -> Result<(), OutboxFull> {
        self.try_append(delivery, topic, body)
            .map_err(|_| OutboxFull)
    }

    fn remove(&mut self, ordinal: usize) {
        let entry = self.entry_ordinal(ordinal);
        if self.mark(entry, Self::acknowledged_at(), &[0]).is_err() {
            // The outbox lets the record go, so an entry left live would
            // put every later ordinal one off, and the next acknowledgement
            // would mark a publish still held (lost at a reboot before its
            // own): the entries move to the other half without it. Should
            // that fail too, the entry is sent again after a reboot, which
            // QoS 1/2 allows, and the ordinals stay one off for this boot.
            let _ = self.compact_without(Some(entry));
        }
        if ordinal < self.restored {
            self.restored -= 1;
        }
    }

    fn sent(&mut self, outbox: &Outbox<'_>, at: usize, packet_id: u16) {
        // A failed write: after a reboot the publish goes out under a new
        // identifier, at least once rather than exactly once.
        let _ = self.mark(
            self.entry_ordinal(outbox.ordinal(at)),
            Self::packet_id_at(),
            &packet_id_mark(packet_id),
        );
    }

    fn released(&mut self, outbox: &Outbox<'_>, at: usize) {
        let ordinal = self.entry_ordinal(outbox.ordinal(at));
        let _ = self.mark(ordinal, Self::released_at(), &[0]);
    }

    fn restore(&mut self, outbox: &mut Outbox<'_>) {
        (self.restored, self.left_in_flash) = (0, 0);
        let mut offset = self.first_entry();
        while let Some(entry) = self.entry_at(offset) {
            if !entry.acknowledged {
                // The outbox is smaller than what was stored: the rest, in
                // order, stays in flash for a later boot with more room.
                match self.left_in_flash == 0 && self.restore_entry(entry, offset, outbox) {
                    true => self.restored += 1,
                    false => self.left_in_flash += 1,
                }
            }
            offset += entry.size;
        }
    }
}

/// The packet identifier mark of `packet_id`: the identifier inverted, then
/// a check byte whose top bit is clear, so that it is never an erased byte.
fn packet_id_mark(packet_id: u16) -> [u8; PACKET_ID_MARK] {
    let [high, low] = (!packet_id).to_be_bytes();
    [high, low, mark_check(high, low)]
}

fn mark_check(high: u8, low: u8) -> u8 {
    (high ^ low ^ 0xA5) & 0x7F
}

/// The identifier a mark holds: `None` if erased (0 is no identifier) or
/// cut short by a power failure (the check byte, written last, still
/// erased, or the bytes before it wrong).
fn read_packet_id_mark(mark: &[u8]) -> Option<u16> {
    let &[high, low, check] = mark else {
        return None;
    };
    let packet_id = !u16::from_be_bytes([high, low]);
    (packet_id != 0 && check == mark_check(high, low)).then_some(packet_id)
}

fn crc_of(entry: Entry, body: &[u8]) -> u32 {
    let mut fields = [0u8; 5];
    fields[0] = entry.delivery.byte();
    fields[1..3].copy_from_slice(&(entry.topic_len as u16).to_be_bytes());
    fields[3..5].copy_from_slice(&(entry.body_len as u16).to_be_bytes());
    let mut sum = Crc32::new();
    sum.update(&fields);
    sum.update(body);
    sum.finish()
}
