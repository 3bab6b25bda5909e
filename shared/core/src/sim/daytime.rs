//! Times of day (`HH:MM` or `HH:MM:SS`) as scenario files write them, and which instant of a run
//! they fall on. Pure.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Seconds in a day.
pub const DAY: u64 = 86_400;

/// A time of day, seconds after midnight (simulated UTC).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeOfDay(u32);

impl TimeOfDay {
    /// `h:m:s`; `None` when out of range.
    pub fn new(h: u32, m: u32, s: u32) -> Option<Self> {
        (h < 24 && m < 60 && s < 60).then_some(Self(h * 3600 + m * 60 + s))
    }

    /// Seconds after midnight.
    pub fn seconds(self) -> u64 {
        u64::from(self.0)
    }
}

/// Why a string is not a time of day.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a time of day (HH:MM or HH:MM:SS, 00:00 to 23:59:59)")]
pub struct InvalidTimeOfDay(pub String);

impl std::str::FromStr for TimeOfDay {
    type Err = InvalidTimeOfDay;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || InvalidTimeOfDay(s.to_owned());
        let parts: Vec<&str> = s.trim().split(':').collect();
        if !(2..=3).contains(&parts.len())
            || parts.iter().any(|p| p.len() != 2 || !p.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(bad());
        }
        let n = |i: usize| parts.get(i).map_or(Ok(0), |p| p.parse::<u32>()).map_err(|_| bad());
        Self::new(n(0)?, n(1)?, n(2)?).ok_or_else(bad)
    }
}

impl TryFrom<String> for TimeOfDay {
    type Error = InvalidTimeOfDay;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<TimeOfDay> for String {
    fn from(t: TimeOfDay) -> Self {
        t.to_string()
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (h, m, s) = (self.0 / 3600, self.0 / 60 % 60, self.0 % 60);
        if s == 0 { write!(f, "{h:02}:{m:02}") } else { write!(f, "{h:02}:{m:02}:{s:02}") }
    }
}

/// The offsets (seconds after the run's start) at which `at` happens during a run that starts
/// at `start` and lasts `duration` seconds: every day, or only on `day` (1-based; day 1 is the
/// calendar day the run starts on).
pub fn occurrences(at: TimeOfDay, day: Option<u32>, start: TimeOfDay, duration: u64) -> Vec<u64> {
    let first_midnight = start.seconds(); // seconds from day 1's midnight to the run's start
    (0..=duration.div_ceil(DAY) + 1)
        .filter(|d| day.is_none_or(|want| u64::from(want) == d + 1))
        .map(|d| d * DAY + at.seconds())
        .filter(|abs| *abs >= first_midnight && abs - first_midnight < duration)
        .map(|abs| abs - first_midnight)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> TimeOfDay {
        s.parse().unwrap()
    }

    #[test]
    fn times_of_day_parse_and_print_round_trip() {
        assert_eq!(t("09:30").seconds(), 9 * 3600 + 30 * 60);
        assert_eq!(t("23:59:59").seconds(), DAY - 1);
        assert_eq!(t("07:05").to_string(), "07:05");
        assert_eq!(t("07:05:09").to_string(), "07:05:09");
        for bad in ["24:00", "9:30", "12:60", "noon", "12:00:00:00", ""] {
            assert!(bad.parse::<TimeOfDay>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn occurrences_repeat_daily_or_fall_on_their_day_only() {
        let day = DAY;
        // A run from 06:00 for 48 h: 14:00 happens at +8 h and +32 h; 03:00 at +21 h and +45 h.
        assert_eq!(occurrences(t("14:00"), None, t("06:00"), 2 * day), vec![8 * 3600, 32 * 3600]);
        assert_eq!(occurrences(t("03:00"), None, t("06:00"), 2 * day), vec![21 * 3600, 45 * 3600]);
        assert_eq!(occurrences(t("14:00"), Some(2), t("06:00"), 2 * day), vec![32 * 3600]);
        assert_eq!(occurrences(t("03:00"), Some(1), t("06:00"), 2 * day), Vec::<u64>::new());
        assert_eq!(occurrences(t("00:00"), None, t("00:00"), day), vec![0]);
    }
}
