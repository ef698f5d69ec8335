//! When a task runs: every fixed period, or at the times a cron expression names.

use crate::error::Error;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// When a scheduled task runs. Times are wall-clock milliseconds since the Unix epoch, in UTC.
///
/// Both kinds put the ticks on a grid every node computes alike: `every` counts periods from
/// the Unix epoch (every `5s` ticks at :00, :05, :10 …), a cron expression names its times. So
/// nodes that start at different moments agree on which tick is which, which is what lets a
/// cluster-wide lock name a tick by its scheduled time.
///
/// ```
/// use broker_core::periodic::Schedule;
/// use std::time::Duration;
///
/// let every = Schedule::every(Duration::from_secs(5))?;
/// assert_eq!(every.next_after(12_000), Some(15_000));
/// assert_eq!(every.next_after(15_000), Some(20_000));
///
/// // Six fields: seconds first. Five fields (minutes first) and `@hourly`-style names work too.
/// let cron = Schedule::cron("0 */5 * * * *")?;
/// assert_eq!(cron.next_after(0), Some(300_000));
/// assert_eq!(Schedule::cron("@hourly")?.next_after(1), Some(3_600_000));
/// assert!(Schedule::cron("61 * * * * *").is_err());
/// # Ok::<(), broker_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Schedule(Kind);

#[derive(Clone)]
enum Kind {
    Every(Duration),
    Cron(Arc<croner::Cron>, String),
    Never,
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Schedule({self})")
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Kind::Every(period) => write!(f, "every {}", format_duration(*period)),
            Kind::Cron(_, text) => write!(f, "cron {text}"),
            Kind::Never => f.write_str("never"),
        }
    }
}

impl Schedule {
    /// Every `period` (at least one millisecond), on a grid counted from the Unix epoch.
    pub fn every(period: Duration) -> Result<Schedule, Error> {
        if period.as_millis() == 0 {
            return Err(Error::service_schema(
                "a task's period must be at least 1 ms",
            ));
        }
        Ok(Schedule(Kind::Every(period)))
    }

    /// At the times a cron expression names, in UTC: six fields with seconds first
    /// (`0 */5 * * * *`), the five of crontab (`*/5 * * * *`, at second 0), or a nickname
    /// (`@yearly`, `@monthly`, `@weekly`, `@daily`, `@hourly`). Fields follow Vixie cron
    /// (day of week 0–7, Sunday being 0 and 7; `L`, `W` and `#` as croner reads them).
    pub fn cron(expression: &str) -> Result<Schedule, Error> {
        let cron = parse_cron(expression).map_err(|reason| {
            Error::service_schema(format!("invalid cron expression '{expression}': {reason}"))
        })?;
        Ok(Schedule(Kind::Cron(
            Arc::new(cron),
            expression.trim().to_owned(),
        )))
    }

    /// A schedule with no ticks.
    pub fn never() -> Schedule {
        Schedule(Kind::Never)
    }

    /// The first tick strictly after `after_ms` (milliseconds since the Unix epoch), or `None`
    /// when there is none (a cron expression that names no future time).
    pub fn next_after(&self, after_ms: u64) -> Option<u64> {
        match &self.0 {
            Kind::Every(period) => {
                let period = u64::try_from(period.as_millis()).ok()?;
                (after_ms / period).checked_add(1)?.checked_mul(period)
            }
            Kind::Cron(cron, _) => {
                // Cron times are whole seconds: search from the second `after_ms` falls in,
                // exclusive, which is strictly after `after_ms` itself.
                let second = i64::try_from(after_ms / 1000).ok()?.checked_mul(1000)?;
                let start = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(second)?;
                let next = cron.find_next_occurrence(&start, false).ok()?;
                u64::try_from(next.timestamp_millis()).ok()
            }
            Kind::Never => None,
        }
    }

    /// The fixed period of an `every` schedule.
    pub fn period(&self) -> Option<Duration> {
        match &self.0 {
            Kind::Every(period) => Some(*period),
            Kind::Cron(..) | Kind::Never => None,
        }
    }

    /// The cron expression of a cron schedule, as written.
    pub fn expression(&self) -> Option<&str> {
        match &self.0 {
            Kind::Every(_) | Kind::Never => None,
            Kind::Cron(_, text) => Some(text),
        }
    }
}

/// Checks a cron expression as [`Schedule::cron`] reads it; the error says what is wrong. The
/// macros call it at compile time.
#[doc(hidden)]
pub fn check_cron(expression: &str) -> Result<(), String> {
    parse_cron(expression).map(|_| ())
}

fn parse_cron(expression: &str) -> Result<croner::Cron, String> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .build()
        .parse(expression.trim())
        .map_err(|err| err.to_string())
}

impl FromStr for Schedule {
    type Err = Error;

    /// `every <duration>` (`every 5s`) or a cron expression.
    fn from_str(s: &str) -> Result<Schedule, Error> {
        match s.trim().strip_prefix("every ") {
            Some(duration) => parse_duration(duration.trim())
                .ok_or_else(|| {
                    Error::service_schema(format!(
                        "invalid period '{duration}': expected a duration such as \"500ms\", \"5s\", \"1m\" or \"1h\""
                    ))
                })
                .and_then(Schedule::every),
            None => Schedule::cron(s),
        }
    }
}

/// `<digits><unit>` with unit `ms`, `s`, `m`, `h` or `d`: the durations of `every = "..."`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let ms = match unit {
        "ms" => Some(n),
        "s" => n.checked_mul(1_000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        "d" => n.checked_mul(86_400_000),
        _ => None,
    }?;
    Some(Duration::from_millis(ms))
}

/// `5s`, `250ms`, `1h`: the largest unit that divides the duration.
pub(crate) fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if ms >= size && ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ticks_on_a_grid_from_the_epoch() {
        let s = Schedule::every(Duration::from_millis(250)).expect("period");
        assert_eq!(s.next_after(0), Some(250));
        assert_eq!(s.next_after(249), Some(250));
        assert_eq!(s.next_after(250), Some(500));
        assert_eq!(s.to_string(), "every 250ms");
        assert!(Schedule::every(Duration::ZERO).is_err());
        assert_eq!(
            Schedule::every(Duration::from_secs(3600))
                .expect("hour")
                .to_string(),
            "every 1h"
        );
    }

    #[test]
    fn cron_with_seconds_crontab_and_nicknames() {
        let five = Schedule::cron("0 */5 * * * *").expect("six fields");
        assert_eq!(five.next_after(0), Some(300_000));
        assert_eq!(five.next_after(299_999), Some(300_000));
        assert_eq!(five.next_after(300_000), Some(600_000));
        assert_eq!(five.to_string(), "cron 0 */5 * * * *");
        let crontab = Schedule::cron("*/5 * * * *").expect("five fields");
        assert_eq!(crontab.next_after(1), Some(300_000));
        let secs = Schedule::cron("*/2 * * * * *").expect("every other second");
        assert_eq!(secs.next_after(1_500), Some(2_000));
        assert_eq!(secs.next_after(2_000), Some(4_000));
        for (nick, next) in [("@hourly", 3_600_000), ("@daily", 86_400_000)] {
            assert_eq!(Schedule::cron(nick).expect(nick).next_after(5), Some(next));
        }
        // 1970-01-01 was a Thursday: the next Sunday midnight is 3 days later.
        let sunday = Schedule::cron("0 0 * * 0").expect("sunday");
        assert_eq!(sunday.next_after(0), Some(3 * 86_400_000));
    }

    #[test]
    fn bad_expressions_are_schema_errors() {
        for bad in ["", "61 * * * * *", "* * *", "@sometimes", "a b c d e"] {
            let err = Schedule::cron(bad).expect_err(bad);
            assert_eq!(err.kind(), crate::ErrorKind::ServiceSchema, "{bad}");
            assert!(err.message().contains("invalid cron expression"), "{err}");
        }
    }

    #[test]
    fn parses_from_text() {
        let s: Schedule = "every 5s".parse().expect("every");
        assert_eq!(s.period(), Some(Duration::from_secs(5)));
        let c: Schedule = "0 0 * * * *".parse().expect("cron");
        assert_eq!(c.expression(), Some("0 0 * * * *"));
        assert!("every 5 s".parse::<Schedule>().is_err());
        assert_eq!(parse_duration("2d"), Some(Duration::from_secs(172_800)));
        assert_eq!(parse_duration("1.5s"), None);
    }
}
