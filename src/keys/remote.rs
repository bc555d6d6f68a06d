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
