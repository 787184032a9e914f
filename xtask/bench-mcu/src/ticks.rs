//! Counting instructions with SysTick.
//!
//! The emulated core has no DWT cycle counter, but under `-icount shift=0`
//! QEMU advances virtual time by exactly 1 ns per instruction, and SysTick
//! on the processor clock (25 MHz on the MPS2 boards) then ticks once every
//! 40 instructions (TESTING.md, "Emulated board"). [`calibrate`] checks that
//! factor on a loop of known length rather than taking it on trust.
//!
//! SysTick is a 24-bit down-counter; it runs from the maximum reload value
//! and its exception counts the wraps, so [`now`] is a 64-bit tick count
//! (a wrap every 2^24 ticks, 671 M instructions: a run of the bench sees
//! few or none).

use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::{SCB, SYST};
use cortex_m_rt::exception;

/// The counter's reload value: the largest it holds.
const RELOAD: u32 = 0x00ff_ffff;

/// Completed counts from `RELOAD` down through 0.
static WRAPS: AtomicU32 = AtomicU32::new(0);

#[exception]
fn SysTick() {
    WRAPS.fetch_add(1, Ordering::Relaxed);
}

/// Starts the counter on the processor clock, with its wrap exception.
pub fn start(mut syst: SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(RELOAD);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
    // Until its first tick the counter still reads the 0 that
    // `clear_current` wrote, which [`now`] would take for a whole period
    // gone: a measurement started that early came out 2^24 ticks long.
    while SYST::get_current() == 0 {}
}

/// Ticks since [`start`].
pub fn now() -> u64 {
    loop {
        let wraps = WRAPS.load(Ordering::SeqCst);
        let current = SYST::get_current();
        let pending = SCB::is_pendst_pending();
        if WRAPS.load(Ordering::SeqCst) != wraps {
            // The exception ran between the reads: read again.
            continue;
        }
        // A wrap whose exception has not run yet: if the counter was read
        // after it reloaded (a high value), that wrap is not in `wraps`.
        let unseen = u64::from(pending && current > RELOAD / 2);
        let periods = u64::from(wraps) + unseen;
        return periods * (u64::from(RELOAD) + 1) + u64::from(RELOAD - current);
    }
}

/// Instructions per tick, measured: what a loop of a known number of
/// instructions takes, for two lengths, so the fixed cost of reading the
/// counter cancels out.
#[derive(Debug, Clone, Copy)]
pub struct Calibration {
    /// Instructions the longer loop ran beyond the shorter.
    pub instructions: u64,
    /// Ticks those instructions took.
    pub ticks: u64,
}

/// Times [`spin`] for two lengths.
pub fn calibrate() -> Calibration {
    const SHORT: u32 = 1_000_000;
    const LONG: u32 = 5_000_000;
    let time = |iterations| {
        let before = now();
        spin(iterations);
        now() - before
    };
    let short = time(SHORT);
    let long = time(LONG);
    Calibration {
        instructions: 2 * u64::from(LONG - SHORT),
        ticks: long - short,
    }
}

/// Runs exactly `2 * iterations` instructions (`iterations` at least 1): a
/// subtract and a branch per iteration.
#[allow(unsafe_code)]
fn spin(iterations: u32) {
    // SAFETY: the assembly only counts a register down to zero and branches
    // within itself; it touches no memory and no stack, and the register is
    // declared as clobbered.
    unsafe {
        core::arch::asm!(
            "2:",
            "subs {n}, {n}, #1",
            "bne 2b",
            n = inout(reg) iterations.max(1) => _,
            options(nomem, nostack),
        );
    }
}
