//! Using issued tokens: userinfo, introspection (RFC 7662) and revocation (RFC 7009).

use std::sync::Arc;

use serde::Serialize;

use crate::oauth::Provider;
use crate::oauth::client::Client;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::tokens::{Audience, Claims};
use crate::oauth::verified::{Known, VerifiedTokens};

/// RFC 7662 response. Inactive tokens answer `{"active": false}` and nothing else.
#[derive(Debug, Default, Serialize)]
pub struct Introspection {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

impl Provider {
    pub(crate) fn validation(&self, check_exp: bool) -> jsonwebtoken::Validation {
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
        v.set_issuer(&[&self.issuer]);
        v.validate_aud = false;
        v.validate_exp = check_exp;
        v.leeway = 0;
        v.set_required_spec_claims(&["exp", "iss", "sub"]);
        v
    }

    /// A valid, unrevoked access token's claims. A token verified moments ago is not checked
    /// again: only the revocation list is asked, every
    /// [`crate::oauth::verified::RECHECK_SECS`].
    pub async fn verify_access_token(&self, token: &str) -> Result<Claims, OAuthError> {
        let now = self.clock.now();
        let key = VerifiedTokens::key(token);
        let claims = match self.verified.get(&key, now) {
            Known::Fresh(c) => return Ok((*c).clone()),
            Known::Recheck(c) => c,
            Known::Unknown => Arc::new(self.verify_access_signature(token)?),
        };
        let revoked = match claims.jti.as_deref() {
            Some(jti) => {
                self.store
                    .is_access_revoked(jti, &claims.sub, claims.iat)
                    .await?
            }
            None => true,
        };
        if revoked {
            self.verified.forget(&key);
            return Err(OAuthError::new(
                ErrorCode::InvalidToken,
                "invalid access token",
            ));
        }
        self.verified.put(key, claims.clone(), now);
        Ok(Arc::unwrap_or_clone(claims))
    }

    /// Revoke the access token `jti` (kept listed until `until`, when it expires anyway): the
    /// shared list for every replica, this replica's remembered copy at once.
    pub(crate) async fn revoke_access_token(
        &self,
        jti: &str,
        until: i64,
    ) -> Result<(), crate::storage::StorageError> {
        self.store.revoke_jti(jti, until).await?;
        self.verified.forget_jti(jti);
        Ok(())
    }

    /// Refuse every access token of `subject` issued up to now, wherever Gantry checks one
    /// (introspection, userinfo, the registry): the user's floor for every replica, this
    /// replica's remembered tokens at once.
    pub async fn refuse_access_tokens_of(
        &self,
        subject: &str,
    ) -> Result<(), crate::storage::StorageError> {
        self.store
            .raise_subject_token_floor(subject, self.clock.now())
            .await?;
        self.verified.forget_subject(subject);
        Ok(())
    }

    /// Everything of an access token that needs no database: its type, signature, issuer,
    /// expiry and `jti`.
    fn verify_access_signature(&self, token: &str) -> Result<Claims, OAuthError> {
        let invalid = || OAuthError::new(ErrorCode::InvalidToken, "invalid access token");
        // RFC 9068: only a token made as an access token is one. ID tokens and registry
        // tokens are signed with the same keys and can carry the same claims.
        let typ = jsonwebtoken::decode_header(token)
            .ok()
            .and_then(|h| h.typ)
            .map(|t| t.to_ascii_lowercase());
        if typ.as_deref() != Some("at+jwt") && typ.as_deref() != Some("application/at+jwt") {
            return Err(invalid());
        }
        let claims: Claims = self
            .keys
            .verify(token, &self.validation(true))
            .map_err(|_| invalid())?;
        // The clock may be injected: jsonwebtoken checks exp against the system clock only.
        if claims.exp <= self.clock.now() {
            return Err(invalid());
        }
        if claims.jti.is_none() {
            return Err(invalid());
        }
        Ok(claims)
    }

    /// `/userinfo`: the identity claims the access token's scopes allow.
    pub async fn userinfo(&self, token: &str) -> Result<serde_json::Value, OAuthError> {
        let c = self.verify_access_token(token).await?;
        let mut out = serde_json::json!({ "sub": c.sub });
        let pairs: [(&str, serde_json::Value); 5] = [
            ("email", c.email.map(Into::into).unwrap_or_default()),
            (
                "email_verified",
                c.email_verified.map(Into::into).unwrap_or_default(),
            ),
            ("name", c.name.map(Into::into).unwrap_or_default()),
            (
                "preferred_username",
                c.preferred_username.map(Into::into).unwrap_or_default(),
            ),
            ("groups", c.groups.map(Into::into).unwrap_or_default()),
        ];
        if let Some(o) = out.as_object_mut() {
            for (k, v) in pairs {
                if !v.is_null() {
                    o.insert(k.into(), v);
                }
            }
        }
        Ok(out)
    }

    fn access_belongs_to(c: &Claims, client: &Client) -> bool {
        c.client_id.as_deref() == Some(client.id.as_str()) || c.aud.contains(&client.id)
    }

    /// RFC 7662 for an authenticated client; tokens of other clients are reported inactive.
    pub async fn introspect(
        &self,
        client: &Client,
        token: &str,
    ) -> Result<Introspection, OAuthError> {
        if token.split('.').count() == 3 {
            return Ok(match self.verify_access_token(token).await {
                Ok(c) if Self::access_belongs_to(&c, client) => Introspection {
                    active: true,
                    scope: c.scope,
                    client_id: c.client_id,
                    username: c.preferred_username.or(c.email),
                    token_type: Some("Bearer".into()),
                    exp: Some(c.exp),
                    iat: Some(c.iat),
                    sub: Some(c.sub),
                    aud: Some(c.aud),
                    iss: Some(c.iss),
                    jti: c.jti,
                },
                _ => Introspection::default(),
            });
        }
        let now = self.clock.now();
        Ok(match self.find_refresh(token).await? {
            Some((row, _))
                if row.client_id == client.id
                    && row.revoked_at.is_none()
                    && row.rotated_at.is_none()
                    && !self.refresh_expired(&row, now) =>
            {
                Introspection {
                    active: true,
                    scope: Some(row.scopes),
                    client_id: Some(row.client_id),
                    token_type: Some("refresh_token".into()),
                    iat: Some(row.created_at),
                    sub: Some(row.subject),
                    iss: Some(self.issuer.clone()),
                    ..Default::default()
                }
            }
            _ => Introspection::default(),
        })
    }

    /// RFC 7009: revoke a refresh token's family or an access token. Unknown tokens and tokens of
    /// other clients are ignored, and the answer is the same, so revocation cannot probe tokens.
    pub async fn revoke(&self, client: &Client, token: &str) -> Result<(), OAuthError> {
        let now = self.clock.now();
        if token.split('.').count() == 3 {
            if let Ok(c) = self.verify_access_token(token).await
                && c.client_id.as_deref() == Some(client.id.as_str())
                && let Some(jti) = &c.jti
            {
                self.revoke_access_token(jti, c.exp).await?;
            }
            return Ok(());
        }
        if let Some((row, _)) = self.find_refresh(token).await?
            && row.client_id == client.id
        {
            self.store
                .revoke_refresh_family(&row.family_id, now)
                .await?;
            self.audit(
                &format!("client:{}", client.id),
                "refresh.revoke",
                &client.id,
                "revoked",
                serde_json::json!({"family": row.family_id, "reason": "revoked by its client"}),
            )
            .await;
        }
        Ok(())
    }
}
