//! HelloRetryRequest (RFC 8446 section 4.1.4): the server wants a key share
//! in another group we offered (P-384), or a cookie echoed, before it goes
//! on. The client answers once with a second ClientHello; the transcript
//! restarts from a hash of the first (section 4.4.1).

use duet_crypto::HashContext;
use rand_core::{CryptoRng, TryCryptoRng, TryRng};

use super::super::TlsError;
use super::super::codec::Reader;
use super::super::suite::CipherSuite;
use super::{ClientConnection, GROUPS, State, TlsProvider, Transcript, extension, group_code};

/// `message_hash`, the handshake type that stands for the first
/// ClientHello in the transcript after a HelloRetryRequest.
const MESSAGE_HASH: u8 = 254;

/// Randomness set aside when the connection starts, for a second key share
/// should a HelloRetryRequest ask for one (the engine keeps no generator).
/// Three P-384 scalars' worth: key generation draws again only when a draw
/// falls outside the group order, which for P-384 happens with probability
/// about 2^-190, so running out is detected and refused, never expected.
#[derive(Clone)]
pub(super) struct Reserve {
    bytes: [u8; 144],
    used: usize,
    ran_out: bool,
}

impl Reserve {
    pub(super) fn draw<R: CryptoRng + ?Sized>(rng: &mut R) -> Reserve {
        let mut bytes = [0u8; 144];
        rng.fill_bytes(&mut bytes);
        Reserve {
            bytes,
            used: 0,
            ran_out: false,
        }
    }
}

impl TryRng for Reserve {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut word = [0u8; 4];
        self.try_fill_bytes(&mut word)?;
        Ok(u32::from_le_bytes(word))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut word = [0u8; 8];
        self.try_fill_bytes(&mut word)?;
        Ok(u64::from_le_bytes(word))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        let available = &self.bytes[self.used..];
        if dst.len() > available.len() {
            self.ran_out = true;
            dst.fill(0);
            return Ok(());
        }
        dst.copy_from_slice(&available[..dst.len()]);
        self.bytes[self.used..self.used + dst.len()].fill(0);
        self.used += dst.len();
        Ok(())
    }
}

impl TryCryptoRng for Reserve {}

impl Drop for Reserve {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.bytes);
    }
}

impl<P: TlsProvider> ClientConnection<'_, P> {
    /// The HelloRetryRequest: checked (one of our TLS 1.3 suites, a group
    /// we offered and have not sent a share for, or a cookie; never twice),
    /// then the transcript restarted and the second ClientHello queued.
    pub(super) fn handle_hello_retry_request(
        &mut self,
        message: &[u8],
        session_id: &[u8],
        suite: u16,
        compression: u8,
        extensions: &[u8],
    ) -> Result<(), TlsError> {
        if self.retry_suite.is_some() {
            return Err(TlsError::UnexpectedMessage);
        }
        if session_id != self.session_id() || compression != 0 {
            return Err(TlsError::IllegalParameter);
        }
        let suite = CipherSuite::from_u16(suite)
            .filter(|s| !s.is_tls12())
            .ok_or(TlsError::IllegalParameter)?;
        let mut requested_group = None;
        let mut cookie = None;
        let mut e = Reader::new(extensions);
        while !e.is_empty() {
            let extension_type = e.u16()?;
            let data = e.vec_u16()?;
            let mut d = Reader::new(data);
            match extension_type {
                extension::SUPPORTED_VERSIONS => {
                    d.u16()?;
                }
                extension::KEY_SHARE => requested_group = Some(d.u16()?),
                extension::COOKIE => {
                    let value = d.vec_u16()?;
                    if value.is_empty() {
                        return Err(TlsError::Decode);
                    }
                    cookie = Some(value);
                }
                _ => return Err(TlsError::UnsupportedExtension),
            }
            d.finish()?;
        }
        let group = match requested_group {
            Some(code) => GROUPS
                .into_iter()
                .find(|&g| group_code(g) == Some(code) && g != self.key_share_group)
                .ok_or(TlsError::IllegalParameter)?,
            // Only a cookie: the same share again.
            None if cookie.is_some() => self.key_share_group,
            None => return Err(TlsError::IllegalParameter),
        };

        // Transcript-Hash(ClientHello1, HelloRetryRequest, ...) =
        // Hash(message_hash || 00 00 Hash.length || Hash(ClientHello1) || ...).
        self.transcript.select(suite.hash());
        let first_hello = self.transcript.current()?;
        let mut restarted = self.provider.hash_context(suite.hash())?;
        restarted.update(&[MESSAGE_HASH, 0, 0, first_hello.len() as u8]);
        restarted.update(first_hello.as_bytes());
        restarted.update(message);
        self.transcript = Transcript::One(restarted);

        let mut share = [0u8; 97];
        let share_len = if group == self.key_share_group {
            // Our first share stands: only the cookie changes.
            let public = self.tls12.client_public();
            share[..public.len()].copy_from_slice(public);
            public.len()
        } else {
            let mut reserve = self.retry_randomness.clone();
            let (ephemeral, public) = self.provider.generate_ephemeral(group, &mut reserve)?;
            if reserve.ran_out {
                return Err(TlsError::Crypto(duet_crypto::CryptoError::BadInput));
            }
            self.ephemeral = Some(ephemeral);
            self.key_share_group = group;
            share[..public.as_bytes().len()].copy_from_slice(public.as_bytes());
            public.as_bytes().len()
        };
        self.retry_suite = Some(suite);
        // A session of another hash cannot be resumed under this suite: the
        // second ClientHello drops it (section 4.1.4).
        if super::offered(
            &self.config.resume,
            &mut self.ticket_store,
            self.offer_stored_ticket,
        )
        .is_some_and(|ticket| ticket.suite.hash() != suite.hash())
        {
            self.psk_offered = false;
        }
        // Still waiting for the ServerHello, now the real one.
        self.state = State::WaitServerHello;
        self.queue_client_hello(&share[..share_len], cookie)
    }
}
