//! A PostgreSQL outage: requests that need the database fail at once with 503 and
//! Retry-After (never hang, never 500), readiness says so, what needs no database keeps
//! working, and everything recovers by itself when the database is back.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;

#[tokio::test]
async fn a_database_outage_answers_503_at_once_and_heals_itself() {
    let pg = PgCluster::start();
    let app = TestApp::start_with(Opts {
        backend: Backend::PostgresAt(pg.dsn()),
        extra_yaml: format!(
            "{EXAMPLE_POLICY}registry:\n  services:\n    - {{ name: registry.test, issuer: gantry-test }}\n"
        ),
        ..Default::default()
    })
    .await;
    // A hang would show as this client's timeout, far beyond the 1 s the pool waits.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = || {
        http.post(app.url("/token"))
            .basic_auth(RP.0, Some(RP.1))
            .form(&[
                ("grant_type", "password"),
                ("username", "dev@example.com"),
                ("password", "password"),
                ("scope", "openid offline_access"),
            ])
            .send()
    };
    let before: Value = login().await.unwrap().json().await.unwrap();
    let refresh = before["refresh_token"].as_str().unwrap().to_string();

    // A browser that got the login form before the outage and submits it during it.
    let browser = app.browser();
    let form = login_form(&app, &browser, "local", "openid").await;

    pg.run("stop");
    let r = post_login(&browser, &form, "dev@example.com", "password").await;
    assert_eq!(
        r.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "the login form's answer"
    );
    assert_eq!(r.headers()["retry-after"], "5");
    assert!(r.text().await.unwrap().contains("briefly unavailable"));
    // A login stores a refresh token: the database is needed, and it says so.
    let r = login().await.expect("answered, not hung");
    let (status, retry) = (r.status(), r.headers().get("retry-after").cloned());
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(retry.unwrap(), "5");
    assert_eq!(body["error"], "temporarily_unavailable");
    let r = http
        .post(app.url("/token"))
        .basic_auth(RP.0, Some(RP.1))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
        ])
        .send()
        .await
        .expect("answered, not hung");
    let status = r.status();
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        r.text().await.unwrap()
    );
    let ready = http.get(app.url("/healthz/ready")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    // A browser starting a login gets a page that says to retry.
    let r = http
        .get(rp_auth_url(&app, "local", "openid", &[("state", "s")]))
        .send()
        .await
        .expect("answered, not hung");
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()["retry-after"], "5");
    assert!(r.text().await.unwrap().contains("briefly unavailable"));
    // The registry says it in its own format.
    let r = http
        .get(app.url("/registry/token"))
        .query(&[
            ("service", "registry.test"),
            ("scope", "repository:library/x:pull"),
        ])
        .basic_auth("dev@example.com", Some("password"))
        .send()
        .await
        .expect("answered, not hung");
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()["retry-after"], "5");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "UNAVAILABLE");
    // What needs no database goes on: discovery, keys, client_credentials.
    for path in ["/.well-known/openid-configuration", "/keys"] {
        assert_eq!(
            http.get(app.url(path)).send().await.unwrap().status(),
            StatusCode::OK
        );
    }
    let r = http
        .post(app.url("/token"))
        .basic_auth("machine", Some("machine-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    pg.run("restart");
    // Ready again without a restart of Gantry: the pool reconnects on its own.
    let mut healed = false;
    for _ in 0..100 {
        if http
            .get(app.url("/healthz/ready"))
            .send()
            .await
            .unwrap()
            .status()
            == StatusCode::OK
        {
            healed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(healed, "readiness came back");
    // The refresh token from before the outage was neither lost nor spent by the failed try.
    let r = http
        .post(app.url("/token"))
        .basic_auth(RP.0, Some(RP.1))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    assert_eq!(login().await.unwrap().status(), StatusCode::OK);
}
