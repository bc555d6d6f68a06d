//! Rate limits at the endpoints that take credentials, answered in each one's own format.

use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
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

/// An endpoint whose requests spend their address's budget before anything else is read.
pub trait Limit {
    const ENDPOINT: Endpoint;
    /// The format of its refusal.
    const FORMAT: Format;
}

macro_rules! limit {
    ($(#[$doc:meta])* $name:ident, $ep:ident, $format:ident) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name;
        impl Limit for $name {
            const ENDPOINT: Endpoint = Endpoint::$ep;
            const FORMAT: Format = Format::$format;
        }
    };
}
limit!(/// A password login form.
    LoginForm, Login, Page);
limit!(/// The device flow's user-code form.
    DeviceForm, Device, Page);
limit!(/// `GET /registry/token`.
    RegistryGet, Registry, Registry);
limit!(/// `POST /registry/token`.
    RegistryPost, Registry, OAuth);

/// A request to a rate-limited endpoint that is within its address's budget: the client's
/// address. Over the budget, the request is refused in the endpoint's own format (429 with
/// `Retry-After`) before its body is read.
#[derive(Debug)]
pub struct RateLimited<L>(pub IpAddr, pub PhantomData<L>);

impl<L: Limit> FromRequestParts<AppState> for RateLimited<L> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Response> {
        let ConnectInfo(peer) = ConnectInfo::<SocketAddr>::from_request_parts(parts, s)
            .await
            .map_err(IntoResponse::into_response)?;
        let ip = client_ip(s, peer, &parts.headers);
        match check_address(s, L::ENDPOINT, ip, L::FORMAT) {
            Some(refused) => Err(refused),
            None => Ok(RateLimited(ip, PhantomData)),
        }
    }
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
        Format::Problem => crate::http::admin::api::ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Too Many Requests",
            message,
        )
        .into_response(),
    };
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    r
}
