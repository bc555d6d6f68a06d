//! Browser endpoints of the login: `/auth`, `/auth/{connector}`, `/approval`.

use std::net::{IpAddr, SocketAddr};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::http::error::PageError;
use crate::http::extract::{page_form, page_query};
use crate::http::limits::{LoginForm as LoginLimit, RateLimited, client_ip};
use crate::http::views::{ApprovalPage, ChooserPage, ConnectorLink, LoginPage, describe_scope};
use crate::http::{AppState, browser, csrf, device};
use crate::oauth::authorize::{ApprovalStep, AuthorizeParams, Finished, LoginError, Next};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth", get(auth_get).post(auth_post))
        .route("/auth/{connector}", get(login_page).post(login_submit))
        .route("/approval", get(approval_page).post(approval_submit))
}

async fn auth_get(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    match page_query::<AuthorizeParams>(q.as_deref()) {
        Ok(p) => start(&s, p, &headers, client_ip(&s, peer, &headers)).await,
        Err(e) => e.into_response(),
    }
}

async fn auth_post(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let ip = client_ip(&s, peer, &headers);
    match page_form::<AuthorizeParams>(&headers, body).await {
        Ok(p) => start(&s, p, &headers, ip).await,
        Err(e) => e.into_response(),
    }
}

async fn start(s: &AppState, p: AuthorizeParams, headers: &HeaderMap, ip: IpAddr) -> Response {
    let (b, set) = browser::of(s, headers, Some(ip));
    let mut resp = match s.provider.start_authorization(p, &b).await {
        Ok(next) => to_login(s, next),
        Err(e) => e.into_response(),
    };
    csrf::attach(&mut resp, set);
    resp
}

/// Send the browser on from a finished request, with its session cookie.
pub(crate) fn finished(s: &AppState, f: Finished) -> Response {
    let mut resp = Redirect::to(&f.redirect).into_response();
    browser::set_session(s, &mut resp, f.cookie);
    resp
}

/// Send the browser on to the login: straight to one connector, or to the chooser.
pub(crate) fn to_login(s: &AppState, next: Next) -> Response {
    match next {
        Next::Connector {
            request_id,
            connector_id,
        } => Redirect::to(&login_url(s, &connector_id, &request_id)).into_response(),
        Next::Approve { request_id } => Redirect::to(&approval_url(s, &request_id)).into_response(),
        Next::SecondFactor { request_id } => {
            Redirect::to(&crate::http::mfa::mfa_url(s, &request_id)).into_response()
        }
        Next::Finished(f) => finished(s, f),
        Next::Choose {
            request_id,
            connectors,
        } => ChooserPage {
            title: s.web.title.clone(),
            connectors: connectors
                .iter()
                .map(|c| ConnectorLink {
                    name: c.name().to_string(),
                    url: login_url(s, c.id(), &request_id),
                })
                .collect(),
        }
        .into_response(),
    }
}

fn login_url(s: &AppState, connector: &str, request_id: &str) -> String {
    let q: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("req", request_id)
        .finish();
    format!(
        "{}?{q}",
        s.web
            .path(&format!("/auth/{}", urlencode_segment(connector)))
    )
}

fn urlencode_segment(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[derive(Deserialize)]
struct ReqQuery {
    req: Option<String>,
}

async fn login_page(
    State(s): State<AppState>,
    Path(connector): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let rq = match page_query::<ReqQuery>(q.as_deref()) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let Some(req_id) = rq.req.filter(|r| !r.is_empty()) else {
        return PageError::new(StatusCode::BAD_REQUEST, "The login link is incomplete.")
            .into_response();
    };
    let conn = match s.provider.login_connector(&req_id, &connector).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    // Dex's development connector logs anyone in: only a browser on this machine may use it,
    // whatever address the server listens on (Dex's dev config listens on 0.0.0.0).
    if conn.kind() == crate::config::ConnectorKind::MockCallback
        && !client_ip(&s, peer, &headers).to_canonical().is_loopback()
    {
        return PageError::new(
            StatusCode::FORBIDDEN,
            "This development login works only from a browser on the server's own machine.",
        )
        .into_response();
    }
    let (cookie, set) = csrf::ensure(&headers, &s.web);
    let mut resp = if conn.is_callback() {
        // The cookie set here comes back on the provider's top-level GET redirect
        // (SameSite=Lax), and proves the callback is in this browser.
        match s.provider.begin_upstream(&req_id, conn.id(), &cookie).await {
            Ok(url) => Redirect::to(&url).into_response(),
            Err(e) => login_failed(e, conn.id(), "The identity provider is not answering."),
        }
    } else {
        let hint = s
            .provider
            .pending_request(&req_id)
            .await
            .map(|r| (r.login_hint, r.remember != 0))
            .unwrap_or_default();
        let mut form = login_form(&s, conn.id(), conn.prompt(), &req_id, &cookie, &hint.0, "");
        form.remember = hint.1;
        form.into_response()
    };
    csrf::attach(&mut resp, set);
    resp
}

fn login_form(
    s: &AppState,
    connector: &str,
    prompt: &str,
    req_id: &str,
    cookie: &str,
    username: &str,
    error: &str,
) -> LoginPage {
    LoginPage {
        title: s.web.title.clone(),
        action: s
            .web
            .path(&format!("/auth/{}", urlencode_segment(connector))),
        request_id: req_id.to_string(),
        csrf: csrf::token(cookie, req_id),
        prompt: prompt.to_string(),
        username: username.to_string(),
        error: error.to_string(),
        sessions: s.provider.sessions.enabled,
        remember: s.provider.sessions.remember_me_checked_by_default,
    }
}

#[derive(Deserialize)]
struct LoginForm {
    req: Option<String>,
    csrf: Option<String>,
    login: Option<String>,
    password: Option<String>,
    /// The "remember me" box: present (any value) when ticked.
    remember: Option<String>,
}

async fn login_submit(
    State(s): State<AppState>,
    Path(connector): Path<String>,
    RateLimited(ip, ..): RateLimited<LoginLimit>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let f = match page_form::<LoginForm>(&headers, body).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let req_id = f.req.unwrap_or_default();
    if !csrf::check(&headers, &req_id, f.csrf.as_deref().unwrap_or_default()) {
        return PageError::new(StatusCode::FORBIDDEN, "The form expired or did not come from this site. Go back, reload the page and try again.").into_response();
    }
    let Some(conn) = s.provider.connector(&connector).filter(|c| c.is_password()) else {
        return PageError::new(StatusCode::NOT_FOUND, "Unknown login method.").into_response();
    };
    let username = f.login.unwrap_or_default();
    let password = f.password.unwrap_or_default();
    let (cookie, _) = csrf::ensure(&headers, &s.web);
    // The form again, with what went wrong.
    let again = |status: StatusCode, error: &str| {
        let form = login_form(
            &s,
            conn.id(),
            conn.prompt(),
            &req_id,
            &cookie,
            &username,
            error,
        );
        (status, form).into_response()
    };
    match s
        .provider
        .password_login(
            &req_id,
            conn.id(),
            &username,
            &password,
            &crate::oauth::session::Browser {
                csrf: cookie.clone(),
                address: Some(ip),
                ..Default::default()
            },
            Some(f.remember.is_some()),
        )
        .await
    {
        Ok(()) => Redirect::to(&approval_url(&s, &req_id)).into_response(),
        Err(LoginError::BadCredentials) => {
            again(StatusCode::UNAUTHORIZED, "Invalid username or password.")
        }
        Err(LoginError::Throttled) => again(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed attempts. Wait a few minutes and try again.",
        ),
        Err(e) => login_failed(
            e,
            &connector,
            "The directory that checks your password is not answering.",
        ),
    }
}

/// The page for a login that could not go on. `unavailable`: what to say when the identity
/// source did not answer.
pub(crate) fn login_failed(e: LoginError, connector: &str, unavailable: &str) -> Response {
    match e {
        LoginError::Expired => PageError::new(StatusCode::BAD_REQUEST, "This login request has expired or was already used. Go back to the application and start again.").into_response(),
        LoginError::Unavailable(cause) => {
            tracing::error!(connector = %connector, error = %cause, "login failed: identity source unavailable");
            PageError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("{unavailable} Try again in a minute; if it keeps failing, tell your administrator."),
            )
            .into_response()
        }
        LoginError::Rejected(why) => PageError::new(
            StatusCode::FORBIDDEN,
            format!("The login could not be completed: {why}. Go back to the application and start again."),
        )
        .into_response(),
        LoginError::WrongBrowser => PageError::new(
            StatusCode::FORBIDDEN,
            "This login was started in another browser. Start again from the application.",
        )
        .into_response(),
        LoginError::BadCredentials | LoginError::Throttled => {
            PageError::new(StatusCode::UNAUTHORIZED, "Invalid username or password.").into_response()
        }
        LoginError::StorageUnavailable(cause) => {
            PageError::sign_in_unavailable(cause).into_response()
        }
        LoginError::Internal(cause) => PageError::internal(cause).into_response(),
    }
}

pub(crate) fn approval_url(s: &AppState, req_id: &str) -> String {
    let q: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("req", req_id)
        .finish();
    format!("{}?{q}", s.web.path("/approval"))
}

async fn approval_page(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let req_id = match page_query::<ReqQuery>(q.as_deref()) {
        Ok(ReqQuery { req: Some(r) }) if !r.is_empty() => r,
        Ok(_) => {
            return PageError::new(StatusCode::BAD_REQUEST, "The approval link is incomplete.")
                .into_response();
        }
        Err(e) => return e.into_response(),
    };
    let b = browser::as_is(&s, &headers, Some(client_ip(&s, peer, &headers)));
    let approval = match s.provider.approval(&req_id, &b).await {
        Ok(ApprovalStep::Ask(a)) => a,
        Ok(ApprovalStep::Done(f)) => return finished(&s, f),
        Ok(ApprovalStep::SecondFactor) => {
            return Redirect::to(&crate::http::mfa::mfa_url(&s, &req_id)).into_response();
        }
        Err(e) => return e.into_response(),
    };
    let (cookie, set) = csrf::ensure(&headers, &s.web);
    let csrf = csrf::token(&cookie, &req_id);
    let mut resp = match approval.device {
        Some(ref device) => device::confirm_page(&s, &req_id, csrf, &approval, device),
        None => ApprovalPage {
            title: s.web.title.clone(),
            action: s.web.path("/approval"),
            csrf,
            request_id: req_id,
            client_name: approval.client_name,
            username: approval.username,
            scopes: approval.scopes.iter().map(|x| describe_scope(x)).collect(),
        }
        .into_response(),
    };
    csrf::attach(&mut resp, set);
    resp
}

#[derive(Deserialize)]
struct ApprovalForm {
    req: Option<String>,
    csrf: Option<String>,
    approval: Option<String>,
}

async fn approval_submit(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let f = match page_form::<ApprovalForm>(&headers, body).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let req_id = f.req.unwrap_or_default();
    if !csrf::check(&headers, &req_id, f.csrf.as_deref().unwrap_or_default()) {
        return PageError::new(StatusCode::FORBIDDEN, "The form expired or did not come from this site. Go back, reload the page and try again.").into_response();
    }
    let approved = f.approval.as_deref() == Some("approve");
    let b = browser::as_is(&s, &headers, Some(client_ip(&s, peer, &headers)));
    match s.provider.finish(&req_id, approved, &b).await {
        Ok(f) => finished(&s, f),
        Err(e) => e.into_response(),
    }
}
