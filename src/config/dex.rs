//! Dex's keys that Gantry reads but serves differently: each is honoured through a Gantry
//! setting, or accepted with a warning that says what Gantry does instead. Never an error for
//! a valid Dex file, never silence. The table [`Config::dex_mappings`] is what
//! `check-config --dex` prints.

use serde::Deserialize;

use super::{Config, Duration, Problem};

/// Dex's gRPC API (`grpc`): its keys, read so a misspelt one is still named.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GrpcConfig {
    pub addr: Option<String>,
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
    #[serde(rename = "tlsClientCA")]
    pub tls_client_ca: Option<String>,
    pub tls_min_version: Option<String>,
    pub tls_max_version: Option<String>,
    #[serde(default)]
    pub reflection: bool,
}

/// Dex's `signer`: `local` (keys Dex keeps) or `vault` (Vault's transit engine).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignerConfig {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub config: SignerParams,
}

/// The union of the local and vault signers' keys.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SignerParams {
    pub keys_rotation_period: Option<Duration>,
    pub algorithm: Option<String>,
    pub addr: Option<String>,
    pub token: Option<String>,
    pub key_name: Option<String>,
}

/// Dex master's `sessions`, plus Gantry's `enabled`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SessionsConfig {
    /// Gantry: `false` keeps no browser sessions (every authorization shows the login). Dex
    /// turns its sessions on with an environment flag instead.
    pub enabled: Option<bool>,
    pub cookie_name: Option<String>,
    pub absolute_lifetime: Option<Duration>,
    pub valid_if_not_used_for: Option<Duration>,
    pub remember_me_checked_by_default: Option<bool>,
    pub cookie_encryption_key: Option<String>,
    pub sso_shared_with_default: Option<String>,
}

/// Browser sessions as they run: Dex's defaults (cmd/dex/serve.go `parseSessionConfig`)
/// filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSettings {
    pub enabled: bool,
    pub cookie_name: String,
    pub absolute_lifetime: i64,
    pub valid_if_not_used_for: i64,
    pub remember_me_checked_by_default: bool,
    /// AES-GCM key for the cookie (16, 24 or 32 bytes, the string's bytes as in Dex).
    pub cookie_encryption_key: Option<Vec<u8>>,
    /// `ssoSharedWithDefault: all`: a client without `ssoSharedWith` shares with every client.
    pub sso_shared_with_all: bool,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionsConfig::default().settings()
    }
}

impl SessionsConfig {
    /// What runs; values the checks refuse fall back to the defaults.
    pub fn settings(&self) -> SessionSettings {
        let absolute = self
            .absolute_lifetime
            .map(|d| d.secs())
            .filter(|s| *s > 0)
            .unwrap_or(24 * 3600);
        SessionSettings {
            enabled: self.enabled.unwrap_or(true),
            cookie_name: self
                .cookie_name
                .clone()
                .filter(|n| cookie_name_ok(n))
                .unwrap_or_else(|| "gantry_session".into()),
            absolute_lifetime: absolute,
            valid_if_not_used_for: self
                .valid_if_not_used_for
                .map(|d| d.secs())
                .filter(|s| *s > 0 && *s <= absolute)
                .unwrap_or(3600.min(absolute)),
            remember_me_checked_by_default: self.remember_me_checked_by_default.unwrap_or(true),
            cookie_encryption_key: self
                .cookie_encryption_key
                .as_deref()
                .filter(|k| matches!(k.len(), 16 | 24 | 32))
                .map(|k| k.as_bytes().to_vec()),
            sso_shared_with_all: self.sso_shared_with_default.as_deref() == Some("all"),
        }
    }

    pub(super) fn problems(&self, p: &mut impl FnMut(&str, String)) {
        if let Some(n) = &self.cookie_name
            && !cookie_name_ok(n)
        {
            p(
                "sessions.cookieName",
                format!("`{n}` is no cookie name: use letters, digits, `-` and `_`"),
            );
        }
        for (key, d) in [
            ("sessions.absoluteLifetime", self.absolute_lifetime),
            ("sessions.validIfNotUsedFor", self.valid_if_not_used_for),
        ] {
            if d.is_some_and(|d| d.secs() <= 0) {
                p(key, "must be positive".into());
            }
        }
        let absolute = self.absolute_lifetime.map_or(24 * 3600, |d| d.secs());
        if let Some(idle) = self.valid_if_not_used_for
            && idle.secs() > absolute
        {
            p(
                "sessions.validIfNotUsedFor",
                "must not exceed sessions.absoluteLifetime".into(),
            );
        }
        if let Some(k) = &self.cookie_encryption_key
            && !matches!(k.len(), 16 | 24 | 32)
        {
            p(
                "sessions.cookieEncryptionKey",
                format!(
                    "must be 16, 24 or 32 bytes (AES-128, -192 or -256), as in Dex; this one \
                     has {}",
                    k.len()
                ),
            );
        }
        if let Some(v) = &self.sso_shared_with_default
            && !matches!(v.as_str(), "" | "none" | "all")
        {
            p(
                "sessions.ssoSharedWithDefault",
                format!("`{v}`: write `none` (the default) or `all`"),
            );
        }
    }
}

fn cookie_name_ok(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Dex master's `mfa`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MfaConfig {
    #[serde(default)]
    pub authenticators: Vec<MfaAuthenticator>,
    #[serde(default, rename = "defaultMFAChain")]
    pub default_mfa_chain: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MfaAuthenticator {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub config: serde_json::Value,
    #[serde(default)]
    pub connector_types: Vec<String>,
}

/// Dex's `web.clientRemoteIP`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClientRemoteIp {
    pub header: Option<String>,
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
}

impl ClientRemoteIp {
    /// The header these proxies name when it is not X-Forwarded-For, the one Gantry reads.
    /// Then their X-Forwarded-For is the client's own and their `trustedProxies` are not
    /// believed.
    pub fn other_header(&self) -> Option<&str> {
        self.header
            .as_deref()
            .filter(|h| !h.is_empty() && !h.eq_ignore_ascii_case("x-forwarded-for"))
    }
}

/// Dex master's `staticClients[].clientCredentialsClaims`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCredentialsClaims {
    #[serde(default)]
    pub groups: Vec<String>,
}

/// One Dex key and what Gantry does with it, for `check-config --dex`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub dex: String,
    pub gantry: String,
}

/// Storage types Dex has and Gantry does not run, and how to move off each.
pub const FOREIGN_STORAGE: &[(&str, &str)] = &[
    (
        "etcd",
        "Gantry keeps its state in SQL: use `postgres` for several replicas or `sqlite3` for one. \
         Tokens and sessions do not move: users log in once more; clients, connectors and \
         passwords in the file carry over",
    ),
    (
        "kubernetes",
        "Gantry keeps its state in SQL, not in custom resources: run it with `postgres` (for \
         example a small PostgreSQL beside it) or `sqlite3` on a volume for one replica. Clients \
         and passwords kept as Dex's custom resources must be put in the file or created in the \
         admin UI",
    ),
    (
        "mysql",
        "Gantry speaks PostgreSQL and SQLite only: use `postgres` (Dex's postgres keys work \
         unchanged) or `sqlite3`",
    ),
];

/// The local signer's algorithms.
const LOCAL_SIGNER_ALGORITHMS: &[&str] = &["RS256", "ES256"];

impl Config {
    /// The algorithm of new signing keys: `signing.algorithm`, else Dex's local signer's.
    pub fn signing_algorithm(&self) -> Option<&str> {
        self.signing.algorithm.as_deref().or_else(|| {
            self.signer
                .as_ref()
                .filter(|s| s.kind == "local")
                .and_then(|s| s.config.algorithm.as_deref())
        })
    }

    /// `expiry.signingKeys`, else Dex's `signer.config.keysRotationPeriod`.
    pub(super) fn signing_period(&self) -> Option<Duration> {
        self.expiry.signing_keys.or_else(|| {
            self.signer
                .as_ref()
                .and_then(|s| s.config.keys_rotation_period)
        })
    }

    /// `rateLimits` as the server applies them: with [`Config::trusted_proxies`].
    pub fn rate_limits_in_force(&self) -> crate::ratelimit::RateLimitsConfig {
        crate::ratelimit::RateLimitsConfig {
            trusted_proxies: self.trusted_proxies(),
            ..self.rate_limits.clone()
        }
    }

    /// The proxies whose forwarded address is believed: Gantry's `rateLimits.trustedProxies`,
    /// and Dex's `web.clientRemoteIP.trustedProxies` with them.
    pub fn trusted_proxies(&self) -> Vec<String> {
        let mut all = self.rate_limits.trusted_proxies.clone();
        // Dex's proxies set `header`; Gantry reads only X-Forwarded-For. Believing XFF from
        // proxies that send another header would believe what the client itself wrote.
        if let Some(c) = &self.web.client_remote_ip
            && c.other_header().is_none()
        {
            for p in &c.trusted_proxies {
                if !all.contains(p) {
                    all.push(p.clone());
                }
            }
        }
        all
    }

    /// Whether a client redirect URI is Dex's relative device callback (`/dex/device/callback`
    /// for an issuer at `/dex`): Gantry's device flow needs no redirect, so it is read as
    /// "this client uses the device flow" and never redirected to.
    pub fn is_device_callback(&self, uri: &str) -> bool {
        uri == self.device_callback()
    }

    /// The `connectors` entries as connectors are built from them: Dex's `mockCallback`,
    /// which has no keys, gets this issuer's callback as its `redirectURI`.
    pub fn connector_entries(&self) -> Vec<super::ConnectorConfig> {
        let callback = format!("{}/callback", self.issuer.trim_end_matches('/'));
        self.connectors
            .iter()
            .map(|c| {
                let mut c = c.clone();
                if c.connector_kind() == Ok(super::ConnectorKind::MockCallback) {
                    if !c.config.is_object() {
                        c.config = serde_json::json!({});
                    }
                    if let Some(o) = c.config.as_object_mut() {
                        o.entry("redirectURI").or_insert(callback.clone().into());
                    }
                }
                c
            })
            .collect()
    }

    /// Whether the issuer is on this machine: where Dex's development connector may run.
    fn issuer_on_this_machine(&self) -> bool {
        url::Url::parse(&self.issuer).is_ok_and(|u| super::names_this_machine(&u))
    }

    /// What Dex's keys in this file are refused for: problems only a Dex file has.
    pub(super) fn dex_problems(&self) -> Vec<Problem> {
        let mut all = Vec::new();
        let on_this_machine = self.issuer_on_this_machine();
        let mut p = |path: &str, m: String| all.push(Problem::new(path, m));
        for (i, c) in self.connectors.iter().enumerate() {
            if c.connector_kind() == Ok(super::ConnectorKind::MockCallback) && !on_this_machine {
                p(
                    &format!("connectors[{i}].type"),
                    "`mockCallback` logs anyone in without a password: Gantry runs it only for \
                     an issuer on this machine (127.0.0.1, ::1 or localhost)"
                        .into(),
                );
            }
        }
        if let Some((kind, how)) = FOREIGN_STORAGE
            .iter()
            .find(|(k, _)| *k == self.storage.kind)
        {
            p(
                "storage.type",
                format!("`{kind}` is Dex storage that Gantry does not run. {how}"),
            );
        }
        if let Some(s) = &self.signer {
            match s.kind.as_str() {
                "local" => {
                    if let Some(a) = &s.config.algorithm
                        && !LOCAL_SIGNER_ALGORITHMS.contains(&a.as_str())
                    {
                        p(
                            "signer.config.algorithm",
                            format!(
                                "`{a}`: Dex's local signer takes RS256 or ES256 (Gantry's `signing.algorithm` also takes EdDSA)"
                            ),
                        );
                    }
                    if let (Some(g), Some(d)) = (&self.signing.algorithm, &s.config.algorithm)
                        && g != d
                    {
                        p(
                            "signer.config.algorithm",
                            format!("`{d}` disagrees with signing.algorithm `{g}`; keep one"),
                        );
                    }
                }
                "vault" => p(
                    "signer.type",
                    "`vault`: Gantry cannot sign through Vault's transit engine. Its keys live in \
                     the database, sealed with `encryption.keys`; drop `signer` (or use \
                     `type: local`) and set `signing.algorithm`"
                        .into(),
                ),
                other => p(
                    "signer.type",
                    format!("`{other}` is no signer; Dex has `local` and `vault`"),
                ),
            }
        }
        for (key, v) in [
            ("web.tlsMinVersion", &self.web.tls_min_version),
            ("web.tlsMaxVersion", &self.web.tls_max_version),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty())
                && !matches!(v, "1.2" | "1.3")
            {
                p(
                    key,
                    format!("`{v}`: Gantry's TLS speaks 1.2 and 1.3; write \"1.2\" or \"1.3\""),
                );
            }
        }
        if let (Some(min), Some(max)) = (&self.web.tls_min_version, &self.web.tls_max_version)
            && min == "1.3"
            && max == "1.2"
        {
            p(
                "web.tlsMinVersion",
                format!("`{min}` is above web.tlsMaxVersion `{max}`"),
            );
        }
        if let Some(sc) = &self.sessions {
            sc.problems(&mut p);
        }
        for (i, c) in self.static_clients.iter().enumerate() {
            if let Some(v) = c.refresh_token_lifetime.as_deref()
                && !matches!(v, "" | "standalone" | "session")
            {
                p(
                    &format!("staticClients[{i}].refreshTokenLifetime"),
                    format!(
                        "`{v}`: Dex's values are `standalone` (the default: refresh tokens \
                         outlive the browser session) and `session` (they end with it)"
                    ),
                );
            }
        }
        for m in &self.oauth2.pkce.code_challenge_methods_supported {
            if !matches!(m.as_str(), "S256" | "plain") {
                p(
                    "oauth2.pkce.codeChallengeMethodsSupported",
                    format!("`{m}`: PKCE's methods are `S256` and `plain`"),
                );
            }
        }
        all.extend(self.mfa_problems());
        all
    }

    /// What a Dex file says that Gantry reads differently: each a warning with its key path.
    pub fn dex_warnings(&self) -> Vec<Problem> {
        let mut w = Vec::new();
        let mut say = |path: &str, m: &str| w.push(Problem::new(path, m));
        for (i, c) in self.connectors.iter().enumerate() {
            if c.connector_kind() == Ok(super::ConnectorKind::MockCallback) {
                say(
                    &format!("connectors[{i}].type"),
                    "`mockCallback` is Dex's development connector: anyone who opens the login \
                     page is logged in as Kilgore Trout, without a password",
                );
            }
        }
        if self.grpc.is_some() {
            say(
                "grpc",
                "Gantry has no gRPC API: its admin JSON API (the issuer's /api/v1, described \
                 by /api/v1/openapi.json) and the admin UI manage clients, connectors and \
                 passwords; nothing listens on grpc.addr",
            );
        }
        if self.logger.exclude_fields.iter().any(|f| !f.is_empty()) {
            say(
                "logger.excludeFields",
                "Gantry's log lines carry no user names, emails or tokens to begin with; the \
                 fields listed are not filtered further",
            );
        }
        if self.telemetry.enable_profiling {
            say(
                "telemetry.enableProfiling",
                "Gantry has no Go profiler; telemetry.http serves /metrics and the health checks",
            );
        }
        if let Some(c) = &self.web.client_remote_ip
            && let Some(h) = c.other_header()
        {
            say(
                "web.clientRemoteIP.header",
                &format!(
                    "Gantry reads the client's address only from X-Forwarded-For: `{h}` is \
                     not read, and web.clientRemoteIP.trustedProxies are not believed (their \
                     X-Forwarded-For would be the client's own); the proxy's address stands \
                     for its clients"
                ),
            );
        }
        if self.signer.as_ref().is_some_and(|s| s.kind == "local")
            && self.expiry.signing_keys.is_some()
            && self
                .signer
                .as_ref()
                .is_some_and(|s| s.config.keys_rotation_period.is_some())
        {
            say(
                "expiry.signingKeys",
                "set beside signer.config.keysRotationPeriod: expiry.signingKeys is used",
            );
        }
        let sc = &self.storage.config;
        for (key, set) in [
            ("connectionTimeout", sc.connection_timeout.is_some()),
            ("maxIdleConns", sc.max_idle_conns.is_some()),
            ("connMaxLifetime", sc.conn_max_lifetime.is_some()),
            (
                "ssl.serverName",
                sc.ssl.as_ref().is_some_and(|s| s.server_name.is_some()),
            ),
        ] {
            if set {
                say(
                    &format!("storage.config.{key}"),
                    "not applied: Gantry's pool keeps up to maxOpenConns connections, waits \
                     at most 1s for one, and checks the server's name against `host`",
                );
            }
        }
        for (i, c) in self.static_clients.iter().enumerate() {
            let at = |k: &str| format!("staticClients[{i}].{k}");
            if c.backchannel_logout_uri
                .as_deref()
                .is_some_and(super::backchannel_logout_uri_in_clear)
            {
                say(
                    &at("backchannelLogoutURI"),
                    "http to another machine: logout tokens cross the network unencrypted; use \
                     https",
                );
            }

            if c.client_credentials_claims.is_some() {
                say(
                    &at("clientCredentialsClaims"),
                    "not applied: client_credentials tokens carry no groups in Gantry; the \
                     policy names clients by id",
                );
            }
        }
        for (i, c) in self.connectors.iter().enumerate() {
            if !c.grant_types.is_empty() {
                say(
                    &format!("connectors[{i}].grantTypes"),
                    "not applied per connector: oauth2.grantTypes and each client's grantTypes \
                     decide",
                );
            }
        }
        w.extend(self.mfa_warnings());
        w
    }

    /// The Dex keys of this file that Gantry maps onto its own settings.
    pub fn dex_mappings(&self) -> Vec<Mapping> {
        let mut m = Vec::new();
        let mut map = |dex: &str, gantry: &str| {
            m.push(Mapping {
                dex: dex.into(),
                gantry: gantry.into(),
            })
        };
        if let Some(s) = self.signer.as_ref().filter(|s| s.kind == "local") {
            if let Some(a) = &s.config.algorithm {
                map(
                    "signer.config.algorithm",
                    &format!("signing.algorithm: {a}"),
                );
            }
            if let Some(p) = &s.config.keys_rotation_period {
                map(
                    "signer.config.keysRotationPeriod",
                    &format!("expiry.signingKeys: {p}"),
                );
            }
        }
        if let Some(c) = &self.web.client_remote_ip
            && !c.trusted_proxies.is_empty()
            && c.other_header().is_none()
        {
            map(
                "web.clientRemoteIP.trustedProxies",
                &format!(
                    "rateLimits.trustedProxies: [{}]",
                    c.trusted_proxies.join(", ")
                ),
            );
        }
        for (k, v) in [
            ("web.tlsMinVersion", &self.web.tls_min_version),
            ("web.tlsMaxVersion", &self.web.tls_max_version),
        ] {
            if let Some(v) = v {
                map(
                    k,
                    &format!("{k}: \"{v}\" (the TLS listener's protocol versions)"),
                );
            }
        }
        if self.oauth2.pkce.enforce {
            map(
                "oauth2.pkce.enforce",
                "staticClients[].requirePKCE: true, for every client",
            );
        }
        if !self.oauth2.pkce.code_challenge_methods_supported.is_empty() {
            map(
                "oauth2.pkce.codeChallengeMethodsSupported",
                "the PKCE methods accepted and listed in discovery",
            );
        }
        for (i, c) in self.static_clients.iter().enumerate() {
            for u in &c.redirect_uris {
                if self.is_device_callback(u) {
                    map(
                        &format!("staticClients[{i}].redirectURIs: {u}"),
                        "the client may use the device flow (/device/code); never redirected to",
                    );
                }
            }
        }
        for (i, p) in self.static_passwords.iter().enumerate() {
            if p.name.is_some() {
                map(&format!("staticPasswords[{i}].name"), "the `name` claim");
            }
            if p.preferred_username.is_some() {
                map(
                    &format!("staticPasswords[{i}].preferredUsername"),
                    "the `preferred_username` claim, and the name the policy knows the user by",
                );
            }
            if p.email_verified.is_some() {
                map(
                    &format!("staticPasswords[{i}].emailVerified"),
                    "the `email_verified` claim",
                );
            }
        }
        if self.storage.kind == "memory" {
            map(
                "storage.type: memory",
                "SQLite in memory: everything is gone when the process ends",
            );
        }
        m
    }
}
