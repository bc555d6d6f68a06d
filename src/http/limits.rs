//! Rate limits at the endpoints that take credentials, answered in each one's own format.

use std::net::{IpAddr, SocketAddr};

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::http::AppState;
use crate::http::error::PageError;
use crate::ratelimit::Endpoint;

/// How a refusal is written: OAuth JSON, an HTML page, or the registry's error list.
#[derive(Debug, Clone, Copy)]
pub enum Format {
    OAuth,
    Page,
    Registry,
}

/// The client's address for rate limits (a trusted proxy's `X-Forwarded-For` believed).
pub fn client_ip(s: &AppState, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    let xff = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    s.provider.limits.client_address(peer.ip(), xff)
}

/// Spend one request of the address's budget; the refusal when it is spent. Called before
/// the body is read, so a flood costs no parsing.
pub fn check_address(s: &AppState, ep: Endpoint, ip: IpAddr, format: Format) -> Option<Response> {
    let secs = s.provider.limits.check_address(ep, ip).err()?;
    Some(refused(s, ep, ip, secs, format))
}

/// Spend one request of each named user's budget (user names tried, client ids); the
/// refusal when one is spent.
pub fn check_users(
    s: &AppState,
    ep: Endpoint,
    ip: IpAddr,
    users: &[Option<&str>],
    format: Format,
) -> Option<Response> {
    let limits = &s.provider.limits;
    let secs = users
        .iter()
        .flatten()
        .filter(|u| !u.is_empty())
        .find_map(|u| limits.check_user(ep, u).err())?;
    Some(refused(s, ep, ip, secs, format))
}

fn refused(s: &AppState, ep: Endpoint, ip: IpAddr, secs: u64, format: Format) -> Response {
    tracing::warn!(endpoint = ?ep, client = %ip, retry_after = secs, "rate limited");
    s.provider.metrics.rate_limited(ep);
    refuse(format, secs)
}

fn refuse(format: Format, secs: u64) -> Response {
    let message = format!("too many requests; try again in {secs} s");
    let mut r = match format {
        Format::OAuth => {
            let body = serde_json::json!({
                "error": "temporarily_unavailable",
                "error_description": message,
            });
            let mut r = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Format::Page => PageError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts from here. Wait a moment and try again.",
        )
        .into_response(),
        Format::Registry => {
            let body = serde_json::json!({
                "errors": [{"code": "TOOMANYREQUESTS", "message": message}],
            });
            (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response()
        }
    };
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    r
}
