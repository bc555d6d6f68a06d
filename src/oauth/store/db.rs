//! The database behind the protocol core's store traits: each method is the `Db` method of
//! the same name.

use async_trait::async_trait;

use super::{CodeStore, DeviceStore, LoginStore, RecordStore, RefreshStore};
use crate::storage::audit::NewAuditEvent;
use crate::storage::auth::{AuthCode, AuthRequest};
use crate::storage::device::DeviceRequest;
use crate::storage::refresh::RefreshToken;
use crate::storage::upstream::UpstreamLogin;
use crate::storage::{Db, Result};

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
    async fn set_auth_request_identity(
        &self,
        id: &str,
        connector_id: &str,
        identity_json: &str,
        browser_hash: &str,
        now: i64,
    ) -> Result<()> {
        Db::set_auth_request_identity(self, id, connector_id, identity_json, browser_hash, now)
            .await
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
        now: i64,
    ) -> Result<bool> {
        Db::decide_device(self, device_code_hash, approved, identity, now).await
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
    async fn is_jti_revoked(&self, jti: &str) -> Result<bool> {
        Db::is_jti_revoked(self, jti).await
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
