//! An upstream provider's signing keys, fetched through the connector's own client and cached;
//! a token naming a key the cache does not hold refetches them, at most every
//! [`REFETCH_EVERY`]. The checks themselves are the one verifier's (`keys::remote`).

use std::time::{Duration, Instant};

use tokio::sync::RwLock;

use crate::connector::claims::Claims;
use crate::connector::upstream::{Http, UpstreamError, get_json};
use crate::keys::remote::{self, Expect, KeySet, Refusal};

/// A token naming an unknown key refetches the JWKS at most this often, so forged `kid`s cannot
/// turn Gantry into a load generator against the provider.
pub const REFETCH_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct Cached {
    keys: KeySet,
    fetched: Option<Instant>,
}

/// One provider's signing keys.
#[derive(Debug)]
pub struct Jwks {
    uri: String,
    cache: RwLock<Cached>,
}

fn rejected(m: impl Into<String>) -> UpstreamError {
    UpstreamError::Rejected(m.into())
}

impl Jwks {
    pub fn new(uri: String) -> Jwks {
        Jwks {
            uri,
            cache: RwLock::new(Cached {
                keys: KeySet::default(),
                fetched: None,
            }),
        }
    }

    async fn fetch(&self, http: &Http) -> Result<(), UpstreamError> {
        let doc = get_json(http, &self.uri, None).await?;
        if !doc.get("keys").is_some_and(|k| k.is_array()) {
            return Err(rejected(format!("{}: not a JWKS", self.uri)));
        }
        // The crate's set skips a key it cannot read (an encryption key, a new curve), so
        // that one such key does not hide the others.
        let keys: KeySet = serde_json::from_value(doc)
            .map_err(|e| rejected(format!("{}: not a JWKS: {e}", self.uri)))?;
        let mut c = self.cache.write().await;
        c.keys = keys;
        c.fetched = Some(Instant::now());
        Ok(())
    }

    /// Fetch the JWKS now; how many keys Gantry can use.
    pub async fn refetch(&self, http: &Http) -> Result<usize, UpstreamError> {
        self.fetch(http).await?;
        Ok(self.cache.read().await.keys.keys().len())
    }

    /// The claims of a token that passes every check.
    pub async fn verify(
        &self,
        http: &Http,
        token: &str,
        expect: &Expect<'_>,
    ) -> Result<Claims, UpstreamError> {
        let (keys, stale) = {
            let c = self.cache.read().await;
            let stale = c.fetched.is_none_or(|t| t.elapsed() >= REFETCH_EVERY);
            (c.keys.clone(), stale)
        };
        let now = remote::unix_now();
        match remote::verify(&keys, token, expect, now) {
            Err(Refusal::NoKey) if stale => {
                self.fetch(http).await?;
                let keys = self.cache.read().await.keys.clone();
                remote::verify(&keys, token, expect, now).map_err(|r| rejected(r.to_string()))
            }
            r => r.map_err(|r| rejected(r.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::egress::DenyList;
    use crate::keys::remote::{ASYMMETRIC, Kind};
    use crate::keys::{Algorithm, SigningKey};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A JWKS endpoint that counts its fetches.
    async fn serve(jwks: serde_json::Value) -> (String, Arc<AtomicUsize>) {
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/keys", listener.local_addr().unwrap());
        let app = axum::Router::new().route(
            "/keys",
            axum::routing::get(move || {
                h.fetch_add(1, Ordering::SeqCst);
                let j = jwks.clone();
                async move { axum::Json(j) }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, hits)
    }

    #[tokio::test]
    async fn forged_kids_refetch_the_keys_at_most_every_few_seconds() {
        let (key, _) = SigningKey::generate(Algorithm::ES256).unwrap();
        let (other, _) = SigningKey::generate(Algorithm::ES256).unwrap();
        let (url, hits) = serve(serde_json::json!({"keys": [key.jwk()]})).await;
        let http =
            crate::connector::upstream::client(&[], Duration::from_secs(5), &DenyList::default())
                .unwrap();
        let jwks = Jwks::new(url);
        let now = remote::unix_now();
        let c = serde_json::json!({"iss": "https://id", "aud": "g", "sub": "s", "iat": now,
                                   "exp": now + 300});
        let issuers = ["https://id".to_string()];
        let e = Expect {
            issuers: &issuers,
            audience: "g",
            nonce: None,
            access_token: None,
            algorithms: &ASYMMETRIC,
            kind: Kind::IdToken,
        };
        jwks.verify(&http, &key.sign(&c, "JWT").unwrap(), &e)
            .await
            .unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 1, "the first token fetches");
        let forged = other.sign(&c, "JWT").unwrap();
        for _ in 0..5 {
            let r = jwks.verify(&http, &forged, &e).await.unwrap_err();
            assert!(r.to_string().contains("does not publish"), "{r}");
        }
        assert_eq!(
            hits.load(Ordering::SeqCst),
            1,
            "unknown keys within {REFETCH_EVERY:?} of a fetch refetch nothing"
        );
        jwks.verify(&http, &key.sign(&c, "JWT").unwrap(), &e)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_document_without_keys_is_not_a_jwks() {
        let (url, _) = serve(serde_json::json!({"issuer": "x"})).await;
        let http =
            crate::connector::upstream::client(&[], Duration::from_secs(5), &DenyList::default())
                .unwrap();
        let e = Jwks::new(url).refetch(&http).await.unwrap_err();
        assert!(e.to_string().contains("not a JWKS"), "{e}");
    }
}
