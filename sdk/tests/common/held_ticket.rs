//! A session ticket as owned, comparable values, for the tests and fuzz
//! targets of the ticket stores.

#![allow(dead_code)]

use duet::tls::{CipherSuite, SessionTicket};

/// (ticket, PSK, suite, age_add, lifetime, received at).
pub type Held = (Vec<u8>, Vec<u8>, CipherSuite, u32, u32, u64);

pub fn held(ticket: &SessionTicket<'_>) -> Held {
    (
        ticket.ticket.to_vec(),
        ticket.psk.to_vec(),
        ticket.suite,
        ticket.age_add,
        ticket.lifetime_secs,
        ticket.received_at_unix,
    )
}

/// `held` as the ticket it was made from.
pub fn ticket_of(held: &Held) -> SessionTicket<'_> {
    SessionTicket {
        ticket: &held.0,
        psk: &held.1,
        suite: held.2,
        age_add: held.3,
        lifetime_secs: held.4,
        received_at_unix: held.5,
    }
}
