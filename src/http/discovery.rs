//! `/.well-known/openid-configuration` and `/keys`.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/keys", get(keys))
}

async fn discovery(State(s): State<AppState>) -> Response {
    discovery_response(&s)
}

/// The discovery document, rendered once.
pub(crate) fn discovery_response(s: &AppState) -> Response {
    let doc = s.web.discovery.get_or_init(|| render(s)).clone();
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        doc,
    )
        .into_response()
}

fn render(s: &AppState) -> bytes::Bytes {
    let w = &s.web;
    let p = &s.provider;
    let algs: Vec<&str> = p
        .keys
        .signer()
        .map(|k| vec![k.alg.as_str()])
        .unwrap_or_default();
    let mut claims = vec![
        "iss",
        "sub",
        "aud",
        "iat",
        "exp",
        "auth_time",
        "nonce",
        "at_hash",
        "azp",
        "email",
        "email_verified",
        "name",
        "preferred_username",
        "groups",
        "federated_claims",
        "amr",
        "acr",
    ];
    if p.sessions.enabled {
        claims.push("sid");
    }
    let mut doc = serde_json::json!({
        "issuer": p.issuer,
        "authorization_endpoint": w.url("/auth"),
        "token_endpoint": w.url("/token"),
        "jwks_uri": w.url("/keys"),
        "userinfo_endpoint": w.url("/userinfo"),
        "introspection_endpoint": w.url("/token/introspect"),
        "revocation_endpoint": w.url("/token/revoke"),
        "end_session_endpoint": w.url("/logout"),
        "device_authorization_endpoint": w.url("/device/code"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": p.grants,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs,
        "code_challenge_methods_supported": p.pkce.methods(),
        "scopes_supported": ["openid", "email", "groups", "profile", "offline_access", "federated:id"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "claims_supported": claims,
        "prompt_values_supported": ["none", "login", "consent"],
        "acr_values_supported": [crate::oauth::session::ACR_1FA, crate::oauth::session::ACR_MFA],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
    });
    if p.sessions.enabled {
        // As in Dex: without browser sessions nothing ends that clients could be told of.
        // Every logout token carries sid, so clients never need to ask for it.
        doc["backchannel_logout_supported"] = true.into();
        doc["backchannel_logout_session_supported"] = true.into();
    }
    bytes::Bytes::from(doc.to_string())
}

async fn keys(State(s): State<AppState>) -> Response {
    keys_response(&s)
}

/// The JWKS of the current key set, rendered when the set changes.
pub(crate) fn keys_response(s: &AppState) -> Response {
    let set = s.provider.keys.current();
    let mut r = set.jwks.clone().into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // Short enough that a rotated-in key reaches verifiers well before the old one retires.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    r
}
