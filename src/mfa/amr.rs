//! A login's stored `amr`: how the user proved who they are, in RFC 8176 values, with two kinds
//! of Gantry's own bookkeeping that tokens never show as such:
//! - `recovered:<kind>`: a recovery code stood in for that kind of factor. It satisfies the
//!   chain's step; the token claims `otp` for the code (RFC 8176 has no value of its own for a
//!   recovery code), never the key or app that was not used.
//! - `upstream:<value>`: what an upstream OpenID provider asserted in its ID token's `amr`.
//!   Tokens pass it on as `<value>`, and it counts as a second factor where only a second
//!   factor is asked for (`policy.mfa`, `acr_values`); a chain (`mfaChain`) names Gantry's own
//!   authenticators, and only their proofs pass its steps.

use super::AuthenticatorKind;

const RECOVERED: &str = "recovered:";
const UPSTREAM: &str = "upstream:";

/// RFC 8176's registry of values, section 2 and the IANA "Authentication Method Reference
/// Values" registry: an upstream's other values are not passed on.
const REGISTERED: &[&str] = &[
    "face", "fpt", "geo", "hwk", "iris", "kba", "mca", "mfa", "otp", "pin", "pop", "pwd", "rba",
    "retina", "sc", "sms", "swk", "tel", "user", "vbm", "wia",
];

const KINDS: [AuthenticatorKind; 2] = [AuthenticatorKind::Totp, AuthenticatorKind::WebAuthn];

/// The mark a recovery code standing in for a factor of `kind` leaves.
pub fn recovered_mark(kind: AuthenticatorKind) -> String {
    format!("{RECOVERED}{}", kind.as_str())
}

/// The stored form of what an upstream provider's ID token says in `amr`: its registered
/// values, each once, marked as the provider's.
pub fn from_upstream(claim: Option<&serde_json::Value>) -> String {
    let mut out: Vec<String> = Vec::new();
    for v in claim
        .and_then(|c| c.as_array())
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
    {
        let marked = format!("{UPSTREAM}{v}");
        if REGISTERED.contains(&v) && !out.contains(&marked) {
            out.push(marked);
        }
    }
    out.join(" ")
}

/// The values a token may claim: marks dropped or unwrapped, each once, in order.
pub fn claimed(amr: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for v in amr.split(' ').filter(|v| !v.is_empty()) {
        if v.starts_with(RECOVERED) {
            continue;
        }
        let v = v.strip_prefix(UPSTREAM).unwrap_or(v);
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// Whether an amr shows a second factor: a kind's own value or `mfa`, Gantry's or the
/// upstream provider's.
pub fn has_second_factor(amr: &str) -> bool {
    claimed(amr)
        .into_iter()
        .any(|m| m == "mfa" || KINDS.iter().any(|k| k.amr_values().contains(&m)))
}

/// Whether an amr shows Gantry's own proof of a factor of `kind` (or a recovery code in its
/// place): what passes a chain's step.
pub fn proves(amr: &str, kind: AuthenticatorKind) -> bool {
    let mark = recovered_mark(kind);
    amr.split(' ')
        .any(|v| kind.amr_values().contains(&v) || v == mark)
}

/// `amr` with the values a second factor adds: `proof`, what it showed (`otp`; `hwk` or `swk`,
/// see [`super::webauthn::amr_value`]; space-separated when more than one), and `mfa` (two or
/// more factors: the connector's login was the first). Order kept, nothing twice.
pub fn amr_after(amr: &str, proof: &str) -> String {
    let mut values: Vec<&str> = amr.split(' ').filter(|v| !v.is_empty()).collect();
    for v in proof.split(' ').filter(|v| !v.is_empty()).chain(["mfa"]) {
        if !values.contains(&v) {
            values.push(v);
        }
    }
    values.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_values_are_passed_on_registered_and_once() {
        let claim = serde_json::json!(["pwd", "mfa", "pwd", "x-vendor", 7, "otp"]);
        let stored = from_upstream(Some(&claim));
        assert_eq!(stored, "upstream:pwd upstream:mfa upstream:otp");
        assert_eq!(claimed(&stored), ["pwd", "mfa", "otp"]);
        assert!(
            has_second_factor(&stored),
            "the provider's mfa counts as a second factor"
        );
        assert!(
            !proves(&stored, AuthenticatorKind::Totp),
            "but passes no step of a chain of Gantry's own authenticators"
        );
        assert_eq!(from_upstream(None), "");
        assert_eq!(
            from_upstream(Some(&serde_json::json!("pwd"))),
            "",
            "not an array"
        );
        assert!(!has_second_factor(&from_upstream(Some(
            &serde_json::json!(["pwd"])
        ))));
        // Gantry's own step after the provider's password: each value once in the token.
        let after = amr_after("upstream:pwd upstream:mfa", "otp");
        assert_eq!(claimed(&after), ["pwd", "mfa", "otp"]);
        assert!(proves(&after, AuthenticatorKind::Totp));
    }
}
