//! The kernel side of the bench: iproute2 (`ip`, `ss`), iputils ping,
//! nftables and the kernel's own counters, each used from inside the test's
//! namespace.
//!
//! Every helper must be called from a thread in that namespace (the test
//! body's): child processes and sockets inherit the calling thread's
//! namespace, and `/proc/thread-self/net` shows it (`/proc/net` and
//! `/sys/class/net` show the process's original one instead).

use std::io::Write;
use std::net::{Ipv4Addr, UdpSocket};
use std::process::{Command, Output, Stdio};

/// Runs `program` and insists that it succeeds; returns its stdout.
pub fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} must be installed (apt-get install it): {e}"));
    expect_success(program, args, &output);
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn expect_success(program: &str, args: &[&str], output: &Output) {
    assert!(
        output.status.success(),
        "`{program} {}` failed ({}):\n{}{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

pub fn ip(args: &[&str]) -> String {
    run("ip", args)
}

/// The MAC of interface `ifname`, from `ip -br link show` (sysfs would show
/// the original namespace's interfaces, not this one's).
pub fn mac_of(ifname: &str) -> [u8; 6] {
    let line = ip(&["-br", "link", "show", "dev", ifname]);
    // "tap0    UP    6a:52:0f:01:d8:37 <BROADCAST,MULTICAST,UP,LOWER_UP>"
    let field = line
        .split_whitespace()
        .nth(2)
        .unwrap_or_else(|| panic!("no MAC in `ip -br link` output {line:?}"));
    parse_mac(field).unwrap_or_else(|| panic!("bad MAC {field:?} in {line:?}"))
}

pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut mac = [0; 6];
    let mut parts = text.split(':');
    for byte in &mut mac {
        *byte = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

pub fn format_mac(mac: [u8; 6]) -> String {
    mac.map(|b| format!("{b:02x}")).join(":")
}

/// A kernel neighbour entry as `ip neigh show` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighEntry {
    pub ip: Ipv4Addr,
    pub lladdr: Option<[u8; 6]>,
    /// NUD state: REACHABLE, STALE, DELAY, PROBE, INCOMPLETE, FAILED, ...
    pub state: String,
}

/// The kernel's IPv4 neighbour table on `ifname`.
pub fn neighbors(ifname: &str) -> Vec<NeighEntry> {
    // "10.207.4.2 lladdr 02:d0:e7:1a:b0:02 REACHABLE"
    ip(&["-4", "neigh", "show", "dev", ifname])
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let ip = words.first()?.parse().ok()?;
            let lladdr = words
                .iter()
                .position(|w| *w == "lladdr")
                .and_then(|i| parse_mac(words.get(i + 1)?));
            Some(NeighEntry {
                ip,
                lladdr,
                state: words.last()?.to_string(),
            })
        })
        .collect()
}

/// What iputils ping says at the end.
#[derive(Debug, Clone, PartialEq)]
pub struct PingSummary {
    pub transmitted: u32,
    pub received: u32,
    /// "0%" as printed.
    pub loss: String,
    /// min/avg/max/mdev in milliseconds.
    pub rtt_ms: Option<[f64; 4]>,
}

/// Parses ping's summary lines:
/// `100 packets transmitted, 100 received, 0% packet loss, time 1013ms` and
/// `rtt min/avg/max/mdev = 0.035/0.061/0.218/0.024 ms`.
pub fn parse_ping(stdout: &str) -> Option<PingSummary> {
    let counts = stdout.lines().find(|l| l.contains("packets transmitted"))?;
    let fields: Vec<&str> = counts.split(", ").collect();
    let number = |field: &str| field.split_whitespace().next()?.parse().ok();
    let transmitted = number(fields.first()?)?;
    let received = number(fields.get(1)?)?;
    let loss = fields
        .iter()
        .find(|f| f.ends_with("packet loss"))?
        .split_whitespace()
        .next()?
        .to_string();
    let rtt_ms = stdout
        .lines()
        .find(|l| l.starts_with("rtt "))
        .and_then(|line| {
            let values = line.split(" = ").nth(1)?.split_whitespace().next()?;
            let mut rtt = [0.0; 4];
            let mut parts = values.split('/');
            for value in &mut rtt {
                *value = parts.next()?.parse().ok()?;
            }
            Some(rtt)
        });
    Some(PingSummary {
        transmitted,
        received,
        loss,
        rtt_ms,
    })
}

/// The nftables table holding the loss rules.
pub const LOSS_TABLE: &str = "duet_loss";
/// Its chain on the TAP's ingress: frames our stack sends to the kernel.
pub const FROM_US: &str = "from_us";
/// Its chain on the TAP's egress: frames the kernel sends to our stack.
pub const TO_US: &str = "to_us";

/// Drops `percent` % of the IPv4 UDP frames crossing `ifname`, at random,
/// in both directions, counting each drop.
pub fn install_udp_loss(ifname: &str, percent: u32) {
    let rule =
        format!("meta protocol ip ip protocol udp numgen random mod 100 < {percent} counter drop");
    let script = format!(
        "table netdev {LOSS_TABLE} {{\n\
         \tchain {FROM_US} {{ type filter hook ingress device \"{ifname}\" priority 0; {rule}; }}\n\
         \tchain {TO_US} {{ type filter hook egress device \"{ifname}\" priority 0; {rule}; }}\n\
         }}\n"
    );
    nft(&script);
}

/// Loads an nftables script (`nft -f -`).
pub fn nft(script: &str) {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nft must be installed (apt-get install nftables)");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(script.as_bytes())
        .expect("write the nft script");
    let output = child.wait_with_output().expect("wait for nft");
    expect_success("nft", &["-f", "-", "<<", script], &output);
}

/// Packets the `counter` of the single rule in `chain` of the loss table has seen.
pub fn loss_counter(chain: &str) -> u64 {
    let listing = run("nft", &["list", "chain", "netdev", LOSS_TABLE, chain]);
    parse_counter_packets(&listing)
        .unwrap_or_else(|| panic!("no counter in nft listing:\n{listing}"))
}

/// The N of the first "counter packets N bytes M" in an nft listing.
pub fn parse_counter_packets(listing: &str) -> Option<u64> {
    let mut words = listing.split_whitespace();
    while let Some(word) = words.next() {
        if word == "counter" && words.next() == Some("packets") {
            return words.next()?.parse().ok();
        }
    }
    None
}

/// The N of every "counter packets N bytes M" in an nft listing, in order.
pub fn parse_all_counter_packets(listing: &str) -> Vec<u64> {
    let words: Vec<&str> = listing.split_whitespace().collect();
    words
        .windows(3)
        .filter(|w| w[0] == "counter" && w[1] == "packets")
        .filter_map(|w| w[2].parse().ok())
        .collect()
}

/// One socket as `ss -tino` shows it: the socket line and its indented
/// information line (`ts sack cubic wscale:7,7 rto:204 ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsSocket {
    /// ESTAB, CLOSE-WAIT, ...
    pub state: String,
    pub local: String,
    pub peer: String,
    pub info: String,
}

impl SsSocket {
    /// Whether the information line has `word` on its own (`ts`, `sack`).
    pub fn has(&self, word: &str) -> bool {
        self.info.split_whitespace().any(|w| w == word)
    }

    /// The value of `name:value` in the information line (`wscale` → "7,7").
    pub fn field(&self, name: &str) -> Option<&str> {
        self.info
            .split_whitespace()
            .find_map(|w| w.strip_prefix(name)?.strip_prefix(':'))
    }
}

/// The kernel's TCP sockets other than listeners, from `ss -tino` (`-i`
/// for TCP_INFO, `-o` for its options: ss prints `ts` and `sack` only then).
#[allow(dead_code)] // Not every test binary that includes this module uses it.
pub fn ss_tcp() -> Vec<SsSocket> {
    parse_ss(&run("ss", &["-tino"]))
}

/// Reads `ss -tino` output: a header, then per socket one line
/// `STATE RECV-Q SEND-Q LOCAL PEER [timer:(..)]` and indented information lines.
pub fn parse_ss(text: &str) -> Vec<SsSocket> {
    let mut sockets: Vec<SsSocket> = Vec::new();
    for line in text.lines().skip(1) {
        if line.starts_with(char::is_whitespace) {
            if let Some(socket) = sockets.last_mut() {
                if !socket.info.is_empty() {
                    socket.info.push(' ');
                }
                socket.info.push_str(line.trim());
            }
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if let [state, _, _, local, peer, ..] = words[..] {
            sockets.push(SsSocket {
                state: state.to_string(),
                local: local.to_string(),
                peer: peer.to_string(),
                info: String::new(),
            });
        }
    }
    sockets
}

/// Every counter of this namespace's /proc/net/snmp and /proc/net/netstat
/// (what `nstat -a` shows), named `Group.Name`: `Tcp.RetransSegs`,
/// `TcpExt.TCPSackRecovery`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetCounters(pub std::collections::BTreeMap<String, u64>);

impl NetCounters {
    #[allow(dead_code)] // Not every test binary that includes this module uses it.
    pub fn read() -> Self {
        let mut all = Self::default();
        for file in ["snmp", "netstat"] {
            let path = format!("/proc/thread-self/net/{file}");
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            all.0.extend(Self::parse(&text).0);
        }
        all
    }

    /// Reads pairs of lines `Group: Name Name ...` / `Group: value value ...`.
    pub fn parse(text: &str) -> Self {
        let mut counters = std::collections::BTreeMap::new();
        let lines: Vec<&str> = text.lines().collect();
        for pair in lines.chunks_exact(2) {
            let (Some((group, names)), Some((_, values))) =
                (pair[0].split_once(':'), pair[1].split_once(':'))
            else {
                continue;
            };
            for (name, value) in names.split_whitespace().zip(values.split_whitespace()) {
                // Some values (Tcp.MaxConn) are negative: not counters.
                if let Ok(value) = value.parse() {
                    counters.insert(format!("{group}.{name}"), value);
                }
            }
        }
        Self(counters)
    }

    pub fn get(&self, name: &str) -> u64 {
        self.0.get(name).copied().unwrap_or(0)
    }

    /// How much each counter grew since `before`; only those that did.
    pub fn since(&self, before: &Self) -> Self {
        Self(
            self.0
                .iter()
                .filter_map(|(name, &value)| {
                    let grown = value.saturating_sub(before.get(name));
                    (grown > 0).then(|| (name.clone(), grown))
                })
                .collect(),
        )
    }
}

/// The kernel's UDP counters (RFC 4113 udpInDatagrams etc.) in this namespace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UdpCounters {
    pub in_datagrams: u64,
    pub no_ports: u64,
    pub in_errors: u64,
    pub out_datagrams: u64,
    pub rcvbuf_errors: u64,
    pub in_csum_errors: u64,
}

pub fn udp_counters() -> UdpCounters {
    let snmp = std::fs::read_to_string("/proc/thread-self/net/snmp")
        .expect("read /proc/thread-self/net/snmp");
    parse_udp_counters(&snmp).unwrap_or_else(|| panic!("no Udp lines in\n{snmp}"))
}

/// Reads the `Udp:` header line and the value line after it.
pub fn parse_udp_counters(snmp: &str) -> Option<UdpCounters> {
    let mut lines = snmp.lines().filter(|l| l.starts_with("Udp: "));
    let names: Vec<&str> = lines.next()?.split_whitespace().skip(1).collect();
    let values: Vec<u64> = lines
        .next()?
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    let get = |name: &str| -> Option<u64> {
        let index = names.iter().position(|n| *n == name)?;
        values.get(index).copied()
    };
    Some(UdpCounters {
        in_datagrams: get("InDatagrams")?,
        no_ports: get("NoPorts")?,
        in_errors: get("InErrors")?,
        out_datagrams: get("OutDatagrams")?,
        rcvbuf_errors: get("RcvbufErrors")?,
        in_csum_errors: get("InCsumErrors")?,
    })
}

/// A kernel UDP socket bound to `ip:port`, with a 4 MiB receive buffer so a
/// burst from our stack is never dropped for room.
pub fn udp_socket(ip: Ipv4Addr, port: u16) -> UdpSocket {
    let socket = UdpSocket::bind((ip, port)).expect("bind the kernel UDP socket");
    nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::RcvBufForce, &(4 << 20))
        .expect("SO_RCVBUFFORCE");

    socket
}

#[test]
fn parsers_read_real_tool_output() {
    let ping = "--- 10.207.1.2 ping statistics ---\n\
                100 packets transmitted, 100 received, 0% packet loss, time 1013ms\n\
                rtt min/avg/max/mdev = 0.035/0.061/0.218/0.024 ms\n";
    assert_eq!(
        parse_ping(ping),
        Some(PingSummary {
            transmitted: 100,
            received: 100,
            loss: "0%".into(),
            rtt_ms: Some([0.035, 0.061, 0.218, 0.024]),
        })
    );
    let lossy = "3 packets transmitted, 1 received, +2 errors, 66.6667% packet loss, time 2003ms\n";
    let summary = parse_ping(lossy).unwrap();
    assert_eq!((summary.received, summary.loss.as_str()), (1, "66.6667%"));
    assert_eq!(summary.rtt_ms, None);

    let chain = "table netdev duet_loss {\n\tchain to_us {\n\t\ttype filter hook egress device \"t\" \
                 priority filter; policy accept;\n\t\tip protocol udp numgen random mod 100 < 5 \
                 counter packets 512 bytes 377344 drop\n\t}\n}\n";
    assert_eq!(parse_counter_packets(chain), Some(512));

    let snmp = "Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors \
                InCsumErrors IgnoredMulti MemErrors\nUdp: 7 1 0 9 0 0 2 0 0\n\
                UdpLite: InDatagrams NoPorts\nUdpLite: 0 0\n";
    let udp = parse_udp_counters(snmp).unwrap();
    assert_eq!(
        (udp.in_datagrams, udp.no_ports, udp.out_datagrams),
        (7, 1, 9)
    );
    assert_eq!(udp.in_csum_errors, 2);

    assert_eq!(
        parse_mac("6a:52:0f:01:d8:37"),
        Some([0x6a, 0x52, 0x0f, 0x01, 0xd8, 0x37])
    );
    assert_eq!(parse_mac("6a:52:0f:01:d8"), None);
    assert_eq!(format_mac(super::lab::OUR_MAC), "02:d0:e7:1a:b0:02");

    let table = "table netdev t {\n\tchain c {\n\t\tnumgen random mod 100 < 5 counter packets 3 \
                 bytes 9 drop\n\t\tnumgen random mod 100 < 1 counter packets 1 bytes 3 dup to \
                 \"t\"\n\t}\n}\n";
    assert_eq!(parse_all_counter_packets(table), [3, 1]);

    let ss = "State Recv-Q Send-Q Local Address:Port  Peer Address:Port Process\n\
              ESTAB 0      0          10.207.7.1:45678    10.207.7.2:5001 timer:(on,201ms,0)\n\
              \t cubic wscale:1,7 rto:201 mss:1448 ts sack retrans:0/3 lost:1\n\
              CLOSE-WAIT 1 0 10.207.7.1:5002 10.207.7.2:50000\n";
    let sockets = parse_ss(ss);
    assert_eq!(sockets.len(), 2);
    assert_eq!(
        (sockets[0].state.as_str(), sockets[0].local.as_str()),
        ("ESTAB", "10.207.7.1:45678")
    );
    assert_eq!(sockets[0].peer, "10.207.7.2:5001");
    assert!(sockets[0].has("ts") && sockets[0].has("sack") && !sockets[0].has("rto"));
    assert_eq!(sockets[0].field("wscale"), Some("1,7"));
    assert_eq!(sockets[0].field("retrans"), Some("0/3"));
    assert_eq!(sockets[1].info, "");

    let netstat = "TcpExt: SyncookiesSent TCPSackRecovery\nTcpExt: 0 4\n\
                   IpExt: InNoRoutes\nIpExt: 2\n";
    let counters = NetCounters::parse(netstat);
    assert_eq!(counters.get("TcpExt.TCPSackRecovery"), 4);
    assert_eq!(counters.get("IpExt.InNoRoutes"), 2);
    let before = NetCounters::parse("TcpExt: TCPSackRecovery\nTcpExt: 1\n");
    assert_eq!(
        counters.since(&before).0.into_iter().collect::<Vec<_>>(),
        [
            ("IpExt.InNoRoutes".to_string(), 2),
            ("TcpExt.TCPSackRecovery".to_string(), 3)
        ]
    );
}
