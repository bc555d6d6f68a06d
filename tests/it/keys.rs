//! Signing key rotation with an injected clock, algorithms, and replicas sharing a database.

use std::sync::Arc;

use gantry::clock::Clock;
use gantry::keys::{Algorithm, Keys};
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
async fn keys_rotate_on_schedule_and_retired_keys_stay_until_their_tokens_expire() {
    let app = TestApp::start().await;
    let first = jwks(&app).await;
    assert_eq!(first.len(), 1);
    let t = app.tokens("openid").await;
    app.clock.advance(3 * 3600);
    app.provider.keys.refresh().await.unwrap();
    assert_eq!(jwks(&app).await.len(), 1, "not due yet");
    app.clock.advance(3 * 3600);
    app.provider.keys.refresh().await.unwrap();
    let after = jwks(&app).await;
    assert_eq!(after.len(), 2, "the old key stays published");
    let t2 = app.tokens("openid").await;
    let kid = |tok: &str| jsonwebtoken::decode_header(tok).unwrap().kid.unwrap();
    assert_ne!(
        kid(t["id_token"].as_str().unwrap()),
        kid(t2["id_token"].as_str().unwrap())
    );
    assert_eq!(
        kid(t2["id_token"].as_str().unwrap()),
        after[0]["kid"].as_str().unwrap(),
        "newest key signs"
    );
    app.clock.advance(3601);
    app.provider.keys.refresh().await.unwrap();
    let last = jwks(&app).await;
    assert_eq!(
        last.len(),
        1,
        "retired key leaves once every token it signed expired"
    );
    assert_eq!(last[0]["kid"], after[0]["kid"]);
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
    let a = Keys::load(db.clone(), clock.clone(), Algorithm::ES256, 6 * 3600, 3600)
        .await
        .unwrap();
    let b = Keys::load(db.clone(), clock.clone(), Algorithm::ES256, 6 * 3600, 3600)
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
    assert_eq!(a.current().signer.kid, b.current().signer.kid);
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
