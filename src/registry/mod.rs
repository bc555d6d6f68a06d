//! The Docker Registry v2 token service: who asks (Basic credentials through the password
//! connector), what for (scopes), what the policy grants, and a token the registry verifies
//! offline through the `x5c` chain to the registry CA. Knows nothing of HTTP.

pub mod ca;
pub mod scope;

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Serialize;

use crate::config::RegistryConfig;
use crate::connector::PasswordCheck;
use crate::identity::Identity;
use crate::oauth::Provider;
use crate::oauth::audit::{Checked, CredentialCheck};
use crate::policy::Subject;
use crate::secret;
use crate::throttle::Verdict;
use ca::RegistryCa;
use scope::ResourceScope;

/// The client id registry identity tokens (refresh tokens) are issued to.
pub const REGISTRY_CLIENT: &str = "registry";

/// How long a successful password check is remembered: repeated pulls then cost no LDAP round
/// trip and no argon2 hash, and a disabled user is locked out within this time.
pub const CREDENTIAL_CACHE_SECS: i64 = 30;
const CACHE_MAX: usize = 10_000;

#[derive(Debug, Clone)]
pub struct Service {
    pub name: String,
    pub issuer: String,
    pub ttl: i64,
    /// Audiences of the Gantry access tokens this service takes as a password.
    pub access_token_audiences: Vec<String>,
}

/// Registry state shared by requests.
#[derive(Debug)]
pub struct Registry {
    pub services: Vec<Service>,
    pub ca: RegistryCa,
    cache_key: Vec<u8>,
    cache: Mutex<HashMap<String, (Caller, i64)>>,
}

/// Who asks for a registry token, and how they proved it: a password is `pwd`; a token carries
/// the amr of the login it came from, so a browser login with a second factor can push where
/// the policy asks for one.
#[derive(Debug, Clone)]
pub struct Caller {
    pub identity: Identity,
    /// RFC 8176 values, space-separated.
    pub amr: String,
    /// When the user proved it.
    pub auth_time: i64,
}

impl Caller {
    fn with_password(identity: Identity, now: i64) -> Caller {
        Caller {
            identity,
            amr: "pwd".into(),
            auth_time: now,
        }
    }
}

/// Why no token was issued; the HTTP layer maps each to the registry's or OAuth's error shape.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("identity source unavailable")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl From<crate::storage::StorageError> for RegistryError {
    fn from(e: crate::storage::StorageError) -> Self {
        if e.is_unavailable() {
            RegistryError::Unavailable(e.to_string())
        } else {
            RegistryError::Internal(e.to_string())
        }
    }
}

impl From<scope::ScopeError> for RegistryError {
    fn from(e: scope::ScopeError) -> Self {
        RegistryError::BadRequest(e.to_string())
    }
}

/// A key that cannot sign or be certified is the server's fault, never the client's.
impl From<crate::keys::SignError> for RegistryError {
    fn from(e: crate::keys::SignError) -> Self {
        RegistryError::Internal(e.to_string())
    }
}

impl From<ca::CaError> for RegistryError {
    fn from(e: ca::CaError) -> Self {
        RegistryError::Internal(e.to_string())
    }
}

impl From<crate::oauth::error::OAuthError> for RegistryError {
    fn from(e: crate::oauth::error::OAuthError) -> Self {
        let cause = e.internal.clone().unwrap_or_else(|| e.to_string());
        match e.code {
            crate::oauth::error::ErrorCode::TemporarilyUnavailable => {
                RegistryError::Unavailable(cause)
            }
            _ => RegistryError::Internal(cause),
        }
    }
}

/// A granted resource, as the `access` claim lists it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Access {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: i64,
    nbf: i64,
    iat: i64,
    jti: String,
    access: &'a [Access],
}

/// What the token endpoint answers.
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub token: String,
    pub access_token: String,
    pub expires_in: i64,
    pub issued_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

impl Registry {
    pub async fn load(
        cfg: &RegistryConfig,
        db: &crate::storage::Db,
        now: i64,
        sealing: &crate::seal::KeySealing,
    ) -> Result<Registry, ca::CaError> {
        let services = cfg
            .services
            .iter()
            .map(|s| Service {
                name: s.name.clone(),
                issuer: s.issuer.clone(),
                ttl: s.token_ttl.map_or(300, crate::config::Duration::secs),
                access_token_audiences: s.access_token_audiences.clone(),
            })
            .collect();
        Ok(Registry {
            services,
            ca: RegistryCa::load(cfg, db, now, sealing).await?,
            cache_key: secret::random_bytes(32),
            cache: Mutex::default(),
        })
    }

    fn cache_slot(&self, user: &str, password: &str) -> String {
        let mut msg = Vec::with_capacity(user.len() + password.len() + 1);
        msg.extend_from_slice(user.as_bytes());
        msg.push(0);
        msg.extend_from_slice(password.as_bytes());
        secret::hmac_b64(&self.cache_key, &msg)
    }

    fn cached(&self, slot: &str, now: i64) -> Option<Caller> {
        let c = self.cache.lock().ok()?;
        c.get(slot)
            .filter(|(_, exp)| *exp > now)
            .map(|(i, _)| i.clone())
    }

    fn remember(&self, slot: String, id: Caller, now: i64) {
        if let Ok(mut c) = self.cache.lock() {
            if c.len() >= CACHE_MAX {
                c.retain(|_, (_, exp)| *exp > now);
                if c.len() >= CACHE_MAX {
                    c.clear();
                }
            }
            c.insert(slot, (id, now + CREDENTIAL_CACHE_SECS));
        }
    }
}

pub use crate::clock::rfc3339;

/// The Docker Registry v2 token service. It takes the protocol core by reference: who a user
/// is, the failed-login throttle, the connectors and the audit trail are the core's.
#[derive(Debug)]
pub struct RegistryService {
    pub core: std::sync::Arc<Provider>,
    pub registry: Registry,
}

impl RegistryService {
    /// The connector that checks registry passwords: `oauth2.passwordConnector`, else the first
    /// password connector.
    fn registry_connector(&self) -> Option<std::sync::Arc<crate::connector::Connector>> {
        match &self.core.password_connector {
            Some(id) => self.core.connector(id),
            None => self
                .core
                .connectors
                .all()
                .into_iter()
                .find(|c| c.is_password()),
        }
    }

    /// Check Basic credentials from the client at `addr`, through the cache. A cached answer
    /// costs nothing and is not slowed down; a check that reaches the connector is. A locked
    /// address is refused before the cache is read: otherwise, while the owner's password is
    /// cached, the locked guesser would still learn which guess was right.
    pub async fn registry_login(
        &self,
        user: &str,
        password: &str,
        addr: std::net::IpAddr,
    ) -> Result<Caller, RegistryError> {
        if user.is_empty() || password.is_empty() {
            self.core
                .audit_credentials(CredentialCheck {
                    via: "registry",
                    connector: "",
                    login: user,
                    checked: Checked::Refused { known_login: false },
                    address: addr,
                    client: None,
                })
                .await;
            return Err(RegistryError::Unauthorized(
                "username and password are required".into(),
            ));
        }
        let now = self.core.clock.now();
        // One verdict for both paths: a locked address is refused before the cache is read,
        // and only a check that reaches the connector waits out a slow-down.
        let verdict = self.core.throttle.check(now, user, addr);
        let conn = self
            .registry_connector()
            .ok_or_else(|| RegistryError::Internal("no password connector".into()))?;
        let check = |checked| CredentialCheck {
            via: "registry",
            connector: conn.id(),
            login: user,
            checked,
            address: addr,
            client: None,
        };
        if matches!(verdict, Verdict::Locked) {
            self.core.audit_credentials(check(Checked::Throttled)).await;
            return Err(RegistryError::Unauthorized(
                "too many failed logins from this address; try again later".into(),
            ));
        }
        let slot = self.registry.cache_slot(user, password);
        if let Some(id) = self.registry.cached(&slot, now) {
            // A repeat of a check that passed moments ago: logged, not stored, or every
            // pull of a busy pipeline would cost a database write.
            crate::oauth::audit::log_only(
                crate::oauth::audit::who(&id.identity),
                "login",
                conn.id(),
                "success",
                &serde_json::json!({ "via": "registry", "address": addr, "cached": true }),
            );
            return Ok(id);
        }
        self.core.wait_out(verdict).await;
        match conn.login(user, password).await {
            Ok(PasswordCheck::Accepted(id)) => {
                self.core.throttle.succeeded(user, addr);
                self.core.metrics.login(conn.id(), "success");
                self.core
                    .audit_credentials(check(Checked::Accepted(&id)))
                    .await;
                self.core.remember_groups(&id).await;
                let caller = Caller::with_password(id, now);
                self.registry.remember(slot, caller.clone(), now);
                Ok(caller)
            }
            Ok(PasswordCheck::Refused { known_login }) => {
                self.core.throttle.failed(now, user, addr);
                self.core.metrics.login(conn.id(), "failure");
                self.core
                    .audit_credentials(check(Checked::Refused { known_login }))
                    .await;
                Err(RegistryError::Unauthorized(
                    "invalid username or password".into(),
                ))
            }
            Err(crate::connector::ConnectorError::Unavailable(e)) => {
                self.core
                    .audit_credentials(check(Checked::Unavailable))
                    .await;
                Err(RegistryError::Unavailable(e))
            }
            Err(crate::connector::ConnectorError::Storage(e)) => Err(e.into()),
            Err(e) => Err(RegistryError::Internal(e.to_string())),
        }
    }

    /// Record a registry login with a token for a password. A refused token is an event; an
    /// accepted one was issued by Gantry (and that was recorded), so it is only logged: a
    /// pipeline asks a token per repository it touches.
    pub async fn audit_registry_token(
        &self,
        kind: &str,
        r: &Result<Caller, RegistryError>,
        addr: std::net::IpAddr,
    ) {
        let via = format!("registry_{kind}");
        match r {
            Ok(Caller { identity: id, .. }) => crate::oauth::audit::log_only(
                crate::oauth::audit::who(id),
                "login",
                &id.connector_id,
                "success",
                &serde_json::json!({ "via": via, "address": addr, "subject": id.subject() }),
            ),
            Err(RegistryError::Unauthorized(why)) => {
                self.core
                    .audit(
                        "",
                        "login",
                        "",
                        "failure",
                        serde_json::json!({ "via": via, "address": addr, "reason": why }),
                    )
                    .await
            }
            Err(_) => {}
        }
    }

    /// A Gantry access token as the password (what a pipeline holds after token exchange):
    /// the identity its claims carry, if the token was issued to an audience `service` lists
    /// in `accessTokenAudiences`. A token issued to any other application is no registry
    /// password: that application did not ask for registry access, and must not gain it by
    /// replaying its users' tokens. Its groups are there only if it was issued with the
    /// `groups` scope.
    pub async fn registry_access_token(
        &self,
        token: &str,
        service: &str,
    ) -> Result<Caller, RegistryError> {
        let invalid = || RegistryError::Unauthorized("invalid or expired access token".into());
        let c = self
            .core
            .verify_access_token(token)
            .await
            .map_err(|_| invalid())?;
        let accepted = self
            .registry
            .services
            .iter()
            .find(|s| s.name == service)
            .is_some_and(|s| s.access_token_audiences.iter().any(|a| c.aud.contains(a)));
        if !accepted {
            tracing::info!(service, aud = ?c.aud, "registry: an access token for another audience was refused");
            return Err(RegistryError::Unauthorized(
                "this access token was not issued for the registry".into(),
            ));
        }
        let (user_id, connector_id) = Identity::parse_subject(&c.sub).ok_or_else(invalid)?;
        // A password connector's users are named in the policy by their login name, which the
        // token carries only with the `profile` scope. Without it the user would be judged
        // under another name than the same user logging in with a password.
        let named_by_login = self
            .core
            .connector(&connector_id)
            .is_some_and(|k| k.is_password());
        if named_by_login && c.preferred_username.as_deref().unwrap_or("").is_empty() {
            return Err(RegistryError::Unauthorized(
                "this access token does not name its user: request it with the `profile` scope"
                    .into(),
            ));
        }
        Ok(Caller {
            identity: Identity {
                user_id,
                username: c.name.unwrap_or_default(),
                preferred_username: c.preferred_username.unwrap_or_default(),
                email: c.email.unwrap_or_default(),
                email_verified: c.email_verified.unwrap_or(false),
                groups: c.groups.unwrap_or_default(),
                connector_id,
                connector_data: None,
            },
            amr: c.amr.unwrap_or_default().join(" "),
            auth_time: c.auth_time.unwrap_or(c.iat),
        })
    }

    /// An identity token (refresh token) for offline registry access: the identity-token flow
    /// docker and skopeo store. It is not rotated on use, since clients keep it as is. It
    /// keeps how the caller logged in: what it may later do depends on that.
    pub async fn registry_identity_token(&self, caller: &Caller) -> Result<String, RegistryError> {
        let scopes = crate::oauth::scope::Scopes::stored("openid groups offline_access");
        self.core
            .new_refresh_family(
                REGISTRY_CLIENT,
                &caller.identity,
                &scopes,
                crate::oauth::tokens::Login::plain(caller.auth_time, &caller.amr),
            )
            .await
            .map(|(t, _)| t)
            .map_err(RegistryError::from)
    }

    /// The identity behind a registry identity token, re-validated with its connector (that
    /// answer cached like passwords, under an HMAC of the token; the token's row is read on
    /// every use, so a revoked one stops at once). With `exchange`, a refresh token of a login
    /// client (`gantry registry login`) is also accepted, and consumed: its family is revoked,
    /// and the caller issues a registry identity token in its place. The flag says whether
    /// that happened.
    pub async fn registry_refresh(
        &self,
        token: &str,
        exchange: bool,
    ) -> Result<(Caller, bool), RegistryError> {
        let now = self.core.clock.now();
        let slot = self.registry.cache_slot("\u{0}refresh", token);
        let invalid = || RegistryError::Unauthorized("invalid or expired identity token".into());
        let (row, _) = self
            .core
            .find_refresh(token)
            .await
            .map_err(RegistryError::from)?
            .ok_or_else(invalid)?;
        let login_client = exchange && self.core.registry_clients.contains(&row.client_id);
        if (row.client_id != REGISTRY_CLIENT && !login_client)
            || row.revoked_at.is_some()
            || row.rotated_at.is_some()
            || self.core.refresh_expired(&row, now)
        {
            return Err(invalid());
        }
        // The row is read every time, so a revoked token stops at once; the cache spares only
        // the connector's round trip.
        if !login_client && let Some(caller) = self.registry.cached(&slot, now) {
            return Ok((caller, false));
        }
        let old: Identity =
            crate::storage::from_json(&row.identity).map_err(RegistryError::from)?;
        let conn = self.core.connector(&old.connector_id).ok_or_else(invalid)?;
        let scopes = crate::oauth::scope::Scopes::stored(&row.scopes).connector();
        let id = match conn.refresh(&old, scopes, now).await {
            Ok(id) => id,
            Err(crate::connector::ConnectorError::Unavailable(e)) => {
                return Err(RegistryError::Unavailable(e));
            }
            Err(_) => return Err(invalid()),
        };
        let caller = Caller {
            identity: id,
            amr: row.amr.clone(),
            auth_time: row.auth_time,
        };
        if login_client {
            self.core
                .store
                .revoke_refresh_family(&row.family_id, now)
                .await
                .map_err(RegistryError::from)?;
            return Ok((caller, true));
        }
        self.core
            .store
            .touch_refresh_token(
                &row.id,
                &crate::storage::to_json(&caller.identity).map_err(RegistryError::from)?,
                now,
            )
            .await
            .map_err(RegistryError::from)?;
        self.registry.remember(slot, caller.clone(), now);
        Ok((caller, false))
    }

    /// Sign a token for `caller` on `service` with what the policy grants of `scopes`. An
    /// action the policy grants but wants a second factor for, asked without one, refuses the
    /// whole request: a token without it would only show up as the registry's bare "denied".
    pub async fn registry_token(
        &self,
        caller: &Caller,
        service: &str,
        scopes: &[ResourceScope],
        with_scope: bool,
    ) -> Result<TokenResponse, RegistryError> {
        let svc = self
            .registry
            .services
            .iter()
            .find(|s| s.name == service)
            .ok_or_else(|| RegistryError::BadRequest(format!("unknown service `{service}`")))?;
        let identity = &caller.identity;
        // The policy's name for the user is also the token's subject, the account the registry
        // logs: a stable identity, never a display name (which an upstream user chooses, and
        // which an exchanged token may not carry at all).
        let mut policy_user = self.core.policy_user(
            &identity.connector_id,
            &identity.user_id,
            &identity.preferred_username,
        );
        if policy_user.is_empty() {
            policy_user = identity.user_id.clone();
        }
        if policy_user.is_empty() {
            return Err(RegistryError::Unauthorized(
                "this identity has no stable name".into(),
            ));
        }
        let connectors = self.core.connector_ids();
        let subject = Subject {
            connector: &identity.connector_id,
            connectors: &connectors,
            user: &policy_user,
            email: &identity.email,
            groups: &identity.groups,
        };
        let mut access: Vec<Access> = Vec::new();
        let policy = self.core.policy.get();
        for s in scopes {
            let d = policy
                .compiled
                .registry(&subject, &s.kind, &s.name, &s.actions);
            tracing::debug!(user = %policy_user, kind = %s.kind, name = %s.name, requested = ?s.actions, granted = ?d.granted, allowed_by = ?d.allowed_by, denied_by = ?d.denied_by, "registry access");
            match access
                .iter_mut()
                .find(|a| a.kind == s.kind && a.name == s.name)
            {
                Some(a) => a.actions.extend(
                    d.granted
                        .into_iter()
                        .filter(|g| !a.actions.contains(g))
                        .collect::<Vec<_>>(),
                ),
                None => access.push(Access {
                    kind: s.kind.clone(),
                    name: s.name.clone(),
                    actions: d.granted,
                }),
            }
        }
        // Only a caller without a second factor has anything to be refused.
        let wants_factor = if crate::mfa::has_second_factor(&caller.amr) {
            None
        } else {
            access
                .iter()
                .flat_map(|a| a.actions.iter().map(move |act| (a, act)))
                .find_map(|(a, act)| {
                    let rule = policy
                        .compiled
                        .registry_mfa(&subject, &a.kind, &a.name, act)?;
                    Some((format!("{act} on {}:{}", a.kind, a.name), rule.to_string()))
                })
        };
        drop(policy);
        if let Some((what, rule)) = wants_factor {
            self.core
                .audit(
                    crate::oauth::audit::who(identity),
                    "registry.token",
                    service,
                    "failure",
                    serde_json::json!({ "subject": identity.subject(), "reason": "second factor required", "asked": what, "rule": rule, "amr": caller.amr }),
                )
                .await;
            return Err(RegistryError::Unauthorized(format!(
                "{what} needs a second factor (policy.mfa `{rule}`): log in with `gantry registry login`, which asks for it"
            )));
        }
        let now = self.core.clock.now();
        let claims = Claims {
            iss: &svc.issuer,
            sub: &policy_user,
            aud: &svc.name,
            exp: now + svc.ttl,
            nbf: now,
            iat: now,
            jti: secret::random_token(16),
            access: &access,
        };
        let key = self.core.keys.signer()?;
        let chain = self.registry.ca.chain_for(&key, now)?;
        let token = key.sign_with_chain(&claims, "JWT", Some(&chain))?;
        let scope = with_scope.then(|| {
            access
                .iter()
                .filter(|a| !a.actions.is_empty())
                .map(|a| format!("{}:{}:{}", a.kind, a.name, a.actions.join(",")))
                .collect::<Vec<_>>()
                .join(" ")
        });
        Ok(TokenResponse {
            access_token: token.clone(),
            token,
            expires_in: svc.ttl,
            issued_at: rfc3339(now),
            scope,
            refresh_token: None,
        })
    }
}
