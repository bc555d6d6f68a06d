//! Typed configuration in Dex's `config.yaml` layout, plus Gantry's own keys.
//!
//! A Dex file that uses only the keys below must load unchanged. Unknown keys are errors that
//! name their path; type errors name the key and the line. This module never reads the
//! environment except through `$VAR` expansion of connector configs and the `*Env` keys.

pub mod policy;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

/// Everything wrong with a config file, already phrased for the operator.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Parse(String),
    #[error("invalid config: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Config {
    pub issuer: String,
    pub storage: StorageConfig,
    #[serde(default)]
    pub web: WebConfig,
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    #[serde(default)]
    pub logger: LoggerConfig,
    #[serde(default)]
    pub oauth2: OAuth2Config,
    #[serde(default)]
    pub expiry: ExpiryConfig,
    #[serde(default)]
    pub frontend: FrontendConfig,
    #[serde(default)]
    pub static_clients: Vec<StaticClient>,
    #[serde(default, rename = "enablePasswordDB")]
    pub enable_password_db: bool,
    #[serde(default)]
    pub static_passwords: Vec<StaticPassword>,
    #[serde(default)]
    pub connectors: Vec<ConnectorConfig>,
    /// Gantry: which algorithm new signing keys use.
    #[serde(default)]
    pub signing: SigningConfig,
    /// Gantry: who may do what on registries and clusters.
    #[serde(default)]
    pub policy: policy::PolicyConfig,
    /// Gantry: the Docker Registry v2 token service.
    #[serde(default)]
    pub registry: RegistryConfig,
    /// Gantry: the clusters Gantry's tokens log in to.
    #[serde(default)]
    pub kubernetes: KubernetesConfig,
    /// Gantry: keys that seal upstream credentials at rest.
    #[serde(default)]
    pub encryption: EncryptionConfig,
    /// Gantry: request budgets of the endpoints that take credentials.
    #[serde(default)]
    pub rate_limits: crate::ratelimit::RateLimitsConfig,
    /// Gantry: the audit trail.
    #[serde(default)]
    pub audit: AuditConfig,
    /// Gantry: where connectors may not connect.
    #[serde(default)]
    pub connector_network: ConnectorNetworkConfig,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AuditConfig {
    /// How long audit events (and the hourly token counts) are kept: a duration like 2160h
    /// (the default, 90 days), at least 1h.
    pub retention: Option<String>,
}

/// Where connectors may connect. Dex's `connectors` is a list, so this has a section of its own.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConnectorNetworkConfig {
    /// Networks (CIDRs) no connector call may connect into, checked on the resolved address;
    /// empty (the default) denies nothing.
    #[serde(default)]
    pub deny_networks: Vec<String>,
}

/// Base64 32-byte keys (`openssl rand -base64 32`), `$VAR` expanded; the first seals, all open.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptionConfig {
    #[serde(default)]
    pub keys: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RegistryConfig {
    #[serde(default)]
    pub services: Vec<RegistryService>,
    /// PEM files of the registry CA; without them Gantry keeps its own CA in the database.
    pub ca_cert: Option<String>,
    pub ca_key: Option<String>,
    /// Clients whose refresh tokens `gantry registry login` may exchange, once, for a registry
    /// identity token (default: gantry-cli).
    #[serde(default)]
    pub login_clients: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RegistryService {
    /// The registry's `auth.token.service`.
    pub name: String,
    /// The registry's `auth.token.issuer`: the `iss` of its tokens.
    pub issuer: String,
    /// Token lifetime, at least 60s (default 5m).
    #[serde(rename = "tokenTTL")]
    pub token_ttl: Option<String>,
    /// Gantry access tokens accepted as a registry password on this service: only those whose
    /// audience (the client they were issued to) is listed. Empty (the default): none.
    #[serde(default)]
    pub access_token_audiences: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KubernetesConfig {
    pub username_claim: Option<String>,
    pub username_prefix: Option<String>,
    pub groups_prefix: Option<String>,
    #[serde(default)]
    pub clusters: Vec<KubeCluster>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KubeCluster {
    pub name: String,
    #[serde(rename = "clientID")]
    pub client_id: String,
    pub server: Option<String>,
    pub certificate_authority_data: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub config: StorageParams,
}

/// The union of Dex's sqlite3 and postgres storage keys; `validate` checks which apply.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StorageParams {
    pub file: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub database: Option<String>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub ssl: Option<SslConfig>,
    pub dsn: Option<String>,
    pub connection_timeout: Option<u64>,
    pub max_open_conns: Option<u32>,
    pub max_idle_conns: Option<u32>,
    pub conn_max_lifetime: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SslConfig {
    pub mode: Option<String>,
    pub server_name: Option<String>,
    pub ca_file: Option<String>,
    pub key_file: Option<String>,
    pub cert_file: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WebConfig {
    pub http: Option<String>,
    pub https: Option<String>,
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    #[serde(default)]
    pub allowed_headers: Vec<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TelemetryConfig {
    pub http: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LoggerConfig {
    pub level: Option<String>,
    pub format: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FrontendConfig {
    pub issuer: Option<String>,
    #[serde(rename = "logoURL")]
    pub logo_url: Option<String>,
    pub dir: Option<String>,
    pub theme: Option<String>,
    #[serde(default)]
    pub extra: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OAuth2Config {
    #[serde(default)]
    pub grant_types: Vec<String>,
    #[serde(default)]
    pub response_types: Vec<String>,
    #[serde(default)]
    pub skip_approval_screen: bool,
    #[serde(default)]
    pub always_show_login_screen: bool,
    pub password_connector: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExpiryConfig {
    pub id_tokens: Option<String>,
    pub auth_requests: Option<String>,
    pub device_requests: Option<String>,
    pub signing_keys: Option<String>,
    #[serde(default)]
    pub refresh_tokens: RefreshExpiryConfig,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RefreshExpiryConfig {
    #[serde(default)]
    pub disable_rotation: bool,
    pub reuse_interval: Option<String>,
    pub valid_if_not_used_for: Option<String>,
    pub absolute_lifetime: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SigningConfig {
    /// ES256 (default), RS256 or EdDSA.
    pub algorithm: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StaticClient {
    pub id: Option<String>,
    pub id_env: Option<String>,
    pub secret: Option<String>,
    pub secret_env: Option<String>,
    #[serde(default, rename = "redirectURIs")]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub trusted_peers: Vec<String>,
    #[serde(default)]
    pub public: bool,
    #[serde(default)]
    pub name: String,
    #[serde(rename = "logoURL")]
    pub logo_url: Option<String>,
    /// Gantry: narrows `oauth2.grantTypes` for this client.
    #[serde(default)]
    pub grant_types: Vec<String>,
    /// Gantry: where RP-initiated logout may send the browser back to.
    #[serde(default, rename = "postLogoutRedirectURIs")]
    pub post_logout_redirect_uris: Vec<String>,
    /// Gantry: refuse authorization requests without PKCE even for confidential clients.
    #[serde(default, rename = "requirePKCE")]
    pub require_pkce: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StaticPassword {
    pub email: String,
    pub hash: Option<String>,
    pub hash_from_env: Option<String>,
    pub username: String,
    #[serde(rename = "userID")]
    pub user_id: String,
    /// Gantry: groups for the local user.
    #[serde(default)]
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorConfig {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub config: serde_json::Value,
    /// Gantry: calls to this identity source in flight at once (default 64).
    #[serde(default, rename = "maxInFlight")]
    pub max_in_flight: Option<u32>,
}

/// Durations and limits after defaults, in seconds.
#[derive(Debug, Clone, Copy)]
pub struct Expiry {
    pub id_tokens: i64,
    pub auth_requests: i64,
    pub device_requests: i64,
    pub signing_keys: i64,
    pub disable_rotation: bool,
    pub reuse_interval: i64,
    /// 0 means no limit, as in Dex.
    pub valid_if_not_used_for: i64,
    pub absolute_lifetime: i64,
    /// `audit.retention`.
    pub audit_retention: i64,
}

impl Config {
    /// Read, parse and validate a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let cfg = Self::parse(&text)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parse YAML text; errors carry the key path and line.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let de = serde_norway::Deserializer::from_str(text);
        let mut cfg: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." || path.is_empty() {
                ConfigError::Parse(format!("config: {inner}"))
            } else {
                ConfigError::Parse(format!("config key `{path}`: {inner}"))
            }
        })?;
        cfg.resolve_env()?;
        Ok(cfg)
    }

    fn resolve_env(&mut self) -> Result<(), ConfigError> {
        for (i, c) in self.static_clients.iter_mut().enumerate() {
            if let Some(var) = &c.id_env {
                c.id = Some(env_var(var, &format!("staticClients[{i}].idEnv"))?);
            }
            if let Some(var) = &c.secret_env {
                c.secret = Some(env_var(var, &format!("staticClients[{i}].secretEnv"))?);
            }
        }
        for (i, p) in self.static_passwords.iter_mut().enumerate() {
            if let Some(var) = &p.hash_from_env {
                p.hash = Some(env_var(var, &format!("staticPasswords[{i}].hashFromEnv"))?);
            }
        }
        for c in &mut self.connectors {
            expand_env(&mut c.config);
        }
        for k in &mut self.encryption.keys {
            *k = expand_str(k);
        }
        Ok(())
    }

    /// Checks that serde cannot express: required combinations, known values, parseable durations.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        let issuer = url::Url::parse(&self.issuer)
            .map_err(|e| ConfigError::Invalid(format!("issuer `{}`: {e}", self.issuer)))?;
        if !matches!(issuer.scheme(), "http" | "https")
            || issuer.query().is_some()
            || issuer.fragment().is_some()
        {
            return bad("issuer must be an http(s) URL without query or fragment".into());
        }
        match self.storage.kind.as_str() {
            "sqlite3" => {
                if self.storage.config.file.is_none() {
                    return bad("storage.config.file is required for sqlite3".into());
                }
            }
            "postgres" => {
                let p = &self.storage.config;
                if p.dsn.is_none() && p.host.is_none() {
                    return bad("storage.config needs `dsn` or `host` for postgres".into());
                }
            }
            "memory" => {}
            other => {
                return bad(format!(
                    "storage.type `{other}` is not supported (sqlite3, postgres, memory)"
                ));
            }
        }
        if self.web.http.is_none() && self.web.https.is_none() {
            return bad("web.http or web.https must be set".into());
        }
        if self.web.https.is_some() && (self.web.tls_cert.is_none() || self.web.tls_key.is_none()) {
            return bad("web.https needs web.tlsCert and web.tlsKey".into());
        }
        if let Some(f) = &self.logger.format
            && !matches!(f.as_str(), "text" | "json")
        {
            return bad(format!("logger.format `{f}`: expected text or json"));
        }
        for g in &self.oauth2.grant_types {
            if !KNOWN_GRANTS.contains(&g.as_str()) && !IGNORED_GRANTS.contains(&g.as_str()) {
                return bad(format!("oauth2.grantTypes: unknown grant type `{g}`"));
            }
        }
        for r in &self.oauth2.response_types {
            if !matches!(r.as_str(), "code" | "token" | "id_token") {
                return bad(format!("oauth2.responseTypes: unknown response type `{r}`"));
            }
        }
        self.expiry()?;
        let mut ids = std::collections::HashSet::new();
        for (i, c) in self.static_clients.iter().enumerate() {
            let Some(id) = c.id.as_deref().filter(|s| !s.is_empty()) else {
                return bad(format!("staticClients[{i}]: id or idEnv is required"));
            };
            if id == ADMIN_CLIENT {
                return bad(format!(
                    "staticClients[{i}]: `{id}` is the admin UI's built-in client; pick another id"
                ));
            }
            if !ids.insert(id) {
                return bad(format!("staticClients[{i}]: duplicate client id `{id}`"));
            }
            if !c.public && c.secret.as_deref().is_none_or(str::is_empty) {
                return bad(format!(
                    "staticClients[{i}] `{id}`: a confidential client needs secret or secretEnv"
                ));
            }
            for g in &c.grant_types {
                if !KNOWN_GRANTS.contains(&g.as_str()) {
                    return bad(format!("staticClients[{i}].grantTypes: unknown `{g}`"));
                }
            }
            for u in c.redirect_uris.iter().chain(&c.post_logout_redirect_uris) {
                if url::Url::parse(u).is_err() {
                    return bad(format!("staticClients[{i}] `{id}`: `{u}` is not a URL"));
                }
            }
        }
        for (i, p) in self.static_passwords.iter().enumerate() {
            let Some(h) = p.hash.as_deref() else {
                return bad(format!(
                    "staticPasswords[{i}]: hash or hashFromEnv is required"
                ));
            };
            if !crate::password::is_supported_hash(h) {
                return bad(format!(
                    "staticPasswords[{i}] `{}`: hash is neither bcrypt nor argon2id",
                    p.email
                ));
            }
        }
        let mut conn_ids = std::collections::HashSet::from(["local"]);
        for (i, c) in self.connectors.iter().enumerate() {
            if !conn_ids.insert(c.id.as_str()) {
                return bad(format!(
                    "connectors[{i}]: duplicate connector id `{}`",
                    c.id
                ));
            }
        }
        for (i, svc) in self.registry.services.iter().enumerate() {
            if svc.name.is_empty() || svc.issuer.is_empty() {
                return bad(format!(
                    "registry.services[{i}]: name and issuer are required"
                ));
            }
            // Registry tokens are signed with Gantry's keys: with Gantry's issuer they would
            // read as Gantry's own tokens to anyone who checks only the issuer.
            if svc.issuer.trim_end_matches('/') == self.issuer.trim_end_matches('/') {
                return bad(format!(
                    "registry.services[{i}] `{}`: issuer must not be Gantry's issuer; name the \
                     registry's own (its auth.token.issuer, for example `gantry-registry`)",
                    svc.name
                ));
            }
            if let Some(t) = &svc.token_ttl {
                match parse_duration(t) {
                    Some(d) if d.as_secs() >= 60 => {}
                    _ => {
                        return bad(format!(
                            "registry.services[{i}].tokenTTL `{t}`: a duration of at least 60s"
                        ));
                    }
                }
            }
        }
        if self.registry.ca_cert.is_some() != self.registry.ca_key.is_some() {
            return bad("registry: caCert and caKey go together".into());
        }
        if !self.registry.services.is_empty() && self.signing.algorithm.as_deref() == Some("EdDSA")
        {
            return bad("registry: registries verify ES256 or RS256 tokens; signing.algorithm EdDSA cannot serve them".into());
        }
        if let Some(pc) = &self.oauth2.password_connector
            && !(pc == "local" && self.local_enabled())
            && !self.connectors.iter().any(|c| &c.id == pc)
        {
            return bad(format!(
                "oauth2.passwordConnector `{pc}` is not a configured connector"
            ));
        }
        Ok(())
    }

    /// What a valid file says that Gantry reads differently from what its author may expect:
    /// printed by `check-config` and logged at start. Never errors.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.rate_limits.per_user.is_some() {
            w.push(
                "rateLimits.perUser has no effect: a budget per user name let anyone lock a user \
                 out. Failed logins per user name slow down instead; perClient budgets \
                 authenticated clients"
                    .to_string(),
            );
        }
        let ids = self.connector_ids();
        if ids.len() > 1 {
            let p = &self.policy;
            let mut names: Vec<&str> = p
                .admins
                .users
                .iter()
                .chain(&p.admins.groups)
                .chain(p.rules.iter().flat_map(|r| r.users.iter().chain(&r.groups)))
                .map(String::as_str)
                .filter(|n| *n != "*")
                .filter(|n| {
                    !n.split_once(':')
                        .is_some_and(|(c, _)| ids.iter().any(|i| i == c))
                })
                .collect();
            names.sort_unstable();
            names.dedup();
            if !names.is_empty() {
                w.push(format!(
                    "policy: {} can be satisfied by a user or group of any of the connectors {}; \
                     qualify a name with its connector (for example `{}:{}`) so that only that \
                     connector's users match",
                    names
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    ids.join(", "),
                    ids[ids.len() - 1],
                    names[0]
                ));
            }
        }
        for c in &self.connectors {
            let flag = INSECURE_ALLOW_HTTP;
            if c.config.get(flag).and_then(|v| v.as_bool()) == Some(true) {
                w.push(format!(
                    "connector `{}`: config.{flag} lets Gantry talk to the provider over plain \
                     http with hosts that are not loopback; anyone on the path can log in as \
                     anyone. Use https",
                    c.id
                ));
            }
        }
        let clients: Vec<&str> = self
            .static_clients
            .iter()
            .filter_map(|c| c.id.as_deref())
            .collect();
        for s in &self.registry.services {
            for a in &s.access_token_audiences {
                if !clients.contains(&a.as_str()) {
                    w.push(format!(
                        "registry.services `{}`: accessTokenAudiences names `{a}`, which is no \
                         client in staticClients (a client created in the admin UI is fine)",
                        s.name
                    ));
                }
            }
        }
        w
    }

    /// The ids of the connectors this file configures, `local` first when it serves.
    pub fn connector_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        if self.local_enabled() {
            ids.push("local".into());
        }
        ids.extend(self.connectors.iter().map(|c| c.id.clone()));
        ids
    }

    /// Whether the built-in `local` connector serves static or database passwords.
    pub fn local_enabled(&self) -> bool {
        self.enable_password_db || !self.static_passwords.is_empty()
    }

    /// Expiry settings with Dex's defaults.
    pub fn expiry(&self) -> Result<Expiry, ConfigError> {
        let e = &self.expiry;
        let d = |v: &Option<String>, key: &str, default: i64| -> Result<i64, ConfigError> {
            match v {
                None => Ok(default),
                Some(s) => parse_duration(s)
                    .map(|d| d.as_secs() as i64)
                    .ok_or_else(|| {
                        ConfigError::Invalid(format!(
                            "expiry.{key} `{s}`: not a duration like 24h or 10m"
                        ))
                    }),
            }
        };
        // A lifetime of nothing issues what no one can use, and a key that signs for less than a
        // minute has the server rotating keys without end: both are mistakes, said at start.
        let at_least = |secs: i64, key: &str, min: i64, what: &str| {
            if secs < min {
                return Err(ConfigError::Invalid(format!(
                    "expiry.{key}: at least {what}"
                )));
            }
            Ok(secs)
        };
        Ok(Expiry {
            id_tokens: at_least(d(&e.id_tokens, "idTokens", 24 * 3600)?, "idTokens", 1, "1s")?,
            auth_requests: at_least(
                d(&e.auth_requests, "authRequests", 24 * 3600)?,
                "authRequests",
                1,
                "1s",
            )?,
            device_requests: at_least(
                d(&e.device_requests, "deviceRequests", 5 * 60)?,
                "deviceRequests",
                1,
                "1s",
            )?,
            signing_keys: at_least(
                d(&e.signing_keys, "signingKeys", 6 * 3600)?,
                "signingKeys",
                60,
                "1m",
            )?,
            disable_rotation: e.refresh_tokens.disable_rotation,
            reuse_interval: d(
                &e.refresh_tokens.reuse_interval,
                "refreshTokens.reuseInterval",
                3,
            )?,
            valid_if_not_used_for: d(
                &e.refresh_tokens.valid_if_not_used_for,
                "refreshTokens.validIfNotUsedFor",
                0,
            )?,
            absolute_lifetime: d(
                &e.refresh_tokens.absolute_lifetime,
                "refreshTokens.absoluteLifetime",
                0,
            )?,
            audit_retention: self.audit_retention()?,
        })
    }

    fn audit_retention(&self) -> Result<i64, ConfigError> {
        const DEFAULT: i64 = 90 * 86_400;
        let Some(s) = &self.audit.retention else {
            return Ok(DEFAULT);
        };
        match parse_duration(s).map(|d| d.as_secs() as i64) {
            Some(secs) if secs >= 3600 => Ok(secs),
            _ => Err(ConfigError::Invalid(format!(
                "audit.retention `{s}`: a duration of at least 1h, like 2160h (90 days)"
            ))),
        }
    }

    /// Response types from a Dex file that Gantry does not serve (implicit flow).
    pub fn response_types_ignored(&self) -> Vec<String> {
        self.oauth2
            .response_types
            .iter()
            .filter(|r| *r != "code")
            .cloned()
            .collect()
    }

    /// Grant types the server allows, after Dex's default.
    pub fn allowed_grants(&self) -> Vec<String> {
        if self.oauth2.grant_types.is_empty() {
            // client_credentials is on here but off for every client that does not list it.
            let mut g: Vec<String> = [
                "authorization_code",
                "refresh_token",
                "client_credentials",
                DEVICE_CODE_GRANT,
                // Off unless a connector sets allowTokenExchange.
                TOKEN_EXCHANGE_GRANT,
            ]
            .map(String::from)
            .to_vec();
            if self.oauth2.password_connector.is_some() {
                g.push("password".into());
            }
            g
        } else {
            self.oauth2
                .grant_types
                .iter()
                .filter(|g| KNOWN_GRANTS.contains(&g.as_str()))
                .cloned()
                .collect()
        }
    }
}

/// RFC 8628's grant type.
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// RFC 8693's grant type.
pub const TOKEN_EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// Grant types Gantry implements.
pub const KNOWN_GRANTS: &[&str] = &[
    "authorization_code",
    "refresh_token",
    "password",
    "client_credentials",
    DEVICE_CODE_GRANT,
    TOKEN_EXCHANGE_GRANT,
];

/// The admin UI's built-in client, which no config may define.
pub const ADMIN_CLIENT: &str = "gantry-admin";

/// The connector key that allows plain http to a provider that is not loopback (Dex has
/// none: named after its `insecure*` keys).
pub const INSECURE_ALLOW_HTTP: &str = "insecureAllowHTTP";
/// Dex grant types that a Dex file may list and Gantry does not serve.
const IGNORED_GRANTS: &[&str] = &["implicit"];

fn env_var(name: &str, key: &str) -> Result<String, ConfigError> {
    std::env::var(name).map_err(|_| {
        ConfigError::Invalid(format!("{key}: environment variable `{name}` is not set"))
    })
}

/// Replace `$VAR` and `${VAR}` in every string of a connector config, as Dex does.
fn expand_env(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) => *s = expand_str(s),
        serde_json::Value::Array(a) => a.iter_mut().for_each(expand_env),
        serde_json::Value::Object(o) => o.values_mut().for_each(expand_env),
        _ => {}
    }
}

fn expand_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        let mut name = String::new();
        if chars.peek().map(|(_, c)| *c) == Some('{') {
            chars.next();
            for (_, c) in chars.by_ref() {
                if c == '}' {
                    break;
                }
                name.push(c);
            }
        } else {
            while let Some((_, c)) = chars.peek() {
                if c.is_ascii_alphanumeric() || *c == '_' {
                    name.push(*c);
                    chars.next();
                } else {
                    break;
                }
            }
        }
        if name.is_empty() {
            out.push('$');
        } else {
            out.push_str(&std::env::var(&name).unwrap_or_default());
        }
    }
    out
}

/// Parse a Go-style duration ("24h", "1h30m", "90s", "500ms").
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_end == 0 {
            return None;
        }
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += n * factor;
        rest = &rest[unit_end..];
    }
    // Far beyond any lifetime, and within what seconds as i64 and Duration hold: a number too
    // big is refused as invalid, never a crash.
    const MAX_SECS: f64 = 1e12;
    if !(0.0..=MAX_SECS).contains(&total) {
        return None;
    }
    Duration::try_from_secs_f64(total).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_duration("24h"), Some(Duration::from_secs(86400)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("10x"), None);
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("h"), None);
    }

    #[test]
    fn unknown_key_is_reported_with_its_path() {
        let y = "issuer: http://x/dex\nstorage:\n  type: memory\nweb:\n  http: 127.0.0.1:1\n  htps: 1\n";
        let e = Config::parse(y)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("web.htps"), "{e}");
    }

    #[test]
    fn type_error_names_key_and_line() {
        let y = "issuer: http://x/dex\nstorage:\n  type: memory\nweb:\n  http: 127.0.0.1:1\noauth2:\n  skipApprovalScreen: maybe\n";
        let e = Config::parse(y)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("oauth2.skipApprovalScreen"), "{e}");
        assert!(e.contains("line 7"), "{e}");
    }

    #[test]
    fn lifetimes_of_nothing_and_keys_rotating_every_second_are_refused() {
        let base = "issuer: http://x/dex\nstorage:\n  type: memory\nweb:\n  http: 127.0.0.1:1\n";
        for (extra, key) in [
            ("expiry:\n  signingKeys: 0s\n", "expiry.signingKeys"),
            ("expiry:\n  signingKeys: 59s\n", "expiry.signingKeys"),
            ("expiry:\n  idTokens: 0s\n", "expiry.idTokens"),
            ("expiry:\n  deviceRequests: 0s\n", "expiry.deviceRequests"),
            ("expiry:\n  authRequests: 0s\n", "expiry.authRequests"),
        ] {
            let e = Config::parse(&format!("{base}{extra}"))
                .map_err(|e| e.to_string())
                .and_then(|c| c.expiry().map_err(|e| e.to_string()))
                .unwrap_err();
            assert!(e.contains(key), "{extra}: {e}");
        }
        let ok = Config::parse(&format!(
            "{base}expiry:\n  signingKeys: 1m\n  idTokens: 1s\n"
        ))
        .map(|c| c.expiry().is_ok());
        assert!(matches!(ok, Ok(true)), "{ok:?}");
    }

    #[test]
    fn a_duration_too_big_for_any_clock_is_refused_not_a_crash() {
        assert_eq!(
            parse_duration("8760h"),
            Some(Duration::from_secs(8760 * 3600))
        );
        for huge in ["5124095576030431h", "1e400h", "99999999999999999999999s"] {
            assert_eq!(parse_duration(huge), None, "{huge}");
        }
    }

    #[test]
    fn audit_retention_is_a_duration_of_at_least_an_hour() {
        let base = "issuer: http://x/dex\nstorage:\n  type: memory\nweb:\n  http: 127.0.0.1:1\n";
        let retention = |extra: &str| {
            Config::parse(&format!("{base}{extra}"))
                .map_err(|e| e.to_string())
                .and_then(|c| c.expiry().map_err(|e| e.to_string()))
                .map(|e| e.audit_retention)
        };
        assert_eq!(retention(""), Ok(90 * 86_400));
        assert_eq!(retention("audit:\n  retention: 8760h\n"), Ok(365 * 86_400));
        for bad in ["30m", "forever", "0"] {
            let e = retention(&format!("audit:\n  retention: {bad}\n")).unwrap_err();
            assert!(e.contains("audit.retention"), "{bad}: {e}");
        }
    }

    #[test]
    fn connector_config_expands_env() {
        // set_var is unsafe in edition 2024 (and unsafe code is forbidden): use a variable every
        // process has.
        let path = std::env::var("PATH").unwrap_or_default();
        assert_eq!(expand_str("a:$PATH:${PATH}"), format!("a:{path}:{path}"));
        assert_eq!(expand_str("cost $"), "cost $");
        assert_eq!(expand_str("$GANTRY_SURELY_UNSET_VAR"), "");
    }
}
