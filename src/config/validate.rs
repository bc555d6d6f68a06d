//! What serde cannot say about a config: required combinations, known values, and the warnings
//! `check-config` and `serve` print.

use super::*;

impl Config {
    /// Checks that serde cannot express: required combinations, known values, lower bounds.
    /// Every problem, joined: whoever fixes a file fixes it in one go.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let all = self.problems();
        if all.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(all.join("; ")))
        }
    }

    /// What [`Config::validate`] refuses, each problem once, in the order of the file.
    pub fn problems(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .unset_variables()
            .iter()
            .filter(|u| u.required)
            .map(|u| u.to_string())
            .collect();
        match url::Url::parse(&self.issuer) {
            Err(e) => all.push(format!("issuer `{}`: {e}", self.issuer)),
            Ok(issuer)
                if !matches!(issuer.scheme(), "http" | "https")
                    || issuer.query().is_some()
                    || issuer.fragment().is_some() =>
            {
                all.push("issuer must be an http(s) URL without query or fragment".into())
            }
            Ok(_) => {}
        }
        if let Err(e) = self.storage.location() {
            all.push(e.into_message());
        }
        if self.web.http.is_none() && self.web.https.is_none() {
            all.push("web.http or web.https must be set".into());
        }
        if self.web.https.is_some() && (self.web.tls_cert.is_none() || self.web.tls_key.is_none()) {
            all.push("web.https needs web.tlsCert and web.tlsKey".into());
        }
        // An unknown level would turn logging off without a word (the filter drops what it
        // cannot read): Dex's levels, and trace.
        if let Some(l) = &self.logger.level
            && !matches!(
                l.to_lowercase().as_str(),
                "trace" | "debug" | "info" | "warn" | "error"
            )
        {
            all.push(format!(
                "logger.level `{l}`: expected debug, info, warn or error"
            ));
        }
        if let Some(f) = &self.logger.format
            && !matches!(f.as_str(), "text" | "json")
        {
            all.push(format!("logger.format `{f}`: expected text or json"));
        }
        for g in &self.oauth2.grant_types {
            if GrantType::parse(g).is_none() && !IGNORED_GRANTS.contains(&g.as_str()) {
                all.push(format!("oauth2.grantTypes: unknown grant type `{g}`"));
            }
        }
        for r in &self.oauth2.response_types {
            if !matches!(r.as_str(), "code" | "token" | "id_token") {
                all.push(format!("oauth2.responseTypes: unknown response type `{r}`"));
            }
        }
        if let Err(e) = self.expiry() {
            all.push(e.into_message());
        }
        let mut ids = std::collections::HashSet::new();
        for (i, c) in self.static_clients.iter().enumerate() {
            let Some(id) = c.id.as_deref().filter(|s| !s.is_empty()) else {
                all.push(format!("staticClients[{i}]: id or idEnv is required"));
                continue;
            };
            if id == ADMIN_CLIENT {
                all.push(format!(
                    "staticClients[{i}]: `{id}` is the admin UI's built-in client; pick another id"
                ));
            }
            if !ids.insert(id) {
                all.push(format!("staticClients[{i}]: duplicate client id `{id}`"));
            }
            if !c.public && c.secret.as_deref().is_none_or(str::is_empty) {
                all.push(format!(
                    "staticClients[{i}] `{id}`: a confidential client needs secret or secretEnv"
                ));
            }
            for g in &c.grant_types {
                if GrantType::parse(g).is_none() {
                    all.push(format!("staticClients[{i}].grantTypes: unknown `{g}`"));
                }
            }
            for u in c.redirect_uris.iter().chain(&c.post_logout_redirect_uris) {
                if url::Url::parse(u).is_err() {
                    all.push(format!("staticClients[{i}] `{id}`: `{u}` is not a URL"));
                }
            }
        }
        for (i, p) in self.static_passwords.iter().enumerate() {
            let Some(h) = p.hash.as_deref() else {
                all.push(format!(
                    "staticPasswords[{i}]: hash or hashFromEnv is required"
                ));
                continue;
            };
            if !crate::password::is_supported_hash(h) {
                all.push(format!(
                    "staticPasswords[{i}] `{}`: hash is neither bcrypt nor argon2id",
                    p.email
                ));
            }
        }
        let mut conn_ids = std::collections::HashSet::from(["local"]);
        for (i, c) in self.connectors.iter().enumerate() {
            if !conn_ids.insert(c.id.as_str()) {
                all.push(format!(
                    "connectors[{i}]: duplicate connector id `{}`",
                    c.id
                ));
            }
            if let Err(e) = c.connector_kind() {
                all.push(format!("connectors[{i}] `{}`: {e}", c.id));
            }
        }
        for (i, svc) in self.registry.services.iter().enumerate() {
            if svc.name.is_empty() || svc.issuer.is_empty() {
                all.push(format!(
                    "registry.services[{i}]: name and issuer are required"
                ));
            }
            // Registry tokens are signed with Gantry's keys: with Gantry's issuer they would
            // read as Gantry's own tokens to anyone who checks only the issuer.
            if svc.issuer.trim_end_matches('/') == self.issuer.trim_end_matches('/') {
                all.push(format!(
                    "registry.services[{i}] `{}`: issuer must not be Gantry's issuer; name the \
                     registry's own (its auth.token.issuer, for example `gantry-registry`)",
                    svc.name
                ));
            }
            if let Some(t) = svc.token_ttl.filter(|t| t.secs() < 60) {
                all.push(format!(
                    "registry.services[{i}].tokenTTL `{t}`: a duration of at least 60s"
                ));
            }
        }
        if self.registry.ca_cert.is_some() != self.registry.ca_key.is_some() {
            all.push("registry: caCert and caKey go together".into());
        }
        if !self.registry.services.is_empty() && self.signing.algorithm.as_deref() == Some("EdDSA")
        {
            all.push("registry: registries verify ES256 or RS256 tokens; signing.algorithm EdDSA cannot serve them".into());
        }
        if let Some(pc) = &self.oauth2.password_connector
            && !(pc == "local" && self.local_enabled())
            && !self.connectors.iter().any(|c| &c.id == pc)
        {
            all.push(format!(
                "oauth2.passwordConnector `{pc}` is not a configured connector"
            ));
        }
        all
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
}
