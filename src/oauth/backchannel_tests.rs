//! Back-channel logout on the in-memory store with the manual clock: what is queued, the
//! token, the retry schedule, giving up, and that no delivery is made twice.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use super::*;
use crate::clock::{Clock, ManualClock};
use crate::config::StaticClient;
use crate::oauth::client::Client;
use crate::oauth::core_tests::{Core, START, core};
use crate::storage::memory::MemoryStore;
use crate::storage::store::LogoutOutbox;

const URI: &str = "https://app.example/backchannel-logout";

/// A receiver that answers from a script (then `otherwise`) and keeps every token it got.
#[derive(Debug)]
struct Script {
    answers: Mutex<VecDeque<Answer>>,
    otherwise: Answer,
    got: Mutex<Vec<(String, String)>>,
    /// How long each answer takes, so that concurrent passes overlap.
    delay: Duration,
}

impl Script {
    fn new(answers: Vec<Answer>, otherwise: Answer) -> Arc<Script> {
        Arc::new(Script {
            answers: Mutex::new(answers.into()),
            otherwise,
            got: Mutex::default(),
            delay: Duration::ZERO,
        })
    }
    fn got(&self) -> Vec<(String, String)> {
        self.got.lock().unwrap().clone()
    }
}

#[async_trait]
impl Courier for Script {
    async fn post(&self, uri: &str, token: &str) -> Answer {
        self.got
            .lock()
            .unwrap()
            .push((uri.to_string(), token.to_string()));
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let next = self.answers.lock().unwrap().pop_front();
        next.unwrap_or_else(|| self.otherwise.clone())
    }
}

fn client(id: &str, uri: Option<&str>) -> Client {
    Client::from_config(&StaticClient {
        id: Some(id.into()),
        secret: Some(format!("secret-of-{id}")),
        redirect_uris: vec!["https://app.example/callback".into()],
        backchannel_logout_uri: uri.map(String::from),
        ..Default::default()
    })
}

struct Bench {
    p: Arc<Provider>,
    store: Arc<MemoryStore>,
    clock: ManualClock,
}

/// The core with clients `told` (a back-channel URI) and `silent` (none).
async fn bench() -> Bench {
    let Core { p, store, clock } = core().await;
    p.clients
        .replace_dynamic(vec![client("told", Some(URI)), client("silent", None)]);
    Bench {
        p: Arc::new(p),
        store,
        clock,
    }
}

fn ended(sid: &str, clients: &[&str]) -> EndedSession {
    EndedSession {
        sid: sid.into(),
        subject: "CgZ1LWphbmUSBWxvY2Fs".into(),
        clients: clients.iter().map(|c| c.to_string()).collect(),
    }
}

fn events(store: &MemoryStore) -> Vec<(String, String, serde_json::Value)> {
    store
        .audit_events()
        .into_iter()
        .filter(|e| e.action == "logout.backchannel")
        .map(|e| {
            (
                e.target,
                e.outcome,
                serde_json::from_str(&e.detail).unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn one_delivery_is_queued_per_client_that_has_a_uri_and_per_session() {
    let b = bench().await;
    b.p.session_ended(&ended("s1", &["told", "silent", "told", "gone"]))
        .await;
    let queued = b.store.logout_deliveries();
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(
        (queued[0].client_id.as_str(), queued[0].sid.as_str()),
        ("told", "s1")
    );
    assert_eq!(queued[0].next_attempt_at, START, "due at once");
    // The same session ending again (logout racing its expiry) tells the client once.
    b.p.session_ended(&ended("s1", &["told"])).await;
    b.p.session_ended(&ended("s2", &["told"])).await;
    assert_eq!(b.store.logout_deliveries().len(), 2);
    // A session without an id has nothing the receiver could match.
    b.p.session_ended(&ended("", &["told"])).await;
    assert_eq!(b.store.logout_deliveries().len(), 2);
}

#[tokio::test]
async fn the_logout_token_carries_the_spec_claims_and_never_a_nonce() {
    let b = bench().await;
    let token = b.p.logout_token("told", "sub-1", "sid-1").unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.typ.as_deref(), Some(LOGOUT_TYP));
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    v.set_audience(&["told"]);
    v.set_issuer(&[&b.p.issuer]);
    v.validate_exp = false;
    let claims: serde_json::Value = b.p.keys.verify(&token, &v).unwrap();
    assert_eq!(claims["iss"], b.p.issuer.as_str());
    assert_eq!(claims["aud"], "told");
    assert_eq!(claims["sub"], "sub-1");
    assert_eq!(claims["sid"], "sid-1");
    assert_eq!(claims["iat"], START);
    assert_eq!(claims["exp"], START + TOKEN_LIFETIME);
    assert_eq!(claims["events"], json!({ LOGOUT_EVENT: {} }));
    assert!(claims.get("nonce").is_none(), "{claims}");
    // Another client's audience does not verify.
    v.set_audience(&["silent"]);
    assert!(b.p.keys.verify::<serde_json::Value>(&token, &v).is_err());
    let again = b.p.logout_token("told", "sub-1", "sid-1").unwrap();
    let again: LogoutClaims = serde_json::from_value(payload(&again)).unwrap();
    assert_ne!(
        again.jti,
        claims["jti"].as_str().unwrap(),
        "a jti per token"
    );
}

/// A JWT's payload, unverified.
fn payload(token: &str) -> serde_json::Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&crate::secret::b64_decode(part).unwrap()).unwrap()
}

#[tokio::test]
async fn a_delivered_token_is_not_sent_again_and_the_audit_names_no_token() {
    let b = bench().await;
    let courier = Script::new(vec![], Answer::Status(200));
    let d = Deliverer::new(b.p.clone(), courier.clone());
    b.p.session_ended(&ended("s1", &["told"])).await;
    assert_eq!(d.deliver_due().await.unwrap(), 1);
    let got = courier.got();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, URI);
    assert_eq!(payload(&got[0].1)["sid"], "s1");
    let row = &b.store.logout_deliveries()[0];
    assert_eq!(row.delivered_at, Some(START));
    for later in [0, 5, 3600, GIVE_UP_AFTER + 1] {
        b.clock.advance(later);
        assert_eq!(d.deliver_due().await.unwrap(), 0);
    }
    assert_eq!(courier.got().len(), 1);
    let ev = events(&b.store);
    assert_eq!(ev.len(), 1);
    assert_eq!((ev[0].0.as_str(), ev[0].1.as_str()), ("told", "delivered"));
    assert_eq!(ev[0].2["sid"], "s1");
    assert_eq!(ev[0].2["attempt"], 1);
    assert_eq!(ev[0].2["status"], 200);
    let trail = b
        .store
        .audit_events()
        .iter()
        .map(|e| e.detail.clone())
        .collect::<String>();
    assert!(!trail.contains(&got[0].1), "the token is never recorded");
    // Finished deliveries are pruned after a while, unfinished ones never.
    b.p.session_ended(&ended("s2", &["told"])).await;
    assert_eq!(b.store.prune_logout_deliveries(START).await.unwrap(), 1);
    assert_eq!(b.store.logout_deliveries().len(), 1);
}

#[test]
fn retries_wait_5s_doubling_up_to_an_hour_and_stop_after_a_day() {
    let t = 1_000;
    let waits: Vec<i64> = (1..=12)
        .map(|n| next_attempt(t, n, t).unwrap() - t)
        .collect();
    assert_eq!(
        waits,
        [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]
    );
    assert_eq!(next_attempt(t, 1000, t), Some(t + 3600), "no overflow");
    assert_eq!(next_attempt(t, 0, t), Some(t + 5));
    assert_eq!(
        next_attempt(t, 20, t + GIVE_UP_AFTER - 3600),
        Some(t + GIVE_UP_AFTER)
    );
    assert_eq!(next_attempt(t, 20, t + GIVE_UP_AFTER - 3599), None);
    assert_eq!(next_attempt(t, 1, t + GIVE_UP_AFTER), None);
}

#[tokio::test]
async fn a_failing_receiver_is_retried_on_schedule_then_given_up_with_an_audit() {
    let b = bench().await;
    let courier = Script::new(vec![], Answer::Status(500));
    let d = Deliverer::new(b.p.clone(), courier.clone());
    b.p.session_ended(&ended("s1", &["told"])).await;
    let mut attempts_at = vec![];
    loop {
        let row = b.store.logout_deliveries()[0].clone();
        if row.gave_up_at.is_some() {
            break;
        }
        let wait = row.next_attempt_at - b.clock.now();
        if wait > 0 {
            // Nothing happens a second early.
            b.clock.advance(wait - 1);
            assert_eq!(d.deliver_due().await.unwrap(), 0);
            b.clock.advance(1);
        }
        assert_eq!(d.deliver_due().await.unwrap(), 1);
        attempts_at.push(b.clock.now() - START);
        assert!(attempts_at.len() < 100, "never gives up: {attempts_at:?}");
    }
    assert_eq!(&attempts_at[..6], [0, 5, 15, 35, 75, 155]);
    let last = *attempts_at.last().unwrap();
    assert!(
        last <= GIVE_UP_AFTER && last > GIVE_UP_AFTER - LONGEST_RETRY,
        "{attempts_at:?}"
    );
    assert_eq!(courier.got().len(), attempts_at.len());
    // Every token is freshly signed: its own iat and jti.
    let tokens: Vec<serde_json::Value> = courier.got().iter().map(|(_, t)| payload(t)).collect();
    assert_eq!(tokens[1]["iat"], START + 5);
    assert_ne!(tokens[0]["jti"], tokens[1]["jti"]);
    let row = &b.store.logout_deliveries()[0];
    assert_eq!(row.attempts as usize, attempts_at.len());
    assert!(row.last_error.contains("HTTP 500"), "{}", row.last_error);
    let ev = events(&b.store);
    let failed = ev.iter().filter(|e| e.1 == "failed").count();
    assert_eq!(failed, attempts_at.len(), "each attempt is audited");
    let gave_up: Vec<_> = ev.iter().filter(|e| e.1 == "gave_up").collect();
    assert_eq!(gave_up.len(), 1);
    assert_eq!(gave_up[0].2["sid"], "s1");
    assert_eq!(ev.last().unwrap().1, "gave_up");
    assert!(ev[0].2["retry_at"] == START + 5 && ev[0].2["error"].as_str().unwrap().contains("500"));
    // Given up is final.
    b.clock.advance(GIVE_UP_AFTER);
    assert_eq!(d.deliver_due().await.unwrap(), 0);
}

#[tokio::test]
async fn a_receiver_that_fails_twice_gets_the_third_attempt() {
    let b = bench().await;
    let courier = Script::new(
        vec![
            Answer::Failed("connection refused".into()),
            Answer::Status(503),
        ],
        Answer::Status(204),
    );
    let d = Deliverer::new(b.p.clone(), courier.clone());
    b.p.session_ended(&ended("s1", &["told"])).await;
    assert_eq!(d.deliver_due().await.unwrap(), 1);
    b.clock.advance(5);
    assert_eq!(d.deliver_due().await.unwrap(), 1);
    b.clock.advance(10);
    assert_eq!(d.deliver_due().await.unwrap(), 1);
    b.clock.advance(3600);
    assert_eq!(d.deliver_due().await.unwrap(), 0);
    let outcomes: Vec<String> = events(&b.store).into_iter().map(|e| e.1).collect();
    assert_eq!(outcomes, ["failed", "failed", "delivered"]);
    // The cause stays in the server's log; the audit says only that nothing answered.
    let first = events(&b.store)[0].2["error"].as_str().unwrap().to_string();
    assert!(first.contains("gave no answer"), "{first}");
    assert!(!first.contains("connection refused"), "{first}");
    assert_eq!(
        b.store.logout_deliveries()[0].delivered_at,
        Some(START + 15)
    );
}

#[tokio::test]
async fn two_workers_never_both_send_one_delivery() {
    let b = bench().await;
    let courier = Arc::new(Script {
        delay: Duration::from_millis(20),
        ..Arc::try_unwrap(Script::new(vec![], Answer::Status(200))).unwrap()
    });
    let one = Deliverer::new(b.p.clone(), courier.clone());
    let two = Deliverer::new(b.p.clone(), courier.clone());
    for i in 0..50 {
        b.p.session_ended(&ended(&format!("s{i}"), &["told"])).await;
    }
    let mut total = 0;
    while total < 50 {
        let (a, c) = tokio::join!(one.deliver_due(), two.deliver_due());
        let (a, c) = (a.unwrap(), c.unwrap());
        assert!(a + c > 0, "both found nothing with {total} of 50 delivered");
        total += a + c;
    }
    let mut per_sid: HashMap<String, usize> = HashMap::new();
    for (_, t) in courier.got() {
        *per_sid
            .entry(payload(&t)["sid"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(per_sid.len(), 50);
    assert!(per_sid.values().all(|n| *n == 1), "{per_sid:?}");
}

#[tokio::test]
async fn a_claim_whose_worker_stalled_is_taken_over_and_cannot_overwrite_the_outcome() {
    let b = bench().await;
    b.p.session_ended(&ended("s1", &["told"])).await;
    // A worker claims the row and is never heard from again (until later).
    let stalled = b
        .store
        .claim_logout_deliveries(START, START + LEASE, "stalled", BATCH)
        .await
        .unwrap();
    assert_eq!(stalled.len(), 1);
    let courier = Script::new(vec![], Answer::Status(200));
    let d = Deliverer::new(b.p.clone(), courier.clone());
    b.clock.advance(LEASE - 1);
    assert_eq!(
        d.deliver_due().await.unwrap(),
        0,
        "claimed rows are left alone"
    );
    b.clock.advance(1);
    assert_eq!(
        d.deliver_due().await.unwrap(),
        1,
        "taken over after the lease"
    );
    assert_eq!(courier.got().len(), 1);
    let row = &b.store.logout_deliveries()[0];
    assert_eq!(row.attempts, 2, "the stalled attempt counts");
    let late = Finish::RetryAt {
        at: START + 999,
        error: "late".into(),
    };
    assert!(
        !b.store
            .finish_logout_delivery(&row.id, "stalled", &late)
            .await
            .unwrap()
    );
    assert_eq!(
        b.store.logout_deliveries()[0].delivered_at,
        Some(START + LEASE)
    );
}

#[tokio::test]
async fn a_client_that_lost_its_uri_is_given_up_without_a_post() {
    let b = bench().await;
    b.p.session_ended(&ended("s1", &["told"])).await;
    b.p.clients.replace_dynamic(vec![client("told", None)]);
    let courier = Script::new(vec![], Answer::Status(200));
    let d = Deliverer::new(b.p.clone(), courier.clone());
    assert_eq!(d.deliver_due().await.unwrap(), 1);
    assert!(courier.got().is_empty());
    assert!(b.store.logout_deliveries()[0].gave_up_at.is_some());
    let ev = events(&b.store);
    assert_eq!(
        (ev[0].1.as_str(), &ev[0].2["sid"]),
        ("gave_up", &json!("s1"))
    );
}
