//! `duet-sample-host --tap IFNAME` as a user runs it, in a network
//! namespace the test creates: a TAP with the host side at 10.77.0.1,
//! dnsmasq serving DHCP and DNS there (the emulator's host names point at
//! the host side) and chronyd serving the time. The device takes its
//! address, resolver and time from them and reaches
//! - the emulator the sample runs itself, telling the demo's story;
//! - a separate `duet-emulator`, through the options meant for real Azure
//!   (`--connection-string`, and DPS with `--dps-id-scope ...`).
//!
//! Needs root, `ip`, `dnsmasq` and `chronyd` (CI installs them); fails,
//! never skips, without them.

use std::process::Command;

/// Runs `body` (shell) in a new network namespace with TAP `duettap0` at
/// 10.77.0.1/24, dnsmasq (DHCP and DNS: the emulator's host names are
/// 10.77.0.1) and chronyd serving there; `$servers` holds their PIDs and
/// `$d` a scratch directory. Returns the script's stdout, failing the test
/// (with everything printed) unless it exited 0.
fn in_namespace(name: &str, body: &str) -> String {
    let dir = std::env::temp_dir().join(format!("duet-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("chrony.conf"),
        format!(
            "port 123\nbindaddress 10.77.0.1\nallow all\nlocal stratum 8\ncmdport 0\n\
             driftfile {d}/drift\npidfile {d}/chronyd.pid\n",
            d = dir.display()
        ),
    )
    .unwrap();
    let script = format!(
        r#"set -e
d={d}
ip link set lo up
ip tuntap add dev duettap0 mode tap
ip addr add 10.77.0.1/24 dev duettap0
ip link set duettap0 up
dnsmasq --keep-in-foreground --conf-file=/dev/null --bind-interfaces --interface=duettap0 \
  --except-interface=lo --no-resolv --no-hosts --no-ping --user=root \
  --dhcp-range=10.77.0.50,10.77.0.99,255.255.255.0,1h \
  --dhcp-option=option:router,10.77.0.1 --dhcp-option=option:ntp-server,10.77.0.1 \
  --address=/azure-devices.test/10.77.0.1 --address=/azure-devices-provisioning.test/10.77.0.1 \
  --dhcp-leasefile=$d/leases --pid-file=$d/dnsmasq.pid >$d/dnsmasq.log 2>&1 &
servers="$!"
chronyd -d -x -U -u root -f $d/chrony.conf >$d/chronyd.log 2>&1 &
servers="$servers $!"
sleep 0.3
status=0
{body}
kill $servers
exit $status
"#,
        d = dir.display(),
    );
    let output = Command::new("unshare")
        .args(["--net", "--", "sh", "-c", &script])
        .output()
        .expect("unshare runs (util-linux)");
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the sample failed ({}); it needs root, dnsmasq and chronyd\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    stdout
}

fn position(stdout: &str, text: &str) -> usize {
    stdout
        .find(text)
        .unwrap_or_else(|| panic!("no {text:?} in\n{stdout}"))
}

#[test]
fn the_device_boots_on_a_real_tap_and_reaches_the_emulator() {
    let sample = env!("CARGO_BIN_EXE_duet-sample-host");
    let stdout = in_namespace(
        "tap-demo",
        &format!("timeout 60 {sample} --tap duettap0 || status=$?"),
    );
    let at = |text| position(&stdout, text);
    // The address, resolver and time came from dnsmasq and chronyd.
    assert!(at("device: DHCP lease 10.77.0.") < at("device: DNS global.azure-devices"));
    assert!(at("-> 10.77.0.1") < at("device: SNTP from 10.77.0.1"));
    assert!(at("device: SNTP from") < at("device: DPS assigned hub"));
    assert!(at("device: connected to IoT Hub") < at("done:"));
    assert!(stdout.contains("method answered 200"), "{stdout}");
}

/// The paths meant for real Azure — a connection string, and DPS with
/// command-line credentials — against the emulator run as a program of its
/// own (`duet-emulator`), trusted with `--root-ca`: everything but Azure's
/// certificates and host names.
#[test]
fn connection_string_and_dps_options_reach_a_separate_emulator() {
    let sample = env!("CARGO_BIN_EXE_duet-sample-host");
    let emulator = env!("CARGO_BIN_EXE_duet-emulator");
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../certs/test/root-ca.der");
    let key = "Y29ubmVjdGlvbi1zdHJpbmctZGV2aWNlLWtleS0zMg==";
    let body = format!(
        r#"{emulator} --listen 10.77.0.1:8883 --device cs-device={key} \
  --dps-scope 0ne0000TAP0 --enroll dps-device={key} >$d/emulator.log 2>&1 &
servers="$servers $!"
sleep 0.3
timeout 60 {sample} --tap duettap0 --root-ca {root} --telemetry 3 \
  --connection-string "HostName=hub.azure-devices.test;DeviceId=cs-device;SharedAccessKey={key}" || status=$?
echo "=== dps"
timeout 60 {sample} --tap duettap0 --root-ca {root} --telemetry 3 \
  --dps-host global.azure-devices-provisioning.test --dps-id-scope 0ne0000TAP0 \
  --registration-id dps-device --symmetric-key {key} || status=$?
sleep 0.3
echo "=== emulator"
cat $d/emulator.log"#
    );
    let stdout = in_namespace("tap-azure", &body);
    let (connection_string, rest) = stdout.split_once("=== dps").expect("both runs");
    let (dps, emulator_log) = rest.split_once("=== emulator").expect("the emulator's log");
    assert!(
        connection_string.contains("device: connected to IoT Hub"),
        "{stdout}"
    );
    assert!(
        !connection_string.contains("registering with DPS"),
        "{stdout}"
    );
    assert!(
        connection_string.contains("done: 3 telemetry messages acknowledged"),
        "{stdout}"
    );
    assert!(position(dps, "registering with DPS") < position(dps, "DPS assigned hub"));
    assert!(
        dps.contains("done: 3 telemetry messages acknowledged"),
        "{stdout}"
    );
    for device in ["cs-device", "dps-device"] {
        let received = emulator_log
            .matches(&format!("telemetry from {device}:"))
            .count();
        assert!(received >= 3, "{device}: {received} in\n{emulator_log}");
    }
}
