//! Rate limits at the endpoints that take credentials, answered in each one's own format.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::http::AppState;
use crate::http::error::{OAuthJson, PageError};
use crate::oauth::client::Client;
use crate::oauth::grants::ClientAuth;
use crate::ratelimit::Endpoint;

/// How a refusal is written: OAuth JSON, an HTML page, or the registry's error list.
#[derive(Debug, Clone, Copy)]
pub enum Format {
    OAuth,
    Page,
    Registry,
    /// RFC 9457 problem JSON, as the admin API answers.
    Problem,
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

/// Authenticate the client of an OAuth request (with the failed-credential throttle of its
/// address) and spend the budget that fits it: a confidential client that proved its secret
/// spends its own quota only (`perClient`, off by default); a public client and a failed
/// authentication spend the address's. The refusal, in OAuth's format, when one is spent.
pub async fn authenticated_client(
    s: &AppState,
    ep: Endpoint,
    ip: IpAddr,
    basic: Option<ClientAuth>,
    form_id: Option<&str>,
    form_secret: Option<&str>,
) -> Result<Arc<Client>, Response> {
    let result = s
        .provider
        .authenticate_client_from(basic, form_id, form_secret, ip)
        .await;
    let spent = match &result {
        Ok(c) if !c.public => s.provider.limits.check_client(ep, &c.id).err(),
        _ => s.provider.limits.check_address(ep, ip).err(),
    };
    if let Some(secs) = spent {
        return Err(refused(s, ep, ip, secs, Format::OAuth));
    }
    result.map_err(|e| OAuthJson::from(e).into_response())
}

fn refused(s: &AppState, ep: Endpoint, ip: IpAddr, secs: u64, format: Format) -> Response {
    if let Some(unlogged) = s.provider.limits.log_due(ep, ip) {
        tracing::warn!(endpoint = ?ep, client = %ip, retry_after = secs, refused_unlogged = unlogged, "rate limited");
    }
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
        Format::Problem => crate::http::admin::api::problem(
            StatusCode::TOO_MANY_REQUESTS,
            "Too Many Requests",
            message,
        ),
    };
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    r
}
