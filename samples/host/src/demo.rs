//! The whole device-to-cloud story on one machine, with no root and no
//! network: a "cloud" Duet stack (the IoT Hub + DPS emulator, and the
//! DHCP, DNS and SNTP a real network offers) and a simulated device's Duet
//! stack, joined by the in-process virtual Ethernet link. The device boots
//! as a board would — address, resolver, time, DPS, hub — while a cloud
//! "operator" invokes a direct method, changes a desired property and
//! sends a cloud-to-device message.

use core::net::Ipv4Addr;
use std::cell::RefCell;
use std::time::{Duration, Instant};

use duet::crypto::x509::{TrustAnchor, trust_anchor_from_der};
use duet_azure_emulator::{Config, Dps, Emulator, Enrollment, MethodResponse};
use duet_netstack::asynch::{self, StackCell, TcpListener};
use duet_netstack::driver::virtual_link::{LinkConfig, VirtualClock, VirtualLink};
use duet_netstack::iface::{InterfaceConfig, Ipv4Cidr, Ipv4Config};
use duet_netstack::stack::TcpResources;
use duet_netstack::{EthernetAddress, Stack, StackResources};
use embassy_futures::select::{Either, select};

use crate::cloud;
use crate::device::{self, HubSession, Identity};

pub const HUB_HOST: &str = "hub.azure-devices.test";
pub const DPS_HOST: &str = "global.azure-devices-provisioning.test";
pub const CLOUD_IP: Ipv4Addr = Ipv4Addr::new(10, 42, 0, 1);
const CLOUD_MAC: [u8; 6] = [0x02, 0xd0, 0xe7, 0x00, 0x00, 0x01];

/// The demo device, as its factory configured it.
pub const IDENTITY: Identity = Identity {
    mac: [0x02, 0xd0, 0xe7, 0x00, 0x00, 0x02],
    dps_host: DPS_HOST,
    id_scope: "0ne00DEM000",
    registration_id: "thermostat-01",
    key: "ZHVldC1kZW1vLXRoZXJtb3N0YXQtMDEta2V5LTMyIQ==",
    model_id: "dtmi:com:example:Thermostat;1",
};

/// The test PKI's root, which the emulator's RSA chain leads to (a device
/// bound for real Azure trusts `certs/roots/` instead).
const TEST_ROOT: &[u8] = include_bytes!("../../../certs/test/root-ca.der");

/// A line-per-step record of the demo, with the time since it began.
#[derive(Debug)]
pub struct Timeline {
    start: Instant,
    echo: bool,
    lines: RefCell<Vec<String>>,
}

impl Timeline {
    /// `echo`: print each line as it comes.
    pub fn new(echo: bool) -> Self {
        Timeline {
            start: Instant::now(),
            echo,
            lines: RefCell::new(Vec::new()),
        }
    }

    pub fn say(&self, line: String) {
        let line = format!("[{:7.3}s] {line}", self.start.elapsed().as_secs_f64());
        if self.echo {
            println!("{line}");
        }
        self.lines.borrow_mut().push(line);
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.borrow().clone()
    }
}

/// How the story ended.
#[derive(Debug)]
pub struct Outcome {
    pub session: HubSession,
    pub method: MethodResponse,
    /// Telemetry messages the hub received.
    pub telemetry: usize,
    /// The device's reported properties on the hub, at the end.
    pub reported: serde_json::Value,
}

/// The device's whole life in the demo: network, DPS, hub, until it has
/// sent telemetry, answered a method, applied a desired property and taken
/// a C2D message.
pub async fn device_story(
    stack: asynch::Stack<'static>,
    identity: &Identity,
    anchors: &'static [TrustAnchor<'static>],
    say: &dyn Fn(String),
) -> Result<HubSession, String> {
    let network = device::join_network(stack, identity, identity.dps_host, say).await?;
    let (hub_host, device_id) = device::provision(stack, identity, &network, anchors, say).await?;
    let hub = (&*String::leak(hub_host), &*String::leak(device_id));
    let mut client = device::connect_hub(stack, identity, &network, hub, anchors, say).await?;
    device::live_on_hub(&mut client, say, |s| {
        s.methods_answered >= 1
            && s.desired_applied >= 1
            && s.c2d_received >= 1
            && s.telemetry_acknowledged >= 3
    })
    .await
}

/// The cloud operator: once the device listens for methods, a Plug and
/// Play command, a desired property and a cloud-to-device message.
pub async fn operator(
    emulator: &Emulator,
    device_id: &str,
    say: &dyn Fn(String),
) -> Result<MethodResponse, String> {
    let methods = "$iothub/methods/POST/any/?$rid=1";
    while !emulator
        .wait_for_subscription(device_id, methods, Duration::from_secs(1))
        .await
    {}
    say("cloud: invoking thermostat1*getMaxMinReport on the device".into());
    let method = emulator
        .invoke_method(
            device_id,
            "thermostat1*getMaxMinReport",
            "{\"since\":\"2026-01-01T00:00:00Z\"}",
            Duration::from_secs(10),
        )
        .await
        .map_err(|e| format!("method: {e}"))?;
    say(format!(
        "cloud: the device answered {}: {}",
        method.status, method.payload
    ));
    let version = emulator.patch_desired(
        device_id,
        serde_json::json!({"thermostat1": {"__t": "c", "targetTemperature": 25}}),
    );
    say(format!(
        "cloud: desired thermostat1.targetTemperature = 25 (version {version})"
    ));
    emulator.send_c2d(
        device_id,
        &[("priority", "normal")],
        b"firmware 1.1 is available",
    );
    say("cloud: cloud-to-device message sent".into());
    Ok(method)
}

/// The emulator the demo runs: the hub, and DPS with the demo device's
/// enrollment.
pub fn emulator() -> Emulator {
    let dps = Dps {
        polls_before_assigned: 1,
        retry_after_secs: 1,
        ..Dps::new(IDENTITY.id_scope, HUB_HOST).with_enrollment(Enrollment::Individual {
            registration_id: IDENTITY.registration_id.to_owned(),
            key: IDENTITY.key.to_owned(),
        })
    };
    Emulator::new(Config::new(HUB_HOST).with_dps(dps))
}

/// A stack with one interface and TCP, alive for the rest of the process
/// (as a board's statics).
pub(crate) fn stack(
    mac: [u8; 6],
    ipv4: Option<Ipv4Config>,
    seed: u64,
) -> &'static StackCell<'static> {
    let resources = Box::leak(Box::new(StackResources::<64, 8>::new()));
    let tcp = Box::leak(Box::new(TcpResources::<4, 65536>::new()));
    let mut stack = Stack::new(
        resources,
        duet_netstack::Config {
            seed,
            ..duet_netstack::Config::default()
        },
    );
    stack
        .add_interface(InterfaceConfig {
            hardware_address: EthernetAddress(mac),
            ipv4,
        })
        .expect("one interface fits");
    stack.enable_tcp(tcp);
    Box::leak(Box::new(StackCell::new(stack)))
}

/// The test root, as the only trust anchor.
pub(crate) fn anchors() -> &'static [TrustAnchor<'static>] {
    let anchor = trust_anchor_from_der(TEST_ROOT).expect("the test root parses");
    Box::leak(Box::new([anchor]))
}

/// Runs the demo; call it inside a tokio `LocalSet` (the emulator serves
/// each connection as a local task).
pub async fn run(timeline: &Timeline) -> Result<Outcome, String> {
    let say = |line: String| timeline.say(line);
    let link = LinkConfig {
        mac_a: IDENTITY.mac,
        mac_b: CLOUD_MAC,
        ..LinkConfig::default()
    };
    let (device_end, cloud_end) = VirtualLink::pair(VirtualClock::default(), device::seed(), link);
    let cloud_ipv4 = Ipv4Config {
        address: Ipv4Cidr::new(CLOUD_IP, 24),
        gateway: None,
    };
    let (cloud_stack, mut cloud_runner) = asynch::new(
        stack(CLOUD_MAC, Some(cloud_ipv4), device::seed()),
        cloud_end,
    );
    let (device_stack, mut device_runner) =
        asynch::new(stack(IDENTITY.mac, None, device::seed()), device_end);

    let emulator = emulator();
    let hosts = [(HUB_HOST, CLOUD_IP), (DPS_HOST, CLOUD_IP)];
    let services = cloud::CloudConfig::new(Ipv4Cidr::new(CLOUD_IP, 24), &hosts);
    say(format!(
        "cloud: IoT Hub {HUB_HOST} and DPS {DPS_HOST} (emulated) at {CLOUD_IP}:8883; DHCP, DNS and SNTP on {CLOUD_IP}"
    ));
    let cloud_tcp = {
        let emulator = emulator.clone();
        async move {
            let mut listener = TcpListener::bind(cloud_stack, 8883, 4, 16384, 16384)
                .expect("the cloud stack listens on 8883");
            loop {
                let socket = listener.accept().await;
                let emulator = emulator.clone();
                tokio::task::spawn_local(async move {
                    emulator.serve(socket).await;
                });
            }
        }
    };

    let anchors = anchors();
    let story_device = device_story(device_stack, &IDENTITY, anchors, &say);
    let story_cloud = operator(&emulator, IDENTITY.registration_id, &say);
    let story = embassy_futures::join::join(story_device, story_cloud);
    let cloud = embassy_futures::join::join(cloud_tcp, cloud::serve(cloud_stack, &services));
    let story = async {
        match select(story, cloud).await {
            Either::First(ended) => ended,
            Either::Second(((), failed)) => {
                let failed = failed.map_err(|e| format!("cloud services: {e}"));
                (
                    failed.map(|never| match never {}),
                    Err("the cloud stopped".into()),
                )
            }
        }
    };
    let runners = embassy_futures::join::join(cloud_runner.run(), device_runner.run());
    let (session, method) = match select(story, runners).await {
        Either::First(ended) => ended,
        Either::Second(_) => unreachable!("servers and runners run forever"),
    };
    let (session, method) = (session?, method?);
    let device_id = IDENTITY.registration_id;
    let outcome = Outcome {
        session,
        method,
        telemetry: emulator.telemetry(device_id).len(),
        reported: emulator.reported(device_id),
    };
    say(format!(
        "done: {} telemetry messages acknowledged ({} received by the hub), {} method answered, {} desired update applied, {} C2D message received",
        outcome.session.telemetry_acknowledged,
        outcome.telemetry,
        outcome.session.methods_answered,
        outcome.session.desired_applied,
        outcome.session.c2d_received
    ));
    Ok(outcome)
}
