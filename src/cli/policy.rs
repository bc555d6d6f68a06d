//! `gantry policy explain|rbac|authn-config`: the policy, rendered for people and clusters.

use std::path::Path;

use crate::config::Config;
use crate::policy::Subject;
use crate::registry::scope::ResourceScope;

fn load(path: &Path) -> Result<Config, i32> {
    crate::app::load_config(path).map_err(|e| {
        eprintln!("{}: {e}", path.display());
        2
    })
}

pub fn explain(
    path: &Path,
    connector: Option<&str>,
    user: &str,
    email: &str,
    groups: &[String],
    cluster: Option<&str>,
    scopes: &[String],
) -> i32 {
    let cfg = match load(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let Ok(policy) = crate::app::compiled_policy(&cfg) else {
        return 2;
    };
    let scopes = match ResourceScope::parse_all(scopes.iter().map(String::as_str)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    let clusters = cfg.cluster_names();
    if let Some(c) = cluster
        && !clusters.iter().any(|k| k == c)
    {
        eprintln!(
            "unknown cluster `{c}` (configured: {})",
            clusters.join(", ")
        );
        return 2;
    }
    let connectors = cfg.connector_ids();
    let connector = connector
        .map(str::to_string)
        .or_else(|| (connectors.len() == 1).then(|| connectors[0].clone()))
        .unwrap_or_else(|| "local".into());
    let s = Subject {
        connector: &connector,
        connectors: &connectors,
        user,
        email,
        groups,
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&policy.explain(
            &s,
            &scopes.iter().map(|s| s.asked()).collect::<Vec<_>>(),
            cluster,
            &clusters,
        ))
        .unwrap_or_default()
    );
    0
}

fn cluster<'a>(cfg: &'a Config, name: &str) -> Option<&'a crate::config::KubeCluster> {
    let c = cfg.kubernetes.clusters.iter().find(|c| c.name == name);
    if c.is_none() {
        let names: Vec<&str> = cfg
            .kubernetes
            .clusters
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        eprintln!(
            "unknown cluster `{name}` (configured: {})",
            names.join(", ")
        );
    }
    c
}

pub async fn rbac(path: &Path, name: &str) -> i32 {
    let cfg = match load(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if cluster(&cfg, name).is_none() {
        return 2;
    }
    let Ok(mut policy) = crate::app::compiled_policy(&cfg) else {
        return 2;
    };
    let mut known: Vec<String> = cfg
        .static_passwords
        .iter()
        .flat_map(|p| p.groups.clone())
        .collect();
    match crate::cli::serve::open_db(&cfg).await {
        Ok(db) => {
            known.extend(db.known_groups().await.unwrap_or_default());
            // The policy an admin saved is the one in force; the bindings must follow it.
            if let Ok(Some(json)) = db.saved_policy().await {
                let names: Vec<String> = cfg
                    .kubernetes
                    .clusters
                    .iter()
                    .map(|c| c.name.clone())
                    .collect();
                match serde_json::from_str(&json)
                    .map_err(|e| e.to_string())
                    .and_then(|c| {
                        crate::policy::Policy::compile(&c, &names).map_err(|e| e.to_string())
                    }) {
                    Ok(p) => {
                        eprintln!(
                            "# policy: the one saved in the admin UI (not the config file's)"
                        );
                        policy = p;
                    }
                    Err(e) => {
                        eprintln!("# saved policy does not compile ({e}): using the config file's")
                    }
                }
            }
        }
        Err(e) => eprintln!("# database unavailable ({e}): expanding over config groups only"),
    }
    let deny = match crate::app::deny_networks(&cfg) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            return 2;
        }
    };
    for c in &cfg.connectors {
        match crate::connector::Connector::from_config(c, &crate::seal::Sealer::ephemeral(), &deny)
        {
            Ok(conn) => match conn.list_groups().await {
                Ok(g) => known.extend(g),
                Err(e) => eprintln!("# connector `{}` could not list groups: {e}", c.id),
            },
            Err(e) => eprintln!("# connector `{}`: {e}", c.id),
        }
    }
    known.sort();
    known.dedup();
    let (docs, notes) = crate::policy::kubernetes::rbac(&policy, &cfg.kubernetes, name, &known);
    for n in &notes {
        eprintln!("# {n}");
    }
    for d in docs {
        match serde_norway::to_string(&d) {
            Ok(y) => print!("---\n{y}"),
            Err(e) => {
                eprintln!("{e}");
                return 1;
            }
        }
    }
    0
}

pub fn authn_config(path: &Path, name: &str) -> i32 {
    let cfg = match load(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let Some(c) = cluster(&cfg, name) else {
        return 2;
    };
    let Ok(policy) = crate::app::compiled_policy(&cfg) else {
        return 2;
    };
    let alg = cfg
        .signing
        .algorithm
        .clone()
        .unwrap_or_else(|| "ES256".into());
    let (doc, flags, notes) = crate::policy::kubernetes::authn_config(
        &cfg.issuer,
        &cfg.kubernetes,
        c,
        &[alg.as_str()],
        &policy.mfa,
    );
    match serde_norway::to_string(&doc) {
        Ok(y) => {
            print!("{y}");
            for n in notes {
                println!("# {n}");
            }
            println!("# Or, on kube-apiserver before structured authentication:");
            for f in flags {
                println!("#   {f}");
            }
            0
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}
