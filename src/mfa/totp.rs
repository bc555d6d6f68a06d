//! Time-based one-time passwords (RFC 6238) as every authenticator app computes them:
//! HMAC-SHA1, 6 digits, 30-second steps, a 160-bit secret shown in base32.
//!
//! A code is accepted for the current step or one step either side (clock skew of up to 30 s
//! and the time it takes to type), and only for a step later than the last one accepted: a
//! code seen over a shoulder or in a proxy's log cannot be used a second time.

use aws_lc_rs::hmac;

/// Seconds per time step (RFC 6238's X).
pub const STEP: i64 = 30;
/// Digits of a code.
pub const DIGITS: u32 = 6;
/// Bytes of a secret: 160 bits, the HMAC-SHA1 key size RFC 4226 recommends.
pub const SECRET_BYTES: usize = 20;
/// Steps accepted either side of the current one.
pub const WINDOW: i64 = 1;

/// The HOTP value (RFC 4226) of `counter` under `secret`, `digits` long.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    // SHA-1 is what RFC 6238's default (and every authenticator app) uses; as an HMAC it is
    // not weakened by SHA-1's collisions.
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let mac = hmac::sign(&key, &counter.to_be_bytes());
    let mac = mac.as_ref();
    let offset = usize::from(mac.last().copied().unwrap_or(0) & 0x0f);
    let word = mac
        .get(offset..offset + 4)
        .map(|b| u32::from_be_bytes([b[0] & 0x7f, b[1], b[2], b[3]]))
        .unwrap_or(0);
    word % 10u32.pow(digits)
}

/// The time step of a Unix time (T0 = 0).
pub fn step_of(unix: i64) -> i64 {
    unix.div_euclid(STEP)
}

/// The code an app shows for `step`, zero-padded.
pub fn code_at(secret: &[u8], step: i64) -> String {
    let c = hotp(secret, u64::try_from(step).unwrap_or(0), DIGITS);
    format!("{c:0width$}", width = DIGITS as usize)
}

/// What a presented code is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The code of this step, later than any accepted before.
    Good(i64),
    /// The code of a step already used (or earlier): a replay.
    Replayed(i64),
    /// Not a code of any step in the window.
    Wrong,
}

/// Check `presented` against the steps around `now`; `last_step` is the last step accepted
/// for this secret (-1: none).
pub fn check(secret: &[u8], presented: &str, now: i64, last_step: i64) -> Check {
    let typed: String = presented.chars().filter(|c| !c.is_whitespace()).collect();
    if typed.len() != DIGITS as usize || !typed.bytes().all(|b| b.is_ascii_digit()) {
        return Check::Wrong;
    }
    let current = step_of(now);
    // Newest first: when two steps of the window share a code, the later one is the one
    // remembered, which refuses both from then on.
    for step in (current - WINDOW..=current + WINDOW).rev() {
        if step < 0 {
            continue;
        }
        if crate::secret::ct_eq(&code_at(secret, step), &typed) {
            return if step > last_step {
                Check::Good(step)
            } else {
                Check::Replayed(step)
            };
        }
    }
    Check::Wrong
}

/// A fresh secret.
pub fn new_secret() -> Vec<u8> {
    crate::secret::random_bytes(SECRET_BYTES)
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding: how apps take a secret typed in or read from a QR code.
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((acc >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32[((acc << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The `otpauth://totp/...` URI an authenticator app reads from the QR code (Google
/// Authenticator's Key Uri Format): `issuer:account` as its label, the secret and the issuer.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let enc = |s: &str| -> String {
        // Percent-encoding of a path segment; ':' separates issuer and account, so it is
        // encoded inside each.
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("secret", &base32(secret))
        .append_pair("issuer", issuer)
        .append_pair("algorithm", "SHA1")
        .append_pair("digits", &DIGITS.to_string())
        .append_pair("period", &STEP.to_string())
        .finish();
    format!("otpauth://totp/{}:{}?{query}", enc(issuer), enc(account))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, the SHA-1 rows: the seed is the ASCII "12345678901234567890".
    #[test]
    fn rfc_6238_appendix_b_sha1_vectors() {
        let seed = b"12345678901234567890";
        for (t, want) in [
            (59, 94_287_082),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ] {
            assert_eq!(hotp(seed, step_of(t) as u64, 8), want, "T = {t}");
        }
        // Six digits are the last six of the same value.
        assert_eq!(code_at(seed, step_of(59)), "287082");
        assert_eq!(code_at(seed, step_of(1_111_111_109)), "081804");
    }

    #[test]
    fn rfc_4226_appendix_d_hotp_values() {
        let seed = b"12345678901234567890";
        let want = [
            755_224, 287_082, 359_152, 969_429, 338_314, 254_676, 287_922, 162_583, 399_871,
            520_489,
        ];
        for (counter, w) in want.iter().enumerate() {
            assert_eq!(hotp(seed, counter as u64, 6), *w, "counter {counter}");
        }
    }

    #[test]
    fn the_window_is_one_step_either_side() {
        let s = b"a secret of twenty b";
        let now = 1_700_000_015;
        let at = |d: i64| code_at(s, step_of(now) + d);
        for d in [-1, 0, 1] {
            assert_eq!(check(s, &at(d), now, -1), Check::Good(step_of(now) + d));
        }
        for d in [-3, -2, 2, 3] {
            // A code of another step may by chance equal one of the window's: skip that case.
            if [-1, 0, 1].iter().all(|w| at(*w) != at(d)) {
                assert_eq!(check(s, &at(d), now, -1), Check::Wrong, "{d} steps off");
            }
        }
    }

    #[test]
    fn a_code_is_good_once_and_earlier_steps_are_refused_after_it() {
        let s = b"another secret here!";
        let now = 1_700_000_000;
        let code = code_at(s, step_of(now));
        let Check::Good(step) = check(s, &code, now, -1) else {
            panic!("first use refused");
        };
        assert_eq!(check(s, &code, now, step), Check::Replayed(step));
        // The previous step's code, still inside the window, comes too late once a later
        // one was accepted.
        let before = code_at(s, step - 1);
        assert_eq!(check(s, &before, now, step), Check::Replayed(step - 1));
        // The next step's code is still good.
        let next = code_at(s, step + 1);
        assert_eq!(check(s, &next, now + STEP, step), Check::Good(step + 1));
    }

    #[test]
    fn anything_but_six_digits_is_wrong_without_a_match() {
        let s = b"12345678901234567890";
        let now = 59;
        assert_eq!(check(s, "287082", now, -1), Check::Good(1));
        assert_eq!(check(s, " 287 082 ", now, -1), Check::Good(1));
        for bad in ["", "28708", "2870821", "28708a", "２８７０８２", "-87082"] {
            assert_eq!(check(s, bad, now, -1), Check::Wrong, "{bad:?}");
        }
    }

    #[test]
    fn base32_is_rfc_4648() {
        for (raw, want) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(raw.as_bytes()), want);
        }
        assert_eq!(base32(&new_secret()).len(), 32);
    }

    #[test]
    fn the_uri_names_issuer_account_and_secret() {
        let u = otpauth_uri(
            "Acme Corp",
            "ldap: jane@example.com",
            b"12345678901234567890",
        );
        assert_eq!(
            u,
            "otpauth://totp/Acme%20Corp:ldap%3A%20jane@example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Acme+Corp&algorithm=SHA1&digits=6&period=30"
        );
    }
}
