//! The TLS ticket store on flash over whatever the flash holds — another
//! firmware's data, bit rot, a store cut off by a power loss — then tickets
//! stored, remounts, and stores that lose power part way.
//!
//! Layout: the flash's first bytes (the rest erased; two halves of
//! [`HALF`] bytes), a 0xFE byte, then operations, one byte each (its low
//! two bits the operation, the rest its argument): store a ticket of a
//! length the argument picks (some too long to keep), remount, or store one
//! with the power cut after some bytes of flash writes, then remount. The
//! flash checks what NOR flash allows (aligned writes that only clear bits,
//! aligned erases). After a store the store offers the new ticket (or the
//! one before, if it was too long); after every remount the ticket is the
//! one the store offered before it; after a power cut, that one or the
//! ticket being stored.
#![no_main]

use duet::tls::{CipherSuite, FlashTickets, TicketStore};
use libfuzzer_sys::fuzz_target;

#[path = "../../../sdk/tests/common/ram_flash.rs"]
mod ram_flash;
use ram_flash::RamFlash as Flash;

#[path = "../../../sdk/tests/common/held_ticket.rs"]
mod held_ticket;
use held_ticket::{Held, held, ticket_of};

const HALF: u32 = 1024;
/// The longest ticket kept.
const N: usize = 300;

type Tickets<'f> = FlashTickets<&'f mut Flash, N>;

/// The `n`-th ticket stored: its length from `argument` (0..=63) in steps
/// of 8, up to 504 bytes, beyond `N` and, with its header, a half.
fn ticket(n: u32, argument: u8) -> Held {
    let len = usize::from(argument) * 8;
    (
        (0..len).map(|i| (i as u32 * 7 + n) as u8).collect(),
        (0..32).map(|i| (i as u32 * 13 + n) as u8).collect(),
        if n % 2 == 0 {
            CipherSuite::Aes128GcmSha256
        } else {
            CipherSuite::Aes256GcmSha384
        },
        n.wrapping_mul(0x9E37_79B9),
        7200 + n,
        1_700_000_000 + u64::from(n),
    )
}

fn offered(store: &mut Tickets<'_>) -> Option<Held> {
    store.offer().as_ref().map(held)
}

/// Whether the store keeps `held` (its ticket not empty, and no longer
/// than `N`; a record of at most `N` bytes always fits a half here).
fn keeps(held: &Held) -> bool {
    (1..=N).contains(&held.0.len())
}

fn run(data: &[u8]) {
    let (mut flash, operations) = Flash::from_image_and_operations(data, 2 * HALF as usize);
    let Ok(mut store) = Tickets::mount(&mut flash, 0, HALF) else {
        return;
    };
    // Whatever the first mount found (a record in the image) is the ticket
    // from then on, until one is stored.
    let mut current = offered(&mut store);
    drop(store);
    let mut stored = 0u32;
    for &operation in operations {
        let argument = operation >> 2;
        match operation & 3 {
            0 | 1 => {
                stored += 1;
                let new = ticket(stored, argument);
                let mut store = Tickets::mount(&mut flash, 0, HALF).expect("mounted before");
                store.store(&ticket_of(&new));
                if keeps(&new) {
                    current = Some(new);
                }
                assert_eq!(offered(&mut store), current, "as stored");
            }
            2 => {
                let mut store = Tickets::mount(&mut flash, 0, HALF).expect("mounted before");
                assert_eq!(offered(&mut store), current, "remounted");
            }
            _ => {
                // A store that loses power after `argument * 5` written
                // bytes (or erases): the next boot finds the ticket before
                // or the new one, whole.
                stored += 1;
                let new = ticket(stored, 13 + argument % 8);
                flash.budget = Some(usize::from(argument) * 5);
                Tickets::mount(&mut flash, 0, HALF)
                    .expect("mounted before")
                    .store(&ticket_of(&new));
                flash.budget = None;
                let mut store = Tickets::mount(&mut flash, 0, HALF).expect("mounted before");
                let found = offered(&mut store);
                assert!(
                    found == current || found.as_ref() == Some(&new),
                    "after a cut: {found:?}"
                );
                current = found;
            }
        }
    }
}

fuzz_target!(|data: &[u8]| run(data));
