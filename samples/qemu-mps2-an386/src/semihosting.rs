//! The board's side of the timeline, over semihosting: each line on the
//! host's standard output, and the exit status QEMU passes on (0 pass, 1
//! fail), which is how `cargo xtask qemu` reads the outcome.

use core::fmt;

use cortex_m_semihosting::{debug, hprintln};
use duet_sample_app::{Board, Outcome};

/// The emulated board's output and exit.
pub struct Semihosting;

impl Board for Semihosting {
    fn write_line(&self, line: fmt::Arguments<'_>) {
        hprintln!("{}", line);
    }

    fn finish(&self, outcome: Outcome) -> ! {
        // Read by `cargo xtask qemu`: the most RAM the run's deepest call
        // chain took (the stack was painted first thing in `main`).
        let stack = duet_sample_cpu::stack::usage();
        duet_sample_app::line(format_args!(
            "stack: peak {} bytes of {}",
            stack.peak, stack.size
        ));
        debug::exit(match outcome {
            Outcome::Passed => debug::EXIT_SUCCESS,
            Outcome::Failed => debug::EXIT_FAILURE,
        });
        // Only without a debugger (semihosting off) does exit return.
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
