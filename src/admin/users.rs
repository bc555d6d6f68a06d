//! Users of the password database, as an admin manages them. Users of the config file are
//! listed too, read-only. Every change is validated whole before anything is written, and
//! audited without the password.

use serde::{Deserialize, Serialize};

use super::AdminService;
use super::version::{self, Precondition};
use super::{Admin, AdminError};
use crate::storage::passwords::PasswordRow;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = User)]
pub struct UserView {
    pub email: String,
    pub username: String,
    pub groups: Vec<String>,
    /// "config" (read-only) or "database".
    #[schema(schema_with = super::config_or_database)]
    pub source: &'static str,
    pub disabled: bool,
    /// What a change expects (the API's ETag); none for the config file's users.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub version: Option<String>,
}

/// A new user, as the form or the API sends it.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// As `check_email` accepts it (JSON Schema regexes are ECMA 262).
    #[schema(
        max_length = 254,
        pattern = "^[^\\s<>@\\u0000-\\u001f\\u007f-\\u009f]+@[^\\s<>.\\u0000-\\u001f\\u007f-\\u009f][^\\s<>\\u0000-\\u001f\\u007f-\\u009f]*\\.[^\\s<>\\u0000-\\u001f\\u007f-\\u009f]*[^\\s<>.\\u0000-\\u001f\\u007f-\\u009f]$"
    )]
    pub email: String,
    #[schema(min_length = 1, max_length = 128, pattern = "\\S")]
    pub username: String,
    #[schema(min_length = 10, max_length = 1024, write_only)]
    pub password: String,
    #[serde(default)]
    /// Each as `check_groups` accepts it.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = "^[^,\\u0000-\\u001f\\u007f-\\u009f]+$"
    )]
    pub groups: Vec<String>,
}

/// A change to a user; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    #[schema(min_length = 10, max_length = 1024, write_only)]
    pub password: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = "^[^,\\u0000-\\u001f\\u007f-\\u009f]+$"
    )]
    pub groups: Option<Vec<String>>,
    pub disabled: Option<bool>,
}

/// A field and what is wrong with it, for the form to show next to that field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

/// White space as the API document's regexes (ECMA-262 `\s`) define it, so that what the
/// server accepts is exactly what the document says (no U+0085, but U+FEFF).
fn ecma_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202f}'
                | '\u{205f}'
                | '\u{3000}'
                | '\u{feff}'
    )
}

/// Whether a name has something besides white space.
pub fn has_visible(s: &str) -> bool {
    s.chars().any(|c| !ecma_space(c))
}

fn check_email(e: &str) -> Option<String> {
    let ok = e.chars().count() <= 254
        && e.split_once('@').is_some_and(|(l, d)| {
            !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.')
        })
        && !e
            .chars()
            .any(|c| ecma_space(c) || c.is_control() || c == '<' || c == '>');
    (!ok).then(|| "an email address such as ann@example.com".into())
}

fn check_password(p: &str) -> Option<String> {
    match p.chars().count() {
        0..=9 => Some("at least 10 characters".into()),
        1025.. => Some("at most 1024 characters".into()),
        _ => None,
    }
}

fn check_groups(groups: &[String]) -> Option<String> {
    groups
        .iter()
        .find(|g| {
            g.is_empty() || g.chars().count() > 128 || g.chars().any(|c| c.is_control() || c == ',')
        })
        .map(|g| {
            format!(
                "`{}` is not a group name",
                g.chars().take(40).collect::<String>()
            )
        })
}

/// Split a comma-separated groups field.
pub fn parse_groups(text: &str) -> Vec<String> {
    text.split(',')
        .map(|g| g.trim().to_string())
        .filter(|g| !g.is_empty())
        .collect()
}

impl AdminService {
    fn local_statics(&self) -> Vec<(String, String, Vec<String>)> {
        self.core
            .connectors
            .all()
            .iter()
            .find_map(|c| c.as_local())
            .map(|l| l.static_users())
            .unwrap_or_default()
    }

    /// End the admin sessions of a password-database user. Each admin request checks the user
    /// again anyway; this also keeps a session from coming back when the user is enabled again.
    async fn end_admin_sessions(&self, row: &PasswordRow) -> Result<(), AdminError> {
        let subject = crate::identity::Identity {
            user_id: row.user_id.clone(),
            connector_id: "local".into(),
            ..Default::default()
        }
        .subject();
        self.db.delete_admin_sessions_of(&subject).await?;
        self.end_browser_sessions_of(&subject).await?;
        // Their access tokens were issued to who they were: Gantry's own checks (the
        // registry, introspection, userinfo) refuse them from now on.
        self.core.refuse_access_tokens_of(&subject).await?;
        Ok(())
    }

    pub async fn users(&self, limit: i64, offset: i64) -> Result<Vec<UserView>, AdminError> {
        let mut out: Vec<UserView> = if offset == 0 {
            self.local_statics()
                .into_iter()
                .map(|(email, username, groups)| UserView {
                    email,
                    username,
                    groups,
                    source: "config",
                    disabled: false,
                    version: None,
                })
                .collect()
        } else {
            Vec::new()
        };
        for r in self
            .db
            .list_passwords(limit.clamp(1, 500), offset.max(0))
            .await?
        {
            out.push(user_view(r));
        }
        Ok(out)
    }

    /// One user, as the writer sees them now.
    pub async fn user(&self, email: &str) -> Result<UserView, AdminError> {
        if let Some((email, username, groups)) = self
            .local_statics()
            .into_iter()
            .find(|(e, _, _)| e.eq_ignore_ascii_case(email))
        {
            return Ok(UserView {
                email,
                username,
                groups,
                source: "config",
                disabled: false,
                version: None,
            });
        }
        match self.db.get_password_fresh(email).await? {
            Some(r) => Ok(user_view(r)),
            None => Err(AdminError::NotFound),
        }
    }

    /// Validate a new user whole; every problem, by field.
    pub fn check_new_user(&self, u: &NewUser) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let mut push = |field, m: Option<String>| {
            if let Some(message) = m {
                errs.push(FieldError { field, message });
            }
        };
        push("email", check_email(&u.email));
        push(
            "username",
            (!has_visible(&u.username) || u.username.chars().count() > 128)
                .then(|| "a name of 1 to 128 characters".into()),
        );
        push("password", check_password(&u.password));
        push("groups", check_groups(&u.groups));
        errs
    }

    /// Create a user; their version.
    pub async fn create_user(&self, admin: &Admin, u: &NewUser) -> Result<String, AdminError> {
        let change = self
            .audit_change(admin, "user.create", &u.email.to_lowercase())
            .await?;
        if let Some(e) = self.check_new_user(u).into_iter().next() {
            return Err(AdminError::BadRequest(format!(
                "{}: {}",
                e.field, e.message
            )));
        }
        let email = u.email.to_lowercase();
        let taken = self
            .local_statics()
            .iter()
            .any(|(e, _, _)| e.eq_ignore_ascii_case(&email))
            || self.db.get_password(&email).await?.is_some();
        if taken {
            return Err(AdminError::Conflict(format!(
                "email: {email} already exists"
            )));
        }
        let hash = crate::password::hash_async(u.password.clone())
            .await
            .map_err(|e| AdminError::Internal(e.to_string()))?;
        let version = version::fresh();
        self.db
            .create_password(&PasswordRow {
                email: email.clone(),
                hash,
                username: u.username.trim().to_string(),
                user_id: crate::secret::random_token(16),
                groups_json: serde_json::to_string(&u.groups).unwrap_or_default(),
                created_at: self.core.clock.now(),
                disabled_at: None,
                version: version.clone(),
            })
            .await?;
        change
            .succeeded(serde_json::json!({ "username": u.username, "groups": u.groups }))
            .await;
        Ok(version)
    }

    /// Change a user, if `expect` holds for their version; their new version.
    pub async fn change_user(
        &self,
        admin: &Admin,
        email: &str,
        c: &UserChange,
        expect: Option<&Precondition>,
    ) -> Result<String, AdminError> {
        let change = self
            .audit_change(admin, "user.change", &email.to_lowercase())
            .await?;
        if self
            .local_statics()
            .iter()
            .any(|(e, _, _)| e.eq_ignore_ascii_case(email))
        {
            return Err(AdminError::Conflict(
                "this user comes from the config file and is read-only here".into(),
            ));
        }
        if let Some(m) = c.password.as_deref().and_then(check_password) {
            return Err(AdminError::BadRequest(format!("password: {m}")));
        }
        if let Some(m) = c.groups.as_deref().and_then(check_groups) {
            return Err(AdminError::BadRequest(format!("groups: {m}")));
        }
        let hash = match &c.password {
            Some(p) => Some(
                crate::password::hash_async(p.clone())
                    .await
                    .map_err(|e| AdminError::Internal(e.to_string()))?,
            ),
            None => None,
        };
        let groups = c
            .groups
            .as_ref()
            .map(|g| serde_json::to_string(g).unwrap_or_default());
        let disabled = c.disabled.map(|d| d.then(|| self.core.clock.now()));
        let next = version::fresh();
        let mut written = None;
        for _ in 0..version::TRIES {
            let Some(row) = self.db.get_password_fresh(email).await? else {
                return Err(AdminError::NotFound);
            };
            if !version::holds(expect, &row.version) {
                return Err(stale(email));
            }
            if self
                .db
                .update_password_row(
                    email,
                    hash.as_deref(),
                    groups.as_deref(),
                    disabled,
                    &row.version,
                    &next,
                )
                .await?
            {
                written = Some(row);
                break;
            }
            // Changed (or deleted) between the read and the write: with a precondition that
            // is the answer; without one, read again.
            if expect.is_some() {
                return Err(stale(email));
            }
        }
        let Some(row) = written else {
            return Err(AdminError::Unavailable(format!(
                "{email} kept changing while it was being changed"
            )));
        };
        let before = serde_json::json!({
            "groups": serde_json::from_str::<Vec<String>>(&row.groups_json).unwrap_or_default(),
            "disabled": row.disabled_at.is_some(),
        });
        // What made them an admin, or let them sign in, changed: their admin sessions end, and
        // they sign in again as who they are now. Enabling changes neither.
        if c.password.is_some() || c.groups.is_some() || c.disabled == Some(true) {
            self.end_admin_sessions(&row).await?;
        }
        change
            .succeeded(serde_json::json!({
                "password_reset": c.password.is_some(),
                "before": before,
                "after": { "groups": c.groups, "disabled": c.disabled },
            }))
            .await;
        Ok(next)
    }

    /// Delete a user, if `expect` holds for their version.
    pub async fn delete_user(
        &self,
        admin: &Admin,
        email: &str,
        expect: Option<&Precondition>,
    ) -> Result<(), AdminError> {
        let change = self
            .audit_change(admin, "user.delete", &email.to_lowercase())
            .await?;
        let mut deleted = None;
        for _ in 0..version::TRIES {
            let Some(row) = self.db.get_password_fresh(email).await? else {
                return Err(AdminError::NotFound);
            };
            if !version::holds(expect, &row.version) {
                return Err(stale(email));
            }
            // The version read, not any: the sessions ended below are this very user's.
            if self.db.delete_password(email, Some(&row.version)).await? {
                deleted = Some(row);
                break;
            }
            if expect.is_some() {
                return Err(stale(email));
            }
        }
        let Some(row) = deleted else {
            return Err(AdminError::Unavailable(format!(
                "{email} kept changing while it was being deleted"
            )));
        };
        self.end_admin_sessions(&row).await?;
        change.succeeded(serde_json::json!({})).await;
        Ok(())
    }
}

fn user_view(r: PasswordRow) -> UserView {
    UserView {
        groups: serde_json::from_str(&r.groups_json).unwrap_or_default(),
        email: r.email,
        username: r.username,
        source: "database",
        disabled: r.disabled_at.is_some(),
        version: Some(r.version),
    }
}

fn stale(email: &str) -> AdminError {
    AdminError::Stale(format!(
        "{} was changed since the version this change expects",
        email.to_lowercase()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_checks() {
        assert!(check_email("ann@example.com").is_none());
        for bad in [
            "",
            "ann",
            "ann@",
            "@x.com",
            "a b@x.com",
            "<a>@x.com",
            "a@com",
        ] {
            assert!(check_email(bad).is_some(), "{bad}");
        }
        assert!(check_password("short").is_some());
        assert!(check_password("long enough!").is_none());
        assert!(check_groups(&["ok".into(), "a,b".into()]).is_some());
        assert_eq!(parse_groups(" a, b ,,c"), ["a", "b", "c"]);
    }
}
