//! `cargo xtask bench crypto-mcu`: what duet-crypto's software provider
//! costs a Cortex-M4 per byte and per operation, and what the compact
//! RustCrypto backends that the footprint images and the board samples
//! select cost in speed for the flash they save.
//!
//! The firmware `crypto-mcu` of `xtask/bench-mcu` (see its module doc for
//! what it times and prints) is built twice, as a size-conscious firmware
//! ships (opt-level "z", fat LTO):
//!
//! - `compact`: with [`COMPACT_CFGS`], the `--cfg`s of
//!   `xtask/footprint-image/.cargo/config.toml` and the samples' (a test
//!   checks they agree);
//! - `default`: without them, RustCrypto's unrolled SHA-2 and fixsliced
//!   AES,
//!
//! and each is run under `qemu-system-arm -M mps2-an386 -icount shift=0`,
//! where SysTick counts 40 instructions a tick (checked by the firmware's
//! calibration, as for `tcp-mcu`). Lines:
//!
//! - `bench crypto-mcu-detail build=<compact|default> text=<bytes>
//!   instr_per_tick=<x>`: the firmware's code size (as `cargo xtask
//!   footprint` counts it) and its calibration;
//! - `bench crypto-mcu <primitive> compact_instr_per_byte=<x>
//!   default_instr_per_byte=<y> ratio=<x/y>` for AES-128-GCM seal and open
//!   and SHA-256/384 over a 16 KiB record, `compact_instructions=<x>
//!   default_instructions=<y> ratio=<x/y>` for one ECDSA P-256 signature,
//!   one verification and one ECDHE key exchange (key pair and shared
//!   secret).

use std::path::Path;

use crate::bench::{self, FirmwareReport, INSTRUCTIONS_PER_TICK};
use crate::cmd::{self, Error};
use crate::footprint;

/// The area's name on the command line.
pub const AREA: &str = "crypto-mcu";

/// The firmware crate and its binary.
const CRATE: &str = "xtask/bench-mcu";
const BINARY: &str = "crypto-mcu";

/// Where each build goes, under the repository root: apart from `tcp-mcu`'s
/// (another profile) and from each other (other rustflags).
const TARGET_DIR: &str = "target/bench-mcu-crypto";

/// The backend `--cfg`s a size-conscious firmware sets: the `compact`
/// build's, where the `default` build sets none.
pub const COMPACT_CFGS: [&str; 2] = [
    r#"sha2_backend_soft="compact""#,
    r#"aes_backend_soft="compact""#,
];

/// The two builds and their `--cfg`s, in the order their figures are
/// printed.
const BUILDS: [(&str, &[&str]); 2] = [("compact", &COMPACT_CFGS), ("default", &[])];

/// The footprint images' profile rather than the `tcp-mcu` firmware's
/// speed profile: the trade measured here is one for firmware built for
/// size.
const SIZE_PROFILE: &str = r#"profile.release.opt-level="z""#;

/// The cargo `--config` setting that gives the firmware target exactly
/// `cfgs` as rustflags, written as the `.cargo/config.toml` files write it.
pub fn rustflags_setting(cfgs: &[&str]) -> String {
    let flags: Vec<String> = cfgs
        .iter()
        .map(|cfg| format!(r#""--cfg", '{cfg}'"#))
        .collect();
    format!(
        "target.{}.rustflags=[{}]",
        footprint::TARGET,
        flags.join(", ")
    )
}

/// Builds both firmwares, runs them and prints the comparison.
pub fn run(root: &Path) -> Result<(), Error> {
    let mut reports = Vec::new();
    for (build, cfgs) in BUILDS {
        let elf = footprint::build_firmware_configured(
            &root.join(CRATE),
            &root.join(TARGET_DIR).join(build),
            BINARY,
            None,
            &[&rustflags_setting(cfgs), SIZE_PROFILE],
        )?;
        let text = footprint::of_file(&elf)?.text;
        let mut lines = Vec::new();
        let mut qemu = std::process::Command::new("timeout");
        qemu.args(bench::qemu_args(&elf.to_string_lossy()));
        let ran = cmd::run_reading_lines(&mut qemu, |line| lines.push(line.to_string()));
        let report = CryptoReport::parse(&lines);
        if !report.errors.is_empty() {
            return Err(Error::Bench(format!(
                "the {build} firmware failed: {}",
                report.errors.join("; ")
            )));
        }
        ran?;
        reports.push((build, text, report));
    }
    let [(_, compact_text, compact), (_, default_text, default)] = &reports[..] else {
        unreachable!("one report per build");
    };
    let lines = comparison_lines((*compact_text, compact), (*default_text, default))
        .map_err(Error::Bench)?;
    for line in lines {
        println!("{line}");
    }
    Ok(())
}

/// How much one timed call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amount {
    Bytes(u64),
    Ops(u64),
}

/// One primitive's timed call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptoRun {
    pub primitive: String,
    pub amount: Amount,
    pub ticks: u64,
}

impl CryptoRun {
    /// Instructions per byte, or per operation.
    pub fn instructions_per_unit(&self) -> f64 {
        let units = match self.amount {
            Amount::Bytes(n) | Amount::Ops(n) => n,
        };
        self.ticks as f64 * INSTRUCTIONS_PER_TICK / units as f64
    }
}

/// What one `crypto-mcu` firmware printed; its run lines are `crypto-mcu
/// run primitive=<name> bytes=<n> ticks=<t>` or `... ops=<n> ticks=<t>`.
pub type CryptoReport = FirmwareReport<CryptoRun>;

impl CryptoReport {
    pub fn parse(lines: &[String]) -> CryptoReport {
        FirmwareReport::read("crypto-mcu ", lines, parse_run)
    }

    /// The calibration, checked, or why the report holds no figures.
    fn checked(&self) -> Result<f64, String> {
        if !self.malformed.is_empty() {
            return Err(format!("unreadable lines: {}", self.malformed.join(" | ")));
        }
        self.calibration
            .ok_or("the firmware printed no calibration line")?
            .checked()
    }
}

fn parse_run(fields: &str) -> Option<CryptoRun> {
    let amount = match (bench::number(fields, "bytes"), bench::number(fields, "ops")) {
        (Some(bytes), None) if bytes > 0 => Amount::Bytes(bytes),
        (None, Some(ops)) if ops > 0 => Amount::Ops(ops),
        _ => return None,
    };
    Some(CryptoRun {
        primitive: bench::field(fields, "primitive")?.to_string(),
        amount,
        ticks: bench::number(fields, "ticks")?,
    })
}

/// The detail lines of both builds, then one line per primitive of the
/// `compact` build, beside the `default` build's run of it.
pub fn comparison_lines(
    (compact_text, compact): (u64, &CryptoReport),
    (default_text, default): (u64, &CryptoReport),
) -> Result<Vec<String>, String> {
    let mut lines = Vec::new();
    for (build, text, report) in [
        ("compact", compact_text, compact),
        ("default", default_text, default),
    ] {
        let measured = report.checked().map_err(|why| format!("{build}: {why}"))?;
        lines.push(format!(
            "bench crypto-mcu-detail build={build} text={text} instr_per_tick={measured:.3}"
        ));
    }
    if compact.runs.is_empty() {
        return Err("the firmware printed no run line".into());
    }
    for run in &compact.runs {
        let other = default
            .runs
            .iter()
            .find(|other| other.primitive == run.primitive && other.amount == run.amount)
            .ok_or_else(|| format!("default: no run line for {}", run.primitive))?;
        let (x, y) = (run.instructions_per_unit(), other.instructions_per_unit());
        let line = match run.amount {
            Amount::Bytes(_) => format!(
                "bench crypto-mcu {} compact_instr_per_byte={x:.1} default_instr_per_byte={y:.1} \
                 ratio={:.3}",
                run.primitive,
                x / y
            ),
            Amount::Ops(_) => format!(
                "bench crypto-mcu {} compact_instructions={x:.0} default_instructions={y:.0} \
                 ratio={:.3}",
                run.primitive,
                x / y
            ),
        };
        lines.push(line);
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::Calibration;

    fn strings(lines: &[&str]) -> Vec<String> {
        lines.iter().map(|line| line.to_string()).collect()
    }

    /// What the two builds printed in a real run (QEMU 7.2, mps2-an386),
    /// with QEMU's and xtask's own lines around them, trimmed to three
    /// primitives.
    fn compact_output() -> Vec<String> {
        strings(&[
            "$ timeout --kill-after=5 120 qemu-system-arm -M mps2-an386 ...",
            "crypto-mcu calibration instructions=8000000 ticks=200000",
            "crypto-mcu run primitive=aes128gcm-seal bytes=16384 ticks=174130",
            "crypto-mcu run primitive=sha256 bytes=16384 ticks=26447",
            "crypto-mcu run primitive=p256-sign ops=1 ticks=364421",
        ])
    }

    fn default_output() -> Vec<String> {
        strings(&[
            "crypto-mcu calibration instructions=8000000 ticks=200000",
            "crypto-mcu run primitive=aes128gcm-seal bytes=16384 ticks=169042",
            "crypto-mcu run primitive=sha256 bytes=16384 ticks=17196",
            "crypto-mcu run primitive=p256-sign ops=1 ticks=363345",
            "QEMU: Terminated",
        ])
    }

    #[test]
    fn lines_parse_into_runs_per_byte_and_per_operation() {
        let report = CryptoReport::parse(&compact_output());
        assert_eq!(
            report.calibration,
            Some(Calibration {
                instructions: 8_000_000,
                ticks: 200_000
            })
        );
        assert_eq!(report.runs.len(), 3);
        assert_eq!(report.runs[0].amount, Amount::Bytes(16384));
        assert_eq!(report.runs[2].amount, Amount::Ops(1));
        // 26,447 ticks × 40 instructions over 16 KiB.
        assert!((report.runs[1].instructions_per_unit() - 64.57).abs() < 0.01);
        assert_eq!(report.runs[2].instructions_per_unit(), 14_576_840.0);
        assert!(report.errors.is_empty() && report.malformed.is_empty());
    }

    #[test]
    fn the_comparison_has_the_documented_format_and_arithmetic() {
        let (compact, default) = (
            CryptoReport::parse(&compact_output()),
            CryptoReport::parse(&default_output()),
        );
        let lines = comparison_lines((70_644, &compact), (105_212, &default)).unwrap();
        assert_eq!(
            lines,
            [
                "bench crypto-mcu-detail build=compact text=70644 instr_per_tick=40.000",
                "bench crypto-mcu-detail build=default text=105212 instr_per_tick=40.000",
                "bench crypto-mcu aes128gcm-seal compact_instr_per_byte=425.1 \
                 default_instr_per_byte=412.7 ratio=1.030",
                "bench crypto-mcu sha256 compact_instr_per_byte=64.6 \
                 default_instr_per_byte=42.0 ratio=1.538",
                "bench crypto-mcu p256-sign compact_instructions=14576840 \
                 default_instructions=14533800 ratio=1.003",
            ]
        );
    }

    #[test]
    fn a_failed_primitive_a_missing_run_or_no_icount_yields_no_figures() {
        let mut failed = compact_output();
        failed.push("crypto-mcu error primitive=p256-verify invalid signature".into());
        assert_eq!(
            CryptoReport::parse(&failed).errors,
            ["primitive=p256-verify invalid signature"]
        );

        let compact = CryptoReport::parse(&compact_output());
        let mut short = default_output();
        short.retain(|line| !line.contains("sha256"));
        let error = comparison_lines((1, &compact), (1, &CryptoReport::parse(&short)));
        assert!(error.unwrap_err().contains("no run line for sha256"));

        let mut no_icount = default_output();
        no_icount[0] = "crypto-mcu calibration instructions=8000000 ticks=123".into();
        let error = comparison_lines((1, &compact), (1, &CryptoReport::parse(&no_icount)));
        assert!(error.unwrap_err().contains("default: calibration"));

        let garbled = strings(&["crypto-mcu run primitive=sha256 bytes=0 ticks=5"]);
        assert_eq!(CryptoReport::parse(&garbled).malformed.len(), 1);
    }

    /// The `compact` build measures what the footprint images and the board
    /// samples are built with: each of them sets every `--cfg` it sets.
    #[test]
    fn the_compact_build_sets_what_the_footprint_images_and_samples_set() {
        let root = crate::workspace_root();
        for config in [
            "xtask/footprint-image/.cargo/config.toml",
            "samples/qemu-mps2-an386/.cargo/config.toml",
            "samples/stm32-nucleo-h743zi/.cargo/config.toml",
            "samples/pico-w/.cargo/config.toml",
        ] {
            let text = std::fs::read_to_string(root.join(config)).unwrap();
            let rustflags = text
                .lines()
                .find(|line| line.starts_with("rustflags"))
                .unwrap_or_else(|| panic!("{config} sets no rustflags"));
            let setting = rustflags_setting(&COMPACT_CFGS);
            let (_, flags) = setting.split_once(".rustflags=").unwrap();
            assert_eq!(rustflags, format!("rustflags = {flags}"), "{config}");
        }
    }
}
