//! CPU time of this process, the figure the benches divide by the bytes
//! moved.
//!
//! The only `unsafe` in the crate: `getrusage(2)` through `libc`.
#![allow(unsafe_code)]

use std::io;
use std::time::Duration;

/// User plus system CPU time this process has used so far (`getrusage(2)`,
/// `RUSAGE_SELF`). A bench runs one stack at a time on one thread, so the
/// difference of two readings is that stack's cost plus the bench loop's,
/// which is the same for every stack.
pub fn process_time() -> io::Result<Duration> {
    // SAFETY: `rusage` is a C struct of integers, for which all-zero bytes
    // are a valid value; `getrusage` only writes through the pointer, which
    // points to this live, aligned local.
    let (status, usage) = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        let status = libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        (status, usage)
    };
    if status != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(timeval(usage.ru_utime) + timeval(usage.ru_stime))
}

fn timeval(time: libc::timeval) -> Duration {
    let seconds = u64::try_from(time.tv_sec).unwrap_or(0);
    let micros = u64::try_from(time.tv_usec).unwrap_or(0);
    Duration::from_secs(seconds) + Duration::from_micros(micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_time_grows_with_work() {
        let before = process_time().unwrap();
        let started = std::time::Instant::now();
        let mut x = 1u64;
        while started.elapsed() < Duration::from_millis(50) {
            x = std::hint::black_box(x.wrapping_mul(3).wrapping_add(1));
        }
        let spent = process_time().unwrap() - before;
        // A busy 50 ms on a loaded machine still costs well over 10 ms of CPU.
        assert!(spent >= Duration::from_millis(10), "spent {spent:?}");
    }
}
