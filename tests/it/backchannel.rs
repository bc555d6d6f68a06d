//! OpenID Connect Back-Channel Logout 1.0 end to end: a relying party's endpoint (node, jose:
//! tests/rp/backchannel-receiver.mjs) validates each logout token against Gantry's `/keys` as
//! section 2.6 says; retries reach a receiver that failed; an unreachable one holds nothing up;
//! the outbox hands each delivery to one worker on SQLite and PostgreSQL alike.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gantry::oauth::backchannel::EndedSession;
use gantry::storage::Db;
use gantry::storage::audit::{AuditCursor, AuditFilter};
use gantry::storage::logout_outbox::{Finish, NewLogoutDelivery};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

use crate::admin::{POLICY, machine_token, send_json};
use crate::support::*;

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// The node receiver, stopped when dropped.
struct Receiver {
    port: u16,
    _child: tokio::process::Child,
}

impl Receiver {
    /// A receiver for `issuer`, answering `answers` (comma-separated statuses) to its first
    /// valid tokens and 200 after.
    async fn start(issuer: &str, answers: &str) -> Receiver {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/rp");
        assert!(
            std::path::Path::new(dir).join("node_modules/jose").exists(),
            "jose is not installed: run scripts/test.sh (it runs `npm ci` in tests/rp)"
        );
        let mut child = tokio::process::Command::new("node")
            .arg("backchannel-receiver.mjs")
            .current_dir(dir)
            .env("ISSUER", issuer)
            .env("ANSWERS", answers)
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs (install nodejs: scripts/test.sh does)");
        let out = child.stdout.take().unwrap();
        let mut lines = tokio::io::BufReader::new(out).lines();
        let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("the receiver starts")
            .unwrap()
            .expect("the receiver prints its port");
        let port = serde_json::from_str::<Value>(&first).unwrap()["port"]
            .as_u64()
            .unwrap() as u16;
        Receiver {
            port,
            _child: child,
        }
    }

    fn uri(&self, client: &str) -> String {
        format!("http://127.0.0.1:{}/logout/{client}", self.port)
    }

    async fn received(&self) -> Vec<Value> {
        reqwest::get(format!("http://127.0.0.1:{}/received", self.port))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// At least `n` requests, waiting up to `within`.
    async fn wait_for(&self, n: usize, within: Duration) -> Vec<Value> {
        let end = Instant::now() + within;
        loop {
            let got = self.received().await;
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < end,
                "{} of {n} logout tokens after {within:?}: {got:?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The issuer's clock runs `seconds` ahead of the real one (the test moved it).
    async fn skew(&self, seconds: i64) {
        let r = reqwest::Client::new()
            .post(format!(
                "http://127.0.0.1:{}/skew?seconds={seconds}",
                self.port
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }
}

/// A client entry of `staticClients` with a back-channel logout URI.
fn told_client(id: &str, uri: &str) -> String {
    format!(
        "  - id: {id}\n    name: {id}\n    secret: {id}-secret\n    redirectURIs: [\"{RP_REDIRECT}\"]\n    backchannelLogoutURI: {uri}\n"
    )
}

/// The app on a port chosen in advance (the receiver must know the issuer first), with
/// `clients` added, and its background tasks (the deliveries among them) running.
async fn app_with(
    port: u16,
    clients: String,
    extra_yaml: &str,
) -> (TestApp, tokio::task::JoinHandle<()>) {
    let app = TestApp::start_with(Opts {
        port: Some(port),
        skip_approval: true,
        extra_clients: clients,
        extra_yaml: extra_yaml.into(),
        ..Opts::default()
    })
    .await;
    let background = gantry::app::spawn_background(app.admin.clone());
    (app, background)
}

fn issuer_at(port: u16) -> String {
    format!("http://127.0.0.1:{port}/dex")
}

/// The `sub` Gantry gives admin@example.com, from a real ID token.
async fn admins_sub(app: &TestApp) -> String {
    let t = app.tokens("openid").await;
    jwt_claims(t["id_token"].as_str().unwrap())["sub"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn delivery_events(app: &TestApp) -> Vec<(String, String, Value)> {
    let filter = AuditFilter {
        action: Some("logout.backchannel".into()),
        ..AuditFilter::default()
    };
    let page = app
        .admin
        .audit_page(&filter, AuditCursor::Newest, 100)
        .await
        .unwrap();
    page.events
        .into_iter()
        .rev()
        .map(|e| {
            (
                e.target,
                e.outcome,
                serde_json::from_str(&e.detail).unwrap(),
            )
        })
        .collect()
}

/// Audit events of deliveries until `n` are there, waiting up to 15 s.
async fn wait_for_events(app: &TestApp, n: usize) -> Vec<(String, String, Value)> {
    let end = Instant::now() + Duration::from_secs(15);
    loop {
        let ev = delivery_events(app).await;
        if ev.len() >= n {
            return ev;
        }
        assert!(Instant::now() < end, "{} of {n} events: {ev:?}", ev.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What the spec's validation (section 2.6) and this issue ask of a token the receiver got,
/// checked again here on the token itself, against the JWKS.
async fn check_token(app: &TestApp, got: &Value, client: &str, sid: &str, sub: &str) {
    assert_eq!(got["verified"], true, "the receiver refused it: {got}");
    assert_eq!(got["client"], client);
    assert!(
        got["content_type"]
            .as_str()
            .unwrap()
            .starts_with("application/x-www-form-urlencoded"),
        "{got}"
    );
    assert_eq!(got["fields"], json!(["logout_token"]));
    let token = got["token"].as_str().unwrap();
    let jwks: Value = reqwest::get(app.url("/keys"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let claims = verify_with_jwks(&jwks, token, client, &app.issuer);
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    assert_eq!(claims["iss"], app.issuer);
    assert_eq!(claims["aud"], client);
    assert_eq!(claims["sub"], sub);
    assert_eq!(claims["sid"], sid);
    assert_eq!(claims["events"], json!({ EVENT: {} }));
    assert!(claims.get("nonce").is_none(), "{claims}");
    assert!(!claims["jti"].as_str().unwrap().is_empty());
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert_eq!(exp - iat, 120, "two minutes, as the spec recommends");
    let now = gantry::clock::Clock::now(&app.clock);
    assert!((now - 10..=now).contains(&iat), "iat {iat}, now {now}");
    assert_eq!(got["claims"], claims, "the receiver read the same claims");
}

#[tokio::test]
async fn a_logout_token_reaches_the_client_and_validates_against_the_jwks() {
    let port = free_port();
    let receiver = Receiver::start(&issuer_at(port), "").await;
    let (app, background) = app_with(port, told_client("told", &receiver.uri("told")), "").await;
    let d: Value = reqwest::get(app.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["backchannel_logout_supported"], true);
    assert_eq!(d["backchannel_logout_session_supported"], true);
    let sub = admins_sub(&app).await;
    app.provider
        .session_ended(&EndedSession {
            sid: "sid-of-the-browser".into(),
            subject: sub.clone(),
            // rp has no back-channel URI; nobody is told for it.
            clients: vec!["rp".into(), "told".into()],
        })
        .await;
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    check_token(&app, &got[0], "told", "sid-of-the-browser", &sub).await;
    // Delivered once: later passes (and later times) send nothing more.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    app.clock.advance(3600);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().await.len(), 1);
    let ev = delivery_events(&app).await;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!((ev[0].0.as_str(), ev[0].1.as_str()), ("told", "delivered"));
    assert_eq!(ev[0].2["sid"], "sid-of-the-browser");
    assert!(
        !ev[0]
            .2
            .to_string()
            .contains(got[0]["token"].as_str().unwrap()),
        "the audit trail never holds the token"
    );
    background.abort();
}

/// A browser logs `client` in with PKCE (the form only when it has no session yet): its
/// tokens.
async fn browser_tokens(app: &TestApp, b: &reqwest::Client, client: &str) -> Value {
    let verifier = gantry::secret::random_token(32);
    let challenge = gantry::secret::b64(&gantry::secret::sha256(verifier.as_bytes()));
    let query = [
        ("client_id", client),
        ("redirect_uri", RP_REDIRECT),
        ("response_type", "code"),
        ("scope", "openid email"),
        ("state", "st"),
        ("nonce", "nn"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ];
    let r = b.get(app.url("/auth")).query(&query).send().await.unwrap();
    let back = if location(&r).starts_with(RP_REDIRECT) {
        location(&r).to_string()
    } else {
        app.login(b, &query, "admin@example.com", "password").await
    };
    let code = query_param(&back, "code").unwrap_or_else(|| panic!("no code: {back}"));
    let secret = format!("{client}-secret");
    let (s, t) = app
        .exchange(&code, Some(&verifier), (client, &secret))
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    t
}

#[tokio::test]
async fn logging_out_at_one_client_tells_every_client_of_the_session_with_its_sid() {
    let port = free_port();
    let receiver = Receiver::start(&issuer_at(port), "").await;
    let closed = free_port();
    let clients = [
        told_client("first", &receiver.uri("first")),
        told_client("second", &receiver.uri("second")),
        told_client("down", &format!("http://127.0.0.1:{closed}/bcl")),
    ]
    .concat();
    let (app, background) =
        app_with(port, clients, "sessions:\n  ssoSharedWithDefault: all\n").await;
    let b = app.browser();
    let first = browser_tokens(&app, &b, "first").await;
    // One browser, one session: the other clients log in without a form.
    browser_tokens(&app, &b, "second").await;
    browser_tokens(&app, &b, "down").await;
    let id = jwt_claims(first["id_token"].as_str().unwrap());
    let sid = id["sid"].as_str().expect("the ID token names its session");
    let sub = id["sub"].as_str().unwrap();
    let started = Instant::now();
    let r = b
        .get(app.url("/logout"))
        .query(&[("id_token_hint", first["id_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(r.status().is_success(), "{}", r.status());
    assert!(
        took < Duration::from_secs(1),
        "logout waited for a receiver: {took:?}"
    );
    let got = receiver.wait_for(2, Duration::from_secs(10)).await;
    let mut told: Vec<&str> = got.iter().map(|g| g["client"].as_str().unwrap()).collect();
    told.sort();
    assert_eq!(told, ["first", "second"]);
    for g in &got {
        let client = g["client"].as_str().unwrap();
        check_token(&app, g, client, sid, sub).await;
    }
    // The unreachable one is retried, and held nobody up.
    let ev = wait_for_events(&app, 3).await;
    assert!(
        ev.iter()
            .any(|e| e.0 == "down" && e.1 == "failed" && e.2["sid"] == sid),
        "{ev:?}"
    );
    // The session is over: a second logout tells nobody again.
    b.get(app.url("/logout"))
        .query(&[("id_token_hint", first["id_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().await.len(), 2);
    background.abort();
}

#[tokio::test]
async fn an_administrator_signing_a_browser_out_tells_its_clients() {
    let port = free_port();
    let receiver = Receiver::start(&issuer_at(port), "").await;
    let (app, background) =
        app_with(port, told_client("told", &receiver.uri("told")), POLICY).await;
    let b = app.browser();
    let tokens = browser_tokens(&app, &b, "told").await;
    let id = jwt_claims(tokens["id_token"].as_str().unwrap());
    let sid = id["sid"].as_str().unwrap();
    let token = machine_token(&app).await;
    let r = reqwest::Client::new()
        .delete(app.url(&format!("/api/v1/browser-sessions/{sid}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    check_token(&app, &got[0], "told", sid, id["sub"].as_str().unwrap()).await;
    background.abort();
}

#[tokio::test]
async fn a_receiver_that_fails_twice_gets_the_token_on_the_third_attempt() {
    let port = free_port();
    let receiver = Receiver::start(&issuer_at(port), "500,503").await;
    let (app, background) = app_with(port, told_client("told", &receiver.uri("told")), "").await;
    let sub = admins_sub(&app).await;
    app.provider
        .session_ended(&EndedSession {
            sid: "s-retry".into(),
            subject: sub.clone(),
            clients: vec!["told".into()],
        })
        .await;
    receiver.wait_for(1, Duration::from_secs(10)).await;
    // Nothing more until the retry is due: 5 s later on Gantry's clock.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().await.len(), 1);
    app.clock.advance(5);
    receiver.skew(5).await;
    receiver.wait_for(2, Duration::from_secs(10)).await;
    // Then 10 s after that.
    app.clock.advance(10);
    receiver.skew(15).await;
    let got = receiver.wait_for(3, Duration::from_secs(10)).await;
    let statuses: Vec<i64> = got.iter().map(|g| g["status"].as_i64().unwrap()).collect();
    assert_eq!(statuses, [500, 503, 200]);
    for g in &got {
        assert_eq!(g["verified"], true, "{g}");
    }
    check_token(&app, &got[2], "told", "s-retry", &sub).await;
    // Each attempt signed its own token.
    let iats: Vec<i64> = got
        .iter()
        .map(|g| g["claims"]["iat"].as_i64().unwrap())
        .collect();
    assert!(
        iats[1] - iats[0] >= 5 && iats[2] - iats[1] >= 10,
        "{iats:?}"
    );
    assert_ne!(got[0]["claims"]["jti"], got[1]["claims"]["jti"]);
    let ev = wait_for_events(&app, 3).await;
    let outcomes: Vec<&str> = ev.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(outcomes, ["failed", "failed", "delivered"]);
    assert!(
        ev[0].2["error"].as_str().unwrap().contains("HTTP 500"),
        "{ev:?}"
    );
    assert_eq!(ev[1].2["attempt"], 2);
    app.clock.advance(3600);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().await.len(), 3, "delivered is final");
    background.abort();
}

#[tokio::test]
async fn an_unreachable_receiver_neither_slows_nor_breaks_the_logout() {
    let port = free_port();
    let receiver = Receiver::start(&issuer_at(port), "").await;
    // A port nobody listens on, and a server that accepts and never answers.
    let closed = free_port();
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = vec![];
        while let Ok((c, _)) = silent.accept().await {
            open.push(c);
        }
    });
    let clients = [
        told_client("refused", &format!("http://127.0.0.1:{closed}/bcl")),
        told_client("silent", &format!("http://127.0.0.1:{silent_port}/bcl")),
        told_client("told", &receiver.uri("told")),
    ]
    .concat();
    let (app, background) = app_with(port, clients, "").await;
    let sub = admins_sub(&app).await;
    let started = Instant::now();
    app.provider
        .session_ended(&EndedSession {
            sid: "s-mixed".into(),
            subject: sub.clone(),
            clients: vec!["refused".into(), "silent".into(), "told".into()],
        })
        .await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(500),
        "ending a session took {took:?}"
    );
    // The reachable client is told at once, while the silent one is still being waited for.
    let got = receiver.wait_for(1, Duration::from_secs(3)).await;
    check_token(&app, &got[0], "told", "s-mixed", &sub).await;
    let ev = wait_for_events(&app, 3).await;
    let of = |client: &str| {
        ev.iter()
            .find(|e| e.0 == client)
            .unwrap_or_else(|| panic!("no event for {client}: {ev:?}"))
            .clone()
    };
    assert_eq!(of("told").1, "delivered");
    for client in ["refused", "silent"] {
        let (_, outcome, detail) = of(client);
        assert_eq!(outcome, "failed", "{detail}");
        assert_eq!(detail["sid"], "s-mixed");
        assert!(detail["retry_at"].as_i64().is_some(), "{detail}");
    }
    // Why there was no answer stays in the server's log: the audit trail, which admins read,
    // does not tell a closed port from a silent one.
    let cause = |c: &str| {
        let e = of(c).2["error"].as_str().unwrap().to_string();
        e.split_once(' ')
            .map(|(_, rest)| rest.to_string())
            .unwrap_or(e)
    };
    assert_eq!(cause("silent"), cause("refused"), "{ev:?}");
    assert!(cause("silent").starts_with("gave no answer"), "{ev:?}");
    background.abort();
    held.abort();
}

#[tokio::test]
async fn a_delivery_queued_by_one_replica_is_made_by_another() {
    let port = free_port();
    let receiver = Receiver::start(&issuer_at(port), "").await;
    // The first replica runs no background task: it only ends the session.
    let app = TestApp::start_with(Opts {
        port: Some(port),
        extra_clients: told_client("told", &receiver.uri("told")),
        ..Opts::default()
    })
    .await;
    let sub = admins_sub(&app).await;
    app.provider
        .session_ended(&EndedSession {
            sid: "s-replica".into(),
            subject: sub.clone(),
            clients: vec!["told".into()],
        })
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(receiver.received().await.is_empty());
    let other = gantry::app::build(&app.config, Arc::new(app.clock.clone()))
        .await
        .unwrap();
    let background = gantry::app::spawn_background(other.admin.clone());
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    check_token(&app, &got[0], "told", "s-replica", &sub).await;
    background.abort();
}

#[tokio::test]
async fn clients_of_the_admin_api_carry_a_backchannel_logout_uri_and_are_told() {
    let port = free_port();
    let receiver = Receiver::start(&issuer_at(port), "").await;
    let (app, background) = app_with(port, String::new(), POLICY).await;
    let token = machine_token(&app).await;
    let create =
        |body: Value| send_json(&app, reqwest::Method::POST, "/api/v1/clients", &token, body);
    for (uri, public) in [
        ("https://app.example/bcl#fragment", false),
        ("/bcl", false),
        ("ftp://app.example/bcl", false),
        ("https://user:pw@app.example/bcl", false),
        ("http://app.internal/bcl", true),
        // The config file lets this through with a warning, as Dex does; the API has none to
        // give.
        ("http://app.internal/bcl", false),
    ] {
        let r = create(
            json!({"id": "bad", "name": "Bad", "public": public, "backchannel_logout_uri": uri}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{uri}");
        let problem: Value = r.json().await.unwrap();
        assert!(
            problem.to_string().contains("backchannel_logout_uri"),
            "{uri}: {problem}"
        );
    }
    let r = create(json!({
        "id": "api-app",
        "name": "API app",
        "redirect_uris": [RP_REDIRECT],
        "backchannel_logout_uri": receiver.uri("api-app"),
    }))
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let shown: Value = reqwest::Client::new()
        .get(app.url("/api/v1/clients/api-app"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["backchannel_logout_uri"], receiver.uri("api-app"));
    let sub = admins_sub(&app).await;
    app.provider
        .session_ended(&EndedSession {
            sid: "s-api".into(),
            subject: sub.clone(),
            clients: vec!["api-app".into()],
        })
        .await;
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    check_token(&app, &got[0], "api-app", "s-api", &sub).await;
    // Removed (empty reads as none, as in Dex): the client is no longer told.
    let r = send_json(
        &app,
        reqwest::Method::PUT,
        "/api/v1/clients/api-app",
        &token,
        json!({"name": "API app", "redirect_uris": [RP_REDIRECT], "backchannel_logout_uri": ""}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let shown: Value = reqwest::Client::new()
        .get(app.url("/api/v1/clients/api-app"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(shown.get("backchannel_logout_uri").is_none(), "{shown}");
    app.provider
        .session_ended(&EndedSession {
            sid: "s-api-2".into(),
            subject: sub,
            clients: vec!["api-app".into()],
        })
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().await.len(), 1);
    background.abort();
}

#[tokio::test]
async fn the_client_form_of_the_admin_ui_takes_a_backchannel_logout_uri() {
    let app = TestApp::start_with(Opts {
        extra_yaml: POLICY.into(),
        extra_clients: told_client("told", "http://127.0.0.1:9/logout/told"),
        ..Opts::default()
    })
    .await;
    let (b, _) = crate::admin::sign_in(&app, "admin@example.com").await;
    let page = b
        .get(app.url("/admin/clients"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("back-channel logout: http://127.0.0.1:9/logout/told"),
        "a config client's URI is shown"
    );
    let csrf = hidden(&page, "csrf");
    let create = |id: &'static str, uri: &'static str| {
        let (b, csrf, url) = (&b, csrf.clone(), app.url("/admin/clients"));
        async move {
            b.post(url)
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("id", id),
                    ("name", id),
                    ("redirect_uris", RP_REDIRECT),
                    ("backchannel_logout_uri", uri),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let r = create("bad", "https://app.example/bcl#x").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("backchannel_logout_uri: ") && page.contains("fragment"),
        "{page}"
    );
    assert!(app.provider.clients.get("bad").is_none());
    let r = create("ui-app", "https://ui.example/bcl").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("back-channel logout: https://ui.example/bcl")
    );
    assert_eq!(
        app.provider
            .clients
            .get("ui-app")
            .unwrap()
            .backchannel_logout_uri
            .as_deref(),
        Some("https://ui.example/bcl")
    );
    // Left empty: none.
    create("ui-plain", "").await;
    assert_eq!(
        app.provider
            .clients
            .get("ui-plain")
            .map(|c| c.backchannel_logout_uri.clone()),
        Some(None)
    );
}

fn delivery(i: usize, now: i64) -> NewLogoutDelivery {
    NewLogoutDelivery {
        id: format!("d{i}"),
        client_id: "told".into(),
        sid: format!("s{i}"),
        subject: "sub".into(),
        created_at: now,
    }
}

/// The outbox's contract on a database: one row per session and client, claims that never
/// overlap however many workers ask at once, outcomes only from the claim's holder, pruning.
async fn outbox_conformance(db: Db) {
    let now = 1_000_000;
    let rows: Vec<NewLogoutDelivery> = (0..200).map(|i| delivery(i, now)).collect();
    assert_eq!(db.queue_logout_deliveries(&rows).await.unwrap(), 200);
    let again = NewLogoutDelivery {
        id: "other-id".into(),
        ..delivery(7, now)
    };
    assert_eq!(db.queue_logout_deliveries(&[again]).await.unwrap(), 0);
    assert!(
        db.claim_logout_deliveries(now - 1, now + 60, "early", 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing is due before it was queued"
    );
    // Eight workers claim at once, each until nothing is left.
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let db = db.clone();
            tokio::spawn(async move {
                let mut mine = vec![];
                loop {
                    let got = db
                        .claim_logout_deliveries(now, now + 60, &format!("w{w}"), 7)
                        .await
                        .unwrap();
                    if got.is_empty() {
                        return mine;
                    }
                    assert!(
                        got.iter()
                            .all(|d| d.attempts == 1 && d.next_attempt_at == now + 60)
                    );
                    mine.extend(got.into_iter().map(|d| (d.id, w)));
                }
            })
        })
        .collect();
    let mut claimed = vec![];
    for w in workers {
        claimed.extend(w.await.unwrap());
    }
    let mut ids: Vec<&String> = claimed.iter().map(|(id, _)| id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        (claimed.len(), ids.len()),
        (200, 200),
        "each row to one worker"
    );
    let (id, w) = claimed[0].clone();
    let holder = format!("w{w}");
    let other = format!("w{}", (w + 1) % 8);
    let done = Finish::Delivered { at: now + 1 };
    assert!(!db.finish_logout_delivery(&id, &other, &done).await.unwrap());
    assert!(
        db.finish_logout_delivery(&id, &holder, &done)
            .await
            .unwrap()
    );
    assert!(
        !db.finish_logout_delivery(&id, &holder, &done)
            .await
            .unwrap(),
        "once"
    );
    // A retry is due again at its time, a delivered row never.
    let (retry, rw) = claimed[1].clone();
    let later = Finish::RetryAt {
        at: now + 5,
        error: "HTTP 500".into(),
    };
    assert!(
        db.finish_logout_delivery(&retry, &format!("w{rw}"), &later)
            .await
            .unwrap()
    );
    let due = db
        .claim_logout_deliveries(now + 5, now + 65, "next", 500)
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!((due[0].id.as_str(), due[0].attempts), (retry.as_str(), 2));
    assert_eq!(due[0].last_error, "HTTP 500");
    // The rest come back after their lease; the delivered one does not.
    let back = db
        .claim_logout_deliveries(now + 60, now + 120, "lease", 500)
        .await
        .unwrap();
    assert_eq!(back.len(), 198);
    assert!(!back.iter().any(|d| d.id == id));
    let gave_up = Finish::GaveUp {
        at: now + 61,
        error: "gone".into(),
    };
    assert!(
        db.finish_logout_delivery(&back[0].id, "lease", &gave_up)
            .await
            .unwrap()
    );
    let of = db.logout_deliveries_of(&back[0].sid).await.unwrap();
    assert_eq!(of[0].gave_up_at, Some(now + 61));
    assert_eq!(db.prune_logout_deliveries(now).await.unwrap(), 0);
    assert_eq!(db.prune_logout_deliveries(now + 61).await.unwrap(), 2);
    assert!(matches!(
        db.logout_deliveries_of(&back[0].sid).await.map(|v| v.len()),
        Ok(0)
    ));
}

#[tokio::test]
async fn the_outbox_hands_each_delivery_to_one_worker_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = gantry::config::StorageConfig {
        kind: "sqlite3".into(),
        config: gantry::config::StorageParams {
            file: Some(format!("{}/g.db", dir.path().display())),
            ..Default::default()
        },
    };
    outbox_conformance(Db::open(&cfg.location().unwrap()).await.unwrap()).await;
}

#[tokio::test]
async fn the_outbox_hands_each_delivery_to_one_worker_on_postgres() {
    let cfg = gantry::config::StorageConfig {
        kind: "postgres".into(),
        config: gantry::config::StorageParams {
            dsn: Some(fresh_postgres_db().await),
            ..Default::default()
        },
    };
    outbox_conformance(Db::open(&cfg.location().unwrap()).await.unwrap()).await;
}
