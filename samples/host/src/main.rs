//! The host demo: the complete device-to-cloud flow on one machine, with no
//! root and no network. A simulated device on Duet's stack gets an address,
//! a resolver and the time from the (emulated) cloud's network, provisions
//! through DPS, connects to IoT Hub over TLS, sends telemetry, answers a
//! direct method, applies a desired property and receives a
//! cloud-to-device message — printing a timeline. See `demo.rs`.
//!
//! `--tap IFNAME` runs the device on a TAP you made instead, taking its
//! address, resolver and time from that network, against the emulator
//! (which this process then serves on 0.0.0.0:8883) or, with
//! `--connection-string` or `--dps-id-scope --registration-id
//! --symmetric-key`, against real Azure; with `--mqtt-broker HOST[:PORT]`,
//! against an MQTT broker of your own. `--echo-tap IFNAME [--ip
//! A.B.C.D/N]` serves ping and UDP echo with the stack alone; `--kernel`
//! (as root) runs that against the kernel in a private network namespace.

use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::time::Duration;

use duet_netstack::iface::Ipv4Cidr;
use duet_sample_host::demo::{self, Timeline};
use duet_sample_host::on_tap::{self, Target};

mod tap;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match parse(&args) {
        Ok(Mode::Cloud) => with_runtime(|timeline| async move {
            let outcome = tokio::time::timeout(Duration::from_secs(60), demo::run(timeline))
                .await
                .map_err(|_| "the demo did not finish within 60 s".to_string())??;
            if outcome.method.status != 200 {
                return Err(format!("the method returned {}", outcome.method.status));
            }
            Ok(())
        }),
        Ok(Mode::Tap {
            tap,
            target,
            options,
        }) => with_runtime(
            |timeline| async move { on_tap::run(&tap, target, options, timeline).await },
        ),
        Ok(Mode::Echo { tap, address }) => tap::serve(&tap, address),
        Ok(Mode::Kernel) => tap::kernel_demo(),
        Err(message) => Err(message),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("duet demo: {message}");
            ExitCode::FAILURE
        }
    }
}

enum Mode {
    /// Device and cloud in this process, on the virtual link.
    Cloud,
    /// The device on a TAP, against the emulator (run here) or Azure.
    Tap {
        tap: String,
        target: Target,
        options: on_tap::Options,
    },
    /// The stack alone on a TAP: ping and UDP echo.
    Echo { tap: String, address: Ipv4Cidr },
    /// The stack alone against the kernel, in a private namespace.
    Kernel,
}

const USAGE: &str = "usage: duet-sample-host
       duet-sample-host --tap IFNAME [--connection-string 'HostName=..;DeviceId=..;SharedAccessKey=..'
                                     | --dps-id-scope SCOPE --registration-id ID --symmetric-key KEY [--dps-host HOST]]
                                     [--root-ca FILE.der] [--telemetry N]
       duet-sample-host --tap IFNAME --mqtt-broker HOST[:PORT] [--publish N] [--qos 1|2]
       duet-sample-host --echo-tap IFNAME [--ip A.B.C.D/N]
       duet-sample-host --kernel";

fn parse(args: &[String]) -> Result<Mode, String> {
    let mut tap = None;
    let mut echo_tap = None;
    let mut kernel = false;
    let mut address = Ipv4Cidr::new(Ipv4Addr::new(192, 168, 77, 2), 24);
    let mut connection_string = None;
    let mut broker = None;
    let (mut scope, mut registration, mut key) = (None, None, None);
    let mut dps_host = "global.azure-devices-provisioning.net".to_owned();
    let mut options = on_tap::Options::default();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .cloned()
                .ok_or(format!("{arg} needs a value (try --help)"))
        };
        match arg.as_str() {
            "--tap" => tap = Some(value()?),
            "--echo-tap" => echo_tap = Some(value()?),
            "--ip" => address = parse_cidr(&value()?)?,
            "--kernel" => kernel = true,
            "--connection-string" => connection_string = Some(value()?),
            "--dps-id-scope" => scope = Some(value()?),
            "--registration-id" => registration = Some(value()?),
            "--symmetric-key" => key = Some(value()?),
            "--dps-host" => dps_host = value()?,
            "--root-ca" => {
                let path = value()?;
                let der = std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?;
                options.root_der = Some(der);
            }
            "--mqtt-broker" => broker = Some(value()?),
            "--publish" => {
                let count = value()?;
                let count = count.parse().map_err(|_| format!("--publish {count:?}"))?;
                options.publish = Some(count);
            }
            "--qos" => {
                options.qos = Some(match value()?.as_str() {
                    "1" => duet::mqtt::QoS::AtLeastOnce,
                    "2" => duet::mqtt::QoS::ExactlyOnce,
                    // QoS 0 may lose a message, and the run counts them all back.
                    other => return Err(format!("--qos {other:?}: 1 or 2")),
                })
            }
            "--telemetry" => {
                let count = value()?;
                let count = count
                    .parse()
                    .map_err(|_| format!("--telemetry {count:?}"))?;
                options.telemetry = Some(count);
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    let target = match (broker, connection_string, scope, registration, key) {
        (None, None, None, None, None) => Target::Emulator,
        (Some(text), None, None, None, None) => {
            let (host, port) = match text.rsplit_once(':') {
                Some((host, port)) => (
                    host.to_owned(),
                    port.parse()
                        .map_err(|_| format!("--mqtt-broker {text:?}: bad port"))?,
                ),
                None => (text, duet_sample_host::mqtt_echo::MQTT_PORT),
            };
            Target::Mqtt { host, port }
        }
        (None, Some(text), None, None, None) => Target::from_connection_string(&text)?,
        (None, None, Some(id_scope), Some(registration_id), Some(key)) => Target::Dps {
            dps_host,
            id_scope,
            registration_id,
            key,
        },
        _ => {
            return Err(
                "give one of --mqtt-broker, --connection-string, or all of --dps-id-scope, \
                 --registration-id and --symmetric-key"
                    .into(),
            );
        }
    };
    match (tap, echo_tap, kernel) {
        (Some(tap), None, false) => Ok(Mode::Tap {
            tap,
            target,
            options,
        }),
        (None, Some(tap), false) => Ok(Mode::Echo { tap, address }),
        (None, None, true) => Ok(Mode::Kernel),
        (None, None, false) if matches!(target, Target::Emulator) => Ok(Mode::Cloud),
        (None, None, false) => Err(
            "a hub or broker other than the emulator needs a real network: add --tap IFNAME \
             (a TAP on a network that reaches it)"
                .into(),
        ),
        _ => Err(USAGE.into()),
    }
}

/// Runs `body` on a current-thread tokio runtime (the emulator's) with a
/// local task set, printing the timeline as it goes.
fn with_runtime<F, Fut>(body: F) -> Result<(), String>
where
    F: FnOnce(&'static Timeline) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio: {e}"))?;
    let timeline: &'static Timeline = Box::leak(Box::new(Timeline::new(true)));
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, body(timeline))
}

fn parse_cidr(text: &str) -> Result<Ipv4Cidr, String> {
    let (addr, prefix) = text.split_once('/').unwrap_or((text, "24"));
    let addr: Ipv4Addr = addr.parse().map_err(|_| format!("bad address {addr:?}"))?;
    let prefix: u8 = prefix
        .parse()
        .ok()
        .filter(|p| *p <= 32)
        .ok_or(format!("bad prefix {prefix:?}"))?;
    Ok(Ipv4Cidr::new(addr, prefix))
}
