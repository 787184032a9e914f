//! One waiting task per direction of a socket.
//!
//! Only the async API (feature `async`) registers tasks; without it a slot
//! is zero-sized and every call is a no-op, so a polled firmware pays no RAM
//! for wakers in each socket.

use core::task::Waker;

/// Holds the waker of the task waiting on something, if any. The sans-IO core
/// only stores and fires it; the async layer registers it.
#[derive(Debug, Default, Clone)]
pub struct WakerSlot(#[cfg(feature = "async")] Option<Waker>);

impl WakerSlot {
    #[cfg(feature = "async")]
    pub const EMPTY: WakerSlot = WakerSlot(None);
    #[cfg(not(feature = "async"))]
    pub const EMPTY: WakerSlot = WakerSlot();

    /// Remembers `waker`, replacing a different one (the previous task is woken
    /// so it can register again if it still cares).
    #[cfg(feature = "async")]
    pub fn register(&mut self, waker: &Waker) {
        match &self.0 {
            Some(current) if current.will_wake(waker) => {}
            _ => {
                if let Some(previous) = self.0.replace(waker.clone()) {
                    previous.wake();
                }
            }
        }
    }

    /// Without the async API nobody waits: nothing to remember.
    #[cfg(not(feature = "async"))]
    pub fn register(&mut self, _waker: &Waker) {}

    /// Wakes the waiting task, if any.
    pub fn wake(&mut self) {
        #[cfg(feature = "async")]
        if let Some(waker) = self.0.take() {
            waker.wake();
        }
    }
}
