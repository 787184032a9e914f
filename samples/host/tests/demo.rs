//! The README's demo, end to end, as a test: every step of the story
//! happens, and the emulated cloud saw what the device did.

use duet_sample_host::demo::{self, Timeline};

#[test]
fn the_device_boots_provisions_and_lives_on_the_hub() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let timeline = Timeline::new(false);
    let local = tokio::task::LocalSet::new();
    let outcome = local
        .block_on(&runtime, async {
            tokio::time::timeout(std::time::Duration::from_secs(60), demo::run(&timeline)).await
        })
        .expect("the demo finishes within 60 s")
        .unwrap_or_else(|e| panic!("{e}\n{}", timeline.lines().join("\n")));
    let lines = timeline.lines();
    let step = |text: &str| {
        lines
            .iter()
            .position(|l| l.contains(text))
            .unwrap_or_else(|| panic!("no {text:?} in\n{}", lines.join("\n")))
    };
    // The boot order a board follows.
    assert!(step("device: DHCP lease 10.42.0.") < step("device: DNS global.azure-devices"));
    assert!(step("device: DNS global.azure-devices") < step("device: SNTP from 10.42.0.1"));
    assert!(step("device: SNTP from") < step("device: DPS assigned hub hub.azure-devices.test"));
    assert!(step("DPS assigned") < step("device: connected to IoT Hub"));
    // The hub's view.
    assert_eq!(outcome.method.status, 200);
    assert!(outcome.method.payload.contains("rebooting"));
    assert!(outcome.session.telemetry_acknowledged >= 3);
    assert!(outcome.telemetry >= 3);
    assert_eq!(outcome.session.c2d_received, 1);
    assert_eq!(
        outcome.reported["thermostat1"]["targetTemperature"]["ac"], 200,
        "{}",
        outcome.reported
    );
    assert_eq!(
        outcome.reported["thermostat1"]["targetTemperature"]["value"],
        25
    );
}
