//! Footprint image `runtime`: what every image pays before any Duet code —
//! the Cortex-M vector table, reset handler and `panic-halt` — so the other
//! rows can be read net of it.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::hint::black_box;

use cortex_m_rt::entry;
use panic_halt as _;

#[entry]
fn main() -> ! {
    let mut ticks = 0u32;
    loop {
        ticks = black_box(ticks.wrapping_add(1));
    }
}
