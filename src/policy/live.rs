//! The policy in force: the config file's, or the one an admin saved in the database (which
//! replaces it whole until an admin goes back to the file's). Swapped atomically, so a
//! decision always sees one policy.

use std::sync::{Arc, RwLock};

use super::{Policy, PolicyConfig};

#[derive(Debug)]
pub struct Active {
    pub config: PolicyConfig,
    pub compiled: Policy,
    /// "config" or "database".
    pub source: &'static str,
    /// The version of what is saved (see [`version_of`]), which a write expects.
    pub version: String,
}

/// The version of the policy state: the text an admin saved, or (nothing saved) the config
/// file's policy. A digest of what is stored, so the stored text itself is what a
/// compare-and-set compares, and no second value has to be kept in step with it.
pub fn version_of(saved: Option<&str>, file: &PolicyConfig) -> String {
    let text = match saved {
        Some(json) => format!("database\n{json}"),
        None => format!(
            "config\n{}",
            serde_json::to_string(file).unwrap_or_default()
        ),
    };
    crate::secret::hash_secret(&text)
}

#[derive(Debug)]
pub struct LivePolicy {
    file: Arc<Active>,
    current: RwLock<Arc<Active>>,
}

impl LivePolicy {
    pub fn new(config: PolicyConfig, compiled: Policy) -> LivePolicy {
        let file = Arc::new(Active {
            version: version_of(None, &config),
            config,
            compiled,
            source: "config",
        });
        LivePolicy {
            current: RwLock::new(file.clone()),
            file,
        }
    }

    pub fn get(&self) -> Arc<Active> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// The config file's policy.
    pub fn file(&self) -> Arc<Active> {
        self.file.clone()
    }

    /// Put a saved policy in force, or with `None` the file's; `version` is that of what is
    /// saved (a saved policy that does not compile leaves the file's in force, at its version).
    pub fn set(&self, saved: Option<(PolicyConfig, Policy)>, version: String) {
        let next = match saved {
            Some((config, compiled)) => Arc::new(Active {
                config,
                compiled,
                source: "database",
                version,
            }),
            None if version == self.file.version => self.file.clone(),
            None => Arc::new(Active {
                config: self.file.config.clone(),
                compiled: self.file.compiled.clone(),
                source: "config",
                version,
            }),
        };
        match self.current.write() {
            Ok(mut g) => *g = next,
            Err(p) => *p.into_inner() = next,
        }
    }
}
