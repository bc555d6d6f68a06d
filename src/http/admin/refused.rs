//! Refused admin API calls (401, 403) are audited: probing the admin API with stolen or
//! guessed credentials shows in the trail. Each refusal spends the address's budget, so a
//! flood is answered 429 and costs no audit row beyond the budget.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use axum::response::Response;

use crate::http::AppState;
use crate::http::limits::{self, Format};
use crate::ratelimit::Endpoint;

/// Record a refused admin API call; the 429 to answer instead when the address's budget of
/// refusals is spent.
pub(super) async fn audit(
    s: &AppState,
    parts: &Parts,
    actor: &str,
    status: u16,
    reason: &str,
) -> Option<Response> {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
    let ip = limits::client_ip(s, peer, &parts.headers);
    if let Some(too_many) = limits::check_address(s, Endpoint::AdminRefusal, ip, Format::Problem) {
        return Some(too_many);
    }
    // The route, not the path as sent: the caller is not authenticated, and the path is
    // theirs to fill (any length, any text) in the trail and in the log line of it.
    let route = parts
        .extensions
        .get::<axum::extract::MatchedPath>()
        .map_or("unmatched", |p| p.as_str());
    // As the API is documented, without the issuer's path.
    let route = route.strip_prefix(&s.web.base_path).unwrap_or(route);
    let target = format!("{} {route}", parts.method);
    s.provider
        .audit(
            actor,
            "admin.api",
            &target,
            "refused",
            serde_json::json!({ "status": status, "reason": reason, "address": ip }),
        )
        .await;
    None
}
