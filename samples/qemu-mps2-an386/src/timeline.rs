//! The run's timeline, over semihosting: one line per step, stamped with
//! the time since boot, and the exit status QEMU passes on (0 pass, 1
//! fail), which is how `cargo xtask qemu` reads the outcome.

use core::fmt;

use cortex_m_semihosting::{debug, hprintln};

use crate::time_driver;

/// `[ 12.345] what happened`, on the host's standard output.
macro_rules! log {
    ($($arg:tt)*) => {
        $crate::timeline::line(format_args!($($arg)*))
    };
}
pub(crate) use log;

pub fn line(what: fmt::Arguments<'_>) {
    let micros = time_driver::micros();
    hprintln!(
        "[{:>3}.{:03}] {}",
        micros / 1_000_000,
        micros / 1_000 % 1_000,
        what
    );
}

/// Ends the run successfully.
pub fn pass() -> ! {
    line(format_args!("PASSED"));
    exit(debug::EXIT_SUCCESS)
}

/// Ends the run with a failure, saying why.
pub fn fail(why: fmt::Arguments<'_>) -> ! {
    line(format_args!("FAILED: {why}"));
    exit(debug::EXIT_FAILURE)
}

fn exit(status: debug::ExitStatus) -> ! {
    debug::exit(status);
    // Only without a debugger (semihosting off) does exit return.
    loop {
        cortex_m::asm::wfi();
    }
}

/// Any panic is a failed run.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    fail(format_args!("panic: {info}"))
}
