//! The board's side of the timeline: RTT, which a debug probe (the
//! NUCLEO's ST-LINK, through probe-rs) reads from RAM without stopping the
//! core; and the end of a run: idle after a pass, reset after a failure.

use core::fmt;

use duet_sample_app::{Board, Outcome};

/// The core clock (`clocks` in main.rs), for the wait before a reset.
const CORE_HZ: u32 = 400_000_000;
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
