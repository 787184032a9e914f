//! Deterministic TCP simulation: two stacks on a faulty [`VirtualLink`] in
//! virtual time, each run moving 1 MiB both ways at once through 16 KiB
//! rings, with loss (0–30 %), reordering, duplication, corruption caught by
//! checksums, and delay jitter drawn per seed and per direction.
//!
//! Every run checks that each side read exactly what the other sent (length,
//! every byte, and SHA-256), that both connections ended in an orderly close
//! (through TIME-WAIT, no error), and that no packet buffer leaked. A
//! thousand seeds run, split over several tests so they use both cores; a
//! sample runs twice and must replay the identical trace (every frame
//! delivered, with its virtual time). Separate tests cover setup and
//! teardown under loss, simultaneous open and close, a reset in the middle
//! of a transfer, and a peer that reboots.
//!
//! When a seed fails, the test prints the seed, its faults and what broke;
//! `TCP_SIM_SEED=n cargo test -p duet-netstack --features std --test
//! tcp_simulation one_seed` replays just that seed. `TCP_SIM_FIRST_SEED=n`
//! runs the thousand seeds from `n` on instead of from 0, for campaigns
//! longer than CI's (`seeds_group_`, run repeatedly with another `n`).
//!
//! [`VirtualLink`]: duet_netstack::driver::VirtualLink

#![cfg(feature = "std")]

mod common;
#[path = "tcp_simulation/harness.rs"]
mod harness;
#[path = "tcp_simulation/scenarios.rs"]
mod scenarios;
#[path = "tcp_simulation/transfer.rs"]
mod transfer;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant as WallClock;

use transfer::{Outcome, faults_for, run_seed};

/// Bytes each direction carries in a seeded run.
pub const TRANSFER: usize = 1024 * 1024;

/// Seeds in all, split over [`SEED_GROUPS`] tests that run in parallel.
const SEEDS: u64 = 1_000;
const SEED_GROUPS: u64 = 8;

/// Runs one seed, turning a panic into an error so one bad seed does not
/// hide the others.
fn run_caught(seed: u64) -> Result<Outcome, String> {
    match catch_unwind(AssertUnwindSafe(|| run_seed(seed, TRANSFER))) {
        Ok(result) => result,
        Err(panic) => Err(format!(
            "panicked: {}",
            panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("?")
        )),
    }
}

/// The first seed of the groups: `TCP_SIM_FIRST_SEED`, 0 unless set.
fn first_seed() -> u64 {
    std::env::var("TCP_SIM_FIRST_SEED").map_or(0, |s| {
        s.parse()
            .unwrap_or_else(|_| panic!("TCP_SIM_FIRST_SEED={s}: not a seed"))
    })
}

/// Runs group `group` of the seeds and fails with every failing seed listed.
fn seed_group(group: u64) {
    let started = WallClock::now();
    let mut failures = Vec::new();
    let mut virtual_secs = 0u64;
    let (mut segments, mut retransmissions, mut recoveries) = (0u64, 0u64, 0u64);
    let mut slowest = (0u64, 0u64);
    let mut most_iterations = 0u64;
    // Faults that happened, summed over the group: lost, duplicated,
    // reordered, corrupted frames, and corrupted frames TCP's or IPv4's
    // checksum caught.
    let mut faults = [0u64; 5];
    let first = first_seed();
    let seeds: Vec<u64> = (first..first + SEEDS)
        .filter(|s| s % SEED_GROUPS == group)
        .collect();
    for &seed in &seeds {
        match run_caught(seed) {
            Ok(outcome) => {
                let secs = outcome.finished_at.as_millis() / 1000;
                virtual_secs += secs;
                slowest = slowest.max((secs, seed));
                most_iterations = most_iterations.max(outcome.iterations);
                for (link, stats) in outcome.links.iter().zip(&outcome.stats) {
                    faults[0] += link.dropped;
                    faults[1] += link.duplicated;
                    faults[2] += link.reordered;
                    faults[3] += link.corrupted;
                    faults[4] += u64::from(stats.tcp.drop_bad_checksum)
                        + u64::from(stats.ipv4.drop_bad_checksum);
                }
                for stats in &outcome.stats {
                    segments += u64::from(stats.tcp.tx_segments);
                    retransmissions += u64::from(stats.tcp.retransmissions);
                    recoveries += u64::from(stats.tcp.fast_recoveries);
                }
            }
            Err(error) => failures.push(format!(
                "seed {seed}: {error}\n  faults {:?}",
                faults_for(seed)
            )),
        }
    }
    println!(
        "group {group}: {} seeds in {:.1} s wall, {virtual_secs} s virtual, {segments} \
         segments, {retransmissions} retransmitted, {recoveries} fast recoveries, slowest \
         {slowest:?} (s, seed), at most {most_iterations} iterations, faults {faults:?}",
        seeds.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty() && faults.iter().all(|&n| n > 0),
        "faults {faults:?} (lost, duplicated, reordered, corrupted, caught)\n\
         {} of {} seeds failed:\n{}",
        failures.len(),
        seeds.len(),
        failures.join("\n")
    );
}

#[test]
fn seeds_group_0() {
    seed_group(0);
}
#[test]
fn seeds_group_1() {
    seed_group(1);
}
#[test]
fn seeds_group_2() {
    seed_group(2);
}
#[test]
fn seeds_group_3() {
    seed_group(3);
}
#[test]
fn seeds_group_4() {
    seed_group(4);
}
#[test]
fn seeds_group_5() {
    seed_group(5);
}
#[test]
fn seeds_group_6() {
    seed_group(6);
}
#[test]
fn seeds_group_7() {
    seed_group(7);
}

/// The same seed gives the same run, frame for frame (the trace hashes
/// every frame delivered with its virtual time) and counter for counter;
/// different seeds give different runs.
#[test]
fn a_seed_replays_the_identical_trace_and_other_seeds_differ() {
    let sample = [7, 230, 421, 678, 999];
    let mut traces = Vec::new();
    for seed in sample {
        let first = run_seed(seed, TRANSFER).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let again = run_seed(seed, TRANSFER).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert_eq!(first, again, "seed {seed} did not replay");
        traces.push(first.trace);
    }
    traces.sort_unstable();
    traces.dedup();
    assert_eq!(traces.len(), sample.len(), "two seeds gave the same trace");
}

/// Replays the seed in `TCP_SIM_SEED` (default 0), for debugging one failure.
#[test]
fn one_seed() {
    let seed = std::env::var("TCP_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let outcome = run_seed(seed, TRANSFER)
        .unwrap_or_else(|e| panic!("seed {seed}: {e}\n  faults {:?}", faults_for(seed)));
    println!("seed {seed}: {outcome:#?}");
}
