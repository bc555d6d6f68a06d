//! The `policy:` section compiled and checked; the section as written is `config::policy`.

use super::pattern::{Pattern, Var};

pub use crate::config::policy::{
    KubeGrantConfig, PolicyConfig, RegistryGrantConfig, RuleConfig, Subjects,
};

/// Registry actions a rule may name.
pub const ACTIONS: &[&str] = &["pull", "push", "delete", "*"];

#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub deny: bool,
    pub groups: Vec<Pattern>,
    pub users: Vec<Pattern>,
    pub registry: Vec<RegistryGrant>,
    pub kubernetes: Vec<KubeGrant>,
}

#[derive(Debug, Clone)]
pub struct RegistryGrant {
    pub repositories: Vec<Pattern>,
    pub actions: Vec<String>,
    pub catalog: bool,
}

#[derive(Debug, Clone)]
pub struct KubeGrant {
    pub clusters: Vec<String>,
    pub namespaces: Vec<Pattern>,
    pub roles: Vec<String>,
    pub cluster_roles: Vec<String>,
}

/// A compiled policy.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub admins: Subjects,
    pub rules: Vec<Rule>,
}

impl Policy {
    /// Compile and validate; errors name the rule. `clusters`: the configured cluster names.
    pub fn compile(c: &PolicyConfig, clusters: &[String]) -> Result<Policy, String> {
        let mut rules = Vec::with_capacity(c.rules.len());
        let mut names = std::collections::HashSet::new();
        for r in &c.rules {
            let at = |m: String| format!("policy rule `{}`: {m}", r.name);
            if r.name.is_empty() {
                return Err("policy: every rule needs a name".into());
            }
            if !names.insert(r.name.as_str()) {
                return Err(at("duplicate rule name".into()));
            }
            let deny = match r.effect.as_deref() {
                None | Some("allow") => false,
                Some("deny") => true,
                Some(other) => return Err(at(format!("effect `{other}`: expected allow or deny"))),
            };
            if r.groups.is_empty() && r.users.is_empty() {
                return Err(at("names no groups and no users".into()));
            }
            let groups = r
                .groups
                .iter()
                .map(|g| Pattern::parse(g))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| at(e.to_string()))?;
            let users = r
                .users
                .iter()
                .map(|g| Pattern::parse(g))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| at(e.to_string()))?;
            if groups
                .iter()
                .chain(&users)
                .any(|p| p.uses(Var::Group) || p.uses(Var::User) || p.uses(Var::Email))
            {
                return Err(at(
                    "placeholders belong in repositories and namespaces, not in groups or users"
                        .into(),
                ));
            }
            let check_vars = |p: &Pattern| -> Result<(), String> {
                if p.uses(Var::Group) && groups.is_empty() {
                    return Err(at(format!(
                        "`{}` uses ${{group}} but the rule matches no groups",
                        p.as_str()
                    )));
                }
                Ok(())
            };
            let mut registry = Vec::new();
            for g in &r.registry {
                for a in &g.actions {
                    if !ACTIONS.contains(&a.as_str()) {
                        return Err(at(format!(
                            "unknown registry action `{a}` (pull, push, delete, *)"
                        )));
                    }
                }
                if g.repositories.is_empty() && !g.catalog {
                    return Err(at("a registry grant needs repositories or catalog".into()));
                }
                let repositories = g
                    .repositories
                    .iter()
                    .map(|p| Pattern::parse(p))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| at(e.to_string()))?;
                for p in &repositories {
                    check_vars(p)?;
                }
                registry.push(RegistryGrant {
                    repositories,
                    actions: g.actions.clone(),
                    catalog: g.catalog,
                });
            }
            if deny && !r.kubernetes.is_empty() {
                return Err(at(
                    "Kubernetes RBAC cannot deny: deny rules take registry grants only".into(),
                ));
            }
            let mut kubernetes = Vec::new();
            for k in &r.kubernetes {
                for cl in &k.clusters {
                    if cl != "*" && !clusters.iter().any(|c| c == cl) {
                        return Err(at(format!(
                            "unknown cluster `{cl}` (configured: {})",
                            clusters.join(", ")
                        )));
                    }
                }
                if k.clusters.is_empty() {
                    return Err(at("a kubernetes grant needs clusters".into()));
                }
                if k.roles.is_empty() && k.cluster_roles.is_empty() {
                    return Err(at("a kubernetes grant needs roles or clusterRoles".into()));
                }
                if !k.roles.is_empty() && k.namespaces.is_empty() {
                    return Err(at("roles are bound in namespaces: name them".into()));
                }
                let namespaces = k
                    .namespaces
                    .iter()
                    .map(|p| Pattern::parse(p))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| at(e.to_string()))?;
                for p in &namespaces {
                    check_vars(p)?;
                }
                kubernetes.push(KubeGrant {
                    clusters: k.clusters.clone(),
                    namespaces,
                    roles: k.roles.clone(),
                    cluster_roles: k.cluster_roles.clone(),
                });
            }
            rules.push(Rule {
                name: r.name.clone(),
                deny,
                groups,
                users,
                registry,
                kubernetes,
            });
        }
        for p in c.admins.groups.iter().chain(&c.admins.users) {
            Pattern::parse(p).map_err(|e| format!("policy admins: {e}"))?;
        }
        Ok(Policy {
            admins: c.admins.clone(),
            rules,
        })
    }
}
