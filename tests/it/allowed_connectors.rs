//! `staticClients[].allowedConnectors` (and the admin API's `allowed_connectors`): a client sees
//! and uses only the connectors it lists, on every path that logs in through a connector.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;

/// Two OAuth2 connectors besides `local`; neither provider is contacted unless a test logs in
/// through it (the way in is a redirect Gantry builds itself).
const CONNECTORS: &str = r#"connectors:
  - type: oauth
    id: forge
    name: Forge
    config: { clientID: g, clientSecret: s, redirectURI: "@ISSUER@/callback",
              tokenURL: "http://127.0.0.1:9/token", authorizationURL: "http://127.0.0.1:9/authorize",
              userInfoURL: "http://127.0.0.1:9/user" }
  - type: oauth
    id: corp
    name: Corp
    config: { clientID: g, clientSecret: s, redirectURI: "@ISSUER@/callback",
              tokenURL: "http://127.0.0.1:9/token", authorizationURL: "http://127.0.0.1:9/corp",
              userInfoURL: "http://127.0.0.1:9/user" }
policy:
  admins: { groups: [admins], clients: [machine] }
"#;

/// `two` may use local and forge, `one` forge only, `pw` only forge but the password grant
/// (whose connector is local), `dev` a device client with local and forge.
const CLIENTS: &str = r#"  - id: two
    name: Two
    secret: two-secret
    redirectURIs: ["http://127.0.0.1:5555/callback"]
    allowedConnectors: [local, forge]
  - id: one
    name: One
    secret: one-secret
    redirectURIs: ["http://127.0.0.1:5555/callback"]
    allowedConnectors: [forge]
  - id: pw
    name: Password
    secret: pw-secret
    grantTypes: [password, urn:ietf:params:oauth:grant-type:token-exchange]
    allowedConnectors: [forge]
  - id: dev
    name: Device
    public: true
    allowedConnectors: [local, forge]
  - id: devone
    name: Device one
    public: true
    allowedConnectors: [local]
"#;

async fn app() -> TestApp {
    TestApp::start_with(Opts {
        extra_yaml: CONNECTORS.into(),
        extra_clients: CLIENTS.into(),
        ..Opts::default()
    })
    .await
}

/// `/auth` for `client` with `extra` parameters, in `b`.
async fn auth(
    app: &TestApp,
    b: &reqwest::Client,
    client: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut q = vec![
        ("client_id", client),
        ("redirect_uri", RP_REDIRECT),
        ("response_type", "code"),
        ("scope", "openid offline_access"),
        ("state", "st"),
    ];
    q.extend_from_slice(extra);
    b.get(app.url("/auth")).query(&q).send().await.unwrap()
}

/// The connector links a chooser page shows, by their path's last segment.
fn chooser_links(page: &str) -> Vec<String> {
    page.split("href=\"")
        .skip(1)
        .filter_map(|x| x.split('"').next())
        .filter_map(|h| h.split("/auth/").nth(1))
        .filter_map(|h| h.split('?').next())
        .map(String::from)
        .collect()
}

#[tokio::test]
async fn the_chooser_shows_only_the_listed_connectors_and_one_listed_connector_skips_it() {
    let app = app().await;
    let b = app.browser();
    let r = auth(&app, &b, "two", &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(chooser_links(&r.text().await.unwrap()), ["local", "forge"]);
    // Without a list: every connector.
    let r = auth(&app, &b, "rp", &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        chooser_links(&r.text().await.unwrap()),
        ["local", "forge", "corp"]
    );
    // One listed connector: no chooser, straight to it (Dex's skip).
    let r = auth(&app, &b, "one", &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        location(&r).contains("/auth/forge?req="),
        "{}",
        location(&r)
    );
}

#[tokio::test]
async fn a_connector_id_the_client_does_not_list_is_refused_with_invalid_request() {
    let app = app().await;
    let b = app.browser();
    let r = auth(&app, &b, "two", &[("connector_id", "corp")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let back = location(&r).to_string();
    assert!(back.starts_with(RP_REDIRECT), "{back}");
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("invalid_request")
    );
    assert_eq!(
        query_param(&back, "error_description").as_deref(),
        Some("connector not allowed for this client")
    );
    assert_eq!(query_param(&back, "state").as_deref(), Some("st"));
    // A listed one goes through; an unknown one is still "unknown".
    let r = auth(&app, &b, "two", &[("connector_id", "local")]).await;
    assert!(
        location(&r).contains("/auth/local?req="),
        "{}",
        location(&r)
    );
    let r = auth(&app, &b, "two", &[("connector_id", "nope")]).await;
    assert_eq!(
        query_param(location(&r), "error_description").as_deref(),
        Some("unknown connector_id")
    );
}

/// The request id of a login `client` started in `b`, from the chooser's or the redirect's
/// link.
async fn started(
    app: &TestApp,
    b: &reqwest::Client,
    client: &str,
    extra: &[(&str, &str)],
) -> String {
    let r = auth(app, b, client, extra).await;
    let text = if r.status() == StatusCode::SEE_OTHER {
        location(&r).to_string()
    } else {
        r.text().await.unwrap()
    };
    text.split("req=")
        .nth(1)
        .and_then(|x| x.split(['"', '&']).next())
        .expect("a request id")
        .to_string()
}

#[tokio::test]
async fn the_login_page_and_form_of_a_connector_not_listed_are_refused() {
    let app = app().await;
    let b = app.browser();
    // `two` chose nothing yet: corp is not its to choose.
    let req = started(&app, &b, "two", &[]).await;
    let r = b
        .get(app.url(&format!("/auth/corp?req={req}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("may not log in through this login method")
    );
    // `one` may use forge only: the password form of local is refused, shown or posted, and a
    // right password posted to it logs nobody in.
    let req = started(&app, &b, "one", &[]).await;
    let r = b
        .get(app.url(&format!("/auth/local?req={req}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let posted = |req: String| {
        let app = &app;
        async move { post_password_form(app, "local", &req, "admin@example.com", "password").await }
    };
    assert_eq!(posted(req.clone()).await, StatusCode::FORBIDDEN);
    let pending = app.provider.pending_request(&req).await.unwrap();
    assert!(pending.identity.is_none(), "nobody logged in for `one`");
    // The same form for a client that lists local logs in: the refusal above is the list's.
    let other = started(&app, &b, "two", &[("connector_id", "local")]).await;
    assert_eq!(posted(other).await, StatusCode::SEE_OTHER);
    // A request pinned to forge (connector_id) cannot be finished through local either, even
    // for a client that may use both (Dex's "Bad connector ID").
    let pinned = started(&app, &b, "two", &[("connector_id", "forge")]).await;
    let r = b
        .get(app.url(&format!("/auth/local?req={pinned}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(posted(pinned).await, StatusCode::FORBIDDEN);
}

/// Post the password form of `connector` for request `req` from a browser whose CSRF cookie
/// the test made, so a form the server never showed can be sent as a browser would.
async fn post_password_form(
    app: &TestApp,
    connector: &str,
    req: &str,
    login: &str,
    password: &str,
) -> StatusCode {
    let cookie = gantry::secret::random_token(32);
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(app.url(&format!("/auth/{connector}")))
        .header("cookie", format!("gantry_csrf={cookie}"))
        .form(&[
            ("req", req),
            ("csrf", &gantry::http::csrf::token(&cookie, req)),
            ("login", login),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn the_password_grant_refuses_a_client_that_does_not_list_the_password_connector() {
    let app = app().await;
    let grant = |client: (&'static str, &'static str)| {
        let app = &app;
        async move {
            app.post_token(
                &[
                    ("grant_type", "password"),
                    ("username", "admin@example.com"),
                    ("password", "password"),
                    ("scope", "openid"),
                ],
                Some(client),
            )
            .await
        }
    };
    // `pw` lists forge only; oauth2.passwordConnector is local.
    let (s, body) = grant(("pw", "pw-secret")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(
        body["error_description"],
        "connector not allowed for this client"
    );
    // rp lists none, so it may use local: the same credentials are good.
    let (s, body) = grant(RP).await;
    assert_eq!(s, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn token_exchange_refuses_a_connector_the_client_does_not_list() {
    let app = app().await;
    let exchange = |connector: &'static str| {
        let app = &app;
        async move {
            app.post_token(
                &[
                    (
                        "grant_type",
                        "urn:ietf:params:oauth:grant-type:token-exchange",
                    ),
                    ("subject_token", "a.b.c"),
                    (
                        "subject_token_type",
                        "urn:ietf:params:oauth:token-type:id_token",
                    ),
                    ("connector_id", connector),
                ],
                Some(("pw", "pw-secret")),
            )
            .await
        }
    };
    let (s, body) = exchange("corp").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(
        body["error_description"],
        "connector not allowed for this client"
    );
    // forge is listed: the request gets past the list (and fails later, forge exchanging no
    // tokens), which shows the refusal above is the list's.
    let (s, body) = exchange("forge").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_request", "{body}");
}

#[tokio::test]
async fn a_device_login_offers_only_the_device_clients_connectors() {
    let app = app().await;
    let code = |client: &'static str| {
        let app = &app;
        async move {
            let r: Value = reqwest::Client::new()
                .post(app.url("/device/code"))
                .form(&[("client_id", client), ("scope", "openid")])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            r["user_code"].as_str().expect("a user code").to_string()
        }
    };
    // Type the code in a browser: where the login goes next.
    let typed = |user_code: String| {
        let app = &app;
        async move {
            let b = app.browser();
            let page = b
                .get(app.url("/device"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let r = b
                .post(app.url("/device"))
                .form(&[
                    ("user_code", user_code.as_str()),
                    ("csrf", &hidden(&page, "csrf")),
                ])
                .send()
                .await
                .unwrap();
            (b, r)
        }
    };
    let (_, r) = typed(code("dev").await).await;
    assert_eq!(r.status(), StatusCode::OK, "a chooser");
    assert_eq!(chooser_links(&r.text().await.unwrap()), ["local", "forge"]);
    // devone lists local only: straight there, and forge's page is refused for its request.
    let (b, r) = typed(code("devone").await).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let login = location(&r).to_string();
    assert!(login.contains("/auth/local?req="), "{login}");
    let req = login.split("req=").nth(1).unwrap();
    let r = b
        .get(app.url(&format!("/auth/forge?req={req}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn clients_of_the_admin_api_keep_a_list_that_refresh_and_login_obey() {
    let app = app().await;
    let token = crate::admin::machine_token(&app).await;
    let create = |body: Value| {
        let (app, token) = (&app, &token);
        async move {
            crate::admin::send_json(app, reqwest::Method::POST, "/api/v1/clients", token, body)
                .await
        }
    };
    // An id that names no connector is refused, and named.
    let r = create(serde_json::json!({"id": "web", "name": "Web",
        "redirect_uris": [RP_REDIRECT], "allowed_connectors": ["local", "nope"]}))
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("`nope`"));
    let r = create(serde_json::json!({"id": "web", "name": "Web",
        "redirect_uris": [RP_REDIRECT], "allowed_connectors": ["local"]}))
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let secret = r.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let view: Value = reqwest::Client::new()
        .get(app.url("/api/v1/clients/web"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view["allowed_connectors"], serde_json::json!(["local"]));
    // Its one connector skips the chooser; a login through it gives a refresh token.
    let b = app.browser();
    let verifier = gantry::secret::random_token(32);
    let challenge = gantry::secret::b64(&gantry::secret::sha256(verifier.as_bytes()));
    let back = app
        .login(
            &b,
            &[
                ("client_id", "web"),
                ("redirect_uri", RP_REDIRECT),
                ("response_type", "code"),
                ("scope", "openid offline_access"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
            "admin@example.com",
            "password",
        )
        .await;
    let code = query_param(&back, "code").expect("code");
    let (s, tokens) = app.exchange(&code, Some(&verifier), ("web", &secret)).await;
    assert_eq!(s, StatusCode::OK, "{tokens}");
    let refresh = |rt: String| {
        let (app, secret) = (&app, &secret);
        async move {
            app.post_token(
                &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
                Some(("web", secret)),
            )
            .await
        }
    };
    let (s, refreshed) = refresh(tokens["refresh_token"].as_str().unwrap().into()).await;
    assert_eq!(s, StatusCode::OK, "{refreshed}");
    // The admin narrows the client to forge: its local logins refresh no more.
    let r = crate::admin::send_json(
        &app,
        reqwest::Method::PUT,
        "/api/v1/clients/web",
        &token,
        serde_json::json!({"name": "Web", "redirect_uris": [RP_REDIRECT],
                           "allowed_connectors": ["forge"]}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (s, body) = refresh(refreshed["refresh_token"].as_str().unwrap().into()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(
        body["error_description"],
        "connector not allowed for this client"
    );
    // And a new login goes to forge, never to local's form.
    let r = auth(&app, &app.browser(), "web", &[]).await;
    assert!(
        location(&r).contains("/auth/forge?req="),
        "{}",
        location(&r)
    );
}

#[tokio::test]
async fn the_admin_ui_sets_a_clients_connectors_and_names_an_unknown_one() {
    let app = app().await;
    let (b, _) = crate::admin::sign_in(&app, "admin@example.com").await;
    let create = |connectors: &'static str| {
        let b = &b;
        let app = &app;
        async move {
            let page = b
                .get(app.url("/admin/clients"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            b.post(app.url("/admin/clients"))
                .form(&[
                    ("csrf", hidden(&page, "csrf").as_str()),
                    ("id", "ui-app"),
                    ("name", "UI app"),
                    ("redirect_uris", RP_REDIRECT),
                    ("allowed_connectors", connectors),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let r = create("forge nope").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("`nope` is not a connector")
    );
    let r = create("forge").await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(page.contains("<td>forge</td>"), "{page}");
    // The configured rp lists none: shown as all.
    assert!(page.contains("<td>all</td>"), "{page}");
    let r = auth(&app, &app.browser(), "ui-app", &[]).await;
    assert!(
        location(&r).contains("/auth/forge?req="),
        "{}",
        location(&r)
    );
}

#[tokio::test]
async fn token_exchange_of_a_real_provider_token_goes_only_through_the_clients_connectors() {
    use crate::upstream::{account, provider_id_token, register, upstream};
    let redirect = "http://127.0.0.1:9/ci";
    let ci = register(redirect).await;
    let app = TestApp::start_with(Opts {
        extra_yaml: format!(
            r#"connectors:
  - type: oidc
    id: ci
    name: CI
    config:
      issuer: {}
      clientID: {}
      redirectURI: "@ISSUER@/callback"
      allowTokenExchange: true
"#,
            upstream(),
            ci.0
        ),
        extra_clients: r#"  - id: lo
    secret: lo-secret
    grantTypes: [urn:ietf:params:oauth:grant-type:token-exchange]
    allowedConnectors: [local]
  - id: cio
    secret: cio-secret
    grantTypes: [urn:ietf:params:oauth:grant-type:token-exchange]
    allowedConnectors: [ci]
"#
        .into(),
        ..Opts::default()
    })
    .await;
    let id_token = provider_id_token(&ci, redirect, &account("pipe", &[])).await;
    let exchange = |client: (&'static str, &'static str), connector: &'static str| {
        let (app, id_token) = (&app, &id_token);
        async move {
            let mut form = vec![
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ),
                ("subject_token", id_token.as_str()),
                (
                    "subject_token_type",
                    "urn:ietf:params:oauth:token-type:id_token",
                ),
            ];
            if !connector.is_empty() {
                form.push(("connector_id", connector));
            }
            app.post_token(&form, Some(client)).await
        }
    };
    let (s, body) = exchange(("cio", "cio-secret"), "").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    // `lo` may not use ci: without connector_id no connector of its own takes the token...
    let (s, body) = exchange(("lo", "lo-secret"), "").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body["error_description"],
        "no connector accepts token exchange for this request"
    );
    // ...and naming ci is refused outright.
    let (s, body) = exchange(("lo", "lo-secret"), "ci").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant");
}
