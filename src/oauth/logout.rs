//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): end the browser's session,
//! revoke the user's refresh tokens for the client, send the browser back.
//!
//! A request ends only the session of the browser that sends it: when its `id_token_hint`
//! names that session (or its user), or when the user clicks "Sign out" on Gantry's
//! confirmation page (a form with a CSRF token). A bare link to `/logout` on another site, or a
//! hint without the browser's cookie, only shows that page; confirmed in a browser without the
//! session, it ends nothing. Whoever holds an ID token cannot sign its user out.

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
    /// Whether the session an ID token names is live and its user's.
    async fn hinted_session_live(&self, c: &Claims) -> Result<bool, LogoutError> {
        let Some(sid) = &c.sid else {
            return Ok(false);
        };
        match self.store.get_browser_session(sid).await {
            Ok(s) => Ok(s.subject == c.sub && s.ended(self.clock.now()).is_none()),
            Err(StorageError::NotFound) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

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
        // The user whose session this request ended: only then are the client's refresh
        // tokens of the hint's user revoked as well.
        let mut ended: Option<&str> = None;
        match (&session, live_hint) {
            // The browser's own session, named by the hint (or owned by its user), or
            // confirmed by the user on Gantry's page.
            (Some(s), Some(c)) if c.sid.as_deref() == Some(&s.id) || c.sub == s.subject => {
                self.end_session(&s.id, "the user logged out").await?;
                ended = Some(&s.subject);
            }
            (Some(s), _) if confirmed => {
                self.end_session(&s.id, "the user logged out").await?;
                ended = Some(&s.subject);
            }
            (Some(_), _) => {
                return Ok(LoggedOut {
                    outcome: LogoutOutcome::Confirm,
                    cookie: None,
                });
            }
            // No session cookie came along: a cross-site POST withholds SameSite=Lax cookies,
            // or the request is not from the user's browser at all. While the hint's session
            // is live, ask: the user's own browser sends its cookie with Gantry's form, and
            // that ends its session; any other browser ends nothing. An ID token does not
            // speak for the user: RPs pass them around, and logs and caches keep them.
            (None, Some(c)) if !confirmed && self.hinted_session_live(c).await? => {
                return Ok(LoggedOut {
                    outcome: LogoutOutcome::Confirm,
                    cookie: None,
                });
            }
            (None, _) => {}
        }
        if session.is_none() && browser.session.is_none() {
            cookie = None;
        }
        if let (Some(c), Some(h)) = (client, live_hint)
            && ended == Some(h.sub.as_str())
        {
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
