//! Users' second factors in the admin API (`/api/v1/factors`) and the sessions page's reset
//! form: list them by subject, reset them with a reason (audited).

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use super::api::{ApiAdmin, ApiError, Problem, json_body, paging};
use super::confirm;
use super::page::{AdminForm, OrPage, PageResult};
use super::ui::nav;
use crate::admin::factors::{FactorView, ResetView};
use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/factors", get(list_factors))
        .route("/api/v1/factors/reset", post(reset_factors))
        .route("/admin/factors/reset", post(reset_form))
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = FactorPage)]
struct FactorPage {
    items: Vec<FactorView>,
    /// The `offset` of the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    next_offset: Option<i64>,
}

#[derive(Deserialize)]
pub(super) struct SubjectQuery {
    pub(super) subject: Option<String>,
}

#[utoipa::path(
    get,
    operation_id = "factors_list",
    path = "/factors",
    summary = "Enrolled second factors (TOTP, WebAuthn keys), by subject; no secret is shown",
    params(
        ("subject" = Option<String>, Query, description = "only this user's (the `sub` of their tokens)"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "default 50"),
        ("offset" = Option<i64>, Query, minimum = 0, maximum = 1000000, description = "default 0"),
    ),
    responses(
        (status = 200, description = "A page of factors", body = FactorPage),
        (status = 400, response = Problem),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
    )
)]
async fn list_factors(
    State(s): State<AppState>,
    _: ApiAdmin,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let (limit, offset) = paging(q.as_deref(), 50)?;
    let sq: SubjectQuery = serde_urlencoded::from_str(q.as_deref().unwrap_or_default())
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let subject = sq.subject.filter(|x| !x.is_empty());
    let mut items = s
        .admin
        .factors(subject.as_deref(), limit + 1, offset)
        .await?;
    let more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    Ok(axum::Json(FactorPage {
        items,
        next_offset: more.then_some(offset + limit),
    })
    .into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ResetFactors {
    /// The user's subject, as listed.
    #[schema(min_length = 1, pattern = r"\S")]
    subject: String,
    /// Why (a lost phone, a stolen key): kept in the audit log; at most 500 characters.
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    reason: String,
}

#[utoipa::path(
    post,
    operation_id = "factors_reset",
    path = "/factors/reset",
    summary = "Reset a user's second factors: every factor and recovery code is removed, their browser sessions end, their refresh tokens are revoked and their access tokens refused wherever Gantry checks one; the next login that asks for a factor enrols again",
    request_body = ResetFactors,
    responses(
        (status = 200, description = "Reset", body = ResetView),
        (status = 400, response = Problem),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 404, response = Problem),
        (status = 413, response = Problem),
        (status = 415, response = Problem),
    )
)]
async fn reset_factors(
    State(s): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let r: ResetFactors = json_body(&headers, body).await?;
    let done = s.admin.reset_factors(&admin, &r.subject, &r.reason).await?;
    Ok(axum::Json(done).into_response())
}

#[derive(Deserialize)]
struct ResetForm {
    csrf: Option<String>,
    subject: Option<String>,
    reason: Option<String>,
    confirm: Option<String>,
}
super::page::with_csrf!(ResetForm);

/// "Reset factors" on the sessions page: confirmed, then done.
async fn reset_form(
    State(s): State<AppState>,
    AdminForm {
        form: f,
        admin,
        token,
    }: AdminForm<ResetForm>,
) -> PageResult {
    let subject = f.subject.clone().unwrap_or_default();
    let reason = f.reason.clone().unwrap_or_default();
    if !confirm::confirmed(f.confirm.as_deref()) && !reason.trim().is_empty() {
        return Ok(confirm::ask(
            &s,
            nav(&s, &admin, &token),
            confirm::Ask {
                heading: "Reset this user's second factors?".into(),
                what: "Their authenticator apps, security keys and recovery codes stop working \
                       at once, their browsers are signed out and their tokens revoked: their \
                       next login that asks for a second factor sets one up again."
                    .into(),
                button: "Reset",
                action: "/admin/factors/reset",
                fields: vec![("subject", subject), ("reason", reason)],
                cancel: "/admin/sessions",
            },
        ));
    }
    s.admin
        .reset_factors(&admin, &subject, &reason)
        .await
        .or_page(&s)?;
    Ok(Redirect::to(&s.web.path("/admin/sessions?revoked=factors")).into_response())
}
