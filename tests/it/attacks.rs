//! Known attacks on OpenID providers, as tables: each row is one variant, and each must be
//! refused. (More live next to the behaviour they guard: code replay and cross-client codes,
//! CSRF and approval in another browser in errors.rs; hostile upstream providers in
//! hostile.rs; forged SAML in saml.rs.)

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

fn b64(v: &Value) -> String {
    gantry::secret::b64(v.to_string().as_bytes())
}

fn hs256(header: &Value, claims: &Value, key: &[u8]) -> String {
    let mut h: jsonwebtoken::Header = serde_json::from_value(header.clone()).unwrap();
    h.alg = jsonwebtoken::Algorithm::HS256;
    jsonwebtoken::encode(
        &h,
        claims,
        &jsonwebtoken::EncodingKey::from_secret(key).unwrap(),
    )
    .unwrap()
}

/// A server that counts every request: where a forged header points Gantry.
async fn attacker_server() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let router = axum::Router::new().fallback(move || {
        h.fetch_add(1, Ordering::SeqCst);
        async { axum::Json(json!({"keys": []})) }
    });
    let port = serve_router(router).await;
    (format!("http://127.0.0.1:{port}"), hits)
}

const REGISTRY: &str =
    "registry:\n  services:\n    - { name: registry.test, issuer: gantry-test }\n";

#[tokio::test]
async fn forged_and_misused_tokens_are_refused_wherever_a_token_is_presented() {
    let app = TestApp::start_with(Opts {
        extra_yaml: format!("{EXAMPLE_POLICY}{REGISTRY}"),
        ..Default::default()
    })
    .await;
    let http = reqwest::Client::new();
    let t = app.tokens("openid email offline_access").await;
    let access = t["access_token"].as_str().unwrap();
    let claims = jwt_claims(access);
    let header: Value = serde_json::from_slice(
        &gantry::secret::b64_decode(access.split('.').next().unwrap()).unwrap(),
    )
    .unwrap();
    let jwks: Value = http
        .get(app.url("/keys"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwk = jwks["keys"][0].clone();
    let (evil, evil_hits) = attacker_server().await;
    let (evil_key, evil_der) =
        gantry::keys::SigningKey::generate(gantry::keys::Algorithm::ES256).unwrap();
    // The attacker's own key, with Gantry's kid or with pointers to the attacker's keys.
    let evil_signed = |extra: Value| {
        let mut h = json!({"alg": "ES256", "typ": "at+jwt"});
        for (k, v) in extra.as_object().unwrap() {
            h[k] = v.clone();
        }
        let h: jsonwebtoken::Header = serde_json::from_value(h).unwrap();
        jsonwebtoken::encode(
            &h,
            &claims,
            &jsonwebtoken::EncodingKey::from_ec_der(&evil_der),
        )
        .unwrap()
    };
    let registry: Value = http
        .get(app.url("/registry/token"))
        .query(&[
            ("service", "registry.test"),
            ("scope", "repository:library/x:pull"),
        ])
        .basic_auth("dev@example.com", Some("password"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let payload = access.split('.').nth(1).unwrap();
    let rows: Vec<(&str, String)> = vec![
        (
            "alg none, no signature",
            format!(
                "{}.{payload}.",
                b64(&json!({"alg": "none", "typ": "at+jwt"}))
            ),
        ),
        (
            "alg none, Gantry's signature kept",
            format!(
                "{}.{payload}.{}",
                b64(&json!({"alg": "none", "kid": header["kid"]})),
                access.split('.').nth(2).unwrap()
            ),
        ),
        (
            "HS256 keyed with the published JWK",
            hs256(&header, &claims, jwk.to_string().as_bytes()),
        ),
        (
            "HS256 keyed with the JWK's x coordinate",
            hs256(&header, &claims, jwk["x"].as_str().unwrap().as_bytes()),
        ),
        (
            "kid with a path",
            evil_signed(json!({"kid": "../../../../dev/null"})),
        ),
        (
            "Gantry's kid on another key's signature",
            evil_signed(json!({"kid": header["kid"]})),
        ),
        (
            "jku pointing at the attacker's keys",
            evil_signed(json!({"jku": format!("{evil}/jwks")})),
        ),
        (
            "x5u pointing at the attacker's certificate",
            evil_signed(json!({"x5u": format!("{evil}/cert.pem")})),
        ),
        (
            "the attacker's key embedded as jwk",
            evil_signed(json!({"jwk": evil_key.jwk()})),
        ),
        (
            "signature stripped",
            format!("{}.{payload}.", access.split('.').next().unwrap()),
        ),
        (
            "an ID token used as an access token",
            t["id_token"].as_str().unwrap().to_string(),
        ),
        (
            "a registry token used as an access token",
            registry["token"].as_str().unwrap().to_string(),
        ),
        (
            "an access token's claims signed by Gantry's own key with typ JWT",
            app.provider
                .keys
                .signer()
                .unwrap()
                .sign(&jwt_claims(access), "JWT")
                .unwrap(),
        ),
        (
            "a refresh token used as an access token",
            t["refresh_token"].as_str().unwrap().to_string(),
        ),
    ];
    for (name, token) in &rows {
        let r = http
            .get(app.url("/userinfo"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "userinfo accepted: {name}"
        );
        let r: Value = http
            .post(app.url("/token/introspect"))
            .basic_auth(RP.0, Some(RP.1))
            .form(&[("token", token.as_str())])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        // A refresh token is an active token at introspection, but only as what it is.
        if *name == "a refresh token used as an access token" {
            assert_ne!(r["token_type"], "Bearer", "{name}: {r}");
        } else {
            assert_eq!(r["active"], false, "introspection accepted: {name}: {r}");
        }
    }
    assert_eq!(
        evil_hits.load(Ordering::SeqCst),
        0,
        "Gantry never fetches what a token's header points at"
    );
    // The genuine token still works: the table refused forgeries, not everything.
    let r = http
        .get(app.url("/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn redirect_uri_variations_never_redirect() {
    let app = TestApp::start().await;
    // Registered: http://127.0.0.1:5555/callback (client rp).
    let variants = [
        "HTTP://127.0.0.1:5555/callback",
        "http://127.0.0.1:5555/Callback",
        "http://127.0.0.1:5555/callback/",
        "http://127.0.0.1:5555/callback?next=https://evil.example",
        "http://127.0.0.1:5555/callback#x",
        "http://127.0.0.1:5555/callback/../evil",
        "http://127.0.0.1:5555/callback/extra",
        "http://127.0.0.1:5555/%63allback",
        "http://127.0.0.1:5555/callback%2F..%2Fevil",
        "http://127.0.0.1:5555/callback%00",
        "http://evil.example@127.0.0.1:5555/callback",
        "http://127.0.0.1:5555@evil.example/callback",
        "http://127.0.0.1.evil.example:5555/callback",
        "http://127.0.0.1:5556/callback",
        "http://127.0.0.1/callback",
        "https://127.0.0.1:5555/callback",
        "//127.0.0.1:5555/callback",
        " http://127.0.0.1:5555/callback",
        "http://127.0.0.1:5555/callback ",
        "http://[::ffff:127.0.0.1]:5555/callback",
    ];
    let http = app.browser();
    for v in variants {
        let r = http
            .get(app.url("/auth"))
            .query(&[
                ("client_id", "rp"),
                ("redirect_uri", v),
                ("response_type", "code"),
                ("scope", "openid"),
                ("state", "s"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{v:?}");
        assert!(
            r.headers().get("location").is_none(),
            "redirected for {v:?}"
        );
    }
}

#[tokio::test]
async fn pkce_cannot_be_downgraded_or_bypassed() {
    let app = TestApp::start().await;
    let verifier = gantry::secret::random_token(32);
    let challenge = gantry::secret::b64(&gantry::secret::sha256(verifier.as_bytes()));
    let code_with = |method: &'static str, challenge: String| {
        let app = &app;
        async move {
            let mut q = vec![
                ("client_id", "rp".to_string()),
                ("redirect_uri", RP_REDIRECT.to_string()),
                ("response_type", "code".to_string()),
                ("scope", "openid".to_string()),
                ("state", "s".to_string()),
            ];
            if !challenge.is_empty() {
                q.push(("code_challenge", challenge));
                q.push(("code_challenge_method", method.to_string()));
            }
            let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let back = app
                .login(&app.browser(), &q, "dev@example.com", "password")
                .await;
            query_param(&back, "code").unwrap()
        }
    };
    let refused = |r: (StatusCode, Value)| {
        assert_eq!(
            (r.0, r.1["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant")),
            "{}",
            r.1
        );
    };
    // S256 requested: no verifier, the challenge itself as a "plain" verifier, a wrong one.
    let code = code_with("S256", challenge.clone()).await;
    refused(app.exchange(&code, None, RP).await);
    let code = code_with("S256", challenge.clone()).await;
    refused(app.exchange(&code, Some(&challenge), RP).await);
    let code = code_with("S256", challenge.clone()).await;
    refused(
        app.exchange(&code, Some(&gantry::secret::random_token(32)), RP)
            .await,
    );
    // No challenge at /auth: a verifier at /token is refused (RFC 9700 4.8.2), so an injected
    // code without PKCE cannot pass for one with it.
    let code = code_with("", String::new()).await;
    refused(app.exchange(&code, Some(&verifier), RP).await);
    // The right verifier works.
    let code = code_with("S256", challenge.clone()).await;
    assert_eq!(
        app.exchange(&code, Some(&verifier), RP).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn codes_and_refresh_tokens_are_bound_to_their_client() {
    let app = TestApp::start().await;
    let (code, verifier) = app
        .code_for("openid offline_access", "dev@example.com")
        .await;
    // Injected into another client's redemption: refused, and the code is spent for good.
    for other in [("strict", "strict-secret"), ("peer", "peer-secret")] {
        let (s, b) = app.exchange(&code, Some(&verifier), other).await;
        assert_eq!(
            (s, b["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant"))
        );
    }
    let t = app.tokens("openid offline_access").await;
    let rt = t["refresh_token"].as_str().unwrap();
    for other in [("strict", "strict-secret"), ("peer", "peer-secret")] {
        let (s, b) = app
            .post_token(
                &[("grant_type", "refresh_token"), ("refresh_token", rt)],
                Some(other),
            )
            .await;
        assert_eq!(
            (s, b["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant"))
        );
    }
    let (s, _) = app
        .post_token(
            &[("grant_type", "refresh_token"), ("refresh_token", rt)],
            Some(RP),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "the rightful client still refreshes");
}

#[tokio::test]
async fn two_tabs_keep_their_own_state_and_code() {
    let app = TestApp::start().await;
    let browser = app.browser();
    let tab = |state: &'static str| {
        vec![
            ("client_id", "rp"),
            ("redirect_uri", RP_REDIRECT),
            ("response_type", "code"),
            ("scope", "openid email"),
            ("state", state),
            ("connector_id", "local"),
        ]
    };
    // Both tabs reach the login form, then each is finished in the other order.
    let (req_a, approval_a) = app
        .log_in(&browser, &tab("tab-a"), "dev@example.com", "password")
        .await;
    let (req_b, approval_b) = app
        .log_in(&browser, &tab("tab-b"), "admin@example.com", "password")
        .await;
    assert_ne!(req_a, req_b);
    let finish = |approval: String, req: String| {
        let browser = browser.clone();
        let app = &app;
        async move {
            let page = browser
                .get(&approval)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let r = browser
                .post(app.url("/approval"))
                .form(&[
                    ("req", req.as_str()),
                    ("csrf", hidden(&page, "csrf").as_str()),
                    ("approval", "approve"),
                ])
                .send()
                .await
                .unwrap();
            location(&r).to_string()
        }
    };
    let back_b = finish(approval_b, req_b).await;
    let back_a = finish(approval_a, req_a).await;
    assert_eq!(query_param(&back_a, "state").as_deref(), Some("tab-a"));
    assert_eq!(query_param(&back_b, "state").as_deref(), Some("tab-b"));
    let (code_a, code_b) = (
        query_param(&back_a, "code").unwrap(),
        query_param(&back_b, "code").unwrap(),
    );
    assert_ne!(code_a, code_b);
    // Each code carries its own tab's user.
    let (s, a) = app.exchange(&code_a, None, RP).await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = app.exchange(&code_b, None, RP).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        jwt_claims(a["id_token"].as_str().unwrap())["email"],
        "dev@example.com"
    );
    assert_eq!(
        jwt_claims(b["id_token"].as_str().unwrap())["email"],
        "admin@example.com"
    );
}
