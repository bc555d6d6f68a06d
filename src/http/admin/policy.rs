//! The policy page and `/api/v1/policy`: read, save, go back to the file's, explain.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::api::{ApiAdmin, ApiError, IfMatch, Problem, if_match, json_body, with_etag};
use super::confirm;
use super::page::{AdminForm, AdminPage, with_csrf};
use super::page::{AdminPageError, PageResult};
use super::ui::nav;
use crate::admin::ExplainRequest;
use crate::admin::policy::PolicyView;
use crate::admin::version::Precondition;
use crate::admin::{Admin, AdminError};
use crate::http::AppState;
use crate::http::extract::page_query;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/policy", get(policy).post(save_policy))
        .route("/admin/policy/reset", post(reset_policy))
        .route(
            "/api/v1/policy",
            get(get_policy).put(put_policy).delete(api_reset_policy),
        )
        .route("/api/v1/policy/explain", post(explain))
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
    /// The navigation link marked as this page (a path under the issuer's).
    here: &'static str,
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

async fn policy(
    State(s): State<AppState>,
    AdminPage { admin, token }: AdminPage,
    RawQuery(q): RawQuery,
) -> Response {
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

async fn save_policy(
    State(s): State<AppState>,
    AdminForm {
        form: f,
        admin,
        token,
    }: AdminForm<PolicyForm>,
) -> PageResult {
    let text = f.policy.unwrap_or_default();
    let expect = Precondition::from_form(f.version.as_deref());
    let saved = match crate::admin::policy::parse_yaml(&text) {
        Ok(c) => s.admin.save_policy(&admin, c, expect.as_ref()).await,
        Err(e) => Err(AdminError::BadRequest(e.to_string())),
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
        Err(e) => return Err(AdminPageError::new(&s, e)),
    };
    Ok(policy_page(&s, &admin, &token, shown))
}

#[derive(Deserialize)]
struct ResetForm {
    csrf: Option<String>,
    /// "yes" on the second post, from the confirmation page.
    confirm: Option<String>,
    /// The version of the policy the page showed.
    version: Option<String>,
}

async fn reset_policy(
    State(s): State<AppState>,
    AdminForm {
        form: f,
        admin,
        token,
    }: AdminForm<ResetForm>,
) -> PageResult {
    if !confirm::confirmed(f.confirm.as_deref()) {
        return Ok(confirm::ask(
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
        ));
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
        Err(e) => return Err(AdminPageError::new(&s, e)),
    };
    Ok(policy_page(&s, &admin, &token, shown))
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
        here: "/admin/policy",
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

#[utoipa::path(
    get,
    operation_id = "policy_get_policy",
    path = "/policy",
    summary = "The policy in force: the config file's, or the one saved here",
    responses(
        (status = 200, description = "The policy; the ETag is the version of what is saved (or of the config file's, when nothing is)", body = PolicyView, headers(("ETag" = String, description = "The current version, to send in If-Match"))),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
    )
)]
async fn get_policy(State(s): State<AppState>, _: ApiAdmin) -> Response {
    let v = s.admin.policy_view();
    with_etag(axum::Json(&v).into_response(), &v.version)
}

#[utoipa::path(
    put,
    operation_id = "policy_put_policy",
    path = "/policy",
    summary = "Replace the policy (kept in the database, in force on every replica); refused if it does not compile or would take the caller's own admin rights",
    params(IfMatch),
    request_body = PolicyView,
    responses(
        (status = 200, description = "Saved", body = PolicyView, headers(("ETag" = String, description = "The current version, to send in If-Match"))),
        (status = 400, response = Problem),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 409, response = Problem),
        (status = 412, response = Problem),
        (status = 413, response = Problem),
        (status = 415, response = Problem),
    )
)]
async fn put_policy(
    State(s): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let p: crate::admin::policy::PolicyPut = json_body(&headers, body).await?;
    let expect = if_match(&headers);
    let v = s
        .admin
        .save_policy(&admin, p.policy, expect.as_ref())
        .await?;
    Ok(with_etag(axum::Json(&v).into_response(), &v.version))
}

#[utoipa::path(
    delete,
    operation_id = "policy_reset_policy",
    path = "/policy",
    summary = "Go back to the config file's policy",
    params(IfMatch),
    responses(
        (status = 200, description = "The config file's policy, now in force", body = PolicyView, headers(("ETag" = String, description = "The current version, to send in If-Match"))),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 409, response = Problem),
        (status = 412, response = Problem),
    )
)]
async fn api_reset_policy(
    State(s): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let expect = if_match(&headers);
    let v = s.admin.reset_policy(&admin, expect.as_ref()).await?;
    Ok(with_etag(axum::Json(&v).into_response(), &v.version))
}

#[utoipa::path(
    post,
    operation_id = "policy_explain",
    path = "/policy/explain",
    summary = "What the policy grants a subject, and the rules behind it",
    request_body = ExplainRequest,
    responses(
        (status = 200, description = "Decisions", body = Object),
        (status = 400, response = Problem),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 413, response = Problem),
        (status = 415, response = Problem),
    )
)]
async fn explain(
    State(s): State<AppState>,
    _: ApiAdmin,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let q: crate::admin::ExplainRequest = json_body(&headers, body).await?;
    let v = s.admin.explain(&q)?;
    Ok(axum::Json(v).into_response())
}

with_csrf!(PolicyForm, ResetForm);
