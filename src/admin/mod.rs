//! The management operations behind the admin UI and API: signing administrators in through
//! Gantry's own authorization code flow, deciding who is an administrator (the policy's
//! `admins`), and the things they manage. Knows nothing of HTTP.

mod audit;
pub mod audit_trail;
pub mod clients;
mod connector_secrets;
pub mod connectors;
pub mod factors;
pub mod issuance;
pub mod policy;
mod sign_in;
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

/// A string that is one of `names`, for the API document.
pub(crate) fn one_of_strings(names: &[&str]) -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(names.iter().copied()))
        .build()
}

/// Where a listed object comes from: the config file (read-only) or the database.
pub(crate) fn config_or_database() -> utoipa::openapi::Object {
    one_of_strings(&["config", "database"])
}

/// The built-in public client the admin UI signs in with.
pub use crate::config::ADMIN_CLIENT;

/// Management: clients, users, connectors, the policy, sessions and keys, and the audit trail's
/// admin side. Takes the protocol core by reference and changes it through its live objects.
#[derive(Debug, Clone)]
pub struct AdminService {
    pub core: std::sync::Arc<Provider>,
    /// Clients, connectors, users, sessions and the audit trail as admins change them.
    pub db: crate::storage::Db,
    /// Where no connector may connect (`connectorNetwork.denyNetworks`), for those admins create.
    pub deny_networks: crate::connector::egress::DenyList,
    /// The admin-change stamp this replica last loaded.
    pub generation: std::sync::Arc<std::sync::Mutex<String>>,
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

/// A scope the client wrote wrong: its text says where.
impl From<crate::registry::scope::ScopeError> for AdminError {
    fn from(e: crate::registry::scope::ScopeError) -> Self {
        AdminError::BadRequest(e.to_string())
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
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Session)]
pub struct SessionView {
    pub id: String,
    /// The user's subject (the `sub` of their tokens): revoking by it ends all their sessions.
    pub subject: String,
    pub client_id: String,
    pub user: String,
    pub email: String,
    pub connector: String,
    pub groups: Vec<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub last_used_at: i64,
}

/// A signed-in browser (single sign-on session), as the sessions page and API list it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = BrowserSession)]
pub struct BrowserSessionView {
    /// The session's id: the `sid` of the tokens issued in it.
    pub id: String,
    /// The user's subject: revoking by it ends all their sessions.
    pub subject: String,
    pub user: String,
    pub email: String,
    pub connector: String,
    /// The browser's address and user agent at the last login.
    pub address: String,
    pub user_agent: String,
    /// How the user logged in (RFC 8176 `amr` values).
    pub amr: Vec<String>,
    /// The clients the session logged in to.
    pub clients: Vec<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub last_seen_at: i64,
    /// Unix seconds: the end of its absolute lifetime.
    pub expires_at: i64,
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
        grant_types: Some(vec![crate::config::GrantType::AuthorizationCode]),
        post_logout_redirect_uris: Vec::new(),
        require_pkce: true,
        allowed_connectors: Vec::new(),
        backchannel_logout_uri: None,
        mfa_chain: None,
        sso_shared_with: None,
        refresh_bound_to_session: false,
        version: String::new(),
    }
}

pub fn redirect_uri(issuer: &str) -> String {
    format!("{}/admin/callback", issuer.trim_end_matches('/'))
}

impl AdminService {
    /// Live logins, newest use first.
    pub async fn live_sessions(
        &self,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<SessionView>, AdminError> {
        let rows = self
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

    /// Signed-in browsers, the most recently used first.
    pub async fn browser_sessions(
        &self,
        subject: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<BrowserSessionView>, AdminError> {
        let now = self.core.clock.now();
        let (limit, offset) = (limit.clamp(1, 500), offset.max(0));
        let rows = match subject {
            // One user's: few, so filtered and paged here.
            Some(sub) => match Identity::parse_subject(sub) {
                Some((_, connector)) => self
                    .db
                    .browser_sessions_of(&connector, sub)
                    .await?
                    .into_iter()
                    .filter(|r| r.ended(now).is_none())
                    .skip(offset as usize)
                    .take(limit as usize)
                    .collect(),
                None => Vec::new(),
            },
            None => self.db.live_browser_sessions(now, limit, offset).await?,
        };
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let id: Identity = serde_json::from_str(&r.identity).unwrap_or_default();
            let clients = self
                .db
                .session_clients(&r.id)
                .await?
                .into_iter()
                .map(|c| c.client_id)
                .collect();
            out.push(BrowserSessionView {
                id: r.id,
                subject: r.subject,
                user: if id.preferred_username.is_empty() {
                    id.username
                } else {
                    id.preferred_username
                },
                email: id.email,
                connector: r.connector_id,
                address: r.address,
                user_agent: r.user_agent,
                amr: r
                    .amr
                    .split(' ')
                    .filter(|m| !m.is_empty())
                    .map(str::to_string)
                    .collect(),
                clients,
                created_at: r.created_at,
                last_seen_at: r.last_seen_at,
                expires_at: r.expires_at,
            });
        }
        Ok(out)
    }

    /// Sign a browser out: its session ends, its clients are told.
    pub async fn end_browser_session(&self, admin: &Admin, id: &str) -> Result<(), AdminError> {
        let change = self.audit_change(admin, "session.end_browser", id).await?;
        if !self
            .core
            .end_session(id, "an administrator ended it")
            .await?
        {
            return Err(AdminError::NotFound);
        }
        tracing::info!(admin = %admin.name, "admin ended a browser session");
        change.succeeded(serde_json::json!({})).await;
        Ok(())
    }

    /// End a login: its refresh token stops working at once.
    pub async fn revoke_session(&self, admin: &Admin, id: &str) -> Result<(), AdminError> {
        let change = self.audit_change(admin, "session.revoke", id).await?;
        if !self.db.family_is_live(id).await? {
            return Err(AdminError::NotFound);
        }
        self.db
            .revoke_refresh_family(id, self.core.clock.now())
            .await?;
        tracing::info!(admin = %admin.name, session = %id, "admin revoked a session");
        change.succeeded(serde_json::json!({})).await;
        Ok(())
    }

    /// End every login of one user, with every client, their browser sessions and their admin
    /// sessions: (refresh tokens, admin sessions, browser sessions) ended; `NotFound` if they
    /// hold none.
    pub async fn revoke_user_sessions(
        &self,
        admin: &Admin,
        subject: &str,
    ) -> Result<(u64, u64, u64), AdminError> {
        let change = self
            .audit_change(admin, "session.revoke_user", subject)
            .await?;
        let now = self.core.clock.now();
        let n = self.db.revoke_refresh_of_user(subject, now).await?;
        self.core.refuse_access_tokens_of(subject).await?;
        let admin_sessions = self.db.delete_admin_sessions_of(subject).await?;
        let browser_sessions = self.end_browser_sessions_of(subject).await?;
        if n == 0 && admin_sessions == 0 && browser_sessions == 0 {
            return Err(AdminError::NotFound);
        }
        change
            .succeeded(serde_json::json!({
                "tokens": n,
                "admin_sessions": admin_sessions,
                "browser_sessions": browser_sessions,
            }))
            .await;
        Ok((n, admin_sessions, browser_sessions))
    }

    /// End the browser sessions of the user `subject` names (its clients are told).
    pub(crate) async fn end_browser_sessions_of(&self, subject: &str) -> Result<u64, AdminError> {
        let Some((_, connector)) = crate::identity::Identity::parse_subject(subject) else {
            return Ok(0);
        };
        Ok(self
            .core
            .end_sessions_of(&connector, subject, "an administrator ended them")
            .await?)
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

    /// Logins and login failures over the last 24 hours.
    pub async fn login_counts(&self) -> Result<(i64, i64), AdminError> {
        let since = self.core.clock.now() - 86_400;
        Ok((
            self.db.count_audit("login", "success", since).await?,
            self.db.count_audit("login", "failure", since).await?,
        ))
    }
}

/// A question for the policy simulator.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
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
    /// Registry scopes (`repository:team/app:push,pull`): type, name, actions (the name may
    /// hold a host:port).
    #[serde(default)]
    #[schema(
        max_length = 200,
        pattern = "^[a-z0-9]+(\\([a-z0-9]+\\))?:[a-z0-9._:-]+(/[a-z0-9._:-]+)*:(\\*|[a-z]+)(,(\\*|[a-z]+))*$"
    )]
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
            .collect::<Result<Vec<_>, _>>()?;
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
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Key)]
pub struct KeyView {
    pub kid: String,
    pub alg: String,
    pub active_from: i64,
    pub retired_at: Option<i64>,
    /// The key that signs now.
    pub signing: bool,
}
