//! The container image `scripts/image.sh` builds, run with podman as a user would: the shipped
//! dev config mounted, a read-only root filesystem. Ignored by `cargo test`: scripts/test.sh
//! runs it after building the image, with GANTRY_TEST_IMAGE (the image) and
//! GANTRY_TEST_PODMAN_ARGS (the options scripts/image.sh found this machine needs).

use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;

/// The container, removed whatever the test's outcome.
struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("podman").args(["rm", "-f", &self.0]).output();
    }
}

fn podman(args: &[&str]) -> String {
    let out = Command::new("podman").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "podman {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test]
#[ignore = "needs the image: scripts/test.sh builds it and runs this"]
async fn the_image_serves_discovery_and_logs_the_demo_user_in() {
    let image = std::env::var("GANTRY_TEST_IMAGE").expect("GANTRY_TEST_IMAGE");
    let run_args = std::env::var("GANTRY_TEST_PODMAN_ARGS").unwrap_or_default();

    // What the image is: gantry as its entrypoint, `serve` on the mounted config, not root.
    let config: Value = serde_json::from_str(&podman(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config}}",
        &image,
    ]))
    .unwrap();
    assert_eq!(config["Entrypoint"], serde_json::json!(["/usr/bin/gantry"]));
    assert_eq!(
        config["Cmd"],
        serde_json::json!(["serve", "--config", "/etc/gantry/config.yaml"])
    );
    assert_eq!(config["User"], "65532:65532");

    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}/dex");
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/dev.yaml"))
        .unwrap()
        .replace("http://127.0.0.1:5556/dex", &issuer)
        .replace("127.0.0.1:5556", "0.0.0.0:5556")
        .replace("127.0.0.1:5558", "0.0.0.0:5558")
        .replace("var/gantry.db", "/var/lib/gantry/gantry.db");
    let cfg = dir.path().join("config.yaml");
    std::fs::write(&cfg, text).unwrap();
    // Readable by the image's user, whatever the umask.
    std::fs::set_permissions(&cfg, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();

    let name = format!(
        "gantry-test-{}",
        gantry::secret::random_token(6).to_lowercase()
    );
    let publish = format!("127.0.0.1:{port}:5556");
    let mount = format!("{}:/etc/gantry/config.yaml:ro", cfg.display());
    let mut args = vec!["run", "-d", "--name", &name, "--read-only"];
    args.extend(run_args.split_whitespace());
    args.extend(["-p", &publish, "-v", &mount, &image]);
    podman(&args);
    let container = Container(name);
    let logs = || {
        let out = Command::new("podman")
            .args(["logs", &container.0])
            .output()
            .unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };

    let mut discovery = None;
    for _ in 0..150 {
        if let Ok(r) = reqwest::get(format!("{issuer}/.well-known/openid-configuration")).await
            && r.status() == StatusCode::OK
        {
            discovery = Some(r.json::<Value>().await.unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let discovery = discovery.unwrap_or_else(|| panic!("no discovery; logs:\n{}", logs()));
    assert_eq!(discovery["issuer"], issuer);

    // The README's demo login, through the login page, with the example app's client.
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let callback = "http://127.0.0.1:5555/callback";
    let start = reqwest::Url::parse_with_params(
        &format!("{issuer}/auth"),
        &[
            ("client_id", "example-app"),
            ("redirect_uri", callback),
            ("response_type", "code"),
            ("scope", "openid email groups"),
            ("state", "image-test"),
        ],
    )
    .unwrap();
    let back = walk(
        &browser,
        start.as_str(),
        "dev@example.com",
        "password",
        |u| u.starts_with(callback),
    )
    .await;
    let code = query_param(&back, "code").expect("a code");
    let t: Value = reqwest::Client::new()
        .post(format!("{issuer}/token"))
        .basic_auth("example-app", Some("ZXhhbXBsZS1hcHAtc2VjcmV0"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", callback),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id_token = t["id_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no ID token: {t}"));
    let jwks: Value = reqwest::get(format!("{issuer}/keys"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks).unwrap();
    let header = jsonwebtoken::decode_header(id_token).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(
        set.find(header.kid.as_deref().unwrap())
            .expect("signed by a key in /keys"),
    )
    .unwrap();
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_audience(&["example-app"]);
    v.set_issuer(&[&issuer]);
    let claims = jsonwebtoken::decode::<Value>(id_token, &key, &v)
        .unwrap()
        .claims;
    assert_eq!(claims["email"], "dev@example.com");
    assert_eq!(claims["groups"], serde_json::json!(["developers"]));

    // The server runs as the image's user, and its logs reach the runtime.
    let top = podman(&["top", &container.0, "user", "comm"]);
    assert!(
        top.lines()
            .any(|l| l.contains("gantry") && !l.contains("root")),
        "{top}"
    );
    assert!(logs().contains("Gantry is running"), "{}", logs());
}
