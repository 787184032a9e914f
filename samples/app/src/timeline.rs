//! The run's timeline: one line per step, stamped with the time since boot
//! (embassy-time's clock), written by the board ([`crate::Board`]), and
//! the run's end ([`pass`], [`fail`]), which the board turns into an exit
//! status (QEMU) or whatever a device does when it is done.

use core::fmt;

use crate::Outcome;

/// `[ 12.345] what happened`, through the board; `log!` formats like
/// `format_args!`.
#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => {
        $crate::line(format_args!($($arg)*))
    };
}

/// Writes one line of the timeline. Before [`crate::init`] there is no
/// board to write it, and it is lost.
pub fn line(what: fmt::Arguments<'_>) {
    let Some(board) = crate::board() else {
        return;
    };
    let micros = embassy_time::Instant::now().as_micros();
    board.write_line(format_args!(
        "[{:>3}.{:03}] {}",
        micros / 1_000_000,
        micros / 1_000 % 1_000,
        what
    ));
}

/// Ends the run successfully.
pub fn pass() -> ! {
    line(format_args!("PASSED"));
    finish(Outcome::Passed)
}

/// Ends the run with a failure, saying why. A board's panic handler calls
/// it too.
pub fn fail(why: fmt::Arguments<'_>) -> ! {
    line(format_args!("FAILED: {why}"));
    finish(Outcome::Failed)
}

fn finish(outcome: Outcome) -> ! {
    match crate::board() {
        Some(board) => board.finish(outcome),
        // No board to end the run: nothing else can be done.
        None => loop {
            core::hint::spin_loop();
        },
    }
}
