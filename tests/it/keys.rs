//! Signing key rotation with an injected clock, algorithms, and replicas sharing a database.

use std::sync::Arc;

use gantry::clock::Clock;
use gantry::keys::{Algorithm, Keys, Schedule};
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;

async fn jwks(app: &TestApp) -> Vec<Value> {
    let j: Value = reqwest::get(app.url("/keys"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    j["keys"].as_array().unwrap().clone()
}

#[tokio::test]
async fn keys_rotate_on_schedule_are_published_before_they_sign_and_retire_after_their_tokens() {
    let app = TestApp::start().await;
    let first = jwks(&app).await;
    assert_eq!(first.len(), 1);
    let kid = |t: &Value| {
        jsonwebtoken::decode_header(t["id_token"].as_str().unwrap())
            .unwrap()
            .kid
            .unwrap()
    };
    let t1 = app.tokens("openid").await;
    assert_eq!(
        kid(&t1),
        first[0]["kid"].as_str().unwrap(),
        "the first key signs at once"
    );
    app.clock.advance(3 * 3600);
    app.provider.keys.refresh().await.unwrap();
    assert_eq!(jwks(&app).await.len(), 1, "not due yet");
    app.clock.advance(3 * 3600);
    app.provider.keys.refresh().await.unwrap();
    let after = jwks(&app).await;
    assert_eq!(after.len(), 2, "the next key is published");
    let new_kid = after[0]["kid"].as_str().unwrap().to_string();
    assert_ne!(new_kid, first[0]["kid"].as_str().unwrap());
    let t2 = app.tokens("openid").await;
    assert_eq!(
        kid(&t2),
        kid(&t1),
        "published is not signing: the old key signs for the lead time"
    );
    app.clock.advance(120);
    let t3 = app.tokens("openid").await;
    assert_eq!(
        kid(&t3),
        new_kid,
        "after the lead the new key signs, without waiting for a reload"
    );
    // The old key stays until every token it signed (t2, 1h) has expired, plus the lead.
    app.clock.advance(3600);
    app.provider.keys.refresh().await.unwrap();
    assert_eq!(jwks(&app).await.len(), 2, "t2 may still be alive");
    app.clock.advance(121);
    app.provider.keys.refresh().await.unwrap();
    let last = jwks(&app).await;
    assert_eq!(
        last.len(),
        1,
        "retired key leaves once every token it signed expired"
    );
    assert_eq!(last[0]["kid"], new_kid);
}

#[tokio::test]
async fn rs256_and_eddsa_are_selectable() {
    for (alg, kty) in [("RS256", "RSA"), ("EdDSA", "OKP")] {
        let app = TestApp::start_with(Opts {
            alg,
            skip_approval: true,
            ..Default::default()
        })
        .await;
        let k = jwks(&app).await;
        assert_eq!(
            (k[0]["alg"].as_str(), k[0]["kty"].as_str()),
            (Some(alg), Some(kty))
        );
        let t = app.tokens("openid").await;
        let header = jsonwebtoken::decode_header(t["id_token"].as_str().unwrap()).unwrap();
        assert_eq!(format!("{:?}", header.alg), alg);
        let r = reqwest::Client::new()
            .get(app.url("/userinfo"))
            .bearer_auth(t["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
}

async fn replicas_rotate_once(app: &TestApp) {
    let db = app.provider.db.clone();
    let clock: gantry::clock::SharedClock = Arc::new(app.clock.clone());
    let schedule = Schedule {
        alg: Algorithm::ES256,
        period: 6 * 3600,
        retain: 3600,
        lead: 120,
    };
    let a = Keys::load(db.clone(), clock.clone(), schedule)
        .await
        .unwrap();
    let b = Keys::load(db.clone(), clock.clone(), schedule)
        .await
        .unwrap();
    assert_eq!(
        db.list_keys(app.clock.now()).await.unwrap().len(),
        1,
        "loading does not rotate early"
    );
    app.clock.advance(6 * 3600 + 1);
    let (ra, rb) = tokio::join!(a.refresh(), b.refresh());
    ra.unwrap();
    rb.unwrap();
    let keys = db.list_keys(app.clock.now()).await.unwrap();
    assert_eq!(keys.len(), 2, "exactly one new key for two replicas");
    app.clock.advance(120);
    assert_eq!(a.signer().unwrap().kid, b.signer().unwrap().kid);
    assert_eq!(
        a.signer().unwrap().kid,
        keys[0].kid,
        "both sign with the one new key"
    );
}

#[tokio::test]
async fn two_replicas_on_sqlite_never_rotate_twice() {
    replicas_rotate_once(&TestApp::start().await).await;
}

#[tokio::test]
async fn two_replicas_on_postgres_never_rotate_twice() {
    replicas_rotate_once(
        &TestApp::start_with(Opts {
            backend: Backend::Postgres,
            ..Default::default()
        })
        .await,
    )
    .await;
}

#[tokio::test]
async fn an_emergency_rotation_signs_with_the_new_key_at_once_even_in_the_same_second() {
    let app = TestApp::start().await;
    let kid = |t: &Value| {
        jsonwebtoken::decode_header(t["id_token"].as_str().unwrap())
            .unwrap()
            .kid
            .unwrap()
    };
    let before = kid(&app.tokens("openid").await);
    app.provider.keys.rotate_now().await.unwrap();
    let after = kid(&app.tokens("openid").await);
    assert_ne!(before, after);
    assert_eq!(
        jwks(&app).await.len(),
        2,
        "the old key stays published for its tokens"
    );
}
