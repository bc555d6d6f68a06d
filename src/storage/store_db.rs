//! The database behind the store traits: each method is the `Db` method of the same name.

use async_trait::async_trait;

use super::audit::NewAuditEvent;
use super::auth::{AuthCode, AuthRequest, LoggedIn};
use super::device::DeviceRequest;
use super::keys::StoredKey;
use super::logout_outbox::{Finish, LogoutDelivery, NewLogoutDelivery};
use super::passwords::PasswordRow;
use super::refresh::RefreshToken;
use super::sessions::{BrowserSession, SessionClient, SessionLogin};
use super::store::{
    CodeStore, DeviceStore, KeyStore, LoginStore, LogoutOutbox, PasswordStore, RecordStore,
    RefreshStore, SessionStore,
};
use super::upstream::UpstreamLogin;
use super::{Db, Result};

#[async_trait]
impl CodeStore for Db {
    async fn create_auth_request_from(
        &self,
        r: &AuthRequest,
        client_key: Option<&str>,
        cap: u32,
    ) -> Result<bool> {
        Db::create_auth_request_from(self, r, client_key, cap).await
    }
    async fn get_auth_request(&self, id: &str, now: i64) -> Result<AuthRequest> {
        Db::get_auth_request(self, id, now).await
    }
    async fn set_auth_request_identity(&self, id: &str, l: &LoggedIn<'_>, now: i64) -> Result<()> {
        Db::set_auth_request_identity(self, id, l, now).await
    }
    async fn exchange_request_for_code(&self, request_id: &str, c: &AuthCode) -> Result<()> {
        Db::exchange_request_for_code(self, request_id, c).await
    }
    async fn delete_auth_request(&self, id: &str) -> Result<()> {
        Db::delete_auth_request(self, id).await
    }
    async fn get_auth_code(&self, code_hash: &str) -> Result<AuthCode> {
        Db::get_auth_code(self, code_hash).await
    }
    async fn get_auth_code_fresh(&self, code_hash: &str) -> Result<AuthCode> {
        Db::get_auth_code_fresh(self, code_hash).await
    }
    async fn claim_auth_code(&self, code_hash: &str, now: i64) -> Result<bool> {
        Db::claim_auth_code(self, code_hash, now).await
    }
    async fn redeem_auth_code(
        &self,
        code_hash: &str,
        now: i64,
        access_jti: &str,
        access_expires_at: i64,
        refresh_family: Option<&str>,
    ) -> Result<bool> {
        Db::redeem_auth_code(
            self,
            code_hash,
            now,
            access_jti,
            access_expires_at,
            refresh_family,
        )
        .await
    }
}

#[async_trait]
impl RefreshStore for Db {
    async fn create_refresh_token(&self, t: &RefreshToken) -> Result<()> {
        Db::create_refresh_token(self, t).await
    }
    async fn get_refresh_token(&self, id: &str) -> Result<RefreshToken> {
        Db::get_refresh_token(self, id).await
    }
    async fn rotate_refresh_token(
        &self,
        old_id: &str,
        next: &RefreshToken,
        now: i64,
    ) -> Result<bool> {
        Db::rotate_refresh_token(self, old_id, next, now).await
    }
    async fn touch_refresh_token(&self, id: &str, identity: &str, now: i64) -> Result<()> {
        Db::touch_refresh_token(self, id, identity, now).await
    }
    async fn revoke_refresh_family(&self, family_id: &str, now: i64) -> Result<()> {
        Db::revoke_refresh_family(self, family_id, now).await
    }
    async fn revoke_refresh_for_subject(
        &self,
        client_id: &str,
        subject: &str,
        now: i64,
    ) -> Result<u64> {
        Db::revoke_refresh_for_subject(self, client_id, subject, now).await
    }
}

#[async_trait]
impl DeviceStore for Db {
    async fn create_device_request(&self, r: &DeviceRequest) -> Result<()> {
        Db::create_device_request(self, r).await
    }
    async fn device_by_code(&self, device_code_hash: &str) -> Result<DeviceRequest> {
        Db::device_by_code(self, device_code_hash).await
    }
    async fn pending_device_by_user_code(
        &self,
        user_code: &str,
        now: i64,
    ) -> Result<DeviceRequest> {
        Db::pending_device_by_user_code(self, user_code, now).await
    }
    async fn poll_device(&self, device_code_hash: &str, now: i64) -> Result<Option<i64>> {
        Db::poll_device(self, device_code_hash, now).await
    }
    async fn slow_device(&self, device_code_hash: &str, by: i64) -> Result<()> {
        Db::slow_device(self, device_code_hash, by).await
    }
    async fn decide_device(
        &self,
        device_code_hash: &str,
        approved: bool,
        identity: Option<&str>,
        login: (i64, &str),
        now: i64,
    ) -> Result<bool> {
        Db::decide_device(self, device_code_hash, approved, identity, login, now).await
    }
    async fn consume_device(&self, device_code_hash: &str) -> Result<bool> {
        Db::consume_device(self, device_code_hash).await
    }
}

#[async_trait]
impl LoginStore for Db {
    async fn create_upstream_login(&self, l: &UpstreamLogin) -> Result<()> {
        Db::create_upstream_login(self, l).await
    }
    async fn take_upstream_login(&self, state_hash: &str, now: i64) -> Result<UpstreamLogin> {
        Db::take_upstream_login(self, state_hash, now).await
    }
    async fn get_upstream_login(&self, state_hash: &str, now: i64) -> Result<UpstreamLogin> {
        Db::get_upstream_login(self, state_hash, now).await
    }
    async fn set_upstream_identity(&self, state_hash: &str, identity_json: &str) -> Result<()> {
        Db::set_upstream_identity(self, state_hash, identity_json).await
    }
    async fn first_use_of_assertion(&self, id_hash: &str, expires_at: i64) -> Result<bool> {
        Db::first_use_of_assertion(self, id_hash, expires_at).await
    }
}

#[async_trait]
impl RecordStore for Db {
    async fn revoke_jti(&self, jti: &str, expires_at: i64) -> Result<()> {
        Db::revoke_jti(self, jti, expires_at).await
    }
    async fn is_access_revoked(&self, jti: &str, subject: &str, iat: i64) -> Result<bool> {
        Db::is_access_revoked(self, jti, subject, iat).await
    }
    async fn raise_subject_token_floor(&self, subject: &str, at: i64) -> Result<()> {
        Db::raise_subject_token_floor(self, subject, at).await
    }
    async fn append_audit(&self, e: NewAuditEvent<'_>) -> Result<i64> {
        Db::append_audit(self, e).await
    }
    async fn record_groups(&self, groups: &[String], now: i64) -> Result<()> {
        Db::record_groups(self, groups, now).await
    }
    async fn client_token_floor(&self, client_id: &str) -> Result<i64> {
        Db::client_token_floor(self, client_id).await
    }
}

#[async_trait]
impl KeyStore for Db {
    async fn list_keys(&self, now: i64) -> Result<Vec<StoredKey>> {
        Db::list_keys(self, now).await
    }

    async fn key_material(&self) -> Result<Vec<(String, Vec<u8>)>> {
        Db::key_material(self).await
    }

    async fn replace_key_material(&self, kid: &str, old: &[u8], new: &[u8]) -> Result<bool> {
        Db::replace_key_material(self, kid, old, new).await
    }

    async fn rotation_state(&self) -> Result<Option<(i64, i64)>> {
        Db::rotation_state(self).await
    }

    async fn claim_rotation(
        &self,
        version: Option<i64>,
        key: &StoredKey,
        next_rotation: i64,
        remove_old_at: i64,
    ) -> Result<bool> {
        Db::claim_rotation(self, version, key, next_rotation, remove_old_at).await
    }
}

#[async_trait]
impl PasswordStore for Db {
    async fn get_password(&self, email: &str) -> Result<Option<PasswordRow>> {
        Db::get_password(self, email).await
    }

    async fn upgrade_password_hash(&self, email: &str, old: &str, new: &str) -> Result<()> {
        Db::upgrade_password_hash(self, email, old, new).await
    }

    async fn get_password_upgrade(
        &self,
        email: &str,
        source_digest: &str,
    ) -> Result<Option<String>> {
        Db::get_password_upgrade(self, email, source_digest).await
    }

    async fn put_password_upgrade(
        &self,
        email: &str,
        source_digest: &str,
        hash: &str,
    ) -> Result<()> {
        Db::put_password_upgrade(self, email, source_digest, hash).await
    }
}

#[async_trait]
impl SessionStore for Db {
    async fn create_browser_session(&self, s: &BrowserSession) -> Result<()> {
        Db::create_browser_session(self, s).await
    }
    async fn get_browser_session(&self, id: &str) -> Result<BrowserSession> {
        Db::get_browser_session(self, id).await
    }
    async fn touch_browser_session(&self, id: &str, now: i64, idle_expires_at: i64) -> Result<()> {
        Db::touch_browser_session(self, id, now, idle_expires_at).await
    }
    async fn renew_browser_session(&self, id: &str, l: &SessionLogin<'_>) -> Result<()> {
        Db::renew_browser_session(self, id, l).await
    }
    async fn step_up_browser_session(&self, id: &str, amr: &str, mfa_time: i64) -> Result<()> {
        Db::step_up_browser_session(self, id, amr, mfa_time).await
    }
    async fn recheck_browser_session(&self, id: &str, identity: &str, now: i64) -> Result<()> {
        Db::recheck_browser_session(self, id, identity, now).await
    }
    async fn put_session_client(&self, c: &SessionClient) -> Result<()> {
        Db::put_session_client(self, c).await
    }
    async fn session_clients(&self, session_id: &str) -> Result<Vec<SessionClient>> {
        Db::session_clients(self, session_id).await
    }
    async fn end_browser_session(&self, id: &str) -> Result<(BrowserSession, Vec<SessionClient>)> {
        Db::end_browser_session(self, id).await
    }
    async fn browser_sessions_of(
        &self,
        connector_id: &str,
        subject: &str,
    ) -> Result<Vec<BrowserSession>> {
        Db::browser_sessions_of(self, connector_id, subject).await
    }
    async fn expired_browser_sessions(&self, now: i64, limit: i64) -> Result<Vec<String>> {
        Db::expired_browser_sessions(self, now, limit).await
    }
}

#[async_trait]
impl LogoutOutbox for Db {
    async fn queue_logout_deliveries(&self, rows: &[NewLogoutDelivery]) -> Result<u64> {
        Db::queue_logout_deliveries(self, rows).await
    }
    async fn claim_logout_deliveries(
        &self,
        now: i64,
        until: i64,
        claim: &str,
        limit: i64,
    ) -> Result<Vec<LogoutDelivery>> {
        Db::claim_logout_deliveries(self, now, until, claim, limit).await
    }
    async fn finish_logout_delivery(&self, id: &str, claim: &str, f: &Finish) -> Result<bool> {
        Db::finish_logout_delivery(self, id, claim, f).await
    }
    async fn prune_logout_deliveries(&self, before: i64) -> Result<u64> {
        Db::prune_logout_deliveries(self, before).await
    }
}
