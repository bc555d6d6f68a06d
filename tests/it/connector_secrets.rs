//! A connector's stored secret (`bindPW`, `clientSecret`) stays where it was sent: a change
//! that leaves it out keeps it only when the settings that decide where and how it is sent stay
//! the same. Otherwise an admin could point the connector at a host they run, press Test, and
//! receive the directory's service password.

use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use serde_json::Value;

use crate::admin::{POLICY, app, corp_ldap, machine_token, send_json, sign_in};
use crate::support::*;

/// A host an attacker runs: it accepts every connection and keeps every byte sent to it.
async fn attacker_host() -> (u16, Arc<Mutex<Vec<u8>>>) {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let keep = keep.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(Ok(n)) =
                    tokio::time::timeout(std::time::Duration::from_secs(2), conn.read(&mut buf))
                        .await
                {
                    if n == 0 {
                        break;
                    }
                    keep.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            });
        }
    });
    (port, seen)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A simple bind's password as it travels in a BindRequest: `[0]` (0x80), length, bytes. (The
/// test directory's password also appears in its bind DN, so the bare word proves nothing.)
fn simple_auth(password: &str) -> Vec<u8> {
    let mut v = vec![0x80, password.len() as u8];
    v.extend_from_slice(password.as_bytes());
    v
}

#[tokio::test]
async fn an_ldap_bind_password_is_never_sent_to_a_new_host_without_being_typed_again() {
    let slapd = crate::ldap::Slapd::shared();
    let app = app().await;
    let token = machine_token(&app).await;
    let bind_pw = std::env::var("GANTRY_TEST_LDAP_BINDPW").unwrap_or_else(|_| "readonly".into());
    let mut config = corp_ldap(&slapd);
    config["bindPW"] = bind_pw.clone().into();
    let r = send_json(
        &app,
        reqwest::Method::POST,
        "/api/v1/connectors",
        &token,
        serde_json::json!({"id": "corp", "type": "ldap", "name": "Corp", "config": config}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let put = |body: Value| {
        send_json(
            &app,
            reqwest::Method::PUT,
            "/api/v1/connectors/corp",
            &token,
            body,
        )
    };
    let probe = || async {
        reqwest::Client::new()
            .post(app.url("/api/v1/connectors/corp/test"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };

    // Point it at the attacker's host, leaving bindPW out: refused, naming what changed.
    let (port, seen) = attacker_host().await;
    let mut moved = corp_ldap(&slapd);
    moved["host"] = format!("127.0.0.1:{port}").into();
    let r = put(serde_json::json!({"type": "ldap", "name": "Corp", "config": moved})).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let p: Value = r.json().await.unwrap();
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains("bindPW") && detail.contains("host"), "{p}");
    // The same through the admin page's form, its secret field left empty.
    let (b, _) = sign_in(&app, "admin@example.com").await;
    let page = b
        .get(app.url("/admin/connectors?edit=corp"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = b
        .post(app.url("/admin/connectors"))
        .form(&[
            ("csrf", hidden(&page, "csrf").as_str()),
            ("mode", "update"),
            ("id", "corp"),
            ("name", "Corp"),
            ("type", "ldap"),
            ("config", &serde_norway::to_string(&moved).unwrap()),
            ("secret", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("required again"));
    // Test still binds against the directory, and the attacker's host heard nothing.
    assert_eq!(probe().await["ok"], true);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        seen.lock().unwrap().is_empty(),
        "nothing reached the attacker's host"
    );

    // A change of harmless settings only (name, prompt) keeps the stored password.
    let mut renamed = corp_ldap(&slapd);
    renamed["usernamePrompt"] = "Corp username".into();
    let r =
        put(serde_json::json!({"type": "ldap", "name": "Corp directory", "config": renamed})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["secrets"]["bindPW"], true, "{v}");
    assert_eq!(probe().await["ok"], true, "the kept password still binds");

    // With the password typed again, the move is the admin's to make: the new host gets what
    // was typed, never the stored one.
    moved["bindPW"] = "typed-again".into();
    let r = put(serde_json::json!({"type": "ldap", "name": "Corp", "config": moved})).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(probe().await["ok"], false);
    for _ in 0..50 {
        if contains(&seen.lock().unwrap(), &simple_auth("typed-again")) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let got = seen.lock().unwrap().clone();
    assert!(
        contains(&got, &simple_auth("typed-again")),
        "the listener hears the bind"
    );
    assert!(
        !contains(&got, &simple_auth(&bind_pw)),
        "the stored password never left"
    );
}

#[tokio::test]
async fn an_oidc_client_secret_stays_with_its_issuer_and_token_url() {
    let port = free_port();
    let (client_id, client_secret) =
        crate::upstream::register(&format!("http://127.0.0.1:{port}/dex/callback")).await;
    let app = TestApp::start_with(Opts {
        port: Some(port),
        extra_yaml: POLICY.into(),
        ..Opts::default()
    })
    .await;
    let token = machine_token(&app).await;
    let config = |name_key: &str| {
        serde_json::json!({
            "issuer": crate::upstream::upstream(),
            "clientID": client_id,
            "scopes": ["profile", "email", "groups"],
            "insecureEnableGroups": true,
            "claimMapping": {"preferred_username": name_key},
        })
    };
    let mut first = config("preferred_username");
    first["clientSecret"] = client_secret.clone().into();
    let r = send_json(
        &app,
        reqwest::Method::POST,
        "/api/v1/connectors",
        &token,
        serde_json::json!({"id": "upstream", "type": "oidc", "name": "Company SSO", "config": first}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let put = |body: Value| {
        send_json(
            &app,
            reqwest::Method::PUT,
            "/api/v1/connectors/upstream",
            &token,
            body,
        )
    };

    // Another issuer, another token URL, trusting another CA, a change of type: each would
    // send the client secret somewhere new, so each needs it again.
    let (attacker, seen) = attacker_host().await;
    let evil = format!("http://127.0.0.1:{attacker}");
    let mut issuer = config("preferred_username");
    issuer["issuer"] = evil.clone().into();
    let mut token_url = config("preferred_username");
    token_url["providerDiscoveryOverrides"] =
        serde_json::json!({"tokenURL": format!("{evil}/token")});
    let mut ca = config("preferred_username");
    ca["rootCAs"] = serde_json::json!(["/etc/ssl/certs/ca-certificates.crt"]);
    let oauth = serde_json::json!({"clientID": client_id, "tokenURL": format!("{evil}/token"),
        "authorizationURL": format!("{evil}/auth"), "userInfoURL": format!("{evil}/me")});
    for (kind, cfg, names) in [
        ("oidc", issuer, "issuer"),
        ("oidc", token_url, "providerDiscoveryOverrides"),
        ("oidc", ca, "rootCAs"),
        ("oauth", oauth, "type"),
    ] {
        let r = put(serde_json::json!({"type": kind, "name": "Company SSO", "config": cfg})).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{names}");
        let p: Value = r.json().await.unwrap();
        let detail = p["detail"].as_str().unwrap();
        assert!(
            detail.contains("clientSecret") && detail.contains(names),
            "{p}"
        );
    }
    let v: Value = reqwest::Client::new()
        .get(app.url("/api/v1/connectors/upstream"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["config"]["issuer"], crate::upstream::upstream(), "{v}");

    // The name and the claim mapping alone: the stored secret is kept, and it is what the
    // provider's token endpoint checks at the next login.
    let r = put(
        serde_json::json!({"type": "oidc", "name": "Company SSO (new name)",
        "config": config("name")}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["secrets"]["clientSecret"], true, "{v}");
    let login = crate::upstream::account("ana", &["developers"]);
    let t = crate::upstream::login_through(&app, &login, "any").await;
    assert!(t["id_token"].is_string(), "{t}");
    assert!(
        seen.lock().unwrap().is_empty(),
        "nothing reached the attacker's host"
    );
}
