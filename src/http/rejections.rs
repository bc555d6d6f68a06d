//! What the framework answers by itself (no route, a method the route lacks, a path segment
//! that is not UTF-8, a timeout) comes out in the format of the endpoint family the request was
//! for, like every other error there: problem JSON under `/api/v1`, the registry's `errors`
//! list at `/registry/token`, OAuth JSON at the token, userinfo and device-code endpoints, and
//! an HTML page elsewhere. Without this a client of the admin API could get an HTML page or
//! an empty body and no way to read what went wrong.

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::http::admin::api::ApiError;
use crate::http::error::{OAuthJson, PageError};
use crate::oauth::error::{ErrorCode, OAuthError};

/// The endpoint families that answer errors in their own format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    AdminApi,
    Registry,
    OAuth,
    /// Health and metrics: plain text on purpose, left alone.
    Plain,
    Page,
}

fn family(path: &str) -> Family {
    match path {
        "/api/v1" => Family::AdminApi,
        p if p.starts_with("/api/v1/") => Family::AdminApi,
        "/registry/token" => Family::Registry,
        "/token" | "/token/introspect" | "/token/revoke" | "/userinfo" | "/device/code" => {
            Family::OAuth
        }
        "/healthz" | "/healthz/ready" | "/metrics" => Family::Plain,
        _ => Family::Page,
    }
}

/// Whether `r` is already in `f`'s format: an error is, when its content type is the family's.
fn in_format(f: Family, r: &Response) -> bool {
    if !(r.status().is_client_error() || r.status().is_server_error()) {
        return true;
    }
    let ct = r
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    match f {
        Family::AdminApi => ct.starts_with("application/problem+json"),
        Family::Registry | Family::OAuth => ct.starts_with("application/json"),
        Family::Plain => true,
        // Pages are HTML; a bare or plain-text answer came from the framework.
        Family::Page => !ct.is_empty() && !ct.starts_with("text/plain"),
    }
}

/// The middleware: `base_path` is the issuer's path, which the families' paths follow.
pub async fn in_family_format(base_path: &str, req: Request, next: Next) -> Response {
    let f = family(
        req.uri()
            .path()
            .strip_prefix(base_path)
            .unwrap_or(req.uri().path()),
    );
    let resp = next.run(req).await;
    if in_format(f, &resp) {
        return resp;
    }
    let status = resp.status();
    let allow = resp.headers().get(header::ALLOW).cloned();
    let reason = status.canonical_reason().unwrap_or("Error");
    // The framework's own words are kept when short plain text (a path that does not decode);
    // an HTML page or anything long is replaced by the status's name.
    let plain = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/plain"));
    let said = match plain {
        true => axum::body::to_bytes(resp.into_body(), 512)
            .await
            .ok()
            .and_then(|b| String::from_utf8(b.to_vec()).ok())
            .filter(|t| !t.trim().is_empty()),
        false => None,
    };
    let detail = said.unwrap_or_else(|| reason.to_lowercase());
    let mut out = match f {
        Family::AdminApi => ApiError::new(status, reason, detail).into_response(),
        Family::OAuth => {
            let code = match status {
                StatusCode::SERVICE_UNAVAILABLE | StatusCode::REQUEST_TIMEOUT => {
                    ErrorCode::TemporarilyUnavailable
                }
                s if s.is_server_error() => ErrorCode::ServerError,
                _ => ErrorCode::InvalidRequest,
            };
            OAuthJson(OAuthError::new(code, detail)).into_response()
        }
        Family::Registry => {
            let code = match status {
                StatusCode::METHOD_NOT_ALLOWED => "UNSUPPORTED",
                s if s.is_server_error() => "UNKNOWN",
                _ => "INVALID_REQUEST",
            };
            let body = serde_json::json!({"errors": [{"code": code, "message": detail}]});
            (status, axum::Json(body)).into_response()
        }
        Family::Page | Family::Plain => PageError::new(status, detail).into_response(),
    };
    // The status stays the framework's (a 405 is a 405 in every format).
    *out.status_mut() = status;
    if let Some(allow) = allow {
        out.headers_mut().insert(header::ALLOW, allow);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_path_belongs_to_its_family() {
        assert_eq!(family("/api/v1"), Family::AdminApi);
        assert_eq!(family("/api/v1/users/x"), Family::AdminApi);
        assert_eq!(family("/api/v10"), Family::Page);
        assert_eq!(family("/registry/token"), Family::Registry);
        assert_eq!(family("/registry/keys"), Family::Page);
        assert_eq!(family("/token"), Family::OAuth);
        assert_eq!(family("/device/code"), Family::OAuth);
        assert_eq!(family("/device"), Family::Page);
        assert_eq!(family("/healthz/ready"), Family::Plain);
        assert_eq!(family("/admin/users"), Family::Page);
    }
}
