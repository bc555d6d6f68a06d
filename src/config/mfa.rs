//! Dex master's `mfa` section and the clients' `mfaChain`, checked as Dex's `validateMFA`
//! checks them, plus what Gantry cannot serve yet: a chain that names a WebAuthn authenticator
//! would let logins through on the first factor alone, so it is refused, never skipped.

use super::{Config, ConnectorKind, Problem};

/// Dex's authenticator types.
const TYPES: &[&str] = &["TOTP", "WebAuthn"];
/// The keys of a TOTP authenticator's `config` (Dex's `TOTPConfig`).
const TOTP_KEYS: &[&str] = &["issuer"];

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
        }
        for (path, chain) in self.mfa_chains() {
            for (j, id) in chain.iter().enumerate() {
                match auths.iter().find(|a| &a.id == id) {
                    None => {
                        let mut known: Vec<&str> = auths
                            .iter()
                            .map(|a| a.id.as_str())
                            .filter(|id| !id.is_empty())
                            .collect();
                        known.dedup();
                        p(
                            &format!("{path}[{j}]"),
                            if known.is_empty() {
                                format!(
                                    "`{id}` is not an authenticator: mfa.authenticators is empty"
                                )
                            } else {
                                format!(
                                    "`{id}` is not an authenticator; there are {}",
                                    super::yaml::one_of(&known)
                                )
                            },
                        );
                    }
                    Some(a) if a.kind == "WebAuthn" => p(
                        &format!("{path}[{j}]"),
                        format!(
                            "`{id}` is a WebAuthn authenticator, and Gantry cannot ask for \
                             WebAuthn yet: logins would go through without it. Use a TOTP \
                             authenticator in the chain for now"
                        ),
                    ),
                    Some(_) => {}
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
            if a.kind == "WebAuthn" {
                w.push(Problem::new(
                    format!("{at}.type"),
                    "WebAuthn is read but not served yet: no chain may name this authenticator",
                ));
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
    fn unknown_duplicate_and_unserved_authenticators_are_refused_where_they_are_written() {
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
            "line 13, column 33: staticClients[0].mfaChain[0]: `key` is a WebAuthn authenticator, and Gantry cannot ask for WebAuthn yet",
        ] {
            assert!(got.iter().any(|g| g.contains(want)), "{want}\n{got:#?}");
        }
        assert_eq!(got.len(), 6, "{got:#?}");
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
}
