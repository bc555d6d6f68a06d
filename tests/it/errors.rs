//! Bad input gets the protocol's own error and changes nothing.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;

fn auth_query<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut q = vec![
        ("client_id", "rp"),
        ("redirect_uri", RP_REDIRECT),
        ("response_type", "code"),
        ("scope", "openid"),
        ("state", "st"),
    ];
    for (k, v) in extra {
        q.retain(|(qk, _)| qk != k);
        if !v.is_empty() {
            q.push((k, v));
        }
    }
    q
}

async fn get_auth(app: &TestApp, q: &[(&str, &str)]) -> reqwest::Response {
    app.browser()
        .get(app.url("/auth"))
        .query(q)
        .send()
        .await
        .unwrap()
}

async fn assert_error_page(r: reqwest::Response) {
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get("location").is_none(), "must not redirect");
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
}

#[tokio::test]
async fn untrusted_client_or_redirect_shows_an_error_page_and_never_redirects() {
    let app = TestApp::start().await;
    let untrusted: &[&[(&str, &str)]] = &[
        &[("client_id", "nobody")],
        &[("redirect_uri", "https://evil.example/cb")],
        &[("redirect_uri", "http://127.0.0.1:5555/callback/")],
        // Confidential clients do not get the RFC 8252 loopback port exception.
        &[("redirect_uri", "http://127.0.0.1:5556/callback")],
        &[("redirect_uri", "")],
    ];
    for q in untrusted {
        assert_error_page(get_auth(&app, &auth_query(q)).await).await;
    }
    assert_error_page(get_auth(&app, &[("client_id", "rp"), ("client_id", "rp")]).await).await;
    let r = get_auth(&app, &auth_query(&[("client_id", "nobody")])).await;
    let body = r.text().await.unwrap();
    assert!(body.contains("Unknown client"), "{body}");
}

#[tokio::test]
async fn bad_authorization_parameters_redirect_with_an_oauth_error() {
    let app = TestApp::start().await;
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("response_type", "token")], "unsupported_response_type"),
        (&[("response_type", "")], "invalid_request"),
        (&[("scope", "email")], "invalid_scope"),
        (&[("scope", "openid admin:everything")], "invalid_scope"),
        (
            &[
                (
                    "code_challenge",
                    "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                ),
                ("code_challenge_method", "MD5"),
            ],
            "invalid_request",
        ),
        (&[("code_challenge", "short")], "invalid_request"),
        (&[("prompt", "none")], "login_required"),
        (&[("connector_id", "ghost")], "invalid_request"),
    ];
    for (extra, want) in cases {
        let r = get_auth(&app, &auth_query(extra)).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{extra:?}");
        let loc = location(&r);
        assert!(loc.starts_with(RP_REDIRECT), "{loc}");
        assert_eq!(
            query_param(loc, "error").as_deref(),
            Some(*want),
            "{extra:?}"
        );
        assert_eq!(query_param(loc, "state").as_deref(), Some("st"));
    }
}

#[tokio::test]
async fn clients_that_must_use_pkce_cannot_start_without_it() {
    let app = TestApp::start().await;
    let r = get_auth(
        &app,
        &[
            ("client_id", "native"),
            ("redirect_uri", NATIVE_REDIRECT),
            ("response_type", "code"),
            ("scope", "openid"),
            ("state", "s"),
        ],
    )
    .await;
    assert_eq!(
        query_param(location(&r), "error").as_deref(),
        Some("invalid_request")
    );
    let r = get_auth(
        &app,
        &[
            ("client_id", "strict"),
            ("redirect_uri", RP_REDIRECT),
            ("response_type", "code"),
            ("scope", "openid"),
            ("state", "s"),
        ],
    )
    .await;
    assert_eq!(
        query_param(location(&r), "error").as_deref(),
        Some("invalid_request")
    );
}

#[tokio::test]
async fn wrong_or_missing_pkce_verifier_is_invalid_grant() {
    let app = TestApp::start().await;
    let (code, _) = app.code_for("openid", "dev@example.com").await;
    let (s, b) = app
        .exchange(&code, Some(&gantry::secret::random_token(32)), RP)
        .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (code, _) = app.code_for("openid", "dev@example.com").await;
    let (s, b) = app.exchange(&code, None, RP).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn reused_code_fails_and_revokes_what_it_issued() {
    let app = TestApp::start().await;
    let (code, verifier) = app
        .code_for("openid offline_access", "dev@example.com")
        .await;
    let (s, first) = app.exchange(&code, Some(&verifier), RP).await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = app.exchange(&code, Some(&verifier), RP).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let r = reqwest::Client::new()
        .get(app.url("/userinfo"))
        .bearer_auth(first["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "access token of a replayed code must die"
    );
    let (s, _) = app
        .post_token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", first["refresh_token"].as_str().unwrap()),
            ],
            Some(RP),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "refresh token of a replayed code must die"
    );
}

#[tokio::test]
async fn expired_code_and_code_of_another_client_are_refused() {
    let app = TestApp::start().await;
    let (code, verifier) = app.code_for("openid", "dev@example.com").await;
    let (s, b) = app
        .exchange(&code, Some(&verifier), ("strict", "strict-secret"))
        .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    app.clock.advance(601);
    let (s, b) = app.exchange(&code, Some(&verifier), RP).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn redirect_uri_must_match_at_the_token_endpoint() {
    let app = TestApp::start().await;
    let (code, verifier) = app.code_for("openid", "dev@example.com").await;
    let (s, b) = app
        .post_token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "http://127.0.0.1:5555/other"),
                ("code_verifier", &verifier),
            ],
            Some(RP),
        )
        .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn bad_client_credentials_get_401_with_a_challenge() {
    let app = TestApp::start().await;
    let r = reqwest::Client::new()
        .post(app.url("/token"))
        .basic_auth("rp", Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get("www-authenticate").is_some());
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
    let (s, b) = app
        .post_token(
            &[
                ("grant_type", "authorization_code"),
                ("code", "x"),
                ("client_id", "rp"),
            ],
            None,
        )
        .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client")),
        "confidential client without secret"
    );
    let (s, b) = app
        .post_token(
            &[
                ("grant_type", "authorization_code"),
                ("code", "x"),
                ("client_id", "rp"),
                ("client_secret", "rp-secret"),
            ],
            Some(RP),
        )
        .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request")),
        "two auth methods"
    );
    let r = reqwest::Client::new()
        .post(app.url("/token"))
        .header("authorization", "Basic !!!notbase64")
        .form(&[("grant_type", "password")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn unsupported_grants_and_missing_parameters() {
    let app = TestApp::start().await;
    for (form, want) in [
        (
            vec![("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")],
            "unsupported_grant_type",
        ),
        (vec![("grant_type", "implicit")], "unsupported_grant_type"),
        (vec![], "invalid_request"),
        (
            vec![("grant_type", "authorization_code")],
            "invalid_request",
        ),
        (vec![("grant_type", "refresh_token")], "invalid_request"),
        (
            vec![("grant_type", "password"), ("username", "x")],
            "invalid_request",
        ),
        (
            vec![("grant_type", "refresh_token"), ("refresh_token", "no-dot")],
            "invalid_grant",
        ),
    ] {
        let (s, b) = app.post_token(&form, Some(RP)).await;
        assert_eq!(
            (s, b["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some(want)),
            "{form:?}"
        );
    }
}

#[tokio::test]
async fn malformed_and_oversized_bodies_get_oauth_json_errors() {
    let app = TestApp::start().await;
    let c = reqwest::Client::new();
    let big = "a".repeat(70 * 1024);
    let cases: Vec<(&str, String)> = vec![
        (
            "application/x-www-form-urlencoded",
            format!("grant_type=password&username={big}"),
        ),
        ("application/json", "{\"grant_type\":\"password\"}".into()),
        (
            "application/x-www-form-urlencoded",
            "grant_type=password&grant_type=refresh_token".into(),
        ),
        ("text/plain", "\u{0}\u{1}garbage".into()),
    ];
    for path in ["/token", "/token/introspect", "/token/revoke"] {
        for (ct, body) in &cases {
            let r = c
                .post(app.url(path))
                .basic_auth("rp", Some("rp-secret"))
                .header("content-type", *ct)
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(
                r.status(),
                StatusCode::BAD_REQUEST,
                "{path} {ct} {}",
                &body[..body.len().min(40)]
            );
            let j: Value = r.json().await.unwrap();
            assert_eq!(
                j["error"],
                "invalid_request",
                "{path} {ct} {}",
                &body[..body.len().min(40)]
            );
        }
    }
    // Undecodable escapes decode leniently; the grant is then simply not one Gantry knows.
    let r = c
        .post(app.url("/token"))
        .basic_auth("rp", Some("rp-secret"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=%ZZ%00&&==")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );
}

#[tokio::test]
async fn refresh_token_of_another_client_is_refused() {
    let app = TestApp::start().await;
    let t = app.tokens("openid offline_access").await;
    let (s, b) = app
        .post_token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", t["refresh_token"].as_str().unwrap()),
            ],
            Some(("strict", "strict-secret")),
        )
        .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    // and the rightful client can still use it: the refusal changed nothing.
    let (s, _) = app
        .post_token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", t["refresh_token"].as_str().unwrap()),
            ],
            Some(RP),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn login_form_without_csrf_token_is_refused_and_logs_nobody_in() {
    let app = TestApp::start().await;
    let b = app.browser();
    let r = get_auth(&app, &auth_query(&[])).await;
    let login = format!("{}{}", app.base, location(&r));
    let page = b.get(&login).send().await.unwrap().text().await.unwrap();
    let req = hidden(&page, "req");
    for csrf in ["", "forged-token"] {
        let r = b
            .post(&login)
            .form(&[
                ("req", req.as_str()),
                ("csrf", csrf),
                ("login", "dev@example.com"),
                ("password", "password"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    // A second browser (another cookie) cannot replay the first one's token.
    let other = app.browser();
    let r = other
        .post(&login)
        .form(&[
            ("req", req.as_str()),
            ("csrf", &hidden(&page, "csrf")),
            ("login", "dev@example.com"),
            ("password", "password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let pending = app
        .admin
        .db
        .get_auth_request(&req, gantry::clock::Clock::now(&app.clock))
        .await
        .unwrap();
    assert!(pending.identity.is_none());
}

#[tokio::test]
async fn repeated_failed_logins_are_throttled_even_with_the_right_password() {
    let app = TestApp::start().await;
    let b = app.browser();
    let r = get_auth(&app, &auth_query(&[])).await;
    let login = format!("{}{}", app.base, location(&r));
    let page = b.get(&login).send().await.unwrap().text().await.unwrap();
    let (req, csrf) = (hidden(&page, "req"), hidden(&page, "csrf"));
    let post = |pw: &'static str| {
        b.post(&login)
            .form(&[
                ("req", req.as_str()),
                ("csrf", csrf.as_str()),
                ("login", "dev@example.com"),
                ("password", pw),
            ])
            .send()
    };
    for _ in 0..5 {
        let r = post("wrong").await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("Invalid username or password")
        );
    }
    assert_eq!(
        post("password").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    app.clock.advance(301);
    assert_eq!(
        post("password").await.unwrap().status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn userinfo_refuses_missing_forged_and_id_tokens() {
    let app = TestApp::start().await;
    let c = reqwest::Client::new();
    let r = c.get(app.url("/userinfo")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let t = app.tokens("openid").await;
    // An ID token is not an access token.
    let r = c
        .get(app.url("/userinfo"))
        .bearer_auth(t["id_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Same claims, signed by a key Gantry never published.
    let (other, _) = gantry::keys::SigningKey::generate(gantry::keys::Algorithm::ES256).unwrap();
    let forged = other
        .sign(&jwt_claims(t["access_token"].as_str().unwrap()), "at+jwt")
        .unwrap();
    assert_eq!(
        c.get(app.url("/userinfo"))
            .bearer_auth(forged)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    // A token that names Gantry's kid but carries a bad signature.
    let at = t["access_token"].as_str().unwrap();
    let tampered = format!("{}AAAA", &at[..at.len() - 4]);
    assert_eq!(
        c.get(app.url("/userinfo"))
            .bearer_auth(tampered)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    app.clock.advance(3601);
    assert_eq!(
        c.get(app.url("/userinfo"))
            .bearer_auth(at)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED,
        "expired"
    );
}

#[tokio::test]
async fn hostile_input_never_yields_a_server_error() {
    let app = TestApp::start().await;
    let c = app.browser();
    let long = "x".repeat(60_000);
    let gets = [
        format!("/auth?client_id={long}"),
        "/auth?%FF%FE=%00".to_string(),
        "/auth/local".to_string(),
        "/auth/local?req=doesnotexist".to_string(),
        "/auth/..%2F..%2Fetc%2Fpasswd?req=x".to_string(),
        "/approval?req=".to_string(),
        "/approval?req=nope".to_string(),
        "/logout?id_token_hint=not.a.jwt".to_string(),
        "/logout?post_logout_redirect_uri=http://evil.example".to_string(),
        "/keys/../../etc".to_string(),
        "/nothing-here".to_string(),
    ];
    for g in &gets {
        let r = c.get(app.url(g)).send().await.unwrap();
        assert!(
            r.status().is_client_error(),
            "{} -> {}",
            &g[..g.len().min(60)],
            r.status()
        );
    }
    let posts = ["/auth/local", "/approval", "/auth", "/logout"];
    for p in posts {
        for body in ["", "req=%", "req=a&req=b", &format!("req={long}")] {
            let r = c
                .post(app.url(p))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            // Logout ignores parameters it does not know: these are bare logouts, which sign
            // out and show a page.
            let fine = p == "/logout" && r.status().is_success();
            assert!(
                fine || r.status().is_client_error(),
                "{p} {} -> {}",
                &body[..body.len().min(30)],
                r.status()
            );
        }
    }
}

#[tokio::test]
async fn only_the_browser_that_logged_in_can_approve() {
    for skip_approval in [false, true] {
        let app = TestApp::start_with(Opts {
            skip_approval,
            ..Default::default()
        })
        .await;
        let victim = app.browser();
        let (req, approval) = app
            .log_in(&victim, &auth_query(&[]), "dev@example.com", "password")
            .await;
        // Someone who learned the request id, with a browser (and CSRF cookie) of their own.
        let attacker = app.browser();
        let login = app.url("/auth/local?req=") + &req;
        let own = attacker
            .get(&login)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let r = attacker.get(&approval).send().await.unwrap();
        assert_eq!(
            r.status(),
            StatusCode::FORBIDDEN,
            "skip_approval={skip_approval}"
        );
        assert!(r.headers().get("location").is_none());
        let r = attacker
            .post(app.url("/approval"))
            .form(&[
                ("req", req.as_str()),
                ("csrf", &hidden(&own, "csrf")),
                ("approval", "approve"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        // The victim's own browser still finishes.
        let r = victim.get(&approval).send().await.unwrap();
        if skip_approval {
            assert!(query_param(location(&r), "code").is_some());
        } else {
            assert_eq!(r.status(), StatusCode::OK);
        }
    }
}

#[tokio::test]
async fn every_answer_carries_the_security_headers_and_a_request_id() {
    let app = TestApp::start().await;
    let http = reqwest::Client::new();
    let mut ids = std::collections::HashSet::new();
    for path in [
        "/.well-known/openid-configuration",
        "/keys",
        "/healthz",
        "/nothing-here",
        "/auth",
    ] {
        let r = http.get(app.url(path)).send().await.unwrap();
        let h = r.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("default-src 'none'"),
            "{path}"
        );
        let id = h["x-request-id"].to_str().unwrap().to_string();
        assert!(ids.insert(id), "request ids are unique ({path})");
    }
    // A caller's own request id is kept, so logs on both sides line up.
    let r = http
        .get(app.url("/healthz"))
        .header("x-request-id", "caller-42")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "caller-42");
}

/// What the framework answers by itself (no route, a missing method, a path that does not
/// decode) comes out in the format of the family the request was for.
#[tokio::test]
async fn framework_refusals_answer_in_each_endpoint_familys_format() {
    let app = crate::admin::app().await;
    let token = crate::admin::machine_token(&app).await;
    let c = reqwest::Client::new();
    let ct = |r: &reqwest::Response| {
        r.headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    for (method, path, status) in [
        ("GET", "/api/v1/nope", StatusCode::NOT_FOUND),
        ("GET", "/api/v1/users/%ff", StatusCode::BAD_REQUEST),
        ("PATCH", "/api/v1/keys", StatusCode::METHOD_NOT_ALLOWED),
    ] {
        let r = c
            .request(method.parse().unwrap(), app.url(path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{method} {path}");
        assert!(
            ct(&r).starts_with("application/problem+json"),
            "{path}: {}",
            ct(&r)
        );
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["status"], status.as_u16(), "{body}");
    }
    let r = c.delete(app.url("/registry/token")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(r.headers().get("allow").is_some());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "UNSUPPORTED", "{body}");
    for path in ["/token", "/device/code"] {
        let r = c.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{path}: {body}");
    }
    let r = c.put(app.url("/auth")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(ct(&r).starts_with("text/html"), "{}", ct(&r));
    // A route's own answer is left as it was made.
    let r = c.get(app.url("/nothing-here")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(ct(&r).starts_with("text/html"));
}
