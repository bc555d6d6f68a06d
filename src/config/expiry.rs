//! Lifetimes: Go-style durations, Dex's defaults, and the bounds that keep them useful.

use std::time::Duration;

use super::{Config, ConfigError};

/// Durations and limits after defaults, in seconds.
#[derive(Debug, Clone, Copy)]
pub struct Expiry {
    pub id_tokens: i64,
    pub auth_requests: i64,
    pub device_requests: i64,
    pub signing_keys: i64,
    pub disable_rotation: bool,
    pub reuse_interval: i64,
    /// 0 means no limit, as in Dex.
    pub valid_if_not_used_for: i64,
    pub absolute_lifetime: i64,
    /// `audit.retention`.
    pub audit_retention: i64,
}

impl Config {
    /// Expiry settings with Dex's defaults.
    pub fn expiry(&self) -> Result<Expiry, ConfigError> {
        let e = &self.expiry;
        let d = |v: Option<super::Duration>, default: i64| v.map_or(default, super::Duration::secs);
        // A lifetime of nothing issues what no one can use, and a key that signs for less than a
        // minute has the server rotating keys without end: both are mistakes, said at start.
        let at_least = |secs: i64, key: &str, min: i64, what: &str| {
            if secs < min {
                return Err(ConfigError::Invalid(format!(
                    "expiry.{key}: at least {what}"
                )));
            }
            Ok(secs)
        };
        Ok(Expiry {
            id_tokens: at_least(d(e.id_tokens, 24 * 3600), "idTokens", 1, "1s")?,
            auth_requests: at_least(d(e.auth_requests, 24 * 3600), "authRequests", 1, "1s")?,
            device_requests: at_least(d(e.device_requests, 5 * 60), "deviceRequests", 1, "1s")?,
            signing_keys: at_least(d(self.signing_period(), 6 * 3600), "signingKeys", 60, "1m")?,
            disable_rotation: e.refresh_tokens.disable_rotation,
            reuse_interval: d(e.refresh_tokens.reuse_interval, 3),
            valid_if_not_used_for: d(e.refresh_tokens.valid_if_not_used_for, 0),
            absolute_lifetime: d(e.refresh_tokens.absolute_lifetime, 0),
            audit_retention: self.audit_retention()?,
        })
    }

    fn audit_retention(&self) -> Result<i64, ConfigError> {
        const DEFAULT: i64 = 90 * 86_400;
        match self.audit.retention {
            None => Ok(DEFAULT),
            Some(r) if r.secs() >= 3600 => Ok(r.secs()),
            Some(r) => Err(ConfigError::Invalid(format!(
                "audit.retention `{r}`: a duration of at least 1h, like 2160h (90 days)"
            ))),
        }
    }
}

/// Parse a Go-style duration ("24h", "1h30m", "90s", "500ms").
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_end == 0 {
            return None;
        }
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += n * factor;
        rest = &rest[unit_end..];
    }
    // Far beyond any lifetime, and within what seconds as i64 and Duration hold: a number too
    // big is refused as invalid, never a crash.
    const MAX_SECS: f64 = 1e12;
    if !(0.0..=MAX_SECS).contains(&total) {
        return None;
    }
    Duration::try_from_secs_f64(total).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_duration("24h"), Some(Duration::from_secs(86400)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("10x"), None);
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("h"), None);
    }

    #[test]
    fn lifetimes_of_nothing_and_keys_rotating_every_second_are_refused() {
        let base = "issuer: http://x/dex\nstorage:\n  type: memory\nweb:\n  http: 127.0.0.1:1\n";
        for (extra, key) in [
            ("expiry:\n  signingKeys: 0s\n", "expiry.signingKeys"),
            ("expiry:\n  signingKeys: 59s\n", "expiry.signingKeys"),
            ("expiry:\n  idTokens: 0s\n", "expiry.idTokens"),
            ("expiry:\n  deviceRequests: 0s\n", "expiry.deviceRequests"),
            ("expiry:\n  authRequests: 0s\n", "expiry.authRequests"),
        ] {
            let e = Config::parse(&format!("{base}{extra}"))
                .map_err(|e| e.to_string())
                .and_then(|c| c.expiry().map_err(|e| e.to_string()))
                .unwrap_err();
            assert!(e.contains(key), "{extra}: {e}");
        }
        let ok = Config::parse(&format!(
            "{base}expiry:\n  signingKeys: 1m\n  idTokens: 1s\n"
        ))
        .map(|c| c.expiry().is_ok());
        assert!(matches!(ok, Ok(true)), "{ok:?}");
    }

    #[test]
    fn a_duration_too_big_for_any_clock_is_refused_not_a_crash() {
        assert_eq!(
            parse_duration("8760h"),
            Some(Duration::from_secs(8760 * 3600))
        );
        for huge in ["5124095576030431h", "1e400h", "99999999999999999999999s"] {
            assert_eq!(parse_duration(huge), None, "{huge}");
        }
    }

    #[test]
    fn audit_retention_is_a_duration_of_at_least_an_hour() {
        let base = "issuer: http://x/dex\nstorage:\n  type: memory\nweb:\n  http: 127.0.0.1:1\n";
        let retention = |extra: &str| {
            Config::parse(&format!("{base}{extra}"))
                .map_err(|e| e.to_string())
                .and_then(|c| c.expiry().map_err(|e| e.to_string()))
                .map(|e| e.audit_retention)
        };
        assert_eq!(retention(""), Ok(90 * 86_400));
        assert_eq!(retention("audit:\n  retention: 8760h\n"), Ok(365 * 86_400));
        for bad in ["30m", "forever", "0"] {
            let e = retention(&format!("audit:\n  retention: {bad}\n")).unwrap_err();
            assert!(e.contains("audit.retention"), "{bad}: {e}");
        }
    }
}
