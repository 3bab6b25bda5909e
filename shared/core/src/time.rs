//! Time helpers for the pure core: timestamps are `jiff::Timestamp`, windows are
//! `std::time::Duration`. Nothing here reads the system clock.

use std::time::Duration;

pub use jiff::Timestamp;

/// `t + d`, saturating at the maximum timestamp instead of panicking.
pub fn after(t: Timestamp, d: Duration) -> Timestamp {
    jiff::SignedDuration::try_from(d).ok().and_then(|d| t.checked_add(d).ok()).unwrap_or(Timestamp::MAX)
}

/// `t - d`, saturating at the minimum timestamp.
pub fn before(t: Timestamp, d: Duration) -> Timestamp {
    jiff::SignedDuration::try_from(d).ok().and_then(|d| t.checked_sub(d).ok()).unwrap_or(Timestamp::MIN)
}

/// How long ago `since` was at `now`; zero when `since` is in the future.
pub fn elapsed(now: Timestamp, since: Timestamp) -> Duration {
    Duration::try_from(now.duration_since(since)).unwrap_or(Duration::ZERO)
}

/// Formats a duration the way operators read it: `3m`, `9m 59s`, `1h 2m`.
pub fn human(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn elapsed_is_zero_for_future_instants() {
        assert_eq!(elapsed(ts("2026-01-01T00:00:00Z"), ts("2026-01-01T00:01:00Z")), Duration::ZERO);
        assert_eq!(elapsed(ts("2026-01-01T00:03:00Z"), ts("2026-01-01T00:00:00Z")), Duration::from_secs(180));
    }

    #[test]
    fn after_and_before_are_inverse() {
        let t = ts("2026-01-01T12:00:00Z");
        let d = Duration::from_secs(599);
        assert_eq!(before(after(t, d), d), t);
        assert_eq!(human(Duration::from_secs(599)), "9m 59s");
    }
}
