//! The registry token service against a real docker-registry (distribution 2.8), with skopeo
//! pushing and pulling an OCI image built here. The registry, started once by
//! scripts/test.sh, sends clients to a fixed realm port: the tests that push hold [`REALM`]
//! while they bind it.

use std::path::Path;
use tokio::process::Command;

use gantry::storage::passwords::PasswordRow;
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;

/// The registry's fixed realm port, one Gantry at a time.
pub static REALM: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub fn env(k: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| {
        panic!("{k} is not set. Run the tests through scripts/test.sh, which starts docker-registry with token auth pointed at the test's Gantry")
    })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A one-file uncompressed tar archive.
fn tar(name: &str, data: &[u8]) -> Vec<u8> {
    let mut h = [0u8; 512];
    let put = |h: &mut [u8; 512], at: usize, s: &[u8]| h[at..at + s.len()].copy_from_slice(s);
    put(&mut h, 0, name.as_bytes());
    put(&mut h, 100, b"0000644\0");
    put(&mut h, 108, b"0000000\0");
    put(&mut h, 116, b"0000000\0");
    put(&mut h, 124, format!("{:011o}\0", data.len()).as_bytes());
    put(&mut h, 136, b"00000000000\0");
    put(&mut h, 148, b"        ");
    h[156] = b'0';
    put(&mut h, 257, b"ustar\0");
    put(&mut h, 263, b"00");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    put(&mut h, 148, format!("{sum:06o}\0 ").as_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// A single-layer OCI image layout in `dir`, tagged `v1`; different `text` gives a new image.
pub fn oci_image(dir: &Path, text: &str) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |b: &[u8]| {
        let d = hex(&gantry::secret::sha256(b));
        std::fs::write(blobs.join(&d), b).unwrap();
        (format!("sha256:{d}"), b.len())
    };
    let layer = tar("hello.txt", text.as_bytes());
    let (layer_digest, layer_size) = put(&layer);
    let config = serde_json::json!({"architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]}})
    .to_string();
    let (config_digest, config_size) = put(config.as_bytes());
    let manifest = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer_size}]}).to_string();
    let (manifest_digest, manifest_size) = put(manifest.as_bytes());
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": manifest_digest, "size": manifest_size, "annotations": {"org.opencontainers.image.ref.name": "v1"}}]});
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
}

/// A refusal by the registry (after Gantry granted less), not some other failure.
pub fn refused(r: Result<(), String>) -> bool {
    match r {
        Ok(()) => false,
        Err(e) => {
            let e = e.to_lowercase();
            assert!(
                e.contains("denied")
                    || e.contains("unauthorized")
                    || e.contains("authentication required"),
                "failed for another reason: {e}"
            );
            true
        }
    }
}

pub struct Skopeo {
    pub registry: String,
    pub image: tempfile::TempDir,
}

impl Skopeo {
    // Async: the Gantry under test runs on this test's runtime, and a blocking wait would
    // starve it while skopeo asks it for tokens.
    pub async fn push(&self, creds: &str, repo: &str) -> Result<(), String> {
        let out = Command::new("skopeo")
            .args([
                "--insecure-policy",
                "copy",
                "--dest-tls-verify=false",
                "--dest-creds",
                creds,
            ])
            .arg(format!("oci:{}:v1", self.image.path().display()))
            .arg(format!("docker://{}/{repo}", self.registry))
            .output()
            .await
            .expect("skopeo runs (scripts/test.sh installs it)");
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    pub async fn pull(&self, creds: &str, repo: &str) -> Result<(), String> {
        let dest = tempfile::tempdir().unwrap();
        let out = Command::new("skopeo")
            .args([
                "--insecure-policy",
                "copy",
                "--src-tls-verify=false",
                "--src-creds",
                creds,
            ])
            .arg(format!("docker://{}/{repo}", self.registry))
            .arg(format!("oci:{}:pulled", dest.path().display()))
            .output()
            .await
            .expect("skopeo runs");
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

/// The issue's example policy, with the clusters it names.
const POLICY: &str = EXAMPLE_POLICY;

pub async fn add_user(app: &TestApp, email: &str, groups: &[&str]) {
    app.admin
        .db
        .create_password(&PasswordRow {
            email: email.into(),
            hash: gantry::password::hash("pw-123").unwrap(),
            username: email.split('@').next().unwrap().into(),
            user_id: email.into(),
            groups_json: serde_json::to_string(groups).unwrap(),
            created_at: 0,
            disabled_at: None,
            version: "v1".into(),
        })
        .await
        .unwrap();
}

pub async fn token(
    app: &TestApp,
    creds: Option<(&str, &str)>,
    query: &[(&str, &str)],
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut r = reqwest::Client::new()
        .get(app.url("/registry/token"))
        .query(query);
    if let Some((u, p)) = creds {
        r = r.basic_auth(u, Some(p));
    }
    let r = r.send().await.unwrap();
    let (s, h) = (r.status(), r.headers().clone());
    (s, h, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn skopeo_pushes_and_pulls_as_the_policy_allows() {
    let _realm = REALM.lock().await;
    let realm_port: u16 = env("GANTRY_TEST_REGISTRY_REALM_PORT").parse().unwrap();
    let extra = format!(
        "{POLICY}registry:\n  loginClients: [native]\n  caCert: {}\n  caKey: {}\n  services:\n    - {{ name: registry.test, issuer: gantry-test, tokenTTL: 5m }}\n",
        env("GANTRY_TEST_REGISTRY_CA_CERT"),
        env("GANTRY_TEST_REGISTRY_CA_KEY")
    );
    let app = TestApp::start_with(Opts {
        port: Some(realm_port),
        extra_yaml: extra,
        ..Default::default()
    })
    .await;
    for (u, g) in [
        ("ann@example.com", &["team-a"][..]),
        ("root@example.com", &["platform-admins"]),
        ("carl@example.com", &["platform-admins", "contractors"]),
        ("nobody@example.com", &[]),
    ] {
        add_user(&app, u, g).await;
    }
    let sk = Skopeo {
        registry: env("GANTRY_TEST_REGISTRY"),
        image: tempfile::tempdir().unwrap(),
    };
    oci_image(
        sk.image.path(),
        &format!("hello {}\n", gantry::secret::random_token(6)),
    );
    let (ann, root, carl, nobody) = (
        "ann@example.com:pw-123",
        "root@example.com:pw-123",
        "carl@example.com:pw-123",
        "nobody@example.com:pw-123",
    );

    // A team member pushes and pulls the team's repository, and nothing of another team.
    sk.push(ann, "team-a/app:v1").await.unwrap();
    sk.pull(ann, "team-a/app:v1").await.unwrap();
    assert!(
        refused(sk.push(ann, "team-b/app:v1").await),
        "ann is not in team-b"
    );
    // Everyone signed in pulls library/; only admins push there.
    assert!(refused(sk.push(ann, "library/base:v1").await));
    sk.push(root, "library/base:v1").await.unwrap();
    sk.pull(nobody, "library/base:v1").await.unwrap();
    // A user outside every other rule gets nothing else.
    assert!(refused(sk.pull(nobody, "team-a/app:v1").await));
    assert!(refused(sk.push(nobody, "nobody/app:v1").await));
    // The deny rule wins over the contractor's admin group; pulls stay allowed.
    sk.push(root, "prod/api:v1").await.unwrap();
    assert!(
        refused(sk.push(carl, "prod/api:v2").await),
        "contractors never push to prod/"
    );
    sk.pull(carl, "prod/api:v1").await.unwrap();
    // Wrong password: no token, no pull.
    assert!(
        sk.pull("ann@example.com:nope", "library/base:v1")
            .await
            .is_err()
    );

    // The catalog, for admins only: the registry checks the token's access.
    let registry = format!("http://{}", env("GANTRY_TEST_REGISTRY"));
    for (user, listed) in [("root@example.com", true), ("ann@example.com", false)] {
        let (_, _, t) = token(
            &app,
            Some((user, "pw-123")),
            &[
                ("service", "registry.test"),
                ("scope", "registry:catalog:*"),
            ],
        )
        .await;
        let r = reqwest::Client::new()
            .get(format!("{registry}/v2/_catalog"))
            .bearer_auth(t["token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        if listed {
            assert_eq!(r.status(), StatusCode::OK);
            let c: Value = r.json().await.unwrap();
            let repos: Vec<&str> = c["repositories"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|v| v.as_str())
                .collect();
            assert!(
                repos.contains(&"team-a/app") && repos.contains(&"library/base"),
                "{c}"
            );
        } else {
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        }
    }

    // After a signing-key rotation the registry still verifies: the chain leads to its CA.
    let kid = |t: &Value| {
        jsonwebtoken::decode_header(t["token"].as_str().unwrap())
            .unwrap()
            .kid
            .unwrap()
    };
    let (_, _, before) = token(
        &app,
        Some(("ann@example.com", "pw-123")),
        &[
            ("service", "registry.test"),
            ("scope", "repository:team-a/app:pull"),
        ],
    )
    .await;
    app.provider.keys.rotate_now().await.unwrap();
    let (_, _, after) = token(
        &app,
        Some(("ann@example.com", "pw-123")),
        &[
            ("service", "registry.test"),
            ("scope", "repository:team-a/app:pull"),
        ],
    )
    .await;
    assert_ne!(kid(&before), kid(&after));
    oci_image(sk.image.path(), "after rotation\n");
    sk.push(ann, "team-a/app:v2").await.unwrap();
    sk.pull(ann, "team-a/app:v2").await.unwrap();

    // An SSO user has no password to type: `gantry registry login` through the browser, then
    // skopeo pushes with the credential helper.
    let home = tempfile::tempdir().unwrap();
    let store = home.path().join("registries.json");
    let mut login = tokio::process::Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args([
            "registry",
            "login",
            &sk.registry,
            "--issuer",
            &app.issuer,
            "--client-id",
            "native",
            "--no-browser",
        ])
        .env("GANTRY_CREDENTIALS", &store)
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines =
        tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(login.stderr.take().unwrap()));
    let mut url = None;
    while let Some(l) = lines.next_line().await.unwrap() {
        if let Some(u) = l.trim().strip_prefix("http") {
            url = Some(format!("http{u}"));
            break;
        }
    }
    let url = url::Url::parse(&url.expect("the login URL is printed")).unwrap();
    assert!(url.as_str().starts_with(&app.url("/auth")));
    let q: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let callback = app
        .login(&app.browser(), &q, "ann@example.com", "pw-123")
        .await;
    assert!(callback.starts_with("http://127.0.0.1:"), "{callback}");
    assert!(reqwest::get(&callback).await.unwrap().status().is_success());
    assert!(
        login.wait().await.unwrap().success(),
        "registry login finished"
    );
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&store).unwrap()).unwrap();
    assert!(saved["registries"][&sk.registry]["identity_token"].is_string());
    assert_eq!(
        saved["issuers"][&sk.registry], app.issuer,
        "the issuer is pinned for the registry"
    );
    // The next login needs no --issuer: the pinned one is used, and the login URL shows.
    let mut again = tokio::process::Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args([
            "registry",
            "login",
            &sk.registry,
            "--client-id",
            "native",
            "--no-browser",
        ])
        .env("GANTRY_CREDENTIALS", &store)
        .env_remove("GANTRY_REGISTRY_ISSUER")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines =
        tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(again.stderr.take().unwrap()));
    let url = loop {
        let l = lines
            .next_line()
            .await
            .unwrap()
            .expect("a login URL, not an error");
        if l.trim().starts_with("http") {
            break l.trim().to_string();
        }
        assert!(!l.contains("registry login:"), "{l}");
    };
    assert!(url.starts_with(&app.url("/auth")), "{url}");
    again.kill().await.unwrap();

    let bin = home.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_gantry"),
        bin.join("docker-credential-gantry"),
    )
    .unwrap();
    let authfile = home.path().join("auth.json");
    std::fs::write(
        &authfile,
        serde_json::json!({"credHelpers": {sk.registry.clone(): "gantry"}}).to_string(),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    oci_image(sk.image.path(), "pushed by an SSO user\n");
    let out = Command::new("skopeo")
        .args([
            "--insecure-policy",
            "copy",
            "--dest-tls-verify=false",
            "--authfile",
        ])
        .arg(&authfile)
        .arg(format!("oci:{}:v1", sk.image.path().display()))
        .arg(format!("docker://{}/team-a/sso:v1", sk.registry))
        .env("PATH", path)
        .env("GANTRY_CREDENTIALS", &store)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo with the credential helper: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn registry_tokens_have_the_registry_shape_and_bad_requests_get_registry_errors() {
    let extra = format!(
        "{POLICY}registry:\n  services:\n    - {{ name: registry.test, issuer: gantry-test, tokenTTL: 90s }}\n"
    );
    let app = TestApp::start_with(Opts {
        extra_yaml: extra,
        ..Default::default()
    })
    .await;
    add_user(&app, "ann@example.com", &["team-a"]).await;
    let creds = Some(("ann@example.com", "pw-123"));
    let q = [
        ("service", "registry.test"),
        ("scope", "repository:team-a/app:pull,push"),
        (
            "scope",
            "repository:127.0.0.1:5000/library/x:pull,push,delete",
        ),
        ("account", "ann@example.com"),
    ];
    let (s, _, t) = token(&app, creds, &q).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(t["token"], t["access_token"]);
    assert_eq!(t["expires_in"], 90);
    assert!(t["issued_at"].as_str().unwrap().ends_with('Z'));
    let header = jsonwebtoken::decode_header(t["token"].as_str().unwrap()).unwrap();
    assert_eq!(header.x5c.as_ref().map(Vec::len), Some(2), "leaf and CA");
    // Registries that verify with a JWKS (distribution 3.x) find the key by its RFC 7638 kid.
    let jwks: Value = reqwest::get(app.url("/registry/keys"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"].as_str() == header.kid.as_deref())
    );
    let c = jwt_claims(t["token"].as_str().unwrap());
    assert_eq!(
        (c["iss"].as_str(), c["aud"].as_str(), c["sub"].as_str()),
        (Some("gantry-test"), Some("registry.test"), Some("ann"))
    );
    assert!(c["nbf"].is_i64() && c["jti"].is_string());
    assert_eq!(
        c["access"],
        serde_json::json!([
            {"type": "repository", "name": "team-a/app", "actions": ["pull", "push"]},
            {"type": "repository", "name": "127.0.0.1:5000/library/x", "actions": []}
        ]),
        "granted is the intersection; the registry refuses the rest"
    );
    // The CA in the chain is the one `gantry registry ca` would print, and the chain verifies.
    let ca_pem = app.registry.registry.ca.cert_pem();
    assert!(ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));

    // The OAuth2 POST variant adds `scope`.
    let r = reqwest::Client::new()
        .post(app.url("/registry/token"))
        .form(&[
            ("grant_type", "password"),
            ("service", "registry.test"),
            ("client_id", "docker"),
            ("username", "ann@example.com"),
            ("password", "pw-123"),
            ("scope", "repository:team-a/app:pull"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["scope"], "repository:team-a/app:pull");

    // Bad input: the registry's error shape, a challenge on 401, nothing issued.
    let (s, h, b) = token(&app, None, &q).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(
        h["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic realm=")
    );
    assert_eq!(b["errors"][0]["code"], "UNAUTHORIZED");
    let (s, _, b) = token(&app, Some(("ann@example.com", "wrong")), &q).await;
    assert_eq!(
        (s, b["errors"][0]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("UNAUTHORIZED"))
    );
    assert!(b.get("token").is_none());
    for bad in [
        vec![("service", "nope"), ("scope", "repository:a:pull")],
        vec![("scope", "repository:a:pull")],
        vec![("service", "registry.test"), ("scope", "repository:A:pull")],
        vec![("service", "registry.test"), ("scope", "repository")],
        vec![("service", "registry.test"), ("service", "registry.test")],
        // Inside team-a's glob as text, outside it as a path; not a repository name at all.
        vec![
            ("service", "registry.test"),
            ("scope", "repository:team-a/../prod/app:push"),
        ],
        vec![
            ("service", "registry.test"),
            ("scope", "repository:team-a/./app:pull"),
        ],
    ] {
        let (s, _, b) = token(&app, creds, &bad).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad:?}");
        assert!(b["errors"][0]["message"].is_string(), "{b}");
    }
    let r = reqwest::Client::new()
        .post(app.url("/registry/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("service", "registry.test"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );
}

#[tokio::test]
async fn only_access_tokens_issued_to_a_listed_audience_are_registry_passwords() {
    let extra = format!(
        "{POLICY}registry:\n  services:\n    - {{ name: registry.test, issuer: gantry-test, accessTokenAudiences: [ci-bot] }}\n    - {{ name: open.test, issuer: gantry-test, accessTokenAudiences: [rp] }}\n    - {{ name: none.test, issuer: gantry-test }}\n"
    );
    let app = TestApp::start_with(Opts {
        extra_yaml: extra,
        ..Default::default()
    })
    .await;
    // An access token the example app `rp` holds for its user.
    let t = app.tokens("openid groups").await;
    let access = t["access_token"].as_str().unwrap();
    let ask = |service: &'static str| {
        let app = &app;
        async move {
            token(
                app,
                Some(("admin", access)),
                &[
                    ("service", service),
                    ("scope", "repository:team-a/app:pull"),
                ],
            )
            .await
        }
    };
    // Issued to rp: not a password where only ci-bot's tokens are, nor where none are.
    let (s, h, b) = ask("registry.test").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    assert!(h.contains_key("www-authenticate"));
    assert_eq!(b["errors"][0]["code"], "UNAUTHORIZED");
    assert_eq!(ask("none.test").await.0, StatusCode::UNAUTHORIZED);
    // Where rp's tokens are listed, the same token would be the user's password, but without
    // `profile` it does not say the login name the policy knows the user by.
    let (s, _, b) = ask("open.test").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    assert!(
        b["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("profile"),
        "{b}"
    );
    // With it, the user is judged under the name a password login gives: the same `sub`.
    let t = app.tokens("openid profile groups").await;
    let with_profile = t["access_token"].as_str().unwrap();
    let (s, _, b) = token(
        &app,
        Some(("admin", with_profile)),
        &[
            ("service", "open.test"),
            ("scope", "repository:team-a/app:pull"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let by_token = jwt_claims(b["token"].as_str().unwrap());
    assert_eq!(by_token["aud"], "open.test");
    let (s, _, b) = token(
        &app,
        Some(("admin@example.com", "password")),
        &[
            ("service", "open.test"),
            ("scope", "repository:team-a/app:pull"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        by_token["sub"],
        jwt_claims(b["token"].as_str().unwrap())["sub"]
    );
    assert_eq!(by_token["sub"], "admin");
}

#[tokio::test]
async fn checked_credentials_are_cached_briefly_and_a_removed_user_stops_within_the_cache_lifetime()
{
    let extra = format!(
        "{POLICY}registry:\n  services:\n    - {{ name: registry.test, issuer: gantry-test }}\n"
    );
    let app = TestApp::start_with(Opts {
        extra_yaml: extra,
        ..Default::default()
    })
    .await;
    add_user(&app, "ann@example.com", &["team-a"]).await;
    let q = [
        ("service", "registry.test"),
        ("scope", "repository:team-a/app:pull"),
    ];
    for _ in 0..5 {
        assert_eq!(
            token(&app, Some(("ann@example.com", "pw-123")), &q).await.0,
            StatusCode::OK
        );
    }
    let m = reqwest::get(app.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains("gantry_logins_total{connector=\"local\",result=\"success\"} 1\n"),
        "one password check for five tokens:\n{m}"
    );
    // A wrong password is never answered from the cache.
    assert_eq!(
        token(&app, Some(("ann@example.com", "pw-124")), &q).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Remove the user: cached for at most the cache lifetime.
    let pool = app.pool().await;
    sqlx::query("DELETE FROM passwords WHERE email = 'ann@example.com'")
        .execute(&pool)
        .await
        .unwrap();
    app.clock
        .advance(gantry::registry::CREDENTIAL_CACHE_SECS + 1);
    assert_eq!(
        token(&app, Some(("ann@example.com", "pw-123")), &q).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn identity_tokens_stand_in_for_passwords_until_revoked() {
    let extra = format!(
        "{POLICY}registry:\n  services:\n    - {{ name: registry.test, issuer: gantry-test }}\n"
    );
    let app = TestApp::start_with(Opts {
        extra_yaml: extra,
        ..Default::default()
    })
    .await;
    add_user(&app, "ann@example.com", &["team-a"]).await;
    let post = |form: Vec<(&'static str, String)>| {
        let url = app.url("/registry/token");
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .form(&form)
                .send()
                .await
                .unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }
    };
    let base = |grant: &'static str| {
        vec![
            ("grant_type", grant.to_string()),
            ("service", "registry.test".to_string()),
            ("client_id", "docker".to_string()),
            ("scope", "repository:team-a/app:pull,push".to_string()),
        ]
    };
    let mut f = base("password");
    f.extend([
        ("username", "ann@example.com".into()),
        ("password", "pw-123".into()),
        ("access_type", "offline".into()),
    ]);
    let (s, b) = post(f).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let identity = b["refresh_token"]
        .as_str()
        .expect("an identity token for offline access")
        .to_string();
    let mut f = base("refresh_token");
    f.push(("refresh_token", identity.clone()));
    let (s, b) = post(f.clone()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["scope"], "repository:team-a/app:pull,push");
    assert!(
        b.get("refresh_token").is_none(),
        "the identity token is kept, not rotated"
    );
    // The same token as Basic `<token>` credentials on GET, as credential helpers hand it over.
    let (s, _, b) = token(
        &app,
        Some(("<token>", &identity)),
        &[
            ("service", "registry.test"),
            ("scope", "repository:team-a/app:pull"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // A password-grant refresh token of an OAuth client is not a registry identity token.
    let t = app.tokens("openid offline_access").await;
    let (s, _, _) = token(
        &app,
        Some(("<token>", t["refresh_token"].as_str().unwrap())),
        &[("service", "registry.test")],
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Revoked: refused at once, though its connector's answer is still cached.
    let (row, _) = app.provider.find_refresh(&identity).await.unwrap().unwrap();
    app.admin
        .db
        .revoke_refresh_family(&row.family_id, gantry::clock::Clock::now(&app.clock))
        .await
        .unwrap();
    let (s, b) = post(f).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

#[test]
fn registry_ca_prints_one_stable_ca_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gantry.yaml");
    std::fs::write(
        &path,
        format!("issuer: http://127.0.0.1:1/dex\nstorage: {{type: sqlite3, config: {{file: {}/g.db}}}}\nweb: {{http: 127.0.0.1:1}}\n", dir.path().display()),
    )
    .unwrap();
    let run = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_gantry"))
            .args(["registry", "ca", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let first = run();
    assert_eq!(first, run(), "made once, then kept in the database");
    std::fs::write(dir.path().join("ca.pem"), &first).unwrap();
    let text = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(dir.path().join("ca.pem"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("CA:TRUE") && text.contains("Gantry registry token CA"),
        "{text}"
    );
}

#[test]
fn the_credential_helper_speaks_dockers_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("docker-credential-gantry");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_gantry"), &bin).unwrap();
    let store = dir.path().join("creds.json");
    let helper = |action: &str, input: &str| {
        use std::io::Write;
        let mut c = std::process::Command::new(&bin)
            .arg(action)
            .env("GANTRY_CREDENTIALS", &store)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        let out = c.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
        )
    };
    let (ok, out) = helper("get", "https://reg.example.com:5000");
    assert!(!ok && out.contains("credentials not found"));
    assert!(
        helper(
            "store",
            r#"{"ServerURL":"https://reg.example.com:5000","Username":"<token>","Secret":"s3cret"}"#
        )
        .0
    );
    let (ok, out) = helper("get", "reg.example.com:5000\n");
    assert!(ok);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["Username"].as_str(), v["Secret"].as_str()),
        (Some("<token>"), Some("s3cret"))
    );
    let (ok, out) = helper("list", "");
    assert!(ok && out.contains("reg.example.com:5000"));
    assert!(helper("erase", "https://reg.example.com:5000").0);
    assert!(!helper("get", "reg.example.com:5000").0);
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&store).unwrap().permissions());
    assert_eq!(mode & 0o077, 0, "the store is readable by its owner only");
}
