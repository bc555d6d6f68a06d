//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): end the browser's session,
//! revoke the user's refresh tokens for the client, send the browser back.
//!
//! A session ends only on a request that speaks for its user: the browser's own cookie with an
//! `id_token_hint` naming that session (or its user), or the user's own click on Gantry's
//! confirmation page (a form with a CSRF token). A bare link to `/logout` on another site, or a
//! hint without the browser's cookie, only shows that page, so neither can sign anyone out
//! behind their back.

use serde::Deserialize;

use crate::oauth::Provider;
use crate::oauth::authorize::redirect_with;
use crate::oauth::session::{Browser, CookieChange};
use crate::oauth::tokens::{Audience, Claims};
use crate::storage::StorageError;

/// `end_session_endpoint` parameters.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct LogoutParams {
    pub id_token_hint: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
    pub client_id: Option<String>,
}

/// Why a logout request is refused; the text is shown to the user on an error page.
#[derive(Debug, thiserror::Error)]
pub enum LogoutError {
    #[error("The id_token_hint is not a token this server issued.")]
    ForeignHint,
    #[error("client_id does not match the id_token_hint.")]
    ClientMismatch,
    #[error("post_logout_redirect_uri needs an id_token_hint or client_id.")]
    NoClient,
    #[error("The post_logout_redirect_uri is not registered for this client.")]
    UnregisteredRedirect,
    /// The cause is logged where it happens, never shown.
    #[error("Logout failed; try again.")]
    Revocation,
}

/// The page shows the error's text.
impl From<LogoutError> for String {
    fn from(e: LogoutError) -> String {
        e.to_string()
    }
}

impl From<StorageError> for LogoutError {
    fn from(e: StorageError) -> Self {
        tracing::error!(error = %e, "logout failed");
        LogoutError::Revocation
    }
}

/// Where logout ends.
#[derive(Debug, PartialEq, Eq)]
pub enum LogoutOutcome {
    Redirect(String),
    SignedOut,
    /// Ask the user: the request did not say whose session it ends.
    Confirm,
}

/// The answer to a logout request: where the browser goes and what its session cookie becomes.
#[derive(Debug)]
pub struct LoggedOut {
    pub outcome: LogoutOutcome,
    pub cookie: Option<CookieChange>,
}

impl Provider {
    /// RP-initiated logout. `confirmed`: the user clicked "Sign out" on Gantry's own page (the
    /// HTTP layer checked its CSRF token).
    pub async fn logout(
        &self,
        p: LogoutParams,
        browser: &Browser,
        confirmed: bool,
    ) -> Result<LoggedOut, LogoutError> {
        let mut client_id = p.client_id.clone();
        let mut hint: Option<Claims> = None;
        let now = self.clock.now();
        if let Some(h) = p.id_token_hint.as_deref().filter(|h| !h.is_empty()) {
            // An expired ID token is still a fine hint (RP-Initiated Logout 1.0 section 2).
            let c: Claims = self
                .keys
                .verify(h, &self.validation(false))
                .map_err(|_| LogoutError::ForeignHint)?;
            let aud_client = c.azp.clone().or(match &c.aud {
                Audience::One(a) => Some(a.clone()),
                Audience::Many(v) => v.first().cloned(),
            });
            if client_id
                .as_ref()
                .is_some_and(|id| Some(id) != aud_client.as_ref())
            {
                return Err(LogoutError::ClientMismatch);
            }
            client_id = aud_client;
            hint = Some(c);
        }
        let client = client_id.as_deref().and_then(|id| self.clients.get(id));
        let redirect = match p
            .post_logout_redirect_uri
            .as_deref()
            .filter(|u| !u.is_empty())
        {
            Some(uri) => {
                let Some(c) = client.as_ref() else {
                    return Err(LogoutError::NoClient);
                };
                if !c.post_logout_redirect_uris.iter().any(|r| r == uri) {
                    return Err(LogoutError::UnregisteredRedirect);
                }
                Some(redirect_with(
                    uri,
                    &[("state", p.state.as_deref().unwrap_or_default())],
                ))
            }
            None => None,
        };
        // Only a live ID token speaks for the user: an old one found in a log, a history or
        // a cache still names where to go back to, nothing more.
        let live_hint = hint.as_ref().filter(|c| c.exp > now);
        let session = self.live_session(browser).await?;
        let mut cookie = browser.session.as_ref().map(|_| CookieChange::Clear);
        match (&session, live_hint) {
            // The browser's own session, named by the hint (or owned by its user), or
            // confirmed by the user on Gantry's page.
            (Some(s), Some(c)) if c.sid.as_deref() == Some(&s.id) || c.sub == s.subject => {
                self.end_session(&s.id, "the user logged out").await?;
            }
            (Some(s), _) if confirmed => {
                self.end_session(&s.id, "the user logged out").await?;
            }
            (Some(_), _) => {
                return Ok(LoggedOut {
                    outcome: LogoutOutcome::Confirm,
                    cookie: None,
                });
            }
            // No session cookie came along (a cross-site POST withholds SameSite=Lax cookies,
            // or the request is not from the user's browser at all): the hint's live session
            // ends once the user confirms on Gantry's page. An ID token alone does not speak
            // for the user: RPs pass them around, and logs and caches keep them.
            (None, Some(c)) => {
                let hinted = match &c.sid {
                    Some(sid) => match self.store.get_browser_session(sid).await {
                        Ok(s) if s.subject == c.sub && s.ended(now).is_none() => Some(s),
                        Ok(_) | Err(StorageError::NotFound) => None,
                        Err(e) => return Err(e.into()),
                    },
                    None => None,
                };
                match hinted {
                    Some(s) if confirmed => {
                        self.end_session(&s.id, "the user logged out").await?;
                    }
                    Some(_) => {
                        return Ok(LoggedOut {
                            outcome: LogoutOutcome::Confirm,
                            cookie: None,
                        });
                    }
                    None => {}
                }
            }
            (None, None) => {}
        }
        if session.is_none() && browser.session.is_none() {
            cookie = None;
        }
        if let (Some(c), Some(h)) = (client, live_hint) {
            let n = self
                .store
                .revoke_refresh_for_subject(&c.id, &h.sub, now)
                .await?;
            tracing::info!(client = %c.id, revoked = n, "logout");
            if n > 0 {
                self.audit(
                    &h.sub,
                    "refresh.revoke",
                    &c.id,
                    "revoked",
                    serde_json::json!({"families": n, "reason": "the user logged out"}),
                )
                .await;
            }
        }
        Ok(LoggedOut {
            outcome: redirect.map_or(LogoutOutcome::SignedOut, LogoutOutcome::Redirect),
            cookie,
        })
    }
}
