//! `gantry policy rbac|authn-config|explain` on the issue's example policy; outputs are parsed
//! back and checked.

use std::process::Command;

use serde::Deserialize;
use serde_json::Value;

use crate::support::EXAMPLE_POLICY;

const BASE: &str = r#"
issuer: https://id.example.com/dex
storage: {type: sqlite3, config: {file: DBFILE}}
web: {http: 127.0.0.1:5556}
staticPasswords:
  - {email: a@example.com, hash: "$2a$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W", username: a, userID: "1", groups: [team-a, team-b, platform-admins]}
"#;

/// The example policy with prefixes, and every signed-in user viewing staging's sandbox.
fn config() -> String {
    let policy = EXAMPLE_POLICY
        .replace("kubernetes:\n", "kubernetes:\n  groupsPrefix: \"gantry:\"\n  usernamePrefix: \"gantry:\"\n")
        .replace(
            "      registry:   [{ repositories: [\"library/**\"], actions: [pull] }]\n",
            "      registry:   [{ repositories: [\"library/**\"], actions: [pull] }]\n      kubernetes: [{ clusters: [staging], namespaces: [sandbox], roles: [view] }]\n",
        );
    format!("{BASE}{policy}")
}

fn gantry(args: &[&str], config: &str) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gantry.yaml");
    std::fs::write(
        &path,
        config.replace("DBFILE", &dir.path().join("g.db").display().to_string()),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(args)
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn docs(yaml: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(yaml)
        .map(|d| Value::deserialize(d).unwrap())
        .collect()
}

#[test]
fn rbac_output_binds_groups_with_the_prefix_and_expands_group_patterns() {
    let (ok, out, err) = gantry(&["policy", "rbac", "--cluster", "prod"], &config());
    assert!(ok, "{err}");
    let d = docs(&out);
    let names: Vec<&str> = d
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec![
            "gantry-platform-admins-cluster-admin",
            "gantry-team-repos-edit-team-a",
            "gantry-team-repos-edit-team-b"
        ]
    );
    for o in &d {
        assert_eq!(o["apiVersion"], "rbac.authorization.k8s.io/v1");
        assert_eq!(
            o["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "gantry"
        );
    }
    assert_eq!(d[0]["kind"], "ClusterRoleBinding");
    assert_eq!(d[0]["subjects"][0]["name"], "gantry:platform-admins");
    assert_eq!(
        (
            d[1]["kind"].as_str(),
            d[1]["metadata"]["namespace"].as_str()
        ),
        (Some("RoleBinding"), Some("team-a"))
    );
    assert_eq!(d[1]["roleRef"]["name"], "edit");
    assert_eq!(d[1]["subjects"][0]["name"], "gantry:team-a");
    // staging: everyone's sandbox view binds system:authenticated.
    let (ok, out, _) = gantry(&["policy", "rbac", "--cluster", "staging"], &config());
    assert!(ok);
    let sandbox: Vec<Value> = docs(&out)
        .into_iter()
        .filter(|o| o["metadata"]["namespace"] == "sandbox")
        .collect();
    assert_eq!(sandbox.len(), 1);
    assert_eq!(sandbox[0]["subjects"][0]["name"], "system:authenticated");
}

#[test]
fn rbac_reports_patterns_it_cannot_expand_and_refuses_unknown_clusters() {
    let no_teams = config().replace(
        "groups: [team-a, team-b, platform-admins]",
        "groups: [platform-admins]",
    );
    let (ok, out, err) = gantry(&["policy", "rbac", "--cluster", "prod"], &no_teams);
    assert!(ok);
    assert_eq!(docs(&out).len(), 1);
    assert!(err.contains("`team-*` matches no known group"), "{err}");
    let (ok, _, err) = gantry(&["policy", "rbac", "--cluster", "mars"], &config());
    assert!(!ok && err.contains("unknown cluster `mars`"), "{err}");
}

#[test]
fn authn_config_is_a_valid_authentication_configuration_for_the_cluster() {
    let (ok, out, err) = gantry(
        &["policy", "authn-config", "--cluster", "staging"],
        &config(),
    );
    assert!(ok, "{err}");
    let d = &docs(&out)[0];
    assert_eq!(
        (d["apiVersion"].as_str(), d["kind"].as_str()),
        (
            Some("apiserver.config.k8s.io/v1"),
            Some("AuthenticationConfiguration")
        )
    );
    let jwt = &d["jwt"][0];
    assert_eq!(jwt["issuer"]["url"], "https://id.example.com/dex");
    assert_eq!(
        jwt["issuer"]["audiences"],
        serde_json::json!(["kube-staging"])
    );
    assert_eq!(
        jwt["claimMappings"]["groups"],
        serde_json::json!({"claim": "groups", "prefix": "gantry:"})
    );
    assert_eq!(jwt["claimMappings"]["username"]["prefix"], "gantry:");
    assert!(
        out.contains("--oidc-client-id=kube-staging") && out.contains("--oidc-signing-algs=ES256")
    );
}

#[test]
fn explain_names_the_rules_that_allowed_and_denied() {
    let (ok, out, err) = gantry(
        &[
            "policy",
            "explain",
            "--user",
            "carl",
            "--groups",
            "platform-admins,contractors",
            "--cluster",
            "prod",
            "repository:prod/api:pull,push",
            "repository:library/x:pull",
        ],
        &config(),
    );
    assert!(ok, "{err}");
    let e: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(e["user"], "carl");
    assert_eq!(
        e["registry"][0]["requested"],
        serde_json::json!(["pull", "push"])
    );
    assert_eq!(e["registry"][0]["granted"], serde_json::json!(["pull"]));
    assert_eq!(
        e["registry"][0]["rules"],
        serde_json::json!([{"rule": "platform-admins", "effect": "allow"}, {"rule": "no-contractor-pushes-to-prod", "effect": "deny"}])
    );
    assert_eq!(
        e["kubernetes"][0]["clusterRoles"],
        serde_json::json!(["cluster-admin"])
    );
    let (ok, out, _) = gantry(
        &[
            "policy",
            "explain",
            "--user",
            "nobody",
            "repository:team-a/x:pull",
        ],
        &config(),
    );
    assert!(ok);
    let e: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(e["registry"][0]["granted"], serde_json::json!([]));
    // Only the rule for every signed-in user applies: view in staging's sandbox.
    let k = e["kubernetes"].as_array().unwrap();
    assert_eq!(k.len(), 1);
    assert_eq!(
        (k[0]["cluster"].as_str(), k[0]["namespace"].as_str()),
        (Some("staging"), Some("sandbox"))
    );
}

#[test]
fn invalid_policies_stop_the_server_with_the_rule_named() {
    let bad = config().replace("actions: [pull, push] }]", "actions: [pull, write] }]");
    let (ok, _, err) = gantry(&["check-config"], &bad);
    assert!(!ok);
    assert!(
        err.contains("policy rule `team-repos`") && err.contains("write"),
        "{err}"
    );
    let bad = config().replace("clusters: [prod, staging]", "clusters: [prod, mars]");
    let (ok, _, err) = gantry(&["check-config"], &bad);
    assert!(!ok && err.contains("unknown cluster `mars`"), "{err}");
}

/// Where `policy.mfa` asks a cluster's logins for a second factor, the API server is told to
/// check the token's `acr` as well: for everyone with a claim rule and the legacy flag, for
/// groups with a CEL rule on the groups claim; what it cannot express is said in a comment.
#[test]
fn authn_config_has_the_api_server_check_the_second_factor_the_policy_asks_for() {
    let cfg = config().replace(
        "policy:\n",
        "mfa:\n  authenticators: [{id: phone, type: TOTP}]\npolicy:\n  mfa:\n  - {name: prod-everyone, clusters: [prod]}\n  - {name: staging-admins, groups: [platform-admins], clusters: [staging]}\n  - {name: staging-carl, users: [carl], clusters: [staging]}\n",
    );
    let (ok, out, err) = gantry(&["policy", "authn-config", "--cluster", "prod"], &cfg);
    assert!(ok, "{err}");
    let rules = &docs(&out)[0]["jwt"][0]["claimValidationRules"];
    assert_eq!(
        rules[0]["expression"], "(has(claims.acr) && claims.acr == 'urn:gantry:acr:mfa')",
        "{out}"
    );
    assert!(
        rules[0]["message"]
            .as_str()
            .unwrap()
            .contains("prod-everyone")
    );
    assert!(
        out.contains("--oidc-required-claim=acr=urn:gantry:acr:mfa"),
        "{out}"
    );

    let (ok, out, err) = gantry(&["policy", "authn-config", "--cluster", "staging"], &cfg);
    assert!(ok, "{err}");
    let rules = docs(&out)[0]["jwt"][0]["claimValidationRules"].clone();
    assert_eq!(rules.as_array().unwrap().len(), 1, "{out}");
    assert_eq!(
        rules[0]["expression"],
        "!(has(claims.groups) && claims.groups.exists(g, g in ['platform-admins'])) || (has(claims.acr) && claims.acr == 'urn:gantry:acr:mfa')"
    );
    assert!(
        !out.contains("--oidc-required-claim"),
        "only some users: {out}"
    );
    assert!(
        out.contains("# policy.mfa `staging-carl` names users"),
        "{out}"
    );

    // No requirement: no rule.
    let (_, out, _) = gantry(
        &["policy", "authn-config", "--cluster", "staging"],
        &config(),
    );
    assert!(
        docs(&out)[0]["jwt"][0]
            .get("claimValidationRules")
            .is_none(),
        "{out}"
    );
}
