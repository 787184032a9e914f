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

/// User CPU time of this process (`RUSAGE_SELF`) and of its waited-for
/// children (`RUSAGE_CHILDREN`): `openssl s_time` reports connections per
/// user second, so the TLS handshake figures compare user time alone, and a
/// child `openssl s_client`'s time is read once it has been waited for.
pub fn user_times() -> io::Result<(Duration, Duration)> {
    Ok((usage(libc::RUSAGE_SELF)?.0, usage(libc::RUSAGE_CHILDREN)?.0))
}

/// User plus system time of the waited-for children.
pub fn children_time() -> io::Result<Duration> {
    let (user, system) = usage(libc::RUSAGE_CHILDREN)?;
    Ok(user + system)
}

fn usage(who: libc::c_int) -> io::Result<(Duration, Duration)> {
    // SAFETY: as in `process_time`.
    let (status, usage) = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        let status = libc::getrusage(who, &mut usage);
        (status, usage)
    };
    if status != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((timeval(usage.ru_utime), timeval(usage.ru_stime)))
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
