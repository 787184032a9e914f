//! The sans-IO DNS resolver against real peers over loopback sockets.
//!
//! `resolves_against_dnsmasq` runs a real dnsmasq (Debian's dnsmasq-base)
//! as the recursive server: A, AAAA, a CNAME, NXDOMAIN, and failover from a
//! dead first server. The test fails, never skips, when dnsmasq is missing.
//!
//! `survives_a_hostile_responder` plays the server itself and answers the
//! query with a wrong ID, from a wrong port, with a compression loop, and
//! finally with TC=1, then serves the TCP retry: every bad datagram must be
//! dropped with its reason, and the TCP answer must win.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration as StdDuration;

use duet_netstack::dns::{Answer, Config, DnsError, Event, RecordKind, Resolver};
use duet_netstack::rand::Rng;
use duet_netstack::{Duration, Instant, IpEndpoint};

const DNSMASQ: &str = "/usr/sbin/dnsmasq";
const LOOPBACK: Ipv4Addr = Ipv4Addr::LOCALHOST;

type TestResolver = Resolver<2, 8, 1>;

/// A dnsmasq child process on 127.0.0.1, killed on drop.
struct Dnsmasq {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Dnsmasq {
    fn start() -> Dnsmasq {
        assert!(
            std::path::Path::new(DNSMASQ).exists(),
            "{DNSMASQ} is required for this test (apt-get install dnsmasq-base)"
        );
        // A port free for UDP now may be taken for TCP or by the time
        // dnsmasq binds it; a few tries cover that race.
        for attempt in 0..5 {
            let port = free_udp_port();
            let dir = std::env::temp_dir().join(format!(
                "duet-dnsmasq-{}-{attempt}-{port}",
                std::process::id()
            ));
            std::fs::create_dir_all(&dir).expect("temp dir");
            let child = Command::new(DNSMASQ)
                .args([
                    "--keep-in-foreground",
                    "--conf-file=/dev/null",
                    "--no-resolv",
                    "--no-hosts",
                    "--listen-address=127.0.0.1",
                    "--bind-interfaces",
                    &format!("--port={port}"),
                    "--user=root",
                    &format!("--pid-file={}", dir.join("pid").display()),
                    // --cname targets must be local records, which --address
                    // answers are not; --host-record gives both families.
                    "--host-record=broker.iot.test,10.1.2.3,fd00::1",
                    "--cname=alias.iot.test,broker.iot.test",
                    "--host-record=v6only.iot.test,fd00::2",
                    // Answer for iot.test locally: unknown names there are
                    // NXDOMAIN rather than REFUSED for want of an upstream.
                    "--local=/iot.test/",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("dnsmasq starts");
            let mut server = Dnsmasq { child, port, dir };
            if server.wait_until_listening() {
                return server;
            }
        }
        panic!("dnsmasq did not come up on a free port");
    }

    /// True once dnsmasq accepts TCP connections (it binds UDP first).
    fn wait_until_listening(&mut self) -> bool {
        for _ in 0..100 {
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut stderr = String::new();
                if let Some(pipe) = self.child.stderr.as_mut() {
                    let _ = pipe.read_to_string(&mut stderr);
                }
                eprintln!("dnsmasq exited ({status}): {stderr}");
                return false;
            }
            if TcpStream::connect((LOOPBACK, self.port)).is_ok() {
                return true;
            }
            std::thread::sleep(StdDuration::from_millis(20));
        }
        false
    }

    fn endpoint(&self) -> IpEndpoint {
        IpEndpoint::new(IpAddr::V4(LOOPBACK), self.port)
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_udp_port() -> u16 {
    let socket = UdpSocket::bind((LOOPBACK, 0)).expect("bind an ephemeral port");
    socket.local_addr().expect("local address").port()
}

/// Monotonic time for the resolver, from the test's start.
struct Clock(std::time::Instant);

impl Clock {
    fn now(&self) -> Instant {
        Instant::from_micros(self.0.elapsed().as_micros() as u64)
    }
}

fn resolver(servers: &[IpEndpoint], seed: u64) -> TestResolver {
    let config = Config {
        first_timeout: Duration::from_millis(300),
        ..Config::default()
    };
    let mut resolver = Resolver::new(config, Rng::new(seed));
    resolver.set_servers(servers).expect("room for the servers");
    resolver
}

/// What one resolution went through.
struct Resolution {
    result: Result<Answer, DnsError>,
    /// Why each dropped datagram was dropped, in arrival order.
    rejected: Vec<DnsError>,
    used_tcp: bool,
}

/// Drives `resolver` with real sockets until `name` resolves or fails: one
/// UDP socket per attempt, bound to the source port the resolver chose,
/// and a TCP connection when it reports a truncated answer.
fn resolve(resolver: &mut TestResolver, clock: &Clock, name: &str, kind: RecordKind) -> Resolution {
    let mut rejected = Vec::new();
    let mut used_tcp = false;
    let mut restarts = 0;
    let mut id = resolver
        .start_query(clock.now(), name, kind)
        .expect("query starts");
    let mut socket: Option<(UdpSocket, u16)> = None;
    let mut buf = [0u8; 1500];
    loop {
        while let Some(transmit) = resolver.poll_transmit(clock.now(), &mut buf) {
            let Ok(udp) = UdpSocket::bind((LOOPBACK, transmit.source_port)) else {
                // Someone else holds that port: ask again with another.
                restarts += 1;
                assert!(restarts < 10, "no free source port");
                resolver.cancel(id).expect("live query");
                id = resolver
                    .start_query(clock.now(), name, kind)
                    .expect("query starts");
                continue;
            };
            let server = SocketAddr::from(transmit.server);
            udp.send_to(&buf[..transmit.len], server)
                .expect("send query");
            socket = Some((udp, transmit.source_port));
        }
        while let Some(event) = resolver.poll_event() {
            match event {
                Event::Resolved { answer, .. } => {
                    return Resolution {
                        result: Ok(answer),
                        rejected,
                        used_tcp,
                    };
                }
                Event::Failed { error, .. } => {
                    return Resolution {
                        result: Err(error),
                        rejected,
                        used_tcp,
                    };
                }
                Event::Truncated { id, .. } => {
                    used_tcp = true;
                    let reply = exchange_over_tcp(resolver, id);
                    if let Err(error) = resolver.handle_tcp_response(clock.now(), id, &reply) {
                        rejected.push(error);
                    }
                }
            }
        }
        let Some(deadline) = resolver.poll_timeout() else {
            continue;
        };
        let wait = deadline.as_micros().saturating_sub(clock.now().as_micros());
        match &socket {
            Some((udp, port)) if wait > 0 => {
                udp.set_read_timeout(Some(StdDuration::from_micros(wait)))
                    .expect("read timeout");
                if let Ok((len, from)) = udp.recv_from(&mut buf) {
                    if let Err(error) =
                        resolver.handle_datagram(clock.now(), from.into(), *port, &buf[..len])
                    {
                        rejected.push(error);
                    }
                }
            }
            _ => std::thread::sleep(StdDuration::from_micros(wait)),
        }
        if clock.now() >= deadline {
            resolver.handle_timeout(clock.now());
        }
    }
}

/// Sends the resolver's TCP query and reads back one framed reply.
fn exchange_over_tcp(resolver: &mut TestResolver, id: duet_netstack::dns::QueryId) -> Vec<u8> {
    let mut buf = [0u8; 1500];
    let (server, len) = resolver.encode_tcp_query(id, &mut buf).expect("TCP query");
    let mut stream = TcpStream::connect(SocketAddr::from(server)).expect("TCP connect");
    stream
        .set_read_timeout(Some(StdDuration::from_secs(3)))
        .expect("read timeout");
    stream.write_all(&buf[..len]).expect("TCP send");
    let mut prefix = [0u8; 2];
    stream.read_exact(&mut prefix).expect("TCP length");
    let mut reply = prefix.to_vec();
    reply.resize(2 + usize::from(u16::from_be_bytes(prefix)), 0);
    stream.read_exact(&mut reply[2..]).expect("TCP message");
    reply
}

fn addresses(resolution: &Resolution) -> Vec<IpAddr> {
    match &resolution.result {
        Ok(answer) => answer.addresses().to_vec(),
        Err(error) => panic!("expected addresses, got {error}"),
    }
}

#[test]
fn resolves_against_dnsmasq() {
    let dnsmasq = Dnsmasq::start();
    let clock = Clock(std::time::Instant::now());
    let mut r = resolver(&[dnsmasq.endpoint()], 0xd15c0);
    let broker_v4 = IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3));

    let a = resolve(&mut r, &clock, "broker.iot.test", RecordKind::A);
    assert_eq!(addresses(&a), [broker_v4]);
    assert!(a.rejected.is_empty(), "{:?}", a.rejected);

    let aaaa = resolve(&mut r, &clock, "broker.iot.test", RecordKind::Aaaa);
    assert_eq!(
        addresses(&aaaa),
        [IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1))]
    );

    let alias = resolve(&mut r, &clock, "Alias.IoT.test", RecordKind::A);
    assert_eq!(addresses(&alias), [broker_v4]);

    let v6only = resolve(&mut r, &clock, "v6only.iot.test", RecordKind::Aaaa);
    assert_eq!(
        addresses(&v6only),
        [IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2))]
    );

    let unknown = resolve(&mut r, &clock, "unknown.iot.test", RecordKind::A);
    assert_eq!(unknown.result, Err(DnsError::NameNotFound));

    let sent = r.stats().queries_sent;
    assert_eq!(sent, 5);
    assert_eq!(r.stats().timeouts, 0);

    // A dead first server: the query times out there and moves on.
    let dead = IpEndpoint::new(IpAddr::V4(LOOPBACK), free_udp_port());
    let mut failover = resolver(&[dead, dnsmasq.endpoint()], 0xfa11);
    let resolved = resolve(&mut failover, &clock, "broker.iot.test", RecordKind::A);
    assert_eq!(addresses(&resolved), [broker_v4]);
    assert_eq!(failover.stats().timeouts, 1);
    assert_eq!(failover.stats().queries_sent, 2);
}

/// The query's header and question with QR, RD, RA and `extra_flags` set,
/// followed by `answers` (already in wire form).
fn reply_to(query: &[u8], extra_flags: u16, answers: &[&[u8]]) -> Vec<u8> {
    let mut out = query.to_vec();
    out[2..4].copy_from_slice(&(0x8180 | extra_flags).to_be_bytes());
    out[6..8].copy_from_slice(&(answers.len() as u16).to_be_bytes());
    for answer in answers {
        out.extend_from_slice(answer);
    }
    out
}

/// An A record for the question name (a pointer to offset 12).
fn a_record(owner: &[u8], address: [u8; 4]) -> Vec<u8> {
    let mut out = owner.to_vec();
    out.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
    out.extend_from_slice(&address);
    out
}

#[test]
fn survives_a_hostile_responder() {
    // UDP and TCP on the same loopback port, as a DNS server has.
    let (udp, tcp) = (0..20)
        .find_map(|_| {
            let udp = UdpSocket::bind((LOOPBACK, 0)).ok()?;
            let port = udp.local_addr().ok()?.port();
            let tcp = TcpListener::bind((LOOPBACK, port)).ok()?;
            Some((udp, tcp))
        })
        .expect("a port free for UDP and TCP");
    let server = IpEndpoint::from(udp.local_addr().expect("address"));
    let good_address = [10, 9, 8, 7];

    let responder = std::thread::spawn(move || {
        udp.set_read_timeout(Some(StdDuration::from_secs(5)))
            .expect("timeout");
        let mut buf = [0u8; 1500];
        let (len, client) = udp.recv_from(&mut buf).expect("the query arrives");
        let query = buf[..len].to_vec();
        let answer_at = query.len() as u8;

        let mut wrong_id = reply_to(&query, 0, &[&a_record(&[0xc0, 12], [6, 6, 6, 6])]);
        wrong_id[0] ^= 0x55;
        udp.send_to(&wrong_id, client).expect("send");

        let elsewhere = UdpSocket::bind((LOOPBACK, 0)).expect("second socket");
        let spoofed = reply_to(&query, 0, &[&a_record(&[0xc0, 12], [6, 6, 6, 6])]);
        elsewhere.send_to(&spoofed, client).expect("send");

        let looped = reply_to(&query, 0, &[&a_record(&[0xc0, answer_at], [6, 6, 6, 6])]);
        udp.send_to(&looped, client).expect("send");

        let truncated = reply_to(&query, 0x0200, &[]);
        udp.send_to(&truncated, client).expect("send");

        let (mut stream, _) = tcp.accept().expect("the TCP retry connects");
        stream
            .set_read_timeout(Some(StdDuration::from_secs(5)))
            .expect("timeout");
        let mut prefix = [0u8; 2];
        stream.read_exact(&mut prefix).expect("length");
        let mut tcp_query = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
        stream.read_exact(&mut tcp_query).expect("query");
        assert_eq!(&tcp_query[2..], &query[2..], "the same question over TCP");
        let good = reply_to(&tcp_query, 0, &[&a_record(&[0xc0, 12], good_address)]);
        let mut framed = (good.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&good);
        stream.write_all(&framed).expect("reply");
    });

    let clock = Clock(std::time::Instant::now());
    let mut r = resolver(&[server], 0xbad);
    let resolution = resolve(&mut r, &clock, "broker.iot.test", RecordKind::A);
    responder.join().expect("the responder finished its script");

    assert_eq!(
        resolution.rejected,
        [
            DnsError::WrongId,
            DnsError::UnexpectedSource,
            DnsError::Malformed
        ]
    );
    assert!(resolution.used_tcp);
    assert_eq!(
        addresses(&resolution),
        [IpAddr::V4(Ipv4Addr::from(good_address))]
    );
    let stats = r.stats();
    assert_eq!(
        (stats.wrong_id, stats.unexpected_source, stats.malformed),
        (1, 1, 1)
    );
    assert_eq!(
        (stats.truncated, stats.tcp_queries, stats.answers),
        (1, 1, 1)
    );
}
