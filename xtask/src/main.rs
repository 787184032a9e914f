//! Duet's project commands, run as `cargo xtask <command>` (an alias in
//! `.cargo/config.toml`).
//!
//! - `ci`: installs what the tests need, then runs every stage CI runs
//!   (formatting, lints, tests, no_std builds, footprint), with a timing line
//!   per stage. `.ci/run` is this command and nothing else, so a developer
//!   runs exactly what CI runs.
//! - `footprint`: builds the firmware images and prints their section sizes
//!   and the target `size_of` table, one machine-readable line per figure.
//! - `bench`: runs one area of the bench crate (`xtask/bench`) with the
//!   release profile, or the `tcp-mcu` firmware (`xtask/bench-mcu`) under
//!   QEMU, Duet against its anchor in the same run; alone, lists the areas.
//! - `qemu`: builds the QEMU sample firmware (`samples/qemu-mps2-an386`) and
//!   runs it on the emulated MPS2-AN386 against the IoT Hub emulator,
//!   checking the telemetry and the direct method's answer.
//!
//! Arguments are parsed by hand: four commands do not need a parser crate, and
//! every dependency here is compiled on each cold CI run.

mod bench;
mod ci;
mod cmd;
mod crypto_mcu;
mod footprint;
mod qemu;

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  ci [STAGE...]   install what the tests need, then run every CI stage
                  (or only the named ones, in CI order)
  footprint       build the firmware images, print their sizes and size_of table
  bench [AREA [ARGS...]]
                  run a benchmark area in release mode (ARGS go to it);
                  without AREA, list the areas
  qemu            run the QEMU sample (mps2-an386) against the hub emulator
  help            print this message";

/// The repository root: xtask's own manifest sits one level below it.
fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(PathBuf::from)
        .unwrap_or(manifest_dir)
}

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Ci {
        only: Vec<String>,
    },
    Footprint,
    Bench {
        area: Option<String>,
        args: Vec<String>,
    },
    Qemu,
    Help,
}

/// Reads the command from the arguments after the program name.
fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Command, String> {
    let mut args = args.into_iter();
    let command = match args.next().as_deref() {
        Some("ci") => {
            return Ok(Command::Ci {
                only: args.collect(),
            });
        }
        Some("footprint") => Command::Footprint,
        Some("qemu") => Command::Qemu,
        Some("bench") => {
            return Ok(Command::Bench {
                area: args.next(),
                args: args.collect(),
            });
        }
        Some("help" | "-h" | "--help") | None => Command::Help,
        Some(other) => return Err(format!("unknown command `{other}`")),
    };
    match args.next() {
        Some(extra) => Err(format!("unexpected argument `{extra}`")),
        None => Ok(command),
    }
}

fn main() -> ExitCode {
    let command = match parse_args(std::env::args().skip(1)) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("xtask: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let root = workspace_root();
    let result = match command {
        Command::Help => {
            println!("{USAGE}");
            Ok(())
        }
        Command::Ci { only } => ci::run(&root, &only),
        Command::Footprint => footprint::run(&root),
        Command::Bench { area, args } => bench::run(&root, area.as_deref(), &args),
        // Its errors are its own (a run's findings, not a command's).
        Command::Qemu => match qemu::run(&root) {
            Ok(()) => Ok(()),
            Err(error) => {
                eprintln!("xtask: {error}");
                return ExitCode::FAILURE;
            }
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn commands_parse_and_strays_are_rejected() {
        assert_eq!(parse(&["ci"]), Ok(Command::Ci { only: vec![] }));
        assert_eq!(
            parse(&["ci", "fmt", "test"]),
            Ok(Command::Ci {
                only: vec!["fmt".into(), "test".into()]
            })
        );
        assert_eq!(parse(&["footprint"]), Ok(Command::Footprint));
        assert_eq!(parse(&["qemu"]), Ok(Command::Qemu));
        assert_eq!(
            parse(&["bench"]),
            Ok(Command::Bench {
                area: None,
                args: vec![]
            })
        );
        assert_eq!(
            parse(&["bench", "tcp", "--gib", "0.5"]),
            Ok(Command::Bench {
                area: Some("tcp".into()),
                args: vec!["--gib".into(), "0.5".into()]
            })
        );
        assert_eq!(parse(&[]), Ok(Command::Help));
        assert_eq!(parse(&["--help"]), Ok(Command::Help));
        assert!(parse(&["bogus"]).unwrap_err().contains("bogus"));
        assert!(
            parse(&["footprint", "--extra"])
                .unwrap_err()
                .contains("--extra")
        );
    }

    #[test]
    fn workspace_root_holds_the_workspace_manifest() {
        let manifest = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
        assert!(manifest.contains("[workspace]"));
    }
}
