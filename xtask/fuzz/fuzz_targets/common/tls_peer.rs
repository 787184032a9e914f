//! What the TLS targets share: the client under test, set up from the
//! input's options byte, and the server's fixed parts (the test PKI's root
//! and the server's signing key), deterministic randomness on both sides,
//! the input's records, the loop that hands the client bytes and records
//! what it does, and the run of one or two (resuming) connections.

use std::sync::OnceLock;

use duet::crypto::soft::Soft;
use duet::crypto::x509::{TrustAnchor, trust_anchor_from_der};
use duet::crypto::{
    Aead, HashAlgorithm, Hasher, KeyHandle, KeyStore, KeyType, SignatureFormat, SignatureScheme,
    Signer,
};
use duet::tls::record::{ContentType, RecordProtection};
use duet::tls::{
    Buffers, CipherSuite, ClientConfig, ClientConnection, Event, MaxFragmentLength, SessionTicket,
    TicketSlot,
};
use rand_core::{TryCryptoRng, TryRng};

const ROOT_CA: &[u8] = include_bytes!("../../../../certs/test/root-ca.der");
const SERVER_KEY: &str = include_str!("../../../../certs/test/server-p256.key");
const SERVER_NAME: &str = "hub.azure-devices.test";
/// 2026-01-01T00:00:00Z, inside the test PKI's validity.
const NOW: u64 = 1_767_225_600;
/// Where the server's signing key sits in the provider.
const SIGNING_KEY: KeyHandle = KeyHandle(0);

/// The options byte's bits that both targets read the same way.
pub mod option {
    /// The suite with SHA-384 rather than SHA-256.
    pub const SHA384: u8 = 1;
    pub const ALPN: u8 = 2;
    pub const MAX_FRAGMENT_LENGTH: u8 = 4;
    pub const RECORD_SIZE_LIMIT: u8 = 8;
    /// The client keeps the tickets it gets.
    pub const TICKETS: u8 = 16;
    /// A second connection offers the first one's ticket...
    pub const RESUME: u8 = 32;
    /// ...and the server takes it.
    pub const ACCEPT_RESUMPTION: u8 = 64;
}

/// xorshift64: the same input makes the same keys on both sides.
pub struct Xorshift(pub u64);

impl TryRng for Xorshift {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(self.try_next_u64()? as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Ok(self.0)
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dest.chunks_mut(8) {
            let bytes = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        Ok(())
    }
}

impl TryCryptoRng for Xorshift {}

/// The test server's P-256 scalar, from its PKCS#8 PEM: the 32 bytes after
/// the ECPrivateKey's `version 1, OCTET STRING (32)`.
fn server_scalar() -> Option<[u8; 32]> {
    let base64: String = SERVER_KEY
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    let mut der = [0u8; 256];
    let len = duet_azure::base64::decode(&base64, &mut der).ok()?;
    let der = &der[..len];
    let at = der.windows(5).position(|w| w == [2, 1, 1, 4, 32])? + 5;
    der.get(at..at + 32)?.try_into().ok()
}

/// A run's fixed parts: the provider both sides use (holding the server's
/// signing key), the client's trust anchor, the options byte.
pub struct Setup {
    pub soft: Soft,
    pub anchors: [TrustAnchor<'static>; 1],
    pub options: u8,
}

impl Setup {
    pub fn new(options: u8) -> Option<Setup> {
        let mut soft: Soft = Soft::new();
        soft.import_key(SIGNING_KEY, KeyType::P256, &server_scalar()?)
            .ok()?;
        Some(Setup {
            soft,
            anchors: [trust_anchor_from_der(ROOT_CA).ok()?],
            options,
        })
    }

    pub fn has(&self, option: u8) -> bool {
        self.options & option != 0
    }

    /// The suite the server picks: `sha384` with `option::SHA384`.
    pub fn suite(&self, sha256: CipherSuite, sha384: CipherSuite) -> CipherSuite {
        if self.has(option::SHA384) {
            sha384
        } else {
            sha256
        }
    }

    /// The client's configuration: the test server's name, what the
    /// options ask for, and `resume`.
    pub fn config<'a>(&'a self, resume: Option<SessionTicket<'a>>) -> ClientConfig<'a> {
        let alpn: &[&[u8]] = if self.has(option::ALPN) {
            &[b"mqtt"]
        } else {
            &[]
        };
        ClientConfig {
            server_name: SERVER_NAME,
            trust_anchors: &self.anchors,
            now_unix_secs: NOW,
            alpn_protocols: alpn,
            resume,
            max_fragment_length: self
                .has(option::MAX_FRAGMENT_LENGTH)
                .then_some(MaxFragmentLength::Bytes2048),
            record_size_limit: self.has(option::RECORD_SIZE_LIMIT).then_some(1024),
            client_certificate: None,
        }
    }
}

/// The client of one more connection, with `resume`, keeping its tickets
/// in `tickets` if the options say so; its first flight (the ClientHello)
/// is pending, and `seen` starts counting for it.
pub fn client<'a>(
    setup: &'a Setup,
    resume: Option<SessionTicket<'a>>,
    memory: &'a mut Memory,
    rng: &mut Xorshift,
    tickets: &'a mut TicketSlot<256>,
    seen: &mut Seen,
) -> Option<ClientConnection<'a, Soft>> {
    seen.connections += 1;
    seen.sent.clear();
    let mut client =
        ClientConnection::new(&setup.soft, setup.config(resume), memory.buffers(), rng).ok()?;
    if setup.has(option::TICKETS) {
        client.store_tickets_in(tickets);
    }
    Some(client)
}

/// Takes the next `[op][length: u16][content]` off `records` (a length
/// past the end takes what is left).
pub fn next_record<'r>(records: &mut &'r [u8]) -> Option<(u8, &'r [u8])> {
    let [op, a, b, rest @ ..] = *records else {
        return None;
    };
    let len = usize::from(u16::from_be_bytes([*a, *b])).min(rest.len());
    let (content, next) = rest.split_at(len);
    *records = next;
    Some((*op, content))
}

/// One connection over the records it takes from `records`; see
/// [`fuzz`].
pub type Connection = fn(
    &Setup,
    Option<SessionTicket<'_>>,
    &mut TicketSlot<256>,
    &mut &[u8],
    &mut Seen,
) -> Option<()>;

/// A target's run: `connection` over the input's records; then, with
/// `option::RESUME` and a ticket from it, a second one that offers the
/// ticket (which the server takes with `option::ACCEPT_RESUMPTION`) over
/// the records the first left. Then the seed check.
pub fn fuzz(data: &[u8], connection: Connection) {
    let mut seen = Seen::default();
    let _ = connections(data, &mut seen, connection);
    check_seed(data, &seen);
}

fn connections(data: &[u8], seen: &mut Seen, connection: Connection) -> Option<()> {
    let (&options, mut records) = data.split_first()?;
    let setup = Setup::new(options)?;
    let mut tickets = TicketSlot::new();
    let _ = connection(&setup, None, &mut tickets, &mut records, seen);
    if !setup.has(option::RESUME) {
        return Some(());
    }
    let ticket = tickets.ticket()?;
    let mut next_tickets = TicketSlot::new();
    let _ = connection(&setup, Some(ticket), &mut next_tickets, &mut records, seen);
    Some(())
}

/// The client's buffers: room for the largest record each way, 8 KiB for
/// handshake messages and for the server's chain.
pub struct Memory {
    receive: Vec<u8>,
    send: Vec<u8>,
    handshake: Vec<u8>,
    certificate: Vec<u8>,
}

impl Memory {
    pub fn new() -> Memory {
        Memory {
            receive: vec![0; 17 * 1024],
            send: vec![0; 17 * 1024],
            handshake: vec![0; 8 * 1024],
            certificate: vec![0; 8 * 1024],
        }
    }

    pub fn buffers(&mut self) -> Buffers<'_> {
        Buffers {
            receive: &mut self.receive,
            send: &mut self.send,
            handshake: &mut self.handshake,
            certificate: &mut self.certificate,
        }
    }
}

/// What the client did over a run.
#[derive(Default)]
pub struct Seen {
    pub connections: u32,
    pub handshakes_complete: u32,
    pub peer_closes: u32,
    /// Every byte the current connection's client sent.
    pub sent: Vec<u8>,
}

/// Hands `bytes` to the client and lets it work until it wants more;
/// `None` once it has failed or closed.
pub fn deliver(
    client: &mut ClientConnection<'_, Soft>,
    mut bytes: &[u8],
    seen: &mut Seen,
) -> Option<()> {
    loop {
        let taken = client.read_tls(bytes);
        bytes = &bytes[taken..];
        loop {
            match client.process().ok()? {
                Some(Event::PeerClosed) => {
                    seen.peer_closes += 1;
                    return None;
                }
                Some(Event::HandshakeComplete) => seen.handshakes_complete += 1,
                Some(_) => {
                    let mut application = [0u8; 1024];
                    while client.read_application_data(&mut application) > 0 {}
                }
                None => break,
            }
        }
        seen.sent.extend_from_slice(client.pending_tls());
        let pending = client.pending_tls().len();
        client.tls_sent(pending);
        if bytes.is_empty() {
            return Some(());
        }
        if taken == 0 {
            // Full with a record it cannot take: nothing more fits.
            return None;
        }
    }
}

/// `content` signed with the test server's key as TLS carries it (the
/// `DigitallySigned` of RFC 5246 section 4.7, RFC 8446 section 4.4.3):
/// ecdsa_secp256r1_sha256, then the DER signature behind its length.
pub fn digitally_signed(soft: &Soft, content: &[u8]) -> Option<Vec<u8>> {
    let prehash = soft.hash(HashAlgorithm::Sha256, &[content]).ok()?;
    let mut signature = [0u8; 80];
    let len = soft
        .sign_prehash(
            SIGNING_KEY,
            SignatureScheme::EcdsaP256Sha256,
            prehash.as_bytes(),
            SignatureFormat::Der,
            &mut signature,
        )
        .ok()?;
    let mut signed = vec![0x04, 0x03];
    signed.extend_from_slice(&(len as u16).to_be_bytes());
    signed.extend_from_slice(&signature[..len]);
    Some(signed)
}

/// `content` (up to the 16 KiB a record holds) as one record of
/// `content_type` under `protection`.
pub fn sealed(
    protection: &mut RecordProtection<<Soft as Aead>::Key>,
    content_type: ContentType,
    content: &[u8],
) -> Option<Vec<u8>> {
    let len = content.len().min(16 * 1024);
    let mut record = vec![0u8; protection.sealed_len(len)];
    let offset = protection.content_offset();
    record[offset..offset + len].copy_from_slice(&content[..len]);
    let total = protection.seal(content_type, &mut record, len).ok()?;
    record.truncate(total);
    Some(record)
}

/// A plaintext record of `content_type` around `content`.
pub fn plaintext_record(content_type: u8, content: &[u8]) -> Vec<u8> {
    let mut record = vec![content_type, 3, 3];
    record.extend_from_slice(&(content.len() as u16).to_be_bytes());
    record.extend_from_slice(content);
    record
}

/// A handshake message: type, 24-bit length, body.
pub fn handshake_message(message_type: u8, body: &[u8]) -> Vec<u8> {
    let mut message = vec![message_type];
    message.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    message.extend_from_slice(body);
    message
}

/// Set by CI while it runs the seeds: each connection of each must complete
/// its handshake and end with the server's close_notify, so the harness
/// keeps reaching what it was written for (a key schedule out of step would
/// end every input at the first protected record, silently). libFuzzer runs
/// an empty input before the seeds; it has no options byte and is let be.
fn check_seed(input: &[u8], seen: &Seen) {
    static SET: OnceLock<bool> = OnceLock::new();
    let checking = *SET.get_or_init(|| std::env::var_os("DUET_FUZZ_SEEDS_COMPLETE").is_some());
    if checking && !input.is_empty() {
        assert!(seen.connections > 0);
        assert_eq!(seen.handshakes_complete, seen.connections);
        assert_eq!(seen.peer_closes, seen.connections);
    }
}
