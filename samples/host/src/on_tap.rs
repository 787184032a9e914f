//! The device on a real TAP device instead of the virtual link: it takes
//! its address, resolver and time from whatever network the TAP is on (a
//! dnsmasq on the host, say), then talks either to the emulator, which this
//! process runs on the host's side (0.0.0.0:8883), or to real Azure.

use duet::crypto::x509::{TrustAnchor, trust_anchor_from_der};
use duet_netstack::asynch;
use duet_netstack::driver::tap::TapDevice;
use embassy_futures::select::{Either, select};

use crate::demo::{self, IDENTITY, Timeline};
use crate::device::{self, Identity};

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

fn azure_roots() -> Result<&'static [TrustAnchor<'static>], String> {
    let anchors = AZURE_ROOTS
        .iter()
        .map(|der| trust_anchor_from_der(der).map_err(|e| format!("Azure root: {e:?}")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Vec::leak(anchors))
}

/// Runs the device on `tap` against `target`. With the emulator it ends
/// when the demo's story is told; with Azure it runs until stopped.
pub async fn run(tap: &str, target: Target, timeline: &Timeline) -> Result<(), String> {
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
                let network = device::join_network(stack, &identity, &say).await?;
                let hub = (&*String::leak(host), &*String::leak(device_id));
                let mut client =
                    device::connect_hub(stack, &identity, &network, hub, azure_roots()?, &say)
                        .await?;
                device::live_on_hub(&mut client, &say, |_| false).await?;
                Ok(())
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
                let anchors = azure_roots()?;
                let network = device::join_network(stack, &identity, &say).await?;
                let (hub_host, device_id) =
                    device::provision(stack, &identity, &network, anchors, &say).await?;
                let hub = (&*String::leak(hub_host), &*String::leak(device_id));
                let mut client =
                    device::connect_hub(stack, &identity, &network, hub, anchors, &say).await?;
                device::live_on_hub(&mut client, &say, |_| false).await?;
                Ok(())
            }
        }
    };
    match select(story, runner.run()).await {
        Either::First(result) => result,
        Either::Second(never) => match never {},
    }
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
