//! Injected time, so expiry and rotation are tested without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Seconds since the Unix epoch, UTC.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> i64;
}

/// The wall clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }
}

/// RFC 3339 in UTC (`2026-11-29T18:23:35Z`), as registries, SAML and client-go read it.
/// A time beyond what the calendar holds reads as the epoch, never a panic.
pub fn rfc3339(t: i64) -> String {
    let d =
        time::OffsetDateTime::from_unix_timestamp(t).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        d.date(),
        d.hour(),
        d.minute(),
        d.second()
    )
}

/// A UTC date and time as a person types it (`2026-11-29`, `2026-11-29T18:23`,
/// `2026-11-29T18:23:35`, with an optional `Z`; a space may stand for the `T`), as Unix seconds.
/// What does not name a real instant (`2026-02-30`, `24:00`) is `None`.
pub fn parse_utc(text: &str) -> Option<i64> {
    let text = text.trim();
    let text = text.strip_suffix(['Z', 'z']).unwrap_or(text);
    let (date, clock) = match text.split_once(['T', 't', ' ']) {
        Some((d, c)) => (d, Some(c)),
        None => (text, None),
    };
    // Fixed-width digit groups: `parse` alone would also take signs and other widths.
    let number = |s: &str, width: usize| {
        (s.len() == width && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u16>().ok())
            .flatten()
    };
    let mut d = date.split('-');
    let (y, m, day) = (d.next()?, d.next()?, d.next()?);
    if d.next().is_some() {
        return None;
    }
    let month = time::Month::try_from(u8::try_from(number(m, 2)?).ok()?).ok()?;
    let date = time::Date::from_calendar_date(
        i32::from(number(y, 4)?),
        month,
        u8::try_from(number(day, 2)?).ok()?,
    )
    .ok()?;
    let (h, min, sec) = match clock {
        None => (0, 0, 0),
        Some(c) => {
            let mut p = c.split(':');
            let (h, min, sec) = (p.next()?, p.next()?, p.next().unwrap_or("00"));
            if p.next().is_some() {
                return None;
            }
            (number(h, 2)?, number(min, 2)?, number(sec, 2)?)
        }
    };
    let at = time::Time::from_hms(
        u8::try_from(h).ok()?,
        u8::try_from(min).ok()?,
        u8::try_from(sec).ok()?,
    )
    .ok()?;
    Some(
        time::PrimitiveDateTime::new(date, at)
            .assume_utc()
            .unix_timestamp(),
    )
}

/// A time as a `datetime-local` form field shows it (`2026-11-29T18:23:35`), in UTC.
pub fn form_utc(t: i64) -> String {
    rfc3339(t).trim_end_matches('Z').to_string()
}

/// A clock that only moves when told to; for tests.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(start: i64) -> Self {
        ManualClock(Arc::new(AtomicI64::new(start)))
    }
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

pub type SharedClock = Arc<dyn Clock>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_976_615), "2026-11-29T18:23:35Z");
        assert_eq!(rfc3339(i64::MAX), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn typed_utc_times_parse_and_impossible_ones_do_not() {
        for (text, want) in [
            ("2026-11-29T18:23:35Z", 1_795_976_615),
            ("2026-11-29T18:23:35", 1_795_976_615),
            ("2026-11-29 18:23:35", 1_795_976_615),
            (" 2026-11-29T18:23 ", 1_795_976_580),
            ("2000-02-29", 951_782_400),
            ("1970-01-01T00:00", 0),
        ] {
            assert_eq!(parse_utc(text), Some(want), "{text}");
            assert_eq!(parse_utc(&form_utc(want)), Some(want), "{text}");
        }
        for text in [
            "",
            "yesterday",
            "2026-02-30",
            "2026-13-01",
            "2026-11-29T24:00",
            "2026-11-29T18:60",
            "2026-11-29T18",
            "2026-11-29T18:23:35:00",
            "2026-11-29T18:23:35+02:00",
            "26-11-29",
            "+2026-11-29",
            "2026-1-29",
            "2026-11-29-01",
            "1795976615",
        ] {
            assert_eq!(parse_utc(text), None, "{text}");
        }
        assert_eq!(form_utc(1_795_976_615), "2026-11-29T18:23:35");
    }
}
