//! Happy paths of the login and of every token endpoint.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;

#[tokio::test]
async fn discovery_points_every_endpoint_under_the_issuer() {
    let app = TestApp::start().await;
    let d: Value = reqwest::get(app.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["issuer"], app.issuer);
    for k in [
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "userinfo_endpoint",
        "introspection_endpoint",
        "revocation_endpoint",
        "end_session_endpoint",
    ] {
        assert!(d[k].as_str().unwrap().starts_with(&app.issuer), "{k}");
    }
    assert_eq!(d["id_token_signing_alg_values_supported"][0], "ES256");
    let jwks: Value = reqwest::get(app.url("/keys"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    assert!(
        jwks["keys"][0].get("d").is_none(),
        "JWKS must not leak private key material"
    );
}

#[tokio::test]
async fn code_flow_issues_tokens_that_verify_against_the_jwks_with_scoped_claims() {
    let app = TestApp::start().await;
    let t = app
        .tokens("openid email profile groups offline_access")
        .await;
    let jwks: Value = reqwest::get(app.url("/keys"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = verify_with_jwks(&jwks, t["id_token"].as_str().unwrap(), "rp", &app.issuer);
    assert_eq!(id["nonce"], "nn");
    assert_eq!(id["email"], "admin@example.com");
    assert_eq!(id["email_verified"], true);
    assert_eq!(id["preferred_username"], "admin");
    assert_eq!(id["groups"], serde_json::json!(["admins", "developers"]));
    // Dex's subject encoding, so existing RBAC bindings keep matching.
    assert_eq!(
        id["sub"],
        "CiQwOGE4Njg0Yi1kYjg4LTRiNzMtOTBhOS0zY2QxNjYxZjU0NjYSBWxvY2Fs"
    );
    assert!(id["auth_time"].as_i64().is_some());
    let at = t["access_token"].as_str().unwrap();
    assert_eq!(
        id["at_hash"],
        gantry::oauth::tokens::token_hash(at, gantry::keys::Algorithm::ES256)
    );
    let access = verify_with_jwks(&jwks, at, "rp", &app.issuer);
    assert!(access["jti"].is_string());
    assert!(t["refresh_token"].is_string());
    assert_eq!(t["token_type"], "bearer");
    let ui: Value = reqwest::Client::new()
        .get(app.url("/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ui["sub"], id["sub"]);
    assert_eq!(ui["groups"], id["groups"]);
}

#[tokio::test]
async fn claims_follow_the_granted_scopes() {
    let app = TestApp::start().await;
    let t = app.tokens("openid").await;
    let id = jwt_claims(t["id_token"].as_str().unwrap());
    assert!(id.get("email").is_none() && id.get("groups").is_none() && id.get("name").is_none());
    assert!(
        t.get("refresh_token").is_none(),
        "no offline_access, no refresh token"
    );
    let t = app.tokens("openid federated:id").await;
    let id = jwt_claims(t["id_token"].as_str().unwrap());
    assert_eq!(id["federated_claims"]["connector_id"], "local");
}

#[tokio::test]
async fn denying_approval_returns_access_denied_with_state() {
    let app = TestApp::start().await;
    let b = app.browser();
    let q = [
        ("client_id", "rp"),
        ("redirect_uri", RP_REDIRECT),
        ("response_type", "code"),
        ("scope", "openid"),
        ("state", "s1"),
    ];
    let (req, approval) = app.log_in(&b, &q, "admin@example.com", "password").await;
    let page = b.get(&approval).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Relying Party"), "approval names the client");
    let r = b
        .post(app.url("/approval"))
        .form(&[
            ("req", req.as_str()),
            ("csrf", &hidden(&page, "csrf")),
            ("approval", "deny"),
        ])
        .send()
        .await
        .unwrap();
    let back = location(&r);
    assert_eq!(query_param(back, "error").as_deref(), Some("access_denied"));
    assert_eq!(query_param(back, "state").as_deref(), Some("s1"));
}

#[tokio::test]
async fn skip_approval_screen_redirects_straight_back() {
    let app = TestApp::start_with(Opts {
        skip_approval: true,
        ..Default::default()
    })
    .await;
    let (code, _) = app.code_for("openid", "dev@example.com").await;
    assert!(!code.is_empty());
}

#[tokio::test]
async fn cross_client_audience_needs_trust_and_sets_azp() {
    let app = TestApp::start().await;
    let t = app.tokens("openid audience:server:client_id:peer").await;
    let id = jwt_claims(t["id_token"].as_str().unwrap());
    assert_eq!(id["aud"], serde_json::json!(["peer", "rp"]));
    assert_eq!(id["azp"], "rp");
    // `machine` does not list rp as a trusted peer.
    let r = app
        .browser()
        .get(app.url("/auth"))
        .query(&[
            ("client_id", "rp"),
            ("redirect_uri", RP_REDIRECT),
            ("response_type", "code"),
            ("scope", "openid audience:server:client_id:machine"),
            ("state", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        query_param(location(&r), "error").as_deref(),
        Some("invalid_scope")
    );
}

#[tokio::test]
async fn password_grant_logs_in_with_the_password_connector() {
    let app = TestApp::start().await;
    let (s, t) = app
        .post_token(
            &[
                ("grant_type", "password"),
                ("username", "dev@example.com"),
                ("password", "password"),
                ("scope", "openid groups offline_access"),
            ],
            Some(RP),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(
        jwt_claims(t["id_token"].as_str().unwrap())["groups"],
        serde_json::json!(["developers"])
    );
    assert!(t["refresh_token"].is_string());
    let (s, t) = app
        .post_token(
            &[
                ("grant_type", "password"),
                ("username", "dev@example.com"),
                ("password", "nope"),
                ("scope", "openid"),
            ],
            Some(RP),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(t["error"], "invalid_grant");
}

#[tokio::test]
async fn client_credentials_only_for_clients_that_list_it() {
    let app = TestApp::start().await;
    let (s, t) = app
        .post_token(
            &[("grant_type", "client_credentials"), ("scope", "openid")],
            Some(("machine", "machine-secret")),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(
        jwt_claims(t["access_token"].as_str().unwrap())["sub"],
        "machine"
    );
    assert!(t.get("id_token").is_none() && t.get("refresh_token").is_none());
    let (s, t) = app
        .post_token(&[("grant_type", "client_credentials")], Some(RP))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(t["error"], "unauthorized_client");
}

#[tokio::test]
async fn public_native_client_uses_pkce_and_any_loopback_port() {
    let app = TestApp::start().await;
    let verifier = gantry::secret::random_token(32);
    let challenge = gantry::secret::b64(&gantry::secret::sha256(verifier.as_bytes()));
    let redirect = "http://127.0.0.1:49152/callback";
    let back = app
        .login(
            &app.browser(),
            &[
                ("client_id", "native"),
                ("redirect_uri", redirect),
                ("response_type", "code"),
                ("scope", "openid offline_access"),
                ("state", "s"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
            "dev@example.com",
            "password",
        )
        .await;
    assert!(back.starts_with(redirect));
    let code = query_param(&back, "code").unwrap();
    let (s, t) = app
        .post_token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", redirect),
                ("code_verifier", &verifier),
                ("client_id", "native"),
            ],
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert!(t["refresh_token"].is_string());
}

#[tokio::test]
async fn introspection_needs_client_auth_and_shows_only_own_tokens() {
    let app = TestApp::start().await;
    let t = app.tokens("openid offline_access").await;
    let at = t["access_token"].as_str().unwrap();
    let c = reqwest::Client::new();
    let intro = |id: &'static str, secret: &'static str, token: String| {
        let c = c.clone();
        let url = app.url("/token/introspect");
        async move {
            c.post(url)
                .basic_auth(id, Some(secret))
                .form(&[("token", token)])
                .send()
                .await
                .unwrap()
        }
    };
    let r: Value = intro("rp", "rp-secret", at.to_string())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["active"], true);
    assert_eq!(r["client_id"], "rp");
    let r: Value = intro(
        "rp",
        "rp-secret",
        t["refresh_token"].as_str().unwrap().to_string(),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(r["active"], true);
    assert_eq!(r["token_type"], "refresh_token");
    let r: Value = intro("machine", "machine-secret", at.to_string())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r, serde_json::json!({"active": false}));
    let r = intro("rp", "wrong", at.to_string()).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = c
        .post(app.url("/token/introspect"))
        .form(&[("token", at)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn revocation_kills_access_and_refresh_tokens() {
    let app = TestApp::start().await;
    let t = app.tokens("openid offline_access").await;
    let c = reqwest::Client::new();
    let at = t["access_token"].as_str().unwrap();
    let rt = t["refresh_token"].as_str().unwrap();
    for tok in [at, rt] {
        let r = c
            .post(app.url("/token/revoke"))
            .basic_auth("rp", Some("rp-secret"))
            .form(&[("token", tok)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = c
        .get(app.url("/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let (s, b) = app
        .post_token(
            &[("grant_type", "refresh_token"), ("refresh_token", rt)],
            Some(RP),
        )
        .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    // Unknown tokens are answered the same way (RFC 7009 2.2).
    let r = c
        .post(app.url("/token/revoke"))
        .basic_auth("rp", Some("rp-secret"))
        .form(&[("token", "nonsense")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn logout_revokes_the_users_refresh_tokens_and_returns_to_a_registered_uri() {
    let app = TestApp::start().await;
    // The user's browser logs in; the client holds its tokens.
    let b = app.browser();
    let q = [
        ("client_id", "rp"),
        ("redirect_uri", RP_REDIRECT),
        ("response_type", "code"),
        ("scope", "openid offline_access"),
        ("state", "s1"),
    ];
    let back = app.login(&b, &q, "admin@example.com", "password").await;
    let code = query_param(&back, "code").expect("a code");
    let (s, t) = app.exchange(&code, None, RP).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let idt = t["id_token"].as_str().unwrap();
    async fn refresh(app: &TestApp, rt: &str) -> (StatusCode, serde_json::Value) {
        app.post_token(
            &[("grant_type", "refresh_token"), ("refresh_token", rt)],
            Some(RP),
        )
        .await
    }
    let rt = t["refresh_token"].as_str().unwrap();
    let r = b
        .get(app.url("/logout"))
        .query(&[
            ("id_token_hint", idt),
            ("post_logout_redirect_uri", "https://evil.example/"),
            ("state", "z"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get("location").is_none());

    // Another browser holding only the ID token is asked, and its "Sign out" ends nothing.
    let other = app.browser();
    let logout = |browser: &reqwest::Client| {
        browser.get(app.url("/logout")).query(&[
            ("id_token_hint", idt),
            ("post_logout_redirect_uri", "http://127.0.0.1:5555/bye"),
            ("state", "z"),
        ])
    };
    let r = logout(&other).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(page.contains("Sign out?"), "{page}");
    let mut form = hidden_inputs(&page);
    form.push(("confirm".into(), "1".into()));
    let r = other
        .post(app.url("/logout"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "http://127.0.0.1:5555/bye?state=z");
    let (s, next) = refresh(&app, rt).await;
    assert_eq!(s, StatusCode::OK, "nothing was revoked: {next}");
    let rt = next["refresh_token"].as_str().unwrap();

    // The user's own browser: the hint names its session, which ends with the client's
    // refresh tokens, and the browser goes back to the registered URI.
    let r = logout(&b).send().await.unwrap();
    assert_eq!(location(&r), "http://127.0.0.1:5555/bye?state=z");
    assert_eq!(refresh(&app, rt).await.0, StatusCode::BAD_REQUEST);
    let r = b.get(app.url("/logout")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("signed out"));
}

#[tokio::test]
async fn logout_with_an_expired_id_token_hint_still_redirects_but_revokes_nothing() {
    let app = TestApp::start().await;
    let t = app.tokens("openid offline_access").await;
    let idt = t["id_token"].as_str().unwrap();
    let exp = jwt_claims(idt)["exp"].as_i64().unwrap();
    app.clock
        .advance(exp - gantry::clock::Clock::now(&app.clock) + 1);
    let r = app
        .browser()
        .get(app.url("/logout"))
        .query(&[
            ("id_token_hint", idt),
            ("post_logout_redirect_uri", "http://127.0.0.1:5555/bye"),
        ])
        .send()
        .await
        .unwrap();
    assert!(location(&r).starts_with("http://127.0.0.1:5555/bye"));
    // The old ID token no longer speaks for the user: the refresh token still works.
    let (s, b) = app
        .post_token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", t["refresh_token"].as_str().unwrap()),
            ],
            Some(RP),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

#[tokio::test]
async fn bcrypt_hashes_are_upgraded_to_argon2id_on_login() {
    let app = TestApp::start().await;
    let db = &app.admin.db;
    let digest =
        gantry::secret::hash_secret("$2a$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W");
    assert!(
        db.get_password_upgrade("admin@example.com", &digest)
            .await
            .unwrap()
            .is_none()
    );
    app.tokens("openid").await;
    let up = db
        .get_password_upgrade("admin@example.com", &digest)
        .await
        .unwrap()
        .unwrap();
    assert!(up.starts_with("$argon2id$"));
    // The upgraded hash serves the next login.
    app.tokens("openid").await;

    // A database user with a bcrypt hash is rewritten in place.
    db.create_password(&gantry::storage::passwords::PasswordRow {
        email: "Old@Example.com".into(),
        hash: "$2a$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W".into(),
        username: "old".into(),
        user_id: "old-1".into(),
        groups_json: "[\"legacy\"]".into(),
        created_at: 0,
        disabled_at: None,
        version: "v1".into(),
    })
    .await
    .unwrap();
    let t = app.tokens_for("openid groups", "old@example.com").await;
    assert_eq!(
        jwt_claims(t["id_token"].as_str().unwrap())["groups"],
        serde_json::json!(["legacy"])
    );
    let row = db.get_password("old@example.com").await.unwrap().unwrap();
    assert!(row.hash.starts_with("$argon2id$"), "{}", row.hash);
}

#[tokio::test]
async fn health_and_metrics_answer() {
    let app = TestApp::start().await;
    app.tokens("openid").await;
    assert_eq!(
        reqwest::get(app.url("/healthz")).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        reqwest::get(app.url("/healthz/ready"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ready"
    );
    let m = reqwest::get(app.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains("gantry_logins_total{connector=\"local\",result=\"success\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("gantry_tokens_total{grant_type=\"authorization_code\",result=\"success\"} 1"),
        "{m}"
    );
}

#[tokio::test]
async fn chooser_lists_connectors_and_connector_id_preselects() {
    let app = TestApp::start().await;
    // One connector: straight to its form.
    let q = [
        ("client_id", "rp"),
        ("redirect_uri", RP_REDIRECT),
        ("response_type", "code"),
        ("scope", "openid"),
        ("state", "s"),
    ];
    let r = app
        .browser()
        .get(app.url("/auth"))
        .query(&q)
        .send()
        .await
        .unwrap();
    assert!(location(&r).starts_with("/dex/auth/local?req="));
    let mut with_id = q.to_vec();
    with_id.push(("connector_id", "local"));
    let r = app
        .browser()
        .get(app.url("/auth"))
        .query(&with_id)
        .send()
        .await
        .unwrap();
    assert!(location(&r).starts_with("/dex/auth/local?req="));
    // alwaysShowLoginScreen: the chooser, with a link per connector.
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = app.config_on_fresh_sqlite(dir.path());
    cfg.oauth2.always_show_login_screen = true;
    let built = gantry::app::build(&cfg, std::sync::Arc::new(gantry::clock::SystemClock))
        .await
        .unwrap();
    let port = serve_router(built.router).await;
    let page = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/dex/auth"))
        .query(&q)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Log in with Email"), "{page}");
    assert!(page.contains("/dex/auth/local?req="));
}

#[tokio::test]
async fn telemetry_listener_takes_metrics_off_the_public_router() {
    let app = TestApp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = app.config_on_fresh_sqlite(dir.path());
    cfg.telemetry.http = Some("127.0.0.1:0".into());
    let built = gantry::app::build(&cfg, std::sync::Arc::new(gantry::clock::SystemClock))
        .await
        .unwrap();
    let mp = serve_router(built.router).await;
    let tp = serve_router(built.telemetry.unwrap()).await;
    assert_eq!(
        reqwest::get(format!("http://127.0.0.1:{mp}/dex/metrics"))
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    // Discovery and JWKS are answered in front of the layers, and still counted by route.
    for path in [
        "/dex/.well-known/openid-configuration",
        "/dex/keys",
        "/dex/keys",
    ] {
        let r = reqwest::get(format!("http://127.0.0.1:{mp}{path}"))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
    let m = reqwest::get(format!("http://127.0.0.1:{tp}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("# TYPE gantry_http_requests counter"));
    assert!(
        m.contains(
            "gantry_http_requests_total{route=\"/dex/.well-known/openid-configuration\",code=\"200\"} 1"
        ),
        "{m}"
    );
    assert!(
        m.contains("gantry_http_requests_total{route=\"/dex/keys\",code=\"200\"} 2"),
        "{m}"
    );
    assert_eq!(
        reqwest::get(format!("http://127.0.0.1:{tp}/healthz/ready"))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

/// Access tokens verified moments ago are remembered (README: "What it serves"): a revocation
/// made through this server is honoured at once, one made by another replica (written to the
/// shared database behind this one's back) within the 2 s the README states.
#[tokio::test]
async fn a_remembered_access_token_meets_revocations_here_at_once_and_elsewhere_within_two_seconds()
{
    let app = TestApp::start().await;
    let c = reqwest::Client::new();
    let userinfo = |at: String| {
        let r = c.get(app.url("/userinfo")).bearer_auth(at);
        async move { r.send().await.unwrap().status() }
    };
    // Revoked through this server after being used: refused at once.
    let t = app.tokens("openid").await;
    let at = t["access_token"].as_str().unwrap().to_string();
    assert_eq!(userinfo(at.clone()).await, StatusCode::OK);
    let r = c
        .post(app.url("/token/revoke"))
        .basic_auth("rp", Some("rp-secret"))
        .form(&[("token", at.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(userinfo(at).await, StatusCode::UNAUTHORIZED);

    // Revoked by another replica: believed until the window ends, refused from then on.
    let t = app.tokens("openid").await;
    let at = t["access_token"].as_str().unwrap().to_string();
    assert_eq!(userinfo(at.clone()).await, StatusCode::OK);
    let claims = jwt_claims(&at);
    app.admin
        .db
        .revoke_jti(
            claims["jti"].as_str().unwrap(),
            claims["exp"].as_i64().unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        userinfo(at.clone()).await,
        StatusCode::OK,
        "within the window this server has not asked again"
    );
    app.clock.advance(gantry::oauth::verified::RECHECK_SECS);
    assert_eq!(userinfo(at).await, StatusCode::UNAUTHORIZED);
}
