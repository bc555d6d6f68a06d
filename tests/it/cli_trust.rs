//! Which servers the CLI logins trust. `gantry registry login` and `gantry kubectl credential`
//! against a hostile server in the test: a "registry" whose challenge names a realm of its
//! own, with a discovery document that sends the browser to the real Gantry login page but the
//! code and PKCE verifier to itself (an authorization-server mix-up), and a registry reached
//! through proxies that would show a plain-http retry. The CLI must refuse before anything
//! reaches a server the user did not choose; where the old code went on, the test plays the
//! user's browser so that the hostile token endpoint would see the code.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

use crate::support::*;

/// What the hostile discovery document claims.
#[derive(Clone, Copy)]
enum Doc {
    /// Its own issuer, but the real Gantry's login page and its own token endpoint.
    OwnIssuerRealLoginPage,
    /// The real Gantry's issuer name and login page, its own token endpoint.
    GantrysIssuerName,
}

/// A hostile registry and issuer in one: `base` is its origin; `seen` every request to it.
struct Hostile {
    base: String,
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Hostile {
    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    /// Requests other than asking for the challenge and the discovery document.
    fn beyond_discovery(&self) -> Vec<String> {
        self.seen()
            .into_iter()
            .filter(|r| r != "GET /v2/" && r != "GET /.well-known/openid-configuration")
            .collect()
    }
}

type HostileState = (String, String, Doc, Arc<Mutex<Vec<String>>>);

async fn hostile(app: &TestApp, doc: Doc) -> Hostile {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let state: HostileState = (base.clone(), app.issuer.clone(), doc, seen.clone());
    let router = Router::new()
        .fallback(
            |State((base, gantry, doc, seen)): State<HostileState>,
             method: Method,
             uri: Uri| async move {
                seen.lock()
                    .unwrap()
                    .push(format!("{method} {}", uri.path()));
                match uri.path() {
                    "/v2/" => (
                        StatusCode::UNAUTHORIZED,
                        [(
                            header::WWW_AUTHENTICATE,
                            format!(r#"Bearer realm="{base}/registry/token",service="registry.test""#),
                        )],
                    )
                        .into_response(),
                    "/.well-known/openid-configuration" => {
                        let issuer = match doc {
                            Doc::OwnIssuerRealLoginPage => base.clone(),
                            Doc::GantrysIssuerName => gantry.clone(),
                        };
                        axum::Json(json!({
                            "issuer": issuer,
                            "authorization_endpoint": format!("{gantry}/auth"),
                            "token_endpoint": format!("{base}/token"),
                            "jwks_uri": format!("{gantry}/keys"),
                        }))
                        .into_response()
                    }
                    // The attacker would redeem a code here; the test only needs to see it.
                    _ => (
                        StatusCode::BAD_REQUEST,
                        axum::Json(json!({"error": "invalid_grant"})),
                    )
                        .into_response(),
                }
            },
        )
        .with_state(state);
    tokio::spawn(async move { axum::serve(listener, router).await });
    Hostile { base, port, seen }
}

/// Run the gantry CLI with `args` (stdin not a terminal); if it prints a login URL, log in
/// there as the user would and follow the redirect to its loopback. (success, stderr, whether
/// a login URL was printed).
async fn run_cli(app: &TestApp, args: &[&str], envs: &[(&str, &str)]) -> (bool, String, bool) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_gantry"));
    cmd.args(args)
        .env_remove("GANTRY_REGISTRY_ISSUER")
        .env_remove("DISPLAY")
        .env_remove("BROWSER")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let (mut err, mut url_seen) = (String::new(), false);
    while let Some(l) = lines.next_line().await.unwrap() {
        err.push_str(&l);
        err.push('\n');
        let Some(u) = l.trim().strip_prefix("http") else {
            continue;
        };
        url_seen = true;
        let url = url::Url::parse(&format!("http{u}")).unwrap();
        let q: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let callback = app
            .login(&app.browser(), &q, "admin@example.com", "password")
            .await;
        reqwest::get(&callback).await.unwrap();
    }
    let status = child.wait().await.unwrap();
    (status.success(), err, url_seen)
}

fn registry_login(host: &str) -> Vec<&str> {
    vec![
        "registry",
        "login",
        host,
        "--client-id",
        "native",
        "--no-browser",
    ]
}

#[tokio::test]
async fn registry_login_refuses_a_discovery_that_sends_the_code_to_another_token_endpoint() {
    let app = TestApp::start().await;
    for doc in [Doc::OwnIssuerRealLoginPage, Doc::GantrysIssuerName] {
        let evil = hostile(&app, doc).await;
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("registries.json");
        let host = format!("127.0.0.1:{}", evil.port);
        // The user trusted the issuer the registry named (as if confirmed at the prompt).
        let mut args = registry_login(&host);
        args.extend(["--issuer", &evil.base]);
        let (ok, err, url_seen) = run_cli(
            &app,
            &args,
            &[("GANTRY_CREDENTIALS", store.to_str().unwrap())],
        )
        .await;
        assert!(!ok, "{err}");
        assert!(!url_seen, "no login URL is shown: {err}");
        assert!(err.contains("refusing to log in"), "{err}");
        assert_eq!(
            evil.beyond_discovery(),
            Vec::<String>::new(),
            "no code reaches the hostile token endpoint"
        );
        assert!(!store.exists(), "nothing is pinned");
    }
}

#[tokio::test]
async fn registry_login_refuses_a_realm_outside_the_trusted_issuer() {
    let app = TestApp::start().await;
    let evil = hostile(&app, Doc::OwnIssuerRealLoginPage).await;
    let host = format!("127.0.0.1:{}", evil.port);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("registries.json");
    let envs = [("GANTRY_CREDENTIALS", store.to_str().unwrap())];

    // A registry pinned to the real Gantry now names a realm of its own.
    std::fs::write(
        &store,
        json!({"registries": {}, "issuers": {host.clone(): app.issuer.clone()}}).to_string(),
    )
    .unwrap();
    let (ok, err, url_seen) = run_cli(&app, &registry_login(&host), &envs).await;
    assert!(!ok && !url_seen, "{err}");
    assert!(
        err.contains("not the token endpoint of the issuer pinned for it")
            && err.contains(&app.issuer)
            && err.contains("--issuer"),
        "{err}"
    );
    assert_eq!(evil.seen(), vec!["GET /v2/"], "nothing but the challenge");
    let kept: Value = serde_json::from_str(&std::fs::read_to_string(&store).unwrap()).unwrap();
    assert_eq!(kept["issuers"][&host], app.issuer, "the pin stays");

    // The same with the issuer given on the command line.
    let mut args = registry_login(&host);
    args.extend(["--issuer", &app.issuer]);
    let (ok, err, url_seen) = run_cli(&app, &args, &envs).await;
    assert!(!ok && !url_seen, "{err}");
    assert!(err.contains("refusing"), "{err}");

    // A first login without --issuer: no terminal to confirm the realm's issuer on, so no.
    std::fs::remove_file(&store).unwrap();
    let (ok, err, url_seen) = run_cli(&app, &registry_login(&host), &envs).await;
    assert!(!ok && !url_seen, "{err}");
    assert!(
        err.contains(&format!("Pass --issuer {} if", evil.base)),
        "{err}"
    );
    assert_eq!(evil.beyond_discovery(), Vec::<String>::new());
    assert!(
        !evil
            .seen()
            .iter()
            .any(|r| r.contains("openid-configuration")),
        "an unconfirmed issuer is not even asked"
    );
}

#[tokio::test]
async fn registry_login_never_retries_over_plain_http() {
    let app = TestApp::start().await;
    // Two proxies make a remote registry of a name that resolves nowhere: https requests go
    // to a port where nothing listens (https fails), plain-http ones to a listener that
    // records them.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let plain = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let plain_port = plain.local_addr().unwrap().port();
    let asked = Arc::new(Mutex::new(0usize));
    let counter = asked.clone();
    tokio::spawn(async move {
        while let Ok((_conn, _)) = plain.accept().await {
            *counter.lock().unwrap() += 1;
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("registries.json");
    let https_proxy = format!("http://127.0.0.1:{dead}");
    let http_proxy = format!("http://127.0.0.1:{plain_port}");
    let envs = [
        ("GANTRY_CREDENTIALS", store.to_str().unwrap()),
        ("HTTPS_PROXY", https_proxy.as_str()),
        ("https_proxy", https_proxy.as_str()),
        ("HTTP_PROXY", http_proxy.as_str()),
        ("http_proxy", http_proxy.as_str()),
        ("NO_PROXY", ""),
        ("no_proxy", ""),
        ("ALL_PROXY", ""),
        ("all_proxy", ""),
    ];
    let (ok, err, _) = run_cli(&app, &registry_login("registry.example.com"), &envs).await;
    assert!(!ok, "{err}");
    assert!(err.contains("https://registry.example.com/v2/"), "{err}");
    // Asking for http on the network is refused outright.
    let (ok, err, _) = run_cli(&app, &registry_login("http://registry.example.com"), &envs).await;
    assert!(!ok && err.contains("plain http only"), "{err}");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(*asked.lock().unwrap(), 0, "no plain-http request was made");
}

#[tokio::test]
async fn the_kubectl_plugin_refuses_a_discovery_that_sends_the_code_to_another_token_endpoint() {
    let app = TestApp::start().await;
    let evil = hostile(&app, Doc::OwnIssuerRealLoginPage).await;
    let cache = tempfile::tempdir().unwrap();
    let (ok, err, url_seen) = run_cli(
        &app,
        &[
            "kubectl",
            "credential",
            "--issuer",
            &evil.base,
            "--client-id",
            "native",
            "--browser-command",
            "/bin/true",
            "--timeout",
            "30s",
        ],
        &[("GANTRY_KUBE_CACHE_DIR", cache.path().to_str().unwrap())],
    )
    .await;
    assert!(!ok && !url_seen, "{err}");
    assert!(
        err.contains("authorization_endpoint") && err.contains("outside the issuer's origin"),
        "{err}"
    );
    assert_eq!(evil.beyond_discovery(), Vec::<String>::new());
}
