//! Rate limits: 429 with Retry-After in each endpoint's own format, per address and per user,
//! and X-Forwarded-For believed only from trusted proxies.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;

fn limited(address: (u32, u32), user: (u32, u32), proxies: &str) -> Opts {
    Opts {
        extra_yaml: format!(
            "{EXAMPLE_POLICY}registry:\n  services:\n    - {{ name: registry.test, issuer: gantry-test }}\n\
             rateLimits:\n  perAddress: {{ perMinute: {}, burst: {} }}\n  perUser: {{ perMinute: {}, burst: {} }}\n  trustedProxies: [{proxies}]\n",
            address.0, address.1, user.0, user.1
        ),
        ..Default::default()
    }
}

fn retry_after(r: &reqwest::Response) -> u64 {
    r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After is a number of seconds")
}

#[tokio::test]
async fn the_token_endpoint_refuses_an_address_over_budget_with_an_oauth_429() {
    let app = TestApp::start_with(limited((1, 3), (0, 0), "")).await;
    let http = reqwest::Client::new();
    let ask = || {
        http.post(app.url("/token"))
            .basic_auth("machine", Some("machine-secret"))
            .form(&[("grant_type", "client_credentials")])
            .send()
    };
    for _ in 0..3 {
        assert_eq!(ask().await.unwrap().status(), StatusCode::OK);
    }
    let r = ask().await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // One request a minute: the next is about a minute away.
    let wait = retry_after(&r);
    assert!((50..=60).contains(&wait), "Retry-After {wait}");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    // Other endpoints keep their own budgets.
    let disc = http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(disc.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_user_over_budget_is_refused_while_others_go_on() {
    let app = TestApp::start_with(limited((0, 0), (1, 2), "")).await;
    let http = reqwest::Client::new();
    let login = |user: &'static str| {
        http.post(app.url("/token"))
            .basic_auth(RP.0, Some(RP.1))
            .form(&[
                ("grant_type", "password"),
                ("username", user),
                ("password", "wrong"),
                ("scope", "openid"),
            ])
            .send()
    };
    // The client id `rp` has a budget of its own too: two requests, then the client is spent.
    assert_eq!(
        login("dev@example.com").await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        login("dev@example.com").await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    let r = login("dev@example.com").await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another client guessing for another user is not held back by them.
    let r = http
        .post(app.url("/token"))
        .basic_auth("machine", Some("machine-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // The registry counts its users apart from /token: user names are compared case-blind.
    let get = |user: &'static str| {
        http.get(app.url("/registry/token"))
            .query(&[
                ("service", "registry.test"),
                ("scope", "repository:a/b:pull"),
            ])
            .basic_auth(user, Some("wrong"))
            .send()
    };
    assert_eq!(get("ann").await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(get("ANN").await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let r = get("ann").await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&r) >= 1);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "TOOMANYREQUESTS");
    assert_eq!(get("bob").await.unwrap().status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_login_form_answers_a_page_and_counts_the_user_typed() {
    let app = TestApp::start_with(limited((0, 0), (1, 1), "")).await;
    let browser = app.browser();
    let form = login_form(&app, &browser, "local", "openid").await;
    let post = |user: &'static str| post_login(&browser, &form, user, "wrong");
    let first = post("dev@example.com").await;
    assert_ne!(first.status(), StatusCode::TOO_MANY_REQUESTS);
    let r = post("Dev@Example.com").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&r) >= 1);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(r.text().await.unwrap().contains("Too many attempts"));
    // Another user from the same browser is still asked for a password.
    let other = post("admin@example.com").await;
    assert_ne!(other.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
    let http = reqwest::Client::new();
    let ask = |app: &TestApp, from: &'static str| {
        http.post(app.url("/token"))
            .header("x-forwarded-for", from)
            .basic_auth("machine", Some("machine-secret"))
            .form(&[("grant_type", "client_credentials")])
            .send()
    };
    // Behind a trusted proxy (the tests' loopback), each forwarded client has its own budget.
    let app = TestApp::start_with(limited((1, 1), (0, 0), "\"127.0.0.0/8\"")).await;
    assert_eq!(
        ask(&app, "198.51.100.1").await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        ask(&app, "198.51.100.2").await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        ask(&app, "198.51.100.1").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // A client cannot dodge its budget by claiming another address to an untrusting server.
    let app = TestApp::start_with(limited((1, 1), (0, 0), "")).await;
    assert_eq!(
        ask(&app, "198.51.100.1").await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        ask(&app, "198.51.100.2").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}
