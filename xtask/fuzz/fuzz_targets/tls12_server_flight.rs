//! A TLS 1.2 server's records into a client, with real keys (RFC 5246 with
//! the extended master secret of RFC 7627, ECDHE-ECDSA with AES-GCM of RFC
//! 5289): the target plays the server — its ServerHello, then the input's
//! records: Certificate, ServerKeyExchange, CertificateRequest,
//! ServerHelloDone and NewSessionTicket in the clear, its ChangeCipherSpec,
//! then Finished, application data, HelloRequest and alerts under its keys
//! — so inputs get past the signature and the Finished to what follows.
//!
//! Layout: one byte of options (`tls_peer::option`), then records as
//! `[op][length: u16][content]`. The op's low two bits: 0 a handshake
//! record, 1 an alert, 2 application data (each in the clear until the
//! server's ChangeCipherSpec, sealed after), 3 raw bytes on the wire. Op
//! bit 4 on a handshake record makes each whole ServerKeyExchange valid
//! (the target's own P-256 share, signed with the test server's key) and
//! each whole Finished (verify_data over the transcript); op bit 5 sends a
//! ChangeCipherSpec before the record and turns the server's keys on.
#![no_main]

#[path = "common/tls_peer.rs"]
mod tls_peer;

use duet::crypto::soft::Soft;
use duet::crypto::{Aead, EcdhGroup, Hasher, KeyAgreement, KeyDerivation};
use duet::tls::record::{ContentType, RecordProtection};
use duet::tls::{CipherSuite, SessionTicket, TicketSlot};
use libfuzzer_sys::fuzz_target;
use tls_peer::{
    Memory, Seen, Setup, Xorshift, deliver, handshake_message, next_record, option,
    plaintext_record,
};

const SERVER_HELLO: u8 = 2;
const SERVER_KEY_EXCHANGE: u8 = 12;
const CLIENT_KEY_EXCHANGE: u8 = 16;
const FINISHED: u8 = 20;
const CHANGE_CIPHER_SPEC: [u8; 6] = [20, 3, 3, 0, 1, 1];
/// Any ServerHello.random without the TLS 1.3 downgrade sentinel.
const SERVER_RANDOM: [u8; 32] = [0x5e; 32];

type Key = <Soft as Aead>::Key;
type Ephemeral = <Soft as KeyAgreement>::EphemeralSecret;

/// The target's side of the connection: the transcript of both sides'
/// handshake messages, its ECDHE key, the master secret once the client's
/// key exchange is in, and its record keys once it has changed to them.
struct Server<'s> {
    soft: &'s Soft,
    suite: CipherSuite,
    client_random: [u8; 32],
    transcript: Vec<u8>,
    ephemeral: Option<Ephemeral>,
    ephemeral_public: Vec<u8>,
    master: Option<[u8; 48]>,
    /// How much of the client's output has been read.
    client_read: usize,
    /// The client's ChangeCipherSpec has been seen: what follows is
    /// sealed, and its Finished is computed rather than read.
    client_changed: bool,
    protection: Option<RecordProtection<Key>>,
}

impl Server<'_> {
    fn prf(&self, secret: &[u8], label: &[u8], seeds: &[&[u8]], out: &mut [u8]) -> Option<()> {
        self.soft
            .tls12_prf(self.suite.hash(), secret, label, seeds, out)
            .ok()
    }

    fn transcript_hash(&self) -> Option<Vec<u8>> {
        let digest = self
            .soft
            .hash(self.suite.hash(), &[&self.transcript])
            .ok()?;
        Some(digest.as_bytes().to_vec())
    }

    /// A ServerKeyExchange (RFC 8422 section 5.4): the target's share,
    /// signed over both randoms and the parameters.
    fn server_key_exchange(&self) -> Option<Vec<u8>> {
        let mut body = vec![3, 0x00, 0x17, self.ephemeral_public.len() as u8];
        body.extend_from_slice(&self.ephemeral_public);
        let signed = [&self.client_random[..], &SERVER_RANDOM, &body].concat();
        body.extend_from_slice(&tls_peer::digitally_signed(self.soft, &signed)?);
        Some(body)
    }

    /// `verify_data` (section 7.4.9) with `label` over the transcript.
    fn verify_data(&self, label: &[u8]) -> Option<Vec<u8>> {
        let master = self.master?;
        let hash = self.transcript_hash()?;
        let mut verify_data = [0u8; 12];
        self.prf(&master, label, &[&hash], &mut verify_data)?;
        Some(verify_data.to_vec())
    }

    /// The handshake record content to send for `content`, whole
    /// ServerKeyExchange and Finished messages made valid when `fix` is
    /// set; added to the transcript.
    fn handshake(&mut self, content: &[u8], fix: bool) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(content.len() + 128);
        let mut rest = content;
        while let [kind, a, b, c, tail @ ..] = rest {
            let len = usize::from(*a) << 16 | usize::from(*b) << 8 | usize::from(*c);
            let Some(body) = tail.get(..len) else { break };
            let body = match *kind {
                SERVER_KEY_EXCHANGE if fix => self.server_key_exchange()?,
                FINISHED if fix => self
                    .verify_data(b"server finished")
                    .unwrap_or_else(|| body.to_vec()),
                _ => body.to_vec(),
            };
            out.extend_from_slice(&handshake_message(*kind, &body));
            rest = &tail[len..];
        }
        out.extend_from_slice(rest);
        self.transcript.extend_from_slice(&out);
        Some(out)
    }

    /// Reads what the client sent since last time: its handshake messages
    /// in the clear go into the transcript; after a ClientKeyExchange the
    /// master secret follows (section 8.1 with RFC 7627), and the client's
    /// Finished, which it sends sealed, is computed in its place.
    fn read_client(&mut self, sent: &[u8]) -> Option<()> {
        while let Some(&[content_type, _, _, a, b]) =
            sent.get(self.client_read..self.client_read + 5)
        {
            let start = self.client_read + 5;
            let len = usize::from(u16::from_be_bytes([a, b]));
            // The client hands out whole records; a part would wait.
            let Some(content) = sent.get(start..start + len) else {
                break;
            };
            self.client_read = start + content.len();
            match content_type {
                20 => self.client_changed = true,
                22 if !self.client_changed => {
                    self.transcript.extend_from_slice(content);
                    if content.first() == Some(&CLIENT_KEY_EXCHANGE) {
                        self.key_exchange(content.get(5..5 + 65)?)?;
                    }
                }
                _ => {}
            }
        }
        Some(())
    }

    /// The master secret from the client's share, then its Finished.
    fn key_exchange(&mut self, client_share: &[u8]) -> Option<()> {
        let premaster = self.soft.agree(self.ephemeral.take()?, client_share).ok()?;
        let session_hash = self.transcript_hash()?;
        let mut master = [0u8; 48];
        self.prf(
            premaster.as_bytes(),
            b"extended master secret",
            &[&session_hash],
            &mut master,
        )?;
        self.master = Some(master);
        let finished = self.verify_data(b"client finished")?;
        self.transcript
            .extend_from_slice(&handshake_message(FINISHED, &finished));
        Some(())
    }

    /// The server's write key and salt from the key block (section 6.3).
    fn change_keys(&mut self) -> Option<()> {
        let master = self.master?;
        let key_len = self.suite.aead().key_len();
        let mut block = [0u8; 2 * 32 + 2 * 4];
        self.prf(
            &master,
            b"key expansion",
            &[&SERVER_RANDOM, &self.client_random],
            &mut block[..2 * key_len + 8],
        )?;
        let key = self
            .soft
            .aead_key(self.suite.aead(), &block[key_len..2 * key_len])
            .ok()?;
        let salt = block[2 * key_len + 4..2 * key_len + 8].try_into().ok()?;
        self.protection = Some(RecordProtection::tls12(key, salt));
        Some(())
    }

    /// `content` as a record of `content_type`: sealed once the keys are on.
    fn record(&mut self, content_type: ContentType, content: &[u8]) -> Option<Vec<u8>> {
        match &mut self.protection {
            Some(protection) => tls_peer::sealed(protection, content_type, content),
            None => Some(plaintext_record(content_type as u8, content)),
        }
    }
}

/// The ServerHello answering `client_hello` (a whole handshake message):
/// TLS 1.2, `suite`, the extended master secret, secure renegotiation, a
/// session ticket to come if `ticket`, and the client's session ID echoed
/// (taking its ticket) if `resume`.
fn server_hello(
    client_hello: &[u8],
    suite: CipherSuite,
    ticket: bool,
    resume: bool,
) -> Option<Vec<u8>> {
    // Type (1), length (3), version (2), random (32), then the session ID.
    let session_id_len = usize::from(*client_hello.get(38)?);
    let offered = client_hello.get(39..39 + session_id_len)?;
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&SERVER_RANDOM);
    if resume {
        body.push(session_id_len as u8);
        body.extend_from_slice(offered);
    } else {
        body.push(32);
        body.extend_from_slice(&[0x11; 32]);
    }
    body.extend_from_slice(&suite.to_u16().to_be_bytes());
    body.push(0);
    let mut extensions = vec![
        0xff, 0x01, 0x00, 0x01, 0x00, // renegotiation_info, empty
        0x00, 0x17, 0x00, 0x00, // extended_master_secret
        0x00, 0x0b, 0x00, 0x02, 0x01, 0x00, // ec_point_formats: uncompressed
    ];
    if ticket {
        extensions.extend_from_slice(&[0x00, 0x23, 0x00, 0x00]);
    }
    body.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
    body.extend_from_slice(&extensions);
    Some(handshake_message(SERVER_HELLO, &body))
}

/// One connection: a client (resuming `resume` if given, keeping tickets
/// in `tickets` if the options say so) and the records from `records` until
/// either runs out; `records` is left at the first record not used.
fn connection(
    setup: &Setup,
    resume: Option<SessionTicket<'_>>,
    tickets: &mut TicketSlot<256>,
    records: &mut &[u8],
    seen: &mut Seen,
) -> Option<()> {
    let soft = &setup.soft;
    let suite = setup.suite(
        CipherSuite::EcdheEcdsaAes128GcmSha256,
        CipherSuite::EcdheEcdsaAes256GcmSha384,
    );
    let mut memory = Memory::new();
    let mut rng = Xorshift(0x5eed);
    let mut client = tls_peer::client(setup, resume, &mut memory, &mut rng, tickets, seen)?;
    // The ClientHello: one record.
    let client_hello = client.pending_tls().get(5..)?.to_vec();
    let client_random = client_hello.get(6..38)?.try_into().ok()?;
    let (ephemeral, public) = soft
        .generate_ephemeral(EcdhGroup::Secp256r1, &mut rng)
        .ok()?;
    let resumed = resume
        .filter(|_| setup.has(option::ACCEPT_RESUMPTION))
        .and_then(|ticket| <[u8; 48]>::try_from(ticket.psk).ok());
    let hello = server_hello(
        &client_hello,
        suite,
        setup.has(option::TICKETS),
        resumed.is_some(),
    )?;
    let mut server = Server {
        soft,
        suite,
        client_random,
        transcript: [&client_hello[..], &hello].concat(),
        ephemeral: Some(ephemeral),
        ephemeral_public: public.as_bytes().to_vec(),
        master: resumed,
        client_read: client.pending_tls().len(),
        client_changed: false,
        protection: None,
    };
    deliver(&mut client, &plaintext_record(22, &hello), seen)?;
    while let Some((op, content)) = next_record(records) {
        if op & 32 != 0 {
            deliver(&mut client, &CHANGE_CIPHER_SPEC, seen)?;
            server.change_keys();
        }
        let wire = match op & 3 {
            0 => {
                let content = server.handshake(content, op & 16 != 0)?;
                server.record(ContentType::Handshake, &content)?
            }
            1 => server.record(ContentType::Alert, content)?,
            2 => server.record(ContentType::ApplicationData, content)?,
            _ => content.to_vec(),
        };
        deliver(&mut client, &wire, seen)?;
        server.read_client(&seen.sent)?;
    }
    Some(())
}

fuzz_target!(|data: &[u8]| tls_peer::fuzz(data, connection));
