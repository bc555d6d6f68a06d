//! The admin's connector Test and `connectorNetwork.denyNetworks`: Test reaches any address an
//! admin types, so what it says must not map the networks Gantry sees, and the deny list must
//! hold for every call a connector makes, checked on the address actually connected to.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::admin::{POLICY, machine_token};
use crate::support::*;

/// What the internal services below say; it must never come back through Test.
const MARKER: &str = "internal-marker-7f3a";

/// A service that answers every connection with `status` and a JSON body holding [`MARKER`],
/// whatever it was asked (HTTP, TLS, LDAP), then closes: an internal service that is not an
/// identity source.
async fn answering(status: &str) -> u16 {
    let body = format!(
        r#"{{"error":"{MARKER}","service":"{MARKER}","issuer":"http://{MARKER}.example","keys":[]}}"#
    );
    let answer = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = tokio::time::timeout(Duration::from_millis(500), s.read(&mut buf)).await;
                let _ = s.write_all(answer.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    port
}

/// One connector of each kind that talks to `port` on loopback, ids suffixed with `name`.
fn connectors_at(name: &str, port: u16) -> String {
    let base = format!("http://127.0.0.1:{port}");
    format!(
        "  - type: oidc\n    id: oidc-{name}\n    name: OIDC\n    config:\n      issuer: {base}\n      \
         clientID: g\n      redirectURI: @ISSUER@/callback\n      timeout: 3s\n\
         \x20 - type: oidc\n    id: tls-{name}\n    name: OIDC over TLS\n    config:\n      \
         issuer: https://127.0.0.1:{port}\n      clientID: g\n      redirectURI: @ISSUER@/callback\n      \
         timeout: 3s\n\
         \x20 - type: oauth\n    id: oauth-{name}\n    name: OAuth2\n    config:\n      clientID: g\n      \
         clientSecret: s\n      redirectURI: @ISSUER@/callback\n      authorizationURL: {base}/auth\n      \
         tokenURL: {base}/token\n      userInfoURL: {base}/me\n      timeout: 3s\n\
         \x20 - type: saml\n    id: saml-{name}\n    name: SAML\n    config:\n      \
         metadataURL: {base}/metadata\n      redirectURI: @ISSUER@/callback\n      \
         usernameAttr: uid\n      emailAttr: email\n\
         \x20 - type: ldap\n    id: ldap-{name}\n    name: LDAP\n    config:\n      \
         host: 127.0.0.1:{port}\n      insecureNoSSL: true\n      connectTimeout: 3s\n      \
         timeout: 3s\n      bindDN: cn=readonly,dc=example,dc=org\n      bindPW: pw\n      \
         userSearch: {{ baseDN: \"dc=example,dc=org\", username: uid }}\n"
    )
}

/// POST the API's Test of connector `id`: its JSON answer.
async fn test_connector(app: &TestApp, token: &str, id: &str) -> Value {
    let r = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/connectors/{id}/test")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{id}");
    r.json().await.unwrap()
}

#[tokio::test]
async fn a_test_reads_the_same_for_a_closed_port_and_for_a_service_that_answers_anything() {
    let closed = free_port();
    let failing = answering("500 Internal Server Error").await;
    let talking = answering("200 OK").await;
    let app = TestApp::start_with(Opts {
        extra_yaml: format!(
            "{POLICY}connectors:\n{}{}{}",
            connectors_at("closed", closed),
            connectors_at("failing", failing),
            connectors_at("talking", talking)
        ),
        ..Opts::default()
    })
    .await;
    let token = machine_token(&app).await;
    for kind in ["oidc", "tls", "oauth", "saml", "ldap"] {
        let nothing = test_connector(&app, &token, &format!("{kind}-closed")).await;
        assert_eq!(nothing["ok"], false, "{kind}: {nothing}");
        for service in ["failing", "talking"] {
            let r = test_connector(&app, &token, &format!("{kind}-{service}")).await;
            // Refused, timed out, an HTTP error, any JSON: one answer, nothing of the body.
            assert_eq!(r, nothing, "{kind}-{service} reads like a closed port");
            let text = r.to_string();
            assert!(
                !text.contains(MARKER) && !text.contains("HTTP") && !text.contains("500"),
                "{kind}-{service}: {text}"
            );
        }
        assert_eq!(nothing["outcome"], "unreachable", "{kind}: {nothing}");
    }
    // The same through the admin page.
    let (b, _) = crate::admin::sign_in(&app, "admin@example.com").await;
    let page = b
        .get(app.url("/admin"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = hidden(&page, "csrf");
    let shown = |id: &'static str| {
        let (b, csrf, url) = (&b, csrf.clone(), app.url("/admin/connectors/test"));
        async move {
            let page = b
                .post(url)
                .form(&[("csrf", csrf.as_str()), ("id", id)])
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let at = page.find("id=\"probe\"").expect("the test's result");
            let end = page[at..].find("</div>").unwrap() + at;
            page[at..end].replace(id, "ID")
        }
    };
    let closed_page = shown("oidc-closed").await;
    assert!(closed_page.contains("not reachable"), "{closed_page}");
    assert_eq!(shown("oidc-failing").await, closed_page);
    assert!(!shown("oauth-talking").await.contains(MARKER));
}

fn deny_loopback() -> &'static str {
    "connectorNetwork:\n  denyNetworks: [127.0.0.0/8, \"::1/128\"]\n"
}

/// The real provider and directory as connectors `sso` and `ldap`, the directory also the
/// password connector.
fn real_peers(deny: bool) -> Opts {
    let slapd = crate::ldap::Slapd::shared();
    Opts {
        password_connector: "ldap",
        extra_yaml: format!(
            "{POLICY}{}{}\n  - type: oidc\n    id: sso\n    name: SSO\n    config:\n      issuer: {}\n      \
             clientID: gantry\n      redirectURI: @ISSUER@/callback\n",
            if deny { deny_loopback() } else { "" },
            slapd.connector_yaml(&format!(
                "      host: 127.0.0.1:{}\n      insecureNoSSL: true",
                slapd.port
            )),
            crate::upstream::upstream()
        ),
        ..Opts::default()
    }
}

#[tokio::test]
async fn deny_networks_stops_every_connector_call_into_the_range_and_nothing_else() {
    for deny in [false, true] {
        let app = TestApp::start_with(real_peers(deny)).await;
        let token = machine_token(&app).await;
        let sso = test_connector(&app, &token, "sso").await;
        let ldap = test_connector(&app, &token, "ldap").await;
        // A directory login (the password grant through the LDAP connector).
        let (login, t) = app
            .post_token(
                &[
                    ("grant_type", "password"),
                    ("username", "bob"),
                    ("password", "bob123"),
                    ("scope", "openid"),
                ],
                Some(RP),
            )
            .await;
        // A login through the provider: discovery first.
        let b = app.browser();
        let r = b
            .get(rp_auth_url(&app, "sso", "openid", &[]))
            .send()
            .await
            .unwrap();
        let to_provider = b
            .get(app.absolute(location(&r)))
            .send()
            .await
            .unwrap()
            .status();
        let cause = app
            .provider
            .connector("sso")
            .unwrap()
            .probe(0)
            .await
            .detail
            .unwrap_or_default();
        if !deny {
            assert_eq!(sso["ok"], true, "{sso}");
            assert_eq!(
                sso["facts"][1],
                format!("OpenID provider, issuer {}", crate::upstream::upstream()),
                "the one thing of the document shown is its issuer: {sso}"
            );
            assert_eq!(ldap["ok"], true, "{ldap}");
            assert_eq!(login, StatusCode::OK, "{t}");
            assert_eq!(to_provider, StatusCode::SEE_OTHER);
            continue;
        }
        for r in [&sso, &ldap] {
            assert_eq!(r["ok"], false, "{r}");
            assert_eq!(r["outcome"], "denied_network", "{r}");
            assert!(
                r["error"].as_str().unwrap().contains("denied network"),
                "{r}"
            );
        }
        assert_ne!(login, StatusCode::OK, "{t}");
        assert_eq!(to_provider, StatusCode::SERVICE_UNAVAILABLE);
        // The log's cause names the address and the rule.
        assert!(
            cause.contains("127.0.0.1") && cause.contains("denied network"),
            "{cause}"
        );
        // Gantry's own endpoints on loopback are not connector calls: they go on.
        let (s, _) = app
            .post_token(
                &[("grant_type", "client_credentials")],
                Some(("machine", "machine-secret")),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
    }
}

/// A genuine (if keyless) OpenID provider on loopback, issuer as the request names its host,
/// so that it answers as itself under any name or address it is reached by.
fn provider_router(scheme: &'static str) -> axum::Router {
    axum::Router::new()
        .route(
            "/.well-known/openid-configuration",
            axum::routing::get(move |headers: axum::http::HeaderMap| async move {
                let host = headers
                    .get("host")
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                let iss = format!("{scheme}://{host}");
                axum::Json(serde_json::json!({
                    "issuer": iss,
                    "authorization_endpoint": format!("{iss}/auth"),
                    "token_endpoint": format!("{iss}/token"),
                    "jwks_uri": format!("{iss}/jwks"),
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                }))
            }),
        )
        .route(
            "/jwks",
            axum::routing::get(|| async { axum::Json(serde_json::json!({"keys": []})) }),
        )
}

async fn provider_for_any_host() -> u16 {
    serve_router(provider_router("http")).await
}

/// The same over TLS, with a certificate for 127.0.0.1 of its own: (port, CA file).
async fn tls_provider() -> (u16, tempfile::NamedTempFile) {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let ca = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca.path(), cert.cert.pem()).unwrap();
    let tls = gantry::http::listen::tls_from_pem(
        cert.cert.pem().as_bytes(),
        cert.signing_key.serialize_pem().as_bytes(),
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let admission = gantry::http::listen::Admission {
        limits: std::sync::Arc::new(
            gantry::ratelimit::RateLimits::new(&Default::default()).unwrap(),
        ),
        metrics: std::sync::Arc::default(),
    };
    tokio::spawn(gantry::http::listen::serve(
        listener,
        Some(tls),
        provider_router("https"),
        admission,
        std::future::pending(),
    ));
    (port, ca)
}

#[tokio::test]
async fn a_test_says_whether_tls_is_trusted_and_names_a_provider_that_proved_itself() {
    let (port, ca) = tls_provider().await;
    let slapd = crate::ldap::Slapd::shared();
    let oidc = |id: &str, extra: &str| {
        format!(
            "  - type: oidc\n    id: {id}\n    name: {id}\n    config:\n      issuer: https://127.0.0.1:{port}\n      \
             clientID: g\n      redirectURI: @ISSUER@/callback\n{extra}"
        )
    };
    let ldaps = |id: &str, extra: &str| {
        format!(
            "  - type: ldap\n    id: {id}\n    name: {id}\n    config:\n      host: 127.0.0.1:{}\n      \
             bindDN: cn=readonly,dc=example,dc=org\n      bindPW: $GANTRY_TEST_LDAP_BINDPW\n      \
             userSearch: {{ baseDN: \"dc=example,dc=org\", username: uid }}\n{extra}",
            slapd.tls_port
        )
    };
    let app = TestApp::start_with(Opts {
        extra_yaml: format!(
            "{POLICY}connectors:\n{}{}{}{}",
            oidc("untrusted", ""),
            oidc(
                "trusted",
                &format!("      rootCAs: [{}]\n", ca.path().display())
            ),
            ldaps("ldaps-untrusted", ""),
            ldaps("ldaps-trusted", &format!("      rootCA: {}\n", slapd.ca())),
        ),
        ..Opts::default()
    })
    .await;
    let token = machine_token(&app).await;
    for id in ["untrusted", "ldaps-untrusted"] {
        let r = test_connector(&app, &token, id).await;
        assert_eq!(r["outcome"], "tls_failed", "{id}: {r}");
        assert!(r["error"].as_str().unwrap().contains("TLS failed"), "{r}");
    }
    let r = test_connector(&app, &token, "trusted").await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(
        r["facts"],
        serde_json::json!([
            "reachable over TLS, certificate trusted",
            format!("OpenID provider, issuer https://127.0.0.1:{port}"),
            "0 signing key(s) in its JWKS"
        ]),
        "{r}"
    );
    let r = test_connector(&app, &token, "ldaps-trusted").await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(
        r["facts"][0], "reached over ldaps, certificate trusted",
        "{r}"
    );
}

#[tokio::test]
async fn an_address_and_a_name_resolving_into_a_denied_network_are_both_refused() {
    let port = provider_for_any_host().await;
    let slapd = crate::ldap::Slapd::shared();
    let oidc = |id: &str, host: &str| {
        format!(
            "  - type: oidc\n    id: {id}\n    name: {id}\n    config:\n      issuer: http://{host}:{port}\n      \
             clientID: g\n      redirectURI: @ISSUER@/callback\n      insecureAllowHTTP: true\n"
        )
    };
    let connectors = format!(
        "connectors:\n{}{}{}{}\x20 - type: ldap\n    id: ldap-by-name\n    name: LDAP\n    config:\n      \
         host: localhost:{}\n      insecureNoSSL: true\n      bindDN: cn=readonly,dc=example,dc=org\n      \
         bindPW: $GANTRY_TEST_LDAP_BINDPW\n      userSearch: {{ baseDN: \"dc=example,dc=org\", username: uid }}\n",
        oidc("literal", "127.0.0.1"),
        oidc("by-name", "localhost"),
        // An IPv4 address written as IPv6, and the address that means this machine.
        oidc("mapped", "[::ffff:7f00:1]"),
        oidc("unspecified", "0.0.0.0"),
        slapd.port
    );
    for deny in [false, true] {
        let app = TestApp::start_with(Opts {
            extra_yaml: format!(
                "{POLICY}{}{connectors}",
                if deny { deny_loopback() } else { "" }
            ),
            ..Opts::default()
        })
        .await;
        let token = machine_token(&app).await;
        for id in [
            "literal",
            "by-name",
            "mapped",
            "unspecified",
            "ldap-by-name",
        ] {
            let r = test_connector(&app, &token, id).await;
            if deny {
                assert_eq!(r["outcome"], "denied_network", "{id}: {r}");
            } else {
                assert_eq!(r["ok"], true, "{id} is reachable without the rule: {r}");
            }
        }
    }
}

#[tokio::test]
async fn an_oauth_test_asks_the_real_token_endpoint_whether_it_knows_the_client() {
    let (id, secret) = crate::upstream::register("http://127.0.0.1:5556/dex/callback").await;
    let up = crate::upstream::upstream();
    let oauth = |name: &str, secret: &str| {
        format!(
            "  - type: oauth\n    id: {name}\n    name: {name}\n    config:\n      clientID: {id}\n      \
             clientSecret: {secret}\n      redirectURI: http://127.0.0.1:5556/dex/callback\n      \
             authorizationURL: {up}/auth\n      tokenURL: {up}/token\n      userInfoURL: {up}/me\n"
        )
    };
    let app = TestApp::start_with(Opts {
        extra_yaml: format!(
            "{POLICY}connectors:\n{}{}",
            oauth("right", &secret),
            oauth("wrong", "not-the-secret")
        ),
        ..Opts::default()
    })
    .await;
    let token = machine_token(&app).await;
    let r = test_connector(&app, &token, "right").await;
    assert_eq!(r["ok"], true, "{r}");
    assert!(r["facts"].to_string().contains("answered as OAuth2"), "{r}");
    let r = test_connector(&app, &token, "wrong").await;
    assert_eq!(r["outcome"], "client_refused", "{r}");
}
