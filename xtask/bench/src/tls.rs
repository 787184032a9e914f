//! The `tls` area: Duet's TLS client against `openssl` as the client, both
//! talking to the same local `openssl s_server`, one after the other.
//!
//! - Full handshakes (TCP connect, handshake with certificate path
//!   validation, close): TLS 1.3 ECDHE-ECDSA on the P-256 chain and TLS 1.2
//!   ECDHE-RSA on the RSA-2048 chain. Duet's figure is user CPU time per
//!   handshake in this process; OpenSSL's is `openssl s_time -new` with
//!   verification on, which reports connections per user second.
//! - Bulk: 256 MiB of application data sent to s_server (which writes it to
//!   /dev/null) over TLS 1.3 AES-128-GCM; Duet's CPU time in this process
//!   against `openssl s_client`'s (a child, fed from a pipe), as MB per
//!   CPU-second.
//!
//! Lines: `bench tls handshake-<case> duet_ms=<x> openssl_ms=<y>
//! ratio=<x/y>` (below 1: Duet faster) and `bench tls bulk-<case>
//! duet_mb_s=<x> openssl_mb_s=<y> ratio=<x/y>` (above 1: Duet faster).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};

use duet::crypto::soft::Soft;
use duet::crypto::x509::{TrustAnchor, trust_anchor_from_der};
use duet::tls::{Buffers, ClientConfig, ClientConnection, Event, TlsError};
use rand_core::{TryCryptoRng, TryRng};

use crate::cpu;
use crate::local_port::{free_port, wait_listening};

/// One handshake case.
struct Case {
    name: &'static str,
    version: &'static str,
    cert: &'static str,
    chain: &'static str,
}

const CASES: [Case; 2] = [
    Case {
        name: "1.3-ecdhe-ecdsa",
        version: "-tls1_3",
        cert: "server-p256",
        chain: "intermediate-ca",
    },
    Case {
        name: "1.2-ecdhe-rsa",
        version: "-tls1_2",
        cert: "server-rsa2048",
        chain: "intermediate-ca-rsa",
    },
];

fn certs() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../certs/test")
}

/// `openssl s_server` in quiet mode on a free loopback port.
struct Server {
    child: Child,
    port: u16,
    /// Held open: s_server ends a session when its standard input ends,
    /// whatever `-ign_eof` says.
    _stdin: ChildStdin,
}

impl Server {
    fn start(case: &Case) -> Result<Server, String> {
        let port = free_port()?;
        let certs = certs();
        let mut child = Command::new("openssl")
            .args(["s_server", case.version, "-quiet", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(certs.join(format!("{}.pem", case.cert)))
            .arg("-key")
            .arg(certs.join(format!("{}.key", case.cert)))
            .arg("-cert_chain")
            .arg(certs.join(format!("{}.pem", case.chain)))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("openssl s_server: {e} (apt-get install openssl)"))?;
        let stdin = child.stdin.take().ok_or("s_server has no stdin")?;
        let server = Server {
            child,
            port,
            _stdin: stdin,
        };
        wait_listening(port, "openssl s_server")?;
        Ok(server)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Deterministic randomness is enough for timing (a device uses its TRNG).
struct CounterRng(u64);

impl TryRng for CounterRng {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(self.try_next_u64()? as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        Ok(self.0 ^ (self.0 >> 29))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(8) {
            let word = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        Ok(())
    }
}

impl TryCryptoRng for CounterRng {}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// One Duet session: connect, handshake, then `send` bytes of application
/// data, then close_notify.
fn duet_session(
    soft: &Soft,
    anchors: &[TrustAnchor<'_>],
    port: u16,
    rng: &mut CounterRng,
    send: usize,
) -> Result<(), String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (mut receive, mut out) = (vec![0u8; 17 * 1024], vec![0u8; 34 * 1024]);
    let (mut handshake, mut certificate) = (vec![0u8; 8 * 1024], vec![0u8; 8 * 1024]);
    let mut connection = ClientConnection::new(
        soft,
        ClientConfig {
            server_name: "hub.azure-devices.test",
            trust_anchors: anchors,
            now_unix_secs: now_unix(),
            alpn_protocols: &[],
            resume: None,
            max_fragment_length: None,
            record_size_limit: None,
            client_certificate: None,
        },
        Buffers {
            receive: &mut receive,
            send: &mut out,
            handshake: &mut handshake,
            certificate: &mut certificate,
        },
        rng,
    )
    .map_err(|e| e.to_string())?;
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let event = connection.process().map_err(|e: TlsError| e.to_string())?;
        flush(&mut connection, &mut stream)?;
        if event == Some(Event::HandshakeComplete) {
            break;
        }
        let n = stream.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("server closed during the handshake".into());
        }
        connection.read_tls(&chunk[..n]);
    }
    let data = [0x5au8; 16 * 1024];
    let mut sent = 0;
    while sent < send {
        let n = (send - sent).min(data.len());
        sent += connection
            .write_application_data(&data[..n])
            .map_err(|e| e.to_string())?;
        flush(&mut connection, &mut stream)?;
    }
    connection.send_close_notify().map_err(|e| e.to_string())?;
    flush(&mut connection, &mut stream)?;
    // A graceful close: whatever the server still sends (tickets, its
    // close_notify) is read, so the kernel never answers it with a reset
    // while the server is still reading our data.
    stream
        .shutdown(std::net::Shutdown::Write)
        .map_err(|e| e.to_string())?;
    while matches!(stream.read(&mut chunk), Ok(n) if n > 0) {}
    Ok(())
}

fn flush(
    connection: &mut ClientConnection<'_, Soft>,
    stream: &mut TcpStream,
) -> Result<(), String> {
    while connection.wants_write() {
        let n = stream
            .write(connection.pending_tls())
            .map_err(|e| e.to_string())?;
        connection.tls_sent(n);
    }
    Ok(())
}

/// User CPU milliseconds per Duet handshake, over `count` handshakes.
fn duet_handshake_ms(port: u16, count: u32) -> Result<f64, String> {
    let soft: Soft = Soft::new();
    let root = std::fs::read(certs().join("root-ca.der")).map_err(|e| e.to_string())?;
    let anchors = [trust_anchor_from_der(&root).map_err(|e| format!("{e:?}"))?];
    let mut rng = CounterRng(1);
    for _ in 0..3 {
        duet_session(&soft, &anchors, port, &mut rng, 0)?;
    }
    let (before, _) = cpu::user_times().map_err(|e| e.to_string())?;
    for _ in 0..count {
        duet_session(&soft, &anchors, port, &mut rng, 0)?;
    }
    let (after, _) = cpu::user_times().map_err(|e| e.to_string())?;
    Ok((after - before).as_secs_f64() * 1000.0 / f64::from(count))
}

/// User CPU milliseconds per `openssl s_time -new` handshake (verifying the
/// chain, as Duet always does).
fn openssl_handshake_ms(port: u16, seconds: u32) -> Result<f64, String> {
    let root = certs().join("root-ca.pem");
    let output = Command::new("openssl")
        .args(["s_time", "-new", "-verify", "2", "-CAfile"])
        .arg(root)
        .arg("-connect")
        .arg(format!("127.0.0.1:{port}"))
        .args(["-time", &seconds.to_string()])
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("openssl s_time: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    // "2431 connections in 1.55s; 1568.39 connections/user sec, ..."
    let per_user_second = text
        .lines()
        .find_map(|line| {
            let (_, rest) = line.split_once("; ")?;
            rest.split_whitespace().next()?.parse::<f64>().ok()
        })
        .ok_or_else(|| format!("no figure in s_time's output: {text}"))?;
    Ok(1000.0 / per_user_second)
}

/// MB per CPU-second for Duet sending `bytes`.
fn duet_bulk_mb_s(port: u16, bytes: usize) -> Result<f64, String> {
    let soft: Soft = Soft::new();
    let root = std::fs::read(certs().join("root-ca.der")).map_err(|e| e.to_string())?;
    let anchors = [trust_anchor_from_der(&root).map_err(|e| format!("{e:?}"))?];
    let mut rng = CounterRng(9);
    let before = cpu::process_time().map_err(|e| e.to_string())?;
    duet_session(&soft, &anchors, port, &mut rng, bytes)?;
    let spent = cpu::process_time().map_err(|e| e.to_string())? - before;
    Ok(bytes as f64 / 1e6 / spent.as_secs_f64())
}

/// MB per CPU-second for `openssl s_client` sending `bytes` from a pipe.
fn openssl_bulk_mb_s(port: u16, bytes: usize) -> Result<f64, String> {
    let before = cpu::children_time().map_err(|e| e.to_string())?;
    let mut child = Command::new("openssl")
        .args(["s_client", "-quiet", "-no_ign_eof", "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("openssl s_client: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let data = vec![0u8; 64 * 1024];
    let mut sent = 0;
    while sent < bytes {
        let n = (bytes - sent).min(data.len());
        stdin.write_all(&data[..n]).map_err(|e| e.to_string())?;
        sent += n;
    }
    drop(stdin);
    child.wait().map_err(|e| e.to_string())?;
    let spent = cpu::children_time().map_err(|e| e.to_string())? - before;
    Ok(bytes as f64 / 1e6 / spent.as_secs_f64())
}

/// Runs the area: `handshakes` Duet handshakes per case (s_time runs for
/// `seconds`), then `megabytes` of bulk data each way of measuring.
pub fn run(handshakes: u32, seconds: u32, megabytes: usize) -> Result<(), String> {
    for case in &CASES {
        let server = Server::start(case)?;
        let duet = duet_handshake_ms(server.port, handshakes)?;
        let openssl = openssl_handshake_ms(server.port, seconds)?;
        println!(
            "bench tls handshake-{} duet_ms={duet:.3} openssl_ms={openssl:.3} ratio={:.3}",
            case.name,
            duet / openssl
        );
    }
    // A fresh server for each client, so neither meets leftovers.
    let bytes = megabytes << 20;
    let duet = duet_bulk_mb_s(Server::start(&CASES[0])?.port, bytes)
        .map_err(|e| format!("Duet bulk: {e}"))?;
    let openssl = openssl_bulk_mb_s(Server::start(&CASES[0])?.port, bytes)
        .map_err(|e| format!("openssl bulk: {e}"))?;
    println!(
        "bench tls bulk-1.3-aes128gcm duet_mb_s={duet:.1} openssl_mb_s={openssl:.1} ratio={:.3}",
        duet / openssl
    );
    Ok(())
}
