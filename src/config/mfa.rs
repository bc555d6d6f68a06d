//! Dex master's `mfa` section and the clients' `mfaChain`, checked as Dex's `validateMFA`
//! checks them, and a WebAuthn authenticator's `config` (Dex's `WebAuthnConfig`) read into
//! [`WebAuthnSettings`] with Dex's defaults: a setting that Dex would fail to build the
//! authenticator with is refused here, with its key, rather than skipped at start.

use super::{Config, ConnectorKind, Problem};

/// Dex's authenticator types.
const TYPES: &[&str] = &["TOTP", "WebAuthn"];
/// The keys of a TOTP authenticator's `config` (Dex's `TOTPConfig`).
const TOTP_KEYS: &[&str] = &["issuer"];
/// The keys of a WebAuthn authenticator's `config` (Dex's `WebAuthnConfig`).
const WEBAUTHN_KEYS: &[&str] = &[
    "rpDisplayName",
    "rpID",
    "rpOrigins",
    "attestationPreference",
    "userVerification",
    "authenticatorAttachment",
    "timeout",
];
/// Dex's ceremony timeout when `timeout` is unset.
const DEFAULT_TIMEOUT_SECS: i64 = 60;

/// Whether the authenticator must verify its user (PIN, biometrics) besides their presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserVerification {
    Required,
    Preferred,
    Discouraged,
}

/// A WebAuthn authenticator's settings, Dex's defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebAuthnSettings {
    /// The name browsers show in their dialog; the RP ID when unset.
    pub rp_display_name: String,
    /// The domain keys are bound to; the issuer's host when unset.
    pub rp_id: String,
    /// The origins (`scheme://host[:port]`) ceremonies may come from; the issuer's when unset.
    pub rp_origins: Vec<url::Url>,
    /// `none`, `indirect` (Dex's default) or `direct`.
    pub attestation: String,
    pub user_verification: UserVerification,
    /// `platform` or `cross-platform`; `None`: any.
    pub attachment: Option<String>,
    pub timeout_secs: i64,
}

/// Read a WebAuthn authenticator's `config` as Dex's `NewWebAuthnProvider` does, for an
/// issuer at `issuer`; every problem as (key under `config`, message).
pub fn webauthn_settings(
    config: &serde_json::Value,
    issuer: &str,
) -> Result<WebAuthnSettings, Vec<(String, String)>> {
    let mut bad: Vec<(String, String)> = Vec::new();
    let empty = serde_json::Map::new();
    let o = match config {
        serde_json::Value::Null => &empty,
        serde_json::Value::Object(o) => o,
        _ => {
            return Err(vec![(
                String::new(),
                "must be a map (for WebAuthn: rpID, rpOrigins, userVerification, ...)".into(),
            )]);
        }
    };
    let mut text = |k: &str| -> String {
        match o.get(k) {
            None | Some(serde_json::Value::Null) => String::new(),
            Some(serde_json::Value::String(s)) => s.trim().to_string(),
            Some(_) => {
                bad.push((k.into(), "must be a string".into()));
                String::new()
            }
        }
    };
    let display = text("rpDisplayName");
    let rp_id = text("rpID");
    let attestation = text("attestationPreference");
    let uv = text("userVerification");
    let attachment = text("authenticatorAttachment");
    let timeout = text("timeout");
    let issuer_url = url::Url::parse(issuer).ok();
    let rp_id = if rp_id.is_empty() {
        issuer_url
            .as_ref()
            .and_then(|u| u.host_str())
            .unwrap_or_default()
            .to_string()
    } else {
        rp_id.to_ascii_lowercase()
    };
    let rp_id_key = if o.contains_key("rpID") { "rpID" } else { "" };
    if rp_id.parse::<std::net::IpAddr>().is_ok()
        || rp_id
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok()
    {
        bad.push((
            rp_id_key.into(),
            format!(
                "the RP ID `{rp_id}`{} is an IP address, and browsers offer WebAuthn only to a \
                 domain name: set rpID to one (`localhost` on a workstation) and rpOrigins to \
                 the origins users open",
                if rp_id_key.is_empty() {
                    " (the issuer's host)"
                } else {
                    ""
                }
            ),
        ));
    } else if rp_id.is_empty() {
        bad.push((rp_id_key.into(), "the RP ID must be a domain name".into()));
    }
    let mut origins = Vec::new();
    match o.get("rpOrigins") {
        None | Some(serde_json::Value::Null) => {
            // Dex: the issuer's scheme and host (with its port).
            if let Some(u) = &issuer_url
                && let Ok(origin) = url::Url::parse(&u.origin().ascii_serialization())
            {
                origins.push(origin);
            }
        }
        Some(serde_json::Value::Array(list)) => {
            for (i, v) in list.iter().enumerate() {
                let at = format!("rpOrigins[{i}]");
                let Some(s) = v.as_str() else {
                    bad.push((at, "must be a string".into()));
                    continue;
                };
                match url::Url::parse(s.trim()) {
                    Ok(u)
                        if matches!(u.scheme(), "https" | "http")
                            && u.host_str().is_some()
                            && u.path() == "/"
                            && u.query().is_none() =>
                    {
                        origins.push(u)
                    }
                    _ => bad.push((
                        at,
                        format!("`{s}` is not an origin (`https://host[:port]`, no path)"),
                    )),
                }
            }
        }
        Some(_) => bad.push(("rpOrigins".into(), "must be a list of origins".into())),
    }
    if origins.is_empty() && !bad.iter().any(|(k, _)| k.starts_with("rpOrigins")) {
        bad.push(("rpOrigins".into(), "names no origin".into()));
    }
    // The browser binds a key to the RP ID only on pages whose host is it or under it.
    for (i, u) in origins.iter().enumerate() {
        let host = u.host_str().unwrap_or_default();
        if !rp_id.is_empty() && host != rp_id && !host.ends_with(&format!(".{rp_id}")) {
            bad.push((
                if o.contains_key("rpOrigins") {
                    format!("rpOrigins[{i}]")
                } else {
                    "rpOrigins".into()
                },
                format!(
                    "`{}` is not on the RP ID `{rp_id}` (a host equal to it or under it): \
                     browsers there refuse its keys",
                    u.origin().ascii_serialization()
                ),
            ));
        }
    }
    let attestation = match attestation.as_str() {
        "" | "indirect" => "indirect",
        "none" => "none",
        "direct" => "direct",
        other => {
            bad.push((
                "attestationPreference".into(),
                format!("`{other}` is not one of `none`, `indirect` or `direct`"),
            ));
            "indirect"
        }
    };
    let user_verification = match uv.as_str() {
        "" | "preferred" => UserVerification::Preferred,
        "required" => UserVerification::Required,
        "discouraged" => UserVerification::Discouraged,
        other => {
            bad.push((
                "userVerification".into(),
                format!("`{other}` is not one of `required`, `preferred` or `discouraged`"),
            ));
            UserVerification::Preferred
        }
    };
    let attachment = match attachment.as_str() {
        "" => None,
        a @ ("platform" | "cross-platform") => Some(a.to_string()),
        other => {
            bad.push((
                "authenticatorAttachment".into(),
                format!("`{other}` is not one of `platform` or `cross-platform` (or empty: any)"),
            ));
            None
        }
    };
    let timeout_secs = if timeout.is_empty() {
        DEFAULT_TIMEOUT_SECS
    } else {
        match super::Duration::parse(&timeout) {
            Some(d) if d.secs() > 0 => d.secs(),
            _ => {
                bad.push((
                    "timeout".into(),
                    format!("`{timeout}` is not a duration of a second or more (like `60s`)"),
                ));
                DEFAULT_TIMEOUT_SECS
            }
        }
    };
    if !bad.is_empty() {
        return Err(bad);
    }
    Ok(WebAuthnSettings {
        rp_display_name: if display.is_empty() {
            rp_id.clone()
        } else {
            display
        },
        rp_id,
        rp_origins: origins,
        attestation: attestation.into(),
        user_verification,
        attachment,
        timeout_secs,
    })
}

impl Config {
    /// Every client chain of the file, with its key path.
    fn mfa_chains(&self) -> Vec<(String, &[String])> {
        let mut all = Vec::new();
        if let Some(m) = &self.mfa {
            all.push(("mfa.defaultMFAChain".to_string(), &m.default_mfa_chain[..]));
        }
        for (i, c) in self.static_clients.iter().enumerate() {
            if let Some(chain) = &c.mfa_chain {
                all.push((format!("staticClients[{i}].mfaChain"), &chain[..]));
            }
        }
        all
    }

    pub(super) fn mfa_problems(&self) -> Vec<Problem> {
        let mut all = Vec::new();
        let mut p = |path: &str, m: String| all.push(Problem::new(path, m));
        let auths = self
            .mfa
            .as_ref()
            .map(|m| &m.authenticators[..])
            .unwrap_or_default();
        // A requirement no authenticator can meet would refuse every login it names: say so
        // before the server starts rather than at the first login.
        if !self.policy.mfa.is_empty()
            && !auths
                .iter()
                .any(|a| matches!(a.kind.as_str(), "TOTP" | "WebAuthn"))
        {
            p(
                "policy.mfa",
                format!(
                    "`{}` requires a second factor, and mfa.authenticators names none that \
                     Gantry serves: add one (`- id: totp, type: TOTP`)",
                    self.policy.mfa[0].name
                ),
            );
        }
        for (i, a) in auths.iter().enumerate() {
            let at = format!("mfa.authenticators[{i}]");
            if a.id.is_empty() {
                p(
                    &format!("{at}.id"),
                    "an authenticator must have an id".into(),
                );
            } else if auths[..i].iter().any(|b| b.id == a.id) {
                p(
                    &format!("{at}.id"),
                    format!("`{}`: another authenticator has this id", a.id),
                );
            }
            if !TYPES.contains(&a.kind.as_str()) {
                p(
                    &format!("{at}.type"),
                    format!(
                        "`{}` is no authenticator type; Dex's are {}",
                        a.kind,
                        super::yaml::one_of(TYPES)
                    ),
                );
            }
            if a.kind == "TOTP" {
                match a.config.get("issuer") {
                    None | Some(serde_json::Value::String(_)) => {}
                    Some(_) => p(
                        &format!("{at}.config.issuer"),
                        "the issuer an authenticator app shows must be a string".into(),
                    ),
                }
                if !(a.config.is_null() || a.config.is_object()) {
                    p(
                        &format!("{at}.config"),
                        "must be a map (for TOTP: `issuer`)".into(),
                    );
                }
            }
            if a.kind == "WebAuthn"
                && let Err(bad) = webauthn_settings(&a.config, &self.issuer)
            {
                for (key, m) in bad {
                    let path = if key.is_empty() {
                        format!("{at}.config")
                    } else {
                        format!("{at}.config.{key}")
                    };
                    p(&path, m);
                }
            }
        }
        for (path, chain) in self.mfa_chains() {
            for (j, id) in chain.iter().enumerate() {
                if !auths.iter().any(|a| &a.id == id) {
                    let mut known: Vec<&str> = auths
                        .iter()
                        .map(|a| a.id.as_str())
                        .filter(|id| !id.is_empty())
                        .collect();
                    known.dedup();
                    p(
                        &format!("{path}[{j}]"),
                        if known.is_empty() {
                            format!("`{id}` is not an authenticator: mfa.authenticators is empty")
                        } else {
                            format!(
                                "`{id}` is not an authenticator; there are {}",
                                super::yaml::one_of(&known)
                            )
                        },
                    );
                }
            }
        }
        all
    }

    pub(super) fn mfa_warnings(&self) -> Vec<Problem> {
        let mut w = Vec::new();
        let Some(m) = &self.mfa else {
            return w;
        };
        for (i, a) in m.authenticators.iter().enumerate() {
            let at = format!("mfa.authenticators[{i}]");
            for (j, t) in a.connector_types.iter().enumerate() {
                if ConnectorKind::parse(t).is_none() && t != ConnectorKind::Local.as_str() {
                    w.push(Problem::new(
                        format!("{at}.connectorTypes[{j}]"),
                        format!(
                            "`{t}` is no connector type Gantry has: this entry matches no \
                             connector (types are written as in `connectors[].type`, like \
                             `ldap` or `oidc`)"
                        ),
                    ));
                }
            }
            if a.kind == "TOTP"
                && let Some(o) = a.config.as_object()
            {
                for k in o.keys().filter(|k| !TOTP_KEYS.contains(&k.as_str())) {
                    w.push(Problem::new(
                        format!("{at}.config.{k}"),
                        "not a TOTP setting (Dex's is `issuer`); ignored".to_string(),
                    ));
                }
            }
            if a.kind == "WebAuthn"
                && let Some(o) = a.config.as_object()
            {
                for k in o.keys().filter(|k| !WEBAUTHN_KEYS.contains(&k.as_str())) {
                    w.push(Problem::new(
                        format!("{at}.config.{k}"),
                        format!(
                            "not a WebAuthn setting (Dex's are {}); ignored",
                            super::yaml::one_of(WEBAUTHN_KEYS)
                        ),
                    ));
                }
            }
        }
        // Dex's semantics: a chain step whose authenticator does not apply to the login's
        // connector type is skipped, so a chain can ask some logins for nothing at all.
        let mut sources: Vec<(&str, &str)> = self
            .connectors
            .iter()
            .map(|c| (c.id.as_str(), c.kind.as_str()))
            .collect();
        if self.enable_password_db || !self.static_passwords.is_empty() {
            sources.push(("local", ConnectorKind::Local.as_str()));
        }
        for (path, chain) in self.mfa_chains() {
            let named: Vec<_> = m
                .authenticators
                .iter()
                .filter(|a| chain.contains(&a.id))
                .collect();
            if named.is_empty() {
                continue;
            }
            for (id, kind) in &sources {
                let applies = named.iter().any(|a| {
                    a.connector_types.is_empty() || a.connector_types.iter().any(|t| t == kind)
                });
                if !applies {
                    w.push(Problem::new(
                        path.clone(),
                        format!(
                            "logins through connector `{id}` ({kind}) pass this chain without a \
                             second factor: none of its authenticators lists `{kind}` in \
                             connectorTypes (Dex's semantics; a policy.mfa requirement would \
                             refuse them instead)"
                        ),
                    ));
                }
            }
        }
        if !m.authenticators.is_empty() && self.mfa_chains().iter().all(|(_, c)| c.is_empty()) {
            w.push(Problem::new(
                "mfa",
                "no chain names an authenticator (mfa.defaultMFAChain, staticClients[].mfaChain): \
                 only clients created in the admin UI with a chain, and requests with \
                 acr_values urn:gantry:acr:mfa, ask for a second factor",
            ));
        }
        w
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;

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

    const BASE: &str =
        "issuer: http://127.0.0.1:5556/dex\nstorage: {type: memory}\nweb: {http: 127.0.0.1:1}\n";

    #[test]
    fn a_chain_of_totp_authenticators_is_honoured() {
        let y = format!(
            "{BASE}mfa:\n  authenticators:\n  - id: otp\n    type: TOTP\n    config: {{issuer: Acme}}\n    connectorTypes: [ldap, local]\n  defaultMFAChain: [otp]\nstaticClients:\n- {{id: a, secret: s, mfaChain: [otp]}}\n- {{id: b, secret: s, mfaChain: []}}\n- {{id: c, secret: s}}\n"
        );
        assert_eq!(report(&y), Vec::<String>::new());
        let c = Config::parse(&y).unwrap();
        assert_eq!(
            c.static_clients[0].mfa_chain.as_deref(),
            Some(&["otp".to_string()][..])
        );
        // Dex tells an empty chain (no second factor) from none (the default).
        assert_eq!(c.static_clients[1].mfa_chain.as_deref(), Some(&[][..]));
        assert_eq!(c.static_clients[2].mfa_chain, None);
        let warned: Vec<String> = c.warnings().into_iter().map(|w| w.path).collect();
        assert!(!warned.iter().any(|w| w.starts_with("mfa")), "{warned:?}");
    }

    #[test]
    fn unknown_duplicate_and_misconfigured_authenticators_are_refused_where_they_are_written() {
        let y = format!(
            "{BASE}mfa:
  authenticators:
  - {{id: otp, type: TOTP}}
  - {{id: otp, type: TOTP}}
  - {{id: key, type: WebAuthn, config: {{rpID: example.com}}}}
  - {{id: sms, type: SMS}}
  - {{id: '', type: TOTP, config: {{issuer: 7}}}}
  defaultMFAChain: [otp, nope]
staticClients:
- {{id: a, secret: s, mfaChain: [key]}}
"
        );
        let got = report(&y);
        for want in [
            "line 7, column 6: mfa.authenticators[1].id: `otp`: another authenticator has this id",
            "line 9, column 15: mfa.authenticators[3].type: `SMS` is no authenticator type; Dex's are `TOTP` or `WebAuthn`",
            "line 10, column 6: mfa.authenticators[4].id: an authenticator must have an id",
            "line 10, column 35: mfa.authenticators[4].config.issuer: the issuer an authenticator app shows must be a string",
            "line 11, column 26: mfa.defaultMFAChain[1]: `nope` is not an authenticator; there are `otp`, `key` or `sms`",
            // Dex's default origin is the issuer's, which is not on this RP ID.
            "mfa.authenticators[2].config.rpOrigins: `http://127.0.0.1:5556` is not on the RP ID `example.com`",
        ] {
            assert!(got.iter().any(|g| g.contains(want)), "{want}\n{got:#?}");
        }
        assert_eq!(got.len(), 6, "{got:#?}");
    }

    #[test]
    fn webauthn_settings_take_dexs_defaults_from_the_issuer() {
        let s = super::webauthn_settings(
            &serde_json::Value::Null,
            "https://login.example.com:8443/dex",
        )
        .unwrap();
        assert_eq!(s.rp_id, "login.example.com");
        assert_eq!(s.rp_display_name, "login.example.com");
        assert_eq!(
            s.rp_origins
                .iter()
                .map(|u| u.origin().ascii_serialization())
                .collect::<Vec<_>>(),
            ["https://login.example.com:8443"]
        );
        assert_eq!(s.attestation, "indirect");
        assert_eq!(s.user_verification, super::UserVerification::Preferred);
        assert_eq!(s.attachment, None);
        assert_eq!(s.timeout_secs, 60);
    }

    #[test]
    fn webauthn_settings_that_cannot_work_are_refused_with_their_key() {
        let bad = |c: serde_json::Value, issuer: &str| -> Vec<String> {
            super::webauthn_settings(&c, issuer)
                .unwrap_err()
                .into_iter()
                .map(|(k, m)| format!("{k}: {m}"))
                .collect()
        };
        // Browsers refuse WebAuthn on an IP address, the issuer's host or not.
        let got = bad(serde_json::Value::Null, "http://127.0.0.1:5556/dex");
        assert!(
            got[0].starts_with(": the RP ID `127.0.0.1` (the issuer's host) is an IP"),
            "{got:?}"
        );
        let got = bad(
            serde_json::json!({"rpID": "10.0.0.1"}),
            "https://a.example/dex",
        );
        assert!(
            got[0].starts_with("rpID: the RP ID `10.0.0.1` is an IP"),
            "{got:?}"
        );
        let got = bad(
            serde_json::json!({
                "rpID": "example.com",
                "rpOrigins": ["https://evil.com", "https://login.example.com/path", 7],
                "attestationPreference": "enterprise",
                "userVerification": "always",
                "authenticatorAttachment": "usb",
                "timeout": "soon",
            }),
            "https://login.example.com/dex",
        );
        for want in [
            "rpOrigins[1]: `https://login.example.com/path` is not an origin",
            "rpOrigins[2]: must be a string",
            "rpOrigins[0]: `https://evil.com` is not on the RP ID `example.com`",
            "attestationPreference: `enterprise` is not one of",
            "userVerification: `always` is not one of",
            "authenticatorAttachment: `usb` is not one of",
            "timeout: `soon` is not a duration",
        ] {
            assert!(got.iter().any(|g| g.starts_with(want)), "{want}\n{got:#?}");
        }
        assert_eq!(got.len(), 7, "{got:#?}");
        // A subdomain of the RP ID is one of its origins.
        assert!(
            super::webauthn_settings(
                &serde_json::json!({"rpID": "example.com", "rpOrigins": ["https://login.example.com"]}),
                "https://login.example.com/dex"
            )
            .is_ok()
        );
    }

    #[test]
    fn a_chain_without_authenticators_is_refused() {
        let got = report(&format!(
            "{BASE}staticClients:\n- {{id: a, secret: s, mfaChain: [otp]}}\n"
        ));
        assert_eq!(
            got,
            [
                "line 5, column 33: staticClients[0].mfaChain[0]: `otp` is not an authenticator: mfa.authenticators is empty"
            ]
        );
    }

    #[test]
    fn misspelt_connector_types_and_settings_are_warned_about() {
        let c = Config::parse(&format!(
            "{BASE}mfa:\n  authenticators:\n  - {{id: otp, type: TOTP, connectorTypes: [ldpa], config: {{isuser: x}}}}\n"
        ))
        .unwrap();
        assert_eq!(c.problems(), vec![]);
        let warned: Vec<String> = c.warnings().into_iter().map(|w| w.path).collect();
        for k in [
            "mfa.authenticators[0].connectorTypes[0]",
            "mfa.authenticators[0].config.isuser",
            "mfa",
        ] {
            assert!(warned.iter().any(|w| w == k), "{k}: {warned:?}");
        }
    }

    #[test]
    fn a_chain_that_asks_some_connectors_for_nothing_is_warned_about() {
        let c = Config::parse(&format!(
            "{BASE}enablePasswordDB: true
mfa:
  authenticators:
  - {{id: otp, type: TOTP, connectorTypes: [ldap]}}
  defaultMFAChain: [otp]
staticClients:
- {{id: a, secret: s, mfaChain: []}}
"
        ))
        .unwrap();
        let warned: Vec<(String, String)> = c
            .warnings()
            .into_iter()
            .map(|w| (w.path, w.message))
            .collect();
        assert!(
            warned.iter().any(|(p, m)| p == "mfa.defaultMFAChain"
                && m.contains("connector `local` (local) pass this chain without a second factor")),
            "{warned:?}"
        );
        // An empty chain asks nothing on purpose; an authenticator for every type covers all.
        assert!(
            !warned.iter().any(|(p, _)| p.starts_with("staticClients")),
            "{warned:?}"
        );
        let c = Config::parse(&format!(
            "{BASE}enablePasswordDB: true
mfa:
  authenticators:
  - {{id: otp, type: TOTP}}
  defaultMFAChain: [otp]
"
        ))
        .unwrap();
        assert!(
            !c.warnings()
                .iter()
                .any(|w| w.message.contains("without a second factor")),
            "{:?}",
            c.warnings()
        );
    }
}
