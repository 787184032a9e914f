//! The firmware samples' HardFault handler.
//!
//! A fault — a bad pointer, an undefined instruction, an unaligned access
//! the core refuses, or a MemManage, BusFault or UsageFault escalated
//! because its own handler is off — ends the run as a panic does: a
//! `FAILED: HardFault …` line on the timeline with the faulting
//! instruction's address, the return address and (on ARMv7-M) the fault
//! status registers that say why, then the board's end of a failed run:
//! QEMU exits with status 1, a real board resets after a pause.
//!
//! Without it cortex-m-rt's default handler spins forever: a device in the
//! field hangs until someone power-cycles it, and `cargo xtask qemu` waits
//! out its whole timeout without a word about what happened.
//!
//! cortex-m-rt requires a HardFault handler to be an `unsafe fn`.

use cortex_m_rt::{ExceptionFrame, exception};

/// Reports the fault and ends the run (see the module docs). The frame is
/// what the core stacked on entry: the faulting code's registers.
#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    let (pc, lr) = (frame.pc(), frame.lr());
    #[cfg(not(armv6m))]
    {
        // SAFETY: reads of two System Control Block registers, which have
        // no side effects; nothing else writes them while this runs.
        let (cfsr, hfsr) = unsafe {
            let scb = &*cortex_m::peripheral::SCB::PTR;
            (scb.cfsr.read(), scb.hfsr.read())
        };
        duet_sample_app::fail(format_args!(
            "HardFault at pc {pc:#010x} (lr {lr:#010x}), CFSR {cfsr:#010x}, HFSR {hfsr:#010x}"
        ))
    }
    #[cfg(armv6m)]
    duet_sample_app::fail(format_args!("HardFault at pc {pc:#010x} (lr {lr:#010x})"))
}
