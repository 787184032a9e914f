//! Puts `memory.x` on the linker's search path for cortex-m-rt's `link.x`
//! and passes `-Tlink.x` from here (a `.cargo/config.toml` would be read
//! only when cargo runs in this directory), and gives the firmware the
//! build's Unix time: its wall clock until SNTP answers.

use std::time::{SystemTime, UNIX_EPOCH};
use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out.join("memory.x"), include_bytes!("memory.x")).expect("write memory.x to OUT_DIR");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    println!("cargo:rustc-env=DUET_BUILD_UNIX_SECS={now}");
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=build.rs");
    // The hub and the device, from the environment at build time.
    for name in [
        "DUET_HUB_HOST",
        "DUET_DEVICE_ID",
        "DUET_DEVICE_KEY",
        "DUET_SNTP_HOST",
    ] {
        println!("cargo:rerun-if-env-changed={name}");
    }
}
