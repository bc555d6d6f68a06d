//! The `oidc` connector against a hostile upstream: a small provider in the test that signs
//! what a real one never would (bad signatures, wrong audience or issuer, `alg: none`, HS256
//! keyed with its public key, ...) or answers slowly. Every case must end the login with a
//! clear error page, and create nothing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use gantry::keys::{Algorithm, SigningKey};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Good,
    TamperedSignature,
    UnpublishedKey,
    WrongAudience,
    WrongIssuer,
    Expired,
    NoNonce,
    WrongNonce,
    AlgNone,
    Hs256WithPublicKey,
    AuthorizeError,
    TokenError,
    MixUp,
    Slow,
    /// Discovery sends Gantry for keys to a plain-http host that is not loopback.
    PlainHttpKeys,
}

struct Hostile {
    base: String,
    key: SigningKey,
    other: SigningKey,
    mode: Mutex<Mode>,
    nonce: Mutex<String>,
}

type Shared = Arc<Hostile>;

fn b64json(v: &Value) -> String {
    gantry::secret::b64(v.to_string().as_bytes())
}

impl Hostile {
    fn id_token(&self, mode: Mode) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let mut c = json!({
            "iss": self.base, "aud": "gantry", "sub": "user-1", "name": "Mallory",
            "email": "m@hostile.example", "email_verified": true,
            "iat": now, "exp": now + 300, "nonce": self.nonce.lock().unwrap().clone(),
        });
        match mode {
            Mode::WrongAudience => c["aud"] = json!("someone-else"),
            Mode::WrongIssuer => c["iss"] = json!("http://evil.example"),
            Mode::Expired => {
                c["iat"] = json!(now - 7200);
                c["exp"] = json!(now - 3600);
            }
            Mode::NoNonce => {
                c.as_object_mut().unwrap().remove("nonce");
            }
            Mode::WrongNonce => c["nonce"] = json!("not-the-nonce"),
            _ => {}
        }
        match mode {
            Mode::UnpublishedKey => self.other.sign(&c, "JWT").unwrap(),
            Mode::TamperedSignature => {
                let t = self.key.sign(&c, "JWT").unwrap();
                let (head, sig) = t.rsplit_once('.').unwrap();
                let mut sig: Vec<u8> = gantry::secret::b64_decode(sig).unwrap();
                sig[10] ^= 1;
                format!("{head}.{}", gantry::secret::b64(&sig))
            }
            Mode::AlgNone => format!(
                "{}.{}.",
                b64json(&json!({"alg": "none", "typ": "JWT"})),
                b64json(&c)
            ),
            Mode::Hs256WithPublicKey => {
                // The classic confusion: an HMAC "signature" keyed with the published key.
                let kid = self.key.jwk()["kid"].clone();
                let input = format!(
                    "{}.{}",
                    b64json(&json!({"alg": "HS256", "typ": "JWT", "kid": kid})),
                    b64json(&c)
                );
                let sig = gantry::secret::hmac_b64(
                    self.key.jwk().to_string().as_bytes(),
                    input.as_bytes(),
                );
                format!("{input}.{sig}")
            }
            _ => self.key.sign(&c, "JWT").unwrap(),
        }
    }
}

async fn discovery(State(h): State<Shared>) -> Response {
    axum::Json(json!({
        "issuer": h.base,
        "authorization_endpoint": format!("{}/authorize", h.base),
        "token_endpoint": format!("{}/token", h.base),
        "jwks_uri": if *h.mode.lock().unwrap() == Mode::PlainHttpKeys {
            "http://keys.hostile.example/jwks".to_string()
        } else {
            format!("{}/jwks", h.base)
        },
        "id_token_signing_alg_values_supported": ["RS256", "HS256", "none"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
    }))
    .into_response()
}

async fn jwks(State(h): State<Shared>) -> Response {
    axum::Json(json!({"keys": [h.key.jwk()]})).into_response()
}

async fn authorize(
    State(h): State<Shared>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    *h.nonce.lock().unwrap() = q.get("nonce").cloned().unwrap_or_default();
    let back = q.get("redirect_uri").cloned().unwrap_or_default();
    let state = q.get("state").cloned().unwrap_or_default();
    let mode = *h.mode.lock().unwrap();
    let params: Vec<(&str, String)> = match mode {
        Mode::AuthorizeError => vec![
            ("error", "access_denied".into()),
            (
                "error_description",
                "<script>alert(1)</script> said no".into(),
            ),
            ("state", state),
            ("iss", h.base.clone()),
        ],
        Mode::MixUp => vec![
            ("code", "c".into()),
            ("state", state),
            ("iss", "http://other-provider.example".into()),
        ],
        _ => vec![
            ("code", "c".into()),
            ("state", state),
            ("iss", h.base.clone()),
        ],
    };
    let url = reqwest::Url::parse_with_params(&back, &params).unwrap();
    Redirect::to(url.as_str()).into_response()
}

async fn token(State(h): State<Shared>) -> Response {
    let mode = *h.mode.lock().unwrap();
    match mode {
        Mode::TokenError => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_grant", "error_description": "code expired"})),
        )
            .into_response(),
        Mode::Slow => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            axum::Json(json!({"access_token": "at", "token_type": "Bearer",
                              "id_token": h.id_token(Mode::Good)}))
            .into_response()
        }
        m => axum::Json(json!({"access_token": "at", "token_type": "Bearer",
                               "id_token": h.id_token(m)}))
        .into_response(),
    }
}

/// Start the hostile provider on `port` (0: any); it and its issuer URL.
async fn start_hostile(port: u16) -> Shared {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let h = Arc::new(Hostile {
        base,
        key: SigningKey::generate(Algorithm::RS256).unwrap().0,
        other: SigningKey::generate(Algorithm::RS256).unwrap().0,
        mode: Mutex::new(Mode::Good),
        nonce: Mutex::new(String::new()),
    });
    let router = axum::Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .with_state(h.clone());
    tokio::spawn(gantry::app::serve(listener, router, std::future::pending()));
    h
}

async fn gantry_trusting(issuer: &str) -> TestApp {
    TestApp::start_with(Opts {
        extra_yaml: format!(
            r#"connectors:
  - type: oidc
    id: hostile
    name: Hostile
    config:
      issuer: {issuer}
      clientID: gantry
      clientSecret: s
      redirectURI: @ISSUER@/callback
      timeout: 1s
"#
        ),
        ..Opts::default()
    })
    .await
}

/// Start a login with a fresh browser and follow it to Gantry's callback; (browser, callback).
async fn to_callback(app: &TestApp) -> (reqwest::Client, String) {
    let b = app.browser();
    let auth = rp_auth_url(app, "hostile", "openid email", &[]);
    let cb = walk(&b, &auth, "", "", |u| u.starts_with(&app.url("/callback"))).await;
    (b, cb)
}

async fn fetch(b: &reqwest::Client, url: &str) -> (StatusCode, String) {
    let r = b.get(url).send().await.unwrap();
    (r.status(), r.text().await.unwrap_or_default())
}

async fn logged_in_requests(app: &TestApp) -> i64 {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM auth_requests WHERE identity IS NOT NULL")
            .fetch_one(&app.pool().await)
            .await
            .unwrap();
    n
}

#[tokio::test]
async fn every_bad_upstream_answer_ends_the_login_with_a_clear_page_and_creates_nothing() {
    let h = start_hostile(0).await;
    let app = gantry_trusting(&h.base).await;
    let cases = [
        (
            Mode::TamperedSignature,
            StatusCode::FORBIDDEN,
            "signature does not verify",
        ),
        (
            Mode::UnpublishedKey,
            StatusCode::FORBIDDEN,
            "key the provider does not publish",
        ),
        (
            Mode::WrongAudience,
            StatusCode::FORBIDDEN,
            "another audience",
        ),
        (Mode::WrongIssuer, StatusCode::FORBIDDEN, "another issuer"),
        (Mode::Expired, StatusCode::FORBIDDEN, "expired"),
        (Mode::NoNonce, StatusCode::FORBIDDEN, "nonce does not match"),
        (
            Mode::WrongNonce,
            StatusCode::FORBIDDEN,
            "nonce does not match",
        ),
        (Mode::AlgNone, StatusCode::FORBIDDEN, "not a usable JWT"),
        (
            Mode::Hs256WithPublicKey,
            StatusCode::FORBIDDEN,
            "HS256, which is not accepted",
        ),
        (
            Mode::AuthorizeError,
            StatusCode::FORBIDDEN,
            "answered access_denied",
        ),
        (
            Mode::TokenError,
            StatusCode::FORBIDDEN,
            "refused: invalid_grant",
        ),
        (Mode::MixUp, StatusCode::FORBIDDEN, "names issuer"),
        (Mode::Slow, StatusCode::SERVICE_UNAVAILABLE, "not answering"),
    ];
    for (mode, status, says) in cases {
        *h.mode.lock().unwrap() = mode;
        let (b, cb) = to_callback(&app).await;
        let (s, page) = fetch(&b, &cb).await;
        assert_eq!(s, status, "{mode:?}: {page}");
        assert!(page.contains(says), "{mode:?}: the page says why:\n{page}");
        assert!(
            !page.contains("<script>alert"),
            "{mode:?}: upstream text is escaped"
        );
        assert_eq!(
            logged_in_requests(&app).await,
            0,
            "{mode:?} created a login"
        );
    }

    // The harness is not failing everything: a good answer logs in.
    *h.mode.lock().unwrap() = Mode::Good;
    let (b, cb) = to_callback(&app).await;
    let r = b.get(&cb).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).contains("/approval?req="));
    assert_eq!(logged_in_requests(&app).await, 1);

    // Replaying that callback finds its state used.
    let (s, page) = fetch(&b, &cb).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(page.contains("expired or was already used"), "{page}");
    // A forged state is unknown.
    let forged = format!("{}?code=c&state=forged-state", app.url("/callback"));
    assert_eq!(fetch(&b, &forged).await.0, StatusCode::BAD_REQUEST);
    // A callback carried to another browser (login CSRF) is refused there, and spent.
    let (_, cb) = to_callback(&app).await;
    let (s, page) = fetch(&app.browser(), &cb).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(page.contains("another browser"), "{page}");
    assert_eq!(logged_in_requests(&app).await, 1);
}

#[tokio::test]
async fn gantry_starts_with_its_provider_down_and_logs_in_once_it_is_up() {
    let port = free_port();
    let app = gantry_trusting(&format!("http://127.0.0.1:{port}")).await;
    let b = app.browser();
    let auth = rp_auth_url(&app, "hostile", "openid", &[]);
    let r = b.get(&auth).send().await.unwrap();
    let login = app.absolute(location(&r));
    let (s, page) = fetch(&b, &login).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{page}");
    assert!(
        page.contains("identity provider is not answering"),
        "{page}"
    );
    // Other logins are unaffected meanwhile.
    let (s, t) = app
        .post_token(
            &[
                ("grant_type", "password"),
                ("username", "admin@example.com"),
                ("password", "password"),
                ("scope", "openid"),
            ],
            Some(RP),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");

    let _h = start_hostile(port).await;
    let (b, cb) = to_callback(&app).await;
    let r = b.get(&cb).send().await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "discovery is retried on the next login"
    );
}

#[tokio::test]
async fn discovery_pointing_keys_to_plain_http_elsewhere_is_refused_unless_allowed() {
    let h = start_hostile(0).await;
    *h.mode.lock().unwrap() = Mode::PlainHttpKeys;
    for allow in [false, true] {
        let app = TestApp::start_with(Opts {
            extra_yaml: format!(
                "{}connectors:\n  - type: oidc\n    id: hostile\n    name: Hostile\n    config:\n      \
                 issuer: {}\n      clientID: gantry\n      redirectURI: @ISSUER@/callback\n      \
                 timeout: 1s\n      insecureAllowHTTP: {allow}\n",
                crate::admin::POLICY,
                h.base
            ),
            ..Opts::default()
        })
        .await;
        let token = crate::admin::machine_token(&app).await;
        let r: Value = reqwest::Client::new()
            .post(app.url("/api/v1/connectors/hostile/test"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["ok"], false, "{r}");
        if allow {
            // Allowed: discovery passes and Gantry goes there for the keys (and finds no such
            // host), so the refusal was the rule.
            assert_eq!(r["outcome"], "keys_unreadable", "{r}");
        } else {
            assert_eq!(r["outcome"], "not_openid_provider", "{r}");
            let cause = app
                .provider
                .connector("hostile")
                .unwrap()
                .probe(0)
                .await
                .detail
                .unwrap_or_default();
            assert!(
                cause.contains("jwks_uri") && cause.contains("insecureAllowHTTP"),
                "the log names the rule: {cause}"
            );
        }
    }
}
