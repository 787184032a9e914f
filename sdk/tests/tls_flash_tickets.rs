//! The TLS ticket store on NOR flash (`tls::FlashTickets`, feature
//! `storage`), on RAM flash that keeps NOR rules and can lose power after
//! any number of written bytes: the newest ticket survives remounts, a
//! power cut while a ticket is stored leaves the one before or the new one
//! whole — never a damaged one, never none — and flash holding anything
//! else holds no ticket. That a remounted ticket resumes a session with
//! `openssl s_server` is tested in `tls_openssl.rs`.

use duet::storage::FlashError;
use duet::tls::{CipherSuite, FlashTickets, SessionTicket, TicketStore};

#[path = "common/held_ticket.rs"]
mod held_ticket;
use held_ticket::{Held, held};

#[path = "common/ram_flash.rs"]
mod ram_flash;
use ram_flash::{ERASE, RamFlash};

/// One erase sector per half.
const HALF: u32 = ERASE as u32;

/// The longest ticket kept.
const N: usize = 512;

type Tickets<'f> = FlashTickets<&'f mut RamFlash, N>;

/// A ticket whose every field is a function of `n`.
struct Sample {
    ticket: Vec<u8>,
    psk: Vec<u8>,
    suite: CipherSuite,
    n: u32,
}

impl Sample {
    fn new(n: u32, ticket_len: usize) -> Sample {
        Sample {
            ticket: (0..ticket_len).map(|i| (i as u32 * 7 + n) as u8).collect(),
            psk: (0..32).map(|i| (i as u32 * 13 + n) as u8).collect(),
            suite: if n % 2 == 0 {
                CipherSuite::Aes128GcmSha256
            } else {
                CipherSuite::EcdheEcdsaAes256GcmSha384
            },
            n,
        }
    }

    fn ticket(&self) -> SessionTicket<'_> {
        SessionTicket {
            ticket: &self.ticket,
            psk: &self.psk,
            suite: self.suite,
            age_add: 0x1234_5678 ^ self.n,
            lifetime_secs: 7200 + self.n,
            received_at_unix: 1_700_000_000 + u64::from(self.n),
        }
    }
}

/// What a fresh mount of `flash` holds.
fn held_after_remount(flash: &mut RamFlash) -> Option<Held> {
    let store = Tickets::mount(flash, 0, HALF).unwrap();
    store.ticket().as_ref().map(held)
}

#[test]
fn the_newest_ticket_survives_remounts() {
    let mut flash = RamFlash::new(2 * ERASE);
    assert_eq!(held_after_remount(&mut flash), None, "erased flash");
    // Three tickets: the third goes back to the first half.
    for n in 1..=3 {
        let sample = Sample::new(n, 100 + n as usize);
        {
            let mut store = Tickets::mount(&mut flash, 0, HALF).unwrap();
            store.store(&sample.ticket());
            let read = store.ticket().as_ref().map(held);
            assert_eq!(read, Some(held(&sample.ticket())), "ticket {n}, as stored");
        }
        assert_eq!(
            held_after_remount(&mut flash),
            Some(held(&sample.ticket())),
            "ticket {n}, remounted"
        );
    }
}

#[test]
fn a_power_cut_while_storing_leaves_the_ticket_before_or_the_new_one() {
    let (first, second) = (Sample::new(1, 180), Sample::new(2, 190));
    let mut before = RamFlash::new(2 * ERASE);
    Tickets::mount(&mut before, 0, HALF)
        .unwrap()
        .store(&first.ticket());
    let (mut kept, mut replaced) = (0, 0);
    // Every point of the second store: its erase, then each byte written.
    for budget in 0.. {
        let mut flash = RamFlash::holding(before.bytes.clone(), Some(budget));
        Tickets::mount(&mut flash, 0, HALF)
            .unwrap()
            .store(&second.ticket());
        let finished = flash.budget.is_some_and(|left| left > 0);
        flash.budget = None;
        match held_after_remount(&mut flash) {
            Some(ticket) if ticket == held(&first.ticket()) => kept += 1,
            Some(ticket) if ticket == held(&second.ticket()) => replaced += 1,
            other => panic!("cut after {budget}: {other:?}"),
        }
        if finished {
            break;
        }
    }
    // The new ticket counts only once its last byte (the CRC's) is in.
    assert!(
        kept > 200 && replaced >= 1,
        "kept {kept}, replaced {replaced}"
    );
}

/// A record of a 100-byte ticket: header, PSK, ticket, CRC.
const RECORD: usize = 27 + 32 + 100 + 4;
/// The same, padded to the flash's 4-byte writes.
const PADDED: usize = RECORD + 1;
/// Four sectors per half: six such records fit in one.
const WIDE_HALF: u32 = 4 * ERASE as u32;
const PER_WIDE_HALF: usize = WIDE_HALF as usize / PADDED;

fn wide_mount(flash: &mut RamFlash) -> Tickets<'_> {
    Tickets::mount(flash, 0, WIDE_HALF).unwrap()
}

#[test]
fn tickets_follow_one_another_in_a_half_which_is_erased_only_when_full() {
    assert_eq!(PER_WIDE_HALF, 6);
    let mut flash = RamFlash::new(2 * WIDE_HALF as usize);
    let stored = 40;
    for n in 1..=stored {
        let sample = Sample::new(n, 100);
        if n % 3 == 0 {
            // Remounted now and then, as after a reboot: the next ticket
            // still goes after the newest.
            wide_mount(&mut flash).store(&sample.ticket());
        } else {
            let mut store = wide_mount(&mut flash);
            store.store(&sample.ticket());
            assert_eq!(
                store.ticket().as_ref().map(held),
                Some(held(&sample.ticket()))
            );
        }
        let remounted = wide_mount(&mut flash).ticket().as_ref().map(held);
        assert_eq!(remounted, Some(held(&sample.ticket())), "ticket {n}");
    }
    // One erase per six tickets (the first half's included), not one each.
    assert_eq!(flash.erases, (stored as usize).div_ceil(PER_WIDE_HALF));
}

#[test]
fn a_power_cut_while_appending_or_switching_halves_leaves_the_ticket_before_or_the_new_one() {
    // Tickets 1..=8 in turn: 2..=6 go after the one before, 7 to the other
    // half (erased first), 8 after it. A cut at every point of each; then
    // the next ticket, stored over what the cut left, is the one read.
    let mut before = RamFlash::new(2 * WIDE_HALF as usize);
    let mut cuts = 0;
    for n in 1..=8 {
        let (last, new, next) = (
            (n > 1).then(|| Sample::new(n - 1, 100)),
            Sample::new(n, 100),
            Sample::new(n + 100, 100),
        );
        for budget in 0.. {
            let mut flash = RamFlash::holding(before.bytes.clone(), Some(budget));
            wide_mount(&mut flash).store(&new.ticket());
            let finished = flash.budget.is_some_and(|left| left > 0);
            flash.budget = None;
            let read = wide_mount(&mut flash).ticket().as_ref().map(held);
            let kept = read == last.as_ref().map(|last| held(&last.ticket()));
            assert!(
                kept || read == Some(held(&new.ticket())),
                "ticket {n}, cut after {budget}: {read:?}"
            );
            wide_mount(&mut flash).store(&next.ticket());
            assert_eq!(
                wide_mount(&mut flash).ticket().as_ref().map(held),
                Some(held(&next.ticket())),
                "ticket {n}, cut after {budget}, then another"
            );
            if finished {
                break;
            }
            cuts += 1;
        }
        wide_mount(&mut before).store(&new.ticket());
    }
    // Each store: a cut before each of its bytes and the one after its
    // last (the store done, the power gone at once); an erase for tickets
    // 1 and 7.
    assert_eq!(cuts, 8 * (PADDED + 1) + 2);
}

#[test]
fn a_damaged_record_in_a_half_leaves_the_ones_before_it() {
    // Three records in the first half; any bit of the third flipped, the
    // second is read; of the second, the first (the scan ends there, so
    // the third is not read either: a full handshake, never a wrong key).
    let mut stored = RamFlash::new(2 * WIDE_HALF as usize);
    let samples: Vec<Sample> = (1..=3).map(|n| Sample::new(n, 100)).collect();
    for sample in &samples {
        wide_mount(&mut stored).store(&sample.ticket());
    }
    for (damaged, expected) in [(2, &samples[1]), (1, &samples[0])] {
        // The padding byte is not covered, and does not matter.
        for bit in (0..RECORD * 8).step_by(7) {
            let mut flash = RamFlash::holding(stored.bytes.clone(), None);
            let at = damaged * PADDED + bit / 8;
            flash.bytes[at] ^= 1 << (bit % 8);
            let read = wide_mount(&mut flash).ticket().as_ref().map(held);
            assert_eq!(
                read,
                Some(held(&expected.ticket())),
                "record {damaged}, bit {bit}"
            );
            // The damaged space is left alone: the next ticket goes to the
            // other half, and reads back.
            let next = Sample::new(9, 100);
            let erases = flash.erases;
            wide_mount(&mut flash).store(&next.ticket());
            assert_eq!(flash.erases, erases + 1);
            assert_eq!(
                wide_mount(&mut flash).ticket().as_ref().map(held),
                Some(held(&next.ticket()))
            );
        }
    }
}

/// CRC-32 (IEEE), as the records carry it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

#[test]
fn a_new_ticket_outranks_a_damaged_half_whose_generation_is_far_off() {
    // Half 0 holds ticket 1 (generation 1); half 1 a copy of its record
    // made whole with generation 1 + 2^31, which neither outranks nor
    // is outranked by 1 (serial arithmetic), so half 0 stays live. Ticket
    // 2 must not go after ticket 1 with generation 2, which the far one
    // would outrank at the next mount: it goes to half 1, erased.
    let (first, second) = (Sample::new(1, 100), Sample::new(2, 100));
    let mut flash = RamFlash::new(2 * WIDE_HALF as usize);
    wide_mount(&mut flash).store(&first.ticket());
    let mut record = flash.bytes[..RECORD].to_vec();
    record[2..6].copy_from_slice(&(1u32 + (1 << 31)).to_be_bytes());
    let sum = crc32(&record[..RECORD - 4]);
    record[RECORD - 4..].copy_from_slice(&sum.to_be_bytes());
    let far = WIDE_HALF as usize;
    flash.bytes[far..far + RECORD].copy_from_slice(&record);
    assert_eq!(
        wide_mount(&mut flash).ticket().as_ref().map(held),
        Some(held(&first.ticket()))
    );
    let erases = flash.erases;
    wide_mount(&mut flash).store(&second.ticket());
    assert_eq!(flash.erases, erases + 1, "the far half erased");
    assert_eq!(
        wide_mount(&mut flash).ticket().as_ref().map(held),
        Some(held(&second.ticket()))
    );
}

#[test]
fn flash_holding_anything_else_holds_no_ticket() {
    let sample = Sample::new(4, 120);
    let mut stored = RamFlash::new(2 * ERASE);
    Tickets::mount(&mut stored, 0, HALF)
        .unwrap()
        .store(&sample.ticket());
    // Any single bit of the record flipped: no ticket (the other half is
    // erased).
    let record_len = 27 + 32 + 120 + 4;
    for bit in 0..record_len * 8 {
        let mut flash = RamFlash::holding(stored.bytes.clone(), None);
        flash.bytes[bit / 8] ^= 1 << (bit % 8);
        assert_eq!(held_after_remount(&mut flash), None, "bit {bit} flipped");
    }
    // Another firmware's data (a fixed pseudo-random fill), all zeros, or
    // a record whose lengths overrun the half: no ticket, and a ticket
    // stored over it reads back.
    let mut noise = 0x2545_f491u32;
    let mut random = vec![0u8; 2 * ERASE];
    for byte in random.iter_mut() {
        noise ^= noise << 13;
        noise ^= noise >> 17;
        noise ^= noise << 5;
        *byte = noise as u8;
    }
    let mut overrun = stored.bytes.clone();
    overrun[25..27].copy_from_slice(&u16::MAX.to_be_bytes());
    for contents in [random, vec![0; 2 * ERASE], overrun] {
        let mut flash = RamFlash::holding(contents, None);
        assert_eq!(held_after_remount(&mut flash), None);
        Tickets::mount(&mut flash, 0, HALF)
            .unwrap()
            .store(&sample.ticket());
        assert_eq!(held_after_remount(&mut flash), Some(held(&sample.ticket())));
    }
}

#[test]
fn a_ticket_too_large_leaves_the_one_before() {
    // Longer than a half here; `N` bounds it below that too (see
    // `a_ticket_longer_than_the_store_keeps_is_not_offered`).
    let (small, large) = (Sample::new(5, 100), Sample::new(6, ERASE));
    let mut flash = RamFlash::new(2 * ERASE);
    {
        let mut store = Tickets::mount(&mut flash, 0, HALF).unwrap();
        store.store(&small.ticket());
        store.store(&large.ticket());
        assert_eq!(
            store.ticket().as_ref().map(held),
            Some(held(&small.ticket()))
        );
    }
    assert_eq!(held_after_remount(&mut flash), Some(held(&small.ticket())));
}

#[test]
fn a_region_that_is_not_whole_erase_sectors_inside_the_flash_is_refused() {
    let mut flash = RamFlash::new(4 * ERASE);
    let beyond = [(3 * HALF, HALF), (u32::MAX - HALF + 1, HALF)];
    for (start, half) in [(0, HALF / 2), (4, HALF), (0, 0)].into_iter().chain(beyond) {
        assert_eq!(
            Tickets::mount(&mut flash, start, half).err(),
            Some(FlashError::Geometry),
            "start {start}, half {half}"
        );
    }
}

#[test]
fn a_ticket_longer_than_the_store_keeps_is_not_offered() {
    // 180 bytes fit a half but not a store of 150: not written, so the
    // one before stays, on flash and in RAM; a store of 512 over the same
    // flash reads the same.
    let (small, long) = (Sample::new(7, 100), Sample::new(8, 180));
    let mut flash = RamFlash::new(2 * ERASE);
    {
        let mut store = FlashTickets::<_, 150>::mount(&mut flash, 0, HALF).unwrap();
        store.store(&small.ticket());
        store.store(&long.ticket());
        assert_eq!(
            store.offer().as_ref().map(held),
            Some(held(&small.ticket()))
        );
    }
    assert_eq!(held_after_remount(&mut flash), Some(held(&small.ticket())));
    // A store of 512 keeps the long one; remounted with 150, it is not
    // offered.
    Tickets::mount(&mut flash, 0, HALF)
        .unwrap()
        .store(&long.ticket());
    assert_eq!(held_after_remount(&mut flash), Some(held(&long.ticket())));
    let short = FlashTickets::<_, 150>::mount(&mut flash, 0, HALF).unwrap();
    assert!(short.ticket().is_none());
}
