//! OpenID Connect Back-Channel Logout 1.0: when a browser session ends, each client it logged
//! in to that registered a `backchannelLogoutURI` is sent a signed logout token.
//!
//! Ending a session only queues, one row per client in the database (`logout_outbox`): a
//! delivery survives a restart, and whichever replica claims it makes it. A background task
//! delivers, so a receiver that is down, slow or misconfigured never holds up or fails a
//! logout. Every attempt signs a fresh token (its own `iat`, `exp` and `jti`, with the key that
//! signs now) and is audited with the client, the `sid` and the outcome, never the token. A
//! receiver that answers anything but success is tried again after 5 s, then twice as long each
//! time up to an hour, until a day has passed since the session ended; then it is given up,
//! and that is audited too.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::connector::egress::DenyList;
use crate::connector::upstream::{self, Http};
use crate::oauth::Provider;
use crate::storage::logout_outbox::{Finish, LogoutDelivery, NewLogoutDelivery};

/// A browser session that ended (logout, revocation, expiry, a connector refusing a refresh):
/// its `sid`, the `sub` of its tokens, and the clients it logged in to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedSession {
    pub sid: String,
    pub subject: String,
    pub clients: Vec<String>,
}

/// The `events` member that makes a JWT a logout token (section 2.4).
pub const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// The JWT `typ` of a logout token (section 2.4, and section 4.1 on telling JWTs apart).
pub const LOGOUT_TYP: &str = "logout+jwt";
/// How long a logout token is good for: the spec recommends at most two minutes, which bounds
/// how long a captured one could be replayed.
pub const TOKEN_LIFETIME: i64 = 120;
/// The first retry comes this long after a failed attempt; each later one twice as long...
pub const FIRST_RETRY: i64 = 5;
/// ...up to this.
pub const LONGEST_RETRY: i64 = 3600;
/// No attempt is made later than this after the session ended: a client that has been
/// unreachable for a day has long logged its users out by its own session expiry, or needs an
/// operator more than another token.
pub const GIVE_UP_AFTER: i64 = 24 * 3600;
/// A claimed delivery is another worker's again after this long: far beyond the timeout.
const LEASE: i64 = 60;
/// The most deliveries one worker claims at a time.
const BATCH: i64 = 32;
/// How long a receiver has to answer.
const TIMEOUT: Duration = Duration::from_secs(5);
/// How often a worker looks for what is due.
const POLL: Duration = Duration::from_secs(1);
/// Finished deliveries stay this long (the audit trail keeps their story).
const KEEP_FINISHED: i64 = 24 * 3600;
/// Polls between two prunings of finished deliveries.
const PRUNE_EVERY: u32 = 600;

/// The claims of a logout token (section 2.4). No `nonce`: the spec forbids it, so that a
/// logout token can never pass for an ID token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LogoutClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub sid: String,
    pub events: serde_json::Value,
}

/// When to try again after attempt number `attempt` (1 for the first) failed at `now`, for a
/// session that ended at `ended_at`; `None` when the delivery is to be given up.
pub fn next_attempt(ended_at: i64, attempt: i64, now: i64) -> Option<i64> {
    let doublings = u32::try_from(attempt.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let wait = FIRST_RETRY
        .saturating_mul(1_i64 << doublings)
        .min(LONGEST_RETRY);
    let at = now.saturating_add(wait);
    (at <= ended_at.saturating_add(GIVE_UP_AFTER)).then_some(at)
}

impl Provider {
    /// Queue a logout token for each client of `ended` that has a back-channel logout URI.
    /// Never fails the caller: a session ends whether or not its clients can be told (a failure
    /// to queue is logged).
    pub async fn session_ended(&self, ended: &EndedSession) {
        if ended.sid.is_empty() {
            tracing::warn!("a session without an id ended: no back-channel logout");
            return;
        }
        let now = self.clock.now();
        let mut seen = HashSet::new();
        let rows: Vec<NewLogoutDelivery> = ended
            .clients
            .iter()
            .filter(|c| seen.insert(c.as_str()))
            .filter(|c| {
                self.clients
                    .get(c)
                    .is_some_and(|c| c.backchannel_logout_uri.is_some())
            })
            .map(|c| NewLogoutDelivery {
                id: crate::secret::random_token(16),
                client_id: c.clone(),
                sid: ended.sid.clone(),
                subject: ended.subject.clone(),
                created_at: now,
            })
            .collect();
        if rows.is_empty() {
            return;
        }
        match self.store.queue_logout_deliveries(&rows).await {
            Ok(n) => tracing::debug!(sid = %ended.sid, queued = n, "back-channel logout queued"),
            Err(e) => tracing::error!(
                error = %e,
                sid = %ended.sid,
                "could not queue back-channel logout: the session's clients are not told"
            ),
        }
    }

    /// A logout token for `client_id` about session `sid` of `subject`, signed now.
    pub fn logout_token(
        &self,
        client_id: &str,
        subject: &str,
        sid: &str,
    ) -> Result<String, crate::keys::SignError> {
        let now = self.clock.now();
        let claims = LogoutClaims {
            iss: self.issuer.clone(),
            sub: subject.to_string(),
            aud: client_id.to_string(),
            iat: now,
            exp: now + TOKEN_LIFETIME,
            jti: crate::secret::random_token(16),
            sid: sid.to_string(),
            events: json!({ LOGOUT_EVENT: {} }),
        };
        self.keys.sign(&claims, LOGOUT_TYP)
    }
}

/// How a POST of a logout token ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The receiver answered with this status.
    Status(u16),
    /// No answer: refused, timed out, DNS, TLS (in words for the audit trail).
    Failed(String),
}

/// What carries a logout token to a receiver: HTTP in the server, a stand-in in unit tests.
#[async_trait]
pub trait Courier: Send + Sync + std::fmt::Debug {
    async fn post(&self, uri: &str, token: &str) -> Answer;
}

/// The HTTP courier: a form POST (section 2.5), a short timeout, no redirects followed (the
/// token goes to the URI the admin registered or nowhere). The URI is the admin's own setting,
/// so it may name this machine or an internal network, unlike a connector's addresses.
#[derive(Debug)]
pub struct HttpCourier {
    http: Http,
}

impl HttpCourier {
    pub fn new() -> Result<HttpCourier, upstream::ClientError> {
        Ok(HttpCourier {
            http: upstream::client(&[], TIMEOUT, &DenyList::default())?,
        })
    }
}

#[async_trait]
impl Courier for HttpCourier {
    async fn post(&self, uri: &str, token: &str) -> Answer {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("logout_token", token)
            .finish();
        let req = self
            .http
            .post(uri)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cache-control", "no-cache, no-store")
            .body(body);
        match self.http.send(req).await {
            Ok(resp) => Answer::Status(resp.status().as_u16()),
            Err(e) => Answer::Failed(e.to_string()),
        }
    }
}

/// Delivers what is due: claims rows, posts their tokens, records and audits each attempt.
#[derive(Debug, Clone)]
pub struct Deliverer {
    provider: Arc<Provider>,
    courier: Arc<dyn Courier>,
}

impl Deliverer {
    pub fn new(provider: Arc<Provider>, courier: Arc<dyn Courier>) -> Deliverer {
        Deliverer { provider, courier }
    }

    /// One pass: claim what is due now and attempt it all at once (a slow receiver does not
    /// hold up the others); how many deliveries were attempted.
    pub async fn deliver_due(&self) -> crate::storage::Result<usize> {
        let now = self.provider.clock.now();
        let claim = crate::secret::random_token(12);
        let due = self
            .provider
            .store
            .claim_logout_deliveries(now, now + LEASE, &claim, BATCH)
            .await?;
        let n = due.len();
        futures_util::future::join_all(due.into_iter().map(|d| self.attempt(d, &claim))).await;
        Ok(n)
    }

    /// Deliver until nothing more is due.
    async fn deliver_all_due(&self) -> crate::storage::Result<()> {
        while self.deliver_due().await? as i64 == BATCH {}
        Ok(())
    }

    async fn attempt(&self, d: LogoutDelivery, claim: &str) {
        let p = &self.provider;
        let Some(uri) = p
            .clients
            .get(&d.client_id)
            .and_then(|c| c.backchannel_logout_uri.clone())
        else {
            // Deleted, or its URI removed, since the session ended: nobody to tell.
            let error = "the client has no back-channel logout URI any more".to_string();
            self.finish(
                &d,
                claim,
                Finish::GaveUp {
                    at: p.clock.now(),
                    error: error.clone(),
                },
            )
            .await;
            self.audit(&d, "gave_up", json!({ "error": error })).await;
            return;
        };
        let answer = match p.logout_token(&d.client_id, &d.subject, &d.sid) {
            Ok(token) => self.courier.post(&uri, &token).await,
            Err(e) => Answer::Failed(format!("could not sign the logout token: {e}")),
        };
        let now = p.clock.now();
        let error = match answer {
            // The spec asks for 200; frameworks answer 204, and any success means it was taken.
            Answer::Status(s) if (200..300).contains(&s) => {
                self.finish(&d, claim, Finish::Delivered { at: now }).await;
                self.audit(&d, "delivered", json!({ "status": s })).await;
                return;
            }
            Answer::Status(s) => format!("{uri} answered HTTP {s}"),
            // The cause (refused, timed out, which TLS error) goes to the server's log only:
            // in the audit trail, which admins read, it would make the URI a port scanner of
            // the server's network.
            Answer::Failed(e) => {
                tracing::warn!(client = %d.client_id, uri = %uri, error = %e, "back-channel logout: no answer");
                format!(
                    "{uri} gave no answer (refused, timed out or TLS failed; the server log has the cause)"
                )
            }
        };
        match next_attempt(d.created_at, d.attempts, now) {
            Some(at) => {
                self.finish(
                    &d,
                    claim,
                    Finish::RetryAt {
                        at,
                        error: error.clone(),
                    },
                )
                .await;
                self.audit(&d, "failed", json!({ "error": error, "retry_at": at }))
                    .await;
            }
            None => {
                self.finish(
                    &d,
                    claim,
                    Finish::GaveUp {
                        at: now,
                        error: error.clone(),
                    },
                )
                .await;
                self.audit(&d, "failed", json!({ "error": error })).await;
                self.audit(&d, "gave_up", json!({ "error": error })).await;
            }
        }
    }

    async fn finish(&self, d: &LogoutDelivery, claim: &str, f: Finish) {
        match self
            .provider
            .store
            .finish_logout_delivery(&d.id, claim, &f)
            .await
        {
            Ok(true) => {}
            // Its lease ran out and another worker took it: that one's outcome stands.
            Ok(false) => tracing::warn!(client = %d.client_id, "back-channel logout claim lost"),
            Err(e) => tracing::error!(
                error = %e,
                client = %d.client_id,
                "could not record a back-channel logout attempt; it is made again after its lease"
            ),
        }
    }

    /// One event per attempt (action `logout.backchannel`, target the client): the sid, the
    /// attempt's number and what came of it; never the token.
    async fn audit(&self, d: &LogoutDelivery, outcome: &str, mut detail: serde_json::Value) {
        detail["sid"] = json!(d.sid);
        detail["attempt"] = json!(d.attempts);
        self.provider
            .audit("", "logout.backchannel", &d.client_id, outcome, detail)
            .await;
    }
}

/// Deliver back-channel logout tokens for as long as the process runs (one task per process,
/// beside the sweepers; replicas share the work through their claims).
pub async fn run(provider: Arc<Provider>) {
    let courier = match HttpCourier::new() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "no HTTP client for back-channel logout: not delivering");
            return;
        }
    };
    let store = provider.store.clone();
    let clock = provider.clock.clone();
    let deliverer_provider = provider.clone();
    let deliverer = Deliverer::new(provider, Arc::new(courier));
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut polls: u32 = 0;
    let mut failing = false;
    loop {
        tick.tick().await;
        match deliverer.deliver_all_due().await {
            // Said once when the database stops answering, not every second until it is back.
            Err(e) if !failing => {
                tracing::warn!(error = %e, "back-channel logout deliveries paused");
                failing = true;
            }
            Err(e) => tracing::debug!(error = %e, "back-channel logout deliveries still paused"),
            Ok(()) if failing => {
                tracing::info!("back-channel logout deliveries resumed");
                failing = false;
            }
            Ok(()) => {}
        }
        // Sessions that expired unseen end here, and their clients are told.
        if polls.is_multiple_of(30)
            && let Err(e) = deliverer_provider.end_expired_sessions().await
        {
            tracing::debug!(error = %e, "could not end expired sessions");
        }
        if polls.is_multiple_of(PRUNE_EVERY)
            && let Err(e) = store
                .prune_logout_deliveries(clock.now() - KEEP_FINISHED)
                .await
        {
            tracing::warn!(error = %e, "could not prune finished back-channel logouts");
        }
        polls = polls.wrapping_add(1);
    }
}

#[cfg(test)]
#[path = "backchannel_tests.rs"]
mod tests;
