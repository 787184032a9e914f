//! `cargo xtask bench [AREA [ARGS...]]`: runs one area of the bench crate
//! (`xtask/bench`, package `duet-bench`) with the release profile, passing
//! `ARGS` through; with no area, lists the areas.
//!
//! The bench crate prints the figures itself, one machine-readable line each
//! (ARCHITECTURE.md, "Measuring"); this command only builds and starts it, so
//! `cargo run --release -p duet-bench -- AREA ARGS` is the same thing.

use std::path::Path;

use crate::cmd::{self, Error};

/// An area the bench crate measures, with what it prints.
#[derive(Debug)]
pub struct Area {
    pub name: &'static str,
    pub about: &'static str,
}

/// Every area `duet-bench` knows, in the order `cargo xtask bench` lists
/// them.
pub const AREAS: &[Area] = &[Area {
    name: "tcp",
    about: "one TCP connection, 4 GiB over an in-memory Ethernet link, Duet against \
            smoltcp 0.14:\n      CPU-s/GiB, MB/s, ACKs per data segment \
            (--bytes N or --gib F to move less)",
}];

/// Runs `area` with `args`, or lists the areas when there is none.
pub fn run(root: &Path, area: Option<&str>, args: &[String]) -> Result<(), Error> {
    let Some(area) = area else {
        println!("{}", area_list());
        return Ok(());
    };
    if !AREAS.iter().any(|known| known.name == area) {
        return Err(Error::UnknownArea(format!(
            "no bench area `{area}`\n\n{}",
            area_list()
        )));
    }
    cmd::run(cmd::cargo().current_dir(root).args(bench_args(area, args)))
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
        |list, area| list + &format!("\n  {:<4}  {}", area.name, area.about),
    )
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
        assert!(list.contains("\n  tcp   one TCP connection"));
        let error = run(Path::new("."), Some("warp"), &[]).unwrap_err();
        assert!(matches!(&error, Error::UnknownArea(message)
            if message.contains("warp") && message.contains("tcp")));
    }

    #[test]
    fn every_area_is_one_the_bench_crate_parses() {
        let bench_main =
            std::fs::read_to_string(crate::workspace_root().join("xtask/bench/src/main.rs"))
                .unwrap();
        for area in AREAS {
            assert!(
                bench_main.contains(&format!("Some(\"{}\")", area.name)),
                "duet-bench does not parse area {}",
                area.name
            );
        }
    }
}
