//! The async API, in the style of embassy-net: a cheap `Stack` handle that
//! sockets share, and a [`Runner`] whose `run()` future drives the sans-IO
//! core with the driver and embassy-time timers.
//!
//! ```text
//! static CELL: StaticCell<StackCell> = StaticCell::new();
//! let cell = CELL.init(StackCell::new(core_stack));
//! let (stack, mut runner) = duet_netstack::asynch::new(cell, driver);
//! spawner.spawn(net_task(runner)); // runner.run().await
//! let mut socket = UdpSocket::new(stack)?;
//! socket.bind(7)?;
//! let (len, meta) = socket.recv_from(&mut buf).await?;
//! socket.send_to(&buf[..len], meta.remote).await?;
//! ```
//!
//! Names resolve with [`resolve`]`(stack, &mut resolver, name, kind).await`;
//! an address comes with [`dhcp::next_event`], the time with
//! [`sntp::next_sample`].
//!
//! Everything runs on one executor thread: the handle is a `RefCell`, never
//! borrowed across an `.await`. Without an executor, use the core
//! [`crate::Stack`] directly — `poll` in a loop and call socket methods
//! between polls — which is what this layer does for you.

#[cfg(feature = "dhcpv4")]
pub mod dhcp;
#[cfg(feature = "dns")]
mod dns;
mod icmp;
#[cfg(feature = "sntp")]
pub mod sntp;
#[cfg(feature = "tcp")]
mod tcp;
mod udp;

use core::cell::RefCell;
use core::future::{Future, poll_fn};
use core::pin::pin;
use core::task::Poll;

use embassy_net_driver::Driver;
use embassy_time::Timer;

#[cfg(feature = "dns")]
pub use dns::resolve;
pub use icmp::{IcmpSocket, PingError};
#[cfg(feature = "tcp")]
pub use tcp::{TcpListener, TcpSocket};
pub use udp::UdpSocket;

use crate::iface::InterfaceId;
use crate::time::Instant;

/// Where the shared stack lives; put it in a `static` (e.g. `StaticCell`).
#[derive(Debug)]
pub struct StackCell<'a> {
    inner: RefCell<crate::Stack<'a>>,
}

impl<'a> StackCell<'a> {
    pub fn new(stack: crate::Stack<'a>) -> Self {
        Self {
            inner: RefCell::new(stack),
        }
    }
}

/// A handle to the shared stack: `Copy`, so every socket and task holds one.
#[derive(Debug, Clone, Copy)]
pub struct Stack<'a> {
    cell: &'a RefCell<crate::Stack<'a>>,
}

impl<'a> Stack<'a> {
    /// Runs `f` on the core stack (configuration, statistics, sans-IO socket calls).
    pub fn with<R>(&self, f: impl FnOnce(&mut crate::Stack<'a>) -> R) -> R {
        f(&mut self.cell.borrow_mut())
    }

    /// Whether the first interface's link is up, as its driver last
    /// reported (the runner asks the driver on every poll).
    pub fn is_link_up(&self) -> bool {
        self.with(|s| {
            s.interface(InterfaceId::FIRST)
                .is_some_and(|i| i.is_link_up())
        })
    }

    /// Waits until the first interface reports its link up.
    pub async fn wait_link_up(&self) {
        self.wait_link(true).await
    }

    /// Waits until the first interface reports its link down: a Wi-Fi
    /// board's cue to join its network again.
    pub async fn wait_link_down(&self) {
        self.wait_link(false).await
    }

    /// Polls the link state until it is `up`, from every 10 ms backing off
    /// to every 200 ms: prompt after a change, cheap while waiting.
    async fn wait_link(&self, up: bool) {
        let mut timer_period = embassy_time::Duration::from_millis(10);
        while self.is_link_up() != up {
            Timer::after(timer_period).await;
            timer_period = (timer_period * 2).min(embassy_time::Duration::from_millis(200));
        }
    }
}

/// Drives the stack with one driver (for the stack's first interface, or
/// the one given to [`Runner::for_interface`]).
#[derive(Debug)]
pub struct Runner<'a, D: Driver> {
    cell: &'a RefCell<crate::Stack<'a>>,
    driver: D,
    interface: InterfaceId,
}

/// Makes the handle and the runner for a stack in `cell`, driven by `driver`.
pub fn new<'a, D: Driver>(cell: &'a StackCell<'a>, driver: D) -> (Stack<'a>, Runner<'a, D>) {
    let stack = Stack { cell: &cell.inner };
    let runner = Runner {
        cell: &cell.inner,
        driver,
        interface: InterfaceId::FIRST,
    };
    (stack, runner)
}

impl<'a, D: Driver> Runner<'a, D> {
    /// A runner for another interface of the same stack, with its own driver.
    pub fn for_interface(stack: Stack<'a>, driver: D, interface: InterfaceId) -> Self {
        Self {
            cell: stack.cell,
            driver,
            interface,
        }
    }

    /// Polls the stack forever: whenever the driver has frames, a socket
    /// queued something, or a protocol timer is due.
    pub async fn run(&mut self) -> ! {
        poll_fn(|cx| {
            let now = now();
            let deadline = {
                let mut stack = self.cell.borrow_mut();
                stack.register_poll_waker(cx.waker());
                stack.poll_interface(self.interface, now, &mut self.driver, cx)
            };
            if let Some(deadline) = deadline {
                let mut timer = pin!(Timer::at(embassy_time::Instant::from_micros(
                    deadline.as_micros()
                )));
                if timer.as_mut().poll(cx).is_ready() {
                    cx.waker().wake_by_ref();
                }
            }
            Poll::<()>::Pending
        })
        .await;
        unreachable!("the runner's poll_fn never completes")
    }
}

/// The stack's notion of now, from embassy-time.
pub(crate) fn now() -> Instant {
    Instant::from_micros(embassy_time::Instant::now().as_micros())
}
