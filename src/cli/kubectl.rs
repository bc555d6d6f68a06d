//! `gantry kubectl credential`: a client-go exec credential plugin. A cached ID token is
//! returned at once; near expiry it is refreshed; otherwise the user logs in through the
//! browser (loopback redirect, state, nonce, PKCE) or the device flow. An exclusive file lock
//! around get-or-refresh makes parallel kubectl calls cause one login or one refresh.
//! Nothing but the ExecCredential goes to stdout.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::terminal::{self, printable};
use crate::secret;

/// Refresh when the ID token has less than this left.
const MARGIN: i64 = 60;

#[derive(Debug, Clone)]
pub struct Options {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub scopes: Vec<String>,
    pub device: bool,
    pub listen: Vec<String>,
    pub browser_command: Option<String>,
    pub timeout: Duration,
    /// PEM CA of an issuer behind a private CA.
    pub ca_file: Option<PathBuf>,
}

/// The HTTP client for the issuer, trusting `--ca-file` besides the usual roots.
fn http_client(o: &Options) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder().timeout(Duration::from_secs(30));
    if let Some(f) = &o.ca_file {
        let pem =
            crate::files::read_limited(f).map_err(|e| format!("--ca-file {}: {e}", f.display()))?;
        let cert = reqwest::Certificate::from_pem(&pem)
            .map_err(|e| format!("--ca-file {}: {e}", f.display()))?;
        b = b.add_root_certificate(cert);
    }
    b.build().map_err(|e| e.to_string())
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Cache {
    id_token: String,
    refresh_token: Option<String>,
    /// Unix seconds when the ID token expires.
    expires_at: i64,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn cache_path(o: &Options) -> PathBuf {
    let dir = std::env::var("GANTRY_KUBE_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| ".".into()))
                .join(".kube/cache/gantry")
        });
    let key = format!("{}\n{}\n{}", o.issuer, o.client_id, o.scopes.join(" "));
    let name: String = secret::sha256(key.as_bytes())[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    dir.join(format!("{name}.json"))
}

/// The cache, unless it is corrupt or readable by others (then it is ignored and rewritten).
fn read_cache(p: &Path) -> Option<Cache> {
    let meta = std::fs::metadata(p).ok()?;
    #[cfg(unix)]
    if std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o077 != 0 {
        eprintln!(
            "gantry: {} was readable by others; ignoring it",
            p.display()
        );
        let _ = std::fs::remove_file(p);
        return None;
    }
    let _ = meta;
    serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()
}

fn write_cache(p: &Path, c: &Cache) -> std::io::Result<()> {
    let data = serde_json::to_string(c).map_err(std::io::Error::other)?;
    super::private_file::write(p, data.as_bytes())
}

struct Provider {
    http: reqwest::Client,
    auth: String,
    token: String,
    device: Option<String>,
    jwks: String,
    issuer: String,
}

/// The issuer's endpoints, from a discovery document checked against `--issuer`.
async fn discover(http: &reqwest::Client, issuer: &str) -> Result<Provider, String> {
    let e = super::issuer::discover(http, issuer).await?;
    Ok(Provider {
        http: http.clone(),
        auth: e.authorization,
        token: e.token,
        device: e.device,
        jwks: e.jwks,
        issuer: issuer.to_string(),
    })
}

impl Provider {
    async fn post(
        &self,
        url: &str,
        o: &Options,
        form: &[(&str, &str)],
    ) -> Result<serde_json::Value, String> {
        let mut f: Vec<(&str, &str)> = form.to_vec();
        f.push(("client_id", &o.client_id));
        if let Some(s) = &o.client_secret {
            f.push(("client_secret", s));
        }
        let r = self
            .http
            .post(url)
            .form(&f)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        r.json().await.map_err(|e| e.to_string())
    }

    /// Check signature, issuer, audience (and nonce) of an ID token; its expiry.
    async fn verify(
        &self,
        o: &Options,
        id_token: &str,
        nonce: Option<&str>,
    ) -> Result<i64, String> {
        let c = crate::keys::remote::verify_id_token(
            &self.http,
            &self.jwks,
            id_token,
            &self.issuer,
            &o.client_id,
            nonce,
        )
        .await
        .map_err(|e| e.to_string())?;
        c["exp"]
            .as_i64()
            .ok_or_else(|| "ID token has no exp".to_string())
    }

    async fn cache_from(
        &self,
        o: &Options,
        tokens: &serde_json::Value,
        nonce: Option<&str>,
        old_refresh: Option<String>,
    ) -> Result<Cache, String> {
        if tokens["error"].is_string() {
            return Err(terminal::error_fields(tokens));
        }
        let id_token = tokens["id_token"]
            .as_str()
            .ok_or("the token response has no id_token")?
            .to_string();
        let expires_at = self.verify(o, &id_token, nonce).await?;
        Ok(Cache {
            id_token,
            refresh_token: tokens["refresh_token"]
                .as_str()
                .map(String::from)
                .or(old_refresh),
            expires_at,
        })
    }
}

async fn browser_login(p: &Provider, o: &Options) -> Result<Cache, String> {
    let mut listener = None;
    for addr in &o.listen {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => {
                listener = Some(l);
                break;
            }
            Err(e) => eprintln!("gantry: cannot listen on {addr} ({e}); trying the next address"),
        }
    }
    let listener = listener.ok_or("no listen address was free")?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let redirect = format!("http://127.0.0.1:{port}/callback");
    let (state, nonce, verifier) = (
        secret::random_token(16),
        secret::random_token(16),
        secret::random_token(32),
    );
    let mut url = url::Url::parse(&p.auth).map_err(|e| e.to_string())?;
    url.query_pairs_mut()
        .append_pair("client_id", &o.client_id)
        .append_pair("redirect_uri", &redirect)
        .append_pair("response_type", "code")
        .append_pair("scope", &o.scopes.join(" "))
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair(
            "code_challenge",
            &secret::b64(&secret::sha256(verifier.as_bytes())),
        )
        .append_pair("code_challenge_method", "S256");
    eprintln!(
        "gantry: open this URL in a browser to log in:\n  {}",
        printable(url.as_str())
    );
    let cmd = o
        .browser_command
        .clone()
        .or_else(|| std::env::var("BROWSER").ok())
        .unwrap_or_else(|| "xdg-open".into());
    let _ = std::process::Command::new(cmd)
        .arg(url.as_str())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    let code = super::loopback::wait_for_code(listener, &state, o.timeout).await?;
    let t = p
        .post(
            &p.token,
            o,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &redirect),
                ("code_verifier", &verifier),
            ],
        )
        .await?;
    p.cache_from(o, &t, Some(&nonce), None).await
}

async fn device_login(p: &Provider, o: &Options) -> Result<Cache, String> {
    let endpoint = p.device.clone().ok_or("the issuer offers no device flow")?;
    let scope = o.scopes.join(" ");
    let d = p.post(&endpoint, o, &[("scope", &scope)]).await?;
    if d["error"].is_string() {
        return Err(format!(
            "device flow refused: {}",
            terminal::error_fields(&d)
        ));
    }
    let code = d["device_code"]
        .as_str()
        .ok_or("no device_code")?
        .to_string();
    let field = |k: &str| printable(d[k].as_str().unwrap_or_default());
    eprintln!(
        "gantry: to log in, open {} and enter the code {}\n  (or open {})",
        field("verification_uri"),
        field("user_code"),
        field("verification_uri_complete")
    );
    let mut interval = d["interval"].as_u64().unwrap_or(5).max(1);
    let deadline = tokio::time::Instant::now() + o.timeout;
    loop {
        tokio::time::sleep(Duration::from_secs(interval)).await;
        if tokio::time::Instant::now() > deadline {
            return Err(format!("login timed out after {:?}", o.timeout));
        }
        let t = p
            .post(
                &p.token,
                o,
                &[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                    ("device_code", &code),
                ],
            )
            .await?;
        match t["error"].as_str() {
            Some("authorization_pending") => {}
            Some("slow_down") => interval += 5,
            Some(_) => return p.cache_from(o, &t, None, None).await,
            None => return p.cache_from(o, &t, None, None).await,
        }
    }
}

async fn token(o: &Options) -> Result<Cache, String> {
    let path = cache_path(o);
    if let Some(d) = path.parent() {
        super::private_file::create_dir(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let lock =
        super::private_file::open_lock(&path.with_extension("lock")).map_err(|e| e.to_string())?;
    // Held until return: parallel kubectl calls queue here and find the fresh token.
    lock.lock().map_err(|e| format!("cache lock: {e}"))?;
    let cached = read_cache(&path);
    if let Some(c) = &cached
        && c.expires_at - now() > MARGIN
    {
        return Ok(Cache {
            id_token: c.id_token.clone(),
            refresh_token: None,
            expires_at: c.expires_at,
        });
    }
    let http = http_client(o)?;
    let p = discover(&http, &o.issuer).await?;
    if let Some(rt) = cached.and_then(|c| c.refresh_token) {
        let t = p
            .post(
                &p.token,
                o,
                &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
            )
            .await?;
        match p.cache_from(o, &t, None, Some(rt)).await {
            Ok(c) => {
                write_cache(&path, &c).map_err(|e| e.to_string())?;
                return Ok(c);
            }
            Err(e) => eprintln!(
                "gantry: refresh failed ({}); logging in again",
                printable(&e)
            ),
        }
    }
    let display = std::env::var_os("DISPLAY").is_some()
        || std::env::var_os("WAYLAND_DISPLAY").is_some()
        || std::env::var_os("BROWSER").is_some();
    let c = if o.device || (o.browser_command.is_none() && !display) {
        device_login(&p, o).await?
    } else {
        browser_login(&p, o).await?
    };
    write_cache(&path, &c).map_err(|e| e.to_string())?;
    Ok(c)
}

/// The plugin; the exit code.
pub async fn credential(o: Options) -> i32 {
    let api = std::env::var("KUBERNETES_EXEC_INFO")
        .ok()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
        .and_then(|v| v["apiVersion"].as_str().map(String::from))
        .unwrap_or_else(|| "client.authentication.k8s.io/v1".into());
    match token(&o).await {
        Ok(c) => {
            let out = serde_json::json!({
                "apiVersion": api,
                "kind": "ExecCredential",
                "status": {"token": c.id_token, "expirationTimestamp": crate::clock::rfc3339(c.expires_at)},
            });
            println!("{out}");
            0
        }
        Err(e) => {
            eprintln!("gantry: {}", printable(&e));
            1
        }
    }
}

/// `gantry kubectl setup`: the kubeconfig user, cluster and context with the exec stanza.
pub struct Setup {
    pub issuer: String,
    pub client_id: String,
    pub cluster: String,
    pub server: String,
    pub certificate_authority: Option<String>,
    pub kubeconfig: Option<PathBuf>,
    pub print: bool,
}

pub fn setup(s: Setup) -> i32 {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "gantry".into());
    let user = format!("{}-gantry", s.cluster);
    let mut cluster = serde_json::json!({"server": s.server});
    if let Some(ca) = &s.certificate_authority {
        cluster["certificate-authority"] = ca.clone().into();
    }
    let entries = serde_json::json!({
        "cluster": {"name": s.cluster, "cluster": cluster},
        "user": {"name": user, "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": exe,
            "args": ["kubectl", "credential", "--issuer", s.issuer, "--client-id", s.client_id],
            "interactiveMode": "IfAvailable",
            "provideClusterInfo": false,
        }}},
        "context": {"name": s.cluster, "context": {"cluster": s.cluster, "user": user}},
    });
    let path = s
        .kubeconfig
        .clone()
        .or_else(|| {
            std::env::var("KUBECONFIG")
                .ok()
                .and_then(|k| k.split(':').next().map(PathBuf::from))
        })
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| ".".into())).join(".kube/config")
        });
    let mut doc: serde_json::Value = if s.print {
        serde_json::json!({"apiVersion": "v1", "kind": "Config"})
    } else {
        std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_norway::from_str(&t).ok())
            .unwrap_or_else(|| serde_json::json!({"apiVersion": "v1", "kind": "Config"}))
    };
    for (list, key) in [
        ("clusters", "cluster"),
        ("users", "user"),
        ("contexts", "context"),
    ] {
        let item = entries[key].clone();
        let name = item["name"].clone();
        let arr = doc[list].as_array().cloned().unwrap_or_default();
        let mut arr: Vec<serde_json::Value> =
            arr.into_iter().filter(|e| e["name"] != name).collect();
        arr.push(item);
        doc[list] = arr.into();
    }
    doc["current-context"] = s.cluster.clone().into();
    let yaml = match serde_norway::to_string(&doc) {
        Ok(y) => y,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    if s.print {
        print!("{yaml}");
        return 0;
    }
    if let Some(d) = path.parent() {
        let _ = std::fs::create_dir_all(d);
    }
    match std::fs::write(&path, yaml) {
        Ok(()) => {
            eprintln!(
                "wrote cluster, user and context `{}` to {}; try: kubectl get pods",
                s.cluster,
                path.display()
            );
            0
        }
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            1
        }
    }
}

/// `gantry kubectl logout`: revoke the refresh token at the server and clear the cache.
pub async fn logout(o: Options) -> i32 {
    let path = cache_path(&o);
    let Some(c) = read_cache(&path) else {
        eprintln!("gantry: not logged in");
        return 0;
    };
    if let Some(rt) = &c.refresh_token {
        let http = match http_client(&o) {
            Ok(h) => h,
            Err(e) => {
                eprintln!("gantry: {e}");
                return 1;
            }
        };
        match discover(&http, &o.issuer).await {
            Ok(p) => {
                let revoke = format!("{}/token/revoke", o.issuer.trim_end_matches('/'));
                if let Err(e) = p
                    .post(
                        &revoke,
                        &o,
                        &[("token", rt), ("token_type_hint", "refresh_token")],
                    )
                    .await
                    .map(|_| ())
                {
                    eprintln!(
                        "gantry: could not revoke the refresh token ({}); clearing the cache anyway",
                        printable(&e)
                    );
                }
            }
            Err(e) => eprintln!("gantry: {}; clearing the cache anyway", printable(&e)),
        }
    }
    let _ = std::fs::remove_file(&path);
    eprintln!("gantry: logged out");
    0
}

/// `gantry kubectl whoami`: the cached identity and groups, as JSON.
pub fn whoami(o: Options) -> i32 {
    let Some(c) = read_cache(&cache_path(&o)) else {
        eprintln!("{}", how_to_log_in(&o));
        return 1;
    };
    let claims = c
        .id_token
        .split('.')
        .nth(1)
        .and_then(secret::b64_decode)
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .unwrap_or_default();
    let out = serde_json::json!({
        "issuer": claims["iss"], "subject": claims["sub"], "email": claims["email"],
        "username": claims["preferred_username"], "groups": claims["groups"],
        "expires": crate::clock::rfc3339(c.expires_at),
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    0
}

/// What to run to log in with the very cache `o` names: the same issuer, client and scopes.
fn how_to_log_in(o: &Options) -> String {
    let (issuer, client) = (printable(&o.issuer), printable(&o.client_id));
    let mut login = format!(
        "--issuer {} --client-id {}",
        shell_word(&issuer),
        shell_word(&client)
    );
    let mut credential = format!("gantry kubectl credential {login}");
    if o.scopes != super::default_scopes(Vec::new()) {
        for s in &o.scopes {
            credential.push_str(&format!(" --scope {}", shell_word(&printable(s))));
        }
    }
    login.push_str(" --cluster NAME --server https://API-SERVER:6443");
    format!(
        "gantry: not logged in to {issuer} as client {client}.\n\
         Any kubectl command that runs this plugin logs in (for example: kubectl get pods), \
         or log in now (add --device on a machine without a browser):\n  \
         {credential} >/dev/null\n\
         kubectl not set up for Gantry yet? gantry kubectl setup {login}"
    )
}

/// `w` as one word for a POSIX shell: as it is when that is safe, else single-quoted.
fn shell_word(w: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:@%+=,".contains(c);
    if !w.is_empty() && w.chars().all(plain) {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_login_hint_names_the_same_cache_in_words_a_shell_keeps_whole() {
        let mut o = super::super::plain_options(crate::cli::KubeLogin {
            issuer: "https://id.example.com/dex".into(),
            client_id: "kube ctl".into(),
            scopes: vec![],
        });
        let hint = how_to_log_in(&o);
        assert!(
            hint.contains(
                "gantry kubectl credential --issuer https://id.example.com/dex \
                 --client-id 'kube ctl' >/dev/null"
            ),
            "{hint}"
        );
        o.scopes = vec!["openid".into(), "it's".into()];
        let hint = how_to_log_in(&o);
        assert!(
            hint.contains("--client-id 'kube ctl' --scope openid --scope 'it'\\''s' >/dev/null"),
            "{hint}"
        );
    }
}
