//! The client state machine, sans-IO: TLS 1.3 (RFC 8446 sections 2 and 4)
//! here, the TLS 1.2 branch the ServerHello may choose (RFC 5246) in
//! `client/tls12.rs`.

mod client_auth;
mod hello_retry;
mod tls12;

use core::ops::Range;

use duet_crypto::x509::{
    MAX_INTERMEDIATES, ServerName, TrustAnchor, verify_end_entity_signature, verify_server_chain,
};
use duet_crypto::{
    Aead, Digest, EcdhGroup, HashAlgorithm, HashContext, Hasher, KeyAgreement, KeyDerivation,
    KeyHandle, SignatureScheme, SignatureVerifier, Signer,
};
use duet_netstack::no_memmove::copy_within;
use rand_core::CryptoRng;

use super::codec::{Reader, Writer};
use super::key_schedule::{
    KeySchedule, TrafficKeys, finished_verify_data, hkdf_expand_label, next_traffic_secret,
};
use super::record::{self, ContentType, HEADER_LEN, MAX_PLAINTEXT_LEN, RecordProtection};
use super::session::{SessionTicket, TicketStore};
use super::suite::CipherSuite;
use super::{AlertDescription, TlsError};

/// What the client needs from a crypto provider: hashes, HKDF and the TLS
/// 1.2 PRF, AEAD, ECDH, signature verification, and signing with a client
/// certificate's key by handle (a secure element's, or the software
/// provider's key slots; compose them with `duet_crypto::Fallback`).
pub trait TlsProvider:
    Hasher + KeyDerivation + Aead + KeyAgreement + SignatureVerifier + Signer + Sync
{
}

impl<T> TlsProvider for T where
    T: Hasher + KeyDerivation + Aead + KeyAgreement + SignatureVerifier + Signer + Sync
{
}

/// The largest record plaintext both sides send once the server agrees
/// (RFC 6066 section 4): for a device whose receive buffer cannot hold
/// 16 KB records. Record protection adds up to 256 bytes more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxFragmentLength {
    Bytes512,
    Bytes1024,
    Bytes2048,
    Bytes4096,
}

impl MaxFragmentLength {
    /// The extension's code (2^9 is 1, ... 2^12 is 4).
    fn code(self) -> u8 {
        match self {
            MaxFragmentLength::Bytes512 => 1,
            MaxFragmentLength::Bytes1024 => 2,
            MaxFragmentLength::Bytes2048 => 3,
            MaxFragmentLength::Bytes4096 => 4,
        }
    }

    /// The limit in bytes.
    pub fn bytes(self) -> usize {
        256 << self.code()
    }
}

/// A client certificate (X.509 device authentication): the chain to send,
/// end-entity first, DER, and the handle of its ECDSA P-256 private key,
/// which never leaves the provider that signs with it.
#[derive(Debug, Clone, Copy)]
pub struct ClientCertificate<'a> {
    pub chain: &'a [&'a [u8]],
    pub key: KeyHandle,
}

/// Who the client expects to talk to, and how it checks.
#[derive(Debug, Clone, Copy)]
pub struct ClientConfig<'a> {
    /// The name the certificate must carry; sent as SNI (RFC 6066 section
    /// 3) unless it is an IP address.
    pub server_name: &'a str,
    /// The roots the server's chain must lead to.
    pub trust_anchors: &'a [TrustAnchor<'a>],
    /// The current time, for certificate validity.
    pub now_unix_secs: u64,
    /// ALPN protocols to offer (RFC 7301), most preferred first; empty
    /// for none.
    pub alpn_protocols: &'a [&'a [u8]],
    /// A TLS 1.3 session to resume (from a [`TicketStore`] filled by an
    /// earlier connection): offered as a PSK with (EC)DHE; the server may
    /// still choose a full handshake. Ignored once expired.
    pub resume: Option<SessionTicket<'a>>,
    /// Asks the server for smaller records (RFC 6066); `None` for the full
    /// 16 KB.
    pub max_fragment_length: Option<MaxFragmentLength>,
    /// Offers record_size_limit (RFC 8449): the largest plaintext the
    /// client takes in one protected record (64 to 16384). A server that
    /// supports it sends no larger record once records are protected, so
    /// the receive buffer need only hold such a record (plus one byte, the
    /// overhead and the header; the server's handshake before protection —
    /// TLS 1.2's certificates — still comes in records of up to 16 KB).
    /// The server's own limit bounds what the client sends either way.
    /// `None`: 16 KB records.
    pub record_size_limit: Option<u16>,
    /// Sent when the server asks for one (CertificateRequest); without it
    /// the client answers with an empty certificate list, and a server that
    /// requires one ends the handshake.
    pub client_certificate: Option<ClientCertificate<'a>>,
}

/// The caller's memory for one connection.
pub struct Buffers<'b> {
    /// Received bytes wait here until a whole record is in; it must hold
    /// the largest record the server sends ([`record::MAX_RECORD_LEN`]
    /// unless a smaller limit was negotiated).
    pub receive: &'b mut [u8],
    /// Records waiting to be sent.
    pub send: &'b mut [u8],
    /// Reassembles handshake messages that span records.
    pub handshake: &'b mut [u8],
    /// Holds the server's certificate chain until CertificateVerify.
    pub certificate: &'b mut [u8],
}

/// What [`ClientConnection::process`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The handshake finished; application data may flow.
    HandshakeComplete,
    /// Application data is ready for [`ClientConnection::read_application_data`].
    ApplicationData,
    /// The server sent close_notify (section 6.1).
    PeerClosed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    WaitServerHello,
    // TLS 1.3 (RFC 8446 section 2).
    WaitEncryptedExtensions,
    WaitCertificate,
    WaitCertificateVerify,
    WaitFinished,
    // TLS 1.2 (RFC 5246 section 7.3).
    Tls12WaitCertificate,
    Tls12WaitServerKeyExchange,
    Tls12WaitServerHelloDone,
    Tls12WaitChangeCipherSpec,
    Tls12WaitFinished,
    Connected,
    Closed,
    Failed(TlsError),
}

/// Handshake message types (section 4).
mod handshake_type {
    pub const HELLO_REQUEST: u8 = 0;
    pub const CLIENT_HELLO: u8 = 1;
    pub const SERVER_HELLO: u8 = 2;
    pub const NEW_SESSION_TICKET: u8 = 4;
    pub const ENCRYPTED_EXTENSIONS: u8 = 8;
    pub const CERTIFICATE: u8 = 11;
    pub const SERVER_KEY_EXCHANGE: u8 = 12;
    pub const CERTIFICATE_REQUEST: u8 = 13;
    pub const SERVER_HELLO_DONE: u8 = 14;
    pub const CERTIFICATE_VERIFY: u8 = 15;
    pub const CLIENT_KEY_EXCHANGE: u8 = 16;
    pub const FINISHED: u8 = 20;
    pub const KEY_UPDATE: u8 = 24;
}

/// Extension types (section 4.2).
mod extension {
    pub const SERVER_NAME: u16 = 0;
    /// RFC 6066 section 4.
    pub const MAX_FRAGMENT_LENGTH: u16 = 1;
    /// RFC 8449.
    pub const RECORD_SIZE_LIMIT: u16 = 28;
    pub const SUPPORTED_GROUPS: u16 = 10;
    /// RFC 8422 section 5.1.2 (TLS 1.2).
    pub const EC_POINT_FORMATS: u16 = 11;
    pub const SIGNATURE_ALGORITHMS: u16 = 13;
    pub const ALPN: u16 = 16;
    /// RFC 7627 (TLS 1.2).
    pub const EXTENDED_MASTER_SECRET: u16 = 23;
    /// RFC 5077 (TLS 1.2).
    pub const SESSION_TICKET: u16 = 35;
    /// RFC 8446 section 4.2.11: always the last extension of a ClientHello.
    pub const PRE_SHARED_KEY: u16 = 41;
    pub const SUPPORTED_VERSIONS: u16 = 43;
    pub const PSK_KEY_EXCHANGE_MODES: u16 = 45;
    pub const COOKIE: u16 = 44;
    pub const KEY_SHARE: u16 = 51;
    /// RFC 5746 (TLS 1.2).
    pub const RENEGOTIATION_INFO: u16 = 0xff01;
}

const TLS13: u16 = 0x0304;
const TLS12: u16 = 0x0303;
const SECP256R1: u16 = 0x0017;
const SECP384R1: u16 = 0x0018;

/// A group's NamedGroup code (section 4.2.7), for the groups we offer.
fn group_code(group: EcdhGroup) -> Option<u16> {
    match group {
        EcdhGroup::Secp256r1 => Some(SECP256R1),
        EcdhGroup::Secp384r1 => Some(SECP384R1),
        _ => None,
    }
}

/// The groups offered, most preferred first; only the first gets a key
/// share up front, the second costs a HelloRetryRequest (section 4.1.4).
const GROUPS: [EcdhGroup; 2] = [EcdhGroup::Secp256r1, EcdhGroup::Secp384r1];
/// The ServerHello random that marks a HelloRetryRequest (section 4.1.3).
const HELLO_RETRY_REQUEST_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];
/// The last eight bytes of a ServerHello random from a server that
/// negotiated TLS 1.2 or below although it supports 1.3 (section 4.1.3).
const DOWNGRADE_TLS12: &[u8; 8] = b"DOWNGRD\x01";
const DOWNGRADE_TLS11: &[u8; 8] = b"DOWNGRD\x00";

/// `SignatureScheme` codes offered in signature_algorithms (section
/// 4.2.3). RSA PKCS#1 v1.5 is listed for certificate signatures only;
/// CertificateVerify refuses it.
const SIGNATURE_ALGORITHMS: [u16; 7] = [
    0x0403, // ecdsa_secp256r1_sha256
    0x0503, // ecdsa_secp384r1_sha384
    0x0804, // rsa_pss_rsae_sha256
    0x0805, // rsa_pss_rsae_sha384
    0x0401, // rsa_pkcs1_sha256
    0x0501, // rsa_pkcs1_sha384
    0x0601, // rsa_pkcs1_sha512
];

/// The scheme a CertificateVerify may use (section 4.4.3).
fn certificate_verify_scheme(code: u16) -> Option<SignatureScheme> {
    Some(match code {
        0x0403 => SignatureScheme::EcdsaP256Sha256,
        0x0503 => SignatureScheme::EcdsaP384Sha384,
        0x0804 => SignatureScheme::RsaPssSha256,
        0x0805 => SignatureScheme::RsaPssSha384,
        _ => return None,
    })
}

/// The running transcript hash (section 4.4.1). Until ServerHello names
/// the suite both candidate hashes run.
enum Transcript<C> {
    Both { sha256: C, sha384: C },
    One(C),
}

impl<C: HashContext> Transcript<C> {
    fn update(&mut self, message: &[u8]) {
        match self {
            Transcript::Both { sha256, sha384 } => {
                sha256.update(message);
                sha384.update(message);
            }
            Transcript::One(context) => context.update(message),
        }
    }

    fn select(&mut self, algorithm: HashAlgorithm) {
        if let Transcript::Both { sha256, sha384 } = self {
            let chosen = if algorithm == HashAlgorithm::Sha384 {
                sha384.clone()
            } else {
                sha256.clone()
            };
            *self = Transcript::One(chosen);
        }
    }

    fn current(&self) -> Result<Digest, TlsError> {
        match self {
            Transcript::One(context) => Ok(context.current()?),
            Transcript::Both { .. } => Err(TlsError::UnexpectedMessage),
        }
    }

    /// A copy of the running hash with `algorithm`, to hash a prefix of a
    /// message without touching the transcript (a PSK binder).
    fn fork(&self, algorithm: HashAlgorithm) -> Result<C, TlsError> {
        match self {
            Transcript::Both { sha256, sha384 } => Ok(if algorithm == HashAlgorithm::Sha384 {
                sha384.clone()
            } else {
                sha256.clone()
            }),
            Transcript::One(context) if context.algorithm() == algorithm => Ok(context.clone()),
            Transcript::One(_) => Err(TlsError::IllegalParameter),
        }
    }

    /// The hash with `algorithm`: TLS 1.2 keeps both running when a client
    /// certificate may have to sign the transcript with a hash other than
    /// the PRF's.
    fn current_for(&self, algorithm: HashAlgorithm) -> Result<Digest, TlsError> {
        match self {
            Transcript::Both { sha256, sha384 } => Ok(if algorithm == HashAlgorithm::Sha384 {
                sha384.current()?
            } else {
                sha256.current()?
            }),
            Transcript::One(context) if context.algorithm() == algorithm => Ok(context.current()?),
            Transcript::One(_) => Err(TlsError::UnexpectedMessage),
        }
    }
}

impl core::fmt::Debug for Buffers<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Buffers")
            .field("receive", &self.receive.len())
            .field("send", &self.send.len())
            .field("handshake", &self.handshake.len())
            .field("certificate", &self.certificate.len())
            .finish()
    }
}

impl<P: TlsProvider> core::fmt::Debug for ClientConnection<'_, P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ClientConnection")
            .field("state", &self.state)
            .field("suite", &self.suite)
            .field("pending", &self.pending)
            .field("received", &self.received)
            .finish_non_exhaustive()
    }
}

/// A TLS 1.3 client connection over caller memory.
pub struct ClientConnection<'a, P: TlsProvider> {
    provider: &'a P,
    config: ClientConfig<'a>,
    receive: &'a mut [u8],
    received: usize,
    /// Decrypted application data waiting in `receive`, and the end of
    /// the record it came in.
    application: Range<usize>,
    application_record_end: usize,
    send: &'a mut [u8],
    pending: usize,
    handshake: &'a mut [u8],
    handshake_len: usize,
    certificate: &'a mut [u8],
    end_entity: Range<usize>,
    state: State,
    suite: CipherSuite,
    transcript: Transcript<P::Context>,
    ephemeral: Option<P::EphemeralSecret>,
    schedule: Option<KeySchedule>,
    client_secret: Option<Digest>,
    server_secret: Option<Digest>,
    read: Option<RecordProtection<P::Key>>,
    write: Option<RecordProtection<P::Key>>,
    alpn: Option<usize>,
    close_sent: bool,
    client_random: [u8; 32],
    /// The server asked for a client certificate.
    certificate_request: Option<client_auth::CertificateRequest>,
    /// The largest record plaintext we may send: 2^14, or what
    /// max_fragment_length or the server's record_size_limit says.
    fragment_limit: usize,
    /// The largest record plaintext we take from the server: 2^14, or what
    /// max_fragment_length negotiated (every record), or our
    /// record_size_limit once the server took it (protected records).
    receive_limit: usize,
    /// Whether `receive_limit` binds unprotected records too.
    receive_limit_unprotected: bool,
    /// The group of our key share: P-256 first, another after a
    /// HelloRetryRequest.
    key_share_group: EcdhGroup,
    /// The HelloRetryRequest's suite, once one came (a second one may not).
    retry_suite: Option<CipherSuite>,
    /// Randomness drawn at the start for a second key share, as the engine
    /// holds no generator of its own.
    retry_randomness: hello_retry::Reserve,
    /// Whether the ClientHello offered `config.resume`, and whether the
    /// server took it.
    psk_offered: bool,
    psk_accepted: bool,
    /// A TLS 1.2 ticket offered, with the session ID made up to see whether
    /// the server takes it (RFC 5077 section 3.4); empty otherwise.
    tls12_resume_offered: bool,
    session_id: [u8; 32],
    /// `resumption_master_secret`, for the tickets that follow the handshake.
    resumption_secret: Option<Digest>,
    /// Where received tickets go ([`ClientConnection::store_tickets_in`]).
    ticket_store: Option<&'a mut dyn TicketStore>,
    /// Whether a handshake given no configured ticket offers the store's
    /// ([`ClientConnection::hold_stored_ticket_back`]).
    offer_stored_ticket: bool,
    /// What a TLS 1.2 handshake carries between its messages.
    tls12: tls12::Handshake<P::Key>,
}

/// The ticket a handshake offers: the configured one, else the one the
/// ticket store gives back ([`TicketStore::offer`]) if `from_store`. Of the
/// connection's fields, so that the rest stay free to use beside it.
fn offered<'s>(
    resume: &'s Option<SessionTicket<'_>>,
    store: &'s mut Option<&mut dyn TicketStore>,
    from_store: bool,
) -> Option<SessionTicket<'s>> {
    match resume {
        Some(ticket) => Some(*ticket),
        None if from_store => store.as_deref_mut()?.offer(),
        None => None,
    }
}

impl<'a, P: TlsProvider> ClientConnection<'a, P> {
    /// Starts a handshake: draws the client random and an ephemeral
    /// secp256r1 key from `rng` and queues the ClientHello.
    pub fn new<R: CryptoRng + ?Sized>(
        provider: &'a P,
        config: ClientConfig<'a>,
        buffers: Buffers<'a>,
        rng: &mut R,
    ) -> Result<Self, TlsError> {
        Self::try_new(provider, config, buffers, rng).map_err(|(error, _)| error)
    }

    /// As [`ClientConnection::new`], handing the buffers back when it
    /// fails, so a reconnecting client keeps its memory.
    // Out of line: inlined into an async connect path, the engine's
    // construction temporaries (≈ 6 KB on Cortex-M) stayed in the caller's
    // frame, which is live through the whole handshake.
    #[inline(never)]
    pub fn try_new<R: CryptoRng + ?Sized>(
        provider: &'a P,
        config: ClientConfig<'a>,
        buffers: Buffers<'a>,
        rng: &mut R,
    ) -> Result<Self, (TlsError, Buffers<'a>)> {
        let mut connection = Self::unstarted(provider, config, buffers, rng)?;
        match connection.start() {
            Ok(()) => Ok(connection),
            Err(error) => Err((error, connection.into_buffers())),
        }
    }

    /// The connection before its ClientHello ([`ClientConnection::start`]):
    /// its ephemeral key, randoms and state.
    pub(crate) fn unstarted<R: CryptoRng + ?Sized>(
        provider: &'a P,
        config: ClientConfig<'a>,
        buffers: Buffers<'a>,
        rng: &mut R,
    ) -> Result<Self, (TlsError, Buffers<'a>)> {
        let started = provider
            .generate_ephemeral(EcdhGroup::Secp256r1, rng)
            .and_then(|ephemeral| {
                Ok((
                    ephemeral,
                    provider.hash_context(HashAlgorithm::Sha256)?,
                    provider.hash_context(HashAlgorithm::Sha384)?,
                ))
            });
        let ((ephemeral, public), sha256, sha384) = match started {
            Ok(started) => started,
            Err(error) => return Err((error.into(), buffers)),
        };
        let mut random = [0u8; 32];
        rng.fill_bytes(&mut random);
        let retry_randomness = hello_retry::Reserve::draw(rng);
        let mut session_id = [0u8; 32];
        rng.fill_bytes(&mut session_id);
        let mut connection = ClientConnection {
            provider,
            receive: buffers.receive,
            received: 0,
            application: 0..0,
            application_record_end: 0,
            send: buffers.send,
            pending: 0,
            handshake: buffers.handshake,
            handshake_len: 0,
            certificate: buffers.certificate,
            end_entity: 0..0,
            state: State::WaitServerHello,
            suite: CipherSuite::Aes128GcmSha256,
            transcript: Transcript::Both { sha256, sha384 },
            ephemeral: Some(ephemeral),
            schedule: None,
            client_secret: None,
            server_secret: None,
            read: None,
            write: None,
            alpn: None,
            close_sent: false,
            client_random: random,
            certificate_request: None,
            fragment_limit: MAX_PLAINTEXT_LEN,
            receive_limit: MAX_PLAINTEXT_LEN,
            receive_limit_unprotected: true,
            key_share_group: EcdhGroup::Secp256r1,
            retry_suite: None,
            retry_randomness,
            psk_offered: false,
            psk_accepted: false,
            tls12_resume_offered: false,
            session_id,
            resumption_secret: None,
            ticket_store: None,
            offer_stored_ticket: true,
            tls12: tls12::Handshake::new(),
            config,
        };
        // Kept for TLS 1.2's ClientKeyExchange, and the ClientHello's key
        // share until then.
        match connection.tls12.remember_public_key(public.as_bytes()) {
            Ok(()) => Ok(connection),
            Err(error) => Err((error, connection.into_buffers())),
        }
    }

    /// Queues the first ClientHello, with the key share
    /// [`ClientConnection::unstarted`] made, and offers the configured
    /// ticket if it is still valid.
    pub(crate) fn start(&mut self) -> Result<(), TlsError> {
        let now = self.config.now_unix_secs;
        let resume = offered(
            &self.config.resume,
            &mut self.ticket_store,
            self.offer_stored_ticket,
        )
        .filter(|ticket| ticket.is_valid_at(now));
        self.psk_offered = resume.is_some_and(|ticket| !ticket.suite.is_tls12());
        self.tls12_resume_offered = resume.is_some_and(|ticket| ticket.suite.is_tls12());
        let mut key_share = [0u8; tls12::P256_POINT_LEN];
        key_share.copy_from_slice(self.tls12.client_public());
        self.queue_client_hello(&key_share, None)
    }

    /// Ends the connection and hands its memory back for the next one.
    /// The receive buffer is wiped: it held plaintext.
    pub fn into_buffers(mut self) -> Buffers<'a> {
        self.take_buffers()
    }

    /// [`ClientConnection::into_buffers`] in place: the connection keeps
    /// empty slices.
    pub(crate) fn take_buffers(&mut self) -> Buffers<'a> {
        self.receive.fill(0);
        Buffers {
            receive: core::mem::take(&mut self.receive),
            send: core::mem::take(&mut self.send),
            handshake: core::mem::take(&mut self.handshake),
            certificate: core::mem::take(&mut self.certificate),
        }
    }

    /// Writes a ClientHello with our key share (of `key_share_group`) and,
    /// after a HelloRetryRequest, its cookie, into the send buffer and the
    /// transcript.
    fn queue_client_hello(
        &mut self,
        key_share: &[u8],
        cookie: Option<&[u8]>,
    ) -> Result<(), TlsError> {
        let sni = match ServerName::try_from(self.config.server_name) {
            Ok(ServerName::DnsName(name)) => Some(name),
            Ok(ServerName::IpAddress(_)) => None,
            Err(_) => return Err(TlsError::InvalidServerName),
        };
        let at = self.pending;
        let offer = offered(
            &self.config.resume,
            &mut self.ticket_store,
            self.offer_stored_ticket,
        );
        let psk = match (self.psk_offered, offer) {
            (true, Some(ticket)) => Some(PskOffer {
                identity: ticket.ticket,
                obfuscated_age: ticket.obfuscated_age(self.config.now_unix_secs),
                binder_len: ticket.suite.hash().output_len(),
            }),
            _ => None,
        };
        let record = self
            .send
            .get_mut(at + HEADER_LEN..)
            .ok_or(TlsError::BufferTooSmall)?;
        let len = write_client_hello(
            &mut Writer::new(record),
            &ClientHelloFields {
                random: &self.client_random,
                key_share_group: group_code(self.key_share_group)
                    .ok_or(TlsError::IllegalParameter)?,
                key_share,
                cookie,
                server_name: sni,
                alpn_protocols: self.config.alpn_protocols,
                max_fragment_length: self.config.max_fragment_length,
                record_size_limit: self
                    .config
                    .record_size_limit
                    .map(|limit| limit.clamp(64, MAX_PLAINTEXT_LEN as u16) + 1),
                psk,
                session_id: if self.tls12_resume_offered {
                    &self.session_id
                } else {
                    &[]
                },
                session_ticket: offer
                    .filter(|_| self.tls12_resume_offered)
                    .map_or(&[][..], |ticket| ticket.ticket),
            },
        )?;
        if len > MAX_PLAINTEXT_LEN {
            return Err(TlsError::BufferTooSmall);
        }
        if let Some(binder_len) = psk.map(|offer| offer.binder_len) {
            self.write_psk_binder(at + HEADER_LEN, len, binder_len)?;
        }
        record::write_header(&mut self.send[at..], ContentType::Handshake, len);
        self.transcript
            .update(&self.send[at + HEADER_LEN..at + HEADER_LEN + len]);
        self.pending = at + HEADER_LEN + len;
        Ok(())
    }

    /// Fills in the PSK binder that ends the ClientHello at
    /// `send[start..start + len]` (section 4.2.11.2): an HMAC, keyed from
    /// the PSK's binder key, of the transcript up to and including this
    /// ClientHello without its binders list.
    fn write_psk_binder(
        &mut self,
        start: usize,
        len: usize,
        binder_len: usize,
    ) -> Result<(), TlsError> {
        let ticket = offered(
            &self.config.resume,
            &mut self.ticket_store,
            self.offer_stored_ticket,
        )
        .ok_or(TlsError::UnexpectedMessage)?;
        let hash = ticket.suite.hash();
        let binders_start = start + len - (2 + 1 + binder_len);
        let mut partial = self.transcript.fork(hash)?;
        partial.update(&self.send[start..binders_start]);
        let partial_hash = partial.current()?;
        let schedule = KeySchedule::with_psk(self.provider, hash, ticket.psk)?;
        let binder_key = schedule.binder_key(self.provider)?;
        let binder = finished_verify_data(
            self.provider,
            hash,
            binder_key.as_bytes(),
            partial_hash.as_bytes(),
        )?;
        self.send[start + len - binder_len..start + len].copy_from_slice(binder.as_bytes());
        Ok(())
    }

    /// The legacy_session_id we sent: empty, or made up for a TLS 1.2
    /// ticket.
    fn session_id(&self) -> &[u8] {
        if self.tls12_resume_offered {
            &self.session_id
        } else {
            &[]
        }
    }

    /// Keeps the session tickets this connection receives in `store`, for
    /// a later [`ClientConfig::resume`].
    pub fn store_tickets_in(&mut self, store: &'a mut dyn TicketStore) {
        self.ticket_store = Some(store);
    }

    /// Keeps the store's ticket out of this handshake (the store still
    /// takes the tickets it brings): after a handshake that offered it
    /// failed, as a server that aborts on it would otherwise refuse every
    /// reconnection until the ticket expires.
    pub(crate) fn hold_stored_ticket_back(&mut self) {
        self.offer_stored_ticket = false;
    }

    /// Whether the ClientHello offered a ticket to resume with.
    pub(crate) fn offered_a_ticket(&self) -> bool {
        self.psk_offered || self.tls12_resume_offered
    }

    /// The store [`ClientConnection::store_tickets_in`] gave, back for
    /// the next connection.
    pub(crate) fn take_ticket_store(&mut self) -> Option<&'a mut dyn TicketStore> {
        self.ticket_store.take()
    }

    /// Whether the server took the offered session: no certificate was
    /// sent or checked in this handshake (the one that issued the ticket
    /// checked it).
    pub fn resumed(&self) -> bool {
        self.psk_accepted
    }

    /// Whether the handshake is still under way.
    pub fn is_handshaking(&self) -> bool {
        !matches!(
            self.state,
            State::Connected | State::Closed | State::Failed(_)
        )
    }

    /// Whether records wait in [`ClientConnection::pending_tls`].
    pub fn wants_write(&self) -> bool {
        self.pending > 0
    }

    /// Bytes to send to the server, oldest first.
    pub fn pending_tls(&self) -> &[u8] {
        &self.send[..self.pending]
    }

    /// Drops the first `sent` bytes of [`ClientConnection::pending_tls`],
    /// which the caller has sent.
    pub fn tls_sent(&mut self, sent: usize) {
        let sent = sent.min(self.pending);
        copy_within(self.send, sent..self.pending, 0);
        self.pending -= sent;
    }

    /// Room for received bytes: how many [`ClientConnection::read_tls`]
    /// would take now.
    pub fn receive_capacity(&self) -> usize {
        self.receive.len() - self.received
    }

    /// The free part of the receive buffer, for a transport to read into
    /// directly; report what it wrote with [`ClientConnection::tls_received`].
    pub fn receive_space(&mut self) -> &mut [u8] {
        &mut self.receive[self.received..]
    }

    /// Counts `n` bytes written into [`ClientConnection::receive_space`] as
    /// received.
    pub fn tls_received(&mut self, n: usize) {
        self.received += n.min(self.receive_capacity());
    }

    /// Takes received bytes; returns how many fit (the rest must be
    /// offered again after [`ClientConnection::process`]).
    pub fn read_tls(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.receive_capacity());
        self.receive[self.received..self.received + n].copy_from_slice(&data[..n]);
        self.received += n;
        n
    }

    /// The ALPN protocol the server selected, if any.
    pub fn alpn_protocol(&self) -> Option<&'a [u8]> {
        self.alpn
            .and_then(|i| self.config.alpn_protocols.get(i).copied())
    }

    /// The group of our ECDHE key share: secp256r1, or secp384r1 when a
    /// HelloRetryRequest asked for it.
    pub fn key_exchange_group(&self) -> EcdhGroup {
        self.key_share_group
    }

    /// The negotiated suite (meaningful once the ServerHello arrived).
    pub fn cipher_suite(&self) -> CipherSuite {
        self.suite
    }

    /// The server's end-entity certificate (DER), once validated.
    pub fn peer_certificate(&self) -> Option<&[u8]> {
        (!self.end_entity.is_empty()).then(|| &self.certificate[self.end_entity.clone()])
    }

    /// Works through whole records received so far and reports the next
    /// event, or `None` when more bytes are needed. A failure is final: the
    /// matching alert is queued for sending and every later call returns
    /// the same error.
    pub fn process(&mut self) -> Result<Option<Event>, TlsError> {
        if let State::Failed(error) = self.state {
            return Err(error);
        }
        let result = self.process_records();
        if let Err(error) = result {
            self.fail(error);
        }
        result
    }

    fn process_records(&mut self) -> Result<Option<Event>, TlsError> {
        loop {
            if !self.application.is_empty() {
                return Ok(Some(Event::ApplicationData));
            }
            if self.state == State::Closed {
                return Ok(None);
            }
            let Some((content_type, length)) =
                record::parse_header(&self.receive[..self.received])?
            else {
                return Ok(None);
            };
            let total = HEADER_LEN + length;
            if total > self.receive.len() {
                return Err(TlsError::BufferTooSmall);
            }
            if self.received < total {
                return Ok(None);
            }
            let event = self.handle_record(content_type, total)?;
            if self.application.is_empty() {
                self.drain_receive(total);
            }
            if event.is_some() {
                return Ok(event);
            }
        }
    }

    fn drain_receive(&mut self, len: usize) {
        copy_within(self.receive, len..self.received, 0);
        self.received -= len;
    }

    fn handle_record(
        &mut self,
        outer_type: ContentType,
        total: usize,
    ) -> Result<Option<Event>, TlsError> {
        // A change_cipher_spec record of one 0x01 byte may arrive during
        // the handshake for middlebox compatibility; it is dropped
        // unprotected (section 5).
        if outer_type == ContentType::ChangeCipherSpec {
            if self.state == State::Tls12WaitChangeCipherSpec {
                return self.handle_tls12_change_cipher_spec(HEADER_LEN..total);
            }
            return if self.is_handshaking()
                && !self.suite.is_tls12()
                && (self.state != State::WaitServerHello || self.retry_suite.is_some())
                && self.receive[HEADER_LEN..total] == [1]
            {
                Ok(None)
            } else {
                Err(TlsError::UnexpectedMessage)
            };
        }
        let protected = self.read.is_some();
        let (content_type, range) = match &mut self.read {
            Some(protection) => protection.open(&mut self.receive[..total])?,
            None => {
                if outer_type == ContentType::ApplicationData {
                    return Err(TlsError::UnexpectedMessage);
                }
                (outer_type, HEADER_LEN..total)
            }
        };
        let limit = if protected || self.receive_limit_unprotected {
            self.receive_limit
        } else {
            MAX_PLAINTEXT_LEN
        };
        if range.len() > limit {
            return Err(TlsError::RecordOverflow);
        }
        match content_type {
            ContentType::Alert => self.handle_alert(range),
            ContentType::Handshake => {
                if range.is_empty() {
                    return Err(TlsError::UnexpectedMessage);
                }
                self.handle_handshake_fragment(range)
            }
            ContentType::ApplicationData => {
                if self.state != State::Connected || self.handshake_len != 0 {
                    return Err(TlsError::UnexpectedMessage);
                }
                if range.is_empty() {
                    return Ok(None);
                }
                self.application = range;
                self.application_record_end = total;
                Ok(Some(Event::ApplicationData))
            }
            ContentType::ChangeCipherSpec => Err(TlsError::UnexpectedMessage),
        }
    }

    /// Alerts (section 6): close_notify ends the connection cleanly,
    /// user_canceled is a warning, anything else is fatal.
    fn handle_alert(&mut self, range: Range<usize>) -> Result<Option<Event>, TlsError> {
        let alert = &self.receive[range];
        let [_level, description] = alert else {
            return Err(TlsError::Decode);
        };
        match AlertDescription::from_u8(*description) {
            AlertDescription::CloseNotify => {
                self.state = State::Closed;
                Ok(Some(Event::PeerClosed))
            }
            AlertDescription::UserCanceled => Ok(None),
            other => {
                self.state = State::Failed(TlsError::AlertReceived(other));
                Err(TlsError::AlertReceived(other))
            }
        }
    }

    /// Appends a handshake record's content to the reassembly buffer and
    /// handles every whole message in it (section 5.1: messages may be
    /// split across and coalesced into records).
    fn handle_handshake_fragment(
        &mut self,
        range: Range<usize>,
    ) -> Result<Option<Event>, TlsError> {
        let fragment_len = range.len();
        let end = self.handshake_len + fragment_len;
        self.handshake
            .get_mut(self.handshake_len..end)
            .ok_or(TlsError::BufferTooSmall)?
            .copy_from_slice(&self.receive[range]);
        self.handshake_len = end;
        let mut event = None;
        while let Some(header) = self.handshake.get(..4).filter(|_| self.handshake_len >= 4) {
            let body_len =
                usize::from(header[1]) << 16 | usize::from(header[2]) << 8 | usize::from(header[3]);
            let message_len = 4 + body_len;
            if message_len > self.handshake.len() {
                return Err(TlsError::BufferTooSmall);
            }
            if self.handshake_len < message_len {
                break;
            }
            let message_type = header[0];
            let before = self.state;
            let buffer = core::mem::take(&mut self.handshake);
            let result = self.handle_message(message_type, &buffer[..message_len]);
            self.handshake = buffer;
            copy_within(self.handshake, message_len..self.handshake_len, 0);
            self.handshake_len -= message_len;
            if let Some(e) = result? {
                event = Some(e);
            }
            // Keys change after ServerHello and server Finished: a message
            // must not straddle the change (section 5.1).
            let keys_changed = before != self.state
                && matches!(
                    self.state,
                    State::WaitEncryptedExtensions | State::Connected
                );
            if keys_changed && self.handshake_len != 0 {
                return Err(TlsError::UnexpectedMessage);
            }
        }
        Ok(event)
    }

    fn handle_message(
        &mut self,
        message_type: u8,
        message: &[u8],
    ) -> Result<Option<Event>, TlsError> {
        use handshake_type::*;
        let body = &message[4..];
        match (self.state, message_type) {
            (State::WaitServerHello, SERVER_HELLO) => self.handle_server_hello(message, body)?,
            (State::WaitEncryptedExtensions, ENCRYPTED_EXTENSIONS) => {
                self.handle_encrypted_extensions(body)?;
                self.transcript.update(message);
                // A resumed session authenticates through the PSK: no
                // certificate follows (section 2.2).
                self.state = if self.psk_accepted {
                    State::WaitFinished
                } else {
                    State::WaitCertificate
                };
            }
            (State::WaitCertificate, CERTIFICATE_REQUEST) if self.certificate_request.is_none() => {
                self.handle_certificate_request(body)?;
                self.transcript.update(message);
            }
            (State::WaitCertificate, CERTIFICATE) => {
                self.handle_certificate(body)?;
                self.transcript.update(message);
                self.state = State::WaitCertificateVerify;
            }
            (State::WaitCertificateVerify, CERTIFICATE_VERIFY) => {
                self.handle_certificate_verify(body)?;
                self.transcript.update(message);
                self.state = State::WaitFinished;
            }
            (State::WaitFinished, FINISHED) => {
                self.handle_finished(message, body)?;
                return Ok(Some(Event::HandshakeComplete));
            }
            (State::Tls12WaitCertificate, CERTIFICATE) => {
                self.handle_certificate(body)?;
                self.transcript.update(message);
                self.state = State::Tls12WaitServerKeyExchange;
            }
            (State::Tls12WaitServerKeyExchange, SERVER_KEY_EXCHANGE) => {
                self.handle_server_key_exchange(body)?;
                self.transcript.update(message);
                self.state = State::Tls12WaitServerHelloDone;
            }
            (State::Tls12WaitServerHelloDone, CERTIFICATE_REQUEST)
                if self.certificate_request.is_none() =>
            {
                self.handle_tls12_certificate_request(body)?;
                self.transcript.update(message);
            }
            (State::Tls12WaitServerHelloDone, SERVER_HELLO_DONE) => {
                if !body.is_empty() {
                    return Err(TlsError::Decode);
                }
                self.transcript.update(message);
                self.send_tls12_client_flight()?;
                self.state = State::Tls12WaitChangeCipherSpec;
            }
            (State::Tls12WaitChangeCipherSpec, NEW_SESSION_TICKET) => {
                self.handle_tls12_new_session_ticket(body)?;
                self.transcript.update(message);
            }
            (State::Tls12WaitFinished, FINISHED) => {
                self.handle_tls12_finished(message, body)?;
                return Ok(Some(Event::HandshakeComplete));
            }
            // Tickets are for resumption, which this client does not do yet.
            (State::Connected, NEW_SESSION_TICKET) if !self.suite.is_tls12() => {
                self.handle_new_session_ticket(body)?
            }
            (State::Connected, KEY_UPDATE) if !self.suite.is_tls12() => {
                self.handle_key_update(body)?
            }
            (State::Connected, HELLO_REQUEST) if self.suite.is_tls12() => {
                self.refuse_renegotiation(body)?
            }
            (_, CERTIFICATE_REQUEST) | (_, _) => return Err(TlsError::UnexpectedMessage),
        }
        Ok(None)
    }

    /// ServerHello (section 4.1.3): TLS 1.3 chosen through
    /// supported_versions, one of our suites, a secp256r1 key share.
    fn handle_server_hello(&mut self, message: &[u8], body: &[u8]) -> Result<(), TlsError> {
        let mut r = Reader::new(body);
        let legacy_version = r.u16()?;
        let random = r.take(32)?;
        let session_id = r.vec_u8()?;
        let suite = r.u16()?;
        let compression = r.u8()?;
        let extensions = r.vec_u16()?;
        r.finish()?;
        let selected_version = find_extension(extensions, extension::SUPPORTED_VERSIONS)?
            .map(|data| {
                let mut d = Reader::new(data);
                let version = d.u16()?;
                d.finish()?;
                Ok::<_, TlsError>(version)
            })
            .transpose()?;
        if selected_version != Some(TLS13) {
            // We offered TLS 1.3: a server that supports it and still picked
            // an older version says so here (section 4.1.3), and an attacker
            // must have edited our ClientHello.
            let tail = &random[24..];
            if tail == DOWNGRADE_TLS12 || tail == DOWNGRADE_TLS11 {
                return Err(TlsError::Downgrade);
            }
            return match (selected_version, legacy_version) {
                (None, TLS12) => self.handle_tls12_server_hello(message, body),
                _ => Err(TlsError::ProtocolVersion),
            };
        }
        if random == HELLO_RETRY_REQUEST_RANDOM {
            return self.handle_hello_retry_request(
                message,
                session_id,
                suite,
                compression,
                extensions,
            );
        }
        let mut key_share = None;
        let mut e = Reader::new(extensions);
        while !e.is_empty() {
            let extension_type = e.u16()?;
            let data = e.vec_u16()?;
            let mut d = Reader::new(data);
            match extension_type {
                extension::SUPPORTED_VERSIONS => {
                    d.u16()?;
                }
                extension::KEY_SHARE => key_share = Some((d.u16()?, d.vec_u16()?)),
                // We offer one identity: the server can select only it.
                extension::PRE_SHARED_KEY if self.psk_offered => {
                    if d.u16()? != 0 {
                        return Err(TlsError::IllegalParameter);
                    }
                    self.psk_accepted = true;
                }
                _ => return Err(TlsError::UnsupportedExtension),
            }
            d.finish()?;
        }
        if session_id != self.session_id() || compression != 0 {
            return Err(TlsError::IllegalParameter);
        }
        let suite = CipherSuite::from_u16(suite)
            .filter(|s| !s.is_tls12())
            .filter(|s| self.retry_suite.is_none_or(|retry| retry == *s))
            .ok_or(TlsError::IllegalParameter)?;
        let Some((group, server_share)) = key_share else {
            return Err(TlsError::IllegalParameter);
        };
        if Some(group) != group_code(self.key_share_group) {
            return Err(TlsError::IllegalParameter);
        }
        let ephemeral = self.ephemeral.take().ok_or(TlsError::UnexpectedMessage)?;
        let shared = self
            .provider
            .agree(ephemeral, server_share)
            .map_err(|_| TlsError::IllegalParameter)?;
        self.suite = suite;
        self.transcript.select(suite.hash());
        self.transcript.update(message);
        let hello_hash = self.transcript.current()?;
        let offer = offered(
            &self.config.resume,
            &mut self.ticket_store,
            self.offer_stored_ticket,
        );
        let mut schedule = match (self.psk_accepted, offer) {
            (true, Some(ticket)) => {
                if ticket.suite.hash() != suite.hash() {
                    return Err(TlsError::IllegalParameter);
                }
                KeySchedule::with_psk(self.provider, suite.hash(), ticket.psk)?
            }
            _ => KeySchedule::new(self.provider, suite.hash())?,
        };
        schedule.enter_handshake(self.provider, shared.as_bytes())?;
        let client = schedule.derive(self.provider, b"c hs traffic", hello_hash.as_bytes())?;
        let server = schedule.derive(self.provider, b"s hs traffic", hello_hash.as_bytes())?;
        self.read = Some(self.protection(&server)?);
        self.write = Some(self.protection(&client)?);
        self.client_secret = Some(client);
        self.server_secret = Some(server);
        self.schedule = Some(schedule);
        self.state = State::WaitEncryptedExtensions;
        Ok(())
    }

    fn protection(&self, secret: &Digest) -> Result<RecordProtection<P::Key>, TlsError> {
        let keys = TrafficKeys::derive(self.provider, self.suite, secret.as_bytes())?;
        let key = self.provider.aead_key(self.suite.aead(), keys.key())?;
        Ok(RecordProtection::new(key, keys.iv))
    }

    /// EncryptedExtensions (section 4.3.1): only ALPN matters here; the
    /// server's choice must be one we offered (RFC 7301 section 3.2).
    fn handle_encrypted_extensions(&mut self, body: &[u8]) -> Result<(), TlsError> {
        let mut r = Reader::new(body);
        let extensions = r.vec_u16()?;
        r.finish()?;
        let mut e = Reader::new(extensions);
        while !e.is_empty() {
            let extension_type = e.u16()?;
            let data = e.vec_u16()?;
            match extension_type {
                extension::ALPN => self.accept_alpn(data)?,
                extension::MAX_FRAGMENT_LENGTH => self.accept_max_fragment_length(data)?,
                extension::RECORD_SIZE_LIMIT => self.accept_record_size_limit(data)?,
                _ => {}
            }
        }
        Ok(())
    }

    /// The server's record_size_limit (RFC 8449 section 4): what it takes
    /// bounds our records; ours, which it took, bounds its protected ones.
    /// TLS 1.3 limits count the inner content type, TLS 1.2 ones do not;
    /// we offered our plaintext limit plus one, as TLS 1.3 counts it.
    pub(super) fn accept_record_size_limit(&mut self, data: &[u8]) -> Result<(), TlsError> {
        let ours = self
            .config
            .record_size_limit
            .ok_or(TlsError::UnsupportedExtension)?;
        let mut d = Reader::new(data);
        let theirs = usize::from(d.u16()?);
        d.finish()?;
        if theirs < 64 {
            return Err(TlsError::IllegalParameter);
        }
        let tls13 = !self.suite.is_tls12();
        let counted = usize::from(tls13);
        self.fragment_limit = (theirs - counted).min(MAX_PLAINTEXT_LEN);
        // RFC 8449 section 5: record_size_limit supersedes max_fragment_length.
        self.receive_limit = usize::from(ours) + 1 - counted;
        self.receive_limit_unprotected = false;
        Ok(())
    }

    /// The server's max_fragment_length: the value we asked for (RFC 6066
    /// section 4), in force from here on.
    fn accept_max_fragment_length(&mut self, data: &[u8]) -> Result<(), TlsError> {
        let requested = self
            .config
            .max_fragment_length
            .ok_or(TlsError::UnsupportedExtension)?;
        if data != [requested.code()] {
            return Err(TlsError::IllegalParameter);
        }
        self.fragment_limit = requested.bytes();
        if self.config.record_size_limit.is_none() || self.receive_limit_unprotected {
            self.receive_limit = requested.bytes();
        }
        Ok(())
    }

    /// The server's ALPN extension: one protocol, which must be one we
    /// offered (RFC 7301 section 3.2).
    fn accept_alpn(&mut self, data: &[u8]) -> Result<(), TlsError> {
        let mut d = Reader::new(data);
        let mut list = Reader::new(d.vec_u16()?);
        d.finish()?;
        let protocol = list.vec_u8()?;
        list.finish()?;
        let index = self
            .config
            .alpn_protocols
            .iter()
            .position(|p| *p == protocol)
            .ok_or(TlsError::IllegalParameter)?;
        self.alpn = Some(index);
        Ok(())
    }

    /// Certificate (section 4.4.2; in TLS 1.2 RFC 5246 section 7.4.2, a
    /// bare list): copied into the caller's certificate buffer, then the
    /// chain is validated for the server name.
    fn handle_certificate(&mut self, body: &[u8]) -> Result<(), TlsError> {
        let tls12 = self.suite.is_tls12();
        let chain = self
            .certificate
            .get_mut(..body.len())
            .ok_or(TlsError::BufferTooSmall)?;
        chain.copy_from_slice(body);
        let mut r = Reader::new(chain);
        if !tls12 {
            let context = r.vec_u8()?;
            if !context.is_empty() {
                return Err(TlsError::IllegalParameter);
            }
        }
        let list = r.vec_u24()?;
        r.finish()?;
        let list_start = body.len() - list.len();
        let mut entries = Reader::new(list);
        let mut end_entity = None;
        let mut intermediates: [&[u8]; MAX_INTERMEDIATES] = [&[]; MAX_INTERMEDIATES];
        let mut count = 0;
        while !entries.is_empty() {
            let start = entries.position() + 3;
            let certificate = entries.vec_u24()?;
            if !tls12 {
                let _extensions = entries.vec_u16()?;
            }
            if certificate.is_empty() {
                return Err(TlsError::Decode);
            }
            if end_entity.is_none() {
                end_entity = Some((list_start + start)..(list_start + start + certificate.len()));
            } else {
                *intermediates.get_mut(count).ok_or(TlsError::Certificate(
                    duet_crypto::x509::X509Error::PathTooLong,
                ))? = certificate;
                count += 1;
            }
        }
        let end_entity = end_entity.ok_or(TlsError::NoCertificate)?;
        let server_name = ServerName::try_from(self.config.server_name)
            .map_err(|_| TlsError::InvalidServerName)?;
        verify_server_chain(
            &body[end_entity.clone()],
            &intermediates[..count],
            self.config.trust_anchors,
            server_name,
            self.config.now_unix_secs,
            self.provider,
        )
        .map_err(TlsError::Certificate)?;
        self.end_entity = end_entity;
        Ok(())
    }

    /// CertificateVerify (section 4.4.3): the server's signature over 64
    /// spaces, the context string, a zero byte and the transcript hash.
    fn handle_certificate_verify(&mut self, body: &[u8]) -> Result<(), TlsError> {
        let mut r = Reader::new(body);
        let scheme = r.u16()?;
        let signature = r.vec_u16()?;
        r.finish()?;
        let scheme = certificate_verify_scheme(scheme).ok_or(TlsError::IllegalParameter)?;
        const CONTEXT: &[u8] = b"TLS 1.3, server CertificateVerify\x00";
        let hash = self.transcript.current()?;
        let mut content = [0x20u8; 64 + CONTEXT.len() + 48];
        content[64..64 + CONTEXT.len()].copy_from_slice(CONTEXT);
        let end = 64 + CONTEXT.len() + hash.len();
        content[64 + CONTEXT.len()..end].copy_from_slice(hash.as_bytes());
        verify_end_entity_signature(
            &self.certificate[self.end_entity.clone()],
            scheme,
            &content[..end],
            signature,
            self.provider,
        )
        .map_err(TlsError::CertificateVerify)
    }

    /// The server's Finished (section 4.4.4); then the application
    /// secrets, our Finished, and the switch to application keys.
    fn handle_finished(&mut self, message: &[u8], body: &[u8]) -> Result<(), TlsError> {
        let hash_algorithm = self.suite.hash();
        let transcript = self.transcript.current()?;
        let server_secret = self
            .server_secret
            .take()
            .ok_or(TlsError::UnexpectedMessage)?;
        let expected = finished_verify_data(
            self.provider,
            hash_algorithm,
            server_secret.as_bytes(),
            transcript.as_bytes(),
        )?;
        if !duet_crypto::hash::constant_time_eq(expected.as_bytes(), body) {
            return Err(TlsError::BadFinished);
        }
        self.transcript.update(message);
        // The application secrets hash the transcript through the server's
        // Finished; our own Finished covers our certificate messages too.
        let transcript = self.transcript.current()?;
        let schedule = self.schedule.as_mut().ok_or(TlsError::UnexpectedMessage)?;
        schedule.enter_master(self.provider)?;
        let client = schedule.derive(self.provider, b"c ap traffic", transcript.as_bytes())?;
        let server = schedule.derive(self.provider, b"s ap traffic", transcript.as_bytes())?;
        if self.send_client_certificate(false)? {
            self.send_certificate_verify()?;
        }
        let transcript = self.transcript.current()?;
        let client_handshake = self
            .client_secret
            .take()
            .ok_or(TlsError::UnexpectedMessage)?;
        let verify_data = finished_verify_data(
            self.provider,
            hash_algorithm,
            client_handshake.as_bytes(),
            transcript.as_bytes(),
        )?;
        let mut finished = [0u8; 4 + 48];
        finished[0] = handshake_type::FINISHED;
        finished[3] = verify_data.len() as u8;
        finished[4..4 + verify_data.len()].copy_from_slice(verify_data.as_bytes());
        let finished = &finished[..4 + verify_data.len()];
        self.send_record(ContentType::Handshake, finished)?;
        // resumption_master_secret covers our Finished too (section 7.1).
        self.transcript.update(finished);
        let through_finished = self.transcript.current()?;
        if let Some(schedule) = &self.schedule {
            self.resumption_secret =
                Some(schedule.derive(self.provider, b"res master", through_finished.as_bytes())?);
        }
        self.read = Some(self.protection(&server)?);
        self.write = Some(self.protection(&client)?);
        self.client_secret = Some(client);
        self.server_secret = Some(server);
        self.schedule = None;
        self.state = State::Connected;
        Ok(())
    }

    /// NewSessionTicket (section 4.6.1): the PSK for this ticket, and both
    /// into the caller's store, if there is one.
    fn handle_new_session_ticket(&mut self, body: &[u8]) -> Result<(), TlsError> {
        let mut r = Reader::new(body);
        let lifetime_secs = r.u32()?;
        let age_add = r.u32()?;
        let nonce = r.vec_u8()?;
        let ticket = r.vec_u16()?;
        let _extensions = r.vec_u16()?;
        r.finish()?;
        if ticket.is_empty() {
            return Err(TlsError::Decode);
        }
        // Section 4.6.1: servers MUST NOT use any value greater than 7 days.
        if lifetime_secs > 7 * 24 * 3600 {
            return Err(TlsError::IllegalParameter);
        }
        let (Some(store), Some(secret)) = (self.ticket_store.as_mut(), &self.resumption_secret)
        else {
            return Ok(());
        };
        if lifetime_secs == 0 {
            return Ok(());
        }
        let hash = self.suite.hash();
        let mut psk = [0u8; super::session::MAX_PSK_LEN];
        let psk = &mut psk[..hash.output_len()];
        hkdf_expand_label(
            self.provider,
            hash,
            secret.as_bytes(),
            b"resumption",
            nonce,
            psk,
        )?;
        store.store(&SessionTicket {
            ticket,
            psk,
            suite: self.suite,
            age_add,
            lifetime_secs,
            received_at_unix: self.config.now_unix_secs,
        });
        Ok(())
    }

    /// KeyUpdate (section 4.6.3): the server's next traffic secret; if it
    /// asks, ours too, after telling it.
    fn handle_key_update(&mut self, body: &[u8]) -> Result<(), TlsError> {
        let request_update = match body {
            [0] => false,
            [1] => true,
            _ => return Err(TlsError::IllegalParameter),
        };
        let hash = self.suite.hash();
        let server = self
            .server_secret
            .as_ref()
            .ok_or(TlsError::UnexpectedMessage)?;
        let server = next_traffic_secret(self.provider, hash, server.as_bytes())?;
        self.read = Some(self.protection(&server)?);
        self.server_secret = Some(server);
        if request_update {
            self.send_record(
                ContentType::Handshake,
                &[handshake_type::KEY_UPDATE, 0, 0, 1, 0],
            )?;
            let client = self
                .client_secret
                .as_ref()
                .ok_or(TlsError::UnexpectedMessage)?;
            let client = next_traffic_secret(self.provider, hash, client.as_bytes())?;
            self.write = Some(self.protection(&client)?);
            self.client_secret = Some(client);
        }
        Ok(())
    }

    /// Queues one handshake message of `len` bytes, which `fill` writes
    /// straight into the send buffer: into the transcript, then out as one
    /// record (protected when write keys exist). For messages too long for
    /// a stack buffer (our certificate chain).
    fn send_handshake_with(
        &mut self,
        len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<(), TlsError> {
        if len <= self.fragment_limit {
            let (at, total) = match &self.write {
                Some(protection) => (protection.content_offset(), protection.sealed_len(len)),
                None => (HEADER_LEN, HEADER_LEN + len),
            };
            let out = &mut self.send[self.pending..];
            if out.len() < total {
                return Err(TlsError::BufferTooSmall);
            }
            fill(&mut out[at..at + len]);
            self.transcript.update(&out[at..at + len]);
            let written = match &mut self.write {
                Some(protection) => protection.seal(ContentType::Handshake, out, len)?,
                None => {
                    record::write_header(out, ContentType::Handshake, len);
                    HEADER_LEN + len
                }
            };
            self.pending += written;
            return Ok(());
        }
        // Longer than a record may be (max_fragment_length): written at the
        // end of the send buffer first, then cut into records in front of
        // it (section 5.1 lets a message span records).
        let scratch = self
            .send
            .len()
            .checked_sub(len)
            .filter(|&at| at >= self.pending)
            .ok_or(TlsError::BufferTooSmall)?;
        fill(&mut self.send[scratch..]);
        self.transcript.update(&self.send[scratch..]);
        let mut done = 0;
        while done < len {
            let chunk = (len - done).min(self.fragment_limit);
            let (at, total) = match &self.write {
                Some(protection) => (protection.content_offset(), protection.sealed_len(chunk)),
                None => (HEADER_LEN, HEADER_LEN + chunk),
            };
            if self.pending + total > scratch + done {
                return Err(TlsError::BufferTooSmall);
            }
            let from = scratch + done;
            copy_within(self.send, from..from + chunk, self.pending + at);
            let out = &mut self.send[self.pending..];
            self.pending += match &mut self.write {
                Some(protection) => protection.seal(ContentType::Handshake, out, chunk)?,
                None => {
                    record::write_header(out, ContentType::Handshake, chunk);
                    HEADER_LEN + chunk
                }
            };
            done += chunk;
        }
        Ok(())
    }

    /// Queues one record of `content`, protected when write keys exist.
    fn send_record(&mut self, content_type: ContentType, content: &[u8]) -> Result<(), TlsError> {
        let out = &mut self.send[self.pending..];
        let len = match &mut self.write {
            Some(protection) => {
                if out.len() < protection.sealed_len(content.len()) {
                    return Err(TlsError::BufferTooSmall);
                }
                let at = protection.content_offset();
                out[at..at + content.len()].copy_from_slice(content);
                protection.seal(content_type, out, content.len())?
            }
            None => {
                let record = out
                    .get_mut(..HEADER_LEN + content.len())
                    .ok_or(TlsError::BufferTooSmall)?;
                record::write_header(record, content_type, content.len());
                record[HEADER_LEN..].copy_from_slice(content);
                record.len()
            }
        };
        self.pending += len;
        Ok(())
    }

    /// Encrypts as much of `data` as fits in the send buffer; returns how
    /// many bytes were taken.
    pub fn write_application_data(&mut self, data: &[u8]) -> Result<usize, TlsError> {
        if self.state != State::Connected || self.close_sent {
            return Err(TlsError::NotConnected);
        }
        let mut taken = 0;
        while taken < data.len() {
            let Some(protection) = &mut self.write else {
                return Err(TlsError::NotConnected);
            };
            let room = self.send.len() - self.pending;
            let overhead = protection.sealed_len(0);
            if room <= overhead {
                break;
            }
            let chunk = (data.len() - taken)
                .min(room - overhead)
                .min(self.fragment_limit);
            let out = &mut self.send[self.pending..];
            let at = protection.content_offset();
            out[at..at + chunk].copy_from_slice(&data[taken..taken + chunk]);
            self.pending += protection.seal(ContentType::ApplicationData, out, chunk)?;
            taken += chunk;
        }
        Ok(taken)
    }

    /// Copies decrypted application data into `out`; returns how many
    /// bytes were copied (0 when none is waiting).
    pub fn read_application_data(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.application.len());
        let start = self.application.start;
        out[..n].copy_from_slice(&self.receive[start..start + n]);
        self.application.start += n;
        if self.application.is_empty() && self.application_record_end != 0 {
            self.drain_receive(self.application_record_end);
            self.application_record_end = 0;
            self.application = 0..0;
        }
        n
    }

    /// Queues close_notify (section 6.1); nothing more can be written.
    pub fn send_close_notify(&mut self) -> Result<(), TlsError> {
        if self.close_sent {
            return Ok(());
        }
        self.send_record(
            ContentType::Alert,
            &[1, AlertDescription::CloseNotify.to_u8()],
        )?;
        self.close_sent = true;
        Ok(())
    }

    /// Ends the connection on `error`, queueing the fatal alert it calls for.
    fn fail(&mut self, error: TlsError) {
        self.state = State::Failed(error);
        self.ephemeral = None;
        self.schedule = None;
        self.client_secret = None;
        self.server_secret = None;
        self.read = None;
        self.tls12 = tls12::Handshake::new();
        if let Some(alert) = error.alert()
            && !self.close_sent
        {
            // Best effort: the error is reported whether or not it fits.
            let _ = self.send_record(ContentType::Alert, &[2, alert.to_u8()]);
            self.close_sent = true;
        }
        self.write = None;
    }
}

/// What goes into a ClientHello beyond the fixed offer.
#[derive(Clone, Copy)]
struct ClientHelloFields<'h> {
    random: &'h [u8; 32],
    key_share_group: u16,
    key_share: &'h [u8],
    cookie: Option<&'h [u8]>,
    server_name: Option<&'h str>,
    alpn_protocols: &'h [&'h [u8]],
    max_fragment_length: Option<MaxFragmentLength>,
    /// Our record_size_limit as offered (TLS 1.3 counting: plaintext + 1).
    record_size_limit: Option<u16>,
    psk: Option<PskOffer<'h>>,
    session_id: &'h [u8],
    /// The TLS 1.2 session_ticket extension: empty (we take tickets) or a
    /// ticket to resume with.
    session_ticket: &'h [u8],
}

/// A session offered for resumption: one identity and room for its binder.
#[derive(Clone, Copy)]
struct PskOffer<'h> {
    identity: &'h [u8],
    obfuscated_age: u32,
    binder_len: usize,
}

/// The data of the first extension of type `wanted` in an extension list.
fn find_extension(extensions: &[u8], wanted: u16) -> Result<Option<&[u8]>, TlsError> {
    let mut e = Reader::new(extensions);
    while !e.is_empty() {
        let extension_type = e.u16()?;
        let data = e.vec_u16()?;
        if extension_type == wanted {
            return Ok(Some(data));
        }
    }
    Ok(None)
}

/// ClientHello (section 4.1.2): TLS 1.3 and 1.2, every suite of
/// [`CipherSuite::ALL`], a secp256r1 key share (which a TLS 1.2 server
/// never sees; its ECDHE reuses the key), SNI and ALPN when given. Returns
/// the message length.
fn write_client_hello(
    w: &mut Writer<'_>,
    hello: &ClientHelloFields<'_>,
) -> Result<usize, TlsError> {
    let ClientHelloFields {
        random,
        key_share_group,
        key_share,
        cookie,
        server_name,
        alpn_protocols,
        max_fragment_length,
        record_size_limit,
        psk,
        session_id,
        session_ticket,
    } = *hello;
    w.u8(handshake_type::CLIENT_HELLO)?;
    let message = w.start(3)?;
    w.u16(0x0303)?; // legacy_version
    w.put(random)?;
    // legacy_session_id: empty (no middlebox compatibility mode), or made up
    // for a TLS 1.2 ticket.
    w.u8(session_id.len() as u8)?;
    w.put(session_id)?;
    let suites = w.start(2)?;
    for suite in CipherSuite::ALL {
        w.u16(suite.to_u16())?;
    }
    w.end(suites, 2)?;
    w.put(&[1, 0])?; // legacy_compression_methods: null only
    let extensions = w.start(2)?;

    if let Some(name) = server_name {
        // RFC 6066 section 3: ServerNameList of one host_name.
        w.u16(extension::SERVER_NAME)?;
        let data = w.start(2)?;
        let list = w.start(2)?;
        w.u8(0)?;
        let host = w.start(2)?;
        w.put(name.as_bytes())?;
        w.end(host, 2)?;
        w.end(list, 2)?;
        w.end(data, 2)?;
    }

    if let Some(limit) = max_fragment_length {
        w.u16(extension::MAX_FRAGMENT_LENGTH)?;
        w.put(&[0, 1, limit.code()])?;
    }

    if let Some(limit) = record_size_limit {
        w.u16(extension::RECORD_SIZE_LIMIT)?;
        w.put(&[0, 2])?;
        w.u16(limit)?;
    }

    w.u16(extension::SUPPORTED_VERSIONS)?;
    w.put(&[0, 5, 4])?;
    w.u16(TLS13)?;
    w.u16(TLS12)?;

    // For a TLS 1.2 server (TLS 1.3 ones ignore them): uncompressed points
    // only (RFC 8422 section 5.1.2), the extended master secret (RFC 7627
    // section 5.1), and no connection to renegotiate (RFC 5746 section 3.4).
    w.u16(extension::EC_POINT_FORMATS)?;
    w.put(&[0, 2, 1, 0])?;
    w.u16(extension::EXTENDED_MASTER_SECRET)?;
    w.put(&[0, 0])?;
    w.u16(extension::RENEGOTIATION_INFO)?;
    w.put(&[0, 1, 0])?;
    w.u16(extension::SESSION_TICKET)?;
    let ticket = w.start(2)?;
    w.put(session_ticket)?;
    w.end(ticket, 2)?;

    w.u16(extension::SUPPORTED_GROUPS)?;
    let data = w.start(2)?;
    let list = w.start(2)?;
    for code in GROUPS.into_iter().filter_map(group_code) {
        w.u16(code)?;
    }
    w.end(list, 2)?;
    w.end(data, 2)?;

    if let Some(cookie) = cookie {
        // Echoed from the HelloRetryRequest (section 4.2.2).
        w.u16(extension::COOKIE)?;
        let data = w.start(2)?;
        let value = w.start(2)?;
        w.put(cookie)?;
        w.end(value, 2)?;
        w.end(data, 2)?;
    }

    w.u16(extension::SIGNATURE_ALGORITHMS)?;
    let data = w.start(2)?;
    let list = w.start(2)?;
    for scheme in SIGNATURE_ALGORITHMS {
        w.u16(scheme)?;
    }
    w.end(list, 2)?;
    w.end(data, 2)?;

    w.u16(extension::KEY_SHARE)?;
    let data = w.start(2)?;
    let shares = w.start(2)?;
    w.u16(key_share_group)?;
    let share = w.start(2)?;
    w.put(key_share)?;
    w.end(share, 2)?;
    w.end(shares, 2)?;
    w.end(data, 2)?;

    if !alpn_protocols.is_empty() {
        w.u16(extension::ALPN)?;
        let data = w.start(2)?;
        let list = w.start(2)?;
        for protocol in alpn_protocols {
            if protocol.is_empty() {
                return Err(TlsError::IllegalParameter);
            }
            let name = w.start(1)?;
            w.put(protocol)?;
            w.end(name, 1)?;
        }
        w.end(list, 2)?;
        w.end(data, 2)?;
    }

    if let Some(offer) = psk {
        // psk_dhe_ke only: a resumed session still gets fresh (EC)DHE keys.
        w.u16(extension::PSK_KEY_EXCHANGE_MODES)?;
        w.put(&[0, 2, 1, 1])?;
        // Last of all (section 4.2.11); the binder is filled in afterwards.
        w.u16(extension::PRE_SHARED_KEY)?;
        let data = w.start(2)?;
        let identities = w.start(2)?;
        let identity = w.start(2)?;
        w.put(offer.identity)?;
        w.end(identity, 2)?;
        w.put(&offer.obfuscated_age.to_be_bytes())?;
        w.end(identities, 2)?;
        let binders = w.start(2)?;
        w.u8(offer.binder_len as u8)?;
        w.put(&[0; 48][..offer.binder_len])?;
        w.end(binders, 2)?;
        w.end(data, 2)?;
    }

    w.end(extensions, 2)?;
    w.end(message, 3)?;
    Ok(w.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::convert::Infallible;
    use duet_crypto::soft::Soft;
    use rand_core::{TryCryptoRng, TryRng};

    /// A counter, enough for parsing tests that never finish a handshake.
    struct CountingRng(u8);

    impl TryRng for CountingRng {
        type Error = Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Infallible> {
            self.0 = self.0.wrapping_add(1);
            Ok(u32::from(self.0) | 0x0100_0000)
        }
        fn try_next_u64(&mut self) -> Result<u64, Infallible> {
            Ok(u64::from(self.try_next_u32()?) << 8 | 1)
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
            for byte in dst {
                self.0 = self.0.wrapping_add(1);
                *byte = self.0 | 1;
            }
            Ok(())
        }
    }

    impl TryCryptoRng for CountingRng {}

    struct Memory {
        receive: [u8; 2048],
        send: [u8; 2048],
        handshake: [u8; 1024],
        certificate: [u8; 16],
    }

    fn memory() -> Memory {
        Memory {
            receive: [0; 2048],
            send: [0; 2048],
            handshake: [0; 1024],
            certificate: [0; 16],
        }
    }

    fn connect<'a>(soft: &'a Soft, memory: &'a mut Memory) -> ClientConnection<'a, Soft> {
        ClientConnection::new(
            soft,
            ClientConfig {
                server_name: "hub.azure-devices.test",
                trust_anchors: &[],
                now_unix_secs: 0,
                alpn_protocols: &[b"mqtt"],
                resume: None,
                max_fragment_length: None,
                record_size_limit: None,
                client_certificate: None,
            },
            Buffers {
                receive: &mut memory.receive,
                send: &mut memory.send,
                handshake: &mut memory.handshake,
                certificate: &mut memory.certificate,
            },
            &mut CountingRng(0),
        )
        .unwrap()
    }

    #[test]
    fn record_size_limit_is_offered_and_the_servers_is_checked_and_applied() {
        let soft: Soft = Soft::new();
        let mut mem = memory();
        let mut connection = connect(&soft, &mut mem);
        // Not offered: the server may not send one.
        assert_eq!(
            connection.accept_record_size_limit(&[2, 0]),
            Err(TlsError::UnsupportedExtension)
        );
        connection.config.record_size_limit = Some(512);
        assert_eq!(
            connection.accept_record_size_limit(&[0, 63]),
            Err(TlsError::IllegalParameter),
            "below RFC 8449's floor of 64"
        );
        assert_eq!(
            connection.accept_record_size_limit(&[2]),
            Err(TlsError::Decode)
        );
        // TLS 1.3 counts the content type: 1024 taken means 1023 sent.
        connection.accept_record_size_limit(&[4, 0]).unwrap();
        assert_eq!(connection.fragment_limit, 1023);
        assert_eq!(connection.receive_limit, 512);
        assert!(!connection.receive_limit_unprotected);
        // More than TLS allows is capped.
        connection.accept_record_size_limit(&[0xff, 0xff]).unwrap();
        assert_eq!(connection.fragment_limit, MAX_PLAINTEXT_LEN);

        // The ClientHello offers our limit plus one (TLS 1.3 counting).
        let config = connection.config;
        let mut mem = memory();
        let offered = ClientConnection::new(
            &soft,
            ClientConfig {
                record_size_limit: Some(512),
                ..config
            },
            Buffers {
                receive: &mut mem.receive,
                send: &mut mem.send,
                handshake: &mut mem.handshake,
                certificate: &mut mem.certificate,
            },
            &mut CountingRng(0),
        )
        .unwrap();
        let hello = offered.pending_tls();
        assert!(
            hello.windows(6).any(|w| w == [0, 28, 0, 2, 0x02, 0x01]),
            "record_size_limit 513 in the ClientHello"
        );
    }

    /// A plaintext handshake record around `message`.
    fn feed(
        connection: &mut ClientConnection<'_, Soft>,
        message: &[u8],
    ) -> Result<Option<Event>, TlsError> {
        let mut header = [0u8; HEADER_LEN];
        record::write_header(&mut header, ContentType::Handshake, message.len());
        connection.read_tls(&header);
        connection.read_tls(message);
        connection.process()
    }

    /// A ServerHello with the given random tail, version and share group.
    fn server_hello(
        random_tail: &[u8; 8],
        version: u16,
        group: u16,
    ) -> [u8; 4 + 2 + 32 + 1 + 3 + 2 + 6 + 73] {
        let mut m = [0u8; 4 + 2 + 32 + 1 + 3 + 2 + 6 + 73];
        let mut w = Writer::new(&mut m);
        w.u8(handshake_type::SERVER_HELLO).unwrap();
        let body = w.start(3).unwrap();
        w.u16(0x0303).unwrap();
        w.put(&[7; 24]).unwrap();
        w.put(random_tail).unwrap();
        w.u8(0).unwrap();
        w.u16(0x1301).unwrap();
        w.u8(0).unwrap();
        let extensions = w.start(2).unwrap();
        w.u16(extension::SUPPORTED_VERSIONS).unwrap();
        w.put(&[0, 2]).unwrap();
        w.u16(version).unwrap();
        w.u16(extension::KEY_SHARE).unwrap();
        w.put(&[0, 69]).unwrap();
        w.u16(group).unwrap();
        w.put(&[0, 65, 4]).unwrap();
        w.put(&[9; 64]).unwrap();
        w.end(extensions, 2).unwrap();
        w.end(body, 3).unwrap();
        m
    }

    #[test]
    fn client_hello_offers_both_versions_their_suites_sni_and_alpn() {
        let soft: Soft = Soft::new();
        let mut memory = memory();
        let connection = connect(&soft, &mut memory);
        let hello = connection.pending_tls();
        assert_eq!(hello[..3], [22, 3, 3]);
        assert_eq!(hello[HEADER_LEN], handshake_type::CLIENT_HELLO);
        let contains = |needle: &[u8]| hello.windows(needle.len()).any(|w| w == needle);
        assert!(contains(b"hub.azure-devices.test"));
        // supported_versions: TLS 1.3, then 1.2.
        assert!(contains(&[0, 43, 0, 5, 4, 3, 4, 3, 3]));
        assert!(contains(&[
            0, 12, 0x13, 1, 0x13, 2, 0xc0, 0x2b, 0xc0, 0x2c, 0xc0, 0x2f, 0xc0, 0x30
        ]));
        // For TLS 1.2: uncompressed points, extended master secret, an
        // empty renegotiation_info.
        assert!(contains(&[0, 11, 0, 2, 1, 0]));
        assert!(contains(&[0, 23, 0, 0]));
        assert!(contains(&[0xff, 1, 0, 1, 0]));
        assert!(contains(&[0, 51, 0, 71, 0, 69, 0, 0x17, 0, 65, 4]));
        assert!(contains(&[0, 16, 0, 7, 0, 5, 4, b'm', b'q', b't', b't']));
        assert!(connection.is_handshaking());
    }

    #[test]
    fn unexpected_messages_fail_with_an_alert() {
        let soft: Soft = Soft::new();
        let mut memory = memory();
        let mut connection = connect(&soft, &mut memory);
        let sent = connection.pending_tls().len();
        connection.tls_sent(sent);
        let finished = [handshake_type::FINISHED, 0, 0, 4, 0, 0, 0, 0];
        assert_eq!(
            feed(&mut connection, &finished),
            Err(TlsError::UnexpectedMessage)
        );
        // The fatal alert went out in plaintext, and the failure sticks.
        assert_eq!(connection.pending_tls(), [21, 3, 3, 0, 2, 2, 10]);
        assert_eq!(connection.process(), Err(TlsError::UnexpectedMessage));
        assert!(!connection.is_handshaking());
    }

    #[test]
    fn server_hello_rejections() {
        let soft: Soft = Soft::new();
        // A ServerHello cut short, with its length fixed to match.
        let mut truncated = [0u8; 60];
        truncated.copy_from_slice(&server_hello(&[5; 8], 0x0304, 0x0017)[..60]);
        truncated[1..4].copy_from_slice(&[0, 0, 56]);
        let cases: [(&[u8], TlsError); 5] = [
            (
                &server_hello(&[5; 8], 0x0304, 0x001d),
                TlsError::IllegalParameter,
            ),
            (
                &server_hello(b"DOWNGRD\x01", 0x0303, 0x0017),
                TlsError::Downgrade,
            ),
            (
                &server_hello(&[5; 8], 0x0303, 0x0017),
                TlsError::ProtocolVersion,
            ),
            // Not a point on P-256.
            (
                &server_hello(&[5; 8], 0x0304, 0x0017),
                TlsError::IllegalParameter,
            ),
            (&truncated, TlsError::Decode),
        ];
        for (message, error) in cases {
            let mut memory = memory();
            let mut connection = connect(&soft, &mut memory);
            assert_eq!(feed(&mut connection, message), Err(error));
        }
    }

    /// A HelloRetryRequest for TLS_AES_128_GCM_SHA256 with the given
    /// extensions after supported_versions; returns the buffer and length.
    fn hello_retry(extensions: &[u8]) -> ([u8; 128], usize) {
        let mut m = [0u8; 128];
        let mut w = Writer::new(&mut m);
        w.u8(handshake_type::SERVER_HELLO).unwrap();
        let body = w.start(3).unwrap();
        w.u16(0x0303).unwrap();
        w.put(&HELLO_RETRY_REQUEST_RANDOM).unwrap();
        w.u8(0).unwrap();
        w.u16(0x1301).unwrap();
        w.u8(0).unwrap();
        let list = w.start(2).unwrap();
        w.put(&[0, 43, 0, 2, 3, 4]).unwrap();
        w.put(extensions).unwrap();
        w.end(list, 2).unwrap();
        w.end(body, 3).unwrap();
        let len = w.len();
        (m, len)
    }

    #[test]
    fn hello_retry_request_for_p384_sends_a_second_client_hello() {
        let soft: Soft = Soft::new();
        let mut memory = memory();
        let mut connection = connect(&soft, &mut memory);
        let first = connection.pending_tls().to_vec();
        connection.tls_sent(first.len());
        let cookie = [0, 44, 0, 6, 0, 4, 0xc0, 0x0c, 0x1e, 0x55];
        let mut extensions = [0u8; 16];
        extensions[..6].copy_from_slice(&[0, 51, 0, 2, 0, 0x18]);
        extensions[6..].copy_from_slice(&cookie);
        let (retry, len) = hello_retry(&extensions);
        assert_eq!(feed(&mut connection, &retry[..len]), Ok(None));
        let second = connection.pending_tls();
        assert_eq!(second[HEADER_LEN], handshake_type::CLIENT_HELLO);
        // The same random, a P-384 share, the cookie echoed.
        assert_eq!(
            second[HEADER_LEN + 6..HEADER_LEN + 38],
            first[HEADER_LEN + 6..HEADER_LEN + 38]
        );
        let contains = |needle: &[u8]| second.windows(needle.len()).any(|w| w == needle);
        assert!(contains(&[0, 51, 0, 103, 0, 101, 0, 0x18, 0, 97, 4]));
        assert!(contains(&cookie));
        // A second HelloRetryRequest is one too many.
        let sent = connection.pending_tls().len();
        connection.tls_sent(sent);
        assert_eq!(
            feed(&mut connection, &retry[..len]),
            Err(TlsError::UnexpectedMessage)
        );
    }

    #[test]
    fn hello_retry_request_rejections() {
        let soft: Soft = Soft::new();
        let cases: [(&[u8], TlsError); 4] = [
            // P-256: we already sent that share.
            (&[0, 51, 0, 2, 0, 0x17], TlsError::IllegalParameter),
            // X25519: never offered.
            (&[0, 51, 0, 2, 0, 0x1d], TlsError::IllegalParameter),
            // Nothing would change.
            (&[], TlsError::IllegalParameter),
            // An extension a HelloRetryRequest may not carry.
            (&[0, 16, 0, 0], TlsError::UnsupportedExtension),
        ];
        for (extensions, error) in cases {
            let mut memory = memory();
            let mut connection = connect(&soft, &mut memory);
            let (retry, len) = hello_retry(extensions);
            assert_eq!(
                feed(&mut connection, &retry[..len]),
                Err(error),
                "{extensions:?}"
            );
        }
    }

    /// A TLS 1.2 ServerHello (no supported_versions) with `suite` and the
    /// given extension bytes; returns the buffer and the message length.
    fn tls12_server_hello(
        random_tail: &[u8; 8],
        suite: u16,
        extensions: &[u8],
    ) -> ([u8; 128], usize) {
        let mut m = [0u8; 128];
        let mut w = Writer::new(&mut m);
        w.u8(handshake_type::SERVER_HELLO).unwrap();
        let body = w.start(3).unwrap();
        w.u16(0x0303).unwrap();
        w.put(&[7; 24]).unwrap();
        w.put(random_tail).unwrap();
        w.put(&[4, 1, 2, 3, 4]).unwrap(); // a session id
        w.u16(suite).unwrap();
        w.u8(0).unwrap();
        let list = w.start(2).unwrap();
        w.put(extensions).unwrap();
        w.end(list, 2).unwrap();
        w.end(body, 3).unwrap();
        let len = w.len();
        (m, len)
    }

    const EMS: &[u8] = &[0, 23, 0, 0];
    const RENEGOTIATION_INFO: &[u8] = &[0xff, 1, 0, 1, 0];

    #[test]
    fn tls12_server_hello_is_accepted_with_the_extended_master_secret() {
        let soft: Soft = Soft::new();
        let mut memory = memory();
        let mut connection = connect(&soft, &mut memory);
        let mut extensions = [0u8; 19];
        extensions[..5].copy_from_slice(RENEGOTIATION_INFO);
        extensions[5..9].copy_from_slice(EMS);
        extensions[9..15].copy_from_slice(&[0, 11, 0, 2, 1, 0]);
        extensions[15..].copy_from_slice(&[0, 0, 0, 0]); // SNI acknowledged
        let (hello, len) = tls12_server_hello(&[5; 8], 0xc02f, &extensions);
        assert_eq!(feed(&mut connection, &hello[..len]), Ok(None));
        assert_eq!(
            connection.cipher_suite(),
            CipherSuite::EcdheRsaAes128GcmSha256
        );
        assert_eq!(connection.state, State::Tls12WaitCertificate);
        // The certificate must come before the key exchange.
        let key_exchange = [handshake_type::SERVER_KEY_EXCHANGE, 0, 0, 1, 3];
        assert_eq!(
            feed(&mut connection, &key_exchange),
            Err(TlsError::UnexpectedMessage)
        );
    }

    #[test]
    fn tls12_server_hello_rejections() {
        let soft: Soft = Soft::new();
        let mut both = [0u8; 9];
        both[..5].copy_from_slice(RENEGOTIATION_INFO);
        both[5..].copy_from_slice(EMS);
        let cases: [(&[u8; 8], u16, &[u8], TlsError); 7] = [
            // The server supports TLS 1.3, which we offered.
            (b"DOWNGRD\x01", 0xc02b, &both, TlsError::Downgrade),
            (b"DOWNGRD\x00", 0xc02b, &both, TlsError::Downgrade),
            (
                &[5; 8],
                0xc02b,
                RENEGOTIATION_INFO,
                TlsError::NoExtendedMasterSecret,
            ),
            (
                &[5; 8],
                0xc02b,
                &[0xff, 1, 0, 2, 1, 9, 0, 23, 0, 0],
                TlsError::InsecureRenegotiation,
            ),
            // A TLS 1.3 suite, or one we never offered (RSA key transport).
            (&[5; 8], 0x1301, &both, TlsError::IllegalParameter),
            (&[5; 8], 0x009c, &both, TlsError::IllegalParameter),
            // key_share belongs to TLS 1.3.
            (
                &[5; 8],
                0xc02b,
                &[0, 23, 0, 0, 0, 51, 0, 2, 0, 0x17],
                TlsError::UnsupportedExtension,
            ),
        ];
        for (tail, suite, extensions, error) in cases {
            let mut memory = memory();
            let mut connection = connect(&soft, &mut memory);
            let (hello, len) = tls12_server_hello(tail, suite, extensions);
            assert_eq!(
                feed(&mut connection, &hello[..len]),
                Err(error),
                "{error:?}"
            );
        }
    }

    #[test]
    fn alerts_and_oversized_records() {
        let soft: Soft = Soft::new();
        let mut memory = memory();
        let mut connection = connect(&soft, &mut memory);
        connection.read_tls(&[21, 3, 3, 0, 2, 2, 40]);
        assert_eq!(
            connection.process(),
            Err(TlsError::AlertReceived(AlertDescription::HandshakeFailure))
        );

        let mut memory = crate::tls::client::tests::memory();
        let mut connection = connect(&soft, &mut memory);
        connection.read_tls(&[22, 3, 3, 0x41, 0x01]);
        assert_eq!(connection.process(), Err(TlsError::RecordOverflow));

        let mut memory = crate::tls::client::tests::memory();
        let mut connection = connect(&soft, &mut memory);
        connection.read_tls(&[22, 3, 3, 0x40, 0x00]);
        assert_eq!(connection.process(), Err(TlsError::BufferTooSmall));

        let mut memory = crate::tls::client::tests::memory();
        let mut connection = connect(&soft, &mut memory);
        connection.read_tls(&[23, 3, 3, 0, 1, 0]);
        assert_eq!(connection.process(), Err(TlsError::UnexpectedMessage));
        assert_eq!(
            connection.write_application_data(b"x"),
            Err(TlsError::NotConnected)
        );
    }
}
