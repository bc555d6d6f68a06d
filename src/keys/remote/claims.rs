//! What Gantry reads of a token's claims itself, beside the crate's typed checks: the payload
//! as a JSON object (each part in its one canonical spelling), `nbf` and `azp`.

use super::{Claims, LEEWAY, Refusal, invalid};

/// Why a token is not a usable JWT before any signature is checked.
#[derive(Debug, thiserror::Error)]
pub(super) enum PayloadError {
    #[error("not three parts")]
    Parts,
    #[error("the {0} is not canonical base64url")]
    NotCanonical(&'static str),
    #[error("the payload is not a JSON object: {0}")]
    NotJson(#[from] serde_json::Error),
}

/// The token's payload as a JSON object. Read apart from the crate's typed claims because
/// Gantry maps any claim a config names; returned only once the crate has verified the same
/// bytes.
///
/// Each part must be canonical base64url: the crate's decoder ignores the unused low bits of
/// the last character, so without this check one signed token would have several spellings
/// that all verify.
pub(super) fn payload(token: &str) -> Result<Claims, PayloadError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(PayloadError::Parts);
    };
    for (what, part) in [("header", h), ("signature", s)] {
        crate::secret::b64_decode(part).ok_or(PayloadError::NotCanonical(what))?;
    }
    let bytes = crate::secret::b64_decode(p).ok_or(PayloadError::NotCanonical("payload"))?;
    Ok(serde_json::from_slice(&bytes)?)
}

/// RFC 7519 4.1.5, which the crate does not read: not before `nbf` (less the leeway).
pub(super) fn check_nbf(c: &Claims, now: i64) -> Result<(), Refusal> {
    match c.get("nbf") {
        None => Ok(()),
        Some(n) => match n.as_i64() {
            Some(nbf) if nbf > now + LEEWAY => Err(invalid("the ID token is not valid yet")),
            Some(_) => Ok(()),
            None => Err(invalid("the ID token's nbf is not a number")),
        },
    }
}

/// OIDC Core 3.1.3.7 (4, 5): with several audiences, `azp` must name this client; whenever
/// it is there, it must be this client.
pub(super) fn check_azp(c: &Claims, client_id: &str) -> Result<(), Refusal> {
    let many = c
        .get("aud")
        .and_then(|a| a.as_array())
        .is_some_and(|a| a.len() > 1);
    match c.get("azp").and_then(|a| a.as_str()) {
        Some(azp) if azp != client_id => {
            Err(invalid("the ID token was issued to another party (azp)"))
        }
        None if many => Err(invalid("the ID token has several audiences and no azp")),
        _ => Ok(()),
    }
}
