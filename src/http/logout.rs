//! RP-initiated logout (`end_session_endpoint`).

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::http::error::PageError;
use crate::http::extract::{page_form, page_query};
use crate::http::limits::client_ip;
use crate::http::views::{LogoutConfirmPage, SignedOutPage};
use crate::http::{AppState, browser, csrf};
use crate::oauth::logout::{LogoutOutcome, LogoutParams};

pub fn router() -> Router<AppState> {
    Router::new().route("/logout", get(logout_get).post(logout_post))
}

/// What the CSRF token of the confirmation form is bound to.
const CONFIRM: &str = "logout";

async fn logout_get(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    match page_query::<LogoutParams>(q.as_deref()) {
        Ok(p) => run(&s, p, &headers, peer, false).await,
        Err(e) => e.into_response(),
    }
}

/// The logout parameters, and on Gantry's own confirmation form its token and button.
#[derive(Deserialize)]
struct LogoutForm {
    #[serde(flatten)]
    params: LogoutParams,
    csrf: Option<String>,
    confirm: Option<String>,
}

async fn logout_post(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match page_form::<LogoutForm>(&headers, body).await {
        Ok(f) => {
            let confirmed = f.confirm.is_some()
                && csrf::check(&headers, CONFIRM, f.csrf.as_deref().unwrap_or_default());
            if f.confirm.is_some() && !confirmed {
                return PageError::new(
                    StatusCode::FORBIDDEN,
                    "The form expired or did not come from this site. Go back, reload the page and try again.",
                )
                .into_response();
            }
            run(&s, f.params, &headers, peer, confirmed).await
        }
        Err(e) => e.into_response(),
    }
}

async fn run(
    s: &AppState,
    p: LogoutParams,
    headers: &HeaderMap,
    peer: SocketAddr,
    confirmed: bool,
) -> Response {
    let (b, set) = browser::of(s, headers, Some(client_ip(s, peer, headers)));
    let fields: Vec<(String, String)> = [
        ("id_token_hint", &p.id_token_hint),
        ("post_logout_redirect_uri", &p.post_logout_redirect_uri),
        ("state", &p.state),
        ("client_id", &p.client_id),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.clone().map(|v| (k.to_string(), v)))
    .collect();
    let mut resp = match s.provider.logout(p, &b, confirmed).await {
        Ok(done) => {
            let mut resp = match done.outcome {
                LogoutOutcome::Redirect(uri) => Redirect::to(&uri).into_response(),
                LogoutOutcome::SignedOut => SignedOutPage {
                    title: s.web.title.clone(),
                }
                .into_response(),
                LogoutOutcome::Confirm => LogoutConfirmPage {
                    title: s.web.title.clone(),
                    action: s.web.path("/logout"),
                    csrf: csrf::token(&b.csrf, CONFIRM),
                    fields,
                }
                .into_response(),
            };
            browser::set_session(s, &mut resp, done.cookie);
            resp
        }
        Err(e) => PageError::new(StatusCode::BAD_REQUEST, e).into_response(),
    };
    csrf::attach(&mut resp, set);
    resp
}
