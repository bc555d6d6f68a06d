//! Token issuance counts per hour, grant type and client.

use super::{Db, Result};

/// Counts over a period: (grant type, client id, outcome, count).
pub type Counts = Vec<(String, String, String, i64)>;

impl Db {
    /// Add counts; rows of the same hour, grant, client and outcome sum up.
    pub async fn add_token_counts(
        &self,
        rows: &[(i64, String, String, String, i64)],
    ) -> Result<()> {
        for (hour, grant, client, outcome, n) in rows {
            sqlx::query(
                "INSERT INTO token_counts (hour, grant_type, client_id, outcome, n) \
                 VALUES ($1,$2,$3,$4,$5) ON CONFLICT (hour, grant_type, client_id, outcome) \
                 DO UPDATE SET n = token_counts.n + excluded.n",
            )
            .bind(hour)
            .bind(grant)
            .bind(client)
            .bind(outcome)
            .bind(n)
            .execute(&self.write)
            .await?;
        }
        Ok(())
    }

    /// Sums since the hour holding `since`, busiest first.
    pub async fn token_counts(&self, since: i64) -> Result<Counts> {
        Ok(sqlx::query_as(
            "SELECT grant_type, client_id, outcome, CAST(SUM(n) AS BIGINT) AS total \
             FROM token_counts WHERE hour >= $1 GROUP BY grant_type, client_id, outcome \
             ORDER BY total DESC, grant_type, client_id, outcome",
        )
        .bind(since - since.rem_euclid(3600))
        .fetch_all(&self.read)
        .await?)
    }

    /// Login outcomes per connector since `since`: (connector, outcome, count).
    pub async fn login_counts_by_connector(
        &self,
        since: i64,
    ) -> Result<Vec<(String, String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT target, outcome, COUNT(*) FROM audit_log WHERE action = 'login' AND at >= $1 \
             GROUP BY target, outcome",
        )
        .bind(since)
        .fetch_all(&self.read)
        .await?)
    }
}
