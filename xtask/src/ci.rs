//! `cargo xtask ci`: everything CI runs, in order, on a fresh Debian 12
//! machine as root (a cold clone, 2 cores, a 90-minute hard limit).
//!
//! The first stage installs what the tests need, checking first so that a
//! warm machine skips the installers. Each stage then prints one timing line
//! when it ends, so growth is visible in every CI log, and the run stops at
//! the first failure with the failed stage named.
//!
//! The stage list is data ([`STAGES`]): a later issue adds a stage (real
//! peers, QEMU firmware runs) with one entry, and a package to
//! [`DEBIAN_PACKAGES`] with one word.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::cmd::{self, Error};
use crate::footprint;
use crate::qemu;

/// Debian packages the tests use: `ip` (namespaces, TAP), `ping`, `nft`
/// (loss/duplication on real links; the kernel has no netem), `ethtool`
/// (checksum offload off), `tcpdump` (captures while debugging interop),
/// `qemu-system-arm` (the emulated Cortex-M4F board, mps2-an386, that
/// `cargo xtask bench tcp-mcu` and firmware tests run on), `openssl` (the
/// TLS peer, `openssl s_server`, and `openssl speed` for the crypto bench),
/// `mosquitto` (the MQTT broker `duet`'s MQTT tests start on 127.0.0.1),
/// `dnsmasq-base` and `chrony` (the DHCP/DNS server and the NTP server the
/// network-service tests and the host sample's TAP test start),
/// `gnutls-bin` (`gnutls-serv`, the TLS peer that implements
/// record_size_limit, RFC 8449), `g++` (libFuzzer, which the fuzz targets
/// link, is C++).
pub const DEBIAN_PACKAGES: &[&str] = &[
    "iproute2",
    "iputils-ping",
    "nftables",
    "ethtool",
    "tcpdump",
    "qemu-system-arm",
    "openssl",
    "mosquitto",
    "dnsmasq-base",
    "chrony",
    "gnutls-bin",
    "g++",
];

/// Compilation targets firmware and no_std checks build for: Cortex-M4F/M7F
/// (the footprint images, the QEMU and NUCLEO-H743ZI samples) and
/// Cortex-M0+ (the Pico W sample).
pub const RUST_TARGETS: &[&str] = &[footprint::TARGET, PICO_W_TARGET];

/// Toolchain components the stages call.
pub const RUST_COMPONENTS: &[&str] = &["rustfmt", "clippy"];

/// One step of a stage.
#[derive(Debug)]
pub enum Step {
    /// `cargo` with these arguments, run from the repository root.
    Cargo(&'static [&'static str]),
    /// Work done inside xtask, given the repository root.
    Task(fn(&Path) -> Result<(), Error>),
}

/// A named group of steps with one timing line.
#[derive(Debug)]
pub struct Stage {
    pub name: &'static str,
    pub steps: &'static [Step],
}

/// Every CI stage, in the order they run: cheap checks first, so a
/// formatting slip fails in seconds rather than after the test build.
///
/// Features: lints see every feature at once (`std`, `log` and `defmt`
/// together must compile). Tests run with `std` (host drivers, simulations,
/// Linux interop; CI runs as root) and `log`, but not `defmt`, whose logging
/// calls link only against a firmware's global logger.
pub const STAGES: &[Stage] = &[
    Stage {
        name: "setup",
        steps: &[Step::Task(setup)],
    },
    Stage {
        name: "fmt",
        steps: &[
            Step::Cargo(&["fmt", "--all", "--", "--check"]),
            Step::Cargo(&["fmt", "--manifest-path", IMAGE_MANIFEST, "--", "--check"]),
            Step::Cargo(&[
                "fmt",
                "--manifest-path",
                BENCH_MCU_MANIFEST,
                "--",
                "--check",
            ]),
            Step::Cargo(&[
                "fmt",
                "--manifest-path",
                QEMU_SAMPLE_MANIFEST,
                "--all",
                "--",
                "--check",
            ]),
            Step::Cargo(&["fmt", "--manifest-path", APP_MANIFEST, "--", "--check"]),
            Step::Cargo(&["fmt", "--manifest-path", CPU_MANIFEST, "--", "--check"]),
            Step::Cargo(&["fmt", "--manifest-path", STM32_MANIFEST, "--", "--check"]),
            Step::Cargo(&["fmt", "--manifest-path", PICO_W_MANIFEST, "--", "--check"]),
            Step::Cargo(&["fmt", "--manifest-path", FUZZ_MANIFEST, "--", "--check"]),
        ],
    },
    Stage {
        name: "clippy",
        steps: &[
            Step::Task(docs),
            Step::Cargo(&[
                "clippy",
                "--workspace",
                "--all-targets",
                "--all-features",
                "--",
                "-D",
                "warnings",
            ]),
            Step::Cargo(&[
                "clippy",
                "--manifest-path",
                IMAGE_MANIFEST,
                "--all-features",
                "--target",
                footprint::TARGET,
                "--target-dir",
                footprint::TARGET_DIR,
                "--",
                "-D",
                "warnings",
            ]),
            Step::Cargo(&[
                "clippy",
                "--manifest-path",
                BENCH_MCU_MANIFEST,
                "--target",
                footprint::TARGET,
                "--target-dir",
                "target/bench-mcu",
                "--",
                "-D",
                "warnings",
            ]),
            Step::Cargo(&[
                "clippy",
                "--manifest-path",
                QEMU_SAMPLE_MANIFEST,
                "--workspace",
                "--release",
                "--target",
                footprint::TARGET,
                "--target-dir",
                "target/qemu",
                "--",
                "-D",
                "warnings",
            ]),
            // The samples' shared application, a workspace of its own: with
            // the QEMU sample's target and target dir, whose dependencies it
            // shares.
            Step::Cargo(&[
                "clippy",
                "--manifest-path",
                APP_MANIFEST,
                "--all-features",
                "--release",
                "--target",
                footprint::TARGET,
                "--target-dir",
                "target/qemu",
                "--",
                "-D",
                "warnings",
            ]),
            // The samples' Cortex-M support, likewise (its ARMv6-M branch is
            // compiled by the Pico W's build below).
            Step::Cargo(&[
                "clippy",
                "--manifest-path",
                CPU_MANIFEST,
                "--release",
                "--target",
                footprint::TARGET,
                "--target-dir",
                "target/qemu",
                "--",
                "-D",
                "warnings",
            ]),
            Step::Cargo(&[
                "clippy",
                "--manifest-path",
                STM32_MANIFEST,
                "--release",
                "--target",
                footprint::TARGET,
                "--target-dir",
                STM32_TARGET_DIR,
                "--",
                "-D",
                "warnings",
            ]),
            Step::Cargo(&[
                "clippy",
                "--manifest-path",
                PICO_W_MANIFEST,
                "--release",
                "--target",
                PICO_W_TARGET,
                "--target-dir",
                PICO_W_TARGET_DIR,
                "--",
                "-D",
                "warnings",
            ]),
            Step::Cargo(&[
                "clippy",
                "--manifest-path",
                FUZZ_MANIFEST,
                "--release",
                "--target-dir",
                FUZZ_TARGET_DIR,
                "--",
                "-D",
                "warnings",
            ]),
        ],
    },
    Stage {
        name: "test",
        steps: &[Step::Cargo(&[
            "test",
            "--workspace",
            "--no-fail-fast",
            "--features",
            "duet-netstack/std,duet-netstack/log,duet/storage",
        ])],
    },
    // The fuzz targets keep building, and their seeds pass through them.
    Stage {
        name: "fuzz",
        steps: &[Step::Task(fuzz_seeds)],
    },
    // The README's demo must keep working: run it as a user would.
    Stage {
        name: "demo",
        steps: &[
            Step::Cargo(&["run", "--quiet", "-p", "duet-sample-host"]),
            // The stack alone against the kernel, in a private namespace
            // (CI runs as root).
            Step::Cargo(&["run", "--quiet", "-p", "duet-sample-host", "--", "--kernel"]),
        ],
    },
    // The QEMU sample's firmware on the emulated Cortex-M4F, against the hub
    // emulator, inside a network namespace: the emulator must receive the
    // telemetry and the method response (`cargo xtask qemu`).
    Stage {
        name: "qemu",
        steps: &[Step::Task(qemu::ci)],
    },
    Stage {
        name: "no_std",
        steps: &[
            Step::Cargo(&[
                "build",
                "-p",
                "duet-netstack",
                "--no-default-features",
                "--target",
                footprint::TARGET,
            ]),
            Step::Cargo(&[
                "build",
                "-p",
                "duet-netstack",
                "--target",
                footprint::TARGET,
            ]),
            Step::Cargo(&["build", "-p", "duet-crypto", "--target", footprint::TARGET]),
            Step::Cargo(&["build", "-p", "duet-azure", "--target", footprint::TARGET]),
            // With what it keeps on flash (the MQTT journal, TLS tickets).
            Step::Cargo(&[
                "build",
                "-p",
                "duet",
                "--features",
                "storage",
                "--target",
                footprint::TARGET,
            ]),
            // The real boards' firmware, built and linked as shipped (no
            // board runs in CI): the NUCLEO-H743ZI, and the Pico W, whose
            // Cortex-M0+ has no compare-and-swap.
            Step::Cargo(&[
                "build",
                "--manifest-path",
                STM32_MANIFEST,
                "--release",
                "--target",
                footprint::TARGET,
                "--target-dir",
                STM32_TARGET_DIR,
            ]),
            Step::Cargo(&[
                "build",
                "--manifest-path",
                PICO_W_MANIFEST,
                "--release",
                "--target",
                PICO_W_TARGET,
                "--target-dir",
                PICO_W_TARGET_DIR,
            ]),
        ],
    },
    Stage {
        name: "footprint",
        steps: &[Step::Task(footprint::run)],
    },
];

/// The image crate's manifest, relative to the repository root.
const IMAGE_MANIFEST: &str = "xtask/footprint-image/Cargo.toml";

/// The Cortex-M4 benchmark firmware's manifest (`cargo xtask bench tcp-mcu`):
/// linted in CI so it keeps building, run only by the bench command.
const BENCH_MCU_MANIFEST: &str = "xtask/bench-mcu/Cargo.toml";

/// The QEMU sample's firmware workspace (firmware and LAN9118 driver):
/// formatted and linted here, run by the `qemu` stage.
const QEMU_SAMPLE_MANIFEST: &str = "samples/qemu-mps2-an386/Cargo.toml";

/// The application the firmware samples share (a library, its own
/// workspace): formatted and linted here, built within each firmware.
const APP_MANIFEST: &str = "samples/app/Cargo.toml";

/// What the samples need from the Cortex-M core, the HardFault handler and
/// the stack's high-water mark (a library, its own workspace, the one
/// sample crate with `unsafe` besides the LAN9118 driver): formatted and
/// linted here, built within each firmware.
const CPU_MANIFEST: &str = "samples/cpu/Cargo.toml";

/// The NUCLEO-H743ZI sample (Ethernet, Cortex-M7F): formatted, linted and
/// built here, into its own target dir.
const STM32_MANIFEST: &str = "samples/stm32-nucleo-h743zi/Cargo.toml";
const STM32_TARGET_DIR: &str = "target/stm32-nucleo-h743zi";

/// The Pico W sample (Wi-Fi, Cortex-M0+): formatted, linted and built here,
/// for its own target, into its own target dir.
const PICO_W_MANIFEST: &str = "samples/pico-w/Cargo.toml";
const PICO_W_TARGET: &str = "thumbv6m-none-eabi";
const PICO_W_TARGET_DIR: &str = "target/pico-w";

/// The coverage-guided fuzz targets (cargo-fuzz, a workspace of its own;
/// `xtask/fuzz/README.md`), each with its seeds in `xtask/fuzz/seeds/<name>`.
const FUZZ_MANIFEST: &str = "xtask/fuzz/Cargo.toml";
const FUZZ_TARGET_DIR: &str = "target/fuzz";
const FUZZ_TARGETS: [&str; 10] = [
    "mqtt_session",
    "mqtt_client",
    "mqtt_journal",
    "tls_flash_tickets",
    "dns_response",
    "dhcp_reply",
    "stack_frames",
    "azure_text",
    "tls_server_flight",
    "tls12_server_flight",
];

/// Builds the fuzz targets on stable (no sanitizer, no coverage guidance:
/// fuzzing itself takes nightly) and runs every seed through its target
/// once (libFuzzer's `-runs=0`), so the harnesses keep compiling against
/// the crates and no seed panics. `DUET_FUZZ_SEEDS_COMPLETE` tells a target
/// that checks how far its seeds get (the TLS targets: a completed
/// handshake and a close_notify) to assert it.
fn fuzz_seeds(root: &Path) -> Result<(), Error> {
    for target in FUZZ_TARGETS {
        let mut command = cmd::cargo();
        let cargo_args = [
            "run",
            "--quiet",
            "--release",
            "--manifest-path",
            FUZZ_MANIFEST,
        ];
        command
            .args(cargo_args)
            .args(["--target-dir", FUZZ_TARGET_DIR, "--bin", target, "--"])
            .arg("-runs=0")
            // A failing seed is written here, not into the checkout.
            .arg(format!("-artifact_prefix={FUZZ_TARGET_DIR}/"))
            .arg(format!("xtask/fuzz/seeds/{target}"))
            .env("DUET_FUZZ_SEEDS_COMPLETE", "1")
            .current_dir(root);
        cmd::run(&mut command)?;
    }
    Ok(())
}

/// Runs the named stages (all of them if `only` is empty), in list order.
pub fn run(root: &Path, only: &[String]) -> Result<(), Error> {
    let stages = select(STAGES, only).map_err(Error::UnknownStage)?;
    let started = Instant::now();
    let mut tally = TestTally::default();
    for stage in stages {
        println!("ci: stage {} ...", stage.name);
        let stage_started = Instant::now();
        let result = stage
            .steps
            .iter()
            .try_for_each(|step| run_step(root, step, &mut tally));
        let passed = result.is_ok();
        println!(
            "{}",
            stage_summary(stage.name, passed, stage_started.elapsed())
        );
        if let Err(error) = result {
            eprintln!("ci: {error}");
            println!("ci: {}", tally.line());
            return Err(Error::Stage { stage: stage.name });
        }
    }
    let scope = if only.is_empty() {
        "all stages"
    } else {
        "selected stages"
    };
    println!("ci: {scope} passed in {}", seconds(started.elapsed()));
    // Last, so the run closes on the plain count of tests it ran.
    println!("ci: {}", tally.line());
    Ok(())
}

/// Builds the workspace's documentation with warnings as errors: a broken
/// intra-doc link is a doc comment that points nowhere.
fn docs(root: &Path) -> Result<(), Error> {
    cmd::run(
        cmd::cargo()
            .current_dir(root)
            .env("RUSTDOCFLAGS", "-D warnings")
            .args(["doc", "--no-deps", "--workspace", "--all-features"]),
    )
}

fn run_step(root: &Path, step: &Step, tally: &mut TestTally) -> Result<(), Error> {
    match step {
        Step::Cargo(args) => {
            let mut command = cmd::cargo();
            command.args(*args).current_dir(root);
            cmd::run_reading_lines(&mut command, |line| tally.read(line))
        }
        Step::Task(task) => task(root),
    }
}

/// Tests counted over the whole run from libtest's `test result:` lines,
/// which cargo prints once per test binary and doc-test run. The sum is the
/// run's closing line (`N passed, N failed`), rather than whichever binary
/// happened to run last — often the doc tests, with nothing to run.
#[derive(Debug, Default, PartialEq, Eq)]
struct TestTally {
    passed: u64,
    failed: u64,
}

impl TestTally {
    /// Adds the counts of a line like
    /// `test result: ok. 15 passed; 0 failed; 0 ignored; ...`; other lines
    /// leave the tally as it is.
    fn read(&mut self, line: &str) {
        let Some(counts) = line.trim_start().strip_prefix("test result: ") else {
            return;
        };
        let count = |what: &str| {
            counts.split(';').find_map(|part| {
                let (number, word) = part.trim().rsplit_once(' ')?;
                let number = number.rsplit(' ').next()?;
                if word == what {
                    number.parse::<u64>().ok()
                } else {
                    None
                }
            })
        };
        if let (Some(passed), Some(failed)) = (count("passed"), count("failed")) {
            self.passed += passed;
            self.failed += failed;
        }
    }

    fn line(&self) -> String {
        format!("{} passed, {} failed", self.passed, self.failed)
    }
}

/// The stages to run: those named in `only`, in list order, or all. A name
/// that is no stage is an error, so a typo never silently runs nothing.
fn select<'a>(stages: &'a [Stage], only: &[String]) -> Result<Vec<&'a Stage>, String> {
    if let Some(unknown) = only
        .iter()
        .find(|name| !stages.iter().any(|s| s.name == **name))
    {
        let names: Vec<_> = stages.iter().map(|s| s.name).collect();
        return Err(format!(
            "no stage `{unknown}` (stages: {})",
            names.join(", ")
        ));
    }
    let wanted = |stage: &&Stage| only.is_empty() || only.iter().any(|name| name == stage.name);
    Ok(stages.iter().filter(wanted).collect())
}

/// `ci: stage clippy ok in 41.2s`, or `FAILED`.
fn stage_summary(name: &str, passed: bool, elapsed: Duration) -> String {
    let outcome = if passed { "ok" } else { "FAILED" };
    format!("ci: stage {name} {outcome} in {}", seconds(elapsed))
}

fn seconds(elapsed: Duration) -> String {
    format!("{:.1}s", elapsed.as_secs_f64())
}

/// Installs what is missing: Debian packages, Rust targets and components.
fn setup(_root: &Path) -> Result<(), Error> {
    install_debian_packages()?;
    install_rust_parts()
}

fn install_debian_packages() -> Result<(), Error> {
    let missing: Vec<&str> = DEBIAN_PACKAGES
        .iter()
        .copied()
        .filter(|package| {
            let status = cmd::query(std::process::Command::new("dpkg-query").args([
                "-W",
                "-f=${Status}",
                package,
            ]));
            !dpkg_installed(status.as_deref())
        })
        .collect();
    if missing.is_empty() {
        println!("ci: Debian packages present: {}", DEBIAN_PACKAGES.join(" "));
        return Ok(());
    }
    println!("ci: installing Debian packages: {}", missing.join(" "));
    cmd::run(std::process::Command::new("apt-get").args(["update", "-q"]))?;
    cmd::run(
        std::process::Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&missing),
    )
}

/// Whether `dpkg-query -f='${Status}'` printed the status of an installed
/// package (`install ok installed`, or `hold ok installed`); `None` is dpkg
/// not knowing the package at all.
fn dpkg_installed(status: Option<&str>) -> bool {
    status.is_some_and(|status| status.split_whitespace().nth(2) == Some("installed"))
}

fn install_rust_parts() -> Result<(), Error> {
    let rustup = || std::process::Command::new("rustup");
    let Some(targets) = cmd::query(rustup().args(["target", "list", "--installed"])) else {
        println!("ci: rustup not found; using the toolchain as installed");
        return Ok(());
    };
    let missing_targets = missing(RUST_TARGETS, &targets, "");
    if !missing_targets.is_empty() {
        cmd::run(rustup().args(["target", "add"]).args(&missing_targets))?;
    }
    let components =
        cmd::query(rustup().args(["component", "list", "--installed"])).unwrap_or_default();
    let missing_components = missing(RUST_COMPONENTS, &components, &targets);
    if !missing_components.is_empty() {
        cmd::run(
            rustup()
                .args(["component", "add"])
                .args(&missing_components),
        )?;
    }
    Ok(())
}

/// The wanted names absent from a `rustup ... list --installed` listing.
/// Targets appear by name; most components as `<name>-<target>` (the host's,
/// or another installed target's), some (`rust-src`) by name alone. Matching
/// against the installed targets, not a bare prefix, keeps `rust` from
/// matching `rust-std-...`.
fn missing<'a>(wanted: &[&'a str], listing: &str, targets: &str) -> Vec<&'a str> {
    let present = |name: &str| {
        listing.lines().map(str::trim).any(|line| {
            line == name
                || line
                    .strip_prefix(name)
                    .and_then(|rest| rest.strip_prefix('-'))
                    .is_some_and(|target| {
                        targets
                            .lines()
                            .map(str::trim)
                            .any(|installed| installed == target)
                    })
        })
    };
    wanted
        .iter()
        .copied()
        .filter(|name| !present(name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cargo_steps(name: &str) -> Vec<&'static [&'static str]> {
        let stage = STAGES.iter().find(|s| s.name == name).unwrap();
        stage
            .steps
            .iter()
            .filter_map(|step| match step {
                Step::Cargo(args) => Some(*args),
                Step::Task(_) => None,
            })
            .collect()
    }

    #[test]
    fn stages_run_in_the_documented_order_with_unique_names() {
        let names: Vec<_> = STAGES.iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            [
                "setup",
                "fmt",
                "clippy",
                "test",
                "fuzz",
                "demo",
                "qemu",
                "no_std",
                "footprint"
            ]
        );
        assert!(STAGES.iter().all(|s| !s.steps.is_empty()));
    }

    #[test]
    fn stages_check_what_ci_promises() {
        assert_eq!(cargo_steps("fmt")[0], ["fmt", "--all", "--", "--check"]);
        for args in cargo_steps("clippy") {
            assert!(args.ends_with(&["--", "-D", "warnings"]), "{args:?}");
        }
        assert!(cargo_steps("clippy")[0].contains(&"--all-features"));
        let test = cargo_steps("test")[0];
        assert!(test.contains(&"--workspace"));
        assert!(test.iter().any(|a| a.contains("duet-netstack/std")));
        assert!(test.iter().any(|a| a.contains("duet/storage")));
        let no_std = cargo_steps("no_std");
        assert!(
            no_std
                .iter()
                .all(|args| args.contains(&"thumbv7em-none-eabihf")
                    || args.contains(&"thumbv6m-none-eabi"))
        );
        // Each board's firmware builds as shipped, into a target dir of its
        // own, and every target a step names is one setup installs.
        for manifest in [STM32_MANIFEST, PICO_W_MANIFEST] {
            let build = no_std.iter().find(|args| args.contains(&manifest)).unwrap();
            assert!(build.contains(&"--release") && build.contains(&"--target-dir"));
        }
        for args in STAGES.iter().flat_map(|stage| {
            stage.steps.iter().filter_map(|step| match step {
                Step::Cargo(args) => Some(*args),
                Step::Task(_) => None,
            })
        }) {
            if let Some(at) = args.iter().position(|a| *a == "--target") {
                assert!(RUST_TARGETS.contains(&args[at + 1]), "{args:?}");
            }
        }
        assert!(
            no_std
                .iter()
                .any(|args| args.contains(&"--no-default-features"))
        );
        assert!(
            no_std
                .iter()
                .any(|args| !args.iter().any(|a| a.contains("features")))
        );
    }

    /// Every fuzz target CI runs is a binary of the fuzz crate, and has
    /// seeds to run.
    #[test]
    fn every_fuzz_target_is_built_and_seeded() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let manifest = std::fs::read_to_string(root.join(FUZZ_MANIFEST)).unwrap();
        let binaries = manifest.matches("[[bin]]").count();
        assert_eq!(binaries, FUZZ_TARGETS.len(), "{manifest}");
        for target in FUZZ_TARGETS {
            assert!(
                manifest.contains(&format!("name = \"{target}\"")),
                "{target}"
            );
            let seeds = root.join("xtask/fuzz/seeds").join(target);
            assert!(std::fs::read_dir(&seeds).unwrap().count() > 0, "{target}");
        }
    }

    #[test]
    fn select_keeps_list_order_and_rejects_unknown_names() {
        let only = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let picked = select(STAGES, &only(&["test", "fmt"])).unwrap();
        assert_eq!(
            picked.iter().map(|s| s.name).collect::<Vec<_>>(),
            ["fmt", "test"]
        );
        assert_eq!(select(STAGES, &[]).unwrap().len(), STAGES.len());
        let error = select(STAGES, &only(&["fmt", "tset"])).unwrap_err();
        assert!(
            error.contains("tset") && error.contains("clippy"),
            "{error}"
        );
    }

    #[test]
    fn summary_lines_have_the_ci_log_format() {
        let elapsed = Duration::from_millis(41_249);
        assert_eq!(
            stage_summary("clippy", true, elapsed),
            "ci: stage clippy ok in 41.2s"
        );
        assert_eq!(
            stage_summary("test", false, elapsed),
            "ci: stage test FAILED in 41.2s"
        );
    }

    #[test]
    fn tally_sums_libtest_result_lines_and_ignores_the_rest() {
        let mut tally = TestTally::default();
        tally.read("test result: ok. 15 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s");
        tally
            .read("test result: FAILED. 3 passed; 2 failed; 1 ignored; 0 measured; 0 filtered out");
        tally.read("test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out");
        tally.read("test tests::passed_result ... ok");
        tally.read("test result: garbled");
        tally.read("   Compiling test-result v1.0.0");
        assert_eq!(
            tally,
            TestTally {
                passed: 18,
                failed: 2
            }
        );
        assert_eq!(tally.line(), "18 passed, 2 failed");
    }

    #[test]
    fn dpkg_status_counts_only_installed_packages() {
        assert!(dpkg_installed(Some("install ok installed")));
        assert!(dpkg_installed(Some("hold ok installed")));
        assert!(!dpkg_installed(Some("deinstall ok config-files")));
        assert!(!dpkg_installed(Some("")));
        assert!(!dpkg_installed(None));
    }

    #[test]
    fn missing_matches_targets_and_host_suffixed_components() {
        let targets = "thumbv7em-none-eabihf\nx86_64-unknown-linux-gnu\n";
        assert!(missing(&["thumbv7em-none-eabihf"], targets, "").is_empty());
        assert_eq!(
            missing(&["thumbv6m-none-eabi"], targets, ""),
            ["thumbv6m-none-eabi"]
        );
        let components =
            "clippy-x86_64-unknown-linux-gnu\nrust-src\nrust-std-x86_64-unknown-linux-gnu\n";
        assert_eq!(
            missing(&["rustfmt", "clippy", "rust-src"], components, targets),
            ["rustfmt"]
        );
        assert_eq!(
            missing(&["rust"], components, targets),
            ["rust"],
            "rust-std is not rust"
        );
    }
}
