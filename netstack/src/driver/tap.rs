//! A Linux TAP device as a [`Driver`], so the stack can talk to the host kernel.
//!
//! The device is opened through `/dev/net/tun` with `TUNSETIFF` (Linux
//! `Documentation/networking/tuntap.rst`), in TAP mode (Ethernet frames) and
//! without the 4-byte packet-information prefix (`IFF_NO_PI`), so each
//! `read`/`write` is exactly one frame without FCS. The descriptor is
//! non-blocking; a helper thread started on first need `poll(2)`s a
//! duplicate of it and wakes the async runner when a frame is waiting.
//!
//! The MAC given to [`TapDevice::open`] is the stack's own; the kernel's side
//! of the interface has a different one, as two hosts on a wire would.
#![allow(unsafe_code)]

use std::cell::Cell;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::string::String;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::task::{Context, Waker};
use std::thread::JoinHandle;
use std::vec::Vec;

use embassy_net_driver::{Capabilities, Driver, HardwareAddress, LinkState};

/// Ethernet frame size reported to the stack: 1500-byte IP MTU plus the 14-byte header.
const MTU: usize = 1514;
/// Receive buffer size: the largest frame the kernel could hand over if the
/// interface MTU were raised, so a big frame is read whole rather than cut.
const RX_BUFFER: usize = 65_536;

/// What a [`TapDevice`] has carried.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TapCounters {
    /// Frames read from the kernel.
    pub rx_frames: u64,
    /// Bytes in those frames.
    pub rx_bytes: u64,
    /// Reads that failed for a reason other than "nothing to read".
    pub rx_errors: u64,
    /// Frames the kernel took whole.
    pub tx_frames: u64,
    /// Bytes in those frames.
    pub tx_bytes: u64,
    /// Frames the kernel refused or took short; they are lost.
    pub tx_errors: u64,
}

/// A TAP interface owned by this process; the interface goes away when the
/// device (and its helper thread) is dropped, unless it was made persistent.
pub struct TapDevice {
    file: File,
    name: String,
    mac: [u8; 6],
    rx_buffer: Vec<u8>,
    tx_buffer: Vec<u8>,
    counters: Cell<TapCounters>,
    readiness: Option<ReadinessThread>,
}

impl core::fmt::Debug for TapDevice {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TapDevice")
            .field("name", &self.name)
            .field("mac", &self.mac)
            .field("fd", &self.file.as_raw_fd())
            .field("counters", &self.counters.get())
            .finish_non_exhaustive()
    }
}

impl TapDevice {
    /// Opens (creating if needed) the TAP interface `ifname` in the calling
    /// thread's network namespace. An empty name lets the kernel choose
    /// (`tap0`, `tap1`, ...); [`TapDevice::name`] tells which.
    ///
    /// Needs `CAP_NET_ADMIN`, unless the interface was made persistent for this user.
    pub fn open(ifname: &str, mac: [u8; 6]) -> io::Result<Self> {
        if ifname.len() >= libc::IFNAMSIZ || ifname.contains('\0') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "interface name must be shorter than 16 bytes and contain no NUL",
            ));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/net/tun")?;

        // SAFETY: `ifreq` is plain data (a name array and a union of integers,
        // addresses and a pointer); all-zero bytes are a valid value of each.
        let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
        for (slot, byte) in request.ifr_name.iter_mut().zip(ifname.bytes()) {
            *slot = byte as libc::c_char;
        }
        request.ifr_ifru.ifru_flags = (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short;
        // SAFETY: the descriptor is open for the duration of the call, and
        // TUNSETIFF reads and writes exactly one `struct ifreq`, which
        // `request` is and which outlives the call.
        let result = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, &raw mut request) };
        if result < 0 {
            return Err(io::Error::last_os_error());
        }
        // The kernel writes back the name it used, NUL-terminated.
        let name: Vec<u8> = request
            .ifr_name
            .iter()
            .take_while(|c| **c != 0)
            .map(|c| *c as u8)
            .collect();

        Ok(Self {
            file,
            name: String::from_utf8_lossy(&name).into_owned(),
            mac,
            rx_buffer: std::vec![0; RX_BUFFER],
            tx_buffer: Vec::with_capacity(MTU),
            counters: Cell::new(TapCounters::default()),
            readiness: None,
        })
    }

    /// The interface's name as the kernel knows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What has been carried so far.
    pub fn counters(&self) -> TapCounters {
        self.counters.get()
    }

    /// Blocks until a frame can be read or `timeout` passes (`None`: no
    /// limit). Returns whether the device is readable; an error condition on
    /// the descriptor counts as readable, so the next read reports it.
    pub fn wait_readable(&self, timeout: Option<std::time::Duration>) -> io::Result<bool> {
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        loop {
            let wait_ms = match deadline {
                None => -1,
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    // Round up, so a sub-millisecond wait still waits.
                    let ms = left.as_micros().div_ceil(1000);
                    libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
                }
            };
            let mut fds = [readable(self.file.as_raw_fd())];
            match poll(&mut fds, wait_ms) {
                Ok(_) => return Ok(fds[0].revents != 0),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn count(&self, update: impl FnOnce(&mut TapCounters)) {
        let mut counters = self.counters.get();
        update(&mut counters);
        self.counters.set(counters);
    }

    /// Asks the helper thread to wake `waker` once the device is readable.
    fn register(&mut self, waker: &Waker) {
        if self.readiness.is_none() {
            match ReadinessThread::start(&self.file) {
                Ok(thread) => self.readiness = Some(thread),
                Err(_error) => {
                    // Logged as the errno, which every log back-end can format.
                    warn!(
                        "tap: no readiness thread (errno {}), the runner will poll",
                        _error.raw_os_error().unwrap_or(0)
                    );
                    // Without the thread nobody would wake the runner: have it
                    // poll again instead of sleeping forever.
                    waker.wake_by_ref();
                    return;
                }
            }
        }
        if let Some(thread) = &self.readiness {
            thread.register(waker);
        }
    }
}

impl Drop for TapDevice {
    fn drop(&mut self) {
        if let Some(thread) = self.readiness.take() {
            thread.stop();
        }
    }
}

/// `struct pollfd` asking for readability of `fd`.
fn readable(fd: libc::c_int) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

/// `poll(2)` over `fds`; `timeout_ms` of -1 waits without limit.
fn poll(fds: &mut [libc::pollfd], timeout_ms: libc::c_int) -> io::Result<usize> {
    let count = libc::nfds_t::try_from(fds.len()).unwrap_or(libc::nfds_t::MAX);
    // SAFETY: `fds` is a valid, exclusively borrowed array of `count`
    // `pollfd`s for the duration of the call; poll writes only `revents`.
    let ready = unsafe { libc::poll(fds.as_mut_ptr(), count, timeout_ms) };
    usize::try_from(ready).map_err(|_| io::Error::last_os_error())
}

/// Registration shared with the helper thread.
#[derive(Default)]
struct Readiness {
    state: Mutex<ReadinessState>,
    changed: Condvar,
}

#[derive(Default)]
struct ReadinessState {
    waker: Option<Waker>,
    stopping: bool,
}

/// The helper thread that turns "the TAP is readable" into a waker call.
///
/// It sleeps on a condition variable until a waker is registered, then in
/// `poll(2)` until the TAP (or the stop socket) is readable, wakes the waker
/// once and goes back to waiting for the next registration. A registration is
/// made only after a read found nothing, so the thread never spins on a
/// frame the stack has not read yet.
struct ReadinessThread {
    shared: Arc<Readiness>,
    /// Closing this end makes the thread's end readable, which ends its poll.
    stop: UnixStream,
    handle: JoinHandle<()>,
}

impl ReadinessThread {
    fn start(tap: &File) -> io::Result<Self> {
        let tap = tap.try_clone()?;
        let (stop, stop_seen) = UnixStream::pair()?;
        let shared = Arc::new(Readiness::default());
        let handle = std::thread::Builder::new()
            .name("duet-tap-readiness".into())
            .spawn({
                let shared = Arc::clone(&shared);
                move || Self::run(&tap, &stop_seen, &shared)
            })?;
        Ok(Self {
            shared,
            stop,
            handle,
        })
    }

    fn register(&self, waker: &Waker) {
        let mut state = self
            .shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match &mut state.waker {
            Some(current) => current.clone_from(waker),
            empty => *empty = Some(waker.clone()),
        }
        self.shared.changed.notify_one();
    }

    fn run(tap: &File, stop: &UnixStream, shared: &Readiness) {
        loop {
            {
                let mut state = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
                while state.waker.is_none() && !state.stopping {
                    state = shared
                        .changed
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                if state.stopping {
                    return;
                }
            }
            let mut fds = [readable(tap.as_raw_fd()), readable(stop.as_raw_fd())];
            match poll(&mut fds, -1) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_error) => {
                    warn!(
                        "tap: readiness poll failed (errno {}), thread ends",
                        _error.raw_os_error().unwrap_or(0)
                    );
                    Self::wake(shared);
                    return;
                }
            }
            if fds[1].revents != 0 {
                return;
            }
            if fds[0].revents != 0 {
                Self::wake(shared);
            }
        }
    }

    fn wake(shared: &Readiness) {
        let waker = shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .waker
            .take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Ends the thread and waits for it, so its duplicate descriptor is
    /// closed (and a non-persistent interface gone) when the device drop returns.
    fn stop(self) {
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .stopping = true;
        self.shared.changed.notify_one();
        drop(self.stop);
        if self.handle.join().is_err() {
            warn!("tap: readiness thread panicked");
        }
    }
}

impl Driver for TapDevice {
    type RxToken<'a>
        = RxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = TxToken<'a>
    where
        Self: 'a;

    fn receive(&mut self, cx: &mut Context) -> Option<(RxToken<'_>, TxToken<'_>)> {
        match (&self.file).read(&mut self.rx_buffer) {
            Ok(len) if len > 0 => {
                self.count(|c| {
                    c.rx_frames += 1;
                    c.rx_bytes += len as u64;
                });
                let tx = TxToken {
                    file: &self.file,
                    buffer: &mut self.tx_buffer,
                    counters: &self.counters,
                };
                Some((
                    RxToken {
                        frame: &mut self.rx_buffer[..len],
                    },
                    tx,
                ))
            }
            Ok(_) => {
                self.register(cx.waker());
                None
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.register(cx.waker());
                None
            }
            Err(_error) => {
                debug!(
                    "tap {}: read failed (errno {})",
                    self.name.as_str(),
                    _error.raw_os_error().unwrap_or(0)
                );
                self.count(|c| c.rx_errors += 1);
                self.register(cx.waker());
                None
            }
        }
    }

    fn transmit(&mut self, _cx: &mut Context) -> Option<TxToken<'_>> {
        Some(TxToken {
            file: &self.file,
            buffer: &mut self.tx_buffer,
            counters: &self.counters,
        })
    }

    fn link_state(&mut self, _cx: &mut Context) -> LinkState {
        LinkState::Up
    }

    fn capabilities(&self) -> Capabilities {
        let mut capabilities = Capabilities::default();
        capabilities.max_transmission_unit = MTU;
        capabilities
    }

    fn hardware_address(&self) -> HardwareAddress {
        HardwareAddress::Ethernet(self.mac)
    }
}

/// Lends the frame just read.
#[derive(Debug)]
pub struct RxToken<'a> {
    frame: &'a mut [u8],
}

impl embassy_net_driver::RxToken for RxToken<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        f(self.frame)
    }
}

/// Lends the transmit buffer; the frame is written when the closure returns.
#[derive(Debug)]
pub struct TxToken<'a> {
    file: &'a File,
    buffer: &'a mut Vec<u8>,
    counters: &'a Cell<TapCounters>,
}

impl embassy_net_driver::TxToken for TxToken<'_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        self.buffer.clear();
        self.buffer.resize(len, 0);
        let result = f(self.buffer);
        let mut counters = self.counters.get();
        // One write is one frame: a short write cannot be continued.
        let mut file = self.file;
        match file.write(self.buffer) {
            Ok(written) if written == len => {
                counters.tx_frames += 1;
                counters.tx_bytes += len as u64;
            }
            _ => counters.tx_errors += 1,
        }
        self.counters.set(counters);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::test_frames::arp_request;
    use embassy_net_driver::{RxToken as _, TxToken as _};
    use std::process::Command;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;
    use std::time::{Duration, Instant};

    const OUR_MAC: [u8; 6] = [0x02, 0xd0, 0xe7, 0x00, 0x00, 0x02];
    const OUR_IP: [u8; 4] = [10, 99, 0, 2];
    const KERNEL_IP: [u8; 4] = [10, 99, 0, 1];

    /// Runs `test` on a thread in a fresh network namespace of its own, so
    /// the interfaces it makes are invisible outside and vanish with it.
    fn in_private_netns<T: Send + 'static>(test: impl FnOnce() -> T + Send + 'static) -> T {
        let thread = std::thread::spawn(move || {
            // SAFETY: unshare(2) takes only flags and touches no memory of
            // ours; CLONE_NEWNET moves just this thread (and what it spawns)
            // into a new network namespace.
            let result = unsafe { libc::unshare(libc::CLONE_NEWNET) };
            assert_eq!(
                result,
                0,
                "unshare(CLONE_NEWNET) failed, the TAP tests need root: {}",
                io::Error::last_os_error()
            );
            test()
        });
        thread
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }

    fn ip(args: &[&str]) {
        let output = Command::new("ip")
            .args(args)
            .output()
            .expect("iproute2 `ip` is installed");
        assert!(
            output.status.success(),
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Opens `name` and gives the kernel side 10.99.0.1/24.
    fn open_configured(name: &str) -> TapDevice {
        let tap = TapDevice::open(name, OUR_MAC).expect("/dev/net/tun must open (run as root)");
        assert_eq!(tap.name(), name);
        ip(&["link", "set", "lo", "up"]);
        ip(&["addr", "add", "10.99.0.1/24", "dev", name]);
        ip(&["link", "set", name, "up"]);
        tap
    }

    fn cx() -> Context<'static> {
        Context::from_waker(Waker::noop())
    }

    fn send(tap: &mut TapDevice, frame: &[u8]) {
        let token = tap
            .transmit(&mut cx())
            .expect("a TAP always lends a tx token");
        token.consume(frame.len(), |buf| buf.copy_from_slice(frame));
    }

    /// Is `frame` the kernel's RFC 826 reply to our request?
    fn is_arp_reply_to_us(frame: &[u8]) -> bool {
        frame.len() >= 42
            && frame[12..14] == [0x08, 0x06]
            && frame[20..22] == [0, 2]
            && frame[28..32] == KERNEL_IP
            && frame[32..38] == OUR_MAC
            && frame[38..42] == OUR_IP
    }

    /// Reads frames until the kernel's ARP reply comes, or five seconds pass.
    fn await_arp_reply(tap: &mut TapDevice) -> Option<Vec<u8>> {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            tap.wait_readable(Some(Duration::from_millis(100))).unwrap();
            while let Some((rx, _tx)) = tap.receive(&mut cx()) {
                let frame = rx.consume(|buf| buf.to_vec());
                if is_arp_reply_to_us(&frame) {
                    return Some(frame);
                }
            }
        }
        None
    }

    #[test]
    fn the_kernel_answers_our_arp_request_through_the_tap() {
        in_private_netns(|| {
            let mut tap = open_configured("duettap0");
            assert_eq!(tap.hardware_address(), HardwareAddress::Ethernet(OUR_MAC));
            assert_eq!(tap.capabilities().max_transmission_unit, 1514);
            assert!(tap.link_state(&mut cx()) == LinkState::Up);

            send(&mut tap, &arp_request(OUR_MAC, OUR_IP, KERNEL_IP));
            let reply = await_arp_reply(&mut tap).expect("the kernel answers within 5 s");
            assert_eq!(reply[0..6], OUR_MAC, "unicast to us");
            assert_eq!(
                reply[6..12],
                reply[22..28],
                "sent from the MAC it announces"
            );
            assert_ne!(reply[22..28], OUR_MAC);

            let counters = tap.counters();
            assert_eq!(
                (counters.tx_frames, counters.tx_bytes, counters.tx_errors),
                (1, 42, 0)
            );
            assert!(
                counters.rx_frames >= 1 && counters.rx_bytes >= 42,
                "{counters:?}"
            );

            // Shorter than an Ethernet header: the kernel refuses it, we count it.
            send(&mut tap, &[0u8; 5]);
            assert_eq!(tap.counters().tx_errors, 1);
        });
    }

    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn the_readiness_thread_wakes_the_runner_and_ends_with_the_device() {
        in_private_netns(|| {
            let mut tap = open_configured("duettap1");
            let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
            let waker = Waker::from(Arc::clone(&counter));
            let mut context = Context::from_waker(&waker);
            // Whatever the kernel sent on link-up is read first.
            while let Some((rx, _)) = tap.receive(&mut context) {
                rx.consume(|_| ());
            }
            let woken_before = counter.0.load(Ordering::SeqCst);

            send(&mut tap, &arp_request(OUR_MAC, OUR_IP, KERNEL_IP));
            let deadline = Instant::now() + Duration::from_secs(5);
            while counter.0.load(Ordering::SeqCst) == woken_before {
                assert!(Instant::now() < deadline, "no wake within 5 s");
                std::thread::sleep(Duration::from_millis(5));
            }
            assert!(
                tap.receive(&mut context).is_some(),
                "woken for a real frame"
            );

            drop(tap);
            // The thread's duplicate descriptor is closed too, so the
            // non-persistent interface is gone.
            let gone = Command::new("ip")
                .args(["link", "show", "duettap1"])
                .output()
                .unwrap();
            assert!(!gone.status.success());
        });
    }

    #[test]
    fn bad_interface_names_are_refused_before_touching_the_kernel() {
        for name in ["sixteen-bytes-xx", "tap\0x"] {
            let error = TapDevice::open(name, OUR_MAC).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{name:?}");
        }
    }

    #[test]
    fn wait_readable_times_out_on_a_quiet_device() {
        in_private_netns(|| {
            // Down on the kernel side: nothing is sent to us.
            let tap = TapDevice::open("duettap2", OUR_MAC).expect("/dev/net/tun must open");
            let start = Instant::now();
            assert!(!tap.wait_readable(Some(Duration::from_millis(50))).unwrap());
            assert!(start.elapsed() >= Duration::from_millis(50));
        });
    }
}
