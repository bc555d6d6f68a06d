//! The `saml` connector: responses signed by xmlsec1 (an independent implementation) logged in
//! through Gantry's real endpoints, a hostile corpus of forged responses each refused with a
//! page that says why, and (in `saml_idp_*`) a real SimpleSAMLphp IdP.

use std::path::PathBuf;

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;

const IDP_ISSUER: &str = "http://idp.test/metadata";

/// A key pair for the signing script, made once per kind ("rsa", "ec", "other").
fn keydir(kind: &str) -> PathBuf {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/saml-test-keys")
        .join(kind);
    let _g = LOCK.lock().unwrap();
    if !dir.join("idp.crt").exists() {
        std::fs::create_dir_all(&dir).unwrap();
        let ok = std::process::Command::new("bash")
            .arg(script())
            .arg(&dir)
            .env("KEY", if kind == "ec" { "ec" } else { "rsa" })
            .env("SIGN", "none")
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap()
            .success();
        assert!(ok, "key generation");
    }
    dir
}

fn script() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/peers/saml-sign.sh").to_string()
}

/// A response signed by xmlsec1 with `env` (see scripts/peers/saml-sign.sh).
async fn signed(kind: &str, env: &[(&str, &str)]) -> String {
    let out = tokio::process::Command::new("bash")
        .arg(script())
        .arg(keydir(kind))
        .envs(env.iter().copied())
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "xmlsec1: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

async fn saml_app() -> TestApp {
    let pems = [keydir("rsa"), keydir("ec")]
        .iter()
        .map(|d| std::fs::read_to_string(d.join("idp.crt")).unwrap())
        .collect::<String>();
    let ca_data = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, pems);
    TestApp::start_with(Opts {
        extra_yaml: format!(
            r#"connectors:
  - type: saml
    id: saml
    name: Company SAML
    config:
      ssoURL: http://127.0.0.1:9/sso
      caData: {ca_data}
      redirectURI: @ISSUER@/callback
      ssoIssuer: {IDP_ISSUER}
      usernameAttr: uid
      emailAttr: email
      groupsAttr: groups
      maxSessionAge: 1h
"#
        ),
        ..Opts::default()
    })
    .await
}

/// A login started in a fresh browser up to the IdP: (browser, RelayState, AuthnRequest ID).
async fn start(app: &TestApp, scope: &str) -> (reqwest::Client, String, String) {
    let b = app.browser();
    let auth = rp_auth_url(app, "saml", scope, &[]);
    let to_idp = walk(&b, &auth, "", "", |u| u.starts_with("http://127.0.0.1:9/")).await;
    let relay = query_param(&to_idp, "RelayState").expect("RelayState");
    let req = query_param(&to_idp, "SAMLRequest").expect("SAMLRequest");
    let deflated = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, req).unwrap();
    // One stored DEFLATE block: a 5-byte header, then the XML as is.
    let xml = String::from_utf8(deflated[5..].to_vec()).unwrap();
    let id = xml
        .split("ID=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    assert!(xml.contains(&format!(
        "AssertionConsumerServiceURL=\"{}\"",
        app.url("/callback")
    )));
    (b, relay, id)
}

async fn post(app: &TestApp, b: &reqwest::Client, relay: &str, xml: &str) -> reqwest::Response {
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, xml);
    b.post(app.url("/callback"))
        .form(&[("SAMLResponse", b64.as_str()), ("RelayState", relay)])
        .send()
        .await
        .unwrap()
}

/// Sign env for a response to request `id` at the ACS `acs`.
fn env_for<'a>(id: &'a str, acs: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![("ACS", acs), ("INRESPONSETO", id), ("ISSUER", IDP_ISSUER)]
}

/// POST a response, follow Gantry to the client, exchange the code; the tokens.
async fn complete(app: &TestApp, b: &reqwest::Client, relay: &str, xml: &str) -> Value {
    let r = post(app, b, relay, xml).await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap_or_default()
    );
    let next = app.absolute(location(&r));
    let approval = walk(b, &next, "", "", |u| u.starts_with(&app.url("/approval"))).await;
    let back = walk(b, &approval, "", "", |u| u.starts_with(RP_REDIRECT)).await;
    let code = query_param(&back, "code").expect("code");
    let (s, t) = app.exchange(&code, None, RP).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    t
}

#[tokio::test]
async fn responses_signed_by_xmlsec1_log_in_whichever_element_is_signed() {
    let app = saml_app().await;
    let acs = app.url("/callback");
    for (kind, sign, prefixes) in [
        ("rsa", "assertion", ""),
        ("rsa", "response", ""),
        ("rsa", "both", ""),
        ("ec", "assertion", ""),
        // InclusiveNamespaces: the unused `xs` namespace is part of what is signed.
        ("rsa", "assertion", "xs"),
    ] {
        let (b, relay, id) = start(&app, "openid email profile groups").await;
        let mut env = env_for(&id, &acs);
        env.push(("SIGN", sign));
        env.push(("PREFIXLIST", prefixes));
        let xml = signed(kind, &env).await;
        let t = complete(&app, &b, &relay, &xml).await;
        let c = jwt_claims(t["id_token"].as_str().unwrap());
        assert_eq!(c["name"], "alice", "{kind}/{sign}");
        assert_eq!(c["email"], "alice@example.org");
        assert_eq!(c["email_verified"], true);
        assert_eq!(c["groups"], serde_json::json!(["admins", "developers"]));
    }
    let md = reqwest::get(app.url("/saml/saml/metadata")).await.unwrap();
    assert_eq!(md.status(), StatusCode::OK);
    let md = md.text().await.unwrap();
    assert!(md.contains(&format!("entityID=\"{acs}\"")), "{md}");
    assert!(md.contains(&format!("Location=\"{acs}\"")));
}

#[tokio::test]
async fn a_saml_session_refreshes_until_its_maximum_age() {
    let app = saml_app().await;
    let acs = app.url("/callback");
    let (b, relay, id) = start(&app, "openid email offline_access").await;
    let xml = signed("rsa", &env_for(&id, &acs)).await;
    let t = complete(&app, &b, &relay, &xml).await;
    let rt = t["refresh_token"]
        .as_str()
        .expect("SAML logins get refresh tokens");
    let refresh = |rt: String| {
        let app = &app;
        async move {
            app.post_token(
                &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
                Some(RP),
            )
            .await
        }
    };
    app.clock.advance(1800);
    let (s, t2) = refresh(rt.to_string()).await;
    assert_eq!(s, StatusCode::OK, "{t2}");
    app.clock.advance(1800);
    let (s, e) = refresh(t2["refresh_token"].as_str().unwrap().to_string()).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "past maxSessionAge the user logs in again"
    );
}

/// One forged or bad response, and what the page must say about it.
struct Case {
    name: &'static str,
    status: StatusCode,
    says: &'static str,
}

fn replace_once(x: &str, from: &str, to: &str) -> String {
    assert!(x.contains(from), "fixture lacks {from}");
    x.replacen(from, to, 1)
}

/// The assertion element of a response, as text.
fn assertion_of(x: &str) -> String {
    let start = x.find("<saml:Assertion").unwrap();
    let end = x.find("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
    x[start..end].to_string()
}

#[tokio::test]
async fn a_hostile_corpus_of_forged_responses_is_refused_and_creates_nothing() {
    let app = saml_app().await;
    let acs = app.url("/callback");
    let mut tried = 0;
    // Each case gets a fresh login so that only the forgery can be why it fails.
    macro_rules! case {
        ($case:expr, |$id:ident| $make:expr) => {{
            let case: Case = $case;
            let (b, relay, $id) = start(&app, "openid email").await;
            let xml: String = $make;
            let r = post(&app, &b, &relay, &xml).await;
            let status = r.status();
            let page = r.text().await.unwrap_or_default();
            assert_eq!(status, case.status, "{}: {page}", case.name);
            assert!(
                page.contains(case.says),
                "{}: the page should say `{}`:\n{page}",
                case.name,
                case.says
            );
            tried += 1;
        }};
    }
    let good = |id: String, extra: Vec<(&'static str, String)>| {
        let acs = acs.clone();
        async move {
            let mut env: Vec<(String, String)> = vec![
                ("ACS".into(), acs),
                ("INRESPONSETO".into(), id),
                ("ISSUER".into(), IDP_ISSUER.into()),
            ];
            env.extend(extra.into_iter().map(|(k, v)| (k.to_string(), v)));
            let e: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            signed("rsa", &e).await
        }
    };
    let forbidden = StatusCode::FORBIDDEN;

    case!(
        Case {
            name: "unsigned",
            status: forbidden,
            says: "not signed"
        },
        |id| good(id, vec![("SIGN", "none".into())]).await
    );
    case!(
        Case {
            name: "another key",
            status: forbidden,
            says: "not by the identity provider"
        },
        |id| {
            let e = [
                ("ACS", acs.as_str()),
                ("INRESPONSETO", id.as_str()),
                ("ISSUER", IDP_ISSUER),
            ];
            signed("other", &e).await
        }
    );
    case!(
        Case {
            name: "NameID changed after signing",
            status: forbidden,
            says: "digest mismatch"
        },
        |id| replace_once(
            &good(id, vec![]).await,
            ">alice@example.org</saml:NameID>",
            ">mallory@example.org</saml:NameID>"
        )
    );
    case!(
        Case {
            name: "group added after signing",
            status: forbidden,
            says: "digest mismatch"
        },
        |id| replace_once(
            &good(id, vec![]).await,
            "<saml:AttributeValue>admins</saml:AttributeValue>",
            "<saml:AttributeValue>root</saml:AttributeValue>"
        )
    );
    case!(
        Case {
            name: "assertion changed under a response signature",
            status: forbidden,
            says: "response signature"
        },
        |id| replace_once(
            &good(id, vec![("SIGN", "response".into())]).await,
            ">alice</saml:AttributeValue>",
            ">root</saml:AttributeValue>"
        )
    );
    case!(
        Case {
            name: "a second, unsigned assertion appended",
            status: forbidden,
            says: "more than one assertion"
        },
        |id| {
            let x = good(id, vec![]).await;
            let evil = assertion_of(&x)
                .replace("alice@example.org", "mallory@example.org")
                .replace("ID=\"_a", "ID=\"_evil");
            replace_once(&x, "</samlp:Response>", &format!("{evil}</samlp:Response>"))
        }
    );
    case!(
        Case {
            name: "signed assertion moved under Extensions, evil one in its place",
            status: forbidden,
            says: "more than one assertion"
        },
        |id| {
            let x = good(id, vec![]).await;
            let a = assertion_of(&x);
            let evil = a
                .replace("alice@example.org", "mallory@example.org")
                .replace("ID=\"_a", "ID=\"_evil");
            let without = x.replace(&a, &evil);
            replace_once(
                &without,
                "<samlp:Status>",
                &format!("<samlp:Extensions>{a}</samlp:Extensions><samlp:Status>"),
            )
        }
    );
    case!(
        Case {
            name: "signed assertion hidden in the signature's Object",
            status: forbidden,
            says: "more than one assertion"
        },
        |id| {
            let x = good(id, vec![("SIGN", "both".into())]).await;
            let a = assertion_of(&x);
            let evil = a
                .replace("alice@example.org", "mallory@example.org")
                .replace("ID=\"_a", "ID=\"_evil");
            let x = x.replace(&a, &evil);
            replace_once(
                &x,
                "</ds:SignatureValue>",
                &format!("</ds:SignatureValue><ds:Object>{a}</ds:Object>"),
            )
        }
    );
    case!(
        Case {
            name: "the signed element's ID duplicated on an evil copy",
            status: forbidden,
            says: "appears twice"
        },
        |id| {
            let x = good(id, vec![]).await;
            let a = assertion_of(&x);
            let evil = a.replace("alice@example.org", "mallory@example.org");
            replace_once(
                &x,
                "<samlp:Status>",
                &format!("<samlp:Extensions>{evil}</samlp:Extensions><samlp:Status>"),
            )
        }
    );
    case!(
        Case {
            name: "assertion signature moved up to the response",
            status: forbidden,
            says: "references another element"
        },
        |id| {
            let x = good(id, vec![]).await;
            let s = x.find("<ds:Signature").unwrap();
            let e = x.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
            let sig = x[s..e].to_string();
            let x = x.replace(&sig, "");
            replace_once(&x, "<samlp:Status>", &format!("{sig}<samlp:Status>"))
        }
    );
    case!(
        Case {
            name: "two signatures on the assertion",
            status: forbidden,
            says: "two signatures"
        },
        |id| {
            let x = good(id, vec![]).await;
            let s = x.find("<ds:Signature").unwrap();
            let e = x.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
            let sig = x[s..e].to_string();
            replace_once(&x, &sig, &format!("{sig}{sig}"))
        }
    );
    case!(
        Case {
            name: "comment inside the NameID",
            status: forbidden,
            says: "comment"
        },
        |id| replace_once(
            &good(id, vec![]).await,
            "alice@example.org</saml:NameID>",
            "alice@example.org<!---->.evil.com</saml:NameID>"
        )
    );
    case!(
        Case {
            name: "comment inside an attribute value",
            status: forbidden,
            says: "comment"
        },
        |id| replace_once(
            &good(id, vec![]).await,
            ">alice</saml:AttributeValue>",
            ">alice<!-- x --></saml:AttributeValue>"
        )
    );
    case!(
        Case {
            name: "DOCTYPE with an entity declaration",
            status: forbidden,
            says: "DOCTYPE"
        },
        |id| replace_once(
            &good(id, vec![]).await,
            "<samlp:Response",
            "<!DOCTYPE r [<!ENTITY e \"mallory\">]><samlp:Response"
        )
    );
    case!(
        Case {
            name: "an undeclared entity",
            status: forbidden,
            says: "not well-formed"
        },
        |id| replace_once(
            &good(id, vec![]).await,
            ">alice</saml:AttributeValue>",
            ">&xxe;</saml:AttributeValue>"
        )
    );
    case!(
        Case {
            name: "wrong audience",
            status: forbidden,
            says: "another audience"
        },
        |id| good(id, vec![("AUDIENCE", "http://other-sp.example".into())]).await
    );
    case!(
        Case {
            name: "wrong recipient",
            status: forbidden,
            says: "no bearer confirmation"
        },
        |id| good(
            id,
            vec![("RECIPIENT", "http://other-sp.example/acs".into())]
        )
        .await
    );
    case!(
        Case {
            name: "wrong destination",
            status: forbidden,
            says: "another destination"
        },
        |id| good(
            id,
            vec![("DESTINATION", "http://other-sp.example/acs".into())]
        )
        .await
    );
    case!(
        Case {
            name: "wrong issuer",
            status: forbidden,
            says: "another issuer"
        },
        |id| good(id, vec![("ISSUER", "http://evil-idp.example".into())]).await
    );
    case!(
        Case {
            name: "expired",
            status: forbidden,
            says: "no bearer confirmation"
        },
        |id| good(
            id,
            vec![
                ("NOT_BEFORE", "-20 min".into()),
                ("NOT_ON_OR_AFTER", "-10 min".into())
            ]
        )
        .await
    );
    case!(
        Case {
            name: "not yet valid",
            status: forbidden,
            says: "not valid yet"
        },
        |id| good(
            id,
            vec![
                ("NOT_BEFORE", "+10 min".into()),
                ("NOT_ON_OR_AFTER", "+20 min".into())
            ]
        )
        .await
    );
    case!(
        Case {
            name: "InResponseTo Gantry never sent",
            status: forbidden,
            says: "does not answer the request"
        },
        |_id| good("_never_sent".into(), vec![]).await
    );
    case!(
        Case {
            name: "status Responder",
            status: forbidden,
            says: "status:Responder"
        },
        |id| good(
            id,
            vec![(
                "STATUS",
                "urn:oasis:names:tc:SAML:2.0:status:Responder".into()
            )]
        )
        .await
    );
    case!(
        Case {
            name: "SHA-1",
            status: forbidden,
            says: "SHA-1"
        },
        |id| good(id, vec![("ALG", "sha1".into())]).await
    );
    case!(
        Case {
            name: "encrypted assertion",
            status: forbidden,
            says: "encrypted assertions are not supported"
        },
        |id| {
            let x = good(id, vec![]).await;
            let a = assertion_of(&x);
            x.replace(&a, "<saml:EncryptedAssertion><xenc:EncryptedData xmlns:xenc=\"http://www.w3.org/2001/04/xmlenc#\"/></saml:EncryptedAssertion>")
        }
    );
    case!(
        Case {
            name: "transforms changed",
            status: forbidden,
            says: "transforms"
        },
        |id| replace_once(
            &good(id, vec![]).await,
            "<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>",
            ""
        )
    );
    case!(
        Case {
            name: "an element with more attributes than any response has",
            status: forbidden,
            says: "more than 64 attributes"
        },
        |id| {
            let attrs: String = (0..65).map(|i| format!(" a{i}=\"{i}\"")).collect();
            replace_once(
                &good(id, vec![]).await,
                "<saml:AttributeValue>admins",
                &format!("<saml:AttributeValue{attrs}>admins"),
            )
        }
    );
    case!(
        Case {
            name: "more namespaces in scope than any response has",
            status: forbidden,
            says: "more than 32 namespace declarations"
        },
        |id| {
            let decls: String = (0..31)
                .map(|i| format!(" xmlns:n{i}=\"urn:{i}\""))
                .collect();
            replace_once(
                &good(id, vec![]).await,
                "<saml:AttributeValue>admins",
                &format!("<saml:AttributeValue{decls}>admins"),
            )
        }
    );
    case!(
        Case {
            name: "an InclusiveNamespaces list longer than any signer writes",
            status: forbidden,
            says: "more than 16 prefixes"
        },
        |id| {
            let list: Vec<String> = (0..17).map(|i| format!("p{i}")).collect();
            good(id, vec![("PREFIXLIST", list.join(" "))]).await
        }
    );
    case!(
        Case {
            name: "far larger than any real response",
            status: forbidden,
            says: "far larger"
        },
        |id| replace_once(
            &good(id, vec![]).await,
            ">alice</saml:AttributeValue>",
            &format!(">{}</saml:AttributeValue>", "a".repeat(270 * 1024))
        )
    );
    case!(
        Case {
            name: "not XML",
            status: forbidden,
            says: "not well-formed"
        },
        |_id| "this is not xml".to_string()
    );
    case!(
        Case {
            name: "an AuthnRequest instead of a response",
            status: forbidden,
            says: "not a SAML Response"
        },
        |id| format!(
            "<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" ID=\"{id}\"/>"
        )
    );

    // A replayed assertion: the same assertion ID, even for a new request.
    let (b1, relay1, id) = start(&app, "openid email").await;
    let fixed = [
        ("ACS", acs.as_str()),
        ("INRESPONSETO", id.as_str()),
        ("ISSUER", IDP_ISSUER),
        ("ASSERTION_ID", "_replayed_assertion_1"),
    ];
    let first = signed("rsa", &fixed).await;
    assert_eq!(
        post(&app, &b1, &relay1, &first).await.status(),
        StatusCode::SEE_OTHER
    );
    let (b, relay, id) = start(&app, "openid email").await;
    let again = [
        ("ACS", acs.as_str()),
        ("INRESPONSETO", id.as_str()),
        ("ISSUER", IDP_ISSUER),
        ("ASSERTION_ID", "_replayed_assertion_1"),
    ];
    let r = post(&app, &b, &relay, &signed("rsa", &again).await).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("already used"));
    // The same POST twice (same RelayState) finds the login already answered.
    let r = post(&app, &b1, &relay1, &first).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // No RelayState (IdP-initiated), and a forged one.
    let r = post(&app, &b, "", &first).await;
    assert!(r.text().await.unwrap().contains("IdP-initiated"));
    let r = post(&app, &b, "forged-relay-state", &first).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // The verified-but-parked login of the first replay test is the only identity anywhere,
    // and it is waiting for its browser: nothing else was created.
    let pool = app.pool().await;
    let (parked,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM upstream_logins WHERE identity IS NOT NULL")
            .fetch_one(&pool)
            .await
            .unwrap();
    let (logged_in,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM auth_requests WHERE identity IS NOT NULL")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((parked, logged_in), (1, 0));
    assert!(tried >= 25, "{tried} cases");
}

/// A response signed by xmlsec1 over the whole Response, then given `depth` nested elements
/// under its Extensions: well-formed and signed-looking, so checking its digest means walking
/// the whole tree before anything can fail.
async fn nested_after_signing(app: &TestApp, id: &str, depth: usize) -> String {
    let acs = app.url("/callback");
    let mut env = env_for(id, &acs);
    env.push(("SIGN", "response"));
    let x = signed("rsa", &env).await;
    replace_once(
        &x,
        "<samlp:Status>",
        &format!(
            "<samlp:Extensions>{}{}</samlp:Extensions><samlp:Status>",
            "<x>".repeat(depth),
            "</x>".repeat(depth)
        ),
    )
}

#[tokio::test]
async fn a_response_nesting_thousands_of_elements_is_refused_and_gantry_keeps_serving() {
    let app = saml_app().await;
    let (b, relay, id) = start(&app, "openid email").await;
    // About 35 KB: one POST, before any signature is checked.
    let deep = nested_after_signing(&app, &id, 5000).await;
    assert!(deep.len() < 40 * 1024, "{} bytes", deep.len());
    let r = post(&app, &b, &relay, &deep).await;
    let status = r.status();
    let page = r.text().await.unwrap_or_default();
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    assert!(page.contains("nests elements deeper"), "{page}");
    // Still serving: a new login completes.
    let (b, relay, id) = start(&app, "openid email").await;
    let xml = signed("rsa", &env_for(&id, &app.url("/callback"))).await;
    let t = complete(&app, &b, &relay, &xml).await;
    assert_eq!(
        jwt_claims(t["id_token"].as_str().unwrap())["email"],
        "alice@example.org"
    );
}

/// Gantry on the port SimpleSAMLphp was told about (scripts/test.sh starts both ends' config).
async fn behind_simplesamlphp() -> TestApp {
    let var = |k: &str| {
        std::env::var(k).unwrap_or_else(|_| {
            panic!(
                "{k} is not set. Run the tests through scripts/test.sh, which starts SimpleSAMLphp \
                 with scripts/peers/saml-idp.sh"
            )
        })
    };
    let port: u16 = var("GANTRY_TEST_SAML_SP_PORT").parse().unwrap();
    TestApp::start_with(Opts {
        port: Some(port),
        extra_yaml: format!(
            r#"connectors:
  - type: saml
    id: saml
    name: SimpleSAMLphp
    config:
      metadataURL: {}
      redirectURI: @ISSUER@/callback
      usernameAttr: uid
      emailAttr: email
      groupsAttr: groups
      nameIDPolicyFormat: emailAddress
"#,
            var("GANTRY_TEST_SAML_IDP_METADATA")
        ),
        ..Opts::default()
    })
    .await
}

#[tokio::test]
async fn saml_idp_simplesamlphp_logs_in_through_its_form_in_reqwest_and_in_chromium() {
    let app = behind_simplesamlphp().await;
    let auth = |state: &str| {
        rp_auth_url(
            &app,
            "saml",
            "openid email profile groups",
            &[("state", state)],
        )
    };
    // A scripted browser: AuthnRequest, the IdP's login form, its auto-POST back, approval.
    let b = app.browser();
    let approval = walk(&b, &auth("s1"), "alice", "alice123", |u| {
        u.starts_with(&app.url("/approval"))
    })
    .await;
    let back = walk(&b, &approval, "", "", |u| u.starts_with(RP_REDIRECT)).await;
    let (s, t) = app
        .exchange(&query_param(&back, "code").unwrap(), None, RP)
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let c = jwt_claims(t["id_token"].as_str().unwrap());
    assert_eq!(c["name"], "alice");
    assert_eq!(c["email"], "alice@example.org");
    assert_eq!(c["groups"], serde_json::json!(["admins", "developers"]));

    // A wrong password stays at the IdP: its form again, and no response for Gantry.
    let b = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let login_page = b.get(auth("s2")).send().await.unwrap();
    let at = login_page.url().clone();
    let page = login_page.text().await.unwrap();
    assert!(
        page.contains("name=\"username\""),
        "the IdP's login form:\n{page}"
    );
    let again = b
        .post(at.join("?").unwrap())
        .form(&[
            ("username", "alice"),
            ("password", "wrong"),
            (
                "AuthState",
                hidden(&page, "AuthState").replace("&amp;", "&").as_str(),
            ),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(again.contains("name=\"username\""), "{again}");
    assert!(!again.contains("SAMLResponse"));

    // Headless Chromium, the IdP on another site (localhost vs 127.0.0.1): its POST back is
    // cross-site and carries no cookie; the GET that follows does.
    let back = chromium_walk(&auth("chromium"), "bob", "bob123").await;
    let back = back.as_str();
    assert_eq!(query_param(back, "state").as_deref(), Some("chromium"));
    let (s, t) = app
        .exchange(&query_param(back, "code").unwrap(), None, RP)
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let c = jwt_claims(t["id_token"].as_str().unwrap());
    assert_eq!(c["email"], "bob@example.org");
    assert_eq!(c["groups"], serde_json::json!(["developers"]));
}

#[tokio::test]
async fn idp_metadata_supplies_the_certificate_sso_url_and_issuer() {
    let cert = std::fs::read_to_string(keydir("rsa").join("idp.crt")).unwrap();
    let der: String = cert.lines().filter(|l| !l.starts_with("-----")).collect();
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("idp.xml");
    std::fs::write(
        &md,
        format!(
            r#"<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{IDP_ISSUER}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="encryption"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{ec}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{der}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="http://127.0.0.1:9/post"/>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="http://127.0.0.1:9/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#,
            ec = std::fs::read_to_string(keydir("ec").join("idp.crt"))
                .unwrap()
                .lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<String>()
        ),
    )
    .unwrap();
    let app = TestApp::start_with(Opts {
        extra_yaml: format!(
            r#"connectors:
  - type: saml
    id: saml
    name: From metadata
    config:
      metadataFile: {}
      redirectURI: @ISSUER@/callback
      usernameAttr: uid
      emailAttr: email
"#,
            md.display()
        ),
        ..Opts::default()
    })
    .await;
    let acs = app.url("/callback");
    // The SSO URL came from the metadata's HTTP-Redirect entry (start() stops there).
    let (b, relay, id) = start(&app, "openid email").await;
    let t = complete(&app, &b, &relay, &signed("rsa", &env_for(&id, &acs)).await).await;
    assert_eq!(
        jwt_claims(t["id_token"].as_str().unwrap())["email"],
        "alice@example.org"
    );
    // The encryption-only key is not a signing key; the issuer is the metadata's entityID.
    let (b, relay, id) = start(&app, "openid email").await;
    let r = post(&app, &b, &relay, &signed("ec", &env_for(&id, &acs)).await).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (b, relay, id) = start(&app, "openid email").await;
    let mut env = env_for(&id, &acs);
    env.push(("ISSUER", "http://someone-else.example"));
    let r = post(&app, &b, &relay, &signed("rsa", &env).await).await;
    assert!(r.text().await.unwrap().contains("another issuer"));
}

/// A metadata server that answers every request with an endless body (up to `cap` bytes);
/// its port and the most bytes it managed to write on one connection.
async fn endless_metadata(cap: u64) -> (u16, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    use std::sync::atomic::{AtomicU64, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let most = std::sync::Arc::new(AtomicU64::new(0));
    let m = most.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let m = m.clone();
            tokio::spawn(async move {
                let mut req = [0u8; 4096];
                let _ = s.read(&mut req).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/samlmetadata+xml\r\n\
                            connection: close\r\n\r\n<md:EntityDescriptor>";
                let chunk = vec![b' '; 64 * 1024];
                let mut n = 0u64;
                if s.write_all(head.as_bytes()).await.is_ok() {
                    while n < cap && s.write_all(&chunk).await.is_ok() {
                        n += chunk.len() as u64;
                        m.fetch_max(n, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    (port, most)
}

#[tokio::test]
async fn endless_idp_metadata_is_refused_at_one_mib_and_gantry_keeps_serving() {
    // Without a bound, Gantry would buffer all of it (the report: 2 GiB, 4.1 GiB RSS).
    let cap = 256 << 20;
    let (port, most) = endless_metadata(cap).await;
    let app = TestApp::start_with(Opts {
        extra_yaml: format!(
            "{}connectors:\n  - type: saml\n    id: endless\n    name: Endless\n    config:\n      \
             metadataURL: http://127.0.0.1:{port}/md\n      redirectURI: @ISSUER@/callback\n      \
             usernameAttr: uid\n      emailAttr: email\n",
            crate::admin::POLICY
        ),
        ..Opts::default()
    })
    .await;
    let token = crate::admin::machine_token(&app).await;
    let started = std::time::Instant::now();
    let r: Value = reqwest::Client::new()
        .post(app.url("/api/v1/connectors/endless/test"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(r["outcome"], "unreachable", "{r}");
    // Let the server notice the closed connection.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let written = most.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("metadata refused after {took:?}; at most {written} bytes written on a connection");
    // 1 MiB read, plus what the kernel's socket buffers and the HTTP client held.
    assert!(
        written < 32 << 20,
        "{written} bytes went out before Gantry hung up"
    );
    assert!(took < std::time::Duration::from_secs(5), "{took:?}");
    // The log says why.
    let cause = app
        .provider
        .connector("endless")
        .unwrap()
        .probe(0)
        .await
        .detail
        .unwrap_or_default();
    assert!(cause.contains("larger than 1 MiB"), "{cause}");
    // Still serving: a password login works.
    let (s, t) = app
        .post_token(
            &[
                ("grant_type", "password"),
                ("username", "admin@example.com"),
                ("password", "password"),
                ("scope", "openid"),
            ],
            Some(RP),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");
}
