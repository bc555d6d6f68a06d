//! `/registry/token` (Docker Registry v2 token authentication: `GET` with Basic auth, and the
//! OAuth2 `POST` variant) and `/registry/keys` (a JWKS for registries that take one).

use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::http::error::OAuthJson;
use crate::http::extract::{self, oauth_form};
use crate::http::limits::{RateLimited, RegistryGet, RegistryPost};
use crate::http::{AppState, WebSettings};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::registry::RegistryError;
use crate::registry::scope::ResourceScope;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/registry/token", get(token_get).post(token_post))
        .route("/registry/keys", get(keys))
}

/// A registry token error in the registry spec's shape (`{"errors": [...]}`), with a Basic
/// challenge naming this endpoint and the service on 401.
#[derive(Debug)]
pub struct RegistryFailure {
    error: RegistryError,
    /// The token endpoint's URL: the challenge's realm.
    realm: String,
    service: String,
}

impl RegistryFailure {
    pub fn new(web: &WebSettings, service: &str, error: RegistryError) -> RegistryFailure {
        RegistryFailure {
            error,
            realm: web.url("/registry/token"),
            service: service.to_string(),
        }
    }
}

impl IntoResponse for RegistryFailure {
    fn into_response(self) -> Response {
        let (status, code, message) = match self.error {
            RegistryError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, "UNAUTHORIZED", m),
            RegistryError::BadRequest(m) => (StatusCode::BAD_REQUEST, "INVALID_REQUEST", m),
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
            let realm = self.realm.replace('"', "");
            let service = self.service.replace(['"', '\\'], "");
            if let Ok(v) =
                HeaderValue::from_str(&format!("Basic realm=\"{realm}\",service=\"{service}\""))
            {
                r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
        }
        r
    }
}

/// Basic credentials as RFC 7617 has them: no form decoding, unlike OAuth client credentials.
/// A malformed header is no credentials: the client gets the challenge.
fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let b = extract::basic(headers).ok()??;
    Some((b.username().to_string(), b.password().to_string()))
}

fn no_store(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

async fn token_get(
    State(s): State<AppState>,
    RateLimited(ip, ..): RateLimited<RegistryGet>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, RegistryFailure> {
    let fail = |service: &str, e| RegistryFailure::new(&s.web, service, e);
    let bad = |m: &str| fail("", RegistryError::BadRequest(m.into()));
    let q = q.unwrap_or_default();
    if q.len() > crate::http::extract::MAX_FORM {
        return Err(bad("the request is too long"));
    }
    let mut service = None;
    let mut scopes = Vec::new();
    for (k, v) in form_urlencoded::parse(q.as_bytes()) {
        match k.as_ref() {
            "service" if service.is_none() => service = Some(v.into_owned()),
            "service" => return Err(bad("service is repeated")),
            "scope" => scopes.push(v.into_owned()),
            _ => {}
        }
    }
    let Some(service) = service.filter(|v| !v.is_empty()) else {
        return Err(bad("service is required"));
    };
    let scopes = ResourceScope::parse_all(scopes.iter().map(String::as_str))
        .map_err(|e| fail(&service, e.into()))?;
    if !s
        .registry
        .registry
        .services
        .iter()
        .any(|x| x.name == service)
    {
        return Err(fail(
            &service,
            RegistryError::BadRequest(format!("unknown service `{service}`")),
        ));
    }
    let Some((user, password)) = basic(&headers) else {
        return Err(fail(
            &service,
            RegistryError::Unauthorized("authentication required".into()),
        ));
    };
    // `<token>` as the username: the password is an identity token, as credential helpers send.
    let login = if user == "<token>" {
        let r = s
            .registry
            .registry_refresh(&password, false)
            .await
            .map(|(caller, _)| caller);
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
    let caller = login.map_err(|e| fail(&service, e))?;
    let t = s
        .registry
        .registry_token(&caller, &service, &scopes, false)
        .await
        .map_err(|e| fail(&service, e))?;
    Ok(no_store(axum::Json(t).into_response()))
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
    RateLimited(ip, ..): RateLimited<RegistryPost>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, OAuthJson> {
    let f: PostForm = oauth_form(&headers, body).await?;
    let service = f
        .service
        .filter(|v| !v.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("service is required"))?;
    let scopes = ResourceScope::parse_all(f.scope.as_deref())
        .map_err(|e| OAuthError::new(ErrorCode::InvalidScope, e.to_string()))?;
    let offline = f.access_type.as_deref() == Some("offline");
    // A login client's refresh token is exchanged (consumed) for a registry identity token.
    let mut exchanged = false;
    let caller = match f.grant_type.as_deref() {
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
        .registry_token(&caller, &service, &scopes, true)
        .await
        .map_err(oauth_from_registry)?;
    if offline && (exchanged || f.grant_type.as_deref() == Some("password")) {
        t.refresh_token = Some(
            s.registry
                .registry_identity_token(&caller)
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
