//! Browser sessions end to end: openid-client through two clients with one cookie jar
//! (tests/rp/sso.mjs), and what the session table holds.

use serde_json::Value;

use crate::support::*;

fn sso_app_opts() -> Opts {
    Opts {
        skip_approval: true,
        extra_yaml: "sessions:\n  ssoSharedWithDefault: all\n".into(),
        extra_clients: format!(
            "  - id: dash\n    name: Dashboard\n    secret: dash-secret\n    redirectURIs: [\"{RP_REDIRECT}\"]\n"
        ),
        ..Default::default()
    }
}

async fn run_sso_script(app: &TestApp) -> Value {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/rp");
    let out = tokio::process::Command::new("node")
        .arg("sso.mjs")
        .current_dir(dir)
        .env("ISSUER", &app.issuer)
        .env("A_ID", "rp")
        .env("A_SECRET", "rp-secret")
        .env("B_ID", "dash")
        .env("B_SECRET", "dash-secret")
        .env("REDIRECT_URI", RP_REDIRECT)
        .env("POST_LOGOUT_URI", "http://127.0.0.1:5555/bye")
        .env("LOGIN", "admin@example.com")
        .env("PASSWORD", "password")
        .output()
        .await
        .expect("node runs (install nodejs: scripts/test.sh does)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "openid-client single sign-on failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap()
}

#[tokio::test]
async fn openid_client_signs_in_once_for_two_clients_and_logout_ends_it() {
    let app = TestApp::start_with(sso_app_opts()).await;
    let r = run_sso_script(&app).await;
    assert_eq!(r["ok"], true);
    // The first login and max_age=0: two forms in five authorizations.
    assert_eq!(r["forms"], 2);
    let sid = r["sid"].as_str().unwrap();
    // Logout ended the session: its row is gone, and the trail says why.
    assert!(
        app.admin.db.get_browser_session(sid).await.is_err(),
        "the session outlived its logout"
    );
    let events = app
        .admin
        .db
        .list_audit(
            &gantry::storage::audit::AuditFilter {
                action: Some("session.end".into()),
                ..Default::default()
            },
            gantry::storage::audit::AuditCursor::Newest,
            10,
        )
        .await
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.detail.contains(sid) && e.detail.contains("logged out")),
        "{events:?}"
    );
}
