//! Browser sessions: one per signed-in browser, in the database so that every replica knows
//! it. A later authorization request from the same browser logs in without a form when the
//! session is live, was made through a connector the client accepts, and the client is one
//! the session logged in to or one a client it logged in to shares with (Dex's
//! `ssoSharedWith`, one way and never transitive).
//!
//! The cookie holds the session's id and a secret; only the secret's hash is stored, and the
//! id, which every token carries as `sid`, proves nothing on its own.

use std::net::IpAddr;

use aws_lc_rs::aead::{AES_128_GCM, AES_192_GCM, AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use serde_json::json;

use crate::identity::Identity;
use crate::oauth::Provider;
use crate::oauth::client::Client;
use crate::secret;
use crate::storage::sessions::{BrowserSession, SessionClient, SessionLogin};
use crate::storage::{StorageError, from_json, to_json};

/// How long a connector's word on a session's user holds before a silent login asks it again
/// (its refresh hook: the user still exists, is still allowed, groups as now).
pub const RECHECK_AFTER: i64 = 300;

/// The session cookie, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCookie {
    pub id: String,
    pub secret: String,
}

/// What the HTTP layer tells the protocol about the browser making a request.
#[derive(Debug, Clone, Default)]
pub struct Browser {
    /// The browser's CSRF cookie: a login is bound to the browser that holds it.
    pub csrf: String,
    /// The session cookie, when one was sent and decodes.
    pub session: Option<SessionCookie>,
    pub address: Option<IpAddr>,
    pub user_agent: String,
}

/// What the browser's session cookie becomes after a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CookieChange {
    /// Set it to this value, kept `max_age` seconds or (`None`) until the browser closes.
    Set {
        value: String,
        max_age: Option<i64>,
    },
    Clear,
}

/// The cookie value of a session: `id.secret`, or with a key, AES-GCM over that (a fresh
/// nonce first), base64url.
pub fn encode_cookie(c: &SessionCookie, key: Option<&[u8]>) -> String {
    let plain = format!("{}.{}", c.id, c.secret);
    let Some(key) = key else {
        return plain;
    };
    let Some(k) = aead_key(key) else {
        return plain;
    };
    let Ok(nonce_bytes) = <[u8; 12]>::try_from(secret::random_bytes(12)) else {
        return String::new();
    };
    let mut sealed = plain.into_bytes();
    if k.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce_bytes),
        Aad::empty(),
        &mut sealed,
    )
    .is_err()
    {
        return String::new();
    }
    let mut out = nonce_bytes.to_vec();
    out.extend_from_slice(&sealed);
    secret::b64(&out)
}

/// The session a cookie value names; `None` for anything that does not decode (or decrypt).
pub fn decode_cookie(value: &str, key: Option<&[u8]>) -> Option<SessionCookie> {
    if value.is_empty() || value.len() > 512 {
        return None;
    }
    let plain = match key {
        None => value.to_string(),
        Some(key) => {
            let k = aead_key(key)?;
            let mut raw = secret::b64_decode(value)?;
            if raw.len() < 12 + 16 {
                return None;
            }
            let body = raw.split_off(12);
            let nonce = Nonce::try_assume_unique_for_key(&raw).ok()?;
            let mut body = body;
            let opened = k.open_in_place(nonce, Aad::empty(), &mut body).ok()?;
            String::from_utf8(opened.to_vec()).ok()?
        }
    };
    let (id, secret) = plain.split_once('.')?;
    let ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 128
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    (ok(id) && ok(secret)).then(|| SessionCookie {
        id: id.to_string(),
        secret: secret.to_string(),
    })
}

fn aead_key(key: &[u8]) -> Option<LessSafeKey> {
    let alg = match key.len() {
        16 => &AES_128_GCM,
        24 => &AES_192_GCM,
        32 => &AES_256_GCM,
        _ => return None,
    };
    UnboundKey::new(alg, key).ok().map(LessSafeKey::new)
}

/// How a session may log in a request of a client without a form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reuse {
    /// The session logged in to this client before.
    Direct,
    /// A client the session logged in to shares with this one.
    Shared,
}

/// A session that ended, and the clients it had logged in to (for back-channel logout).
#[derive(Debug, Clone)]
pub struct Ended {
    pub session: BrowserSession,
    pub clients: Vec<SessionClient>,
}

impl Provider {
    /// The live session the browser's cookie names, if any. A cookie whose secret does not
    /// match is ignored; a session found over is ended (and its clients told).
    pub async fn live_session(
        &self,
        browser: &Browser,
    ) -> Result<Option<BrowserSession>, StorageError> {
        let Some(c) = browser.session.as_ref().filter(|_| self.sessions.enabled) else {
            return Ok(None);
        };
        let s = match self.store.get_browser_session(&c.id).await {
            Ok(s) => s,
            Err(StorageError::NotFound) => return Ok(None),
            Err(e) => return Err(e),
        };
        if !secret::ct_eq(&s.secret_hash, &secret::hash_secret(&c.secret)) {
            tracing::debug!("session cookie with a wrong secret ignored");
            return Ok(None);
        }
        // The session answers the browser that signed in: its cookie sent by another browser
        // (another User-Agent) is not used, and the attempt is recorded. This does not stop a
        // thief who copies the User-Agent as well; it stops a cookie pasted into another
        // browser or replayed by a script. A browser that updates itself signs in again.
        let agent = agent_of(browser);
        if s.user_agent != agent {
            self.audit(
                &s.subject,
                "session",
                &s.connector_id,
                "refused",
                serde_json::json!({
                    "reason": "the session cookie came from another browser",
                    "sid": s.id,
                    "address": browser.address,
                    "user_agent": agent,
                    "signed_in_with": s.user_agent,
                }),
            )
            .await;
            return Ok(None);
        }
        if let Some(why) = s.ended(self.clock.now()) {
            self.end_session(&s.id, why).await?;
            return Ok(None);
        }
        Ok(Some(s))
    }

    /// Whether session `s` may log in a request of `client` without a form, and how.
    pub(crate) async fn reuse_for(
        &self,
        s: &BrowserSession,
        client: &Client,
    ) -> Result<Option<Reuse>, StorageError> {
        if !client.connector_allowed(&s.connector_id) {
            return Ok(None);
        }
        let states = self.store.session_clients(&s.id).await?;
        if states.iter().any(|c| c.client_id == client.id) {
            return Ok(Some(Reuse::Direct));
        }
        // Only a client the user logged in to directly shares: SSO never chains.
        let shared = states.iter().filter(|c| c.via_sso == 0).any(|c| {
            self.clients
                .get(&c.client_id)
                .is_some_and(|src| src.shares_with(&client.id, self.sessions.sso_shared_with_all))
        });
        Ok(shared.then_some(Reuse::Shared))
    }

    /// The session's user as its connector sees them now: asked again when it last vouched
    /// more than [`RECHECK_AFTER`] ago. `None` when the session cannot log anyone in: the
    /// connector refused the user (the session is then ended) or could not answer.
    pub(crate) async fn session_user(
        &self,
        s: &BrowserSession,
    ) -> Result<Option<Identity>, StorageError> {
        let identity: Identity = from_json(&s.identity)?;
        let now = self.clock.now();
        if now - s.checked_at < RECHECK_AFTER {
            return Ok(Some(identity));
        }
        let Some(conn) = self.connector(&s.connector_id) else {
            self.end_session(&s.id, "connector removed").await?;
            return Ok(None);
        };
        let scopes = crate::connector::Scopes::of(&["openid".into(), "groups".into()]);
        match conn.refresh(&identity, scopes, now).await {
            Ok(fresh) => {
                self.store
                    .recheck_browser_session(&s.id, &to_json(&fresh)?, now)
                    .await?;
                Ok(Some(fresh))
            }
            Err(crate::connector::ConnectorError::Unavailable(cause)) => {
                // Fail closed without ending it: the directory may be back in a minute.
                tracing::warn!(error = %cause, "session login: connector unavailable");
                Ok(None)
            }
            Err(crate::connector::ConnectorError::Storage(e)) => Err(e),
            Err(e) => {
                tracing::info!(error = %e, "session ended: the connector refused its user");
                self.end_session(&s.id, "connector refused the user")
                    .await?;
                Ok(None)
            }
        }
    }

    /// Record a finished login in the browser's session: the session that logged it in, the
    /// browser's own session of the same user (renewed), or a new one. Returns the session's
    /// id and what the cookie becomes.
    pub(crate) async fn keep_session(
        &self,
        req: &crate::storage::auth::AuthRequest,
        identity: &Identity,
        browser: &Browser,
        scopes: &str,
    ) -> Result<Option<(String, Option<CookieChange>)>, StorageError> {
        if !self.sessions.enabled {
            return Ok(None);
        }
        let now = self.clock.now();
        let idle = now + self.sessions.valid_if_not_used_for;
        let second_factor = has_second_factor(&req.amr);
        let current = self.live_session(browser).await?;
        // A silent login: the session that gave it.
        if let Some(sid) = &req.session_id {
            let Some(s) = current.filter(|s| &s.id == sid) else {
                // The session ended between the request and its approval.
                return Ok(None);
            };
            let states = self.store.session_clients(sid).await?;
            let prior = states.iter().find(|c| c.client_id == req.client_id);
            self.store
                .put_session_client(&SessionClient {
                    session_id: sid.clone(),
                    client_id: req.client_id.clone(),
                    authenticated_at: prior.map_or(s.auth_time, |c| c.authenticated_at),
                    via_sso: prior.map_or(1, |c| c.via_sso),
                    last_issued_at: now,
                    scopes: union(prior.map_or("", |c| c.scopes.as_str()), scopes),
                })
                .await?;
            self.store.touch_browser_session(sid, now, idle).await?;
            if req.amr != s.amr && second_factor {
                self.store
                    .step_up_browser_session(sid, &req.amr, now)
                    .await?;
            }
            return Ok(Some((sid.clone(), None)));
        }
        let connector = req.connector_id.clone().unwrap_or_default();
        let subject = identity.subject();
        let json = to_json(identity)?;
        let remember = req.remember != 0;
        let address = browser.address.map(|a| a.to_string()).unwrap_or_default();
        let agent = agent_of(browser);
        let auth_time = req.logged_in_at.unwrap_or(now);
        let mfa_time = second_factor.then_some(now);
        let (sid, cookie) = match current {
            Some(s) if s.subject == subject && s.connector_id == connector => {
                self.store
                    .renew_browser_session(
                        &s.id,
                        &SessionLogin {
                            identity: &json,
                            auth_time,
                            amr: &req.amr,
                            mfa_time,
                            remember,
                            address: &address,
                            user_agent: &agent,
                            now,
                            idle_expires_at: idle,
                        },
                    )
                    .await?;
                // Same cookie; set again so "remember me" takes effect either way.
                let cookie = browser
                    .session
                    .clone()
                    .map(|c| self.cookie_for(&c, remember, s.expires_at - now));
                (s.id, cookie)
            }
            other => {
                if let Some(old) = other {
                    // The browser signs in as someone else: the old session ends here.
                    self.end_session(&old.id, "another user signed in").await?;
                }
                let c = SessionCookie {
                    id: secret::random_token(18),
                    secret: secret::random_token(24),
                };
                let expires_at = now + self.sessions.absolute_lifetime;
                self.store
                    .create_browser_session(&BrowserSession {
                        id: c.id.clone(),
                        secret_hash: secret::hash_secret(&c.secret),
                        connector_id: connector,
                        subject,
                        identity: json,
                        auth_time,
                        amr: req.amr.clone(),
                        mfa_time,
                        remember: i64::from(remember),
                        checked_at: now,
                        address,
                        user_agent: agent,
                        created_at: now,
                        last_seen_at: now,
                        idle_expires_at: idle.min(expires_at),
                        expires_at,
                    })
                    .await?;
                let cookie = self.cookie_for(&c, remember, self.sessions.absolute_lifetime);
                (c.id, Some(cookie))
            }
        };
        self.store
            .put_session_client(&SessionClient {
                session_id: sid.clone(),
                client_id: req.client_id.clone(),
                authenticated_at: auth_time,
                via_sso: 0,
                last_issued_at: now,
                scopes: scopes.to_string(),
            })
            .await?;
        Ok(Some((sid, cookie)))
    }

    fn cookie_for(&self, c: &SessionCookie, remember: bool, left: i64) -> CookieChange {
        CookieChange::Set {
            value: encode_cookie(c, self.sessions.cookie_encryption_key.as_deref()),
            max_age: remember.then_some(left.max(0)),
        }
    }

    /// End session `id` (`why` for the trail). Ends it once: false when it was already gone.
    pub async fn end_session(&self, id: &str, why: &str) -> Result<bool, StorageError> {
        let (session, clients) = match self.store.end_browser_session(id).await {
            Ok(x) => x,
            Err(StorageError::NotFound) => return Ok(false),
            Err(e) => return Err(e),
        };
        let identity: Option<Identity> = from_json(&session.identity).ok();
        let actor = identity
            .as_ref()
            .map(|i| crate::oauth::audit::who(i).to_string())
            .unwrap_or_default();
        self.audit(
            &actor,
            "session.end",
            &session.connector_id,
            "success",
            json!({
                "sid": session.id,
                "subject": session.subject,
                "reason": why,
                "clients": clients.iter().map(|c| &c.client_id).collect::<Vec<_>>(),
            }),
        )
        .await;
        self.session_over(Ended { session, clients }).await;
        Ok(true)
    }

    /// End the sessions that expired while their browsers were away, so their clients are
    /// told too; how many this replica ended.
    pub async fn end_expired_sessions(&self) -> Result<u64, StorageError> {
        let mut n = 0;
        for id in self
            .store
            .expired_browser_sessions(self.clock.now(), 200)
            .await?
        {
            n += u64::from(self.end_session(&id, "expired").await?);
        }
        Ok(n)
    }

    /// End every session of a user (the connector refused them, an admin revoked them).
    pub async fn end_sessions_of(
        &self,
        connector_id: &str,
        subject: &str,
        why: &str,
    ) -> Result<u64, StorageError> {
        let mut n = 0;
        for s in self
            .store
            .browser_sessions_of(connector_id, subject)
            .await?
        {
            n += u64::from(self.end_session(&s.id, why).await?);
        }
        Ok(n)
    }

    /// What follows the end of a session, beyond its row: telling its clients.
    async fn session_over(&self, ended: Ended) {
        tracing::debug!(sid = %ended.session.id, clients = ended.clients.len(), "session over");
        self.session_ended(&crate::oauth::backchannel::EndedSession {
            sid: ended.session.id,
            subject: ended.session.subject,
            clients: ended.clients.into_iter().map(|c| c.client_id).collect(),
        })
        .await;
    }

    /// Whether refresh tokens issued in session `sid` may still be used by `client`: always,
    /// unless the client's tokens end with the session (Dex's `refreshTokenLifetime:
    /// session`) and it is over.
    pub(crate) async fn refresh_session_alive(
        &self,
        client: &Client,
        sid: Option<&str>,
    ) -> Result<bool, StorageError> {
        let Some(sid) = sid.filter(|_| client.refresh_bound_to_session) else {
            return Ok(true);
        };
        match self.store.get_browser_session(sid).await {
            Ok(s) => Ok(s.ended(self.clock.now()).is_none()),
            Err(StorageError::NotFound) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

pub use crate::mfa::has_second_factor;

/// The User-Agent a session keeps and is matched against.
fn agent_of(b: &Browser) -> String {
    b.user_agent.chars().take(256).collect()
}

/// The `acr` of a login given its amr.
pub fn acr_of(amr: &str) -> &'static str {
    if has_second_factor(amr) {
        ACR_MFA
    } else {
        ACR_1FA
    }
}

pub const ACR_1FA: &str = "urn:gantry:acr:1fa";
pub use crate::mfa::ACR_MFA;

/// Space-separated `a` with the words of `b` it lacks.
fn union(a: &str, b: &str) -> String {
    let mut words: Vec<&str> = a.split(' ').filter(|w| !w.is_empty()).collect();
    for w in b.split(' ').filter(|w| !w.is_empty()) {
        if !words.contains(&w) {
            words.push(w);
        }
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookie() -> SessionCookie {
        SessionCookie {
            id: "abc_DEF-1".into(),
            secret: "s3cret".into(),
        }
    }

    #[test]
    fn plain_cookies_round_trip_and_junk_decodes_to_nothing() {
        let v = encode_cookie(&cookie(), None);
        assert_eq!(v, "abc_DEF-1.s3cret");
        assert_eq!(decode_cookie(&v, None), Some(cookie()));
        for junk in ["", "nodot", ".x", "x.", "a.b.c", "a b.c", &"a".repeat(600)] {
            assert_eq!(decode_cookie(junk, None), None, "{junk:?}");
        }
    }

    #[test]
    fn encrypted_cookies_hide_the_secret_and_refuse_tampering_or_another_key() {
        for key in [
            &b"0123456789abcdef"[..],
            b"0123456789abcdef01234567",
            b"0123456789abcdef0123456789abcdef",
        ] {
            let v = encode_cookie(&cookie(), Some(key));
            assert!(!v.contains("s3cret"));
            assert_eq!(decode_cookie(&v, Some(key)), Some(cookie()));
            assert_ne!(
                encode_cookie(&cookie(), Some(key)),
                v,
                "a fresh nonce each time"
            );
            let mut bad = v.clone().into_bytes();
            let last = bad.len() - 3;
            bad[last] = if bad[last] == b'A' { b'B' } else { b'A' };
            assert_eq!(
                decode_cookie(std::str::from_utf8(&bad).unwrap(), Some(key)),
                None
            );
            assert_eq!(decode_cookie(&v, Some(b"ffffffffffffffff")), None);
            assert_eq!(
                decode_cookie("abc_DEF-1.s3cret", Some(key)),
                None,
                "plain refused when a key is set"
            );
        }
    }

    #[test]
    fn acr_follows_the_second_factor() {
        assert_eq!(acr_of("pwd"), ACR_1FA);
        assert_eq!(acr_of(""), ACR_1FA);
        assert_eq!(acr_of("pwd otp mfa"), ACR_MFA);
        assert_eq!(acr_of("hwk"), ACR_MFA);
        assert_eq!(union("openid email", "email groups"), "openid email groups");
    }
}
