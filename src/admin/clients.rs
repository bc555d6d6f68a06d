//! OAuth2 clients as an admin manages them: those of the config file are read-only; those
//! created here live in the database. A change is stamped in the database, and every replica
//! reloads the set when it sees a new stamp (within a second), the one that made it at once.
//! A change that names the version it read lands only on that version (see `version`).

use serde::{Deserialize, Serialize};

use super::AdminService;
use super::version::{self, Precondition};
use super::{ADMIN_CLIENT, Admin, AdminError, check_id};
use crate::oauth::client::Client;
use crate::storage::clients::ClientRow;

/// A client as the admin pages and API show it; never its secret.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Client)]
pub struct ClientView {
    pub id: String,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub trusted_peers: Vec<String>,
    pub grant_types: Vec<String>,
    pub public: bool,
    pub require_pkce: bool,
    /// The connectors the client may log in through; empty, every one.
    pub allowed_connectors: Vec<String>,
    /// Where back-channel logout tokens are POSTed; none, the client is not told.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub backchannel_logout_uri: Option<String>,
    /// The second factors (`mfa.authenticators[].id`) a login must pass, in order; absent:
    /// the server's default chain; empty: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub mfa_chain: Option<Vec<String>>,
    /// "config" (read-only) or "database".
    #[schema(schema_with = super::config_or_database)]
    pub source: &'static str,
    /// What a change expects (the API's ETag); none for the config file's clients.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub version: Option<String>,
}

/// What an admin sends to create or change a client.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    #[schema(min_length = 1, max_length = 128, pattern = "\\S")]
    pub name: String,
    #[serde(default)]
    #[schema(schema_with = uri_list)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    #[schema(schema_with = uri_list)]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub trusted_peers: Vec<String>,
    #[serde(default)]
    #[schema(schema_with = grant_type_names)]
    pub grant_types: Vec<String>,
    #[serde(default)]
    pub public: bool,
    #[serde(default)]
    pub require_pkce: bool,
    /// The connectors the client may log in through (Dex's `allowedConnectors`); empty or
    /// absent, every one.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub allowed_connectors: Vec<String>,
    /// Where a logout token is POSTed when a session the client logged in to ends (OpenID
    /// Connect Back-Channel Logout 1.0, Dex's `backchannelLogoutURI`): an https URL, or http
    /// to this machine (`localhost`, `127.x.x.x`), in the grammar of redirect URIs. Absent,
    /// null or empty: the client is not told.
    #[serde(default)]
    #[schema(schema_with = backchannel_uri)]
    pub backchannel_logout_uri: Option<String>,
    /// The second factors a login must pass (Dex's `mfaChain`: ids of
    /// `mfa.authenticators`); absent, the server's `mfa.defaultMFAChain`; empty, none.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$", nullable = false)]
    pub mfa_chain: Option<Vec<String>>,
}

impl ClientSpec {
    /// The back-channel logout URI, empty read as none (as in Dex).
    pub fn backchannel_uri(&self) -> Option<&str> {
        self.backchannel_logout_uri
            .as_deref()
            .filter(|u| !u.is_empty())
    }
}

/// What `redirect_uri_ok` accepts, as an ECMA 262 regex (keep the two in step).
const URI_PATTERN: &str = "^https?://(([a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?\\.)*[a-z]([a-z0-9-]{0,30}[a-z0-9])?|((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9]))(:[1-9][0-9]{0,3})?(/[A-Za-z0-9._~/-]*)?(\\?[A-Za-z0-9._~=&-]*)?$";

/// What `backchannel_uri_ok` accepts (or empty, for none), as an ECMA 262 regex: the redirect
/// grammar, with https, or http to this machine (keep the two in step).
const BACKCHANNEL_URI_PATTERN: &str = "^(https://(([a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?\\.)*[a-z]([a-z0-9-]{0,30}[a-z0-9])?|((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9]))(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?(/[A-Za-z0-9._~/-]*)?(\\?[A-Za-z0-9._~=&-]*)?|http://(localhost|127(\\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3})(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?(/[A-Za-z0-9._~/-]*)?(\\?[A-Za-z0-9._~=&-]*)?)?$";

/// A back-channel logout URI as `backchannel_uri_ok` accepts it; null or empty for none.
pub fn backchannel_uri() -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{SchemaType, Type};
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .max_length(Some(2000))
        .pattern(Some(BACKCHANNEL_URI_PATTERN))
        .build()
}

/// Redirect URIs as `redirect_uri_ok` accepts them.
pub fn uri_list() -> utoipa::openapi::Array {
    utoipa::openapi::Array::new(
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .max_length(Some(2000))
            .pattern(Some(URI_PATTERN)),
    )
}

/// The grant types a client may be given: the config's names.
pub fn grant_type_names() -> utoipa::openapi::Array {
    let names = crate::config::GrantType::names();
    utoipa::openapi::Array::new(
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .enum_values(Some(names.iter().copied())),
    )
}

fn json(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn list(s: &str) -> Vec<String> {
    serde_json::from_str(s).unwrap_or_default()
}

pub fn client_from_row(r: &ClientRow) -> Client {
    Client {
        id: r.id.clone(),
        secret_hash: r.secret_hash.clone(),
        redirect_uris: list(&r.redirect_uris),
        trusted_peers: list(&r.trusted_peers),
        public: r.public_client != 0,
        name: r.name.clone(),
        logo_url: None,
        grant_types: crate::oauth::client::grants_named(&list(&r.grant_types)),
        post_logout_redirect_uris: list(&r.post_logout_redirect_uris),
        require_pkce: r.require_pkce != 0 || r.public_client != 0,
        allowed_connectors: list(&r.allowed_connectors),
        backchannel_logout_uri: r.backchannel_logout_uri.clone().filter(|u| !u.is_empty()),
        mfa_chain: r.mfa_chain.as_deref().map(list),
        sso_shared_with: r.sso_shared_with.as_deref().map(list),
        refresh_bound_to_session: r.refresh_token_lifetime == "session",
        version: r.version.clone(),
    }
}

/// A redirect URI admins may register: `http(s)://host[:port][/path][?query]` with a plain
/// host (lower-case DNS labels, the last starting with a letter, or a dotted IPv4 address), and
/// no fragment, user info or percent-encoding. Narrower than URLs in general on purpose: what is
/// registered is compared byte for byte, and the API document states this same grammar.
pub fn redirect_uri_ok(u: &str) -> bool {
    plain_uri(u, 9999)
}

/// The grammar of [`redirect_uri_ok`], with ports up to `max_port`.
fn plain_uri(u: &str, max_port: u32) -> bool {
    if u.len() > 2000 {
        return false;
    }
    let Some(rest) = u
        .strip_prefix("https://")
        .or_else(|| u.strip_prefix("http://"))
    else {
        return false;
    };
    let host_end = rest.find([':', '/', '?']).unwrap_or(rest.len());
    let (host, mut rest) = rest.split_at(host_end);
    if !(host_ok(host) || ipv4_ok(host)) {
        return false;
    }
    if let Some(r) = rest.strip_prefix(':') {
        let end = r.find(['/', '?']).unwrap_or(r.len());
        let port = &r[..end];
        if !(1..=5).contains(&port.len())
            || port.starts_with('0')
            || !port.bytes().all(|b| b.is_ascii_digit())
            || port.parse::<u32>().map_or(true, |p| p > max_port)
        {
            return false;
        }
        rest = &r[end..];
    }
    if rest.starts_with('/') {
        let end = rest.find('?').unwrap_or(rest.len());
        if !rest[..end]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._~/-".contains(&b))
        {
            return false;
        }
        rest = &rest[end..];
    }
    match rest.strip_prefix('?') {
        Some(q) => q
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._~=&-".contains(&b)),
        None => rest.is_empty(),
    }
}

fn label_ok(l: &str) -> bool {
    (1..=32).contains(&l.len())
        && l.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !l.starts_with('-')
        && !l.ends_with('-')
}

fn host_ok(h: &str) -> bool {
    let labels: Vec<&str> = h.split('.').collect();
    labels.iter().all(|l| label_ok(l))
        && labels
            .last()
            .is_some_and(|l| l.starts_with(|c: char| c.is_ascii_lowercase()))
}

fn ipv4_ok(h: &str) -> bool {
    let parts: Vec<&str> = h.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 3
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p.len() == 1 || !p.starts_with('0'))
                && p.parse::<u16>().is_ok_and(|n| n <= 255)
        })
}

/// A back-channel logout URI admins may register here: the grammar of redirect URIs (see
/// `redirect_uri_ok`) with any port (a receiver on this machine often has a high one), https,
/// or http to this machine. Stricter than the config file, which lets http to another machine
/// through with a warning as Dex does: the API has no warnings to give, and the logout token
/// would cross the network in clear.
pub fn backchannel_uri_ok(u: &str) -> bool {
    plain_uri(u, u32::from(u16::MAX))
        && (u.starts_with("https://") || {
            let host = u
                .trim_start_matches("http://")
                .split([':', '/', '?'])
                .next()
                .unwrap_or_default();
            host == "localhost" || (ipv4_ok(host) && host.starts_with("127."))
        })
}

/// Everything wrong with a spec, as (field, message).
pub fn check_spec(spec: &ClientSpec) -> Vec<(&'static str, String)> {
    let mut errs = Vec::new();
    if !super::users::has_visible(&spec.name) || spec.name.chars().count() > 128 {
        errs.push(("name", "a name of 1 to 128 characters".to_string()));
    }
    for (field, uris) in [
        ("redirect_uris", &spec.redirect_uris),
        ("post_logout_redirect_uris", &spec.post_logout_redirect_uris),
    ] {
        if let Some(bad) = uris.iter().find(|u| !redirect_uri_ok(u)) {
            errs.push((
                field,
                format!(
                    "`{}` is not an http(s) URL with a plain host and no fragment",
                    bad.chars().take(80).collect::<String>()
                ),
            ));
        }
    }
    if let Some(u) = spec.backchannel_uri().filter(|u| !backchannel_uri_ok(u)) {
        errs.push((
            "backchannel_logout_uri",
            format!(
                "`{}` is not an https URL (or http to this machine) with a plain host and no \
                 fragment",
                u.chars().take(80).collect::<String>()
            ),
        ));
    }
    if let Some(g) = spec
        .grant_types
        .iter()
        .find(|g| crate::config::GrantType::parse(g).is_none())
    {
        errs.push((
            "grant_types",
            format!(
                "`{}` is not a grant type",
                g.chars().take(80).collect::<String>()
            ),
        ));
    }
    if let Some(p) = spec.trusted_peers.iter().find(|p| check_id(p).is_some()) {
        errs.push((
            "trusted_peers",
            format!(
                "`{}` is not a client id",
                p.chars().take(80).collect::<String>()
            ),
        ));
    }
    if let Some(c) = spec
        .allowed_connectors
        .iter()
        .find(|c| check_id(c).is_some())
    {
        errs.push((
            "allowed_connectors",
            format!(
                "`{}` is not a connector id",
                c.chars().take(80).collect::<String>()
            ),
        ));
    }
    errs
}

impl AdminService {
    /// Load what admins keep in the database (clients, connectors, the policy) into this
    /// replica.
    pub async fn reload_admin_objects(&self) -> Result<(), AdminError> {
        let rows = self.db.list_clients().await?;
        self.core
            .clients
            .replace_dynamic(rows.iter().map(client_from_row).collect());
        self.reload_connectors().await?;
        self.reload_policy().await?;
        Ok(())
    }

    /// Reload if another replica changed something since the last look.
    pub async fn sync_admin_objects(&self) -> Result<(), AdminError> {
        let now = self.db.generation().await?;
        let seen = self
            .generation
            .lock()
            .map(|g| g.clone())
            .unwrap_or_default();
        if now != seen {
            self.reload_admin_objects().await?;
            if let Ok(mut g) = self.generation.lock() {
                *g = now;
            }
        }
        Ok(())
    }

    /// After a change: stamp it for the other replicas and load it here at once.
    pub(super) async fn changed(&self) -> Result<(), AdminError> {
        let stamp = crate::secret::random_token(12);
        self.db.bump_generation(&stamp).await?;
        self.reload_admin_objects().await?;
        if let Ok(mut g) = self.generation.lock() {
            *g = stamp;
        }
        Ok(())
    }

    pub fn client_views(&self) -> Vec<ClientView> {
        self.core
            .clients
            .all()
            .into_iter()
            .filter(|c| c.id != ADMIN_CLIENT)
            .map(|c| self.client_view(&c))
            .collect()
    }

    /// One client, as this replica has it.
    pub fn client_view_of(&self, id: &str) -> Option<ClientView> {
        self.core
            .clients
            .get(id)
            .filter(|c| c.id != ADMIN_CLIENT)
            .map(|c| self.client_view(&c))
    }

    fn client_view(&self, c: &Client) -> ClientView {
        let database = !self.core.clients.is_static(&c.id);
        ClientView {
            source: if database { "database" } else { "config" },
            id: c.id.clone(),
            name: c.name.clone(),
            redirect_uris: c.redirect_uris.clone(),
            post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
            trusted_peers: c.trusted_peers.clone(),
            grant_types: c.grant_names(),
            public: c.public,
            require_pkce: c.require_pkce,
            allowed_connectors: c.allowed_connectors.clone(),
            backchannel_logout_uri: c.backchannel_logout_uri.clone(),
            mfa_chain: c.mfa_chain.clone(),
            version: database.then(|| c.version.clone()),
        }
    }

    fn row(
        &self,
        id: &str,
        spec: &ClientSpec,
        secret_hash: Option<String>,
        version: String,
    ) -> ClientRow {
        let now = self.core.clock.now();
        ClientRow {
            id: id.to_string(),
            secret_hash,
            name: spec.name.trim().to_string(),
            redirect_uris: json(&spec.redirect_uris),
            post_logout_redirect_uris: json(&spec.post_logout_redirect_uris),
            trusted_peers: json(&spec.trusted_peers),
            grant_types: json(&spec.grant_types),
            public_client: i64::from(spec.public),
            require_pkce: i64::from(spec.require_pkce),
            allowed_connectors: json(&spec.allowed_connectors),
            backchannel_logout_uri: spec.backchannel_uri().map(str::to_string),
            mfa_chain: spec.mfa_chain.as_deref().map(json),
            sso_shared_with: None,
            refresh_token_lifetime: String::new(),
            created_at: now,
            updated_at: now,
            version,
        }
    }

    fn checked(&self, id: &str, spec: &ClientSpec) -> Result<(), AdminError> {
        if let Some(m) = check_id(id) {
            return Err(AdminError::BadRequest(format!("id: {m}")));
        }
        if let Some((f, m)) = check_spec(spec).into_iter().next() {
            return Err(AdminError::BadRequest(format!("{f}: {m}")));
        }
        if id == ADMIN_CLIENT || self.core.clients.is_static(id) {
            return Err(AdminError::Conflict(format!(
                "id: {id} is defined by the config file and is read-only here"
            )));
        }
        // A misspelt id would leave the client with fewer ways in than meant, or none.
        if let Some(c) = spec
            .allowed_connectors
            .iter()
            .find(|c| self.core.connector(c).is_none())
        {
            return Err(AdminError::BadRequest(format!(
                "allowed_connectors: `{c}` is not a connector ({})",
                self.core.connector_ids().join(", ")
            )));
        }
        // A misspelt authenticator would let logins through without the factor.
        let auths = &self.core.second_factors.authenticators;
        for id in spec.mfa_chain.iter().flatten() {
            match auths.get(id) {
                Some(_) => {}
                None => {
                    let known: Vec<&str> = auths.all.iter().map(|a| a.id.as_str()).collect();
                    return Err(AdminError::BadRequest(format!(
                        "mfa_chain: `{id}` is not an authenticator of mfa.authenticators ({})",
                        known.join(", ")
                    )));
                }
            }
        }
        Ok(())
    }

    /// Create a client: its secret (confidential clients), shown once and stored hashed, and
    /// its version.
    pub async fn create_client(
        &self,
        admin: &Admin,
        id: &str,
        spec: &ClientSpec,
    ) -> Result<(Option<String>, String), AdminError> {
        let change = self.audit_change(admin, "client.create", id).await?;
        self.checked(id, spec)?;
        let secret = (!spec.public).then(|| crate::secret::random_token(32));
        let row = self.row(
            id,
            spec,
            secret.as_deref().map(crate::secret::hash_secret),
            version::fresh(),
        );
        if !self.db.insert_client(&row).await? {
            return Err(AdminError::Conflict(format!("id: {id} already exists")));
        }
        self.changed().await?;
        change.succeeded(serde_json::json!({ "name": spec.name, "redirect_uris": spec.redirect_uris, "public": spec.public, "allowed_connectors": spec.allowed_connectors, "mfa_chain": spec.mfa_chain, "backchannel_logout_uri": spec.backchannel_uri() }))
            .await;
        Ok((secret, row.version))
    }

    /// Write a new row for database client `id`, made by `make` from the stored one, if
    /// `expect` holds for the stored version: (the row before, the row written). Without a
    /// precondition, a write that another got ahead of is made again from what that one wrote.
    async fn rewrite_client(
        &self,
        id: &str,
        expect: Option<&Precondition>,
        make: impl Fn(&ClientRow) -> Result<ClientRow, AdminError>,
    ) -> Result<(ClientRow, ClientRow), AdminError> {
        for _ in 0..version::TRIES {
            let Some(old) = self.db.get_client_fresh(id).await? else {
                return Err(AdminError::NotFound);
            };
            if !version::holds(expect, &old.version) {
                return Err(stale(id));
            }
            let new = make(&old)?;
            if self.db.update_client_row(&new, &old.version).await? {
                return Ok((old, new));
            }
            if expect.is_some() {
                return Err(stale(id));
            }
        }
        Err(AdminError::Unavailable(format!(
            "client {id} kept changing while it was being changed"
        )))
    }

    /// Change a client's settings (its secret stays), if `expect` holds; its new version.
    pub async fn update_client(
        &self,
        admin: &Admin,
        id: &str,
        spec: &ClientSpec,
        expect: Option<&Precondition>,
    ) -> Result<String, AdminError> {
        let change = self.audit_change(admin, "client.update", id).await?;
        // An id that names no client is not found, whatever else is wrong with the request.
        if self.core.clients.get(id).is_none() {
            return Err(AdminError::NotFound);
        }
        self.checked(id, spec)?;
        let (old, new) = self
            .rewrite_client(id, expect, |old| {
                let secret_hash = if spec.public {
                    None
                } else {
                    old.secret_hash.clone()
                };
                if !spec.public && secret_hash.is_none() {
                    return Err(AdminError::Conflict(
                        "public: a public client becomes confidential by rotating its secret"
                            .into(),
                    ));
                }
                Ok(self.row(id, spec, secret_hash, version::fresh()))
            })
            .await?;
        self.changed().await?;
        let old = client_from_row(&old);
        change.succeeded(serde_json::json!({
                "before": { "name": old.name, "redirect_uris": old.redirect_uris, "grant_types": old.grant_types, "public": old.public, "allowed_connectors": old.allowed_connectors, "mfa_chain": old.mfa_chain, "backchannel_logout_uri": old.backchannel_logout_uri },
                "after": { "name": spec.name, "redirect_uris": spec.redirect_uris, "grant_types": spec.grant_types, "public": spec.public, "allowed_connectors": spec.allowed_connectors, "mfa_chain": spec.mfa_chain, "backchannel_logout_uri": spec.backchannel_uri() },
            }))
            .await;
        Ok(new.version)
    }

    /// A new secret for a database client (the old one stops working), if `expect` holds:
    /// the secret, shown once, and the client's new version.
    pub async fn rotate_client_secret(
        &self,
        admin: &Admin,
        id: &str,
        expect: Option<&Precondition>,
    ) -> Result<(String, String), AdminError> {
        let change = self.audit_change(admin, "client.rotate_secret", id).await?;
        if self.core.clients.is_static(id) || id == ADMIN_CLIENT {
            return Err(AdminError::Conflict(format!(
                "{id} is defined by the config file and is read-only here"
            )));
        }
        let secret = crate::secret::random_token(32);
        let (_, new) = self
            .rewrite_client(id, expect, |old| {
                let mut new = old.clone();
                new.secret_hash = Some(crate::secret::hash_secret(&secret));
                // A public client required PKCE; as a confidential one it still does.
                new.require_pkce = i64::from(old.require_pkce != 0 || old.public_client != 0);
                new.public_client = 0;
                new.updated_at = self.core.clock.now();
                new.version = version::fresh();
                Ok(new)
            })
            .await?;
        // Whoever took the old secret may hold tokens made with it: they end with it.
        self.db
            .raise_client_token_floor(id, self.core.clock.now())
            .await?;
        self.changed().await?;
        change.succeeded(serde_json::json!({})).await;
        Ok((secret, new.version))
    }

    /// Delete a database client, if `expect` holds for its version.
    pub async fn delete_client(
        &self,
        admin: &Admin,
        id: &str,
        expect: Option<&Precondition>,
    ) -> Result<(), AdminError> {
        let change = self.audit_change(admin, "client.delete", id).await?;
        if self.core.clients.is_static(id) || id == ADMIN_CLIENT {
            return Err(AdminError::Conflict(format!(
                "{id} is defined by the config file and is read-only here"
            )));
        }
        if let Some(p) = expect {
            let Some(old) = self.db.get_client_fresh(id).await? else {
                return Err(AdminError::NotFound);
            };
            if !p.holds(&old.version) || !self.db.delete_client(id, Some(&old.version)).await? {
                return Err(stale(id));
            }
        } else if !self.db.delete_client(id, None).await? {
            return Err(AdminError::NotFound);
        }
        // A client made again under this id is another client: this one's tokens stay dead.
        self.db
            .raise_client_token_floor(id, self.core.clock.now())
            .await?;
        self.changed().await?;
        change.succeeded(serde_json::json!({})).await;
        Ok(())
    }
}

fn stale(id: &str) -> AdminError {
    AdminError::Stale(format!(
        "client {id} was changed since the version this change expects"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_follow_the_documented_grammar() {
        for ok in [
            "https://app.example.com/callback",
            "http://127.0.0.1:8000/callback",
            "http://localhost:5555/cb?x=1&y=2",
            "https://a",
        ] {
            assert!(redirect_uri_ok(ok), "{ok}");
        }
        for bad in [
            "javascript:alert(1)",
            "https://app.example.com/cb#frag",
            "https://user@app.example.com/",
            "https://App.example.com/",
            "https://app.example.com:0/",
            "https://app.example.com:99999/",
            "https://1.2.3/",
            "https://256.1.1.1/",
            "https://x.8/",
            "https://a*b.com/",
            "https://app.example.com/%2e",
            "https:///path",
        ] {
            assert!(!redirect_uri_ok(bad), "{bad}");
        }
    }

    #[test]
    fn backchannel_uris_are_https_or_this_machine_and_the_document_says_the_same() {
        let pattern = regex_automata::meta::Regex::new(BACKCHANNEL_URI_PATTERN).unwrap();
        for (u, ok) in [
            ("https://app.example.com/backchannel-logout", true),
            ("https://app.example.com:8443/bcl?tenant=a", true),
            ("https://10.1.2.3/bcl", true),
            ("http://127.0.0.1:5555/backchannel-logout", true),
            ("http://127.9.8.7/bcl", true),
            ("http://localhost:8080/bcl", true),
            ("http://127.0.0.1:65535/bcl", true),
            ("http://127.0.0.1:39999/bcl", true),
            ("http://127.0.0.1:65536/bcl", false),
            ("http://127.0.0.1:0/bcl", false),
            ("http://127.0.0.1:080/bcl", false),
            ("https://app.example.com:100000/bcl", false),
            ("http://app.example.com/bcl", false),
            ("http://10.1.2.3/bcl", false),
            ("http://128.0.0.1/bcl", false),
            ("http://localhost.evil.example/bcl", false),
            ("http://127.0.0.1.evil.example/bcl", false),
            ("https://app.example.com/bcl#x", false),
            ("https://user@app.example.com/bcl", false),
            ("ftp://app.example.com/bcl", false),
            ("/bcl", false),
            ("http://", false),
        ] {
            assert_eq!(backchannel_uri_ok(u), ok, "{u}");
            assert_eq!(pattern.is_match(u), ok, "the pattern on {u}");
        }
        assert!(pattern.is_match(""), "empty is none");
    }
}
