//! RFC 8628 endpoints: `/device/code` for devices, `/device` where people type the code, and
//! the confirmation that ends every device login (served at `/approval`, where logins land).

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::http::error::{OAuthJson, PageError};
use crate::http::extract::{basic_auth, oauth_form, page_form, page_query};
use crate::http::limits::{self, DeviceForm, RateLimited};
use crate::http::views::{
    DeviceConfirmPage, DeviceDonePage, DevicePage, ago, describe_scope, utc_time,
};
use crate::http::{AppState, authorize, csrf};
use crate::oauth::authorize::Approval;
use crate::oauth::device::{DeviceConfirmation, UserCodeError};
use crate::ratelimit::Endpoint;

/// The CSRF binding of the code form, which belongs to no request yet.
const FORM_ID: &str = "device";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/device/code", post(code))
        .route("/device", get(page).post(submit))
        .route("/device/done", get(done))
}

#[derive(Deserialize)]
struct CodeForm {
    client_id: Option<String>,
    client_secret: Option<String>,
    scope: Option<String>,
}

async fn code(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, OAuthJson> {
    let ip = limits::client_ip(&s, peer, &headers);
    let f: CodeForm = oauth_form(&headers, body).await?;
    let basic = basic_auth(&headers)?;
    // Each call stores a device request: devices are public clients, so this spends the
    // address's budget.
    let client = match limits::authenticated_client(
        &s,
        Endpoint::DeviceCode,
        ip,
        basic,
        f.client_id.as_deref(),
        f.client_secret.as_deref(),
    )
    .await
    {
        Ok(c) => c,
        Err(refused) => return Ok(refused),
    };
    let r = s
        .provider
        .device_authorize(&client, f.scope.as_deref(), ip)
        .await?;
    let mut resp = axum::Json(r).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

#[derive(Deserialize)]
struct CodeQuery {
    user_code: Option<String>,
}

fn form(s: &AppState, cookie: &str, code: &str, error: &str) -> DevicePage {
    DevicePage {
        title: s.web.title.clone(),
        action: s.web.path("/device"),
        csrf: csrf::token(cookie, FORM_ID),
        user_code: code.to_string(),
        error: error.to_string(),
    }
}

async fn page(State(s): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let q: CodeQuery = match page_query(q.as_deref()) {
        Ok(q) => q,
        Err(e) => return e.into_response(),
    };
    let (cookie, set) = csrf::ensure(&headers, &s.web);
    let mut r = form(&s, &cookie, q.user_code.as_deref().unwrap_or_default(), "").into_response();
    csrf::attach(&mut r, set);
    r
}

#[derive(Deserialize)]
struct SubmitForm {
    user_code: Option<String>,
    csrf: Option<String>,
}

async fn submit(
    State(s): State<AppState>,
    RateLimited(ip, ..): RateLimited<DeviceForm>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let f: SubmitForm = match page_form(&headers, body).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    if !csrf::check(&headers, FORM_ID, f.csrf.as_deref().unwrap_or_default()) {
        return PageError::new(
            StatusCode::FORBIDDEN,
            "The form expired or did not come from this site. Reload the page and try again.",
        )
        .into_response();
    }
    let typed = f.user_code.unwrap_or_default();
    let cookie = csrf::cookie_value(&headers).unwrap_or_default();
    let b = crate::http::browser::as_is(&s, &headers, Some(ip));
    match s.provider.device_start(&typed, &b).await {
        Ok(next) => authorize::to_login(&s, next),
        Err(UserCodeError::Unknown) => (
            StatusCode::BAD_REQUEST,
            form(
                &s,
                &cookie,
                &typed,
                "That code is not valid or has expired. Check the code on your device.",
            ),
        )
            .into_response(),
        Err(UserCodeError::Throttled) => (
            StatusCode::TOO_MANY_REQUESTS,
            form(
                &s,
                &cookie,
                &typed,
                "Too many wrong codes. Wait a few minutes and try again.",
            ),
        )
            .into_response(),
        Err(UserCodeError::NoConnector) => PageError::new(
            StatusCode::BAD_REQUEST,
            crate::oauth::allowed_connectors::NO_CONNECTOR,
        )
        .into_response(),
        Err(UserCodeError::Unavailable(cause)) => {
            PageError::sign_in_unavailable(cause).into_response()
        }
        Err(UserCodeError::Internal(cause)) => PageError::internal(cause).into_response(),
    }
}

/// The device confirmation for login request `req_id`: it posts to `/approval` like the
/// approval page, with the same CSRF binding to the request.
pub(crate) fn confirm_page(
    s: &AppState,
    req_id: &str,
    csrf: String,
    approval: &Approval,
    device: &DeviceConfirmation,
) -> Response {
    DeviceConfirmPage {
        title: s.web.title.clone(),
        action: s.web.path("/approval"),
        request_id: req_id.to_string(),
        csrf,
        client_name: approval.client_name.clone(),
        username: approval.username.clone(),
        scopes: approval.scopes.iter().map(|x| describe_scope(x)).collect(),
        user_code: device.user_code.clone(),
        requested_at: utc_time(device.requested_at),
        requested_ago: ago(device.age_secs),
        requested_from: device
            .requested_from
            .clone()
            .unwrap_or_else(|| "an address that was not recorded".into()),
    }
    .into_response()
}

#[derive(Deserialize)]
struct DoneQuery {
    result: Option<String>,
}

async fn done(State(s): State<AppState>, RawQuery(q): RawQuery) -> Response {
    let q: DoneQuery = page_query(q.as_deref()).unwrap_or(DoneQuery { result: None });
    DeviceDonePage {
        title: s.web.title.clone(),
        approved: q.result.as_deref() == Some("approved"),
    }
    .into_response()
}
