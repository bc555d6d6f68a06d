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
            Err(ConfigError::Problems(all))
        }
    }

    /// What [`Config::validate`] refuses, each problem once with its key path, in the order of
    /// the file.
    pub fn problems(&self) -> Vec<Problem> {
        let mut all: Vec<Problem> = self
            .unset_variables()
            .iter()
            .filter(|u| u.required)
            .map(|u| Problem::new("", u.to_string()))
            .collect();
        let mut p = |path: &str, m: String| all.push(Problem::new(path, m));
        match url::Url::parse(&self.issuer) {
            Err(_) => p("issuer", format!("`{}` is not an http(s) URL", self.issuer)),
            Ok(issuer)
                if !matches!(issuer.scheme(), "http" | "https")
                    || issuer.query().is_some()
                    || issuer.fragment().is_some()
                    || !issuer.username().is_empty()
                    || issuer.password().is_some() =>
            {
                p(
                    "issuer",
                    "must be an http(s) URL without user, query or fragment".into(),
                )
            }
            // Every client compares `iss` as a string: the issuer must be written as it is
            // read (no `..`, backslashes, upper-case scheme or host, default port).
            Ok(issuer)
                if issuer.as_str().trim_end_matches('/') != self.issuer.trim_end_matches('/') =>
            {
                p(
                    "issuer",
                    format!(
                        "`{}` reads as `{}`; write it that way (clients compare it letter for letter)",
                        self.issuer,
                        issuer.as_str().trim_end_matches('/')
                    ),
                )
            }
            Ok(_) => {}
        }
        if let Err(e) = self.storage.location()
            && !FOREIGN_STORAGE.iter().any(|(k, _)| *k == self.storage.kind)
        {
            p("storage", e.into_message());
        }
        if self.web.http.is_none() && self.web.https.is_none() {
            p("web", "web.http or web.https must be set".into());
        }
        if self.web.https.is_some() && (self.web.tls_cert.is_none() || self.web.tls_key.is_none()) {
            p("web.https", "needs web.tlsCert and web.tlsKey".into());
        }
        // An unknown level would turn logging off without a word (the filter drops what it
        // cannot read): Dex's levels, and trace.
        if let Some(l) = &self.logger.level
            && !matches!(
                l.to_lowercase().as_str(),
                "trace" | "debug" | "info" | "warn" | "error"
            )
        {
            p(
                "logger.level",
                format!("`{l}`: expected debug, info, warn or error"),
            );
        }
        if let Some(f) = &self.logger.format
            && !matches!(f.as_str(), "text" | "json")
        {
            p("logger.format", format!("`{f}`: expected text or json"));
        }
        for (i, g) in self.oauth2.grant_types.iter().enumerate() {
            if GrantType::parse(g).is_none() && !IGNORED_GRANTS.contains(&g.as_str()) {
                p(
                    &format!("oauth2.grantTypes[{i}]"),
                    format!("unknown grant type `{g}`; Gantry serves {}", grant_names()),
                );
            }
        }
        for (i, r) in self.oauth2.response_types.iter().enumerate() {
            if !matches!(r.as_str(), "code" | "token" | "id_token") {
                p(
                    &format!("oauth2.responseTypes[{i}]"),
                    format!("unknown response type `{r}`; expected `code`, `token` or `id_token`"),
                );
            }
        }
        if let Err(e) = self.expiry() {
            // The message starts with its key (`expiry.idTokens: ...`, `audit.retention ...`).
            let m = e.into_message();
            match m.split_once([':', ' ']) {
                Some((key, rest)) if key.starts_with("expiry.") || key.starts_with("audit.") => {
                    p(key, rest.trim_start().to_string())
                }
                _ => p("expiry", m),
            }
        }
        let mut ids = std::collections::HashSet::new();
        for (i, c) in self.static_clients.iter().enumerate() {
            let at = format!("staticClients[{i}]");
            let Some(id) = c.id.as_deref().filter(|s| !s.is_empty()) else {
                p(&at, "id or idEnv is required".into());
                continue;
            };
            if id == ADMIN_CLIENT {
                p(
                    &format!("{at}.id"),
                    format!("`{id}` is the admin UI's built-in client; pick another id"),
                );
            }
            if !ids.insert(id) {
                p(&format!("{at}.id"), format!("duplicate client id `{id}`"));
            }
            if !c.public && c.secret.as_deref().is_none_or(str::is_empty) {
                p(
                    &at,
                    format!("`{id}`: a confidential client needs secret or secretEnv"),
                );
            }
            for (j, g) in c.grant_types.iter().enumerate() {
                if GrantType::parse(g).is_none() {
                    p(
                        &format!("{at}.grantTypes[{j}]"),
                        format!("unknown grant type `{g}`; Gantry serves {}", grant_names()),
                    );
                }
            }
            for (key, list) in [
                ("redirectURIs", &c.redirect_uris),
                ("postLogoutRedirectURIs", &c.post_logout_redirect_uris),
            ] {
                for (j, u) in list.iter().enumerate() {
                    if key == "redirectURIs" && self.is_device_callback(u) {
                        continue;
                    }
                    if url::Url::parse(u).is_err() {
                        p(
                            &format!("{at}.{key}[{j}]"),
                            format!(
                                "`{u}` is not a URL (the one relative URI Dex knows is the device flow's `{}`)",
                                self.device_callback()
                            ),
                        );
                    }
                }
            }
            if let Some(m) = c
                .backchannel_logout_uri
                .as_deref()
                .filter(|u| !u.is_empty())
                .and_then(|u| backchannel_logout_uri_problem(u, c.public))
            {
                p(&format!("{at}.backchannelLogoutURI"), m);
            }
            // A misspelt id would leave the client with fewer ways in than meant, or none.
            let connectors = self.connector_ids();
            for (j, a) in c.allowed_connectors.iter().enumerate() {
                if !connectors.contains(a) {
                    p(
                        &format!("{at}.allowedConnectors[{j}]"),
                        format!(
                            "`{a}` is not a configured connector; there are {}",
                            connectors.join(", ")
                        ),
                    );
                }
            }
        }
        for (i, pw) in self.static_passwords.iter().enumerate() {
            let at = format!("staticPasswords[{i}]");
            let Some(h) = pw.hash.as_deref() else {
                p(&at, "hash or hashFromEnv is required".into());
                continue;
            };
            if let Some(why) = crate::password::hash_problem(h) {
                p(&format!("{at}.hash"), format!("`{}`: {why}", pw.email));
            }
        }
        // One person per identity: a second user with the same userID gets the first's `sub`,
        // the same login name or preferredUsername the first's policy rights.
        let mut seen: std::collections::HashMap<(u8, String), usize> = Default::default();
        for (i, pw) in self.static_passwords.iter().enumerate() {
            let policy_name = pw
                .preferred_username
                .clone()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| pw.username.clone());
            for (what, key, value) in [
                (0, "userID", pw.user_id.clone()),
                (1, "email", pw.email.to_lowercase()),
                (2, "username", pw.username.clone()),
                (2, "preferredUsername", policy_name),
            ] {
                if value.is_empty() {
                    continue;
                }
                match seen.get(&(what, value.clone())) {
                    Some(&j) if j != i => p(
                        &format!("staticPasswords[{i}].{key}"),
                        format!(
                            "`{value}` is already staticPasswords[{j}]'s: each user needs its own"
                        ),
                    ),
                    _ => {
                        seen.insert((what, value), i);
                    }
                }
            }
        }
        let mut conn_ids = std::collections::HashSet::from(["local"]);
        for (i, c) in self.connectors.iter().enumerate() {
            if !conn_ids.insert(c.id.as_str()) {
                p(
                    &format!("connectors[{i}].id"),
                    format!("duplicate connector id `{}`", c.id),
                );
            }
            if let Err(e) = c.connector_kind() {
                p(&format!("connectors[{i}].type"), e.to_string());
            }
        }
        for (i, svc) in self.registry.services.iter().enumerate() {
            let at = format!("registry.services[{i}]");
            if svc.name.is_empty() || svc.issuer.is_empty() {
                p(&at, "name and issuer are required".into());
            }
            // Registry tokens are signed with Gantry's keys: with Gantry's issuer they would
            // read as Gantry's own tokens to anyone who checks only the issuer.
            if svc.issuer.trim_end_matches('/') == self.issuer.trim_end_matches('/') {
                p(
                    &format!("{at}.issuer"),
                    format!(
                        "`{}`: issuer must not be Gantry's issuer; name the registry's own (its \
                         auth.token.issuer, for example `gantry-registry`)",
                        svc.name
                    ),
                );
            }
            if let Some(t) = svc.token_ttl.filter(|t| t.secs() < 60) {
                p(
                    &format!("{at}.tokenTTL"),
                    format!("`{t}`: a duration of at least 60s"),
                );
            }
        }
        if self.registry.ca_cert.is_some() != self.registry.ca_key.is_some() {
            p("registry", "caCert and caKey go together".into());
        }
        if !self.registry.services.is_empty() && self.signing_algorithm() == Some("EdDSA") {
            p(
                "signing.algorithm",
                "registries verify ES256 or RS256 tokens; EdDSA cannot serve them".into(),
            );
        }
        if let Some(pc) = &self.oauth2.password_connector
            && !(pc == "local" && self.local_enabled())
            && !self.connectors.iter().any(|c| &c.id == pc)
        {
            p(
                "oauth2.passwordConnector",
                format!("`{pc}` is not a configured connector"),
            );
        }
        all.extend(self.dex_problems());
        all
    }

    /// Dex's relative device callback for this issuer (`/dex/device/callback`).
    pub fn device_callback(&self) -> String {
        let base = url::Url::parse(&self.issuer)
            .map(|u| u.path().trim_end_matches('/').to_string())
            .unwrap_or_default();
        format!("{base}/device/callback")
    }

    /// What a valid file says that Gantry reads differently from what its author may expect:
    /// printed by `check-config` and logged at start. Never errors.
    pub fn warnings(&self) -> Vec<Problem> {
        let mut w: Vec<Problem> = self.read_notes.clone();
        if self.rate_limits.per_user.is_some() {
            w.push(Problem::new(
                "rateLimits.perUser",
                "has no effect: a budget per user name let anyone lock a user \
                 out. Failed logins per user name slow down instead; perClient budgets \
                 authenticated clients",
            ));
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
                w.push(Problem::new(
                    "policy",
                    format!(
                        "{} can be satisfied by a user or group of any of the connectors {}; \
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
                    ),
                ));
            }
        }
        for (i, c) in self.connectors.iter().enumerate() {
            let flag = INSECURE_ALLOW_HTTP;
            if c.config.get(flag).and_then(|v| v.as_bool()) == Some(true) {
                w.push(Problem::new(
                    format!("connectors[{i}].config.{flag}"),
                    format!(
                        "connector `{}`: lets Gantry talk to the provider over plain \
                     http with hosts that are not loopback; anyone on the path can log in as \
                     anyone. Use https",
                        c.id
                    ),
                ));
            }
        }
        let clients: Vec<&str> = self
            .static_clients
            .iter()
            .filter_map(|c| c.id.as_deref())
            .collect();
        for (i, s) in self.registry.services.iter().enumerate() {
            for a in &s.access_token_audiences {
                if !clients.contains(&a.as_str()) {
                    w.push(Problem::new(
                        format!("registry.services[{i}].accessTokenAudiences"),
                        format!(
                            "`{}`: names `{a}`, which is no \
                         client in staticClients (a client created in the admin UI is fine)",
                            s.name
                        ),
                    ));
                }
            }
        }
        w.extend(self.dex_warnings());
        w
    }
}

/// The grant types Gantry serves, for messages.
fn grant_names() -> String {
    let names: Vec<&str> = GrantType::ALL.iter().map(|g| g.as_str()).collect();
    super::yaml::one_of(&names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_clients(clients: &str) -> Config {
        let y = format!(
            "issuer: http://x/dex\nstorage:\n  type: memory\nweb:\n  http: 127.0.0.1:1\n\
             enablePasswordDB: true\nconnectors:\n  - type: ldap\n    id: corp\n    name: Corp\n\
             staticClients:\n{clients}"
        );
        Config::parse(&y).unwrap()
    }

    #[test]
    fn allowed_connectors_must_name_configured_connectors() {
        let ok = with_clients(
            "  - id: a\n    secret: s\n    allowedConnectors: [corp, local]\n  - id: b\n    secret: s\n",
        );
        assert_eq!(ok.static_clients[0].allowed_connectors, ["corp", "local"]);
        assert!(ok.static_clients[1].allowed_connectors.is_empty());
        assert!(
            !ok.problems()
                .iter()
                .any(|p| p.path.contains("allowedConnectors")),
            "{:?}",
            ok.problems()
        );
        let bad = with_clients(
            "  - id: a\n    secret: s\n    allowedConnectors: [corp, crop]\n  - id: b\n    secret: s\n    allowedConnectors: ['']\n",
        );
        let p: Vec<String> = bad.problems().iter().map(ToString::to_string).collect();
        assert!(
            p.iter().any(|p| p.starts_with(
                "staticClients[0].allowedConnectors[1]: `crop` is not a configured connector"
            )),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|p| p.starts_with("staticClients[1].allowedConnectors[0]: `` is not")),
            "{p:?}"
        );
        assert!(!p.iter().any(|p| p.contains("`corp` is not")), "{p:?}");
    }

    #[test]
    fn backchannel_logout_uris_are_judged_at_their_line_as_the_spec_allows() {
        let y = "issuer: http://x/dex
storage:
  type: memory
web:
  http: 127.0.0.1:1
staticClients:
  - id: fine
    secret: s
    backchannelLogoutURI: https://app.example.com/bcl
  - id: empty-is-unset
    secret: s
    backchannelLogoutURI: ''
  - id: fragment
    secret: s
    backchannelLogoutURI: https://app.example.com/bcl#x
  - id: relative
    secret: s
    backchannelLogoutURI: /bcl
  - id: public-in-clear
    public: true
    backchannelLogoutURI: http://app.internal/bcl
  - id: confidential-in-clear
    secret: s
    backchannelLogoutURI: http://app.internal/bcl
";
        let r = Config::read(y);
        let c = r.config.as_ref().unwrap();
        let mut p = c.problems();
        r.place(&mut p);
        let at = |path: &str| {
            p.iter()
                .find(|p| p.path == path)
                .map(|p| (p.at.map_or(0, |m| m.line), p.message.clone()))
        };
        assert_eq!(p.len(), 3, "{p:?}");
        let (line, m) = at("staticClients[2].backchannelLogoutURI").unwrap();
        assert_eq!(line, 15);
        assert!(m.contains("fragment"), "{m}");
        let (line, m) = at("staticClients[3].backchannelLogoutURI").unwrap();
        assert_eq!(line, 18);
        assert!(m.contains("not an absolute URL"), "{m}");
        let (line, m) = at("staticClients[4].backchannelLogoutURI").unwrap();
        assert_eq!(line, 21);
        assert!(m.contains("public client"), "{m}");
        // http to another machine is the spec's OP choice for confidential clients: a warning.
        let w: Vec<String> = c.warnings().into_iter().map(|w| w.path).collect();
        assert!(
            w.contains(&"staticClients[5].backchannelLogoutURI".to_string()),
            "{w:?}"
        );
        assert!(
            !w.iter().any(|w| w.starts_with("staticClients[0]")),
            "{w:?}"
        );
    }
}
