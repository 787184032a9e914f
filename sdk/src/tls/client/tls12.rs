//! The TLS 1.2 branch of the handshake (RFC 5246 section 7.3), taken when
//! the ServerHello selects TLS 1.2 without the downgrade sentinel:
//!
//! ```text
//! ClientHello        -------->
//!                                  ServerHello (EMS, renegotiation_info)
//!                                  Certificate
//!                                  ServerKeyExchange (ECDHE, signed)
//!                                  [CertificateRequest]
//!                    <--------     ServerHelloDone
//! [Certificate (empty)]
//! ClientKeyExchange
//! [ChangeCipherSpec]
//! Finished           -------->
//!                                  [ChangeCipherSpec]
//!                    <--------     Finished
//! ```
//!
//! Only ECDHE on secp256r1 with AES-GCM (RFC 8422, RFC 5289), the
//! extended master secret required (RFC 7627), renegotiation refused (RFC
//! 5746). The server's chain goes through the same validation as in TLS
//! 1.3.

use duet_crypto::x509::verify_end_entity_signature;
use duet_crypto::{SharedSecret, SignatureScheme};

use super::super::codec::Reader;
use super::super::record::{ContentType, RecordProtection};
use super::super::session::SessionTicket;
use super::super::suite::{CipherSuite, ServerAuthentication};
use super::super::tls12_keys::{KeyBlock, MasterSecret};
use super::super::{AlertDescription, TlsError};
use super::{ClientConnection, Event, SECP256R1, State, TlsProvider, extension, handshake_type};

/// `ECCurveType.named_curve` (RFC 8422 section 5.4).
const NAMED_CURVE: u8 = 3;
/// `ECPointFormat.uncompressed` (RFC 8422 section 5.1.2).
const UNCOMPRESSED: u8 = 0;
/// An uncompressed secp256r1 point: 0x04, x, y.
pub(super) const P256_POINT_LEN: usize = 65;

/// What the TLS 1.2 handshake carries from one message to the next.
pub(super) struct Handshake<K> {
    /// Our ECDHE public key, sent again in ClientKeyExchange.
    client_public: [u8; P256_POINT_LEN],
    pub(super) server_random: [u8; 32],
    /// The ECDHE result, from ServerKeyExchange until ClientKeyExchange is
    /// in the transcript (the extended master secret hashes it).
    shared: Option<SharedSecret>,
    /// Kept from our Finished until the server's is checked.
    master: Option<MasterSecret>,
    /// The server's record protection, in force from its ChangeCipherSpec.
    server_read: Option<RecordProtection<K>>,
    /// Ours in a resumed session, in force from our ChangeCipherSpec, which
    /// follows the server's Finished.
    pending_write: Option<RecordProtection<K>>,
    /// The server said it will send a NewSessionTicket.
    pub(super) ticket_expected: bool,
    /// An abbreviated handshake (a session ticket taken).
    pub(super) resumed: bool,
}

impl<K> Handshake<K> {
    pub(super) fn new() -> Self {
        Handshake {
            client_public: [0; P256_POINT_LEN],
            server_random: [0; 32],
            shared: None,
            master: None,
            server_read: None,
            pending_write: None,
            ticket_expected: false,
            resumed: false,
        }
    }

    /// Our first (P-256) key share's public point.
    pub(super) fn client_public(&self) -> &[u8] {
        &self.client_public
    }

    pub(super) fn remember_public_key(&mut self, public: &[u8]) -> Result<(), TlsError> {
        if public.len() != P256_POINT_LEN {
            return Err(TlsError::Crypto(duet_crypto::CryptoError::BadInput));
        }
        self.client_public.copy_from_slice(public);
        Ok(())
    }
}

/// The scheme a ServerKeyExchange may be signed with (RFC 5246 section
/// 7.4.1.4.1 codes, the ones our signature_algorithms offered), matching
/// the suite's authentication (RFC 8422 section 5.4).
fn server_key_exchange_scheme(
    code: u16,
    authentication: ServerAuthentication,
) -> Option<SignatureScheme> {
    use ServerAuthentication::{Ecdsa, Rsa};
    Some(match (authentication, code) {
        (Ecdsa, 0x0403) => SignatureScheme::EcdsaP256Sha256,
        (Ecdsa, 0x0503) => SignatureScheme::EcdsaP384Sha384,
        (Rsa, 0x0401) => SignatureScheme::RsaPkcs1Sha256,
        (Rsa, 0x0501) => SignatureScheme::RsaPkcs1Sha384,
        (Rsa, 0x0601) => SignatureScheme::RsaPkcs1Sha512,
        (Rsa, 0x0804) => SignatureScheme::RsaPssSha256,
        (Rsa, 0x0805) => SignatureScheme::RsaPssSha384,
        _ => return None,
    })
}

impl<P: TlsProvider> ClientConnection<'_, P> {
    /// ServerHello selecting TLS 1.2 (RFC 5246 section 7.4.1.3): one of our
    /// TLS 1.2 suites, no compression, and of the extensions only answers to
    /// ours — the extended master secret among them, required.
    pub(super) fn handle_tls12_server_hello(
        &mut self,
        message: &[u8],
        body: &[u8],
    ) -> Result<(), TlsError> {
        let mut r = Reader::new(body);
        let _version = r.u16()?;
        let random = r.take(32)?;
        let session_id = r.vec_u8()?;
        let suite = CipherSuite::from_u16(r.u16()?)
            .filter(|s| s.is_tls12())
            .ok_or(TlsError::IllegalParameter)?;
        let compression = r.u8()?;
        let extensions = if r.is_empty() { &[][..] } else { r.vec_u16()? };
        r.finish()?;
        if session_id.len() > 32 {
            return Err(TlsError::Decode);
        }
        if compression != 0 {
            return Err(TlsError::IllegalParameter);
        }
        let mut extended_master_secret = false;
        // Applied once the suite says which version counts the limits.
        let mut record_size_limit = None;
        let mut e = Reader::new(extensions);
        while !e.is_empty() {
            let extension_type = e.u16()?;
            let data = e.vec_u16()?;
            match extension_type {
                extension::RENEGOTIATION_INFO => {
                    // An empty renegotiated_connection: a first handshake.
                    if data != [0] {
                        return Err(TlsError::InsecureRenegotiation);
                    }
                }
                extension::EXTENDED_MASTER_SECRET => {
                    if !data.is_empty() {
                        return Err(TlsError::Decode);
                    }
                    extended_master_secret = true;
                }
                extension::EC_POINT_FORMATS => {
                    let mut d = Reader::new(data);
                    let formats = d.vec_u8()?;
                    d.finish()?;
                    if !formats.contains(&UNCOMPRESSED) {
                        return Err(TlsError::IllegalParameter);
                    }
                }
                extension::ALPN => self.accept_alpn(data)?,
                extension::MAX_FRAGMENT_LENGTH => self.accept_max_fragment_length(data)?,
                extension::RECORD_SIZE_LIMIT => record_size_limit = Some(data),
                // A NewSessionTicket will follow our Finished (RFC 5077).
                extension::SESSION_TICKET if data.is_empty() => self.tls12.ticket_expected = true,
                // The server acknowledges SNI with an empty extension.
                extension::SERVER_NAME if data.is_empty() => {}
                _ => return Err(TlsError::UnsupportedExtension),
            }
        }
        if !extended_master_secret {
            return Err(TlsError::NoExtendedMasterSecret);
        }
        self.suite = suite;
        if let Some(data) = record_size_limit {
            self.accept_record_size_limit(data)?;
        }
        // A client certificate may sign the transcript with SHA-256 while the
        // PRF hashes with SHA-384: then both keep running.
        if self.config.client_certificate.is_none() {
            self.transcript.select(suite.hash());
        }
        self.transcript.update(message);
        self.tls12.server_random.copy_from_slice(random);
        // The server took our ticket if it echoes the session ID we made up
        // for it (RFC 5077 section 3.4): an abbreviated handshake follows.
        let echoed = self.tls12_resume_offered
            && !self.session_id().is_empty()
            && session_id == self.session_id();
        let resumed = super::offered(
            &self.config.resume,
            &mut self.ticket_store,
            self.offer_stored_ticket,
        )
        .filter(|_| echoed)
        .map(|ticket| (ticket.suite, MasterSecret::from_bytes(ticket.psk)));
        if let Some((ticket_suite, master)) = resumed {
            if ticket_suite != suite {
                return Err(TlsError::IllegalParameter);
            }
            let master = master.ok_or(TlsError::IllegalParameter)?;
            let client_write = self.install_tls12_keys(&master)?;
            self.tls12.pending_write = Some(client_write);
            self.tls12.master = Some(master);
            self.tls12.resumed = true;
            self.psk_accepted = true;
            self.state = State::Tls12WaitChangeCipherSpec;
            return Ok(());
        }
        self.state = State::Tls12WaitCertificate;
        Ok(())
    }

    /// The key block for `master`: the server's protection kept for its
    /// ChangeCipherSpec, ours returned.
    fn install_tls12_keys(
        &mut self,
        master: &MasterSecret,
    ) -> Result<RecordProtection<P::Key>, TlsError> {
        let keys = KeyBlock::derive(
            self.provider,
            self.suite,
            master,
            &self.client_random,
            &self.tls12.server_random,
        )?;
        let aead = self.suite.aead();
        self.tls12.server_read = Some(RecordProtection::tls12(
            self.provider.aead_key(aead, keys.server.key())?,
            keys.server.salt,
        ));
        Ok(RecordProtection::tls12(
            self.provider.aead_key(aead, keys.client.key())?,
            keys.client.salt,
        ))
    }

    /// NewSessionTicket (RFC 5077 section 3.3), before the server's
    /// ChangeCipherSpec: the ticket and this session's master secret into
    /// the caller's store.
    pub(super) fn handle_tls12_new_session_ticket(&mut self, body: &[u8]) -> Result<(), TlsError> {
        if !self.tls12.ticket_expected {
            return Err(TlsError::UnexpectedMessage);
        }
        let mut r = Reader::new(body);
        let lifetime_hint = r.u32()?;
        let ticket = r.vec_u16()?;
        r.finish()?;
        let (Some(store), Some(master)) = (self.ticket_store.as_mut(), &self.tls12.master) else {
            return Ok(());
        };
        // An empty ticket: the server changed its mind (section 3.3).
        if ticket.is_empty() {
            return Ok(());
        }
        let lifetime_secs = match lifetime_hint {
            0 => 3600,
            hint => hint.min(7 * 24 * 3600),
        };
        store.store(&SessionTicket {
            ticket,
            psk: master.as_bytes(),
            suite: self.suite,
            age_add: 0,
            lifetime_secs,
            received_at_unix: self.config.now_unix_secs,
        });
        Ok(())
    }

    /// ServerKeyExchange (RFC 8422 section 5.4): secp256r1 parameters,
    /// signed by the certificate's key over both randoms and the
    /// parameters; then the ECDH agreement with our key.
    pub(super) fn handle_server_key_exchange(&mut self, body: &[u8]) -> Result<(), TlsError> {
        let mut r = Reader::new(body);
        let curve_type = r.u8()?;
        let group = r.u16()?;
        let server_public = r.vec_u8()?;
        let params_len = r.position();
        let scheme = r.u16()?;
        let signature = r.vec_u16()?;
        r.finish()?;
        if curve_type != NAMED_CURVE || group != SECP256R1 {
            return Err(TlsError::IllegalParameter);
        }
        let authentication = self
            .suite
            .authentication()
            .ok_or(TlsError::UnexpectedMessage)?;
        let scheme =
            server_key_exchange_scheme(scheme, authentication).ok_or(TlsError::IllegalParameter)?;
        // ClientHello.random + ServerHello.random + ServerECDHParams; the
        // parameters are at most 4 + 255 bytes.
        let mut signed = [0u8; 64 + 4 + 255];
        signed[..32].copy_from_slice(&self.client_random);
        signed[32..64].copy_from_slice(&self.tls12.server_random);
        signed[64..64 + params_len].copy_from_slice(&body[..params_len]);
        verify_end_entity_signature(
            &self.certificate[self.end_entity.clone()],
            scheme,
            &signed[..64 + params_len],
            signature,
            self.provider,
        )
        .map_err(TlsError::CertificateVerify)?;
        let ephemeral = self.ephemeral.take().ok_or(TlsError::UnexpectedMessage)?;
        let shared = self
            .provider
            .agree(ephemeral, server_public)
            .map_err(|_| TlsError::IllegalParameter)?;
        self.tls12.shared = Some(shared);
        Ok(())
    }

    /// After ServerHelloDone: [Certificate], ClientKeyExchange,
    /// [CertificateVerify], ChangeCipherSpec and our Finished, the first
    /// record under the new keys (RFC 5246 sections 7.4.6 to 7.4.9).
    pub(super) fn send_tls12_client_flight(&mut self) -> Result<(), TlsError> {
        let certificate_sent = self.send_client_certificate(true)?;
        let mut key_exchange = [0u8; 4 + 1 + P256_POINT_LEN];
        key_exchange[..5].copy_from_slice(&[
            handshake_type::CLIENT_KEY_EXCHANGE,
            0,
            0,
            1 + P256_POINT_LEN as u8,
            P256_POINT_LEN as u8,
        ]);
        key_exchange[5..].copy_from_slice(&self.tls12.client_public);
        self.send_record(ContentType::Handshake, &key_exchange)?;
        self.transcript.update(&key_exchange);

        let hash = self.suite.hash();
        let session_hash = self.transcript.current_for(hash)?;
        let shared = self
            .tls12
            .shared
            .take()
            .ok_or(TlsError::UnexpectedMessage)?;
        let master = MasterSecret::extended(
            self.provider,
            hash,
            shared.as_bytes(),
            session_hash.as_bytes(),
        )?;
        drop(shared);
        let client_write = self.install_tls12_keys(&master)?;

        if certificate_sent {
            self.send_tls12_certificate_verify()?;
        }
        self.send_change_cipher_spec_and_finished(client_write, &master)?;
        self.tls12.master = Some(master);
        Ok(())
    }

    /// Our ChangeCipherSpec, then our Finished (section 7.4.9) under the
    /// `write` protection it switches to: verify_data over every handshake
    /// message so far.
    fn send_change_cipher_spec_and_finished(
        &mut self,
        write: RecordProtection<P::Key>,
        master: &MasterSecret,
    ) -> Result<(), TlsError> {
        self.send_record(ContentType::ChangeCipherSpec, &[1])?;
        self.write = Some(write);
        let hash = self.suite.hash();
        let transcript = self.transcript.current_for(hash)?;
        let verify_data = master.verify_data(
            self.provider,
            hash,
            b"client finished",
            transcript.as_bytes(),
        )?;
        let mut finished = [0u8; 4 + 12];
        finished[..4].copy_from_slice(&[handshake_type::FINISHED, 0, 0, 12]);
        finished[4..].copy_from_slice(&verify_data);
        self.send_record(ContentType::Handshake, &finished)?;
        self.transcript.update(&finished);
        Ok(())
    }

    /// The server's ChangeCipherSpec: its records are protected from the
    /// next one on. It must not split a handshake message.
    pub(super) fn handle_tls12_change_cipher_spec(
        &mut self,
        content: core::ops::Range<usize>,
    ) -> Result<Option<Event>, TlsError> {
        if self.receive[content] != [1] || self.handshake_len != 0 {
            return Err(TlsError::UnexpectedMessage);
        }
        self.read = Some(
            self.tls12
                .server_read
                .take()
                .ok_or(TlsError::UnexpectedMessage)?,
        );
        self.state = State::Tls12WaitFinished;
        Ok(None)
    }

    /// The server's Finished (section 7.4.9): its verify_data over the
    /// transcript including our Finished. Then the session is up.
    pub(super) fn handle_tls12_finished(
        &mut self,
        message: &[u8],
        body: &[u8],
    ) -> Result<(), TlsError> {
        let master = self
            .tls12
            .master
            .take()
            .ok_or(TlsError::UnexpectedMessage)?;
        let transcript = self.transcript.current_for(self.suite.hash())?;
        let expected = master.verify_data(
            self.provider,
            self.suite.hash(),
            b"server finished",
            transcript.as_bytes(),
        )?;
        if !duet_crypto::hash::constant_time_eq(&expected, body) {
            return Err(TlsError::BadFinished);
        }
        self.transcript.update(message);
        if self.tls12.resumed {
            // Abbreviated handshake (RFC 5077 section 3.1): our
            // ChangeCipherSpec and Finished come last.
            let write = self
                .tls12
                .pending_write
                .take()
                .ok_or(TlsError::UnexpectedMessage)?;
            self.send_change_cipher_spec_and_finished(write, &master)?;
        }
        self.state = State::Connected;
        Ok(())
    }

    /// HelloRequest (section 7.4.1.1) on an established TLS 1.2 session:
    /// this client never renegotiates, and says so with a warning
    /// no_renegotiation (section 7.2.2); the session goes on.
    pub(super) fn refuse_renegotiation(&mut self, body: &[u8]) -> Result<(), TlsError> {
        if !body.is_empty() {
            return Err(TlsError::Decode);
        }
        self.send_record(
            ContentType::Alert,
            &[1, AlertDescription::NoRenegotiation.to_u8()],
        )
    }
}
