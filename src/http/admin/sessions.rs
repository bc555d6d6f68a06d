//! The sessions page and `/api/v1/sessions`: live logins, revoke one, revoke all of a user's.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{delete, get, post};
use serde::{Deserialize, Serialize};

use super::api::{ApiAdmin, ApiError, Problem, json_body, paging};
use super::confirm;
use super::page::{AdminForm, AdminPage};
use super::page::{OrPage, PageResult};
use super::ui::{CsrfForm, PAGE, age, nav};
use crate::admin::SessionView;
use crate::http::AppState;
use crate::http::extract::page_query;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/sessions", get(sessions))
        .route("/admin/sessions/revoke", post(revoke))
        .route("/api/v1/sessions", get(list_sessions))
        .route("/api/v1/sessions/{id}", delete(revoke_session))
        .route("/api/v1/sessions/revoke-user", post(revoke_user))
        .route("/admin/sessions/sign-out", post(sign_out_browser))
        .route("/api/v1/browser-sessions", get(list_browser_sessions))
        .route("/api/v1/browser-sessions/{id}", delete(end_browser_session))
}

/// A signed-in browser as the page shows it.
struct BrowserRow {
    id: String,
    user: String,
    email: String,
    connector: String,
    address: String,
    device: String,
    factors: String,
    clients: String,
    started: String,
    last_seen: String,
}

/// One user's second factors, with the reset form.
struct FactorsRow {
    subject: String,
    user: String,
    connector: String,
    factors: String,
    last_used: String,
}

struct SessionRow {
    id: String,
    subject: String,
    user: String,
    email: String,
    client_id: String,
    connector: String,
    groups: Vec<String>,
    last_used: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/sessions.html")]
struct SessionsPage {
    title: String,
    base: String,
    csrf: String,
    admin: String,
    /// The navigation link marked as this page (a path under the issuer's).
    here: &'static str,
    notice: String,
    sessions: Vec<SessionRow>,
    next_page: i64,
    browsers: Vec<BrowserRow>,
    factors: Vec<FactorsRow>,
}

#[derive(Deserialize)]
struct PageQuery {
    page: Option<i64>,
    revoked: Option<String>,
}

async fn sessions(
    State(s): State<AppState>,
    AdminPage { admin, token }: AdminPage,
    RawQuery(q): RawQuery,
) -> PageResult {
    let p = page_query::<PageQuery>(q.as_deref())?;
    let page = p.page.unwrap_or(0).clamp(0, 1_000_000);
    let rows: Vec<SessionView> = s
        .admin
        .live_sessions(PAGE + 1, page * PAGE)
        .await
        .or_page(&s)?;
    let more = rows.len() as i64 > PAGE;
    let now = s.provider.clock.now();
    let browsers = if page == 0 {
        s.admin.browser_sessions(None, PAGE, 0).await.or_page(&s)?
    } else {
        Vec::new()
    };
    let factors = if page == 0 {
        factor_rows(&s.admin.factors(None, 500, 0).await.or_page(&s)?, now)
    } else {
        Vec::new()
    };
    let n = nav(&s, &admin, &token);
    Ok(SessionsPage {
        title: s.web.title.clone(),
        base: n.base,
        csrf: n.csrf,
        admin: n.admin,
        here: "/admin/sessions",
        notice: match p.revoked.as_deref() {
            Some("user") => {
                "Every session of that user was revoked: none of their refresh tokens works, and their browsers are signed out.".into()
            }
            Some("browser") => "The browser was signed out.".into(),
            Some("factors") => {
                "The user's second factors and recovery codes were removed and their browsers signed out: their next login sets a factor up again.".into()
            }
            Some(_) => "The session was revoked: its refresh token no longer works.".into(),
            None => String::new(),
        },
        sessions: rows
            .into_iter()
            .take(PAGE as usize)
            .map(|v| SessionRow {
                id: v.id,
                subject: v.subject,
                user: v.user,
                email: v.email,
                client_id: v.client_id,
                connector: v.connector,
                groups: v.groups,
                last_used: format!("{} ago", age(now - v.last_used_at).trim_end_matches(" old")),
            })
            .collect(),
        next_page: if more { page + 1 } else { 0 },
        browsers: browsers
            .into_iter()
            .map(|b| BrowserRow {
                id: b.id,
                user: b.user,
                email: b.email,
                connector: b.connector,
                address: b.address,
                device: b.user_agent.chars().take(80).collect(),
                factors: b.amr.join(" "),
                clients: b.clients.join(", "),
                started: crate::http::views::utc_time(b.created_at),
                last_seen: format!("{} ago", age(now - b.last_seen_at).trim_end_matches(" old")),
            })
            .collect(),
        factors,
    }
    .into_response())
}

/// The factors, one row per user (they come ordered by subject).
fn factor_rows(all: &[crate::admin::factors::FactorView], now: i64) -> Vec<FactorsRow> {
    let mut rows: Vec<FactorsRow> = Vec::new();
    let mut last: Vec<Option<i64>> = Vec::new();
    for f in all {
        let what = if f.name.is_empty() {
            format!("{} ({})", f.authenticator, f.kind)
        } else {
            format!("{}: {} ({})", f.authenticator, f.name, f.kind)
        };
        match rows.last_mut() {
            Some(r) if r.subject == f.subject => {
                r.factors = format!("{}, {what}", r.factors);
                if let Some(l) = last.last_mut() {
                    *l = (*l).max(f.last_used_at);
                }
            }
            _ => {
                let (user, connector) = crate::identity::Identity::parse_subject(&f.subject)
                    .unwrap_or_else(|| (f.subject.clone(), f.connector.clone()));
                rows.push(FactorsRow {
                    subject: f.subject.clone(),
                    user,
                    connector,
                    factors: what,
                    last_used: String::new(),
                });
                last.push(f.last_used_at);
            }
        }
    }
    for (r, l) in rows.iter_mut().zip(last) {
        r.last_used = match l {
            Some(t) => format!("{} ago", age(now - t).trim_end_matches(" old")),
            None => "never".into(),
        };
    }
    rows
}

/// "Sign out" of one browser on the sessions page.
async fn sign_out_browser(
    State(s): State<AppState>,
    AdminForm {
        form: f,
        admin,
        token,
    }: AdminForm<CsrfForm>,
) -> PageResult {
    let id = f.id.clone().unwrap_or_default();
    if !confirm::confirmed(f.confirm.as_deref()) {
        return Ok(confirm::ask(
            &s,
            nav(&s, &admin, &token),
            confirm::Ask {
                heading: "Sign this browser out?".into(),
                what: "Its session ends at once: the next application it opens asks for the \
                       password again, and every client with a back-channel logout URI is told."
                    .into(),
                button: "Sign out",
                action: "/admin/sessions/sign-out",
                fields: vec![("id", id)],
                cancel: "/admin/sessions",
            },
        ));
    }
    s.admin.end_browser_session(&admin, &id).await.or_page(&s)?;
    Ok(Redirect::to(&s.web.path("/admin/sessions?revoked=browser")).into_response())
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = BrowserSessionPage)]
struct BrowserPage {
    items: Vec<crate::admin::BrowserSessionView>,
    /// The `offset` of the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    next_offset: Option<i64>,
}

#[utoipa::path(
    get,
    operation_id = "sessions_list_browser_sessions",
    path = "/browser-sessions",
    summary = "Signed-in browsers (single sign-on sessions), the most recently used first",
    params(
        ("subject" = Option<String>, Query, description = "only this user's (the `sub` of their tokens)"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "default 50"),
        ("offset" = Option<i64>, Query, minimum = 0, maximum = 1000000, description = "default 0"),
    ),
    responses(
        (status = 200, description = "A page of browser sessions", body = BrowserPage),
        (status = 400, response = Problem),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
    )
)]
async fn list_browser_sessions(
    State(s): State<AppState>,
    _: ApiAdmin,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let (limit, offset) = paging(q.as_deref(), 50)?;
    let sq: super::factors::SubjectQuery =
        serde_urlencoded::from_str(q.as_deref().unwrap_or_default())
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let subject = sq.subject.filter(|x| !x.is_empty());
    let mut items = s
        .admin
        .browser_sessions(subject.as_deref(), limit + 1, offset)
        .await?;
    let more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    Ok(axum::Json(BrowserPage {
        items,
        next_offset: more.then_some(offset + limit),
    })
    .into_response())
}

#[utoipa::path(
    delete,
    operation_id = "sessions_end_browser_session",
    path = "/browser-sessions/{id}",
    summary = "Sign a browser out: its session ends and its clients are told",
    params(("id" = String, Path)),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 404, response = Problem),
    )
)]
async fn end_browser_session(
    State(s): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    s.admin.end_browser_session(&admin, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn revoke(
    State(s): State<AppState>,
    AdminForm {
        form: f,
        admin,
        token,
    }: AdminForm<CsrfForm>,
) -> PageResult {
    if !confirm::confirmed(f.confirm.as_deref()) {
        let subject = f.subject.clone().filter(|x| !x.is_empty());
        let (heading, what, field) = match subject {
            Some(sub) => (
                "Revoke every session of this user?",
                "All of their refresh tokens, with every client, stop working at once: each \
                 application signs them in again when its tokens expire.",
                ("subject", sub),
            ),
            None => (
                "Revoke this session?",
                "Its refresh token stops working at once: the application signs the user in \
                 again when its tokens expire.",
                ("id", f.id.clone().unwrap_or_default()),
            ),
        };
        return Ok(confirm::ask(
            &s,
            nav(&s, &admin, &token),
            confirm::Ask {
                heading: heading.into(),
                what: what.into(),
                button: "Revoke",
                action: "/admin/sessions/revoke",
                fields: vec![field],
                cancel: "/admin/sessions",
            },
        ));
    }
    if let Some(subject) = f.subject.as_deref().filter(|x| !x.is_empty()) {
        s.admin
            .revoke_user_sessions(&admin, subject)
            .await
            .or_page(&s)?;
        return Ok(Redirect::to(&s.web.path("/admin/sessions?revoked=user")).into_response());
    }
    s.admin
        .revoke_session(&admin, f.id.as_deref().unwrap_or_default())
        .await
        .or_page(&s)?;
    Ok(Redirect::to(&s.web.path("/admin/sessions?revoked=1")).into_response())
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = SessionPage)]
struct Page<T> {
    items: Vec<T>,
    /// The `offset` of the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    next_offset: Option<i64>,
}

#[utoipa::path(
    get,
    operation_id = "sessions_list_sessions",
    path = "/sessions",
    summary = "Live logins (refresh-token families), newest use first",
    params(("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "default 50"), ("offset" = Option<i64>, Query, minimum = 0, maximum = 1000000, description = "default 0")),
    responses(
        (status = 200, description = "A page of sessions", body = Page<SessionView>),
        (status = 400, response = Problem),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
    )
)]
async fn list_sessions(
    State(s): State<AppState>,
    _: ApiAdmin,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let (limit, offset) = paging(q.as_deref(), 50)?;
    let mut items = s.admin.live_sessions(limit + 1, offset).await?;
    let more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    Ok(axum::Json(Page::<SessionView> {
        items,
        next_offset: more.then_some(offset + limit),
    })
    .into_response())
}

#[utoipa::path(
    delete,
    operation_id = "sessions_revoke_session",
    path = "/sessions/{id}",
    summary = "Revoke a session: its refresh token stops working",
    params(("id" = String, Path)),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 404, response = Problem),
    )
)]
async fn revoke_session(
    State(s): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    s.admin.revoke_session(&admin, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RevokeUser {
    /// The subject of a session, as listed.
    subject: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct Revoked {
    /// Refresh tokens ended.
    revoked: u64,
    /// Admin sessions ended.
    admin_sessions: u64,
    /// Browser sessions (single sign-on) ended.
    browser_sessions: u64,
}

#[utoipa::path(
    post,
    operation_id = "sessions_revoke_user",
    path = "/sessions/revoke-user",
    summary = "Revoke every session of one user (all clients): none of their refresh tokens works, their access tokens are refused wherever Gantry checks one, and their browser and admin sessions end",
    request_body = RevokeUser,
    responses(
        (status = 200, description = "Revoked", body = Revoked),
        (status = 400, response = Problem),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 404, response = Problem),
        (status = 413, response = Problem),
        (status = 415, response = Problem),
    )
)]
async fn revoke_user(
    State(s): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let r: RevokeUser = json_body(&headers, body).await?;
    let (n, admin_sessions, browser_sessions) =
        s.admin.revoke_user_sessions(&admin, &r.subject).await?;
    Ok(axum::Json(Revoked {
        revoked: n,
        admin_sessions,
        browser_sessions,
    })
    .into_response())
}
