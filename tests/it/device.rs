//! The device authorization grant (RFC 8628), with the browser side walked by an HTTP client.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;

const DEVICE: &str = "urn:ietf:params:oauth:grant-type:device_code";

async fn device_code(app: &TestApp, client: &str, scope: &str) -> (StatusCode, Value) {
    device_code_via(app, client, scope, None).await
}

/// `device_code`, asked with `X-Forwarded-For: forwarded_for` when given.
async fn device_code_via(
    app: &TestApp,
    client: &str,
    scope: &str,
    forwarded_for: Option<&str>,
) -> (StatusCode, Value) {
    let mut r = reqwest::Client::new().post(app.url("/device/code"));
    if let Some(addr) = forwarded_for {
        r = r.header("x-forwarded-for", addr);
    }
    let r = r
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
    assert!(
        page.contains("signs that device in to your account"),
        "the code page says what typing the code does: {page}"
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

/// `skipApprovalScreen: true`, the setting that once let a followed link sign a device in
/// with no question asked.
fn skipping_approval(extra_yaml: &str, extra_clients: &str) -> Opts {
    Opts {
        skip_approval: true,
        extra_yaml: extra_yaml.into(),
        extra_clients: extra_clients.into(),
        ..Default::default()
    }
}

fn complete(dc: &Value) -> &str {
    dc["verification_uri_complete"].as_str().unwrap()
}

/// How the confirmation writes a time: UTC, to the second.
fn utc(t: i64) -> String {
    let d = time::OffsetDateTime::from_unix_timestamp(t).unwrap();
    format!(
        "{} {:02}:{:02}:{:02} UTC",
        d.date(),
        d.hour(),
        d.minute(),
        d.second()
    )
}

#[tokio::test]
async fn with_skip_approval_a_device_gets_no_tokens_until_the_user_confirms() {
    let app = TestApp::start_with(skipping_approval("", "")).await;
    let asked_at = gantry::clock::Clock::now(&app.clock);
    let (_, dc) = device_code(&app, "native", "openid offline_access").await;
    let code = dc["device_code"].as_str().unwrap();
    let user_code = dc["user_code"].as_str().unwrap();
    // A victim follows the link and logs in: the login ends at a question, not at tokens.
    let b = app.browser();
    let (req, r) = app
        .device_login(&b, complete(&dc), "admin@example.com")
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{:?}", location(&r));
    let page = r.text().await.unwrap();
    for shown in [
        "Native CLI",
        user_code,
        "127.0.0.1",
        utc(asked_at).as_str(),
        "Deny",
    ] {
        assert!(page.contains(shown), "{shown} is on the page: {page}");
    }
    assert!(page.contains("method=\"post\""), "{page}");
    app.clock.advance(6);
    let (_, t) = poll(&app, "native", code).await;
    assert_eq!(t["error"], "authorization_pending", "no tokens yet: {t}");

    let r = app.confirm_device(&b, &req, &page, true).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).ends_with("/device/done?result=approved"));
    app.clock.advance(6);
    let (s, t) = poll(&app, "native", code).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert!(t["refresh_token"].is_string());
}

#[tokio::test]
async fn the_confirmation_shows_the_address_gantry_trusts_and_escapes_names() {
    // Behind a trusted proxy, the device's address is the one the proxy names.
    let app = TestApp::start_with(Opts {
        extra_yaml: "rateLimits:\n  trustedProxies: [\"127.0.0.0/8\"]\n".into(),
        extra_clients: "  - id: tv\n    name: \"<b>Lobby</b> TV & co\"\n    public: true\n".into(),
        ..Default::default()
    })
    .await;
    let (_, dc) = device_code_via(&app, "tv", "openid", Some("203.0.113.7")).await;
    let (_, r) = app
        .device_login(&app.browser(), complete(&dc), "dev@example.com")
        .await;
    let page = r.text().await.unwrap();
    assert!(page.contains("203.0.113.7"), "{page}");
    assert!(
        page.contains("&#60;b&#62;Lobby&#60;/b&#62; TV &#38; co") && !page.contains("<b>Lobby"),
        "the client's name is escaped: {page}"
    );

    // Without trusted proxies, a device cannot name an address of its choosing.
    let app = TestApp::start_with(skipping_approval("", "")).await;
    let (_, dc) = device_code_via(&app, "native", "openid", Some("203.0.113.7")).await;
    let (_, r) = app
        .device_login(&app.browser(), complete(&dc), "dev@example.com")
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("127.0.0.1") && !page.contains("203.0.113.7"),
        "{page}"
    );
}

#[tokio::test]
async fn denying_the_device_confirmation_ends_polling_with_access_denied() {
    let app = TestApp::start_with(skipping_approval("", "")).await;
    let (_, dc) = device_code(&app, "native", "openid").await;
    let b = app.browser();
    let (req, r) = app
        .device_login(&b, complete(&dc), "admin@example.com")
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{:?}", location(&r));
    let page = r.text().await.unwrap();
    let r = app.confirm_device(&b, &req, &page, false).await;
    assert!(location(&r).ends_with("/device/done?result=denied"));
    let (s, t) = poll(&app, "native", dc["device_code"].as_str().unwrap()).await;
    assert_eq!(
        (s, t["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("access_denied"))
    );
    // The user's decision and the device's outcome are both in the audit trail.
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT action, actor, outcome FROM audit_log \
         WHERE action IN ('device', 'device.token') ORDER BY id",
    )
    .fetch_all(&app.pool().await)
    .await
    .unwrap();
    assert_eq!(
        rows,
        [
            ("device".into(), "admin@example.com".into(), "denied".into()),
            ("device.token".into(), String::new(), "denied".into()),
        ]
    );
}

#[tokio::test]
async fn a_device_confirmation_without_its_csrf_token_is_refused() {
    let app = TestApp::start_with(skipping_approval("", "")).await;
    let (_, dc) = device_code(&app, "native", "openid").await;
    let code = dc["device_code"].as_str().unwrap();
    let b = app.browser();
    let (req, r) = app
        .device_login(&b, complete(&dc), "admin@example.com")
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{:?}", location(&r));
    let page = r.text().await.unwrap();
    let action = app.absolute(&form_action(&page).unwrap());
    // The code form's token is valid in this browser, but for another form.
    let entry = b
        .get(complete(&dc))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let other_form = hidden(&entry, "csrf");
    for csrf in [None, Some("made-up"), Some(other_form.as_str())] {
        let mut form = vec![("req", req.as_str()), ("approval", "approve")];
        if let Some(c) = csrf {
            form.push(("csrf", c));
        }
        let r = b.post(&action).form(&form).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "csrf {csrf:?}");
    }
    // The page's token from another browser (which lacks this browser's cookie).
    let r = app.confirm_device(&app.browser(), &req, &page, true).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (_, t) = poll(&app, "native", code).await;
    assert_eq!(t["error"], "authorization_pending", "{t}");

    let r = app.confirm_device(&b, &req, &page, true).await;
    assert!(location(&r).ends_with("result=approved"));
}

#[tokio::test]
async fn a_device_confirmation_for_an_expired_or_used_code_is_refused() {
    let app = TestApp::start_with(skipping_approval("", "")).await;
    // Two browsers were given the same code; the first approves it.
    let (_, dc) = device_code(&app, "native", "openid email").await;
    let code = dc["device_code"].as_str().unwrap();
    let (first, second) = (app.browser(), app.browser());
    let (req1, r1) = app
        .device_login(&first, complete(&dc), "admin@example.com")
        .await;
    let (req2, r2) = app
        .device_login(&second, complete(&dc), "dev@example.com")
        .await;
    assert_eq!((r1.status(), r2.status()), (StatusCode::OK, StatusCode::OK));
    let (page1, page2) = (r1.text().await.unwrap(), r2.text().await.unwrap());
    let r = app.confirm_device(&first, &req1, &page1, true).await;
    assert!(location(&r).ends_with("result=approved"));
    let again = app.absolute(&format!("{}?req={req2}", form_action(&page2).unwrap()));
    let r = second.get(&again).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("already used"));
    let r = app.confirm_device(&second, &req2, &page2, true).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    app.clock.advance(6);
    let (s, t) = poll(&app, "native", code).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(
        jwt_claims(t["id_token"].as_str().unwrap())["email"],
        "admin@example.com",
        "the tokens are the first approver's"
    );

    // A code that expires while its confirmation is open.
    let (_, dc) = device_code(&app, "native", "openid").await;
    let b = app.browser();
    let (req, r) = app
        .device_login(&b, complete(&dc), "admin@example.com")
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    app.clock.advance(301);
    let open = app.absolute(&format!("{}?req={req}", form_action(&page).unwrap()));
    let r = b.get(&open).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("expired"));
    let r = app.confirm_device(&b, &req, &page, true).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let (_, t) = poll(&app, "native", dc["device_code"].as_str().unwrap()).await;
    assert_eq!(t["error"], "expired_token");
}
