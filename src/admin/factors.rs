//! Users' second factors as administrators see them (names and dates, never a secret), and the
//! reset that removes them: for the user who lost a phone or a key, or whose key was stolen.
//! Factors belong to a connector identity, so a reset is by subject, which covers LDAP, SAML
//! and upstream users as well as local ones. Every reset is audited with the reason given.

use serde::Serialize;

use super::{Admin, AdminError, AdminService};
use crate::mfa::FactorError;

/// Characters of a reset's reason kept.
const MAX_REASON: usize = 500;

/// One enrolled second factor.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Factor)]
pub struct FactorView {
    pub id: String,
    /// The user's subject (the `sub` of their tokens).
    pub subject: String,
    pub connector: String,
    /// `mfa.authenticators[].id`.
    pub authenticator: String,
    /// `totp` or `webauthn`.
    pub kind: String,
    /// A WebAuthn key's name; empty for TOTP.
    pub name: String,
    /// Whether enrolment finished (a TOTP secret confirmed by a code).
    pub confirmed: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; absent if never used.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub last_used_at: Option<i64>,
}

/// What a reset removed.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
#[schema(as = FactorReset)]
pub struct ResetView {
    pub factors: u64,
    pub recovery_codes: u64,
    /// Browser sessions ended: a session signed in with a removed factor would otherwise
    /// keep answering for it.
    pub browser_sessions: u64,
    /// Refresh tokens revoked, every client's.
    pub refresh_tokens: u64,
}

impl From<FactorError> for AdminError {
    fn from(e: FactorError) -> Self {
        match e {
            FactorError::Storage(e) => e.into(),
            e => AdminError::Internal(e.to_string()),
        }
    }
}

impl AdminService {
    /// Enrolled factors, by subject: those of `subject`, or one page of everyone's.
    pub async fn factors(
        &self,
        subject: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<FactorView>, AdminError> {
        let store = self.core.second_factors.store();
        Ok(match subject {
            Some(s) => store
                .factors_of(s)
                .await?
                .into_iter()
                .skip(usize::try_from(offset).unwrap_or(0))
                .take(usize::try_from(limit).unwrap_or(0))
                .map(|f| FactorView {
                    id: f.id,
                    subject: f.subject,
                    connector: f.connector_id,
                    authenticator: f.authenticator_id,
                    kind: f.kind,
                    name: f.name,
                    confirmed: f.confirmed_at.is_some(),
                    created_at: f.created_at,
                    last_used_at: f.last_used_at,
                })
                .collect(),
            None => store
                .all_factors(limit, offset)
                .await?
                .into_iter()
                .map(|f| FactorView {
                    id: f.id,
                    subject: f.subject,
                    connector: f.connector_id,
                    authenticator: f.authenticator_id,
                    kind: f.kind,
                    name: f.name,
                    confirmed: f.confirmed_at.is_some(),
                    created_at: f.created_at,
                    last_used_at: f.last_used_at,
                })
                .collect(),
        })
    }

    /// Remove every factor and recovery code of `subject`, and end its browser sessions and
    /// refresh tokens (registry identity tokens among them): a token a lost or rogue factor
    /// helped to get must not outlive the reset. Its next login that asks for a second factor
    /// enrols again. `reason` is required (the audit
    /// keeps it); `NotFound` when the user had nothing to remove.
    pub async fn reset_factors(
        &self,
        admin: &Admin,
        subject: &str,
        reason: &str,
    ) -> Result<ResetView, AdminError> {
        let reason = reason.trim();
        if reason.chars().count() > MAX_REASON {
            return Err(AdminError::BadRequest(format!(
                "reason: at most {MAX_REASON} characters"
            )));
        }
        if reason.is_empty() {
            return Err(AdminError::BadRequest(
                "reason: say why the factors are reset (the audit log keeps it)".into(),
            ));
        }
        if subject.trim().is_empty() {
            return Err(AdminError::BadRequest("subject: name the user".into()));
        }
        let change = self.audit_change(admin, "mfa.reset", subject).await?;
        let (factors, recovery_codes) = self.core.second_factors.reset(subject).await?;
        if factors == 0 && recovery_codes == 0 {
            return Err(AdminError::NotFound);
        }
        let browser_sessions = self.end_browser_sessions_of(subject).await?;
        let now = self.core.clock.now();
        let refresh_tokens = self.db.revoke_refresh_of_user(subject, now).await?;
        self.core.refuse_access_tokens_of(subject).await?;
        change
            .succeeded(serde_json::json!({
                "reason": reason,
                "factors": factors,
                "recovery_codes": recovery_codes,
                "browser_sessions": browser_sessions,
                "refresh_tokens": refresh_tokens,
            }))
            .await;
        Ok(ResetView {
            factors,
            recovery_codes,
            browser_sessions,
            refresh_tokens,
        })
    }
}
