//! Second factors (Dex master's `mfa`): a client whose `mfaChain` names a TOTP authenticator
//! sends its logins through enrolment (secret as text and QR code, confirmed by a code), then
//! asks for a code on every login; codes are computed here from the enrolled secret, by an
//! RFC 6238 implementation of this file's own.

use reqwest::StatusCode;

use crate::support::*;

const MFA_CLIENT: (&str, &str) = ("mfa-rp", "mfa-secret");

fn opts() -> Opts {
    Opts {
        extra_yaml: "mfa:\n  authenticators:\n  - id: phone\n    type: TOTP\n    config: {issuer: Acme SSO}\n".into(),
        extra_clients: format!(
            "  - id: mfa-rp\n    name: Payroll\n    secret: mfa-secret\n    redirectURIs: [\"{RP_REDIRECT}\"]\n    mfaChain: [phone]\n"
        ),
        ..Opts::default()
    }
}

// --- RFC 6238, written here independently of Gantry's ---

fn base32_decode(s: &str) -> Vec<u8> {
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut acc, mut bits, mut out) = (0u64, 0, Vec::new());
    for c in s.chars().filter(|c| !c.is_whitespace()) {
        acc = (acc << 5) | alphabet.find(c).expect("base32 letter") as u64;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn totp_at(secret: &[u8], unix: i64, digits: u32) -> String {
    use aws_lc_rs::hmac;
    let counter = (unix / 30) as u64;
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let mac = hmac::sign(&key, &counter.to_be_bytes());
    let h = mac.as_ref();
    let o = (h[19] & 0xf) as usize;
    let bin = ((h[o] as u32 & 0x7f) << 24)
        | ((h[o + 1] as u32) << 16)
        | ((h[o + 2] as u32) << 8)
        | h[o + 3] as u32;
    format!(
        "{:0width$}",
        bin % 10u32.pow(digits),
        width = digits as usize
    )
}

#[test]
fn the_tests_totp_matches_rfc_6238_appendix_b() {
    let seed = b"12345678901234567890";
    for (t, want) in [
        (59, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ] {
        assert_eq!(totp_at(seed, t, 8), want, "T = {t}");
    }
    assert_eq!(base32_decode("GEZDGNBVGY3TQOJQ"), b"1234567890");
}

// --- walking the pages ---

fn auth_query(client: &str) -> Vec<(&'static str, String)> {
    vec![
        ("client_id", client.to_string()),
        ("redirect_uri", RP_REDIRECT.to_string()),
        ("response_type", "code".to_string()),
        ("scope", "openid email".to_string()),
        ("state", "st".to_string()),
        ("nonce", "nn".to_string()),
    ]
}

/// Log in with the password form; (request id, where the approval sends the browser).
async fn password_step(
    app: &TestApp,
    b: &reqwest::Client,
    client: &str,
    user: &str,
) -> (String, reqwest::Response) {
    let q = auth_query(client);
    let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (req, approval) = app.log_in(b, &q, user, "password").await;
    let r = b.get(&approval).send().await.unwrap();
    (req, r)
}

/// A login of `user` at the MFA client up to its second-factor page: (request id, page).
async fn to_mfa_page(app: &TestApp, b: &reqwest::Client, user: &str) -> (String, String) {
    let (req, r) = password_step(app, b, MFA_CLIENT.0, user).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let mfa = app.absolute(location(&r));
    assert!(
        mfa.starts_with(&app.url("/mfa?req=")),
        "the approval sends the login to its second factor: {mfa}"
    );
    let r = b.get(&mfa).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    (req, r.text().await.unwrap())
}

fn secret_on(page: &str) -> Vec<u8> {
    let at = page
        .find("id=\"totp-secret\">")
        .expect("the secret as text")
        + 17;
    let text = page[at..].split('<').next().unwrap();
    base32_decode(text)
}

async fn post_mfa(
    app: &TestApp,
    b: &reqwest::Client,
    page: &str,
    field: &str,
    value: &str,
) -> reqwest::Response {
    b.post(app.url("/mfa"))
        .form(&[
            ("req", hidden(page, "req").as_str()),
            ("csrf", hidden(page, "csrf").as_str()),
            (field, value),
        ])
        .send()
        .await
        .unwrap()
}

/// Approve and exchange: the tokens of a login that reached the approval page.
async fn finish(app: &TestApp, b: &reqwest::Client, req: &str) -> serde_json::Value {
    finish_as(app, b, req, MFA_CLIENT).await
}

async fn finish_as(
    app: &TestApp,
    b: &reqwest::Client,
    req: &str,
    client: (&str, &str),
) -> serde_json::Value {
    let page = b
        .get(app.url(&format!("/approval?req={req}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = b
        .post(app.url("/approval"))
        .form(&[
            ("req", req),
            ("csrf", &hidden(&page, "csrf")),
            ("approval", "approve"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{page}");
    let code = query_param(location(&r), "code").expect("a code");
    let (status, body) = app.exchange(&code, None, client).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Enrol `user`: its secret and recovery codes.
async fn enrol(app: &TestApp, user: &str) -> (Vec<u8>, Vec<String>) {
    let b = app.browser();
    let (req, page) = to_mfa_page(app, &b, user).await;
    let secret = secret_on(&page);
    let code = totp_at(&secret, app.clock_now(), 6);
    let r = post_mfa(app, &b, &page, "code", &code).await;
    assert_eq!(r.status(), StatusCode::OK);
    let shown = r.text().await.unwrap();
    let codes: Vec<String> = shown
        .split("<li><code>")
        .skip(1)
        .map(|c| c.split('<').next().unwrap().to_string())
        .collect();
    finish(app, &b, &req).await;
    (secret, codes)
}

trait Now {
    fn clock_now(&self) -> i64;
}

impl Now for TestApp {
    fn clock_now(&self) -> i64 {
        use gantry::clock::Clock;
        self.clock.now()
    }
}

/// The password grant of `user` at `client`: the answer.
async fn password_grant(
    app: &TestApp,
    client: (&str, &str),
    (user, password): (&str, &str),
    scope: &str,
) -> (StatusCode, serde_json::Value) {
    app.post_token(
        &[
            ("grant_type", "password"),
            ("username", user),
            ("password", password),
            ("scope", scope),
        ],
        Some(client),
    )
    .await
}

async fn audit_rows(app: &TestApp, action: &str) -> Vec<(String, String, String)> {
    sqlx::query_as::<_, (String, String, String)>(
        "SELECT actor, outcome, detail FROM audit_log WHERE action = $1 ORDER BY id",
    )
    .bind(action)
    .fetch_all(&app.pool().await)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_first_login_enrols_with_a_code_computed_from_the_shown_secret_then_gets_tokens() {
    let app = TestApp::start_with(opts()).await;
    let b = app.browser();
    let (req, page) = to_mfa_page(&app, &b, "admin@example.com").await;
    assert!(page.contains("Set up your authenticator app"), "{page}");
    let secret = secret_on(&page);
    assert_eq!(secret.len(), 20, "a 160-bit secret");
    // The QR code is an SVG image in a data: URI that encodes the same otpauth URI.
    let qr = page
        .split("id=\"totp-qr\" src=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a QR code image");
    let svg = qr
        .strip_prefix("data:image/svg+xml;base64,")
        .expect("an SVG data URI");
    use base64::Engine;
    let svg = base64::engine::general_purpose::STANDARD
        .decode(svg)
        .unwrap();
    assert!(String::from_utf8(svg).unwrap().contains("<svg"));
    // ...which the pages' CSP lets in.
    let r = b
        .get(app.url(&format!("/mfa?req={req}")))
        .send()
        .await
        .unwrap();
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    let img_src = csp
        .split(';')
        .find(|d| d.trim().starts_with("img-src"))
        .unwrap();
    assert!(img_src.contains("data:"), "{csp}");
    // A reload shows the same secret: the app may have scanned it already.
    assert_eq!(secret_on(&r.text().await.unwrap()), secret);
    // Before the code, the login cannot be finished behind the page's back.
    let approve = b
        .post(app.url("/approval"))
        .form(&[
            ("req", req.as_str()),
            ("csrf", &hidden(&page, "csrf")),
            ("approval", "approve"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(approve.status(), StatusCode::FORBIDDEN);

    // A wrong code leaves the enrolment open.
    let right = totp_at(&secret, app.clock_now(), 6);
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    let r = post_mfa(&app, &b, &page, "code", wrong).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let again = r.text().await.unwrap();
    assert!(again.contains("That code is not right"), "{again}");
    assert_eq!(secret_on(&again), secret);

    let r = post_mfa(&app, &b, &page, "code", &right).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let shown = r.text().await.unwrap();
    let codes: Vec<&str> = shown
        .split("<li><code>")
        .skip(1)
        .map(|c| c.split('<').next().unwrap())
        .collect();
    assert_eq!(codes.len(), 10, "{shown}");
    let tokens = finish(&app, &b, &req).await;
    let id = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["email"], "admin@example.com");
    // The token says how the user logged in: password, then a one-time code.
    assert_eq!(id["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    assert_eq!(id["acr"], "urn:gantry:acr:mfa");

    let enrolled = audit_rows(&app, "mfa.enrol").await;
    assert_eq!(enrolled.len(), 1, "{enrolled:?}");
    assert_eq!(enrolled[0].0, "admin@example.com");
    assert_eq!(enrolled[0].1, "success");
    // Nothing secret reaches the audit trail.
    let all = audit_rows(&app, "mfa").await;
    for (_, _, detail) in enrolled.iter().chain(&all) {
        assert!(
            !detail.contains(&right) && !detail.contains(codes[0]),
            "{detail}"
        );
    }
}

#[tokio::test]
async fn a_later_login_asks_for_a_code_once_refusing_wrong_and_replayed_ones() {
    let app = TestApp::start_with(opts()).await;
    let (secret, _) = enrol(&app, "admin@example.com").await;
    // The enrolment's code was spent: the same step cannot serve the next login.
    let b = app.browser();
    let (req, page) = to_mfa_page(&app, &b, "admin@example.com").await;
    assert!(
        page.contains("Enter your code"),
        "no enrolment the second time: {page}"
    );
    assert!(
        !page.contains("totp-secret"),
        "the secret is never shown again"
    );
    let spent = totp_at(&secret, app.clock_now(), 6);
    let r = post_mfa(&app, &b, &page, "code", &spent).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.text().await.unwrap().contains("used already"));

    app.clock.advance(30);
    let fresh = totp_at(&secret, app.clock_now(), 6);
    let r = post_mfa(&app, &b, &page, "code", &fresh).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.absolute(location(&r)),
        app.url(&format!("/approval?req={req}"))
    );
    finish(&app, &b, &req).await;

    // The same code in another login, inside its 30 seconds: refused.
    let b2 = app.browser();
    let (_, page2) = to_mfa_page(&app, &b2, "admin@example.com").await;
    let r = post_mfa(&app, &b2, &page2, "code", &fresh).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // One step back in the window is also too late once a later step was accepted.
    let previous = totp_at(&secret, app.clock_now() - 30, 6);
    let r = post_mfa(&app, &b2, &page2, "code", &previous).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let refused: Vec<_> = audit_rows(&app, "mfa")
        .await
        .into_iter()
        .filter(|(_, o, _)| o == "failure")
        .collect();
    assert_eq!(refused.len(), 3, "{refused:?}");
    assert!(
        refused[0].2.contains("\"reason\":\"replayed\""),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_recovery_code_stands_in_for_a_code_once() {
    let app = TestApp::start_with(opts()).await;
    let (_, codes) = enrol(&app, "admin@example.com").await;
    assert_eq!(codes.len(), 10);
    let b = app.browser();
    let (req, page) = to_mfa_page(&app, &b, "admin@example.com").await;
    assert!(page.contains("id=\"recovery-form\""), "{page}");
    let r = post_mfa(&app, &b, &page, "recovery_code", &codes[3].to_uppercase()).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let tokens = finish(&app, &b, &req).await;
    // Claimed as a one-time code, and nothing of Gantry's own bookkeeping.
    let id = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["amr"], serde_json::json!(["pwd", "otp", "mfa"]));

    let b = app.browser();
    let (_, page) = to_mfa_page(&app, &b, "admin@example.com").await;
    let r = post_mfa(&app, &b, &page, "recovery_code", &codes[3]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("recovery code is not right")
    );
    let used = audit_rows(&app, "mfa.recovery").await;
    assert_eq!(
        used.iter().map(|(_, o, _)| o.as_str()).collect::<Vec<_>>(),
        ["success", "failure"]
    );
    assert!(used[0].2.contains("\"recovery_codes_left\":9"), "{used:?}");
}

#[tokio::test]
async fn a_code_of_another_user_and_a_form_from_another_browser_are_refused() {
    let app = TestApp::start_with(opts()).await;
    let (admin_secret, _) = enrol(&app, "admin@example.com").await;
    app.clock.advance(30);

    // dev logs in: admin's code is no code of dev's.
    let b = app.browser();
    let (_, page) = to_mfa_page(&app, &b, "dev@example.com").await;
    let dev_secret = secret_on(&page);
    assert_ne!(dev_secret, admin_secret);
    let admins = totp_at(&admin_secret, app.clock_now(), 6);
    if admins != totp_at(&dev_secret, app.clock_now(), 6) {
        let r = post_mfa(&app, &b, &page, "code", &admins).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }

    // admin's login, its form posted from another cookie jar with admin's right code.
    let b = app.browser();
    let (req, page) = to_mfa_page(&app, &b, "admin@example.com").await;
    let other = app.browser();
    let _ = other.get(app.url("/auth")).send().await; // a jar with its own cookies
    let r = post_mfa(&app, &other, &page, "code", &admins).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("did not come from the browser")
    );
    // The other browser's own CSRF cookie, with this request: still not its login.
    let (_, their_page) = to_mfa_page(&app, &other, "dev@example.com").await;
    let r = other
        .post(app.url("/mfa"))
        .form(&[
            ("req", req.as_str()),
            ("csrf", &hidden(&their_page, "csrf")),
            ("code", &admins),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Neither spent the code: the browser that logged in still gets in with it.
    let r = post_mfa(&app, &b, &page, "code", &admins).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    finish(&app, &b, &req).await;
    let refused: Vec<_> = audit_rows(&app, "mfa")
        .await
        .into_iter()
        .filter(|(_, _, d)| d.contains("other_browser"))
        .collect();
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert_eq!(refused[0].0, "admin@example.com");
}

#[tokio::test]
async fn wrong_codes_are_limited_per_user_and_an_expired_request_is_refused() {
    let app = TestApp::start_with(opts()).await;
    let (secret, _) = enrol(&app, "admin@example.com").await;
    app.clock.advance(30);
    let b = app.browser();
    let (_, page) = to_mfa_page(&app, &b, "admin@example.com").await;
    let right = totp_at(&secret, app.clock_now(), 6);
    let wrong = |i: u32| {
        let w = format!("{:06}", (right.parse::<u32>().unwrap() + 1 + i) % 1_000_000);
        assert_ne!(w, right);
        w
    };
    for i in 0..5 {
        let r = post_mfa(&app, &b, &page, "code", &wrong(i)).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "guess {i}");
    }
    // The budget is the user's, from any browser: even the right code waits now.
    let b2 = app.browser();
    let (_, page2) = to_mfa_page(&app, &b2, "admin@example.com").await;
    let r = post_mfa(&app, &b2, &page2, "code", &right).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.text().await.unwrap().contains("Too many wrong codes"));
    let failures = audit_rows(&app, "mfa").await;
    assert!(
        failures
            .iter()
            .any(|(_, o, d)| o == "failure" && d.contains("throttled_from_now")),
        "{failures:?}"
    );
    // Other users are not held up.
    let b3 = app.browser();
    let (_, page3) = to_mfa_page(&app, &b3, "dev@example.com").await;
    let dev = totp_at(&secret_on(&page3), app.clock_now(), 6);
    assert_eq!(
        post_mfa(&app, &b3, &page3, "code", &dev).await.status(),
        StatusCode::OK
    );

    // The window passes; the login request itself has expired meanwhile (authRequests: 30m).
    app.clock.advance(31 * 60);
    let r = post_mfa(
        &app,
        &b2,
        &page2,
        "code",
        &totp_at(&secret, app.clock_now(), 6),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("expired"));
    // A fresh login goes through.
    let b4 = app.browser();
    let (req, page4) = to_mfa_page(&app, &b4, "admin@example.com").await;
    let r = post_mfa(
        &app,
        &b4,
        &page4,
        "code",
        &totp_at(&secret, app.clock_now(), 6),
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    finish(&app, &b4, &req).await;
}

#[tokio::test]
async fn a_client_without_an_mfa_chain_is_not_asked() {
    let app = TestApp::start_with(opts()).await;
    enrol(&app, "admin@example.com").await;
    let b = app.browser();
    let (req, r) = password_step(&app, &b, "rp", "admin@example.com").await;
    assert_eq!(r.status(), StatusCode::OK, "straight to the approval");
    assert!(r.text().await.unwrap().contains("Grant access"));
    let tokens = finish_as(&app, &b, &req, RP).await;
    let id = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["amr"], serde_json::json!(["pwd"]));
    assert_eq!(id["acr"], "urn:gantry:acr:1fa");
}

/// `/auth` for `client` with browser `b`, which may carry a session: the first answer.
async fn auth(app: &TestApp, b: &reqwest::Client, client: &str, extra: &[(&str, &str)]) -> String {
    let mut q = auth_query(client);
    q.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    let r = b.get(app.url("/auth")).query(&q).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.absolute(location(&r))
}

#[tokio::test]
async fn a_session_without_the_factor_is_stepped_up_and_one_with_it_is_not_asked_again() {
    // Every client accepts every other's session: the MFA client too, for the first factor.
    let mut o = opts();
    o.extra_yaml
        .push_str("sessions: {ssoSharedWithDefault: all}\n");
    let app = TestApp::start_with(o).await;
    let b = app.browser();
    // One login, password only, at a client that asks no second factor.
    let (req, _) = password_step(&app, &b, "rp", "admin@example.com").await;
    finish_as(&app, &b, &req, RP).await;

    // prompt=none cannot give the factor: interaction_required, at the client.
    let back = auth(&app, &b, MFA_CLIENT.0, &[("prompt", "none")]).await;
    assert!(back.starts_with(RP_REDIRECT), "{back}");
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("interaction_required")
    );

    // The session logs the request in, and the second factor is asked for (step-up).
    let next = auth(&app, &b, MFA_CLIENT.0, &[]).await;
    assert!(next.starts_with(&app.url("/mfa?req=")), "{next}");
    let req = query_param(&next, "req").unwrap();
    let page = b.get(&next).send().await.unwrap().text().await.unwrap();
    let secret = secret_on(&page);
    let r = post_mfa(
        &app,
        &b,
        &page,
        "code",
        &totp_at(&secret, app.clock_now(), 6),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK, "recovery codes");
    let tokens = finish(&app, &b, &req).await;
    let id = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["amr"], serde_json::json!(["pwd", "otp", "mfa"]));

    // The session now holds the factor: the next login at the client asks nothing.
    let back = auth(&app, &b, MFA_CLIENT.0, &[]).await;
    assert!(back.starts_with(RP_REDIRECT), "no page this time: {back}");
    let code = query_param(&back, "code").expect("a code");
    let (status, tokens) = app.exchange(&code, None, MFA_CLIENT).await;
    assert_eq!(status, StatusCode::OK);
    let id = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["acr"], "urn:gantry:acr:mfa");
}

#[tokio::test]
async fn acr_values_asking_for_mfa_get_a_second_factor_at_any_client() {
    let app = TestApp::start_with(opts()).await;
    let b = app.browser();
    let q = auth_query("rp");
    let mut q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
    q.push(("acr_values", "urn:gantry:acr:mfa"));
    let (req, approval) = app.log_in(&b, &q, "dev@example.com", "password").await;
    let r = b.get(&approval).send().await.unwrap();
    assert!(
        app.absolute(location(&r))
            .starts_with(&app.url("/mfa?req=")),
        "the request asked for it"
    );
    let page = b
        .get(app.absolute(location(&r)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let secret = secret_on(&page);
    post_mfa(
        &app,
        &b,
        &page,
        "code",
        &totp_at(&secret, app.clock_now(), 6),
    )
    .await;
    let tokens = finish_as(&app, &b, &req, RP).await;
    let id = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["acr"], "urn:gantry:acr:mfa");
}

// --- the factor store's contract, on both dialects ---

async fn factor_store_contract(db: gantry::storage::Db) {
    use gantry::storage::factors::{FactorRow, FactorStore};
    let now = 1_000_000;
    let row = |id: &str, subject: &str| FactorRow {
        id: id.into(),
        subject: subject.into(),
        connector_id: "ldap".into(),
        authenticator_id: "phone".into(),
        kind: "totp".into(),
        secret: format!("sealed-{id}"),
        last_step: -1,
        confirmed_at: None,
        created_at: now,
        last_used_at: None,
        name: String::new(),
        credential_id: None,
        sign_count: 0,
    };
    // One TOTP factor per identity and authenticator: a second enrolment gets the first.
    let first = db.add_totp_factor(&row("f1", "alice")).await.unwrap();
    assert_eq!(first.id, "f1");
    let again = db.add_totp_factor(&row("f2", "alice")).await.unwrap();
    assert_eq!(
        (again.id.as_str(), again.secret.as_str()),
        ("f1", "sealed-f1")
    );
    db.add_totp_factor(&row("f3", "bob")).await.unwrap();
    assert_eq!(db.factors_of("alice").await.unwrap().len(), 1);
    // A step is accepted once, later steps only; the first confirms the factor.
    assert!(db.accept_totp_step("f1", 100, now).await.unwrap());
    assert!(!db.accept_totp_step("f1", 100, now).await.unwrap());
    assert!(!db.accept_totp_step("f1", 99, now).await.unwrap());
    assert!(db.accept_totp_step("f1", 101, now + 30).await.unwrap());
    let f = &db.factors_of("alice").await.unwrap()[0];
    assert_eq!(
        (f.last_step, f.confirmed_at, f.last_used_at),
        (101, Some(now), Some(now + 30))
    );
    assert_eq!(db.factors_of("bob").await.unwrap()[0].confirmed_at, None);

    // Recovery codes: replaced as a set, used once each.
    let hashes = ["h1".to_string(), "h2".to_string()];
    db.replace_recovery_codes("alice", &hashes, now)
        .await
        .unwrap();
    assert!(db.use_recovery_code("alice", "h1", now).await.unwrap());
    assert!(!db.use_recovery_code("alice", "h1", now).await.unwrap());
    assert!(!db.use_recovery_code("bob", "h2", now).await.unwrap());
    assert_eq!(db.unused_recovery_codes("alice").await.unwrap(), ["h2"]);
    db.replace_recovery_codes("alice", &["h3".to_string()], now)
        .await
        .unwrap();
    assert_eq!(db.unused_recovery_codes("alice").await.unwrap(), ["h3"]);

    // Guesses: counted in a window that starts over once it has passed; each count answered.
    for n in 1..=3 {
        assert_eq!(
            db.record_mfa_failure("alice", now, now - 300)
                .await
                .unwrap(),
            n
        );
    }
    // Guesses sent together are each counted once: the budget cannot be raced.
    let mut counts: Vec<i64> = futures_util::future::join_all(
        (0..12).map(|_| db.record_mfa_failure("carol", now, now - 300)),
    )
    .await
    .into_iter()
    .map(Result::unwrap)
    .collect();
    counts.sort_unstable();
    assert_eq!(counts, (1..=12).collect::<Vec<i64>>());
    db.clear_mfa_failures("carol").await.unwrap();
    assert_eq!(db.mfa_failures("alice", now - 300).await.unwrap(), 3);
    assert_eq!(db.mfa_failures("bob", now - 300).await.unwrap(), 0);
    db.record_mfa_failure("alice", now + 400, now + 100)
        .await
        .unwrap();
    assert_eq!(db.mfa_failures("alice", now + 100).await.unwrap(), 1);
    db.clear_mfa_failures("alice").await.unwrap();
    assert_eq!(db.mfa_failures("alice", now).await.unwrap(), 0);

    // A request's amr: read with its acr_values, replaced only from what was read.
    let req = gantry::storage::auth::AuthRequest {
        id: "req-1".into(),
        client_id: "c".into(),
        redirect_uri: "http://x/cb".into(),
        scopes: "openid".into(),
        state: String::new(),
        nonce: String::new(),
        code_challenge: String::new(),
        code_challenge_method: String::new(),
        connector_id: None,
        identity: None,
        browser_hash: None,
        logged_in_at: None,
        created_at: now,
        expires_at: now + 60,
        session_id: None,
        amr: "pwd".into(),
        prompt: String::new(),
        max_age: None,
        acr_values: "urn:gantry:acr:mfa".into(),
        login_hint: String::new(),
        remember: 0,
    };
    db.create_auth_request(&req).await.unwrap();
    assert_eq!(
        db.auth_request_amr("req-1", now).await.unwrap(),
        ("pwd".to_string(), "urn:gantry:acr:mfa".to_string())
    );
    assert!(
        db.replace_auth_request_amr("req-1", "pwd", "pwd otp mfa")
            .await
            .unwrap()
    );
    assert!(
        !db.replace_auth_request_amr("req-1", "pwd", "pwd otp")
            .await
            .unwrap()
    );
    assert_eq!(
        db.auth_request_amr("req-1", now).await.unwrap().0,
        "pwd otp mfa"
    );
    assert!(db.auth_request_amr("req-1", now + 60).await.is_err());

    // A WebAuthn ceremony: kept with its request, taken once, gone with the request.
    assert!(db.put_ceremony("req-1", "{\"c\":1}", now).await.unwrap());
    assert!(db.put_ceremony("req-1", "{\"c\":2}", now).await.unwrap());
    assert_eq!(
        db.take_ceremony("req-1", now).await.unwrap().as_deref(),
        Some("{\"c\":2}")
    );
    assert_eq!(db.take_ceremony("req-1", now).await.unwrap(), None);
    assert!(!db.put_ceremony("gone", "{}", now).await.unwrap());
    assert!(db.put_ceremony("req-1", "{}", now).await.unwrap());
    assert_eq!(db.take_ceremony("req-1", now + 60).await.unwrap(), None);

    // WebAuthn keys: several per identity, each credential id once across identities; a use
    // advances the counter only from the value read.
    let key = |id: &str, subject: &str, cred: &str| FactorRow {
        kind: "webauthn".into(),
        authenticator_id: "key".into(),
        confirmed_at: Some(now),
        name: format!("key {id}"),
        credential_id: Some(cred.into()),
        sign_count: 3,
        ..row(id, subject)
    };
    assert!(
        db.add_webauthn_factor(&key("k1", "alice", "cred-a"))
            .await
            .unwrap()
    );
    assert!(
        db.add_webauthn_factor(&key("k2", "alice", "cred-b"))
            .await
            .unwrap()
    );
    assert!(
        !db.add_webauthn_factor(&key("k3", "bob", "cred-a"))
            .await
            .unwrap()
    );
    assert!(
        db.accept_webauthn_use("k1", (3, 4), "sealed-new", now + 5)
            .await
            .unwrap()
    );
    assert!(
        !db.accept_webauthn_use("k1", (3, 5), "sealed-other", now + 6)
            .await
            .unwrap()
    );
    let k1 = db
        .factors_of("alice")
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.id == "k1")
        .unwrap();
    assert_eq!(
        (
            k1.sign_count,
            k1.secret.as_str(),
            k1.last_used_at,
            k1.name.as_str()
        ),
        (4, "sealed-new", Some(now + 5), "key k1")
    );
    let listed = db.all_factors(10, 0).await.unwrap();
    assert_eq!(
        listed.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(),
        ["f1", "k1", "k2", "f3"]
    );

    // A reset removes an identity's factors, recovery codes and wrong guesses, no one else's.
    db.record_mfa_failure("alice", now, now - 300)
        .await
        .unwrap();
    assert_eq!(db.reset_factors("alice").await.unwrap(), (3, 1));
    assert!(db.factors_of("alice").await.unwrap().is_empty());
    assert!(db.unused_recovery_codes("alice").await.unwrap().is_empty());
    assert_eq!(db.mfa_failures("alice", now - 300).await.unwrap(), 0);
    assert_eq!(db.factors_of("bob").await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_factor_store_keeps_its_contract_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let at = gantry::config::StorageLocation::Sqlite {
        file: format!("{}/f.db", dir.path().display()),
    };
    factor_store_contract(gantry::storage::Db::open(&at).await.unwrap()).await;
}

#[tokio::test]
async fn the_factor_store_keeps_its_contract_on_postgresql() {
    let at = gantry::config::StorageLocation::Postgres {
        url: fresh_postgres_db().await,
        max_conns: 4,
    };
    factor_store_contract(gantry::storage::Db::open(&at).await.unwrap()).await;
}

#[tokio::test]
async fn an_admin_lists_a_users_factors_and_resets_them_with_a_reason() {
    let mut o = opts();
    o.extra_yaml = format!("{}{}", o.extra_yaml, crate::admin::POLICY);
    let app = TestApp::start_with(o).await;
    enrol(&app, "dev@example.com").await;
    enrol(&app, "admin@example.com").await;
    let token = crate::admin::machine_token(&app).await;
    let http = reqwest::Client::new();
    let all: serde_json::Value = http
        .get(app.url("/api/v1/factors"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 2, "{all}");
    let dev = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| {
            gantry::identity::Identity::parse_subject(f["subject"].as_str().unwrap())
                .is_some_and(|(u, _)| u == "5b4a3bd6-8c7e-4bb5-9d51-3b9f4f4d0a10")
        })
        .expect("dev's factor")
        .clone();
    assert_eq!(
        (
            dev["kind"].as_str(),
            dev["authenticator"].as_str(),
            dev["confirmed"].as_bool()
        ),
        (Some("totp"), Some("phone"), Some(true))
    );
    assert!(dev.get("secret").is_none(), "{dev}");
    let subject = dev["subject"].as_str().unwrap().to_string();
    let one: serde_json::Value = http
        .get(app.url("/api/v1/factors"))
        .query(&[("subject", subject.as_str())])
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["items"].as_array().unwrap().len(), 1, "{one}");

    // A reset without a reason is refused; nothing is removed.
    let post = |body: serde_json::Value| {
        http.post(app.url("/api/v1/factors/reset"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let r = post(serde_json::json!({ "subject": subject, "reason": "  " }))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = post(serde_json::json!({ "subject": subject }))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = post(serde_json::json!({ "subject": subject, "reason": "x".repeat(501) }))
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "a reason past 500 characters"
    );
    // A refresh token the user holds from before the reset.
    let (s, held) = password_grant(
        &app,
        ("rp", "rp-secret"),
        ("dev@example.com", "password"),
        "openid offline_access",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{held}");
    let userinfo = |at: String| {
        let url = app.url("/userinfo");
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(at)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let at = held["access_token"].as_str().unwrap().to_string();
    assert_eq!(userinfo(at.clone()).await, StatusCode::OK);
    let r = post(serde_json::json!({ "subject": subject, "reason": "lost phone (ticket 4711)" }))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let done: serde_json::Value = r.json().await.unwrap();
    assert_eq!(done["factors"], 1, "{done}");
    assert_eq!(done["recovery_codes"], 10, "{done}");
    assert_eq!(done["refresh_tokens"], 1, "{done}");
    // ...no longer refreshes: a token a lost factor helped to get does not outlive the reset.
    let (s, body) = app
        .post_token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", held["refresh_token"].as_str().unwrap()),
            ],
            Some(("rp", "rp-secret")),
        )
        .await;
    assert_eq!(
        (s, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    // Its access token neither, wherever Gantry checks one (userinfo, introspection, the
    // registry).
    assert_eq!(userinfo(at).await, StatusCode::UNAUTHORIZED);
    // Nothing left to reset: 404.
    let r = post(serde_json::json!({ "subject": subject, "reason": "again" }))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // The audit keeps who reset whose factors and why; the admin's factor is untouched.
    let resets = audit_rows(&app, "mfa.reset").await;
    let ok: Vec<_> = resets.iter().filter(|(_, o, _)| o == "success").collect();
    assert_eq!(ok.len(), 1, "{resets:?}");
    assert!(ok[0].2.contains("lost phone (ticket 4711)"), "{resets:?}");
    let left: serde_json::Value = http
        .get(app.url("/api/v1/factors"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(left["items"].as_array().unwrap().len(), 1, "{left}");

    // The user's next login enrols again.
    let (_, page) = to_mfa_page(&app, &app.browser(), "dev@example.com").await;
    assert!(page.contains("Set up your authenticator app"), "{page}");

    // The sessions page lists the remaining user's factors with a reset form, which asks for
    // confirmation and then resets.
    let (ui, _) = crate::admin::sign_in(&app, "admin@example.com").await;
    let page = ui
        .get(app.url("/admin/sessions"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let table = page
        .split("id=\"factors\"")
        .nth(1)
        .expect("a factors table");
    assert!(table.contains("phone (totp)"), "{table}");
    let admin_subject = hidden(table, "subject");
    let form = [
        ("csrf", hidden(&page, "csrf")),
        ("subject", admin_subject.clone()),
        ("reason", "left the company".to_string()),
    ];
    let ask = ui
        .post(app.url("/admin/factors/reset"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(ask.status(), StatusCode::OK);
    let ask = ask.text().await.unwrap();
    assert!(ask.contains("Reset this user"), "{ask}");
    assert_eq!(
        app.provider
            .second_factors
            .store()
            .factors_of(&admin_subject)
            .await
            .unwrap()
            .len(),
        1
    );
    let mut confirmed = form.to_vec();
    confirmed.push(("confirm", "yes".to_string()));
    let r = ui
        .post(app.url("/admin/factors/reset"))
        .form(&confirmed)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    assert!(location(&r).ends_with("/admin/sessions?revoked=factors"));
    assert!(
        app.provider
            .second_factors
            .store()
            .factors_of(&admin_subject)
            .await
            .unwrap()
            .is_empty()
    );
    let resets = audit_rows(&app, "mfa.reset").await;
    assert!(
        resets
            .iter()
            .any(|(_, o, d)| o == "success" && d.contains("left the company"))
    );
}

/// `policy.mfa` (Gantry, beyond Dex's chains): the policy asks admins for a second factor at
/// the admin UI and everybody at a production cluster's client, while the same users log in
/// to other clients on their password alone.
#[tokio::test]
async fn the_policy_asks_for_a_second_factor_where_it_says_and_nowhere_else() {
    let app = TestApp::start_with(Opts {
        extra_yaml: format!(
            "mfa:\n  authenticators:\n  - id: phone\n    type: TOTP\n\
             kubernetes:\n  clusters:\n  - {{name: prod, clientID: {}}}\n\
             policy:\n  admins: {{ groups: [admins] }}\n  mfa:\n  - {{name: admins-at-the-ui, groups: [admins], admin: true}}\n  - {{name: prod-cluster, clusters: [prod]}}\n",
            MFA_CLIENT.0
        ),
        extra_clients: format!(
            "  - id: mfa-rp\n    name: Prod cluster\n    secret: mfa-secret\n    redirectURIs: [\"{RP_REDIRECT}\"]\n"
        ),
        ..Opts::default()
    })
    .await;
    // rp: no requirement names it: the approval, no second factor.
    let (_, r) = password_step(&app, &app.browser(), "rp", "dev@example.com").await;
    assert!(
        !location(&r).contains("/mfa?"),
        "rp is not asked: {}",
        location(&r)
    );
    // The prod cluster's client: everyone is asked.
    let (_, r) = password_step(&app, &app.browser(), MFA_CLIENT.0, "dev@example.com").await;
    assert!(location(&r).contains("/mfa?req="), "{}", location(&r));
    // The admin UI: admins are asked.
    let b = app.browser();
    let r = b.get(app.url("/admin/login")).send().await.unwrap();
    let auth = app.absolute(location(&r));
    let r = b.get(&auth).send().await.unwrap();
    let login = app.absolute(location(&r));
    let page = b.get(&login).send().await.unwrap().text().await.unwrap();
    let mut form = hidden_inputs(&page);
    form.push(("login".into(), "admin@example.com".into()));
    form.push(("password".into(), "password".into()));
    let r = b.post(&login).form(&form).send().await.unwrap();
    let approval = app.absolute(location(&r));
    let r = b.get(&approval).send().await.unwrap();
    assert!(
        location(&r).contains("/mfa?req="),
        "the admin UI asks admins: {}",
        location(&r)
    );
}

/// The password grant has no page to ask for a second factor on: a client whose chain (or
/// the policy) wants one refuses it, while other clients keep it.
#[tokio::test]
async fn the_password_grant_is_refused_where_a_second_factor_is_required() {
    let app = TestApp::start_with(opts()).await;
    let form = [
        ("grant_type", "password"),
        ("username", "dev@example.com"),
        ("password", "password"),
        ("scope", "openid"),
    ];
    let (s, body) = app.post_token(&form, Some(MFA_CLIENT)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("second factor"),
        "{body}"
    );
    let (s, body) = app.post_token(&form, Some(("rp", "rp-secret"))).await;
    assert_eq!(s, StatusCode::OK, "{body}");
}

/// `policy.mfa` on registry actions: pushing to `prod/**` needs a second factor. A password
/// (docker login) still pulls there and pushes elsewhere, but a push to prod is refused with
/// the reason; a browser login at a registry login client is stepped up, and the identity
/// token it becomes pushes through a real docker-registry with skopeo. Access tokens as
/// passwords count the factor their login gave, and only that.
#[tokio::test]
async fn a_push_to_prod_needs_a_second_factor_that_a_browser_login_gives() {
    use crate::registry::{REALM, Skopeo, add_user, env, oci_image, refused, token};
    let _realm = REALM.lock().await;
    let realm_port: u16 = env("GANTRY_TEST_REGISTRY_REALM_PORT").parse().unwrap();
    let app = TestApp::start_with(Opts {
        port: Some(realm_port),
        extra_yaml: format!(
            "mfa:\n  authenticators:\n  - id: phone\n    type: TOTP\n\
             policy:\n  rules:\n  - {{name: release, groups: [release], registry: [{{repositories: [\"prod/**\", \"dev/**\"], actions: [\"*\"]}}]}}\n\
             \x20 mfa:\n  - {{name: prod-push, groups: [release], registry: [{{repositories: [\"prod/**\"], actions: [push, delete]}}]}}\n\
             registry:\n  loginClients: [rp]\n  caCert: {}\n  caKey: {}\n  services:\n  - {{name: registry.test, issuer: gantry-test, accessTokenAudiences: [rp, peer]}}\n",
            env("GANTRY_TEST_REGISTRY_CA_CERT"),
            env("GANTRY_TEST_REGISTRY_CA_KEY")
        ),
        ..Opts::default()
    })
    .await;
    add_user(&app, "rel@example.com", &["release"]).await;
    let sk = Skopeo {
        registry: env("GANTRY_TEST_REGISTRY"),
        image: tempfile::tempdir().unwrap(),
    };
    oci_image(
        sk.image.path(),
        &format!("release {}\n", gantry::secret::random_token(6)),
    );
    let password = "rel@example.com:pw-123";
    let prod_push = [
        ("service", "registry.test"),
        ("scope", "repository:prod/api:pull,push"),
    ];

    // A password: pushes to dev, not to prod, and the token endpoint says why.
    sk.push(password, "dev/api:v1").await.unwrap();
    assert!(refused(sk.push(password, "prod/api:v1").await));
    let (s, h, body) = token(&app, Some(("rel@example.com", "pw-123")), &prod_push).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        h["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic realm=")
    );
    assert_eq!(body["errors"][0]["code"], "UNAUTHORIZED");
    let why = body["errors"][0]["message"].as_str().unwrap();
    assert!(
        why.contains("push on repository:prod/api")
            && why.contains("second factor")
            && why.contains("prod-push"),
        "{why}"
    );
    // `*` (every action) is a push and a delete too.
    let (s, _, body) = token(
        &app,
        Some(("rel@example.com", "pw-123")),
        &[
            ("service", "registry.test"),
            ("scope", "repository:prod/api:*"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
    // Pulling prod needs no factor; nor does what the policy would not grant anyway.
    let (s, _, body) = token(
        &app,
        Some(("rel@example.com", "pw-123")),
        &[
            ("service", "registry.test"),
            ("scope", "repository:prod/api:pull"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, _, body) = token(&app, Some(("dev@example.com", "password")), &prod_push).await;
    assert_eq!(
        s,
        StatusCode::OK,
        "someone the policy grants nothing is not asked: {body}"
    );
    let refusals = audit_rows(&app, "registry.token").await;
    assert!(
        refusals
            .iter()
            .any(|(who, outcome, d)| who == "rel@example.com"
                && outcome == "failure"
                && d.contains("prod-push")),
        "{refusals:?}"
    );
    // A password grant at the registry login client is refused (there is no page to ask
    // the factor on); at another client listed as a registry audience it gives a token that
    // is a password login too.
    let grant = |client| {
        password_grant(
            &app,
            client,
            ("rel@example.com", "pw-123"),
            "openid profile groups",
        )
    };
    let (s, body) = grant(("rp", "rp-secret")).await;
    assert_eq!(
        (s, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (s, pwd_grant) = grant(("peer", "peer-secret")).await;
    assert_eq!(s, StatusCode::OK, "{pwd_grant}");
    let at = pwd_grant["access_token"].as_str().unwrap();
    let (s, _, body) = token(&app, Some(("rel", at)), &prod_push).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");

    // The browser login at the registry login client is asked for the factor (enrolment
    // here), and its tokens say so.
    let b = app.browser();
    let q = [
        ("client_id", "rp"),
        ("redirect_uri", RP_REDIRECT),
        ("response_type", "code"),
        ("scope", "openid profile groups offline_access"),
        ("state", "st"),
        ("nonce", "nn"),
    ];
    let (req, approval) = app.log_in(&b, &q, "rel@example.com", "pw-123").await;
    let r = b.get(&approval).send().await.unwrap();
    assert!(
        location(&r).contains("/mfa?req="),
        "stepped up: {}",
        location(&r)
    );
    let page = b
        .get(app.absolute(location(&r)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let secret = secret_on(&page);
    let r = post_mfa(
        &app,
        &b,
        &page,
        "code",
        &totp_at(&secret, app.clock_now(), 6),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let tokens = finish_as(&app, &b, &req, ("rp", "rp-secret")).await;
    let access = jwt_claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(access["amr"], serde_json::json!(["pwd", "otp", "mfa"]));

    // Its access token, as a password, may push to prod.
    let (s, _, body) = token(
        &app,
        Some(("rel", tokens["access_token"].as_str().unwrap())),
        &prod_push,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    // Its refresh token becomes a registry identity token that keeps the factor, and
    // skopeo pushes to prod with it through the real registry.
    let r = reqwest::Client::new()
        .post(app.url("/registry/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("service", "registry.test"),
            ("client_id", "gantry-cli"),
            ("access_type", "offline"),
            ("scope", "repository:prod/api:pull,push"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["scope"], "repository:prod/api:pull,push");
    let identity = body["refresh_token"].as_str().expect("an identity token");
    sk.push(&format!("<token>:{identity}"), "prod/api:v1")
        .await
        .unwrap();
    sk.pull(password, "prod/api:v1").await.unwrap();
    // The password alone still cannot.
    assert!(refused(sk.push(password, "prod/api:v2").await));
}

/// Whoever knows only the password cannot add a factor of their own: a user with an app who
/// reaches a client whose chain names a security key is asked for the app's code first, and
/// only then offered to register a key.
#[tokio::test]
async fn a_new_kind_of_factor_is_enrolled_only_after_the_one_the_user_has() {
    let port = free_port();
    let mut o = opts();
    o.port = Some(port);
    o.extra_yaml.push_str(&format!(
        "  - id: key\n    type: WebAuthn\n    config:\n      rpID: localhost\n      rpOrigins: [\"http://localhost:{port}\"]\n"
    ));
    o.extra_clients.push_str(&format!(
        "  - id: key-rp\n    name: Vault\n    secret: key-secret\n    redirectURIs: [\"{RP_REDIRECT}\"]\n    mfaChain: [key]\n"
    ));
    let app = TestApp::start_with(o).await;
    let (secret, _) = enrol(&app, "admin@example.com").await;

    let b = app.browser();
    let (_, r) = password_step(&app, &b, "key-rp", "admin@example.com").await;
    let mfa = app.absolute(location(&r));
    assert!(mfa.contains("/mfa?req="), "{mfa}");
    let page = b.get(&mfa).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains("id=\"code\"") && !page.contains("key-form"),
        "the app's code before any key: {page}"
    );
    // A wrong code does not open the key's registration. (The next step's code: the
    // enrolment used this one.)
    app.clock.advance(30);
    let right = totp_at(&secret, app.clock_now(), 6);
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    let r = post_mfa(&app, &b, &page, "code", wrong).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let page = b.get(&mfa).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains("key-form"), "{page}");
    let r = post_mfa(&app, &b, &page, "code", &right).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // Now the chain's own step: registering a key.
    let page = b.get(&mfa).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains("data-webauthn=\"create\""),
        "the key is offered after the app's code: {page}"
    );
    // A user with no factor at all enrols the key directly (nothing to prove first).
    let b = app.browser();
    let (_, r) = password_step(&app, &b, "key-rp", "dev@example.com").await;
    let page = b
        .get(app.absolute(location(&r)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("data-webauthn=\"create\""), "{page}");
}

/// A token for a cluster's audience asked through another client (Dex's cross-client scope)
/// meets the cluster's requirement: the password grant is refused and the browser login is
/// stepped up, while the same client without the scope is not asked.
#[tokio::test]
async fn a_cluster_reached_through_a_trusting_client_asks_for_its_factor() {
    let app = TestApp::start_with(Opts {
        extra_yaml: "mfa:\n  authenticators:\n  - id: phone\n    type: TOTP\n\
             kubernetes:\n  clusters:\n  - {name: prod, clientID: kube-prod}\n\
             policy:\n  mfa:\n  - {name: prod-cluster, clusters: [prod]}\n"
            .into(),
        extra_clients: format!(
            "  - id: kube-prod\n    name: Prod cluster\n    secret: kube-secret\n    redirectURIs: [\"{RP_REDIRECT}\"]\n    trustedPeers: [rp]\n"
        ),
        ..Opts::default()
    })
    .await;
    let grant = |scope: &'static str| {
        password_grant(
            &app,
            ("rp", "rp-secret"),
            ("dev@example.com", "password"),
            scope,
        )
    };
    let (s, body) = grant("openid audience:server:client_id:kube-prod").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant");
    let (s, body) = grant("openid").await;
    assert_eq!(s, StatusCode::OK, "rp alone is not asked: {body}");

    let b = app.browser();
    let mut q = auth_query("rp");
    q[3].1 = "openid email audience:server:client_id:kube-prod".into();
    let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (_, approval) = app.log_in(&b, &q, "dev@example.com", "password").await;
    let r = b.get(&approval).send().await.unwrap();
    assert!(
        location(&r).contains("/mfa?req="),
        "stepped up for the cluster's audience: {}",
        location(&r)
    );
}

/// A device approved from a browser that gave a second factor gets tokens that say so: the
/// browser login's amr, and its time as auth_time (not the approval's).
#[tokio::test]
async fn a_device_approved_after_a_second_factor_carries_its_amr() {
    let mut o = opts();
    o.extra_clients.push_str(&format!(
        "  - id: tv\n    name: TV\n    public: true\n    redirectURIs: [\"{NATIVE_REDIRECT}\"]\n    mfaChain: [phone]\n"
    ));
    let app = TestApp::start_with(o).await;
    let r = reqwest::Client::new()
        .post(app.url("/device/code"))
        .form(&[("client_id", "tv"), ("scope", "openid")])
        .send()
        .await
        .unwrap();
    let dc: serde_json::Value = r.json().await.unwrap();
    let b = app.browser();
    let logged_in_at = app.clock_now();
    let (req, r) = app
        .device_login(
            &b,
            dc["verification_uri_complete"].as_str().unwrap(),
            "dev@example.com",
        )
        .await;
    assert!(location(&r).contains("/mfa?req="), "{}", location(&r));
    let page = b
        .get(app.absolute(location(&r)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let code = totp_at(&secret_on(&page), app.clock_now(), 6);
    assert_eq!(
        post_mfa(&app, &b, &page, "code", &code).await.status(),
        StatusCode::OK
    );
    app.clock.advance(90);
    let page = b
        .get(app.url(&format!("/approval?req={req}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Sign in a device?"), "{page}");
    let r = app.confirm_device(&b, &req, &page, true).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (s, t) = app
        .post_token(
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", dc["device_code"].as_str().unwrap()),
                ("client_id", "tv"),
            ],
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let id = jwt_claims(t["id_token"].as_str().unwrap());
    assert_eq!(id["amr"], serde_json::json!(["pwd", "otp", "mfa"]), "{id}");
    assert_eq!(id["acr"], "urn:gantry:acr:mfa");
    assert_eq!(
        id["auth_time"], logged_in_at,
        "the login's time, not the approval's"
    );
    assert!(
        id.get("sid").is_none(),
        "the device is not the browser: {id}"
    );
}
