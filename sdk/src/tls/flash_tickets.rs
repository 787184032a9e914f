//! A [`TicketStore`] on NOR flash (feature `storage`): the newest session
//! ticket outlives a reboot or a power cut, so a device that was off
//! resumes its TLS session — no certificate chain to receive and check, no
//! signature to verify — instead of starting a full handshake.
//!
//! The region is two halves of whole erase blocks ([`crate::storage`]).
//! Records follow one another in the live half, each padded to the write
//! size, the newest last:
//!
//! ```text
//! [magic "DT"][generation: u32][suite: u16][age_add: u32][lifetime: u32]
//! [received at, Unix seconds: u64][PSK length: u8][ticket length: u16]
//! [PSK][ticket][CRC-32 of all before]                                 padded
//! ```
//!
//! A new ticket goes after the newest record while the live half has room
//! and is erased there; otherwise the other half is erased and takes it,
//! and becomes live. Servers send tickets often (OpenSSL's `s_server` two
//! per full handshake): in halves of 4 KB, which hold fifteen records of
//! a 200-byte ticket and a 32-byte PSK, a sector is erased once per thirty
//! tickets (the halves take turns) instead of once per two, so flash
//! rated for 100,000 erases lasts three million tickets.
//!
//! Nothing whole is ever written over: a power cut while a record is
//! written leaves one whose CRC-32 fails, after (or in the other half
//! than) the newest whole one, which stays the newest; the damaged space
//! is not written again until its half is erased. The ticket is also kept
//! in RAM, in a [`TicketSlot`] of `N` bytes, to be offered. The PSK lies in
//! flash as it does in RAM; keep the region where the device's other
//! secrets are.

use embedded_storage::nor_flash::NorFlash;

use super::session::{MAX_PSK_LEN, SessionTicket, TicketSlot, TicketStore};
use super::suite::CipherSuite;
use crate::storage::{
    CHUNK, Crc32, FlashError, check_geometry, erased, newer, padded, write_padded,
};

const MAGIC: [u8; 2] = *b"DT";
/// The fields before the PSK.
const HEADER: usize = 27;
const CRC: usize = 4;

/// The newest session ticket (of at most `N` bytes) on NOR flash, in two
/// halves of `half_size` bytes from `start`.
#[derive(Debug)]
pub struct FlashTickets<F: NorFlash, const N: usize> {
    flash: F,
    start: u32,
    half: u32,
    /// The newest record, if any.
    live: Option<Live>,
    /// The newest generation in the other half, if it holds a record.
    other_generation: Option<u32>,
    /// Where in the live half the next record may go: after the newest,
    /// if everything from there to the half's end is erased.
    free_from: Option<u32>,
    /// The live record's ticket, if it fits.
    held: TicketSlot<N>,
}

/// The newest record and where it lies.
#[derive(Debug, Clone, Copy)]
struct Live {
    half: u32,
    /// Its offset in the half.
    at: u32,
    record: Record,
}

/// A record's header fields, as read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Record {
    generation: u32,
    suite: CipherSuite,
    age_add: u32,
    lifetime_secs: u32,
    received_at_unix: u64,
    psk_len: usize,
    ticket_len: usize,
}

impl Record {
    fn encode(&self) -> [u8; HEADER] {
        let mut header = [0u8; HEADER];
        header[..2].copy_from_slice(&MAGIC);
        header[2..6].copy_from_slice(&self.generation.to_be_bytes());
        header[6..8].copy_from_slice(&self.suite.to_u16().to_be_bytes());
        header[8..12].copy_from_slice(&self.age_add.to_be_bytes());
        header[12..16].copy_from_slice(&self.lifetime_secs.to_be_bytes());
        header[16..24].copy_from_slice(&self.received_at_unix.to_be_bytes());
        header[24] = self.psk_len as u8;
        header[25..27].copy_from_slice(&(self.ticket_len as u16).to_be_bytes());
        header
    }

    /// The header in `bytes`, if it is one (magic, a known suite, a PSK
    /// that fits); its CRC is checked separately.
    fn decode(bytes: &[u8; HEADER]) -> Option<Record> {
        let u32_at = |at: usize| {
            u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let psk_len = usize::from(bytes[24]);
        let mut received_at = [0u8; 8];
        received_at.copy_from_slice(&bytes[16..24]);
        if bytes[..2] != MAGIC || psk_len > MAX_PSK_LEN {
            return None;
        }
        Some(Record {
            generation: u32_at(2),
            suite: CipherSuite::from_u16(u16::from_be_bytes([bytes[6], bytes[7]]))?,
            age_add: u32_at(8),
            lifetime_secs: u32_at(12),
            received_at_unix: u64::from_be_bytes(received_at),
            psk_len,
            ticket_len: usize::from(u16::from_be_bytes([bytes[25], bytes[26]])),
        })
    }

    /// Bytes from the PSK to the end of the ticket.
    fn body_len(&self) -> usize {
        self.psk_len + self.ticket_len
    }

    /// Bytes of the whole record, before padding.
    fn len(&self) -> usize {
        HEADER + self.body_len() + CRC
    }
}

impl<F: NorFlash, const N: usize> FlashTickets<F, N> {
    /// Mounts the store in `half_size * 2` bytes from `start`; a region
    /// holding no valid record (new, or another firmware's data) holds no
    /// ticket, and is left as it is until a ticket is stored.
    pub fn mount(mut flash: F, start: u32, half_size: u32) -> Result<Self, FlashError> {
        check_geometry(&flash, start, half_size)?;
        let mut halves = [None, None];
        for (half, found) in (0..2).zip(halves.iter_mut()) {
            *found = newest_in(&mut flash, start + half * half_size, half_size)?
                .map(|(at, record, end)| (Live { half, at, record }, end));
        }
        let (newest, older) = match halves {
            [Some(first), Some(second)]
                if newer(second.0.record.generation, first.0.record.generation) =>
            {
                (Some(second), Some(first))
            }
            [None, second] => (second, None),
            [first, second] => (first, second),
        };
        let mut free_from = None;
        if let Some((live, end)) = newest {
            let base = start + live.half * half_size;
            if erased(&mut flash, base + end, base + half_size)? {
                free_from = Some(end);
            }
        }
        let mut tickets = FlashTickets {
            flash,
            start,
            half: half_size,
            live: newest.map(|(live, _)| live),
            other_generation: older.map(|(other, _)| other.record.generation),
            free_from,
            held: TicketSlot::new(),
        };
        tickets.hold_live()?;
        Ok(tickets)
    }

    /// The newest ticket stored, to offer as [`super::ClientConfig::resume`]
    /// (a [`super::TlsConnector`] offers it itself); `None` if there is none
    /// or it is longer than `N` bytes.
    pub fn ticket(&self) -> Option<SessionTicket<'_>> {
        self.held.ticket()
    }

    /// Reads the live record's ticket into [`FlashTickets::held`], if it
    /// fits.
    fn hold_live(&mut self) -> Result<(), FlashError> {
        let Some(Live { half, at, record }) = self.live else {
            return Ok(());
        };
        if record.ticket_len == 0 || record.ticket_len > N {
            return Ok(());
        }
        let at = self.start + half * self.half + at + HEADER as u32;
        let held = &mut self.held;
        let psk = &mut held.psk[..record.psk_len];
        self.flash.read(at, psk).map_err(|_| FlashError::Flash)?;
        let ticket = &mut held.ticket[..record.ticket_len];
        self.flash
            .read(at + record.psk_len as u32, ticket)
            .map_err(|_| FlashError::Flash)?;
        held.psk_len = record.psk_len;
        held.ticket_len = record.ticket_len;
        held.suite = record.suite;
        held.age_add = record.age_add;
        held.lifetime_secs = record.lifetime_secs;
        held.received_at_unix = record.received_at_unix;
        Ok(())
    }

    /// Writes `ticket` after the newest record, or to the other half,
    /// erased, which becomes live.
    fn try_store(&mut self, ticket: &SessionTicket<'_>) -> Result<(), FlashError> {
        let record = Record {
            generation: self
                .live
                .map_or(1, |live| live.record.generation.wrapping_add(1)),
            suite: ticket.suite,
            age_add: ticket.age_add,
            lifetime_secs: ticket.lifetime_secs,
            received_at_unix: ticket.received_at_unix,
            psk_len: ticket.psk.len(),
            ticket_len: ticket.ticket.len(),
        };
        let fits = record.psk_len <= MAX_PSK_LEN
            && (1..=N.min(usize::from(u16::MAX))).contains(&record.ticket_len)
            && record.len() <= self.half as usize;
        if !fits {
            return Err(FlashError::Geometry);
        }
        let len = padded::<F>(record.len());
        // Whatever happens below, the space after the newest record may
        // hold part of this one until it is whole.
        let free_from = self.free_from.take();
        // Appended, the record must also be newer than the other half's
        // newest, or a mount would take that half for the live one (flash
        // whose generations are far apart, as only damage makes them).
        let room = |free: u32| free.checked_add(len).is_some_and(|end| end <= self.half);
        let outranks = |other| newer(record.generation, other);
        let (half, at) = match (self.live, free_from) {
            (Some(live), Some(free))
                if room(free) && self.other_generation.is_none_or(outranks) =>
            {
                (live.half, free)
            }
            (live, _) => {
                let other = live.map_or(0, |live| 1 - live.half);
                let from = self.start + other * self.half;
                self.flash
                    .erase(from, from + self.half)
                    .map_err(|_| FlashError::Flash)?;
                self.other_generation = live.map(|live| live.record.generation);
                (other, 0)
            }
        };
        let header = record.encode();
        let mut sum = Crc32::new();
        sum.update(&header);
        sum.update(ticket.psk);
        sum.update(ticket.ticket);
        write_padded(
            &mut self.flash,
            self.start + half * self.half + at,
            &[
                &header,
                ticket.psk,
                ticket.ticket,
                &sum.finish().to_be_bytes(),
            ],
        )?;
        self.live = Some(Live { half, at, record });
        self.free_from = Some(at + len);
        self.held.store(ticket);
        Ok(())
    }
}

impl<F: NorFlash, const N: usize> TicketStore for FlashTickets<F, N> {
    /// Keeps `ticket` in place of the one before; one longer than `N`
    /// bytes or a half, or that the flash fails to take, leaves the one
    /// before.
    fn store(&mut self, ticket: &SessionTicket<'_>) {
        // On an error the newest record is untouched; the one begun after
        // it (or in the other half) fails its CRC at the next mount.
        let _ = self.try_store(ticket);
    }

    fn offer(&mut self) -> Option<SessionTicket<'_>> {
        self.ticket()
    }
}

/// The newest whole record of the half at `base`, its offset, and where
/// the record after it would go: records follow one another from the
/// half's start, each newer than the one before, up to the first that is
/// not whole.
fn newest_in<F: NorFlash>(
    flash: &mut F,
    base: u32,
    half: u32,
) -> Result<Option<(u32, Record, u32)>, FlashError> {
    let mut newest: Option<(u32, Record, u32)> = None;
    let mut at = 0;
    while let Some(record) = valid_record(flash, base + at, half - at)? {
        if newest.is_some_and(|(_, before, _)| !newer(record.generation, before.generation)) {
            break;
        }
        let end = at + padded::<F>(record.len());
        newest = Some((at, record, end));
        at = end;
    }
    Ok(newest)
}

/// The record at `at`, if whole: its header decodes, it fits in the
/// `room` bytes left of its half and its CRC-32 matches.
fn valid_record<F: NorFlash>(
    flash: &mut F,
    at: u32,
    room: u32,
) -> Result<Option<Record>, FlashError> {
    if (room as usize) < HEADER + CRC {
        return Ok(None);
    }
    let mut header = [0u8; HEADER];
    flash.read(at, &mut header).map_err(|_| FlashError::Flash)?;
    let Some(record) = Record::decode(&header) else {
        return Ok(None);
    };
    if record.len() > room as usize {
        return Ok(None);
    }
    let mut sum = Crc32::new();
    sum.update(&header);
    let mut chunk = [0u8; CHUNK];
    let (mut from, mut left) = (at + HEADER as u32, record.body_len());
    while left > 0 {
        let n = left.min(CHUNK);
        flash
            .read(from, &mut chunk[..n])
            .map_err(|_| FlashError::Flash)?;
        sum.update(&chunk[..n]);
        from += n as u32;
        left -= n;
    }
    let mut stored = [0u8; CRC];
    flash
        .read(from, &mut stored)
        .map_err(|_| FlashError::Flash)?;
    Ok((u32::from_be_bytes(stored) == sum.finish()).then_some(record))
}
