//! The device on a real TAP device instead of the virtual link: it takes
//! its address, resolver and time from whatever network the TAP is on (a
//! dnsmasq on the host, say), then talks to the emulator, which this
//! process runs on the host's side (0.0.0.0:8883), to real Azure, or to an
//! MQTT broker of the user's own.

use duet::crypto::x509::{TrustAnchor, trust_anchor_from_der};
use duet_netstack::asynch;
use duet_netstack::driver::tap::TapDevice;
use embassy_futures::select::{Either, select};

use crate::demo::{self, IDENTITY, Timeline};
use crate::device::{self, Identity};
use crate::mqtt_echo;

/// Whom the device talks to.
#[derive(Debug, Clone)]
pub enum Target {
    /// The emulator in this process, with the demo's operator.
    Emulator,
    /// IoT Hub directly, with a device connection string
    /// (`HostName=...;DeviceId=...;SharedAccessKey=...`).
    ConnectionString {
        host: String,
        device_id: String,
        key: String,
    },
    /// DPS, with an individual enrollment's symmetric key.
    Dps {
        dps_host: String,
        id_scope: String,
        registration_id: String,
        key: String,
    },
    /// A plain MQTT broker (no TLS): the device publishes to its own topic
    /// and counts the messages back ([`crate::mqtt_echo`]).
    Mqtt { host: String, port: u16 },
}

impl Target {
    /// Reads a device connection string.
    pub fn from_connection_string(text: &str) -> Result<Target, String> {
        let field = |name: &str| {
            text.split(';')
                .find_map(|part| part.trim().strip_prefix(name)?.strip_prefix('='))
                .map(str::to_owned)
                .ok_or(format!("the connection string has no {name}"))
        };
        Ok(Target::ConnectionString {
            host: field("HostName")?,
            device_id: field("DeviceId")?,
            key: field("SharedAccessKey")?,
        })
    }
}

/// Azure's roots (`certs/roots/`): what a device bound for the real
/// service trusts.
const AZURE_ROOTS: [&[u8]; 2] = [
    include_bytes!("../../../certs/roots/DigiCert_Global_Root_G2.der"),
    include_bytes!("../../../certs/roots/Microsoft_RSA_Root_Certificate_Authority_2017.der"),
];

/// The roots a device bound for a hub of `options` trusts.
fn roots(options: &Options) -> Result<&'static [TrustAnchor<'static>], String> {
    let custom: Option<&'static [u8]> = options.root_der.clone().map(Vec::leak).map(|r| &*r);
    let anchors = custom
        .as_slice()
        .iter()
        .copied()
        .chain(
            custom
                .is_none()
                .then_some(AZURE_ROOTS)
                .into_iter()
                .flatten(),
        )
        .map(|der| trust_anchor_from_der(der).map_err(|e| format!("root certificate: {e:?}")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Vec::leak(anchors))
}

/// How the device runs against a hub other than the in-process emulator.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// A root to trust instead of Azure's (DER): a private deployment, or
    /// the emulator run apart (`duet-emulator`, `certs/test/root-ca.der`).
    pub root_der: Option<Vec<u8>>,
    /// Stop (disconnecting cleanly) once this many telemetry messages are
    /// acknowledged; run until killed without it.
    pub telemetry: Option<u32>,
    /// Messages a device on a plain MQTT broker publishes (100 without it).
    pub publish: Option<u32>,
    /// Their QoS, and that of its subscription (1 without it).
    pub qos: Option<duet::mqtt::QoS>,
}

/// Runs the device on `tap` against `target`. With the emulator it ends
/// when the demo's story is told; with a hub of `options` it runs until
/// stopped or until its telemetry count is reached.
pub async fn run(
    tap: &str,
    target: Target,
    options: Options,
    timeline: &Timeline,
) -> Result<(), String> {
    let say = |line: String| timeline.say(line);
    let driver = TapDevice::open(tap, IDENTITY.mac).map_err(|e| format!("TAP {tap}: {e}"))?;
    let (stack, mut runner) = asynch::new(demo::stack(IDENTITY.mac, None, device::seed()), driver);
    say(format!("device: on TAP {tap}"));
    let story = async {
        match target {
            Target::Emulator => {
                let emulator = demo::emulator();
                let address = emulator
                    .listen("0.0.0.0:8883")
                    .await
                    .map_err(|e| format!("the emulator cannot listen: {e}"))?;
                say(format!(
                    "cloud: emulator listening on {address}; the network's DNS must send {} and {} here",
                    demo::HUB_HOST,
                    demo::DPS_HOST
                ));
                let device = demo::device_story(stack, &IDENTITY, demo::anchors(), &say);
                let operator = demo::operator(&emulator, IDENTITY.registration_id, &say);
                let (session, method) = embassy_futures::join::join(device, operator).await;
                let session = session?;
                say(format!(
                    "done: {} telemetry messages acknowledged, method answered {}, {} desired update applied, {} C2D message received",
                    session.telemetry_acknowledged,
                    method?.status,
                    session.desired_applied,
                    session.c2d_received
                ));
                Ok(())
            }
            Target::ConnectionString {
                host,
                device_id,
                key,
            } => {
                let identity = Identity {
                    key: String::leak(key),
                    ..IDENTITY
                };
                let host: &'static str = String::leak(host);
                let network = device::join_network(stack, &identity, host, &say).await?;
                let hub = (host, &*String::leak(device_id));
                let mut client =
                    device::connect_hub(stack, &identity, &network, hub, roots(&options)?, &say)
                        .await?;
                live(&mut client, &options, &say).await
            }
            Target::Dps {
                dps_host,
                id_scope,
                registration_id,
                key,
            } => {
                let identity = Identity {
                    dps_host: String::leak(dps_host),
                    id_scope: String::leak(id_scope),
                    registration_id: String::leak(registration_id),
                    key: String::leak(key),
                    ..IDENTITY
                };
                let anchors = roots(&options)?;
                let network =
                    device::join_network(stack, &identity, identity.dps_host, &say).await?;
                let (hub_host, device_id) =
                    device::provision(stack, &identity, &network, anchors, &say).await?;
                let hub = (&*String::leak(hub_host), &*String::leak(device_id));
                let mut client =
                    device::connect_hub(stack, &identity, &network, hub, anchors, &say).await?;
                live(&mut client, &options, &say).await
            }
            Target::Mqtt { host, port } => {
                let host: &'static str = String::leak(host);
                let network = device::join_network(stack, &IDENTITY, host, &say).await?;
                let count = options.publish.unwrap_or(100);
                let qos = options.qos.unwrap_or(duet::mqtt::QoS::AtLeastOnce);
                // A session (and topic) per QoS: one kept by the broker from
                // a run at the other QoS would deliver at the lower one.
                let client_id = format!("duet-sample-host-qos{}", qos as u8);
                let echoes = mqtt_echo::run(
                    stack,
                    &network,
                    (host, port),
                    &client_id,
                    (count, qos),
                    &say,
                )
                .await?;
                say(format!(
                    "done: {count} published, {} acknowledged, {} came back ({} more than once), \
                     {} connection(s); disconnected",
                    echoes.acknowledged, echoes.received, echoes.duplicates, echoes.connections
                ));
                Ok(())
            }
        }
    };
    let result = match select(story, runner.run()).await {
        Either::First(result) => result,
        Either::Second(never) => match never {},
    };
    say(device::network_counters(stack));
    result
}

/// The device on its hub until the telemetry count of `options`, if any;
/// then a clean disconnect.
async fn live<W: Fn() -> u64 + Copy>(
    client: &mut device::DemoHub<W>,
    options: &Options,
    say: &dyn Fn(String),
) -> Result<(), String> {
    let count = options.telemetry.unwrap_or(u32::MAX);
    let session = device::live_on_hub(client, say, |s| s.telemetry_acknowledged >= count).await?;
    client.disconnect().await;
    say(format!(
        "done: {} telemetry messages acknowledged; disconnected",
        session.telemetry_acknowledged
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_strings_are_read_in_any_order() {
        let target = Target::from_connection_string(
            "DeviceId=dev-1;HostName=contoso.azure-devices.net;SharedAccessKey=a2V5PQ==",
        )
        .unwrap();
        let Target::ConnectionString {
            host,
            device_id,
            key,
        } = target
        else {
            unreachable!()
        };
        assert_eq!(
            (host.as_str(), device_id.as_str(), key.as_str()),
            ("contoso.azure-devices.net", "dev-1", "a2V5PQ==")
        );
        assert!(Target::from_connection_string("HostName=x;DeviceId=y").is_err());
    }
}
