//! WebAuthn keys as a second factor, in a real headless Chromium with the DevTools protocol's
//! virtual authenticator (tests/rp/webauthn.mjs): a passkey registered at the first login, a
//! login with it from a fresh browser, tokens whose amr says which kind of key it was, and every
//! refusal the script provokes, checked here in the audit log with its reason.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;

const KEY_CLIENT: (&str, &str) = ("key-rp", "key-secret");

/// An app whose `key-rp` client asks for a WebAuthn key, with the RP ID `localhost`: browsers
/// offer WebAuthn to a domain name only, and treat http://localhost as a secure context.
async fn app() -> (TestApp, u16) {
    let port = free_port();
    let app = TestApp::start_with(Opts {
        port: Some(port),
        extra_yaml: format!(
            "mfa:\n  authenticators:\n  - id: key\n    type: WebAuthn\n    config:\n      rpDisplayName: Gantry tests\n      rpID: localhost\n      rpOrigins: [\"http://localhost:{port}\"]\n      userVerification: required\n      attestationPreference: none\n      timeout: 2m\n"
        ),
        extra_clients: format!(
            "  - id: key-rp\n    name: Payroll\n    secret: key-secret\n    redirectURIs: [\"{RP_REDIRECT}\"]\n    mfaChain: [key]\n"
        ),
        ..Opts::default()
    })
    .await;
    (app, port)
}

fn auth_url(base: &str) -> String {
    reqwest::Url::parse_with_params(
        &format!("{base}/dex/auth"),
        &[
            ("client_id", KEY_CLIENT.0),
            ("redirect_uri", RP_REDIRECT),
            ("response_type", "code"),
            ("scope", "openid email"),
            ("state", "st"),
            ("nonce", "nn"),
        ],
    )
    .unwrap()
    .to_string()
}

async fn run_script(app: &TestApp, port: u16) -> Value {
    let rp = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/rp");
    let cfg = serde_json::json!({
        "authLocal": auth_url(&format!("http://localhost:{port}")),
        "auth127": auth_url(&format!("http://127.0.0.1:{port}")),
        "stop": RP_REDIRECT,
        "mfa": format!("http://localhost:{port}/dex/mfa"),
        "attackerPort": free_port(),
        "admin": ["admin@example.com", "password"],
        "dev": ["dev@example.com", "password"],
    });
    let run = tokio::process::Command::new("node")
        .arg(format!("{rp}/webauthn.mjs"))
        .arg(cfg.to_string())
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let _ = app;
    serde_json::from_str(stdout.trim().lines().last().unwrap()).unwrap()
}

/// The ID token of a login that ended at `back` (the client's redirect URI with a code).
async fn id_token(app: &TestApp, back: &Value) -> Value {
    let back = back.as_str().unwrap_or_else(|| panic!("no code: {back}"));
    let code = query_param(back, "code").expect("a code");
    let (status, body) = app.exchange(&code, None, KEY_CLIENT).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    jwt_claims(body["id_token"].as_str().unwrap())
}

/// (actor, outcome, detail) of the audit events of `action`.
async fn audit(app: &TestApp, action: &str) -> Vec<(String, String, Value)> {
    sqlx::query_as::<_, (String, String, String)>(
        "SELECT actor, outcome, detail FROM audit_log WHERE action = $1 ORDER BY id",
    )
    .bind(action)
    .fetch_all(&app.pool().await)
    .await
    .unwrap()
    .into_iter()
    .map(|(a, o, d)| (a, o, serde_json::from_str(&d).unwrap()))
    .collect()
}

#[tokio::test]
async fn a_passkey_registered_in_chromium_logs_in_and_what_is_not_its_answer_is_refused() {
    let (app, port) = app().await;
    let r = run_script(&app, port).await;
    assert_eq!(r.get("page_errors"), None, "{r}");

    // The first login registers a key, shows recovery codes once, and ends with tokens whose
    // amr names a hardware-bound key (the virtual authenticator's BE flag is clear).
    assert_eq!(r["first"]["modes"], serde_json::json!(["create"]), "{r}");
    assert_eq!(r["first"]["recovery_codes"], 10, "{r}");
    assert_eq!(r["credentials_after_registration"], 1, "{r}");
    let first = id_token(&app, &r["first"]["done"]).await;
    assert_eq!(
        first["amr"],
        serde_json::json!(["pwd", "hwk", "mfa"]),
        "{first}"
    );
    assert_eq!(first["acr"], "urn:gantry:acr:mfa");

    // A fresh browser with the same key signs in with it, and registers a second key after it
    // (asked for with the box on the page); that key's recovery codes are the ones shown before.
    assert_eq!(
        r["second"]["modes"],
        serde_json::json!(["get", "create"]),
        "{r}"
    );
    assert_eq!(r["credentials_after_adding"], 2, "{r}");
    assert_eq!(r["second"]["recovery_codes"], 0, "{r}");
    assert_eq!(r["recorded"], true, "{r}");
    let second = id_token(&app, &r["second"]["done"]).await;
    assert_eq!(second["amr"], serde_json::json!(["pwd", "hwk", "mfa"]));
    assert_eq!(second["sub"], first["sub"]);

    // What the third login tried, each answered with the page again (401), never a 500.
    for k in ["replayed", "wrong_origin", "other_users_key"] {
        assert_eq!(r[k]["status"], 401, "{k}: {r}");
        assert!(
            r[k]["text"].as_str().unwrap().contains("was not accepted"),
            "{k}: {r}"
        );
    }
    assert_eq!(r["other_browser"]["status"], 403, "{r}");
    assert!(
        r["other_browser"]["text"]
            .as_str()
            .unwrap()
            .contains("did not come from the browser"),
        "{r}"
    );
    assert!(
        r["counter_back"]["status_text"]
            .as_str()
            .unwrap()
            .contains("was not accepted"),
        "{r}"
    );
    // After them, the real key (its counter ahead) still logs in.
    let third = id_token(&app, &r["third"]["done"]).await;
    assert_eq!(third["amr"], serde_json::json!(["pwd", "hwk", "mfa"]));

    // Another user registers a synced passkey (backup eligible): swk, not hwk.
    assert_eq!(
        r["dev_first"]["modes"],
        serde_json::json!(["create"]),
        "{r}"
    );
    let dev = id_token(&app, &r["dev_first"]["done"]).await;
    assert_eq!(
        dev["amr"],
        serde_json::json!(["pwd", "swk", "mfa"]),
        "{dev}"
    );
    let dev = id_token(&app, &r["dev_second"]["done"]).await;
    assert_eq!(
        dev["amr"],
        serde_json::json!(["pwd", "swk", "mfa"]),
        "{dev}"
    );

    // At http://127.0.0.1 the browser itself refuses a key bound to `localhost`.
    assert!(r["browser_other_origin"]["done"].is_null(), "{r}");
    assert!(
        r["browser_other_origin"]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("could not use the key"),
        "{r}"
    );

    // A recovery code at the key page of a browser without the key: the login ends, and the
    // token claims a one-time code, not the key that was not used.
    assert_eq!(r["recovered"]["modes"], serde_json::json!(["get"]), "{r}");
    let recovered = id_token(&app, &r["recovered"]["done"]).await;
    assert_eq!(
        recovered["amr"],
        serde_json::json!(["pwd", "otp", "mfa"]),
        "{recovered}"
    );
    let used = audit(&app, "mfa.recovery").await;
    assert!(
        used.iter()
            .any(|(a, o, _)| a.contains("dev") && o == "success"),
        "{used:?}"
    );

    // The audit log names each refusal's reason, the cloned-key warning among them.
    let failures: Vec<(String, String)> = audit(&app, "mfa")
        .await
        .into_iter()
        .filter(|(_, o, _)| o == "failure")
        .map(|(a, _, d)| (a, d["reason"].as_str().unwrap_or_default().to_string()))
        .collect();
    for (who, reason) in [
        ("admin", "wrong_challenge"),
        ("admin", "other_browser"),
        ("admin", "wrong_origin"),
        ("admin", "counter_regressed"),
        ("dev", "unknown_credential"),
    ] {
        assert!(
            failures.iter().any(|(a, r)| a.contains(who) && r == reason),
            "{who} {reason}: {failures:?}"
        );
    }
    let cloned = audit(&app, "mfa")
        .await
        .into_iter()
        .find(|(_, _, d)| d["reason"] == "counter_regressed")
        .unwrap();
    assert!(cloned.2["warning"].as_str().unwrap().contains("cloned"));
    let enrolled = audit(&app, "mfa.enrol").await;
    assert_eq!(enrolled.len(), 3, "{enrolled:?}");
    assert!(enrolled.iter().all(|(_, o, d)| o == "success"
        && d["method"] == "webauthn"
        && d["key"].as_str().unwrap().ends_with("test key")));
    // The admin holds two keys, the other user one: each a factor row of its own.
    let subject = first["sub"].as_str().unwrap();
    let keys = app
        .provider
        .second_factors
        .store()
        .factors_of(subject)
        .await
        .unwrap();
    assert_eq!(keys.len(), 2);
    assert!(
        keys.iter()
            .all(|k| k.kind == "webauthn" && k.credential_id.is_some())
    );
}
