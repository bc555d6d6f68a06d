//! The admin UI and API: sign-in through Gantry itself, admin rights from the policy, live
//! sessions listed and revoked (and the protocol endpoints noticing), CSRF, problem documents.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;

pub(crate) const POLICY: &str = r#"policy:
  admins: { groups: [admins], clients: [machine] }
  rules:
    - name: developers-pull
      groups: [developers]
      registry: [{ repositories: ["dev/**"], actions: [pull] }]
"#;

pub(crate) async fn app() -> TestApp {
    TestApp::start_with(Opts {
        extra_yaml: POLICY.into(),
        ..Opts::default()
    })
    .await
}

/// Sign in to /admin with a fresh browser; the browser and the page it lands on.
pub(crate) async fn sign_in(app: &TestApp, user: &str) -> (reqwest::Client, reqwest::Response) {
    let b = app.browser();
    let home = app.url("/admin");
    let landed = walk(&b, &home, user, "password", |u| {
        u == home || u.starts_with(&app.url("/admin/callback"))
    })
    .await;
    let r = b.get(&landed).send().await.unwrap();
    (b, r)
}

/// Start a login at the password form in `b`: (request id, form URL).
async fn start_password_login(app: &TestApp, b: &reqwest::Client) -> (String, String) {
    let r = b
        .get(rp_auth_url(app, "local", "openid", &[]))
        .send()
        .await
        .unwrap();
    let url = app.absolute(location(&r));
    let req = query_param(&url, "req").unwrap();
    (req, url)
}

async fn dev_refresh_token(app: &TestApp) -> String {
    let t = app
        .tokens_for("openid email offline_access", "dev@example.com")
        .await;
    t["refresh_token"].as_str().unwrap().to_string()
}

async fn refresh(app: &TestApp, rt: &str) -> StatusCode {
    app.post_token(
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        Some(RP),
    )
    .await
    .0
}

#[tokio::test]
async fn an_admin_signs_in_through_gantry_and_revokes_a_users_session() {
    let app = app().await;
    let rt = dev_refresh_token(&app).await;
    // Not signed in: /admin sends the browser to sign in.
    let r = app.browser().get(app.url("/admin")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).ends_with("/admin/login"));

    let (b, r) = sign_in(&app, "admin@example.com").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the callback signs in");
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("gantry_admin="))
        .expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let page = b
        .get(app.url("/admin"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("<h1>Overview</h1>"), "{page}");
    assert!(page.contains("<td>local</td>"));

    let page = b
        .get(app.url("/admin/sessions"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The refresh-token table, not the signed-in browsers below it.
    let families = page
        .split("id=\"browser-sessions\"")
        .next()
        .unwrap_or_default();
    let row = families
        .split("<tr>")
        .find(|r| r.contains("dev@example.com"))
        .expect("dev's session is listed");
    let (id, csrf) = (hidden(row, "id"), hidden(&page, "csrf"));
    // A forged form (no token, or another session's) is refused, changes nothing, and is in
    // the audit trail under the admin it was aimed at.
    for bad in ["", "forged"] {
        let r = b
            .post(app.url("/admin/sessions/revoke"))
            .form(&[("id", id.as_str()), ("csrf", bad)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    let forged: Vec<(String, String)> =
        sqlx::query_as("SELECT actor, outcome FROM audit_log WHERE action = 'admin.ui'")
            .fetch_all(&app.pool().await)
            .await
            .unwrap();
    assert_eq!(
        forged,
        vec![("admin@example.com".to_string(), "refused".to_string()); 2]
    );
    assert_eq!(refresh(&app, &rt).await, StatusCode::OK);
    let rt = dev_refresh_token(&app).await;
    let page = b
        .get(app.url("/admin/sessions"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let ids: Vec<String> = page
        .split("id=\"browser-sessions\"")
        .next()
        .unwrap_or_default()
        .split("<tr>")
        .filter(|r| r.contains("dev@example.com"))
        .map(|r| hidden(r, "id"))
        .collect();
    for id in &ids {
        let r = b
            .post(app.url("/admin/sessions/revoke"))
            .form(&[
                ("id", id.as_str()),
                ("csrf", csrf.as_str()),
                ("confirm", "yes"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }
    assert_eq!(
        refresh(&app, &rt).await,
        StatusCode::BAD_REQUEST,
        "a revoked session's refresh token stops working"
    );

    // Rotate the signing key from the keys page: a new key signs at once.
    let before: Vec<String> = app
        .admin
        .signing_keys()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    let page = b
        .get(app.url("/admin/keys"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("signing now"));
    let r = b
        .post(app.url("/admin/keys/rotate"))
        .form(&[("csrf", csrf.as_str()), ("confirm", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let signing = app
        .admin
        .signing_keys()
        .into_iter()
        .find(|k| k.signing)
        .unwrap();
    assert!(!before.contains(&signing.kid), "a new key signs");

    // A failed login whose name names nobody (it may be a password typed into the wrong
    // field) is recorded as a digest, never as typed.
    let evil = "<img src=x onerror=alert(1)>";
    let bw = app.browser();
    let (req, login_url) = start_password_login(&app, &bw).await;
    let page = bw
        .get(&login_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = bw
        .post(&login_url)
        .form(&[
            ("req", req.as_str()),
            ("csrf", hidden(&page, "csrf").as_str()),
            ("login", evil),
            ("password", "wrong"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Whatever the table holds is shown as text.
    sqlx::query(
        "INSERT INTO audit_log (at, actor, action, target, outcome, detail, request_id) \
         VALUES (0, $1, 'probe', 'x', 'failure', '{}', '')",
    )
    .bind("<b>markup</b>")
    .execute(&app.pool().await)
    .await
    .unwrap();
    let page = b
        .get(app.url("/admin/audit"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for action in ["admin.sign_in", "session.revoke", "keys.rotate", "login"] {
        assert!(
            page.contains(&format!("<td>{action}</td>")),
            "{action} is in the audit log"
        );
    }
    assert!(page.contains("&#60;b&#62;markup&#60;/b&#62;"), "{page}");
    assert!(!page.contains("<b>markup"), "{page}");
    assert!(!page.contains(evil) && !page.contains("&#60;img"), "{page}");
    assert!(page.contains("unknown-login:"), "{page}");
    let filtered = b
        .get(app.url("/admin/audit?action=keys.rotate"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        filtered.contains("<td>keys.rotate</td>") && !filtered.contains("<td>session.revoke</td>")
    );

    // Sign out: the session cookie no longer opens the pages.
    let r = b
        .post(app.url("/admin/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = b.get(app.url("/admin")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_non_admin_gets_a_403_page() {
    let app = app().await;
    let (_, r) = sign_in(&app, "dev@example.com").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("not an administrator"));
}

pub(crate) async fn machine_token(app: &TestApp) -> String {
    let (s, t) = app
        .post_token(
            &[("grant_type", "client_credentials")],
            Some(("machine", "machine-secret")),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    t["access_token"].as_str().unwrap().to_string()
}

async fn api(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
) -> (StatusCode, String, Value) {
    let mut r = reqwest::Client::new().request(method, app.url(path));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let r = r.send().await.unwrap();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let s = r.status();
    (s, ct, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_api_lists_and_revokes_sessions_for_an_admin_client_only() {
    let app = app().await;
    let rt = dev_refresh_token(&app).await;
    let token = machine_token(&app).await;
    let (s, _, page) = api(
        &app,
        reqwest::Method::GET,
        "/api/v1/sessions?limit=10",
        Some(&token),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    let dev = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["email"] == "dev@example.com")
        .expect("dev's session")
        .clone();
    assert_eq!(dev["client_id"], "rp");
    assert_eq!(dev["connector"], "local");

    let path = format!("/api/v1/sessions/{}", dev["id"].as_str().unwrap());
    let (s, _, _) = api(&app, reqwest::Method::DELETE, &path, Some(&token)).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(refresh(&app, &rt).await, StatusCode::BAD_REQUEST);
    let (s, ct, p) = api(&app, reqwest::Method::DELETE, &path, Some(&token)).await;
    assert_eq!(
        (s, ct.as_str()),
        (StatusCode::NOT_FOUND, "application/problem+json")
    );
    assert_eq!(p["status"], 404);

    // Without a token, with a user's token, with a bad parameter: problem documents.
    let (s, ct, p) = api(&app, reqwest::Method::GET, "/api/v1/sessions", None).await;
    assert_eq!(
        (s, ct.as_str()),
        (StatusCode::UNAUTHORIZED, "application/problem+json")
    );
    assert_eq!(p["title"], "Unauthorized");
    let user = app.tokens("openid groups").await;
    let (s, _, _) = api(
        &app,
        reqwest::Method::GET,
        "/api/v1/sessions",
        user["access_token"].as_str(),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::FORBIDDEN,
        "an admin user's token for another app is not enough"
    );
    let (s, _, p) = api(
        &app,
        reqwest::Method::GET,
        "/api/v1/sessions?limit=0",
        Some(&token),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{p}");
    let (s, _, p) = api(
        &app,
        reqwest::Method::GET,
        "/api/v1/sessions?limit=x",
        Some(&token),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{p}");

    // Keys: listed, rotated; the audit log names the client that did it.
    let (s, _, keys) = api(&app, reqwest::Method::GET, "/api/v1/keys", Some(&token)).await;
    assert_eq!(s, StatusCode::OK);
    let old = keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["signing"] == true)
        .unwrap()["kid"]
        .clone();
    let (s, _, _) = api(
        &app,
        reqwest::Method::POST,
        "/api/v1/keys/rotate",
        Some(&token),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, _, keys) = api(&app, reqwest::Method::GET, "/api/v1/keys", Some(&token)).await;
    let new = keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["signing"] == true)
        .unwrap()["kid"]
        .clone();
    assert_ne!(old, new);
    let (s, _, log) = api(
        &app,
        reqwest::Method::GET,
        "/api/v1/audit?action=session.revoke",
        Some(&token),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{log}");
    // The revocation, and the attempt on a session that was not there, refused and recorded.
    let items = log["items"].as_array().unwrap();
    let outcomes: Vec<&str> = items
        .iter()
        .map(|i| i["outcome"].as_str().unwrap())
        .collect();
    assert!(outcomes.contains(&"success"), "{log}");
    assert!(
        outcomes.iter().all(|o| ["success", "failure"].contains(o)),
        "{log}"
    );
    assert!(
        items.iter().all(|i| i["actor"] == "client:machine"),
        "{log}"
    );
    let (_, _, log) = api(
        &app,
        reqwest::Method::GET,
        "/api/v1/audit?limit=1",
        Some(&token),
    )
    .await;
    assert_eq!(log["items"][0]["action"], "keys.rotate");
    let before = log["next_before"].as_i64().expect("a next page");
    let (_, _, older) = api(
        &app,
        reqwest::Method::GET,
        &format!("/api/v1/audit?limit=1&before={before}"),
        Some(&token),
    )
    .await;
    assert!(older["items"][0]["id"].as_i64().unwrap() < before);

    let (s, _, doc) = api(&app, reqwest::Method::GET, "/api/v1/openapi.json", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(doc["paths"]["/sessions/{id}"]["delete"].is_object());
}

async fn password_login(app: &TestApp, user: &str, password: &str) -> StatusCode {
    app.post_token(
        &[
            ("grant_type", "password"),
            ("username", user),
            ("password", password),
            ("scope", "openid"),
        ],
        Some(RP),
    )
    .await
    .0
}

#[tokio::test]
async fn users_are_created_validated_disabled_and_deleted_in_the_ui() {
    let app = app().await;
    let (b, _) = sign_in(&app, "admin@example.com").await;
    let page = b
        .get(app.url("/admin/users"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("admin@example.com") && page.contains("config file (read-only)"));
    let csrf = hidden(&page, "csrf");
    let create = |email: &'static str, password: &'static str| {
        let (b, csrf) = (&b, csrf.clone());
        let url = app.url("/admin/users");
        async move {
            b.post(url)
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("email", email),
                    ("username", "Zoe <b>Z</b>"),
                    ("password", password),
                    ("groups", "ops, release"),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    // Every field error is shown next to its field, and nothing is saved.
    let r = create("not-an-email", "short").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("id=\"email-error\"") && page.contains("id=\"password-error\""),
        "{page}"
    );
    assert!(
        page.contains("value=\"not-an-email\""),
        "what was typed is kept"
    );
    assert_eq!(
        password_login(&app, "not-an-email", "short").await,
        StatusCode::BAD_REQUEST
    );

    let r = create("zoe@example.com", "a long password").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = b
        .get(app.url("/admin/users"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Zoe &#60;b&#62;Z&#60;/b&#62;"),
        "markup in a name is text"
    );
    assert_eq!(
        password_login(&app, "zoe@example.com", "a long password").await,
        StatusCode::OK
    );
    // The same email twice is refused next to the email field.
    let r = create("zoe@example.com", "a long password").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("already exists"));

    let change = |action: &'static str, extra: Vec<(&'static str, &'static str)>| {
        let (b, csrf) = (&b, csrf.clone());
        let url = app.url("/admin/users/change");
        async move {
            let mut form = vec![
                ("csrf", csrf.as_str()),
                ("email", "zoe@example.com"),
                ("action", action),
            ];
            form.extend(extra);
            b.post(url).form(&form).send().await.unwrap().status()
        }
    };
    assert_eq!(change("disable", vec![]).await, StatusCode::SEE_OTHER);
    assert_eq!(
        password_login(&app, "zoe@example.com", "a long password").await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(change("enable", vec![]).await, StatusCode::SEE_OTHER);
    assert_eq!(
        change("reset", vec![("password", "another long one")]).await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        password_login(&app, "zoe@example.com", "a long password").await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        password_login(&app, "zoe@example.com", "another long one").await,
        StatusCode::OK
    );
    assert_eq!(
        change("reset", vec![("password", "short")]).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        change("delete", vec![("confirm", "yes")]).await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        password_login(&app, "zoe@example.com", "another long one").await,
        StatusCode::BAD_REQUEST
    );
    // Config users are read-only; a forged form changes nothing.
    let r = b
        .post(app.url("/admin/users/change"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", "dev@example.com"),
            ("action", "disable"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let r = b
        .post(app.url("/admin/users"))
        .form(&[
            ("csrf", "forged"),
            ("email", "eve@example.com"),
            ("username", "eve"),
            ("password", "a long password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        password_login(&app, "eve@example.com", "a long password").await,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn users_api_takes_json_and_answers_problems() {
    let app = app().await;
    let token = machine_token(&app).await;
    let send =
        |method: reqwest::Method, path: &'static str, ct: &'static str, body: &'static str| {
            let (app, token) = (&app, token.clone());
            async move {
                let r = reqwest::Client::new()
                    .request(method, app.url(path))
                    .bearer_auth(token)
                    .header("content-type", ct)
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let s = r.status();
                (s, r.json::<Value>().await.unwrap_or(Value::Null))
            }
        };
    let json = "application/json";
    let (s, _) = send(reqwest::Method::POST, "/api/v1/users", json,
        r#"{"email":"ci@example.com","username":"ci","password":"a long password","groups":["ops"]}"#).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(
        password_login(&app, "ci@example.com", "a long password").await,
        StatusCode::OK
    );
    for (body, ct, want) in [
        ("{not json", json, StatusCode::BAD_REQUEST),
        (
            r#"{"email":"x@example.com","username":"x","password":"a long password","admin":true}"#,
            json,
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"{"email":"x@example.com","username":"x","password":"short"}"#,
            json,
            StatusCode::BAD_REQUEST,
        ),
        (
            "email=x",
            "application/x-www-form-urlencoded",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ] {
        let (s, p) = send(reqwest::Method::POST, "/api/v1/users", ct, body).await;
        assert_eq!(s, want, "{body}: {p}");
        assert_eq!(p["status"], want.as_u16(), "a problem document");
    }
    let (s, _) = send(
        reqwest::Method::PATCH,
        "/api/v1/users/ci@example.com",
        json,
        r#"{"disabled":true}"#,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        password_login(&app, "ci@example.com", "a long password").await,
        StatusCode::BAD_REQUEST
    );
    let (_, list) = send(reqwest::Method::GET, "/api/v1/users", json, "").await;
    let ci = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "ci@example.com")
        .unwrap()
        .clone();
    assert_eq!(
        (ci["disabled"].as_bool(), ci["source"].as_str()),
        (Some(true), Some("database"))
    );
    let (s, _) = send(
        reqwest::Method::DELETE,
        "/api/v1/users/ci@example.com",
        json,
        "",
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, p) = send(
        reqwest::Method::DELETE,
        "/api/v1/users/ci@example.com",
        json,
        "",
    )
    .await;
    assert_eq!(
        (s, p["status"].as_u64()),
        (StatusCode::NOT_FOUND, Some(404))
    );
}

#[tokio::test]
async fn the_policy_page_explains_decisions_and_the_api_too() {
    let app = app().await;
    let (b, _) = sign_in(&app, "admin@example.com").await;
    let page = b
        .get(app.url("/admin/policy"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("developers-pull"), "the policy is shown");
    let page = b
        .get(app.url(
            "/admin/policy?user=dev&groups=developers&scopes=repository%3Adev%2Fapp%3Apull%2Cpush",
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let result = page
        .split("id=\"explanation\">")
        .nth(1)
        .expect("an explanation");
    assert!(
        result.contains("developers-pull") && result.contains("pull"),
        "{result}"
    );
    let page = b
        .get(app.url("/admin/policy?user=dev&scopes=nonsense"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"explain-error\""), "{page}");

    let token = machine_token(&app).await;
    let r = reqwest::Client::new()
        .post(app.url("/api/v1/policy/explain"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"user": "dev", "groups": ["developers"], "scopes": ["repository:dev/app:pull,push"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert!(v.to_string().contains("developers-pull"), "{v}");
    let r = reqwest::Client::new()
        .get(app.url("/api/v1/policy"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["policy"]["rules"][0]["name"], "developers-pull");
    assert_eq!(v["source"], "config");
}

#[tokio::test]
async fn a_real_chromium_tours_the_admin_ui_and_every_page_is_kept_as_a_screenshot() {
    let slapd = crate::ldap::Slapd::shared();
    let app = app().await;
    let rt = dev_refresh_token(&app).await;
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&out).unwrap();
    let rp = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/rp");
    let bind_pw = std::env::var("GANTRY_TEST_LDAP_BINDPW").unwrap_or_else(|_| "readonly".into());
    let config = serde_norway::to_string(&corp_ldap(&slapd)).unwrap();
    let run = tokio::process::Command::new("node")
        .arg(format!("{rp}/admin-tour.mjs"))
        .arg(app.url("/admin"))
        .arg(&out)
        .arg(&config)
        .arg(&bind_pw)
        .arg(rp_auth_url(
            &app,
            "corp",
            "openid email groups offline_access",
            &[],
        ))
        .arg(app.url("/token"))
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let r: Value = serde_json::from_str(stdout.trim().lines().last().unwrap()).unwrap();
    // The connector: choosing a type fills the form with its template; a config that does not
    // build is refused in place; the saved one works.
    assert_eq!(r["template_oidc"], true, "{r}");
    assert_eq!(r["template_ldap"], true, "{r}");
    assert!(
        r["connector_error"].as_str().unwrap().contains("config"),
        "{r}"
    );
    assert_eq!(r["config_kept"], true, "{r}");
    assert_eq!(r["connector_created"], true, "{r}");
    assert_eq!(r["secret_not_echoed"], true, "{r}");
    assert_eq!(r["name_escaped"], true, "{r}");
    assert!(
        r["connector_test"].as_str().unwrap().contains("passed"),
        "{r}"
    );
    assert_eq!(
        r["connector_survived_csrf"], true,
        "a cross-site form changes nothing: {r}"
    );
    // The forged post is not acted on: without the admin cookie (SameSite=Strict) it is sent
    // to sign in, which the browser's Gantry session completes silently; it must end on a
    // page of Gantry's, not in a redirect loop.
    let landed = r["csrf_landed_on"].as_str().unwrap();
    assert!(
        landed.starts_with("/admin") || landed.starts_with("/auth"),
        "the forged post ends on Gantry's own page: {r}"
    );
    assert_eq!(r["ldap_login"], true, "{r}");
    let claims = jwt_claims(r["ldap_id_token"].as_str().unwrap());
    assert_eq!(
        claims["groups"],
        serde_json::json!(["developers"]),
        "{claims}"
    );
    // The policy: refused with the reason in place, then saved and explained.
    assert!(r["policy_error"].as_str().unwrap().contains("fly"), "{r}");
    assert_eq!(r["policy_text_kept"], true, "{r}");
    assert_eq!(r["policy_saved"], true, "{r}");
    assert_eq!(r["explained"], true, "{r}");
    assert_eq!(r["user_created"], true, "{r}");
    assert_eq!(r["xss"], false, "markup in a name never runs: {r}");
    assert_eq!(r["ldap_sessions"], 1, "{r}");
    assert_eq!(
        r["ldap_browsers"], 1,
        "the directory user's browser is listed: {r}"
    );
    assert_eq!(
        r["ldap_browsers_after"], 0,
        "revoking a user signs their browser out too: {r}"
    );
    assert_eq!(r["revoke_asked"], true, "revoking asks first: {r}");
    assert_eq!(r["revoked"], true, "{r}");
    assert_eq!(r["refresh_after_revoke"], 400, "{r}");
    assert_eq!(
        r["audit"],
        serde_json::json!([
            "connector.create",
            "connector.test",
            "policy.update",
            "user.create",
            "session.revoke",
            "admin.sign_in"
        ]),
        "{r}"
    );
    assert_eq!(r["overview_counts_tokens"], true, "{r}");
    assert_eq!(r["signed_out"], true, "{r}");
    assert_eq!(r["non_admin_403"], true, "{r}");
    assert_eq!(
        r["console_errors"],
        serde_json::json!([]),
        "no CSP violations or script errors: {r}"
    );
    let pages = [
        "overview",
        "connector-template",
        "connector-error",
        "connectors",
        "connector-test",
        "policy-error",
        "policy",
        "users",
        "clients",
        "sessions",
        "confirm",
        "keys",
        "audit",
        "overview-after",
        "forbidden",
    ];
    assert_eq!(r["pages"], serde_json::json!(pages), "{r}");
    for page in pages {
        let png = std::fs::read(out.join(format!("admin-{page}.png"))).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{page}");
    }
    // What the browser did took effect beyond the browser: the new user logs in, the saved
    // policy grants push through the registry's decision, only the revoked session is gone.
    assert_eq!(
        password_login(&app, "script@example.com", "a long password").await,
        StatusCode::OK
    );
    let decision = app
        .admin
        .explain(&gantry::admin::ExplainRequest {
            user: "bob".into(),
            groups: vec!["developers".into()],
            scopes: vec!["repository:corp/app:push".into()],
            ..Default::default()
        })
        .unwrap();
    assert!(decision.to_string().contains("corp-push"), "{decision}");
    assert_eq!(refresh(&app, &rt).await, StatusCode::OK);
}

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_nothing_the_openapi_document_contradicts() {
    let st = std::env::var("GANTRY_TEST_SCHEMATHESIS").unwrap_or_else(|_| {
        panic!(
            "GANTRY_TEST_SCHEMATHESIS is not set. Run the tests through scripts/test.sh, which \
             installs schemathesis from PyPI into target/py, or point it at an `st` binary"
        )
    });
    let app = app().await;
    let _ = dev_refresh_token(&app).await;
    let token = machine_token(&app).await;
    let out = tokio::process::Command::new(st)
        .args([
            "--config-file",
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/schemathesis.toml"),
            "run",
            &app.url("/api/v1/openapi.json"),
            "--checks",
            "all",
            "--max-examples",
            "25",
            "--seed",
            "1",
            "--workers",
            "1",
            "--max-time",
            "60",
            "-H",
            &format!("Authorization: Bearer {token}"),
        ])
        .env("NO_COLOR", "1")
        .output()
        .await
        .expect("schemathesis runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
}

async fn client_credentials(app: &TestApp, id: &str, secret: &str) -> StatusCode {
    app.post_token(&[("grant_type", "client_credentials")], Some((id, secret)))
        .await
        .0
}

#[tokio::test]
async fn clients_created_in_the_ui_work_at_once_here_and_within_a_second_on_another_replica() {
    let app = app().await;
    // A second replica on the same database, with its background tasks (the 1 s poll).
    let replica = gantry::app::build(&app.config, std::sync::Arc::new(app.clock.clone()))
        .await
        .unwrap();
    gantry::app::spawn_background(replica.admin.clone());
    let other = replica.provider.clone();

    let (b, _) = sign_in(&app, "admin@example.com").await;
    let page = b
        .get(app.url("/admin/clients"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("<code>rp</code>") && page.contains("config file (read-only)"));
    let csrf = hidden(&page, "csrf");
    let r = b
        .post(app.url("/admin/clients"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("id", "ci-bot"),
            ("name", "CI <bot>"),
            ("redirect_uris", ""),
            ("grant_types", "client_credentials"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["cache-control"],
        "no-store",
        "a page with a secret is not cached"
    );
    let page = r.text().await.unwrap();
    let secret = page
        .split("id=\"new-secret\">")
        .nth(1)
        .and_then(|x| x.split('<').next())
        .expect("the secret, shown once")
        .to_string();
    assert!(page.contains("CI &#60;bot&#62;"));
    assert_eq!(
        client_credentials(&app, "ci-bot", &secret).await,
        StatusCode::OK,
        "at once here"
    );
    let mut seen = false;
    for _ in 0..30 {
        if other.clients.get("ci-bot").is_some() {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(seen, "the other replica loads it within a second or so");
    let again = b
        .get(app.url("/admin/clients"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!again.contains(&secret), "the secret is shown once");

    // Rotate: the old secret stops working, the new one works.
    let r = b
        .post(app.url("/admin/clients/change"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("id", "ci-bot"),
            ("action", "rotate"),
            ("confirm", "yes"),
        ])
        .send()
        .await
        .unwrap();
    let page = r.text().await.unwrap();
    let new_secret = page
        .split("id=\"new-secret\">")
        .nth(1)
        .and_then(|x| x.split('<').next())
        .unwrap()
        .to_string();
    assert_eq!(
        client_credentials(&app, "ci-bot", &secret).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        client_credentials(&app, "ci-bot", &new_secret).await,
        StatusCode::OK
    );
    // Invalid input is shown, and the config's clients stay read-only.
    let r = b
        .post(app.url("/admin/clients"))
        .form(&[("csrf", csrf.as_str()), ("id", "bad id!"), ("name", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("id=\"client-error\""));
    let r = b
        .post(app.url("/admin/clients/change"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("id", "rp"),
            ("action", "delete"),
            ("confirm", "yes"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    // Delete: gone here at once.
    let r = b
        .post(app.url("/admin/clients/change"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("id", "ci-bot"),
            ("action", "delete"),
            ("confirm", "yes"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        client_credentials(&app, "ci-bot", &new_secret).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn clients_api_creates_updates_rotates_and_deletes() {
    let app = app().await;
    let token = machine_token(&app).await;
    let http = reqwest::Client::new();
    let r = send_json(&app, reqwest::Method::POST, "/api/v1/clients", &token, serde_json::json!({"id": "web", "name": "Web", "redirect_uris": ["https://web.example/cb"]})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    let secret = created["secret"]
        .as_str()
        .expect("a confidential client gets a secret");
    // The new client can start a login at once.
    let r = app
        .browser()
        .get(app.url("/auth"))
        .query(&[
            ("client_id", "web"),
            ("redirect_uri", "https://web.example/cb"),
            ("response_type", "code"),
            ("scope", "openid"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "a known client and redirect URI"
    );
    let r = send_json(
        &app,
        reqwest::Method::PUT,
        "/api/v1/clients/web",
        &token,
        serde_json::json!({"name": "Web 2", "redirect_uris": ["https://web.example/cb2"]}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (_, _, audit) = api(
        &app,
        reqwest::Method::GET,
        "/api/v1/audit?action=client.update",
        Some(&token),
    )
    .await;
    let detail: Value =
        serde_json::from_str(audit["items"][0]["detail"].as_str().unwrap()).unwrap();
    assert_eq!(detail["before"]["name"], "Web", "{detail}");
    assert_eq!(detail["after"]["name"], "Web 2", "{detail}");
    let list: Value = http
        .get(app.url("/api/v1/clients"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let web = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "web")
        .unwrap()
        .clone();
    assert_eq!(
        web["redirect_uris"],
        serde_json::json!(["https://web.example/cb2"])
    );
    assert!(
        web.get("secret").is_none() && !list.to_string().contains(secret),
        "secrets are never listed"
    );
    let r = http
        .post(app.url("/api/v1/clients/web/secret"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    for (method, path, want) in [
        (
            reqwest::Method::DELETE,
            "/api/v1/clients/rp",
            StatusCode::CONFLICT,
        ),
        (
            reqwest::Method::DELETE,
            "/api/v1/clients/web",
            StatusCode::NO_CONTENT,
        ),
        (
            reqwest::Method::DELETE,
            "/api/v1/clients/web",
            StatusCode::NOT_FOUND,
        ),
    ] {
        let r = http
            .request(method, app.url(path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), want, "{path}");
    }
    let r = send_json(
        &app,
        reqwest::Method::POST,
        "/api/v1/clients",
        &token,
        serde_json::json!({"id": "web", "name": "x", "redirect_uris": ["javascript:alert(1)"]}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn connector_tests_reach_the_directory_and_name_what_fails() {
    let slapd = crate::ldap::Slapd::shared();
    let dead = free_port();
    let app = TestApp::start_with(Opts {
        extra_yaml: format!(
            "{POLICY}{}  - type: oidc\n    id: gone\n    name: Gone\n    config:\n      issuer: http://127.0.0.1:{dead}\n      clientID: x\n      redirectURI: @ISSUER@/callback\n      timeout: 1s\n",
            slapd.connector_yaml(&slapd.plain())
        ),
        ..Opts::default()
    })
    .await;
    let (b, _) = sign_in(&app, "admin@example.com").await;
    let page = b
        .get(app.url("/admin"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = hidden(&page, "csrf");
    let test = |id: &'static str| {
        let (b, csrf) = (&b, csrf.clone());
        let url = app.url("/admin/connectors/test");
        async move {
            b.post(url)
                .form(&[("csrf", csrf.as_str()), ("id", id)])
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let page = test("ldap").await;
    assert!(page.contains("<strong>passed</strong>"), "{page}");
    assert!(page.contains("bound as the service account"));
    let page = test("gone").await;
    let at = page.find("id=\"probe\"").expect("the test's result");
    let shown = &page[at..at + page[at..].find("</div>").unwrap()];
    assert!(shown.contains("failed"), "{shown}");
    assert!(
        shown.contains("not reachable"),
        "it says what failed: {shown}"
    );
    assert!(
        !shown.contains(&dead.to_string()) && !shown.contains("refused"),
        "but not how, which would tell a closed port from a filtered one: {shown}"
    );

    let token = machine_token(&app).await;
    let r: Value = reqwest::Client::new()
        .post(app.url("/api/v1/connectors/local/test"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["ok"], true, "{r}");
    let r = reqwest::Client::new()
        .post(app.url("/api/v1/connectors/nope/test"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_ldap_test_without_group_search_binds_and_reads_the_user_base() {
    let slapd = crate::ldap::Slapd::shared();
    let ldap = |id: &str, bind_pw: &str, base: &str| {
        format!(
            "  - type: ldap\n    id: {id}\n    name: {id}\n    config:\n      host: 127.0.0.1:{}\n      \
             insecureNoSSL: true\n      bindDN: cn=readonly,dc=example,dc=org\n      bindPW: {bind_pw}\n      \
             userSearch: {{ baseDN: \"{base}\", username: uid }}\n",
            slapd.port
        )
    };
    let app = TestApp::start_with(Opts {
        extra_yaml: format!(
            "{POLICY}connectors:\n{}{}{}",
            ldap(
                "right",
                "$GANTRY_TEST_LDAP_BINDPW",
                "ou=people,dc=example,dc=org"
            ),
            ldap(
                "wrong-password",
                "not-the-password",
                "ou=people,dc=example,dc=org"
            ),
            ldap(
                "no-such-base",
                "$GANTRY_TEST_LDAP_BINDPW",
                "ou=nobody,dc=example,dc=org"
            ),
        ),
        ..Opts::default()
    })
    .await;
    let token = machine_token(&app).await;
    let test = |id: &'static str| {
        let (url, token) = (app.url(&format!("/api/v1/connectors/{id}/test")), &token);
        async move {
            let r: Value = reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            r
        }
    };
    let r = test("wrong-password").await;
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(r["outcome"], "bind_failed", "{r}");
    assert!(r["error"].as_str().unwrap().contains("service bind"), "{r}");
    assert!(
        !r.to_string().contains("rc=49") && !r.to_string().contains("nvalid credentials"),
        "the directory's own words stay in the log: {r}"
    );
    let r = test("no-such-base").await;
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(r["outcome"], "base_not_found", "{r}");
    assert!(r["error"].as_str().unwrap().contains("baseDN"), "{r}");
    assert!(
        r["facts"]
            .to_string()
            .contains("ou=nobody,dc=example,dc=org"),
        "{r}"
    );
    let r = test("right").await;
    assert_eq!(r["ok"], true, "{r}");
    assert!(
        r.to_string().contains("read userSearch.baseDN"),
        "the facts say what was checked: {r}"
    );
}

/// An LDAP connector's config for the shared slapd, as the API takes it (no bindPW).
pub(crate) fn corp_ldap(slapd: &crate::ldap::Slapd) -> Value {
    serde_json::json!({
        "host": format!("127.0.0.1:{}", slapd.port),
        "insecureNoSSL": true,
        "bindDN": "cn=readonly,dc=example,dc=org",
        "userSearch": {"baseDN": "dc=example,dc=org", "filter": "(objectClass=inetOrgPerson)",
            "username": "uid", "idAttr": "uid", "emailAttr": "mail", "nameAttr": "cn"},
        "groupSearch": {"baseDN": "ou=groups,dc=example,dc=org", "filter": "(objectClass=groupOfNames)",
            "userMatchers": [{"userAttr": "DN", "groupAttr": "member"}], "nameAttr": "cn"}
    })
}

/// Log in through `connector` in a fresh browser and redeem the code: the token answer.
async fn login_through(
    app: &TestApp,
    connector: &str,
    user: &str,
    pw: &str,
) -> (StatusCode, Value) {
    let b = app.browser();
    let back = walk(
        &b,
        &rp_auth_url(app, connector, "openid groups offline_access", &[]),
        user,
        pw,
        |u| u.starts_with(RP_REDIRECT),
    )
    .await;
    match query_param(&back, "code") {
        Some(code) => app.exchange(&code, None, RP).await,
        None => (StatusCode::FORBIDDEN, Value::String(back)),
    }
}

#[tokio::test]
async fn connectors_created_through_the_api_log_users_in_keep_secrets_sealed_and_go_away() {
    let slapd = crate::ldap::Slapd::shared();
    let app = app().await;
    let token = machine_token(&app).await;
    let http = reqwest::Client::new();
    let bind_pw = std::env::var("GANTRY_TEST_LDAP_BINDPW").unwrap_or_else(|_| "readonly".into());
    let mut config = corp_ldap(&slapd);
    config["bindPW"] = bind_pw.clone().into();
    let r = send_json(
        &app,
        reqwest::Method::POST,
        "/api/v1/connectors",
        &token,
        serde_json::json!({"id": "corp", "type": "ldap", "name": "Corp <LDAP>", "config": config}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["secrets"]["bindPW"], true, "{v}");
    assert!(
        v["config"].get("bindPW").is_none(),
        "a secret is never echoed: {v}"
    );
    assert_eq!(v["source"], "database");

    // The secret is sealed at rest: the bind password appears nowhere in the row.
    let (cfg, secrets): (String, String) =
        sqlx::query_as("SELECT config, secrets FROM connectors WHERE id = 'corp'")
            .fetch_one(&app.pool().await)
            .await
            .unwrap();
    assert!(!cfg.contains("bindPW"), "{cfg}");
    assert!(
        secrets.starts_with("sealed1.") && !secrets.contains(&bind_pw),
        "{secrets}"
    );

    // It works at once: the test binds, and a directory user logs in with their groups.
    let r: Value = http
        .post(app.url("/api/v1/connectors/corp/test"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["ok"], true, "{r}");
    let (s, t) = login_through(&app, "corp", "bob", "bob123").await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let claims = jwt_claims(t["id_token"].as_str().unwrap());
    assert!(
        claims["groups"].as_array().is_some_and(|g| !g.is_empty()),
        "{claims}"
    );
    let rt = t["refresh_token"].as_str().unwrap().to_string();

    // A change without bindPW keeps the stored one; a wrong one makes the test fail.
    let mut changed = corp_ldap(&slapd);
    changed["usernamePrompt"] = "Corp username".into();
    let r = send_json(
        &app,
        reqwest::Method::PUT,
        "/api/v1/connectors/corp",
        &token,
        serde_json::json!({"type": "ldap", "name": "Corp", "config": changed}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let test = || async {
        http.post(app.url("/api/v1/connectors/corp/test"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    assert_eq!(
        test().await["ok"],
        true,
        "the kept bind password still binds"
    );
    changed["bindPW"] = "not-the-password".into();
    let r = send_json(
        &app,
        reqwest::Method::PUT,
        "/api/v1/connectors/corp",
        &token,
        serde_json::json!({"type": "ldap", "name": "Corp", "config": changed}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(test().await["ok"], false);

    // Bad input: a config that does not build names the key; config-file ids are read-only.
    for (body, want, says) in [
        (
            serde_json::json!({"id": "x", "type": "ldap", "name": "X", "config": {"host": 5}}),
            StatusCode::BAD_REQUEST,
            "config",
        ),
        (
            serde_json::json!({"id": "x", "type": "keystone", "name": "X"}),
            StatusCode::BAD_REQUEST,
            "type",
        ),
        // Dex's development connector logs anyone in: a file on this machine may name it,
        // the admin API never.
        (
            serde_json::json!({"id": "x", "type": "mockCallback", "name": "X"}),
            StatusCode::BAD_REQUEST,
            "type",
        ),
        (
            serde_json::json!({"id": "local", "type": "ldap", "name": "X", "config": corp_ldap(&slapd)}),
            StatusCode::CONFLICT,
            "read-only",
        ),
        (
            serde_json::json!({"id": "corp", "type": "ldap", "name": "X", "config": corp_ldap(&slapd)}),
            StatusCode::CONFLICT,
            "exists",
        ),
    ] {
        let r = send_json(
            &app,
            reqwest::Method::POST,
            "/api/v1/connectors",
            &token,
            body.clone(),
        )
        .await;
        assert_eq!(r.status(), want, "{body}");
        let p: Value = r.json().await.unwrap();
        assert!(p["detail"].as_str().unwrap().contains(says), "{p}");
    }

    // Deleted: logins through it are refused, and its users' refresh fails.
    let r = http
        .delete(app.url("/api/v1/connectors/corp"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(refresh(&app, &rt).await, StatusCode::BAD_REQUEST);
    let r = app
        .browser()
        .get(rp_auth_url(&app, "corp", "openid", &[]))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error() || r.status().is_redirection());
    let audit: Value = http
        .get(app.url("/api/v1/audit?action=connector.update"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = audit.to_string();
    assert!(
        text.contains("Corp username") && text.contains("before"),
        "{text}"
    );
    assert!(
        !text.contains("not-the-password"),
        "no secret in the audit log: {text}"
    );
}

#[tokio::test]
async fn a_policy_saved_through_the_api_decides_at_once_and_cannot_lock_its_author_out() {
    let app = app().await;
    let token = machine_token(&app).await;
    let http = reqwest::Client::new();
    let explain = || async {
        send_json(&app, reqwest::Method::POST, "/api/v1/policy/explain", &token, serde_json::json!({"user": "dev", "groups": ["developers"], "scopes": ["repository:dev/app:pull,push"]})).await
            .json::<Value>()
            .await
            .unwrap()
            .to_string()
    };
    assert!(explain().await.contains("developers-pull"));
    let put = |body: Value| {
        let (http, token, url) = (&http, &token, app.url("/api/v1/policy"));
        async move {
            http.put(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let r = put(serde_json::json!({"policy": {
        "admins": {"groups": ["admins"], "clients": ["machine"]},
        "rules": [{"name": "developers-push", "groups": ["developers"],
                   "registry": [{"repositories": ["dev/**"], "actions": ["pull", "push"]}]}]}}))
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["source"], "database");
    let e = explain().await;
    assert!(
        e.contains("developers-push") && !e.contains("developers-pull"),
        "{e}"
    );

    // A pattern that does not compile: 400 naming it; nothing changes.
    let r = put(serde_json::json!({"policy": {"admins": {"clients": ["machine"]},
        "rules": [{"name": "bad", "groups": ["x"], "registry": [{"repositories": ["dev/**"], "actions": ["fly"]}]}]}}))
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let p: Value = r.json().await.unwrap();
    assert!(p["detail"].as_str().unwrap().contains("bad"), "{p}");
    // A policy without the caller among the admins: 409, nothing changes.
    let r =
        put(serde_json::json!({"policy": {"admins": {"groups": ["admins"]}, "rules": []}})).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(explain().await.contains("developers-push"));

    let r = http
        .delete(app.url("/api/v1/policy"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["source"], "config");
    assert!(explain().await.contains("developers-pull"));
}

#[tokio::test]
async fn token_issuance_is_counted_by_client_and_grant_for_the_overview_and_the_api() {
    let app = app().await;
    let _ = dev_refresh_token(&app).await;
    assert_eq!(
        refresh(&app, "not-a-refresh-token").await,
        StatusCode::BAD_REQUEST
    );
    let token = machine_token(&app).await;
    let (s, _, v) = api(
        &app,
        reqwest::Method::GET,
        "/api/v1/audit/tokens",
        Some(&token),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let row = |client: &str, grant: &str| {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["client_id"] == client && r["grant_type"] == grant)
            .cloned()
            .unwrap_or_else(|| panic!("no {client} {grant} row in {v}"))
    };
    assert_eq!(row("rp", "authorization_code")["issued"], 1, "{v}");
    assert_eq!(row("rp", "refresh_token")["refused"], 1, "{v}");
    assert_eq!(row("machine", "client_credentials")["issued"], 1, "{v}");
    let (s, _, _) = api(
        &app,
        reqwest::Method::GET,
        "/api/v1/audit/tokens?since=-1",
        Some(&token),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    let (b, _) = sign_in(&app, "admin@example.com").await;
    let page = b
        .get(app.url("/admin"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The admin UI's own sign-in is a code grant too: 2 codes, 1 client_credentials.
    assert!(page.contains("3 issued (1 refused)"), "{page}");
}

#[tokio::test]
async fn revoking_a_user_ends_all_their_sessions_and_nobody_elses() {
    let app = app().await;
    let dev_a = dev_refresh_token(&app).await;
    let dev_b = dev_refresh_token(&app).await;
    let other = app
        .tokens_for("openid offline_access", "admin@example.com")
        .await["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    let token = machine_token(&app).await;
    let (_, _, list) = api(&app, reqwest::Method::GET, "/api/v1/sessions", Some(&token)).await;
    let subject = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["email"] == "dev@example.com")
        .map(|s| s["subject"].as_str().unwrap().to_string())
        .expect("dev's session is listed with its subject");
    let revoke = || async {
        reqwest::Client::new()
            .post(app.url("/api/v1/sessions/revoke-user"))
            .bearer_auth(&token)
            .json(&serde_json::json!({ "subject": subject }))
            .send()
            .await
            .unwrap()
    };
    let r = revoke().await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["revoked"], 2);
    assert_eq!(refresh(&app, &dev_a).await, StatusCode::BAD_REQUEST);
    assert_eq!(refresh(&app, &dev_b).await, StatusCode::BAD_REQUEST);
    assert_eq!(refresh(&app, &other).await, StatusCode::OK);
    assert_eq!(revoke().await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn connector_and_policy_changes_reach_another_replica_without_a_restart() {
    let slapd = crate::ldap::Slapd::shared();
    let app = app().await;
    let replica = gantry::app::build(&app.config, std::sync::Arc::new(app.clock.clone()))
        .await
        .unwrap();
    gantry::app::spawn_background(replica.admin.clone());
    let other = replica.provider.clone();
    let token = machine_token(&app).await;
    let http = reqwest::Client::new();
    let soon = |what: &'static str, done: Box<dyn Fn() -> bool>| async move {
        for _ in 0..30 {
            if done() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("{what} did not reach the other replica within 3 s");
    };

    let mut config = corp_ldap(&slapd);
    config["bindPW"] = "readonly".into();
    let r = send_json(
        &app,
        reqwest::Method::POST,
        "/api/v1/connectors",
        &token,
        serde_json::json!({"id": "corp", "type": "ldap", "name": "Corp", "config": config}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let o = other.clone();
    soon(
        "a new connector",
        Box::new(move || o.connector("corp").is_some()),
    )
    .await;
    // The replica built it with the sealed secret: its test binds.
    let probe = other.connector("corp").unwrap().probe(0).await;
    assert!(probe.ok(), "{probe:?}");

    let r = send_json(
        &app,
        reqwest::Method::PUT,
        "/api/v1/connectors/corp",
        &token,
        serde_json::json!({"type": "ldap", "name": "Corp renamed", "config": corp_ldap(&slapd)}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let o = other.clone();
    soon(
        "a changed connector",
        Box::new(move || {
            o.connector("corp")
                .is_some_and(|c| c.name() == "Corp renamed")
        }),
    )
    .await;

    let r = send_json(&app, reqwest::Method::PUT, "/api/v1/policy", &token, serde_json::json!({"policy": {"admins": {"groups": ["admins"], "clients": ["machine"]}, "rules": []}})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let o = other.clone();
    soon(
        "a saved policy",
        Box::new(move || {
            o.policy.get().source == "database" && o.policy.get().config.rules.is_empty()
        }),
    )
    .await;

    let r = http
        .delete(app.url("/api/v1/connectors/corp"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let o = other.clone();
    soon(
        "a deleted connector",
        Box::new(move || o.connector("corp").is_none()),
    )
    .await;
}

/// An admin API call with a JSON body and a bearer token.
pub(crate) async fn send_json(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Value,
) -> reqwest::Response {
    reqwest::Client::new()
        .request(method, app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_change_through_the_api_with_the_session_cookie_must_come_from_gantrys_own_pages() {
    let app = app().await;
    let token = machine_token(&app).await;
    let r = send_json(
        &app,
        reqwest::Method::POST,
        "/api/v1/clients",
        &token,
        serde_json::json!({"id": "ci", "name": "CI", "grant_types": ["client_credentials"]}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let mut secret = r.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let (b, _) = sign_in(&app, "admin@example.com").await;
    let page = b
        .get(app.url("/admin"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = hidden(&page, "csrf");
    let signing = || {
        app.admin
            .signing_keys()
            .into_iter()
            .find(|k| k.signing)
            .unwrap()
            .kid
    };
    let kid = signing();
    let send = |method: reqwest::Method, path: &str, headers: &[(&str, String)]| {
        let mut r = b.request(method, app.url(path));
        for (k, v) in headers {
            r = r.header(*k, v);
        }
        r.send()
    };

    // Another site, another origin of the same site (a port of its own), an opaque origin, a
    // wrong token, or no sign at all (a body-less POST from a form or a script): 403, and
    // nothing changes.
    let other_port = format!("http://127.0.0.1:{}", free_port());
    let refused: Vec<Vec<(&str, String)>> = vec![
        vec![],
        vec![("origin", "https://evil.example".into())],
        vec![("origin", other_port.clone())],
        vec![("origin", "null".into())],
        vec![("sec-fetch-site", "same-site".into())],
        vec![("sec-fetch-site", "cross-site".into())],
        vec![("x-csrf-token", "forged".into())],
        // One sign of Gantry's pages does not outweigh a foreign one.
        vec![
            ("sec-fetch-site", "same-origin".into()),
            ("origin", "https://evil.example".into()),
        ],
        vec![
            ("origin", app.base.clone()),
            ("sec-fetch-site", "cross-site".into()),
        ],
        vec![
            ("x-csrf-token", csrf.clone()),
            ("origin", "https://evil.example".into()),
        ],
    ];
    for headers in &refused {
        for (method, path) in [
            (reqwest::Method::POST, "/api/v1/clients/ci/secret"),
            (reqwest::Method::POST, "/api/v1/keys/rotate"),
            (reqwest::Method::DELETE, "/api/v1/clients/ci"),
        ] {
            let r = send(method, path, headers).await.unwrap();
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path} {headers:?}");
            assert_eq!(r.headers()["content-type"], "application/problem+json");
            let p: Value = r.json().await.unwrap();
            assert_eq!(p["status"], 403, "{p}");
        }
    }
    assert_eq!(
        client_credentials(&app, "ci", &secret).await,
        StatusCode::OK,
        "not rotated, not deleted"
    );
    assert_eq!(signing(), kid, "the signing key did not rotate");
    // Each is in the audit trail, naming the admin whose browser was used.
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT actor, target FROM audit_log WHERE action = 'admin.api' AND outcome = 'refused'",
    )
    .fetch_all(&app.pool().await)
    .await
    .unwrap();
    assert_eq!(rows.len(), refused.len() * 3, "{rows:?}");
    assert!(
        rows.iter().all(|(actor, _)| actor == "admin@example.com"),
        "{rows:?}"
    );

    // Reading needs no more than the cookie.
    let r = send(reqwest::Method::GET, "/api/v1/clients", &[])
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Gantry's own origin, a same-origin fetch, or the page's form token: the change is made.
    let accepted: Vec<Vec<(&str, String)>> = vec![
        vec![("origin", app.base.clone())],
        vec![("sec-fetch-site", "same-origin".into())],
        vec![("x-csrf-token", csrf.clone())],
    ];
    for headers in &accepted {
        let r = send(reqwest::Method::POST, "/api/v1/clients/ci/secret", headers)
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{headers:?}");
        let new = r.json::<Value>().await.unwrap()["secret"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            client_credentials(&app, "ci", &secret).await,
            StatusCode::UNAUTHORIZED
        );
        secret = new;
    }
    let r = send(
        reqwest::Method::POST,
        "/api/v1/keys/rotate",
        &[("origin", app.base.clone())],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_ne!(signing(), kid);

    // A bearer token is no browser's ambient credential: no origin check.
    let r = reqwest::Client::new()
        .post(app.url("/api/v1/clients/ci/secret"))
        .bearer_auth(&token)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

/// The confirmation form of a confirmation page: where it posts, and its fields.
fn confirm_form(page: &str) -> (String, Vec<(String, String)>) {
    let at = page
        .find("id=\"confirm-form\"")
        .unwrap_or_else(|| panic!("no confirmation form in:\n{page}"));
    let start = page[..at].rfind("<form").unwrap();
    let form = &page[start..start + page[start..].find("</form>").unwrap()];
    (form_action(form).unwrap(), hidden_inputs(form))
}

#[tokio::test]
async fn destroying_buttons_ask_first_and_act_only_on_the_confirmed_second_post() {
    let app = app().await;
    let token = machine_token(&app).await;
    let r = send_json(
        &app,
        reqwest::Method::POST,
        "/api/v1/clients",
        &token,
        serde_json::json!({"id": "ci", "name": "CI", "grant_types": ["client_credentials"]}),
    )
    .await;
    let secret = r.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let r = send_json(&app, reqwest::Method::POST, "/api/v1/users", &token,
        serde_json::json!({"email": "zoe@example.com", "username": "zoe", "password": "a long password"})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = send_json(&app, reqwest::Method::PUT, "/api/v1/policy", &token,
        serde_json::json!({"policy": {"admins": {"groups": ["admins"], "clients": ["machine"]}, "rules": []}})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let _ = dev_refresh_token(&app).await;
    let _ = dev_refresh_token(&app).await;
    let sessions = || async {
        app.admin
            .live_sessions(500, 0)
            .await
            .unwrap()
            .into_iter()
            .filter(|s| s.email == "dev@example.com")
            .collect::<Vec<_>>()
    };
    let live = sessions().await;
    assert_eq!(live.len(), 2);
    let signing = || {
        app.admin
            .signing_keys()
            .into_iter()
            .find(|k| k.signing)
            .unwrap()
            .kid
    };
    let kid = signing();

    let (b, _) = sign_in(&app, "admin@example.com").await;
    let page = b
        .get(app.url("/admin"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = hidden(&page, "csrf");
    // Added last: with a second connector, logins start at the chooser.
    let r = send_json(&app, reqwest::Method::POST, "/api/v1/connectors", &token,
        serde_json::json!({"id": "corp", "type": "ldap", "name": "Corp", "config": {"host": "127.0.0.1:1",
            "insecureNoSSL": true, "userSearch": {"baseDN": "dc=example,dc=org", "username": "uid"}}})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // The first post answers a page that asks, and changes nothing; the page's own form, posted
    // as a browser would, does it.
    let ask = |path: &'static str, fields: Vec<(&'static str, String)>| {
        let (b, csrf, app) = (&b, csrf.clone(), &app);
        async move {
            let mut form = vec![("csrf", csrf)];
            form.extend(fields);
            let r = b.post(app.url(path)).form(&form).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            let page = r.text().await.unwrap();
            assert!(page.contains("id=\"cancel\""), "{page}");
            confirm_form(&page)
        }
    };
    let confirm = |(action, fields): (String, Vec<(String, String)>)| {
        let (b, app) = (&b, &app);
        async move {
            assert!(fields.contains(&("confirm".into(), "yes".into())));
            b.post(app.absolute(&action))
                .form(&fields)
                .send()
                .await
                .unwrap()
        }
    };

    let q = ask(
        "/admin/clients/change",
        vec![("id", "ci".into()), ("action", "rotate".into())],
    )
    .await;
    assert_eq!(
        client_credentials(&app, "ci", &secret).await,
        StatusCode::OK
    );
    let page = confirm(q).await.text().await.unwrap();
    assert!(page.contains("id=\"new-secret\""), "{page}");
    assert_eq!(
        client_credentials(&app, "ci", &secret).await,
        StatusCode::UNAUTHORIZED
    );

    let q = ask(
        "/admin/clients/change",
        vec![("id", "ci".into()), ("action", "delete".into())],
    )
    .await;
    assert!(app.provider.clients.get("ci").is_some());
    assert_eq!(confirm(q).await.status(), StatusCode::OK);
    assert!(app.provider.clients.get("ci").is_none());

    let q = ask(
        "/admin/connectors/change",
        vec![("id", "corp".into()), ("action", "delete".into())],
    )
    .await;
    assert!(app.provider.connector("corp").is_some());
    assert_eq!(confirm(q).await.status(), StatusCode::OK);
    assert!(app.provider.connector("corp").is_none());

    let q = ask(
        "/admin/users/change",
        vec![
            ("email", "zoe@example.com".into()),
            ("action", "delete".into()),
        ],
    )
    .await;
    assert_eq!(
        password_login(&app, "zoe@example.com", "a long password").await,
        StatusCode::OK
    );
    assert_eq!(confirm(q).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        password_login(&app, "zoe@example.com", "a long password").await,
        StatusCode::BAD_REQUEST
    );

    let q = ask("/admin/sessions/revoke", vec![("id", live[0].id.clone())]).await;
    assert_eq!(sessions().await.len(), 2);
    assert_eq!(confirm(q).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(sessions().await.len(), 1);
    let q = ask(
        "/admin/sessions/revoke",
        vec![("subject", live[0].subject.clone())],
    )
    .await;
    assert_eq!(sessions().await.len(), 1);
    assert_eq!(confirm(q).await.status(), StatusCode::SEE_OTHER);
    assert!(sessions().await.is_empty());

    let q = ask("/admin/keys/rotate", vec![]).await;
    assert_eq!(signing(), kid);
    assert_eq!(confirm(q).await.status(), StatusCode::SEE_OTHER);
    assert_ne!(signing(), kid);

    let q = ask("/admin/policy/reset", vec![]).await;
    assert_eq!(app.provider.policy.get().source, "database");
    assert_eq!(confirm(q).await.status(), StatusCode::OK);
    assert_eq!(app.provider.policy.get().source, "config");

    // Without the CSRF token the confirmed post is still refused.
    let r = b
        .post(app.url("/admin/keys/rotate"))
        .form(&[("confirm", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_api_refuses_a_connector_fetching_keys_over_plain_http_without_the_opt_in() {
    let app = app().await;
    let token = machine_token(&app).await;
    let oidc = |id: &str, issuer: &str, allow: bool| {
        serde_json::json!({"id": id, "type": "oidc", "name": id, "config": {"issuer": issuer,
            "clientID": "g", "redirectURI": app.url("/callback"), "insecureAllowHTTP": allow}})
    };
    let saml = serde_json::json!({"id": "idp", "type": "saml", "name": "IdP", "config": {
        "metadataURL": "http://idp.example.com/metadata", "redirectURI": app.url("/callback"),
        "usernameAttr": "uid", "emailAttr": "email"}});
    for (body, setting) in [
        (
            oidc("sso", "http://sso.example.com", false),
            "config.issuer",
        ),
        (saml, "config.metadataURL"),
    ] {
        let r = send_json(
            &app,
            reqwest::Method::POST,
            "/api/v1/connectors",
            &token,
            body,
        )
        .await;
        let status = r.status();
        let text = r.text().await.unwrap();
        assert!(status.is_client_error(), "{status}: {text}");
        assert!(
            text.contains(setting) && text.contains("insecureAllowHTTP"),
            "{text}"
        );
    }
    for (id, issuer, allow) in [
        ("loopback", "http://127.0.0.1:9", false),
        ("opted-in", "http://sso.example.com", true),
    ] {
        let r = send_json(
            &app,
            reqwest::Method::POST,
            "/api/v1/connectors",
            &token,
            oidc(id, issuer, allow),
        )
        .await;
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "{id}: {}",
            r.text().await.unwrap()
        );
    }
}

#[tokio::test]
async fn the_openapi_document_states_what_this_config_decides() {
    let app = TestApp::start_with(Opts {
        extra_yaml: format!(
            "{POLICY}kubernetes:\n  clusters:\n    - {{ name: prod, clientID: kube-prod }}\n"
        ),
        ..Opts::default()
    })
    .await;
    let (s, _, doc) = api(&app, reqwest::Method::GET, "/api/v1/openapi.json", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(doc["servers"][0]["url"], app.url("/api/v1"));
    let schemas = &doc["components"]["schemas"];
    // Only the configured clusters can be explained; empty or null means none.
    assert_eq!(
        schemas["ExplainRequest"]["properties"]["cluster"]["enum"],
        serde_json::json!(["prod", "", null])
    );
    assert_eq!(
        schemas["ClientSpec"]["properties"]["grant_types"]["items"]["enum"],
        serde_json::json!(gantry::config::GrantType::names())
    );
    // A client may be allowed the connectors there are, and only those.
    for schema in ["ClientSpec", "NewClient"] {
        assert_eq!(
            schemas[schema]["properties"]["allowed_connectors"]["items"]["enum"],
            serde_json::json!(["local"]),
            "{schema}"
        );
    }
}
