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

/// The sample as a user runs it, and the emulator run apart.
const SAMPLE: &str = env!("CARGO_BIN_EXE_duet-sample-host");
const EMULATOR: &str = env!("CARGO_BIN_EXE_duet-emulator");
/// The root `duet-emulator`'s certificates chain to.
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../certs/test/root-ca.der");
/// The devices' symmetric key (base64; a test key that opens nothing).
const KEY: &str = "Y29ubmVjdGlvbi1zdHJpbmctZGV2aWNlLWtleS0zMg==";

/// Runs `body` (shell) in a new network namespace with TAP `duettap0` at
/// 10.77.0.1/24, dnsmasq (DHCP and DNS: the emulator's host names are
/// 10.77.0.1, unless `$d/hosts` names one otherwise when dnsmasq is sent
/// SIGHUP) and chronyd serving there; `$servers` holds their PIDs and
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
touch $d/hosts
ip tuntap add dev duettap0 mode tap
ip addr add 10.77.0.1/24 dev duettap0
ip link set duettap0 up
dnsmasq --keep-in-foreground --conf-file=/dev/null --bind-interfaces --interface=duettap0 \
  --except-interface=lo --no-resolv --no-hosts --no-ping --user=root \
  --dhcp-range=10.77.0.50,10.77.0.99,255.255.255.0,1h \
  --dhcp-option=option:router,10.77.0.1 --dhcp-option=option:ntp-server,10.77.0.1 \
  --address=/azure-devices.test/10.77.0.1 --address=/azure-devices-provisioning.test/10.77.0.1 \
  --addn-hosts=$d/hosts --dhcp-leasefile=$d/leases --pid-file=$d/dnsmasq.pid >$d/dnsmasq.log 2>&1 &
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

/// The rest of the first line of `log` that holds `marker`, after it.
fn line_after<'a>(log: &'a str, marker: &str) -> &'a str {
    log.lines()
        .find_map(|line| line.split_once(marker).map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("no {marker:?} in\n{log}"))
}

/// Where the device's log says it lost its connection, after checking that
/// a `connected` line follows.
fn reconnected(device: &str, connected: &str) -> usize {
    let lost = position(device, "device: disconnected; reconnecting");
    assert!(
        device[lost..].contains(connected),
        "no reconnection in\n{device}"
    );
    lost
}

fn position(stdout: &str, text: &str) -> usize {
    stdout
        .find(text)
        .unwrap_or_else(|| panic!("no {text:?} in\n{stdout}"))
}

#[test]
fn the_device_boots_on_a_real_tap_and_reaches_the_emulator() {
    let stdout = in_namespace(
        "tap-demo",
        &format!("timeout 60 {SAMPLE} --tap duettap0 || status=$?"),
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
    let body = format!(
        r#"{EMULATOR} --listen 10.77.0.1:8883 --device cs-device={KEY} \
  --dps-scope 0ne0000TAP0 --enroll dps-device={KEY} >$d/emulator.log 2>&1 &
servers="$servers $!"
sleep 0.3
timeout 60 {SAMPLE} --tap duettap0 --root-ca {ROOT} --telemetry 3 \
  --connection-string "HostName=hub.azure-devices.test;DeviceId=cs-device;SharedAccessKey={KEY}" || status=$?
echo "=== dps"
timeout 60 {SAMPLE} --tap duettap0 --root-ca {ROOT} --telemetry 3 \
  --dps-host global.azure-devices-provisioning.test --dps-id-scope 0ne0000TAP0 \
  --registration-id dps-device --symmetric-key {KEY} || status=$?
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

/// The whole device path on a bad link: the TAP drops 10 % of frames each
/// way, and towards the device loses the first three DNS answers (so that
/// a whole lookup, all its attempts, fails), duplicates every 25th frame and damages the
/// checksums of every 12th TCP segment, every 4th UDP datagram and every
/// 30th IPv4 header (nftables; the damage is counted, so it is certain to
/// happen). Part-way through, the hub connection is killed (`ss -K`). The
/// device still gets its lease, resolver and time, provisions through DPS,
/// and every telemetry message it sent reaches the emulator; its counters
/// show the damaged frames thrown away, not taken.
#[test]
fn the_device_rides_out_loss_duplication_corruption_and_a_killed_connection() {
    let body = format!(
        r#"{link}
{EMULATOR} --listen 10.77.0.1:8883 --dps-scope 0ne0000FLKY --enroll dps-device={KEY} \
  >$d/emulator.log 2>&1 &
servers="$servers $!"
sleep 0.3
timeout 120 {SAMPLE} --tap duettap0 --root-ca {ROOT} --telemetry 20 \
  --dps-host global.azure-devices-provisioning.test --dps-id-scope 0ne0000FLKY \
  --registration-id dps-device --symmetric-key {KEY} >$d/device.log 2>&1 &
device=$!
# Two seconds into its hub session, the emulator's end of it is killed.
touch $d/killed.log
while kill -0 $device 2>/dev/null; do
  if grep -q "connected to IoT Hub" $d/device.log; then
    sleep 2
    ss -K -t state established '( sport = :8883 )' >$d/killed.log
    break
  fi
  sleep 0.1
done
wait $device || status=$?
sleep 0.3
cat $d/device.log
echo "=== faults"
nft list table netdev duet_flaky
echo "=== killed"
cat $d/killed.log
echo "=== emulator"
cat $d/emulator.log"#,
        link = bad_link(
            r#"    udp sport 53 numgen inc mod 1000 < 3 counter drop comment "lost-dns-answers";
    numgen inc mod 25 == 7 counter dup to "duettap0" comment "duplicated";
    meta l4proto tcp numgen inc mod 12 == 5 counter @th,128,16 set 0xbeef comment "bad-tcp";
    meta l4proto udp numgen inc mod 4 == 1 counter @th,48,16 set 0xbeef comment "bad-udp";
    meta protocol ip numgen inc mod 30 == 11 counter @nh,80,16 set 0xbeef comment "bad-ipv4";"#
        ),
    );
    let stdout = in_namespace("tap-flaky", &body);
    let (device, rest) = stdout.split_once("=== faults").expect("the device's log");
    let (faults, rest) = rest.split_once("=== killed").expect("the fault counters");
    let (killed, emulator_log) = rest.split_once("=== emulator").expect("the emulator's log");

    // The faults happened.
    let fault = |name: &str| nft_counter(faults, name);
    assert!(
        fault("lost-from-device") + fault("lost-to-device") > 0,
        "{faults}"
    );
    assert_eq!(fault("lost-dns-answers"), 3, "{faults}");
    for name in ["duplicated", "bad-tcp", "bad-udp", "bad-ipv4"] {
        assert!(fault(name) > 0, "{name}: {faults}");
    }
    assert!(
        killed.contains(":8883"),
        "no connection killed: {killed}\n{stdout}"
    );

    // The device got through all of it, and reconnected after the kill.
    assert!(position(device, "DHCP lease") < position(device, "asking again in 1 s"));
    assert!(position(device, "asking again in 1 s") < position(device, "DPS assigned hub"));
    assert!(position(device, "connected to IoT Hub") < reconnected(device, "connected to IoT Hub"));
    assert!(
        device.contains("done: 20 telemetry messages acknowledged"),
        "{stdout}"
    );

    // Every telemetry message the device sent reached the hub (at least
    // once: QoS 1 may repeat one sent as the connection died).
    let sent: Vec<&str> = device
        .lines()
        .filter_map(|line| line.split_once("device: telemetry ").map(|(_, body)| body))
        .collect();
    assert!(sent.len() >= 20, "{device}");
    for body in &sent {
        assert!(
            emulator_log.contains(&format!("telemetry from dps-device: {body}")),
            "{body} never reached the hub:\n{emulator_log}"
        );
    }

    // What was damaged was thrown away by the checksum that covers it.
    let counters = line_after(device, "device: network counters: ");
    eprintln!(
        "  faults: lost {} from and {} to the device; duplicated {}; damaged {} TCP, {} UDP, {} IPv4\n  \
         device: {counters}",
        fault("lost-from-device"),
        fault("lost-to-device"),
        fault("duplicated"),
        fault("bad-tcp"),
        fault("bad-udp"),
        fault("bad-ipv4"),
    );
    for (protocol, damaged) in [("TCP", "bad-tcp"), ("UDP", "bad-udp"), ("IPv4", "bad-ipv4")] {
        let section = counters
            .split("; ")
            .find(|s| s.starts_with(protocol))
            .unwrap_or_else(|| panic!("no {protocol} in {counters}"));
        let thrown_away: u32 = section
            .trim_end_matches(" bad checksums")
            .rsplit(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{section}"));
        // A damaged frame may also have been duplicated.
        let damaged = fault(damaged);
        assert!(
            thrown_away >= 1 && u64::from(thrown_away) <= damaged + fault("duplicated"),
            "{protocol}: {damaged} damaged, {thrown_away} thrown away: {counters}"
        );
    }
}

/// Shell lines that make the TAP a bad link (nftables table `duet_flaky`):
/// 10 % of frames lost each way (rules `lost-from-device` and
/// `lost-to-device`), then `to_device`'s rules on what goes towards the
/// device. Checksum offload is off, so the kernel computes checksums before
/// the egress hook and a rule that overwrites one damages it.
fn bad_link(to_device: &str) -> String {
    format!(
        r#"ethtool -K duettap0 tx off >/dev/null
nft -f - <<RULES
table netdev duet_flaky {{
  chain from_device {{ type filter hook ingress device "duettap0" priority 0;
    numgen random mod 100 < 10 counter drop comment "lost-from-device"; }}
  chain to_device {{ type filter hook egress device "duettap0" priority 0;
    numgen random mod 100 < 10 counter drop comment "lost-to-device";
{to_device} }}
}}
RULES"#
    )
}

/// The packet count of the nftables rule with `comment`.
fn nft_counter(listing: &str, comment: &str) -> u64 {
    let line = listing
        .lines()
        .find(|line| line.contains(&format!("comment \"{comment}\"")))
        .unwrap_or_else(|| panic!("no rule {comment:?} in\n{listing}"));
    line.split_once("counter packets ")
        .and_then(|(_, rest)| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no counter in {line:?}"))
}

/// A hub that fails over: once the device is on the hub, DNS starts
/// answering the hub's name with another address (10.77.0.2), the old one
/// refuses connections, and the connection is killed. The device asks DNS
/// again as it reconnects, so it never knocks at the old address again and
/// carries on at the new one.
#[test]
fn a_reconnecting_device_follows_the_hub_to_its_new_address() {
    let body = format!(
        r#"ip addr add 10.77.0.2/24 dev duettap0
echo "10.77.0.1 hub.azure-devices.test" >$d/hosts
kill -HUP $(cat $d/dnsmasq.pid)
nft -f - <<RULES
table inet duet_failover {{
  chain input {{ type filter hook input priority 0;
    ip daddr 10.77.0.1 tcp dport 8883 tcp flags syn counter jump old_address \
      comment "old-address";
    ip daddr 10.77.0.2 tcp dport 8883 tcp flags syn counter comment "new-address"; }}
  chain old_address {{ }}
}}
RULES
{EMULATOR} --listen 0.0.0.0:8883 --device failover-device={KEY} >$d/emulator.log 2>&1 &
servers="$servers $!"
sleep 0.3
timeout 90 {SAMPLE} --tap duettap0 --root-ca {ROOT} --telemetry 12 \
  --connection-string "HostName=hub.azure-devices.test;DeviceId=failover-device;SharedAccessKey={KEY}" \
  >$d/device.log 2>&1 &
device=$!
while kill -0 $device 2>/dev/null; do
  if grep -q "connected to IoT Hub" $d/device.log; then
    sleep 1
    # The failover: the name moves, the old address refuses, the connection dies.
    echo "10.77.0.2 hub.azure-devices.test" >$d/hosts
    kill -HUP $(cat $d/dnsmasq.pid)
    nft add rule inet duet_failover old_address reject with tcp reset
    nft list chain inet duet_failover input >$d/before.log
    ss -K -t state established '( sport = :8883 )' >/dev/null
    break
  fi
  sleep 0.1
done
wait $device || status=$?
cat $d/device.log
echo "=== before"
cat $d/before.log
echo "=== after"
nft list chain inet duet_failover input"#
    );
    let stdout = in_namespace("tap-failover", &body);
    let (device, rest) = stdout.split_once("=== before").expect("the device's log");
    let (before, after) = rest.split_once("=== after").expect("the counters");
    assert!(
        device.contains("device: DNS hub.azure-devices.test -> 10.77.0.1"),
        "{stdout}"
    );
    reconnected(device, "connected to IoT Hub");
    assert!(
        device.contains("done: 12 telemetry messages acknowledged"),
        "{stdout}"
    );
    // One connection to the old address, before the failover; none after
    // it. The new address took the reconnection.
    assert_eq!(nft_counter(before, "old-address"), 1, "{before}");
    assert_eq!(nft_counter(after, "old-address"), 1, "{after}");
    assert_eq!(nft_counter(before, "new-address"), 0, "{before}");
    assert!(nft_counter(after, "new-address") >= 1, "{after}");
}

/// The device with a broker of its own: `--mqtt-broker` against a real
/// mosquitto, on a link that loses 10 % of frames each way and damages
/// every 12th TCP segment towards the device, with the connection killed
/// (`ss -K`) part-way through each run. 500 messages at QoS 1 all come
/// back at least once; 500 at QoS 2 all come back exactly once.
#[test]
fn a_device_on_mosquitto_gets_every_message_back_through_loss_and_a_killed_connection() {
    let run = |qos: u8, kill_at: u32| {
        format!(
            r#"{SAMPLE} --tap duettap0 --mqtt-broker broker.test --publish 500 --qos {qos} \
  >$d/device{qos}.log 2>&1 &
device=$!
touch $d/killed{qos}.log
while kill -0 $device 2>/dev/null; do
  if grep -q " {kill_at} of 500 came back" $d/device{qos}.log; then
    ss -K -t state established '( sport = :1883 )' >$d/killed{qos}.log
    break
  fi
  sleep 0.05
done
wait $device || status=$?
cat $d/device{qos}.log
echo "=== killed"
cat $d/killed{qos}.log
echo "=== end of QoS {qos}""#
        )
    };
    let body = format!(
        r#"echo "10.77.0.1 broker.test" >$d/hosts
kill -HUP $(cat $d/dnsmasq.pid)
printf "listener 1883 10.77.0.1\nallow_anonymous true\npersistence false\nuser root\n\
max_queued_messages 2000\n" >$d/mosquitto.conf
mosquitto -c $d/mosquitto.conf >$d/mosquitto.log 2>&1 &
servers="$servers $!"
{link}
sleep 0.3
{qos1}
{qos2}
echo "=== faults"
nft list table netdev duet_flaky"#,
        link = bad_link(
            r#"    meta l4proto tcp numgen inc mod 12 == 5 counter @th,128,16 set 0xbeef comment "bad-tcp";"#
        ),
        qos1 = run(1, 150),
        qos2 = run(2, 250),
    );
    let stdout = in_namespace("tap-mosquitto", &body);
    let (runs, faults) = stdout.split_once("=== faults").expect("the fault counters");
    let fault = |name: &str| nft_counter(faults, name);
    assert!(
        fault("lost-from-device") > 0 && fault("lost-to-device") > 0,
        "{faults}"
    );
    assert!(fault("bad-tcp") > 0, "{faults}");
    let mut logs = runs.split("=== end of QoS ");
    for (qos, twice) in [(1, None), (2, Some(0))] {
        let log = logs.next().expect("the run's log");
        let (device, killed) = log.split_once("=== killed").expect("the kill");
        assert!(killed.contains(":1883"), "QoS {qos}: nothing killed\n{log}");
        reconnected(device, "connected to the broker");
        let done = line_after(device, "done: ");
        assert!(
            done.starts_with("500 published, 500 acknowledged, 500 came back"),
            "QoS {qos}: {done}"
        );
        if let Some(twice) = twice {
            assert!(
                done.contains(&format!("({twice} more than once)")),
                "QoS {qos}: {done}"
            );
        }
        let counters = line_after(device, "device: network counters: ");
        eprintln!("  QoS {qos}: {done}\n  device: {counters}");
    }
    eprintln!(
        "  faults: lost {} from and {} to the device; damaged {} TCP",
        fault("lost-from-device"),
        fault("lost-to-device"),
        fault("bad-tcp")
    );
}
