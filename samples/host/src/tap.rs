//! Duet's stack alone on a Linux TAP device, with the kernel as the peer:
//! `--tap IFNAME` serves ping and UDP echo on a TAP you made; `--kernel`
//! (as root) makes a private network namespace with a TAP in it and has
//! the kernel ping the stack and use its echo service.

use std::net::{Ipv4Addr, UdpSocket as KernelUdpSocket};
use std::process::Command;
use std::thread;
use std::time::{Duration as StdDuration, Instant as StdInstant};

use duet_netstack::asynch::{self, StackCell, UdpSocket};
use duet_netstack::driver::tap::TapDevice;
use duet_netstack::iface::{InterfaceConfig, Ipv4Cidr, Ipv4Config};
use duet_netstack::{Config, EthernetAddress, Stack, StackResources};
use embassy_futures::select::select;

const ECHO_PORT: u16 = 7;
const STACK_MAC: [u8; 6] = [0x02, 0xd0, 0xe7, 0x00, 0x00, 0x02];

/// Runs our stack on `tap` until `stop` says so; the echo task answers port 7.
fn run_stack(tap: TapDevice, address: Ipv4Cidr, stop: impl Fn() -> bool) -> duet_netstack::Stats {
    let mut resources = StackResources::<32, 4>::new();
    let mut stack = Stack::new(
        &mut resources,
        Config {
            seed: std::process::id().into(),
            ..Config::default()
        },
    );
    let ipv4 = Ipv4Config {
        address,
        gateway: None,
    };
    let hardware_address = EthernetAddress(STACK_MAC);
    stack
        .add_interface(InterfaceConfig {
            hardware_address,
            ipv4: Some(ipv4),
        })
        .expect("one interface fits");
    let cell = StackCell::new(stack);
    let (stack, mut runner) = asynch::new(&cell, tap);
    let echo = async {
        let mut socket = UdpSocket::new(stack).expect("a socket slot is free");
        socket.bind(ECHO_PORT).expect("port 7 is free");
        socket.set_recv_queue_limit(16);
        let mut buffer = [0u8; 1500];
        while !stop() {
            let received = embassy_futures::select::select(
                socket.recv_from(&mut buffer),
                embassy_time::Timer::after_millis(50),
            )
            .await;
            if let embassy_futures::select::Either::First(Ok((len, meta))) = received {
                let _ = socket.send_to(&buffer[..len], meta.remote).await;
            }
        }
    };
    embassy_futures::block_on(select(runner.run(), echo));
    stack.with(|s| s.stats().clone())
}

pub fn serve(tap: &str, address: Ipv4Cidr) -> Result<(), String> {
    let device =
        TapDevice::open(tap, STACK_MAC).map_err(|e| format!("cannot open TAP {tap}: {e}"))?;
    println!(
        "duet stack up on {tap} as {}/{}; ping it, or send UDP to port {ECHO_PORT}",
        address.address(),
        address.prefix_len()
    );
    run_stack(device, address, || false);
    Ok(())
}

/// Prints one timeline line.
fn step(start: StdInstant, what: impl std::fmt::Display) {
    println!("[{:>7.3}s] {what}", start.elapsed().as_secs_f64());
}

fn sh(args: &[&str]) -> Result<String, String> {
    let output = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args[0]))?;
    if !output.status.success() {
        return Err(format!(
            "`{}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

pub fn kernel_demo() -> Result<(), String> {
    let start = StdInstant::now();
    // SAFETY: unshare takes no pointers; it moves this thread (and the
    // processes and threads it starts) into a fresh network namespace.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(format!(
            "cannot create a network namespace ({}); run as root, or use --tap IFNAME",
            std::io::Error::last_os_error()
        ));
    }
    step(start, "private network namespace created");
    let stack_address = Ipv4Cidr::new(Ipv4Addr::new(192, 168, 77, 2), 24);
    let device =
        TapDevice::open("duet0", STACK_MAC).map_err(|e| format!("cannot open TAP: {e}"))?;
    sh(&["ip", "link", "set", "lo", "up"])?;
    sh(&["ip", "addr", "add", "192.168.77.1/24", "dev", "duet0"])?;
    sh(&["ip", "link", "set", "duet0", "up"])?;
    step(
        start,
        "TAP duet0 up: kernel 192.168.77.1/24, duet stack 192.168.77.2/24",
    );

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stack_stop = stop.clone();
    let stack_thread = thread::spawn(move || {
        run_stack(device, stack_address, move || {
            stack_stop.load(std::sync::atomic::Ordering::Relaxed)
        })
    });

    let result = exercise(start);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let stats = stack_thread
        .join()
        .map_err(|_| "the stack thread panicked".to_string())?;
    step(start, "stack stopped; its counters:");
    println!(
        "    ethernet rx {} tx {} | arp rx {} requests {} replies {} announcements {} | ipv4 rx {} tx {}",
        stats.ethernet.rx_frames,
        stats.ethernet.tx_frames,
        stats.arp.rx_packets,
        stats.arp.tx_requests,
        stats.arp.tx_replies,
        stats.arp.tx_announcements,
        stats.ipv4.rx_packets,
        stats.ipv4.tx_packets
    );
    println!(
        "    icmp echo requests {} replies {} | udp rx {} tx {} | drops: udp no socket {} ipv4 martian {}",
        stats.icmp.rx_echo_requests,
        stats.icmp.tx_echo_replies,
        stats.udp.rx_datagrams,
        stats.udp.tx_datagrams,
        stats.udp.drop_no_socket,
        stats.ipv4.drop_martian
    );
    result
}

/// The kernel's side: ping the stack, then use its UDP echo.
fn exercise(start: StdInstant) -> Result<(), String> {
    let ping = sh(&["ping", "-c", "5", "-i", "0.2", "-W", "2", "192.168.77.2"])?;
    let summary = ping
        .lines()
        .find(|l| l.contains("packet loss"))
        .unwrap_or("no summary");
    let rtt = ping.lines().find(|l| l.starts_with("rtt")).unwrap_or("");
    step(start, format!("kernel pinged the stack: {summary}"));
    if !rtt.is_empty() {
        step(start, format!("  {rtt}"));
    }
    if !summary.contains(" 0% packet loss") {
        return Err(format!("ping lost packets: {summary}"));
    }

    let socket = KernelUdpSocket::bind("192.168.77.1:0").map_err(|e| e.to_string())?;
    socket
        .set_read_timeout(Some(StdDuration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    let mut buffer = [0u8; 2048];
    let count = 100;
    for n in 0..count {
        let message = format!("hello duet #{n}");
        socket
            .send_to(message.as_bytes(), ("192.168.77.2", ECHO_PORT))
            .map_err(|e| e.to_string())?;
        let (len, from) = socket
            .recv_from(&mut buffer)
            .map_err(|e| format!("no echo for #{n}: {e}"))?;
        if &buffer[..len] != message.as_bytes() || from.port() != ECHO_PORT {
            return Err(format!("echo #{n} came back wrong from {from}"));
        }
    }
    step(
        start,
        format!(
            "UDP echo on port {ECHO_PORT}: {count} of {count} datagrams came back byte for byte"
        ),
    );
    let neighbours = sh(&["ip", "neigh", "show", "dev", "duet0"])?;
    step(
        start,
        format!("kernel's ARP entry for the stack: {}", neighbours.trim()),
    );
    Ok(())
}
