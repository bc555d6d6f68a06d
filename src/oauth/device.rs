//! The device authorization grant (RFC 8628): a device asks for a code, the user types it on
//! another screen, logs in and confirms, and the device's polling at `/token` turns into tokens.
//!
//! User codes avoid look-alike characters and are throttled per address against guessing.
//!
//! Never issues a device's tokens without an explicit yes from the person who logged in, after
//! the login, whatever `skipApprovalScreen` says: a code travels in a link
//! (`verification_uri_complete`), and whoever logs in through someone else's link would
//! otherwise hand that someone their tokens (RFC 8628, 5.4). The question comes after the login
//! so that it is asked of the identity the tokens will carry, in the browser bound to that login;
//! asked before, an attacker holding the code could answer it and pass the login on.

use serde::Serialize;

use crate::identity::Identity;
use crate::oauth::Provider;
use crate::oauth::allowed_connectors::{Entry, NoEntry};
use crate::oauth::authorize::{AuthorizeError, Next, Refusal};
use crate::oauth::client::Client;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::scope::Scopes;
use crate::oauth::tokens::{Login, TokenResponse};
use crate::secret;
use crate::storage::auth::AuthRequest;

use crate::storage::device::DeviceRequest;
use crate::storage::{self, StorageError};

/// What each `slow_down` adds to a device's polling interval (RFC 8628, 3.5).
const SLOW_DOWN_SECS: i64 = 5;

/// Consonants without look-alikes: no vowels (no words), no 0/O, 1/I/L.
const ALPHABET: &[u8] = b"BCDFGHJKMNPQRSTVWXZ";
const INTERVAL: i64 = 5;
/// Marks an authorization request that finishes a device request rather than redirecting.
const DEVICE_PREFIX: &str = "device:";

#[derive(Debug, Serialize)]
pub struct DeviceAuthorization {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: i64,
    pub interval: i64,
}

/// What a person confirms before a device is signed in as them.
#[derive(Debug, Clone)]
pub struct DeviceConfirmation {
    /// As the device shows it (`BCDF-GHJK`).
    pub user_code: String,
    /// When the device asked (Unix seconds) and how long ago that is.
    pub requested_at: i64,
    pub age_secs: i64,
    /// The device's address; `None` for a request stored before addresses were recorded.
    pub requested_from: Option<String>,
}

/// Why a typed user code did not start a login.
#[derive(Debug)]
pub enum UserCodeError {
    Unknown,
    Throttled,
    /// The device's client may use no connector there is (or is gone).
    NoConnector,
    /// The database did not answer; the text is for the log.
    Unavailable(String),
    Internal(String),
}

impl From<StorageError> for UserCodeError {
    fn from(e: StorageError) -> Self {
        if e.is_unavailable() {
            UserCodeError::Unavailable(e.to_string())
        } else {
            UserCodeError::Internal(e.to_string())
        }
    }
}

fn user_code() -> String {
    secret::random_bytes(8)
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// Upper case, without the dash and spaces people type.
pub fn normalize_user_code(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

pub fn display_user_code(c: &str) -> String {
    if c.len() == 8 {
        format!("{}-{}", &c[..4], &c[4..])
    } else {
        c.to_string()
    }
}

impl Provider {
    fn device_base(&self) -> String {
        format!("{}/device", self.issuer.trim_end_matches('/'))
    }

    /// `/device/code`; `from` is the device's address, shown to whoever confirms the request.
    pub async fn device_authorize(
        &self,
        client: &Client,
        scope: Option<&str>,
        from: std::net::IpAddr,
    ) -> Result<DeviceAuthorization, OAuthError> {
        if !client.grant_allowed(crate::config::GrantType::DeviceCode, &self.grants) {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "client may not use the device grant",
            ));
        }
        let scopes = Scopes::parse(
            scope.filter(|s| !s.is_empty()).unwrap_or("openid"),
            client,
            &self.clients,
        )?;
        let now = self.clock.now();
        let device_code = secret::random_token(32);
        let hash = secret::hash_secret(&device_code);
        // A collision of user codes is rare; the unique index turns it into a retry.
        for _ in 0..5 {
            let code = user_code();
            let row = DeviceRequest {
                device_code_hash: hash.clone(),
                user_code: code.clone(),
                client_id: client.id.clone(),
                scopes: scopes.joined(),
                status: "pending".into(),
                identity: None,
                auth_time: None,
                amr: String::new(),
                interval_secs: INTERVAL,
                last_poll_at: None,
                created_at: now,
                expires_at: now + self.expiry.device_requests,
                requested_from: Some(from.to_string()),
            };
            if self.store.create_device_request(&row).await.is_ok() {
                let shown = display_user_code(&code);
                return Ok(DeviceAuthorization {
                    verification_uri_complete: format!("{}?user_code={shown}", self.device_base()),
                    verification_uri: self.device_base(),
                    device_code,
                    user_code: shown,
                    expires_in: self.expiry.device_requests,
                    interval: INTERVAL,
                });
            }
        }
        Err(OAuthError::server("could not store a device request"))
    }

    /// The user typed a code: start the ordinary login for that device request.
    /// Wrong codes are failed credentials of the address that typed them; guesses spread over
    /// many addresses slow every code check down a little (the codes are short).
    pub async fn device_start(
        &self,
        typed: &str,
        browser: &crate::oauth::session::Browser,
    ) -> Result<Next, UserCodeError> {
        let addr = browser
            .address
            .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        const KEY: &str = "\u{0}device-code";
        if self.credential_check_locked(KEY, addr).await {
            return Err(UserCodeError::Throttled);
        }
        let now = self.clock.now();
        let row = match self
            .store
            .pending_device_by_user_code(&normalize_user_code(typed), now)
            .await
        {
            Ok(r) => r,
            Err(StorageError::NotFound) => {
                self.throttle.failed(now, KEY, addr);
                return Err(UserCodeError::Unknown);
            }
            Err(e) => return Err(e.into()),
        };
        // The device's client chooses among its connectors as a browser's would.
        let client = self
            .clients
            .get(&row.client_id)
            .ok_or(UserCodeError::NoConnector)?;
        let entry = self
            .entry(&client, None)
            .map_err(|_: NoEntry| UserCodeError::NoConnector)?;
        let connector_id = match &entry {
            Entry::Connector(id) => Some(id.clone()),
            Entry::Choose(_) => None,
        };
        let mut req = AuthRequest {
            id: secret::random_token(24),
            client_id: row.client_id,
            redirect_uri: format!("{DEVICE_PREFIX}{}", row.device_code_hash),
            scopes: row.scopes,
            state: String::new(),
            nonce: String::new(),
            code_challenge: String::new(),
            code_challenge_method: String::new(),
            connector_id: connector_id.clone(),
            identity: None,
            browser_hash: None,
            logged_in_at: None,
            created_at: now,
            expires_at: row.expires_at,
            session_id: None,
            amr: String::new(),
            prompt: String::new(),
            max_age: None,
            acr_values: String::new(),
            login_hint: String::new(),
            remember: 0,
        };
        // A browser signed in already confirms the device without the password: the
        // confirmation page still shows the device and asks.
        match self
            .log_in_from_session(&mut req, &client, &entry, None, browser)
            .await
        {
            Ok(Some(next)) => return Ok(next),
            Ok(None) => {}
            Err(AuthorizeError::Internal(e)) => return Err(UserCodeError::Internal(e)),
            Err(AuthorizeError::Page {
                kind: Refusal::Unavailable,
                message,
            }) => return Err(UserCodeError::Unavailable(message)),
            // Anything else of the session's: the login page, as without one.
            Err(_) => {}
        }
        self.store.create_auth_request_from(&req, None, 0).await?;
        Ok(Next::of(req.id, entry))
    }

    /// If `req` finishes a device request that still waits for a decision, what its
    /// confirmation shows; a refusal once it expired or was decided. `None` for ordinary
    /// requests.
    pub(crate) async fn device_confirmation(
        &self,
        req: &AuthRequest,
    ) -> Option<Result<DeviceConfirmation, AuthorizeError>> {
        let hash = req.redirect_uri.strip_prefix(DEVICE_PREFIX)?;
        Some(
            self.undecided_device(hash)
                .await
                .map(|row| DeviceConfirmation {
                    user_code: display_user_code(&row.user_code),
                    requested_at: row.created_at,
                    age_secs: self.clock.now() - row.created_at,
                    requested_from: row.requested_from,
                }),
        )
    }

    /// The device request `hash` names, if it is pending and unexpired.
    async fn undecided_device(&self, hash: &str) -> Result<DeviceRequest, AuthorizeError> {
        match self.store.device_by_code(hash).await {
            Ok(row) if row.status == "pending" && row.expires_at > self.clock.now() => Ok(row),
            Ok(_) | Err(StorageError::NotFound) => Err(device_gone()),
            Err(e) => Err(e.into()),
        }
    }

    /// If `req` belongs to a device request, record the user's decision there (the answer to
    /// the device confirmation); the page to show next. `None` for ordinary requests.
    pub(crate) async fn finish_device(
        &self,
        req: &AuthRequest,
        identity: &Identity,
        approved: bool,
    ) -> Option<Result<String, AuthorizeError>> {
        let hash = req.redirect_uri.strip_prefix(DEVICE_PREFIX)?;
        Some(self.decide_device(req, hash, identity, approved).await)
    }

    async fn decide_device(
        &self,
        req: &AuthRequest,
        hash: &str,
        identity: &Identity,
        approved: bool,
    ) -> Result<String, AuthorizeError> {
        let row = self.undecided_device(hash).await?;
        let now = self.clock.now();
        let json = storage::to_json(identity)?;
        self.store.delete_auth_request(&req.id).await?;
        // Compare-and-set on the pending state: of two browsers given one code, one decides.
        if !self
            .store
            .decide_device(
                hash,
                approved,
                Some(&json),
                (req.logged_in_at.unwrap_or(now), &req.amr),
                now,
            )
            .await?
        {
            return Err(device_gone());
        }
        let outcome = if approved { "approved" } else { "denied" };
        self.audit(
            crate::oauth::audit::who(identity),
            "device",
            &row.client_id,
            outcome,
            serde_json::json!({
                "user_code": display_user_code(&row.user_code),
                "requested_from": row.requested_from,
                "requested_at": row.created_at,
            }),
        )
        .await;
        Ok(format!("{}/done?result={outcome}", self.device_base()))
    }

    /// `/token` with the device grant: pending, slow down, denied, expired, or tokens.
    pub(crate) async fn device_grant(
        &self,
        client: &Client,
        code: &str,
    ) -> Result<TokenResponse, OAuthError> {
        let hash = secret::hash_secret(code);
        let row = match self.store.device_by_code(&hash).await {
            Ok(r) => r,
            Err(StorageError::NotFound) => {
                return Err(OAuthError::invalid_grant("unknown device_code"));
            }
            Err(e) => return Err(e.into()),
        };
        if row.client_id != client.id {
            return Err(OAuthError::invalid_grant(
                "device_code was issued to another client",
            ));
        }
        let now = self.clock.now();
        if row.expires_at <= now {
            self.audit_device(client, &row.user_code, "expired", None)
                .await;
            return Err(OAuthError::new(
                ErrorCode::ExpiredToken,
                "the device code expired",
            ));
        }
        match row.status.as_str() {
            "pending" => {
                let prev = self.store.poll_device(&hash, now).await?;
                if prev.is_some_and(|p| now - p < row.interval_secs) {
                    // RFC 8628, 3.5: every slow_down adds five seconds for this device's
                    // later polls, so a client that ignores the interval backs off anyway.
                    self.store.slow_device(&hash, SLOW_DOWN_SECS).await?;
                    return Err(OAuthError::new(
                        ErrorCode::SlowDown,
                        format!(
                            "poll at most every {} seconds",
                            row.interval_secs + SLOW_DOWN_SECS
                        ),
                    ));
                }
                Err(OAuthError::new(
                    ErrorCode::AuthorizationPending,
                    "the user has not finished yet",
                ))
            }
            "denied" => {
                self.audit_device(client, &row.user_code, "denied", None)
                    .await;
                Err(OAuthError::new(
                    ErrorCode::AccessDenied,
                    "the user denied the request",
                ))
            }
            "approved" => {
                if !self.store.consume_device(&hash).await? {
                    return Err(OAuthError::invalid_grant("device_code was already used"));
                }
                let identity: Identity =
                    storage::from_json(row.identity.as_deref().unwrap_or("{}"))?;
                self.audit_device(client, &row.user_code, "success", Some(&identity))
                    .await;
                let scopes = Scopes::stored(&row.scopes);
                // The browser login's time and amr. No `sid`: the device is not the browser,
                // and signing the browser out does not sign the television out.
                let auth_time = row.auth_time.unwrap_or(now);
                Ok(self
                    .login_tokens(
                        client,
                        &identity,
                        &scopes,
                        Login::plain(auth_time, &row.amr),
                    )
                    .await?
                    .0
                    .response)
            }
            _ => Err(OAuthError::invalid_grant("device_code was already used")),
        }
    }
}

impl Provider {
    /// Record how a device's request ended: tokens issued, denied, or expired unused.
    async fn audit_device(
        &self,
        client: &Client,
        user_code: &str,
        outcome: &str,
        identity: Option<&Identity>,
    ) {
        let actor = identity.map_or_else(String::new, |i| crate::oauth::audit::who(i).to_string());
        let mut detail = serde_json::json!({ "client": client.id, "user_code": user_code });
        if let Some(i) = identity {
            detail["subject"] = serde_json::json!(i.subject());
        }
        self.audit(&actor, "device.token", &client.id, outcome, detail)
            .await;
    }
}

fn device_gone() -> AuthorizeError {
    AuthorizeError::Page {
        kind: Refusal::Invalid,
        message: "This device code has expired or was already used. Start again on the device."
            .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_unambiguous_and_forgiving_to_type() {
        for _ in 0..100 {
            let c = user_code();
            assert_eq!(c.len(), 8);
            assert!(c.chars().all(|ch| !"0O1IL AEU".contains(ch)), "{c}");
        }
        assert_eq!(normalize_user_code(" bcdf-ghjk "), "BCDFGHJK");
        assert_eq!(display_user_code("BCDFGHJK"), "BCDF-GHJK");
    }
}
