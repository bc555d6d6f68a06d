//! The `policy:` section compiled and checked; the section as written is `config::policy`.

use super::pattern::{Pattern, PatternError, Var};

pub use crate::config::policy::{
    KubeGrantConfig, MfaRegistryConfig, MfaRuleConfig, PolicyConfig, RegistryGrantConfig,
    RuleConfig, Subjects,
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

/// A second-factor requirement, compiled.
#[derive(Debug, Clone)]
pub struct MfaRule {
    pub name: String,
    pub groups: Vec<Pattern>,
    pub users: Vec<Pattern>,
    pub clients: Vec<String>,
    pub clusters: Vec<String>,
    pub admin: bool,
    pub registry: Vec<MfaRegistry>,
}

/// Registry actions on repositories that need a second factor, compiled.
#[derive(Debug, Clone)]
pub struct MfaRegistry {
    pub repositories: Vec<Pattern>,
    /// Never empty: `*` when the config named none.
    pub actions: Vec<String>,
}

/// Why a policy does not compile; the text names the rule.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("policy: every rule needs a name")]
    Unnamed,
    #[error("policy rule `{rule}`: {fault}")]
    Rule { rule: String, fault: RuleFault },
    #[error("policy admins: {0}")]
    Admins(PatternError),
}

/// What is wrong with one rule.
#[derive(Debug, thiserror::Error)]
pub enum RuleFault {
    #[error("duplicate rule name")]
    Duplicate,
    #[error("effect `{0}`: expected allow or deny")]
    Effect(String),
    #[error("names no groups and no users")]
    NoSubjects,
    #[error(transparent)]
    Pattern(#[from] PatternError),
    #[error("placeholders belong in repositories and namespaces, not in groups or users")]
    PlaceholderInSubjects,
    #[error("`{0}` uses ${{group}} but the rule matches no groups")]
    GroupWithoutGroups(String),
    #[error("unknown registry action `{0}` (pull, push, delete, *)")]
    Action(String),
    #[error("a registry grant needs repositories or catalog")]
    EmptyRegistryGrant,
    #[error("a second-factor registry entry needs repositories")]
    EmptyMfaRegistry,
    #[error("`{0}`: a second-factor requirement has no group to bind ${{group}} to")]
    GroupInMfa(String),
    #[error("Kubernetes RBAC cannot deny: deny rules take registry grants only")]
    KubernetesDeny,
    #[error("unknown cluster `{cluster}` (configured: {})", configured.join(", "))]
    Cluster {
        cluster: String,
        configured: Vec<String>,
    },
    #[error("a kubernetes grant needs clusters")]
    NoClusters,
    #[error("a kubernetes grant needs roles or clusterRoles")]
    NoRoles,
    #[error("roles are bound in namespaces: name them")]
    NoNamespaces,
}

/// A compiled policy.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub admins: Subjects,
    pub rules: Vec<Rule>,
    pub mfa: Vec<MfaRule>,
}

impl Policy {
    /// Compile and validate; errors name the rule. `clusters`: the configured cluster names.
    pub fn compile(c: &PolicyConfig, clusters: &[String]) -> Result<Policy, PolicyError> {
        let mut rules = Vec::with_capacity(c.rules.len());
        let mut names = std::collections::HashSet::new();
        for r in &c.rules {
            let at = |fault: RuleFault| PolicyError::Rule {
                rule: r.name.clone(),
                fault,
            };
            if r.name.is_empty() {
                return Err(PolicyError::Unnamed);
            }
            if !names.insert(r.name.as_str()) {
                return Err(at(RuleFault::Duplicate));
            }
            let deny = match r.effect.as_deref() {
                None | Some("allow") => false,
                Some("deny") => true,
                Some(other) => return Err(at(RuleFault::Effect(other.to_string()))),
            };
            if r.groups.is_empty() && r.users.is_empty() {
                return Err(at(RuleFault::NoSubjects));
            }
            let groups = r
                .groups
                .iter()
                .map(|g| Pattern::parse(g))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| at(e.into()))?;
            let users = r
                .users
                .iter()
                .map(|g| Pattern::parse(g))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| at(e.into()))?;
            if groups
                .iter()
                .chain(&users)
                .any(|p| p.uses(Var::Group) || p.uses(Var::User) || p.uses(Var::Email))
            {
                return Err(at(RuleFault::PlaceholderInSubjects));
            }
            let check_vars = |p: &Pattern| -> Result<(), PolicyError> {
                if p.uses(Var::Group) && groups.is_empty() {
                    return Err(at(RuleFault::GroupWithoutGroups(p.as_str().to_string())));
                }
                Ok(())
            };
            let mut registry = Vec::new();
            for g in &r.registry {
                for a in &g.actions {
                    if !ACTIONS.contains(&a.as_str()) {
                        return Err(at(RuleFault::Action(a.clone())));
                    }
                }
                if g.repositories.is_empty() && !g.catalog {
                    return Err(at(RuleFault::EmptyRegistryGrant));
                }
                let repositories = g
                    .repositories
                    .iter()
                    .map(|p| Pattern::parse(p))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| at(e.into()))?;
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
                return Err(at(RuleFault::KubernetesDeny));
            }
            let mut kubernetes = Vec::new();
            for k in &r.kubernetes {
                for cl in &k.clusters {
                    if cl != "*" && !clusters.iter().any(|c| c == cl) {
                        return Err(at(RuleFault::Cluster {
                            cluster: cl.clone(),
                            configured: clusters.to_vec(),
                        }));
                    }
                }
                if k.clusters.is_empty() {
                    return Err(at(RuleFault::NoClusters));
                }
                if k.roles.is_empty() && k.cluster_roles.is_empty() {
                    return Err(at(RuleFault::NoRoles));
                }
                if !k.roles.is_empty() && k.namespaces.is_empty() {
                    return Err(at(RuleFault::NoNamespaces));
                }
                let namespaces = k
                    .namespaces
                    .iter()
                    .map(|p| Pattern::parse(p))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| at(e.into()))?;
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
            Pattern::parse(p).map_err(PolicyError::Admins)?;
        }
        let mut mfa = Vec::with_capacity(c.mfa.len());
        for r in &c.mfa {
            let at = |fault: RuleFault| PolicyError::Rule {
                rule: format!("mfa {}", r.name),
                fault,
            };
            if r.name.is_empty() {
                return Err(PolicyError::Unnamed);
            }
            if !names.insert(r.name.as_str()) {
                return Err(at(RuleFault::Duplicate));
            }
            let parse = |v: &[String]| {
                v.iter()
                    .map(|g| Pattern::parse(g))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| at(e.into()))
            };
            let (groups, users) = (parse(&r.groups)?, parse(&r.users)?);
            if groups
                .iter()
                .chain(&users)
                .any(|p| p.uses(Var::Group) || p.uses(Var::User) || p.uses(Var::Email))
            {
                return Err(at(RuleFault::PlaceholderInSubjects));
            }
            for cl in &r.clusters {
                if cl != "*" && !clusters.iter().any(|c| c == cl) {
                    return Err(at(RuleFault::Cluster {
                        cluster: cl.clone(),
                        configured: clusters.to_vec(),
                    }));
                }
            }
            let mut registry = Vec::with_capacity(r.registry.len());
            for g in &r.registry {
                if let Some(a) = g.actions.iter().find(|a| !ACTIONS.contains(&a.as_str())) {
                    return Err(at(RuleFault::Action(a.clone())));
                }
                if g.repositories.is_empty() {
                    return Err(at(RuleFault::EmptyMfaRegistry));
                }
                let repositories = parse(&g.repositories)?;
                // A requirement is not per group: `${group}` would bind to nothing.
                if let Some(p) = repositories.iter().find(|p| p.uses(Var::Group)) {
                    return Err(at(RuleFault::GroupInMfa(p.as_str().to_string())));
                }
                registry.push(MfaRegistry {
                    repositories,
                    actions: if g.actions.is_empty() {
                        vec!["*".to_string()]
                    } else {
                        g.actions.clone()
                    },
                });
            }
            mfa.push(MfaRule {
                name: r.name.clone(),
                groups,
                users,
                clients: r.clients.clone(),
                clusters: r.clusters.clone(),
                admin: r.admin,
                registry,
            });
        }
        Ok(Policy {
            admins: c.admins.clone(),
            rules,
            mfa,
        })
    }
}
