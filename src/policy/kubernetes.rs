//! Rendering the policy for Kubernetes: RBAC bindings for one cluster, and the API server's
//! JWT authentication config for Gantry's issuer.

use serde_json::{Value, json};

use super::model::{MfaRule, Policy, Rule};
use super::pattern::{Bindings, Pattern};
use crate::config::{KubeCluster, KubernetesConfig};

const MANAGED_BY: &str = "gantry";

/// A Kubernetes object name from free text (DNS-1123 subdomain).
fn object_name(parts: &[&str]) -> String {
    let raw = parts.join("-").to_lowercase();
    let mut s: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    s = s.trim_matches(|c| c == '-' || c == '.').to_string();
    s.truncate(253);
    s
}

fn is_literal(p: &Pattern) -> bool {
    !p.as_str().contains('*') && !p.as_str().contains("${")
}

/// A subject of a binding, and the group it stands for (for `${group}` namespaces).
struct Who {
    subject: Value,
    group: Option<String>,
    user: Option<String>,
}

fn subjects(
    rule: &Rule,
    k: &KubernetesConfig,
    known_groups: &[String],
    notes: &mut Vec<String>,
) -> Vec<Who> {
    let gp = k.groups_prefix.clone().unwrap_or_default();
    let up = k.username_prefix.clone().unwrap_or_default();
    let mut out = Vec::new();
    for p in &rule.groups {
        if p.as_str() == "*" {
            out.push(Who { subject: json!({"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "system:authenticated"}), group: None, user: None });
            continue;
        }
        let names: Vec<String> = if is_literal(p) {
            vec![p.as_str().to_string()]
        } else {
            let b = Bindings::default();
            let m: Vec<String> = known_groups
                .iter()
                .filter(|g| p.matches(g, &b) == Some(true))
                .cloned()
                .collect();
            if m.is_empty() {
                notes.push(format!(
                    "rule `{}`: group pattern `{}` matches no known group; nothing bound for it",
                    rule.name,
                    p.as_str()
                ));
            }
            m
        };
        for n in names {
            out.push(Who { subject: json!({"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": format!("{gp}{n}")}), group: Some(n), user: None });
        }
    }
    for p in &rule.users {
        if is_literal(p) {
            out.push(Who { subject: json!({"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": format!("{up}{}", p.as_str())}), group: None, user: Some(p.as_str().to_string()) });
        } else {
            notes.push(format!(
                "rule `{}`: user pattern `{}` cannot be bound in RBAC",
                rule.name,
                p.as_str()
            ));
        }
    }
    out
}

fn binding(
    kind: &str,
    name: String,
    namespace: Option<&str>,
    rule: &str,
    role: &str,
    subjects: Vec<Value>,
) -> Value {
    let mut meta = json!({"name": name, "labels": {"app.kubernetes.io/managed-by": MANAGED_BY, "gantry.dev/rule": object_name(&[rule])}});
    if let (Some(ns), Some(m)) = (namespace, meta.as_object_mut()) {
        m.insert("namespace".into(), ns.into());
    }
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": subjects,
    })
}

/// The bindings that carry out the policy on `cluster`, and notes on what could not be bound.
pub fn rbac(
    policy: &Policy,
    k: &KubernetesConfig,
    cluster: &str,
    known_groups: &[String],
) -> (Vec<Value>, Vec<String>) {
    let mut docs = Vec::new();
    let mut notes = Vec::new();
    for rule in policy.rules.iter().filter(|r| !r.deny) {
        let grants: Vec<_> = rule
            .kubernetes
            .iter()
            .filter(|g| g.clusters.iter().any(|c| c == "*" || c == cluster))
            .collect();
        if grants.is_empty() {
            continue;
        }
        let who = subjects(rule, k, known_groups, &mut notes);
        if who.is_empty() {
            continue;
        }
        for g in grants {
            for cr in &g.cluster_roles {
                let subs = who.iter().map(|w| w.subject.clone()).collect();
                docs.push(binding(
                    "ClusterRoleBinding",
                    object_name(&["gantry", &rule.name, cr]),
                    None,
                    &rule.name,
                    cr,
                    subs,
                ));
            }
            for ns in &g.namespaces {
                for role in &g.roles {
                    if ns.uses(super::pattern::Var::Group)
                        || ns.uses(super::pattern::Var::User)
                        || ns.uses(super::pattern::Var::Email)
                    {
                        for w in &who {
                            let b = Bindings {
                                group: w.group.as_deref(),
                                user: w.user.as_deref().unwrap_or_default(),
                                email: "",
                            };
                            match ns.expand(&b) {
                                Some(n) => docs.push(binding(
                                    "RoleBinding",
                                    object_name(&[
                                        "gantry",
                                        &rule.name,
                                        role,
                                        w.group.as_deref().or(w.user.as_deref()).unwrap_or("all"),
                                    ]),
                                    Some(&n),
                                    &rule.name,
                                    role,
                                    vec![w.subject.clone()],
                                )),
                                None => notes.push(format!(
                                    "rule `{}`: namespace `{}` has no value for subject {}",
                                    rule.name,
                                    ns.as_str(),
                                    w.subject["name"]
                                )),
                            }
                        }
                    } else if is_literal(ns) {
                        let subs = who.iter().map(|w| w.subject.clone()).collect();
                        docs.push(binding(
                            "RoleBinding",
                            object_name(&["gantry", &rule.name, role]),
                            Some(ns.as_str()),
                            &rule.name,
                            role,
                            subs,
                        ));
                    } else {
                        notes.push(format!("rule `{}`: namespace pattern `{}` cannot be bound; name the namespaces", rule.name, ns.as_str()));
                    }
                }
            }
        }
    }
    (docs, notes)
}

/// What the API server can check of the `policy.mfa` requirements that name `cluster` (or
/// every login): a CEL claim validation rule each, and for a requirement of everyone the
/// `--oidc-required-claim` flag. A requirement the API server cannot express (users, group
/// patterns, connector-qualified groups) is a note: Gantry alone enforces it.
fn mfa_claim_rules(mfa: &[MfaRule], cluster: &str) -> (Vec<Value>, Option<String>, Vec<String>) {
    let acr = crate::mfa::ACR_MFA;
    let has_acr = format!("(has(claims.acr) && claims.acr == '{acr}')");
    let (mut rules, mut flag, mut notes) = (Vec::new(), None, Vec::new());
    for r in mfa.iter().filter(|r| r.covers_cluster(cluster)) {
        let message = format!("a second factor is required (policy.mfa `{}`)", r.name);
        if r.groups.is_empty() && r.users.is_empty() {
            rules.push(json!({"expression": has_acr, "message": message}));
            flag = Some(format!("--oidc-required-claim=acr={acr}"));
            continue;
        }
        // A group the CEL rule can name as it is: no pattern, no connector qualifier (the
        // groups claim holds bare names), nothing that would end the CEL string.
        let plain =
            |g: &Pattern| is_literal(g) && !g.as_str().contains(['?', '$', ':', '\'', '\\']);
        if !r.users.is_empty() || !r.groups.iter().all(plain) {
            notes.push(format!(
                "policy.mfa `{}` names users or group patterns, which the API server cannot check: Gantry enforces it at login",
                r.name
            ));
            continue;
        }
        let list = r
            .groups
            .iter()
            .map(|g| format!("'{}'", g.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        rules.push(json!({
            "expression": format!("!(has(claims.groups) && claims.groups.exists(g, g in [{list}])) || {has_acr}"),
            "message": message,
        }));
    }
    (rules, flag, notes)
}

/// The kube-apiserver `AuthenticationConfiguration` for Gantry's issuer and one cluster, and
/// the equivalent `--oidc-*` flags. Where `policy.mfa` asks this cluster's logins for a second
/// factor, the API server checks the token's `acr` too: a token that reached the cluster's
/// audience without the factor is refused there as well as at Gantry. The notes say what it
/// cannot check.
pub fn authn_config(
    issuer: &str,
    k: &KubernetesConfig,
    cluster: &KubeCluster,
    algs: &[&str],
    mfa: &[MfaRule],
) -> (Value, Vec<String>, Vec<String>) {
    let claim = k.username_claim.clone().unwrap_or_else(|| "email".into());
    let uprefix = k.username_prefix.clone().unwrap_or_default();
    let gprefix = k.groups_prefix.clone().unwrap_or_default();
    let (rules, required_claim, notes) = mfa_claim_rules(mfa, &cluster.name);
    let mut jwt = json!({
        "issuer": {"url": issuer, "audiences": [cluster.client_id], "audienceMatchPolicy": "MatchAny"},
        "claimMappings": {
            "username": {"claim": claim, "prefix": uprefix},
            "groups": {"claim": "groups", "prefix": gprefix},
        },
    });
    if !rules.is_empty() {
        jwt["claimValidationRules"] = Value::Array(rules);
    }
    let doc = json!({
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "AuthenticationConfiguration",
        "jwt": [jwt],
    });
    let mut flags = vec![
        format!("--oidc-issuer-url={issuer}"),
        format!("--oidc-client-id={}", cluster.client_id),
        format!("--oidc-username-claim={claim}"),
        format!(
            "--oidc-username-prefix={}",
            if uprefix.is_empty() { "-" } else { &uprefix }
        ),
        "--oidc-groups-claim=groups".to_string(),
        format!("--oidc-groups-prefix={gprefix}"),
        format!("--oidc-signing-algs={}", algs.join(",")),
    ];
    flags.extend(required_claim);
    (doc, flags, notes)
}
