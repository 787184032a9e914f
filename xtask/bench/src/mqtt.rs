//! The `mqtt` area: 100,000 publishes of 64 bytes to a local mosquitto at
//! QoS 0, 1 and 2, Duet's MQTT session against rumqttc (its synchronous
//! client, a tokio event loop underneath), one after the other on the same
//! broker, in messages per second of wall time.
//!
//! Duet's side is its sans-IO `Session` over a blocking `TcpStream`:
//! publishes are written in batches until the in-flight window is full,
//! then acknowledgements are read and answered (PUBREL for QoS 2). Both
//! clients keep at most 100 messages in flight (rumqttc's default).
//! For both clients the clock stops when the broker, after every
//! acknowledgement (PUBACK, PUBCOMP) due at QoS 1 and 2, has closed the
//! connection on the client's DISCONNECT: it has then read every publish.
//!
//! Lines: `bench mqtt qos<N> duet=<msgs/s> rumqttc=<msgs/s> ratio=<x>`, then
//! `bench mqtt-detail qos<N> ...` with each client's own CPU time per
//! message, how busy the broker was (at 0.9 and above the broker, not the
//! client, sets both rates, and their ratio stays near 1), the broker's CPU
//! time per message (its inverse bounds any client's rate) and how many
//! read and write system calls the broker made per message: mosquitto reads
//! each packet with its own calls and writes each acknowledgement with its
//! own, so that count, and with it the broker's work per message, does not
//! depend on how the client batches its writes. (`strace -c` on mosquitto
//! 2.0.11 during a QoS 1 run counted, per message, 3 reads, 1 write, 4
//! `epoll_ctl`, 1 `epoll_wait` and 2 `rt_sigprocmask`: one packet per
//! wake-up, whatever the client.) Last, `bench mqtt-client
//! qos<N> duet_client=<msgs/s> ...`: the same run with the async
//! `mqtt::Client` a firmware uses ([`crate::mqtt_client`]) in place of the
//! hand-driven session.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant as WallClock};

use crate::local_port::{free_port, wait_listening};
use duet::mqtt::codec::{Connect, Properties, Publish, frame_len};
use duet::mqtt::{Event, Packet, ProtocolVersion, QoS, Session};
use duet::netstack::time::Instant;

/// In-flight QoS 1/2 publishes on each side.
pub(crate) const WINDOW: usize = 100;
pub(crate) const TOPIC: &str = "bench/duet";
pub(crate) const PAYLOAD: [u8; 64] = [0x42; 64];

/// mosquitto on a free loopback port with its own directory.
struct Broker {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Broker {
    fn start() -> Result<Broker, String> {
        let port = free_port()?;
        let dir = std::env::temp_dir().join(format!("duet-bench-mqtt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let conf = dir.join("mosquitto.conf");
        // `user root`: started as root, mosquitto would otherwise drop to a
        // user that cannot write our directory.
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
                 max_inflight_messages 0\nmax_queued_messages 0\nuser root\n"
            ),
        )
        .map_err(|e| e.to_string())?;
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("mosquitto: {e} (apt-get install mosquitto)"))?;
        let broker = Broker { child, port, dir };
        wait_listening(port, "mosquitto")?;
        Ok(broker)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn qos_of(level: u8) -> QoS {
    match level {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

/// Reads whatever the broker sent and hands every whole packet to the
/// session; returns how many publishes completed.
fn read_and_handle(
    session: &mut Session<WINDOW, WINDOW>,
    stream: &mut TcpStream,
    inbox: &mut Vec<u8>,
    now: Instant,
) -> Result<u64, String> {
    // One blocking read takes everything that has arrived (a window of
    // acknowledgements is far below 64 KiB), so each round answers them
    // all at once with one system call.
    let mut chunk = [0u8; 64 * 1024];
    let n = stream.read(&mut chunk).map_err(|e| e.to_string())?;
    if n == 0 {
        return Err("the broker closed the connection".into());
    }
    inbox.extend_from_slice(&chunk[..n]);
    let mut completed = 0;
    let mut used = 0;
    while let Ok(len) = frame_len(&inbox[used..]) {
        if inbox.len() - used < len {
            break;
        }
        let (packet, _) = Packet::decode(&inbox[used..used + len], ProtocolVersion::V311)
            .map_err(|e| e.to_string())?;
        if let Some(Event::Published { .. }) = session
            .handle_packet(now, &packet)
            .map_err(|e| e.to_string())?
        {
            completed += 1;
        }
        used += len;
    }
    inbox.drain(..used);
    Ok(completed)
}

/// Duet: `count` publishes at `qos`, messages per second.
fn duet_rate(port: u16, qos: u8, count: u64) -> Result<f64, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let epoch = WallClock::now();
    let now = || Instant::from_micros(epoch.elapsed().as_micros() as u64);
    let mut session: Session<WINDOW, WINDOW> = Session::new();
    let mut out = vec![0u8; 256 * 1024];
    let connect = Connect {
        version: ProtocolVersion::V311,
        clean_start: true,
        keep_alive: 60,
        properties: Properties::EMPTY,
        client_id: "duet-bench",
        will: None,
        username: None,
        password: None,
    };
    let n = session
        .connect(now(), &connect, &mut out)
        .map_err(|e| e.to_string())?;
    stream.write_all(&out[..n]).map_err(|e| e.to_string())?;
    let mut inbox = Vec::new();
    while session.state() != duet::mqtt::session::State::Connected {
        read_and_handle(&mut session, &mut stream, &mut inbox, now())?;
    }
    let publish = Publish {
        dup: false,
        qos: qos_of(qos),
        retain: false,
        topic: TOPIC,
        packet_id: 0,
        properties: Properties::EMPTY,
        payload: &PAYLOAD,
    };
    let started = WallClock::now();
    let (mut sent, mut completed) = (0u64, 0u64);
    while completed < count {
        // A batch: as many publishes as the window (and the buffer) take,
        // plus the PUBRELs owed, in one write.
        let mut len = 0;
        while let Ok(Some(n)) = session.poll_transmit(now(), &mut out[len..]) {
            len += n;
        }
        while sent < count && len + 128 < out.len() {
            match session.publish(now(), &publish, &mut out[len..]) {
                Ok((n, _)) => {
                    len += n;
                    sent += 1;
                    if qos == 0 {
                        completed += 1;
                    }
                }
                Err(duet::mqtt::SessionError::WindowFull) => break,
                Err(e) => return Err(e.to_string()),
            }
        }
        stream.write_all(&out[..len]).map_err(|e| e.to_string())?;
        if qos > 0 && completed < count {
            completed += read_and_handle(&mut session, &mut stream, &mut inbox, now())?;
        }
    }
    let n = session.disconnect(&mut out).map_err(|e| e.to_string())?;
    stream.write_all(&out[..n]).map_err(|e| e.to_string())?;
    stream
        .shutdown(std::net::Shutdown::Write)
        .map_err(|e| e.to_string())?;
    let mut rest = [0u8; 1024];
    while matches!(stream.read(&mut rest), Ok(n) if n > 0) {}
    Ok(count as f64 / started.elapsed().as_secs_f64())
}

/// rumqttc's synchronous client: a thread publishes, this one drives the
/// event loop and counts completions.
fn rumqttc_rate(port: u16, qos: u8, count: u64) -> Result<f64, String> {
    use rumqttc::{Client, Event as RumEvent, MqttOptions, Outgoing, Packet as RumPacket};
    let mut options = MqttOptions::new("rumqttc-bench", "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(60));
    options.set_inflight(WINDOW as u16);
    let (client, mut connection) = Client::new(options, 1024);
    let level = match qos {
        0 => rumqttc::QoS::AtMostOnce,
        1 => rumqttc::QoS::AtLeastOnce,
        _ => rumqttc::QoS::ExactlyOnce,
    };
    let started = WallClock::now();
    let publisher = std::thread::spawn(move || {
        for _ in 0..count {
            if client
                .publish(TOPIC, level, false, PAYLOAD.to_vec())
                .is_err()
            {
                return client;
            }
        }
        client
    });
    let mut completed = 0;
    for event in connection.iter() {
        let event = event.map_err(|e| e.to_string())?;
        let done = match event {
            RumEvent::Outgoing(Outgoing::Publish(_)) => qos == 0,
            RumEvent::Incoming(RumPacket::PubAck(_)) => qos == 1,
            RumEvent::Incoming(RumPacket::PubComp(_)) => qos == 2,
            _ => false,
        };
        if done {
            completed += 1;
            if completed == count {
                break;
            }
        }
    }
    // As Duet's run: the clock stops once the broker has closed the
    // connection after the DISCONNECT, so it has read every publish. (At
    // QoS 0 an outgoing publish is only in the socket's send buffer, which
    // holds megabytes on loopback.)
    let client = publisher.join().map_err(|_| "publisher panicked")?;
    client.disconnect().map_err(|e| e.to_string())?;
    let mut disconnect_sent = false;
    for event in connection.iter() {
        match event {
            Ok(RumEvent::Outgoing(Outgoing::Disconnect)) => disconnect_sent = true,
            Ok(_) => {}
            Err(_) if disconnect_sent => break,
            Err(e) => return Err(e.to_string()),
        }
    }
    let elapsed = started.elapsed();
    drop(client);
    Ok(count as f64 / elapsed.as_secs_f64())
}

/// What one client's run cost: messages per second of wall time, this
/// process's CPU time per message (the client alone: the broker is another
/// process), the share of the wall time the broker spent on a CPU and its
/// CPU time per message. One broker core can serve at most
/// 1 / `broker_us_per_message` messages a microsecond, whatever the client.
struct Run {
    rate: f64,
    client_us_per_message: f64,
    broker_busy: f64,
    broker_us_per_message: f64,
    broker_syscalls_per_message: f64,
}

/// Runs `client` against a fresh broker and measures it.
fn measure(client: impl FnOnce(u16) -> Result<f64, String>, count: u64) -> Result<Run, String> {
    let broker = Broker::start()?;
    let cpu_before = crate::cpu::process_time().map_err(|e| e.to_string())?;
    let broker_before = broker_cpu(broker.child.id())?;
    let syscalls_before = broker_syscalls(broker.child.id())?;
    let wall = WallClock::now();
    let rate = client(broker.port)?;
    let wall = wall.elapsed();
    let broker_seconds = broker_cpu(broker.child.id())? - broker_before;
    let broker_syscalls = broker_syscalls(broker.child.id())? - syscalls_before;
    let cpu = crate::cpu::process_time().map_err(|e| e.to_string())? - cpu_before;
    Ok(Run {
        rate,
        client_us_per_message: cpu.as_secs_f64() * 1e6 / count as f64,
        broker_busy: broker_seconds / wall.as_secs_f64(),
        broker_us_per_message: broker_seconds * 1e6 / count as f64,
        broker_syscalls_per_message: broker_syscalls as f64 / count as f64,
    })
}

/// CPU seconds (user + system) process `pid` has used, from
/// `/proc/<pid>/stat` (clock ticks of 1/100 s).
fn broker_cpu(pid: u32) -> Result<f64, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| e.to_string())?;
    // Fields after the command name, which is in parentheses and may hold
    // spaces: state is field 3, utime 14, stime 15.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(user), Some(system)) => Ok((user + system) / 100.0),
        _ => Err(format!("cannot read the broker's CPU time from {stat:?}")),
    }
}

/// Read and write system calls process `pid` has made, from the `syscr`
/// and `syscw` lines of `/proc/<pid>/io`.
fn broker_syscalls(pid: u32) -> Result<u64, String> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).map_err(|e| e.to_string())?;
    let count = |key: &str| {
        io.lines()
            .find_map(|line| line.strip_prefix(key))
            .and_then(|value| value.trim().parse::<u64>().ok())
    };
    match (count("syscr:"), count("syscw:")) {
        (Some(reads), Some(writes)) => Ok(reads + writes),
        _ => Err(format!("cannot read the broker's system calls from {io:?}")),
    }
}

/// Runs per client and QoS, taken in turns (Duet, rumqttc, Duet, ...); each
/// client's figures are its median run's. On a shared virtual machine one
/// run's rate moves by a fifth from one run to the next (rumqttc at QoS 1:
/// 109k–175k msgs/s on 2026-11-21); the median of three in turns does not
/// let one slow spell decide the ratio.
const ROUNDS: usize = 3;

/// The run with the median rate.
fn median(mut runs: Vec<Run>) -> Run {
    runs.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    runs.swap_remove(runs.len() / 2)
}

/// Runs the area: `count` publishes per QoS and client, [`ROUNDS`] times.
///
/// Besides the line, `bench mqtt-detail` says what bounds the
/// rates: each client's own CPU time per message, and how busy the broker
/// was (1.0: one core saturated — the broker, not the client, set the pace).
pub fn run(count: u64) -> Result<(), String> {
    for qos in 0..=2u8 {
        let (mut duet_runs, mut rumqttc_runs, mut client_runs) =
            (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            duet_runs.push(
                measure(|port| duet_rate(port, qos, count), count)
                    .map_err(|e| format!("Duet qos{qos}: {e}"))?,
            );
            rumqttc_runs.push(
                measure(|port| rumqttc_rate(port, qos, count), count)
                    .map_err(|e| format!("rumqttc qos{qos}: {e}"))?,
            );
            client_runs.push(
                measure(|port| crate::mqtt_client::rate(port, qos, count), count)
                    .map_err(|e| format!("Duet's Client qos{qos}: {e}"))?,
            );
        }
        let (duet, rumqttc) = (median(duet_runs), median(rumqttc_runs));
        let client = median(client_runs);
        println!(
            "bench mqtt qos{qos} duet={:.0} rumqttc={:.0} ratio={:.2}",
            duet.rate,
            rumqttc.rate,
            duet.rate / rumqttc.rate
        );
        println!(
            "bench mqtt-detail qos{qos} duet_client_us_per_msg={:.3} \
             rumqttc_client_us_per_msg={:.3} client_cpu_ratio={:.2} \
             duet_broker_busy={:.2} rumqttc_broker_busy={:.2} \
             duet_broker_us_per_msg={:.2} rumqttc_broker_us_per_msg={:.2} \
             duet_broker_syscalls_per_msg={:.2} rumqttc_broker_syscalls_per_msg={:.2}",
            duet.client_us_per_message,
            rumqttc.client_us_per_message,
            duet.client_us_per_message / rumqttc.client_us_per_message,
            duet.broker_busy,
            rumqttc.broker_busy,
            duet.broker_us_per_message,
            rumqttc.broker_us_per_message,
            duet.broker_syscalls_per_message,
            rumqttc.broker_syscalls_per_message
        );
        println!(
            "bench mqtt-client qos{qos} duet_client={:.0} rumqttc={:.0} ratio={:.2} \
             duet_client_us_per_msg={:.3} duet_client_broker_busy={:.2}",
            client.rate,
            rumqttc.rate,
            client.rate / rumqttc.rate,
            client.client_us_per_message,
            client.broker_busy
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_at(rate: f64) -> Run {
        Run {
            rate,
            client_us_per_message: rate / 1e6,
            broker_busy: 0.9,
            broker_us_per_message: 8.0,
            broker_syscalls_per_message: 4.0,
        }
    }

    #[test]
    fn a_client_is_reported_by_its_median_run_whole() {
        let picked = median(vec![run_at(90e3), run_at(175e3), run_at(110e3)]);
        assert_eq!(picked.rate, 110e3);
        // The detail figures come from the same run as the rate.
        assert_eq!(picked.client_us_per_message, 110e3 / 1e6);
    }
}
