//! Claims of ID and access tokens, and minting a token response.

use serde::{Deserialize, Serialize};

use crate::identity::Identity;
use crate::keys::Algorithm;
use crate::oauth::Provider;
use crate::oauth::error::OAuthError;
use crate::oauth::scope::Scopes;
use crate::secret;

/// `aud` is a string for one audience and an array for several, as OIDC allows.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub fn contains(&self, s: &str) -> bool {
        match self {
            Audience::One(a) => a == s,
            Audience::Many(v) => v.iter().any(|a| a == s),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FederatedClaims {
    pub connector_id: String,
    pub user_id: String,
}

/// Claims common to ID and access tokens; the scope decides which optional ones appear.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: Audience,
    pub exp: i64,
    pub iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    /// Access tokens only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub federated_claims: Option<FederatedClaims>,
    /// The browser session of the login (OpenID Connect Back-Channel Logout's `sid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
}

/// What `/token` answers.
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    pub scope: String,
    /// RFC 8693: what `access_token` holds, on token-exchange answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
}

/// A minted response plus what was issued, for revocation bookkeeping.
#[derive(Debug)]
pub struct Minted {
    pub response: TokenResponse,
    pub access_jti: String,
    pub access_exp: i64,
}

/// What ID tokens say about the login itself: its nonce, when it happened, the browser
/// session it was made in (`sid`) and how the user proved who they are (`amr`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Login<'a> {
    pub nonce: &'a str,
    pub auth_time: i64,
    pub sid: Option<&'a str>,
    /// RFC 8176 values, space-separated.
    pub amr: &'a str,
}

impl<'a> Login<'a> {
    /// A login without a browser: no nonce, no session.
    pub fn plain(auth_time: i64, amr: &'a str) -> Login<'a> {
        Login {
            nonce: "",
            auth_time,
            sid: None,
            amr,
        }
    }
}

/// The inputs of one issuance.
pub struct Grant<'a> {
    pub client_id: &'a str,
    pub identity: &'a Identity,
    pub scopes: &'a Scopes,
    pub login: Login<'a>,
    pub refresh_token: Option<String>,
    /// client_credentials: no ID token, subject is the client.
    pub client_only: bool,
}

impl Provider {
    /// Identity claims as the granted scopes allow.
    pub fn identity_claims(&self, c: &mut Claims, identity: &Identity, scopes: &Scopes) {
        if scopes.has("email") && !identity.email.is_empty() {
            c.email = Some(identity.email.clone());
            c.email_verified = Some(identity.email_verified);
        }
        if scopes.has("profile") {
            c.name = Some(identity.username.clone());
            if !identity.preferred_username.is_empty() {
                c.preferred_username = Some(identity.preferred_username.clone());
            }
        }
        if scopes.has("groups") {
            c.groups = Some(identity.groups.clone());
        }
        if scopes.has("federated:id") {
            c.federated_claims = Some(FederatedClaims {
                connector_id: identity.connector_id.clone(),
                user_id: identity.user_id.clone(),
            });
        }
    }

    /// Every client a token names (its own, and the peers of `audience:server:client_id:`)
    /// must allow the connector the user logged in through, at the moment it is signed: a
    /// peer that lists other connectors must not receive this login's tokens, and a code
    /// issued before its client was narrowed no longer redeems.
    fn connector_still_allowed(&self, g: &Grant<'_>) -> Result<(), OAuthError> {
        let connector = &g.identity.connector_id;
        if self
            .clients
            .get(g.client_id)
            .is_some_and(|c| !c.connector_allowed(connector))
        {
            return Err(crate::oauth::allowed_connectors::not_allowed());
        }
        for peer in &g.scopes.peers {
            if self
                .clients
                .get(peer)
                .is_some_and(|p| !p.connector_allowed(connector))
            {
                return Err(OAuthError::new(
                    crate::oauth::error::ErrorCode::InvalidScope,
                    format!("client {peer} does not allow logins through connector {connector}"),
                ));
            }
        }
        Ok(())
    }

    fn audience(client_id: &str, scopes: &Scopes) -> (Audience, Option<String>) {
        if scopes.peers.is_empty() {
            return (Audience::One(client_id.to_string()), None);
        }
        let mut aud = scopes.peers.clone();
        if !aud.iter().any(|a| a == client_id) {
            aud.push(client_id.to_string());
        }
        (Audience::Many(aud), Some(client_id.to_string()))
    }

    /// Sign the access token (and ID token when `openid` was granted).
    pub fn mint(&self, g: Grant<'_>) -> Result<Minted, OAuthError> {
        if !g.client_only {
            self.connector_still_allowed(&g)?;
        }
        let now = self.clock.now();
        let exp = now + self.expiry.id_tokens;
        let (aud, azp) = Self::audience(g.client_id, g.scopes);
        let sub = if g.client_only {
            g.client_id.to_string()
        } else {
            g.identity.subject()
        };
        let jti = secret::random_token(16);
        let mut access = Claims {
            iss: self.issuer.clone(),
            sub: sub.clone(),
            aud: aud.clone(),
            exp,
            iat: now,
            azp: azp.clone(),
            auth_time: None,
            nonce: None,
            at_hash: None,
            jti: Some(jti.clone()),
            client_id: Some(g.client_id.to_string()),
            scope: Some(g.scopes.joined()),
            email: None,
            email_verified: None,
            name: None,
            preferred_username: None,
            groups: None,
            federated_claims: None,
            sid: None,
            amr: None,
            acr: None,
        };
        if !g.client_only {
            self.identity_claims(&mut access, g.identity, g.scopes);
            // Resource servers (the registry, a cluster's webhook) decide on these too.
            let amr: Vec<String> = crate::mfa::claimed(g.login.amr)
                .into_iter()
                .map(str::to_string)
                .collect();
            access.amr = (!amr.is_empty()).then_some(amr);
            access.acr = Some(crate::oauth::session::acr_of(g.login.amr).to_string());
            access.sid = g.login.sid.map(str::to_string);
        }
        let signer = self.keys.signer().map_err(OAuthError::server)?;
        let access_token = signer.sign(&access, "at+jwt").map_err(OAuthError::server)?;
        let id_token = if g.scopes.has("openid") && !g.client_only {
            let mut id = access.clone();
            id.jti = None;
            id.client_id = None;
            id.scope = None;
            id.auth_time = Some(g.login.auth_time);
            id.nonce = Some(g.login.nonce.to_string()).filter(|n| !n.is_empty());
            id.at_hash = Some(token_hash(&access_token, signer.alg));
            Some(signer.sign(&id, "JWT").map_err(OAuthError::server)?)
        } else {
            None
        };
        Ok(Minted {
            response: TokenResponse {
                access_token,
                token_type: "bearer",
                expires_in: self.expiry.id_tokens,
                refresh_token: g.refresh_token,
                id_token,
                scope: g.scopes.joined(),
                issued_token_type: None,
            },
            access_jti: jti,
            access_exp: exp,
        })
    }
}

/// `at_hash`: the left half of the token's hash, with the hash the signature algorithm uses.
pub fn token_hash(token: &str, alg: Algorithm) -> String {
    let digest = match alg {
        Algorithm::EdDSA => aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA512, token.as_bytes())
            .as_ref()
            .to_vec(),
        _ => secret::sha256(token.as_bytes()),
    };
    secret::b64(&digest[..digest.len() / 2])
}
