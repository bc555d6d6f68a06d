//! RFC 8693 token exchange with an `oidc` connector: the identity an upstream ID token or
//! access token proves. ID tokens and JWT access tokens go through the one verifier; an opaque
//! access token counts only when the provider's introspection says it was issued to this
//! connector's `clientID`.

use super::OidcConnector;
use super::discovery::Provider;
use super::mapping;
use crate::connector::ConnectorError;
use crate::connector::claims::Claims;
use crate::identity::Identity;
use crate::keys::remote::{Kind, unix_now};

impl OidcConnector {
    /// RFC 8693: the identity an upstream ID token (or access token) proves.
    pub async fn token_identity(
        &self,
        token: &str,
        token_type: &str,
    ) -> Result<Identity, ConnectorError> {
        let p = self.provider().await?;
        let c = match token_type {
            "urn:ietf:params:oauth:token-type:id_token" => {
                self.verify(&p, token, None, None, Kind::IdToken).await?
            }
            "urn:ietf:params:oauth:token-type:access_token" => {
                self.access_token_claims(&p, token).await?
            }
            _ => {
                return Err(ConnectorError::Rejected(
                    "subject_token_type must be id_token or access_token".into(),
                ));
            }
        };
        mapping::identity(&self.cfg, &self.id, &c)
    }

    /// The claims behind an upstream access token, once the provider has proved the token was
    /// issued to this connector's `clientID`: a JWT access token whose signature, issuer and
    /// `aud` verify, or an opaque one that the provider's introspection says is active and
    /// ours. Userinfo alone proves only that the token is valid somewhere: any other
    /// application of the same provider could then trade its users' tokens for Gantry's.
    async fn access_token_claims(
        &self,
        p: &Provider,
        token: &str,
    ) -> Result<Claims, ConnectorError> {
        let proven: Claims = if token.split('.').count() == 3 {
            let c = self.verify(p, token, None, None, Kind::AccessToken).await?;
            held_by(&c, &self.cfg.client_id)
                .map_err(|e| ConnectorError::Rejected(e.to_string()))?;
            c
        } else if let Some(url) = p.introspection_endpoint.as_deref() {
            let answer = p.endpoint.introspect(&self.http, url, token).await?;
            let Some(o) = answer.as_object() else {
                return Err(ConnectorError::Rejected(
                    "the introspection answer is not a JSON object".into(),
                ));
            };
            introspected_for(o, &self.cfg.client_id, &self.cfg.issuers(), unix_now())
                .map_err(|e| ConnectorError::Rejected(e.to_string()))?;
            o.clone()
        } else {
            return Err(ConnectorError::Rejected(
                "the provider cannot prove the access token was issued to this connector: it is \
                 no JWT and the provider offers no introspection endpoint"
                    .into(),
            ));
        };
        let Some(url) = p.userinfo_endpoint.as_deref() else {
            return Ok(proven);
        };
        let mut c = proven;
        self.merge_userinfo_from(url, token, &mut c).await?;
        Ok(c)
    }
}

/// Why an upstream access token proves nothing to this connector.
#[derive(Debug, thiserror::Error)]
enum NotOurs {
    #[error("the access token was issued to another client")]
    OtherClient,
    #[error("the provider says the access token is not active")]
    NotActive,
    #[error("the access token has expired")]
    Expired,
    #[error("the introspection answer's exp is not a number")]
    ExpNotNumber,
    #[error("the access token was issued by another issuer")]
    OtherIssuer,
    #[error("the introspection answer names no subject")]
    NoSubject,
}

/// An access token's `client_id` (RFC 9068, RFC 7662) names the application that holds it; its
/// `aud` may name several resource servers at once. When the token names its holder, that must
/// be this connector's client: another application's token proves nothing to Gantry.
fn held_by(o: &Claims, client_id: &str) -> Result<(), NotOurs> {
    match o.get("client_id") {
        None => Ok(()),
        Some(c) if c.as_str() == Some(client_id) => Ok(()),
        Some(_) => Err(NotOurs::OtherClient),
    }
}

/// Whether an RFC 7662 answer says the token is active and was issued to `client_id` (its
/// `client_id`, or its `aud`), by one of `issuers` when it names one, and is not past its
/// `exp` at `now` (a provider that answers from a cache may still call it active).
fn introspected_for(
    o: &serde_json::Map<String, serde_json::Value>,
    client_id: &str,
    issuers: &[String],
    now: i64,
) -> Result<(), NotOurs> {
    if o.get("active") != Some(&serde_json::Value::Bool(true)) {
        return Err(NotOurs::NotActive);
    }
    if let Some(exp) = o.get("exp") {
        match exp.as_i64() {
            Some(exp) if exp > now => {}
            Some(_) => return Err(NotOurs::Expired),
            None => return Err(NotOurs::ExpNotNumber),
        }
    }
    held_by(o, client_id)?;
    let aud_has = match o.get("aud") {
        Some(serde_json::Value::String(a)) => a == client_id,
        Some(serde_json::Value::Array(v)) => v.iter().any(|a| a.as_str() == Some(client_id)),
        _ => false,
    };
    if o.get("client_id").and_then(|c| c.as_str()) != Some(client_id) && !aud_has {
        return Err(NotOurs::OtherClient);
    }
    if let Some(iss) = o.get("iss")
        && !issuers.iter().any(|i| Some(i.as_str()) == iss.as_str())
    {
        return Err(NotOurs::OtherIssuer);
    }
    if o.get("sub")
        .and_then(|s| s.as_str())
        .is_none_or(str::is_empty)
    {
        return Err(NotOurs::NoSubject);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn introspection_must_name_this_client_and_issuer() {
        let iss = vec!["https://id.example.com".to_string()];
        let now = 1_800_000_000;
        let ok = |v: serde_json::Value| introspected_for(v.as_object().unwrap(), "g", &iss, now);
        assert!(ok(json!({"active": true, "client_id": "g", "sub": "u"})).is_ok());
        assert!(ok(json!({"active": true, "aud": ["x", "g"], "sub": "u"})).is_ok());
        assert!(
            ok(json!({"active": true, "client_id": "wiki", "sub": "u"}))
                .unwrap_err()
                .to_string()
                .contains("another client")
        );
        assert!(ok(json!({"active": true, "sub": "u"})).is_err());
        // Naming us among the audiences does not make another application's token ours.
        let theirs = json!({"active": true, "client_id": "wiki", "aud": ["g", "wiki"], "sub": "u"});
        assert!(
            ok(theirs)
                .unwrap_err()
                .to_string()
                .contains("another client")
        );
        assert!(ok(json!({"active": false, "client_id": "g", "sub": "u"})).is_err());
        assert!(ok(json!({"active": "true", "client_id": "g", "sub": "u"})).is_err());
        assert!(ok(json!({"active": true, "client_id": "g"})).is_err());
        assert!(ok(json!({"active": true, "client_id": "g", "sub": "u", "exp": now + 60})).is_ok());
        assert!(
            ok(json!({"active": true, "client_id": "g", "sub": "u", "exp": now - 1}))
                .unwrap_err()
                .to_string()
                .contains("expired")
        );
        assert!(ok(json!({"active": true, "client_id": "g", "sub": "u", "exp": "soon"})).is_err());
        assert!(
            ok(json!({"active": true, "client_id": "g", "sub": "u", "iss": "https://evil"}))
                .is_err()
        );
    }

    #[test]
    fn a_jwt_access_token_held_by_another_client_proves_nothing() {
        let claims = |v: serde_json::Value| v.as_object().cloned().unwrap();
        assert!(held_by(&claims(json!({"aud": "g", "client_id": "g"})), "g").is_ok());
        assert!(held_by(&claims(json!({"aud": "g"})), "g").is_ok());
        let theirs = claims(json!({"aud": "g", "client_id": "other"}));
        assert!(
            held_by(&theirs, "g")
                .unwrap_err()
                .to_string()
                .contains("another client")
        );
        assert!(held_by(&claims(json!({"aud": "g", "client_id": 7})), "g").is_err());
    }
}
