//! Sets `duet_unaligned_words` on targets whose cores load and store 32-bit
//! words at any address in hardware: Armv7-M, Armv7E-M, Armv8-M Mainline and
//! Armv7-A/R (Cortex-M3/M4/M7/M33/M55, Cortex-A/R). Armv6-M (Cortex-M0/M0+)
//! and Armv8-M Baseline (Cortex-M23) fault on an unaligned word access, and
//! stable Rust exposes no target feature that tells them apart, hence the
//! target name. `src/copy.rs` uses it.
//!
//! Sets `duet_umaal` where `UMAAL` (64-bit `a × b + c + d` in one
//! instruction) exists: Armv7E-M (Cortex-M4/M7, the DSP extension) and
//! Armv7-A/R. Cortex-M3 (Armv7-M) lacks it, and it is optional on Armv8-M
//! Mainline. `src/wire/checksum.rs` sums words with it.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(duet_unaligned_words)");
    println!("cargo::rustc-check-cfg=cfg(duet_umaal)");
    println!("cargo::rerun-if-env-changed=TARGET");
    let target = std::env::var("TARGET").unwrap_or_default();
    let unaligned_words = [
        "thumbv7m",
        "thumbv7em",
        "thumbv8m.main",
        "armv7",
        "thumbv7neon",
    ]
    .iter()
    .any(|prefix| target.starts_with(prefix));
    if unaligned_words {
        println!("cargo::rustc-cfg=duet_unaligned_words");
    }
    let umaal = ["thumbv7em", "armv7", "thumbv7neon"]
        .iter()
        .any(|prefix| target.starts_with(prefix));
    if umaal {
        println!("cargo::rustc-cfg=duet_umaal");
    }
}
