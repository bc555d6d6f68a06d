//! An admin session lasts only while its user is an admin: every admin request checks the user
//! again against the database, and disabling, deleting, regrouping or revoking the user (or a
//! policy that drops them) ends their sessions at once, on every replica.

use reqwest::StatusCode;
use serde_json::Value;

use crate::admin::{POLICY, machine_token, send_json};
use crate::support::*;

const PASSWORD: &str = "a long password";

/// Sign in to /admin in a fresh browser as `user`: the browser, holding the session cookie.
async fn admin_browser(app: &TestApp, user: &str, password: &str) -> reqwest::Client {
    let b = app.browser();
    let home = app.url("/admin");
    let callback = walk(&b, &home, user, password, |u| {
        u.starts_with(&app.url("/admin/callback"))
    })
    .await;
    let r = b.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{user} signs in");
    b
}

/// What the session in `b` can still do on `app`: (the overview page's status and where it
/// sends the browser, the API's status, whether creating a client through the UI form
/// and through the API was answered with success).
struct Reach {
    page: (StatusCode, String),
    api: StatusCode,
    ui_create: StatusCode,
    api_create: StatusCode,
}

async fn reach(app: &TestApp, b: &reqwest::Client, csrf: &str, client_id: &str) -> Reach {
    let r = b.get(app.url("/admin")).send().await.unwrap();
    let page = (
        r.status(),
        r.headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_string())
            .unwrap_or_default(),
    );
    let api = b
        .get(app.url("/api/v1/users"))
        .send()
        .await
        .unwrap()
        .status();
    let ui_create = b
        .post(app.url("/admin/clients"))
        .form(&[
            ("csrf", csrf),
            ("id", &format!("{client_id}-ui")),
            ("name", "Backdoor"),
            ("grant_types", "client_credentials"),
        ])
        .send()
        .await
        .unwrap()
        .status();
    let api_create = b
        .post(app.url("/api/v1/clients"))
        .header("x-csrf-token", csrf)
        .json(&serde_json::json!({
            "id": format!("{client_id}-api"), "name": "Backdoor",
            "grant_types": ["client_credentials"],
        }))
        .send()
        .await
        .unwrap()
        .status();
    Reach {
        page,
        api,
        ui_create,
        api_create,
    }
}

/// The subject of `email`'s logins, as the sessions list shows it (after one login of theirs
/// with offline access, so that they are listed).
async fn subject_of(app: &TestApp, token: &str, email: &str) -> String {
    let (s, t) = app
        .post_token(
            &[
                ("grant_type", "password"),
                ("username", email),
                ("password", PASSWORD),
                ("scope", "openid email offline_access"),
            ],
            Some(RP),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let list: Value = reqwest::Client::new()
        .get(app.url("/api/v1/sessions?limit=500"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["email"] == email)
        .map(|s| s["subject"].as_str().unwrap().to_string())
        .expect("the user's login is listed with its subject")
}

#[tokio::test]
async fn an_admin_disabled_regrouped_deleted_revoked_or_dropped_loses_every_replica_at_once() {
    // Two replicas on one PostgreSQL. Neither polls in the background: whatever B knows of a
    // change made on A, it learns at the request.
    let a = TestApp::start_with(Opts {
        backend: Backend::Postgres,
        extra_yaml: POLICY.into(),
        ..Opts::default()
    })
    .await;
    let dsn = a.config.storage.config.dsn.clone().unwrap();
    let b = TestApp::start_with(Opts {
        backend: Backend::PostgresAt(dsn),
        extra_yaml: POLICY.into(),
        ..Opts::default()
    })
    .await;
    let token = machine_token(&a).await;
    let with_ops = serde_json::json!({"policy": {
        "admins": {"groups": ["admins", "ops"], "clients": ["machine"]}, "rules": []}});
    let without_ops = serde_json::json!({"policy": {
        "admins": {"groups": ["admins"], "clients": ["machine"]}, "rules": []}});

    for case in ["disabled", "regrouped", "deleted", "revoked", "dropped"] {
        let email = format!("{case}@example.com");
        let groups = if case == "dropped" { "ops" } else { "admins" };
        let r = send_json(
            &a,
            reqwest::Method::POST,
            "/api/v1/users",
            &token,
            serde_json::json!({"email": email, "username": case, "password": PASSWORD,
                "groups": [groups]}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::CREATED, "{case}");
        if case == "dropped" {
            let r = send_json(
                &a,
                reqwest::Method::PUT,
                "/api/v1/policy",
                &token,
                with_ops.clone(),
            )
            .await;
            assert_eq!(r.status(), StatusCode::OK);
            // B has caught up with the policy (as its poll would within a second) before the
            // user signs in there; the change that drops them it is not given time to poll.
            b.admin.sync_admin_objects().await.unwrap();
        }
        let subject = subject_of(&a, &token, &email).await;
        // Signed in on replica B, where the session works: pages, API, changes.
        let browser = admin_browser(&b, &email, PASSWORD).await;
        let page = browser
            .get(b.url("/admin/clients"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = hidden(&page, "csrf");
        let before = reach(&b, &browser, &csrf, &format!("ok-{case}")).await;
        assert_eq!(before.page.0, StatusCode::OK, "{case}: signed in");
        assert_eq!(before.api, StatusCode::OK, "{case}");
        assert_eq!(before.ui_create, StatusCode::OK, "{case}");
        assert_eq!(before.api_create, StatusCode::CREATED, "{case}");

        // The change, made on replica A.
        let mut revoked = Value::Null;
        let user_path = format!("/api/v1/users/{email}");
        let patch = |body: Value| send_json(&a, reqwest::Method::PATCH, &user_path, &token, body);
        let status = match case {
            "disabled" => patch(serde_json::json!({"disabled": true})).await.status(),
            "regrouped" => patch(serde_json::json!({"groups": ["developers"]}))
                .await
                .status(),
            "deleted" => reqwest::Client::new()
                .delete(a.url(&format!("/api/v1/users/{email}")))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .status(),
            "revoked" => {
                let r = send_json(
                    &a,
                    reqwest::Method::POST,
                    "/api/v1/sessions/revoke-user",
                    &token,
                    serde_json::json!({"subject": subject}),
                )
                .await;
                let status = r.status();
                revoked = r.json().await.unwrap();
                status
            }
            _ => send_json(
                &a,
                reqwest::Method::PUT,
                "/api/v1/policy",
                &token,
                without_ops.clone(),
            )
            .await
            .status(),
        };
        assert!(status.is_success(), "{case}: {status}");

        // The same cookie on replica B, at once: sent to sign in, 401 on the API, no client.
        let after = reach(&b, &browser, &csrf, &format!("backdoor-{case}")).await;
        assert_eq!(
            (after.page.0, after.page.1.ends_with("/admin/login")),
            (StatusCode::SEE_OTHER, true),
            "{case}: the page sends the browser to sign in"
        );
        assert_eq!(after.api, StatusCode::UNAUTHORIZED, "{case}");
        assert_eq!(
            after.ui_create,
            StatusCode::SEE_OTHER,
            "{case}: the form too"
        );
        assert_eq!(after.api_create, StatusCode::UNAUTHORIZED, "{case}");
        if case == "revoked" {
            assert_eq!(
                (
                    revoked["revoked"].as_u64(),
                    revoked["admin_sessions"].as_u64()
                ),
                (Some(1), Some(1)),
                "{revoked}"
            );
        }
        // And on A, which made the change.
        let r = browser.get(a.url("/api/v1/users")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{case}");
        let clients: Value = reqwest::Client::new()
            .get(a.url("/api/v1/clients"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let ids: Vec<&str> = clients["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["id"].as_str())
            .collect();
        assert!(ids.contains(&format!("ok-{case}-api").as_str()), "{ids:?}");
        assert!(
            !ids.iter().any(|id| id.starts_with("backdoor-")),
            "{case}: no backdoor client: {ids:?}"
        );
        if case == "disabled" {
            // Enabled again, the user signs in afresh: the old session stays ended.
            let r = patch(serde_json::json!({"disabled": false})).await;
            assert_eq!(r.status(), StatusCode::NO_CONTENT);
            let r = browser.get(b.url("/api/v1/users")).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "ended stays ended");
        }
    }
    // Every ending is in the audit log with its reason.
    let audit: Value = reqwest::Client::new()
        .get(a.url("/api/v1/audit?action=admin.session_end&limit=50"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"] == "dropped@example.com"
                && e["detail"]
                    .as_str()
                    .unwrap()
                    .contains("no longer an administrator")),
        "{audit}"
    );
}

#[tokio::test]
async fn an_ldap_admins_groups_are_asked_of_the_directory_again_every_five_minutes() {
    use ldap3::Mod;
    let slapd = crate::ldap::Slapd::shared();
    let app = TestApp::start_with(Opts {
        password_connector: "ldap",
        extra_yaml: format!(
            "{}policy:\n  admins: {{ groups: [\"ldap:developers\"], clients: [machine] }}\n",
            slapd.connector_yaml(&slapd.plain())
        ),
        ..Opts::default()
    })
    .await;
    let base = "dc=example,dc=org";
    let uid = format!(
        "adm{}",
        gantry::secret::random_token(6)
            .to_lowercase()
            .replace(['-', '_'], "x")
    );
    let dn = format!("uid={uid},ou=people,{base}");
    let developers = format!("cn=developers,ou=groups,{base}");
    let mut directory = slapd.admin().await;
    directory
        .add(
            &dn,
            vec![
                ("objectClass", ["inetOrgPerson"].into()),
                ("uid", [uid.as_str()].into()),
                ("cn", ["Directory Admin"].into()),
                ("sn", ["Admin"].into()),
                ("mail", [format!("{uid}@example.org").as_str()].into()),
                ("userPassword", ["ldap-admin-pass"].into()),
            ],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    directory
        .modify(&developers, vec![Mod::Add("member", [dn.as_str()].into())])
        .await
        .unwrap()
        .success()
        .unwrap();

    // Sign in to /admin through the directory.
    let b = app.browser();
    let r = b.get(app.url("/admin/login")).send().await.unwrap();
    let auth = format!("{}&connector_id=ldap", app.absolute(location(&r)));
    let callback = walk(&b, &auth, &uid, "ldap-admin-pass", |u| {
        u.starts_with(&app.url("/admin/callback"))
    })
    .await;
    assert_eq!(
        b.get(&callback).send().await.unwrap().status(),
        StatusCode::SEE_OTHER
    );
    let api = || async {
        b.get(app.url("/api/v1/keys"))
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(api().await, StatusCode::OK);
    // Five minutes on, the directory is asked again, still says developers: still an admin.
    app.clock.advance(gantry::admin::RECHECK_INTERVAL);
    assert_eq!(api().await, StatusCode::OK, "re-checked and kept");

    directory
        .modify(
            &developers,
            vec![Mod::Delete("member", [dn.as_str()].into())],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    // The directory's word stands for at most the interval since it was last asked...
    app.clock.advance(gantry::admin::RECHECK_INTERVAL - 1);
    assert_eq!(api().await, StatusCode::OK, "within the interval");
    // ...and then it is asked again: no longer in the group, no longer an admin.
    app.clock.advance(1);
    assert_eq!(api().await, StatusCode::UNAUTHORIZED);
    let r = b.get(app.url("/admin")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).ends_with("/admin/login"));
    // The session is over, not paused: back in the group, the old cookie does not return.
    directory
        .modify(&developers, vec![Mod::Add("member", [dn.as_str()].into())])
        .await
        .unwrap()
        .success()
        .unwrap();
    app.clock.advance(gantry::admin::RECHECK_INTERVAL);
    assert_eq!(api().await, StatusCode::UNAUTHORIZED);
    directory
        .modify(
            &developers,
            vec![Mod::Delete("member", [dn.as_str()].into())],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    directory.delete(&dn).await.unwrap().success().unwrap();
}

#[tokio::test]
async fn a_deleted_admin_clients_tokens_stop_at_once() {
    let app = crate::admin::app().await;
    let token = machine_token(&app).await;
    let secret = create_robot(&app, &token).await;
    admin_clients(&app, &token, &["machine", "robot"]).await;
    let robot = client_token(&app, "robot", &secret).await;
    assert_eq!(keys_with(&app, &robot).await, StatusCode::OK);
    let r = with_bearer(
        &app,
        reqwest::Method::DELETE,
        "/api/v1/clients/robot",
        &token,
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // Still listed in the policy, its token unexpired: the client is gone, so is its access.
    assert_eq!(keys_with(&app, &robot).await, StatusCode::UNAUTHORIZED);
}

async fn with_bearer(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
) -> reqwest::Response {
    reqwest::Client::new()
        .request(method, app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// `GET /api/v1/keys` with `token`.
async fn keys_with(app: &TestApp, token: &str) -> StatusCode {
    with_bearer(app, reqwest::Method::GET, "/api/v1/keys", token)
        .await
        .status()
}

async fn client_token(app: &TestApp, id: &str, secret: &str) -> String {
    let (s, t) = app
        .post_token(&[("grant_type", "client_credentials")], Some((id, secret)))
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    t["access_token"].as_str().unwrap().to_string()
}

async fn admin_clients(app: &TestApp, token: &str, clients: &[&str]) {
    let r = send_json(
        app,
        reqwest::Method::PUT,
        "/api/v1/policy",
        token,
        serde_json::json!({"policy": {"admins": {"groups": ["admins"], "clients": clients}}}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
}

async fn create_robot(app: &TestApp, token: &str) -> String {
    let r = send_json(
        app,
        reqwest::Method::POST,
        "/api/v1/clients",
        token,
        serde_json::json!({"id": "robot", "name": "Robot", "grant_types": ["client_credentials"]}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn an_admin_clients_tokens_end_with_its_secret_its_recreation_or_its_admin_listing() {
    let app = crate::admin::app().await;
    let token = machine_token(&app).await;
    let secret = create_robot(&app, &token).await;
    admin_clients(&app, &token, &["machine", "robot"]).await;
    let held = client_token(&app, "robot", &secret).await;
    assert_eq!(keys_with(&app, &held).await, StatusCode::OK);

    // The secret leaked and is rotated: a token taken with it ends too, even one taken in the
    // very second of the rotation.
    let r = with_bearer(
        &app,
        reqwest::Method::POST,
        "/api/v1/clients/robot/secret",
        &token,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let secret = r.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(keys_with(&app, &held).await, StatusCode::UNAUTHORIZED);
    // A token taken with the new secret (after that second) works.
    app.clock.advance(1);
    let held = client_token(&app, "robot", &secret).await;
    assert_eq!(keys_with(&app, &held).await, StatusCode::OK);

    // Dropped from the admin clients and listed again: the tokens it held stay dead.
    admin_clients(&app, &token, &["machine"]).await;
    assert_eq!(keys_with(&app, &held).await, StatusCode::FORBIDDEN);
    admin_clients(&app, &token, &["machine", "robot"]).await;
    assert_eq!(keys_with(&app, &held).await, StatusCode::UNAUTHORIZED);
    app.clock.advance(1);
    let held = client_token(&app, "robot", &secret).await;
    assert_eq!(keys_with(&app, &held).await, StatusCode::OK);

    // Deleted and made again under the same id: the old client's tokens do not come back.
    let r = with_bearer(
        &app,
        reqwest::Method::DELETE,
        "/api/v1/clients/robot",
        &token,
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let secret = create_robot(&app, &token).await;
    assert_eq!(keys_with(&app, &held).await, StatusCode::UNAUTHORIZED);
    app.clock.advance(1);
    let fresh = client_token(&app, "robot", &secret).await;
    assert_eq!(keys_with(&app, &fresh).await, StatusCode::OK);
}

/// Gantry on `dsn` with a config-file admin client `terraform` (secret `secret`), listed in
/// `admins.clients` when `listed`.
async fn terraform_app(dsn: &str, secret: &str, listed: bool) -> TestApp {
    let clients = if listed {
        "[machine, terraform]"
    } else {
        "[machine]"
    };
    TestApp::start_with(Opts {
        backend: Backend::PostgresAt(dsn.into()),
        extra_clients: format!(
            "  - id: terraform\n    name: Terraform\n    secret: {secret}\n    grantTypes: [client_credentials]\n"
        ),
        extra_yaml: format!("policy:\n  admins: {{ groups: [admins], clients: {clients} }}\n"),
        ..Opts::default()
    })
    .await
}

#[tokio::test]
async fn a_config_file_clients_tokens_end_with_a_secret_or_listing_changed_in_the_file() {
    // Each start below is the same deployment (one database) restarted with an edited file. A
    // token is checked at a replica still running (each test server has an issuer of its own):
    // what a start records, every replica honours.
    let dsn = fresh_postgres_db().await;
    let first = terraform_app(&dsn, "tf-secret-1", true).await;
    let held = client_token(&first, "terraform", "tf-secret-1").await;
    assert_eq!(keys_with(&first, &held).await, StatusCode::OK);
    // The same file again: nothing ends.
    let _same = terraform_app(&dsn, "tf-secret-1", true).await;
    assert_eq!(keys_with(&first, &held).await, StatusCode::OK);

    // The secret is changed in the file: the old secret's tokens end.
    let rotated = terraform_app(&dsn, "tf-secret-2", true).await;
    assert_eq!(keys_with(&first, &held).await, StatusCode::UNAUTHORIZED);
    // A new token, a second later (and the next start, a second later still: each test
    // server's clock starts at the real time and then moves only when told).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    rotated.clock.advance(1);
    let held = client_token(&rotated, "terraform", "tf-secret-2").await;
    assert_eq!(keys_with(&rotated, &held).await, StatusCode::OK);

    // Taken out of the file's admin clients, then put back: the tokens it held stay dead.
    let _dropped = terraform_app(&dsn, "tf-secret-2", false).await;
    assert_eq!(keys_with(&rotated, &held).await, StatusCode::UNAUTHORIZED);
    let back = terraform_app(&dsn, "tf-secret-2", true).await;
    assert_eq!(keys_with(&rotated, &held).await, StatusCode::UNAUTHORIZED);
    back.clock.advance(1);
    let fresh = client_token(&back, "terraform", "tf-secret-2").await;
    assert_eq!(keys_with(&back, &fresh).await, StatusCode::OK);
}
