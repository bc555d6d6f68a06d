//! The `oidc` and `oauth` connectors against a real OpenID provider (node oidc-provider,
//! started by scripts/test.sh), Gantry federated behind a second Gantry, and RFC 8693 token
//! exchange with the provider's ID tokens.

use gantry::identity::Identity;
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;

pub(crate) fn upstream() -> String {
    std::env::var("GANTRY_TEST_OIDC_ISSUER").unwrap_or_else(|_| {
        panic!(
            "GANTRY_TEST_OIDC_ISSUER is not set. Run the tests through scripts/test.sh, which starts \
             oidc-provider (tests/rp/upstream.mjs), or start it with PORT=N node tests/rp/upstream.mjs \
             and export GANTRY_TEST_OIDC_ISSUER=http://127.0.0.1:N"
        )
    })
}

/// Register a client at the provider (RFC 7591); (client_id, client_secret).
pub(crate) async fn register(redirect_uri: &str) -> (String, String) {
    let r: Value = reqwest::Client::new()
        .post(format!("{}/reg", upstream()))
        .json(&serde_json::json!({
            "redirect_uris": [redirect_uri],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_basic",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        r["client_id"].as_str().expect("client_id").to_string(),
        r["client_secret"]
            .as_str()
            .expect("client_secret")
            .to_string(),
    )
}

/// A login name the provider turns into an account with these groups; unique per call, so
/// tests do not share upstream state.
pub(crate) fn account(name: &str, groups: &[&str]) -> String {
    let mut a = format!("{name}{}", &gantry::secret::random_token(4).to_lowercase());
    a.retain(|c| c.is_ascii_alphanumeric());
    for g in groups {
        a.push('+');
        a.push_str(g);
    }
    a
}

/// Gantry on a port registered at the provider, with an `oidc` connector `upstream`.
pub(crate) async fn gantry_behind_provider(extra_connector_yaml: &str) -> TestApp {
    let port = free_port();
    let (id, secret) = register(&format!("http://127.0.0.1:{port}/dex/callback")).await;
    TestApp::start_with(Opts {
        port: Some(port),
        extra_yaml: format!(
            r#"connectors:
  - type: oidc
    id: upstream
    name: Company SSO
    config:
      issuer: {}
      clientID: {id}
      clientSecret: {secret}
      redirectURI: @ISSUER@/callback
      scopes: [profile, email, groups]
      insecureEnableGroups: true
{extra_connector_yaml}"#,
            upstream()
        ),
        ..Opts::default()
    })
    .await
}

const SCOPE: &str = "openid email profile groups offline_access";

/// Log in through Gantry's `upstream` connector as `login` with the `rp` client; the tokens.
pub(crate) async fn login_through(app: &TestApp, login: &str, password: &str) -> Value {
    let b = app.browser();
    let verifier = gantry::secret::random_token(32);
    let challenge = gantry::secret::b64(&gantry::secret::sha256(verifier.as_bytes()));
    let auth = rp_auth_url(
        app,
        "upstream",
        SCOPE,
        &[
            ("state", "st"),
            ("nonce", "nn"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let approval = walk(&b, &auth, login, password, |u| {
        u.starts_with(&app.url("/approval"))
    })
    .await;
    let back = walk(&b, &approval, "", "", |u| u.starts_with(RP_REDIRECT)).await;
    assert_eq!(query_param(&back, "state").as_deref(), Some("st"));
    let code = query_param(&back, "code").expect("code");
    let (status, body) = app.exchange(&code, Some(&verifier), RP).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

pub(crate) async fn refresh(app: &TestApp, token: &str) -> (StatusCode, Value) {
    app.post_token(
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
        Some(RP),
    )
    .await
}

pub(crate) async fn upstream_test_call(path: &str, account: &str, groups: &str) {
    let r = reqwest::Client::new()
        .post(format!("{}{path}", upstream()))
        .query(&[("account", account), ("groups", groups)])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
}

#[tokio::test]
async fn a_login_through_the_provider_maps_its_claims_and_groups() {
    let app = gantry_behind_provider("      getUserInfo: true\n").await;
    let login = account("ana", &["admins", "developers"]);
    let t = login_through(&app, &login, "any").await;
    let c = jwt_claims(t["id_token"].as_str().unwrap());
    let name = login.split('+').next().unwrap();
    let want_sub = Identity {
        user_id: login.clone(),
        connector_id: "upstream".into(),
        ..Default::default()
    }
    .subject();
    assert_eq!(c["iss"], app.issuer.as_str(), "Gantry is the issuer");
    assert_eq!(
        c["sub"],
        want_sub.as_str(),
        "sub: Dex's encoding of (upstream sub, connector)"
    );
    assert_eq!(c["email"], format!("{name}@upstream.example").as_str());
    assert_eq!(c["email_verified"], true);
    assert_eq!(c["name"], name);
    assert_eq!(c["preferred_username"], name);
    assert_eq!(c["groups"], serde_json::json!(["admins", "developers"]));
    assert!(t["refresh_token"].is_string());
}

/// Sign in to the admin client through the `upstream` connector as `login`; what
/// `admin_sign_in` (the admin callback's library call) answers.
async fn admin_sign_in_through_upstream(
    app: &TestApp,
    login: &str,
) -> Result<(String, gantry::admin::Admin), gantry::admin::AdminError> {
    let b = app.browser();
    let verifier = gantry::secret::random_token(32);
    let challenge = gantry::secret::b64(&gantry::secret::sha256(verifier.as_bytes()));
    let callback = app.url("/admin/callback");
    let auth = reqwest::Url::parse_with_params(
        &app.url("/auth"),
        &[
            ("client_id", gantry::admin::ADMIN_CLIENT),
            ("redirect_uri", callback.as_str()),
            ("response_type", "code"),
            ("scope", "openid email profile groups"),
            ("state", "s"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("connector_id", "upstream"),
        ],
    )
    .unwrap();
    let back = walk(&b, auth.as_str(), login, "any", |u| {
        u.starts_with(&callback)
    })
    .await;
    let code = query_param(&back, "code").expect("code");
    app.admin.admin_sign_in(&code, &verifier).await
}

#[tokio::test]
async fn an_upstream_user_called_admin_is_not_the_admin() {
    // An old-style policy: the unqualified name of the local admin.
    let app =
        gantry_behind_provider("policy:\n  admins: { users: [admin, \"upstream:boss+\"] }\n").await;
    // `admin+`: sub `admin+`, and name and preferred_username `admin`, as a provider that lets
    // users pick their display name would send.
    let r = admin_sign_in_through_upstream(&app, "admin+").await;
    assert!(
        matches!(r, Err(gantry::admin::AdminError::Forbidden(_))),
        "{r:?}"
    );
    // The provider's stable id, qualified with the connector, names an admin.
    let (_, admin) = admin_sign_in_through_upstream(&app, "boss+")
        .await
        .expect("boss+ is an admin");
    assert_eq!(
        (admin.connector.as_str(), admin.name.as_str()),
        ("upstream", "boss+")
    );
    // The local `admin` still is one, by its username.
    let (_, r) = crate::admin::sign_in(&app, "admin@example.com").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the callback signs in");
}

#[tokio::test]
async fn refresh_goes_upstream_reads_new_groups_and_ends_when_the_provider_revokes() {
    let app = gantry_behind_provider("").await;
    let login = account("bo", &["developers"]);
    let t = login_through(&app, &login, "any").await;

    // The upstream refresh token is kept sealed, never in the clear.
    let (rows,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM refresh_tokens WHERE identity LIKE '%\"connector_data\":\"sealed1.%'",
    )
    .fetch_one(&app.pool().await)
    .await
    .unwrap();
    assert_eq!(rows, 1, "the stored identity holds sealed connector data");

    upstream_test_call("/test/groups", &login, "developers,release").await;
    let (s, b) = refresh(&app, t["refresh_token"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let c = jwt_claims(b["id_token"].as_str().unwrap());
    assert_eq!(
        c["groups"],
        serde_json::json!(["developers", "release"]),
        "groups come fresh from the provider on refresh"
    );

    upstream_test_call("/test/revoke", &login, "").await;
    let (s, e) = refresh(&app, b["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "a session the provider revoked ends here too: {e}"
    );
}

#[tokio::test]
async fn the_oauth_connector_logs_in_through_userinfo_and_refreshes_with_it() {
    let port = free_port();
    let (id, secret) = register(&format!("http://127.0.0.1:{port}/dex/callback")).await;
    let up = upstream();
    let app = TestApp::start_with(Opts {
        port: Some(port),
        extra_yaml: format!(
            r#"connectors:
  - type: oauth
    id: upstream
    name: OAuth2 provider
    config:
      clientID: {id}
      clientSecret: {secret}
      redirectURI: @ISSUER@/callback
      authorizationURL: {up}/auth
      tokenURL: {up}/token
      userInfoURL: {up}/me
      scopes: [openid, profile, email, groups]
      userIDKey: sub
      pkceChallenge: S256
      claimMapping:
        userNameKey: name
"#
        ),
        ..Opts::default()
    })
    .await;
    let login = account("cy", &["ops"]);
    let t = login_through(&app, &login, "any").await;
    let c = jwt_claims(t["id_token"].as_str().unwrap());
    let name = login.split('+').next().unwrap();
    assert_eq!(c["name"], name);
    assert_eq!(c["email"], format!("{name}@upstream.example").as_str());
    assert_eq!(c["groups"], serde_json::json!(["ops"]));
    // No upstream refresh token (no prompt=consent): refresh re-reads userinfo with the
    // access token, which still works.
    let (s, b) = refresh(&app, t["refresh_token"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

#[tokio::test]
async fn gantry_federates_behind_another_gantry() {
    let a_port = free_port();
    let b = TestApp::start_with(Opts {
        skip_approval: true,
        extra_clients: format!(
            r#"  - id: gantry-a
    name: Gantry A
    secret: a-secret
    redirectURIs: ["http://127.0.0.1:{a_port}/dex/callback"]
"#
        ),
        ..Opts::default()
    })
    .await;
    assert!(b.provider.clients.get("gantry-a").is_some());
    let a = TestApp::start_with(Opts {
        port: Some(a_port),
        extra_yaml: format!(
            r#"connectors:
  - type: oidc
    id: upstream
    name: Gantry B
    config:
      issuer: {}
      clientID: gantry-a
      clientSecret: a-secret
      redirectURI: @ISSUER@/callback
      scopes: [profile, email, groups]
      insecureEnableGroups: true
      allowedGroups: [admins]
"#,
            b.issuer
        ),
        ..Opts::default()
    })
    .await;
    let t = login_through(&a, "admin@example.com", "password").await;
    let c = jwt_claims(t["id_token"].as_str().unwrap());
    assert_eq!(c["iss"], a.issuer.as_str());
    assert_eq!(c["email"], "admin@example.com");
    assert_eq!(
        c["groups"],
        serde_json::json!(["admins"]),
        "allowedGroups keeps only the allowed ones"
    );
    // Refresh at A refreshes at B.
    let (s, body) = refresh(&a, t["refresh_token"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK, "{body}");

    // dev@example.com is not in an allowed group: the login stops at A with a clear page.
    let bw = a.browser();
    let auth = rp_auth_url(&a, "upstream", "openid", &[]);
    let callback = walk(&bw, &auth, "dev@example.com", "password", |u| {
        u.starts_with(&a.url("/callback"))
    })
    .await;
    let r = bw.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("not in any of the allowed groups"),
        "the page says why"
    );
}

/// An ID token straight from the provider for `client`, as a CI system would hold one.
pub(crate) async fn provider_id_token(
    client: &(String, String),
    redirect: &str,
    login: &str,
) -> String {
    provider_tokens(client, redirect, login).await["id_token"]
        .as_str()
        .expect("id_token")
        .to_string()
}

/// The provider's token answer to `client` for `login`, through its code flow.
async fn provider_tokens(client: &(String, String), redirect: &str, login: &str) -> Value {
    let b = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let verifier = gantry::secret::random_token(32);
    let challenge = gantry::secret::b64(&gantry::secret::sha256(verifier.as_bytes()));
    let auth = reqwest::Url::parse_with_params(
        &format!("{}/auth", upstream()),
        &[
            ("client_id", client.0.as_str()),
            ("redirect_uri", redirect),
            ("response_type", "code"),
            ("scope", "openid email profile groups"),
            ("nonce", "n"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .unwrap();
    let back = walk(&b, auth.as_str(), login, "any", |u| u.starts_with(redirect)).await;
    let code = query_param(&back, "code").expect("code from the provider");
    reqwest::Client::new()
        .post(format!("{}/token", upstream()))
        .basic_auth(&client.0, Some(&client.1))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";

#[tokio::test]
async fn token_exchange_turns_a_provider_id_token_into_gantry_tokens() {
    let redirect = "http://127.0.0.1:9/ci";
    let ci = register(redirect).await;
    let up = upstream();
    let app = TestApp::start_with(Opts {
        extra_yaml: format!(
            r#"connectors:
  - type: oidc
    id: ci
    name: CI
    config:
      issuer: {up}
      clientID: {}
      redirectURI: @ISSUER@/callback
      insecureEnableGroups: true
      allowTokenExchange: true
  - type: oidc
    id: closed
    name: No exchange
    config:
      issuer: {up}
      clientID: {}
      redirectURI: @ISSUER@/callback
registry:
  services:
    - name: registry.test
      issuer: gantry-test
      accessTokenAudiences: [peer]
policy:
  rules:
    - name: ci
      groups: [ci-pushers]
      registry: [{{ repositories: ["ci/**"], actions: [pull, push] }}]
"#,
            ci.0, ci.0
        ),
        ..Opts::default()
    })
    .await;
    let login = account("pipeline", &["ci-pushers"]);
    let id_token = provider_id_token(&ci, redirect, &login).await;
    let exchange = |conn: &'static str, token: String, requested: &'static str| {
        let app = &app;
        async move {
            app.post_token(
                &[
                    ("grant_type", EXCHANGE),
                    ("connector_id", conn),
                    ("subject_token", &token),
                    ("subject_token_type", ID_TOKEN),
                    ("requested_token_type", requested),
                    ("scope", "openid groups"),
                ],
                Some(("peer", "peer-secret")),
            )
            .await
        }
    };
    let (s, b) = exchange(
        "ci",
        id_token.clone(),
        "urn:ietf:params:oauth:token-type:access_token",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        b["issued_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );
    assert!(b.get("refresh_token").is_none(), "no refresh token");
    let c = jwt_claims(b["access_token"].as_str().unwrap());
    assert_eq!(c["iss"], app.issuer.as_str());
    assert_eq!(c["groups"], serde_json::json!(["ci-pushers"]));
    // The Gantry token works where Gantry tokens work: userinfo.
    let ui = reqwest::Client::new()
        .get(app.url("/userinfo"))
        .bearer_auth(b["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(ui.status(), StatusCode::OK);
    // And at the registry: the pipeline pushes with it as its password.
    let access = b["access_token"].as_str().unwrap().to_string();
    let reg = |password: String| {
        let app = &app;
        async move {
            let r = reqwest::Client::new()
                .get(app.url("/registry/token"))
                .query(&[
                    ("service", "registry.test"),
                    ("scope", "repository:ci/app:push,pull"),
                ])
                .basic_auth("ci", Some(password))
                .send()
                .await
                .unwrap();
            (r.status(), r.json::<Value>().await.unwrap_or_default())
        }
    };
    let (s, t) = reg(access.clone()).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let granted = jwt_claims(t["token"].as_str().unwrap());
    assert_eq!(
        granted["access"],
        serde_json::json!([{"type": "repository", "name": "ci/app", "actions": ["push", "pull"]}])
    );
    // The account the registry logs is the upstream user's stable id, also when the token
    // carries no name (it was asked for without `profile`).
    assert!(c.get("name").is_none() && c.get("preferred_username").is_none());
    assert_eq!(granted["sub"], login.as_str());
    let mut bad = access.clone();
    bad.truncate(bad.len() - 2);
    assert_eq!(reg(bad).await.0, StatusCode::UNAUTHORIZED);

    let (s, b) = exchange("ci", id_token.clone(), ID_TOKEN).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["issued_token_type"], ID_TOKEN);
    assert_eq!(
        jwt_claims(b["access_token"].as_str().unwrap())["aud"],
        "peer"
    );

    // A connector that does not allow exchange, and a tampered token.
    let (s, b) = exchange("closed", id_token.clone(), ID_TOKEN).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let mut forged = id_token.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let (s, b) = exchange("ci", forged, ID_TOKEN).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{b}"
    );

    // Every exchange that reached a connector is in the audit trail, and so is the registry's
    // refusal of the tampered access token; no token is.
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT action, actor, outcome, detail FROM audit_log \
         WHERE action = 'token.exchange' OR (action = 'login' AND detail LIKE '%registry_access_token%') \
         ORDER BY id",
    )
    .fetch_all(&app.pool().await)
    .await
    .unwrap();
    let summary: Vec<(&str, &str)> = rows
        .iter()
        .map(|(a, _, o, _)| (a.as_str(), o.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            ("token.exchange", "success"),
            ("login", "failure"),
            ("token.exchange", "success"),
            ("token.exchange", "failure"),
            ("token.exchange", "failure"),
        ],
        "{rows:?}"
    );
    assert!(
        rows[0].1.ends_with("@upstream.example") && rows[0].3.contains("\"subject\""),
        "the exchanged identity is named: {rows:?}"
    );
    let text = format!("{rows:?}");
    assert!(
        !text.contains(&id_token[..40]) && !text.contains(&access[..40]),
        "{text}"
    );
}

const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";

#[tokio::test]
async fn an_upstream_access_token_is_exchanged_only_when_the_provider_says_it_is_gantrys() {
    let redirect = "http://127.0.0.1:9/ci";
    // Gantry's client at the provider, and another application of the same provider.
    let ours = register(redirect).await;
    let wiki = register(redirect).await;
    let up = upstream();
    let app = TestApp::start_with(Opts {
        extra_yaml: format!(
            r#"connectors:
  - type: oidc
    id: ci
    name: CI
    config:
      issuer: {up}
      clientID: {}
      clientSecret: {}
      redirectURI: @ISSUER@/callback
      insecureEnableGroups: true
      allowTokenExchange: true
"#,
            ours.0, ours.1
        ),
        extra_clients: format!(
            r#"  - id: cli-public
    public: true
  - id: cli-exchanging
    public: true
    grantTypes: ["{EXCHANGE}"]
"#
        ),
        ..Opts::default()
    })
    .await;
    let login = account("pipeline", &["ci-pushers"]);
    let token_of = |client: &(String, String)| {
        let login = login.clone();
        let client = client.clone();
        async move {
            provider_tokens(&client, redirect, &login).await["access_token"]
                .as_str()
                .expect("access_token")
                .to_string()
        }
    };
    let (mine, theirs) = (token_of(&ours).await, token_of(&wiki).await);
    let exchange = |token: String, client: (&'static str, Option<&'static str>)| {
        let app = &app;
        async move {
            let form = [
                ("grant_type", EXCHANGE),
                ("connector_id", "ci"),
                ("subject_token", token.as_str()),
                ("subject_token_type", ACCESS_TOKEN),
                ("scope", "openid groups"),
                ("client_id", client.0),
            ];
            let mut r = reqwest::Client::new().post(app.url("/token"));
            if let Some(secret) = client.1 {
                r = r.basic_auth(client.0, Some(secret));
            }
            let r = r
                .form(if client.1.is_some() {
                    &form[..5]
                } else {
                    &form[..]
                })
                .send()
                .await
                .unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }
    };
    let peer = ("peer", Some("peer-secret"));
    // Issued to Gantry's clientID: the provider's introspection says so.
    let (s, b) = exchange(mine.clone(), peer).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let c = jwt_claims(b["access_token"].as_str().unwrap());
    assert_eq!(c["groups"], serde_json::json!(["ci-pushers"]));
    // The same user's token held by the wiki: valid at the provider's userinfo, but not ours.
    let (s, b) = exchange(theirs, peer).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{b}"
    );
    assert!(
        b["error_description"]
            .as_str()
            .unwrap()
            .contains("another client"),
        "{b}"
    );
    // A public client may not exchange unless its grant list names token exchange.
    let (s, b) = exchange(mine.clone(), ("cli-public", None)).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unauthorized_client")),
        "{b}"
    );
    let (s, b) = exchange(mine, ("cli-exchanging", None)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

#[tokio::test]
async fn a_real_chromium_logs_in_through_the_provider_across_sites() {
    let app = gantry_behind_provider("").await;
    let verifier = gantry::secret::random_token(32);
    let challenge = gantry::secret::b64(&gantry::secret::sha256(verifier.as_bytes()));
    let auth = rp_auth_url(
        &app,
        "upstream",
        "openid email groups",
        &[
            ("state", "chromium"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let login = account("dee", &["developers"]);
    let back = chromium_walk(&auth, &login, "any").await;
    let back = back.as_str();
    assert_eq!(query_param(back, "state").as_deref(), Some("chromium"));
    let code = query_param(back, "code").expect("code");
    let (status, t) = app.exchange(&code, Some(&verifier), RP).await;
    assert_eq!(status, StatusCode::OK, "{t}");
    let c = jwt_claims(t["id_token"].as_str().unwrap());
    assert_eq!(c["groups"], serde_json::json!(["developers"]));
}

/// What the provider's ID token says in `amr` is passed on (registered values only), and a
/// second factor it asserted counts where the policy asks for one: the user is not asked again.
/// A login the provider asserts nothing about is stepped up.
#[tokio::test]
async fn the_providers_second_factor_is_passed_on_and_counts_where_the_policy_asks() {
    let app = gantry_behind_provider(
        "mfa:\n  authenticators:\n  - id: phone\n    type: TOTP\npolicy:\n  mfa:\n  - { name: rp-needs-mfa, clients: [rp] }\n",
    )
    .await;
    // The provider asked its own second factor (tests/rp/upstream.mjs: names starting "mfa").
    let t = login_through(&app, &account("mfaana", &["ops"]), "any").await;
    for token in ["id_token", "access_token"] {
        let c = jwt_claims(t[token].as_str().unwrap());
        assert_eq!(
            c["amr"],
            serde_json::json!(["pwd", "otp", "mfa"]),
            "{token}: {c}"
        );
        assert_eq!(c["acr"], "urn:gantry:acr:mfa", "{token}");
    }
    // A refresh keeps what the login was.
    let (s, r) = refresh(&app, t["refresh_token"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(
        jwt_claims(r["id_token"].as_str().unwrap())["amr"],
        serde_json::json!(["pwd", "otp", "mfa"])
    );

    // The provider says nothing: Gantry asks for its own factor.
    let b = app.browser();
    let auth = rp_auth_url(&app, "upstream", SCOPE, &[("state", "st"), ("nonce", "nn")]);
    let approval = walk(&b, &auth, &account("bo", &["ops"]), "any", |u| {
        u.starts_with(&app.url("/approval"))
    })
    .await;
    let r = b.get(&approval).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        location(&r).contains("/mfa?req="),
        "stepped up: {}",
        location(&r)
    );
}
