//! The audit trail: logins, refresh-family revocations and code replays are events in the
//! database carrying the request id the client saw, and never a secret.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;

/// The audit events of `action`, oldest first: (outcome, request id, detail).
async fn events(app: &TestApp, action: &str) -> Vec<(String, String, String)> {
    sqlx::query_as(
        "SELECT outcome, request_id, detail FROM audit_log WHERE action = $1 ORDER BY id",
    )
    .bind(action)
    .fetch_all(&app.pool().await)
    .await
    .unwrap()
}

async fn post_token(app: &TestApp, form: &[(&str, &str)]) -> (StatusCode, String, Value) {
    let r = reqwest::Client::new()
        .post(app.url("/token"))
        .basic_auth(RP.0, Some(RP.1))
        .form(form)
        .send()
        .await
        .unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    (r.status(), id, r.json().await.unwrap())
}

#[tokio::test]
async fn revocations_and_logins_are_audited_with_their_request_id_and_no_secret() {
    let app = TestApp::start().await;
    // A password login through the form: its event names the request that made it.
    let browser = app.browser();
    let form = login_form(&app, &browser, "local", "openid offline_access").await;
    let r = post_login(&browser, &form, "dev@example.com", "password").await;
    let login_request = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let logins = events(&app, "login").await;
    assert_eq!(logins.last().unwrap().0, "success");
    assert_eq!(logins.last().unwrap().1, login_request);

    // A rotated refresh token used again, after the reuse interval: the family is revoked.
    let t = app.tokens("openid offline_access").await;
    let first = t["refresh_token"].as_str().unwrap();
    let (s, _, _) = post_token(
        &app,
        &[("grant_type", "refresh_token"), ("refresh_token", first)],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    app.clock.advance(10);
    let (s, replay_request, _) = post_token(
        &app,
        &[("grant_type", "refresh_token"), ("refresh_token", first)],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let revoked = events(&app, "refresh.revoke").await;
    assert_eq!(revoked.len(), 1, "{revoked:?}");
    let (outcome, request, detail) = &revoked[0];
    assert_eq!(
        (outcome.as_str(), request.as_str()),
        ("revoked", replay_request.as_str())
    );
    assert!(detail.contains("presented again"), "{detail}");

    // A spent code presented again.
    let (code, verifier) = app
        .code_for("openid offline_access", "dev@example.com")
        .await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", RP_REDIRECT),
        ("code_verifier", verifier.as_str()),
    ];
    let (s, _, issued) = post_token(&app, &form).await;
    assert_eq!(s, StatusCode::OK);
    let (s, replay_request, _) = post_token(&app, &form).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let replays = events(&app, "code.replay").await;
    assert_eq!(replays.len(), 1);
    assert_eq!(replays[0].1, replay_request);

    // Revoked by its client at /token/revoke.
    let t = app.tokens("openid offline_access").await;
    let rt = t["refresh_token"].as_str().unwrap();
    let r = reqwest::Client::new()
        .post(app.url("/token/revoke"))
        .basic_auth(RP.0, Some(RP.1))
        .form(&[("token", rt)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let revoked = events(&app, "refresh.revoke").await;
    assert_eq!(revoked.len(), 2);
    assert!(revoked[1].2.contains("revoked by its client"));

    // No token, code, verifier or password in any event.
    let all: Vec<(String,)> = sqlx::query_as("SELECT detail || actor || target FROM audit_log")
        .fetch_all(&app.pool().await)
        .await
        .unwrap();
    let text = format!("{all:?}");
    for secret in [
        first,
        rt,
        code.as_str(),
        verifier.as_str(),
        issued["refresh_token"].as_str().unwrap(),
        issued["access_token"].as_str().unwrap(),
        "password",
    ] {
        assert!(!text.contains(secret), "a secret in the audit log: {text}");
    }
}
