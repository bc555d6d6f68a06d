//! The one verifier of JWTs signed by someone else's published keys: an upstream provider's ID
//! tokens and JWT access tokens (the `oidc` connector, token exchange), and Gantry's own ID
//! tokens as its clients receive them (the example app, the kubectl plugin).
//!
//! Signature, `iss`, `aud`, `exp`, `iat`, the nonce and the key choice (by `kid`, one key
//! of the algorithm's type otherwise) are `openidconnect`'s checks. Around them, what the crate
//! does not check and Gantry must: an allow-list of asymmetric algorithms (`none` and HMAC are
//! refused whatever the provider advertises), clock leeway on `exp` and `iat`, `nbf`, `azp`
//! with several audiences (OIDC Core 3.1.3.7), `at_hash` when the token carries one, issuer
//! aliases, and a size bound. Never returns claims of a token that failed any check.

mod claims;
mod client;

use std::str::FromStr;

use openidconnect::core::{
    CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AccessToken, AccessTokenHash, ClaimsVerificationError, ClientId, IssuerUrl, JsonWebTokenType,
    Nonce, SignatureVerificationError,
};

use claims::{check_azp, check_nbf, payload};
pub use client::{IdTokenError, verify_id_token};

/// Claims as a JSON object, for mapping by any key a config names.
pub type Claims = serde_json::Map<String, serde_json::Value>;

/// A provider's (or Gantry's) published signing keys.
pub type KeySet = CoreJsonWebKeySet;

/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
pub const LEEWAY: i64 = 60;

/// The largest token read at all.
pub const MAX_TOKEN: usize = 16 * 1024;

/// Every algorithm that may sign a token verified here: asymmetric only. `none` is never
/// accepted, and an HMAC "signature" keyed with a public key proves nothing.
pub const ASYMMETRIC: [CoreJwsSigningAlgorithm; 9] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// The algorithms of [`ASYMMETRIC`] a provider advertises (`id_token_signing_alg_values_supported`);
/// RS256 when it advertises none (OIDC Discovery 3).
pub fn algorithms(advertised: &[String]) -> Vec<CoreJwsSigningAlgorithm> {
    if advertised.is_empty() {
        return vec![CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256];
    }
    advertised
        .iter()
        .filter_map(|a| serde_json::from_value(serde_json::Value::String(a.clone())).ok())
        .filter(|a| ASYMMETRIC.contains(a))
        .collect()
}

/// What kind of token is expected: an access token may say `typ: at+jwt` (RFC 9068).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    IdToken,
    AccessToken,
}

/// What a token must say.
pub struct Expect<'a> {
    /// The accepted `iss` values: the issuer, and an alias where one is configured.
    pub issuers: &'a [String],
    /// The `aud` that must be there (and the `azp` when there are several).
    pub audience: &'a str,
    /// `Some` on a login: the nonce sent with it. Refreshes and token exchange carry none.
    pub nonce: Option<&'a str>,
    /// The access token answered with the ID token, to check its `at_hash` against.
    pub access_token: Option<&'a str>,
    pub algorithms: &'a [CoreJwsSigningAlgorithm],
    pub kind: Kind,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No key of the set fits the token: the caller may refetch the set, once, and retry.
    NoKey,
    /// Anything else; text for the user and the log.
    Invalid(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NoKey => {
                f.write_str("the ID token is signed with a key the provider does not publish")
            }
            Refusal::Invalid(m) => f.write_str(m),
        }
    }
}

fn invalid(m: impl Into<String>) -> Refusal {
    Refusal::Invalid(m.into())
}

const FROM_THE_FUTURE: &str = "the ID token was issued in the future";

/// The claims of `token` if it passes every check against `keys` at `now` (Unix seconds).
pub fn verify(keys: &KeySet, token: &str, e: &Expect<'_>, now: i64) -> Result<Claims, Refusal> {
    if token.len() > MAX_TOKEN {
        return Err(invalid("the ID token is too large"));
    }
    let unusable =
        |why: &dyn std::fmt::Display| invalid(format!("the ID token is not a usable JWT: {why}"));
    let claims = payload(token).map_err(|why| unusable(&why))?;
    let jwt = CoreIdToken::from_str(token).map_err(|why| unusable(&why))?;
    let alg = jwt.signing_alg().map_err(|why| unusable(&why))?.clone();
    if !e.algorithms.contains(&alg) {
        return Err(invalid(format!(
            "the ID token is signed with {}, which is not accepted",
            alg_name(&alg)
        )));
    }
    // The issuer to compare with: the one of the accepted issuers the token names (the crate
    // compares with exactly one), else the first, which then fails as "another issuer".
    let iss = claims.get("iss").and_then(|i| i.as_str());
    let issuer = e
        .issuers
        .iter()
        .find(|i| Some(i.as_str()) == iss)
        .or(e.issuers.first())
        .ok_or_else(|| invalid("no issuer is configured"))?;
    let issuer = IssuerUrl::new(issuer.clone())
        .map_err(|err| invalid(format!("the issuer `{issuer}` is not a URL: {err}")))?;
    let shifted = chrono::DateTime::from_timestamp(now - LEEWAY, 0)
        .ok_or_else(|| invalid("the clock is out of range"))?;
    let mut verifier = CoreIdTokenVerifier::new_public_client(
        ClientId::new(e.audience.into()),
        issuer,
        keys.clone(),
    )
    .set_allowed_algs(e.algorithms.iter().cloned())
    // Other audiences are allowed when `azp` names this client: checked below, as the
    // crate does not check `azp`.
    .set_other_audience_verifier_fn(|_| true)
    // The crate has no leeway: `exp` is compared with a clock set back by it.
    .set_time_fn(move || shifted)
    .set_issue_time_verifier_fn(move |iat| {
        if iat.timestamp() > now + LEEWAY {
            Err(FROM_THE_FUTURE.to_string())
        } else {
            Ok(())
        }
    });
    if e.kind == Kind::AccessToken {
        let types = ["JWT", "application/jose", "at+jwt"]
            .into_iter()
            .filter_map(|t| JsonWebTokenType::new(t.to_string()).normalize().ok());
        verifier = verifier.set_allowed_jose_types(types);
    }
    let nonce_ok = |got: Option<&Nonce>| match (e.nonce, got) {
        (None, _) => Ok(()),
        (Some(want), Some(got))
            if !got.secret().is_empty() && crate::secret::ct_eq(got.secret(), want) =>
        {
            Ok(())
        }
        _ => Err("nonce".to_string()),
    };
    let verified = jwt.claims(&verifier, nonce_ok).map_err(refusal)?;
    if let (Some(at), Some(want)) = (e.access_token, verified.access_token_hash()) {
        let key = jwt
            .signing_key(&verifier)
            .map_err(|err| refusal(ClaimsVerificationError::SignatureVerification(err)))?;
        let got = AccessTokenHash::from_token(&AccessToken::new(at.to_string()), &alg, key)
            .map_err(|err| invalid(format!("the ID token's at_hash cannot be checked: {err}")))?;
        if got != *want {
            return Err(invalid(
                "the ID token's at_hash does not match the access token",
            ));
        }
    }
    check_nbf(&claims, now)?;
    check_azp(&claims, e.audience)?;
    Ok(claims)
}

fn alg_name(alg: &CoreJwsSigningAlgorithm) -> String {
    serde_json::to_value(alg)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{alg:?}"))
}

fn refusal(e: ClaimsVerificationError) -> Refusal {
    use ClaimsVerificationError as C;
    use SignatureVerificationError as S;
    match e {
        C::Expired(m) if m == FROM_THE_FUTURE => invalid(FROM_THE_FUTURE),
        C::Expired(_) => invalid("the ID token has expired"),
        C::InvalidAudience(_) => invalid("the ID token is for another audience"),
        C::InvalidIssuer(_) => invalid("the ID token is from another issuer"),
        C::InvalidNonce(_) => invalid("the ID token's nonce does not match this login"),
        // Without a `kid`, a set with several keys of the type singles none out: as unknown.
        C::SignatureVerification(S::NoMatchingKey | S::AmbiguousKeyId(_)) => Refusal::NoKey,
        C::SignatureVerification(S::CryptoError(_)) => {
            invalid("the ID token's signature does not verify")
        }
        C::SignatureVerification(S::InvalidKey(m)) => {
            invalid(format!("provider key unusable: {m}"))
        }
        C::SignatureVerification(S::DisallowedAlg(m) | S::UnsupportedAlg(m)) => {
            invalid(format!("the ID token's algorithm is not accepted: {m}"))
        }
        other => invalid(format!("the ID token is not valid: {other}")),
    }
}

/// The time now, in Unix seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{Algorithm, SigningKey};
    use serde_json::json;

    const ISS: &str = "https://id.example.com";

    struct Fixture {
        key: SigningKey,
        keys: KeySet,
        issuers: Vec<String>,
    }

    fn fixture(alg: Algorithm) -> Fixture {
        let (key, _) = SigningKey::generate(alg).unwrap();
        let keys: KeySet = serde_json::from_value(json!({ "keys": [key.jwk()] })).unwrap();
        Fixture {
            key,
            keys,
            issuers: vec![ISS.to_string(), "https://alias.example.com".to_string()],
        }
    }

    impl Fixture {
        fn claims(&self, now: i64) -> serde_json::Value {
            json!({"iss": ISS, "aud": "g", "sub": "s", "iat": now, "exp": now + 300})
        }

        fn check(
            &self,
            c: &serde_json::Value,
            now: i64,
            f: impl FnOnce(&mut Expect<'_>),
        ) -> Result<Claims, Refusal> {
            let token = self.key.sign(c, "JWT").unwrap();
            self.check_token(&token, now, f)
        }

        fn check_token(
            &self,
            token: &str,
            now: i64,
            f: impl FnOnce(&mut Expect<'_>),
        ) -> Result<Claims, Refusal> {
            let mut e = Expect {
                issuers: &self.issuers,
                audience: "g",
                nonce: None,
                access_token: None,
                algorithms: &ASYMMETRIC,
                kind: Kind::IdToken,
            };
            f(&mut e);
            verify(&self.keys, token, &e, now)
        }
    }

    fn says(r: Result<Claims, Refusal>, what: &str) {
        match r {
            Err(e) => assert!(e.to_string().contains(what), "{e}: wanted {what}"),
            Ok(c) => panic!("accepted {c:?}; wanted {what}"),
        }
    }

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn exp_iat_and_nbf_take_the_leeway_and_no_more() {
        let f = fixture(Algorithm::ES256);
        let mut c = f.claims(NOW);
        f.check(&c, NOW, |_| ()).unwrap();
        c["exp"] = json!(NOW - 30);
        f.check(&c, NOW, |_| ()).unwrap();
        c["exp"] = json!(NOW - 61);
        says(f.check(&c, NOW, |_| ()), "expired");
        let mut c = f.claims(NOW);
        c["iat"] = json!(NOW + 50);
        f.check(&c, NOW, |_| ()).unwrap();
        c["iat"] = json!(NOW + 120);
        says(f.check(&c, NOW, |_| ()), "issued in the future");
        let mut c = f.claims(NOW);
        c["nbf"] = json!(NOW + 50);
        f.check(&c, NOW, |_| ()).unwrap();
        c["nbf"] = json!(NOW + 120);
        says(f.check(&c, NOW, |_| ()), "not valid yet");
        c["nbf"] = json!("soon");
        says(f.check(&c, NOW, |_| ()), "nbf");
        let mut c = f.claims(NOW);
        c.as_object_mut().unwrap().remove("iat");
        assert!(f.check(&c, NOW, |_| ()).is_err(), "iat is required");
    }

    #[test]
    fn several_audiences_need_an_azp_naming_this_client() {
        let f = fixture(Algorithm::ES256);
        let mut c = f.claims(NOW);
        c["aud"] = json!(["g", "other"]);
        says(f.check(&c, NOW, |_| ()), "several audiences and no azp");
        c["azp"] = json!("other");
        says(f.check(&c, NOW, |_| ()), "another party");
        c["azp"] = json!("g");
        f.check(&c, NOW, |_| ()).unwrap();
        let mut one = f.claims(NOW);
        one["azp"] = json!("other");
        says(f.check(&one, NOW, |_| ()), "another party");
    }

    #[test]
    fn the_issuer_matches_exactly_or_its_alias() {
        let f = fixture(Algorithm::ES256);
        let mut c = f.claims(NOW);
        c["iss"] = json!("https://alias.example.com");
        f.check(&c, NOW, |_| ()).unwrap();
        for other in [
            "https://id.example.com/",
            "https://ID.example.com",
            "https://evil",
        ] {
            c["iss"] = json!(other);
            says(f.check(&c, NOW, |_| ()), "another issuer");
        }
    }

    #[test]
    fn only_the_advertised_asymmetric_algorithms_sign() {
        assert_eq!(
            algorithms(&[
                "RS256".into(),
                "HS256".into(),
                "none".into(),
                "ES256".into()
            ]),
            [
                CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
                CoreJwsSigningAlgorithm::EcdsaP256Sha256
            ]
        );
        assert_eq!(
            algorithms(&[]),
            [CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256]
        );
        assert!(algorithms(&["HS256".into(), "none".into()]).is_empty());
        let f = fixture(Algorithm::ES256);
        let c = f.claims(NOW);
        says(
            f.check(&c, NOW, |e| {
                e.algorithms = &[CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256]
            }),
            "ES256, which is not accepted",
        );
        let b64 = |v: serde_json::Value| crate::secret::b64(v.to_string().as_bytes());
        let none = format!("{}.{}.", b64(json!({"alg": "none"})), b64(c.clone()));
        says(f.check_token(&none, NOW, |_| ()), "not a usable JWT");
        let input = format!("{}.{}", b64(json!({"alg": "HS256", "typ": "JWT"})), b64(c));
        let hs = format!(
            "{input}.{}",
            crate::secret::hmac_b64(b"k", input.as_bytes())
        );
        says(
            f.check_token(&hs, NOW, |_| ()),
            "HS256, which is not accepted",
        );
    }

    #[test]
    fn the_key_is_chosen_by_kid_and_an_unknown_one_asks_for_a_refetch() {
        let f = fixture(Algorithm::ES256);
        let (other, _) = SigningKey::generate(Algorithm::ES256).unwrap();
        let t = other.sign(&f.claims(NOW), "JWT").unwrap();
        assert_eq!(f.check_token(&t, NOW, |_| ()), Err(Refusal::NoKey));
        // Another key with the same kid as a published one does not verify.
        let mut jwk = f.key.jwk().clone();
        jwk["x"] = other.jwk()["x"].clone();
        jwk["y"] = other.jwk()["y"].clone();
        let forged_set: KeySet = serde_json::from_value(json!({"keys": [jwk]})).unwrap();
        let good = f.key.sign(&f.claims(NOW), "JWT").unwrap();
        let e = Expect {
            issuers: &f.issuers,
            audience: "g",
            nonce: None,
            access_token: None,
            algorithms: &ASYMMETRIC,
            kind: Kind::IdToken,
        };
        assert!(
            verify(&forged_set, &good, &e, NOW)
                .unwrap_err()
                .to_string()
                .contains("signature does not verify")
        );
    }

    #[test]
    fn at_hash_must_match_the_access_token_when_there_is_one() {
        let f = fixture(Algorithm::RS256);
        let at = "the-access-token";
        let hash = crate::secret::b64(&crate::secret::sha256(at.as_bytes())[..16]);
        let mut c = f.claims(NOW);
        c["at_hash"] = json!(hash);
        f.check(&c, NOW, |e| e.access_token = Some(at)).unwrap();
        says(
            f.check(&c, NOW, |e| e.access_token = Some("another-token")),
            "at_hash does not match",
        );
        // Without an access token (token exchange), there is nothing to compare with.
        f.check(&c, NOW, |_| ()).unwrap();
    }

    #[test]
    fn a_jwt_access_token_may_say_at_jwt_and_an_id_token_may_not() {
        let f = fixture(Algorithm::ES256);
        let c = f.claims(NOW);
        let t = f.key.sign(&c, "at+jwt").unwrap();
        f.check_token(&t, NOW, |e| e.kind = Kind::AccessToken)
            .unwrap();
        says(f.check_token(&t, NOW, |_| ()), "not valid");
    }

    #[test]
    fn only_one_spelling_of_a_signed_token_verifies() {
        // An RS256 signature is 256 bytes: its last base64url character carries 4 unused bits.
        let f = fixture(Algorithm::RS256);
        let t = f.key.sign(&f.claims(NOW), "JWT").unwrap();
        f.check_token(&t, NOW, |_| ()).unwrap();
        let mut other = t.clone();
        let last = other.pop().unwrap();
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let i = alphabet.find(last).unwrap();
        other.push(alphabet.as_bytes()[i ^ 1] as char);
        says(
            f.check_token(&other, NOW, |_| ()),
            "not canonical base64url",
        );
        let mut huge = f.claims(NOW);
        huge["pad"] = json!("x".repeat(MAX_TOKEN));
        says(f.check(&huge, NOW, |_| ()), "too large");
    }

    #[test]
    fn the_nonce_must_be_the_logins() {
        let f = fixture(Algorithm::ES256);
        let mut c = f.claims(NOW);
        says(
            f.check(&c, NOW, |e| e.nonce = Some("n1")),
            "nonce does not match",
        );
        c["nonce"] = json!("");
        says(
            f.check(&c, NOW, |e| e.nonce = Some("n1")),
            "nonce does not match",
        );
        c["nonce"] = json!("n1");
        f.check(&c, NOW, |e| e.nonce = Some("n1")).unwrap();
        says(
            f.check(&c, NOW, |e| e.nonce = Some("n2")),
            "nonce does not match",
        );
    }
}
