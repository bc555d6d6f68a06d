//! Every connector the server knows: the config file's (fixed at start) and those admins keep
//! in the database (swapped in whole when any replica changes them). Lookups hand out `Arc`s,
//! so a login that started on a connector finishes on it even if an admin replaces it meanwhile.

use std::sync::{Arc, RwLock};

use super::Connector;
use super::gate::ConnectorCalls;

/// A database connector and the version of its row it was built from.
#[derive(Debug, Clone)]
pub struct Dynamic {
    pub version: String,
    pub connector: Arc<Connector>,
}

#[derive(Debug)]
pub struct Connectors {
    statics: Vec<Arc<Connector>>,
    dynamic: RwLock<Arc<Vec<Dynamic>>>,
    /// Where every connector in the set records its calls.
    calls: ConnectorCalls,
}

impl Default for Connectors {
    fn default() -> Self {
        Connectors::new(Vec::new())
    }
}

impl Connectors {
    pub fn new(statics: Vec<Connector>) -> Connectors {
        let calls = super::gate::connector_calls();
        for c in &statics {
            c.observe(&calls);
        }
        Connectors {
            statics: statics.into_iter().map(Arc::new).collect(),
            dynamic: RwLock::default(),
            calls,
        }
    }

    /// The calls of every connector this set held, for the metrics.
    pub fn calls(&self) -> ConnectorCalls {
        self.calls.clone()
    }

    /// The database connectors as last loaded.
    pub fn dynamic(&self) -> Arc<Vec<Dynamic>> {
        match self.dynamic.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Replace the database connectors; an id the config file also has stays the file's.
    pub fn replace_dynamic(&self, mut list: Vec<Dynamic>) {
        list.retain(|d| !self.is_static(d.connector.id()));
        for d in &list {
            d.connector.observe(&self.calls);
        }
        list.sort_by(|a, b| a.connector.id().cmp(b.connector.id()));
        match self.dynamic.write() {
            Ok(mut g) => *g = Arc::new(list),
            Err(p) => *p.into_inner() = Arc::new(list),
        }
    }

    /// Whether the connector comes from the config file (or is the built-in `local`).
    pub fn is_static(&self, id: &str) -> bool {
        self.statics.iter().any(|c| c.id() == id)
    }

    pub fn get(&self, id: &str) -> Option<Arc<Connector>> {
        self.statics
            .iter()
            .find(|c| c.id() == id)
            .cloned()
            .or_else(|| {
                self.dynamic()
                    .iter()
                    .find(|d| d.connector.id() == id)
                    .map(|d| d.connector.clone())
            })
    }

    /// Every connector in the order the chooser shows them: the file's, then the database's
    /// by id.
    pub fn all(&self) -> Vec<Arc<Connector>> {
        let mut v = self.statics.clone();
        v.extend(self.dynamic().iter().map(|d| d.connector.clone()));
        v
    }

    pub fn len(&self) -> usize {
        self.statics.len() + self.dynamic().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The connector, when there is exactly one (the login page is skipped then).
    pub fn only(&self) -> Option<Arc<Connector>> {
        let all = self.all();
        (all.len() == 1).then(|| all[0].clone())
    }
}
