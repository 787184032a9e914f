//! The firmware of `cargo xtask bench tcp-mcu`: how many instructions a
//! Cortex-M4 spends per byte of a TCP bulk transfer, Duet against smoltcp
//! 0.14, in one run of `qemu-system-arm -M mps2-an386 -icount shift=0`.
//!
//! In order, each printed over semihosting as one line that xtask parses
//! (`xtask/src/bench.rs`):
//!
//! 1. `tcp-mcu calibration instructions=<n> ticks=<t>`: a loop of known
//!    length timed with SysTick ([`ticks::calibrate`]), so the 40
//!    instructions per tick that icount promises is checked, not assumed.
//! 2. `tcp-mcu run stack=<duet|smoltcp> bytes=<n> ticks=<t> verify_ticks=<t>
//!    loops=<n> data_segments=<n> pure_acks=<n> other_frames=<n>`: one per
//!    stack, the transfer of [`exchange::BYTES`] ([`exchange::run`]), with
//!    the share of its ticks that went into checking the data.
//!
//! A stack that fails prints `tcp-mcu error stack=<name> <why>` instead of
//! its run line; the firmware then exits with status 1 (QEMU's exit status)
//! after the other stack has run, else with 0.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

mod duet_pair;
mod exchange;
mod link;
mod pattern;
mod smoltcp_pair;
mod ticks;

use core::fmt::Display;
use core::panic::PanicInfo;

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use static_cell::ConstStaticCell;

use crate::duet_pair::DuetPair;
use crate::exchange::{Aligned, BUFFER_LEN, Error, Figures, StackPair};
use crate::link::Link;
use crate::pattern::Pattern;
use crate::smoltcp_pair::SmoltcpPair;

static PATTERN: ConstStaticCell<Pattern> = ConstStaticCell::new(Pattern::new());
static LINK: ConstStaticCell<Link> = ConstStaticCell::new(Link::new());
static INBOX: ConstStaticCell<Aligned<BUFFER_LEN>> = ConstStaticCell::new(Aligned::ZERO);

#[entry]
fn main() -> ! {
    let Some(peripherals) = cortex_m::Peripherals::take() else {
        fail("peripherals taken before main")
    };
    ticks::start(peripherals.SYST);
    let pattern = PATTERN.take();
    pattern.fill();
    let link = LINK.take();
    let inbox = INBOX.take();

    let calibration = ticks::calibrate();
    hprintln!(
        "tcp-mcu calibration instructions={} ticks={}",
        calibration.instructions,
        calibration.ticks
    );

    let duet = DuetPair::new()
        .map_err(Error::Stack)
        .and_then(|mut pair| exchange::run(&mut pair, link, pattern, inbox));
    let duet_ok = report(DuetPair::NAME, duet);
    link.clear();
    let smoltcp = SmoltcpPair::new(link)
        .map_err(Error::Stack)
        .and_then(|mut pair| exchange::run(&mut pair, link, pattern, inbox));
    let smoltcp_ok = report(SmoltcpPair::NAME, smoltcp);

    if duet_ok && smoltcp_ok {
        debug::exit(debug::EXIT_SUCCESS);
    } else {
        debug::exit(debug::EXIT_FAILURE);
    }
    loop {
        cortex_m::asm::wfi();
    }
}

/// Prints a stack's run or error line; true for a run.
fn report<E: Display>(stack: &str, result: Result<Figures, Error<E>>) -> bool {
    match result {
        Ok(figures) => {
            hprintln!(
                "tcp-mcu run stack={} bytes={} ticks={} verify_ticks={} loops={} \
                 data_segments={} pure_acks={} other_frames={}",
                stack,
                figures.bytes,
                figures.ticks,
                figures.verify_ticks,
                figures.loops,
                figures.counts.data_segments,
                figures.counts.pure_acks,
                figures.counts.other_frames,
            );
            true
        }
        Err(error) => {
            hprintln!("tcp-mcu error stack={} {}", stack, error);
            false
        }
    }
}

/// Reports `why` and ends the run with status 1.
fn fail(why: &str) -> ! {
    hprintln!("tcp-mcu error {}", why);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    hprintln!("tcp-mcu error panic: {}", info);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}
