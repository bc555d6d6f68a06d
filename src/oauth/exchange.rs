//! RFC 8693 token exchange: a client presents a token from an upstream provider (a CI
//! system's OIDC token, a user's ID token from the company IdP) and gets Gantry tokens for the
//! identity it proves. Only connectors with `allowTokenExchange` take part; no refresh token is
//! issued (the upstream token's holder can exchange again).

use crate::connector::ConnectorError;
use crate::oauth::Provider;
use crate::oauth::client::Client;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::request::Exchange;
use crate::oauth::scope::Scopes;
use crate::oauth::tokens::{Grant, Login, TokenResponse};

const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";

impl Provider {
    pub(crate) async fn token_exchange(
        &self,
        client: &Client,
        p: Exchange<'_>,
    ) -> Result<TokenResponse, OAuthError> {
        let (subject, subject_type) = (p.subject_token, p.subject_token_type);
        if subject_type != ID_TOKEN && subject_type != ACCESS_TOKEN {
            return Err(OAuthError::invalid_request(
                "subject_token_type must be an id_token or access_token type",
            ));
        }
        let requested = match p.requested_token_type {
            None | Some("") | Some(ACCESS_TOKEN) => ACCESS_TOKEN,
            Some(ID_TOKEN) => ID_TOKEN,
            Some(_) => {
                return Err(OAuthError::invalid_request(
                    "requested_token_type must be an access_token or id_token type",
                ));
            }
        };
        let scopes = Scopes::parse(
            p.scope.filter(|s| !s.is_empty()).unwrap_or("openid"),
            client,
            &self.clients,
        )?;
        if scopes.has("offline_access") {
            return Err(OAuthError::new(
                ErrorCode::InvalidScope,
                "token exchange issues no refresh token",
            ));
        }
        // The connector named, or the one connector that takes part, of those the client may
        // use.
        let conn_id = p.connector_id.filter(|c| !c.is_empty());
        if conn_id.is_some_and(|id| !client.connector_allowed(id)) {
            return Err(crate::oauth::allowed_connectors::not_allowed());
        }
        let exchanging: Vec<_> = self
            .connectors_for(client)
            .into_iter()
            .filter(|c| c.is_callback())
            .collect();
        let mut answered = None;
        for c in exchanging
            .iter()
            .filter(|c| conn_id.is_none_or(|id| c.id() == id))
        {
            if let Some(r) = c.token_identity(subject, subject_type).await {
                if answered.is_some() {
                    return Err(OAuthError::invalid_request(
                        "several connectors accept token exchange: name one with connector_id",
                    ));
                }
                answered = Some((c.id().to_string(), r));
                if conn_id.is_some() {
                    break;
                }
            }
        }
        let Some((cid, result)) = answered else {
            self.audit(
                &format!("client:{}", client.id),
                "token.exchange",
                &conn_id.unwrap_or_default().chars().take(64).collect::<String>(),
                "failure",
                serde_json::json!({ "reason": "no connector accepts token exchange for this request" }),
            )
            .await;
            return Err(OAuthError::invalid_request(
                "no connector accepts token exchange for this request",
            ));
        };
        let identity = match result {
            Ok(i) => i,
            Err(ConnectorError::Rejected(why)) => {
                self.metrics.login(&cid, "failure");
                tracing::warn!(connector = %cid, reason = %why, "token exchange refused");
                self.audit(
                    &format!("client:{}", client.id),
                    "token.exchange",
                    &cid,
                    "failure",
                    serde_json::json!({ "reason": why }),
                )
                .await;
                return Err(OAuthError::invalid_grant(format!(
                    "the subject token is not accepted: {why}"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        self.metrics.login(&cid, "success");
        self.audit(
            crate::oauth::audit::who(&identity),
            "token.exchange",
            &cid,
            "success",
            serde_json::json!({ "client": client.id, "subject": identity.subject() }),
        )
        .await;
        self.remember_groups(&identity).await;
        self.no_factor_due(&client.id, &scopes.peers, "", &identity)
            .await?;
        let minted = self.mint(Grant {
            client_id: &client.id,
            identity: &identity,
            scopes: &scopes,
            login: Login::plain(self.clock.now(), ""),
            refresh_token: None,
            client_only: false,
        })?;
        let mut r = minted.response;
        if requested == ID_TOKEN {
            r.access_token = r.id_token.take().ok_or_else(|| {
                OAuthError::new(
                    ErrorCode::InvalidScope,
                    "an id_token needs the openid scope",
                )
            })?;
            r.token_type = "N_A";
        }
        r.id_token = None;
        r.issued_token_type = Some(requested);
        Ok(r)
    }
}
