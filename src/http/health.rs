//! `/healthz`, `/healthz/ready` and Prometheus `/metrics`.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(live))
        .route("/healthz/ready", get(ready))
}

pub fn metrics_router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

async fn live() -> &'static str {
    "ok"
}

/// A readiness probe's answer within this: the pool would wait its full acquire timeout for
/// a database that is gone, and a load balancer should hear "not ready" before its own timeout.
const READY_WITHIN: std::time::Duration = std::time::Duration::from_secs(1);

/// Ready when the database answers and a signing key is loaded.
async fn ready(State(s): State<AppState>) -> Response {
    let failed = match tokio::time::timeout(READY_WITHIN, s.admin.db.ping()).await {
        Ok(Ok(())) => return (StatusCode::OK, "ready").into_response(),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {READY_WITHIN:?}"),
    };
    tracing::warn!(error = %failed, "readiness check failed");
    (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
}

async fn metrics(State(s): State<AppState>) -> Response {
    let mut r = s.provider.metrics.render().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
    );
    r
}
