//! `cfg(armv6m)` on ARMv6-M targets (the Pico W's Cortex-M0+), whose System
//! Control Block has no fault status registers to report.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(armv6m)");
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.starts_with("thumbv6m") {
        println!("cargo::rustc-cfg=armv6m");
    }
    println!("cargo::rerun-if-changed=build.rs");
}
