//! `/registry/token` (Docker Registry v2 token authentication: `GET` with Basic auth, and the
//! OAuth2 `POST` variant) and `/registry/keys` (a JWKS for registries that take one).

use axum::Router;
use axum::body::Body;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use serde::Deserialize;

use crate::http::AppState;
use crate::http::error::OAuthJson;
use crate::http::extract::oauth_form;
use crate::http::limits::{self, Format};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::ratelimit::Endpoint;
use crate::registry::RegistryError;
use crate::registry::scope::ResourceScope;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/registry/token", get(token_get).post(token_post))
        .route("/registry/keys", get(keys))
}

/// The registry spec's error shape, with a challenge on 401.
fn registry_error(s: &AppState, service: &str, e: RegistryError) -> Response {
    let (status, code, message) = match &e {
        RegistryError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, "UNAUTHORIZED", m.clone()),
        RegistryError::BadRequest(m) => (StatusCode::BAD_REQUEST, "INVALID_REQUEST", m.clone()),
        RegistryError::Unavailable(cause) => {
            tracing::error!(error = %cause, "registry login: identity source unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                "the identity source is not answering; try again later".to_string(),
            )
        }
        RegistryError::Internal(cause) => {
            tracing::error!(error = %cause, "registry token: internal error");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "UNKNOWN",
                "internal error".to_string(),
            )
        }
    };
    let body = serde_json::json!({"errors": [{"code": code, "message": message}]});
    let mut r = (status, axum::Json(body)).into_response();
    crate::http::error::retry_later(&mut r);
    if status == StatusCode::UNAUTHORIZED {
        let realm = s.web.url("/registry/token").replace('"', "");
        let service = service.replace(['"', '\\'], "");
        if let Ok(v) =
            HeaderValue::from_str(&format!("Basic realm=\"{realm}\",service=\"{service}\""))
        {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
    }
    r
}

/// Basic credentials as RFC 7617 has them: no form decoding, unlike OAuth client credentials.
fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let b64 = v
        .strip_prefix("Basic ")
        .or_else(|| v.strip_prefix("basic "))?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (u, p) = raw.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

fn no_store(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

async fn token_get(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let ip = limits::client_ip(&s, peer, &headers);
    if let Some(refused) = limits::check_address(&s, Endpoint::Registry, ip, Format::Registry) {
        return refused;
    }
    let q = q.unwrap_or_default();
    if q.len() > crate::http::extract::MAX_FORM {
        return registry_error(
            &s,
            "",
            RegistryError::BadRequest("the request is too long".into()),
        );
    }
    let mut service = None;
    let mut scopes = Vec::new();
    for (k, v) in form_urlencoded::parse(q.as_bytes()) {
        match k.as_ref() {
            "service" if service.is_none() => service = Some(v.into_owned()),
            "service" => {
                return registry_error(
                    &s,
                    "",
                    RegistryError::BadRequest("service is repeated".into()),
                );
            }
            "scope" => scopes.push(v.into_owned()),
            _ => {}
        }
    }
    let Some(service) = service.filter(|v| !v.is_empty()) else {
        return registry_error(
            &s,
            "",
            RegistryError::BadRequest("service is required".into()),
        );
    };
    let scopes = match ResourceScope::parse_all(scopes.iter().map(String::as_str)) {
        Ok(sc) => sc,
        Err(m) => return registry_error(&s, &service, RegistryError::BadRequest(m)),
    };
    if !s
        .registry
        .registry
        .services
        .iter()
        .any(|x| x.name == service)
    {
        return registry_error(
            &s,
            &service,
            RegistryError::BadRequest(format!("unknown service `{service}`")),
        );
    }
    let Some((user, password)) = basic(&headers) else {
        return registry_error(
            &s,
            &service,
            RegistryError::Unauthorized("authentication required".into()),
        );
    };
    // `<token>` as the username: the password is an identity token, as credential helpers send.
    let login = if user == "<token>" {
        let r = s
            .registry
            .registry_refresh(&password, false)
            .await
            .map(|(id, _)| id);
        s.registry
            .audit_registry_token("identity_token", &r, ip)
            .await;
        r
    } else if looks_like_jwt(&password) {
        let r = s.registry.registry_access_token(&password, &service).await;
        s.registry
            .audit_registry_token("access_token", &r, ip)
            .await;
        r
    } else {
        s.registry.registry_login(&user, &password, ip).await
    };
    let identity = match login {
        Ok(i) => i,
        Err(e) => return registry_error(&s, &service, e),
    };
    match s
        .registry
        .registry_token(&identity, &service, &scopes, false)
    {
        Ok(t) => no_store(axum::Json(t).into_response()),
        Err(e) => registry_error(&s, &service, e),
    }
}

#[derive(Deserialize)]
struct PostForm {
    grant_type: Option<String>,
    service: Option<String>,
    scope: Option<String>,
    username: Option<String>,
    password: Option<String>,
    refresh_token: Option<String>,
    access_type: Option<String>,
}

/// The OAuth2 variant docker uses for identity tokens; errors in RFC 6749's shape.
async fn token_post(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, OAuthJson> {
    let ip = limits::client_ip(&s, peer, &headers);
    if let Some(refused) = limits::check_address(&s, Endpoint::Registry, ip, Format::OAuth) {
        return Ok(refused);
    }
    let f: PostForm = oauth_form(&headers, body).await?;
    let service = f
        .service
        .filter(|v| !v.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("service is required"))?;
    let scopes = ResourceScope::parse_all(f.scope.as_deref())
        .map_err(|m| OAuthError::new(ErrorCode::InvalidScope, m))?;
    let offline = f.access_type.as_deref() == Some("offline");
    // A login client's refresh token is exchanged (consumed) for a registry identity token.
    let mut exchanged = false;
    let identity = match f.grant_type.as_deref() {
        Some("password") => {
            let (Some(u), Some(p)) = (&f.username, &f.password) else {
                return Err(
                    OAuthError::invalid_request("username and password are required").into(),
                );
            };
            s.registry
                .registry_login(u, p, ip)
                .await
                .map_err(oauth_from_registry)?
        }
        Some("refresh_token") => {
            let t = f
                .refresh_token
                .as_deref()
                .filter(|t| !t.is_empty())
                .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
            let (id, consumed) = s
                .registry
                .registry_refresh(t, offline)
                .await
                .map_err(oauth_from_registry)?;
            exchanged = consumed;
            id
        }
        Some(other) => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                format!("unsupported grant_type {other}"),
            )
            .into());
        }
        None => return Err(OAuthError::invalid_request("grant_type is required").into()),
    };
    let mut t = s
        .registry
        .registry_token(&identity, &service, &scopes, true)
        .map_err(oauth_from_registry)?;
    if offline && (exchanged || f.grant_type.as_deref() == Some("password")) {
        t.refresh_token = Some(
            s.registry
                .registry_identity_token(&identity)
                .await
                .map_err(oauth_from_registry)?,
        );
    }
    Ok(no_store(axum::Json(t).into_response()))
}

fn oauth_from_registry(e: RegistryError) -> OAuthJson {
    OAuthJson(match e {
        RegistryError::Unauthorized(m) => OAuthError::invalid_grant(m),
        RegistryError::BadRequest(m) => OAuthError::invalid_request(m),
        RegistryError::Unavailable(cause) => OAuthError {
            code: ErrorCode::TemporarilyUnavailable,
            description: "the identity source is not answering; try again later".into(),
            internal: Some(cause),
        },
        RegistryError::Internal(cause) => OAuthError::server(cause),
    })
}

async fn keys(State(s): State<AppState>) -> Response {
    let mut r = s.provider.keys.current().jwks.clone().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// A compact JWS: what Gantry's access tokens look like, and no password a person picks.
fn looks_like_jwt(p: &str) -> bool {
    p.starts_with("eyJ") && p.split('.').count() == 3 && p.len() > 100
}
