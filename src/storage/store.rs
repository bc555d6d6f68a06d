//! What the layers above keep, as small traits: the protocol core's codes, refresh families,
//! devices, upstream logins and records; signing keys; the local connector's passwords.
//!
//! The database implements them (`store_db.rs`); so does an in-memory store (`memory.rs`),
//! which lets the grants, PKCE, refresh rotation and reuse detection run in unit tests with a
//! manual clock. Each method keeps the contract of the `Db` method it is named after: the
//! compare-and-set ones answer `false` (or `NotFound`) when another request won.

use async_trait::async_trait;

use super::Result;
use super::audit::NewAuditEvent;
use super::auth::{AuthCode, AuthRequest, LoggedIn};
use super::device::DeviceRequest;
use super::keys::StoredKey;
use super::logout_outbox::{Finish, LogoutDelivery, NewLogoutDelivery};
use super::passwords::PasswordRow;
use super::refresh::RefreshToken;
use super::sessions::{BrowserSession, SessionClient, SessionLogin};
use super::upstream::UpstreamLogin;

/// Authorization requests (one browser login) and the codes they yield.
#[async_trait]
pub trait CodeStore: Send + Sync {
    /// Store `r` unless the address `client_key` already has `cap` unfinished requests
    /// (0: no cap); false when it has.
    async fn create_auth_request_from(
        &self,
        r: &AuthRequest,
        client_key: Option<&str>,
        cap: u32,
    ) -> Result<bool>;
    /// The request if it exists and has not expired.
    async fn get_auth_request(&self, id: &str, now: i64) -> Result<AuthRequest>;
    /// Record who logged in, and in which browser; only once per request.
    async fn set_auth_request_identity(&self, id: &str, l: &LoggedIn<'_>, now: i64) -> Result<()>;
    /// Delete the request and store the code at once: a request yields one code.
    async fn exchange_request_for_code(&self, request_id: &str, c: &AuthCode) -> Result<()>;
    async fn delete_auth_request(&self, id: &str) -> Result<()>;
    /// A code as some replica last saw it (may lag the latest write).
    async fn get_auth_code(&self, code_hash: &str) -> Result<AuthCode>;
    /// A code as the latest write left it.
    async fn get_auth_code_fresh(&self, code_hash: &str) -> Result<AuthCode>;
    /// Mark a code used; false if it was used already.
    async fn claim_auth_code(&self, code_hash: &str, now: i64) -> Result<bool>;
    /// Mark a code used and record what it issued in one compare-and-set; false if used.
    async fn redeem_auth_code(
        &self,
        code_hash: &str,
        now: i64,
        access_jti: &str,
        access_expires_at: i64,
        refresh_family: Option<&str>,
    ) -> Result<bool>;
}

/// Refresh tokens, one row per token, in families (one per login).
#[async_trait]
pub trait RefreshStore: Send + Sync {
    async fn create_refresh_token(&self, t: &RefreshToken) -> Result<()>;
    async fn get_refresh_token(&self, id: &str) -> Result<RefreshToken>;
    /// Replace `old_id` by `next` unless another rotation or a revocation came first.
    async fn rotate_refresh_token(
        &self,
        old_id: &str,
        next: &RefreshToken,
        now: i64,
    ) -> Result<bool>;
    /// Note a use without rotating (rotation disabled).
    async fn touch_refresh_token(&self, id: &str, identity: &str, now: i64) -> Result<()>;
    async fn revoke_refresh_family(&self, family_id: &str, now: i64) -> Result<()>;
    /// Revoke every family a user holds with one client; how many tokens.
    async fn revoke_refresh_for_subject(
        &self,
        client_id: &str,
        subject: &str,
        now: i64,
    ) -> Result<u64>;
}

/// Device authorization requests (RFC 8628).
#[async_trait]
pub trait DeviceStore: Send + Sync {
    async fn create_device_request(&self, r: &DeviceRequest) -> Result<()>;
    async fn device_by_code(&self, device_code_hash: &str) -> Result<DeviceRequest>;
    /// A pending, unexpired request by its user code.
    async fn pending_device_by_user_code(&self, user_code: &str, now: i64)
    -> Result<DeviceRequest>;
    /// Record a poll; the previous poll time.
    async fn poll_device(&self, device_code_hash: &str, now: i64) -> Result<Option<i64>>;
    /// Make a device that polled too fast wait `by` seconds longer from now on.
    async fn slow_device(&self, device_code_hash: &str, by: i64) -> Result<()>;
    /// Approve or deny a pending, unexpired request; false if it was not pending.
    async fn decide_device(
        &self,
        device_code_hash: &str,
        approved: bool,
        identity: Option<&str>,
        login: (i64, &str),
        now: i64,
    ) -> Result<bool>;
    /// Mark an approved request used; false if another poll took it first.
    async fn consume_device(&self, device_code_hash: &str) -> Result<bool>;
}

/// Logins waiting at an upstream provider, and the SAML assertions already accepted.
#[async_trait]
pub trait LoginStore: Send + Sync {
    async fn create_upstream_login(&self, l: &UpstreamLogin) -> Result<()>;
    /// Remove and return the pending login; a state is good for one callback.
    async fn take_upstream_login(&self, state_hash: &str, now: i64) -> Result<UpstreamLogin>;
    /// The pending login, left in place.
    async fn get_upstream_login(&self, state_hash: &str, now: i64) -> Result<UpstreamLogin>;
    /// Park a verified identity on a pending login; only once.
    async fn set_upstream_identity(&self, state_hash: &str, identity_json: &str) -> Result<()>;
    /// Remember an accepted assertion until `expires_at`; false if it was seen before.
    async fn first_use_of_assertion(&self, id_hash: &str, expires_at: i64) -> Result<bool>;
}

/// What requests leave behind for others: revoked access tokens, the audit trail, the groups
/// seen at login, and the floor under an admin client's tokens.
#[async_trait]
pub trait RecordStore: Send + Sync {
    async fn revoke_jti(&self, jti: &str, expires_at: i64) -> Result<()>;
    /// See [`crate::storage::Db::is_access_revoked`].
    async fn is_access_revoked(&self, jti: &str, subject: &str, iat: i64) -> Result<bool>;
    /// See [`crate::storage::Db::raise_subject_token_floor`].
    async fn raise_subject_token_floor(&self, subject: &str, at: i64) -> Result<()>;
    /// Append an audit event; its id.
    async fn append_audit(&self, e: NewAuditEvent<'_>) -> Result<i64>;
    async fn record_groups(&self, groups: &[String], now: i64) -> Result<()>;
    /// Tokens of this client issued at or before this second are refused (0: none).
    async fn client_token_floor(&self, client_id: &str) -> Result<i64>;
}

/// Back-channel logout tokens waiting to be delivered (see `logout_outbox`).
#[async_trait]
pub trait LogoutOutbox: Send + Sync {
    /// Queue deliveries due at once, one per session and client; how many were new.
    async fn queue_logout_deliveries(&self, rows: &[NewLogoutDelivery]) -> Result<u64>;
    /// Claim up to `limit` deliveries due at `now` until `until`; no two claims get one row.
    async fn claim_logout_deliveries(
        &self,
        now: i64,
        until: i64,
        claim: &str,
        limit: i64,
    ) -> Result<Vec<LogoutDelivery>>;
    /// Record how a claimed attempt ended; false when the claim is no longer held.
    async fn finish_logout_delivery(&self, id: &str, claim: &str, f: &Finish) -> Result<bool>;
    /// Delete deliveries finished before `before`; how many.
    async fn prune_logout_deliveries(&self, before: i64) -> Result<u64>;
}

/// Browser sessions (single sign-on) and the clients each logged in to.
#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn create_browser_session(&self, s: &BrowserSession) -> Result<()>;
    async fn get_browser_session(&self, id: &str) -> Result<BrowserSession>;
    async fn touch_browser_session(&self, id: &str, now: i64, idle_expires_at: i64) -> Result<()>;
    async fn renew_browser_session(&self, id: &str, l: &SessionLogin<'_>) -> Result<()>;
    async fn step_up_browser_session(&self, id: &str, amr: &str, mfa_time: i64) -> Result<()>;
    async fn recheck_browser_session(&self, id: &str, identity: &str, now: i64) -> Result<()>;
    async fn put_session_client(&self, c: &SessionClient) -> Result<()>;
    async fn session_clients(&self, session_id: &str) -> Result<Vec<SessionClient>>;
    /// `NotFound` when another request ended it first.
    async fn end_browser_session(&self, id: &str) -> Result<(BrowserSession, Vec<SessionClient>)>;
    async fn browser_sessions_of(
        &self,
        connector_id: &str,
        subject: &str,
    ) -> Result<Vec<BrowserSession>>;
    /// Ids of sessions over at `now`, at most `limit`.
    async fn expired_browser_sessions(&self, now: i64, limit: i64) -> Result<Vec<String>>;
}

/// Everything the protocol core keeps.
pub trait ProtocolStore:
    CodeStore
    + RefreshStore
    + DeviceStore
    + LoginStore
    + RecordStore
    + SessionStore
    + LogoutOutbox
    + std::fmt::Debug
{
}

impl<T> ProtocolStore for T where
    T: CodeStore
        + RefreshStore
        + DeviceStore
        + LoginStore
        + RecordStore
        + SessionStore
        + LogoutOutbox
        + std::fmt::Debug
{
}

#[async_trait]
/// Signing keys and the rotation schedule.
pub trait KeyStore: Send + Sync + std::fmt::Debug {
    /// All keys still published, newest first.
    async fn list_keys(&self, now: i64) -> Result<Vec<StoredKey>>;
    /// Every stored key, published or not: `(kid, private key as stored)`.
    async fn key_material(&self) -> Result<Vec<(String, Vec<u8>)>>;
    /// Store `new` for key `kid` if it still holds `old`; false when another replica changed it.
    async fn replace_key_material(&self, kid: &str, old: &[u8], new: &[u8]) -> Result<bool>;
    /// `(next_rotation, version)` of the rotation schedule, if any key was ever made.
    async fn rotation_state(&self) -> Result<Option<(i64, i64)>>;
    /// Add `key` as the successor of the newest key if the schedule is still at `version`;
    /// false when another replica rotated first (then nothing changed).
    async fn claim_rotation(
        &self,
        version: Option<i64>,
        key: &StoredKey,
        next_rotation: i64,
        remove_old_at: i64,
    ) -> Result<bool>;
}

/// Where the connector finds database users and the upgrades of config hashes. Each method
/// is the `Db` method of the same name.
#[async_trait]
pub trait PasswordStore: Send + Sync + std::fmt::Debug {
    async fn get_password(&self, email: &str) -> Result<Option<PasswordRow>>;
    /// Replace the hash of a database user if it is still `old`.
    async fn upgrade_password_hash(&self, email: &str, old: &str, new: &str) -> Result<()>;
    /// The argon2id replacement of a config hash, if the config still holds that hash.
    async fn get_password_upgrade(
        &self,
        email: &str,
        source_digest: &str,
    ) -> Result<Option<String>>;
    async fn put_password_upgrade(
        &self,
        email: &str,
        source_digest: &str,
        hash: &str,
    ) -> Result<()>;
}
