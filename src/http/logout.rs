//! RP-initiated logout (`end_session_endpoint`).

use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::http::AppState;
use crate::http::error::PageError;
use crate::http::extract::{page_form, page_query};
use crate::http::views::SignedOutPage;
use crate::oauth::inspect::{LogoutOutcome, LogoutParams};

pub fn router() -> Router<AppState> {
    Router::new().route("/logout", get(logout_get).post(logout_post))
}

async fn logout_get(State(s): State<AppState>, RawQuery(q): RawQuery) -> Response {
    match page_query::<LogoutParams>(q.as_deref()) {
        Ok(p) => run(&s, p).await,
        Err(e) => e.into_response(),
    }
}

async fn logout_post(State(s): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    match page_form::<LogoutParams>(&headers, body).await {
        Ok(p) => run(&s, p).await,
        Err(e) => e.into_response(),
    }
}

async fn run(s: &AppState, p: LogoutParams) -> Response {
    match s.provider.logout(p).await {
        Ok(LogoutOutcome::Redirect(uri)) => Redirect::to(&uri).into_response(),
        Ok(LogoutOutcome::SignedOut) => SignedOutPage {
            title: s.web.title.clone(),
        }
        .into_response(),
        Err(msg) => PageError::new(StatusCode::BAD_REQUEST, msg).into_response(),
    }
}
