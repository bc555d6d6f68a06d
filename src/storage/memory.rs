//! The stores in memory: what its unit tests run on, with the same
//! compare-and-set answers as the database. One lock over plain maps; nothing is swept, so it
//! suits tests and short-lived processes, not a server.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use super::audit::{AuditEvent, NewAuditEvent};
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
use super::{Result, StorageError};

#[derive(Debug, Default)]
struct State {
    /// With the address each was started from.
    auth_requests: HashMap<String, (AuthRequest, Option<String>)>,
    auth_codes: HashMap<String, AuthCode>,
    refresh: HashMap<String, RefreshToken>,
    devices: HashMap<String, DeviceRequest>,
    upstream: HashMap<String, UpstreamLogin>,
    assertions: HashMap<String, i64>,
    revoked: HashMap<String, i64>,
    audit: Vec<AuditEvent>,
    groups: BTreeMap<String, i64>,
    token_floors: HashMap<String, i64>,
    subject_floors: HashMap<String, i64>,
    keys: Vec<StoredKey>,
    rotation: Option<(i64, i64)>,
    passwords: HashMap<String, PasswordRow>,
    /// email → (digest of the config hash it replaces, argon2id hash).
    upgrades: HashMap<String, (String, String)>,
    sessions: HashMap<String, BrowserSession>,
    session_clients: BTreeMap<(String, String), SessionClient>,
    /// Back-channel logout deliveries, with the claim that holds each.
    logout_deliveries: Vec<(LogoutDelivery, String)>,
}

#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panicking test holds no invariant the others need: keep going with its data.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The audit events appended so far, oldest first.
    pub fn audit_events(&self) -> Vec<AuditEvent> {
        self.state().audit.clone()
    }

    /// Every refresh token of a family, in no particular order.
    pub fn refresh_family(&self, family_id: &str) -> Vec<RefreshToken> {
        let s = self.state();
        s.refresh
            .values()
            .filter(|t| t.family_id == family_id)
            .cloned()
            .collect()
    }

    /// Refuse this client's tokens issued at or before `at` (what a secret rotation does).
    pub fn set_client_token_floor(&self, client_id: &str, at: i64) {
        self.state().token_floors.insert(client_id.to_string(), at);
    }

    /// Every back-channel logout delivery, in the order queued.
    pub fn logout_deliveries(&self) -> Vec<LogoutDelivery> {
        self.state()
            .logout_deliveries
            .iter()
            .map(|(d, _)| d.clone())
            .collect()
    }

    /// Add a database user (`enablePasswordDB`).
    pub fn put_password(&self, row: PasswordRow) {
        self.state().passwords.insert(row.email.to_lowercase(), row);
    }
}

/// A key stored twice: on the database, a unique constraint's error.
fn duplicate() -> StorageError {
    StorageError::Corrupt("duplicate key".into())
}

#[async_trait]
impl CodeStore for MemoryStore {
    async fn create_auth_request_from(
        &self,
        r: &AuthRequest,
        client_key: Option<&str>,
        cap: u32,
    ) -> Result<bool> {
        let mut s = self.state();
        if cap > 0 {
            let open = s
                .auth_requests
                .values()
                .filter(|(q, key)| {
                    key.as_deref() == client_key
                        && q.identity.is_none()
                        && q.expires_at > r.created_at
                })
                .count();
            if open >= cap as usize {
                return Ok(false);
            }
        }
        if s.auth_requests.contains_key(&r.id) {
            return Err(duplicate());
        }
        s.auth_requests
            .insert(r.id.clone(), (r.clone(), client_key.map(str::to_string)));
        Ok(true)
    }

    async fn get_auth_request(&self, id: &str, now: i64) -> Result<AuthRequest> {
        self.state()
            .auth_requests
            .get(id)
            .filter(|(r, _)| r.expires_at > now)
            .map(|(r, _)| r.clone())
            .ok_or(StorageError::NotFound)
    }

    async fn set_auth_request_identity(&self, id: &str, l: &LoggedIn<'_>, now: i64) -> Result<()> {
        let mut s = self.state();
        let (r, _) = s
            .auth_requests
            .get_mut(id)
            .filter(|(r, _)| r.identity.is_none() && r.expires_at > now)
            .ok_or(StorageError::NotFound)?;
        r.identity = Some(l.identity.to_string());
        r.connector_id = Some(l.connector_id.to_string());
        r.logged_in_at = Some(now);
        r.browser_hash = Some(l.browser_hash.to_string());
        r.amr = l.amr.to_string();
        if let Some(m) = l.remember {
            r.remember = i64::from(m);
        }
        Ok(())
    }

    async fn exchange_request_for_code(&self, request_id: &str, c: &AuthCode) -> Result<()> {
        let mut s = self.state();
        if s.auth_codes.contains_key(&c.code_hash) {
            return Err(duplicate());
        }
        s.auth_requests
            .remove(request_id)
            .ok_or(StorageError::NotFound)?;
        s.auth_codes.insert(
            c.code_hash.clone(),
            AuthCode {
                used_at: None,
                access_jti: None,
                access_expires_at: None,
                refresh_family: None,
                ..c.clone()
            },
        );
        Ok(())
    }

    async fn delete_auth_request(&self, id: &str) -> Result<()> {
        self.state().auth_requests.remove(id);
        Ok(())
    }

    async fn get_auth_code(&self, code_hash: &str) -> Result<AuthCode> {
        self.state()
            .auth_codes
            .get(code_hash)
            .cloned()
            .ok_or(StorageError::NotFound)
    }

    async fn get_auth_code_fresh(&self, code_hash: &str) -> Result<AuthCode> {
        CodeStore::get_auth_code(self, code_hash).await
    }

    async fn claim_auth_code(&self, code_hash: &str, now: i64) -> Result<bool> {
        let mut s = self.state();
        match s.auth_codes.get_mut(code_hash) {
            Some(c) if c.used_at.is_none() => {
                c.used_at = Some(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn redeem_auth_code(
        &self,
        code_hash: &str,
        now: i64,
        access_jti: &str,
        access_expires_at: i64,
        refresh_family: Option<&str>,
    ) -> Result<bool> {
        let mut s = self.state();
        match s.auth_codes.get_mut(code_hash) {
            Some(c) if c.used_at.is_none() => {
                c.used_at = Some(now);
                c.access_jti = Some(access_jti.to_string());
                c.access_expires_at = Some(access_expires_at);
                c.refresh_family = refresh_family.map(str::to_string);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

#[async_trait]
impl RefreshStore for MemoryStore {
    async fn create_refresh_token(&self, t: &RefreshToken) -> Result<()> {
        let mut s = self.state();
        if s.refresh.contains_key(&t.id) {
            return Err(duplicate());
        }
        s.refresh.insert(t.id.clone(), t.clone());
        Ok(())
    }

    async fn get_refresh_token(&self, id: &str) -> Result<RefreshToken> {
        self.state()
            .refresh
            .get(id)
            .cloned()
            .ok_or(StorageError::NotFound)
    }

    async fn rotate_refresh_token(
        &self,
        old_id: &str,
        next: &RefreshToken,
        now: i64,
    ) -> Result<bool> {
        let mut s = self.state();
        match s.refresh.get_mut(old_id) {
            Some(old) if old.rotated_at.is_none() && old.revoked_at.is_none() => {
                old.rotated_at = Some(now);
                old.successor_id = Some(next.id.clone());
                old.last_used_at = now;
            }
            _ => return Ok(false),
        }
        s.refresh.insert(next.id.clone(), next.clone());
        Ok(true)
    }

    async fn touch_refresh_token(&self, id: &str, identity: &str, now: i64) -> Result<()> {
        if let Some(t) = self.state().refresh.get_mut(id) {
            t.last_used_at = now;
            t.identity = identity.to_string();
        }
        Ok(())
    }

    async fn revoke_refresh_family(&self, family_id: &str, now: i64) -> Result<()> {
        for t in self.state().refresh.values_mut() {
            if t.family_id == family_id && t.revoked_at.is_none() {
                t.revoked_at = Some(now);
            }
        }
        Ok(())
    }

    async fn revoke_refresh_for_subject(
        &self,
        client_id: &str,
        subject: &str,
        now: i64,
    ) -> Result<u64> {
        let mut n = 0;
        for t in self.state().refresh.values_mut() {
            if t.client_id == client_id && t.subject == subject && t.revoked_at.is_none() {
                t.revoked_at = Some(now);
                n += 1;
            }
        }
        Ok(n)
    }
}

#[async_trait]
impl DeviceStore for MemoryStore {
    async fn create_device_request(&self, r: &DeviceRequest) -> Result<()> {
        let mut s = self.state();
        let taken = s.devices.contains_key(&r.device_code_hash)
            || s.devices.values().any(|d| d.user_code == r.user_code);
        if taken {
            return Err(duplicate());
        }
        s.devices.insert(r.device_code_hash.clone(), r.clone());
        Ok(())
    }

    async fn device_by_code(&self, device_code_hash: &str) -> Result<DeviceRequest> {
        self.state()
            .devices
            .get(device_code_hash)
            .cloned()
            .ok_or(StorageError::NotFound)
    }

    async fn pending_device_by_user_code(
        &self,
        user_code: &str,
        now: i64,
    ) -> Result<DeviceRequest> {
        self.state()
            .devices
            .values()
            .find(|d| d.user_code == user_code && d.status == "pending" && d.expires_at > now)
            .cloned()
            .ok_or(StorageError::NotFound)
    }

    async fn poll_device(&self, device_code_hash: &str, now: i64) -> Result<Option<i64>> {
        let mut s = self.state();
        let d = s
            .devices
            .get_mut(device_code_hash)
            .ok_or(StorageError::NotFound)?;
        Ok(d.last_poll_at.replace(now))
    }

    async fn slow_device(&self, device_code_hash: &str, by: i64) -> Result<()> {
        if let Some(d) = self.state().devices.get_mut(device_code_hash) {
            d.interval_secs += by;
        }
        Ok(())
    }

    async fn decide_device(
        &self,
        device_code_hash: &str,
        approved: bool,
        identity: Option<&str>,
        (auth_time, amr): (i64, &str),
        now: i64,
    ) -> Result<bool> {
        let mut s = self.state();
        match s.devices.get_mut(device_code_hash) {
            Some(d) if d.status == "pending" && d.expires_at > now => {
                d.status = if approved { "approved" } else { "denied" }.into();
                d.identity = identity.map(str::to_string);
                d.auth_time = Some(auth_time);
                d.amr = amr.to_string();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn consume_device(&self, device_code_hash: &str) -> Result<bool> {
        let mut s = self.state();
        match s.devices.get_mut(device_code_hash) {
            Some(d) if d.status == "approved" => {
                d.status = "used".into();
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

#[async_trait]
impl LoginStore for MemoryStore {
    async fn create_upstream_login(&self, l: &UpstreamLogin) -> Result<()> {
        let mut s = self.state();
        if s.upstream.contains_key(&l.state_hash) {
            return Err(duplicate());
        }
        s.upstream.insert(
            l.state_hash.clone(),
            UpstreamLogin {
                identity: None,
                ..l.clone()
            },
        );
        Ok(())
    }

    async fn take_upstream_login(&self, state_hash: &str, now: i64) -> Result<UpstreamLogin> {
        self.state()
            .upstream
            .remove(state_hash)
            .filter(|l| l.expires_at > now)
            .ok_or(StorageError::NotFound)
    }

    async fn get_upstream_login(&self, state_hash: &str, now: i64) -> Result<UpstreamLogin> {
        self.state()
            .upstream
            .get(state_hash)
            .filter(|l| l.expires_at > now)
            .cloned()
            .ok_or(StorageError::NotFound)
    }

    async fn set_upstream_identity(&self, state_hash: &str, identity_json: &str) -> Result<()> {
        let mut s = self.state();
        let l = s
            .upstream
            .get_mut(state_hash)
            .filter(|l| l.identity.is_none())
            .ok_or(StorageError::NotFound)?;
        l.identity = Some(identity_json.to_string());
        Ok(())
    }

    async fn first_use_of_assertion(&self, id_hash: &str, expires_at: i64) -> Result<bool> {
        let mut s = self.state();
        if s.assertions.contains_key(id_hash) {
            return Ok(false);
        }
        s.assertions.insert(id_hash.to_string(), expires_at);
        Ok(true)
    }
}

#[async_trait]
impl RecordStore for MemoryStore {
    async fn revoke_jti(&self, jti: &str, expires_at: i64) -> Result<()> {
        self.state()
            .revoked
            .entry(jti.to_string())
            .or_insert(expires_at);
        Ok(())
    }

    async fn is_access_revoked(&self, jti: &str, subject: &str, iat: i64) -> Result<bool> {
        let s = self.state();
        Ok(s.revoked.contains_key(jti) || s.subject_floors.get(subject).is_some_and(|f| iat <= *f))
    }

    async fn raise_subject_token_floor(&self, subject: &str, at: i64) -> Result<()> {
        let mut s = self.state();
        let floor = s.subject_floors.entry(subject.to_string()).or_insert(at);
        *floor = (*floor).max(at);
        Ok(())
    }

    async fn append_audit(&self, e: NewAuditEvent<'_>) -> Result<i64> {
        let mut s = self.state();
        let id = s.audit.len() as i64 + 1;
        s.audit.push(AuditEvent {
            id,
            at: e.at,
            actor: e.actor.into(),
            action: e.action.into(),
            target: e.target.into(),
            outcome: e.outcome.into(),
            detail: e.detail.into(),
            request_id: e.request_id.into(),
        });
        Ok(id)
    }

    async fn record_groups(&self, groups: &[String], now: i64) -> Result<()> {
        let mut s = self.state();
        for g in groups {
            s.groups.insert(g.clone(), now);
        }
        Ok(())
    }

    async fn client_token_floor(&self, client_id: &str) -> Result<i64> {
        Ok(self
            .state()
            .token_floors
            .get(client_id)
            .copied()
            .unwrap_or(0))
    }
}

#[async_trait]
impl LogoutOutbox for MemoryStore {
    async fn queue_logout_deliveries(&self, rows: &[NewLogoutDelivery]) -> Result<u64> {
        let mut s = self.state();
        let mut added = 0;
        for r in rows {
            if s.logout_deliveries
                .iter()
                .any(|(d, _)| d.sid == r.sid && d.client_id == r.client_id)
            {
                continue;
            }
            s.logout_deliveries.push((
                LogoutDelivery {
                    id: r.id.clone(),
                    client_id: r.client_id.clone(),
                    sid: r.sid.clone(),
                    subject: r.subject.clone(),
                    created_at: r.created_at,
                    attempts: 0,
                    next_attempt_at: r.created_at,
                    delivered_at: None,
                    gave_up_at: None,
                    last_error: String::new(),
                },
                String::new(),
            ));
            added += 1;
        }
        Ok(added)
    }

    async fn claim_logout_deliveries(
        &self,
        now: i64,
        until: i64,
        claim: &str,
        limit: i64,
    ) -> Result<Vec<LogoutDelivery>> {
        let mut s = self.state();
        let mut due: Vec<&mut (LogoutDelivery, String)> = s
            .logout_deliveries
            .iter_mut()
            .filter(|(d, _)| {
                d.delivered_at.is_none() && d.gave_up_at.is_none() && d.next_attempt_at <= now
            })
            .collect();
        due.sort_by_key(|(d, _)| d.next_attempt_at);
        Ok(due
            .into_iter()
            .take(usize::try_from(limit).unwrap_or(0))
            .map(|(d, held)| {
                d.attempts += 1;
                d.next_attempt_at = until;
                *held = claim.to_string();
                d.clone()
            })
            .collect())
    }

    async fn finish_logout_delivery(&self, id: &str, claim: &str, f: &Finish) -> Result<bool> {
        let mut s = self.state();
        let Some((d, _)) = s.logout_deliveries.iter_mut().find(|(d, held)| {
            d.id == id && held == claim && d.delivered_at.is_none() && d.gave_up_at.is_none()
        }) else {
            return Ok(false);
        };
        match f {
            Finish::Delivered { at } => {
                d.delivered_at = Some(*at);
                d.last_error.clear();
            }
            Finish::RetryAt { at, error } => {
                d.next_attempt_at = *at;
                d.last_error = error.clone();
            }
            Finish::GaveUp { at, error } => {
                d.gave_up_at = Some(*at);
                d.last_error = error.clone();
            }
        }
        Ok(true)
    }

    async fn prune_logout_deliveries(&self, before: i64) -> Result<u64> {
        let mut s = self.state();
        let n = s.logout_deliveries.len();
        s.logout_deliveries.retain(|(d, _)| {
            !(d.delivered_at.is_some_and(|t| t <= before)
                || d.gave_up_at.is_some_and(|t| t <= before))
        });
        Ok((n - s.logout_deliveries.len()) as u64)
    }
}

#[async_trait]
impl KeyStore for MemoryStore {
    async fn list_keys(&self, now: i64) -> Result<Vec<StoredKey>> {
        let mut keys: Vec<StoredKey> = self
            .state()
            .keys
            .iter()
            .filter(|k| k.remove_at.is_none_or(|at| at > now))
            .cloned()
            .collect();
        keys.sort_by(|a, b| {
            (b.active_from, b.created_at, &b.kid).cmp(&(a.active_from, a.created_at, &a.kid))
        });
        Ok(keys)
    }

    async fn key_material(&self) -> Result<Vec<(String, Vec<u8>)>> {
        let mut all: Vec<(String, Vec<u8>)> = self
            .state()
            .keys
            .iter()
            .map(|k| (k.kid.clone(), k.private_der.clone()))
            .collect();
        all.sort();
        Ok(all)
    }

    async fn replace_key_material(&self, kid: &str, old: &[u8], new: &[u8]) -> Result<bool> {
        let mut s = self.state();
        match s
            .keys
            .iter_mut()
            .find(|k| k.kid == kid && k.private_der == old)
        {
            Some(k) => {
                k.private_der = new.to_vec();
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn rotation_state(&self) -> Result<Option<(i64, i64)>> {
        Ok(self.state().rotation)
    }

    async fn claim_rotation(
        &self,
        version: Option<i64>,
        key: &StoredKey,
        next_rotation: i64,
        remove_old_at: i64,
    ) -> Result<bool> {
        let mut s = self.state();
        let claimed = match (version, s.rotation) {
            (None, None) => Some(1),
            (Some(v), Some((_, current))) if v == current => Some(v + 1),
            _ => None,
        };
        let Some(v) = claimed else {
            return Ok(false);
        };
        s.rotation = Some((next_rotation, v));
        for k in s.keys.iter_mut().filter(|k| k.retired_at.is_none()) {
            k.retired_at = Some(key.active_from);
            k.remove_at = Some(remove_old_at);
        }
        s.keys.push(StoredKey {
            retired_at: None,
            remove_at: None,
            ..key.clone()
        });
        Ok(true)
    }
}

#[async_trait]
impl PasswordStore for MemoryStore {
    async fn get_password(&self, email: &str) -> Result<Option<PasswordRow>> {
        Ok(self.state().passwords.get(&email.to_lowercase()).cloned())
    }

    async fn upgrade_password_hash(&self, email: &str, old: &str, new: &str) -> Result<()> {
        if let Some(p) = self
            .state()
            .passwords
            .get_mut(&email.to_lowercase())
            .filter(|p| p.hash == old)
        {
            p.hash = new.to_string();
        }
        Ok(())
    }

    async fn get_password_upgrade(
        &self,
        email: &str,
        source_digest: &str,
    ) -> Result<Option<String>> {
        Ok(self
            .state()
            .upgrades
            .get(&email.to_lowercase())
            .filter(|(digest, _)| digest == source_digest)
            .map(|(_, hash)| hash.clone()))
    }

    async fn put_password_upgrade(
        &self,
        email: &str,
        source_digest: &str,
        hash: &str,
    ) -> Result<()> {
        self.state().upgrades.insert(
            email.to_lowercase(),
            (source_digest.to_string(), hash.to_string()),
        );
        Ok(())
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn create_browser_session(&self, s: &BrowserSession) -> Result<()> {
        self.state().sessions.insert(s.id.clone(), s.clone());
        Ok(())
    }
    async fn get_browser_session(&self, id: &str) -> Result<BrowserSession> {
        self.state()
            .sessions
            .get(id)
            .cloned()
            .ok_or(StorageError::NotFound)
    }
    async fn touch_browser_session(&self, id: &str, now: i64, idle_expires_at: i64) -> Result<()> {
        if let Some(s) = self.state().sessions.get_mut(id) {
            s.last_seen_at = now;
            s.idle_expires_at = idle_expires_at.min(s.expires_at);
        }
        Ok(())
    }
    async fn renew_browser_session(&self, id: &str, l: &SessionLogin<'_>) -> Result<()> {
        let mut st = self.state();
        let s = st.sessions.get_mut(id).ok_or(StorageError::NotFound)?;
        s.identity = l.identity.to_string();
        s.auth_time = l.auth_time;
        s.amr = l.amr.to_string();
        s.mfa_time = l.mfa_time.or(s.mfa_time);
        s.remember = i64::from(l.remember);
        s.checked_at = l.now;
        s.address = l.address.to_string();
        s.user_agent = l.user_agent.to_string();
        s.last_seen_at = l.now;
        s.idle_expires_at = l.idle_expires_at.min(s.expires_at);
        Ok(())
    }
    async fn step_up_browser_session(&self, id: &str, amr: &str, mfa_time: i64) -> Result<()> {
        if let Some(s) = self.state().sessions.get_mut(id) {
            s.amr = amr.to_string();
            s.mfa_time = Some(mfa_time);
        }
        Ok(())
    }
    async fn recheck_browser_session(&self, id: &str, identity: &str, now: i64) -> Result<()> {
        if let Some(s) = self.state().sessions.get_mut(id) {
            s.identity = identity.to_string();
            s.checked_at = now;
        }
        Ok(())
    }
    async fn put_session_client(&self, c: &SessionClient) -> Result<()> {
        self.state()
            .session_clients
            .insert((c.session_id.clone(), c.client_id.clone()), c.clone());
        Ok(())
    }
    async fn session_clients(&self, session_id: &str) -> Result<Vec<SessionClient>> {
        let mut v: Vec<SessionClient> = self
            .state()
            .session_clients
            .values()
            .filter(|c| c.session_id == session_id)
            .cloned()
            .collect();
        v.sort_by_key(|c| c.authenticated_at);
        Ok(v)
    }
    async fn end_browser_session(&self, id: &str) -> Result<(BrowserSession, Vec<SessionClient>)> {
        let mut st = self.state();
        let s = st.sessions.remove(id).ok_or(StorageError::NotFound)?;
        let mut clients = Vec::new();
        st.session_clients.retain(|(sid, _), c| {
            if sid == id {
                clients.push(c.clone());
                false
            } else {
                true
            }
        });
        clients.sort_by_key(|c| c.authenticated_at);
        Ok((s, clients))
    }
    async fn browser_sessions_of(
        &self,
        connector_id: &str,
        subject: &str,
    ) -> Result<Vec<BrowserSession>> {
        let mut v: Vec<BrowserSession> = self
            .state()
            .sessions
            .values()
            .filter(|s| s.connector_id == connector_id && s.subject == subject)
            .cloned()
            .collect();
        v.sort_by_key(|s| std::cmp::Reverse(s.created_at));
        Ok(v)
    }
    async fn expired_browser_sessions(&self, now: i64, limit: i64) -> Result<Vec<String>> {
        Ok(self
            .state()
            .sessions
            .values()
            .filter(|s| s.ended(now).is_some())
            .take(usize::try_from(limit).unwrap_or(0))
            .map(|s| s.id.clone())
            .collect())
    }
}
