//! The IoT Hub + DPS emulator as a program of its own, for a device on a
//! TAP or a board on the network: `duet-emulator [--listen ADDR]
//! [--device ID=KEY]... [--dps-scope SCOPE [--enroll REGISTRATION=KEY]...]`.
//! It serves until killed, with the test PKI's chain for
//! `hub.azure-devices.test` and `global.azure-devices-provisioning.test`
//! (devices trust `certs/test/root-ca.der`), and prints each telemetry
//! message it receives.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;

use duet_azure_emulator::{Config, DeviceAuth, Dps, Emulator, Enrollment};
use duet_sample_host::demo::HUB_HOST;

const USAGE: &str = "usage: duet-emulator [--listen ADDR] [--device ID=KEY]... [--dps-scope SCOPE [--enroll REGISTRATION=KEY]...]";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("duet-emulator: {message}");
            ExitCode::FAILURE
        }
    }
}

fn pair(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(id, key)| (id.to_owned(), key.to_owned()))
        .ok_or(format!("{text:?} is not ID=KEY"))
}

fn run() -> Result<(), String> {
    let mut listen = "0.0.0.0:8883".to_owned();
    let mut config = Config::new(HUB_HOST);
    let mut dps: Option<Dps> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value\n{USAGE}"));
        match arg.as_str() {
            "--listen" => listen = value()?,
            "--device" => {
                let (id, key) = pair(&value()?)?;
                config = config.with_device(&id, DeviceAuth::SymmetricKey(key));
            }
            "--dps-scope" => dps = Some(Dps::new(&value()?, HUB_HOST)),
            "--enroll" => {
                let (registration_id, key) = pair(&value()?)?;
                let scope = dps.take().ok_or("--enroll needs --dps-scope first")?;
                dps = Some(scope.with_enrollment(Enrollment::Individual {
                    registration_id,
                    key,
                }));
            }
            _ => return Err(USAGE.into()),
        }
    }
    if let Some(dps) = dps {
        config = config.with_dps(dps);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio: {e}"))?;
    runtime.block_on(async {
        let emulator = Emulator::new(config);
        let address = emulator
            .listen(&listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        println!("duet-emulator: IoT Hub {HUB_HOST} and DPS on {address}");
        // Prints telemetry as it arrives, per device.
        let mut printed: HashMap<String, usize> = HashMap::new();
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            for device in emulator.device_ids() {
                let telemetry = emulator.telemetry(&device);
                let seen = printed.entry(device.clone()).or_default();
                for message in &telemetry[*seen..] {
                    println!(
                        "duet-emulator: telemetry from {device}: {}",
                        String::from_utf8_lossy(&message.payload)
                    );
                }
                *seen = telemetry.len();
            }
        }
    })
}
