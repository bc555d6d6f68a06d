//! When an admin client's tokens stop opening the admin API for good: tokens are JWTs that live
//! for `expiry.idTokens`, so a leaked secret must take the tokens made with it along. Each event
//! below raises the client's floor (see `Db::raise_client_token_floor`); the admin API refuses a
//! token issued in or before that second, and the token endpoint makes a client asking in that
//! second wait for the next.
//!
//! - its secret is rotated through the admin API, or changed in the config file;
//! - it is deleted (a client made again under its id is another client);
//! - it leaves `policy.admins.clients`, through the admin API or the config file.
//!
//! Changes to the config file are seen at start, against what the last start recorded.

use super::AdminError;
use super::AdminService;

/// The settings names of what the last start saw.
const ADMIN_CLIENTS: &str = "admin-clients-at-start";
fn secret_seen(id: &str) -> String {
    format!("client-secret-at-start:{id}")
}

impl AdminService {
    /// After a policy change: the clients that left `admins.clients` lose their tokens.
    pub(crate) async fn end_tokens_of_dropped_clients(
        &self,
        before: &[String],
    ) -> Result<(), AdminError> {
        let now_listed = self.core.policy.get().compiled.admins.clients.clone();
        for c in before.iter().filter(|c| !now_listed.contains(c)) {
            self.db
                .raise_client_token_floor(c, self.core.clock.now())
                .await?;
        }
        Ok(())
    }

    /// At start: end the tokens of config-file clients whose secret changed, and of clients
    /// that left `admins.clients`, since the last start. `secrets`: (id, stored secret hash).
    pub async fn end_tokens_changed_since_last_start(
        &self,
        secrets: &[(String, String)],
    ) -> Result<(), AdminError> {
        let now = self.core.clock.now();
        for (id, hash) in secrets {
            // A digest of the stored hash: nothing that helps anyone guess the secret.
            let digest = crate::secret::b64(&crate::secret::sha256(hash.as_bytes()));
            let name = secret_seen(id);
            match self.db.setting(&name).await? {
                Some(seen) if seen == digest => continue,
                Some(_) => self.db.raise_client_token_floor(id, now).await?,
                None => {}
            }
            self.db.put_setting(&name, &digest).await?;
        }
        let listed = self.core.policy.get().compiled.admins.clients.clone();
        if let Some(seen) = self.db.setting(ADMIN_CLIENTS).await? {
            let seen: Vec<String> = serde_json::from_str(&seen).unwrap_or_default();
            self.end_tokens_of_dropped_clients(&seen).await?;
        }
        let json =
            serde_json::to_string(&listed).map_err(|e| AdminError::Internal(e.to_string()))?;
        self.db.put_setting(ADMIN_CLIENTS, &json).await?;
        Ok(())
    }
}
