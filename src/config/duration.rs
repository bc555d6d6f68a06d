//! Durations as Dex writes them (Go's `24h`, `10m`, `1h30m`), read by serde: a key that holds
//! one is typed, and a value that is none is refused where the file is parsed, with its key.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, Visitor};

use super::parse_duration;

/// A config duration, in whole seconds (what every lifetime Gantry keeps counts in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(i64);

impl Duration {
    pub const fn from_secs(secs: i64) -> Duration {
        Duration(secs)
    }

    pub const fn secs(self) -> i64 {
        self.0
    }

    /// The value of a Go duration string, or none if `s` is not one.
    pub fn parse(s: &str) -> Option<Duration> {
        parse_duration(s).map(|d| Duration(d.as_secs() as i64))
    }
}

/// As Go writes it, without zero parts: `90s` is `1m30s`, so an error that shows a value shows
/// what Gantry read.
impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (h, m, s) = (self.0 / 3600, self.0 / 60 % 60, self.0 % 60);
        if self.0 == 0 {
            return f.write_str("0s");
        }
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if m > 0 {
            write!(f, "{m}m")?;
        }
        if s > 0 {
            write!(f, "{s}s")?;
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_str(GoDuration)
    }
}

struct GoDuration;

impl GoDuration {
    fn read<E: de::Error>(s: &str) -> Result<Duration, E> {
        // The value is in the message: serde's path names the key, but not what it held.
        Duration::parse(s)
            .ok_or_else(|| E::custom(format!("`{s}`: not a duration like 24h or 10m")))
    }
}

impl Visitor<'_> for GoDuration {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration like 24h or 10m")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        Self::read(v)
    }

    // An unquoted `0` is a number to YAML, and a duration to Go.
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        Self::read(&v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        Self::read(&v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
        Self::read(&v.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Holder {
        d: Duration,
    }

    fn read(yaml: &str) -> Result<i64, String> {
        serde_norway::from_str::<Holder>(yaml)
            .map(|h| h.d.secs())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn go_durations_are_read_quoted_or_not() {
        assert_eq!(read("d: 24h"), Ok(86_400));
        assert_eq!(read("d: \"1h30m\""), Ok(5_400));
        assert_eq!(read("d: 0"), Ok(0));
        assert_eq!(read("d: 500ms"), Ok(0));
    }

    #[test]
    fn a_value_that_is_no_duration_is_named_with_what_is_expected() {
        for bad in ["1 day", "10x", "5", "true"] {
            let e = read(&format!("d: {bad}")).unwrap_err();
            assert!(
                e.contains(&format!("`{bad}`: not a duration like 24h or 10m")),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn shown_as_go_writes_it() {
        for (secs, text) in [
            (0, "0s"),
            (30, "30s"),
            (90, "1m30s"),
            (5_400, "1h30m"),
            (86_400, "24h"),
        ] {
            assert_eq!(Duration::from_secs(secs).to_string(), text);
        }
    }
}
