//! Refresh tokens: a family per login, rotation on every use, reuse detection.
//!
//! A token is `<id>.<secret>`; only SHA-256 of the secret is stored. The successor's secret is
//! HMAC(old secret, successor id), so a client that repeats a rotated token inside
//! `reuseInterval` (parallel kubectl calls) gets the same successor back without the database
//! ever holding a usable token. Reuse after that interval revokes the whole family.

use crate::connector::ConnectorError;
use crate::identity::Identity;
use crate::oauth::Provider;
use crate::oauth::client::Client;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::scope::Scopes;
use crate::oauth::tokens::{Grant, Login, TokenResponse};
use crate::secret;
use crate::storage::refresh::RefreshToken;
use crate::storage::{self, StorageError};

/// Split a presented token into id and secret.
pub fn parse_token(t: &str) -> Option<(&str, &str)> {
    let (id, s) = t.split_once('.')?;
    (!id.is_empty() && !s.is_empty() && id.len() <= 64 && s.len() <= 128).then_some((id, s))
}

fn successor_secret(old_secret: &str, successor_id: &str) -> String {
    secret::hmac_b64(old_secret.as_bytes(), successor_id.as_bytes())
}

impl Provider {
    /// Start a refresh family for a fresh login; returns (token, family id).
    pub async fn new_refresh_family(
        &self,
        client_id: &str,
        identity: &Identity,
        scopes: &Scopes,
        login: Login<'_>,
    ) -> Result<(String, String), OAuthError> {
        let (token, row) = self.refresh_family_row(client_id, identity, scopes, login)?;
        self.store.create_refresh_token(&row).await?;
        Ok((token, row.family_id))
    }

    /// The first token of a new family and its row, not yet stored.
    pub(crate) fn refresh_family_row(
        &self,
        client_id: &str,
        identity: &Identity,
        scopes: &Scopes,
        login: Login<'_>,
    ) -> Result<(String, RefreshToken), OAuthError> {
        let now = self.clock.now();
        let (id, sec) = (secret::random_token(16), secret::random_token(32));
        let row = RefreshToken {
            id: id.clone(),
            family_id: secret::random_token(16),
            secret_hash: secret::hash_secret(&sec),
            client_id: client_id.to_string(),
            subject: identity.subject(),
            scopes: scopes.joined(),
            nonce: login.nonce.to_string(),
            identity: storage::to_json(identity)?,
            auth_time: login.auth_time,
            created_at: now,
            last_used_at: now,
            family_created_at: now,
            rotated_at: None,
            successor_id: None,
            revoked_at: None,
            session_id: login.sid.map(str::to_string),
            amr: login.amr.to_string(),
        };
        Ok((format!("{id}.{sec}"), row))
    }

    /// Look up a presented refresh token; `None` unless its secret matches.
    pub async fn find_refresh(
        &self,
        token: &str,
    ) -> Result<Option<(RefreshToken, String)>, OAuthError> {
        let Some((id, sec)) = parse_token(token) else {
            return Ok(None);
        };
        match self.store.get_refresh_token(id).await {
            Ok(row) if secret::ct_eq(&row.secret_hash, &secret::hash_secret(sec)) => {
                Ok(Some((row, sec.to_string())))
            }
            Ok(_) | Err(StorageError::NotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) fn refresh_expired(&self, row: &RefreshToken, now: i64) -> bool {
        let e = &self.expiry;
        (e.absolute_lifetime > 0 && now >= row.family_created_at + e.absolute_lifetime)
            || (e.valid_if_not_used_for > 0 && now >= row.last_used_at + e.valid_if_not_used_for)
    }

    pub(crate) async fn refresh_grant(
        &self,
        client: &Client,
        presented: &str,
        scope: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        let invalid = || OAuthError::invalid_grant("invalid refresh token");
        let Some((row, sec)) = self.find_refresh(presented).await? else {
            return Err(invalid());
        };
        if row.client_id != client.id {
            return Err(OAuthError::invalid_grant(
                "refresh token was issued to another client",
            ));
        }
        let now = self.clock.now();
        if row.revoked_at.is_some() || self.refresh_expired(&row, now) {
            return Err(invalid());
        }
        if !self
            .refresh_session_alive(client, row.session_id.as_deref())
            .await?
        {
            self.store
                .revoke_refresh_family(&row.family_id, now)
                .await?;
            return Err(OAuthError::invalid_grant(
                "the session this refresh token belongs to has ended",
            ));
        }
        let granted = Scopes::stored(&row.scopes);
        let scopes = match scope.filter(|s| !s.is_empty()) {
            Some(s) => {
                let asked = Scopes::parse(s, client, &self.clients)?;
                if !asked.subset_of(&granted) {
                    return Err(OAuthError::new(
                        ErrorCode::InvalidScope,
                        "scope exceeds what was granted",
                    ));
                }
                asked
            }
            None => granted,
        };
        let old: Identity = storage::from_json(&row.identity)?;
        // The client's list may have narrowed since the login (an admin's change): its
        // refresh tokens from other connectors end with it, as in Dex.
        if !client.connector_allowed(&old.connector_id) {
            return Err(crate::oauth::allowed_connectors::not_allowed());
        }
        let conn = self
            .connector(&old.connector_id)
            .ok_or_else(|| OAuthError::invalid_grant("the connector of this login is gone"))?;
        let identity = match (row.rotated_at, row.successor_id.as_deref()) {
            // A repeat inside the reuse interval (parallel kubectl calls) gets the successor's
            // identity: asking the connector again would spend an upstream refresh token that
            // the first call already rotated.
            (Some(at), Some(next)) if now - at <= self.expiry.reuse_interval => {
                storage::from_json(&self.store.get_refresh_token(next).await?.identity)?
            }
            _ => match conn.refresh(&old, scopes.connector(), now).await {
                Ok(i) => i,
                Err(e) => {
                    if matches!(e, ConnectorError::UserGone | ConnectorError::Rejected(_)) {
                        // The user is gone or barred: their browser sessions end too.
                        self.end_sessions_of(
                            &old.connector_id,
                            &old.subject(),
                            "connector refused the user",
                        )
                        .await?;
                    }
                    return Err(e.into());
                }
            },
        };
        let token = if self.expiry.disable_rotation {
            self.store
                .touch_refresh_token(&row.id, &storage::to_json(&identity)?, now)
                .await?;
            presented.to_string()
        } else {
            self.rotate(&row, &sec, &identity, now).await?
        };
        Ok(self
            .mint(Grant {
                client_id: &client.id,
                identity: &identity,
                scopes: &scopes,
                login: Login {
                    nonce: &row.nonce,
                    auth_time: row.auth_time,
                    sid: row.session_id.as_deref(),
                    amr: &row.amr,
                },
                refresh_token: Some(token),
                client_only: false,
            })?
            .response)
    }

    async fn rotate(
        &self,
        row: &RefreshToken,
        sec: &str,
        identity: &Identity,
        now: i64,
    ) -> Result<String, OAuthError> {
        let mut current = row.clone();
        // Two passes: a lost race re-reads the row and takes the reuse path.
        for _ in 0..2 {
            if let (Some(rotated_at), Some(next_id)) =
                (current.rotated_at, current.successor_id.clone())
            {
                return self.reuse(&current, sec, rotated_at, &next_id, now).await;
            }
            let next_id = secret::random_token(16);
            let next_secret = successor_secret(sec, &next_id);
            let next = RefreshToken {
                id: next_id.clone(),
                secret_hash: secret::hash_secret(&next_secret),
                identity: storage::to_json(identity)?,
                created_at: now,
                last_used_at: now,
                rotated_at: None,
                successor_id: None,
                revoked_at: None,
                ..current.clone()
            };
            if self
                .store
                .rotate_refresh_token(&current.id, &next, now)
                .await?
            {
                return Ok(format!("{next_id}.{next_secret}"));
            }
            current = self.store.get_refresh_token(&row.id).await?;
            if current.revoked_at.is_some() {
                break;
            }
        }
        Err(OAuthError::invalid_grant("invalid refresh token"))
    }

    async fn reuse(
        &self,
        row: &RefreshToken,
        sec: &str,
        rotated_at: i64,
        next_id: &str,
        now: i64,
    ) -> Result<String, OAuthError> {
        if now - rotated_at <= self.expiry.reuse_interval {
            let next_secret = successor_secret(sec, next_id);
            if let Ok(next) = self.store.get_refresh_token(next_id).await
                && next.revoked_at.is_none()
                && next.rotated_at.is_none()
                && secret::ct_eq(&next.secret_hash, &secret::hash_secret(&next_secret))
            {
                return Ok(format!("{next_id}.{next_secret}"));
            }
        }
        self.store
            .revoke_refresh_family(&row.family_id, now)
            .await?;
        tracing::warn!(client = %row.client_id, family = %row.family_id, "refresh token reused; family revoked");
        self.audit(
            "",
            "refresh.revoke",
            &row.client_id,
            "revoked",
            serde_json::json!({
                "family": row.family_id,
                "reason": "a rotated refresh token was presented again",
            }),
        )
        .await;
        Err(OAuthError::invalid_grant("refresh token was already used"))
    }
}
