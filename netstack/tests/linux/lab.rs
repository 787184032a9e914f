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
use duet_netstack::stack::TcpResources;
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
            // The stack's resources (a 256-buffer pool, TCP rings) live on this stack.
            .stack_size(32 << 20)
            .spawn_scoped(scope, || {
                // A new network namespace for just this thread (and the threads and
                // processes it starts).
                nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
                    .unwrap_or_else(|e| panic!("unshare(CLONE_NEWNET) failed (needs root): {e}"));
                test()
            })
            .expect("spawn the namespace thread");
        thread
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// A network namespace of its own for a second kernel host, held open by a
/// descriptor (it goes away when dropped and nothing is left in it).
#[allow(dead_code)] // Not every test binary that includes this module uses it.
pub struct Netns(std::fs::File);

#[allow(dead_code)] // Not every test binary that includes this module uses it.
impl Netns {
    /// A fresh namespace with nothing but a loopback device.
    pub fn new() -> Self {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare");
                    let ns = std::fs::File::open("/proc/thread-self/ns/net")
                        .expect("open /proc/thread-self/ns/net");
                    kernel::ip(&["link", "set", "lo", "up"]);
                    Self(ns)
                })
                .join()
                .expect("the namespace thread panicked")
        })
    }

    /// A path naming the namespace for `ip ... netns PATH`.
    pub fn path(&self) -> String {
        use std::os::fd::AsRawFd;
        format!("/proc/{}/fd/{}", std::process::id(), self.0.as_raw_fd())
    }

    /// Moves the calling thread into this namespace: the sockets it makes
    /// and the commands it runs from then on are there.
    pub fn enter(&self) {
        nix::sched::setns(&self.0, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
    }

    /// Runs `f` on a thread of its own inside this namespace.
    pub fn run<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    self.enter();
                    f()
                })
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }
}

/// Puts a second kernel host in `peer` behind the lab's kernel, which
/// forwards between them: `peer_ip` (on the lab's subnet) on veth `veth.0`
/// in `peer`, `veth.1` in the lab's namespace. Each side answers ARP for the
/// other (proxy ARP, without the usual random delay), so our stack reaches
/// `peer_ip` as a neighbour on its own link, through the lab's kernel.
/// Called from the lab's namespace (the test body).
#[allow(dead_code)] // Not every test binary that includes this module uses it.
pub fn add_routed_peer(net: &Net, peer: &Netns, peer_ip: Ipv4Addr, veth: (&str, &str)) {
    let (outer, inner) = veth;
    let path = peer.path();
    kernel::ip(&[
        "link", "add", inner, "type", "veth", "peer", "name", outer, "netns", &path,
    ]);
    kernel::ip(&["link", "set", inner, "up"]);
    kernel::ip(&["route", "add", &format!("{peer_ip}/32"), "dev", inner]);
    for (file, value) in [
        ("net/ipv4/ip_forward".to_string(), "1"),
        (format!("net/ipv4/conf/{inner}/proxy_arp"), "1"),
        (format!("net/ipv4/conf/{}/proxy_arp", net.tap), "1"),
        (format!("net/ipv4/neigh/{inner}/proxy_delay"), "0"),
        (format!("net/ipv4/neigh/{}/proxy_delay", net.tap), "0"),
    ] {
        // /proc/sys/net is the calling thread's namespace's.
        std::fs::write(format!("/proc/sys/{file}"), value)
            .unwrap_or_else(|e| panic!("write /proc/sys/{file}: {e}"));
    }
    peer.run(|| {
        kernel::ip(&["addr", "add", &format!("{peer_ip}/24"), "dev", outer]);
        kernel::ip(&["link", "set", outer, "up"]);
    });
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
    build_lab::<0, 0, R>(net, config, false, body)
}

/// [`with_lab`] with TCP enabled: `SOCKETS` sockets sharing `BYTES` of ring
/// memory, which lives on the namespace thread's stack.
#[allow(dead_code)] // Not every test binary that includes this module uses it.
pub fn with_tcp_lab<const SOCKETS: usize, const BYTES: usize, R: Send>(
    net: Net,
    config: Config,
    body: impl for<'l, 'a> FnOnce(&Lab<'l, 'a>) -> R + Send,
) -> R {
    build_lab::<SOCKETS, BYTES, R>(net, config, true, body)
}

fn build_lab<const SOCKETS: usize, const BYTES: usize, R: Send>(
    net: Net,
    config: Config,
    tcp: bool,
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

        let mut tcp_resources = TcpResources::<SOCKETS, BYTES>::new();
        let mut resources = Resources::new();
        let mut stack = Stack::new(&mut resources, config);
        if tcp {
            stack.enable_tcp(&mut tcp_resources);
        }
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
