//! Evaluating the policy for one subject: registry access, Kubernetes bindings, admin rights,
//! each with the rules that decided it.

use serde::Serialize;

use super::model::{Policy, Rule};
use super::pattern::{Bindings, Pattern};

/// Who is asking. Every name is a connector's: `connector` says which, `user` is that
/// connector's stable name for the person (never a display name), `groups` what it reported.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// The connector the identity came from.
    pub connector: &'a str,
    /// Every connector id there is: a policy name `id:rest` whose `id` is one of them is
    /// qualified, and matches `rest` from that connector only.
    pub connectors: &'a [String],
    /// The connector's stable user name (`${user}`).
    pub user: &'a str,
    pub email: &'a str,
    pub groups: &'a [String],
}

impl Subject<'_> {
    /// Whether the user or group `pattern` names `name` of this subject's connector: a
    /// qualified pattern (`ldap:admins`) only from that connector, an unqualified one from any.
    pub fn named_by(&self, pattern: &Pattern, name: &str, b: &Bindings<'_>) -> bool {
        if let Some((prefix, _)) = pattern.as_str().split_once(':')
            && self.connectors.iter().any(|c| c == prefix)
        {
            return prefix == self.connector
                && pattern.matches(&format!("{prefix}:{name}"), b) == Some(true);
        }
        pattern.matches(name, b) == Some(true)
    }
}

/// The answer for one registry resource.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub granted: Vec<String>,
    /// Rules that allowed something on this resource.
    pub allowed_by: Vec<String>,
    /// Deny rules that removed something.
    pub denied_by: Vec<String>,
}

/// One binding a subject gets on a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KubeBinding {
    pub cluster: String,
    /// `None` for cluster-wide roles.
    pub namespace: Option<String>,
    pub roles: Vec<String>,
    #[serde(rename = "clusterRoles")]
    pub cluster_roles: Vec<String>,
    pub rule: String,
    /// The group the rule matched through, if any.
    pub group: Option<String>,
}

const REPOSITORY_ACTIONS: &[&str] = &["pull", "push", "delete"];

fn any_names(patterns: &[Pattern], s: &Subject<'_>, name: &str) -> bool {
    let b = Bindings::default();
    patterns.iter().any(|p| s.named_by(p, name, &b))
}

impl Policy {
    /// How a rule applies to the subject: once per matching group (that group binds
    /// `${group}`), and once without a group when a user pattern or `*` matched.
    fn applies<'a>(&self, rule: &Rule, s: &Subject<'a>) -> Vec<Option<&'a str>> {
        let mut out: Vec<Option<&'a str>> = Vec::new();
        for g in s.groups {
            if any_names(&rule.groups, s, g) {
                out.push(Some(g.as_str()));
            }
        }
        let star = rule.groups.iter().any(|p| p.as_str() == "*");
        if (out.is_empty() && star) || (!s.user.is_empty() && any_names(&rule.users, s, s.user)) {
            out.push(None);
        }
        out
    }

    /// Actions on `rtype:name` (`repository` or `registry:catalog`) granted out of `requested`.
    pub fn registry(
        &self,
        s: &Subject<'_>,
        rtype: &str,
        name: &str,
        requested: &[String],
    ) -> Decision {
        let mut allowed: Vec<&str> = Vec::new();
        let mut denied: Vec<&str> = Vec::new();
        let mut d = Decision::default();
        let full: &[&str] = if rtype == "repository" {
            REPOSITORY_ACTIONS
        } else {
            &["*"]
        };
        for rule in &self.rules {
            let mut acts: Vec<&str> = Vec::new();
            for group in self.applies(rule, s) {
                let b = Bindings {
                    group,
                    user: s.user,
                    email: s.email,
                };
                for g in &rule.registry {
                    let hit = match rtype {
                        "repository" => g
                            .repositories
                            .iter()
                            .any(|p| p.matches(name, &b) == Some(true)),
                        "registry" => g.catalog && name == "catalog",
                        _ => false,
                    };
                    if !hit {
                        continue;
                    }
                    if rtype == "registry" {
                        acts.push("*");
                    }
                    for a in &g.actions {
                        if a == "*" {
                            acts.extend_from_slice(full);
                        } else if rtype == "repository" {
                            acts.push(a);
                        }
                    }
                }
            }
            if acts.is_empty() {
                continue;
            }
            if rule.deny {
                denied.extend(acts);
                d.denied_by.push(rule.name.clone());
            } else {
                allowed.extend(acts);
                d.allowed_by.push(rule.name.clone());
            }
        }
        let effective: Vec<&str> = full
            .iter()
            .copied()
            .filter(|a| allowed.contains(a) && !denied.contains(a))
            .collect();
        for r in requested {
            let ok = if r == "*" && rtype == "repository" {
                REPOSITORY_ACTIONS.iter().all(|a| effective.contains(a))
            } else {
                effective.contains(&r.as_str())
            };
            if ok && !d.granted.contains(r) {
                d.granted.push(r.clone());
            }
        }
        d
    }

    /// The bindings the subject gets on `cluster` (every cluster when `None`).
    pub fn kubernetes(
        &self,
        s: &Subject<'_>,
        cluster: Option<&str>,
        known_clusters: &[String],
    ) -> Vec<KubeBinding> {
        let mut out = Vec::new();
        for rule in self.rules.iter().filter(|r| !r.deny) {
            for group in self.applies(rule, s) {
                let b = Bindings {
                    group,
                    user: s.user,
                    email: s.email,
                };
                for k in &rule.kubernetes {
                    let clusters: Vec<String> = if k.clusters.iter().any(|c| c == "*") {
                        known_clusters.to_vec()
                    } else {
                        k.clusters.clone()
                    };
                    for c in clusters
                        .iter()
                        .filter(|c| cluster.is_none_or(|want| want == c.as_str()))
                    {
                        if !k.cluster_roles.is_empty() {
                            out.push(KubeBinding {
                                cluster: c.clone(),
                                namespace: None,
                                roles: vec![],
                                cluster_roles: k.cluster_roles.clone(),
                                rule: rule.name.clone(),
                                group: group.map(String::from),
                            });
                        }
                        for ns in &k.namespaces {
                            if let Some(n) = ns.expand(&b) {
                                out.push(KubeBinding {
                                    cluster: c.clone(),
                                    namespace: Some(n),
                                    roles: k.roles.clone(),
                                    cluster_roles: vec![],
                                    rule: rule.name.clone(),
                                    group: group.map(String::from),
                                });
                            }
                        }
                    }
                }
            }
        }
        out
    }

    /// Whether the subject may use the admin UI and API.
    pub fn is_admin(&self, s: &Subject<'_>) -> bool {
        let b = Bindings::default();
        let m = |pats: &[String], v: &str| {
            pats.iter()
                .filter_map(|p| Pattern::parse(p).ok())
                .any(|p| s.named_by(&p, v, &b))
        };
        s.groups.iter().any(|g| m(&self.admins.groups, g))
            || (!s.user.is_empty() && m(&self.admins.users, s.user))
    }
}

/// Where a login goes, as second-factor requirements name it.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoginTarget<'a> {
    pub client: &'a str,
    /// The clusters whose `clientID` the client is.
    pub clusters: &'a [String],
    /// The client is the admin UI.
    pub admin: bool,
    /// The client is one whose logins become registry identity tokens (`registry.loginClients`).
    pub registry: bool,
}

impl super::model::MfaRule {
    fn names(&self, s: &Subject<'_>) -> bool {
        (self.groups.is_empty() && self.users.is_empty())
            || s.groups.iter().any(|g| any_names(&self.groups, s, g))
            || (!s.user.is_empty() && any_names(&self.users, s, s.user))
    }

    /// Names no place: every login and every registry action.
    fn everywhere(&self) -> bool {
        self.clients.is_empty()
            && self.clusters.is_empty()
            && !self.admin
            && self.registry.is_empty()
    }

    /// Covers logins to the cluster `name`: by its name, `*`, or by naming no place.
    pub(crate) fn covers_cluster(&self, name: &str) -> bool {
        self.everywhere() || self.clusters.iter().any(|c| c == "*" || c == name)
    }
}

impl Policy {
    /// The requirement that asks a login of `s` to `t` for a second factor, if one does. A
    /// login to a registry login client is asked when a requirement names registry actions
    /// for the user: the identity token it becomes is what later pushes.
    pub fn mfa_required(&self, s: &Subject<'_>, t: &LoginTarget<'_>) -> Option<&str> {
        self.mfa
            .iter()
            .find(|r| {
                let here = r.everywhere()
                    || (!t.client.is_empty() && r.clients.iter().any(|c| c == t.client))
                    || (r.admin && t.admin)
                    || (t.registry && !r.registry.is_empty())
                    || t.clusters.iter().any(|tc| r.covers_cluster(tc));
                here && r.names(s)
            })
            .map(|r| r.name.as_str())
    }

    /// The requirement that asks for a second factor before `action` on the registry resource
    /// `rtype:name`, if one does. Only repositories are named by pattern; the catalog is
    /// covered by requirements that name no place.
    pub fn registry_mfa(
        &self,
        s: &Subject<'_>,
        rtype: &str,
        name: &str,
        action: &str,
    ) -> Option<&str> {
        let b = Bindings {
            group: None,
            user: s.user,
            email: s.email,
        };
        self.mfa
            .iter()
            .find(|r| {
                let here = r.everywhere()
                    || (rtype == "repository"
                        && r.registry.iter().any(|g| {
                            // `*` granted is every action, the ones named here among them.
                            g.actions
                                .iter()
                                .any(|a| a == "*" || action == "*" || a == action)
                                && g.repositories
                                    .iter()
                                    .any(|p| p.matches(name, &b) == Some(true))
                        }));
                here && r.names(s)
            })
            .map(|r| r.name.as_str())
    }
}

/// A registry request as the policy judges it: a resource's type, its name, the actions asked.
#[derive(Debug, Clone, Copy)]
pub struct Asked<'a> {
    pub kind: &'a str,
    pub name: &'a str,
    pub actions: &'a [String],
}

impl Policy {
    /// What the subject may do on the given registry scopes and on the clusters, with the rules
    /// that decided it: the answer to "why can (not) this user push?".
    pub fn explain(
        &self,
        s: &Subject<'_>,
        scopes: &[Asked<'_>],
        cluster: Option<&str>,
        clusters: &[String],
    ) -> serde_json::Value {
        let rules = |d: &Decision| -> Vec<serde_json::Value> {
            d.allowed_by
                .iter()
                .map(|r| serde_json::json!({"rule": r, "effect": "allow"}))
                .chain(
                    d.denied_by
                        .iter()
                        .map(|r| serde_json::json!({"rule": r, "effect": "deny"})),
                )
                .collect()
        };
        // Where this user must have given a second factor.
        let mut second_factor = Vec::new();
        let registry: Vec<serde_json::Value> = scopes
            .iter()
            .map(|sc| {
                let d = self.registry(s, sc.kind, sc.name, sc.actions);
                for a in &d.granted {
                    if let Some(r) = self.registry_mfa(s, sc.kind, sc.name, a) {
                        second_factor.push(serde_json::json!({"at": format!("{a} on {}:{}", sc.kind, sc.name), "rule": r}));
                    }
                }
                serde_json::json!({"type": sc.kind, "name": sc.name, "requested": sc.actions, "granted": d.granted, "rules": rules(&d)})
            })
            .collect();
        let kubernetes: Vec<serde_json::Value> = self
            .kubernetes(s, cluster, clusters)
            .into_iter()
            .map(|b| serde_json::json!({"cluster": b.cluster, "namespace": b.namespace, "roles": b.roles, "clusterRoles": b.cluster_roles, "rules": [{"rule": b.rule, "effect": "allow", "group": b.group}]}))
            .collect();
        let admin_ui = LoginTarget {
            admin: true,
            ..Default::default()
        };
        if let Some(r) = self.mfa_required(s, &admin_ui) {
            second_factor.push(serde_json::json!({"at": "admin UI", "rule": r}));
        }
        let named: Vec<String> = cluster
            .map(|c| vec![c.to_string()])
            .unwrap_or_else(|| clusters.to_vec());
        for c in &named {
            let t = LoginTarget {
                clusters: std::slice::from_ref(c),
                ..Default::default()
            };
            if let Some(r) = self.mfa_required(s, &t) {
                second_factor.push(serde_json::json!({"at": format!("cluster {c}"), "rule": r}));
            }
        }
        for r in &self.mfa {
            for client in &r.clients {
                let t = LoginTarget {
                    client,
                    ..Default::default()
                };
                if self.mfa_required(s, &t) == Some(r.name.as_str()) {
                    second_factor.push(
                        serde_json::json!({"at": format!("client {client}"), "rule": r.name}),
                    );
                }
            }
        }
        serde_json::json!({"user": s.user, "groups": s.groups, "admin": self.is_admin(s), "registry": registry, "kubernetes": kubernetes, "second_factor": second_factor})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::model::PolicyConfig;

    const EXAMPLE: &str = r#"
admins: { groups: [platform-admins] }
rules:
  - name: platform-admins
    groups: [platform-admins]
    registry:   [{ repositories: ["**"], actions: ["*"], catalog: true }]
    kubernetes: [{ clusters: ["*"], clusterRoles: [cluster-admin] }]
  - name: team-repos
    groups: ["team-*"]
    registry:   [{ repositories: ["${group}/**"], actions: [pull, push] }]
    kubernetes: [{ clusters: [prod, staging], namespaces: ["${group}"], roles: [edit] }]
  - name: everyone-pulls-library
    groups: ["*"]
    registry:   [{ repositories: ["library/**"], actions: [pull] }]
  - name: no-contractor-pushes-to-prod
    effect: deny
    groups: [contractors]
    registry:   [{ repositories: ["prod/**"], actions: [push, delete] }]
  - name: prod-pushers
    groups: [release]
    registry:   [{ repositories: ["prod/**"], actions: [pull, push] }]
"#;

    fn policy() -> Policy {
        let c: PolicyConfig = serde_norway::from_str(EXAMPLE).unwrap();
        Policy::compile(&c, &["prod".into(), "staging".into()]).unwrap()
    }

    fn req(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn second_factor_requirements_name_who_and_where() {
        let c: PolicyConfig = serde_norway::from_str(
            r#"
mfa:
  - { name: admins-ui, groups: [platform-admins], admin: true }
  - { name: prod-cluster, clusters: [prod] }
  - { name: payroll, users: [carol], clients: [payroll] }
  - { name: contractors-everywhere, groups: [contractors] }
"#,
        )
        .unwrap();
        let p = Policy::compile(&c, &["prod".into(), "staging".into()]).unwrap();
        fn subject<'a>(user: &'a str, groups: &'a [String]) -> Subject<'a> {
            Subject {
                connector: "ldap",
                connectors: &[],
                user,
                email: "",
                groups,
            }
        }
        fn at_cluster(c: &[String]) -> LoginTarget<'_> {
            LoginTarget {
                client: "k8s",
                clusters: c,
                ..Default::default()
            }
        }
        let admins = req(&["platform-admins"]);
        let none: Vec<String> = vec![];
        let contractors = req(&["contractors"]);
        let ui = LoginTarget {
            client: "gantry-admin",
            admin: true,
            ..Default::default()
        };
        let (prod, staging) = (req(&["prod"]), req(&["staging"]));
        let app = LoginTarget {
            client: "app",
            ..Default::default()
        };
        let ann = subject("ann", &admins);
        assert_eq!(p.mfa_required(&ann, &ui), Some("admins-ui"));
        assert_eq!(p.mfa_required(&ann, &app), None);
        let bob = subject("bob", &none);
        assert_eq!(p.mfa_required(&bob, &ui), None, "not an admin group");
        let prod_ref: &'static [String] = Box::leak(prod.into_boxed_slice());
        let staging_ref: &'static [String] = Box::leak(staging.into_boxed_slice());
        assert_eq!(
            p.mfa_required(&bob, &at_cluster(prod_ref)),
            Some("prod-cluster")
        );
        assert_eq!(p.mfa_required(&bob, &at_cluster(staging_ref)), None);
        let carol = subject("carol", &none);
        let payroll = LoginTarget {
            client: "payroll",
            ..Default::default()
        };
        assert_eq!(p.mfa_required(&carol, &payroll), Some("payroll"));
        assert_eq!(p.mfa_required(&bob, &payroll), None);
        assert_eq!(
            p.mfa_required(&subject("cid", &contractors), &app),
            Some("contractors-everywhere"),
            "no target: every login"
        );
        let explained = p.explain(&ann, &[], Some("prod"), &["prod".into()]);
        assert_eq!(
            explained["second_factor"],
            serde_json::json!([
                {"at": "admin UI", "rule": "admins-ui"},
                {"at": "cluster prod", "rule": "prod-cluster"}
            ])
        );
        // An unknown cluster is refused, as in rules.
        let bad: PolicyConfig =
            serde_norway::from_str("mfa: [{ name: x, clusters: [nowhere] }]").unwrap();
        assert!(Policy::compile(&bad, &["prod".into()]).is_err());
    }

    #[test]
    fn registry_actions_on_named_repositories_need_a_second_factor() {
        let c: PolicyConfig = serde_norway::from_str(
            r#"
rules:
  - name: release-pushes
    groups: [release]
    registry: [{ repositories: ["prod/**", "dev/**"], actions: ["*"] }]
mfa:
  - name: prod-push
    groups: [release]
    registry: [{ repositories: ["prod/**"], actions: [push, delete] }]
  - name: own-space
    users: [ann]
    registry: [{ repositories: ["home/${user}/**"] }]
"#,
        )
        .unwrap();
        let p = Policy::compile(&c, &[]).unwrap();
        let release = req(&["release"]);
        let none: Vec<String> = vec![];
        let s = |user, groups| Subject {
            connector: "ldap",
            connectors: &[],
            user,
            email: "",
            groups,
        };
        let rel = s("rel", &release);
        assert_eq!(
            p.registry_mfa(&rel, "repository", "prod/app", "push"),
            Some("prod-push")
        );
        assert_eq!(
            p.registry_mfa(&rel, "repository", "prod/app", "delete"),
            Some("prod-push")
        );
        assert_eq!(p.registry_mfa(&rel, "repository", "prod/app", "pull"), None);
        assert_eq!(
            p.registry_mfa(&rel, "repository", "prod/app", "*"),
            Some("prod-push"),
            "`*` is push and delete too"
        );
        assert_eq!(p.registry_mfa(&rel, "repository", "dev/app", "push"), None);
        assert_eq!(p.registry_mfa(&rel, "registry", "catalog", "*"), None);
        assert_eq!(
            p.registry_mfa(&s("bob", &none), "repository", "prod/app", "push"),
            None,
            "not in the group"
        );
        // No actions: every action; `${user}` binds the user's own name.
        let ann = s("ann", &none);
        assert_eq!(
            p.registry_mfa(&ann, "repository", "home/ann/x", "pull"),
            Some("own-space")
        );
        assert_eq!(
            p.registry_mfa(&ann, "repository", "home/bob/x", "pull"),
            None
        );
        // A registry requirement steps up a registry login client's login, and no other.
        let cli = LoginTarget {
            client: "gantry-cli",
            registry: true,
            ..Default::default()
        };
        let app = LoginTarget {
            client: "app",
            ..Default::default()
        };
        assert_eq!(p.mfa_required(&rel, &cli), Some("prod-push"));
        assert_eq!(p.mfa_required(&rel, &app), None);
        assert_eq!(p.mfa_required(&s("bob", &none), &cli), None);
        let explained = p.explain(
            &rel,
            &[Asked {
                kind: "repository",
                name: "prod/app",
                actions: &req(&["pull", "push"]),
            }],
            None,
            &[],
        );
        assert_eq!(
            explained["second_factor"],
            serde_json::json!([{"at": "push on repository:prod/app", "rule": "prod-push"}])
        );
        // A requirement that names no place covers the registry too, the catalog included.
        let c: PolicyConfig =
            serde_norway::from_str("mfa: [{ name: all, groups: [release] }]").unwrap();
        let all = Policy::compile(&c, &[]).unwrap();
        assert_eq!(
            all.registry_mfa(&rel, "repository", "dev/app", "pull"),
            Some("all")
        );
        assert_eq!(
            all.registry_mfa(&rel, "registry", "catalog", "*"),
            Some("all")
        );
        for bad in [
            "mfa: [{ name: x, registry: [{ actions: [push] }] }]",
            "mfa: [{ name: x, registry: [{ repositories: [a], actions: [write] }] }]",
            "mfa: [{ name: x, groups: [g], registry: [{ repositories: [\"${group}/**\"] }] }]",
        ] {
            let c: PolicyConfig = serde_norway::from_str(bad).unwrap_or_default();
            assert!(Policy::compile(&c, &[]).is_err(), "{bad}");
        }
    }

    #[test]
    fn team_members_push_their_own_repositories_only() {
        let p = policy();
        let groups = req(&["team-a"]);
        let s = Subject {
            connector: "ldap",
            connectors: &[],
            user: "ann",
            email: "",
            groups: &groups,
        };
        let d = p.registry(&s, "repository", "team-a/app", &req(&["pull", "push"]));
        assert_eq!(d.granted, req(&["pull", "push"]));
        assert_eq!(d.allowed_by, req(&["team-repos"]));
        assert!(
            p.registry(&s, "repository", "team-b/app", &req(&["pull", "push"]))
                .granted
                .is_empty()
        );
        assert_eq!(
            p.registry(&s, "repository", "library/alpine", &req(&["pull", "push"]))
                .granted,
            req(&["pull"])
        );
    }

    #[test]
    fn deny_wins_over_allow() {
        let p = policy();
        let groups = req(&["release", "contractors"]);
        let s = Subject {
            connector: "ldap",
            connectors: &[],
            user: "c",
            email: "",
            groups: &groups,
        };
        let d = p.registry(&s, "repository", "prod/api", &req(&["pull", "push"]));
        assert_eq!(d.granted, req(&["pull"]));
        assert_eq!(d.denied_by, req(&["no-contractor-pushes-to-prod"]));
    }

    #[test]
    fn everyone_signed_in_pulls_library_even_without_groups() {
        let p = policy();
        let s = Subject {
            connector: "ldap",
            connectors: &[],
            user: "nobody",
            email: "",
            groups: &[],
        };
        assert_eq!(
            p.registry(&s, "repository", "library/x", &req(&["pull"]))
                .granted,
            req(&["pull"])
        );
        assert!(
            p.registry(&s, "repository", "team-a/x", &req(&["pull"]))
                .granted
                .is_empty()
        );
        assert!(
            p.registry(&s, "registry", "catalog", &req(&["*"]))
                .granted
                .is_empty()
        );
    }

    #[test]
    fn admins_get_everything_and_the_catalog() {
        let p = policy();
        let groups = req(&["platform-admins"]);
        let s = Subject {
            connector: "ldap",
            connectors: &[],
            user: "root",
            email: "",
            groups: &groups,
        };
        assert_eq!(
            p.registry(&s, "registry", "catalog", &req(&["*"])).granted,
            req(&["*"])
        );
        assert_eq!(
            p.registry(&s, "repository", "any/thing/deep", &req(&["*", "delete"]))
                .granted,
            req(&["*", "delete"])
        );
        assert!(p.is_admin(&s));
        let b = p.kubernetes(&s, Some("prod"), &["prod".into(), "staging".into()]);
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].cluster_roles, req(&["cluster-admin"]));
    }

    #[test]
    fn namespaces_follow_the_matched_group() {
        let p = policy();
        let groups = req(&["team-a", "team-b"]);
        let s = Subject {
            connector: "ldap",
            connectors: &[],
            user: "x",
            email: "",
            groups: &groups,
        };
        let b = p.kubernetes(&s, Some("staging"), &[]);
        let ns: Vec<_> = b.iter().filter_map(|b| b.namespace.clone()).collect();
        assert_eq!(ns, req(&["team-a", "team-b"]));
        assert!(!p.is_admin(&s));
    }

    #[test]
    fn qualified_names_match_only_their_connector() {
        let c: PolicyConfig = serde_norway::from_str(
            "admins: { users: [\"ldap:alice\"], groups: [\"ldap:admins\", \"org:team\"] }",
        )
        .unwrap();
        let p = Policy::compile(&c, &[]).unwrap();
        let connectors = req(&["ldap", "github", "local"]);
        let who =
            |connector: &'static str, user: &'static str, groups: &'static [String]| Subject {
                connector,
                connectors: &connectors,
                user,
                email: "",
                groups,
            };
        let none: &[String] = &[];
        assert!(p.is_admin(&who("ldap", "alice", none)));
        // The same name from another connector is somebody else.
        assert!(!p.is_admin(&who("local", "alice", none)));
        assert!(!p.is_admin(&who("github", "alice", none)));
        let admins = Box::leak(Box::new(req(&["admins"])));
        assert!(p.is_admin(&who("ldap", "x", admins)));
        assert!(!p.is_admin(&who("github", "x", admins)));
        // A group literally named `ldap:admins` elsewhere (a GitHub org `ldap`, team `admins`)
        // is not the directory's group.
        let spoof = Box::leak(Box::new(req(&["ldap:admins"])));
        assert!(!p.is_admin(&who("github", "x", spoof)));
        // A colon that names no connector is part of the name, as GitHub's `org:team`.
        let team = Box::leak(Box::new(req(&["org:team"])));
        assert!(p.is_admin(&who("github", "x", team)));
        // No user name (a connector with none to trust) matches no user pattern.
        let open: PolicyConfig = serde_norway::from_str("admins: { users: [\"*\"] }").unwrap();
        let p = Policy::compile(&open, &[]).unwrap();
        assert!(!p.is_admin(&who("github", "", none)));
    }

    #[test]
    fn invalid_policies_name_the_rule() {
        let bad = |y: &str| {
            let c: PolicyConfig = serde_norway::from_str(y).unwrap();
            Policy::compile(&c, &["prod".into()])
                .unwrap_err()
                .to_string()
        };
        assert!(bad("rules: [{name: r1, groups: [a], registry: [{repositories: [x], actions: [write]}]}]").contains("`r1`"));
        assert!(bad("rules: [{name: r2, groups: [a], registry: [{repositories: [\"x/***\"], actions: [pull]}]}]").contains("r2"));
        assert!(bad("rules: [{name: r3, groups: [a], registry: [{repositories: [\"${team}\"], actions: [pull]}]}]").contains("${team}"));
        assert!(bad("rules: [{name: r4, groups: [a], kubernetes: [{clusters: [mars], clusterRoles: [view]}]}]").contains("mars"));
        assert!(bad("rules: [{name: r5, users: [bob], registry: [{repositories: [\"${group}/x\"], actions: [pull]}]}]").contains("${group}"));
    }
}
