//! PKCE (RFC 7636) verification.

use crate::secret;

/// Methods accepted in authorization requests.
pub fn method_supported(m: &str) -> bool {
    matches!(m, "S256" | "plain")
}

/// Whether `verifier` answers the stored `challenge`. A verifier of the wrong shape never does.
pub fn verify(challenge: &str, method: &str, verifier: &str) -> bool {
    let shape_ok = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    if !shape_ok {
        return false;
    }
    match method {
        "S256" => secret::ct_eq(
            &secret::b64(&secret::sha256(verifier.as_bytes())),
            challenge,
        ),
        "plain" => secret::ct_eq(verifier, challenge),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_vector() {
        let v = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let c = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(verify(c, "S256", v));
        assert!(!verify(
            c,
            "S256",
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx"
        ));
        assert!(!verify(c, "plain", v));
        assert!(!verify("short", "plain", "short"));
    }
}
