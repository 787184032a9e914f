//! `cargo xtask bench [AREA [ARGS...]]`: runs one bench area; with no area,
//! lists the areas.
//!
//! Host areas belong to the bench crate (`xtask/bench`, package
//! `duet-bench`), which prints the figures itself, one machine-readable line
//! each (ARCHITECTURE.md, "Measuring"); this command only builds and starts
//! it with the release profile, passing `ARGS` through, so `cargo run
//! --release -p duet-bench -- AREA ARGS` is the same thing.
//!
//! The firmware area `tcp-mcu` runs on the emulated Cortex-M4F: it builds
//! the firmware crate `xtask/bench-mcu` (a workspace of its own, like the
//! footprint images) for thumbv7em-none-eabihf into `target/bench-mcu`, runs
//! it under `qemu-system-arm -M mps2-an386 -icount shift=0`, and turns the
//! SysTick counts it prints over semihosting into instructions per byte
//! (see [`McuReport`] for the lines and the arithmetic):
//!
//! `bench tcp-mcu duet_instr_per_byte=<x> smoltcp_instr_per_byte=<y> ratio=<x/y>`
//!
//! The host area `crypto` prints `bench crypto <primitive> duet=<x>
//! openssl=<y> ratio=<x/y>`: MB/s for bulk primitives, operations per second
//! for public-key ones, per CPU-second on both sides, so a ratio below 1 means
//! Duet is slower (see `xtask/bench/src/crypto/mod.rs`). It needs `openssl` on
//! the PATH; without it the OpenSSL figure reads `unavailable`.

use std::path::Path;

use crate::cmd::{self, Error};
use crate::crypto_mcu;
use crate::footprint;

/// Where an area runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An area of the host bench crate `duet-bench`.
    Host,
    /// The `tcp-mcu` firmware under QEMU.
    Firmware,
}

/// A bench area, with what it prints.
#[derive(Debug)]
pub struct Area {
    pub name: &'static str,
    pub kind: Kind,
    pub about: &'static str,
}

/// Every area, in the order `cargo xtask bench` lists them.
pub const AREAS: &[Area] = &[
    Area {
        name: "tcp",
        kind: Kind::Host,
        about: "one TCP connection, 4 GiB over an in-memory Ethernet link, Duet against \
                smoltcp 0.14:\n           CPU-s/GiB, MB/s, ACKs per data segment \
                (--bytes N or --gib F to move less)",
    },
    Area {
        name: "crypto",
        kind: Kind::Host,
        about: "duet-crypto's software provider against `openssl speed` in the same run:\n           \
                SHA-256, HMAC-SHA256 (64 B), AES-128-GCM (16 KiB, 1 KiB records), ECDSA\n           \
                P-256 sign/verify, ECDH P-256, RSA-2048 verify; MB/s or ops/s\n           \
                (--seconds N per primitive and side)",
    },
    Area {
        name: "mqtt",
        kind: Kind::Host,
        about: "100,000 64-byte publishes to a local mosquitto at QoS 0, 1 and 2, Duet's \
                session\n           against rumqttc in the same run: messages/s (--count N)",
    },
    Area {
        name: "tls",
        kind: Kind::Host,
        about: "Duet's TLS client against openssl's (s_time, s_client) on one local s_server:\n           \
                full-handshake ms for 1.3 ECDHE-ECDSA and 1.2 ECDHE-RSA, bulk MB/s for 1.3\n           \
                AES-128-GCM (--handshakes N, --megabytes N)",
    },
    Area {
        name: crypto_mcu::AREA,
        kind: Kind::Firmware,
        about: "duet-crypto's software primitives on the emulated Cortex-M4F (AES-128-GCM,\n           \
                SHA-256/384, ECDSA and ECDH P-256), built with and without the compact\n           \
                RustCrypto backends: instructions per byte or per operation",
    },
    Area {
        name: "tcp-mcu",
        kind: Kind::Firmware,
        about: "the same exchange on the emulated Cortex-M4F (QEMU mps2-an386, icount), \
                1 MiB\n           with 16 KiB buffers, Duet against smoltcp 0.14: \
                instructions per byte",
    },
];

/// Runs `area` with `args`, or lists the areas when there is none.
pub fn run(root: &Path, area: Option<&str>, args: &[String]) -> Result<(), Error> {
    let Some(area) = area else {
        println!("{}", area_list());
        return Ok(());
    };
    match AREAS
        .iter()
        .find(|known| known.name == area)
        .map(|a| a.kind)
    {
        Some(Kind::Host) => cmd::run(cmd::cargo().current_dir(root).args(bench_args(area, args))),
        Some(Kind::Firmware) => match args.first() {
            Some(extra) => Err(Error::Bench(format!(
                "`{area}` takes no arguments (got `{extra}`)"
            ))),
            None if area == crypto_mcu::AREA => crypto_mcu::run(root),
            None => run_tcp_mcu(root),
        },
        None => Err(Error::UnknownArea(format!(
            "no bench area `{area}`\n\n{}",
            area_list()
        ))),
    }
}

/// The cargo arguments that run `area`.
fn bench_args<'a>(area: &'a str, args: &'a [String]) -> Vec<&'a str> {
    let mut cargo_args = vec!["run", "--release", "-p", "duet-bench", "--", area];
    cargo_args.extend(args.iter().map(String::as_str));
    cargo_args
}

/// The areas, one per line, for `cargo xtask bench` alone.
fn area_list() -> String {
    AREAS.iter().fold(
        String::from("bench areas (cargo xtask bench AREA [ARGS...]):"),
        |list, area| list + &format!("\n  {:<7}  {}", area.name, area.about),
    )
}

/// The firmware crate of `tcp-mcu`, relative to the repository root.
const MCU_CRATE: &str = "xtask/bench-mcu";

/// Where it builds, relative to the repository root: apart from the host
/// workspace and from the footprint images, whose profile differs.
const MCU_TARGET_DIR: &str = "target/bench-mcu";

/// The firmware binary.
const MCU_BINARY: &str = "bench-mcu";

/// Seconds QEMU may run. The firmware needs well under one (≈40 M emulated
/// instructions); a hang (a stack that never finishes, a firmware that
/// never exits) ends here instead of holding CI.
const QEMU_TIMEOUT_SECONDS: u32 = 120;

/// Instructions per SysTick tick: under `-icount shift=0` QEMU counts 1 ns
/// per instruction, and SysTick runs on the 25 MHz processor clock
/// (TESTING.md, "Emulated board"). The firmware times a loop of known length
/// to check it; a figure off by more than [`CALIBRATION_TOLERANCE`] means
/// icount was not in force and the run measured nothing.
pub const INSTRUCTIONS_PER_TICK: f64 = 40.0;

/// Relative difference allowed between the calibration and
/// [`INSTRUCTIONS_PER_TICK`].
pub(crate) const CALIBRATION_TOLERANCE: f64 = 0.005;

/// The stacks a `tcp-mcu` run must report: the measured one, then the anchor.
const MCU_STACKS: [&str; 2] = ["duet", "smoltcp"];

/// Builds the firmware, runs it under QEMU and prints its figures.
fn run_tcp_mcu(root: &Path) -> Result<(), Error> {
    let elf = footprint::build_firmware(
        &root.join(MCU_CRATE),
        &root.join(MCU_TARGET_DIR),
        MCU_BINARY,
        None,
    )?;
    let mut lines = Vec::new();
    let mut qemu = std::process::Command::new("timeout");
    qemu.args(qemu_args(&elf.to_string_lossy()));
    let ran = cmd::run_reading_lines(&mut qemu, |line| lines.push(line.to_string()));
    let report = McuReport::parse(&lines);
    if let Err(error) = ran {
        return Err(qemu_failure(error, &report));
    }
    for line in report.lines().map_err(Error::Bench)? {
        println!("{line}");
    }
    Ok(())
}

/// The `timeout` arguments that run the firmware `elf` under QEMU: the
/// Cortex-M4F board, semihosting for output and exit status, and icount so
/// that SysTick counts instructions.
pub(crate) fn qemu_args(elf: &str) -> Vec<String> {
    let timeout = QEMU_TIMEOUT_SECONDS.to_string();
    [
        "--kill-after=5",
        &timeout,
        "qemu-system-arm",
        "-M",
        "mps2-an386",
        "-nographic",
        "-semihosting-config",
        "enable=on,target=native",
        "-icount",
        "shift=0",
        "-kernel",
        elf,
    ]
    .map(String::from)
    .to_vec()
}

/// Says why QEMU failed in the words that help: the firmware's own error
/// lines, the timeout, or the missing emulator.
fn qemu_failure(error: Error, report: &McuReport) -> Error {
    let Error::Status { status, .. } = &error else {
        return error;
    };
    match status.code() {
        _ if !report.errors.is_empty() => {
            Error::Bench(format!("the firmware failed: {}", report.errors.join("; ")))
        }
        Some(124 | 137) => Error::Bench(format!(
            "QEMU did not finish within {QEMU_TIMEOUT_SECONDS} s"
        )),
        Some(127) => Error::Bench(
            "qemu-system-arm is not installed (apt-get install qemu-system-arm, \
             or `cargo xtask ci setup`)"
                .into(),
        ),
        _ => error,
    }
}

/// The firmware's calibration: a loop of known length, timed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    pub instructions: u64,
    pub ticks: u64,
}

impl Calibration {
    pub fn instructions_per_tick(&self) -> f64 {
        self.instructions as f64 / self.ticks as f64
    }

    /// The measured instructions per tick, if they are the
    /// [`INSTRUCTIONS_PER_TICK`] that icount promises; else the run counted
    /// nothing and says so.
    pub fn checked(&self) -> Result<f64, String> {
        let measured = self.instructions_per_tick();
        if self.ticks == 0 || (measured / INSTRUCTIONS_PER_TICK - 1.0).abs() > CALIBRATION_TOLERANCE
        {
            return Err(format!(
                "calibration: {} instructions took {} ticks, not {INSTRUCTIONS_PER_TICK} \
                 instructions per tick (is QEMU running with -icount shift=0?)",
                self.instructions, self.ticks
            ));
        }
        Ok(measured)
    }
}

/// One stack's transfer, as the firmware counted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McuRun {
    pub stack: String,
    pub bytes: u64,
    /// SysTick ticks of the whole transfer.
    pub ticks: u64,
    /// Of those, the bench's own check of the received data.
    pub verify_ticks: u64,
    pub loops: u64,
    pub data_segments: u64,
    pub pure_acks: u64,
    pub other_frames: u64,
}

impl McuRun {
    /// The headline figure: instructions of the exchange (stacks,
    /// application copies, link, loop) less the data check, per byte.
    pub fn instr_per_byte(&self) -> f64 {
        self.ticks.saturating_sub(self.verify_ticks) as f64 * INSTRUCTIONS_PER_TICK
            / self.bytes as f64
    }

    /// Everything the transfer took, the data check included, per byte.
    pub fn with_verify_instr_per_byte(&self) -> f64 {
        self.ticks as f64 * INSTRUCTIONS_PER_TICK / self.bytes as f64
    }

    pub fn acks_per_data_segment(&self) -> f64 {
        if self.data_segments == 0 {
            return 0.0;
        }
        self.pure_acks as f64 / self.data_segments as f64
    }
}

/// What a bench firmware printed, read from its lines that start with its
/// prefix: a calibration line (`<prefix> calibration instructions=<n>
/// ticks=<t>`), run lines (`<prefix> run ...`, read by the firmware's own
/// parser) and error lines (`<prefix> error ...`). Other lines (xtask's
/// own, QEMU's) are ignored; lines that start like the firmware's but do
/// not parse are kept as malformed.
#[derive(Debug, Clone, PartialEq)]
pub struct FirmwareReport<R> {
    pub calibration: Option<Calibration>,
    pub runs: Vec<R>,
    pub errors: Vec<String>,
    /// Lines that start like the firmware's but do not parse.
    pub malformed: Vec<String>,
}

impl<R> FirmwareReport<R> {
    pub fn read(prefix: &str, lines: &[String], parse_run: fn(&str) -> Option<R>) -> Self {
        let mut report = FirmwareReport {
            calibration: None,
            runs: Vec::new(),
            errors: Vec::new(),
            malformed: Vec::new(),
        };
        for line in lines {
            let Some(rest) = line.trim().strip_prefix(prefix) else {
                continue;
            };
            let (kind, fields) = rest.split_once(' ').unwrap_or((rest, ""));
            let parsed = match kind {
                "calibration" => parse_calibration(fields).map(|c| report.calibration = Some(c)),
                "run" => parse_run(fields).map(|run| report.runs.push(run)),
                "error" => {
                    report.errors.push(fields.to_string());
                    Some(())
                }
                _ => None,
            };
            if parsed.is_none() {
                report.malformed.push(line.clone());
            }
        }
        report
    }
}

/// What the `tcp-mcu` firmware printed: its run lines are
/// `tcp-mcu run stack=<name> bytes=<n> ticks=<t> verify_ticks=<t> loops=<n>
/// data_segments=<n> pure_acks=<n> other_frames=<n>`, one per stack.
/// Instructions are ticks × [`INSTRUCTIONS_PER_TICK`], once the calibration
/// has confirmed that factor.
pub type McuReport = FirmwareReport<McuRun>;

impl McuReport {
    pub fn parse(lines: &[String]) -> McuReport {
        FirmwareReport::read("tcp-mcu ", lines, parse_run)
    }

    /// The detail lines and the summary line, or why there are none.
    pub fn lines(&self) -> Result<Vec<String>, String> {
        if !self.errors.is_empty() {
            return Err(format!("the firmware failed: {}", self.errors.join("; ")));
        }
        if !self.malformed.is_empty() {
            return Err(format!("unreadable lines: {}", self.malformed.join(" | ")));
        }
        let calibration = self
            .calibration
            .ok_or("the firmware printed no calibration line")?;
        let measured = calibration.checked()?;
        let mut lines = vec![format!(
            "bench tcp-mcu-detail calibration instructions={} ticks={} instr_per_tick={measured:.3}",
            calibration.instructions, calibration.ticks
        )];
        let mut figures = Vec::new();
        for stack in MCU_STACKS {
            let run = self
                .runs
                .iter()
                .find(|run| run.stack == stack)
                .ok_or_else(|| format!("the firmware printed no run line for {stack}"))?;
            if run.bytes == 0 || run.verify_ticks > run.ticks {
                return Err(format!("{stack}: inconsistent run line: {run:?}"));
            }
            lines.push(detail_line(run));
            figures.push(run.instr_per_byte());
        }
        let (duet, smoltcp) = (figures[0], figures[1]);
        lines.push(format!(
            "bench tcp-mcu duet_instr_per_byte={duet:.2} smoltcp_instr_per_byte={smoltcp:.2} \
             ratio={:.3}",
            duet / smoltcp
        ));
        Ok(lines)
    }
}

/// One stack's detail line.
fn detail_line(run: &McuRun) -> String {
    format!(
        "bench tcp-mcu-detail stack={} instr_per_byte={:.2} with_verify_instr_per_byte={:.2} \
         instructions={} verify_instructions={} bytes={} data_segments={} pure_acks={} \
         acks_per_data_segment={:.3} other_frames={} loops={}",
        run.stack,
        run.instr_per_byte(),
        run.with_verify_instr_per_byte(),
        (run.ticks - run.verify_ticks) * INSTRUCTIONS_PER_TICK as u64,
        run.verify_ticks * INSTRUCTIONS_PER_TICK as u64,
        run.bytes,
        run.data_segments,
        run.pure_acks,
        run.acks_per_data_segment(),
        run.other_frames,
        run.loops,
    )
}

/// The value of `key=` among space-separated `key=value` fields.
pub(crate) fn field<'a>(fields: &'a str, key: &str) -> Option<&'a str> {
    fields.split_whitespace().find_map(|pair| {
        let (k, value) = pair.split_once('=')?;
        (k == key).then_some(value)
    })
}

pub(crate) fn number(fields: &str, key: &str) -> Option<u64> {
    field(fields, key)?.parse().ok()
}

fn parse_calibration(fields: &str) -> Option<Calibration> {
    Some(Calibration {
        instructions: number(fields, "instructions")?,
        ticks: number(fields, "ticks")?,
    })
}

fn parse_run(fields: &str) -> Option<McuRun> {
    Some(McuRun {
        stack: field(fields, "stack")?.to_string(),
        bytes: number(fields, "bytes")?,
        ticks: number(fields, "ticks")?,
        verify_ticks: number(fields, "verify_ticks")?,
        loops: number(fields, "loops")?,
        data_segments: number(fields, "data_segments")?,
        pure_acks: number(fields, "pure_acks")?,
        other_frames: number(fields, "other_frames")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn areas_run_the_bench_crate_in_release_with_the_arguments_passed_on() {
        let args = ["--gib".to_string(), "0.0625".to_string()];
        assert_eq!(
            bench_args("tcp", &args),
            [
                "run",
                "--release",
                "-p",
                "duet-bench",
                "--",
                "tcp",
                "--gib",
                "0.0625"
            ]
        );
        assert_eq!(
            bench_args("tcp", &[]),
            ["run", "--release", "-p", "duet-bench", "--", "tcp"]
        );
    }

    #[test]
    fn the_list_names_every_area_and_an_unknown_one_is_refused() {
        let list = area_list();
        assert!(AREAS.iter().all(|area| list.contains(area.name)));
        assert!(list.contains("\n  tcp      one TCP connection"));
        assert!(list.contains("\n  crypto   duet-crypto's software provider"));
        assert!(list.contains("\n  tcp-mcu  the same exchange on the emulated Cortex-M4F"));
        let error = run(Path::new("."), Some("warp"), &[]).unwrap_err();
        assert!(matches!(&error, Error::UnknownArea(message)
            if message.contains("warp") && message.contains("tcp")));
        let error = run(Path::new("."), Some("tcp-mcu"), &["--fast".into()]).unwrap_err();
        assert!(matches!(&error, Error::Bench(message) if message.contains("--fast")));
    }

    #[test]
    fn every_area_is_one_the_bench_crate_parses() {
        let bench_main =
            std::fs::read_to_string(crate::workspace_root().join("xtask/bench/src/main.rs"))
                .unwrap();
        for area in AREAS.iter().filter(|area| area.kind == Kind::Host) {
            assert!(
                bench_main.contains(&format!("Some(\"{}\")", area.name)),
                "duet-bench does not parse area {}",
                area.name
            );
        }
    }

    /// What the firmware printed in a real run (QEMU 7.2, mps2-an386), with
    /// QEMU's and xtask's own lines around it.
    fn firmware_output() -> Vec<String> {
        [
            "$ timeout --kill-after=5 120 qemu-system-arm -M mps2-an386 ...",
            "tcp-mcu calibration instructions=8000000 ticks=199999",
            "tcp-mcu run stack=duet bytes=1048576 ticks=463324 verify_ticks=31856 loops=132 \
             data_segments=725 pure_acks=132 other_frames=0",
            "tcp-mcu run stack=smoltcp bytes=1048576 ticks=392158 verify_ticks=32471 \
             loops=128 data_segments=768 pure_acks=128 other_frames=0",
        ]
        .map(String::from)
        .to_vec()
    }

    #[test]
    fn firmware_lines_parse_into_figures() {
        let report = McuReport::parse(&firmware_output());
        assert_eq!(
            report.calibration,
            Some(Calibration {
                instructions: 8_000_000,
                ticks: 199_999
            })
        );
        assert_eq!(report.runs.len(), 2);
        assert_eq!(
            report.runs[1],
            McuRun {
                stack: "smoltcp".into(),
                bytes: 1 << 20,
                ticks: 392_158,
                verify_ticks: 32_471,
                loops: 128,
                data_segments: 768,
                pure_acks: 128,
                other_frames: 0,
            }
        );
        assert!(report.errors.is_empty() && report.malformed.is_empty());
    }

    #[test]
    fn tcp_mcu_lines_have_the_documented_format_and_arithmetic() {
        let lines = McuReport::parse(&firmware_output()).lines().unwrap();
        assert_eq!(
            lines,
            [
                "bench tcp-mcu-detail calibration instructions=8000000 ticks=199999 \
                 instr_per_tick=40.000",
                // (463324 - 31856) * 40 / 1048576 = 16.459...; 463324 * 40 / 2^20 = 17.674...
                "bench tcp-mcu-detail stack=duet instr_per_byte=16.46 \
                 with_verify_instr_per_byte=17.67 instructions=17258720 \
                 verify_instructions=1274240 bytes=1048576 data_segments=725 pure_acks=132 \
                 acks_per_data_segment=0.182 other_frames=0 loops=132",
                "bench tcp-mcu-detail stack=smoltcp instr_per_byte=13.72 \
                 with_verify_instr_per_byte=14.96 instructions=14387480 \
                 verify_instructions=1298840 bytes=1048576 data_segments=768 pure_acks=128 \
                 acks_per_data_segment=0.167 other_frames=0 loops=128",
                "bench tcp-mcu duet_instr_per_byte=16.46 smoltcp_instr_per_byte=13.72 \
                 ratio=1.200",
            ]
        );
    }

    #[test]
    fn a_run_without_icount_or_with_a_failed_stack_yields_no_figures() {
        // Without -icount, SysTick follows the host's clock: the factor is
        // off, and the figures would be meaningless.
        let mut output = firmware_output();
        output[1] = "tcp-mcu calibration instructions=8000000 ticks=31337".into();
        let error = McuReport::parse(&output).lines().unwrap_err();
        assert!(error.contains("-icount"), "{error}");

        let mut output = firmware_output();
        output[2] = "tcp-mcu error stack=duet stalled after 16384 bytes".into();
        let report = McuReport::parse(&output);
        assert_eq!(report.errors, ["stack=duet stalled after 16384 bytes"]);
        assert!(report.lines().unwrap_err().contains("stalled after 16384"));

        let mut output = firmware_output();
        output.remove(3);
        let error = McuReport::parse(&output).lines().unwrap_err();
        assert!(error.contains("smoltcp"), "{error}");

        let mut output = firmware_output();
        output.remove(1);
        let error = McuReport::parse(&output).lines().unwrap_err();
        assert!(error.contains("calibration"), "{error}");

        let mut output = firmware_output();
        output[2] = output[2].replace("ticks=463324", "ticks=many");
        let report = McuReport::parse(&output);
        assert_eq!(report.malformed.len(), 1);
        assert!(report.lines().unwrap_err().contains("ticks=many"));
    }

    #[test]
    fn qemu_runs_the_board_with_icount_under_a_timeout() {
        let args = qemu_args("target/bench-mcu/thumbv7em-none-eabihf/release/bench-mcu");
        assert_eq!(
            args.join(" "),
            "--kill-after=5 120 qemu-system-arm -M mps2-an386 -nographic \
             -semihosting-config enable=on,target=native -icount shift=0 \
             -kernel target/bench-mcu/thumbv7em-none-eabihf/release/bench-mcu"
        );
    }
}
