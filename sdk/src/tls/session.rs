//! Session resumption: what a NewSessionTicket leaves the client, kept in
//! the caller's memory and offered back in a later ClientHello, so the
//! server skips its certificate and signature — fewer bytes and no chain
//! validation on a device that reconnects often.
//!
//! - TLS 1.3 (RFC 8446 sections 2.2 and 4.6.1): a pre-shared key with
//!   (EC)DHE (`psk_dhe_ke`: forward secrecy stays).
//! - TLS 1.2 (RFC 5077): the session's master secret, an abbreviated
//!   handshake (the extended master secret stays required).

use super::suite::CipherSuite;

/// The most secret bytes a ticket carries (a SHA-384 PSK, or a TLS 1.2
/// master secret).
pub const MAX_PSK_LEN: usize = 48;

/// A ticket to resume with: the server's opaque ticket, the PSK derived
/// for it, and what the ClientHello must say about it.
#[derive(Debug, Clone, Copy)]
pub struct SessionTicket<'t> {
    /// The server's ticket, sent back as the PSK identity.
    pub ticket: &'t [u8],
    /// TLS 1.3: `HKDF-Expand-Label(resumption_master_secret,
    /// "resumption", ticket_nonce, Hash.length)`. TLS 1.2: the session's
    /// 48-byte master secret.
    pub psk: &'t [u8],
    /// The suite of the session; a resumption must use one with its hash.
    pub suite: CipherSuite,
    /// `ticket_age_add`, which hides the ticket's age on the wire.
    pub age_add: u32,
    /// How long the server keeps it, in seconds (at most 7 days; a TLS 1.2
    /// server that gives no hint gets an hour).
    pub lifetime_secs: u32,
    /// When it arrived, on the clock of [`super::ClientConfig::now_unix_secs`].
    pub received_at_unix: u64,
}

impl SessionTicket<'_> {
    /// Whether it may still be offered at `now_unix` (section 4.6.1).
    pub fn is_valid_at(&self, now_unix: u64) -> bool {
        now_unix >= self.received_at_unix
            && now_unix - self.received_at_unix < u64::from(self.lifetime_secs)
    }

    /// `obfuscated_ticket_age`: the age in milliseconds plus `age_add`,
    /// modulo 2^32 (section 4.2.11.1).
    pub(crate) fn obfuscated_age(&self, now_unix: u64) -> u32 {
        let age_ms = now_unix.saturating_sub(self.received_at_unix) * 1000;
        (age_ms as u32).wrapping_add(self.age_add)
    }
}

/// Where a connection puts the tickets it receives: RAM, or flash so that a
/// device resumes after a reboot.
pub trait TicketStore {
    fn store(&mut self, ticket: &SessionTicket<'_>);

    /// The ticket a handshake given no [`super::ClientConfig::resume`]
    /// offers, for a store that gives its tickets back: how a
    /// [`super::TlsConnector`]'s reconnections resume. None by default.
    fn offer(&mut self) -> Option<SessionTicket<'_>> {
        None
    }
}

/// A [`TicketStore`] in RAM holding the newest ticket that fits in `N`
/// bytes.
#[derive(Debug)]
pub struct TicketSlot<const N: usize> {
    // Filled in place by `super::FlashTickets` too.
    pub(super) ticket: [u8; N],
    pub(super) ticket_len: usize,
    pub(super) psk: [u8; MAX_PSK_LEN],
    pub(super) psk_len: usize,
    pub(super) suite: CipherSuite,
    pub(super) age_add: u32,
    pub(super) lifetime_secs: u32,
    pub(super) received_at_unix: u64,
}

impl<const N: usize> TicketSlot<N> {
    /// An empty slot.
    pub const fn new() -> Self {
        TicketSlot {
            ticket: [0; N],
            ticket_len: 0,
            psk: [0; MAX_PSK_LEN],
            psk_len: 0,
            suite: CipherSuite::Aes128GcmSha256,
            age_add: 0,
            lifetime_secs: 0,
            received_at_unix: 0,
        }
    }

    /// The ticket held, if any.
    pub fn ticket(&self) -> Option<SessionTicket<'_>> {
        (self.ticket_len > 0).then(|| SessionTicket {
            ticket: &self.ticket[..self.ticket_len],
            psk: &self.psk[..self.psk_len],
            suite: self.suite,
            age_add: self.age_add,
            lifetime_secs: self.lifetime_secs,
            received_at_unix: self.received_at_unix,
        })
    }
}

impl<const N: usize> Default for TicketSlot<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> TicketStore for TicketSlot<N> {
    fn offer(&mut self) -> Option<SessionTicket<'_>> {
        self.ticket()
    }

    fn store(&mut self, ticket: &SessionTicket<'_>) {
        if ticket.ticket.is_empty() || ticket.ticket.len() > N || ticket.psk.len() > MAX_PSK_LEN {
            return;
        }
        self.ticket[..ticket.ticket.len()].copy_from_slice(ticket.ticket);
        self.ticket_len = ticket.ticket.len();
        self.psk[..ticket.psk.len()].copy_from_slice(ticket.psk);
        self.psk_len = ticket.psk.len();
        self.suite = ticket.suite;
        self.age_add = ticket.age_add;
        self.lifetime_secs = ticket.lifetime_secs;
        self.received_at_unix = ticket.received_at_unix;
    }
}

impl<const N: usize> Drop for TicketSlot<N> {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.psk);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_expire_and_hide_their_age() {
        let ticket = SessionTicket {
            ticket: b"opaque",
            psk: &[7; 32],
            suite: CipherSuite::Aes128GcmSha256,
            age_add: 0xffff_fff0,
            lifetime_secs: 3600,
            received_at_unix: 1_000,
        };
        assert!(ticket.is_valid_at(1_000));
        assert!(ticket.is_valid_at(4_599));
        assert!(!ticket.is_valid_at(4_600), "lifetime over");
        assert!(!ticket.is_valid_at(999), "clock went back");
        // 2 s = 2000 ms, plus age_add, modulo 2^32.
        assert_eq!(
            ticket.obfuscated_age(1_002),
            2000u32.wrapping_add(0xffff_fff0)
        );
        let tls12 = SessionTicket {
            suite: CipherSuite::EcdheRsaAes128GcmSha256,
            ..ticket
        };
        assert!(tls12.is_valid_at(1_000), "TLS 1.2 tickets expire alike");
        assert!(!tls12.is_valid_at(4_600));
    }

    #[test]
    fn a_slot_keeps_the_newest_ticket_that_fits() {
        let mut slot: TicketSlot<8> = TicketSlot::new();
        assert!(slot.ticket().is_none());
        let ticket = SessionTicket {
            ticket: b"first",
            psk: &[1; 32],
            suite: CipherSuite::Aes256GcmSha384,
            age_add: 5,
            lifetime_secs: 60,
            received_at_unix: 9,
        };
        slot.store(&ticket);
        slot.store(&SessionTicket {
            ticket: b"far too long for eight bytes",
            ..ticket
        });
        let held = slot.ticket().unwrap();
        assert_eq!(held.ticket, b"first");
        assert_eq!(held.psk, &[1; 32]);
        assert_eq!(
            (held.age_add, held.lifetime_secs, held.received_at_unix),
            (5, 60, 9)
        );
        slot.store(&SessionTicket {
            ticket: b"second",
            ..ticket
        });
        assert_eq!(slot.ticket().unwrap().ticket, b"second");
    }
}
