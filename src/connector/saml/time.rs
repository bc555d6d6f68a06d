//! `xs:dateTime` values of SAML (IssueInstant, NotBefore, NotOnOrAfter, SessionNotOnOrAfter).

/// An `xs:dateTime` in UTC (`Z` or `+00:00`, optional fraction) as Unix seconds.
pub fn parse_instant(s: &str) -> Option<i64> {
    let s = s.trim();
    let s = s.strip_suffix('Z').or_else(|| s.strip_suffix("+00:00"))?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-');
    let (y, m, day): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    let time = time.split('.').next()?;
    let mut t = time.split(':');
    let (hh, mm, ss): (i64, i64, i64) = (
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
    );
    if d.next().is_some()
        || t.next().is_some()
        || !(1..=12).contains(&m)
        || !(1..=31).contains(&day)
        || hh > 23
        || mm > 59
        || ss > 60
    {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// Unix seconds as an `xs:dateTime` in UTC.
pub fn instant(t: i64) -> String {
    crate::clock::rfc3339(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_parse_as_utc() {
        assert_eq!(parse_instant("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_instant("2026-11-29T20:00:00.123Z"),
            Some(1_795_982_400)
        );
        assert_eq!(
            parse_instant("2000-02-29T12:00:00+00:00"),
            Some(951_825_600)
        );
        assert_eq!(parse_instant("2026-11-29T20:00:00+01:00"), None);
        assert_eq!(parse_instant("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_instant(&instant(1_795_982_400)), Some(1_795_982_400));
    }
}
