//! The stack's high-water mark: [`paint`] fills the free stack with a
//! pattern at boot, [`peak`] later finds the lowest word no longer holding
//! it. The difference to the top is the most stack the run ever used —
//! every task poll of the executor and every interrupt handler runs on this
//! one stack (the main stack), so that is the deepest call chain of the
//! whole firmware: a TLS handshake's certificate checks, as a rule.
//!
//! Exact except for a frame that leaves a word equal to the pattern where
//! the used region ends (it would read as one word less), and blind to
//! words written below the painted region (see [`paint`]'s margin).

/// What an unused stack word holds.
const PATTERN: u32 = 0x5AC4_5AC4;

/// Bytes below the stack pointer left unpainted: [`paint`]'s own frame and
/// whatever the compiler keeps below it.
const MARGIN: usize = 256;

unsafe extern "C" {
    /// The top of the stack (cortex-m-rt: the end of RAM unless moved).
    static _stack_start: u32;
    /// The lowest address the stack may reach (cortex-m-rt: after `.bss`
    /// and `.uninit`).
    static _stack_end: u32;
}

/// The stack region's bounds, bottom and top.
fn region() -> (usize, usize) {
    (
        &raw const _stack_end as usize,
        &raw const _stack_start as usize,
    )
}

/// Fills the stack from its bottom up to just below the current stack
/// pointer with the pattern. Call it first thing in `main`: what ran before
/// (cortex-m-rt's reset code) used only what is above.
pub fn paint() {
    let (bottom, _) = region();
    let stack_pointer = cortex_m::register::msp::read() as usize;
    let mut word = bottom.next_multiple_of(4);
    while word + MARGIN < stack_pointer {
        // SAFETY: the word lies between the stack's lowest address and the
        // stack pointer minus a margin: memory nothing else owns (the
        // linker put no section there) and no frame uses yet.
        unsafe { (word as *mut u32).write_volatile(PATTERN) };
        word += 4;
    }
}

/// What the stack has used since [`paint`], and how large it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Bytes from the top of the stack down to the lowest word written.
    pub peak: usize,
    /// Bytes from the top of the stack to its lowest address.
    pub size: usize,
}

/// The high-water mark since [`paint`]. Without a painted stack it reads
/// the whole stack as used.
pub fn usage() -> Usage {
    let (bottom, top) = region();
    let mut word = bottom.next_multiple_of(4);
    // SAFETY: reads of words of the stack region, below the stack pointer
    // (the loop stops at the first word in use, at the latest at the
    // current frame); nothing writes them concurrently but an interrupt
    // handler, whose frames the read may or may not see.
    while word < top && unsafe { (word as *const u32).read_volatile() } == PATTERN {
        word += 4;
    }
    Usage {
        peak: top - word,
        size: top - bottom,
    }
}
