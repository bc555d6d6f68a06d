//! The built-in `local` connector: `staticPasswords` from the config and, with
//! `enablePasswordDB`, users in the database. Logs in by email, as Dex does.
//!
//! Never answers faster for an unknown user than for a wrong password: every check costs the
//! same (see `password::EqualCost`).

use std::sync::Arc;

use crate::config::StaticPassword;
use crate::connector::{ConnectorError, PasswordCheck};
use crate::identity::Identity;
use crate::password::{EqualCost, Verified};
use crate::secret;
use crate::storage::store::PasswordStore;

#[derive(Debug)]
pub struct Local {
    statics: Vec<StaticPassword>,
    db: Arc<dyn PasswordStore>,
    use_db: bool,
    cost: Arc<EqualCost>,
}

impl Local {
    pub fn new(statics: Vec<StaticPassword>, db: Arc<dyn PasswordStore>, use_db: bool) -> Local {
        let cost = Arc::new(EqualCost::new(
            statics.iter().filter_map(|p| p.hash.as_deref()),
        ));
        Local {
            statics,
            db,
            use_db,
            cost,
        }
    }

    /// The users of the config file: (email, username, groups).
    pub fn static_users(&self) -> Vec<(String, String, Vec<String>)> {
        self.statics
            .iter()
            .map(|p| (p.email.clone(), p.username.clone(), p.groups.clone()))
            .collect()
    }

    pub fn uses_db(&self) -> bool {
        self.use_db
    }

    fn find_static(&self, login: &str) -> Option<&StaticPassword> {
        self.statics
            .iter()
            .find(|p| p.email.eq_ignore_ascii_case(login))
    }

    pub async fn login(&self, login: &str, pw: &str) -> Result<PasswordCheck, ConnectorError> {
        let refused = PasswordCheck::Refused { known_login: true };
        if let Some(p) = self.find_static(login) {
            let config_hash = p.hash.clone().unwrap_or_default();
            // A bcrypt hash from the config is upgraded once; the upgrade is bound to the
            // config hash it replaces, so editing the config takes effect.
            let digest = secret::hash_secret(&config_hash);
            let upgraded = self.db.get_password_upgrade(&p.email, &digest).await?;
            let stored = upgraded.clone().unwrap_or(config_hash);
            return match self.cost.clone().check_async(pw.into(), Some(stored)).await {
                Verified::Ok => Ok(PasswordCheck::Accepted(static_identity(p))),
                Verified::OkRehash(h) => {
                    self.db.put_password_upgrade(&p.email, &digest, &h).await?;
                    Ok(PasswordCheck::Accepted(static_identity(p)))
                }
                Verified::Wrong => Ok(refused),
            };
        }
        let row = match self.use_db {
            true => self.db.get_password(login).await?,
            false => None,
        };
        if let Some(row) = row.as_ref().filter(|r| r.disabled_at.is_none()) {
            let groups: Vec<String> = serde_json::from_str(&row.groups_json).unwrap_or_default();
            let id = Identity {
                user_id: row.user_id.clone(),
                username: row.username.clone(),
                preferred_username: row.username.clone(),
                email: row.email.clone(),
                email_verified: true,
                groups,
                connector_id: "local".into(),
                connector_data: None,
            };
            return match self
                .cost
                .clone()
                .check_async(pw.into(), Some(row.hash.clone()))
                .await
            {
                Verified::Ok => Ok(PasswordCheck::Accepted(id)),
                Verified::OkRehash(h) => {
                    self.db
                        .upgrade_password_hash(&row.email, &row.hash, &h)
                        .await?;
                    Ok(PasswordCheck::Accepted(id))
                }
                Verified::Wrong => Ok(refused),
            };
        }
        let _ = self.cost.clone().check_async(pw.into(), None).await;
        Ok(PasswordCheck::Refused {
            // A disabled user is still a user: their name may be recorded.
            known_login: row.is_some(),
        })
    }

    pub async fn refresh(&self, identity: &Identity) -> Result<Identity, ConnectorError> {
        if let Some(p) = self.statics.iter().find(|p| p.user_id == identity.user_id) {
            return Ok(static_identity(p));
        }
        if self.use_db
            && let Some(row) = self.db.get_password(&identity.email).await?
            && row.user_id == identity.user_id
            && row.disabled_at.is_none()
        {
            let mut id = identity.clone();
            id.groups = serde_json::from_str(&row.groups_json).unwrap_or_default();
            id.username = row.username;
            return Ok(id);
        }
        Err(ConnectorError::UserGone)
    }
}

/// Dex's meaning: `name` is the `name` claim (else the username), `preferredUsername` the
/// `preferred_username` claim and the policy's name for the user (else the username: both are
/// the config's, so stable), `emailVerified` defaults to true.
fn static_identity(p: &StaticPassword) -> Identity {
    let or_username = |v: &Option<String>| {
        v.clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| p.username.clone())
    };
    Identity {
        user_id: p.user_id.clone(),
        username: or_username(&p.name),
        preferred_username: or_username(&p.preferred_username),
        email: p.email.clone(),
        email_verified: p.email_verified.unwrap_or(true),
        groups: p.groups.clone(),
        connector_id: "local".into(),
        connector_data: None,
    }
}
