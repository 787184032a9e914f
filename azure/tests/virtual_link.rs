//! DPS and hub flows with both ends on Duet's own TCP/IP stack: the device
//! on one stack, the emulator on another, joined by the in-process virtual
//! Ethernet link — the host demo's set-up, no root, no sockets of the OS.

use core::future::Future;
use core::net::Ipv4Addr;
use std::time::Duration;

use duet::connector::Connector;
use duet::mqtt::QoS;
use duet_azure::client::{Credential, HubConfig, ProvisioningConfig};
use duet_azure_emulator::{Config, Dps, Emulator, Enrollment};
use duet_netstack::asynch::{self, StackCell, TcpListener, TcpSocket};
use duet_netstack::driver::virtual_link::{
    FaultConfig, LinkConfig, LinkControl, VirtualClock, VirtualLink,
};
use duet_netstack::iface::{InterfaceConfig, Ipv4Cidr, Ipv4Config};
use duet_netstack::stack::TcpResources;
use duet_netstack::time::{self, Instant};
use duet_netstack::{EthernetAddress, Stack, StackResources};
use serde_json::json;

#[path = "common/device.rs"]
mod device;
use device::{HUB_HOST, Seen, hub_with, leak, provisioning_over, tls, until};

const DEVICE_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0xd];
const CLOUD_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0xc];
const DEVICE_IP: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);
const CLOUD_IP: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
const PORT: u16 = 8883;
const KEY: &str = "dGhlLXRlc3QtZGV2aWNlLWtleS0wMS0zMi1ieXRlcyE=";

/// A stack with one interface at `ip` and TCP memory for eight connections
/// (the emulator's side holds a connection cut off by an outage beside the
/// one that replaces it), living as long as the test.
fn stack(mac: [u8; 6], ip: Ipv4Addr, seed: u64) -> &'static StackCell<'static> {
    let resources = Box::leak(Box::new(StackResources::<64, 4>::new()));
    let tcp = Box::leak(Box::new(TcpResources::<8, 262_144>::new()));
    let config = duet_netstack::Config {
        seed,
        ..duet_netstack::Config::default()
    };
    let mut stack = Stack::new(resources, config);
    stack
        .add_interface(InterfaceConfig {
            hardware_address: EthernetAddress(mac),
            ipv4: Some(Ipv4Config {
                address: Ipv4Cidr::new(ip, 24),
                gateway: None,
            }),
        })
        .unwrap();
    stack.enable_tcp(tcp);
    leak(StackCell::new(stack))
}

/// Opens a Duet TCP connection to the emulator's stack.
struct DuetTcp(asynch::Stack<'static>);

impl Connector for DuetTcp {
    type Transport = TcpSocket<'static>;

    async fn connect(&mut self) -> Result<TcpSocket<'static>, embedded_io::ErrorKind> {
        let mut socket =
            TcpSocket::new(self.0, 8192, 8192).map_err(|_| embedded_io::ErrorKind::OutOfMemory)?;
        socket
            .connect((CLOUD_IP, PORT))
            .await
            .map_err(|_| embedded_io::ErrorKind::ConnectionRefused)?;
        Ok(socket)
    }
}

/// The test's handles on the link: the device's outgoing direction and the
/// emulator's.
struct Sides {
    device: LinkControl,
    cloud: LinkControl,
}

impl Sides {
    fn set_faults(&self, faults: FaultConfig) {
        self.device.set_faults(faults.clone());
        self.cloud.set_faults(faults);
    }
}

/// Runs `device` on a Duet stack at one end of a virtual link with
/// `faults`, against `emulator` on a Duet stack at the other, serving every
/// connection at once as the real hub does (a connection an outage cut off
/// stays open on the cloud's side until a new one of the same device
/// supersedes it). The link's clock follows the wall clock, so its delays
/// are real; the stacks run on embassy-time's.
async fn on_the_link<F: Future<Output = ()>>(
    faults: FaultConfig,
    emulator: &'static Emulator,
    device: impl FnOnce(asynch::Stack<'static>, Sides) -> F,
) {
    let clock = VirtualClock::default();
    let link = LinkConfig {
        mac_a: DEVICE_MAC,
        mac_b: CLOUD_MAC,
        faults,
        ..LinkConfig::default()
    };
    let (device_end, cloud_end) = VirtualLink::pair(clock.clone(), 5, link);
    let sides = Sides {
        device: device_end.control(),
        cloud: cloud_end.control(),
    };
    let (device_stack, mut device_runner) =
        asynch::new(stack(DEVICE_MAC, DEVICE_IP, 1), device_end);
    let (cloud_stack, mut cloud_runner) = asynch::new(stack(CLOUD_MAC, CLOUD_IP, 2), cloud_end);
    let cloud = async {
        let mut listener = TcpListener::bind(cloud_stack, PORT, 4, 16384, 16384).unwrap();
        loop {
            let socket = listener.accept().await;
            tokio::task::spawn_local(emulator.serve(socket));
        }
    };
    let started = std::time::Instant::now();
    let ticking = async {
        loop {
            clock.set(Instant::from_micros(started.elapsed().as_micros() as u64));
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    let device = device(device_stack, sides);
    tokio::task::LocalSet::new()
        .run_until(async {
            tokio::select! {
                _ = device_runner.run() => unreachable!("runners run forever"),
                _ = cloud_runner.run() => unreachable!("runners run forever"),
                _ = cloud => unreachable!("the emulator serves forever"),
                _ = ticking => unreachable!("the clock ticks forever"),
                () = device => {}
            }
        })
        .await;
}

/// An emulator with DPS, where `registration_id` is enrolled with [`KEY`].
fn emulator_enrolling(registration_id: &str) -> &'static Emulator {
    let dps = Dps {
        polls_before_assigned: 1,
        ..Dps::new("0ne000000vl", HUB_HOST).with_enrollment(Enrollment::Individual {
            registration_id: registration_id.to_owned(),
            key: KEY.to_owned(),
        })
    };
    leak(Emulator::new(Config::new(HUB_HOST).with_dps(dps)))
}

/// Registers `registration_id` through DPS over `device_stack`; returns
/// the device id the hub knows it by.
async fn provision(device_stack: asynch::Stack<'static>, registration_id: &'static str) -> String {
    let config = ProvisioningConfig::new(
        device::DPS_HOST,
        "0ne000000vl",
        registration_id,
        Credential::SymmetricKey(KEY),
    );
    let mut dps = provisioning_over(DuetTcp(device_stack), config);
    let assignment = dps.register().await.expect("assigned over the link");
    assert_eq!(assignment.assigned_hub, HUB_HOST);
    assignment.device_id.to_owned()
}

/// The `n` property of every telemetry message the hub has from
/// `device_id`, in arrival order.
fn telemetry_numbers(emulator: &Emulator, device_id: &str) -> Vec<u32> {
    emulator
        .telemetry(device_id)
        .iter()
        .map(|m| m.property("n").expect("numbered").parse().unwrap())
        .collect()
}

#[tokio::test]
async fn provisioning_then_hub_over_duet_tcp_on_the_virtual_link() {
    let emulator = emulator_enrolling("link-device");
    on_the_link(
        FaultConfig::default(),
        emulator,
        |device_stack, _| async move {
            assert_eq!(provision(device_stack, "link-device").await, "link-device");

            let provider = leak(duet::crypto::soft::Soft::new());
            let config = HubConfig::new(HUB_HOST, "link-device", Credential::SymmetricKey(KEY));
            let transport = tls(DuetTcp(device_stack), HUB_HOST, provider, None, 3);
            let mut hub = hub_with(transport, provider, config, 8192);
            until(&mut hub, 10, |e| *e == Seen::Connected).await;
            for n in 0..20 {
                hub.send_telemetry(
                    &[("n", &n.to_string())],
                    b"{\"over\":\"link\"}",
                    QoS::AtLeastOnce,
                )
                .await
                .unwrap();
            }
            for _ in 0..20 {
                until(&mut hub, 10, |e| *e == Seen::TelemetryAcknowledged).await;
            }
            let version = emulator.patch_desired("link-device", json!({"interval": 5}));
            let seen = until(&mut hub, 10, |e| matches!(e, Seen::DesiredUpdate(..))).await;
            assert_eq!(
                seen,
                Seen::DesiredUpdate(version, json!({"interval": 5, "$version": version}))
            );
            let invoke =
                emulator.invoke_method("link-device", "ping", "{}", Duration::from_secs(10));
            let answer = async {
                let Seen::Method { request_id, .. } =
                    until(&mut hub, 10, |e| matches!(e, Seen::Method { .. })).await
                else {
                    unreachable!()
                };
                hub.respond(&request_id, 200, b"{\"pong\":true}")
                    .await
                    .unwrap();
            };
            let (response, ()) = tokio::join!(invoke, answer);
            assert_eq!(response.expect("answered").status, 200);
            assert_eq!(
                telemetry_numbers(emulator, "link-device"),
                (0..20).collect::<Vec<_>>()
            );
        },
    )
    .await;
}

/// What a device on a poor Wi-Fi link sees: 5 % of frames lost, 2 %
/// duplicated and 5 % overtaken by later ones, both ways.
const POOR_WIFI: FaultConfig = FaultConfig {
    loss_ppm: 50_000,
    duplicate_ppm: 20_000,
    reorder_ppm: 50_000,
    corrupt_ppm: 0,
    delay: time::Duration::ZERO,
    jitter: time::Duration::ZERO,
    reorder_delay: time::Duration::from_millis(5),
};

/// The whole path — DPS, then TLS and MQTT to the hub, over Duet's TCP —
/// on a lossy link, then through an outage long enough for the MQTT
/// keep-alive to call the connection dead: every QoS 1 telemetry message,
/// sent before, during and after the outage, reaches the hub, and the
/// reconnected device gets twin updates again.
#[tokio::test]
async fn a_device_on_a_lossy_link_loses_no_telemetry_and_rides_out_an_outage() {
    let emulator = emulator_enrolling("wifi-device");
    on_the_link(POOR_WIFI, emulator, |device_stack, sides| async move {
        let device_id = provision(device_stack, "wifi-device").await;
        let device_id: &'static str = leak(device_id).as_str();

        let provider = leak(duet::crypto::soft::Soft::new());
        let mut config = HubConfig::new(HUB_HOST, device_id, Credential::SymmetricKey(KEY));
        // Short enough that the test sees the outage called within seconds.
        config.keep_alive_secs = 3;
        config.backoff.initial = time::Duration::from_millis(200);
        config.backoff.max = time::Duration::from_secs(2);
        let transport = tls(DuetTcp(device_stack), HUB_HOST, provider, None, 3);
        let mut hub = hub_with(transport, provider, config, 8192);
        until(&mut hub, 60, |e| *e == Seen::Connected).await;

        let send = async |hub: &mut device::Hub<DuetTcp>, numbers: core::ops::Range<u32>| {
            for n in numbers {
                hub.send_telemetry(&[("n", &n.to_string())], b"{}", QoS::AtLeastOnce)
                    .await
                    .unwrap();
            }
        };
        send(&mut hub, 0..30).await;
        for _ in 0..30 {
            until(&mut hub, 60, |e| *e == Seen::TelemetryAcknowledged).await;
        }

        // The outage: nothing gets through either way until the device has
        // called the connection dead. Ten messages are sent meanwhile.
        sides.set_faults(FaultConfig {
            loss_ppm: 1_000_000,
            ..FaultConfig::default()
        });
        send(&mut hub, 30..40).await;
        until(&mut hub, 60, |e| *e == Seen::Disconnected).await;
        sides.set_faults(POOR_WIFI);

        until(&mut hub, 60, |e| *e == Seen::Connected).await;
        send(&mut hub, 40..50).await;
        let mut acknowledged = 0;
        while acknowledged < 20 {
            until(&mut hub, 60, |e| *e == Seen::TelemetryAcknowledged).await;
            acknowledged += 1;
        }
        let version = emulator.patch_desired(device_id, json!({"interval": 7}));
        let seen = until(&mut hub, 60, |e| matches!(e, Seen::DesiredUpdate(..))).await;
        assert_eq!(
            seen,
            Seen::DesiredUpdate(version, json!({"interval": 7, "$version": version}))
        );

        // Every message arrived; QoS 1 allows a resent one to arrive twice.
        let mut numbers = telemetry_numbers(emulator, device_id);
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(numbers, (0..50).collect::<Vec<_>>());
        // The faults were there: frames lost, doubled and overtaken.
        let (device, cloud) = (sides.device.stats(), sides.cloud.stats());
        assert!(
            device.dropped + cloud.dropped > 0
                && device.duplicated + cloud.duplicated > 0
                && device.reordered + cloud.reordered > 0,
            "device {device:?}, cloud {cloud:?}"
        );
        println!("device {device:?}\ncloud {cloud:?}");
    })
    .await;
}
