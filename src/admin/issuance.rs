//! Token issuance counts as the admin pages read them; the protocol core tallies them
//! (`oauth::issuance`).

use std::collections::HashMap;

use serde::Serialize;

use super::AdminError;
use super::AdminService;
pub use crate::oauth::issuance::Tally;

/// Tokens issued and refused for one client and grant type.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = TokenCount)]
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

impl AdminService {
    /// Token counts since `since` (all replicas), by client and grant type.
    pub async fn issuance(&self, since: i64) -> Result<Vec<IssuanceRow>, AdminError> {
        if let Err(e) = self.core.issuance.flush(&self.db).await {
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
        let since = self.core.clock.now() - 86_400;
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
