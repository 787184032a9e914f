//! Status codes and retry timing as Azure's device guidance has them
//! (azure-sdk-for-c `az_iot_status_*`, `az_iot_calculate_retry_delay`).

/// Whether a service status means success (below 400).
pub fn succeeded(status: u32) -> bool {
    status < 400
}

/// Whether a failed request may be retried as it is: throttled (429) or a
/// server error (500), as the C SDK decides.
pub fn retriable(status: u32) -> bool {
    matches!(status, 429 | 500)
}

/// How long to wait before attempt `attempt` (1 for the first retry): the
/// base delay doubled per attempt up to the maximum, plus `random_jitter`
/// while that stays under the maximum, less what the failed operation
/// already took. All in milliseconds; never negative, never overflows.
pub fn retry_delay(
    operation: u32,
    attempt: u16,
    min_delay: u32,
    max_delay: u32,
    random_jitter: u32,
) -> u32 {
    let doubled = 1u64.checked_shl(u32::from(attempt)).unwrap_or(u64::MAX);
    let exponential = u64::from(min_delay).saturating_mul(doubled);
    let mut delay = exponential.min(u64::from(max_delay));
    if u64::from(max_delay) - delay > u64::from(random_jitter) {
        delay += u64::from(random_jitter);
    }
    // At most `max_delay` plus jitter below it: fits in u32.
    u32::try_from(delay.saturating_sub(u64::from(operation))).unwrap_or(u32::MAX)
}
