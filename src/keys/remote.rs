//! Verifying an ID token from an issuer's published JWKS: what Gantry's own clients (the
//! example app, the kubectl plugin) do with the tokens they receive.

/// Verify signature, `iss`, `aud` and (when given) `nonce`; the claims.
pub async fn verify_id_token(
    http: &reqwest::Client,
    jwks_uri: &str,
    token: &str,
    issuer: &str,
    audience: &str,
    nonce: Option<&str>,
) -> Result<serde_json::Value, String> {
    let jwks: jsonwebtoken::jwk::JwkSet = http
        .get(jwks_uri)
        .send()
        .await
        .map_err(|e| format!("{jwks_uri}: {e}"))?
        .json()
        .await
        .map_err(|e| format!("{jwks_uri}: {e}"))?;
    let header = jsonwebtoken::decode_header(token).map_err(|e| format!("ID token: {e}"))?;
    let jwk = header
        .kid
        .as_deref()
        .and_then(|k| jwks.find(k))
        .ok_or("ID token signed by a key not in the JWKS")?;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_issuer(&[issuer]);
    v.set_audience(&[audience]);
    let claims: serde_json::Value = jsonwebtoken::decode(token, &key, &v)
        .map_err(|e| format!("ID token rejected: {e}"))?
        .claims;
    if let Some(n) = nonce
        && claims["nonce"].as_str() != Some(n)
    {
        return Err("ID token nonce does not match this login".into());
    }
    Ok(claims)
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
        let token = |k: &SigningKey, iss: &str, aud: &str, nonce: &str| {
            k.sign(&serde_json::json!({"iss": iss, "aud": aud, "sub": "s", "exp": exp, "nonce": nonce}), "JWT").unwrap()
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
            .unwrap_err();
        assert!(e.contains("nonce"), "{e}");
        let e = check(token(&other, "https://id", "kubectl", "n1"), Some("n1"))
            .await
            .unwrap_err();
        assert!(e.contains("not in the JWKS"), "{e}");
    }
}
