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
}

#[derive(Debug)]
pub struct LivePolicy {
    file: Arc<Active>,
    current: RwLock<Arc<Active>>,
}

impl LivePolicy {
    pub fn new(config: PolicyConfig, compiled: Policy) -> LivePolicy {
        let file = Arc::new(Active {
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

    /// Put a saved policy in force, or with `None` the file's.
    pub fn set(&self, saved: Option<(PolicyConfig, Policy)>) {
        let next = match saved {
            Some((config, compiled)) => Arc::new(Active {
                config,
                compiled,
                source: "database",
            }),
            None => self.file.clone(),
        };
        match self.current.write() {
            Ok(mut g) => *g = next,
            Err(p) => *p.into_inner() = next,
        }
    }
}
