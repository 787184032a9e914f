//! The real boards' side of the timeline: RTT, which a debug probe (an
//! ST-LINK, a Raspberry Pi Debug Probe, any SWD probe through probe-rs)
//! reads from RAM without stopping the core; and the end of a run: idle
//! after a pass, reset after a failure.

use core::fmt;

use crate::{Board, Outcome};

/// Seconds the failure stays on the timeline before the board resets and
/// tries again.
const RESET_AFTER_SECS: u32 = 10;

/// RTT output, and idle or reset at the end.
#[derive(Debug)]
pub struct Rtt {
    /// The core clock, for the wait before a reset: at least that many
    /// cycles pass per second.
    pub core_hz: u32,
}

impl Rtt {
    /// Sets up the RTT control block ("up" channel 0) the probe looks for.
    pub fn init() {
        rtt_target::rtt_init_print!();
    }
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
                cortex_m::asm::delay(self.core_hz);
            }
            cortex_m::peripheral::SCB::sys_reset()
        }
        loop {
            cortex_m::asm::wfi();
        }
    }
}
