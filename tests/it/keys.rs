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
    let db = app.admin.db.clone();
    let clock: gantry::clock::SharedClock = Arc::new(app.clock.clone());
    let schedule = Schedule {
        alg: Algorithm::ES256,
        period: 6 * 3600,
        retain: 3600,
        lead: 120,
    };
    let sealing = gantry::seal::KeySealing::clear();
    let a = Keys::load(
        std::sync::Arc::new(db.clone()),
        clock.clone(),
        schedule,
        sealing.clone(),
    )
    .await
    .unwrap();
    let b = Keys::load(
        std::sync::Arc::new(db.clone()),
        clock.clone(),
        schedule,
        sealing,
    )
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

/// The private keys as stored: every signing key's and the registry CA's, read behind
/// Gantry's back.
async fn stored_private_keys(cfg: &gantry::config::Config) -> Vec<Vec<u8>> {
    sqlx::any::install_default_drivers();
    let url = match (&cfg.storage.config.dsn, &cfg.storage.config.file) {
        (Some(dsn), _) => dsn.clone(),
        (None, Some(file)) => format!("sqlite://{file}"),
        _ => panic!("no database in the test config"),
    };
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let mut rows: Vec<Vec<u8>> = sqlx::query_scalar("SELECT private_der FROM signing_keys")
        .fetch_all(&pool)
        .await
        .unwrap();
    rows.extend(
        sqlx::query_scalar::<_, Vec<u8>>("SELECT key_der FROM registry_ca")
            .fetch_all(&pool)
            .await
            .unwrap(),
    );
    pool.close().await;
    rows
}

fn holds_no_private_key(row: &[u8], clear: &[Vec<u8>]) -> bool {
    let text = String::from_utf8_lossy(row);
    row.starts_with(b"sealed1.")
        && !text.contains("PRIVATE KEY")
        && !clear
            .iter()
            .any(|der| row.windows(16).any(|w| der.windows(16).any(|d| d == w)))
}

async fn private_keys_are_sealed_with_encryption_keys(backend: Backend) {
    // Started without encryption.keys, as before: the keys are kept as DER.
    let app = TestApp::start_with(Opts {
        backend,
        ..Default::default()
    })
    .await;
    let clock: gantry::clock::SharedClock = Arc::new(app.clock.clone());
    let clear = stored_private_keys(&app.config).await;
    assert_eq!(clear.len(), 2, "a signing key and the registry CA key");
    assert!(clear.iter().all(|r| r[0] == 0x30), "DER in clear");
    let kid = app.provider.keys.signer().unwrap().kid.clone();

    // With encryption.keys, the next start seals every private key and signs with the same one.
    let mut cfg = app.config.clone();
    cfg.encryption.keys = vec![gantry::secret::b64(&gantry::secret::random_bytes(32))];
    let sealed = gantry::app::build(&cfg, clock.clone()).await.unwrap();
    assert_eq!(sealed.provider.keys.signer().unwrap().kid, kid);
    let rows = stored_private_keys(&cfg).await;
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert!(
            holds_no_private_key(r, &clear),
            "{:02x?}",
            &r[..r.len().min(24)]
        );
    }
    // A key made from now on is sealed from the start; after a restart it still signs, and
    // what it signs verifies with the published key.
    sealed.provider.keys.rotate_now().await.unwrap();
    let new_kid = sealed.provider.keys.signer().unwrap().kid.clone();
    assert_ne!(new_kid, kid);
    let rows = stored_private_keys(&cfg).await;
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| holds_no_private_key(r, &clear)));
    let again = gantry::app::build(&cfg, clock.clone()).await.unwrap();
    assert_eq!(again.provider.keys.signer().unwrap().kid, new_kid);
    let claims = serde_json::json!({"sub": "x", "exp": app.clock.now() + 60});
    let token = again.provider.keys.sign(&claims, "JWT").unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    v.validate_aud = false;
    let back: Value = sealed.provider.keys.verify(&token, &v).unwrap();
    assert_eq!(back["sub"], "x");

    // Without the encryption key, or with another one only: the start fails and says why.
    for keys in [
        vec![],
        vec![gantry::secret::b64(&gantry::secret::random_bytes(32))],
    ] {
        let mut wrong = cfg.clone();
        wrong.encryption.keys = keys;
        let e = match gantry::app::build(&wrong, clock.clone()).await {
            Ok(_) => panic!("started without the key its private keys are sealed with"),
            Err(e) => e.to_string(),
        };
        assert!(
            e.contains("is sealed with encryption key") && e.contains("encryption.keys"),
            "{e}"
        );
    }
}

#[tokio::test]
async fn with_encryption_keys_sqlite_holds_no_private_key_in_clear() {
    private_keys_are_sealed_with_encryption_keys(Backend::Sqlite).await;
}

#[tokio::test]
async fn with_encryption_keys_postgres_holds_no_private_key_in_clear() {
    private_keys_are_sealed_with_encryption_keys(Backend::Postgres).await;
}

#[tokio::test]
async fn serve_without_the_key_its_private_keys_are_sealed_with_exits_with_the_reason() {
    let app = TestApp::start().await;
    let mut cfg = app.config.clone();
    cfg.encryption.keys = vec![gantry::secret::b64(&gantry::secret::random_bytes(32))];
    drop(
        gantry::app::build(&cfg, Arc::new(app.clock.clone()))
            .await
            .unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let file = dir.path().join("gantry.yaml");
    std::fs::write(
        &file,
        format!(
            "issuer: http://127.0.0.1:{port}/dex\nstorage:\n  type: sqlite3\n  config:\n    \
             file: {}\nweb:\n  http: 127.0.0.1:{port}\nenablePasswordDB: true\n",
            cfg.storage.config.file.as_deref().unwrap()
        ),
    )
    .unwrap();
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_gantry"))
            .args(["serve", "--config"])
            .arg(&file)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("serve gives up instead of serving")
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("is sealed with encryption key")
            && stderr.contains("encryption.keys is not set")
            && !stderr.contains("panicked"),
        "{stderr}"
    );
}
