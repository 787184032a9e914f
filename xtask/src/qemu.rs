//! `cargo xtask qemu`: the QEMU sample (`samples/qemu-mps2-an386`) against
//! the IoT Hub emulator, as a test.
//!
//! 1. Builds the firmware (a workspace of its own) for
//!    thumbv7em-none-eabihf into `target/qemu`.
//! 2. Moves itself (root is needed) into a new, empty network namespace
//!    (only a loopback, brought up): QEMU's user-mode network then reaches
//!    nothing but that namespace's 127.0.0.1 (TESTING.md, "Emulated
//!    board"); and into a mount namespace whose `/etc/resolv.conf` names
//!    127.0.0.1, so that slirp's DNS (10.0.2.3, the server the firmware's
//!    DHCP lease names) forwards the firmware's queries to step 3's
//!    responder.
//! 3. Starts the hub emulator in-process on 127.0.0.1:8883 with the
//!    sample's device registered (SAS key), an SNTP responder on
//!    127.0.0.1:10123 (slirp has no time service), and a DNS responder on
//!    127.0.0.1:53 that gives the hub's name the address 10.0.2.2; to the
//!    firmware they are 10.0.2.2:8883, 10.0.2.2:10123 and 10.0.2.3:53. The
//!    firmware knows the hub by name and asks DNS for it at boot and again
//!    after losing its connection.
//! 4. Runs `qemu-system-arm -M mps2-an386` with the LAN9118 on slirp,
//!    echoing the firmware's timeline. Meanwhile, once the emulator has
//!    [`LINK_FLAP_AFTER`] telemetry messages, it takes the link down
//!    through QMP (`set_link lan9118.0 off`), has the hub drop the
//!    device's connection, brings the link back after [`LINK_DOWN`], and
//!    then invokes the direct method, retrying until the device has
//!    reconnected and subscribed.
//! 5. Checks that QEMU exited 0 (the firmware's own verdict, over
//!    semihosting), that the device reconnected, that the emulator
//!    received every telemetry message in order (QoS 1 allows a duplicate
//!    of one whose acknowledgement the link lost) and the method's answer,
//!    that the firmware asked DNS for the hub at boot and again after the
//!    link flap, that the firmware's stack stayed within [`STACK_BUDGET`] and its
//!    `.data` within [`MAX_DATA`], and prints a summary; any failure, or no
//!    end within [`TIMEOUT`], is an error.
//! 6. Builds the firmware again with `fault-on-boot`, which executes an
//!    undefined instruction right after boot, and checks that the HardFault
//!    handler (samples/cpu) reports it on the timeline and ends the run
//!    with status 1 at once ([`check_hardfault`]).
//!
//! What both sides agree on (device id and key, ports, message count,
//! method name) is the firmware's `src/shared.rs`, compiled here too.
//!
//! CI runs it as its own process ([`ci`]), because step 2 changes the
//! namespace of the process that runs it for good.

use std::fmt;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use duet_azure_emulator::{
    Config, ControlError, DeviceAuth, Emulator, MethodResponse, Refusals, Violations,
};
use duet_sample_host::cloud::dns::{DnsServer, MAX_UDP_RESPONSE};
use duet_sample_host::cloud::sntp::{REPLY_LEN, SntpServer, SntpServerConfig};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UdpSocket, UnixStream};

use crate::cmd;
use crate::footprint;

#[path = "../../samples/qemu-mps2-an386/src/shared.rs"]
mod shared;

use shared::{
    DEVICE_ID, DEVICE_KEY, HOST_ADDRESS, HUB_HOST, HUB_PORT, METHOD_NAME, METHOD_STATUS, SNTP_PORT,
    TELEMETRY_MESSAGES,
};

/// The firmware crate, relative to the repository root.
const CRATE: &str = "samples/qemu-mps2-an386";
/// Where it builds: apart from the host workspace and the other firmware.
const TARGET_DIR: &str = "target/qemu";
const BINARY: &str = "qemu-mps2-an386";

/// The whole QEMU run, boot to exit. The firmware gives up by itself after
/// [`shared::RUN_TIMEOUT_SECS`]; this catches a firmware that hangs.
const TIMEOUT: Duration = Duration::from_secs(shared::RUN_TIMEOUT_SECS + 30);

/// Telemetry messages the emulator must have before the link goes down:
/// the rest are sent while it is down or after.
const LINK_FLAP_AFTER: usize = 2;
/// How long the link stays down.
const LINK_DOWN: Duration = Duration::from_millis(1500);
/// The NIC as QMP names it.
const NIC: &str = "lan9118.0";

/// How long one method invocation waits for the device's answer.
const METHOD_TIMEOUT: Duration = Duration::from_secs(10);
/// The wait between invocations while the device is not yet subscribed.
const METHOD_RETRY: Duration = Duration::from_millis(100);

/// Why the run failed.
#[derive(Debug)]
pub enum Error {
    /// A command (the build, `ip`) failed.
    Command(cmd::Error),
    /// Setting up the run (namespace, sockets, runtime, QEMU) failed.
    Setup(String),
    /// The run went wrong: what was expected and what happened.
    Failed(Vec<String>),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Command(error) => write!(f, "qemu: {error}"),
            Error::Setup(message) => write!(f, "qemu: {message}"),
            Error::Failed(problems) => write!(f, "qemu: FAILED: {}", problems.join("; ")),
        }
    }
}

impl std::error::Error for Error {}

impl From<cmd::Error> for Error {
    fn from(error: cmd::Error) -> Self {
        Error::Command(error)
    }
}

/// The CI stage: `cargo xtask qemu` in a process of its own (see the
/// module docs), with its output in the CI log.
pub fn ci(root: &Path) -> Result<(), cmd::Error> {
    let program = std::env::current_exe().map_err(|source| cmd::Error::Spawn {
        command: "xtask qemu".into(),
        source,
    })?;
    cmd::run(
        std::process::Command::new(program)
            .arg("qemu")
            .current_dir(root),
    )
}

/// Builds the firmware and runs it against the emulator.
pub fn run(root: &Path) -> Result<(), Error> {
    let elf = footprint::build_firmware(&root.join(CRATE), &root.join(TARGET_DIR), BINARY, None)?;
    check_static_memory(&elf)?;
    isolate()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Setup(format!("tokio runtime: {e}")))?;
    let report = runtime.block_on(exercise(&elf))?;
    let problems = report.problems();
    for line in report.summary() {
        println!("qemu: {line}");
    }
    if !problems.is_empty() {
        return Err(Error::Failed(problems));
    }
    check_hardfault(root)?;
    println!("qemu: PASSED");
    Ok(())
}

/// The firmware's line for an undefined instruction (samples/cpu): the
/// Configurable Fault Status Register's UNDEFINSTR bit (UsageFault, bit
/// 16), escalated to a HardFault (HFSR FORCED, bit 30).
const HARDFAULT_LINE: &str = "FAILED: HardFault at pc ";
const UNDEFINED_INSTRUCTION_STATUS: &str = "CFSR 0x00010000, HFSR 0x40000000";
/// A faulting firmware ends within this: it faults right after boot.
const HARDFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The firmware built to fault at boot (feature `fault-on-boot`): it must
/// say so on the timeline, with the fault's status, and exit 1 at once
/// rather than hang until [`TIMEOUT`].
fn check_hardfault(root: &Path) -> Result<(), Error> {
    let elf = footprint::build_firmware(
        &root.join(CRATE),
        &root.join(TARGET_DIR),
        BINARY,
        Some("fault-on-boot"),
    )?;
    let mut command = std::process::Command::new("qemu-system-arm");
    command
        .args(BOARD_ARGS)
        .args(["-nic", "none", "-kernel"])
        .arg(&elf)
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    println!("$ {}", cmd::display(&command));
    let started = Instant::now();
    let mut qemu = command
        .spawn()
        .map_err(|e| Error::Setup(format!("cannot start QEMU: {e}")))?;
    // Its output is a few lines: the pipe holds them until QEMU ends.
    let status = loop {
        match qemu.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < HARDFAULT_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(None) => {
                let _ = qemu.kill();
                let _ = qemu.wait();
                return Err(Error::Failed(vec![format!(
                    "the fault-on-boot firmware did not end within {} s",
                    HARDFAULT_TIMEOUT.as_secs()
                )]));
            }
            Err(e) => return Err(Error::Setup(format!("waiting for QEMU: {e}"))),
        }
    };
    let mut output = Vec::new();
    if let Some(mut stdout) = qemu.stdout.take() {
        std::io::Read::read_to_end(&mut stdout, &mut output)
            .map_err(|e| Error::Setup(format!("QEMU's output: {e}")))?;
    }
    let stdout = String::from_utf8_lossy(&output);
    for line in stdout.lines() {
        println!("  {line}");
    }
    let reported = stdout
        .lines()
        .any(|line| line.contains(HARDFAULT_LINE) && line.ends_with(UNDEFINED_INSTRUCTION_STATUS));
    let mut problems = Vec::new();
    if status.code() != Some(1) {
        problems.push(format!(
            "the fault-on-boot firmware exited with {status} (expected status 1)"
        ));
    }
    if !reported {
        problems.push(format!(
            "the fault-on-boot firmware did not report the HardFault \
             (`{HARDFAULT_LINE}...{UNDEFINED_INSTRUCTION_STATUS}`)"
        ));
    }
    if !problems.is_empty() {
        return Err(Error::Failed(problems));
    }
    println!(
        "qemu: summary: an undefined instruction at boot ended the run in {:.1} s with a \
         HardFault report and status 1",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Initialised data the firmware may have. Its statics are zero or
/// `const`-built; the netstack's `StackResources` and `TcpResources` (70 KB
/// here) are all zero bytes, so they sit in `.bss`. A non-zero empty state
/// in them would move them into `.data`, whose initial image takes flash
/// as large as the resources.
const MAX_DATA: u64 = 4096;

/// The stack the whole device run may take: 14,828 bytes when this budget
/// was set. A board's stack is sized from such a figure, so one that grows
/// unseen (a TLS engine copied by value through an async connect path took
/// 5 KB more, once) overflows on a device with no memory protection.
const STACK_BUDGET: u64 = 20 * 1024;

/// The firmware's static memory, printed; an error if `.data` outgrew
/// [`MAX_DATA`].
fn check_static_memory(elf: &Path) -> Result<(), Error> {
    let bytes = std::fs::read(elf).map_err(|e| Error::Setup(format!("{}: {e}", elf.display())))?;
    let footprint = footprint::Footprint::of_elf(&bytes)
        .map_err(|e| Error::Setup(format!("{}: {e}", elf.display())))?;
    println!(
        "qemu: firmware text={} rodata={} data={} bss={}",
        footprint.text, footprint.rodata, footprint.data, footprint.bss
    );
    if footprint.data > MAX_DATA {
        return Err(Error::Failed(vec![format!(
            "the firmware has {} bytes of initialised data (at most {MAX_DATA}): a zero-bytes \
             static such as the netstack's resources has moved from .bss into flash",
            footprint.data
        )]));
    }
    Ok(())
}

/// A new network namespace with only its loopback, and a mount namespace
/// whose `/etc/resolv.conf` names 127.0.0.1 (where slirp sends the
/// firmware's DNS queries), for the rest of this process and the QEMU it
/// starts. Needs root.
fn isolate() -> Result<(), Error> {
    use nix::mount::{MsFlags, mount};
    use nix::sched::{CloneFlags, unshare};
    unshare(CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWNS).map_err(|errno| {
        Error::Setup(format!(
            "cannot make the run's network and mount namespaces ({errno}): run it as root"
        ))
    })?;
    cmd::run(std::process::Command::new("ip").args(["link", "set", "lo", "up"]))?;
    // Private, so that the bind mount below stays in this namespace.
    let none: Option<&str> = None;
    mount(none, "/", none, MsFlags::MS_REC | MsFlags::MS_PRIVATE, none)
        .map_err(|errno| Error::Setup(format!("cannot make / private: {errno}")))?;
    let resolv = std::env::temp_dir().join(format!("duet-qemu-{}.resolv", std::process::id()));
    std::fs::write(&resolv, "nameserver 127.0.0.1\n")
        .map_err(|e| Error::Setup(format!("{}: {e}", resolv.display())))?;
    let mounted = mount(
        Some(&resolv),
        "/etc/resolv.conf",
        none,
        MsFlags::MS_BIND,
        none,
    );
    // The mount keeps the file's contents; the name is not needed.
    let _ = std::fs::remove_file(&resolv);
    mounted
        .map_err(|errno| Error::Setup(format!("cannot mount over /etc/resolv.conf: {errno}")))?;
    println!(
        "qemu: in new network and mount namespaces: slirp reaches only the loopback, \
         and its DNS asks 127.0.0.1"
    );
    Ok(())
}

/// What one run showed.
#[derive(Debug)]
struct Report {
    /// QEMU's exit code (the firmware's verdict); `None` if it was killed.
    exit_code: Option<i32>,
    timed_out: bool,
    elapsed: Duration,
    firmware_lines: Vec<String>,
    /// The link flap, then the method invocation: what failed, if either
    /// did.
    method: Option<Result<MethodResponse, String>>,
    /// Whether the link went down and up again.
    link_flapped: bool,
    /// The telemetry payloads the emulator received, in order, with their
    /// content type.
    telemetry: Vec<(String, Option<String>)>,
    connections: u32,
    /// CONNECTs the emulator refused, and connections it closed for a
    /// protocol breach: none in a good run.
    refusals: Refusals,
    violations: Violations,
    sntp_answers: usize,
    /// The DNS responder's answers giving the hub's address.
    dns_answers: usize,
}

/// The firmware's last line when it passed.
const FIRMWARE_PASSED: &str = "PASSED";
/// The firmware's line when its first lookup of the hub went unanswered.
const FIRMWARE_ASKS_DNS_AGAIN: &str = "yet (DNS: no DNS server answered); asking again in 1 s";

impl Report {
    /// Everything that is not as it should be; empty for a pass.
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.timed_out {
            problems.push(format!(
                "QEMU did not finish within {} s",
                TIMEOUT.as_secs()
            ));
        }
        match self.exit_code {
            Some(0) => {}
            Some(code) => problems.push(format!("the firmware exited with status {code}")),
            None => problems.push("QEMU was killed".into()),
        }
        let passed = self
            .firmware_lines
            .iter()
            .any(|line| line.ends_with(FIRMWARE_PASSED));
        if !passed {
            let failure = self
                .firmware_lines
                .iter()
                .find(|line| line.contains("FAILED") || line.contains("panic"));
            problems.push(match failure {
                Some(line) => format!("the firmware said: {line}"),
                None => "the firmware did not report a pass".into(),
            });
        }
        match self.stack() {
            Some((peak, size)) if peak >= size => problems.push(format!(
                "the stack reached the bottom of its {size}-byte region (peak {peak})"
            )),
            Some((peak, _)) if peak > STACK_BUDGET => problems.push(format!(
                "the stack peaked at {peak} bytes, over its budget of {STACK_BUDGET}"
            )),
            Some(_) => {}
            None => problems.push("the firmware did not report its stack's peak".into()),
        }
        match &self.method {
            Some(Ok(response)) => {
                if response.status != i32::from(METHOD_STATUS) {
                    problems.push(format!(
                        "method {METHOD_NAME} answered {} (expected {METHOD_STATUS})",
                        response.status
                    ));
                }
                let payload: Option<serde_json::Value> =
                    serde_json::from_str(&response.payload).ok();
                let device = payload.as_ref().and_then(|p| p.get("device"));
                if device.and_then(|d| d.as_str()) != Some(DEVICE_ID) {
                    problems.push(format!(
                        "method answer is not the device's status: {}",
                        response.payload
                    ));
                }
            }
            Some(Err(error)) => problems.push(error.clone()),
            None => problems.push(format!("method {METHOD_NAME} was never answered")),
        }
        let asked_again = self
            .firmware_lines
            .iter()
            .any(|line| line.contains(FIRMWARE_ASKS_DNS_AGAIN));
        if !asked_again {
            problems.push(format!(
                "the firmware did not ask DNS again after its first {DNS_QUERIES_LOST} queries \
                 went unanswered"
            ));
        }
        if self.dns_answers == 0 {
            problems.push(format!("the firmware never asked DNS for {HUB_HOST}"));
        } else if self.link_flapped && self.dns_answers < 2 {
            problems.push(format!(
                "the firmware did not ask DNS for {HUB_HOST} again after losing its connection"
            ));
        }
        if self.link_flapped && self.connections < 2 {
            problems.push(format!(
                "the link went down and up but the device connected {} time(s)",
                self.connections
            ));
        }
        if self.refusals != Refusals::default() {
            problems.push(format!(
                "the emulator refused CONNECTs: {:?}",
                self.refusals
            ));
        }
        if self.violations != Violations::default() {
            problems.push(format!(
                "the emulator closed connections for protocol violations: {:?}",
                self.violations
            ));
        }
        let sequences = self.sequences();
        let expected: Vec<u64> = (1..=u64::from(TELEMETRY_MESSAGES)).collect();
        if sequences.iter().any(Option::is_none) {
            problems.push(format!(
                "telemetry without a sequence number: {:?}",
                self.telemetry
            ));
        }
        let mut distinct: Vec<u64> = sequences.iter().flatten().copied().collect();
        distinct.dedup();
        if distinct != expected {
            problems.push(format!(
                "the emulator received sequences {distinct:?}, expected {expected:?}"
            ));
        }
        for (index, (_, content_type)) in self.telemetry.iter().enumerate() {
            if content_type.as_deref() != Some("application/json") {
                problems.push(format!(
                    "telemetry #{} has content type {content_type:?}",
                    index + 1
                ));
            }
        }
        problems
    }

    /// The stack's high-water mark and size, in bytes, from the firmware's
    /// last words (`[ 5.123] stack: peak 23456 bytes of 4194304`).
    fn stack(&self) -> Option<(u64, u64)> {
        self.firmware_lines.iter().rev().find_map(|line| {
            let (_, rest) = line.split_once("stack: peak ")?;
            let (peak, size) = rest.split_once(" bytes of ")?;
            Some((peak.parse().ok()?, size.trim().parse().ok()?))
        })
    }

    /// The `sequence` of each telemetry payload, in arrival order.
    fn sequences(&self) -> Vec<Option<u64>> {
        self.telemetry
            .iter()
            .map(|(payload, _)| {
                serde_json::from_str::<serde_json::Value>(payload)
                    .ok()
                    .and_then(|p| p.get("sequence").and_then(|s| s.as_u64()))
            })
            .collect()
    }

    fn summary(&self) -> Vec<String> {
        let exit = self
            .exit_code
            .map_or_else(|| "was killed".into(), |code| format!("exited {code}"));
        let method = match &self.method {
            Some(Ok(response)) => format!("answered {} {}", response.status, response.payload),
            Some(Err(error)) => format!("failed: {error}"),
            None => "not answered".into(),
        };
        let sequences: Vec<String> = self
            .sequences()
            .iter()
            .map(|s| s.map_or("?".into(), |n| n.to_string()))
            .collect();
        vec![
            format!(
                "summary: QEMU {exit} after {:.1} s; {} connection(s) to the hub, {} refused, \
                 {} closed for protocol violations; {} SNTP request(s) answered",
                self.elapsed.as_secs_f64(),
                self.connections,
                self.refusals.total(),
                violation_count(&self.violations),
                self.sntp_answers
            ),
            format!(
                "summary: link {}; emulator received {} telemetry message(s) for \
                 {TELEMETRY_MESSAGES} sent, sequences {}",
                if self.link_flapped {
                    "went down and up"
                } else {
                    "never went down"
                },
                self.telemetry.len(),
                sequences.join(",")
            ),
            format!("summary: method {METHOD_NAME} {method}"),
            format!(
                "summary: DNS gave {HUB_HOST}'s address {} time(s)",
                self.dns_answers
            ),
            match self.stack() {
                Some((peak, size)) => format!(
                    "summary: stack peak {peak} bytes (the deepest call chain of the run; \
                     region {size} bytes)"
                ),
                None => "summary: stack peak not reported".into(),
            },
        ]
    }
}

/// Connections the emulator closed for a protocol breach, of any kind.
fn violation_count(violations: &Violations) -> u32 {
    violations.malformed_packets
        + violations.oversized_packets
        + violations.unexpected_packets
        + violations.qos2_publishes
        + violations.forbidden_topics
        + violations.tls_failures
}

/// Runs QEMU with the emulator and SNTP on loopback, invoking the method
/// meanwhile.
async fn exercise(elf: &Path) -> Result<Report, Error> {
    let emulator = Emulator::new(
        Config::new(HUB_HOST)
            .with_device(DEVICE_ID, DeviceAuth::SymmetricKey(DEVICE_KEY.to_owned())),
    );
    let hub_address = format!("127.0.0.1:{HUB_PORT}");
    emulator
        .listen(&hub_address)
        .await
        .map_err(|e| Error::Setup(format!("the emulator cannot listen on {hub_address}: {e}")))?;
    let sntp = UdpSocket::bind(("127.0.0.1", SNTP_PORT))
        .await
        .map_err(|e| Error::Setup(format!("SNTP cannot bind 127.0.0.1:{SNTP_PORT}: {e}")))?;
    let sntp_answers = Arc::new(AtomicUsize::new(0));
    let sntp = tokio::spawn(serve_sntp(sntp, sntp_answers.clone()));
    let dns = UdpSocket::bind(("127.0.0.1", DNS_PORT))
        .await
        .map_err(|e| Error::Setup(format!("DNS cannot bind 127.0.0.1:{DNS_PORT}: {e}")))?;
    let dns_answers = Arc::new(AtomicUsize::new(0));
    let dns = tokio::spawn(serve_dns(dns, dns_answers.clone()));
    let [a, b, c, d] = HOST_ADDRESS;
    println!(
        "qemu: hub emulator for {HUB_HOST} on {hub_address} (device {DEVICE_ID}), \
         SNTP on 127.0.0.1:{SNTP_PORT}; the firmware sees them at {a}.{b}.{c}.{d}, \
         and DNS (127.0.0.1:{DNS_PORT}, through slirp's 10.0.2.3) names the hub so"
    );

    let qmp_path = std::env::temp_dir().join(format!("duet-qemu-{}.qmp", std::process::id()));
    let mut command = tokio::process::Command::new("qemu-system-arm");
    command
        .args(qemu_args(elf, &qmp_path))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    println!("$ {}", cmd::display(command.as_std()));
    let started = Instant::now();
    let mut qemu = match command.spawn() {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::Setup(
                "qemu-system-arm is not installed (apt-get install qemu-system-arm, \
                 or `cargo xtask ci setup`)"
                    .into(),
            ));
        }
        Err(e) => return Err(Error::Setup(format!("cannot start QEMU: {e}"))),
    };
    let stdout = qemu
        .stdout
        .take()
        .ok_or_else(|| Error::Setup("QEMU's output is not piped".into()))?;
    let echo = tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        let mut seen = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            println!("  {line}");
            seen.push(line);
        }
        seen
    });

    let mut method = None;
    let link_flapped = AtomicBool::new(false);
    let mut invoke = std::pin::pin!(async {
        flap_link(&emulator, &qmp_path).await?;
        link_flapped.store(true, Ordering::Relaxed);
        invoke_method(&emulator).await
    });
    let waited = tokio::time::timeout(TIMEOUT, async {
        loop {
            tokio::select! {
                status = qemu.wait() => break status,
                answer = &mut invoke, if method.is_none() => method = Some(answer),
            }
        }
    })
    .await;
    let elapsed = started.elapsed();
    let (exit_code, timed_out) = match waited {
        Ok(Ok(status)) => (status.code(), false),
        Ok(Err(e)) => return Err(Error::Setup(format!("waiting for QEMU: {e}"))),
        Err(_) => {
            let _ = qemu.kill().await;
            (None, true)
        }
    };
    let firmware_lines = echo.await.unwrap_or_default();
    let _ = std::fs::remove_file(&qmp_path);
    sntp.abort();
    dns.abort();
    let telemetry = emulator
        .telemetry(DEVICE_ID)
        .into_iter()
        .map(|message| {
            let content_type = message.property("$.ct").map(str::to_owned);
            (
                String::from_utf8_lossy(&message.payload).into_owned(),
                content_type,
            )
        })
        .collect();
    Ok(Report {
        exit_code,
        timed_out,
        elapsed,
        firmware_lines,
        method,
        link_flapped: link_flapped.load(Ordering::Relaxed),
        telemetry,
        connections: emulator.connections(DEVICE_ID),
        refusals: emulator.refusals(),
        violations: emulator.violations(),
        sntp_answers: sntp_answers.load(Ordering::Relaxed),
        dns_answers: dns_answers.load(Ordering::Relaxed),
    })
}

/// The board, with semihosting for the timeline and the exit status.
const BOARD_ARGS: [&str; 5] = [
    "-M",
    "mps2-an386",
    "-nographic",
    "-semihosting-config",
    "enable=on,target=native",
];

/// The QEMU command line: the board, semihosting for the timeline and the
/// exit status, the LAN9118 on slirp's 10.0.2.0/24, QMP on `qmp` (a Unix
/// socket QEMU creates) for the link flap.
fn qemu_args(elf: &Path, qmp: &Path) -> Vec<String> {
    BOARD_ARGS
        .into_iter()
        .chain(["-nic", "user,model=lan9118,net=10.0.2.0/24", "-qmp"])
        .map(String::from)
        .chain([
            format!("unix:{},server=on,wait=off", qmp.display()),
            "-kernel".into(),
            elf.to_string_lossy().into_owned(),
        ])
        .collect()
}

/// Once the device has sent [`LINK_FLAP_AFTER`] messages: the link down,
/// the hub dropping the connection (as a hub restart would), and the link
/// up again after [`LINK_DOWN`].
async fn flap_link(emulator: &Emulator, qmp_path: &Path) -> Result<(), String> {
    let mut qmp = Qmp::connect(qmp_path)
        .await
        .map_err(|e| format!("QMP at {}: {e}", qmp_path.display()))?;
    if !emulator
        .wait_for_telemetry(DEVICE_ID, LINK_FLAP_AFTER, TIMEOUT)
        .await
    {
        return Err(format!(
            "the emulator never had {LINK_FLAP_AFTER} telemetry messages to flap the link after"
        ));
    }
    qmp.set_link(false).await?;
    let dropped = emulator.drop_connection(DEVICE_ID);
    println!(
        "qemu: link down (QMP set_link {NIC} off) after {LINK_FLAP_AFTER} telemetry messages; \
         the hub {} the device's connection",
        if dropped { "drops" } else { "had already lost" }
    );
    tokio::time::sleep(LINK_DOWN).await;
    qmp.set_link(true).await?;
    println!("qemu: link up (QMP set_link {NIC} on)");
    Ok(())
}

/// A QMP session: JSON commands, one per line, each answered by `return`
/// or `error` (events in between are skipped).
struct Qmp {
    reader: tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>,
    writer: tokio::net::unix::OwnedWriteHalf,
}

impl Qmp {
    /// Connects (QEMU makes the socket as it starts, so it is retried for
    /// a while) and leaves capabilities negotiation.
    async fn connect(path: &Path) -> std::io::Result<Qmp> {
        let mut tries = 0;
        let stream = loop {
            match UnixStream::connect(path).await {
                Ok(stream) => break stream,
                Err(_) if tries < 100 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => return Err(e),
            }
        };
        let (read, writer) = stream.into_split();
        let mut qmp = Qmp {
            reader: BufReader::new(read).lines(),
            writer,
        };
        // The greeting, then capabilities negotiation.
        qmp.reader.next_line().await?;
        qmp.execute(r#"{"execute":"qmp_capabilities"}"#)
            .await
            .map_err(std::io::Error::other)?;
        Ok(qmp)
    }

    /// Sends one command and waits for its answer.
    async fn execute(&mut self, command: &str) -> Result<(), String> {
        self.writer
            .write_all(format!("{command}\n").as_bytes())
            .await
            .map_err(|e| format!("QMP: {e}"))?;
        loop {
            let line = self
                .reader
                .next_line()
                .await
                .map_err(|e| format!("QMP: {e}"))?
                .ok_or("QMP: QEMU closed the socket")?;
            let answer: serde_json::Value =
                serde_json::from_str(&line).map_err(|e| format!("QMP: {e}: {line}"))?;
            if answer.get("return").is_some() {
                return Ok(());
            }
            if let Some(error) = answer.get("error") {
                return Err(format!("QMP {command}: {error}"));
            }
        }
    }

    async fn set_link(&mut self, up: bool) -> Result<(), String> {
        self.execute(&format!(
            r#"{{"execute":"set_link","arguments":{{"name":"{NIC}","up":{up}}}}}"#
        ))
        .await
    }
}

/// Invokes the method until the device answers it: while it is not yet
/// connected or subscribed, again after a pause.
async fn invoke_method(emulator: &Emulator) -> Result<MethodResponse, String> {
    let payload = r#"{"verbose":false}"#;
    loop {
        match emulator
            .invoke_method(DEVICE_ID, METHOD_NAME, payload, METHOD_TIMEOUT)
            .await
        {
            Err(ControlError::NotConnected | ControlError::NotSubscribed) => {
                tokio::time::sleep(METHOD_RETRY).await;
            }
            Ok(response) => {
                println!(
                    "qemu: method {METHOD_NAME} invoked on {DEVICE_ID}: answered {} {}",
                    response.status, response.payload
                );
                return Ok(response);
            }
            Err(error) => return Err(format!("method {METHOD_NAME}: {error}")),
        }
    }
}

/// Answers SNTP requests with the demo's time server
/// (`duet_sample_host::cloud::sntp`) on the host's clock: stratum 1,
/// reference "LOCL"; keeps in `answered` how many requests it answered.
/// Returns only if the socket fails.
async fn serve_sntp(socket: UdpSocket, answered: Arc<AtomicUsize>) {
    let mut server = SntpServer::new(SntpServerConfig::default());
    let (mut request, mut reply) = ([0u8; 512], [0u8; REPLY_LEN]);
    while let Ok((len, peer)) = socket.recv_from(&mut request).await {
        let received = SystemTime::now();
        let Ok(n) = server.answer(&request[..len], received, SystemTime::now(), &mut reply) else {
            continue;
        };
        if socket.send_to(&reply[..n], peer).await.is_ok() {
            answered.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The port slirp forwards the firmware's DNS queries to (on the
/// nameserver of `/etc/resolv.conf`, 127.0.0.1 here).
const DNS_PORT: u16 = 53;

/// Queries the DNS responder lets go unanswered first: every attempt of
/// the firmware's first lookup (with its one server, its resolver makes
/// `dns::Config::min_attempts`, 3), so that the run shows the firmware
/// asking again rather than giving up.
const DNS_QUERIES_LOST: usize = 3;

/// Answers DNS queries with the demo's name server
/// (`duet_sample_host::cloud::dns`), which knows the hub's name as
/// [`HOST_ADDRESS`] (TTL 0: every lookup asks again), after ignoring the
/// first [`DNS_QUERIES_LOST`]; keeps in `answered` how many answers carried
/// the address. Returns only if the socket fails (or at once, should the
/// hub's name not be one).
async fn serve_dns(socket: UdpSocket, answered: Arc<AtomicUsize>) {
    let Ok(mut server) = DnsServer::new(&[(HUB_HOST, Ipv4Addr::from(HOST_ADDRESS))], 0) else {
        return;
    };
    let (mut query, mut reply) = ([0u8; 512], [0u8; MAX_UDP_RESPONSE]);
    let mut lost = 0;
    while let Ok((len, peer)) = socket.recv_from(&mut query).await {
        if lost < DNS_QUERIES_LOST {
            lost += 1;
            continue;
        }
        if let Ok(n) = server.answer(&query[..len], &mut reply) {
            let _ = socket.send_to(&reply[..n], peer).await;
        }
        answered.store(server.stats().answered as usize, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        Report {
            exit_code: Some(0),
            timed_out: false,
            elapsed: Duration::from_secs(5),
            firmware_lines: vec![
                format!("[  3.500] hub: no address for {HUB_HOST} {FIRMWARE_ASKS_DNS_AGAIN}"),
                "[  6.000] PASSED".into(),
                "[  6.000] stack: peak 20000 bytes of 4000000".into(),
            ],
            link_flapped: true,
            method: Some(Ok(MethodResponse {
                status: 200,
                payload: format!(r#"{{"device":"{DEVICE_ID}","telemetrySent":5}}"#),
            })),
            telemetry: (1..=TELEMETRY_MESSAGES)
                .map(|n| {
                    (
                        format!(r#"{{"sequence":{n}}}"#),
                        Some("application/json".into()),
                    )
                })
                .collect(),
            connections: 2,
            refusals: Refusals::default(),
            violations: Violations::default(),
            sntp_answers: 1,
            dns_answers: 2,
        }
    }

    #[test]
    fn a_complete_run_passes_and_each_shortfall_is_named() {
        assert_eq!(report().problems(), Vec::<String>::new());

        let mut failed = report();
        failed.exit_code = Some(1);
        failed.firmware_lines = vec!["[ 60.000] FAILED: timed out".into()];
        let problems = failed.problems().join("; ");
        assert!(problems.contains("status 1"), "{problems}");
        assert!(problems.contains("FAILED: timed out"), "{problems}");

        let mut overflowed = report();
        overflowed.firmware_lines[2] = "[  6.000] stack: peak 4000000 bytes of 4000000".into();
        let problems = overflowed.problems().join("; ");
        assert!(
            problems.contains("bottom of its 4000000-byte region"),
            "{problems}"
        );
        let mut deep = report();
        deep.firmware_lines[2] = "[  6.000] stack: peak 20481 bytes of 4000000".into();
        let problems = deep.problems().join("; ");
        assert!(problems.contains("over its budget of 20480"), "{problems}");
        overflowed.firmware_lines.pop();
        let problems = overflowed.problems().join("; ");
        assert!(problems.contains("did not report its stack"), "{problems}");
        assert_eq!(report().stack(), Some((20_000, 4_000_000)));

        let mut short = report();
        short.telemetry.remove(1);
        let problems = short.problems().join("; ");
        assert!(problems.contains("sequences [1, 3, 4, 5]"), "{problems}");

        // At least once: a duplicate is fine, a reordering is not.
        let mut duplicated = report();
        let second = duplicated.telemetry[1].clone();
        duplicated.telemetry.insert(2, second);
        assert_eq!(duplicated.problems(), Vec::<String>::new());
        duplicated.telemetry.swap(0, 1);
        assert!(!duplicated.problems().is_empty());

        let mut never_reconnected = report();
        never_reconnected.connections = 1;
        assert!(never_reconnected.problems()[0].contains("connected 1 time"));

        let mut gave_up = report();
        gave_up.firmware_lines.remove(0);
        assert!(gave_up.problems()[0].contains("did not ask DNS again"));

        let mut asked_once = report();
        asked_once.dns_answers = 1;
        assert!(asked_once.problems()[0].contains("DNS for hub.azure-devices.test again"));
        asked_once.dns_answers = 0;
        assert!(asked_once.problems()[0].contains("never asked DNS"));

        let mut refused = report();
        refused.refusals.bad_signature = 3;
        let problems = refused.problems().join("; ");
        assert!(problems.contains("bad_signature: 3"), "{problems}");

        let mut unanswered = report();
        unanswered.method = Some(Err(format!(
            "method {METHOD_NAME}: {}",
            ControlError::Timeout
        )));
        assert!(unanswered.problems()[0].contains("did not answer"));
        unanswered.method = None;
        assert!(unanswered.problems()[0].contains("never answered"));
    }

    #[test]
    fn the_qemu_command_line_puts_the_lan9118_on_slirp() {
        let args = qemu_args(Path::new("/fw.elf"), Path::new("/tmp/q.qmp")).join(" ");
        assert!(args.contains("-M mps2-an386"));
        assert!(args.contains("user,model=lan9118,net=10.0.2.0/24"));
        assert!(args.contains("enable=on,target=native"));
        assert!(args.contains("-qmp unix:/tmp/q.qmp,server=on,wait=off"));
        assert!(args.ends_with("-kernel /fw.elf"));
    }
}
