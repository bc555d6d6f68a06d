//! Group names seen at login and in local users: the groups RBAC output can expand to.

use super::{Db, Result};

impl Db {
    pub async fn record_groups(&self, groups: &[String], now: i64) -> Result<()> {
        for g in groups {
            sqlx::query(
                "INSERT INTO seen_groups (name, last_seen) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET last_seen = excluded.last_seen",
            )
            .bind(g)
            .bind(now)
            .execute(&self.write)
            .await?;
        }
        Ok(())
    }

    /// Every group known: seen at login, or held by a database user.
    pub async fn known_groups(&self) -> Result<Vec<String>> {
        let mut out: Vec<String> =
            sqlx::query_as::<_, (String,)>("SELECT name FROM seen_groups ORDER BY name")
                .fetch_all(&self.read)
                .await?
                .into_iter()
                .map(|r| r.0)
                .collect();
        let users: Vec<(String,)> = sqlx::query_as("SELECT groups_json FROM passwords")
            .fetch_all(&self.read)
            .await?;
        for (j,) in users {
            for g in serde_json::from_str::<Vec<String>>(&j).unwrap_or_default() {
                if !out.contains(&g) {
                    out.push(g);
                }
            }
        }
        out.sort();
        Ok(out)
    }
}
