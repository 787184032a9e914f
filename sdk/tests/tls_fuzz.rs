//! Hostile input for the TLS client: a real server's handshake and first
//! application record, recorded once from `openssl s_server` (TLS 1.3 and
//! 1.2), then replayed into fresh clients with the same randomness — so an
//! unmodified replay completes the handshake, and mutated replays reach
//! every later state — with bits flipped, bytes replaced, records cut,
//! duplicated and spliced, and bytes fed in random-sized pieces. Every run
//! must end in a completed session or a typed error; never a panic, never a
//! hang.

use std::io::{Read, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use duet::crypto::soft::Soft;
use duet::crypto::x509::trust_anchor_from_der;
use duet::tls::{ClientConfig, ClientConnection, Event, TlsError};

#[path = "common/s_server.rs"]
mod s_server;
use s_server::{CERTS, Server};

#[path = "common/tls_client.rs"]
mod tls_client;
use tls_client::{Memory, config};

#[path = "common/test_rng.rs"]
mod test_rng;
use test_rng::TestRng;

const SEED: u64 = 0x7f5;

/// Mutated replays per protocol version.
const RUNS: usize = 10_000;

fn client<'a>(
    soft: &'a Soft,
    anchors: &'a [duet::crypto::x509::TrustAnchor<'a>],
    now: u64,
    memory: &'a mut Memory,
) -> ClientConnection<'a, Soft> {
    ClientConnection::new(
        soft,
        ClientConfig {
            now_unix_secs: now,
            ..config(anchors)
        },
        memory.buffers(),
        &mut TestRng(SEED, 0),
    )
    .unwrap()
}

/// How a replay ended.
#[derive(Debug, PartialEq)]
enum Ending {
    /// Handshake complete and the echoed line read.
    Complete,
    /// The input ran out first.
    Starved,
    Failed(TlsError),
}

/// Feeds `input` in pieces whose sizes come from `sizes`, sending nothing
/// back (the recorded server does not listen), until the session has read
/// application data, fails, or the input runs out.
fn replay(
    connection: &mut ClientConnection<'_, Soft>,
    input: &[u8],
    sizes: &mut Xorshift,
) -> Ending {
    let mut at = 0;
    let mut handshake_done = false;
    // Each step either takes bytes or ends: bounded by the input's length.
    for _ in 0..=2 * input.len() + 8 {
        match connection.process() {
            Err(error) => return Ending::Failed(error),
            Ok(Some(Event::HandshakeComplete)) => handshake_done = true,
            Ok(Some(Event::ApplicationData)) => {
                let mut buf = [0u8; 256];
                while connection.read_application_data(&mut buf) > 0 {}
                if handshake_done {
                    return Ending::Complete;
                }
            }
            Ok(Some(Event::PeerClosed)) => return Ending::Starved,
            Ok(None) => {
                let pending = connection.pending_tls().len();
                connection.tls_sent(pending);
                if at == input.len() {
                    return Ending::Starved;
                }
                let piece = 1 + sizes.below(2_000) as usize;
                let end = (at + piece).min(input.len());
                at += connection.read_tls(&input[at..end]);
            }
        }
    }
    panic!("the client neither progressed nor ended");
}

/// Records what s_server sends to a client seeded with [`SEED`] until the
/// echo of one line has arrived.
fn record(extra: &[&str], now: u64) -> Vec<u8> {
    let server = Server::start("server-p256", "intermediate-ca", extra);
    let mut stream = server.connect();
    let soft: Soft = Soft::new();
    let root = std::fs::read(format!("{CERTS}root-ca.der")).unwrap();
    let anchors = [trust_anchor_from_der(&root).unwrap()];
    let mut memory = Memory::new();
    let mut connection = client(&soft, &anchors, now, &mut memory);
    let mut recorded = Vec::new();
    let mut sent_line = false;
    loop {
        let event = connection.process().expect("the recorded session succeeds");
        let pending = connection.pending_tls().len();
        stream.write_all(connection.pending_tls()).unwrap();
        connection.tls_sent(pending);
        match event {
            Some(Event::HandshakeComplete) if !sent_line => {
                connection.write_application_data(b"recorded\n").unwrap();
                let pending = connection.pending_tls().len();
                stream.write_all(connection.pending_tls()).unwrap();
                connection.tls_sent(pending);
                sent_line = true;
            }
            Some(Event::ApplicationData) => return recorded,
            _ => {
                let mut chunk = [0u8; 4096];
                let n = stream.read(&mut chunk).unwrap();
                assert!(n > 0, "s_server closed early");
                recorded.extend_from_slice(&chunk[..n]);
                assert_eq!(connection.read_tls(&chunk[..n]), n);
            }
        }
    }
}

/// A small deterministic generator for the mutations.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// One to four mutations of `input`.
fn mutate(input: &[u8], rng: &mut Xorshift) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = out.len() as u64;
        match rng.below(7) {
            0 => {
                let at = rng.below(len) as usize;
                out[at] ^= 1 << rng.below(8);
            }
            1 => {
                let at = rng.below(len) as usize;
                out[at] = rng.next() as u8;
            }
            2 => out.truncate(rng.below(len) as usize),
            3 => {
                let at = rng.below(len) as usize;
                let extra: Vec<u8> = (0..1 + rng.below(40)).map(|_| rng.next() as u8).collect();
                out.splice(at..at, extra);
            }
            4 => {
                // A slice (often a whole record or more) repeated in place.
                let start = rng.below(len) as usize;
                let end = (start + 1 + rng.below(600) as usize).min(out.len());
                let copy = out[start..end].to_vec();
                out.splice(end..end, copy);
            }
            5 => {
                let start = rng.below(len) as usize;
                let end = (start + 1 + rng.below(200) as usize).min(out.len());
                out.drain(start..end);
            }
            _ if len >= 2 => {
                // Two bytes made large: a record or message length when
                // they fall on one.
                let at = rng.below(len - 1) as usize;
                out[at] = 0xff;
                out[at + 1] = rng.next() as u8;
            }
            _ => {}
        }
        if out.is_empty() {
            break;
        }
    }
    out
}

fn fuzz_version(extra: &[&str], label: &str) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let recorded = record(extra, now);
    let soft: Soft = Soft::new();
    let root = std::fs::read(format!("{CERTS}root-ca.der")).unwrap();
    let anchors = [trust_anchor_from_der(&root).unwrap()];
    let mut rng = Xorshift(0x9e37_79b9_7f4a_7c15 ^ recorded.len() as u64);

    // The unmodified replay completes, in any piece sizes: the mutated runs
    // start from a session that works.
    for _ in 0..3 {
        let mut memory = Memory::new();
        let mut connection = client(&soft, &anchors, now, &mut memory);
        assert_eq!(
            replay(&mut connection, &recorded, &mut rng),
            Ending::Complete
        );
    }

    let (mut complete, mut starved, mut failed) = (0, 0, 0);
    for run in 0..RUNS {
        let input = if run % 10 == 9 {
            // Pure noise, sometimes behind a valid record header.
            let mut noise: Vec<u8> = (0..rng.below(3_000)).map(|_| rng.next() as u8).collect();
            if run % 20 == 19 && noise.len() > 5 {
                noise[..3].copy_from_slice(&[22, 3, 3]);
            }
            noise
        } else {
            mutate(&recorded, &mut rng)
        };
        let mut memory = Memory::new();
        let mut connection = client(&soft, &anchors, now, &mut memory);
        match replay(&mut connection, &input, &mut rng) {
            Ending::Complete => complete += 1,
            Ending::Starved => starved += 1,
            Ending::Failed(_) => {
                failed += 1;
                // A failure is final: the same error again, nothing more read.
                assert!(connection.process().is_err());
                assert!(connection.write_application_data(b"x").is_err());
            }
        }
    }
    println!(
        "tls fuzz {label}: {RUNS} runs, {complete} complete, {starved} starved, {failed} failed"
    );
    assert!(
        failed > RUNS / 2,
        "mutations should mostly fail: {failed} of {RUNS}"
    );
}

#[test]
fn mutated_tls13_server_flights_end_in_typed_errors() {
    fuzz_version(&[], "1.3");
}

#[test]
fn mutated_tls12_server_flights_end_in_typed_errors() {
    fuzz_version(&["-tls1_2"], "1.2");
}
