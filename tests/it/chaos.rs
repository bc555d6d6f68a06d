//! The chaos runs: real `gantry serve` processes under a load of browser logins, refreshes and
//! registry tokens while things break.
//!
//! - Three replicas on one throwaway PostgreSQL, no sticky sessions (every hop of a login and
//!   every retry goes to the next replica): one replica is killed -9 and started again, then
//!   PostgreSQL is stopped (immediate, like a crash) for 10 s and started again.
//! - One process on SQLite, killed -9 during writes and started again on the same file.
//!
//! Then a verifier checks what must hold whatever happened: every client's last refresh token
//! still refreshes; no code was accepted twice; no refresh token gave two different successors
//! and no family forked; nothing answered 500 or hung; the database file is intact. Outcomes
//! only: the pauses between faults set how much load each phase sees, not what passes.
//!
//! They load the machine, so scripts/test.sh runs them alone after the other tests:
//! `cargo test --test it chaos:: -- --ignored --nocapture --test-threads=1`.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;

/// Simulated users, each a browser with its own cookies and its own refresh-token family.
const CLIENTS: usize = 12;
/// A client retrying one request gives up after this long (a finding, not a pass).
const GIVE_UP: Duration = Duration::from_secs(90);

/// One `gantry serve` process, its config and log; killed when dropped.
struct Replica {
    port: u16,
    config: PathBuf,
    log: PathBuf,
    child: Option<std::process::Child>,
}

impl Replica {
    fn new(dir: &std::path::Path, n: usize, port: u16, yaml: String) -> Replica {
        let config = dir.join(format!("replica{n}.yaml"));
        std::fs::write(&config, yaml).unwrap();
        Replica {
            port,
            config,
            log: dir.join(format!("replica{n}.log")),
            child: None,
        }
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_gantry"))
            .args(["serve", "--config"])
            .arg(&self.config)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    /// SIGKILL: no drain, no flush, whatever was in flight is cut off.
    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Poll readiness until it answers 200; how long that took.
    async fn wait_ready(&self) -> Duration {
        let t = Instant::now();
        let http = reqwest::Client::new();
        for _ in 0..600 {
            if let Ok(r) = http
                .get(format!("{}/dex/healthz/ready", self.base()))
                .send()
                .await
                && r.status() == StatusCode::OK
            {
                return t.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "replica on {} never got ready:\n{}",
            self.port,
            self.log_tail()
        );
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The config every replica shares but for its port. A 30 s reuse interval: a client whose
/// answer was lost to a crash retries its refresh token on another replica (or on the restarted
/// one) and must get the same successor back, not a revoked family.
fn replica_yaml(issuer: &str, port: u16, storage: &str) -> String {
    let argon = gantry::password::hash("password").unwrap();
    format!(
        r#"issuer: {issuer}
{storage}web:
  http: 127.0.0.1:{port}
logger:
  level: info
oauth2:
  skipApprovalScreen: true
expiry:
  refreshTokens:
    reuseInterval: 30s
rateLimits:
  perAddress: {{ perMinute: 0, burst: 0 }}
staticClients:
  - id: rp
    name: Relying Party
    secret: rp-secret
    redirectURIs: ["{RP_REDIRECT}"]
enablePasswordDB: true
staticPasswords:
  - email: dev@example.com
    hash: "{argon}"
    username: dev
    userID: 5b4a3bd6-8c7e-4bb5-9d51-3b9f4f4d0a10
    groups: [developers]
registry:
  services:
    - {{ name: registry.test, issuer: gantry-test }}
{EXAMPLE_POLICY}"#
    )
}

/// What one phase of the run saw, per request sent.
#[derive(Default)]
struct Tally {
    /// Answered below 500 (an expected refusal, such as a spent code on a retry, included).
    answered: AtomicU64,
    /// 503 with Retry-After: the database was away.
    unavailable: AtomicU64,
    /// The connection was refused or cut: the replica was dead.
    refused: AtomicU64,
    /// Any other 5xx, or a 503 without Retry-After: never allowed.
    server_error: AtomicU64,
    /// No answer within the client's 20 s: never allowed.
    hung: AtomicU64,
    logins: AtomicU64,
    refreshes: AtomicU64,
    registry_tokens: AtomicU64,
}

/// Why a request got no usable answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failed {
    /// The connection was refused: the request never reached a server, any replica may take it.
    NotConnected,
    /// Cut off mid-way, a 503, or worse: it may or may not have happened.
    Other,
}

struct Run {
    bases: Vec<String>,
    phase: AtomicUsize,
    phases: Vec<(&'static str, Tally)>,
    stop: AtomicBool,
    /// Successful redemptions per code.
    codes: Mutex<HashMap<String, u32>>,
    /// Distinct successors handed out per refresh token presented.
    successors: Mutex<HashMap<String, HashSet<String>>>,
    /// Logins abandoned because a fault ate a hop or spent the code without an answer.
    logins_restarted: AtomicU64,
    /// When a request first succeeded in each phase (time to recover).
    first_ok: Mutex<HashMap<usize, Instant>>,
    violations: Mutex<Vec<String>>,
}

impl Run {
    fn new(bases: Vec<String>, phases: &[&'static str]) -> Run {
        Run {
            bases,
            phase: AtomicUsize::new(0),
            phases: phases.iter().map(|p| (*p, Tally::default())).collect(),
            stop: AtomicBool::new(false),
            codes: Mutex::default(),
            successors: Mutex::default(),
            logins_restarted: AtomicU64::new(0),
            first_ok: Mutex::default(),
            violations: Mutex::default(),
        }
    }

    fn tally(&self) -> &Tally {
        &self.phases[self.phase.load(Ordering::SeqCst)].1
    }

    fn violation(&self, what: String) {
        eprintln!("VIOLATION: {what}");
        self.violations.lock().unwrap().push(what);
    }

    /// The next replica in turn: no stickiness, ever.
    fn next_base(&self, cursor: &mut usize) -> &str {
        *cursor += 1;
        &self.bases[*cursor % self.bases.len()]
    }

    /// Send one request and file its outcome; the response when it was answered below 500.
    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, Failed> {
        let phase = self.phase.load(Ordering::SeqCst);
        let t = &self.phases[phase].1;
        match req.send().await {
            Err(e) if e.is_timeout() => {
                t.hung.fetch_add(1, Ordering::Relaxed);
                self.violation(format!("no answer within 20 s: {e}"));
                Err(Failed::Other)
            }
            Err(e) => {
                t.refused.fetch_add(1, Ordering::Relaxed);
                Err(if e.is_connect() {
                    Failed::NotConnected
                } else {
                    Failed::Other
                })
            }
            Ok(r)
                if r.status() == StatusCode::SERVICE_UNAVAILABLE
                    && r.headers().contains_key("retry-after") =>
            {
                t.unavailable.fetch_add(1, Ordering::Relaxed);
                Err(Failed::Other)
            }
            Ok(r) if r.status().is_server_error() => {
                t.server_error.fetch_add(1, Ordering::Relaxed);
                let (status, url) = (r.status(), r.url().path().to_string());
                let body = r.text().await.unwrap_or_default();
                self.violation(format!("{url} answered {status}: {}", gist(&body)));
                Err(Failed::Other)
            }
            Ok(r) => {
                t.answered.fetch_add(1, Ordering::Relaxed);
                self.first_ok
                    .lock()
                    .unwrap()
                    .entry(phase)
                    .or_insert_with(Instant::now);
                Ok(r)
            }
        }
    }
}

/// A body short enough for a report: an HTML page's text from its heading on.
fn gist(body: &str) -> String {
    let from = body.find("<h1").unwrap_or(0);
    let mut text = String::new();
    let mut in_tag = false;
    for c in body[from..].chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(300)
        .collect()
}

fn backoff(tries: u32) -> Duration {
    Duration::from_millis((100 * u64::from(tries)).min(1000))
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// `loc` resolved against `path` (both on the issuer's host), as a path and query.
fn resolve(path: &str, loc: &str) -> String {
    let u = reqwest::Url::parse(&format!("http://any{path}"))
        .unwrap()
        .join(&loc.replace("&amp;", "&"))
        .unwrap();
    match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_string(),
    }
}

/// One browser login, each hop on the next replica, then the code redeemed (retried on the
/// next replica until it is answered). The refresh token, or None when a fault cut the login
/// short: the user starts again, as a person would.
async fn login(run: &Run, http: &reqwest::Client, cursor: &mut usize) -> Option<String> {
    let verifier = gantry::secret::random_token(32);
    let challenge = gantry::secret::b64(&gantry::secret::sha256(verifier.as_bytes()));
    let state = gantry::secret::random_token(8);
    let query = serde_urlencoded::to_string([
        ("client_id", "rp"),
        ("redirect_uri", RP_REDIRECT),
        ("response_type", "code"),
        ("scope", "openid offline_access"),
        ("connector_id", "local"),
        ("state", state.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ])
    .unwrap();
    let mut path = format!("/dex/auth?{query}");
    let mut form: Option<Vec<(String, String)>> = None;
    let mut code = None;
    let mut hops = 0;
    // A restarting server refuses connections for a moment: those tries are no hops, and the
    // user waits a little between them (a browser's retry), up to about 5 s.
    let mut unreachable = 0;
    while hops < 20 {
        let url = format!("{}{path}", run.next_base(cursor));
        let req = match &form {
            Some(f) => http.post(&url).form(f),
            None => http.get(&url),
        };
        let resp = match run.send(req).await {
            Ok(r) => r,
            // Never reached a replica: the next one takes the same step.
            Err(Failed::NotConnected) if unreachable < 200 => {
                unreachable += 1;
                tokio::time::sleep(Duration::from_millis(25)).await;
                continue;
            }
            Err(Failed::NotConnected) => break,
            Err(Failed::Other) => {
                // The user sees an error page and starts again a moment later.
                run.logins_restarted.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(backoff(3)).await;
                return None;
            }
        };
        hops += 1;
        form = None;
        let status = resp.status();
        if status.is_redirection() {
            let loc = location(&resp).to_string();
            if loc.starts_with(RP_REDIRECT) {
                if query_param(&loc, "state").as_deref() != Some(state.as_str()) {
                    run.violation(format!("state came back changed: {loc}"));
                }
                code = query_param(&loc, "code");
                break;
            }
            path = resolve(&path, &loc);
            continue;
        }
        let page = resp.text().await.unwrap_or_default();
        match form_action(&page).filter(|_| status == StatusCode::OK) {
            Some(action) => {
                let mut f = hidden_inputs(&page);
                if page.contains("name=\"login\"") {
                    f.push(("login".into(), "dev@example.com".into()));
                    f.push(("password".into(), "password".into()));
                }
                path = resolve(&path, &action);
                form = Some(f);
            }
            None => {
                run.violation(format!("login hop {path} answered {status}: {page}"));
                return None;
            }
        }
    }
    let Some(code) = code else {
        run.violation(format!("login never reached the client; last hop {path}"));
        return None;
    };
    let started = Instant::now();
    let mut tries = 0;
    loop {
        tries += 1;
        let req = http
            .post(format!("{}/dex/token", run.next_base(cursor)))
            .basic_auth(RP.0, Some(RP.1))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", RP_REDIRECT),
                ("code_verifier", verifier.as_str()),
            ]);
        let Ok(resp) = run.send(req).await else {
            if started.elapsed() > GIVE_UP {
                run.violation("gave up redeeming a code".into());
                return None;
            }
            tokio::time::sleep(backoff(tries)).await;
            continue;
        };
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or_default();
        if status == StatusCode::OK {
            *run.codes.lock().unwrap().entry(code).or_default() += 1;
            run.tally().logins.fetch_add(1, Ordering::Relaxed);
            return body["refresh_token"].as_str().map(str::to_string);
        }
        if tries > 1 && body["error"] == "invalid_grant" {
            // A try that got no answer spent it (the replica died or the database went away
            // after the commit): the code stays spent, the user logs in again.
            run.logins_restarted.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        run.violation(format!("a fresh code was refused: {status} {body}"));
        return None;
    }
}

/// Refresh `token` (retried on the next replica until it is answered); the successor, or
/// None when the token was refused: a violation, since it was the last one this client got.
async fn refresh(
    run: &Run,
    http: &reqwest::Client,
    cursor: &mut usize,
    token: &str,
) -> Option<String> {
    let started = Instant::now();
    let mut tries = 0;
    loop {
        tries += 1;
        let req = http
            .post(format!("{}/dex/token", run.next_base(cursor)))
            .basic_auth(RP.0, Some(RP.1))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", token)]);
        let Ok(resp) = run.send(req).await else {
            if started.elapsed() > GIVE_UP {
                run.violation("gave up refreshing".into());
                return None;
            }
            tokio::time::sleep(backoff(tries)).await;
            continue;
        };
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or_default();
        let next = body["refresh_token"].as_str().map(str::to_string);
        match next.filter(|_| status == StatusCode::OK) {
            Some(next) => {
                run.successors
                    .lock()
                    .unwrap()
                    .entry(token.to_string())
                    .or_default()
                    .insert(next.clone());
                run.tally().refreshes.fetch_add(1, Ordering::Relaxed);
                return Some(next);
            }
            None => {
                run.violation(format!(
                    "the last refresh token a client got was refused: {status} {body}"
                ));
                return None;
            }
        }
    }
}

/// A registry pull token with the user's password, retried until it is answered.
async fn registry_token(run: &Run, http: &reqwest::Client, cursor: &mut usize) {
    let started = Instant::now();
    let mut tries = 0;
    while started.elapsed() < GIVE_UP {
        tries += 1;
        let req = http
            .get(format!("{}/dex/registry/token", run.next_base(cursor)))
            .query(&[
                ("service", "registry.test"),
                ("scope", "repository:library/app:pull"),
            ])
            .basic_auth("dev@example.com", Some("password"));
        let Ok(resp) = run.send(req).await else {
            tokio::time::sleep(backoff(tries)).await;
            continue;
        };
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or_default();
        if status == StatusCode::OK && body["token"].is_string() {
            run.tally().registry_tokens.fetch_add(1, Ordering::Relaxed);
        } else {
            run.violation(format!("registry token refused: {status} {body}"));
        }
        return;
    }
    run.violation("gave up on a registry token".into());
}

/// One simulated user until the run stops; its last refresh token.
async fn user(run: Arc<Run>, n: usize) -> Option<String> {
    let http = browser();
    let mut cursor = n;
    let mut token: Option<String> = None;
    let mut round = 0u32;
    while !run.stop.load(Ordering::SeqCst) {
        round += 1;
        // Every eighth round the user logs in again (another terminal, another day): a new
        // family; the old one is left alone.
        token = match token.take() {
            Some(t) if !round.is_multiple_of(8) => refresh(&run, &http, &mut cursor, &t).await,
            _ => login(&run, &http, &mut cursor).await,
        };
        if round.is_multiple_of(3) {
            registry_token(&run, &http, &mut cursor).await;
        }
    }
    token
}

/// Stop the simulated users (each finishes what it was doing) and print what they saw; each
/// one's last refresh token.
async fn stop_users(
    run: &Run,
    users: Vec<tokio::task::JoinHandle<Option<String>>>,
) -> Vec<Option<String>> {
    run.stop.store(true, Ordering::SeqCst);
    let mut last = Vec::new();
    for u in users {
        last.push(u.await.unwrap());
    }
    report(run);
    last
}

/// The verifier: the ledger, every last token, the codes replayed, the families in the
/// database. Panics with everything it found.
async fn verify(run: &Run, last: Vec<Option<String>>, db: sqlx::AnyPool) {
    let http = browser();
    let mut cursor = 0;
    let mut held = 0;
    for token in last.iter().flatten() {
        held += 1;
        if refresh(run, &http, &mut cursor, token).await.is_none() {
            run.violation("a client's last refresh token did not refresh after the run".into());
        }
    }
    let codes = run.codes.lock().unwrap().clone();
    for n in codes.values() {
        if *n > 1 {
            run.violation(format!("a code was accepted {n} times"));
        }
    }
    // Replayed now, every code is refused (and revokes what it issued: last in the check).
    for code in codes.keys() {
        let r = http
            .post(format!("{}/dex/token", run.next_base(&mut cursor)))
            .basic_auth(RP.0, Some(RP.1))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", RP_REDIRECT),
            ])
            .send()
            .await
            .unwrap();
        if r.status() != StatusCode::BAD_REQUEST {
            run.violation(format!("a replayed code answered {}", r.status()));
        }
    }
    let forked = run
        .successors
        .lock()
        .unwrap()
        .values()
        .filter(|s| s.len() > 1)
        .count();
    if forked > 0 {
        run.violation(format!(
            "{forked} refresh tokens gave two different successors"
        ));
    }
    // In the database: no family has two live heads.
    let rows = sqlx::query(
        "SELECT family_id FROM refresh_tokens WHERE rotated_at IS NULL AND revoked_at IS NULL \
         GROUP BY family_id HAVING COUNT(*) > 1",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    if !rows.is_empty() {
        run.violation(format!("{} families have two live tokens", rows.len()));
    }
    println!(
        "verified: {held} last refresh tokens refreshed; {} codes each accepted once and refused on replay; {} refresh tokens each with one successor",
        codes.len(),
        run.successors.lock().unwrap().len()
    );
}

fn report(run: &Run) {
    println!(
        "{:<16} {:>7} {:>7} {:>9} {:>8} {:>5} {:>6} {:>9} {:>8}",
        "phase", "logins", "refresh", "registry", "answered", "503", "refused", "other 5xx", "hung"
    );
    for (name, t) in &run.phases {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        println!(
            "{:<16} {:>7} {:>7} {:>9} {:>8} {:>5} {:>6} {:>9} {:>8}",
            name,
            g(&t.logins),
            g(&t.refreshes),
            g(&t.registry_tokens),
            g(&t.answered),
            g(&t.unavailable),
            g(&t.refused),
            g(&t.server_error),
            g(&t.hung)
        );
    }
    println!(
        "logins started again after a fault cut them short: {}",
        run.logins_restarted.load(Ordering::Relaxed)
    );
}

fn phase_tally<'a>(run: &'a Run, name: &str) -> &'a Tally {
    &run.phases.iter().find(|(n, _)| *n == name).unwrap().1
}

fn assert_clean(run: &Run, replicas: &[Replica]) {
    let violations = run.violations.lock().unwrap();
    if !violations.is_empty() {
        for r in replicas {
            let text = std::fs::read_to_string(&r.log).unwrap_or_default();
            let errors: Vec<&str> = text.lines().filter(|l| l.contains("ERROR")).collect();
            eprintln!(
                "--- replica on {}, its errors:\n{}\n--- its last lines:\n{}",
                r.port,
                errors.join("\n"),
                r.log_tail()
            );
        }
        panic!(
            "{} violations:\n{}",
            violations.len(),
            violations.join("\n")
        );
    }
}

fn set_phase(run: &Run, name: &str) {
    let i = run.phases.iter().position(|(n, _)| *n == name).unwrap();
    run.phase.store(i, Ordering::SeqCst);
}

/// Poll every replica's readiness, all at once, until each answers `want`; how long the
/// slowest took.
async fn readiness_becomes(replicas: &[Replica], want: StatusCode) -> Duration {
    let t = Instant::now();
    let polls: Vec<_> = replicas
        .iter()
        .map(|r| {
            let url = format!("{}/dex/healthz/ready", r.base());
            tokio::spawn(async move {
                let http = reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .unwrap();
                for _ in 0..600 {
                    if let Ok(resp) = http.get(&url).send().await
                        && resp.status() == want
                    {
                        return true;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                false
            })
        })
        .collect();
    for (p, r) in polls.into_iter().zip(replicas) {
        assert!(
            p.await.unwrap(),
            "replica on {} never reported {want}",
            r.port
        );
    }
    t.elapsed()
}

#[tokio::test]
#[ignore = "loads the machine: scripts/test.sh runs it alone after the other tests"]
async fn chaos_three_replicas_on_postgres_survive_a_kill_and_a_database_outage() {
    let pg = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();
    let ports = [free_port(), free_port(), free_port()];
    let issuer = format!("http://127.0.0.1:{}/dex", ports[0]);
    let storage = format!(
        "storage:\n  type: postgres\n  config:\n    dsn: \"{}\"\n",
        pg.dsn()
    );
    let mut replicas: Vec<Replica> = ports
        .iter()
        .enumerate()
        .map(|(n, p)| Replica::new(dir.path(), n, *p, replica_yaml(&issuer, *p, &storage)))
        .collect();
    // All three at once on the empty database: migrations, the first signing key and the
    // registry CA are raced for.
    for r in &mut replicas {
        r.spawn();
    }
    for r in &replicas {
        r.wait_ready().await;
    }
    let run = Arc::new(Run::new(
        replicas.iter().map(Replica::base).collect(),
        &[
            "steady",
            "replica killed",
            "replica back",
            "database down",
            "database back",
        ],
    ));
    let users: Vec<_> = (0..CLIENTS)
        .map(|n| tokio::spawn(user(run.clone(), n)))
        .collect();

    tokio::time::sleep(Duration::from_secs(4)).await;
    set_phase(&run, "replica killed");
    replicas[1].kill9();
    tokio::time::sleep(Duration::from_secs(3)).await;
    replicas[1].spawn();
    let restart = replicas[1].wait_ready().await;
    set_phase(&run, "replica back");
    tokio::time::sleep(Duration::from_secs(3)).await;

    set_phase(&run, "database down");
    let down_at = Instant::now();
    pg.run("stop");
    let noticed = readiness_becomes(&replicas, StatusCode::SERVICE_UNAVAILABLE).await;
    tokio::time::sleep(Duration::from_secs(10).saturating_sub(down_at.elapsed())).await;
    let outage = down_at.elapsed();
    pg.run("restart");
    let up_at = Instant::now();
    set_phase(&run, "database back");
    let healed = readiness_becomes(&replicas, StatusCode::OK).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let last = stop_users(&run, users).await;
    let first_ok_after = |name: &str, from: Instant| {
        let i = run.phases.iter().position(|(n, _)| *n == name).unwrap();
        run.first_ok
            .lock()
            .unwrap()
            .get(&i)
            .map(|t| t.saturating_duration_since(from))
    };
    println!(
        "killed replica ready again {restart:?} after its start; database stopped for {outage:?}: \
         every replica reported not ready within {noticed:?}, ready again {healed:?} after the \
         database started, first request served {:?} after it",
        first_ok_after("database back", up_at)
    );
    let db = {
        sqlx::any::install_default_drivers();
        sqlx::AnyPool::connect(&pg.dsn()).await.unwrap()
    };
    verify(&run, last, db).await;
    assert_clean(&run, &replicas);
    // The faults happened and were survived: the dead replica refused connections, the
    // database's absence was a 503, and every kind of request was served after each fault.
    assert!(
        phase_tally(&run, "replica killed")
            .refused
            .load(Ordering::Relaxed)
            > 0
    );
    assert!(
        phase_tally(&run, "database down")
            .unavailable
            .load(Ordering::Relaxed)
            > 0
    );
    for phase in ["steady", "replica back", "database back"] {
        let t = phase_tally(&run, phase);
        for (what, n) in [
            ("logins", &t.logins),
            ("refreshes", &t.refreshes),
            ("registry tokens", &t.registry_tokens),
        ] {
            assert!(n.load(Ordering::Relaxed) > 0, "no {what} in phase {phase}");
        }
    }
}

#[tokio::test]
#[ignore = "loads the machine: scripts/test.sh runs it alone after the other tests"]
async fn chaos_sqlite_killed_during_writes_opens_clean_with_every_committed_token() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}/dex");
    let file = dir.path().join("gantry.db");
    let storage = format!(
        "storage:\n  type: sqlite3\n  config:\n    file: {}\n",
        file.display()
    );
    let mut replica = Replica::new(dir.path(), 0, port, replica_yaml(&issuer, port, &storage));
    replica.spawn();
    replica.wait_ready().await;
    let run = Arc::new(Run::new(
        vec![replica.base()],
        &["steady", "killed", "back"],
    ));
    let users: Vec<_> = (0..CLIENTS)
        .map(|n| tokio::spawn(user(run.clone(), n)))
        .collect();
    tokio::time::sleep(Duration::from_secs(4)).await;
    set_phase(&run, "killed");
    replica.kill9();
    let down_at = Instant::now();
    replica.spawn();
    let restart = replica.wait_ready().await;
    let back_after = down_at.elapsed();
    set_phase(&run, "back");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let last = stop_users(&run, users).await;
    println!(
        "killed -9 under load; the new process was ready {restart:?} after its start, {back_after:?} after the kill"
    );
    let db = {
        sqlx::any::install_default_drivers();
        sqlx::AnyPool::connect(&format!("sqlite://{}", file.display()))
            .await
            .unwrap()
    };
    let check: (String,) = sqlx::query_as("PRAGMA integrity_check")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(check.0, "ok", "the database file after kill -9");
    verify(&run, last, db).await;
    assert_clean(&run, std::slice::from_ref(&replica));
    let back = phase_tally(&run, "back");
    assert!(back.refreshes.load(Ordering::Relaxed) > 0);
    assert!(back.logins.load(Ordering::Relaxed) > 0);
}
