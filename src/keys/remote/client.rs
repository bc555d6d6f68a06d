//! The verifier as Gantry's own clients (the example app, the kubectl plugin) use it: the
//! issuer's JWKS fetched over HTTP, then `verify`.

use super::{ASYMMETRIC, Expect, KeySet, Kind, Refusal, unix_now, verify};

/// Why an ID token was not accepted; the texts are what the command line shows.
#[derive(Debug, thiserror::Error)]
pub enum IdTokenError {
    #[error("{uri}: {source}")]
    Jwks { uri: String, source: reqwest::Error },
    #[error("ID token signed by a key not in the JWKS")]
    NoKey,
    #[error("ID token rejected: {0}")]
    Rejected(String),
}

/// What Gantry's own clients (the example app, the kubectl plugin) do with an ID token from
/// their issuer: fetch its JWKS and verify signature, `iss`, `aud` and (when given) `nonce`;
/// the claims.
pub async fn verify_id_token(
    http: &reqwest::Client,
    jwks_uri: &str,
    token: &str,
    issuer: &str,
    audience: &str,
    nonce: Option<&str>,
) -> Result<serde_json::Value, IdTokenError> {
    let jwks = |source| IdTokenError::Jwks {
        uri: jwks_uri.to_string(),
        source,
    };
    let keys: KeySet = http
        .get(jwks_uri)
        .send()
        .await
        .map_err(jwks)?
        .json()
        .await
        .map_err(jwks)?;
    let issuers = [issuer.to_string()];
    let expect = Expect {
        issuers: &issuers,
        audience,
        nonce,
        access_token: None,
        algorithms: &ASYMMETRIC,
        kind: Kind::IdToken,
    };
    match verify(&keys, token, &expect, unix_now()) {
        Ok(c) => Ok(serde_json::Value::Object(c)),
        Err(Refusal::NoKey) => Err(IdTokenError::NoKey),
        Err(Refusal::Invalid(m)) => Err(IdTokenError::Rejected(m)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{Algorithm, SigningKey};

    async fn serve_jwks(jwks: String) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/keys", listener.local_addr().unwrap());
        let app =
            axum::Router::new().route("/keys", axum::routing::get(move || async move { jwks }));
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    #[tokio::test]
    async fn wrong_issuer_audience_nonce_or_key_are_refused() {
        let (key, _) = SigningKey::generate(Algorithm::ES256).unwrap();
        let (other, _) = SigningKey::generate(Algorithm::ES256).unwrap();
        let jwks = serde_json::json!({ "keys": [key.jwk()] }).to_string();
        let url = serve_jwks(jwks).await;
        let http = reqwest::Client::new();
        let exp = 4_000_000_000i64;
        let iat = unix_now();
        let token = |k: &SigningKey, iss: &str, aud: &str, nonce: &str| {
            k.sign(&serde_json::json!({"iss": iss, "aud": aud, "sub": "s", "exp": exp, "iat": iat, "nonce": nonce}), "JWT").unwrap()
        };
        let check = |t: String, nonce: Option<&'static str>| {
            let (http, url) = (http.clone(), url.clone());
            async move { verify_id_token(&http, &url, &t, "https://id", "kubectl", nonce).await }
        };
        assert!(
            check(token(&key, "https://id", "kubectl", "n1"), Some("n1"))
                .await
                .is_ok()
        );
        assert!(
            check(token(&key, "https://evil", "kubectl", "n1"), Some("n1"))
                .await
                .is_err(),
            "issuer"
        );
        assert!(
            check(token(&key, "https://id", "other-app", "n1"), Some("n1"))
                .await
                .is_err(),
            "audience"
        );
        let e = check(token(&key, "https://id", "kubectl", "n2"), Some("n1"))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("nonce"), "{e}");
        let e = check(token(&other, "https://id", "kubectl", "n1"), Some("n1"))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("not in the JWKS"), "{e}");
    }
}
