//! `duet-sample-host --tap IFNAME` as a user runs it: in a network
//! namespace the test creates, a TAP with the host side at 10.77.0.1,
//! dnsmasq serving DHCP and DNS there (the emulator's host names point at
//! the host side) and chronyd serving the time; the sample's device takes
//! its address, resolver and time from them, reaches the emulator the
//! sample runs on the host side, and tells the demo's story.
//!
//! Needs root, `ip`, `dnsmasq` and `chronyd` (CI installs them); fails,
//! never skips, without them.

use std::process::Command;

#[test]
fn the_device_boots_on_a_real_tap_and_reaches_the_emulator() {
    let dir = std::env::temp_dir().join(format!("duet-tap-demo-{}", std::process::id()));
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
ip link set lo up
ip tuntap add dev duettap0 mode tap
ip addr add 10.77.0.1/24 dev duettap0
ip link set duettap0 up
dnsmasq --keep-in-foreground --conf-file=/dev/null --bind-interfaces --interface=duettap0 \
  --except-interface=lo --no-resolv --no-hosts --no-ping --user=root \
  --dhcp-range=10.77.0.50,10.77.0.99,255.255.255.0,1h \
  --dhcp-option=option:router,10.77.0.1 --dhcp-option=option:ntp-server,10.77.0.1 \
  --address=/azure-devices.test/10.77.0.1 --address=/azure-devices-provisioning.test/10.77.0.1 \
  --dhcp-leasefile={d}/leases --pid-file={d}/dnsmasq.pid >{d}/dnsmasq.log 2>&1 &
servers="$!"
chronyd -d -x -U -u root -f {d}/chrony.conf >{d}/chronyd.log 2>&1 &
servers="$servers $!"
sleep 0.3
status=0
timeout 60 {bin} --tap duettap0 || status=$?
kill $servers
exit $status
"#,
        d = dir.display(),
        bin = env!("CARGO_BIN_EXE_duet-sample-host"),
    );
    let output = Command::new("unshare")
        .args(["--net", "--", "sh", "-c", &script])
        .output()
        .expect("unshare runs (util-linux)");
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the sample failed ({}); it needs root, dnsmasq and chronyd\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    let position = |text: &str| {
        stdout
            .find(text)
            .unwrap_or_else(|| panic!("no {text:?} in\n{stdout}"))
    };
    // The address, resolver and time came from dnsmasq and chronyd.
    assert!(position("device: DHCP lease 10.77.0.") < position("device: DNS global.azure-devices"));
    assert!(position("-> 10.77.0.1") < position("device: SNTP from 10.77.0.1"));
    assert!(position("device: SNTP from") < position("device: DPS assigned hub"));
    assert!(position("device: connected to IoT Hub") < position("done:"));
    assert!(stdout.contains("method answered 200"), "{stdout}");
}
