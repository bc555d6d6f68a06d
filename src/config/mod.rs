//! Typed configuration in Dex's `config.yaml` layout, plus Gantry's own keys.
//!
//! A Dex file that uses only the keys below must load unchanged. Unknown keys are errors that
//! name their path; type errors name the key and the line. This module never reads the
//! environment except through `$VAR` expansion of connector configs and the `*Env` keys.

mod backchannel;
mod connector_kind;
mod dex;
mod duration;
mod env;
mod expiry;
mod grant;
mod mfa;
pub mod policy;
mod validate;
pub mod yaml;
mod yaml_depth;

pub use yaml_depth::too_deep as yaml_too_deep;

pub use backchannel::{backchannel_logout_uri_in_clear, backchannel_logout_uri_problem};
pub use connector_kind::{ConnectorKind, UnsupportedKind};
pub use dex::{FOREIGN_STORAGE, Mapping, MfaConfig, SessionSettings, SessionsConfig, SignerConfig};
pub use duration::Duration;
pub use env::UnsetVariable;
pub use expiry::{Expiry, parse_duration};
pub use grant::GrantType;
pub use mfa::{UserVerification, WebAuthnSettings, webauthn_settings};
pub use yaml::Problem;

use std::collections::BTreeMap;
use std::path::Path;

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
    /// Everything wrong with a file, each at its key path and place.
    #[error("invalid config: {}", Problems(.0))]
    Problems(Vec<Problem>),
}

/// Problems as one line each.
struct Problems<'a>(&'a [Problem]);

impl std::fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl ConfigError {
    /// The problem alone, without "invalid config: " in front: for lists of problems, which
    /// say that once.
    pub fn into_message(self) -> String {
        match self {
            ConfigError::Invalid(m) | ConfigError::Parse(m) => m,
            ConfigError::Problems(p) => Problems(&p).to_string(),
            e => e.to_string(),
        }
    }
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
    /// Dex's `grpc` API: Gantry's admin API takes its place.
    pub grpc: Option<dex::GrpcConfig>,
    /// Dex's `signer`: the local one maps to `signing` and `expiry.signingKeys`.
    pub signer: Option<SignerConfig>,
    /// Browser sessions (single sign-on), with Dex master's keys.
    pub sessions: Option<SessionsConfig>,
    /// Dex master's second factors.
    pub mfa: Option<MfaConfig>,
    /// Variables the file names that the environment does not set (see `resolve_env`).
    #[serde(skip)]
    unset_env: Vec<UnsetVariable>,
    /// What the reader noted while reading (keys in another case), said with the warnings.
    #[serde(skip)]
    read_notes: Vec<Problem>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AuditConfig {
    /// How long audit events (and the hourly token counts) are kept: a duration like 2160h
    /// (the default, 90 days), at least 1h.
    pub retention: Option<Duration>,
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

impl RegistryConfig {
    /// `loginClients`, or its default.
    pub fn login_clients(&self) -> Vec<String> {
        self.login_clients
            .clone()
            .unwrap_or_else(|| vec!["gantry-cli".to_string()])
    }
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
    pub token_ttl: Option<Duration>,
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

/// Where the database is, resolved from `storage`: what `Db::open` takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageLocation {
    Sqlite {
        file: String,
    },
    /// SQLite in memory: gone when the process ends.
    Memory,
    Postgres {
        url: String,
        max_conns: u32,
    },
}

impl StorageConfig {
    /// The database this section names, or what is missing for its `type`.
    pub fn location(&self) -> Result<StorageLocation, ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        let p = &self.config;
        match self.kind.as_str() {
            "sqlite3" => match p.file.as_deref().filter(|f| !f.trim().is_empty()) {
                Some(file) => Ok(StorageLocation::Sqlite {
                    file: file.to_string(),
                }),
                None => bad("storage.config.file is required for sqlite3".into()),
            },
            "postgres" => {
                if p.dsn.is_none() && p.host.is_none() {
                    return bad("storage.config needs `dsn` or `host` for postgres".into());
                }
                Ok(StorageLocation::Postgres {
                    url: self.postgres_url()?,
                    max_conns: p.max_open_conns.unwrap_or(10),
                })
            }
            "memory" => Ok(StorageLocation::Memory),
            other => bad(format!(
                "storage.type `{other}` is not supported (sqlite3, postgres, memory)"
            )),
        }
    }

    /// Dex's postgres keys as one connection URL (`dsn` as given).
    fn postgres_url(&self) -> Result<String, ConfigError> {
        let p = &self.config;
        if let Some(dsn) = &p.dsn {
            return Ok(dsn.clone());
        }
        let invalid = |m: String| ConfigError::Invalid(format!("storage.config: {m}"));
        let mut u = url::Url::parse("postgres://localhost").map_err(|e| invalid(e.to_string()))?;
        let bad = |_| invalid("invalid postgres host, user or password".into());
        u.set_host(p.host.as_deref())
            .map_err(|e| invalid(e.to_string()))?;
        u.set_port(Some(p.port.unwrap_or(5432))).map_err(bad)?;
        if let Some(user) = &p.user {
            u.set_username(user).map_err(bad)?;
        }
        if let Some(pw) = &p.password {
            u.set_password(Some(pw)).map_err(bad)?;
        }
        u.set_path(p.database.as_deref().unwrap_or("postgres"));
        let mode = p
            .ssl
            .as_ref()
            .and_then(|s| s.mode.clone())
            .unwrap_or_else(|| "verify-full".into());
        u.query_pairs_mut().append_pair("sslmode", &mode);
        if let Some(ssl) = &p.ssl {
            for (param, v) in [
                ("sslrootcert", &ssl.ca_file),
                ("sslcert", &ssl.cert_file),
                ("sslkey", &ssl.key_file),
            ] {
                if let Some(v) = v {
                    u.query_pairs_mut().append_pair(param, v);
                }
            }
        }
        Ok(u.to_string())
    }
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
    /// Dex: "1.2" or "1.3".
    pub tls_min_version: Option<String>,
    pub tls_max_version: Option<String>,
    /// Dex: where the client's real address comes from; Gantry reads `trustedProxies`.
    #[serde(rename = "clientRemoteIP")]
    pub client_remote_ip: Option<dex::ClientRemoteIp>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TelemetryConfig {
    pub http: Option<String>,
    /// Dex: Go's pprof handlers; Gantry has none.
    #[serde(default)]
    pub enable_profiling: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LoggerConfig {
    pub level: Option<String>,
    pub format: Option<String>,
    /// Dex: log fields left out of every line.
    #[serde(default)]
    pub exclude_fields: Vec<String>,
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
    /// Dex: PKCE for every client, and the methods offered.
    #[serde(default)]
    pub pkce: PkceConfig,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PkceConfig {
    /// Refuse authorization requests without PKCE, from every client.
    #[serde(default)]
    pub enforce: bool,
    /// `S256` and/or `plain` (default both, as Dex).
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
}

impl PkceConfig {
    /// The methods offered: the configured ones, else both (Dex's default).
    pub fn methods(&self) -> Vec<&str> {
        if self.code_challenge_methods_supported.is_empty() {
            vec!["S256", "plain"]
        } else {
            self.code_challenge_methods_supported
                .iter()
                .map(String::as_str)
                .collect()
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExpiryConfig {
    pub id_tokens: Option<Duration>,
    pub auth_requests: Option<Duration>,
    pub device_requests: Option<Duration>,
    pub signing_keys: Option<Duration>,
    #[serde(default)]
    pub refresh_tokens: RefreshExpiryConfig,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RefreshExpiryConfig {
    #[serde(default)]
    pub disable_rotation: bool,
    pub reuse_interval: Option<Duration>,
    pub valid_if_not_used_for: Option<Duration>,
    pub absolute_lifetime: Option<Duration>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SigningConfig {
    /// ES256 (default), RS256 or EdDSA.
    pub algorithm: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
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
    /// Dex master: the clients a login to this one signs in without a form (`*`: every
    /// one); absent, `sessions.ssoSharedWithDefault`; empty, none.
    pub sso_shared_with: Option<Vec<String>>,
    /// Dex master: where OpenID Connect Back-Channel Logout tokens go; empty, nowhere.
    #[serde(rename = "backchannelLogoutURI")]
    pub backchannel_logout_uri: Option<String>,
    /// Dex master: the authenticators (`mfa.authenticators[].id`) a login for this client
    /// must pass, in order; `None`: `mfa.defaultMFAChain`; empty: none.
    pub mfa_chain: Option<Vec<String>>,
    /// Dex master: `standalone` (default) or `session`: whether this client's refresh
    /// tokens end with the browser session they were issued in.
    pub refresh_token_lifetime: Option<String>,
    /// Dex master: claims of client_credentials tokens.
    pub client_credentials_claims: Option<dex::ClientCredentialsClaims>,
    /// Dex: the connectors this client may log in through; empty, every one.
    #[serde(default)]
    pub allowed_connectors: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
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
    /// Dex: the `name` claim (default: username).
    pub name: Option<String>,
    /// Dex: the `email_verified` claim (default: true).
    pub email_verified: Option<bool>,
    /// Dex: the `preferred_username` claim (default: username).
    pub preferred_username: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorConfig {
    /// As written: a name Gantry does not implement (Dex's `github`, say) gets its own message
    /// from `validate`, not serde's list of variants. Read it through `connector_kind`.
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub config: serde_json::Value,
    /// Gantry: calls to this identity source in flight at once (default 64).
    #[serde(default, rename = "maxInFlight")]
    pub max_in_flight: Option<u32>,
    /// Dex master: the grant types this connector may serve.
    #[serde(default, rename = "grantTypes")]
    pub grant_types: Vec<String>,
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

    /// Parse YAML text: every problem of the file, each with its key path and place.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let r = Self::read(text);
        match r.config {
            Some(cfg) if r.problems.is_empty() => Ok(cfg),
            _ => Err(ConfigError::Problems(r.problems)),
        }
    }

    /// Read YAML text as far as it goes: the config when it reads, the problems in any case,
    /// and the tree that places problems found later (see [`Reading::place`]).
    pub fn read(text: &str) -> Reading {
        if let Some(why) = yaml_too_deep(text) {
            return Reading {
                root: None,
                config: None,
                problems: vec![Problem::new("", why)],
            };
        }
        let (root, cfg, all) = yaml::read::<Config>(text);
        let (notes, mut problems): (Vec<Problem>, Vec<Problem>) =
            all.into_iter().partition(|p| p.note);
        let config = cfg.map(|mut c| {
            c.resolve_env();
            c.read_notes = notes;
            c
        });
        // Keys of a storage Gantry does not run are that storage's, not misspellings.
        if let Some(c) = &config
            && FOREIGN_STORAGE.iter().any(|(k, _)| *k == c.storage.kind)
        {
            problems.retain(|p| !p.path.starts_with("storage.config."));
        }
        Reading {
            root,
            config,
            problems,
        }
    }

    /// The names of the configured clusters.
    pub fn cluster_names(&self) -> Vec<String> {
        self.kubernetes
            .clusters
            .iter()
            .map(|c| c.name.clone())
            .collect()
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

    /// Response types from a Dex file that Gantry does not serve (implicit flow).
    pub fn response_types_ignored(&self) -> Vec<String> {
        self.oauth2
            .response_types
            .iter()
            .filter(|r| *r != "code")
            .cloned()
            .collect()
    }

    /// Grant types the server allows, after Dex's default; names Gantry does not implement
    /// (Dex's `implicit`, accepted with a warning) are left out.
    pub fn allowed_grants(&self) -> Vec<GrantType> {
        if self.oauth2.grant_types.is_empty() {
            // client_credentials is on here but off for every client that does not list it.
            let mut g = vec![
                GrantType::AuthorizationCode,
                GrantType::RefreshToken,
                GrantType::ClientCredentials,
                GrantType::DeviceCode,
                // Off unless a connector sets allowTokenExchange.
                GrantType::TokenExchange,
            ];
            if self.oauth2.password_connector.is_some() {
                g.push(GrantType::Password);
            }
            g
        } else {
            self.oauth2
                .grant_types
                .iter()
                .filter_map(|g| GrantType::parse(g))
                .collect()
        }
    }
}

/// A file read as far as it goes.
#[derive(Debug)]
pub struct Reading {
    pub root: Option<yaml::Node>,
    pub config: Option<Config>,
    pub problems: Vec<Problem>,
}

impl Reading {
    /// Give problems found after reading (they know their path) the place of their key.
    pub fn place(&self, problems: &mut [Problem]) {
        if let Some(root) = &self.root {
            for p in problems
                .iter_mut()
                .filter(|p| p.at.is_none() && !p.path.is_empty())
            {
                p.at = Some(root.place(&p.path));
            }
        }
    }
}

/// Whether `u`'s host is the machine itself: `localhost`, 127.0.0.0/8 or ::1. Here, below
/// everything that asks: the config's issuer checks and the connectors' plain-http rule.
pub fn names_this_machine(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        None => false,
    }
}

/// RFC 8628's grant type, as clients send it.
pub const DEVICE_CODE_GRANT: &str = GrantType::DeviceCode.as_str();
/// RFC 8693's grant type, as clients send it.
pub const TOKEN_EXCHANGE_GRANT: &str = GrantType::TokenExchange.as_str();

/// The admin UI's built-in client, which no config may define.
pub const ADMIN_CLIENT: &str = "gantry-admin";

/// The connector key that allows plain http to a provider that is not loopback (Dex has
/// none: named after its `insecure*` keys).
pub const INSECURE_ALLOW_HTTP: &str = "insecureAllowHTTP";
/// Dex grant types that a Dex file may list and Gantry does not serve.
const IGNORED_GRANTS: &[&str] = &["implicit"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dex_postgres_keys_build_an_escaped_url() {
        let cfg = StorageConfig {
            kind: "postgres".into(),
            config: StorageParams {
                host: Some("db.internal".into()),
                port: Some(5433),
                database: Some("gantry".into()),
                user: Some("gan try".into()),
                password: Some("p@ss/word".into()),
                ssl: Some(SslConfig {
                    mode: Some("disable".into()),
                    ..Default::default()
                }),
                max_open_conns: Some(3),
                ..Default::default()
            },
        };
        assert_eq!(
            cfg.location().unwrap(),
            StorageLocation::Postgres {
                url: "postgres://gan%20try:p%40ss%2Fword@db.internal:5433/gantry?sslmode=disable"
                    .into(),
                max_conns: 3
            }
        );
    }

    #[test]
    fn dex_postgres_client_certificates_reach_the_connection() {
        let cfg = StorageConfig {
            kind: "postgres".into(),
            config: StorageParams {
                host: Some("db".into()),
                ssl: Some(SslConfig {
                    mode: Some("verify-ca".into()),
                    ca_file: Some("/ca.pem".into()),
                    cert_file: Some("/c.pem".into()),
                    key_file: Some("/k.pem".into()),
                    ..Default::default()
                }),
                ..Default::default()
            },
        };
        let StorageLocation::Postgres { url, .. } = cfg.location().unwrap() else {
            panic!("postgres")
        };
        assert!(
            url.ends_with(
                "?sslmode=verify-ca&sslrootcert=%2Fca.pem&sslcert=%2Fc.pem&sslkey=%2Fk.pem"
            ),
            "{url}"
        );
    }

    #[test]
    fn postgres_defaults_to_verify_full_tls() {
        let cfg = StorageConfig {
            kind: "postgres".into(),
            config: StorageParams {
                host: Some("db".into()),
                ..Default::default()
            },
        };
        assert_eq!(
            cfg.location().unwrap(),
            StorageLocation::Postgres {
                url: "postgres://db:5432/postgres?sslmode=verify-full".into(),
                max_conns: 10
            }
        );
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
    fn an_unknown_log_level_is_named_not_silently_dropped() {
        let y = |level: &str| {
            format!(
                "issuer: http://x/dex\nstorage:\n  type: memory\nweb:\n  http: 127.0.0.1:1\nlogger:\n  level: {level}\n"
            )
        };
        for ok in ["debug", "INFO", "warn", "error", "trace"] {
            Config::parse(&y(ok)).unwrap().validate().unwrap();
        }
        let e = Config::parse(&y("verbose"))
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("logger.level: `verbose`"), "{e}");
    }

    fn report(y: &str) -> Vec<String> {
        let r = Config::read(y);
        let mut all = r.problems.clone();
        if let Some(c) = &r.config {
            let mut more = c.problems();
            r.place(&mut more);
            all.extend(more);
        }
        all.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn every_mistake_of_a_file_is_reported_at_its_line_in_one_run() {
        let y = "issuer: http://127.0.0.1:5556/dex
storage:
  type: sqlite3
  config:
    file: x.db
web:
  htttp: 127.0.0.1:5556
enablePaswordDB: true
oauth2:
  skipApprovalScreen: maybe
staticClients:
- id: app
  secret: s
  redirectURIs: [not a url]
- secret: x
  name: [no, list]
connectors:
- type: github2
  id: gh
  name: GitHub
";
        let got = report(y);
        let want = [
            "line 7, column 3: web.htttp: unknown key `htttp`; did you mean `http`?",
            "line 8, column 1: enablePaswordDB: unknown key `enablePaswordDB`; did you mean `enablePasswordDB`?",
            "line 10, column 23: oauth2.skipApprovalScreen: expected true or false, found `maybe`",
            "line 16, column 9: staticClients[1].name: expected text, found a list",
        ];
        for w in want {
            assert!(got.iter().any(|g| g == w), "missing {w:?} in {got:#?}");
        }
        // The read goes on past the mistakes above: the rules of what was read still run.
        for w in [
            "staticClients[0].redirectURIs[0]: `not a url` is not a URL",
            "connectors[0].type: unknown connector type `github2`; did you mean `github`?",
            "web: web.http or web.https must be set",
        ] {
            assert!(
                got.iter().any(|g| g.contains(w)),
                "missing {w:?} in {got:#?}"
            );
        }
        assert!(
            got.iter()
                .all(|g| !g.contains("struct") && !g.contains("invalid type")),
            "{got:#?}"
        );
    }

    #[test]
    fn keys_in_another_case_are_read_as_dex_reads_them_with_a_note() {
        let y = "issuer: http://x/dex\nstorage: {type: memory}\nweb: {http: 127.0.0.1:1}\nstaticClients:\n- id: a\n  secret: s\n  redirectUris: [http://127.0.0.1:1/cb]\n";
        let c = Config::parse(y).unwrap();
        assert_eq!(
            c.static_clients[0].redirect_uris,
            vec!["http://127.0.0.1:1/cb"]
        );
        let w: Vec<String> = c.warnings().iter().map(ToString::to_string).collect();
        assert_eq!(
            w,
            vec![
                "line 7, column 3: staticClients[0].redirectUris: read as `redirectURIs`, as Dex reads keys in any case; write `redirectURIs`"
            ]
        );
    }

    #[test]
    fn null_sections_read_as_empty_ones() {
        let y = "issuer: http://x/dex\nstorage:\n  type: memory\nweb:\n  http: 127.0.0.1:1\nconnectors:\nstaticClients:\nfrontend:\n  # theme: dark\nexpiry:\n";
        let c = Config::parse(y).unwrap();
        assert!(c.connectors.is_empty() && c.static_clients.is_empty());
        assert_eq!(c.frontend.theme, None);
        c.validate().unwrap();
    }

    #[test]
    fn session_settings_out_of_dex_s_range_are_refused_with_their_key() {
        let base = "issuer: http://127.0.0.1:5556/dex\nstorage: {type: memory}\nweb: {http: 127.0.0.1:5556}\n";
        for (yaml, key) in [
            (
                "sessions: {cookieEncryptionKey: short}",
                "sessions.cookieEncryptionKey",
            ),
            (
                "sessions: {ssoSharedWithDefault: some}",
                "sessions.ssoSharedWithDefault",
            ),
            (
                "sessions: {absoluteLifetime: 1h, validIfNotUsedFor: 2h}",
                "sessions.validIfNotUsedFor",
            ),
            ("sessions: {cookieName: 'a;b'}", "sessions.cookieName"),
            (
                "staticClients: [{id: a, secret: s, refreshTokenLifetime: 24h}]",
                "staticClients[0].refreshTokenLifetime",
            ),
        ] {
            let c = Config::parse(&format!("{base}{yaml}\n")).unwrap();
            let paths: Vec<String> = c.problems().into_iter().map(|p| p.path).collect();
            assert_eq!(paths, vec![key.to_string()], "{yaml}");
        }
        let c = Config::parse(&format!(
            "{base}sessions: {{cookieEncryptionKey: 0123456789abcdef01234567, ssoSharedWithDefault: all, enabled: false}}\n"
        ))
        .unwrap();
        assert_eq!(c.problems(), vec![]);
        let s = c.sessions.clone().unwrap_or_default().settings();
        assert_eq!(s.cookie_encryption_key.map(|k| k.len()), Some(24));
        assert!(s.sso_shared_with_all && !s.enabled);
        let defaults = crate::config::SessionSettings::default();
        assert!(defaults.enabled && defaults.cookie_name == "gantry_session");
    }

    #[test]
    fn dex_keys_are_honoured_or_warned_about_never_refused() {
        let y = "issuer: http://127.0.0.1:5556/dex
storage: {type: memory}
web:
  http: 0.0.0.0:5556
  tlsMinVersion: \"1.2\"
  clientRemoteIP:
    header: X-Real-IP
    trustedProxies: [10.0.0.0/8]
grpc: {addr: 127.0.0.1:5557}
telemetry: {http: 0.0.0.0:5558, enableProfiling: true}
logger: {excludeFields: [email]}
sessions: {cookieName: dex_session, absoluteLifetime: 24h, validIfNotUsedFor: 1h}
mfa: {authenticators: [{id: totp-1, type: TOTP, config: {issuer: dex}}]}
oauth2: {pkce: {enforce: true, codeChallengeMethodsSupported: [S256]}}
signer: {type: local, config: {keysRotationPeriod: 12h, algorithm: RS256}}
staticClients:
- id: example-app
  secret: s
  redirectURIs: ['http://127.0.0.1:5555/callback', '/dex/device/callback']
  backchannelLogoutURI: http://127.0.0.1:5555/backchannel-logout
  ssoSharedWith: [other]
  refreshTokenLifetime: session
enablePasswordDB: true
staticPasswords:
- email: admin@example.com
  hash: $2a$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W
  username: admin
  name: Admin User
  emailVerified: false
  preferredUsername: boss
  userID: 08a8684b
";
        let c = Config::parse(y).unwrap();
        assert_eq!(c.problems(), vec![]);
        assert_eq!(c.signing_algorithm(), Some("RS256"));
        assert_eq!(c.expiry().unwrap().signing_keys, 12 * 3600);
        // Proxies that send X-Real-IP pass the client's own X-Forwarded-For on: not believed.
        assert_eq!(c.trusted_proxies(), Vec::<String>::new());
        let xff =
            Config::parse(&y.replace("header: X-Real-IP", "header: X-Forwarded-For")).unwrap();
        assert_eq!(xff.trusted_proxies(), vec!["10.0.0.0/8".to_string()]);
        assert!(c.is_device_callback("/dex/device/callback"));
        assert!(!c.is_device_callback("/device/callback"));
        let warned: Vec<String> = c.warnings().into_iter().map(|w| w.path).collect();
        for k in [
            "grpc",
            "mfa",
            "logger.excludeFields",
            "telemetry.enableProfiling",
            "web.clientRemoteIP.header",
        ] {
            assert!(
                warned.iter().any(|w| w == k),
                "no warning for {k}: {warned:?}"
            );
        }
        // Served now: not warned about.
        for k in [
            "sessions",
            "staticClients[0].ssoSharedWith",
            "staticClients[0].refreshTokenLifetime",
        ] {
            assert!(!warned.iter().any(|w| w == k), "{k} warned: {warned:?}");
        }
        let sessions = c.sessions.clone().unwrap_or_default().settings();
        assert_eq!(
            (
                sessions.cookie_name.as_str(),
                sessions.absolute_lifetime,
                sessions.valid_if_not_used_for,
                sessions.remember_me_checked_by_default,
                sessions.sso_shared_with_all
            ),
            ("dex_session", 24 * 3600, 3600, true, false)
        );
        let client = &c.static_clients[0];
        assert_eq!(client.refresh_token_lifetime.as_deref(), Some("session"));
        assert_eq!(client.sso_shared_with, Some(vec!["other".to_string()]));
        // Served as in Dex: a loopback back-channel logout URI is worth no word.
        assert!(!warned.iter().any(|w| w.contains("backchannelLogoutURI")));
        let mapped: Vec<String> = c.dex_mappings().into_iter().map(|m| m.dex).collect();
        for k in [
            "signer.config.algorithm",
            "signer.config.keysRotationPeriod",
            "oauth2.pkce.enforce",
            "staticPasswords[0].name",
        ] {
            assert!(mapped.iter().any(|m| m == k), "{k} not mapped: {mapped:?}");
        }
    }

    #[test]
    fn dex_mock_connector_runs_only_for_an_issuer_on_this_machine() {
        let y = |issuer: &str| {
            format!(
                "issuer: {issuer}\nstorage: {{type: memory}}\nweb: {{http: 127.0.0.1:1}}\nconnectors:\n- type: mockCallback\n  id: mock\n  name: Example\n"
            )
        };
        for local in [
            "http://127.0.0.1:5556/dex",
            "http://localhost:5556/dex",
            "http://[::1]:5556/dex",
        ] {
            let c = Config::parse(&y(local)).unwrap();
            assert_eq!(c.problems(), vec![], "{local}");
            assert!(
                c.warnings()
                    .iter()
                    .any(|w| w.message.contains("Kilgore Trout"))
            );
            let e = c.connector_entries();
            assert_eq!(e[0].config["redirectURI"], format!("{local}/callback"));
        }
        let got = report(&y("https://id.example.com/dex"));
        assert!(
            got.iter()
                .any(|g| g.contains("connectors[0].type: `mockCallback` logs anyone in")),
            "{got:#?}"
        );
    }

    #[test]
    fn one_user_per_identity_and_issuers_written_as_read() {
        let base = "storage: {type: memory}\nweb: {http: 127.0.0.1:1}\n";
        let users = "enablePasswordDB: true\nstaticPasswords:\n- {email: admin@example.com, hash: $2a$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W, username: admin, userID: u1}\n- {email: Admin@Example.com, hash: $2a$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W, username: eve, userID: u1, preferredUsername: admin}\n";
        let got = report(&format!("issuer: http://x/dex\n{base}{users}"));
        for key in [
            "staticPasswords[1].userID",
            "staticPasswords[1].email",
            "staticPasswords[1].preferredUsername",
        ] {
            assert!(
                got.iter().any(|g| g.contains(&format!("{key}: `"))),
                "{key}: {got:#?}"
            );
        }
        for issuer in [
            "http://evil.com@127.0.0.1:5556/dex",
            "http://127.0.0.1:5556\\@evil.com/dex",
            "http://127.0.0.1:5556/dex/../evil",
            "HTTP://127.0.0.1:5556/dex",
        ] {
            let got = report(&format!("issuer: '{issuer}'\n{base}"));
            assert!(
                got.iter().any(|g| g.contains("issuer: ")),
                "{issuer}: {got:#?}"
            );
        }
        assert_eq!(
            report(&format!("issuer: http://127.0.0.1:5556/dex\n{base}")),
            Vec::<String>::new()
        );
    }

    #[test]
    fn dex_storage_gantry_does_not_run_is_refused_with_the_way_out() {
        let y = "issuer: http://x/dex\nstorage:\n  type: kubernetes\n  config:\n    inCluster: true\nweb:\n  http: 127.0.0.1:1\n";
        let got = report(y);
        assert_eq!(got.len(), 1, "{got:#?}");
        assert!(
            got[0].starts_with("line 3, column 3: storage.type: `kubernetes` is Dex storage"),
            "{got:#?}"
        );
        assert!(got[0].contains("postgres"), "{got:#?}");
        let vault = "issuer: http://x/dex\nstorage: {type: memory}\nweb: {http: 127.0.0.1:1}\nsigner: {type: vault, config: {addr: http://v, token: t, keyName: k}}\n";
        let got = report(vault);
        assert!(
            got.iter().any(|g| g.contains("signer.type: `vault`")),
            "{got:#?}"
        );
    }
}
