//! The LDAP connector against a real OpenLDAP `slapd`, started by scripts/test.sh (shared, read
//! mostly) or by a test itself (the outage test stops and restarts its own).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ldap3::{LdapConnAsync, Mod};
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;

const BASE: &str = "dc=example,dc=org";

/// A running test directory: its ports and CA files.
pub struct Slapd {
    pub port: u16,
    pub tls_port: u16,
    pub dir: PathBuf,
}

impl Slapd {
    /// The one scripts/test.sh started.
    pub fn shared() -> Slapd {
        let dir = std::env::var("GANTRY_TEST_LDAP_DIR").unwrap_or_else(|_| {
            panic!(
                "GANTRY_TEST_LDAP_DIR is not set. Run the tests through scripts/test.sh, which starts a \
                 throwaway slapd, or run scripts/peers/slapd.sh start PORT TLS_PORT DIR and export \
                 GANTRY_TEST_LDAP_DIR=DIR GANTRY_TEST_LDAP_BINDPW=readonly"
            )
        });
        Self::at(Path::new(&dir))
    }

    fn at(dir: &Path) -> Slapd {
        let ports = std::fs::read_to_string(dir.join("ports")).expect("slapd ports file");
        let get = |k: &str| -> u16 {
            ports
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .and_then(|v| v.parse().ok())
                .expect("port")
        };
        Slapd {
            port: get("PORT"),
            tls_port: get("TLS_PORT"),
            dir: dir.to_path_buf(),
        }
    }

    pub fn ca(&self) -> String {
        self.dir.join("ca.crt").display().to_string()
    }

    /// A connector block; `transport` holds host and TLS keys.
    pub fn connector_yaml(&self, transport: &str) -> String {
        format!(
            r#"connectors:
  - type: ldap
    id: ldap
    name: Company LDAP
    config:
{transport}
      bindDN: cn=readonly,{BASE}
      bindPW: $GANTRY_TEST_LDAP_BINDPW
      usernamePrompt: Company username
      userSearch:
        baseDN: {BASE}
        filter: "(objectClass=inetOrgPerson)"
        username: uid
        idAttr: uid
        emailAttr: mail
        nameAttr: cn
        preferredUsernameAttr: uid
      groupSearch:
        baseDN: ou=groups,{BASE}
        filter: "(objectClass=groupOfNames)"
        userMatchers:
          - userAttr: DN
            groupAttr: member
            recursionGroupAttr: member
        nameAttr: cn
"#
        )
    }

    pub fn plain(&self) -> String {
        format!(
            "      host: 127.0.0.1:{}\n      insecureNoSSL: true",
            self.port
        )
    }

    pub async fn app(&self, transport: &str) -> TestApp {
        TestApp::start_with(Opts {
            password_connector: "ldap",
            extra_yaml: self.connector_yaml(transport),
            ..Default::default()
        })
        .await
    }

    /// An admin connection, for changing the directory under Gantry's feet.
    pub async fn admin(&self) -> ldap3::Ldap {
        let (conn, mut l) = LdapConnAsync::new(&format!("ldap://127.0.0.1:{}", self.port))
            .await
            .expect("connect as admin");
        tokio::spawn(conn.drive());
        l.simple_bind(&format!("cn=admin,{BASE}"), "admin")
            .await
            .unwrap()
            .success()
            .unwrap();
        l
    }
}

async fn password_grant(app: &TestApp, user: &str, pw: &str, scope: &str) -> (StatusCode, Value) {
    app.post_token(
        &[
            ("grant_type", "password"),
            ("username", user),
            ("password", pw),
            ("scope", scope),
        ],
        Some(RP),
    )
    .await
}

fn groups(t: &Value) -> BTreeSet<String> {
    let claims = jwt_claims(t["id_token"].as_str().expect("id token"));
    claims["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| g.as_str().unwrap().to_string())
        .collect()
}

fn set(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn ldap_auth_query(scope: &str) -> Vec<(&str, &str)> {
    vec![
        ("client_id", "rp"),
        ("redirect_uri", RP_REDIRECT),
        ("response_type", "code"),
        ("scope", scope),
        ("state", "s"),
        ("connector_id", "ldap"),
    ]
}

#[tokio::test]
async fn browser_login_puts_direct_and_nested_groups_in_the_id_token() {
    let d = Slapd::shared();
    let app = d.app(&d.plain()).await;
    // With two connectors the chooser offers both; connector_id picks LDAP.
    let chooser = app
        .browser()
        .get(app.url("/auth"))
        .query(&ldap_auth_query("openid")[..5])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        chooser.contains("Log in with Company LDAP") && chooser.contains("Log in with Email"),
        "{chooser}"
    );
    let b = app.browser();
    let r = b
        .get(app.url("/auth"))
        .query(&ldap_auth_query("openid"))
        .send()
        .await
        .unwrap();
    let form = b
        .get(format!("{}{}", app.base, location(&r)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        form.contains("Company username"),
        "the form uses usernamePrompt"
    );

    let verifier = gantry::secret::random_token(32);
    let challenge = gantry::secret::b64(&gantry::secret::sha256(verifier.as_bytes()));
    let mut q = ldap_auth_query("openid email profile groups");
    q.extend([
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ]);
    let back = app.login(&app.browser(), &q, "alice", "alice123").await;
    let (s, t) = app
        .exchange(&query_param(&back, "code").unwrap(), Some(&verifier), RP)
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(
        groups(&t),
        set(&["admins", "developers", "platform", "engineering"]),
        "platform is direct, developers both, engineering through developers"
    );
    let id = jwt_claims(t["id_token"].as_str().unwrap());
    assert_eq!(
        (
            id["email"].as_str(),
            id["preferred_username"].as_str(),
            id["name"].as_str()
        ),
        (
            Some("alice@example.org"),
            Some("alice"),
            Some("Alice Anders")
        )
    );
    assert_eq!(
        id["sub"],
        gantry::identity::Identity {
            user_id: "alice".into(),
            connector_id: "ldap".into(),
            ..Default::default()
        }
        .subject()
    );

    let (s, t) = password_grant(&app, "dave", "dave123", "openid groups").await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(
        groups(&t),
        set(&["platform", "developers", "engineering"]),
        "developers only through platform"
    );
    let (s, t) = password_grant(&app, "erin", "erin123", "openid groups").await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(
        groups(&t),
        set(&["cycle-a", "cycle-b"]),
        "a group cycle ends"
    );
}

#[tokio::test]
async fn nested_groups_climb_to_parent_groups_and_never_to_a_fellow_members_groups() {
    // Dex's documented nested-groups config (recursionGroupAttr: member) on a groupOfNames
    // tree: engineering contains developers, which contains backend.
    let d = Slapd::shared();
    let app = d.app(&d.plain()).await;
    let (s, t) = password_grant(&app, "frank", "frank123", "openid groups").await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(
        groups(&t),
        set(&["backend", "developers", "engineering"]),
        "frank is only in backend: developers and engineering come through nesting"
    );
    // bob shares developers with alice, who is in admins (and platform): her groups are
    // not his.
    let (s, t) = password_grant(&app, "bob", "bob123", "openid groups").await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(groups(&t), set(&["developers", "engineering"]));
}

#[tokio::test]
async fn password_grant_logs_in_through_ldap() {
    let d = Slapd::shared();
    let app = d.app(&d.plain()).await;
    let (s, t) = password_grant(&app, "bob", "bob123", "openid groups").await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(groups(&t), set(&["developers", "engineering"]));
    let (s, _) = password_grant(&app, "carol", "carol123", "openid groups").await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn ldaps_and_starttls_trust_the_configured_ca_and_refuse_another() {
    let d = Slapd::shared();
    let ca_b64 = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        std::fs::read(d.ca()).unwrap(),
    );
    let other = d.dir.join("other-ca.crt").display().to_string();
    let cases = [
        (
            format!(
                "      host: 127.0.0.1:{}\n      rootCA: {}",
                d.tls_port,
                d.ca()
            ),
            true,
        ),
        (
            format!(
                "      host: 127.0.0.1:{}\n      startTLS: true\n      rootCAData: {ca_b64}",
                d.port
            ),
            true,
        ),
        // Test setups only: any certificate, over ldaps and StartTLS.
        (
            format!(
                "      host: 127.0.0.1:{}\n      insecureSkipVerify: true",
                d.tls_port
            ),
            true,
        ),
        (
            format!(
                "      host: 127.0.0.1:{}\n      startTLS: true\n      insecureSkipVerify: true",
                d.port
            ),
            true,
        ),
        (
            format!(
                "      host: 127.0.0.1:{}\n      rootCA: {other}",
                d.tls_port
            ),
            false,
        ),
        (
            format!(
                "      host: 127.0.0.1:{}\n      startTLS: true\n      rootCA: {other}",
                d.port
            ),
            false,
        ),
    ];
    for (transport, ok) in cases {
        let app = d.app(&transport).await;
        let (s, t) = password_grant(&app, "bob", "bob123", "openid groups").await;
        if ok {
            assert_eq!(s, StatusCode::OK, "{transport}: {t}");
        } else {
            assert_eq!(
                (s, t["error"].as_str()),
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Some("temporarily_unavailable")
                ),
                "{transport}"
            );
        }
    }
}

#[tokio::test]
async fn hostile_usernames_match_nobody_and_ambiguous_names_are_refused() {
    let d = Slapd::shared();
    let app = d.app(&d.plain()).await;
    for user in [
        "*",
        "alice)(|(uid=*",
        "al*",
        "alice\u{0}",
        "(uid=alice)",
        "alice)(uid=*",
        "*)(objectClass=*",
        "\\2a",
    ] {
        let (s, t) = password_grant(&app, user, "alice123", "openid").await;
        assert_eq!(
            (s, t["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant")),
            "{user:?}"
        );
    }
    // Two entries answer to uid=twin (people and contractors), with the same password.
    let (s, t) = password_grant(&app, "twin", "twin123", "openid").await;
    assert_eq!(
        (s, t["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    // The control: the real user with the real password gets in.
    assert_eq!(
        password_grant(&app, "alice", "alice123", "openid").await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn wrong_password_unknown_user_and_empty_password_look_the_same() {
    let d = Slapd::shared();
    let app = d.app(&d.plain()).await;
    let mut answers = Vec::new();
    for (user, pw) in [
        ("alice", "wrong"),
        ("nobody-at-all", "alice123"),
        ("alice", ""),
    ] {
        let b = app.browser();
        let r = b
            .get(app.url("/auth"))
            .query(&ldap_auth_query("openid"))
            .send()
            .await
            .unwrap();
        let login = format!("{}{}", app.base, location(&r));
        let page = b.get(&login).send().await.unwrap().text().await.unwrap();
        let r = b
            .post(&login)
            .form(&[
                ("req", hidden(&page, "req").as_str()),
                ("csrf", &hidden(&page, "csrf")),
                ("login", user),
                ("password", pw),
            ])
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body = r.text().await.unwrap();
        let msg = body
            .split("class=\"error\" role=\"alert\">")
            .nth(1)
            .and_then(|s| s.split('<').next())
            .unwrap_or_default()
            .to_string();
        answers.push((status, msg));
    }
    assert_eq!(answers[0].0, StatusCode::UNAUTHORIZED);
    assert!(!answers[0].1.is_empty());
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
}

#[tokio::test]
async fn refresh_sees_group_changes_and_refuses_deleted_users() {
    let d = Slapd::shared();
    let app = d.app(&d.plain()).await;
    let uid = format!(
        "u{}",
        gantry::secret::random_token(6)
            .to_lowercase()
            .replace(['-', '_'], "x")
    );
    let dn = format!("uid={uid},ou=people,{BASE}");
    let mut admin = d.admin().await;
    admin
        .add(
            &dn,
            vec![
                ("objectClass", ["inetOrgPerson"].into()),
                ("uid", [uid.as_str()].into()),
                ("cn", ["Temp User"].into()),
                ("sn", ["User"].into()),
                ("userPassword", ["temp-pass-1"].into()),
            ],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    let developers = format!("cn=developers,ou=groups,{BASE}");
    admin
        .modify(&developers, vec![Mod::Add("member", [dn.as_str()].into())])
        .await
        .unwrap()
        .success()
        .unwrap();

    let (s, t) = password_grant(&app, &uid, "temp-pass-1", "openid groups offline_access").await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(groups(&t), set(&["developers", "engineering"]));
    admin
        .modify(
            &developers,
            vec![Mod::Delete("member", [dn.as_str()].into())],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    let (s, t) = app
        .post_token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", t["refresh_token"].as_str().unwrap()),
            ],
            Some(RP),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(
        groups(&t),
        set(&[]),
        "removed from the group: gone from the next token"
    );
    admin.delete(&dn).await.unwrap().success().unwrap();
    let (s, b) = app
        .post_token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", t["refresh_token"].as_str().unwrap()),
            ],
            Some(RP),
        )
        .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "a deleted user cannot refresh"
    );
}

fn slapd_script(args: &[&str]) {
    slapd_script_env(args, &[]);
}

fn slapd_script_env(args: &[&str], env: &[(&str, &str)]) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/peers/slapd.sh");
    let out = std::process::Command::new("bash")
        .arg(script)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run slapd.sh");
    assert!(
        out.status.success(),
        "slapd.sh {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_directory_outage_fails_clearly_and_logins_recover_without_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("slapd");
    let dir_s = dir.display().to_string();
    slapd_script(&[
        "start",
        &free_port().to_string(),
        &free_port().to_string(),
        &dir_s,
    ]);
    let d = Slapd::at(&dir);
    let app = d
        .app(&format!(
            "{}\n      connectTimeout: 2s\n      timeout: 5s",
            d.plain()
        ))
        .await;
    assert_eq!(
        password_grant(&app, "bob", "bob123", "openid").await.0,
        StatusCode::OK
    );

    slapd_script(&["stop", &dir_s]);
    let (s, t) = password_grant(&app, "bob", "bob123", "openid").await;
    assert_eq!(
        (s, t["error"].as_str()),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Some("temporarily_unavailable")
        ),
        "{t}"
    );
    let b = app.browser();
    let r = b
        .get(app.url("/auth"))
        .query(&ldap_auth_query("openid"))
        .send()
        .await
        .unwrap();
    let login = format!("{}{}", app.base, location(&r));
    let page = b.get(&login).send().await.unwrap().text().await.unwrap();
    let r = b
        .post(&login)
        .form(&[
            ("req", hidden(&page, "req").as_str()),
            ("csrf", &hidden(&page, "csrf")),
            ("login", "bob"),
            ("password", "bob123"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("directory that checks your password is not answering")
    );

    slapd_script(&["restart", &dir_s]);
    let (s, t) = password_grant(&app, "bob", "bob123", "openid groups").await;
    assert_eq!(s, StatusCode::OK, "logins recover: {t}");
    assert_eq!(groups(&t), set(&["developers", "engineering"]));
    slapd_script(&["stop", &dir_s]);
}

#[tokio::test]
async fn a_login_takes_a_known_number_of_directory_round_trips() {
    let d = Slapd::shared();
    let app = d.app(&d.plain()).await;
    let ops = || {
        app.provider
            .connector("ldap")
            .and_then(|c| c.operations())
            .unwrap()
    };
    // Warm: the first login also binds the service account.
    assert_eq!(
        password_grant(&app, "bob", "bob123", "openid").await.0,
        StatusCode::OK
    );
    let (ops0, dials0) = ops();
    assert_eq!(
        password_grant(&app, "bob", "bob123", "openid").await.0,
        StatusCode::OK
    );
    let (ops1, dials1) = ops();
    // user search + user bind + one search per level of groups: bob's (developers), their
    // parents (engineering), and the (empty) search for engineering's parents.
    assert_eq!(ops1 - ops0, 5);
    assert_eq!(
        dials1, dials0,
        "a warm login opens no connection: both pools reuse theirs"
    );
}

#[tokio::test]
async fn the_next_host_takes_over_when_the_first_is_down() {
    let d = Slapd::shared();
    let dead = free_port();
    let app = d
        .app(&format!(
            "      host: [\"127.0.0.1:{dead}\", \"127.0.0.1:{}\"]\n      insecureNoSSL: true",
            d.port
        ))
        .await;
    let (s, t) = password_grant(&app, "bob", "bob123", "openid groups").await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(groups(&t), set(&["developers", "engineering"]));
}

#[tokio::test]
async fn a_directory_that_never_answers_times_out_instead_of_hanging() {
    // Accepts connections and says nothing, like a host behind a dead load balancer.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = silent.accept().await {
            held.push(sock);
        }
    });
    let d = Slapd::shared();
    let app = d
        .app(&format!(
            "      host: 127.0.0.1:{port}\n      insecureNoSSL: true\n      timeout: 1s"
        ))
        .await;
    let (s, t) = password_grant(&app, "bob", "bob123", "openid").await;
    assert_eq!(
        (s, t["error"].as_str()),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Some("temporarily_unavailable")
        ),
        "{t}"
    );
}

#[tokio::test]
async fn a_directory_that_demands_client_certificates_gets_one() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("slapd");
    let dir_s = dir.display().to_string();
    slapd_script_env(
        &[
            "start",
            &free_port().to_string(),
            &free_port().to_string(),
            &dir_s,
        ],
        &[("REQUIRE_CLIENT_CERT", "1")],
    );
    let d = Slapd::at(&dir);
    let ldaps = format!(
        "      host: 127.0.0.1:{}\n      rootCA: {}",
        d.tls_port,
        d.ca()
    );
    let without = d.app(&ldaps).await;
    let (s, t) = password_grant(&without, "bob", "bob123", "openid").await;
    assert_eq!(
        (s, t["error"].as_str()),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Some("temporarily_unavailable")
        ),
        "no client certificate: {t}"
    );
    let with = d
        .app(&format!(
            "{ldaps}\n      clientCert: {dir_s}/client.crt\n      clientKey: {dir_s}/client.key"
        ))
        .await;
    let (s, t) = password_grant(&with, "bob", "bob123", "openid").await;
    assert_eq!(s, StatusCode::OK, "with the client certificate: {t}");
    slapd_script(&["stop", &dir_s]);
}

#[test]
fn rbac_output_expands_group_patterns_over_the_directorys_groups() {
    let d = Slapd::shared();
    let dir = tempfile::tempdir().unwrap();
    let cfg = format!(
        "issuer: https://id.example.com/dex\nstorage: {{type: sqlite3, config: {{file: {}/g.db}}}}\nweb: {{http: 127.0.0.1:1}}\n{}\
kubernetes:\n  groupsPrefix: \"ldap:\"\n  clusters: [{{ name: prod, clientID: kube-prod }}]\n\
policy:\n  rules:\n    - name: dev-namespaces\n      groups: [\"dev*\", \"cycle-*\"]\n      kubernetes: [{{ clusters: [prod], namespaces: [\"${{group}}\"], roles: [edit] }}]\n",
        dir.path().display(),
        d.connector_yaml(&d.plain())
    );
    let path = dir.path().join("gantry.yaml");
    std::fs::write(&path, cfg).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(["policy", "rbac", "--cluster", "prod", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = String::from_utf8_lossy(&out.stdout);
    let namespaces: BTreeSet<String> = serde_norway::Deserializer::from_str(&yaml)
        .map(|doc| {
            <Value as serde::Deserialize>::deserialize(doc).unwrap()["metadata"]["namespace"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        namespaces,
        set(&["cycle-a", "cycle-b", "developers"]),
        "{yaml}"
    );
    assert!(yaml.contains("name: ldap:developers"));
}

#[tokio::test]
async fn registry_basic_auth_checks_passwords_through_ldap() {
    let d = Slapd::shared();
    let extra = format!(
        "{}registry:\n  services: [{{ name: registry.test, issuer: gantry-test }}]\npolicy:\n  rules:\n    - name: devs\n      groups: [developers]\n      registry: [{{ repositories: [\"apps/**\"], actions: [pull, push] }}]\n",
        d.connector_yaml(&d.plain())
    );
    let app = TestApp::start_with(Opts {
        password_connector: "ldap",
        extra_yaml: extra,
        ..Default::default()
    })
    .await;
    let get = |user: &'static str, pw: &'static str| {
        let url = app.url("/registry/token");
        async move {
            let r = reqwest::Client::new()
                .get(url)
                .basic_auth(user, Some(pw))
                .query(&[
                    ("service", "registry.test"),
                    ("scope", "repository:apps/web:pull,push"),
                ])
                .send()
                .await
                .unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }
    };
    let (s, t) = get("bob", "bob123").await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(
        jwt_claims(t["token"].as_str().unwrap())["access"][0]["actions"],
        serde_json::json!(["pull", "push"])
    );
    let (s, _) = get("carol", "carol123").await;
    assert_eq!(
        s,
        StatusCode::OK,
        "carol logs in; she is in no group, so the token grants nothing"
    );
    let (s, _) = get("bob", "wrong").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

/// A "directory" that answers the first request on each connection with `answer` and then
/// holds the connection open: malformed BER from a hostile or broken server.
async fn hostile_directory(answer: Vec<u8>) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                if matches!(sock.read(&mut buf).await, Ok(n) if n > 0) {
                    let _ = sock.write_all(&answer).await;
                }
                while matches!(sock.read(&mut buf).await, Ok(n) if n > 0) {}
            });
        }
    });
    port
}

/// BER nested `depth` SEQUENCEs deep inside a bind response to message 1.
fn deeply_nested_bind_response(depth: usize) -> Vec<u8> {
    // Six bytes of header per level, each SEQUENCE holding the next.
    let mut inner: Vec<u8> = Vec::with_capacity(6 * depth);
    for level in (0..depth as u32).rev() {
        inner.extend_from_slice(&[0x30, 0x84]);
        inner.extend_from_slice(&(6 * level).to_be_bytes());
    }
    let mut op = vec![0x61, 0x84];
    op.extend_from_slice(&(inner.len() as u32).to_be_bytes());
    op.extend_from_slice(&inner);
    let mut msg = vec![0x30, 0x84];
    msg.extend_from_slice(&((op.len() + 3) as u32).to_be_bytes());
    msg.extend_from_slice(&[0x02, 0x01, 0x01]);
    msg.extend_from_slice(&op);
    msg
}

#[tokio::test]
async fn a_directory_sending_malformed_ber_fails_the_login_cleanly_and_gantry_keeps_serving() {
    let answers: Vec<(&str, Vec<u8>)> = vec![
        // Well framed, but the bind response has no result code, matchedDN or message.
        (
            "result-less",
            vec![0x30, 0x05, 0x02, 0x01, 0x01, 0x61, 0x00],
        ),
        ("empty-message", vec![0x30, 0x00]),
        // A matchedDN that is not UTF-8.
        (
            "not-utf8",
            vec![
                0x30, 0x0d, 0x02, 0x01, 0x01, 0x61, 0x08, 0x0a, 0x01, 0x00, 0x04, 0x01, 0xff, 0x04,
                0x00,
            ],
        ),
        // Indefinite lengths, which LDAP forbids (RFC 4511, 5.1).
        (
            "indefinite",
            vec![
                0x30, 0x80, 0x02, 0x01, 0x01, 0x61, 0x80, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00,
                0x00, 0x00, 0x00, 0x00,
            ],
        ),
        ("nested", deeply_nested_bind_response(100_000)),
    ];
    let d = Slapd::shared();
    let mut yaml = d.connector_yaml(&d.plain());
    for (id, answer) in &answers {
        let port = hostile_directory(answer.clone()).await;
        yaml.push_str(&format!(
            "  - type: ldap\n    id: {id}\n    name: {id}\n    config:\n      host: 127.0.0.1:{port}\n      \
             insecureNoSSL: true\n      timeout: 2s\n      bindDN: cn=readonly,{BASE}\n      bindPW: x\n      \
             userSearch: {{ baseDN: \"{BASE}\", username: uid }}\n"
        ));
    }
    let app = TestApp::start_with(Opts {
        password_connector: "ldap",
        extra_yaml: yaml,
        ..Default::default()
    })
    .await;
    for (id, _) in &answers {
        let b = app.browser();
        let form = login_form(&app, &b, id, "openid").await;
        let r = post_login(&b, &form, "bob", "bob123").await;
        let status = r.status();
        let page = r.text().await.unwrap();
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{id}: {page}");
        assert!(
            page.contains("directory that checks your password is not answering"),
            "{id}: {page}"
        );
        // Gantry still serves, and the real directory still logs users in.
        let (s, t) = password_grant(&app, "bob", "bob123", "openid groups").await;
        assert_eq!(s, StatusCode::OK, "after {id}: {t}");
        // The operator's log names the cause (Test itself says only "not reachable").
        let p = app.provider.connector(id).unwrap().probe(0).await;
        assert_eq!(
            p.outcome,
            gantry::connector::probe::Outcome::Unreachable,
            "{id}"
        );
        let e = p.detail.unwrap_or_default();
        assert!(e.contains("sent a malformed LDAP message"), "{id}: {e}");
    }
}
