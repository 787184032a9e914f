//! embassy-time on SysTick: a 1 kHz interrupt counts milliseconds and runs
//! the timer queue; `now` adds the counter's progress within the current
//! millisecond, for embassy-time's 1 MHz ticks.
//!
//! The queue is `embassy-time-queue-utils`' (the executor-integrated one):
//! abandoned timers (`select`, `with_timeout`) leave no slots behind, which
//! is what makes the `systick-timer` crate panic after a while (FACTS.md,
//! "Boards").
//!
//! SysTick counts the processor clock, 25 MHz on the MPS2 boards. Without
//! `-icount`, QEMU paces it by the host's clock, so timeouts here are real
//! seconds.

use core::cell::{Cell, RefCell};
use core::task::Waker;

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::{SCB, SYST};
use cortex_m_rt::exception;
use critical_section::{CriticalSection, Mutex};
use embassy_time_driver::Driver;
use embassy_time_queue_utils::Queue;

/// SysTick's clock on the MPS2 boards.
const CORE_HZ: u32 = 25_000_000;
/// Counter steps per embassy-time tick (1 µs).
const STEPS_PER_MICRO: u32 = CORE_HZ / 1_000_000;
/// Reload value for one wrap per millisecond.
const RELOAD: u32 = CORE_HZ / 1_000 - 1;

struct SysTickDriver {
    /// Milliseconds counted by the wrap interrupt.
    millis: Mutex<Cell<u64>>,
    queue: Mutex<RefCell<Queue>>,
    /// When the queue's earliest timer is due (µs); `u64::MAX` for none.
    next_alarm: Mutex<Cell<u64>>,
}

embassy_time_driver::time_driver_impl!(static DRIVER: SysTickDriver = SysTickDriver {
    millis: Mutex::new(Cell::new(0)),
    queue: Mutex::new(RefCell::new(Queue::new())),
    next_alarm: Mutex::new(Cell::new(u64::MAX)),
});

/// Starts SysTick: one interrupt per millisecond on the processor clock.
pub fn start(mut syst: SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(RELOAD);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

/// Microseconds since [`start`] (the same clock as `embassy_time::Instant`).
pub fn micros() -> u64 {
    embassy_time::Instant::now().as_micros()
}

impl SysTickDriver {
    fn now_in(&self, cs: CriticalSection<'_>) -> u64 {
        // Interrupts are off, so a wrap shows only as a pending SysTick,
        // or as the counter having jumped back up between two reads.
        let before = SYST::get_current();
        let pending = SCB::is_pendst_pending();
        let current = SYST::get_current();
        let wrapped = pending || current > before;
        let millis = self.millis.borrow(cs).get() + u64::from(wrapped);
        millis * 1_000 + u64::from((RELOAD - current) / STEPS_PER_MICRO)
    }

    /// Wakes the timers that are due and notes when the next one is.
    fn run_queue(&self, cs: CriticalSection<'_>, now: u64) {
        let next = self.queue.borrow(cs).borrow_mut().next_expiration(now);
        self.next_alarm.borrow(cs).set(next);
    }
}

impl Driver for SysTickDriver {
    fn now(&self) -> u64 {
        critical_section::with(|cs| self.now_in(cs))
    }

    fn schedule_wake(&self, at: u64, waker: &Waker) {
        critical_section::with(|cs| {
            let changed = self.queue.borrow(cs).borrow_mut().schedule_wake(at, waker);
            if changed {
                self.run_queue(cs, self.now_in(cs));
            }
        })
    }
}

#[exception]
fn SysTick() {
    critical_section::with(|cs| {
        let millis = DRIVER.millis.borrow(cs);
        millis.set(millis.get() + 1);
        let now = millis.get() * 1_000;
        if now >= DRIVER.next_alarm.borrow(cs).get() {
            DRIVER.run_queue(cs, now);
        }
    })
}
