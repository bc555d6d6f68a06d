//! Browser sessions end to end: openid-client through two clients with one cookie jar
//! (tests/rp/sso.mjs), and what the session table holds.

use serde_json::Value;

use crate::support::*;

fn sso_app_opts() -> Opts {
    Opts {
        skip_approval: true,
        extra_yaml: "sessions:\n  ssoSharedWithDefault: all\n".into(),
        extra_clients: format!(
            "  - id: dash\n    name: Dashboard\n    secret: dash-secret\n    redirectURIs: [\"{RP_REDIRECT}\"]\n"
        ),
        ..Default::default()
    }
}

async fn run_sso_script(app: &TestApp) -> Value {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/rp");
    let out = tokio::process::Command::new("node")
        .arg("sso.mjs")
        .current_dir(dir)
        .env("ISSUER", &app.issuer)
        .env("A_ID", "rp")
        .env("A_SECRET", "rp-secret")
        .env("B_ID", "dash")
        .env("B_SECRET", "dash-secret")
        .env("REDIRECT_URI", RP_REDIRECT)
        .env("POST_LOGOUT_URI", "http://127.0.0.1:5555/bye")
        .env("LOGIN", "admin@example.com")
        .env("PASSWORD", "password")
        .output()
        .await
        .expect("node runs (install nodejs: scripts/test.sh does)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "openid-client single sign-on failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap()
}

#[tokio::test]
async fn openid_client_signs_in_once_for_two_clients_and_logout_ends_it() {
    let app = TestApp::start_with(sso_app_opts()).await;
    let r = run_sso_script(&app).await;
    assert_eq!(r["ok"], true);
    // The first login and max_age=0: two forms in five authorizations.
    assert_eq!(r["forms"], 2);
    let sid = r["sid"].as_str().unwrap();
    // Logout ended the session: its row is gone, and the trail says why.
    assert!(
        app.admin.db.get_browser_session(sid).await.is_err(),
        "the session outlived its logout"
    );
    let events = app
        .admin
        .db
        .list_audit(
            &gantry::storage::audit::AuditFilter {
                action: Some("session.end".into()),
                ..Default::default()
            },
            gantry::storage::audit::AuditCursor::Newest,
            10,
        )
        .await
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.detail.contains(sid) && e.detail.contains("logged out")),
        "{events:?}"
    );
}

async fn api(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (reqwest::StatusCode, Value) {
    let mut r = reqwest::Client::new()
        .request(method, app.url(path))
        .bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let s = r.status();
    (s, r.json().await.unwrap_or(Value::Null))
}

/// Where `/auth?prompt=none` for `rp` sends a browser: `code` or `error=...`.
async fn silent(app: &TestApp, b: &reqwest::Client) -> String {
    let r = b
        .get(app.url("/auth"))
        .query(&[
            ("client_id", "rp"),
            ("redirect_uri", RP_REDIRECT),
            ("response_type", "code"),
            ("scope", "openid"),
            ("state", "s"),
            ("prompt", "none"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    let to = location(&r).to_string();
    assert!(to.starts_with(RP_REDIRECT), "{to}");
    if query_param(&to, "code").is_some() {
        "code".into()
    } else {
        query_param(&to, "error").unwrap_or_default()
    }
}

#[tokio::test]
async fn admins_see_signed_in_browsers_and_sign_them_out() {
    let app = TestApp::start_with(Opts {
        extra_yaml: format!(
            "{}sessions:\n  ssoSharedWithDefault: all\n",
            crate::admin::POLICY
        ),
        ..Default::default()
    })
    .await;
    let token = crate::admin::machine_token(&app).await;
    let b = app.browser();
    let q = [
        ("client_id", "rp"),
        ("redirect_uri", RP_REDIRECT),
        ("response_type", "code"),
        ("scope", "openid"),
        ("state", "s1"),
    ];
    let cb = app.login(&b, &q, "dev@example.com", "password").await;
    assert!(query_param(&cb, "code").is_some(), "{cb}");
    assert_eq!(silent(&app, &b).await, "code");

    let (s, page) = api(
        &app,
        reqwest::Method::GET,
        "/api/v1/browser-sessions",
        &token,
        None,
    )
    .await;
    assert_eq!(s, reqwest::StatusCode::OK, "{page}");
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{page}");
    let it = &items[0];
    assert_eq!(it["email"], "dev@example.com");
    assert_eq!(it["clients"], serde_json::json!(["rp"]));
    assert_eq!(it["amr"], serde_json::json!(["pwd"]));
    assert_eq!(it["address"], "127.0.0.1");
    let path = format!("/api/v1/browser-sessions/{}", it["id"].as_str().unwrap());
    let (s, _) = api(&app, reqwest::Method::DELETE, &path, &token, None).await;
    assert_eq!(s, reqwest::StatusCode::NO_CONTENT);
    let (s, _) = api(&app, reqwest::Method::DELETE, &path, &token, None).await;
    assert_eq!(s, reqwest::StatusCode::NOT_FOUND);
    assert_eq!(silent(&app, &b).await, "login_required");
    // Without an admin's token: refused.
    let (s, _) = api(
        &app,
        reqwest::Method::GET,
        "/api/v1/browser-sessions",
        "not-a-token",
        None,
    )
    .await;
    assert_eq!(s, reqwest::StatusCode::UNAUTHORIZED);

    // Revoking a user signs their browsers out too.
    app.login(&b, &q, "dev@example.com", "password").await;
    assert_eq!(silent(&app, &b).await, "code");
    let (_, page) = api(
        &app,
        reqwest::Method::GET,
        "/api/v1/browser-sessions",
        &token,
        None,
    )
    .await;
    let subject = page["items"][0]["subject"].as_str().unwrap().to_string();
    // One user's browsers: theirs only (another user signed in in another browser).
    app.login(&app.browser(), &q, "admin@example.com", "password")
        .await;
    let (_, all) = api(
        &app,
        reqwest::Method::GET,
        "/api/v1/browser-sessions",
        &token,
        None,
    )
    .await;
    assert_eq!(all["items"].as_array().unwrap().len(), 2, "{all}");
    let one_path = format!(
        "/api/v1/browser-sessions?subject={}",
        url::form_urlencoded::byte_serialize(subject.as_bytes()).collect::<String>()
    );
    let (_, one) = api(&app, reqwest::Method::GET, &one_path, &token, None).await;
    let one = one["items"].as_array().unwrap();
    assert_eq!(one.len(), 1, "{one:?}");
    assert_eq!(one[0]["subject"], subject.as_str());
    let (_, none) = api(
        &app,
        reqwest::Method::GET,
        "/api/v1/browser-sessions?subject=nobody",
        &token,
        None,
    )
    .await;
    assert_eq!(none["items"], serde_json::json!([]));
    let (s, r) = api(
        &app,
        reqwest::Method::POST,
        "/api/v1/sessions/revoke-user",
        &token,
        Some(serde_json::json!({ "subject": subject })),
    )
    .await;
    assert_eq!(s, reqwest::StatusCode::OK, "{r}");
    assert_eq!(r["browser_sessions"], 1);
    assert_eq!(silent(&app, &b).await, "login_required");
}

/// A sign-in to the admin UI that began on another site and that the browser's session
/// completed without a page: the callback answers a page that moves on by itself (the admin
/// cookie is SameSite=Strict and would not come back on a cross-site redirect, which looped);
/// a same-site sign-in keeps its redirect.
#[tokio::test]
async fn a_cross_site_admin_sign_in_ends_on_a_page_not_in_a_redirect_loop() {
    let app = TestApp::start_with(Opts {
        extra_yaml: format!(
            "{}sessions:\n  ssoSharedWithDefault: all\n",
            crate::admin::POLICY
        ),
        ..Default::default()
    })
    .await;
    for cross_site in [false, true] {
        let b = app.browser();
        let home = app.url("/admin");
        let callback = walk(&b, &home, "admin@example.com", "password", |u| {
            u.starts_with(&app.url("/admin/callback"))
        })
        .await;
        let mut req = b.get(&callback);
        if cross_site {
            req = req.header("sec-fetch-site", "cross-site");
        }
        let r = req.send().await.unwrap();
        if cross_site {
            assert_eq!(r.status(), reqwest::StatusCode::OK);
            let page = r.text().await.unwrap();
            assert!(
                page.contains("http-equiv=\"refresh\" content=\"0;url=/dex/admin\""),
                "{page}"
            );
        } else {
            assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
            assert_eq!(location(&r), "/dex/admin");
        }
        // Either way the admin is signed in.
        let overview = b.get(app.url("/admin")).send().await.unwrap();
        assert_eq!(overview.status(), reqwest::StatusCode::OK);
    }
}

/// A session cookie copied into another browser (another User-Agent) does not log it in, and
/// the attempt is recorded; the browser that signed in keeps its session.
#[tokio::test]
async fn a_session_cookie_from_another_browser_is_not_used() {
    let app = TestApp::start().await;
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let browser = |agent: &str| {
        reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(agent)
            .build()
            .unwrap()
    };
    let own = browser("Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0");
    let q = [
        ("client_id", "rp"),
        ("redirect_uri", RP_REDIRECT),
        ("response_type", "code"),
        ("scope", "openid"),
        ("state", "s1"),
    ];
    app.login(&own, &q, "dev@example.com", "password").await;
    assert_eq!(silent(&app, &own).await, "code");
    // The same cookies (one jar), sent by another program.
    let thief = browser("curl/8.5.0");
    assert_eq!(silent(&app, &thief).await, "login_required");
    let refused: Vec<(String, String)> = sqlx::query_as(
        "SELECT outcome, detail FROM audit_log WHERE action = 'session' ORDER BY id",
    )
    .fetch_all(&app.pool().await)
    .await
    .unwrap();
    assert!(
        refused.iter().any(|(o, d)| o == "refused"
            && d.contains("another browser")
            && d.contains("curl/8.5.0")),
        "{refused:?}"
    );
    assert_eq!(
        silent(&app, &own).await,
        "code",
        "the owner's session goes on"
    );
}
