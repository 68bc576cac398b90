//! Usage quotas: at most N successful verifications per calendar day or
//! month (UTC), for a key or for all of an owner's keys. Days are counted
//! from 2000-01-01, PostgreSQL's epoch; times are microseconds since then.

use thiserror::Error;

/// Microseconds in a day.
const DAY_MICROS: i64 = 86_400_000_000;

/// The period a quota is counted over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Period {
    Day,
    Month,
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error("quota_period \"{0}\" is not day or month")]
pub struct PeriodError(pub String);

impl Period {
    pub fn parse(text: &str) -> Result<Period, PeriodError> {
        match text {
            "day" => Ok(Period::Day),
            "month" => Ok(Period::Month),
            other => Err(PeriodError(other.chars().take(64).collect())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Month => "month",
        }
    }

    /// The first day of the period that holds `now` (days since
    /// 2000-01-01).
    pub fn start(self, now: i64) -> i32 {
        let day = now.div_euclid(DAY_MICROS) as i32;
        match self {
            Period::Day => day,
            Period::Month => {
                let (y, m, _) = civil_from_days(day);
                days_from_civil(y, m, 1)
            }
        }
    }

    /// The first day after the period that starts on `start`.
    pub fn end(self, start: i32) -> i32 {
        match self {
            Period::Day => start + 1,
            Period::Month => {
                let (y, m, _) = civil_from_days(start);
                let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                days_from_civil(y, m, 1)
            }
        }
    }

    /// Whole seconds from `now` until the next period begins (at least 1).
    pub fn seconds_left(self, now: i64) -> u32 {
        let end = i64::from(self.end(self.start(now))) * DAY_MICROS;
        (((end - now) + 999_999) / 1_000_000).clamp(1, i64::from(u32::MAX)) as u32
    }
}

/// What one request gets from a quota.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuotaDecision {
    pub admitted: bool,
    /// Requests left in the period, after this one.
    pub remaining: u64,
    /// Seconds until the next period (for a refusal: when to retry).
    pub reset_secs: u32,
}

/// Decide one request against `quota` with `used` counted so far in the
/// period that holds `now`; the caller counts it when admitted.
pub fn decide(quota: u64, used: u64, period: Period, now: i64) -> QuotaDecision {
    let admitted = used < quota;
    QuotaDecision {
        admitted,
        remaining: if admitted { quota - used - 1 } else { 0 },
        reset_secs: period.seconds_left(now),
    }
}

/// Days since 2000-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`, shifted to PostgreSQL's epoch).
pub fn days_from_civil(y: i32, m: u32, d: u32) -> i32 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe - 719_468 - 10_957) as i32
}

/// The date of a day counted from 2000-01-01 (`civil_from_days`).
pub fn civil_from_days(days: i32) -> (i32, u32, u32) {
    let z = i64::from(days) + 10_957 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = (yoe + era * 400 + i64::from(m <= 2)) as i32;
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_epoch_and_known_dates() {
        assert_eq!(days_from_civil(2000, 1, 1), 0);
        assert_eq!(civil_from_days(0), (2000, 1, 1));
        assert_eq!(days_from_civil(2000, 3, 1), 60); // a leap year
        assert_eq!(days_from_civil(2026, 12, 2), 9832);
        assert_eq!(civil_from_days(-1), (1999, 12, 31));
    }

    #[test]
    fn months_start_on_the_first_and_end_before_the_next() {
        let now = i64::from(days_from_civil(2024, 2, 17)) * DAY_MICROS + 5;
        assert_eq!(Period::Month.start(now), days_from_civil(2024, 2, 1));
        assert_eq!(
            Period::Month.end(Period::Month.start(now)),
            days_from_civil(2024, 3, 1)
        );
        let dec = i64::from(days_from_civil(2026, 12, 31)) * DAY_MICROS;
        assert_eq!(
            Period::Month.end(Period::Month.start(dec)),
            days_from_civil(2027, 1, 1)
        );
        assert_eq!(Period::Day.start(now), days_from_civil(2024, 2, 17));
        assert_eq!(Period::Day.seconds_left(now), 86_400);
    }

    #[test]
    fn decisions() {
        let now = 0;
        assert_eq!(decide(3, 0, Period::Day, now).remaining, 2);
        assert!(decide(3, 2, Period::Day, now).admitted);
        let refused = decide(3, 3, Period::Day, now);
        assert!(!refused.admitted);
        assert_eq!((refused.remaining, refused.reset_secs), (0, 86_400));
        assert_eq!(Period::parse("week"), Err(PeriodError("week".into())));
    }

    proptest! {
        #[test]
        fn civil_round_trips(days in -1_000_000i32..1_000_000) {
            let (y, m, d) = civil_from_days(days);
            prop_assert!((1..=12).contains(&m) && (1..=31).contains(&d));
            prop_assert_eq!(days_from_civil(y, m, d), days);
        }

        #[test]
        fn a_period_holds_now(now in -1_000_000_000_000_000i64..1_000_000_000_000_000, month in any::<bool>()) {
            let p = if month { Period::Month } else { Period::Day };
            let start = p.start(now);
            let end = p.end(start);
            prop_assert!(i64::from(start) * DAY_MICROS <= now);
            prop_assert!(now < i64::from(end) * DAY_MICROS);
            prop_assert!(end > start && end - start <= 31);
            prop_assert!(p.seconds_left(now) >= 1);
        }
    }
}
