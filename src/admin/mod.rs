//! The management operations behind the admin UI and API: signing administrators in through
//! Gantry's own authorization code flow, deciding who is an administrator (the policy's
//! `admins`), and the things they manage. Knows nothing of HTTP.

mod audit;
pub mod clients;
pub mod connectors;
pub mod issuance;
pub mod policy;
mod token_floor;
pub mod users;
pub mod version;

use serde::Serialize;

use crate::connector::ConnectorError;
use crate::identity::Identity;
use crate::oauth::Provider;
use crate::oauth::client::Client;
use crate::oauth::grants::{ClientAuth, TokenParams};
use crate::policy::Subject;
use crate::secret;
use crate::storage::StorageError;
use crate::storage::admin::AdminSession;
use crate::storage::audit::{AuditEvent, AuditFilter};

/// What is wrong with the id of a client or connector an admin creates, if anything. Ids appear
/// in URLs and in users' subjects, so they are kept plain (the API document's pattern says the
/// same).
pub fn check_id(id: &str) -> Option<String> {
    let ok = (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    (!ok).then(|| "1 to 64 of A-Z a-z 0-9 . _ -".into())
}

/// The built-in public client the admin UI signs in with.
pub use crate::config::ADMIN_CLIENT;

/// Management: clients, users, connectors, the policy, sessions and keys, and the audit trail's
/// admin side. Takes the protocol core by reference and changes it through its live objects.
#[derive(Debug, Clone)]
pub struct AdminService {
    pub core: std::sync::Arc<Provider>,
}
/// An admin session ends after this long without a request...
pub const IDLE_TIMEOUT: i64 = 30 * 60;
/// ...and this long after sign-in in any case.
pub const ABSOLUTE_TIMEOUT: i64 = 12 * 3600;
/// How long the word of an upstream identity source (LDAP, OIDC, OAuth2, SAML) on an admin's
/// groups stands before the connector is asked again, as a refresh token would ask it. Users of
/// the password database are checked against it on every request: that costs one query, and
/// the database is where admins disable, delete and regroup them.
pub const RECHECK_INTERVAL: i64 = 5 * 60;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No valid session or token: sign in (UI) or 401 (API).
    #[error("not signed in")]
    NotSignedIn,
    /// Signed in, but not an administrator; the text names who.
    #[error("{0} is not an administrator")]
    Forbidden(String),
    #[error("{0}")]
    BadRequest(String),
    /// The request is sound but clashes with what exists (a taken email, a read-only user).
    #[error("{0}")]
    Conflict(String),
    #[error("not found")]
    NotFound,
    /// The writer named a version it read, and the object has changed since: nothing was
    /// written (412 in the API; the forms show what changed and keep what was typed).
    #[error("{0}")]
    Stale(String),
    #[error("internal error: {0}")]
    Internal(String),
    /// The database is not answering: 503, try again.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl From<crate::keys::KeyError> for AdminError {
    fn from(e: crate::keys::KeyError) -> Self {
        match e {
            crate::keys::KeyError::Storage(e) => e.into(),
            e => AdminError::Internal(e.to_string()),
        }
    }
}

impl From<StorageError> for AdminError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound => AdminError::NotFound,
            e if e.is_unavailable() => AdminError::Unavailable(e.to_string()),
            e => AdminError::Internal(e.to_string()),
        }
    }
}

/// Why a session's re-check did not return an admin.
enum Recheck {
    /// The user is no longer an admin (or cannot be shown to be): the session ends.
    Ended(&'static str),
    /// The check itself failed (the database or directory is not answering): refused, but
    /// the session is kept for when it answers again.
    Fault(AdminError),
}
use Recheck::{Ended, Fault};

/// Who is acting: a signed-in person, or an admin API client.
#[derive(Debug, Clone, Serialize)]
pub struct Admin {
    /// The policy's name for the person (see `Provider::policy_user`), or the client id.
    pub name: String,
    /// The connector the person signed in through (empty for API clients).
    pub connector: String,
    pub email: String,
    /// A signed-in person's groups (what made them an admin).
    pub groups: Vec<String>,
    /// Set for API clients (`client_credentials`).
    pub client: Option<String>,
}

impl Admin {
    /// How the audit log names this admin.
    pub fn actor(&self) -> String {
        match &self.client {
            Some(c) => format!("client:{c}"),
            None if !self.email.is_empty() => self.email.clone(),
            None => self.name.clone(),
        }
    }
}

/// A live login, as the sessions page and API show it.
#[derive(Debug, Clone, Serialize)]
pub struct SessionView {
    pub id: String,
    /// The user's subject (the `sub` of their tokens): revoking by it ends all their sessions.
    pub subject: String,
    pub client_id: String,
    pub user: String,
    pub email: String,
    pub connector: String,
    pub groups: Vec<String>,
    pub created_at: i64,
    pub last_used_at: i64,
}

/// The built-in client of the admin UI.
pub fn admin_client(issuer: &str) -> Client {
    Client {
        id: ADMIN_CLIENT.into(),
        secret_hash: None,
        redirect_uris: vec![redirect_uri(issuer)],
        trusted_peers: Vec::new(),
        public: true,
        name: "Gantry administration".into(),
        logo_url: None,
        grant_types: vec!["authorization_code".into()],
        post_logout_redirect_uris: Vec::new(),
        require_pkce: true,
        version: String::new(),
    }
}

pub fn redirect_uri(issuer: &str) -> String {
    format!("{}/admin/callback", issuer.trim_end_matches('/'))
}

impl AdminService {
    fn is_admin(&self, connector: &str, user: &str, email: &str, groups: &[String]) -> bool {
        let connectors = self.core.connector_ids();
        self.core.policy.get().compiled.is_admin(&Subject {
            connector,
            connectors: &connectors,
            user,
            email,
            groups,
        })
    }

    /// Finish the admin client's code flow: the session cookie value if the user is an admin.
    pub async fn admin_sign_in(
        &self,
        code: &str,
        verifier: &str,
    ) -> Result<(String, Admin), AdminError> {
        let admin_client = self
            .core
            .authenticate_client(
                Some(ClientAuth {
                    id: Some(ADMIN_CLIENT.into()),
                    secret: None,
                }),
                None,
                None,
            )
            .map_err(|e| AdminError::BadRequest(e.description))?;
        let issued = self
            .core
            .token(
                admin_client,
                TokenParams {
                    grant_type: Some("authorization_code".into()),
                    code: Some(code.into()),
                    redirect_uri: Some(redirect_uri(&self.core.issuer)),
                    code_verifier: Some(verifier.into()),
                    ..TokenParams::default()
                },
                // A code grant checks no password: no address is counted.
                std::net::Ipv4Addr::UNSPECIFIED.into(),
            )
            .await
            .map_err(|e| AdminError::BadRequest(e.description))?;
        let c = self
            .core
            .verify_access_token(&issued.access_token)
            .await
            .map_err(|_| AdminError::NotSignedIn)?;
        // The identity the code was issued for, as its connector made it: what the session's
        // re-checks hand back to the connector. The code is ours (just redeemed), so its row is.
        let identity = self
            .core
            .db
            .get_auth_code_fresh(&secret::hash_secret(code))
            .await
            .map_err(AdminError::from)
            .and_then(|row| {
                serde_json::from_str::<Identity>(&row.identity)
                    .map_err(|e| AdminError::Internal(format!("stored identity: {e}")))
            })?;
        if identity.subject() != c.sub {
            return Err(AdminError::Internal(
                "the redeemed code names another user than its token".into(),
            ));
        }
        // The stable identity the token is about, never its display name: an upstream user
        // whose `name` is "admin" is not the admin.
        let (user_id, connector) = Identity::parse_subject(&c.sub).unwrap_or_default();
        let user = self.core.policy_user(
            &connector,
            &user_id,
            c.preferred_username.as_deref().unwrap_or_default(),
        );
        let email = c.email.clone().unwrap_or_default();
        let groups = c.groups.clone().unwrap_or_default();
        // Judged by the policy as the database has it now (see `admin_session`).
        self.sync_admin_objects().await?;
        if !self.is_admin(&connector, &user, &email, &groups) {
            let who = if email.is_empty() { user } else { email };
            tracing::warn!(user = %who, "admin sign-in refused: not an administrator");
            self.core
                .audit(
                    &who,
                    "admin.sign_in",
                    "admin",
                    "refused",
                    serde_json::json!({}),
                )
                .await;
            return Err(AdminError::Forbidden(who));
        }
        let token = secret::random_token(32);
        let now = self.core.clock.now();
        self.core
            .db
            .create_admin_session(&AdminSession {
                id_hash: secret::hash_secret(&token),
                subject: c.sub.clone(),
                username: user.clone(),
                email: email.clone(),
                groups_json: serde_json::to_string(&groups).unwrap_or_default(),
                created_at: now,
                last_seen_at: now,
                expires_at: now + ABSOLUTE_TIMEOUT,
                identity: serde_json::to_string(&identity)
                    .map_err(|e| AdminError::Internal(e.to_string()))?,
                checked_at: now,
            })
            .await?;
        tracing::info!(user = %user, "admin signed in");
        self.core
            .audit(
                &email,
                "admin.sign_in",
                "admin",
                "success",
                serde_json::json!({}),
            )
            .await;
        Ok((
            token,
            Admin {
                name: user,
                connector,
                email,
                groups,
                client: None,
            },
        ))
    }

    /// The admin behind a session cookie. Everything that made them an admin is checked again
    /// on every request, against what every replica shares (the database): the session still
    /// exists (revoking the user deletes it), the user still exists and may log in, their
    /// groups now, and the policy now. A session that fails a check ends there, so an admin
    /// who is disabled, deleted, regrouped, revoked or dropped from `policy.admins` loses the
    /// admin pages and API at once, on every replica.
    pub async fn admin_session(&self, token: &str) -> Result<Admin, AdminError> {
        if token.is_empty() {
            return Err(AdminError::NotSignedIn);
        }
        let now = self.core.clock.now();
        let id_hash = secret::hash_secret(token);
        let s = match self
            .core
            .db
            .use_admin_session(&id_hash, now, now - IDLE_TIMEOUT)
            .await
        {
            Ok(s) => s,
            Err(StorageError::NotFound) => return Err(AdminError::NotSignedIn),
            Err(e) => return Err(e.into()),
        };
        // The policy and connectors as the database has them now, not as this replica last
        // polled them: a change made on another replica a moment ago applies to this request.
        self.sync_admin_objects().await?;
        match self.recheck_admin(&id_hash, &s, now).await {
            Ok(admin) => Ok(admin),
            Err(Ended(reason)) => {
                self.core.db.delete_admin_session(&id_hash).await?;
                let who = if s.email.is_empty() {
                    &s.username
                } else {
                    &s.email
                };
                tracing::info!(user = %who, reason, "admin session ended");
                self.core
                    .audit(
                        who,
                        "admin.session_end",
                        "admin",
                        "ended",
                        serde_json::json!({ "reason": reason }),
                    )
                    .await;
                Err(AdminError::NotSignedIn)
            }
            Err(Fault(e)) => Err(e),
        }
    }

    /// Whether the user behind session `s` is still an administrator: the admin if so.
    async fn recheck_admin(
        &self,
        id_hash: &str,
        s: &AdminSession,
        now: i64,
    ) -> Result<Admin, Recheck> {
        let Ok(mut identity) = serde_json::from_str::<Identity>(&s.identity) else {
            return Err(Ended("the session cannot be checked again"));
        };
        if identity.subject() != s.subject {
            return Err(Ended("the session cannot be checked again"));
        }
        let Some(conn) = self.core.connector(&identity.connector_id) else {
            return Err(Ended("the connector is gone"));
        };
        let local = conn.kind() == "local";
        if local || now - s.checked_at >= RECHECK_INTERVAL {
            let fresh = match conn.refresh(&identity, now).await {
                Ok(fresh) if fresh.subject() == s.subject => fresh,
                Ok(_) => return Err(Ended("the connector answered for another user")),
                // Unreachable or busy: neither a yes nor a no. Refused now, kept for later.
                Err(e @ (ConnectorError::Unavailable(_) | ConnectorError::Storage(_))) => {
                    return Err(Fault(AdminError::Unavailable(e.to_string())));
                }
                Err(_) => return Err(Ended("the user is gone or may no longer log in")),
            };
            // The password database's answer costs nothing to get again; an upstream one is
            // kept (with what the connector needs next time, such as a rotated refresh token).
            if !local {
                let json = serde_json::to_string(&fresh)
                    .map_err(|e| Fault(AdminError::Internal(e.to_string())))?;
                let groups = serde_json::to_string(&fresh.groups).unwrap_or_default();
                self.core
                    .db
                    .recheck_admin_session(id_hash, &json, &groups, now)
                    .await
                    .map_err(|e| Fault(e.into()))?;
            }
            identity = fresh;
        }
        // The name again from the subject, so the decision is about the identity.
        let user = self.core.policy_user(
            &identity.connector_id,
            &identity.user_id,
            &identity.preferred_username,
        );
        let email = identity.email.clone();
        if !self.is_admin(&identity.connector_id, &user, &email, &identity.groups) {
            return Err(Ended("no longer an administrator"));
        }
        Ok(Admin {
            name: user,
            connector: identity.connector_id,
            email,
            groups: identity.groups,
            client: None,
        })
    }

    pub async fn admin_sign_out(&self, token: &str) -> Result<(), AdminError> {
        Ok(self
            .core
            .db
            .delete_admin_session(&secret::hash_secret(token))
            .await?)
    }

    /// The API client behind a bearer token: only `client_credentials` tokens of clients the
    /// policy's `admins.clients` names. A user's access token is not accepted here: it was
    /// issued to some other application, which must not gain admin rights by replaying it.
    pub async fn admin_api_client(&self, bearer: &str) -> Result<Admin, AdminError> {
        let c = self
            .core
            .verify_access_token(bearer)
            .await
            .map_err(|_| AdminError::NotSignedIn)?;
        let Some(client) = c.client_id.clone().filter(|id| *id == c.sub) else {
            return Err(AdminError::Forbidden(
                "a user's access token (use a client_credentials token)".into(),
            ));
        };
        // As for sessions: the clients and policy as the database has them now. A deleted
        // client's tokens end with it, however long they were issued for.
        self.sync_admin_objects().await?;
        if self.core.clients.get(&client).is_none() {
            return Err(AdminError::NotSignedIn);
        }
        if !self
            .core
            .policy
            .get()
            .compiled
            .admins
            .clients
            .contains(&client)
        {
            return Err(AdminError::Forbidden(format!("client {client}")));
        }
        // Made before the client was (re)created, its secret rotated, or it was last dropped
        // from the admin clients: a token of a client that is no longer the one it was made for.
        if c.iat <= self.core.db.client_token_floor(&client).await? {
            return Err(AdminError::NotSignedIn);
        }
        Ok(Admin {
            name: client.clone(),
            connector: String::new(),
            email: String::new(),
            groups: Vec::new(),
            client: Some(client),
        })
    }

    /// Live logins, newest use first.
    pub async fn live_sessions(
        &self,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<SessionView>, AdminError> {
        let rows = self
            .core
            .db
            .live_families(limit.clamp(1, 500), offset.max(0))
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let id: Identity = serde_json::from_str(&r.identity).unwrap_or_default();
                SessionView {
                    id: r.family_id,
                    subject: r.subject,
                    client_id: r.client_id,
                    user: if id.preferred_username.is_empty() {
                        id.username
                    } else {
                        id.preferred_username
                    },
                    email: id.email,
                    connector: id.connector_id,
                    groups: id.groups,
                    created_at: r.family_created_at,
                    last_used_at: r.last_used_at,
                }
            })
            .collect())
    }

    /// End a login: its refresh token stops working at once.
    pub async fn revoke_session(&self, admin: &Admin, id: &str) -> Result<(), AdminError> {
        let change = self.audit_change(admin, "session.revoke", id).await?;
        if !self.core.db.family_is_live(id).await? {
            return Err(AdminError::NotFound);
        }
        self.core
            .db
            .revoke_refresh_family(id, self.core.clock.now())
            .await?;
        tracing::info!(admin = %admin.name, session = %id, "admin revoked a session");
        change.succeeded(serde_json::json!({})).await;
        Ok(())
    }

    /// End every login of one user, with every client, and their admin sessions: (refresh
    /// tokens, admin sessions) ended; `NotFound` if they hold neither.
    pub async fn revoke_user_sessions(
        &self,
        admin: &Admin,
        subject: &str,
    ) -> Result<(u64, u64), AdminError> {
        let change = self
            .audit_change(admin, "session.revoke_user", subject)
            .await?;
        let n = self
            .core
            .db
            .revoke_refresh_of_user(subject, self.core.clock.now())
            .await?;
        let admin_sessions = self.core.db.delete_admin_sessions_of(subject).await?;
        if n == 0 && admin_sessions == 0 {
            return Err(AdminError::NotFound);
        }
        change
            .succeeded(serde_json::json!({ "tokens": n, "admin_sessions": admin_sessions }))
            .await;
        Ok((n, admin_sessions))
    }

    /// Published signing keys for the keys page and API.
    pub fn signing_keys(&self) -> Vec<KeyView> {
        let now = self.core.clock.now();
        let set = self.core.keys.current();
        let signing = set.signer_at(now).map(|k| k.kid.clone());
        set.list()
            .into_iter()
            .map(|(kid, alg, from, retired)| KeyView {
                signing: Some(&kid) == signing.as_ref(),
                kid,
                alg: alg.to_string(),
                active_from: from,
                retired_at: retired,
            })
            .collect()
    }

    /// Rotate the signing key now (a suspected compromise).
    pub async fn rotate_keys(&self, admin: &Admin) -> Result<(), AdminError> {
        let change = self
            .audit_change(admin, "keys.rotate", "signing-keys")
            .await?;
        self.core.keys.rotate_now().await?;
        let kid = self
            .core
            .keys
            .signer()
            .map(|k| k.kid.clone())
            .unwrap_or_default();
        change.succeeded(serde_json::json!({ "kid": kid })).await;
        Ok(())
    }

    pub async fn audit_events(
        &self,
        filter: &AuditFilter,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditEvent>, AdminError> {
        Ok(self
            .core
            .db
            .list_audit(filter, before, limit.clamp(1, 500))
            .await?)
    }

    /// Logins and login failures over the last 24 hours.
    pub async fn login_counts(&self) -> Result<(i64, i64), AdminError> {
        let since = self.core.clock.now() - 86_400;
        Ok((
            self.core.db.count_audit("login", "success", since).await?,
            self.core.db.count_audit("login", "failure", since).await?,
        ))
    }
}

/// A question for the policy simulator.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplainRequest {
    /// The connector the user comes from; qualified policy names (`ldap:admins`) match only
    /// users of theirs.
    #[serde(default)]
    pub connector: String,
    /// The connector's stable user name (what `${user}` and `users:` match).
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub groups: Vec<String>,
    /// Registry scopes (`repository:team/app:push,pull`).
    #[serde(default)]
    pub scopes: Vec<String>,
    pub cluster: Option<String>,
}

impl AdminService {
    /// What the policy grants the subject, and the rules behind each decision.
    pub fn explain(&self, q: &ExplainRequest) -> Result<serde_json::Value, AdminError> {
        // One scope per item, as the API document says (no splitting, no empty ones).
        let scopes = q
            .scopes
            .iter()
            .map(|s| crate::registry::scope::ResourceScope::parse(s))
            .collect::<Result<Vec<_>, _>>()
            .map_err(AdminError::BadRequest)?;
        let cluster = q.cluster.as_deref().filter(|c| !c.is_empty());
        if let Some(c) = cluster
            && !self.core.clusters.iter().any(|k| k == c)
        {
            return Err(AdminError::BadRequest(format!("unknown cluster `{c}`")));
        }
        let connectors = self.core.connector_ids();
        let s = Subject {
            connector: &q.connector,
            connectors: &connectors,
            user: &q.user,
            email: &q.email,
            groups: &q.groups,
        };
        Ok(self.core.policy.get().compiled.explain(
            &s,
            &scopes.iter().map(|s| s.asked()).collect::<Vec<_>>(),
            cluster,
            &self.core.clusters,
        ))
    }
}

/// A published signing key.
#[derive(Debug, Clone, Serialize)]
pub struct KeyView {
    pub kid: String,
    pub alg: String,
    pub active_from: i64,
    pub retired_at: Option<i64>,
    /// The key that signs now.
    pub signing: bool,
}
