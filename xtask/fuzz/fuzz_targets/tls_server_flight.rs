//! A TLS 1.3 server's records into a client, with real keys: the target
//! plays the server (ServerHello with its own P-256 share, then the
//! handshake and application traffic keys of RFC 8446 section 7), so the
//! input reaches what record protection hides from any blind mutation —
//! EncryptedExtensions, CertificateRequest, Certificate (and the chain
//! validation behind it), CertificateVerify, Finished, then
//! NewSessionTicket, KeyUpdate, application data and alerts.
//!
//! Layout: one byte of options (`tls_peer::option`: the suite, ALPN,
//! max_fragment_length, record_size_limit, a ticket store, a second
//! connection resuming with the first one's ticket, the server accepting
//! it), then records as `[op][length: u16][content]`. The op's low two
//! bits: 0 a handshake record, 1 an alert, 2 application data (each sealed
//! with the server's current keys), 3 raw bytes on the wire. Op bit 4 on a
//! handshake record makes the target sign each whole CertificateVerify
//! (with the test server's key) and compute each whole Finished over the
//! transcript, as a real server would; after a Finished it moves to the
//! application keys, after a KeyUpdate to the next ones.
#![no_main]

#[path = "common/tls_peer.rs"]
mod tls_peer;

use duet::crypto::soft::Soft;
use duet::crypto::{Aead, EcdhGroup, Hasher, KeyAgreement};
use duet::tls::record::{ContentType, RecordProtection};
use duet::tls::{
    CipherSuite, KeySchedule, SessionTicket, TicketSlot, TrafficKeys, finished_verify_data,
    next_traffic_secret,
};
use libfuzzer_sys::fuzz_target;
use tls_peer::{
    Memory, Seen, Setup, Xorshift, deliver, handshake_message, next_record, option,
    plaintext_record,
};

const CERTIFICATE_VERIFY: u8 = 15;
const FINISHED: u8 = 20;
const KEY_UPDATE: u8 = 24;

/// The target's side of the connection: the server's transcript, secrets and
/// current record keys.
struct Server<'s> {
    soft: &'s Soft,
    suite: CipherSuite,
    transcript: Vec<u8>,
    schedule: KeySchedule,
    traffic_secret: Vec<u8>,
    protection: RecordProtection<<Soft as Aead>::Key>,
    in_application_keys: bool,
}

impl<'s> Server<'s> {
    fn hash(&self) -> Option<Vec<u8>> {
        let digest = self
            .soft
            .hash(self.suite.hash(), &[&self.transcript])
            .ok()?;
        Some(digest.as_bytes().to_vec())
    }

    fn protection(
        soft: &Soft,
        suite: CipherSuite,
        secret: &[u8],
    ) -> Option<RecordProtection<<Soft as Aead>::Key>> {
        let keys = TrafficKeys::derive(soft, suite, secret).ok()?;
        let key = soft.aead_key(suite.aead(), keys.key()).ok()?;
        Some(RecordProtection::new(key, keys.iv))
    }

    /// A CertificateVerify signed over the transcript so far (section 4.4.3).
    fn certificate_verify(&self) -> Option<Vec<u8>> {
        const CONTEXT: &[u8] = b"TLS 1.3, server CertificateVerify\x00";
        let content = [&[0x20u8; 64][..], CONTEXT, &self.hash()?].concat();
        tls_peer::digitally_signed(self.soft, &content)
    }

    /// A Finished over the transcript so far (section 4.4.4).
    fn finished(&self) -> Option<Vec<u8>> {
        let verify_data = finished_verify_data(
            self.soft,
            self.suite.hash(),
            &self.traffic_secret,
            &self.hash()?,
        )
        .ok()?;
        Some(verify_data.as_bytes().to_vec())
    }

    /// The handshake record content to send for `content`: whole
    /// CertificateVerify and Finished messages made valid when `fix` is
    /// set. Adds it to the transcript; returns it and whether it holds a
    /// Finished or a KeyUpdate (whose keys follow the record).
    fn handshake(&mut self, content: &[u8], fix: bool) -> Option<(Vec<u8>, Option<u8>)> {
        let mut out = Vec::with_capacity(content.len() + 128);
        let mut rest = content;
        let mut key_change = None;
        while let [kind, a, b, c, tail @ ..] = rest {
            let len = usize::from(*a) << 16 | usize::from(*b) << 8 | usize::from(*c);
            let Some(body) = tail.get(..len) else { break };
            let body = match *kind {
                CERTIFICATE_VERIFY if fix => self.certificate_verify()?,
                FINISHED if fix => self.finished()?,
                _ => body.to_vec(),
            };
            let start = out.len();
            out.push(*kind);
            out.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
            out.extend_from_slice(&body);
            self.transcript.extend_from_slice(&out[start..]);
            if matches!(*kind, FINISHED | KEY_UPDATE) {
                key_change = Some(*kind);
            }
            rest = &tail[len..];
        }
        out.extend_from_slice(rest);
        self.transcript.extend_from_slice(rest);
        Some((out, key_change))
    }

    /// Moves to the keys that follow `message` (a Finished or KeyUpdate).
    fn change_keys(&mut self, message: u8) -> Option<()> {
        let secret = match message {
            FINISHED if !self.in_application_keys => {
                self.schedule.enter_master(self.soft).ok()?;
                self.in_application_keys = true;
                let hash = self.hash()?;
                self.schedule
                    .derive(self.soft, b"s ap traffic", &hash)
                    .ok()?
            }
            KEY_UPDATE if self.in_application_keys => {
                next_traffic_secret(self.soft, self.suite.hash(), &self.traffic_secret).ok()?
            }
            _ => return Some(()),
        };
        self.traffic_secret = secret.as_bytes().to_vec();
        self.protection = Self::protection(self.soft, self.suite, &self.traffic_secret)?;
        Some(())
    }

    fn seal(&mut self, content_type: ContentType, content: &[u8]) -> Option<Vec<u8>> {
        tls_peer::sealed(&mut self.protection, content_type, content)
    }
}

/// The ServerHello answering `client_hello` (a whole handshake message):
/// TLS 1.3, `suite`, a P-256 share, and the client's one PSK identity
/// selected if `accept_psk`. Returns it and the shared secret.
fn server_hello(
    soft: &Soft,
    client_hello: &[u8],
    suite: CipherSuite,
    accept_psk: bool,
    rng: &mut Xorshift,
) -> Option<(Vec<u8>, Vec<u8>)> {
    // Type (1), length (3), version (2), random (32), then the session ID
    // to echo.
    let session_id_len = usize::from(*client_hello.get(38)?);
    let session_id = client_hello.get(39..39 + session_id_len)?;
    let share_at = client_hello
        .windows(5)
        .position(|w| w == [0x00, 0x17, 0x00, 0x41, 0x04])?
        + 4;
    let client_share = client_hello.get(share_at..share_at + 65)?;
    let (secret, public) = soft.generate_ephemeral(EcdhGroup::Secp256r1, rng).ok()?;
    let shared = soft.agree(secret, client_share).ok()?;
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[0x5e; 32]);
    body.push(session_id_len as u8);
    body.extend_from_slice(session_id);
    body.extend_from_slice(&suite.to_u16().to_be_bytes());
    body.push(0);
    let public = public.as_bytes();
    let mut extensions = vec![0x00, 0x2b, 0x00, 0x02, 0x03, 0x04, 0x00, 0x33];
    extensions.extend_from_slice(&((public.len() + 4) as u16).to_be_bytes());
    extensions.extend_from_slice(&[0x00, 0x17]);
    extensions.extend_from_slice(&(public.len() as u16).to_be_bytes());
    extensions.extend_from_slice(public);
    if accept_psk {
        extensions.extend_from_slice(&[0x00, 0x29, 0x00, 0x02, 0x00, 0x00]);
    }
    body.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
    body.extend_from_slice(&extensions);
    Some((handshake_message(2, &body), shared.as_bytes().to_vec()))
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
    let suite = setup.suite(CipherSuite::Aes128GcmSha256, CipherSuite::Aes256GcmSha384);
    let mut memory = Memory::new();
    let mut rng = Xorshift(0x5eed);
    let mut client = tls_peer::client(setup, resume, &mut memory, &mut rng, tickets, seen)?;
    // The ClientHello: one record.
    let client_hello = client.pending_tls().get(5..)?.to_vec();
    client.tls_sent(client.pending_tls().len());
    let psk = resume
        .filter(|_| setup.has(option::ACCEPT_RESUMPTION))
        .map(|ticket| ticket.psk);
    let (hello, shared) = server_hello(soft, &client_hello, suite, psk.is_some(), &mut rng)?;
    deliver(&mut client, &plaintext_record(22, &hello), seen)?;

    let transcript = [client_hello, hello].concat();
    let mut schedule = match psk {
        Some(psk) => KeySchedule::with_psk(soft, suite.hash(), psk).ok()?,
        None => KeySchedule::new(soft, suite.hash()).ok()?,
    };
    schedule.enter_handshake(soft, &shared).ok()?;
    let hash = soft.hash(suite.hash(), &[&transcript]).ok()?;
    let secret = schedule
        .derive(soft, b"s hs traffic", hash.as_bytes())
        .ok()?;
    let mut server = Server {
        soft,
        suite,
        transcript,
        schedule,
        traffic_secret: secret.as_bytes().to_vec(),
        protection: Server::protection(soft, suite, secret.as_bytes())?,
        in_application_keys: false,
    };
    while let Some((op, content)) = next_record(records) {
        let wire = match op & 3 {
            0 => {
                let (content, key_change) = server.handshake(content, op & 16 != 0)?;
                let sealed = server.seal(ContentType::Handshake, &content)?;
                if let Some(message) = key_change {
                    server.change_keys(message)?;
                }
                sealed
            }
            1 => server.seal(ContentType::Alert, content)?,
            2 => server.seal(ContentType::ApplicationData, content)?,
            _ => content.to_vec(),
        };
        deliver(&mut client, &wire, seen)?;
    }
    Some(())
}

fuzz_target!(|data: &[u8]| tls_peer::fuzz(data, connection));
