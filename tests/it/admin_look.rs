//! The admin UI and the login page as a user sees them, in a real headless Chromium
//! (tests/rp/admin-look.mjs): where the cursor is, where the navigation says you are, whether a
//! page fits a phone, and whether text can be read in dark and in light mode (WCAG AA).

use serde_json::Value;

use crate::admin::app;

/// What tests/rp/admin-look.mjs saw, signing in to `app` as the admin.
async fn look() -> Value {
    let app = app().await;
    let rp = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/rp");
    let run = tokio::process::Command::new("node")
        .arg(format!("{rp}/admin-look.mjs"))
        .arg(app.url("/admin"))
        .arg("admin@example.com")
        .arg("password")
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let r: Value = serde_json::from_str(stdout.trim().lines().last().unwrap()).unwrap();
    assert_eq!(r["console_errors"], serde_json::json!([]), "{r}");
    r
}

#[tokio::test]
async fn a_failed_login_puts_the_cursor_in_the_password_field() {
    let r = look().await;
    let f = &r["focus"];
    assert_eq!(
        f["fresh"], "login",
        "a fresh login page starts at the name: {r}"
    );
    assert_eq!(f["error_shown"], true, "{r}");
    assert_eq!(f["login_kept"], "admin@example.com", "{r}");
    assert_eq!(
        f["after_failure"], "password",
        "after a wrong password the name is kept and the cursor waits in the password: {r}"
    );
}

#[tokio::test]
async fn every_admin_page_marks_itself_in_the_navigation_and_fits_a_phone_screen() {
    let r = look().await;
    let pages = r["pages"].as_object().unwrap();
    assert_eq!(pages.len(), 8, "{r}");
    for (name, p) in pages {
        let path = if name == "overview" {
            "/admin".to_string()
        } else {
            format!("/admin/{name}")
        };
        let current: Vec<&str> = p["current"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert!(
            current.len() == 1 && current[0].ends_with(&path),
            "{name}: one link, its own, is aria-current=page: {p}"
        );
        assert_eq!(
            p["current_looks_different"], true,
            "{name}: the current page's link is marked for the eye too: {p}"
        );
        let n = &p["narrow"];
        assert!(
            n["page_width"].as_i64().unwrap() <= n["viewport"].as_i64().unwrap(),
            "{name}: at 360 px the page is no wider than the screen: {p}"
        );
        assert_eq!(
            n["tables_in_scrollers"], true,
            "{name}: each table scrolls in a box of its own: {p}"
        );
    }
}

#[tokio::test]
async fn text_links_hints_errors_and_buttons_meet_wcag_aa_in_dark_and_light_mode() {
    let r = look().await;
    eprintln!("contrast, worst of each kind: {:#}", r["contrast"]);
    for scheme in ["dark", "light"] {
        let c = r["contrast"][scheme].as_object().unwrap();
        for kind in ["text", "link", "hint", "error", "primary", "secondary"] {
            let m = &c
                .get(kind)
                .unwrap_or_else(|| panic!("{scheme}: no {kind} measured: {r}"));
            // WCAG 2.x AA for normal text; buttons and links carry text of normal size.
            assert!(
                m["ratio"].as_f64().unwrap() >= 4.5,
                "{scheme} {kind}: contrast {m} is below 4.5:1 ({})",
                r["contrast"]
            );
        }
    }
}
