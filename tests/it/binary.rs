//! The `gantry` binary as a newcomer runs it: `serve` on the shipped dev config, and
//! `example-app` logging in through a running server.

use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;

use crate::support::*;

/// `gantry serve` on the shipped dev config, on free ports and a database in a temp dir:
/// (the dir, web port, telemetry port, the process).
fn serve_dev_config(stdout: Stdio) -> (tempfile::TempDir, u16, u16, tokio::process::Child) {
    serve_dev_config_with(stdout, |t| t)
}

/// `serve_dev_config`, with the config's text changed by `edit` first.
fn serve_dev_config_with(
    stdout: Stdio,
    edit: impl Fn(String) -> String,
) -> (tempfile::TempDir, u16, u16, tokio::process::Child) {
    let dir = tempfile::tempdir().unwrap();
    let (web, telemetry) = (free_port(), free_port());
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/dev.yaml"))
        .unwrap()
        .replace("127.0.0.1:5556", &format!("127.0.0.1:{web}"))
        .replace("127.0.0.1:5558", &format!("127.0.0.1:{telemetry}"))
        .replace(
            "var/gantry.db",
            &format!("{}/var/gantry.db", dir.path().display()),
        );
    let cfg = dir.path().join("dev.yaml");
    std::fs::write(&cfg, edit(text)).unwrap();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(["serve", "--config"])
        .arg(&cfg)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    (dir, web, telemetry, child)
}

#[tokio::test]
async fn serve_runs_the_shipped_dev_config_and_stops_on_sigterm() {
    let (dir, web, telemetry, child) = serve_dev_config(Stdio::piped());
    let issuer = format!("http://127.0.0.1:{web}/dex");
    let mut up = false;
    for _ in 0..100 {
        if let Ok(r) = reqwest::get(format!("{issuer}/.well-known/openid-configuration")).await {
            let d: serde_json::Value = r.json().await.unwrap();
            assert_eq!(d["issuer"], issuer);
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "server did not come up");
    // The demo login of the README works against the real binary.
    let (s, t) = {
        let r = reqwest::Client::new()
            .post(format!("{issuer}/token"))
            .basic_auth("example-app", Some("ZXhhbXBsZS1hcHAtc2VjcmV0"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        (r.status(), r.json::<serde_json::Value>().await.unwrap())
    };
    assert_eq!(
        (s, t["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unauthorized_client")),
        "the client authenticated; the grant is not its"
    );
    let m = reqwest::get(format!("http://127.0.0.1:{telemetry}/metrics"))
        .await
        .unwrap();
    assert_eq!(m.status(), StatusCode::OK);
    assert!(
        dir.path().join("var/gantry.db").exists(),
        "SQLite file under var/"
    );
    let pid = child.id().unwrap();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let out = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("demo login: admin@example.com / password"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("admin UI:  {issuer}/admin\n")),
        "{stderr}"
    );
}

async fn wait_up(issuer: &str) {
    for _ in 0..100 {
        if reqwest::get(format!("{issuer}/.well-known/openid-configuration"))
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("server did not come up");
}

#[tokio::test]
async fn with_json_logs_stderr_is_one_json_object_a_line_and_carries_the_audit_trail() {
    let (_dir, web, _, child) = serve_dev_config_with(Stdio::piped(), |t| {
        t.replace("  format: text", "  format: json")
    });
    let issuer = format!("http://127.0.0.1:{web}/dex");
    wait_up(&issuer).await;
    // A refused token: an audit line, never a row.
    let r = reqwest::Client::new()
        .post(format!("{issuer}/token"))
        .basic_auth("example-app", Some("ZXhhbXBsZS1hcHAtc2VjcmV0"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let out = stop(child).await;
    assert!(out.stdout.is_empty(), "stdout is not for logs");
    // Nothing but JSON: the banner too is a log event.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let audit: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["target"] == "gantry::audit")
        .map(|l| &l["fields"])
        .collect();
    assert!(
        audit.iter().any(|f| f["action"] == "token.issue"
            && f["outcome"] == "refused"
            && f["actor"] == "client:example-app"
            && f["audit_target"] == "client_credentials"),
        "{stderr}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "Gantry is running"
                && l["fields"]["admin"] == format!("{issuer}/admin")),
        "{stderr}"
    );
}

/// SIGTERM the server and collect what it wrote.
async fn stop(child: tokio::process::Child) -> std::process::Output {
    let pid = child.id().unwrap();
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .expect("exits after SIGTERM")
        .unwrap()
}

/// Logs go to stderr (stdout stays free for data) and, written to a pipe or a file, carry no
/// terminal colour codes.
#[tokio::test]
async fn text_logs_go_to_stderr_without_colour_codes_in_a_pipe() {
    let (_dir, web, _, child) = serve_dev_config(Stdio::piped());
    let issuer = format!("http://127.0.0.1:{web}/dex");
    wait_up(&issuer).await;
    let out = stop(child).await;
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("INFO"), "no log lines: {stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "colour codes in piped logs: {stderr:?}"
    );
}

/// The README's demo: admin@example.com signs in to the admin UI of the shipped dev config,
/// and no consent page stands between Gantry and its own UI.
#[tokio::test]
async fn the_demo_admin_of_the_dev_config_reaches_the_admin_ui_without_a_consent_page() {
    let (_dir, web, _, _child) = serve_dev_config(Stdio::null());
    let issuer = format!("http://127.0.0.1:{web}/dex");
    wait_up(&issuer).await;
    let b = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let at = |base: &str, loc: &str| {
        url::Url::parse(base)
            .unwrap()
            .join(loc)
            .unwrap()
            .to_string()
    };
    // To the login form.
    let mut url = format!("{issuer}/admin");
    let mut r = b.get(&url).send().await.unwrap();
    while r.status().is_redirection() {
        url = at(&url, location(&r));
        r = b.get(&url).send().await.unwrap();
    }
    let page = r.text().await.unwrap();
    let mut form = hidden_inputs(&page);
    form.push(("login".into(), "admin@example.com".into()));
    form.push(("password".into(), "password".into()));
    url = at(&url, &form_action(&page).unwrap().replace("&amp;", "&"));
    r = b.post(&url).form(&form).send().await.unwrap();
    // Every step after the password is a redirect, ending at the admin UI.
    let mut hops = 0;
    while r.status().is_redirection() && hops < 10 {
        url = at(&url, location(&r));
        r = b.get(&url).send().await.unwrap();
        hops += 1;
    }
    let status = r.status();
    let page = r.text().await.unwrap();
    assert!(
        !page.contains("name=\"approval\""),
        "a consent page: {page}"
    );
    assert_eq!(
        (status, url.as_str()),
        (StatusCode::OK, format!("{issuer}/admin").as_str()),
        "{page}"
    );
    assert!(page.contains("admin@example.com"), "{page}");
}

#[tokio::test]
async fn example_app_logs_in_shows_claims_and_refreshes() {
    let app = TestApp::start().await;
    let port = free_port();
    // `native` is public and takes any loopback port for /callback (RFC 8252).
    let _child = tokio::process::Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args([
            "example-app",
            "--issuer",
            &app.issuer,
            "--client-id",
            "native",
            "--client-secret",
            "unused",
        ])
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--redirect-uri",
            &format!("http://127.0.0.1:{port}/callback"),
        ])
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let browser = app.browser();
    let mut start = None;
    for _ in 0..100 {
        if let Ok(r) = browser.get(format!("{base}/login")).send().await {
            start = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = start.expect("example-app came up");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let auth = url::Url::parse(location(&r)).unwrap();
    assert!(auth.as_str().starts_with(&app.url("/auth")));
    let q: Vec<(String, String)> = auth
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    assert!(
        q.iter()
            .any(|(k, v)| k == "code_challenge_method" && v == "S256")
    );
    let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let back = app.login(&browser, &q, "dev@example.com", "password").await;
    let page = browser
        .get(&back)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("dev@example.com"), "{page}");
    assert!(page.contains("<li>developers</li>"), "{page}");
    let rt = hidden(&page, "refresh_token");
    let page = browser
        .post(format!("{base}/refresh"))
        .form(&[("refresh_token", rt.as_str())])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"claims\""), "{page}");
    assert_ne!(
        hidden(&page, "refresh_token"),
        rt,
        "refresh rotated the token"
    );
}

#[tokio::test]
async fn serve_speaks_tls_with_secure_cookies_when_web_https_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    let (ca, ca_key) = (dir.path().join("ca.crt"), dir.path().join("ca.key"));
    let openssl = |args: &[&str]| {
        let ok = std::process::Command::new("openssl")
            .current_dir(dir.path())
            .args(args)
            .stderr(Stdio::null())
            .status()
            .expect("openssl CLI (scripts/test.sh installs it)");
        assert!(ok.success(), "openssl {args:?}");
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    openssl(
        &[
            &[
                "req",
                "-x509",
                "-days",
                "1",
                "-subj",
                "/CN=test CA",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
            ][..],
            &ec,
        ]
        .concat(),
    );
    openssl(
        &[
            &[
                "req",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                "tls.key",
                "-out",
                "tls.csr",
            ][..],
            &ec,
        ]
        .concat(),
    );
    std::fs::write(
        dir.path().join("ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "tls.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "ext",
        "-out",
        "tls.crt",
    ]);
    assert!(ca_key.exists());
    let port = free_port();
    let issuer = format!("https://127.0.0.1:{port}/dex");
    let cfg = dir.path().join("tls.yaml");
    std::fs::write(
        &cfg,
        format!(
            "issuer: {issuer}\nstorage:\n  type: memory\nweb:\n  https: 127.0.0.1:{port}\n  tlsCert: {}\n  tlsKey: {}\n\
             staticClients:\n  - id: rp\n    secret: s\n    redirectURIs: [\"https://app.example/cb\"]\n\
             staticPasswords:\n  - email: a@example.com\n    hash: \"{}\"\n    username: a\n    userID: \"1\"\n",
            cert.display(),
            key.display(),
            gantry::password::hash("pw").unwrap()
        ),
    )
    .unwrap();
    let _child = tokio::process::Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(["serve", "--config"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pem = std::fs::read(&ca).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut disco = Err(String::new());
    for _ in 0..100 {
        match client
            .get(format!("{issuer}/.well-known/openid-configuration"))
            .send()
            .await
        {
            Ok(r) => {
                disco = Ok(r.json::<serde_json::Value>().await.unwrap());
                break;
            }
            Err(e) => disco = Err(format!("{e:?}")),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(disco.expect("https server came up")["issuer"], issuer);
    let r = client
        .get(format!("{issuer}/auth"))
        .query(&[
            ("client_id", "rp"),
            ("redirect_uri", "https://app.example/cb"),
            ("response_type", "code"),
            ("scope", "openid"),
            ("state", "s"),
        ])
        .send()
        .await
        .unwrap();
    let login = format!("https://127.0.0.1:{port}{}", location(&r));
    let r = client.get(login).send().await.unwrap();
    assert!(
        r.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .starts_with("max-age=")
    );
    // TLS 1.2 and 1.3 are spoken, 1.1 is refused (even by a client that would accept it).
    let handshake = |args: &[&str]| {
        std::process::Command::new("openssl")
            .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
    };
    assert!(handshake(&["-tls1_3"]), "TLS 1.3");
    assert!(handshake(&["-tls1_2"]), "TLS 1.2");
    assert!(
        !handshake(&["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"]),
        "TLS 1.1 refused"
    );
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("; Secure")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Lax")
            && cookie.contains("Path=/dex"),
        "{cookie}"
    );

    // The kubectl plugin trusts a private CA with --ca-file, and says clearly when it cannot.
    let plugin = |ca: Option<&std::path::Path>| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_gantry"));
        c.args([
            "kubectl",
            "credential",
            "--issuer",
            &issuer,
            "--client-id",
            "rp",
            "--client-secret",
            "s",
            "--device",
            "--timeout",
            "2s",
        ]);
        if let Some(ca) = ca {
            c.arg("--ca-file").arg(ca);
        }
        c.env("GANTRY_KUBE_CACHE_DIR", dir.path().join("kube"))
            .output()
            .unwrap()
    };
    let out = plugin(None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("issuer unreachable"),
        "{err}"
    );
    assert!(
        out.stdout.is_empty(),
        "nothing but an ExecCredential goes to stdout"
    );
    let out = plugin(Some(&ca));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("enter the code"),
        "with the CA the device flow starts: {err}"
    );
    assert!(err.contains("login timed out"), "{err}");
}

#[tokio::test]
async fn a_stopping_server_finishes_the_request_in_flight_and_takes_no_new_one() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_dir, web, _, child) = serve_dev_config(Stdio::null());
    let mut up = false;
    for _ in 0..100 {
        if reqwest::get(format!("http://127.0.0.1:{web}/dex/healthz"))
            .await
            .is_ok()
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "server did not come up");
    // A token request whose body is still on its way when the server is told to stop.
    let body = "grant_type=client_credentials";
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", web))
        .await
        .unwrap();
    let head = format!(
        "POST /dex/token HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Authorization: Basic ZXhhbXBsZS1hcHA6WlhoaGJYQnNaUzFoY0hBdGMyVmpjbVYw\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(&body.as_bytes()[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = child.id().unwrap();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", web))
            .await
            .is_err(),
        "a stopping server takes no new connection"
    );
    conn.write_all(&body.as_bytes()[10..]).await.unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("unauthorized_client"), "{answer}");
    let out = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .expect("exits once the request is answered")
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The requests of the access-log tests, each with an id of its own: (request id, method,
/// route the line must name, status). Queries carry `SECRET`, which no line may show.
const ACCESS_REQUESTS: &[(&str, &str, &str, u16)] = &[
    ("access-auth", "GET", "/dex/auth", 303),
    ("access-token", "POST", "/dex/token", 400),
    ("access-keys", "GET", "/dex/keys", 200),
    ("access-unmatched", "GET", "unmatched", 404),
];

/// Send [`ACCESS_REQUESTS`] and the probes, then stop the server: everything it wrote, both
/// streams (log lines go to one of them, the banner to the other).
async fn serve_and_send_access_requests(json: bool) -> String {
    let (_dir, web, telemetry, child) = serve_dev_config_with(Stdio::piped(), |t| {
        if json {
            t.replace("  format: text", "  format: json")
        } else {
            t
        }
    });
    let issuer = format!("http://127.0.0.1:{web}/dex");
    wait_up(&issuer).await;
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let auth = format!(
        "{issuer}/auth?client_id=example-app&redirect_uri=http%3A%2F%2F127.0.0.1%3A5555%2Fcallback\
         &response_type=code&scope=openid&state=SECRET-STATE"
    );
    let sent = [
        c.get(auth),
        c.post(format!("{issuer}/token?code=SECRET-CODE"))
            .basic_auth("example-app", Some("ZXhhbXBsZS1hcHAtc2VjcmV0"))
            .form(&[("grant_type", "client_credentials")]),
        c.get(format!("{issuer}/keys?SECRET-KEYS")),
        c.get(format!("{issuer}/no/such/SECRET-PATH?token=SECRET-TOKEN")),
    ];
    for (rb, (id, _, route, status)) in sent.into_iter().zip(ACCESS_REQUESTS) {
        let r = rb.header("x-request-id", *id).send().await.unwrap();
        assert_eq!(r.status().as_u16(), *status, "{route}");
    }
    for (url, id) in [
        (format!("{issuer}/healthz"), "probe-live"),
        (format!("{issuer}/healthz/ready"), "probe-ready"),
        (format!("http://127.0.0.1:{telemetry}/metrics"), "scrape"),
    ] {
        let r = c.get(url).header("x-request-id", id).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{id}");
    }
    let out = stop(child).await;
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test]
async fn each_request_gets_one_access_line_naming_its_route_and_never_its_query() {
    let out = serve_and_send_access_requests(false).await;
    for quiet in ["probe-live", "probe-ready", "scrape"] {
        assert!(!out.contains(quiet), "{quiet} logged at info: {out}");
    }
    for (id, method, route, status) in ACCESS_REQUESTS {
        let lines: Vec<&str> = out
            .lines()
            .filter(|l| l.contains("gantry::access") && l.contains(id))
            .collect();
        assert_eq!(lines.len(), 1, "{id}: {out}");
        let l = lines[0];
        assert!(l.contains(" INFO "), "{l}");
        for field in [
            format!("method={method}"),
            format!("route=\"{route}\""),
            format!("status={status}"),
            format!("request_id=\"{id}\""),
            "latency_ms=".to_string(),
        ] {
            assert!(l.contains(&field), "{field} missing: {l}");
        }
    }
    assert!(!out.contains("SECRET"), "a path or query was logged: {out}");
}

#[tokio::test]
async fn json_access_lines_carry_the_fields_as_values() {
    let out = serve_and_send_access_requests(true).await;
    let access: Vec<serde_json::Value> = out
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .filter(|l: &serde_json::Value| l["target"] == "gantry::access")
        .collect();
    let quiet = ["probe-live", "probe-ready", "scrape"];
    assert!(
        access
            .iter()
            .all(|l| !quiet.contains(&l["fields"]["request_id"].as_str().unwrap_or_default())),
        "{access:?}"
    );
    for (id, method, route, status) in ACCESS_REQUESTS {
        let mine: Vec<&serde_json::Value> = access
            .iter()
            .filter(|l| l["fields"]["request_id"] == *id)
            .collect();
        assert_eq!(mine.len(), 1, "{id}: {access:?}");
        let f = &mine[0]["fields"];
        assert_eq!(mine[0]["level"], "INFO");
        assert_eq!(
            (
                f["method"].as_str(),
                f["route"].as_str(),
                f["status"].as_u64()
            ),
            (Some(*method), Some(*route), Some(u64::from(*status))),
            "{f}"
        );
        assert!(f["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{f}");
    }
    assert!(!out.contains("SECRET"), "a path or query was logged: {out}");
}

/// Like Dex, the server reads an unset `$VAR` as empty, and says so at start.
#[tokio::test]
async fn serve_warns_of_each_unset_variable_it_reads_as_empty() {
    let (_dir, web, _, child) = serve_dev_config_with(Stdio::piped(), |t| {
        t.replace(
            "gantry.db\n",
            "gantry.db\n    password: $GANTRY_TEST_UNSET_DB_PASSWORD\n",
        )
    });
    wait_up(&format!("http://127.0.0.1:{web}/dex")).await;
    let out = stop(child).await;
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(
        logs.contains("storage.config.password: `$GANTRY_TEST_UNSET_DB_PASSWORD` is not set"),
        "{logs}"
    );
}

/// Dex's files write listen addresses as Go reads them: `:5556` is every address.
#[tokio::test]
async fn serve_listens_on_every_address_for_go_s_port_only_form() {
    let (_dir, web, _, child) =
        serve_dev_config_with(Stdio::piped(), |t| t.replace("http: 127.0.0.1:", "http: :"));
    let issuer = format!("http://127.0.0.1:{web}/dex");
    wait_up(&issuer).await;
    let out = stop(child).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("listening on http://[::]:{web}"))
            || stderr.contains(&format!("listening on http://0.0.0.0:{web}")),
        "{stderr}"
    );
}
