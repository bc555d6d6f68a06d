//! Certified and independent relying parties log in: openid-client (node) and the Rust
//! `openidconnect` crate.

use openidconnect::core::{CoreClient, CoreProviderMetadata, CoreResponseType};
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use serde_json::Value;

use crate::support::*;

async fn openid_client_flow(backend: Backend) {
    let app = TestApp::start_with(Opts {
        backend,
        ..Default::default()
    })
    .await;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/rp");
    assert!(
        std::path::Path::new(dir)
            .join("node_modules/openid-client")
            .exists(),
        "openid-client is not installed: run scripts/test.sh (it runs `npm ci` in tests/rp)"
    );
    let out = tokio::process::Command::new("node")
        .arg("flow.mjs")
        .current_dir(dir)
        .env("ISSUER", &app.issuer)
        .env("CLIENT_ID", "rp")
        .env("CLIENT_SECRET", "rp-secret")
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
        "openid-client flow failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap();
    assert_eq!(r["ok"], true);
    assert_eq!(r["email"], "admin@example.com");
    assert_eq!(r["groups"], serde_json::json!(["admins", "developers"]));
    assert_eq!(r["userinfo_groups"], r["groups"]);
    assert_eq!(r["introspection_client"], "rp");
}

#[tokio::test]
async fn openid_client_logs_in_on_sqlite() {
    openid_client_flow(Backend::Sqlite).await;
}

#[tokio::test]
async fn openid_client_logs_in_on_postgres() {
    openid_client_flow(Backend::Postgres).await;
}

#[tokio::test]
async fn openidconnect_crate_logs_in_and_validates_the_id_token() {
    let app = TestApp::start().await;
    let http = openidconnect::reqwest::Client::builder()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let meta =
        CoreProviderMetadata::discover_async(IssuerUrl::new(app.issuer.clone()).unwrap(), &http)
            .await
            .unwrap();
    let client = CoreClient::from_provider_metadata(
        meta,
        ClientId::new("rp".into()),
        Some(ClientSecret::new("rp-secret".into())),
    )
    .set_redirect_uri(RedirectUrl::new(RP_REDIRECT.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf, nonce) = client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("groups".into()))
        .set_pkce_challenge(challenge)
        .url();
    let query: Vec<(String, String)> = auth_url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let q: Vec<(&str, &str)> = query
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let back = app
        .login(&app.browser(), &q, "dev@example.com", "password")
        .await;
    assert_eq!(
        query_param(&back, "state").as_deref(),
        Some(csrf.secret().as_str())
    );
    let code = query_param(&back, "code").unwrap();
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    let id_token = tokens.id_token().expect("an ID token");
    let claims = id_token
        .claims(&client.id_token_verifier(), &nonce)
        .expect("ID token validates");
    assert_eq!(claims.email().map(|e| e.as_str()), Some("dev@example.com"));
    assert!(!tokens.access_token().secret().is_empty());
    // A nonce mismatch must fail validation.
    assert!(
        id_token
            .claims(&client.id_token_verifier(), &Nonce::new("other".into()))
            .is_err()
    );
}
