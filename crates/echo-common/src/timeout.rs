//! A wait's time limit in the form `poll(2)` and `epoll_wait(2)` take it.

use std::time::Duration;

/// `timeout` in whole milliseconds: `None` (no limit) is `-1`, and more than
/// `i32::MAX` milliseconds (24 days) is capped. A fraction of a millisecond
/// rounds up: rounded down, a wait of 0.4 ms would become 0, a call that
/// returns at once, and a loop waiting for a deadline would spin until it
/// passed.
pub fn timeout_ms(timeout: Option<Duration>) -> i32 {
    let Some(timeout) = timeout else {
        return -1;
    };
    i32::try_from(timeout.as_nanos().div_ceil(1_000_000)).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_of_a_millisecond_round_up() {
        assert_eq!(timeout_ms(None), -1);
        assert_eq!(timeout_ms(Some(Duration::ZERO)), 0);
        assert_eq!(timeout_ms(Some(Duration::from_nanos(1))), 1);
        assert_eq!(timeout_ms(Some(Duration::from_micros(400))), 1);
        assert_eq!(timeout_ms(Some(Duration::from_millis(1))), 1);
        assert_eq!(timeout_ms(Some(Duration::from_micros(1001))), 2);
        assert_eq!(timeout_ms(Some(Duration::from_millis(1000))), 1000);
        assert_eq!(timeout_ms(Some(Duration::from_secs(40 * 86_400))), i32::MAX);
        assert_eq!(timeout_ms(Some(Duration::MAX)), i32::MAX);
    }
}
