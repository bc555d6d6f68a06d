//! Token issuance counts: tallied in memory on the token path (no database write per token),
//! added to the database every few seconds and before an admin page reads them.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::storage::{Db, StorageError};

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
    pub async fn flush(&self, db: &Db) -> Result<(), StorageError> {
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
            return Err(e);
        }
        Ok(())
    }
}
