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

use super::confirm;
use super::{LOGIN_COOKIE, SESSION_COOKIE, csrf_ok, csrf_token, session_token, set_cookie};
use crate::admin::version::Precondition;
use crate::admin::{ABSOLUTE_TIMEOUT, ADMIN_CLIENT, Admin, AdminError, redirect_uri};
use crate::http::AppState;
use crate::http::error::PageError;
use crate::http::extract::{cookie, page_form, page_query};
use crate::secret;

/// Rows on one page of a list.
pub(super) const PAGE: i64 = 50;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(overview))
        .route("/admin/login", get(login))
        .route("/admin/callback", get(callback))
        .route("/admin/logout", post(logout))
        .route("/admin/audit", get(audit))
        .route("/admin/policy", get(policy).post(save_policy))
        .route("/admin/policy/reset", post(reset_policy))
        .route("/admin/connectors/test", post(test_connector))
}

pub(super) fn page_error(s: &AppState, e: AdminError) -> Response {
    match e {
        AdminError::NotSignedIn => Redirect::to(&s.web.path("/admin/login")).into_response(),
        AdminError::Forbidden(who) => PageError::new(
            StatusCode::FORBIDDEN,
            format!(
                "You are signed in as {who}, who is not an administrator of this Gantry. \
                 Ask an administrator to add you to policy.admins."
            ),
        )
        .into_response(),
        AdminError::BadRequest(m) => PageError::new(StatusCode::BAD_REQUEST, m).into_response(),
        AdminError::Conflict(m) => PageError::new(StatusCode::CONFLICT, m).into_response(),
        AdminError::Stale(m) => PageError::new(
            StatusCode::CONFLICT,
            format!(
                "Someone else changed this after you opened the page, so nothing was done \
                 ({m}). Go back, reload the page and decide again."
            ),
        )
        .into_response(),
        AdminError::NotFound => {
            PageError::new(StatusCode::NOT_FOUND, "That no longer exists.").into_response()
        }
        AdminError::Unavailable(cause) => {
            tracing::error!(error = %cause, "admin: database unavailable");
            PageError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "The database is not answering. Try again in a few seconds.",
            )
            .into_response()
        }
        AdminError::Internal(cause) => PageError::internal(cause).into_response(),
    }
}

pub(super) async fn signed_in(
    s: &AppState,
    headers: &HeaderMap,
) -> Result<(Admin, String), Response> {
    let token = session_token(headers).to_string();
    match s.admin.admin_session(&token).await {
        Ok(a) => Ok((a, token)),
        Err(e) => Err(page_error(s, e)),
    }
}

/// A posted admin form: parsed, from a signed-in admin, with this session's CSRF token.
pub(super) async fn posted<T: serde::de::DeserializeOwned>(
    s: &AppState,
    headers: &HeaderMap,
    body: Body,
    csrf: impl Fn(&T) -> Option<&str>,
) -> Result<(T, Admin, String), Response> {
    let f = page_form::<T>(headers, body)
        .await
        .map_err(IntoResponse::into_response)?;
    let (admin, token) = signed_in(s, headers).await?;
    if !csrf_ok(&token, csrf(&f).unwrap_or_default()) {
        // An admin's browser made to post by another site: who it was aimed at is worth knowing.
        s.provider
            .audit(
                &admin.actor(),
                "admin.ui",
                "form",
                "refused",
                serde_json::json!({ "status": 403, "reason": "no valid form token" }),
            )
            .await;
        return Err(forged());
    }
    Ok((f, admin, token))
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

async fn overview(State(s): State<AppState>, headers: HeaderMap) -> Response {
    match signed_in(&s, &headers).await {
        Ok((admin, token)) => render_overview(&s, &admin, &token, None).await,
        Err(r) => r,
    }
}

async fn test_connector(State(s): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let (f, admin, token) = match posted(&s, &headers, body, |f: &CsrfForm| f.csrf.as_deref()).await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    let id = f.id.unwrap_or_default();
    match s.admin.test_connector(&admin, &id).await {
        Ok(r) => render_overview(&s, &admin, &token, Some((id, r))).await,
        Err(e) => page_error(&s, e),
    }
}

async fn render_overview(
    s: &AppState,
    admin: &Admin,
    token: &str,
    probe: Option<(String, crate::admin::connectors::ProbeResult)>,
) -> Response {
    let s = s.clone();
    let (admin, token) = (admin.clone(), token.to_string());
    let live = match s.admin.live_sessions(501, 0).await {
        Ok(l) => l.len(),
        Err(e) => return page_error(&s, e),
    };
    let (logins, failures) = match s.admin.login_counts().await {
        Ok(c) => c,
        Err(e) => return page_error(&s, e),
    };
    let health = match s.admin.connector_health().await {
        Ok(h) => h,
        Err(e) => return page_error(&s, e),
    };
    let now = s.provider.clock.now();
    let issuance = match s.admin.issuance(now - 86_400).await {
        Ok(i) => i,
        Err(e) => return page_error(&s, e),
    };
    let keys = s.provider.keys.current();
    let (key_alg, key_age) = keys
        .signer_since(now)
        .map(|(k, from)| (k.alg.as_str().to_string(), age(now - from)))
        .unwrap_or_default();
    let n = nav(&s, &admin, &token);
    OverviewPage {
        title: s.web.title.clone(),
        base: n.base,
        csrf: n.csrf,
        admin: n.admin,
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
    .into_response()
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
    if let Some(c) = set_cookie(
        &s.web,
        LOGIN_COOKIE,
        &format!("{state}.{verifier}"),
        &s.web.path("/admin"),
        "Lax",
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
) -> Response {
    let p = match page_query::<CallbackQuery>(q.as_deref()) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    if let Some(e) = p.error {
        return PageError::new(
            StatusCode::FORBIDDEN,
            format!(
                "Signing in did not complete ({}).",
                e.chars().take(64).collect::<String>()
            ),
        )
        .into_response();
    }
    let pending = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    let (want_state, verifier) = pending.split_once('.').unwrap_or_default();
    let state = p.state.unwrap_or_default();
    if want_state.is_empty() || !secret::ct_eq(want_state, &state) {
        return PageError::new(
            StatusCode::BAD_REQUEST,
            "This sign-in was not started in this browser, or took too long. Start again.",
        )
        .into_response();
    }
    let (token, _) = match s
        .admin
        .admin_sign_in(&p.code.unwrap_or_default(), verifier)
        .await
    {
        Ok(x) => x,
        Err(e) => return page_error(&s, e),
    };
    let mut resp = Redirect::to(&s.web.path("/admin")).into_response();
    let h = resp.headers_mut();
    for c in [
        set_cookie(
            &s.web,
            SESSION_COOKIE,
            &token,
            &s.web.base_path,
            "Strict",
            Some(ABSOLUTE_TIMEOUT),
        ),
        set_cookie(
            &s.web,
            LOGIN_COOKIE,
            "",
            &s.web.path("/admin"),
            "Lax",
            Some(0),
        ),
    ]
    .into_iter()
    .flatten()
    {
        h.append(header::SET_COOKIE, c);
    }
    resp
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

pub(super) fn forged() -> Response {
    PageError::new(
        StatusCode::FORBIDDEN,
        "The form expired or did not come from this site. Go back, reload the page and try again.",
    )
    .into_response()
}

async fn logout(State(s): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let f = match page_form::<CsrfForm>(&headers, body).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let token = session_token(&headers);
    if !csrf_ok(token, f.csrf.as_deref().unwrap_or_default()) {
        return forged();
    }
    if let Err(e) = s.admin.admin_sign_out(token).await {
        return page_error(&s, e);
    }
    let mut resp = Redirect::to(&s.web.path("/admin/login")).into_response();
    if let Some(c) = set_cookie(
        &s.web,
        SESSION_COOKIE,
        "",
        &s.web.base_path,
        "Strict",
        Some(0),
    ) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

struct AuditRow {
    when: String,
    actor: String,
    action: String,
    target: String,
    outcome: String,
    detail: String,
    request_id: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    title: String,
    base: String,
    csrf: String,
    admin: String,
    actor: String,
    action: String,
    events: Vec<AuditRow>,
    next: String,
    issuance: Vec<crate::admin::issuance::IssuanceRow>,
}

#[derive(Deserialize)]
struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
    before: Option<i64>,
}

async fn audit(State(s): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let (admin, token) = match signed_in(&s, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let p = match page_query::<AuditQuery>(q.as_deref()) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let filter = crate::storage::audit::AuditFilter {
        actor: p.actor.clone().filter(|a| !a.is_empty()),
        action: p.action.clone().filter(|a| !a.is_empty()),
        since: None,
    };
    let mut events = match s.admin.audit_events(&filter, p.before, PAGE + 1).await {
        Ok(e) => e,
        Err(e) => return page_error(&s, e),
    };
    let next = if events.len() as i64 > PAGE {
        events.truncate(PAGE as usize);
        let q: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("actor", p.actor.as_deref().unwrap_or_default())
            .append_pair("action", p.action.as_deref().unwrap_or_default())
            .append_pair(
                "before",
                &events.last().map(|e| e.id).unwrap_or(0).to_string(),
            )
            .finish();
        format!("{}?{q}", s.web.path("/admin/audit"))
    } else {
        String::new()
    };
    let issuance = match s.admin.issuance(s.provider.clock.now() - 86_400).await {
        Ok(i) => i,
        Err(e) => return page_error(&s, e),
    };
    let n = nav(&s, &admin, &token);
    AuditPage {
        issuance,
        title: s.web.title.clone(),
        base: n.base,
        csrf: n.csrf,
        admin: n.admin,
        actor: p.actor.unwrap_or_default(),
        action: p.action.unwrap_or_default(),
        events: events
            .into_iter()
            .map(|e| AuditRow {
                when: crate::clock::rfc3339(e.at),
                actor: e.actor,
                action: e.action,
                target: e.target,
                outcome: e.outcome,
                detail: e.detail,
                request_id: e.request_id,
            })
            .collect(),
        next,
    }
    .into_response()
}

struct ClusterOption {
    name: String,
    selected: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/policy.html")]
struct PolicyPage {
    title: String,
    base: String,
    csrf: String,
    admin: String,
    yaml: String,
    connector: String,
    user: String,
    email: String,
    groups: String,
    scopes: String,
    clusters: Vec<ClusterOption>,
    error: String,
    result: String,
    source: &'static str,
    notice: String,
    policy_error: String,
    /// The version the forms expect (hidden fields).
    version: String,
    /// After a save that someone else's change got ahead of: the policy now in force, shown
    /// below the text that was not saved.
    current: String,
}

#[derive(Deserialize, Default)]
struct ExplainQuery {
    connector: Option<String>,
    user: Option<String>,
    email: Option<String>,
    groups: Option<String>,
    scopes: Option<String>,
    cluster: Option<String>,
}

async fn policy(State(s): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let (admin, token) = match signed_in(&s, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let p = match page_query::<ExplainQuery>(q.as_deref()) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    policy_page(
        &s,
        &admin,
        &token,
        PolicyShown {
            explain: p,
            ..PolicyShown::default()
        },
    )
}

#[derive(Deserialize)]
struct PolicyForm {
    csrf: Option<String>,
    policy: Option<String>,
    /// The version of the policy the page showed.
    version: Option<String>,
}

async fn save_policy(State(s): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let (f, admin, token) =
        match posted(&s, &headers, body, |f: &PolicyForm| f.csrf.as_deref()).await {
            Ok(x) => x,
            Err(r) => return r,
        };
    let text = f.policy.unwrap_or_default();
    let expect = Precondition::from_form(f.version.as_deref());
    let saved = match crate::admin::policy::parse_yaml(&text) {
        Ok(c) => s.admin.save_policy(&admin, c, expect.as_ref()).await,
        Err(m) => Err(AdminError::BadRequest(m)),
    };
    let shown = match saved {
        Ok(_) => PolicyShown {
            notice: "The policy was saved and is in force on every replica.".into(),
            ..PolicyShown::default()
        },
        Err(AdminError::BadRequest(m) | AdminError::Conflict(m)) => PolicyShown {
            typed: Some(text),
            policy_error: m,
            ..PolicyShown::default()
        },
        Err(AdminError::Stale(_)) => PolicyShown {
            typed: Some(text),
            policy_error: "Someone else changed the policy after you opened this page, so \
                           yours was not saved. Your text is kept in the editor, and the policy \
                           now in force is shown below it: merge what you need and save again."
                .into(),
            conflict: true,
            ..PolicyShown::default()
        },
        Err(e) => return page_error(&s, e),
    };
    policy_page(&s, &admin, &token, shown)
}

#[derive(Deserialize)]
struct ResetForm {
    csrf: Option<String>,
    /// "yes" on the second post, from the confirmation page.
    confirm: Option<String>,
    /// The version of the policy the page showed.
    version: Option<String>,
}

async fn reset_policy(State(s): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let (f, admin, token) =
        match posted(&s, &headers, body, |f: &ResetForm| f.csrf.as_deref()).await {
            Ok(x) => x,
            Err(r) => return r,
        };
    if !confirm::confirmed(f.confirm.as_deref()) {
        return confirm::ask(
            &s,
            nav(&s, &admin, &token),
            confirm::Ask {
                heading: "Go back to the config file's policy?".into(),
                what: "The policy saved here is discarded, and the config file's is in force on \
                       every replica."
                    .into(),
                button: "Discard the saved policy",
                action: "/admin/policy/reset",
                fields: vec![("version", f.version.unwrap_or_default())],
                cancel: "/admin/policy",
            },
        );
    }
    let expect = Precondition::from_form(f.version.as_deref());
    let shown = match s.admin.reset_policy(&admin, expect.as_ref()).await {
        Ok(_) => PolicyShown {
            notice: "The config file's policy is in force again.".into(),
            ..PolicyShown::default()
        },
        Err(AdminError::Conflict(m)) => PolicyShown {
            policy_error: m,
            ..PolicyShown::default()
        },
        Err(AdminError::Stale(_)) => PolicyShown {
            policy_error: "Someone else changed the policy after you opened this page, so it \
                           was not discarded. The policy now in force is shown here: decide \
                           again."
                .into(),
            conflict: true,
            ..PolicyShown::default()
        },
        Err(e) => return page_error(&s, e),
    };
    policy_page(&s, &admin, &token, shown)
}

/// What the policy page shows besides the policy in force.
#[derive(Default)]
struct PolicyShown {
    /// The simulator's question.
    explain: ExplainQuery,
    /// The editor's text after a save that failed (else the policy in force).
    typed: Option<String>,
    notice: String,
    policy_error: String,
    /// The save failed because someone else's change got ahead of it: the policy in force is
    /// shown too, and the forms expect its version, so saving again is a decision made on it.
    conflict: bool,
}

/// The policy page: the editor (with the typed text and its error after a failed save), and
/// the explain simulator.
fn policy_page(s: &AppState, admin: &Admin, token: &str, shown: PolicyShown) -> Response {
    let PolicyShown {
        explain: p,
        typed,
        notice,
        policy_error,
        conflict,
    } = shown;
    let asked =
        p.connector.is_some() || p.user.is_some() || p.groups.is_some() || p.scopes.is_some();
    let req = crate::admin::ExplainRequest {
        connector: p.connector.clone().unwrap_or_default(),
        user: p.user.clone().unwrap_or_default(),
        email: p.email.clone().unwrap_or_default(),
        groups: crate::admin::users::parse_groups(p.groups.as_deref().unwrap_or_default()),
        scopes: p
            .scopes
            .as_deref()
            .unwrap_or_default()
            .split_ascii_whitespace()
            .map(String::from)
            .collect(),
        cluster: p.cluster.clone(),
    };
    let (result, error) = if asked {
        match s.admin.explain(&req) {
            Ok(v) => (
                serde_json::to_string_pretty(&v).unwrap_or_default(),
                String::new(),
            ),
            Err(e) => (String::new(), e.to_string()),
        }
    } else {
        (String::new(), String::new())
    };
    let n = nav(s, admin, token);
    let active = s.provider.policy.get();
    let status = if conflict {
        StatusCode::CONFLICT
    } else if policy_error.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let in_force = serde_norway::to_string(&active.config).unwrap_or_default();
    let page = PolicyPage {
        title: s.web.title.clone(),
        base: n.base,
        csrf: n.csrf,
        admin: n.admin,
        current: if conflict {
            in_force.clone()
        } else {
            String::new()
        },
        yaml: typed.unwrap_or(in_force),
        source: active.source,
        version: active.version.clone(),
        notice,
        policy_error,
        connector: p.connector.unwrap_or_default(),
        user: p.user.unwrap_or_default(),
        email: p.email.unwrap_or_default(),
        groups: p.groups.unwrap_or_default(),
        scopes: p.scopes.unwrap_or_default(),
        clusters: s
            .provider
            .clusters
            .iter()
            .map(|c| ClusterOption {
                name: c.clone(),
                selected: p.cluster.as_deref() == Some(c.as_str()),
            })
            .collect(),
        error,
        result,
    };
    (status, page).into_response()
}
