//! Two admins working from the same read cannot overwrite each other unseen: the API's ETag and
//! If-Match (412 for a stale write), the forms' hidden version (a conflict page that keeps what
//! was typed), and a compare-and-set in the database that lets exactly one of two concurrent
//! writers win, on one replica or two.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::admin::{POLICY, corp_ldap, machine_token, sign_in};
use crate::support::*;

/// A call as an API client: status, ETag, body.
async fn call(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    if_match: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Option<String>, Value) {
    let mut r = reqwest::Client::new()
        .request(method, app.url(path))
        .bearer_auth(token);
    if let Some(tag) = if_match {
        r = r.header("if-match", tag);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let status = r.status();
    let etag = r
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_string());
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = r.json().await.unwrap_or(Value::Null);
    if status == StatusCode::PRECONDITION_FAILED {
        assert_eq!(ct, "application/problem+json", "{body}");
        assert_eq!(body["status"], 412, "{body}");
    }
    (status, etag, body)
}

/// One object of the API: where to read it and change it, and two different changes.
struct Case {
    read: &'static str,
    write: Method,
    first: Value,
    second: Value,
    /// Whether what a GET shows is the first change (and not the second).
    shows_first: fn(&Value) -> bool,
}

async fn app_with_objects(backend: Backend) -> (TestApp, String) {
    let app = TestApp::start_with(Opts {
        backend,
        extra_yaml: POLICY.into(),
        ..Opts::default()
    })
    .await;
    let token = machine_token(&app).await;
    seed(&app, &token).await;
    (app, token)
}

/// A database user, client and connector to edit.
async fn seed(app: &TestApp, token: &str) {
    let slapd = crate::ldap::Slapd::shared();
    let mut ldap = corp_ldap(&slapd);
    ldap["bindPW"] = "readonly".into();
    for (path, body) in [
        (
            "/api/v1/users",
            json!({"email": "zoe@example.com", "username": "zoe", "password": "a long password",
                "groups": ["dev"]}),
        ),
        (
            "/api/v1/clients",
            json!({"id": "ci", "name": "CI", "grant_types": ["client_credentials"]}),
        ),
        (
            "/api/v1/connectors",
            json!({"id": "corp", "type": "ldap", "name": "Corp", "config": ldap}),
        ),
    ] {
        let (s, etag, b) = call(app, token, Method::POST, path, None, Some(body)).await;
        assert_eq!(s, StatusCode::CREATED, "{path}: {b}");
        assert!(
            etag.is_some(),
            "{path}: a created object answers with its ETag"
        );
    }
}

fn cases() -> Vec<Case> {
    let policy = |rule: &str| {
        json!({"policy": {"admins": {"groups": ["admins"], "clients": ["machine"]},
            "rules": [{"name": rule, "groups": ["dev"],
                "registry": [{"repositories": ["dev/**"], "actions": ["pull"]}]}]}})
    };
    vec![
        Case {
            read: "/api/v1/policy",
            write: Method::PUT,
            first: policy("first"),
            second: policy("second"),
            shows_first: |v| v["policy"]["rules"][0]["name"] == "first",
        },
        Case {
            read: "/api/v1/users/zoe@example.com",
            write: Method::PATCH,
            first: json!({"groups": ["ops"]}),
            second: json!({"groups": ["qa"]}),
            shows_first: |v| v["groups"] == json!(["ops"]),
        },
        Case {
            read: "/api/v1/clients/ci",
            write: Method::PUT,
            first: json!({"name": "CI first", "grant_types": ["client_credentials"]}),
            second: json!({"name": "CI second", "grant_types": ["client_credentials"]}),
            shows_first: |v| v["name"] == "CI first",
        },
        Case {
            read: "/api/v1/connectors/corp",
            write: Method::PUT,
            first: json!({"type": "ldap", "name": "Corp first",
                "config": corp_ldap(&crate::ldap::Slapd::shared())}),
            second: json!({"type": "ldap", "name": "Corp second",
                "config": corp_ldap(&crate::ldap::Slapd::shared())}),
            shows_first: |v| v["name"] == "Corp first",
        },
    ]
}

#[tokio::test]
async fn a_write_from_a_stale_read_gets_412_and_the_first_change_survives() {
    let (app, token) = app_with_objects(Backend::Sqlite).await;
    for c in cases() {
        // Two admins read the same version.
        let (s, a, _) = call(&app, &token, Method::GET, c.read, None, None).await;
        assert_eq!(s, StatusCode::OK, "{}", c.read);
        let a = a.unwrap_or_else(|| panic!("{}: a GET carries an ETag", c.read));
        let (_, b, _) = call(&app, &token, Method::GET, c.read, None, None).await;
        assert_eq!(
            Some(&a),
            b.as_ref(),
            "{}: the same read, the same version",
            c.read
        );

        // The first writes; the second, from the same read, is refused and changes nothing.
        let (s, after, body) = call(
            &app,
            &token,
            c.write.clone(),
            c.read,
            Some(&a),
            Some(c.first.clone()),
        )
        .await;
        assert!(s.is_success(), "{}: {s} {body}", c.read);
        let after = after.unwrap_or_else(|| panic!("{}: the answer carries the new ETag", c.read));
        assert_ne!(after, a, "{}", c.read);
        let (s, _, body) = call(
            &app,
            &token,
            c.write.clone(),
            c.read,
            Some(&a),
            Some(c.second.clone()),
        )
        .await;
        assert_eq!(s, StatusCode::PRECONDITION_FAILED, "{}: {body}", c.read);
        let (_, now, shown) = call(&app, &token, Method::GET, c.read, None, None).await;
        assert!(
            (c.shows_first)(&shown),
            "{}: the first change survives: {shown}",
            c.read
        );
        assert_eq!(now.as_ref(), Some(&after), "{}", c.read);

        // A weak tag never matches (If-Match compares strongly), `*` matches any version, and a
        // write without If-Match is unconditional.
        let weak = format!("W/{after}");
        let (s, _, _) = call(
            &app,
            &token,
            c.write.clone(),
            c.read,
            Some(&weak),
            Some(c.second.clone()),
        )
        .await;
        assert_eq!(s, StatusCode::PRECONDITION_FAILED, "{}", c.read);
        let (s, _, _) = call(
            &app,
            &token,
            c.write.clone(),
            c.read,
            Some("*"),
            Some(c.first.clone()),
        )
        .await;
        assert!(s.is_success(), "{}: {s}", c.read);
        let (s, _, _) = call(
            &app,
            &token,
            c.write.clone(),
            c.read,
            None,
            Some(c.second.clone()),
        )
        .await;
        assert!(s.is_success(), "{}: {s}", c.read);
    }

    // Deletes and the secret rotation take If-Match too.
    let (_, old, _) = call(&app, &token, Method::GET, "/api/v1/clients/ci", None, None).await;
    let old = old.unwrap();
    let (s, rotated, _) = call(
        &app,
        &token,
        Method::POST,
        "/api/v1/clients/ci/secret",
        Some(&old),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, _) = call(
        &app,
        &token,
        Method::POST,
        "/api/v1/clients/ci/secret",
        Some(&old),
        None,
    )
    .await;
    assert_eq!(
        s,
        StatusCode::PRECONDITION_FAILED,
        "a second rotation from the same read"
    );
    for path in [
        "/api/v1/clients/ci",
        "/api/v1/users/zoe@example.com",
        "/api/v1/connectors/corp",
    ] {
        let (_, current, _) = call(&app, &token, Method::GET, path, None, None).await;
        let (s, _, _) = call(&app, &token, Method::DELETE, path, Some("\"stale\""), None).await;
        assert_eq!(s, StatusCode::PRECONDITION_FAILED, "{path}");
        let (s, _, _) = call(&app, &token, Method::GET, path, None, None).await;
        assert_eq!(s, StatusCode::OK, "{path}: not deleted");
        let (s, _, _) = call(&app, &token, Method::DELETE, path, current.as_deref(), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{path}");
    }
    assert!(rotated.is_some());
    let (_, etag, _) = call(&app, &token, Method::GET, "/api/v1/policy", None, None).await;
    let (s, _, _) = call(
        &app,
        &token,
        Method::DELETE,
        "/api/v1/policy",
        Some("\"stale\""),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::PRECONDITION_FAILED);
    let (s, _, doc) = call(
        &app,
        &token,
        Method::DELETE,
        "/api/v1/policy",
        etag.as_deref(),
        None,
    )
    .await;
    assert_eq!(
        (s, doc["source"].as_str()),
        (StatusCode::OK, Some("config"))
    );
}

#[tokio::test]
async fn of_concurrent_writes_from_one_read_on_two_replicas_exactly_one_lands() {
    let (a, token_a) = app_with_objects(Backend::Postgres).await;
    let dsn = a.config.storage.config.dsn.clone().unwrap();
    let b = TestApp::start_with(Opts {
        backend: Backend::PostgresAt(dsn),
        extra_yaml: POLICY.into(),
        ..Opts::default()
    })
    .await;
    let token_b = machine_token(&b).await;
    for c in cases() {
        let (_, tag, _) = call(&a, &token_a, Method::GET, c.read, None, None).await;
        let tag = tag.unwrap_or_else(|| panic!("{}: an ETag", c.read));
        // Eight writers, half on each replica, all from the same read, all at once.
        let mut writes = tokio::task::JoinSet::new();
        for i in 0..8 {
            let (app, token) = if i % 2 == 0 {
                (&a, &token_a)
            } else {
                (&b, &token_b)
            };
            let r = reqwest::Client::new()
                .request(c.write.clone(), app.url(c.read))
                .bearer_auth(token)
                .header("if-match", &tag)
                .json(if i == 0 { &c.first } else { &c.second });
            writes.spawn(async move { r.send().await.unwrap().status() });
        }
        let statuses = writes.join_all().await;
        let won = statuses.iter().filter(|s| s.is_success()).count();
        let refused = statuses
            .iter()
            .filter(|s| **s == StatusCode::PRECONDITION_FAILED)
            .count();
        assert_eq!((won, refused), (1, 7), "{}: {statuses:?}", c.read);
    }
}

/// The page at `path` in browser `b`.
async fn page(app: &TestApp, b: &reqwest::Client, path: &str) -> String {
    let r = b.get(app.url(path)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    r.text().await.unwrap()
}

/// The table row of `page` that mentions `what`.
fn row<'a>(page: &'a str, what: &str) -> &'a str {
    page.split("<tr>")
        .skip(1)
        .find(|r| r.contains(what))
        .unwrap_or_else(|| panic!("no row for {what}"))
}

async fn post(
    app: &TestApp,
    b: &reqwest::Client,
    path: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String) {
    let r = b.post(app.url(path)).form(form).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

#[tokio::test]
async fn a_form_posted_from_a_stale_page_shows_the_conflict_and_keeps_what_was_typed() {
    let (app, token) = app_with_objects(Backend::Sqlite).await;
    // Two admins, each with the pages open before either saves.
    let (one, _) = sign_in(&app, "admin@example.com").await;
    let (two, _) = sign_in(&app, "admin@example.com").await;

    // The policy.
    let (p1, p2) = (
        page(&app, &one, "/admin/policy").await,
        page(&app, &two, "/admin/policy").await,
    );
    let yaml = |rule: &str| {
        format!(
            "admins: {{ groups: [admins], clients: [machine] }}\nrules:\n  - name: {rule}\n    \
             groups: [dev]\n    registry: [{{ repositories: [\"dev/**\"], actions: [pull] }}]\n"
        )
    };
    let (first, second) = (yaml("from-one"), yaml("from-two"));
    let (s, _) = post(
        &app,
        &one,
        "/admin/policy",
        &[
            ("csrf", &hidden(&p1, "csrf")),
            ("version", &hidden(&p1, "version")),
            ("policy", &first),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, shown) = post(
        &app,
        &two,
        "/admin/policy",
        &[
            ("csrf", &hidden(&p2, "csrf")),
            ("version", &hidden(&p2, "version")),
            ("policy", &second),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{shown}");
    assert!(shown.contains("Someone else changed the policy"), "{shown}");
    let editor = shown
        .split("<textarea")
        .nth(1)
        .unwrap()
        .split("</textarea>")
        .next()
        .unwrap();
    assert!(
        editor.contains("from-two"),
        "what was typed is kept: {editor}"
    );
    let now = shown
        .split("id=\"policy-current\">")
        .nth(1)
        .unwrap()
        .split("</pre>")
        .next()
        .unwrap();
    assert!(
        now.contains("from-one"),
        "the policy in force is shown: {now}"
    );
    let (_, _, doc) = call(&app, &token, Method::GET, "/api/v1/policy", None, None).await;
    assert_eq!(
        doc["policy"]["rules"][0]["name"], "from-one",
        "the first save survives"
    );
    // The conflict page expects the version now in force: saving again is a decision.
    let (s, _) = post(
        &app,
        &two,
        "/admin/policy",
        &[
            ("csrf", &hidden(&shown, "csrf")),
            ("version", &hidden(&shown, "version")),
            ("policy", &second),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK);

    // A user's groups.
    let (u1, u2) = (
        page(&app, &one, "/admin/users").await,
        page(&app, &two, "/admin/users").await,
    );
    let groups = |p: &str, g: &'static str| {
        let r = row(p, "zoe@example.com");
        let fields = vec![
            ("csrf".to_string(), hidden(p, "csrf")),
            ("email".into(), "zoe@example.com".into()),
            ("version".into(), hidden(r, "version")),
            ("action".into(), "groups".into()),
            ("groups".into(), g.into()),
        ];
        fields
    };
    let r = one
        .post(app.url("/admin/users/change"))
        .form(&groups(&u1, "ops"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = two
        .post(app.url("/admin/users/change"))
        .form(&groups(&u2, "qa, audit"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let shown = r.text().await.unwrap();
    assert!(
        shown.contains("id=\"conflict\"") && shown.contains("Someone else changed zoe@example.com"),
        "{shown}"
    );
    let zoe = row(&shown, "zoe@example.com");
    assert!(
        zoe.contains("<td>ops</td>"),
        "the user as they are now: {zoe}"
    );
    assert!(
        zoe.contains("value=\"qa, audit\""),
        "the typed groups are kept: {zoe}"
    );
    let (_, _, user) = call(
        &app,
        &token,
        Method::GET,
        "/api/v1/users/zoe@example.com",
        None,
        None,
    )
    .await;
    assert_eq!(user["groups"], json!(["ops"]), "the first change survives");
    // Disabling from the stale page is refused as well.
    let r = two
        .post(app.url("/admin/users/change"))
        .form(&[
            ("csrf", hidden(&u2, "csrf").as_str()),
            ("email", "zoe@example.com"),
            (
                "version",
                hidden(row(&u2, "zoe@example.com"), "version").as_str(),
            ),
            ("action", "disable"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);

    // A connector's settings.
    let (c1, c2) = (
        page(&app, &one, "/admin/connectors?edit=corp").await,
        page(&app, &two, "/admin/connectors?edit=corp").await,
    );
    let config = serde_norway::to_string(&corp_ldap(&crate::ldap::Slapd::shared())).unwrap();
    let save = |p: &str, name: &'static str| {
        vec![
            ("csrf".to_string(), hidden(p, "csrf")),
            ("mode".into(), "update".into()),
            ("id".into(), "corp".into()),
            (
                "version".into(),
                hidden(p.split("id=\"connector-form\"").nth(1).unwrap(), "version"),
            ),
            ("name".into(), name.into()),
            ("type".into(), "ldap".into()),
            ("config".into(), config.clone()),
        ]
    };
    let r = one
        .post(app.url("/admin/connectors"))
        .form(&save(&c1, "Corp by one"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = two
        .post(app.url("/admin/connectors"))
        .form(&save(&c2, "Corp by two"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let shown = r.text().await.unwrap();
    assert!(
        shown.contains("Someone else changed connector corp"),
        "{shown}"
    );
    assert!(
        shown.contains("value=\"Corp by two\""),
        "the typed name is kept: {shown}"
    );
    let now = shown
        .split("id=\"connector-current\">")
        .nth(1)
        .unwrap()
        .split("</pre>")
        .next()
        .unwrap();
    assert!(
        now.contains("Corp by one"),
        "the connector as it is now: {now}"
    );
    let (_, _, conn) = call(
        &app,
        &token,
        Method::GET,
        "/api/v1/connectors/corp",
        None,
        None,
    )
    .await;
    assert_eq!(conn["name"], "Corp by one", "the first change survives");

    // A client: one rotates its secret, two (from the same page) deletes it.
    let (k1, k2) = (
        page(&app, &one, "/admin/clients").await,
        page(&app, &two, "/admin/clients").await,
    );
    let act = |p: &str, action: &'static str| {
        vec![
            ("csrf".to_string(), hidden(p, "csrf")),
            ("id".into(), "ci".into()),
            (
                "version".into(),
                hidden(row(p, "<code>ci</code>"), "version"),
            ),
            ("action".into(), action.into()),
            ("confirm".into(), "yes".into()),
        ]
    };
    let r = one
        .post(app.url("/admin/clients/change"))
        .form(&act(&k1, "rotate"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let secret = r
        .text()
        .await
        .unwrap()
        .split("id=\"new-secret\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_string();
    let r = two
        .post(app.url("/admin/clients/change"))
        .form(&act(&k2, "delete"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let shown = r.text().await.unwrap();
    assert!(shown.contains("Someone else changed client ci"), "{shown}");
    let (s, _) = app
        .post_token(
            &[("grant_type", "client_credentials")],
            Some(("ci", secret.as_str())),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::OK,
        "not deleted, and the rotated secret works"
    );
}
