//! The audit trail: logins, refresh-family revocations and code replays are events in the
//! database carrying the request id the client saw, and never a secret.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;
use gantry::clock::Clock;

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

async fn password_grant(app: &TestApp, user: &str, pw: &str) -> StatusCode {
    app.post_token(
        &[
            ("grant_type", "password"),
            ("username", user),
            ("password", pw),
            ("scope", "openid"),
        ],
        Some(RP),
    )
    .await
    .0
}

async fn registry(app: &TestApp, user: &str, pw: &str) -> StatusCode {
    reqwest::Client::new()
        .get(app.url("/registry/token"))
        .query(&[
            ("service", "registry.test"),
            ("scope", "repository:a/b:pull"),
        ])
        .basic_auth(user, Some(pw))
        .send()
        .await
        .unwrap()
        .status()
}

async fn list_users(app: &TestApp, token: Option<&str>) -> StatusCode {
    let mut r = reqwest::Client::new().get(app.url("/api/v1/users"));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.unwrap().status()
}

async fn create_client(app: &TestApp, token: &str, id: &str) -> StatusCode {
    reqwest::Client::new()
        .post(app.url("/api/v1/clients"))
        .bearer_auth(token)
        .json(&serde_json::json!({
            "id": id, "name": id, "redirect_uris": ["https://app.example/cb"]
        }))
        .send()
        .await
        .unwrap()
        .status()
}

/// The `login` events: (actor, outcome, detail).
async fn logins(app: &TestApp) -> Vec<(String, String, Value)> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT actor, outcome, detail FROM audit_log WHERE action = 'login' ORDER BY id",
    )
    .fetch_all(&app.pool().await)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(a, o, d)| (a, o, serde_json::from_str(&d).unwrap()))
        .collect()
}

#[tokio::test]
async fn every_credential_check_is_audited_and_a_name_that_names_nobody_is_never_recorded() {
    let app = TestApp::start_with(Opts {
        extra_yaml: format!(
            "{EXAMPLE_POLICY}registry:\n  services:\n    - {{ name: registry.test, issuer: gantry-test }}\n"
        ),
        ..Opts::default()
    })
    .await;
    let dev = "dev@example.com";
    // A password typed into the username field, twice.
    let typed_password = "Tr0ub4dor&3-in-the-wrong-field";
    assert_eq!(password_grant(&app, dev, "password").await, StatusCode::OK);
    assert_eq!(
        password_grant(&app, dev, "wrong").await,
        StatusCode::BAD_REQUEST
    );
    for pw in ["x", "y"] {
        assert_eq!(
            password_grant(&app, typed_password, pw).await,
            StatusCode::BAD_REQUEST
        );
    }
    assert_eq!(
        registry(&app, "DEV@example.com", "wrong").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(registry(&app, dev, "password").await, StatusCode::OK);
    // A repeat within the cache's life is no new check: no new row.
    assert_eq!(registry(&app, dev, "password").await, StatusCode::OK);
    // No password at all is a refused check too.
    assert_eq!(registry(&app, dev, "").await, StatusCode::UNAUTHORIZED);

    let events = logins(&app).await;
    let summary: Vec<(String, String, String)> = events
        .iter()
        .map(|(a, o, d)| {
            let actor = if a.starts_with("unknown-login:") {
                "unknown-login"
            } else {
                a
            };
            let via = d["via"].as_str().unwrap_or_default();
            (actor.to_string(), o.clone(), via.to_string())
        })
        .collect();
    let row = |a: &str, o: &str, v: &str| (a.to_string(), o.to_string(), v.to_string());
    assert_eq!(
        summary,
        vec![
            row(dev, "success", "password_grant"),
            row(dev, "failure", "password_grant"),
            row("unknown-login", "failure", "password_grant"),
            row("unknown-login", "failure", "password_grant"),
            // Typed in capitals, recorded under the one name.
            row(dev, "failure", "registry"),
            row(dev, "success", "registry"),
            row("unknown-login", "failure", "registry"),
        ],
        "{events:?}"
    );
    // The same unknown name twice is one digest: a spray of one name shows as one name.
    assert_eq!(events[2].0, events[3].0);
    assert_eq!(events[0].2["client"], "rp");
    assert_eq!(events[0].2["address"], "127.0.0.1");
    assert!(events[0].2["subject"].is_string(), "{:?}", events[0]);

    // Nothing typed as a password, nor the name that named nobody, is anywhere in the trail.
    let all: Vec<(String,)> = sqlx::query_as("SELECT detail || actor || target FROM audit_log")
        .fetch_all(&app.pool().await)
        .await
        .unwrap();
    let text = format!("{all:?}");
    for secret in [typed_password, "wrong", "\"password\""] {
        assert!(!text.contains(secret), "{secret} in the audit log: {text}");
    }
}

#[tokio::test]
async fn refused_admin_api_calls_are_audited() {
    let app = crate::admin::app().await;
    assert_eq!(list_users(&app, None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        list_users(&app, Some("not-a-token")).await,
        StatusCode::UNAUTHORIZED
    );
    // A real token of a user who is no admin.
    let (s, t) = app
        .post_token(
            &[
                ("grant_type", "password"),
                ("username", "dev@example.com"),
                ("password", "password"),
                ("scope", "openid"),
            ],
            Some(RP),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let forbidden = list_users(&app, t["access_token"].as_str()).await;
    assert!(forbidden.is_client_error(), "{forbidden}");
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT target, outcome, detail FROM audit_log WHERE action = 'admin.api' ORDER BY id",
    )
    .fetch_all(&app.pool().await)
    .await
    .unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    for (i, status) in [401, 401, forbidden.as_u16()].into_iter().enumerate() {
        let (target, outcome, detail) = &rows[i];
        assert_eq!(
            (target.as_str(), outcome.as_str()),
            ("GET /api/v1/users", "refused")
        );
        let d: Value = serde_json::from_str(detail).unwrap();
        assert_eq!(d["status"], status, "{detail}");
        assert_eq!(d["address"], "127.0.0.1");
    }
    assert!(!format!("{rows:?}").contains("not-a-token"));
    // The trail names the route, never the path as the unauthenticated caller wrote it.
    let r = reqwest::get(app.url("/api/v1/users/SECRET-PROBE@example.com"))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let (target,): (String,) = sqlx::query_as(
        "SELECT target FROM audit_log WHERE action = 'admin.api' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&app.pool().await)
    .await
    .unwrap();
    assert!(!target.contains("SECRET"), "{target}");
    assert!(target.starts_with("GET /api/v1/users/{"), "{target}");
    // An admin's call is no refusal.
    let admin = crate::admin::machine_token(&app).await;
    assert_eq!(list_users(&app, Some(&admin)).await, StatusCode::OK);
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit_log WHERE action = 'admin.api'")
        .fetch_one(&app.pool().await)
        .await
        .unwrap();
    assert_eq!(n, 4, "the three refusals and the probe, nothing more");
}

#[tokio::test]
async fn an_admin_change_that_cannot_be_audited_is_refused_and_a_refused_change_is_recorded() {
    let app = crate::admin::app().await;
    let admin = crate::admin::machine_token(&app).await;
    // The audit log refuses writes (a full disk, a revoked grant): the change is refused too.
    let pool = app.pool().await;
    sqlx::query(
        "CREATE TRIGGER audit_down BEFORE INSERT ON audit_log \
         BEGIN SELECT RAISE(ABORT, 'audit log is down'); END",
    )
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(
        create_client(&app, &admin, "unrecorded").await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM clients WHERE id = 'unrecorded'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 0, "the change was made without its audit event");
    sqlx::query("DROP TRIGGER audit_down")
        .execute(&pool)
        .await
        .unwrap();

    // Recorded: the change is made, and its event ends as a success.
    assert_eq!(
        create_client(&app, &admin, "recorded").await,
        StatusCode::CREATED
    );
    // A change refused (the id is taken) ends as a failure.
    assert_eq!(
        create_client(&app, &admin, "recorded").await,
        StatusCode::CONFLICT
    );
    // The failure is recorded as the refused change unwinds, off the request's path.
    let mut rows: Vec<(String, String, String)> = Vec::new();
    for _ in 0..50 {
        rows = sqlx::query_as(
            "SELECT actor, target, outcome FROM audit_log WHERE action = 'client.create' ORDER BY id",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        if rows.iter().all(|r| r.2 != "started") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let machine = "client:machine".to_string();
    assert_eq!(
        rows,
        vec![
            (machine.clone(), "recorded".into(), "success".into()),
            (machine, "recorded".into(), "failure".into()),
        ]
    );
}

#[tokio::test]
async fn a_refused_client_secret_is_audited_and_an_unknown_client_id_is_not_recorded() {
    let app = TestApp::start().await;
    let form = [("grant_type", "client_credentials")];
    assert_eq!(
        app.post_token(&form, Some(("rp", "not-the-secret")))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let typed = "k9#secret-typed-as-an-id";
    assert_eq!(
        app.post_token(&form, Some((typed, "x"))).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Revocation and introspection authenticate their client the same way.
    let r = reqwest::Client::new()
        .post(app.url("/token/introspect"))
        .basic_auth("rp", Some("wrong"))
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT actor, outcome, detail FROM audit_log WHERE action = 'client.auth' ORDER BY id",
    )
    .fetch_all(&app.pool().await)
    .await
    .unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(
        (rows[0].0.as_str(), rows[0].1.as_str()),
        ("client:rp", "failure")
    );
    assert!(rows[1].0.starts_with("unknown-login:"), "{rows:?}");
    assert_eq!(rows[2].0, "client:rp");
    assert!(rows[0].2.contains("127.0.0.1"), "{rows:?}");
    let text = format!("{rows:?}");
    for secret in [typed, "not-the-secret", "wrong"] {
        assert!(!text.contains(secret), "{secret}: {text}");
    }
}

#[tokio::test]
async fn a_callers_request_id_is_kept_only_when_no_log_line_could_misread_it() {
    let app = TestApp::start().await;
    let grant = |id: &'static str| {
        reqwest::Client::new()
            .post(app.url("/token"))
            .basic_auth(RP.0, Some(RP.1))
            .header("x-request-id", id)
            .form(&[
                ("grant_type", "password"),
                ("username", "dev@example.com"),
                ("password", "wrong"),
            ])
            .send()
    };
    let forged = "abc outcome=success actor=admin@example.com action=login";
    let r = grant(forged).await.unwrap();
    let given = r.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_ne!(given, forged);
    let r = grant("ci-run-42.step:7").await.unwrap();
    assert_eq!(r.headers()["x-request-id"], "ci-run-42.step:7");
    let ids: Vec<(String,)> =
        sqlx::query_as("SELECT request_id FROM audit_log WHERE action = 'login' ORDER BY id")
            .fetch_all(&app.pool().await)
            .await
            .unwrap();
    assert_eq!(
        ids,
        vec![(given,), ("ci-run-42.step:7".to_string(),)],
        "each event carries the id the caller was answered with"
    );
}

/// An admin app on `backend` with seven events of `page.probe` a minute apart, `t0` the
/// first's time (on a minute): the app, their ids (oldest first) and `t0`.
async fn app_with_seven_events(backend: Backend) -> (TestApp, Vec<i64>, i64) {
    let app = TestApp::start_with(Opts {
        extra_yaml: crate::admin::POLICY.into(),
        backend,
        ..Opts::default()
    })
    .await;
    // On a minute, as a time typed to the minute can name it.
    let t0 = (app.clock.now() - 3600) / 60 * 60;
    let mut ids = Vec::new();
    for i in 0..7 {
        let target = format!("t{i}");
        let detail = serde_json::json!({
            "after": { "config": { "host": "ldap.example.com:636" } },
            "groups": ["admins", "dev"],
        })
        .to_string();
        let id = app
            .admin
            .db
            .append_audit(gantry::storage::audit::NewAuditEvent {
                at: t0 + i * 60,
                actor: "pager",
                action: "page.probe",
                target: &target,
                outcome: "success",
                detail: &detail,
                request_id: "",
            })
            .await
            .unwrap();
        ids.push(id);
    }
    (app, ids, t0)
}

/// The targets (`t0`..`t6`) of the events on an audit page, as shown.
fn targets_shown(html: &str) -> Vec<String> {
    html.split("<td>t")
        .skip(1)
        .map(|rest| format!("t{}", &rest[..1]))
        .collect()
}

/// The URL of the link with this id on an admin page, if there is one.
fn link(app: &TestApp, html: &str, id: &str) -> Option<String> {
    let before = html.split(&format!("id=\"{id}\"")).next()?;
    if before.len() == html.len() {
        return None;
    }
    let href = before.rsplit("href=\"").next()?.split('"').next()?;
    Some(app.absolute(&href.replace("&#38;", "&").replace("&amp;", "&")))
}

async fn audit_paging_and_ranges(backend: Backend) {
    let (app, ids, t0) = app_with_seven_events(backend).await;
    let token = crate::admin::machine_token(&app).await;
    let api = |q: String| {
        let (url, token) = (app.url(&format!("/api/v1/audit?{q}")), token.clone());
        async move {
            let r = reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }
    };
    let ids_of = |v: &Value| -> Vec<i64> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_i64().unwrap())
            .collect()
    };
    let cursors = |v: &Value| (v["next_before"].as_i64(), v["next_after"].as_i64());

    // Older pages one way, newer pages back the other, each the same events both ways.
    let (s, first) = api("action=page.probe&limit=3".into()).await;
    assert_eq!(s, StatusCode::OK, "{first}");
    assert_eq!(ids_of(&first), [ids[6], ids[5], ids[4]]);
    assert_eq!(cursors(&first), (Some(ids[4]), None), "the newest page");
    let (_, second) = api(format!("action=page.probe&limit=3&before={}", ids[4])).await;
    assert_eq!(ids_of(&second), [ids[3], ids[2], ids[1]]);
    assert_eq!(cursors(&second), (Some(ids[1]), Some(ids[3])));
    let (_, last) = api(format!("action=page.probe&limit=3&before={}", ids[1])).await;
    assert_eq!(ids_of(&last), [ids[0]]);
    assert_eq!(cursors(&last), (None, Some(ids[0])), "the oldest page");
    let (_, back) = api(format!("action=page.probe&limit=3&after={}", ids[0])).await;
    assert_eq!(ids_of(&back), ids_of(&second));
    assert_eq!(cursors(&back), cursors(&second));
    let (_, top) = api(format!("action=page.probe&limit=3&after={}", ids[3])).await;
    assert_eq!(ids_of(&top), ids_of(&first));
    assert_eq!(cursors(&top), cursors(&first));

    // A half-open range: since is in it, until is not.
    let (_, range) = api(format!(
        "action=page.probe&since={}&until={}",
        t0 + 60,
        t0 + 240
    ))
    .await;
    assert_eq!(ids_of(&range), [ids[3], ids[2], ids[1]]);
    assert_eq!(cursors(&range), (None, None));
    let (_, range_page) = api(format!(
        "action=page.probe&since={}&until={}&limit=2&before={}",
        t0 + 60,
        t0 + 240,
        ids[3]
    ))
    .await;
    assert_eq!(ids_of(&range_page), [ids[2], ids[1]]);
    assert_eq!(cursors(&range_page), (None, Some(ids[2])));

    // What names no page is a problem document, never a 500.
    for q in [
        format!("since={}&until={}", t0 + 240, t0 + 60),
        format!("since={t0}&until={t0}"),
        "before=5&after=3".into(),
        "until=99999999999".into(),
        "after=-1".into(),
        "limit=0".into(),
        "limit=501".into(),
        "since=yesterday".into(),
    ] {
        let (s, p) = api(q.clone()).await;
        assert_eq!(
            (s, p["status"].as_u64()),
            (StatusCode::BAD_REQUEST, Some(400)),
            "{q}: {p}"
        );
    }
    let (_, p) = api(format!("since={}&until={}", t0 + 240, t0 + 60)).await;
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("ends before it starts"),
        "{p}"
    );

    // The page: the same paging through its links, the range typed as UTC date and time.
    let (b, _) = crate::admin::sign_in(&app, "admin@example.com").await;
    let get = |url: String| {
        let b = b.clone();
        async move {
            let r = b.get(url).send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    let (s, html) = get(app.url("/admin/audit?action=page.probe&limit=3")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(targets_shown(&html), ["t6", "t5", "t4"]);
    assert!(link(&app, &html, "newer-events").is_none(), "newest page");
    let (_, html) = get(link(&app, &html, "older-events").unwrap()).await;
    assert_eq!(targets_shown(&html), ["t3", "t2", "t1"]);
    let (_, oldest) = get(link(&app, &html, "older-events").unwrap()).await;
    assert_eq!(targets_shown(&oldest), ["t0"]);
    assert!(link(&app, &oldest, "older-events").is_none(), "oldest page");
    let (_, html) = get(link(&app, &oldest, "newer-events").unwrap()).await;
    assert_eq!(targets_shown(&html), ["t3", "t2", "t1"]);
    let (_, html) = get(link(&app, &html, "newest-events").unwrap()).await;
    assert_eq!(targets_shown(&html), ["t6", "t5", "t4"]);
    assert!(
        html.contains(r#"<option selected>3</option>"#),
        "the page size stays as chosen"
    );
    // Details: a key and its value a line, not the JSON.
    assert!(
        html.contains("<dt>after.config.host</dt><dd>ldap.example.com:636</dd>")
            && html.contains("<dt>groups</dt><dd>admins, dev</dd>"),
        "{html}"
    );
    assert!(!html.contains("{&quot;after"), "{html}");

    let from = gantry::clock::form_utc(t0 + 60);
    let to = gantry::clock::form_utc(t0 + 240);
    let (s, html) = get(app.url(&format!(
        "/admin/audit?action=page.probe&from={from}&to={to}"
    )))
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(targets_shown(&html), ["t3", "t2", "t1"]);
    assert!(
        html.contains(&format!(r#"name="from" value="{from}""#)),
        "{html}"
    );
    // A date and time as Chromium's datetime-local field sends it, to the minute.
    let (s, html) = get(app.url(&format!(
        "/admin/audit?action=page.probe&from={}",
        &gantry::clock::form_utc(t0 + 300)[..16]
    )))
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(targets_shown(&html), ["t6", "t5"]);

    // A reversed or malformed range: the page says what is wrong, keeps what was typed.
    let (s, html) = get(app.url(&format!(
        "/admin/audit?action=page.probe&from={to}&to={from}"
    )))
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        html.contains(r#"id="audit-error""#) && html.contains("ends before it starts"),
        "{html}"
    );
    assert!(
        html.contains(&format!(r#"name="from" value="{to}""#)),
        "{html}"
    );
    assert!(targets_shown(&html).is_empty());
    let (s, html) = get(app.url("/admin/audit?from=yesterday")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        html.contains(r#"id="audit-error""#)
            && html.contains("From: &#34;yesterday&#34; is not a date and time"),
        "{html}"
    );
    // Each on the audit page itself, beside the form, naming what is wrong.
    for (q, says) in [
        (
            "before=abc",
            "before: &#34;abc&#34; is not a whole number from 0",
        ),
        (
            "before=-1",
            "before: &#34;-1&#34; is not a whole number from 0",
        ),
        (
            "after=-5",
            "after: &#34;-5&#34; is not a whole number from 0",
        ),
        (
            "limit=abc",
            "limit: &#34;abc&#34; is not a whole number from 0",
        ),
        (
            "limit=99999999999999999999",
            "limit: &#34;99999999999999999999&#34;",
        ),
        ("before=3&after=2", "one page at a time"),
        ("limit=501", "limit"),
        ("limit=0", "limit"),
    ] {
        let (s, html) = get(app.url(&format!("/admin/audit?{q}"))).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{q}: {html}");
        assert!(
            html.contains(r#"id="audit-error""#) && html.contains(says),
            "{q}: want {says}: {html}"
        );
    }
    // The page before the first event links to newer events from 0, never below.
    let (s, html) = get(app.url("/admin/audit?before=0")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(!html.contains("after=-"), "{html}");
}

#[tokio::test]
async fn the_audit_log_pages_both_ways_over_a_time_range_on_sqlite() {
    audit_paging_and_ranges(Backend::Sqlite).await;
}

#[tokio::test]
async fn the_audit_log_pages_both_ways_over_a_time_range_on_postgresql() {
    audit_paging_and_ranges(Backend::Postgres).await;
}

#[tokio::test]
async fn the_api_document_describes_the_audit_range_and_paging() {
    let app = crate::admin::app().await;
    let doc: Value = reqwest::get(app.url("/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let params: Vec<(&str, &Value)> = doc["paths"]["/audit"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), &p["schema"]))
        .collect();
    let names: Vec<&str> = params.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "actor", "action", "since", "until", "before", "after", "limit"
        ],
        "{doc}"
    );
    for (name, schema) in &params[2..] {
        assert!(schema["minimum"].is_number(), "{name}: {schema}");
        assert!(schema["maximum"].is_number(), "{name}: {schema}");
    }
    let page = &doc["components"]["schemas"]["AuditPage"]["properties"];
    assert!(
        page["next_before"].is_object() && page["next_after"].is_object(),
        "{page}"
    );
}
