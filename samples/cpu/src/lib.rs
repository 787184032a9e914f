//! What the firmware samples need from the Cortex-M core itself, each of
//! which takes `unsafe`, so they live here rather than in the samples, which
//! forbid it (as the LAN9118 driver holds its interrupt handler):
//!
//! - [`fault`]: the HardFault handler, which ends the run with the fault's
//!   address and status on the timeline instead of spinning forever;
//! - [`stack`]: the stack's high-water mark, how much RAM the deepest call
//!   chain of the run took.
//!
//! A firmware links the handler with `use duet_sample_cpu as _;` (or any
//! use of [`stack`]).
#![no_std]

pub mod fault;
pub mod stack;
