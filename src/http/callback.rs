//! `/callback` (and `/callback/{connector}`, as Dex serves both): where upstream providers send
//! the browser back.

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::http::authorize::{approval_url, login_failed};
use crate::http::extract::page_query;
use crate::http::{AppState, csrf};
use crate::oauth::upstream::CallbackParams;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/callback", get(callback))
        .route("/callback/{connector}", get(callback))
}

async fn callback(
    State(s): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let p = match page_query::<CallbackParams>(q.as_deref()) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let browser = csrf::cookie_value(&headers).unwrap_or_default();
    match s.provider.finish_upstream(&p, browser).await {
        Ok(req_id) => Redirect::to(&approval_url(&s, &req_id)).into_response(),
        Err(e) => login_failed(e, "upstream", "The identity provider is not answering."),
    }
}
