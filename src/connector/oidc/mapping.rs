//! An upstream's claims to an [`Identity`], as Dex's `oidc` connector maps them: `userIDKey`,
//! `userNameKey`, `claimMapping` and `overrideClaimMapping`, `insecureSkipEmailVerified`,
//! `insecureEnableGroups` with `allowedGroups`, `claimModifications` (see `modifications`),
//! `hostedDomains`. Gantry's own code: the `openidconnect` crate has no notion of these Dex
//! keys.

use super::config::OidcConfig;
use crate::connector::ConnectorError;
use crate::connector::claims::{self, Claims};
use crate::identity::Identity;

/// Claims to an identity, as Dex's oidc connector maps them.
pub fn identity(cfg: &OidcConfig, id: &str, c: &Claims) -> Result<Identity, ConnectorError> {
    let missing = |k: &str| ConnectorError::Rejected(format!("the provider sent no \"{k}\" claim"));
    let name_key = cfg.user_name_key.as_deref().unwrap_or("name");
    let username = claims::string(c, name_key).ok_or_else(|| missing(name_key))?;
    let mapped = |std: &str, alt: &Option<String>| -> (Option<String>, String) {
        let v = claims::string(c, std);
        match alt {
            Some(k) if v.is_none() || cfg.override_claim_mapping => {
                (claims::string(c, k), k.clone())
            }
            _ => (v, std.to_string()),
        }
    };
    let (email, email_key) = mapped("email", &cfg.claim_mapping.email);
    if email.is_none() && cfg.has_email_scope() {
        return Err(missing(&email_key));
    }
    let email_verified = match claims::boolean(c, "email_verified") {
        Some(v) => v,
        None if cfg.insecure_skip_email_verified => true,
        None if cfg.has_email_scope() => return Err(missing("email_verified")),
        None => false,
    };
    let (preferred, _) = mapped("preferred_username", &cfg.claim_mapping.preferred_username);
    let mods = &cfg.claim_modifications;
    let mut groups = Vec::new();
    if cfg.insecure_enable_groups {
        let mut key = "groups".to_string();
        let mut found =
            claims::groups(c, &key).map_err(|e| ConnectorError::Rejected(e.to_string()))?;
        if let Some(k) = &cfg.claim_mapping.groups
            && (found.is_none() || cfg.override_claim_mapping)
        {
            key = k.clone();
            found = claims::groups(c, &key).map_err(|e| ConnectorError::Rejected(e.to_string()))?;
        }
        groups = found.unwrap_or_default();
        groups.retain(|g| mods.keeps(g));
        groups = claims::filter_allowed(groups, &cfg.allowed_groups).ok_or_else(|| {
            ConnectorError::Rejected(format!(
                "user {username} is not in any of the allowed groups"
            ))
        })?;
    }
    let groups = mods.finish(groups, c);
    if !cfg.hosted_domains.is_empty() {
        let hd = claims::string(c, "hd").unwrap_or_default();
        if !cfg.hosted_domains.contains(&hd) {
            return Err(ConnectorError::Rejected(format!(
                "the account's domain `{hd}` is not allowed"
            )));
        }
    }
    // An empty subject names nobody: every account sent without one would be one user.
    let key = cfg
        .user_id_key
        .as_deref()
        .filter(|k| !k.is_empty())
        .unwrap_or("sub");
    let user_id = claims::string(c, key)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| missing(key))?;
    Ok(Identity {
        user_id,
        username,
        preferred_username: preferred.unwrap_or_default(),
        email: email.unwrap_or_default(),
        email_verified,
        groups,
        connector_id: id.to_string(),
        connector_data: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The mapping of a connector `sso` with this much config.
    struct Mapped(OidcConfig);

    impl Mapped {
        fn identity(&self, c: &Claims) -> Result<Identity, ConnectorError> {
            identity(&self.0, "sso", c)
        }
    }

    fn connector(extra: serde_json::Value) -> Mapped {
        let mut cfg = json!({"issuer": "https://id.example.com", "clientID": "g",
                             "redirectURI": "https://g.example.com/callback"});
        for (k, v) in extra.as_object().unwrap() {
            cfg[k] = v.clone();
        }
        Mapped(OidcConfig::from_value(&cfg).unwrap())
    }

    fn claims(v: serde_json::Value) -> Claims {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn claims_map_as_dex_maps_them() {
        let c = claims(
            json!({"sub": "s1", "name": "Ann", "email": "a@x", "email_verified": true,
                              "preferred_username": "ann", "login": "ann.l", "mail": "ann@mail",
                              "groups": ["g1"], "roles": ["r1"], "oid": "o-1"}),
        );
        let plain = connector(json!({})).identity(&c).unwrap();
        assert_eq!(
            (
                plain.user_id.as_str(),
                plain.username.as_str(),
                plain.email.as_str()
            ),
            ("s1", "Ann", "a@x")
        );
        assert!(
            plain.groups.is_empty(),
            "groups only with insecureEnableGroups"
        );

        // claimMapping fills in only what is missing...
        let mapped = connector(json!({"insecureEnableGroups": true, "userIDKey": "oid",
            "claimMapping": {"preferred_username": "login", "email": "mail", "groups": "roles"}}))
        .identity(&c)
        .unwrap();
        assert_eq!(mapped.user_id, "o-1");
        // An empty subject is no subject: it would make every such account one user.
        for (keyed, key) in [(json!({}), "sub"), (json!({"userIDKey": "oid"}), "oid")] {
            let mut empty = c.clone();
            empty.insert(key.into(), json!(""));
            let e = connector(keyed).identity(&empty).unwrap_err();
            assert!(e.to_string().contains(&format!("no \"{key}\"")), "{e}");
        }
        assert_eq!(mapped.preferred_username, "ann");
        assert_eq!(mapped.email, "a@x");
        assert_eq!(mapped.groups, ["g1"]);
        // ...unless overrideClaimMapping says it wins.
        let over = connector(
            json!({"insecureEnableGroups": true, "overrideClaimMapping": true,
            "claimMapping": {"preferred_username": "login", "email": "mail", "groups": "roles"}}),
        )
        .identity(&c)
        .unwrap();
        assert_eq!(
            (over.preferred_username.as_str(), over.email.as_str()),
            ("ann.l", "ann@mail")
        );
        assert_eq!(over.groups, ["r1"]);
    }

    #[test]
    fn missing_email_facts_fail_unless_allowed() {
        let no_verified = claims(json!({"sub": "s", "name": "n", "email": "a@x"}));
        let e = connector(json!({})).identity(&no_verified).unwrap_err();
        assert!(e.to_string().contains("email_verified"), "{e}");
        let ok = connector(json!({"insecureSkipEmailVerified": true}))
            .identity(&no_verified)
            .unwrap();
        assert!(ok.email_verified);
        // Without the email scope, neither is required.
        let no_email = claims(json!({"sub": "s", "name": "n"}));
        assert!(
            connector(json!({"scopes": ["profile"]}))
                .identity(&no_email)
                .is_ok()
        );
        let e = connector(json!({})).identity(&no_email).unwrap_err();
        assert!(e.to_string().contains("\"email\""), "{e}");
        let e = connector(json!({"userNameKey": "upn"}))
            .identity(&no_verified)
            .unwrap_err();
        assert!(e.to_string().contains("upn"), "{e}");
    }

    #[test]
    fn allowed_groups_and_hosted_domains_gate_the_login() {
        let c = claims(
            json!({"sub": "s", "name": "n", "email": "a@x", "email_verified": true,
                              "groups": ["dev", "ops"], "hd": "example.com"}),
        );
        let kept = connector(json!({"insecureEnableGroups": true, "allowedGroups": ["ops"]}))
            .identity(&c)
            .unwrap();
        assert_eq!(kept.groups, ["ops"]);
        assert!(
            connector(json!({"insecureEnableGroups": true, "allowedGroups": ["admins"]}))
                .identity(&c)
                .is_err()
        );
        assert!(
            connector(json!({"hostedDomains": ["example.com"]}))
                .identity(&c)
                .is_ok()
        );
        assert!(
            connector(json!({"hostedDomains": ["other.com"]}))
                .identity(&c)
                .is_err()
        );
        let bad_groups = claims(json!({"sub": "s", "name": "n", "email": "a@x",
                                       "email_verified": true, "groups": [1, 2]}));
        assert!(
            connector(json!({"insecureEnableGroups": true}))
                .identity(&bad_groups)
                .is_err(),
            "a malformed groups claim is an error, not no groups"
        );
    }

    /// Dex's `TestHandleCallback` cases for `claimModifications` (connector/oidc/oidc_test.go),
    /// with its config: scopes email and groups, `insecureEnableGroups`.
    fn dex_case(mods: serde_json::Value, token: serde_json::Value) -> Vec<String> {
        connector(
            json!({"scopes": ["email", "groups"], "insecureEnableGroups": true,
                         "claimModifications": mods}),
        )
        .identity(&claims(token))
        .unwrap()
        .groups
    }

    fn token(groups: serde_json::Value) -> serde_json::Value {
        json!({"sub": "subvalue", "name": "namevalue", "email": "emailvalue",
               "email_verified": true, "groups": groups})
    }

    #[test]
    fn dex_new_group_from_claims() {
        let mods = json!({"newGroupFromClaims": [
            {"claims": ["organization", "pipeline"], "delimiter": "::", "prefix": "gh"},
            {"claims": ["non-existing1", "non-existing2"], "delimiter": "::", "prefix": "tfe"},
            {"claims": ["organization", "claim-with-delimiter"], "delimiter": "-",
             "clearDelimiter": true, "prefix": "clr_delim"},
            {"claims": ["organization", "claim-with-delimiter"], "delimiter": "-",
             "prefix": "keep_delim"},
            {"claims": ["non-string-claim", "non-string-claim2", "email"], "delimiter": "-",
             "prefix": "bk"}
        ]});
        let t = json!({"sub": "subvalue", "name": "namevalue", "groups": "group1",
            "organization": "acme", "pipeline": "pipeline-one", "email": "emailvalue",
            "email_verified": true, "claim-with-delimiter": "foo-bar",
            "non-string-claim": ["element1", "element2"], "non-string-claim2": 666});
        assert_eq!(
            dex_case(mods, t),
            [
                "group1",
                "gh::acme::pipeline-one",
                "clr_delim-acme-foobar",
                "keep_delim-acme-foo-bar",
                "bk-emailvalue"
            ]
        );
    }

    #[test]
    fn dex_prefix_and_suffix_group_names() {
        let groups = json!(["group1", "group2", "groupA", "groupB"]);
        for (modify, want) in [
            (
                json!({"prefix": "prefix-"}),
                [
                    "prefix-group1",
                    "prefix-group2",
                    "prefix-groupA",
                    "prefix-groupB",
                ],
            ),
            (
                json!({"suffix": "-suffix"}),
                [
                    "group1-suffix",
                    "group2-suffix",
                    "groupA-suffix",
                    "groupB-suffix",
                ],
            ),
            (
                json!({"prefix": "prefix-", "suffix": "-suffix"}),
                [
                    "prefix-group1-suffix",
                    "prefix-group2-suffix",
                    "prefix-groupA-suffix",
                    "prefix-groupB-suffix",
                ],
            ),
        ] {
            assert_eq!(
                dex_case(json!({"modifyGroupNames": modify}), token(groups.clone())),
                want
            );
        }
    }

    #[test]
    fn dex_filter_group_claims_drops_what_the_regex_does_not_match() {
        let filter = json!({"filterGroupClaims": {"groupsFilter": r"^.*\d$"}});
        let names = json!(["group1", "group2", "groupA", "groupB"]);
        let objects = json!([{"name": "group1"}, {"name": "group2"}, {"name": "groupA"},
                             {"name": "groupB"}]);
        for groups in [names, objects] {
            assert_eq!(
                dex_case(filter.clone(), token(groups)),
                ["group1", "group2"]
            );
        }
        // Unanchored, as Go's MatchString.
        let some = json!({"filterGroupClaims": {"groupsFilter": "eng"}});
        assert_eq!(
            dex_case(some, token(json!(["team-eng-1", "sales"]))),
            ["team-eng-1"]
        );
        // A single group sent as a string is filtered too (Dex lets it through).
        let g = dex_case(filter.clone(), token(json!("groupA")));
        assert!(g.is_empty(), "{g:?}");
        // Empty: no filter.
        let none = json!({"filterGroupClaims": {"groupsFilter": ""}});
        assert_eq!(dex_case(none, token(json!(["groupA"]))), ["groupA"]);
    }

    #[test]
    fn modifications_run_in_dexs_order() {
        // The filter runs before allowedGroups: a group it drops cannot open the door...
        let cfg = |allowed: serde_json::Value| {
            connector(
                json!({"insecureEnableGroups": true, "allowedGroups": allowed,
                "claimModifications": {
                    "filterGroupClaims": {"groupsFilter": "^team-"},
                    "modifyGroupNames": {"prefix": "sso:"},
                    "newGroupFromClaims": [{"claims": ["org"], "delimiter": "/", "prefix": "org"}]
                }}),
            )
        };
        let c = claims(
            json!({"sub": "s", "name": "n", "email": "a@x", "email_verified": true,
                              "org": "acme", "groups": ["admins", "team-a", "team-b"]}),
        );
        let e = cfg(json!(["admins"])).identity(&c).unwrap_err();
        assert!(
            e.to_string().contains("not in any of the allowed groups"),
            "{e}"
        );
        // ...allowedGroups names groups before the prefix, and the prefix comes after it; the
        // groups made from claims are added last, untouched by either.
        assert_eq!(
            cfg(json!(["team-b"])).identity(&c).unwrap().groups,
            ["sso:team-b", "org/acme"]
        );
        // Groups made from claims are added even when the groups claim is not read (Dex).
        let no_groups = connector(json!({"claimModifications": {
            "newGroupFromClaims": [{"claims": ["org"], "delimiter": "/", "prefix": "org"}]}}))
        .identity(&c)
        .unwrap();
        assert_eq!(no_groups.groups, ["org/acme"]);
    }

    #[test]
    fn a_groups_filter_that_is_no_regex_is_refused_with_its_key() {
        let e = OidcConfig::from_value(&json!({"issuer": "https://id.example.com",
            "clientID": "g", "redirectURI": "https://g.example.com/callback",
            "claimModifications": {"filterGroupClaims": {"groupsFilter": "team-(["}}}))
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("config.claimModifications.filterGroupClaims")
                && e.contains("groupsFilter `team-([` is not a regex: unclosed character class"),
            "{e}"
        );
    }

    #[test]
    fn keys_written_with_nothing_under_them_load_as_left_out() {
        // `claimMapping:` with its children commented out is YAML null.
        let c = connector(json!({"claimMapping": null, "claimModifications": null}));
        assert!(c.0.claim_mapping.groups.is_none());
        let c = connector(json!({"claimModifications": {"filterGroupClaims": null,
            "modifyGroupNames": null, "newGroupFromClaims": null}}));
        assert!(c.0.claim_modifications.keeps("anything"));
        let c = connector(json!({"claimModifications": {"filterGroupClaims":
            {"groupsFilter": null}, "modifyGroupNames": {"prefix": null}}}));
        assert!(c.0.claim_modifications.keeps("anything"));
    }
}
