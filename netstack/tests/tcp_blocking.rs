//! The blocking TCP stream (`duet_netstack::blocking::TcpStream`, the
//! `embedded_io` traits) against the Linux kernel: our stack on a TAP in a
//! private network namespace, a kernel echo server on the other side.
#![cfg(all(feature = "std", feature = "tcp"))]

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, TcpListener};
use std::process::Command;
use std::time::Instant as StdInstant;

use duet_netstack::blocking::TcpStream;
use duet_netstack::driver::tap::TapDevice;
use duet_netstack::iface::{InterfaceConfig, Ipv4Cidr, Ipv4Config};
use duet_netstack::stack::TcpResources;
use duet_netstack::{Config, EthernetAddress, Instant, Stack, StackResources};
use embedded_io::{Read, Write};

fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().expect("ip runs");
    assert!(status.success(), "ip {args:?}");
}

#[test]
fn blocking_stream_echoes_a_megabyte_through_the_kernel() {
    // A thread of its own: unshare moves only this thread into the new
    // namespace, which disappears when the thread ends.
    std::thread::spawn(|| {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare needs root");
        let mac = [0x02, 0xb1, 0, 0, 0, 2];
        let mut tap = TapDevice::open("dblk0", mac).expect("TAP opens");
        ip(&["link", "set", "lo", "up"]);
        ip(&["addr", "add", "10.231.0.1/24", "dev", "dblk0"]);
        ip(&["link", "set", "dblk0", "up"]);

        let listener = TcpListener::bind("10.231.0.1:7007").expect("kernel listens");
        let echo = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().expect("kernel accepts");
            let mut buf = [0u8; 65536];
            let mut total = 0usize;
            loop {
                let n = conn.read(&mut buf).expect("kernel reads");
                if n == 0 {
                    return total;
                }
                total += n;
                conn.write_all(&buf[..n]).expect("kernel writes");
            }
        });

        let mut resources = StackResources::<64, 2>::new();
        let mut tcp = TcpResources::<2, 65536>::new();
        let mut stack = Stack::new(
            &mut resources,
            Config {
                seed: 5,
                ..Config::default()
            },
        );
        let ipv4 = Ipv4Config {
            address: Ipv4Cidr::new(Ipv4Addr::new(10, 231, 0, 2), 24),
            gateway: None,
        };
        stack
            .add_interface(InterfaceConfig {
                hardware_address: EthernetAddress(mac),
                ipv4: Some(ipv4),
            })
            .unwrap();
        stack.enable_tcp(&mut tcp);
        let start = StdInstant::now();
        let clock = move || Instant::from_micros(start.elapsed().as_micros() as u64);

        let mut stream = TcpStream::connect(
            &mut stack,
            &mut tap,
            clock,
            (Ipv4Addr::new(10, 231, 0, 1), 7007),
            32768,
            32768,
        )
        .expect("connects to the kernel");
        let total = 1 << 20;
        let data: Vec<u8> = (0..total).map(|i| (i % 253) as u8).collect();
        let mut echoed = Vec::with_capacity(total);
        let mut buf = [0u8; 4096];
        let mut written = 0;
        for chunk in data.chunks(8192) {
            stream.write_all(chunk).expect("writes");
            written += chunk.len();
            // Keep at most 16 KiB in the echo's path, so neither side's
            // buffers fill while the other waits.
            while written - echoed.len() > 16384 {
                let n = stream.read(&mut buf).expect("reads");
                echoed.extend_from_slice(&buf[..n]);
            }
        }
        stream.flush().expect("flushes");
        while echoed.len() < total {
            let n = stream.read(&mut buf).expect("reads");
            assert!(n > 0, "the stream ended early at {}", echoed.len());
            echoed.extend_from_slice(&buf[..n]);
        }
        assert!(echoed == data, "the echo is byte-exact");
        stream.close().expect("closes");
        assert_eq!(echo.join().expect("kernel side"), total);
    })
    .join()
    .expect("test thread");
}
