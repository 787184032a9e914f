//! DPS and hub flows with both ends on Duet's own TCP/IP stack: the device
//! on one stack, the emulator on another, joined by the in-process virtual
//! Ethernet link — the host demo's set-up, no root, no sockets of the OS.

use core::net::Ipv4Addr;
use std::time::Duration;

use duet::connector::Connector;
use duet::mqtt::QoS;
use duet_azure::client::{Credential, HubConfig, ProvisioningConfig};
use duet_azure_emulator::{Config, Dps, Emulator, Enrollment};
use duet_netstack::asynch::{self, StackCell, TcpListener, TcpSocket};
use duet_netstack::driver::virtual_link::{LinkConfig, VirtualClock, VirtualLink};
use duet_netstack::iface::{InterfaceConfig, Ipv4Cidr, Ipv4Config};
use duet_netstack::stack::TcpResources;
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

/// A stack with one interface at `ip` and TCP memory for four connections,
/// living as long as the test.
fn stack(mac: [u8; 6], ip: Ipv4Addr, seed: u64) -> &'static StackCell<'static> {
    let resources = Box::leak(Box::new(StackResources::<64, 4>::new()));
    let tcp = Box::leak(Box::new(TcpResources::<4, 65536>::new()));
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

#[tokio::test]
async fn provisioning_then_hub_over_duet_tcp_on_the_virtual_link() {
    let link = LinkConfig {
        mac_a: DEVICE_MAC,
        mac_b: CLOUD_MAC,
        ..LinkConfig::default()
    };
    let (device_end, cloud_end) = VirtualLink::pair(VirtualClock::default(), 5, link);
    let (device_stack, mut device_runner) =
        asynch::new(stack(DEVICE_MAC, DEVICE_IP, 1), device_end);
    let (cloud_stack, mut cloud_runner) = asynch::new(stack(CLOUD_MAC, CLOUD_IP, 2), cloud_end);

    let dps = Dps {
        polls_before_assigned: 1,
        ..Dps::new("0ne000000vl", HUB_HOST).with_enrollment(Enrollment::Individual {
            registration_id: "link-device".to_owned(),
            key: KEY.to_owned(),
        })
    };
    let emulator = Emulator::new(Config::new(HUB_HOST).with_dps(dps));
    // The emulator serves one connection at a time off the listener: the
    // device opens them one after another.
    let cloud = async {
        let mut listener = TcpListener::bind(cloud_stack, PORT, 4, 16384, 16384).unwrap();
        loop {
            let socket = listener.accept().await;
            emulator.serve(socket).await;
        }
    };

    let device = async {
        let config = ProvisioningConfig::new(
            device::DPS_HOST,
            "0ne000000vl",
            "link-device",
            Credential::SymmetricKey(KEY),
        );
        let mut dps = provisioning_over(DuetTcp(device_stack), config);
        let assignment = dps.register().await.expect("assigned over the link");
        assert_eq!(assignment.device_id, "link-device");
        assert_eq!(assignment.assigned_hub, HUB_HOST);

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
        let invoke = emulator.invoke_method("link-device", "ping", "{}", Duration::from_secs(10));
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
        assert_eq!(emulator.telemetry("link-device").len(), 20);
    };

    tokio::select! {
        _ = device_runner.run() => unreachable!("runners run forever"),
        _ = cloud_runner.run() => unreachable!("runners run forever"),
        _ = cloud => unreachable!("the emulator serves forever"),
        () = device => {}
    }
}
