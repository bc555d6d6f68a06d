//! Dex's `frontend` settings: the name, logo and theme on every page (error pages too), and a
//! web directory whose static files and theme assets are served instead of the compiled-in
//! ones; its Go templates are named in a warning, a directory that is not there is refused.

use std::path::Path;
use std::process::Command;

use gantry::config::Config;
use reqwest::StatusCode;

use crate::support::*;

async fn app_with(frontend: &str) -> TestApp {
    TestApp::start_with(Opts {
        extra_yaml: format!("frontend:\n{frontend}"),
        ..Opts::default()
    })
    .await
}

async fn get(app: &TestApp, path: &str) -> (StatusCode, String, String) {
    let r = app.browser().get(app.url(path)).send().await.unwrap();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (r.status(), ct, r.text().await.unwrap())
}

/// The login page of the `rp` client (the test app's one connector skips the chooser).
async fn login_page(app: &TestApp) -> String {
    let b = app.browser();
    let r = b
        .get(rp_auth_url(app, "local", "openid", &[("state", "s")]))
        .send()
        .await
        .unwrap();
    b.get(app.absolute(location(&r)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_name_logo_and_theme_show_on_every_page_error_pages_too() {
    let app =
        app_with("  issuer: Acme ID\n  logoURL: https://cdn.example/acme.png\n  theme: dark\n")
            .await;
    let page = login_page(&app).await;
    let error = get(&app, "/nothing-here").await;
    assert_eq!(error.0, StatusCode::NOT_FOUND);
    for page in [&page, &error.2] {
        assert!(
            page.contains(r#"<img class="logo" src="https://cdn.example/acme.png" alt="">"#),
            "{page}"
        );
        assert!(
            page.contains(r#"<html lang="en" data-theme="dark">"#),
            "{page}"
        );
        assert!(
            page.contains(r#"<link rel="stylesheet" href="/dex/theme/styles.css">"#),
            "{page}"
        );
        // Gantry's own sheet, inline; no favicon without a web directory that has one.
        assert!(
            page.contains("<style>") && !page.contains("rel=\"icon\""),
            "{page}"
        );
    }
    assert!(page.contains("<h1>Log in to Acme ID</h1>"), "{page}");
    assert!(
        error.2.contains("<title>Not Found · Acme ID</title>"),
        "{}",
        error.2
    );
    // The compiled-in dark theme and Gantry's style sheet are served.
    let (s, ct, css) = get(&app, "/theme/styles.css").await;
    assert_eq!(
        (s, ct.as_str()),
        (StatusCode::OK, "text/css; charset=utf-8")
    );
    assert!(css.contains("color-scheme: dark"), "{css}");
    let (s, _, css) = get(&app, "/static/style.css").await;
    assert_eq!(s, StatusCode::OK);
    assert!(css.contains("--accent"), "{css}");
    assert_eq!(get(&app, "/theme/logo.png").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn without_frontend_settings_pages_follow_the_browser_and_link_no_theme() {
    let app = TestApp::start().await;
    let page = login_page(&app).await;
    assert!(page.contains("<html lang=\"en\">"), "{page}");
    assert!(
        !page.contains("/theme/") && !page.contains("class=\"logo\""),
        "{page}"
    );
    assert!(page.contains("<h1>Log in to Gantry</h1>"), "{page}");
    assert_eq!(
        get(&app, "/theme/styles.css").await.0,
        StatusCode::NOT_FOUND
    );
}

/// A web directory laid out as Dex's: static/, themes/dark/, templates/.
fn web_dir(root: &Path) {
    let w = |p: &str, body: &[u8]| {
        let path = root.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    };
    w("static/style.css", b"body { color: rebeccapurple }");
    w(
        "static/img/mark.svg",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
    );
    w("static/.hidden", b"not served");
    w("themes/dark/styles.css", b"/* acme dark */");
    w("themes/dark/logo.png", b"\x89PNG acme logo");
    w("themes/dark/favicon.png", b"\x89PNG acme icon");
    w("themes/light/styles.css", b"/* acme light */");
    w("templates/login.html", b"{{ template \"header.html\" . }}");
    w("templates/header.html", b"<html>");
    w("robots.txt", b"User-agent: *");
}

#[tokio::test]
async fn a_web_directory_is_served_instead_of_the_built_in_assets() {
    let dir = tempfile::tempdir().unwrap();
    web_dir(dir.path());
    let app = app_with(&format!("  dir: {}\n  theme: dark\n", dir.path().display())).await;
    let (s, ct, css) = get(&app, "/theme/styles.css").await;
    assert_eq!(
        (s, ct.as_str(), css.as_str()),
        (StatusCode::OK, "text/css; charset=utf-8", "/* acme dark */")
    );
    let (s, ct, _) = get(&app, "/theme/logo.png").await;
    assert_eq!((s, ct.as_str()), (StatusCode::OK, "image/png"));
    let (s, ct, svg) = get(&app, "/static/img/mark.svg").await;
    assert_eq!((s, ct.as_str()), (StatusCode::OK, "image/svg+xml"));
    assert!(svg.starts_with("<svg"));
    let (_, _, css) = get(&app, "/static/style.css").await;
    assert_eq!(css, "body { color: rebeccapurple }");
    // Pages load the directory's sheet instead of Gantry's inline one, its theme, its icon,
    // and its logo (no logoURL: the theme's logo.png, as in Dex).
    let page = login_page(&app).await;
    for want in [
        r#"<link rel="stylesheet" href="/dex/static/style.css">"#,
        r#"<link rel="stylesheet" href="/dex/theme/styles.css">"#,
        r#"<link rel="icon" href="/dex/theme/favicon.png">"#,
        r#"<img class="logo" src="/dex/theme/logo.png" alt="">"#,
    ] {
        assert!(page.contains(want), "{want} in {page}");
    }
    assert!(!page.contains("<style>"), "{page}");
    // Only static/ and the theme in force, never a hidden file, another theme, the
    // templates or a path out of the directory.
    for path in [
        "/static/.hidden",
        "/theme/../templates/login.html",
        "/static/%2e%2e/robots.txt",
        "/static/../../etc/passwd",
        "/theme/light/styles.css",
        "/templates/login.html",
    ] {
        assert_eq!(get(&app, path).await.0, StatusCode::NOT_FOUND, "{path}");
    }
    // The Go templates cannot run: check-config and serve say so and name them.
    let warnings = gantry::app::warnings(&app.config);
    assert!(
        warnings.iter().any(|w| w.path == "frontend.dir"
            && w.message.contains("header.html, login.html")
            && w.message.contains("ignored")),
        "{warnings:?}"
    );
}

#[tokio::test]
async fn a_built_in_theme_fills_in_what_the_directory_lacks() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("static")).unwrap();
    let app = app_with(&format!(
        "  dir: {}\n  theme: light\n",
        dir.path().display()
    ))
    .await;
    let (s, _, css) = get(&app, "/theme/styles.css").await;
    assert_eq!(s, StatusCode::OK);
    assert!(css.contains("color-scheme: light"), "{css}");
    // No logo anywhere: none shown.
    assert!(!login_page(&app).await.contains("class=\"logo\""));
}

fn problems(frontend: &str) -> String {
    let yaml = format!(
        "issuer: http://127.0.0.1:5556/dex\nstorage: {{ type: memory }}\nweb: {{ http: 127.0.0.1:5556 }}\n\
         enablePasswordDB: true\nfrontend:\n{frontend}"
    );
    Config::parse(&yaml)
        .and_then(|c| gantry::app::check(&c))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_frontend_dir_that_is_not_there_is_refused_at_start() {
    let e = problems("  dir: /nonexistent/gantry-web\n");
    assert!(e.contains("frontend.dir: `/nonexistent/gantry-web`"), "{e}");
    let file = tempfile::NamedTempFile::new().unwrap();
    let e = problems(&format!("  dir: {}\n", file.path().display()));
    assert!(e.contains("is not a directory"), "{e}");
    // serve builds no app on it.
    let cfg = Config::parse(
        "issuer: http://127.0.0.1:5556/dex\nstorage: { type: memory }\n\
         web: { http: 127.0.0.1:5556 }\nenablePasswordDB: true\n\
         frontend:\n  dir: /nonexistent/gantry-web\n",
    )
    .unwrap();
    let built = gantry::app::build(&cfg, std::sync::Arc::new(gantry::clock::SystemClock)).await;
    assert!(built.is_err());
    // A theme Gantry lacks, without a directory that has it; a logo that is no address.
    let e = problems("  theme: blue\n");
    assert!(e.contains("frontend.theme: `blue`"), "{e}");
    let e = problems("  logoURL: \"javascript:alert(1)\"\n");
    assert!(e.contains("frontend.logoURL"), "{e}");
    // Dex's legacy theme names are its light one; a theme of the directory's own is fine.
    assert_eq!(problems("  theme: coreos\n"), "");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("themes/blue")).unwrap();
    assert_eq!(
        problems(&format!("  dir: {}\n  theme: blue\n", dir.path().display())),
        ""
    );
}

#[test]
fn check_config_warns_of_go_templates_and_extra_and_refuses_a_missing_dir() {
    let dir = tempfile::tempdir().unwrap();
    web_dir(dir.path());
    let run = |frontend: String| {
        let f = tempfile::tempdir().unwrap();
        let path = f.path().join("gantry.yaml");
        std::fs::write(
            &path,
            format!(
                "issuer: http://127.0.0.1:5556/dex\nstorage: {{ type: memory }}\n\
                 web: {{ http: 127.0.0.1:5556 }}\nenablePasswordDB: true\nfrontend:\n{frontend}"
            ),
        )
        .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_gantry"))
            .args(["check-config", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (ok, err) = run(format!(
        "  dir: {}\n  extra:\n    tos_url: https://acme.example/tos\n",
        dir.path().display()
    ));
    assert!(ok, "{err}");
    assert!(
        err.contains(
            "warning: frontend.dir: templates/ holds Dex's Go templates (header.html, login.html)"
        ),
        "{err}"
    );
    assert!(
        err.contains("warning: frontend.extra") && err.contains("`tos_url`"),
        "{err}"
    );
    let (ok, err) = run("  dir: /nonexistent/gantry-web\n".into());
    assert!(!ok);
    assert!(
        err.contains("frontend.dir: `/nonexistent/gantry-web`"),
        "{err}"
    );
}

/// What tests/rp/theme-look.mjs saw of `url` in Chromium.
async fn look(url: &str) -> serde_json::Value {
    let rp = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/rp");
    let run = tokio::process::Command::new("node")
        .arg(format!("{rp}/theme-look.mjs"))
        .arg(url)
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    serde_json::from_str(stdout.trim().lines().last().unwrap()).unwrap()
}

#[tokio::test]
async fn in_chromium_a_theme_wins_over_the_systems_scheme_and_its_sheet_is_let_in() {
    // --bg of static/style.css in each scheme.
    const LIGHT: &str = "rgb(244, 245, 247)";
    const DARK: &str = "rgb(21, 23, 26)";
    for (theme, light, dark) in [
        ("", LIGHT, DARK),
        ("  theme: dark\n", DARK, DARK),
        ("  theme: light\n", LIGHT, LIGHT),
    ] {
        let app = app_with(&format!("  issuer: Acme\n{theme}")).await;
        let seen = look(&app.url("/device")).await;
        assert_eq!(
            (seen["light"].as_str(), seen["dark"].as_str()),
            (Some(light), Some(dark)),
            "theme {theme:?}: {seen}"
        );
        // The theme's sheet loaded: the Content-Security-Policy lets it in. (Chromium's own
        // request for /favicon.ico finds nothing, which is no refusal.)
        assert!(
            !seen["console_errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e.as_str().unwrap().contains("Content Security Policy")),
            "{seen}"
        );
        assert_eq!(
            seen["sheets"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s.as_str().unwrap().ends_with("/dex/theme/styles.css")),
            !theme.is_empty(),
            "{seen}"
        );
    }
}
