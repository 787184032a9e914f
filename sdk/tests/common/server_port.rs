//! Ports for test servers (openssl s_server, mosquitto) on 127.0.0.1.
//!
//! Asking the kernel for a free port (bind to port 0, then release it) races
//! twice: the tests' client sockets take their source ports from the same
//! ephemeral range, and a listener the test process holds even for a moment
//! is copied into any server another test thread forks at that moment, so
//! the new server's bind fails while our probe connects to the copy. Ports
//! handed out here lie below the ephemeral range, differ between the tests
//! of one process, and are never opened by the test process itself.

use std::sync::atomic::{AtomicU32, Ordering};

/// First port of the kernel's ephemeral range (Linux default 32768).
fn ephemeral_start() -> u32 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768)
}

/// A port for one test server, never returned twice by this process.
pub fn server_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const LOWEST: u32 = 10_000;
    let span = ephemeral_start().saturating_sub(LOWEST).max(1);
    // Processes start at different points so test binaries run one after
    // another do not reuse each other's ports.
    let base = std::process::id().wrapping_mul(7919);
    (LOWEST + base.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)) % span) as u16
}
