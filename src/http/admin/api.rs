//! What every `/api/v1` handler shares (the handlers live with their resource): the admin
//! operations as JSON, for automation. Callers authenticate with a
//! `client_credentials` access token of a client in `policy.admins.clients`, or with the admin
//! UI's session cookie; a change made with the cookie must also show it comes from Gantry's own
//! pages (see `from_own_pages`), since SameSite does not stop another origin of the same site.
//! Errors are RFC 9457 problem documents. What can be changed carries an `ETag`; a change with
//! `If-Match` lands only on that version (412 otherwise), one without it is unconditional.

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::{from_own_pages, refused, session_token};
use crate::admin::version::{Precondition, etag};
use crate::admin::{Admin, AdminError};
use crate::http::AppState;
use crate::http::extract::bearer;

/// The precondition of a change: its `If-Match` fields, if any (several are one list). A value
/// that is not text matches nothing: a precondition that cannot be read fails.
pub(super) fn if_match(headers: &HeaderMap) -> Option<Precondition> {
    let values: Vec<&str> = headers
        .get_all(header::IF_MATCH)
        .iter()
        .map(|v| v.to_str().unwrap_or_default())
        .collect();
    if values.is_empty() {
        return None;
    }
    Some(Precondition::from_if_match(&values.join(",")))
}

/// `resp` with the `ETag` of `version`.
pub(super) fn with_etag(mut resp: Response, version: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(&etag(version)) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

/// An admin API error, answered as an RFC 9457 problem document. Internal causes are logged
/// when the response is made and never shown.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    title: &'static str,
    detail: String,
    /// What the log says, for a 500 or a 503.
    cause: Option<String>,
}

/// The body of a problem document.
#[derive(Debug, Serialize, utoipa::ToSchema, utoipa::ToResponse)]
#[response(
    description = "RFC 9457 problem",
    content_type = "application/problem+json"
)]
pub(super) struct Problem<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'static str,
    status: u16,
    detail: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, title: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            title,
            detail: detail.into(),
            cause: None,
        }
    }
    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "Bad Request", detail)
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> ApiError {
        match e {
            AdminError::NotSignedIn => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "a bearer token of an admin client, or an admin session, is required",
            ),
            AdminError::Forbidden(who) => ApiError::new(
                StatusCode::FORBIDDEN,
                "Forbidden",
                format!("{who} may not use the admin API"),
            ),
            AdminError::BadRequest(m) => ApiError::bad_request(m),
            AdminError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "Conflict", m),
            AdminError::NotFound => {
                ApiError::new(StatusCode::NOT_FOUND, "Not Found", "no such object")
            }
            AdminError::Stale(m) => ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "Precondition Failed",
                format!(
                    "{m}; nothing was changed. Read it again (its ETag is the current version) \
                     and send that in If-Match"
                ),
            ),
            AdminError::Unavailable(cause) => ApiError {
                cause: Some(cause),
                ..ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Service Unavailable",
                    "the database is not answering; try again shortly",
                )
            },
            AdminError::Internal(cause) => ApiError {
                cause: Some(cause),
                ..ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal Server Error",
                    "see the server log",
                )
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(cause) = &self.cause {
            if self.status == StatusCode::SERVICE_UNAVAILABLE {
                tracing::error!(error = %cause, "admin API: database unavailable");
            } else {
                tracing::error!(error = %cause, "internal error");
            }
        }
        let body = Problem {
            kind: "about:blank",
            title: self.title,
            status: self.status.as_u16(),
            detail: &self.detail,
        };
        let mut resp = (self.status, axum::Json(body)).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.status == StatusCode::UNAUTHORIZED {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"gantry-admin\""),
            );
        }
        crate::http::error::retry_later(&mut resp);
        resp
    }
}

/// The admin behind an API request: a handler that takes one runs only for an admin; anyone
/// else gets the 401/403 problem document.
pub(super) struct ApiAdmin(pub Admin);

impl axum::extract::FromRequestParts<AppState> for ApiAdmin {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        s: &AppState,
    ) -> Result<Self, Response> {
        let r = match bearer(&parts.headers) {
            Some(t) => s.admin.admin_api_client(t).await,
            None => {
                let session = session_token(&parts.headers);
                let reads = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
                if !session.is_empty()
                    && !reads
                    && !from_own_pages(&parts.headers, &s.web, &session)
                {
                    const WHY: &str = "a change made with the admin session cookie must come \
                        from this Gantry's own pages (Origin, Sec-Fetch-Site: same-origin, or the \
                        page's form token in X-CSRF-Token); automation uses a bearer token";
                    // The session names whom the forged request was aimed at.
                    let aimed_at = match s.admin.admin_session(&session).await {
                        Ok(a) => a.actor(),
                        Err(_) => String::new(),
                    };
                    if let Some(too_many) =
                        refused::audit(s, parts, &aimed_at, 403, "cross-site").await
                    {
                        return Err(too_many);
                    }
                    return Err(
                        ApiError::new(StatusCode::FORBIDDEN, "Forbidden", WHY).into_response()
                    );
                }
                s.admin.admin_session(&session).await
            }
        };
        let e = match r {
            Ok(admin) => return Ok(ApiAdmin(admin)),
            Err(e) => e,
        };
        let refusal = match &e {
            AdminError::NotSignedIn => Some((String::new(), 401, "not signed in")),
            AdminError::Forbidden(who) => Some((who.clone(), 403, "not an admin")),
            _ => None,
        };
        if let Some((actor, status, reason)) = refusal
            && let Some(too_many) = refused::audit(s, parts, &actor, status, reason).await
        {
            return Err(too_many);
        }
        Err(ApiError::from(e).into_response())
    }
}

const MAX_JSON: usize = 1024 * 1024;

/// A JSON request body, or a 400 problem saying what is wrong with it.
pub(super) async fn json_body<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: axum::body::Body,
) -> Result<T, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !ct.to_ascii_lowercase().starts_with("application/json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported Media Type",
            "send application/json",
        ));
    }
    // Room for any real request, so a schema-violating body gets its 400 with the reason.
    let bytes = axum::body::to_bytes(body, MAX_JSON).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Payload Too Large",
            "at most 1 MiB",
        )
    })?;
    serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_request(format!("the body: {e}")))
}

/// `limit` and `offset` of a list request, checked; `default` is the limit when none is given.
pub(super) fn paging(query: Option<&str>, default: i64) -> Result<(i64, i64), ApiError> {
    let p: ListQuery = serde_urlencoded::from_str(query.unwrap_or_default())
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let (limit, offset) = (p.limit.unwrap_or(default), p.offset.unwrap_or(0));
    if !(1..=500).contains(&limit) || !(0..=MAX_OFFSET).contains(&offset) {
        return Err(ApiError::bad_request(
            "limit must be 1..500 and offset 0..1000000",
        ));
    }
    Ok((limit, offset))
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<i64>,
    offset: Option<i64>,
}

/// The largest `offset` a list takes.
pub(super) const MAX_OFFSET: i64 = 1_000_000;
pub(super) const MAX_TIME: i64 = 4_102_444_800;
pub(super) const MAX_ID: i64 = 9_007_199_254_740_991;

/// A list answer: `{"items": [...]}`.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct List<T> {
    pub items: Vec<T>,
}

/// The `If-Match` header that every change takes, as the API document states it (`if_match`
/// reads it from the headers).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code, reason = "only the API document reads this type")]
pub(super) struct IfMatch {
    /// The ETag of the version this change was decided on (from a GET, a list item's version
    /// in double quotes, or the answer to the last change). The change is made only while that
    /// is still the current version; otherwise 412 and nothing changes. Without If-Match the
    /// change is unconditional: the last write wins.
    #[param(rename = "If-Match", required = false)]
    if_match: String,
}
