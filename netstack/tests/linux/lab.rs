//! A bench for interop tests: our stack on a TAP device in a network
//! namespace of its own, with the Linux kernel on the other side of the TAP.
//!
//! [`with_lab`] makes a thread, moves it into a fresh network namespace
//! (`unshare(CLONE_NEWNET)`), opens the TAP there, gives the kernel side an
//! address in the test's subnet, and runs the stack on a second thread in a
//! blocking loop (`poll`, then `wait_readable` until the next deadline or at
//! most [`MAX_WAIT`]). The test body runs on the namespace thread, so the
//! sockets and commands it makes are inside the namespace; the namespace
//! goes away when the threads end, also when a test fails.

use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use duet_netstack::driver::tap::TapDevice;
use duet_netstack::{
    Config, EthernetAddress, Instant, InterfaceConfig, Ipv4Cidr, Ipv4Config, Stack, StackResources,
};

use super::kernel;

/// Our stack's MAC (locally administered, unicast).
pub const OUR_MAC: [u8; 6] = [0x02, 0xd0, 0xe7, 0x1a, 0xb0, 0x02];

/// Longest the stack thread sleeps between polls, so that sends queued by
/// the test thread go out promptly (the TAP wakes it for received frames).
pub const MAX_WAIT: std::time::Duration = std::time::Duration::from_millis(1);

/// Pool buffers and sockets of every lab stack: room for a 64-frame transmit
/// queue, a full receive budget and a socket queue of datagrams at once.
pub type Resources = StackResources<256, 4>;

/// The link of one test: its TAP's name and its /24.
#[derive(Debug, Clone, Copy)]
pub struct Net {
    pub tap: &'static str,
    /// The kernel's address, `10.207.<subnet>.1`.
    pub kernel_ip: Ipv4Addr,
    /// Ours, `10.207.<subnet>.2`.
    pub our_ip: Ipv4Addr,
}

impl Net {
    pub const fn new(tap: &'static str, subnet: u8) -> Self {
        Self {
            tap,
            kernel_ip: Ipv4Addr::new(10, 207, subnet, 1),
            our_ip: Ipv4Addr::new(10, 207, subnet, 2),
        }
    }

    /// An address on the subnet that nobody holds.
    pub fn unused_ip(&self) -> Ipv4Addr {
        let [a, b, c, _] = self.our_ip.octets();
        Ipv4Addr::new(a, b, c, 77)
    }
}

/// Work the stack thread does after every poll, as a device's application
/// would; returns whether it did anything (then the stack is polled again
/// at once, so what it queued goes out).
pub type App = Box<dyn FnMut(&mut Stack<'_>) -> bool + Send>;

struct Node<'a> {
    stack: Stack<'a>,
    app: Option<App>,
}

/// What a test body gets: the running stack and its link.
pub struct Lab<'l, 'a> {
    pub net: Net,
    node: &'l Mutex<Node<'a>>,
}

impl<'a> Lab<'_, 'a> {
    /// Runs `f` on the stack, between two of its polls.
    pub fn with<R>(&self, f: impl FnOnce(&mut Stack<'a>) -> R) -> R {
        let mut node = self.node.lock().expect("the stack thread panicked");
        f(&mut node.stack)
    }

    /// Installs the application run after every poll.
    pub fn set_app(&self, app: App) {
        self.node.lock().expect("the stack thread panicked").app = Some(app);
    }

    /// The kernel side's MAC.
    pub fn kernel_mac(&self) -> EthernetAddress {
        EthernetAddress(kernel::mac_of(self.net.tap))
    }
}

fn micros_since(epoch: std::time::Instant) -> Instant {
    Instant::from_micros(u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX))
}

/// Runs `test` on a thread in a fresh network namespace of its own. There is
/// no fallback: without root (CAP_NET_ADMIN) the test fails.
pub fn in_netns<R: Send>(name: &str, test: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new()
            .name(format!("netns-{name}"))
            // The stack's resources (a 256-buffer pool) live on this stack.
            .stack_size(16 << 20)
            .spawn_scoped(scope, || {
                // SAFETY: unshare(2) takes only flags and touches no memory of
                // ours; CLONE_NEWNET moves just this thread (and the threads and
                // processes it starts) into a new network namespace.
                let result = unsafe { libc::unshare(libc::CLONE_NEWNET) };
                assert_eq!(
                    result,
                    0,
                    "unshare(CLONE_NEWNET) failed (the interop tests need root): {}",
                    std::io::Error::last_os_error()
                );
                test()
            })
            .expect("spawn the namespace thread");
        thread
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Sets the stop flag when the test body ends, also by panicking, so the
/// stack thread ends and the scope can be left.
struct StopOnDrop<'s>(&'s AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Builds the bench for `net` and runs `body` on it (see the module doc).
pub fn with_lab<R: Send>(
    net: Net,
    config: Config,
    body: impl for<'l, 'a> FnOnce(&Lab<'l, 'a>) -> R + Send,
) -> R {
    in_netns(net.tap, move || {
        let mut tap = TapDevice::open(net.tap, OUR_MAC)
            .unwrap_or_else(|e| panic!("open TAP {} via /dev/net/tun (needs root): {e}", net.tap));
        kernel::ip(&["link", "set", "lo", "up"]);
        kernel::ip(&[
            "addr",
            "add",
            &format!("{}/24", net.kernel_ip),
            "dev",
            net.tap,
        ]);
        kernel::ip(&["link", "set", net.tap, "up"]);

        let mut resources = Resources::new();
        let mut stack = Stack::new(&mut resources, config);
        stack
            .add_interface(InterfaceConfig {
                hardware_address: EthernetAddress(OUR_MAC),
                ipv4: Some(Ipv4Config {
                    address: Ipv4Cidr::new(net.our_ip, 24),
                    gateway: None,
                }),
            })
            .expect("one interface fits");
        let node = Mutex::new(Node { stack, app: None });
        let stop = AtomicBool::new(false);
        let epoch = std::time::Instant::now();

        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name(format!("stack-{}", net.tap))
                .spawn_scoped(scope, || run_stack(&node, &mut tap, &stop, epoch))
                .expect("spawn the stack thread");
            let _stop = StopOnDrop(&stop);
            let lab = Lab { net, node: &node };
            body(&lab)
        })
    })
}

/// The stack thread: poll, let the application run, sleep until the next
/// deadline (at most [`MAX_WAIT`]) or until the TAP has a frame.
fn run_stack(
    node: &Mutex<Node<'_>>,
    tap: &mut TapDevice,
    stop: &AtomicBool,
    epoch: std::time::Instant,
) {
    while !stop.load(Ordering::Acquire) {
        let deadline = {
            // A poisoned lock means the test body panicked holding it: stop.
            let Ok(mut guard) = node.lock() else {
                return;
            };
            let Node { stack, app } = &mut *guard;
            let mut rounds = 0;
            loop {
                let deadline = stack.poll(micros_since(epoch), tap);
                rounds += 1;
                let worked = app.as_mut().is_some_and(|app| app(stack));
                if !worked || rounds == 8 {
                    break deadline;
                }
            }
        };
        let now = micros_since(epoch);
        let wait = deadline.map_or(MAX_WAIT, |deadline| {
            std::time::Duration::from_micros(deadline.saturating_since(now).as_micros())
                .min(MAX_WAIT)
        });
        if !wait.is_zero() {
            tap.wait_readable(Some(wait)).expect("poll(2) on the TAP");
        }
    }
}
