//! RFC 3339 timestamps in UTC with nanoseconds (`2026-09-01T08:15:02.118734512Z`), as Go
//! formats the `started` of a STATS answer. Computed from `SystemTime`, no time crate needed.

use std::time::{SystemTime, UNIX_EPOCH};

/// Formats a point in time (before 1970 is clamped to the epoch).
pub(crate) fn format(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_nanos()
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        // 2000-02-29 (a leap day of a century leap year), 12:34:56.789
        let t = UNIX_EPOCH + Duration::new(951_827_696, 789_000_000);
        assert_eq!(format(t), "2000-02-29T12:34:56.789000000Z");
        // 2026-09-01T08:15:02.118734512Z
        let t = UNIX_EPOCH + Duration::new(1_788_250_502, 118_734_512);
        assert_eq!(format(t), "2026-09-01T08:15:02.118734512Z");
        // 2100-03-01 (2100 is not a leap year)
        let t = UNIX_EPOCH + Duration::from_secs(4_107_542_400);
        assert_eq!(format(t), "2100-03-01T00:00:00.000000000Z");
    }
}
