//! The admin pages. Sign-in goes through Gantry's own `/auth` with the built-in public client
//! and PKCE; every page checks the session and admin rights again.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::page::{AdminForm, AdminPage, AdminPageError, OrPage, PageResult, with_csrf};
use super::{LOGIN_COOKIE, SESSION_COOKIE, csrf_ok, csrf_token, session_token};
use crate::admin::{ABSOLUTE_TIMEOUT, ADMIN_CLIENT, Admin, redirect_uri};
use crate::http::AppState;
use crate::http::cookies::{self, SameSite};
use crate::http::error::PageError;
use crate::http::extract::{page_form, page_query};
use crate::secret;

/// Rows on one page of a list.
pub(super) const PAGE: i64 = 50;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(overview))
        .route("/admin/login", get(login))
        .route("/admin/callback", get(callback))
        .route("/admin/logout", post(logout))
        .route("/admin/connectors/test", post(test_connector))
}

/// What every admin page's navigation needs.
pub(super) struct Nav {
    pub base: String,
    pub csrf: String,
    pub admin: String,
}

pub(super) fn nav(s: &AppState, admin: &Admin, token: &str) -> Nav {
    Nav {
        base: s.web.base_path.clone(),
        csrf: csrf_token(token),
        admin: if admin.email.is_empty() {
            admin.name.clone()
        } else {
            admin.email.clone()
        },
    }
}

struct ConnectorRow {
    id: String,
    name: String,
    kind: &'static str,
    source: &'static str,
    logins: i64,
    failures: i64,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/overview.html")]
struct OverviewPage {
    title: String,
    base: String,
    csrf: String,
    admin: String,
    /// The navigation link marked as this page (a path under the issuer's).
    here: &'static str,
    connectors: Vec<ConnectorRow>,
    clients: usize,
    sessions: usize,
    sessions_more: bool,
    key_alg: String,
    key_age: String,
    logins: i64,
    failures: i64,
    issued: i64,
    refused: i64,
    issuance: Vec<crate::admin::issuance::IssuanceRow>,
    probe_id: String,
    probe_ok: bool,
    probe_facts: Vec<String>,
    probe_error: String,
}

pub(super) fn age(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s} s old"),
        s if s < 7200 => format!("{} min old", s / 60),
        s if s < 172_800 => format!("{} h old", s / 3600),
        s => format!("{} days old", s / 86_400),
    }
}

async fn overview(State(s): State<AppState>, AdminPage { admin, token }: AdminPage) -> PageResult {
    render_overview(&s, &admin, &token, None).await
}

async fn test_connector(
    State(s): State<AppState>,
    AdminForm {
        form: f,
        admin,
        token,
    }: AdminForm<CsrfForm>,
) -> PageResult {
    let id = f.id.unwrap_or_default();
    let r = s.admin.test_connector(&admin, &id).await.or_page(&s)?;
    render_overview(&s, &admin, &token, Some((id, r))).await
}

async fn render_overview(
    s: &AppState,
    admin: &Admin,
    token: &str,
    probe: Option<(String, crate::admin::connectors::ProbeResult)>,
) -> PageResult {
    let s = s.clone();
    let (admin, token) = (admin.clone(), token.to_string());
    let live = s.admin.live_sessions(501, 0).await.or_page(&s)?.len();
    let (logins, failures) = s.admin.login_counts().await.or_page(&s)?;
    let health = s.admin.connector_health().await.or_page(&s)?;
    let now = s.provider.clock.now();
    let issuance = s.admin.issuance(now - 86_400).await.or_page(&s)?;
    let keys = s.provider.keys.current();
    let (key_alg, key_age) = keys
        .signer_since(now)
        .map(|(k, from)| (k.alg.as_str().to_string(), age(now - from)))
        .unwrap_or_default();
    let n = nav(&s, &admin, &token);
    Ok(OverviewPage {
        title: s.web.title.clone(),
        base: n.base,
        csrf: n.csrf,
        admin: n.admin,
        here: "/admin",
        connectors: s
            .admin
            .connector_views()
            .into_iter()
            .map(|c| {
                let h = health.get(&c.id).cloned().unwrap_or_default();
                ConnectorRow {
                    id: c.id,
                    name: c.name,
                    kind: c.kind,
                    source: c.source,
                    logins: h.logins,
                    failures: h.failures,
                }
            })
            .collect(),
        issued: issuance.iter().map(|r| r.issued).sum(),
        refused: issuance.iter().map(|r| r.refused).sum(),
        issuance,
        // The built-in admin client is not the admin's to manage.
        clients: s.provider.clients.len().saturating_sub(1),
        sessions: live.min(500),
        sessions_more: live > 500,
        key_alg,
        key_age,
        logins,
        failures,
        probe_id: probe.as_ref().map(|(id, _)| id.clone()).unwrap_or_default(),
        probe_ok: probe.as_ref().is_some_and(|(_, r)| r.ok),
        probe_facts: probe
            .as_ref()
            .map(|(_, r)| r.facts.clone())
            .unwrap_or_default(),
        probe_error: probe
            .as_ref()
            .and_then(|(_, r)| r.error.clone())
            .unwrap_or_default(),
    }
    .into_response())
}

/// The end of a sign-in: a page that moves on to `to` by itself.
#[derive(Template, WebTemplate)]
#[template(path = "admin/continue.html")]
struct ContinuePage {
    title: String,
    to: String,
}

/// Start signing in: a code flow with PKCE against this very issuer.
async fn login(State(s): State<AppState>) -> Response {
    let state = secret::random_token(16);
    let verifier = secret::random_token(32);
    let challenge = secret::b64(&secret::sha256(verifier.as_bytes()));
    let q: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", ADMIN_CLIENT)
        .append_pair("redirect_uri", &redirect_uri(&s.provider.issuer))
        .append_pair("response_type", "code")
        .append_pair("scope", "openid email profile groups")
        .append_pair("state", &state)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();
    let mut resp = Redirect::to(&format!("{}?{q}", s.web.path("/auth"))).into_response();
    if let Some(c) = cookies::set(
        &s.web,
        LOGIN_COOKIE,
        &format!("{state}.{verifier}"),
        &s.web.path("/admin"),
        SameSite::Lax,
        Some(600),
    ) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

async fn callback(
    State(s): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> PageResult {
    let p = page_query::<CallbackQuery>(q.as_deref())?;
    if let Some(e) = p.error {
        return Err(PageError::new(
            StatusCode::FORBIDDEN,
            format!(
                "Signing in did not complete ({}).",
                e.chars().take(64).collect::<String>()
            ),
        )
        .into());
    }
    let pending = cookies::get(&headers, LOGIN_COOKIE).unwrap_or_default();
    let (want_state, verifier) = pending.split_once('.').unwrap_or_default();
    let state = p.state.unwrap_or_default();
    if want_state.is_empty() || !secret::ct_eq(want_state, &state) {
        return Err(PageError::new(
            StatusCode::BAD_REQUEST,
            "This sign-in was not started in this browser, or took too long. Start again.",
        )
        .into());
    }
    let (token, _) = s
        .admin
        .admin_sign_in(&p.code.unwrap_or_default(), verifier)
        .await
        .or_page(&s)?;
    // The admin cookie is SameSite=Strict. A sign-in that began on another site (a link, a
    // form) and that single sign-on completed without a page of Gantry's in between is still
    // cross-site here: a redirect to /admin would not carry the cookie back, and would come
    // here again for ever. A page that moves on by itself starts a same-site navigation.
    let cross_site = headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site");
    let mut resp = if cross_site {
        ContinuePage {
            title: s.web.title.clone(),
            to: s.web.path("/admin"),
        }
        .into_response()
    } else {
        Redirect::to(&s.web.path("/admin")).into_response()
    };
    let h = resp.headers_mut();
    for c in [
        cookies::set(
            &s.web,
            SESSION_COOKIE,
            &token,
            &s.web.base_path,
            SameSite::Strict,
            Some(ABSOLUTE_TIMEOUT),
        ),
        cookies::set(
            &s.web,
            LOGIN_COOKIE,
            "",
            &s.web.path("/admin"),
            SameSite::Lax,
            Some(0),
        ),
    ]
    .into_iter()
    .flatten()
    {
        h.append(header::SET_COOKIE, c);
    }
    Ok(resp)
}

#[derive(Deserialize)]
pub(super) struct CsrfForm {
    pub(super) csrf: Option<String>,
    pub(super) id: Option<String>,
    /// Set by "revoke all of this user's": the user's subject.
    pub(super) subject: Option<String>,
    /// "yes" on the second post of a destroying form, from the confirmation page.
    pub(super) confirm: Option<String>,
}

async fn logout(State(s): State<AppState>, headers: HeaderMap, body: Body) -> PageResult {
    let f = page_form::<CsrfForm>(&headers, body).await?;
    let token = session_token(&headers);
    if !csrf_ok(&token, f.csrf.as_deref().unwrap_or_default()) {
        return Err(AdminPageError::forged());
    }
    s.admin.admin_sign_out(&token).await.or_page(&s)?;
    // Signing out of the admin UI signs the browser out of Gantry: the next sign-in asks.
    let b = crate::http::browser::as_is(&s, &headers, None);
    let ended = match s.provider.live_session(&b).await {
        Ok(Some(sess)) => s
            .provider
            .end_session(&sess.id, "the user signed out of the admin UI")
            .await
            .map(|_| ()),
        Ok(None) => Ok(()),
        Err(e) => Err(e),
    };
    if let Err(e) = ended {
        tracing::error!(error = %e, "admin sign-out: the browser session could not be ended");
    }
    let mut resp = Redirect::to(&s.web.path("/admin/login")).into_response();
    if b.session.is_some() {
        crate::http::browser::set_session(
            &s,
            &mut resp,
            Some(crate::oauth::session::CookieChange::Clear),
        );
    }
    if let Some(c) = cookies::set(
        &s.web,
        SESSION_COOKIE,
        "",
        &s.web.base_path,
        SameSite::Strict,
        Some(0),
    ) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(resp)
}

with_csrf!(CsrfForm);
