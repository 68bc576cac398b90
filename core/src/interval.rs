//! PostgreSQL intervals as one number, the way PostgreSQL compares them: a
//! month counts 30 days, a day 24 hours.

/// Microseconds in a day.
pub const DAY_MICROS: i128 = 86_400_000_000;

/// The length of an interval of `months`, `days` and `micros`, in
/// microseconds (months as 30 days, as interval comparison does).
pub fn total_micros(months: i32, days: i32, micros: i64) -> i128 {
    i128::from(months) * 30 * DAY_MICROS + i128::from(days) * DAY_MICROS + i128::from(micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_thirty_days() {
        assert_eq!(total_micros(1, 0, 0), total_micros(0, 30, 0));
        assert_eq!(total_micros(0, 1, 0), 86_400_000_000);
        assert_eq!(total_micros(0, 0, -5), -5);
        assert!(total_micros(1, -31, 0) < 0);
        // No overflow at the extremes.
        assert!(total_micros(i32::MAX, i32::MAX, i64::MAX) > 0);
        assert!(total_micros(i32::MIN, i32::MIN, i64::MIN) < 0);
    }
}
