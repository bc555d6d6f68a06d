//! When a stored connector secret may stay with a changed connector: only when nothing that
//! decides where or how the secret is sent has changed.

use crate::config::ConnectorKind;

/// The settings of a connector type that decide neither where its secret is sent nor how:
/// what is shown on the login page and how the answers are mapped to an identity. An allow-list,
/// so that a setting added later needs the secret again until someone has thought about it.
pub(super) fn harmless_settings(kind: ConnectorKind) -> &'static [&'static str] {
    match kind {
        ConnectorKind::Ldap => &["usernamePrompt", "userSearch", "groupSearch"],
        ConnectorKind::Oidc => &[
            "scopes",
            "claimMapping",
            "claimModifications",
            "overrideClaimMapping",
            "userIDKey",
            "userNameKey",
            "insecureEnableGroups",
            "insecureSkipEmailVerified",
            "allowedGroups",
            "hostedDomains",
            "promptType",
            "acrValues",
        ],
        ConnectorKind::OAuth => &["scopes", "claimMapping", "userIDKey"],
        // hostName and rootCA decide where the secret goes; the rest, whom GitHub's answer lets in.
        ConnectorKind::Github => &[
            "orgs",
            "org",
            "teamNameField",
            "loadAllGroups",
            "useLoginAsID",
            "preferredEmailDomain",
        ],
        // baseURL, rootCAData and insecureAllowHTTP decide where and how it goes.
        ConnectorKind::Gitlab => &[
            "groups",
            "useLoginAsID",
            "getGroupsPermission",
            "inheritedGroups",
        ],
        // tenant, apiURL and graphURL decide where the secret and the user's token go.
        ConnectorKind::Microsoft => &[
            "groups",
            "onlySecurityGroups",
            "groupNameFormat",
            "useGroupsAsWhitelist",
            "emailToLowercase",
            "batchGroupLookups",
            "promptType",
            "domainHint",
            "scopes",
            "preferredUsernameField",
        ],
        // issuer, the service account file and the admins it acts as decide where secrets go.
        ConnectorKind::Google => &[
            "hostedDomains",
            "groups",
            "fetchTransitiveGroupMembership",
            "promptType",
            "scopes",
        ],
        ConnectorKind::Local | ConnectorKind::Saml | ConnectorKind::MockCallback => &[],
    }
}

/// The settings (other than harmless ones) in which `new` differs from `old`: a stored secret
/// may be carried into `new` only when there are none. Otherwise an admin could point the
/// connector at a host they run (`host`, `issuer`, a token URL, a CA, TLS off), press Test, and
/// receive the directory's service password.
pub(super) fn secret_moves(
    old_kind: Option<ConnectorKind>,
    old: &serde_json::Map<String, serde_json::Value>,
    new_kind: ConnectorKind,
    new: &serde_json::Map<String, serde_json::Value>,
) -> Vec<String> {
    if old_kind != Some(new_kind) {
        return vec!["type".into()];
    }
    let harmless = harmless_settings(new_kind);
    let mut changed: Vec<String> = old
        .keys()
        .chain(new.keys())
        .filter(|k| !harmless.contains(&k.as_str()) && old.get(*k) != new.get(*k))
        .cloned()
        .collect();
    changed.sort();
    changed.dedup();
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_secret_moves_with_anything_but_harmless_settings() {
        let obj = |v: serde_json::Value| v.as_object().cloned().unwrap_or_default();
        let old = obj(
            serde_json::json!({"host": "ldap:389", "usernamePrompt": "User",
            "userSearch": {"baseDN": "dc=a"}}),
        );
        let renamed = obj(
            serde_json::json!({"host": "ldap:389", "usernamePrompt": "Login",
            "userSearch": {"baseDN": "dc=b"}}),
        );
        assert!(
            secret_moves(
                Some(ConnectorKind::Ldap),
                &old,
                ConnectorKind::Ldap,
                &renamed
            )
            .is_empty()
        );
        let elsewhere = obj(
            serde_json::json!({"host": "evil:389", "usernamePrompt": "User",
            "userSearch": {"baseDN": "dc=a"}, "insecureNoSSL": true}),
        );
        assert_eq!(
            secret_moves(
                Some(ConnectorKind::Ldap),
                &old,
                ConnectorKind::Ldap,
                &elsewhere
            ),
            ["host", "insecureNoSSL"]
        );
        // A setting nobody has judged yet (or a removed one) counts as a move.
        let unknown = obj(serde_json::json!({"host": "ldap:389", "somethingNew": 1}));
        assert_eq!(
            secret_moves(
                Some(ConnectorKind::Ldap),
                &old,
                ConnectorKind::Ldap,
                &unknown
            ),
            ["somethingNew"]
        );
        assert_eq!(
            secret_moves(Some(ConnectorKind::Oidc), &old, ConnectorKind::OAuth, &old),
            ["type"]
        );
        // GitHub's secret goes to hostName, trusting rootCA; GitLab's to baseURL.
        let gh = Some(ConnectorKind::Github);
        let gh_old = obj(serde_json::json!({"clientID": "c", "orgs": [{"name": "a"}]}));
        let gh_new = obj(serde_json::json!({"clientID": "c", "orgs": [{"name": "b"}],
            "teamNameField": "slug", "useLoginAsID": true}));
        assert!(secret_moves(gh, &gh_old, ConnectorKind::Github, &gh_new).is_empty());
        let mut elsewhere = gh_new.clone();
        elsewhere.insert("hostName".into(), "evil.example".into());
        elsewhere.insert("rootCA".into(), "/tmp/evil.pem".into());
        assert_eq!(
            secret_moves(gh, &gh_new, ConnectorKind::Github, &elsewhere),
            ["hostName", "rootCA"]
        );
        let gl = obj(serde_json::json!({"baseURL": "https://gitlab.com", "groups": ["a"]}));
        let mut gl2 = gl.clone();
        gl2.insert("groups".into(), serde_json::json!(["b"]));
        gl2.insert("getGroupsPermission".into(), true.into());
        assert!(
            secret_moves(
                Some(ConnectorKind::Gitlab),
                &gl,
                ConnectorKind::Gitlab,
                &gl2
            )
            .is_empty()
        );
        gl2.insert("baseURL".into(), "https://evil.example".into());
        assert_eq!(
            secret_moves(
                Some(ConnectorKind::Gitlab),
                &gl,
                ConnectorKind::Gitlab,
                &gl2
            ),
            ["baseURL"]
        );
    }
}
