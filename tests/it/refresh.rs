//! Refresh token rotation, reuse detection, expiry and re-validation.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;

async fn refresh(app: &TestApp, rt: &str) -> (StatusCode, Value) {
    app.post_token(
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        Some(RP),
    )
    .await
}

#[tokio::test]
async fn every_use_rotates_and_reuse_inside_the_interval_returns_the_same_successor() {
    let app = TestApp::start().await;
    let t = app.tokens("openid groups offline_access").await;
    let r0 = t["refresh_token"].as_str().unwrap();
    let (s, a) = refresh(&app, r0).await;
    assert_eq!(s, StatusCode::OK, "{a}");
    let r1 = a["refresh_token"].as_str().unwrap();
    assert_ne!(r0, r1);
    assert!(a["id_token"].is_string());
    assert_eq!(
        jwt_claims(a["id_token"].as_str().unwrap())["groups"],
        serde_json::json!(["admins", "developers"])
    );
    // A parallel caller with the old token, within reuseInterval, gets the same successor.
    app.clock.advance(2);
    let (s, b) = refresh(&app, r0).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["refresh_token"].as_str().unwrap(), r1);
    // The successor rotates normally.
    let (s, c) = refresh(&app, r1).await;
    assert_eq!(s, StatusCode::OK);
    let r2 = c["refresh_token"].as_str().unwrap().to_string();
    // Reuse after the interval revokes the whole family, the newest token included.
    app.clock.advance(10);
    let (s, e) = refresh(&app, r0).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (s, _) = refresh(&app, &r2).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "family must be revoked");
}

#[tokio::test]
async fn parallel_refreshes_of_one_token_all_succeed_with_one_successor() {
    let app = TestApp::start().await;
    let t = app.tokens("openid offline_access").await;
    let r0 = t["refresh_token"].as_str().unwrap().to_string();
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let url = app.url("/token");
        let r0 = r0.clone();
        tasks.push(tokio::spawn(async move {
            let r = reqwest::Client::new()
                .post(url)
                .basic_auth("rp", Some("rp-secret"))
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", r0.as_str()),
                ])
                .send()
                .await
                .unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }));
    }
    let mut successors = std::collections::HashSet::new();
    for t in tasks {
        let (s, b) = t.await.unwrap();
        assert_eq!(s, StatusCode::OK, "{b}");
        successors.insert(b["refresh_token"].as_str().unwrap().to_string());
    }
    assert_eq!(successors.len(), 1, "{successors:?}");
}

#[tokio::test]
async fn disabled_rotation_keeps_the_token() {
    let app = TestApp::start_with(Opts {
        disable_rotation: true,
        ..Default::default()
    })
    .await;
    let t = app.tokens("openid offline_access").await;
    let r0 = t["refresh_token"].as_str().unwrap();
    for _ in 0..2 {
        let (s, a) = refresh(&app, r0).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(a["refresh_token"].as_str().unwrap(), r0);
    }
}

#[tokio::test]
async fn idle_and_absolute_lifetimes_end_a_family() {
    let app = TestApp::start().await;
    let t = app.tokens("openid offline_access").await;
    app.clock.advance(49 * 3600);
    let (s, _) = refresh(&app, t["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "unused for longer than validIfNotUsedFor"
    );

    let t = app.tokens("openid offline_access").await;
    let mut rt = t["refresh_token"].as_str().unwrap().to_string();
    for _ in 0..15 {
        app.clock.advance(47 * 3600);
        let (s, a) = refresh(&app, &rt).await;
        assert_eq!(s, StatusCode::OK, "{a}");
        rt = a["refresh_token"].as_str().unwrap().to_string();
    }
    app.clock.advance(47 * 3600);
    let (s, _) = refresh(&app, &rt).await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "older than absoluteLifetime (720h)"
    );
}

#[tokio::test]
async fn refresh_may_narrow_scopes_but_not_widen_them() {
    let app = TestApp::start().await;
    let t = app.tokens("openid email offline_access").await;
    let rt = t["refresh_token"].as_str().unwrap();
    let (s, b) = app
        .post_token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt),
                ("scope", "openid groups"),
            ],
            Some(RP),
        )
        .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );
    let (s, b) = app
        .post_token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt),
                ("scope", "openid"),
            ],
            Some(RP),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(
        jwt_claims(b["id_token"].as_str().unwrap())
            .get("email")
            .is_none()
    );
}

#[tokio::test]
async fn refresh_revalidates_the_user_with_the_connector() {
    let app = TestApp::start().await;
    let db = &app.admin.db;
    db.create_password(&gantry::storage::passwords::PasswordRow {
        email: "temp@example.com".into(),
        hash: gantry::password::hash("password").unwrap(),
        username: "temp".into(),
        user_id: "temp-1".into(),
        groups_json: "[\"a\"]".into(),
        created_at: 0,
        disabled_at: None,
        version: "v1".into(),
    })
    .await
    .unwrap();
    let t = app
        .tokens_for("openid groups offline_access", "temp@example.com")
        .await;
    let rt = t["refresh_token"].as_str().unwrap();
    sqlx::query(
        "UPDATE passwords SET groups_json = '[\"a\",\"b\"]' WHERE email = 'temp@example.com'",
    )
    .execute(&app.pool().await)
    .await
    .unwrap();
    let (s, a) = refresh(&app, rt).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        jwt_claims(a["id_token"].as_str().unwrap())["groups"],
        serde_json::json!(["a", "b"]),
        "groups are read again"
    );
    sqlx::query("DELETE FROM passwords WHERE email = 'temp@example.com'")
        .execute(&app.pool().await)
        .await
        .unwrap();
    let (s, b) = refresh(&app, a["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "a deleted user cannot refresh"
    );
}
