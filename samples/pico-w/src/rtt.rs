//! The board's side of the timeline: RTT, which a debug probe (the
//! Raspberry Pi Debug Probe or any SWD probe, through probe-rs) reads from
//! RAM without stopping the core; and the end of a run: idle after a pass,
//! reset after a failure.

use core::fmt;

use duet_sample_app::{Board, Outcome};

/// The core clock (embassy-rp's default, from the 12 MHz crystal), for the
/// wait before a reset; at least that many cycles pass per second.
const CORE_HZ: u32 = 125_000_000;
/// Seconds the failure stays on the timeline before the board resets and
/// tries again.
const RESET_AFTER_SECS: u32 = 10;

/// RTT output, and idle or reset at the end.
pub struct Rtt;

/// Sets up the RTT control block ("up" channel 0) the probe looks for.
pub fn init() {
    rtt_target::rtt_init_print!();
}

impl Board for Rtt {
    fn write_line(&self, line: fmt::Arguments<'_>) {
        rtt_target::rprintln!("{}", line);
    }

    fn finish(&self, outcome: Outcome) -> ! {
        if outcome == Outcome::Failed {
            // A busy wait: this may run in a panic, with interrupts (and so
            // embassy-time) stopped.
            for _ in 0..RESET_AFTER_SECS {
                cortex_m::asm::delay(CORE_HZ);
            }
            cortex_m::peripheral::SCB::sys_reset()
        }
        loop {
            cortex_m::asm::wfi();
        }
    }
}

/// Any panic is a failed run.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    duet_sample_app::fail(format_args!("panic: {info}"))
}
