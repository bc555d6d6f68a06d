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
    let claims = verify_with_jwks(&jwks, id_token, "example-app", &issuer);
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

/// The `single` overlay as Kubernetes would run it, through `podman kube play`: the ConfigMap
/// mounted, the Secret as environment variables, the PersistentVolumeClaim as a volume, the
/// pod's securityContext applied. The names are the manifests' own (pod gantry, volume
/// gantry-data, secret gantry-secrets): removed before and after.
#[tokio::test]
#[ignore = "needs the image: scripts/test.sh builds it and runs this"]
async fn the_single_overlay_runs_under_podman_kube_play() {
    let conf = std::env::var("GANTRY_TEST_CONTAINERS_CONF").expect("GANTRY_TEST_CONTAINERS_CONF");
    let kube = |args: &[&str]| {
        Command::new("podman")
            .args(args)
            .env("CONTAINERS_CONF", &conf)
            .output()
            .unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let rendered = Command::new("kubectl")
        .args([
            "kustomize",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/deploy/kubernetes/overlays/single"
            ),
        ])
        .output()
        .unwrap();
    assert!(
        rendered.status.success(),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    // The one change: host ports of our choosing (podman publishes container ports on the
    // host, where 5556 may be taken).
    let (web, telemetry) = (free_port(), free_port());
    let mut yaml = String::from_utf8(rendered.stdout).unwrap();
    for (port, host) in [(5556, web), (5558, telemetry)] {
        let field = format!("containerPort: {port}\n");
        let at = yaml.find(&field).expect("the port in the manifests");
        let indent = at - yaml[..at].rfind('\n').map_or(0, |n| n + 1);
        yaml.insert_str(
            at + field.len(),
            &format!("{}hostPort: {host}\n", " ".repeat(indent)),
        );
    }
    assert!(yaml.contains(&format!("hostPort: {web}")), "{yaml}");
    let manifests = dir.path().join("single.yaml");
    std::fs::write(&manifests, &yaml).unwrap();
    // podman keeps a Secret's data as a JSON map of base64 values.
    use base64::Engine;
    let b64 = |v: &[u8]| base64::engine::general_purpose::STANDARD.encode(v);
    let secret = serde_json::json!({
        "GANTRY_ENCRYPTION_KEY": b64(b64(&gantry::secret::random_bytes(32)).as_bytes()),
        "DASHBOARD_CLIENT_SECRET": b64(b"dashboard-secret"),
        "LDAP_BIND_PASSWORD": b64(b"unused"),
    });
    let secret_file = dir.path().join("secret.json");
    std::fs::write(&secret_file, secret.to_string()).unwrap();

    struct Down<'a>(&'a dyn Fn(&[&str]) -> std::process::Output, String);
    impl Drop for Down<'_> {
        fn drop(&mut self) {
            (self.0)(&["kube", "down", &self.1]);
            (self.0)(&["volume", "rm", "-f", "gantry-data"]);
            // The ConfigMap's volume, named after its generated name.
            let left = (self.0)(&["volume", "ls", "-q", "--filter", "name=gantry-config"]);
            for v in String::from_utf8_lossy(&left.stdout).split_whitespace() {
                (self.0)(&["volume", "rm", "-f", v]);
            }
            (self.0)(&["secret", "rm", "gantry-secrets"]);
        }
    }
    let manifests = manifests.display().to_string();
    let down = Down(&kube, manifests.clone());
    drop(Down(&kube, manifests.clone()));
    let out = kube(&[
        "secret",
        "create",
        "gantry-secrets",
        &secret_file.display().to_string(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = kube(&["kube", "play", &manifests]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut ready = String::new();
    for _ in 0..150 {
        if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{telemetry}/healthz/ready")).await {
            ready = r.text().await.unwrap_or_default();
            if ready == "ready" {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let logs =
        || String::from_utf8_lossy(&kube(&["logs", "gantry-pod-0-gantry"]).stderr).to_string();
    assert_eq!(ready, "ready", "logs:\n{}", logs());
    let d: Value = reqwest::get(format!(
        "http://127.0.0.1:{web}/dex/.well-known/openid-configuration"
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(d["issuer"], "https://id.example.com/dex");

    // The securityContext of the manifests, as the runtime applied it.
    let c: Value =
        serde_json::from_slice(&kube(&["inspect", "gantry-pod-0-gantry"]).stdout).unwrap();
    let c = &c[0];
    assert_eq!(c["Config"]["User"], "65532:65532");
    assert_eq!(c["HostConfig"]["ReadonlyRootfs"], true);
    let caps = kube(&[
        "inspect",
        "gantry-pod-0-gantry",
        "--format",
        "{{.EffectiveCaps}}",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&caps.stdout).trim(),
        "[]",
        "capabilities"
    );
    assert!(
        c["HostConfig"]["SecurityOpt"]
            .to_string()
            .contains("no-new-privileges"),
        "{}",
        c["HostConfig"]["SecurityOpt"]
    );
    // JSON logs, as the overlay's config asks; SQLite on the claim's volume.
    let logs = logs();
    assert!(
        logs.lines()
            .all(|l| serde_json::from_str::<Value>(l).is_ok()),
        "{logs}"
    );
    let volume = kube(&[
        "volume",
        "inspect",
        "gantry-data",
        "--format",
        "{{.Mountpoint}}",
    ]);
    let mountpoint = String::from_utf8_lossy(&volume.stdout).trim().to_string();
    assert!(
        std::path::Path::new(&mountpoint).join("gantry.db").exists(),
        "no database in {mountpoint}"
    );
    drop(down);
}
