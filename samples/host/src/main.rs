//! The host demo: the complete device-to-cloud flow on one machine, with no
//! root and no network. A simulated device on Duet's stack gets an address,
//! a resolver and the time from the (emulated) cloud's network, provisions
//! through DPS, connects to IoT Hub over TLS, sends telemetry, answers a
//! direct method, applies a desired property and receives a
//! cloud-to-device message — printing a timeline. See `demo.rs`.
//!
//! `--tap IFNAME [--ip A.B.C.D/N]` instead serves ping and UDP echo with
//! Duet's stack on a TAP you made; `--kernel` (as root) runs that against
//! the kernel in a private network namespace.

use std::net::Ipv4Addr;
use std::process::ExitCode;

use duet_netstack::iface::Ipv4Cidr;
use duet_sample_host::demo::{self, Timeline};

mod tap;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match parse(&args) {
        Ok(Mode::Cloud) => cloud_demo(),
        Ok(Mode::Tap { tap, address }) => tap::serve(&tap, address),
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
    Cloud,
    Tap { tap: String, address: Ipv4Cidr },
    Kernel,
}

const USAGE: &str = "usage: duet-sample-host [--tap IFNAME [--ip A.B.C.D/N] | --kernel]";

fn parse(args: &[String]) -> Result<Mode, String> {
    let mut mode = Mode::Cloud;
    let mut address = Ipv4Cidr::new(Ipv4Addr::new(192, 168, 77, 2), 24);
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--tap" => {
                let tap = args.next().ok_or("--tap needs an interface name")?.clone();
                mode = Mode::Tap { tap, address };
            }
            "--ip" => address = parse_cidr(args.next().ok_or("--ip needs A.B.C.D/N")?)?,
            "--kernel" => mode = Mode::Kernel,
            "--connection-string" | "--dps-id-scope" | "--registration-id" | "--symmetric-key" => {
                return Err(format!(
                    "{arg}: talking to real Azure from the host demo is not there yet; the demo runs against the local emulator"
                ));
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    if let Mode::Tap { tap, .. } = mode {
        mode = Mode::Tap { tap, address };
    }
    Ok(mode)
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

/// The default: device and cloud in this process.
fn cloud_demo() -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio: {e}"))?;
    let timeline = Timeline::new(true);
    let local = tokio::task::LocalSet::new();
    let outcome = local.block_on(&runtime, async {
        tokio::time::timeout(std::time::Duration::from_secs(60), demo::run(&timeline))
            .await
            .map_err(|_| "the demo did not finish within 60 s".to_string())?
    })?;
    if outcome.method.status != 200 {
        return Err(format!("the method returned {}", outcome.method.status));
    }
    Ok(())
}
