//! `TestApp`: the real application on 127.0.0.1:0 with a temporary database and an injected
//! clock, plus a browser-like client that walks the login pages.

use std::sync::Arc;

use gantry::clock::{Clock, ManualClock};
use gantry::config::Config;
use gantry::oauth::Provider;
use reqwest::StatusCode;
use reqwest::redirect::Policy;

pub const RP: (&str, &str) = ("rp", "rp-secret");
pub const RP_REDIRECT: &str = "http://127.0.0.1:5555/callback";
pub const NATIVE_REDIRECT: &str = "http://127.0.0.1:8000/callback";
/// Dex's bcrypt hash of "password".
const BCRYPT_PASSWORD: &str = "$2a$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    /// A PostgreSQL the test runs itself (to stop and start it): its DSN.
    PostgresAt(String),
}

/// Knobs a test may turn; everything else is the standard test config.
#[derive(Debug, Clone)]
pub struct Opts {
    pub backend: Backend,
    pub skip_approval: bool,
    pub alg: &'static str,
    pub disable_rotation: bool,
    pub password_connector: &'static str,
    pub extra_yaml: String,
    /// More entries of `staticClients`, as YAML list items.
    pub extra_clients: String,
    /// Listen here instead of a free port (a peer was configured with it).
    pub port: Option<u16>,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            backend: Backend::Sqlite,
            skip_approval: false,
            alg: "ES256",
            disable_rotation: false,
            password_connector: "local",
            extra_yaml: String::new(),
            extra_clients: String::new(),
            port: None,
        }
    }
}

pub struct TestApp {
    pub base: String,
    pub issuer: String,
    pub clock: ManualClock,
    pub provider: Arc<Provider>,
    pub admin: Arc<gantry::admin::AdminService>,
    pub registry: Arc<gantry::registry::RegistryService>,
    pub config: Config,
    _dir: tempfile::TempDir,
    _server: tokio::task::JoinHandle<()>,
}

/// A PostgreSQL DSN from the test script, or a failure that says how to get one.
pub fn postgres_dsn() -> String {
    std::env::var("GANTRY_TEST_POSTGRES").unwrap_or_else(|_| {
        panic!(
            "GANTRY_TEST_POSTGRES is not set. Run the tests through scripts/test.sh, which starts a \
             throwaway PostgreSQL, or export GANTRY_TEST_POSTGRES=postgres://user@127.0.0.1:PORT/postgres"
        )
    })
}

/// A fresh database on the test PostgreSQL server; its DSN.
pub async fn fresh_postgres_db() -> String {
    let admin = postgres_dsn();
    sqlx::any::install_default_drivers();
    let name = format!(
        "gantry_t_{}",
        gantry::secret::random_token(9)
            .to_lowercase()
            .replace(['-', '_'], "x")
    );
    let pool = sqlx::AnyPool::connect(&admin)
        .await
        .expect("connect to test PostgreSQL");
    // The name is ours: a fixed prefix and a random token folded to [a-z0-9x].
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&pool)
        .await
        .expect("create database");
    pool.close().await;
    let mut u = url::Url::parse(&admin).expect("dsn is a URL");
    u.set_path(&name);
    u.to_string()
}

pub fn storage_yaml(dir: &std::path::Path, dsn: Option<&str>) -> String {
    match dsn {
        Some(dsn) => format!("storage:\n  type: postgres\n  config:\n    dsn: \"{dsn}\"\n"),
        None => format!(
            "storage:\n  type: sqlite3\n  config:\n    file: {}/gantry.db\n",
            dir.display()
        ),
    }
}

impl TestApp {
    pub async fn start() -> TestApp {
        Self::start_with(Opts::default()).await
    }

    pub async fn start_with(o: Opts) -> TestApp {
        let dir = tempfile::tempdir().expect("tempdir");
        let dsn = match o.backend {
            Backend::Postgres => Some(fresh_postgres_db().await),
            Backend::PostgresAt(ref dsn) => Some(dsn.clone()),
            Backend::Sqlite => None,
        };
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", o.port.unwrap_or(0)))
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let base = format!("http://127.0.0.1:{port}");
        let issuer = format!("{base}/dex");
        let argon = gantry::password::hash("password").expect("hash");
        let yaml = format!(
            r#"issuer: {issuer}
{storage}web:
  http: 127.0.0.1:{port}
oauth2:
  skipApprovalScreen: {skip}
  passwordConnector: {pwconn}
signing:
  algorithm: {alg}
expiry:
  idTokens: 1h
  authRequests: 30m
  signingKeys: 6h
  refreshTokens:
    disableRotation: {norot}
    reuseInterval: 3s
    validIfNotUsedFor: 48h
    absoluteLifetime: 720h
staticClients:
  - id: rp
    name: Relying Party
    secret: rp-secret
    redirectURIs: ["{RP_REDIRECT}"]
    postLogoutRedirectURIs: ["http://127.0.0.1:5555/bye"]
    grantTypes: [authorization_code, refresh_token, password]
  - id: native
    name: Native CLI
    public: true
    redirectURIs: ["{NATIVE_REDIRECT}"]
  - id: peer
    name: Peer
    secret: peer-secret
    redirectURIs: ["http://127.0.0.1:5556/peer"]
    trustedPeers: [rp]
  - id: machine
    name: Machine
    secret: machine-secret
    grantTypes: [client_credentials]
  - id: strict
    name: Strict
    secret: strict-secret
    requirePKCE: true
    redirectURIs: ["{RP_REDIRECT}"]
{extra_clients}enablePasswordDB: true
staticPasswords:
  - email: admin@example.com
    hash: "{BCRYPT_PASSWORD}"
    username: admin
    userID: 08a8684b-db88-4b73-90a9-3cd1661f5466
    groups: [admins, developers]
  - email: dev@example.com
    hash: "{argon}"
    username: dev
    userID: 5b4a3bd6-8c7e-4bb5-9d51-3b9f4f4d0a10
    groups: [developers]
{extra}"#,
            storage = storage_yaml(dir.path(), dsn.as_deref()),
            skip = o.skip_approval,
            alg = o.alg,
            norot = o.disable_rotation,
            pwconn = o.password_connector,
            extra = o.extra_yaml.replace("@ISSUER@", &issuer),
            extra_clients = o.extra_clients,
        );
        let config = Config::parse(&yaml).expect("test config parses");
        let clock = ManualClock::new(gantry::clock::SystemClock.now());
        let app = gantry::app::build(&config, Arc::new(clock.clone()))
            .await
            .expect("app builds");
        let admission = app.admission();
        let router = app.router;
        let server = tokio::spawn(async move {
            let _ = gantry::http::listen::serve(
                listener,
                None,
                router,
                admission,
                std::future::pending(),
            )
            .await;
        });
        TestApp {
            base,
            issuer,
            clock,
            provider: app.provider,
            admin: app.admin,
            registry: app.registry,
            config,
            _dir: dir,
            _server: server,
        }
    }

    /// This app's config with its own empty SQLite database in `dir`, for a second app.
    pub fn config_on_fresh_sqlite(&self, dir: &std::path::Path) -> Config {
        let mut cfg = self.config.clone();
        cfg.storage.config.file = Some(format!("{}/second.db", dir.display()));
        cfg.storage.kind = "sqlite3".into();
        cfg.storage.config.dsn = None;
        cfg
    }

    /// A second connection to the test's SQLite file, to look or change behind Gantry's back.
    pub async fn pool(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        let file = self.config.storage.config.file.clone().unwrap();
        sqlx::AnyPool::connect(&format!("sqlite://{file}"))
            .await
            .unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// A browser: cookies on, redirects not followed (tests look at each hop).
    pub fn browser(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(Policy::none())
            .build()
            .expect("client")
    }

    /// A browser behind a trusted proxy that names it as `addr` in `X-Forwarded-For` (the app
    /// must trust loopback in `rateLimits.trustedProxies`).
    pub fn browser_from(&self, addr: &str) -> reqwest::Client {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("x-forwarded-for", addr.parse().expect("address header"));
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(Policy::none())
            .default_headers(h)
            .build()
            .expect("client")
    }

    pub async fn post_token(
        &self,
        form: &[(&str, &str)],
        auth: Option<(&str, &str)>,
    ) -> (StatusCode, serde_json::Value) {
        let mut r = reqwest::Client::new().post(self.url("/token")).form(form);
        if let Some((id, secret)) = auth {
            r = r.basic_auth(id, Some(secret));
        }
        let resp = r.send().await.expect("token request");
        let status = resp.status();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Walk `/auth` → login form → approval with `browser`, returning the final redirect.
    /// Walk `/auth` → login form with `browser`; returns (request id, approval URL).
    pub async fn log_in(
        &self,
        browser: &reqwest::Client,
        auth_query: &[(&str, &str)],
        user: &str,
        password: &str,
    ) -> (String, String) {
        let r = browser
            .get(self.url("/auth"))
            .query(auth_query)
            .send()
            .await
            .expect("auth");
        assert_eq!(
            r.status(),
            StatusCode::SEE_OTHER,
            "auth should redirect to the login page: {}",
            r.text().await.unwrap_or_default()
        );
        let login_url = self.absolute(location(&r));
        let page = browser
            .get(&login_url)
            .send()
            .await
            .expect("login page")
            .text()
            .await
            .expect("body");
        let (req, csrf) = (hidden(&page, "req"), hidden(&page, "csrf"));
        let r = browser
            .post(&login_url)
            .form(&[
                ("req", req.as_str()),
                ("csrf", csrf.as_str()),
                ("login", user),
                ("password", password),
            ])
            .send()
            .await
            .expect("login post");
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "login should succeed");
        (req, self.absolute(location(&r)))
    }

    /// Walk `/auth` → login form → approval with `browser`, returning the final redirect.
    pub async fn login(
        &self,
        browser: &reqwest::Client,
        auth_query: &[(&str, &str)],
        user: &str,
        password: &str,
    ) -> String {
        let (req, approval) = self.log_in(browser, auth_query, user, password).await;
        let r = browser.get(&approval).send().await.expect("approval");
        if r.status() == StatusCode::SEE_OTHER {
            return location(&r).to_string();
        }
        let page = r.text().await.expect("approval body");
        let csrf = hidden(&page, "csrf");
        let r = browser
            .post(self.url("/approval"))
            .form(&[
                ("req", req.as_str()),
                ("csrf", csrf.as_str()),
                ("approval", "approve"),
            ])
            .send()
            .await
            .expect("approve");
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        location(&r).to_string()
    }

    /// A code for the `rp` client with PKCE S256; returns (code, verifier).
    pub async fn code_for(&self, scope: &str, user: &str) -> (String, String) {
        let verifier = gantry::secret::random_token(32);
        let challenge = gantry::secret::b64(&gantry::secret::sha256(verifier.as_bytes()));
        let back = self
            .login(
                &self.browser(),
                &[
                    ("client_id", "rp"),
                    ("redirect_uri", RP_REDIRECT),
                    ("response_type", "code"),
                    ("scope", scope),
                    ("state", "st"),
                    ("nonce", "nn"),
                    ("code_challenge", &challenge),
                    ("code_challenge_method", "S256"),
                ],
                user,
                "password",
            )
            .await;
        (
            query_param(&back, "code").expect("code in redirect"),
            verifier,
        )
    }

    /// Exchange a code at `/token` as `client`.
    pub async fn exchange(
        &self,
        code: &str,
        verifier: Option<&str>,
        client: (&str, &str),
    ) -> (StatusCode, serde_json::Value) {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", RP_REDIRECT),
        ];
        if let Some(v) = verifier {
            form.push(("code_verifier", v));
        }
        self.post_token(&form, Some(client)).await
    }

    /// Tokens for `rp` through the code flow, logged in as `user`.
    pub async fn tokens_for(&self, scope: &str, user: &str) -> serde_json::Value {
        let (code, verifier) = self.code_for(scope, user).await;
        let (status, body) = self.exchange(&code, Some(&verifier), RP).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// Tokens for `rp` through the code flow, as the demo admin.
    pub async fn tokens(&self, scope: &str) -> serde_json::Value {
        self.tokens_for(scope, "admin@example.com").await
    }

    /// Type a device code in a browser, log in as `user`, answer the device confirmation
    /// (approve or deny); the final page's URL.
    pub async fn enter_device_code(&self, uri_complete: &str, user: &str, approve: bool) -> String {
        let b = self.browser();
        let (req, r) = self.device_login(&b, uri_complete, user).await;
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "a device login always ends at its confirmation"
        );
        let page = r.text().await.unwrap();
        assert!(page.contains("Sign in a device?"), "{page}");
        let r = self.confirm_device(&b, &req, &page, approve).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let done = self.absolute(location(&r));
        let page = b.get(&done).send().await.unwrap().text().await.unwrap();
        assert!(
            page.contains(if approve {
                "Your device is logged in"
            } else {
                "Access denied"
            }),
            "{page}"
        );
        done
    }

    /// In `browser`, open `uri_complete` (the code pre-filled), send the code and log in as
    /// `user`: the login request's id, and the answer of the page the login leads to (the
    /// device confirmation).
    pub async fn device_login(
        &self,
        b: &reqwest::Client,
        uri_complete: &str,
        user: &str,
    ) -> (String, reqwest::Response) {
        let page = b
            .get(uri_complete)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let code = hidden_or_value(&page, "user_code");
        let r = b
            .post(self.url("/device"))
            .form(&[
                ("user_code", code.as_str()),
                ("csrf", &hidden(&page, "csrf")),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "the code starts a login");
        let login = format!("{}{}", self.base, location(&r));
        let page = b.get(&login).send().await.unwrap().text().await.unwrap();
        let req = hidden(&page, "req");
        let r = b
            .post(&login)
            .form(&[
                ("req", req.as_str()),
                ("csrf", &hidden(&page, "csrf")),
                ("login", user),
                ("password", "password"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "the login succeeds");
        let next = b.get(self.absolute(location(&r))).send().await.unwrap();
        (req, next)
    }

    /// Answer the device confirmation `page` of request `req` in `browser`, as its form does.
    pub async fn confirm_device(
        &self,
        b: &reqwest::Client,
        req: &str,
        page: &str,
        approve: bool,
    ) -> reqwest::Response {
        let action = form_action(page).expect("the confirmation is a form");
        b.post(self.absolute(&action))
            .form(&[
                ("req", req),
                ("csrf", hidden(page, "csrf").as_str()),
                ("approval", if approve { "approve" } else { "deny" }),
            ])
            .send()
            .await
            .unwrap()
    }

    pub fn absolute(&self, loc: &str) -> String {
        if loc.starts_with("http") {
            loc.to_string()
        } else {
            format!("{}{loc}", self.base)
        }
    }
}

/// The `/auth` URL of a code-flow login for the `rp` client through `connector`; `extra` adds
/// parameters (state, nonce, PKCE).
pub fn rp_auth_url(app: &TestApp, connector: &str, scope: &str, extra: &[(&str, &str)]) -> String {
    let mut params = vec![
        ("client_id", "rp"),
        ("redirect_uri", RP_REDIRECT),
        ("response_type", "code"),
        ("scope", scope),
        ("connector_id", connector),
    ];
    params.extend_from_slice(extra);
    reqwest::Url::parse_with_params(&app.url("/auth"), &params)
        .unwrap()
        .to_string()
}

/// A browser at the login form of `connector` for the `rp` client: the form's URL and the
/// fields it carries (`req`, `csrf`), to post later with a user and password.
pub async fn login_form(
    app: &TestApp,
    browser: &reqwest::Client,
    connector: &str,
    scope: &str,
) -> (String, Vec<(&'static str, String)>) {
    let r = browser
        .get(rp_auth_url(app, connector, scope, &[("state", "s")]))
        .send()
        .await
        .unwrap();
    let url = app.absolute(location(&r));
    let page = browser
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let fields = vec![
        ("req", hidden(&page, "req")),
        ("csrf", hidden(&page, "csrf")),
    ];
    (url, fields)
}

/// Post a form from [`login_form`] with `user` and `password`; the answer.
pub async fn post_login(
    browser: &reqwest::Client,
    (url, fields): &(String, Vec<(&'static str, String)>),
    user: &str,
    password: &str,
) -> reqwest::Response {
    let mut form = fields.clone();
    form.push(("login", user.to_string()));
    form.push(("password", password.to_string()));
    browser.post(url).form(&form).send().await.unwrap()
}

/// Headless Chromium (tests/rp/browser-walk.mjs) walks from `start` through every login and
/// consent page until it is sent to `RP_REDIRECT`; that URL.
pub async fn chromium_walk(start: &str, login: &str, password: &str) -> String {
    let rp = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/rp");
    let out = tokio::process::Command::new("node")
        .arg(format!("{rp}/browser-walk.mjs"))
        .args([start, RP_REDIRECT, login, password])
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.trim().to_string()
}

/// A loopback port that was free a moment ago, for a peer that must know it in advance.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Follow a browser through redirects and simple HTML forms (a login form gets `login` and
/// `password`, every other form is submitted as it is, e.g. a consent page) until a redirect
/// points at a URL for which `stop` is true; that URL.
pub async fn walk(
    browser: &reqwest::Client,
    start: &str,
    login: &str,
    password: &str,
    stop: impl Fn(&str) -> bool,
) -> String {
    let mut url = start.to_string();
    let mut resp = browser.get(&url).send().await.expect("walk: GET");
    for _ in 0..20 {
        if resp.status().is_redirection() {
            let next = reqwest::Url::parse(&url)
                .unwrap()
                .join(location(&resp))
                .unwrap()
                .to_string();
            if stop(&next) {
                return next;
            }
            url = next;
            resp = browser.get(&url).send().await.expect("walk: GET");
            continue;
        }
        let status = resp.status();
        let page = resp.text().await.unwrap_or_default();
        // Gantry's connector chooser: take the built-in password connector.
        if status.is_success()
            && form_action(&page).is_none()
            && let Some(link) = page
                .split("href=\"")
                .skip(1)
                .filter_map(|x| x.split('"').next())
                .find(|h| h.contains("/auth/local?"))
        {
            url = reqwest::Url::parse(&url)
                .unwrap()
                .join(&link.replace("&amp;", "&"))
                .unwrap()
                .to_string();
            resp = browser.get(&url).send().await.expect("walk: GET");
            continue;
        }
        let Some(action) = form_action(&page).filter(|_| status.is_success()) else {
            panic!("walk: {url} answered {status} with no form to submit:\n{page}");
        };
        let action = reqwest::Url::parse(&url)
            .unwrap()
            .join(&action.replace("&amp;", "&"))
            .unwrap()
            .to_string();
        let mut form: Vec<(String, String)> = hidden_inputs(&page);
        // Gantry and oidc-provider name the field `login`, SimpleSAMLphp `username`.
        for field in ["login", "username"] {
            if page.contains(&format!("name=\"{field}\"")) {
                form.push((field.into(), login.into()));
                form.push(("password".into(), password.into()));
            }
        }
        if page.contains("name=\"approval\"") {
            form.push(("approval".into(), "approve".into()));
        }
        url = action.clone();
        resp = browser
            .post(&action)
            .form(&form)
            .send()
            .await
            .expect("walk: POST");
    }
    panic!("walk: too many hops, last at {url}");
}

pub fn form_action(page: &str) -> Option<String> {
    let form = &page[page.find("<form")?..];
    let a = form.find("action=\"")? + 8;
    Some(form[a..].split('"').next()?.to_string())
}

pub fn hidden_inputs(page: &str) -> Vec<(String, String)> {
    page.split("<input")
        .skip(1)
        .filter(|i| i.contains("type=\"hidden\""))
        .filter_map(|i| {
            let attr = |n: &str| {
                let k = format!("{n}=\"");
                let at = i.find(&k)? + k.len();
                Some(i[at..].split('"').next()?.to_string())
            };
            let unescape = |v: String| {
                v.replace("&quot;", "\"")
                    .replace("&#039;", "'")
                    .replace("&#39;", "'")
                    .replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&amp;", "&")
            };
            Some((attr("name")?, unescape(attr("value").unwrap_or_default())))
        })
        .collect()
}

/// Serve a router on a fresh loopback port for the rest of the test; the port.
pub async fn serve_router(router: axum::Router) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(gantry::app::serve(listener, router, std::future::pending()));
    port
}

pub fn location(r: &reqwest::Response) -> &str {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// The value of a hidden input in a page.
pub fn hidden(page: &str, name: &str) -> String {
    let needle = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&needle)
        .map(|i| i + needle.len())
        .unwrap_or_else(|| panic!("no hidden {name} in page:\n{page}"));
    page[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_string()
}

pub fn query_param(uri: &str, key: &str) -> Option<String> {
    url::Url::parse(uri)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// Decode a JWT's payload without verifying (tests verify separately).
pub fn jwt_claims(token: &str) -> serde_json::Value {
    let payload = token.split('.').nth(1).expect("jwt has a payload");
    serde_json::from_slice(&gantry::secret::b64_decode(payload).expect("base64")).expect("json")
}

/// The policy of the registry and policy issue, with the clusters it names.
pub const EXAMPLE_POLICY: &str = r#"
kubernetes:
  clusters:
    - { name: prod, clientID: kube-prod }
    - { name: staging, clientID: kube-staging }
policy:
  admins: { groups: [platform-admins] }
  rules:
    - name: platform-admins
      groups: [platform-admins]
      registry:   [{ repositories: ["**"], actions: ["*"], catalog: true }]
      kubernetes: [{ clusters: ["*"], clusterRoles: [cluster-admin] }]
    - name: team-repos
      groups: ["team-*"]
      registry:   [{ repositories: ["${group}/**"], actions: [pull, push] }]
      kubernetes: [{ clusters: [prod, staging], namespaces: ["${group}"], roles: [edit] }]
    - name: everyone-pulls-library
      groups: ["*"]
      registry:   [{ repositories: ["library/**"], actions: [pull] }]
    - name: no-contractor-pushes-to-prod
      effect: deny
      groups: [contractors]
      registry:   [{ repositories: ["prod/**"], actions: [push, delete] }]
"#;

/// The value of the visible `user_code` field of the device page.
fn hidden_or_value(page: &str, name: &str) -> String {
    let needle = format!(
        "name=\"{name}\" type=\"text\" autocomplete=\"off\" autocapitalize=\"characters\" spellcheck=\"false\" value=\""
    );
    let start = page
        .find(&needle)
        .map(|i| i + needle.len())
        .unwrap_or_else(|| panic!("no {name} field:\n{page}"));
    page[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// A throwaway cluster of this test's own (scripts/peers/postgres.sh), stopped on drop.
pub struct PgCluster {
    dir: tempfile::TempDir,
    pub port: String,
}

impl PgCluster {
    fn script() -> std::path::PathBuf {
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/peers/postgres.sh")
    }
    pub fn run(&self, action: &str) {
        let out = std::process::Command::new(Self::script())
            .args([action, self.dir.path().to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "postgres.sh {action}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    /// The DSN of its `postgres` database.
    pub fn dsn(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres?sslmode=disable",
            self.port
        )
    }
    pub fn start() -> PgCluster {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(Self::script())
            .args(["start", dir.path().to_str().unwrap(), "fsync=off"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = String::from_utf8(out.stdout).unwrap().trim().to_string();
        PgCluster { dir, port }
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = std::process::Command::new(Self::script())
            .args(["stop", self.dir.path().to_str().unwrap()])
            .output();
    }
}

/// A token's claims, its signature checked against the JWKS `jwks` with `aud` and `issuer`.
pub fn verify_with_jwks(
    jwks: &serde_json::Value,
    token: &str,
    aud: &str,
    issuer: &str,
) -> serde_json::Value {
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.clone()).unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    let key =
        jsonwebtoken::DecodingKey::from_jwk(set.find(header.kid.as_deref().unwrap()).unwrap())
            .unwrap();
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_audience(&[aud]);
    v.set_issuer(&[issuer]);
    jsonwebtoken::decode::<serde_json::Value>(token, &key, &v)
        .unwrap()
        .claims
}
