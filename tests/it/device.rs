//! The device authorization grant (RFC 8628), with the browser side walked by an HTTP client.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;

const DEVICE: &str = "urn:ietf:params:oauth:grant-type:device_code";

async fn device_code(app: &TestApp, client: &str, scope: &str) -> (StatusCode, Value) {
    let r = reqwest::Client::new()
        .post(app.url("/device/code"))
        .form(&[("client_id", client), ("scope", scope)])
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap())
}

async fn poll(app: &TestApp, client: &str, code: &str) -> (StatusCode, Value) {
    app.post_token(
        &[
            ("grant_type", DEVICE),
            ("device_code", code),
            ("client_id", client),
        ],
        None,
    )
    .await
}

#[tokio::test]
async fn a_device_logs_in_after_the_user_approves_in_a_browser() {
    let app = TestApp::start().await;
    let d = app.url("/.well-known/openid-configuration");
    let disco: Value = reqwest::get(d).await.unwrap().json().await.unwrap();
    assert_eq!(
        disco["device_authorization_endpoint"],
        app.url("/device/code")
    );
    let (s, dc) = device_code(&app, "native", "openid groups offline_access").await;
    assert_eq!(s, StatusCode::OK, "{dc}");
    assert_eq!(dc["verification_uri"], app.url("/device"));
    let code = dc["device_code"].as_str().unwrap();
    let user_code = dc["user_code"].as_str().unwrap();
    assert!(
        user_code.len() == 9 && user_code.as_bytes()[4] == b'-',
        "{user_code}"
    );
    assert_eq!(
        (dc["interval"].as_i64(), dc["expires_in"].as_i64()),
        (Some(5), Some(300))
    );

    let (s, b) = poll(&app, "native", code).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("authorization_pending"))
    );
    let (_, b) = poll(&app, "native", code).await;
    assert_eq!(b["error"], "slow_down", "polled faster than the interval");
    // Each slow_down adds five seconds for every later poll (RFC 8628, 3.5): 6 s is no
    // longer enough, and that early poll adds five more.
    app.clock.advance(6);
    let (_, b) = poll(&app, "native", code).await;
    assert_eq!(b["error"], "slow_down", "the interval grew to 10 s");
    assert!(
        b["error_description"].as_str().unwrap().contains("15"),
        "{b}"
    );
    app.clock.advance(16);
    let (_, b) = poll(&app, "native", code).await;
    assert_eq!(b["error"], "authorization_pending", "{b}");

    let page = reqwest::get(dc["verification_uri_complete"].as_str().unwrap())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(user_code),
        "the complete URI pre-fills the code"
    );
    app.enter_device_code(
        dc["verification_uri_complete"].as_str().unwrap(),
        "admin@example.com",
        true,
    )
    .await;

    app.clock.advance(16);
    let (s, t) = poll(&app, "native", code).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(
        jwt_claims(t["id_token"].as_str().unwrap())["groups"],
        serde_json::json!(["admins", "developers"])
    );
    assert!(t["refresh_token"].is_string());
    let (_, b) = poll(&app, "native", code).await;
    assert_eq!(
        b["error"], "invalid_grant",
        "a device code yields tokens once"
    );
}

#[tokio::test]
async fn denial_expiry_other_clients_and_clients_without_the_grant() {
    let app = TestApp::start().await;
    let (_, dc) = device_code(&app, "native", "openid").await;
    app.enter_device_code(
        dc["verification_uri_complete"].as_str().unwrap(),
        "admin@example.com",
        false,
    )
    .await;
    let (_, b) = poll(&app, "native", dc["device_code"].as_str().unwrap()).await;
    assert_eq!(b["error"], "access_denied");

    let (_, dc) = device_code(&app, "native", "openid").await;
    let (s, b) = app
        .post_token(
            &[
                ("grant_type", DEVICE),
                ("device_code", dc["device_code"].as_str().unwrap()),
            ],
            Some(("peer", "peer-secret")),
        )
        .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "another client's device code"
    );
    app.clock.advance(301);
    let (_, b) = poll(&app, "native", dc["device_code"].as_str().unwrap()).await;
    assert_eq!(b["error"], "expired_token");

    let r = reqwest::Client::new()
        .post(app.url("/device/code"))
        .basic_auth("machine", Some("machine-secret"))
        .form(&[("scope", "openid")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "unauthorized_client"
    );
    let (s, b) = poll(&app, "native", "made-up").await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn guessing_user_codes_is_throttled() {
    let app = TestApp::start().await;
    let (_, dc) = device_code(&app, "native", "openid").await;
    let b = app.browser();
    let page = b
        .get(app.url("/device"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = hidden(&page, "csrf");
    let mut last = StatusCode::OK;
    for i in 0..25 {
        let r = b
            .post(app.url("/device"))
            .form(&[
                ("user_code", format!("BCDF-{i:04}").as_str()),
                ("csrf", csrf.as_str()),
            ])
            .send()
            .await
            .unwrap();
        last = r.status();
        if last == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
        assert_eq!(last, StatusCode::BAD_REQUEST);
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    // Even the right code waits out the window.
    let code = dc["user_code"].as_str().unwrap();
    let r = b
        .post(app.url("/device"))
        .form(&[("user_code", code), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    app.clock.advance(301);
    let (_, fresh) = device_code(&app, "native", "openid").await;
    let r = b
        .post(app.url("/device"))
        .form(&[
            ("user_code", fresh["user_code"].as_str().unwrap()),
            ("csrf", csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}
