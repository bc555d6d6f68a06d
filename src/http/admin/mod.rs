//! `/admin` (server-rendered pages) and `/api/v1` (JSON): thin handlers over `crate::admin`.

pub mod api;
mod audit;
mod audit_detail;
pub mod clients;
pub mod confirm;
mod connector_templates;
pub mod connectors;
mod factors;
mod keys;
mod openapi;
pub(crate) mod page;
mod policy;
mod refused;
mod sessions;
pub mod ui;
pub mod users;

use axum::Router;
use axum::http::HeaderMap;

use crate::http::cookies;
use crate::http::{AppState, WebSettings};
use crate::secret;

/// The admin session cookie: SameSite=Strict (no cross-site request ever carries it), for the
/// whole issuer path so the API under it sees it too.
pub const SESSION_COOKIE: &str = "gantry_admin";
/// State and PKCE verifier of a sign-in in progress; Lax, since the return is a navigation.
pub const LOGIN_COOKIE: &str = "gantry_admin_login";

pub fn router() -> Router<AppState> {
    ui::router()
        .merge(users::router())
        .merge(clients::router())
        .merge(connectors::router())
        .merge(keys::router())
        .merge(openapi::router())
        .merge(policy::router())
        .merge(audit::router())
        .merge(sessions::router())
        .merge(factors::router())
}

pub fn session_token(headers: &HeaderMap) -> String {
    cookies::get(headers, SESSION_COOKIE).unwrap_or_default()
}

/// The form token of an admin page: bound to the session, so another site cannot forge one.
pub fn csrf_token(session: &str) -> String {
    secret::hmac_b64(session.as_bytes(), b"gantry-admin-form")
}

pub fn csrf_ok(session: &str, presented: &str) -> bool {
    !session.is_empty() && !presented.is_empty() && secret::ct_eq(&csrf_token(session), presented)
}

/// The header in which a script of the admin pages sends the page's form token to the API.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Whether a request that carries the session cookie comes from Gantry's own pages: its
/// `Origin` is the issuer's, the browser says `Sec-Fetch-Site: same-origin`, or it carries the
/// session's form token in `X-CSRF-Token`. SameSite=Strict alone lets through requests from
/// another origin of the same site (a sibling host, another port), and a body-less POST needs
/// no CORS preflight. Without any of the three, the answer is no; and a foreign `Origin` or
/// `Sec-Fetch-Site` is a no whatever else the request says.
pub fn from_own_pages(headers: &HeaderMap, web: &WebSettings, session: &str) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    // `Origin: null` (a sandboxed frame, a redirect chain) does not parse, and is not ours.
    let own_origin = headers.get("origin").map(|o| {
        match (
            o.to_str().ok().and_then(|o| url::Url::parse(o).ok()),
            url::Url::parse(&web.base_url).ok(),
        ) {
            (Some(origin), Some(own)) => origin.origin() == own.origin(),
            _ => false,
        }
    });
    let same_origin_fetch = headers
        .get("sec-fetch-site")
        .map(|v| v.to_str().ok() == Some("same-origin"));
    if own_origin == Some(false) || same_origin_fetch == Some(false) {
        return false;
    }
    own_origin == Some(true)
        || same_origin_fetch == Some(true)
        || text(CSRF_HEADER).is_some_and(|t| csrf_ok(session, t))
}
