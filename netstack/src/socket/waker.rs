//! One waiting task per direction of a socket.

use core::task::Waker;

/// Holds the waker of the task waiting on something, if any. The sans-IO core
/// only stores and fires it; the async layer registers it.
#[derive(Debug, Default, Clone)]
pub struct WakerSlot(Option<Waker>);

impl WakerSlot {
    pub const EMPTY: WakerSlot = WakerSlot(None);

    /// Remembers `waker`, replacing a different one (the previous task is woken
    /// so it can register again if it still cares).
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

    /// Wakes the waiting task, if any.
    pub fn wake(&mut self) {
        if let Some(waker) = self.0.take() {
            waker.wake();
        }
    }
}
