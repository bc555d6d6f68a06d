//! Config loading: Dex files work unchanged, mistakes are named precisely.

use std::process::Command;

use gantry::config::Config;

use crate::support::free_port;

/// Dex's own examples/config-dev.yaml, trimmed to the keys Gantry reads (unchanged otherwise).
const DEX_DEV: &str = r#"
issuer: http://127.0.0.1:5556/dex
storage:
  type: sqlite3
  config:
    file: var/sqlite/dex.db
web:
  http: 0.0.0.0:5556
  allowedOrigins: ['*']
  headers:
    X-Frame-Options: "DENY"
    X-Content-Type-Options: "nosniff"
    X-XSS-Protection: "1; mode=block"
    Content-Security-Policy: "default-src 'self'"
    Strict-Transport-Security: "max-age=31536000; includeSubDomains"
telemetry:
  http: 0.0.0.0:5558
frontend:
  issuer: dex
logger:
  level: "debug"
  format: "text"
oauth2:
  responseTypes: [ "code" ]
  skipApprovalScreen: false
  alwaysShowLoginScreen: false
  passwordConnector: local
expiry:
  deviceRequests: "5m"
  signingKeys: "6h"
  idTokens: "24h"
  authRequests: "24h"
  refreshTokens:
    reuseInterval: "3s"
    validIfNotUsedFor: "2160h" # 90 days
    absoluteLifetime: "3960h" # 165 days
staticClients:
- id: example-app
  redirectURIs:
  - 'http://127.0.0.1:5555/callback'
  name: 'Example App'
  secret: ZXhhbXBsZS1hcHAtc2VjcmV0
- id: public-app
  public: true
  redirectURIs:
  - 'http://localhost:8000/callback'
  name: 'Public App'
enablePasswordDB: true
staticPasswords:
- email: "admin@example.com"
  # bcrypt hash of the string "password": $(echo password | htpasswd -BinC 10 admin | cut -d: -f2)
  hash: "$2a$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W"
  username: "admin"
  userID: "08a8684b-db88-4b73-90a9-3cd1661f5466"
"#;

#[test]
fn a_dex_config_loads_unchanged() {
    let cfg = Config::parse(DEX_DEV).unwrap();
    gantry::app::check(&cfg).unwrap();
    let e = cfg.expiry().unwrap();
    assert_eq!(
        (e.id_tokens, e.signing_keys, e.reuse_interval),
        (86_400, 21_600, 3)
    );
    assert_eq!(e.valid_if_not_used_for, 2160 * 3600);
    assert_eq!(cfg.static_clients.len(), 2);
    assert!(
        cfg.allowed_grants()
            .contains(&gantry::config::GrantType::Password)
    );
}

#[test]
fn mistakes_are_reported_with_their_key() {
    let cases = [
        (
            DEX_DEV.replace("skipApprovalScreen: false", "skipApprovalScren: false"),
            "oauth2.skipApprovalScren",
        ),
        (
            DEX_DEV.replace("idTokens: \"24h\"", "idTokens: \"1 day\""),
            "expiry.idTokens",
        ),
        (
            DEX_DEV.replace("type: sqlite3", "type: mysql"),
            "storage.type",
        ),
        (
            DEX_DEV.replace("  public: true\n", "  public: yes please\n"),
            "staticClients[1].public",
        ),
        (
            DEX_DEV.replace(
                "secret: ZXhhbXBsZS1hcHAtc2VjcmV0",
                "secretEnv: GANTRY_TEST_SURELY_UNSET",
            ),
            "GANTRY_TEST_SURELY_UNSET",
        ),
        (
            DEX_DEV.replace("passwordConnector: local", "passwordConnector: ldap"),
            "passwordConnector",
        ),
        (
            DEX_DEV.replace("hash: \"$2a$10$", "hash: \"$9z$10$"),
            "staticPasswords[0]",
        ),
        (
            format!("{DEX_DEV}connectors:\n- type: keystone\n  id: ks\n  name: Keystone\n"),
            "keystone",
        ),
        (
            format!(
                "{DEX_DEV}registry:\n  services:\n    - {{ name: r, issuer: \"http://127.0.0.1:5556/dex/\" }}\n"
            ),
            "issuer must not be Gantry's issuer",
        ),
    ];
    for (yaml, want) in cases {
        let err = Config::parse(&yaml)
            .and_then(|c| gantry::app::check(&c).map(|_| c))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains(want), "want {want} in: {err}");
    }
}

/// What `gantry check-config` would say of `yaml`, short of the process.
fn check_error(yaml: &str) -> String {
    Config::parse(yaml)
        .and_then(|c| gantry::app::check(&c).map(|_| c))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
}

#[test]
fn dex_connector_types_gantry_lacks_are_named_as_not_supported_yet() {
    // What a Dex user pastes: the answer is about Gantry, not a list of enum variants.
    for kind in [
        "keystone",
        "linkedin",
        "bitbucket-cloud",
        "openshift",
        "local",
        "githib",
    ] {
        let err = check_error(&format!(
            "{DEX_DEV}connectors:\n- type: {kind}\n  id: x\n  name: X\n"
        ));
        let says = match kind {
            "local" => "connector type `local` is not supported here: the built-in password connector is on with enablePasswordDB or staticPasswords".to_string(),
            "githib" => "unknown connector type `githib`; did you mean".to_string(),
            _ => format!("connector type `{kind}` is not supported yet; Gantry has `ldap`"),
        };
        assert!(
            err.contains(&format!("connectors[0].type: {says}")),
            "{kind}: {err}"
        );
        assert!(!err.contains("variant"), "{kind}: {err}");
    }
}

#[test]
fn a_bad_duration_names_its_key_its_value_and_what_is_expected() {
    for (section, key) in [
        ("expiry:\n  idTokens: 1 day\n", "expiry.idTokens"),
        ("expiry:\n  authRequests: soon\n", "expiry.authRequests"),
        ("expiry:\n  deviceRequests: 5\n", "expiry.deviceRequests"),
        ("expiry:\n  signingKeys: 6 hours\n", "expiry.signingKeys"),
        (
            "expiry:\n  refreshTokens:\n    validIfNotUsedFor: 90 days\n",
            "expiry.refreshTokens.validIfNotUsedFor",
        ),
        ("audit:\n  retention: forever\n", "audit.retention"),
        (
            "registry:\n  services:\n    - { name: r, issuer: r, tokenTTL: 5 min }\n",
            "registry.services[0].tokenTTL",
        ),
    ] {
        let err = check_error(&format!("{MINIMAL}{section}"));
        let value = section.rsplit(": ").next().unwrap_or_default();
        let value = value.trim_end().trim_end_matches(" }");
        assert!(
            err.contains(&format!("{key}: `{value}`: not a duration like 24h or 10m")),
            "{section}: {err}"
        );
    }
    // Durations that parse but are too short keep their own limits.
    for (section, says) in [
        (
            "expiry:\n  signingKeys: 59s\n",
            "expiry.signingKeys: at least 1m",
        ),
        ("expiry:\n  idTokens: 0\n", "expiry.idTokens: at least 1s"),
        (
            "audit:\n  retention: 30m\n",
            "audit.retention: `30m`: a duration of at least 1h",
        ),
        (
            "registry:\n  services:\n    - { name: r, issuer: r, tokenTTL: 30s }\n",
            "registry.services[0].tokenTTL: `30s`: a duration of at least 60s",
        ),
    ] {
        let err = check_error(&format!("{MINIMAL}{section}"));
        assert!(err.contains(says), "{section}: {err}");
    }
}

/// The head of a config that checks clean, for tests that add one section to it.
const MINIMAL: &str = "issuer: http://127.0.0.1:5556/dex\nstorage: { type: sqlite3, config: { file: x.db } }\n\
    web: { http: 127.0.0.1:5556 }\nenablePasswordDB: true\n";

/// `gantry check-config` on `yaml`: whether it passed, and what it said on stderr.
fn check_config(yaml: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gantry.yaml");
    std::fs::write(&path, yaml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// Dex users type `dex serve config.yaml`: the file may be named without `--config`, never both.
#[test]
fn the_config_file_may_be_named_as_dex_users_type_it() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, DEX_DEV).unwrap();
    let run = |args: &[&std::ffi::OsStr]| {
        Command::new(env!("CARGO_BIN_EXE_gantry"))
            .env_remove("GANTRY_CONFIG")
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["check-config".as_ref(), good.as_os_str()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(": ok"));
    let both = run(&[
        "check-config".as_ref(),
        good.as_os_str(),
        "--config".as_ref(),
        good.as_os_str(),
    ]);
    assert_eq!(both.status.code(), Some(2));
    let neither = run(&["check-config".as_ref()]);
    assert_eq!(neither.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&neither.stderr).contains("gantry serve FILE"));
    // GANTRY_CONFIG is the fallback; the command line wins over it.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "issuer: [").unwrap();
    let with_env = |args: &[&std::ffi::OsStr]| {
        Command::new(env!("CARGO_BIN_EXE_gantry"))
            .env("GANTRY_CONFIG", &bad)
            .args(args)
            .output()
            .unwrap()
    };
    for args in [
        &["check-config".as_ref(), good.as_os_str()][..],
        &[
            "check-config".as_ref(),
            "--config".as_ref(),
            good.as_os_str(),
        ][..],
    ] {
        let out = with_env(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = with_env(&["check-config".as_ref()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.yaml"));
}

#[test]
fn check_config_command_exits_nonzero_on_errors_and_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, DEX_DEV).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(["check-config", "--config"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        DEX_DEV.replace("http: 0.0.0.0:5556", "http: 0.0.0.0:5556\n  htps: 1"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(["check-config", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("web.htps"));
}

#[test]
fn check_config_warns_of_policy_names_several_connectors_could_satisfy() {
    let run = |yaml: &str| {
        let (ok, err) = check_config(yaml);
        assert!(ok, "{err}");
        err
    };
    let base = format!(
        "{MINIMAL}\
        connectors:\n  - {{ type: oidc, id: sso, name: SSO, config: {{ issuer: https://sso.example.com, clientID: g, redirectURI: http://127.0.0.1:5556/dex/callback }} }}\n"
    );
    let err = run(&format!(
        "{base}policy:\n  admins: {{ users: [admin], groups: [\"local:admins\", \"*\"] }}\n  rules:\n    - {{ name: r, groups: [devs], registry: [{{ repositories: [x], actions: [pull] }}] }}\n"
    ));
    assert!(err.contains("warning: policy:"), "{err}");
    assert!(err.contains("`admin`") && err.contains("`devs`"), "{err}");
    assert!(
        !err.contains("`local:admins`") && !err.contains("`*`"),
        "{err}"
    );
    // Qualified names: no warning.
    let err = run(&format!(
        "{base}policy:\n  admins: {{ users: [\"local:admin\"], groups: [\"sso:admins\"] }}\n"
    ));
    assert!(!err.contains("warning"), "{err}");
}

#[test]
fn check_config_refuses_signing_keys_over_plain_http_and_warns_of_the_opt_in() {
    let run = |connector: &str| check_config(&format!("{MINIMAL}connectors:\n  - {connector}\n"));
    let oidc = |issuer: &str, extra: &str| {
        format!(
            "{{ type: oidc, id: sso, name: SSO, config: {{ issuer: {issuer}, clientID: g, \
             redirectURI: http://127.0.0.1:5556/dex/callback{extra} }} }}"
        )
    };
    let saml = |url: &str, extra: &str| {
        format!(
            "{{ type: saml, id: idp, name: IdP, config: {{ metadataURL: {url}, usernameAttr: u, \
             emailAttr: e, redirectURI: http://127.0.0.1:5556/dex/saml/idp{extra} }} }}"
        )
    };
    // An OAuth2 provider signs nothing: its userinfo answer is the identity.
    let oauth = |base: &str, extra: &str| {
        format!(
            "{{ type: oauth, id: forge, name: Forge, config: {{ clientID: g, clientSecret: s, \
             redirectURI: http://127.0.0.1:5556/dex/callback, authorizationURL: {base}/authorize, \
             tokenURL: {base}/token, userInfoURL: {base}/user{extra} }} }}"
        )
    };
    for (connector, setting) in [
        (oauth("http://forge.example.com", ""), "config.tokenURL"),
        (oidc("http://sso.example.com", ""), "config.issuer"),
        (saml("http://idp.example.com/md", ""), "config.metadataURL"),
        (
            oidc(
                "https://sso.example.com",
                ", providerDiscoveryOverrides: { jwksURL: http://keys.example.com/k }",
            ),
            "providerDiscoveryOverrides.jwksURL",
        ),
    ] {
        let (ok, err) = run(&connector);
        assert!(!ok, "{connector}: {err}");
        assert!(
            err.contains(setting) && err.contains("insecureAllowHTTP"),
            "{connector}: {err}"
        );
    }
    for connector in [
        oauth("http://forge.example.com", ", insecureAllowHTTP: true"),
        oidc("http://sso.example.com", ", insecureAllowHTTP: true"),
        saml("http://idp.example.com/md", ", insecureAllowHTTP: true"),
    ] {
        let (ok, err) = run(&connector);
        assert!(ok, "{connector}: {err}");
        assert!(
            err.contains("config.insecureAllowHTTP: connector `"),
            "{connector}: {err}"
        );
    }
    // Loopback and https need no flag, and get no warning.
    for connector in [
        oidc("http://localhost:4000", ""),
        oidc("http://127.0.0.1:4000", ""),
        oauth("http://127.0.0.1:4000", ""),
        oauth("https://forge.example.com", ""),
        saml("\"http://[::1]:8080/md\"", ""),
        oidc("https://sso.example.com", ""),
    ] {
        let (ok, err) = run(&connector);
        assert!(ok && !err.contains("warning"), "{connector}: {err}");
    }
}

#[test]
fn the_shipped_configs_are_valid() {
    for f in ["config/dev.yaml", "config/example.yaml"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(f);
        Config::load(&path).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
}

#[test]
fn hash_password_prints_an_argon2id_hash_that_verifies() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .arg("hash-password")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"s3cret\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let hash = String::from_utf8(out.stdout).unwrap();
    assert!(hash.starts_with("$argon2id$"));
    assert_eq!(
        gantry::password::verify("s3cret", hash.trim()),
        gantry::password::Verified::Ok
    );
}

#[test]
fn check_config_refuses_a_deny_network_that_is_not_a_cidr() {
    let run = |list: &str| {
        check_config(&format!(
            "{MINIMAL}connectorNetwork:\n  denyNetworks: {list}\n"
        ))
    };
    let (ok, err) = run(r#"[10.0.0.0/8, 169.254.0.0/16, "fd00::/8", "::ffff:10.0.0.0/104"]"#);
    assert!(ok, "{err}");
    for (bad, says) in [
        ("10.0.0.0/33", "not a network"),
        ("banana", "not a network"),
        ("10.1.2.3/8", "10.0.0.0/8"),
        ("fd00::1/8", "fd00::/8"),
    ] {
        let (ok, err) = run(&format!("[192.168.0.0/16, \"{bad}\"]"));
        assert!(!ok, "{bad} passed");
        assert!(
            err.contains("connectorNetwork.denyNetworks[1]")
                && err.contains(bad)
                && err.contains(says),
            "{bad}: {err}"
        );
    }
}

/// A key and a certificate for `localhost` valid from `from` to `to` (days from now), in PEM,
/// written into `dir` as NAME.crt and NAME.key: (cert path, key path).
fn tls_files(dir: &std::path::Path, name: &str, from: i64, to: i64) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut p = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now + time::Duration::days(from);
    p.not_after = now + time::Duration::days(to);
    let cert = p.self_signed(&key).unwrap();
    let (c, k) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (c.display().to_string(), k.display().to_string())
}

/// `gantry check-config` with `args` on `yaml`: exit code, stdout, stderr.
fn check_config_with(yaml: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gantry.yaml");
    std::fs::write(&path, yaml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .arg("check-config")
        .args(args)
        .arg(&path)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// One run names every problem: a fix-one-rerun loop per mistake is what this saves.
#[test]
fn check_config_names_every_problem_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let (web_cert, _) = tls_files(dir.path(), "web", -1, 30);
    let (_, other_key) = tls_files(dir.path(), "other", -1, 30);
    let (ca_cert, ca_key) = tls_files(dir.path(), "ca", -30, -1);
    let missing = dir.path().join("missing-ca.pem").display().to_string();
    let yaml = format!(
        "issuer: http://127.0.0.1:5556/dex\n\
         storage: {{ type: sqlite3, config: {{ file: x.db }} }}\n\
         web: {{ http: \":5557\", https: 127.0.0.1:5557, tlsCert: {web_cert}, tlsKey: {other_key} }}\n\
         telemetry: {{ http: 0.0.0.0:5557 }}\n\
         enablePasswordDB: true\n\
         registry: {{ caCert: {ca_cert}, caKey: {ca_key} }}\n\
         connectors:\n\
         - {{ type: ldap, id: corp, name: Corp, config: {{ host: \"ldap.example.com:636\", \
              rootCA: {missing}, bindDN: cn=gantry, bindPW: $GANTRY_TEST_UNSET_BIND_PW, \
              userSearch: {{ baseDN: dc=example, username: uid }} }} }}\n\
         - {{ type: ldap, id: lab, name: Lab, config: {{ host: \"ldap.lab.example.com:636\", \
              rootCA: {missing}2, userSearch: {{ baseDN: \"${{GANTRY_TEST_UNSET_BASE}}\", username: uid }} }} }}\n"
    );
    let (code, stdout, err) = check_config_with(&yaml, &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(!stdout.contains(": ok"), "{stdout}");
    for says in [
        // Both connectors, not only the first.
        &format!("connectors[0].config: connector `corp`: rootCA {missing}:"),
        &format!("connectors[1].config: connector `lab`: rootCA {missing}2:"),
        // Every unset variable, by name and key.
        "connectors[0].config.bindPW: `$GANTRY_TEST_UNSET_BIND_PW` is not set",
        "connectors[1].config.userSearch.baseDN: `$GANTRY_TEST_UNSET_BASE` is not set",
        // Listen addresses.
        // Go's `:port`, every address, as Dex files write it.
        "web.http :5557 and web.https 127.0.0.1:5557: both would listen on port 5557",
        "web.https 127.0.0.1:5557 and telemetry.http 0.0.0.0:5557: both would listen on port 5557",
        // TLS files.
        &format!("web.tlsKey {other_key} is not the key of web.tlsCert {web_cert}"),
        &format!("registry.caCert {ca_cert}: the certificate expired at"),
        "9 problems",
    ] {
        assert!(err.contains(says), "want `{says}` in:\n{err}");
    }
}

/// The file's own rules are listed whole too: an unset secretEnv, an unknown log level and
/// format, a client without a secret, each named in the one run.
#[test]
fn check_config_names_every_rule_the_file_breaks_in_one_run() {
    let yaml = "issuer: http://127.0.0.1:5556/dex\n\
         storage: { type: sqlite3, config: { file: x.db } }\n\
         web: { http: 127.0.0.1:5556 }\n\
         logger: { level: verbose, format: xml }\n\
         enablePasswordDB: true\n\
         signing: { algorithm: HS256 }\n\
         staticClients:\n\
         - { id: a, name: A, secretEnv: GANTRY_TEST_UNSET_CLIENT_SECRET, redirectURIs: [http://127.0.0.1:1/cb] }\n\
         - { id: b, name: B, redirectURIs: [http://127.0.0.1:1/cb] }\n\
         - { id: b, name: B2, public: true, redirectURIs: [not a url] }\n";
    let (code, _, err) = check_config_with(yaml, &[]);
    assert_eq!(code, Some(1), "{err}");
    for says in [
        "GANTRY_TEST_UNSET_CLIENT_SECRET",
        "logger.level: `verbose`",
        "logger.format: `xml`",
        "staticClients[1]: `b`: a confidential client needs secret or secretEnv",
        "staticClients[2].id: duplicate client id `b`",
        "staticClients[2].redirectURIs[0]: `not a url` is not a URL",
        "signing.algorithm: `HS256`",
    ] {
        assert!(err.contains(says), "want `{says}` in:\n{err}");
    }
}

/// A registry CA whose key is another's would sign chains no registry accepts; a database
/// client certificate with another key fails at the first connection.
#[test]
fn check_config_refuses_keys_that_are_not_their_certificate_s() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, _) = tls_files(dir.path(), "ca", -1, 300);
    let (_, other_key) = tls_files(dir.path(), "other", -1, 300);
    let missing = dir.path().join("db-ca.pem").display().to_string();
    let yaml = format!("{MINIMAL}registry: {{ caCert: {cert}, caKey: {other_key} }}\n").replace(
        "storage: { type: sqlite3, config: { file: x.db } }",
        &format!(
            "storage: {{ type: postgres, config: {{ host: db, ssl: {{ mode: verify-full, \
             caFile: {missing}, certFile: {cert}, keyFile: {other_key} }} }} }}"
        ),
    );
    let (code, _, err) = check_config_with(&yaml, &[]);
    assert_eq!(code, Some(1), "{err}");
    for says in [
        format!("registry.caKey {other_key} is not the key of registry.caCert {cert}"),
        format!("storage.config.ssl.caFile {missing}:"),
        format!(
            "storage.config.ssl.keyFile {other_key} is not the key of storage.config.ssl.certFile {cert}"
        ),
    ] {
        assert!(err.contains(&says), "want `{says}` in: {err}");
    }
}

#[test]
fn check_config_passes_good_tls_files_and_free_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = tls_files(dir.path(), "web", -1, 30);
    let (ca_cert, ca_key) = tls_files(dir.path(), "ca", -1, 300);
    let (http, https, telemetry) = (free_port(), free_port(), free_port());
    let yaml = format!(
        "issuer: https://127.0.0.1:{https}/dex\n\
         storage: {{ type: sqlite3, config: {{ file: x.db }} }}\n\
         web: {{ http: 127.0.0.1:{http}, https: \"127.0.0.1:{https}\", tlsCert: {cert}, tlsKey: {key} }}\n\
         telemetry: {{ http: \"localhost:{telemetry}\" }}\n\
         enablePasswordDB: true\n\
         registry: {{ caCert: {ca_cert}, caKey: {ca_key} }}\n"
    );
    for args in [&[][..], &["--bind"][..]] {
        let (code, stdout, err) = check_config_with(&yaml, args);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        assert!(stdout.contains(": ok"), "{stdout}");
    }
}

/// Binding is asked for: beside the running server the file is for, its ports are taken.
#[test]
fn check_config_bind_names_a_listen_address_in_use() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let yaml = MINIMAL.replace("127.0.0.1:5556 }", &format!("127.0.0.1:{port} }}"));
    let (code, _, err) = check_config_with(&yaml, &[]);
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = check_config_with(&yaml, &["--bind"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!("web.http 127.0.0.1:{port}: cannot listen"))
            && err.contains("in use"),
        "{err}"
    );
}

/// The `*Env` keys hold the only copy of their value: every unset one is named, in one run.
#[test]
fn every_unset_env_key_is_named_at_once() {
    let (code, _, err) = check_config_with(
        &format!(
            "{MINIMAL}staticClients:\n\
             - {{ idEnv: GANTRY_TEST_UNSET_ID, secretEnv: GANTRY_TEST_UNSET_SECRET, redirectURIs: [] }}\n\
             staticPasswords:\n\
             - {{ email: a@example.com, username: a, userID: a, hashFromEnv: GANTRY_TEST_UNSET_HASH }}\n"
        ),
        &[],
    );
    assert_eq!(code, Some(1), "{err}");
    for var in [
        "staticClients[0].idEnv: environment variable `GANTRY_TEST_UNSET_ID` is not set",
        "staticClients[0].secretEnv: environment variable `GANTRY_TEST_UNSET_SECRET` is not set",
        "staticPasswords[0].hashFromEnv: environment variable `GANTRY_TEST_UNSET_HASH` is not set",
    ] {
        assert!(err.contains(var), "want `{var}` in: {err}");
    }
}

/// A device that never ends or a FIFO that never answers (an admin can name one as a
/// connector's CA file) is refused at once: not read until memory runs out, not waited on.
#[test]
fn check_config_refuses_an_endless_file_after_a_bound() {
    let dir = tempfile::tempdir().unwrap();
    let (_, key) = tls_files(dir.path(), "web", -1, 30);
    let fifo = dir.path().join("fifo.pem");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let fifo = fifo.display().to_string();
    let https = free_port();
    let base = format!(
        "issuer: https://127.0.0.1:{https}/dex\n\
         storage: {{ type: sqlite3, config: {{ file: x.db }} }}\n\
         enablePasswordDB: true\n"
    );
    for (extra, says) in [
        (
            format!("web: {{ https: \"127.0.0.1:{https}\", tlsCert: /dev/zero, tlsKey: {key} }}\n"),
            "web.tlsCert /dev/zero",
        ),
        (
            "registry: { caCert: /dev/zero, caKey: /dev/zero }\n".to_string(),
            "registry.caCert /dev/zero",
        ),
        (
            "connectors:\n- type: ldap\n  id: ldap\n  name: LDAP\n  config:\n    \
             host: ldap.example.com:636\n    rootCA: /dev/zero\n    \
             userSearch: { baseDN: dc=example, username: uid }\n"
                .to_string(),
            "rootCA /dev/zero",
        ),
        // A FIFO with no writer: opened blocking, it would wait for ever.
        (
            format!("web: {{ https: \"127.0.0.1:{https}\", tlsCert: {fifo}, tlsKey: {key} }}\n"),
            "web.tlsCert",
        ),
    ] {
        let (code, _, err) = check_config_with(&format!("{base}{extra}"), &[]);
        assert_eq!(code, Some(1), "{err}");
        assert!(err.contains(says), "want `{says}` in: {err}");
        assert!(err.contains("not a regular file"), "{err}");
    }
}

/// Flow nesting past a bound is refused before the YAML parser, whose time grows with the
/// square of the depth (the admin's connector and policy forms read YAML too).
#[test]
fn deeply_nested_yaml_is_refused_before_the_parser() {
    let deep = format!(
        "issuer: {}{}\nstorage: {{ type: sqlite3, config: {{ file: x.db }} }}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let (code, _, err) = check_config_with(&deep, &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("YAML nested deeper than 64 levels"),
        "{}",
        &err[..err.len().min(300)]
    );
}

/// A file moved over with several slips at once: each is named in the one run, at its line
/// and column (inside a connector's block too), with the key it probably meant, and no serde
/// wording reaches the reader.
#[test]
fn check_config_reports_every_slip_of_a_migrated_file_at_its_line() {
    let yaml = "issuer: http://127.0.0.1:5556/dex
storage: {type: sqlite3, config: {file: x.db}}
web: {http: 127.0.0.1:5556}
enablePaswordDB: true
staticClients:
- id: app
  secret: s
  redirectUris: [http://127.0.0.1:5555/cb]
connectors:
- type: ldap
  id: corp
  name: Corp
  config:
    host: ldap.example.com:636
    insecureNoSSL: maybe
    userSearch:
      baseDN: dc=example
      usernam: uid
- type: sam
  id: idp
  name: IdP
- type: keystone
  id: ks
  name: Keystone
expiry:
  idTokens: 1 day
";
    let (code, _, err) = check_config_with(yaml, &[]);
    assert_eq!(code, Some(1), "{err}");
    for says in [
        ":4:1: enablePaswordDB: unknown key `enablePaswordDB`; did you mean `enablePasswordDB`?",
        // Dex (Go) reads a key in any case: read as meant, with a word.
        ":8:3: warning: staticClients[0].redirectUris: read as `redirectURIs`",
        ":15:20: connectors[0].config.insecureNoSSL: expected true or false, found `maybe`",
        ":18:7: connectors[0].config.userSearch.usernam: unknown key `usernam`; did you mean `username`?",
        ":19:3: connectors[1].type: unknown connector type `sam`; did you mean `saml`?",
        ":22:3: connectors[2].type: connector type `keystone` is not supported yet; Gantry has",
        ":26:13: expiry.idTokens: `1 day`: not a duration like 24h or 10m",
        "6 problems",
    ] {
        assert!(err.contains(says), "want `{says}` in:\n{err}");
    }
    for serde_words in [
        "invalid type",
        "struct ",
        "unit value",
        "variant",
        "expected one of",
    ] {
        assert!(!err.contains(serde_words), "`{serde_words}` in:\n{err}");
    }
}

/// A connector example of Dex's docs, as kept in tests/dex/docs (unchanged, Apache-2.0).
fn dex_doc(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/dex/docs/{name}.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// A Dex user pastes the example of Dex's docs: it passes `check-config` once the variables it
/// names are set. The Enterprise example's `rootCA` must be a CA file that exists (Dex refuses
/// a missing one too): here, one made for the test.
#[test]
fn dex_s_github_and_gitlab_doc_examples_pass_check_config() {
    let dir = tempfile::tempdir().unwrap();
    let ca = rcgen::generate_simple_self_signed(vec!["git.example.com".to_string()]).unwrap();
    let ca_path = dir.path().join("ca.crt");
    std::fs::write(&ca_path, ca.cert.pem()).unwrap();
    let check = |yaml: &str| {
        let path = dir.path().join("gantry.yaml");
        std::fs::write(&path, format!("{MINIMAL}{yaml}")).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_gantry"))
            .args(["check-config", "--config"])
            .arg(&path)
            .env("GITHUB_CLIENT_ID", "Iv1.0123456789abcdef")
            .env("GITHUB_CLIENT_SECRET", "s3cret")
            .env("GITLAB_APPLICATION_ID", "0123456789abcdef")
            .env("GITLAB_CLIENT_SECRET", "gloas-s3cret")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (github, enterprise, gitlab) = (
        dex_doc("github-1"),
        dex_doc("github-2"),
        dex_doc("gitlab-1"),
    );
    for (name, example) in [
        ("github", github.clone()),
        (
            "github enterprise",
            enterprise.replace("/etc/dex/ca.crt", &ca_path.display().to_string()),
        ),
        ("gitlab", gitlab),
    ] {
        let (ok, err) = check(&example);
        assert!(ok, "{name}: {err}");
    }
    // Dex's own rules for the keys hold in the same place.
    for (bad, says) in [
        (
            github.replace("#org: my-organization", "org: my-organization"),
            "cannot use both 'org' and 'orgs'",
        ),
        (
            github.replace("teamNameField: slug", "teamNameField: id"),
            "config.teamNameField `id`",
        ),
        (
            enterprise.replace(
                "hostName: git.example.com",
                "hostName: https://git.example.com",
            ),
            "config.hostName",
        ),
        (enterprise.clone(), "config.rootCA entry `/etc/dex/ca.crt`"),
    ] {
        let (ok, err) = check(&bad);
        assert!(!ok && err.contains(says), "want {says} in: {err}");
    }
}
