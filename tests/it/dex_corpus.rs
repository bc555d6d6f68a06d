//! Dex's own example files and connector doc examples (tests/dex/, copied unchanged) through
//! `gantry check-config`: what a Dex user has must load. Only paths to certificates and the
//! `$VAR`s of secrets are adapted, here: certificate files are made where the file looks for
//! them (absolute paths are moved into a temp dir), and every `$VAR` is set.

use std::path::{Path, PathBuf};
use std::process::Command;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/dex");

/// Connector types of Dex that Gantry does not have yet: their examples must fail on the type
/// alone (and pass once the type lands, which fails this test until the entry goes).
const NOT_YET: &[&str] = &[];

/// The head of the config around a doc example that shows only `connectors:`.
const HEAD: &str = "issuer: http://127.0.0.1:5556/dex\nstorage: {type: sqlite3, config: {file: dex.db}}\nweb: {http: 127.0.0.1:5556}\n";

/// An LDAP connector around the LDAP page's `userSearch:`/`groupSearch:` fragments.
fn ldap_around(fragment: &str) -> String {
    let mut s = format!(
        "{HEAD}connectors:\n- type: ldap\n  id: ldap\n  name: LDAP\n  config:\n    host: ldap.example.com:636\n    bindDN: cn=admin,dc=example,dc=com\n    bindPW: $LDAP_BIND_PW\n"
    );
    if !fragment.starts_with("userSearch:") {
        s.push_str("    userSearch: {baseDN: \"dc=example,dc=com\", username: uid}\n");
    }
    for line in fragment.lines() {
        s.push_str("    ");
        s.push_str(line);
        s.push('\n');
    }
    s
}

/// The `config.yaml` of the ConfigMap in a Kubernetes manifest, as a pod would see it mounted.
fn config_map_config(manifest: &str) -> String {
    for doc in manifest.split("\n---") {
        let v: serde_json::Value = serde_norway::from_str(doc).unwrap_or_default();
        if v["kind"] == "ConfigMap"
            && let Some(c) = v["data"]["config.yaml"].as_str()
        {
            return c.to_string();
        }
    }
    panic!("no ConfigMap with config.yaml in the manifest");
}

fn cert_pair(dir: &Path, cert: &str, key: &str) {
    let k = rcgen::KeyPair::generate().unwrap();
    let c = rcgen::CertificateParams::new(vec!["dex.example.com".to_string()])
        .unwrap()
        .self_signed(&k)
        .unwrap();
    for (name, pem) in [(cert, c.pem()), (key, k.serialize_pem())] {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, pem).unwrap();
    }
}

/// `text` ready to check in `dir`: certificate files made, absolute paths moved into `dir`.
fn adapt(text: &str, dir: &Path) -> String {
    let mut text = text.to_string();
    for (path, key) in [
        ("/etc/dex/tls/tls.crt", Some("/etc/dex/tls/tls.key")),
        ("openid-ca.pem", Some("openid-key.pem")),
        ("/etc/dex/ca.crt", None),
        ("/etc/dex/ldap.ca", None),
        ("ca.crt", None),
        ("/path/to/ca.pem", None),
        ("/etc/dex/saml-ca.pem", None),
    ] {
        if !text.contains(path) {
            continue;
        }
        let local = |p: &str| p.trim_start_matches('/').to_string();
        let key_name = key.map_or_else(|| format!("{}.key", local(path)), local);
        cert_pair(dir, &local(path), &key_name);
        if path.starts_with('/') {
            let moved = dir.join(local(path)).display().to_string();
            text = text.replace(&format!(" {path}"), &format!(" {moved}"));
            if let Some(k) = key {
                text = text.replace(
                    &format!(" {k}"),
                    &format!(" {}", dir.join(local(k)).display()),
                );
            }
        }
    }
    std::fs::create_dir_all(dir.join("examples")).unwrap();
    text
}

/// Every `$NAME` the text reads, set, as a deployment sets its secrets.
fn variables(text: &str) -> Vec<String> {
    let mut names: Vec<String> = text
        .split('$')
        .skip(1)
        .map(|rest| {
            rest.trim_start_matches('{')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|n| !n.is_empty() && !n.starts_with(|c: char| c.is_ascii_digit()))
        .collect();
    names.sort();
    names.dedup();
    names
}

struct Checked {
    name: String,
    ok: bool,
    said: String,
}

fn check(name: &str, text: &str) -> Checked {
    let dir = tempfile::tempdir().unwrap();
    let text = adapt(text, dir.path());
    let path: PathBuf = dir.path().join("config.yaml");
    std::fs::write(&path, &text).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gantry"));
    cmd.arg("check-config").arg(&path).current_dir(dir.path());
    for v in variables(&text) {
        cmd.env(v, "from-the-environment");
    }
    let out = cmd.output().unwrap();
    Checked {
        name: name.to_string(),
        ok: out.status.success(),
        said: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// The last line of `check-config`: `FILE: N problem(s) (...)`.
fn summary(line: &str) -> bool {
    line.split_once(": ").is_some_and(|(_, rest)| {
        rest.split_once(' ')
            .is_some_and(|(n, w)| n.parse::<u32>().is_ok() && w.starts_with("problem"))
    })
}

const K8S_STORAGE: &str = "storage:\n  type: kubernetes\n  config:\n    inCluster: true\n";

/// Dex's manifest as it is: its storage refused with the way out, and nothing else about it.
#[test]
fn dex_kubernetes_storage_is_refused_with_the_way_out() {
    let raw = std::fs::read_to_string(Path::new(CORPUS).join("examples/k8s-dex.yaml")).unwrap();
    let text = config_map_config(&raw);
    assert!(text.contains(K8S_STORAGE), "{text}");
    let r = check("k8s-dex.yaml", &text);
    assert!(!r.ok);
    assert!(
        r.said
            .contains("storage.type: `kubernetes` is Dex storage that Gantry does not run")
            && r.said.contains("`postgres`")
            && !r.said.contains("inCluster"),
        "{}",
        r.said
    );
}

fn corpus() -> Vec<(String, String)> {
    let mut files = Vec::new();
    for sub in ["examples", "docs"] {
        let mut names: Vec<PathBuf> = std::fs::read_dir(Path::new(CORPUS).join(sub))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        for p in names {
            let raw = std::fs::read_to_string(&p).unwrap();
            let name = format!("{sub}/{}", p.file_name().unwrap().to_string_lossy());
            let text = if name.ends_with("k8s-dex.yaml") {
                // The one adaptation beyond paths: Dex's `kubernetes` storage becomes SQLite
                // on the pod's volume (the refusal itself is checked below).
                config_map_config(&raw).replace(
                    K8S_STORAGE,
                    "storage:\n  type: sqlite3\n  config:\n    file: examples/dex.db\n",
                )
            } else if sub == "docs" && raw.starts_with("connectors:") {
                format!("{HEAD}{raw}")
            } else if sub == "docs" {
                ldap_around(&raw)
            } else {
                raw
            };
            files.push((name, text));
        }
    }
    files
}

#[test]
fn every_dex_example_and_doc_snippet_passes_check_config() {
    let files = corpus();
    assert_eq!(files.len(), 25, "4 example files and 21 doc examples");
    let mut wrong = Vec::new();
    let mut passed = 0;
    for (name, text) in &files {
        let r = check(name, text);
        // A connector of that type, not a comment that mentions one.
        let kind_missing = NOT_YET.iter().find(|k| {
            text.lines()
                .any(|l| l.trim_start().trim_start_matches("- ").trim() == format!("type: {k}"))
        });
        match kind_missing {
            None if r.ok => passed += 1,
            None => wrong.push(format!("{} should pass:\n{}", r.name, r.said)),
            Some(k) => {
                let problems: Vec<&str> = r
                    .said
                    .lines()
                    .filter(|l| !l.is_empty() && !l.contains("warning:") && !summary(l))
                    .collect();
                let only_the_type = problems.len() == 1
                    && problems[0].contains(&format!("connector type `{k}` is not supported yet"));
                if r.ok || !only_the_type {
                    wrong.push(format!(
                        "{} should fail on `type: {k}` alone (or {k} landed: drop it from NOT_YET):\n{}",
                        r.name, r.said
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
    eprintln!("{passed} of {} pass", files.len());
}

/// Dex's dev config, read: the keys Gantry serves differently are named, never silently
/// dropped, and the mapped ones are listed by `--dex`.
#[test]
fn dex_dev_config_is_explained_key_by_key() {
    let text = std::fs::read_to_string(Path::new(CORPUS).join("examples/config-dev.yaml")).unwrap();
    let r = check("config-dev.yaml", &text);
    assert!(
        r.said.contains("warning: grpc: "),
        "no warning for grpc:\n{}",
        r.said
    );
    // Served as in Dex: its loopback receiver is worth no word.
    assert!(!r.said.contains("backchannelLogoutURI"), "{}", r.said);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("examples")).unwrap();
    std::fs::write(dir.path().join("c.yaml"), &text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(["check-config", "--dex", "c.yaml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    for mapped in [
        "signer.config.algorithm  ->  signing.algorithm: RS256",
        "signer.config.keysRotationPeriod  ->  expiry.signingKeys: 6h",
        "staticPasswords[0].name  ->  the `name` claim",
        "staticClients[0].redirectURIs: /dex/device/callback  ->  the client may use the device flow",
    ] {
        assert!(said.contains(mapped), "`{mapped}` not in:\n{said}");
    }
}

/// Dex's `examples/config-dev.yaml`, unchanged, served by `gantry serve` on its own addresses
/// (127.0.0.1:5556, telemetry on 5558) and used by openid-client as Dex's example app would:
/// the code flow through the password connector and through `mock`, refresh, and the device
/// flow of the same client (tests/rp/dex-dev.mjs).
#[tokio::test]
async fn dex_dev_config_serves_logins_unchanged() {
    let text = std::fs::read_to_string(Path::new(CORPUS).join("examples/config-dev.yaml")).unwrap();
    for port in [5556, 5558] {
        assert!(
            std::net::TcpListener::bind(("0.0.0.0", port)).is_ok(),
            "port {port} is taken: Dex's dev config listens there"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("examples")).unwrap();
    let path = dir.path().join("examples/config-dev.yaml");
    std::fs::write(&path, &text).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(["serve", "examples/config-dev.yaml"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let issuer = "http://127.0.0.1:5556/dex";
    let mut up = false;
    for _ in 0..150 {
        if reqwest::get(format!("{issuer}/.well-known/openid-configuration"))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    if !up {
        let _ = child.start_kill();
        let out = child.wait_with_output().await.unwrap();
        panic!(
            "gantry did not serve Dex's dev config:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let rp = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/rp");
    let out = tokio::process::Command::new("node")
        .arg("dex-dev.mjs")
        .current_dir(rp)
        .env("ISSUER", issuer)
        .env("CLIENT_ID", "example-app")
        .env("CLIENT_SECRET", "ZXhhbXBsZS1hcHAtc2VjcmV0")
        .env("REDIRECT_URI", "http://127.0.0.1:5555/callback")
        .env("LOGIN", "admin@example.com")
        .env("PASSWORD", "password")
        .output()
        .await
        .expect("node runs");
    let mock_from_afar = mock_from_another_machine(issuer).await;
    let _ = child.start_kill();
    if let Some(status) = mock_from_afar {
        assert_eq!(
            status,
            reqwest::StatusCode::FORBIDDEN,
            "mock through a non-loopback address"
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap();
    // Dex's static password: `name` is the name claim, preferredUsername and emailVerified
    // as given, its groups; the ID token signed as `signer` asks (RS256).
    assert_eq!(r["local"]["email"], "admin@example.com");
    assert_eq!(r["local"]["name"], "Admin User");
    assert_eq!(r["local"]["preferred_username"], "admin");
    assert_eq!(r["local"]["email_verified"], true);
    assert_eq!(
        r["local"]["groups"],
        serde_json::json!(["team-a", "team-a/admins"])
    );
    assert_eq!(r["local"]["alg"], "RS256");
    assert_eq!(r["refreshed_sub"], r["local"]["sub"]);
    assert_eq!(r["mock"]["email"], "kilgore@kilgore.trout");
    assert_eq!(r["mock"]["name"], "Kilgore Trout");
    assert_eq!(r["mock"]["groups"], serde_json::json!(["authors"]));
    assert_ne!(r["mock"]["sub"], r["local"]["sub"]);
    assert_eq!(r["device"]["sub"], r["local"]["sub"], "{r}");
    let seen = r["device"]["seen"].to_string();
    assert!(
        seen.contains("device code")
            && seen.contains("password")
            && seen.contains("device confirmation"),
        "{seen}"
    );
}

/// Dex's dev config listens on 0.0.0.0: through this machine's own non-loopback address (as a
/// browser elsewhere on the network would come), the mock connector must refuse. The status of
/// `/auth/mock`, or None where this machine has no such address.
async fn mock_from_another_machine(issuer: &str) -> Option<reqwest::StatusCode> {
    let out = std::process::Command::new("ip")
        .args(["-4", "-o", "addr", "show", "scope", "global"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let ip = text
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)?
        .split('/')
        .next()?
        .to_string();
    let base = issuer.replace("127.0.0.1", &ip);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .ok()?;
    let r = http
        .get(format!(
            "{base}/auth?client_id=example-app&redirect_uri=http%3A%2F%2F127.0.0.1%3A5555%2Fcallback&response_type=code&scope=openid&connector_id=mock"
        ))
        .send()
        .await
        .ok()?;
    let to = r.headers().get("location")?.to_str().ok()?.to_string();
    let url = if to.starts_with("http") {
        to
    } else {
        format!("http://{ip}:5556{to}")
    };
    eprintln!("mock login through {ip}: {url}");
    Some(http.get(url).send().await.ok()?.status())
}
