//! Verifying an upstream provider's ID tokens: its JWKS (cached, refetched once when a token
//! names a key it does not hold), an allow-list of asymmetric algorithms, and the claims OIDC
//! Core 3.1.3.7 requires a relying party to check.

use std::time::{Duration, Instant};

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use tokio::sync::RwLock;

use crate::connector::claims::Claims;
use crate::connector::upstream::{Http, UpstreamError, get_json};
use crate::secret;

/// Never accepted, whatever the provider advertises: `none` is not in jsonwebtoken's set at
/// all, and an HMAC "signature" keyed with a public key proves nothing.
const ASYMMETRIC: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// A token naming an unknown key refetches the JWKS at most this often, so forged `kid`s cannot
/// turn Gantry into a load generator against the provider.
const REFETCH_EVERY: Duration = Duration::from_secs(5);

/// Clock skew tolerated on `exp`, `nbf` and `iat`.
const LEEWAY: u64 = 60;

pub fn algorithms(advertised: &[String]) -> Vec<Algorithm> {
    let named: Vec<Algorithm> = advertised
        .iter()
        .filter_map(|a| a.parse::<Algorithm>().ok())
        .filter(|a| ASYMMETRIC.contains(a))
        .collect();
    if advertised.is_empty() {
        // OIDC Discovery: RS256 is the default when nothing is listed.
        vec![Algorithm::RS256]
    } else {
        named
    }
}

#[derive(Debug)]
struct Cached {
    keys: Vec<Jwk>,
    fetched: Option<Instant>,
}

/// One provider's signing keys.
#[derive(Debug)]
pub struct Jwks {
    uri: String,
    cache: RwLock<Cached>,
}

/// What an ID token must say.
pub struct Expect<'a> {
    pub issuers: &'a [String],
    pub client_id: &'a str,
    /// `Some` on a login: the nonce sent with it. Refreshes and token exchange carry none.
    pub nonce: Option<&'a str>,
    pub algorithms: &'a [Algorithm],
}

fn rejected(m: impl Into<String>) -> UpstreamError {
    UpstreamError::Rejected(m.into())
}

impl Jwks {
    pub fn new(uri: String) -> Jwks {
        Jwks {
            uri,
            cache: RwLock::new(Cached {
                keys: Vec::new(),
                fetched: None,
            }),
        }
    }

    async fn fetch(&self, http: &Http) -> Result<(), UpstreamError> {
        let doc = get_json(http, &self.uri, None).await?;
        // One key of a type Gantry cannot read (an encryption key, a new curve) must not hide
        // the others.
        let keys: Vec<Jwk> = doc
            .get("keys")
            .and_then(|k| k.as_array())
            .ok_or_else(|| rejected(format!("{}: not a JWKS", self.uri)))?
            .iter()
            .filter_map(|k| serde_json::from_value(k.clone()).ok())
            .collect();
        let mut c = self.cache.write().await;
        c.keys = keys;
        c.fetched = Some(Instant::now());
        Ok(())
    }

    /// Fetch the JWKS now; how many keys Gantry can use.
    pub async fn refetch(&self, http: &Http) -> Result<usize, UpstreamError> {
        self.fetch(http).await?;
        Ok(self.cache.read().await.keys.len())
    }

    fn pick(keys: &[Jwk], kid: Option<&str>, alg: Algorithm) -> Option<Jwk> {
        let fits = |k: &&Jwk| {
            let use_ok = !matches!(
                k.common.public_key_use,
                Some(jsonwebtoken::jwk::PublicKeyUse::Encryption)
            );
            let alg_ok = k
                .common
                .key_algorithm
                .is_none_or(|ka| serde_json::to_value(ka).ok() == serde_json::to_value(alg).ok());
            use_ok && alg_ok
        };
        match kid {
            Some(kid) => keys
                .iter()
                .filter(fits)
                .find(|k| k.common.key_id.as_deref() == Some(kid))
                .cloned(),
            // Without a `kid`, only an unambiguous set will do.
            None => {
                let usable: Vec<&Jwk> = keys.iter().filter(fits).collect();
                (usable.len() == 1).then(|| usable[0].clone())
            }
        }
    }

    async fn key(
        &self,
        http: &Http,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<DecodingKey, UpstreamError> {
        let (found, stale) = {
            let c = self.cache.read().await;
            let stale = c.fetched.is_none_or(|t| t.elapsed() >= REFETCH_EVERY);
            (Self::pick(&c.keys, kid, alg), stale)
        };
        let jwk = match found {
            Some(k) => k,
            None if stale => {
                self.fetch(http).await?;
                let c = self.cache.read().await;
                Self::pick(&c.keys, kid, alg).ok_or_else(|| {
                    rejected("the ID token is signed with a key the provider does not publish")
                })?
            }
            None => {
                return Err(rejected(
                    "the ID token is signed with a key the provider does not publish",
                ));
            }
        };
        DecodingKey::from_jwk(&jwk).map_err(|e| rejected(format!("provider key unusable: {e}")))
    }

    /// The claims of a token that passes every check.
    pub async fn verify(
        &self,
        http: &Http,
        token: &str,
        expect: &Expect<'_>,
    ) -> Result<Claims, UpstreamError> {
        if token.len() > 16 * 1024 {
            return Err(rejected("the ID token is too large"));
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| rejected(format!("the ID token is not a usable JWT: {e}")))?;
        if !expect.algorithms.contains(&header.alg) {
            return Err(rejected(format!(
                "the ID token is signed with {:?}, which is not accepted",
                header.alg
            )));
        }
        let key = self.key(http, header.kid.as_deref(), header.alg).await?;
        let mut v = Validation::new(header.alg);
        v.set_issuer(expect.issuers);
        v.set_audience(&[expect.client_id]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        v.leeway = LEEWAY;
        v.validate_nbf = true;
        let claims: Claims = jsonwebtoken::decode(token, &key, &v)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind as K;
                rejected(match e.kind() {
                    K::InvalidSignature => "the ID token's signature does not verify".to_string(),
                    K::ExpiredSignature => "the ID token has expired".to_string(),
                    K::InvalidIssuer => "the ID token is from another issuer".to_string(),
                    K::InvalidAudience => "the ID token is for another audience".to_string(),
                    K::ImmatureSignature => "the ID token is not valid yet".to_string(),
                    _ => format!("the ID token is not valid: {e}"),
                })
            })?
            .claims;
        check_azp(&claims, expect.client_id)?;
        check_iat(&claims)?;
        if let Some(want) = expect.nonce {
            let got = claims.get("nonce").and_then(|n| n.as_str()).unwrap_or("");
            if got.is_empty() || !secret::ct_eq(got, want) {
                return Err(rejected("the ID token's nonce does not match this login"));
            }
        }
        Ok(claims)
    }
}

/// OIDC Core 3.1.3.7 (4, 5): with several audiences, `azp` must name this client.
fn check_azp(c: &Claims, client_id: &str) -> Result<(), UpstreamError> {
    let many = c
        .get("aud")
        .and_then(|a| a.as_array())
        .is_some_and(|a| a.len() > 1);
    match c.get("azp").and_then(|a| a.as_str()) {
        Some(azp) if azp != client_id => {
            Err(rejected("the ID token was issued to another party (azp)"))
        }
        None if many => Err(rejected("the ID token has several audiences and no azp")),
        _ => Ok(()),
    }
}

fn check_iat(c: &Claims) -> Result<(), UpstreamError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    match c.get("iat").and_then(|i| i.as_i64()) {
        None => Err(rejected("the ID token has no iat")),
        Some(iat) if iat > now + LEEWAY as i64 => {
            Err(rejected("the ID token was issued in the future"))
        }
        Some(_) => Ok(()),
    }
}
