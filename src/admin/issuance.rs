//! Token issuance counts: tallied in memory on the token path (no database write per token),
//! added to the database every few seconds and before an admin page reads them.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Serialize;

use super::AdminError;
use crate::oauth::Provider;
use crate::storage::Db;

type Key = (i64, String, String, &'static str);

#[derive(Debug, Default)]
pub struct Tally {
    pending: Mutex<HashMap<Key, i64>>,
}

impl Tally {
    pub fn record(&self, now: i64, grant: &str, client: &str, ok: bool) {
        let key = (
            now - now.rem_euclid(3600),
            grant.chars().take(64).collect(),
            client.chars().take(64).collect(),
            if ok { "issued" } else { "refused" },
        );
        if let Ok(mut p) = self.pending.lock() {
            *p.entry(key).or_default() += 1;
        }
    }

    /// Add what was counted since the last flush to the database.
    pub async fn flush(&self, db: &Db) -> Result<(), AdminError> {
        let taken: Vec<_> = match self.pending.lock() {
            Ok(mut p) => p.drain().collect(),
            Err(_) => return Ok(()),
        };
        if taken.is_empty() {
            return Ok(());
        }
        let rows: Vec<_> = taken
            .iter()
            .map(|((h, g, c, o), n)| (*h, g.clone(), c.clone(), (*o).to_string(), *n))
            .collect();
        if let Err(e) = db.add_token_counts(&rows).await {
            // Put them back: the next flush tries again.
            if let Ok(mut p) = self.pending.lock() {
                for (k, n) in taken {
                    *p.entry(k).or_default() += n;
                }
            }
            return Err(e.into());
        }
        Ok(())
    }
}

/// Tokens issued and refused for one client and grant type.
#[derive(Debug, Clone, Serialize)]
pub struct IssuanceRow {
    pub client_id: String,
    pub grant_type: String,
    pub issued: i64,
    pub refused: i64,
}

/// How one connector's logins went.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ConnectorHealth {
    pub logins: i64,
    pub failures: i64,
}

impl Provider {
    /// Token counts since `since` (all replicas), by client and grant type.
    pub async fn issuance(&self, since: i64) -> Result<Vec<IssuanceRow>, AdminError> {
        if let Err(e) = self.issuance.flush(&self.db).await {
            tracing::warn!(error = %e, "could not save token counts");
        }
        let mut out: Vec<IssuanceRow> = Vec::new();
        for (grant, client, outcome, n) in self.db.token_counts(since).await? {
            let i = match out
                .iter()
                .position(|r| r.client_id == client && r.grant_type == grant)
            {
                Some(i) => i,
                None => {
                    out.push(IssuanceRow {
                        client_id: client,
                        grant_type: grant,
                        issued: 0,
                        refused: 0,
                    });
                    out.len() - 1
                }
            };
            if outcome == "issued" {
                out[i].issued += n;
            } else {
                out[i].refused += n;
            }
        }
        Ok(out)
    }

    /// Logins and failures per connector over the last 24 hours.
    pub async fn connector_health(&self) -> Result<HashMap<String, ConnectorHealth>, AdminError> {
        let since = self.clock.now() - 86_400;
        let mut out: HashMap<String, ConnectorHealth> = HashMap::new();
        for (connector, outcome, n) in self.db.login_counts_by_connector(since).await? {
            let h = out.entry(connector).or_default();
            if outcome == "success" {
                h.logins += n;
            } else {
                h.failures += n;
            }
        }
        Ok(out)
    }
}
