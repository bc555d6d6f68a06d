//! Rate limits and the failed-login throttle: 429 with Retry-After in each endpoint's own
//! format, budgets per client address (never per user name), authenticated confidential
//! clients spending only their own quota, X-Forwarded-For believed only from trusted proxies.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;

/// Budgets per address and per authenticated client (0 turns one off).
fn limited(address: (u32, u32), client: (u32, u32), proxies: &str) -> Opts {
    Opts {
        extra_yaml: format!(
            "{EXAMPLE_POLICY}registry:\n  services:\n    - {{ name: registry.test, issuer: gantry-test }}\n\
             rateLimits:\n  perAddress: {{ perMinute: {}, burst: {} }}\n  perClient: {{ perMinute: {}, burst: {} }}\n  trustedProxies: [{proxies}]\n",
            address.0, address.1, client.0, client.1
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

fn client_credentials(app: &TestApp, from: &str, secret: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(app.url("/token"))
        .header("x-forwarded-for", from)
        .basic_auth("machine", Some(secret))
        .form(&[("grant_type", "client_credentials")])
}

#[tokio::test]
async fn a_confidential_client_is_not_held_to_its_addresss_budget_but_strangers_are() {
    let app = TestApp::start_with(limited((1, 3), (0, 0), "")).await;
    // A busy service behind one address: far more tokens than the address's budget.
    for _ in 0..50 {
        let r = client_credentials(&app, "", "machine-secret")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    // Wrong secrets spend the address's budget: three, then 429 in OAuth's format.
    for _ in 0..3 {
        let r = client_credentials(&app, "", "wrong").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = client_credentials(&app, "", "wrong").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait = retry_after(&r);
    assert!((50..=60).contains(&wait), "Retry-After {wait}");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    // The service that authenticates goes on.
    let r = client_credentials(&app, "", "machine-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // A public client spends the address's budget too.
    let (s, _) = app
        .post_token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "x"),
                ("client_id", "native"),
            ],
            None,
        )
        .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_per_client_quota_is_an_option() {
    let app = TestApp::start_with(limited((0, 0), (1, 2), "")).await;
    for _ in 0..2 {
        let r = client_credentials(&app, "", "machine-secret")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = client_credentials(&app, "", "machine-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another client has its own quota.
    let (s, b) = app
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
    assert_eq!(s, StatusCode::OK, "{b}");
}

#[tokio::test]
async fn introspection_revocation_and_device_codes_have_budgets() {
    let app = TestApp::start_with(limited((1, 2), (0, 0), "\"127.0.0.0/8\"")).await;
    let http = reqwest::Client::new();
    // Guessing a client secret at introspection: two tries, then 429.
    let guess = |path: &'static str| {
        http.post(app.url(path))
            .basic_auth("rp", Some("guess"))
            .form(&[("token", "t")])
            .send()
    };
    for _ in 0..2 {
        assert_eq!(
            guess("/token/introspect").await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        guess("/token/introspect").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    for _ in 0..2 {
        assert_eq!(
            guess("/token/revoke").await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        guess("/token/revoke").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // The guessing address is now locked for that client; the client itself, elsewhere, is
    // answered.
    let r = http
        .post(app.url("/token/introspect"))
        .basic_auth(RP.0, Some(RP.1))
        .form(&[("token", "t")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let r = http
        .post(app.url("/token/introspect"))
        .header("x-forwarded-for", "198.51.100.20")
        .basic_auth(RP.0, Some(RP.1))
        .form(&[("token", "t")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Each device code is a stored row: a public device spends its address's budget.
    let code = || {
        http.post(app.url("/device/code"))
            .form(&[("client_id", "native"), ("scope", "openid")])
            .send()
    };
    for _ in 0..2 {
        let r = code().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
    }
    let r = code().await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "temporarily_unavailable"
    );
}

#[tokio::test]
async fn failed_logins_lock_the_guessing_address_not_the_user() {
    // Loopback is a trusted proxy: each X-Forwarded-For is another client.
    let app = TestApp::start_with(limited((0, 0), (0, 0), "\"127.0.0.0/8\"")).await;
    let attacker = app.browser_from("203.0.113.66");
    let form = login_form(&app, &attacker, "local", "openid").await;
    for _ in 0..5 {
        let r = post_login(&attacker, &form, "dev@example.com", "wrong").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    // The guesser is locked out, even with the right password.
    let r = post_login(&attacker, &form, "dev@example.com", "password").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // The owner, elsewhere, logs in (slowed a little, not refused): web form, password grant,
    // registry.
    let owner = app.browser_from("198.51.100.7");
    let form = login_form(&app, &owner, "local", "openid").await;
    let r = post_login(&owner, &form, "dev@example.com", "password").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = reqwest::Client::new()
        .post(app.url("/token"))
        .header("x-forwarded-for", "198.51.100.7")
        .basic_auth(RP.0, Some(RP.1))
        .form(&[
            ("grant_type", "password"),
            ("username", "dev@example.com"),
            ("password", "password"),
            ("scope", "openid"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let registry = |from: &'static str, user: &'static str, pw: &'static str| {
        reqwest::Client::new()
            .get(app.url("/registry/token"))
            .header("x-forwarded-for", from)
            .query(&[
                ("service", "registry.test"),
                ("scope", "repository:a/b:pull"),
            ])
            .basic_auth(user, Some(pw))
            .send()
    };
    assert_eq!(
        registry("198.51.100.7", "dev@example.com", "password")
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    // The owner's password is now cached for the registry; the locked guesser still cannot
    // tell a right guess from a wrong one.
    let r = registry("203.0.113.66", "dev@example.com", "password")
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.text().await.unwrap().contains("too many failed logins"));
    // 20 failures for 20 names from one address lock that address for all names; other
    // addresses and users are served. (Keyed on a constant, they locked everyone.)
    for i in 0..20 {
        let user: &'static str = Box::leak(format!("nobody{i}@example.com").into_boxed_str());
        let r = registry("203.0.113.99", user, "wrong").await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = registry("203.0.113.99", "admin@example.com", "password")
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.text().await.unwrap().contains("too many failed logins"));
    assert_eq!(
        registry("198.51.100.8", "admin@example.com", "password")
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    // Password-grant failures for one client do not lock other users of that client.
    for i in 0..20 {
        let user = format!("guess{i}@example.com");
        let (s, _) = app
            .post_token(
                &[
                    ("grant_type", "password"),
                    ("username", &user),
                    ("password", "wrong"),
                    ("scope", "openid"),
                ],
                Some(RP),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
    }
    let r = reqwest::Client::new()
        .post(app.url("/token"))
        .header("x-forwarded-for", "198.51.100.9")
        .basic_auth(RP.0, Some(RP.1))
        .form(&[
            ("grant_type", "password"),
            ("username", "admin@example.com"),
            ("password", "password"),
            ("scope", "openid"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
    // Unauthenticated requests (a wrong secret) spend the address's budget.
    let ask = |app: &TestApp, from: &'static str| client_credentials(app, from, "wrong").send();
    // Behind a trusted proxy (the tests' loopback), each forwarded client has its own budget.
    let app = TestApp::start_with(limited((1, 1), (0, 0), "\"127.0.0.0/8\"")).await;
    assert_eq!(
        ask(&app, "198.51.100.1").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        ask(&app, "198.51.100.2").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        ask(&app, "198.51.100.1").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // A client cannot dodge its budget by claiming another address to an untrusting server.
    let app = TestApp::start_with(limited((1, 1), (0, 0), "")).await;
    assert_eq!(
        ask(&app, "198.51.100.1").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        ask(&app, "198.51.100.2").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn the_login_form_answers_a_page_over_the_address_budget() {
    let app = TestApp::start_with(limited((1, 2), (0, 0), "")).await;
    let browser = app.browser();
    // Fetching the form does not spend the budget; posting it does.
    let form = login_form(&app, &browser, "local", "openid").await;
    for _ in 0..2 {
        let r = post_login(&browser, &form, "dev@example.com", "wrong").await;
        assert_ne!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    let r = post_login(&browser, &form, "dev@example.com", "wrong").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&r) >= 1);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(r.text().await.unwrap().contains("Too many attempts"));
}

/// Each request family's extractor refuses in its family's format: an admin page sends the
/// signed-out to the sign-in, an admin form that is no form gets a 400 page, the admin API a 401
/// problem document, and an endpoint over its budget a 429 in its own format.
#[tokio::test]
async fn each_request_family_is_refused_in_its_own_format() {
    let app = TestApp::start_with(limited((1, 1), (0, 0), "")).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let ct = |r: &reqwest::Response| r.headers()["content-type"].to_str().unwrap().to_string();

    let r = http.get(app.url("/admin/users")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/dex/admin/login");

    let r = http
        .post(app.url("/admin/users"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(ct(&r).starts_with("text/html"));
    let r = http
        .post(app.url("/admin/users"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", "gantry_admin=forged")
        .body("csrf=x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    let r = http.get(app.url("/api/v1/users")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(ct(&r), "application/problem+json");

    let get = || {
        http.get(app.url("/registry/token?service=registry.test"))
            .send()
    };
    assert_ne!(get().await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
    let r = get().await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    retry_after(&r);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["errors"][0]["code"], "TOOMANYREQUESTS");
    let r = http
        .post(app.url("/registry/token"))
        .form(&[("grant_type", "password")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "temporarily_unavailable");

    let login = || {
        http.post(app.url("/auth/local"))
            .form(&[("req", "x")])
            .send()
    };
    assert_ne!(
        login().await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let r = login().await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(ct(&r).starts_with("text/html"));
}
