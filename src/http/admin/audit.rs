//! The audit page and `/api/v1/audit`: the trail, and tokens issued and refused.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};

use super::api::{ApiAdmin, ApiError, List, MAX_ID, MAX_TIME, Problem};
use super::page::AdminPage;
use super::page::{OrPage, PageResult};
use super::ui::{PAGE, nav};
use crate::admin::issuance::IssuanceRow;
use crate::http::AppState;
use crate::http::extract::page_query;
use crate::storage::audit::AuditEvent;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/audit", get(audit))
        .route("/api/v1/audit", get(list_audit))
        .route("/api/v1/audit/tokens", get(token_counts))
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
    /// The navigation link marked as this page (a path under the issuer's).
    here: &'static str,
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

async fn audit(
    State(s): State<AppState>,
    AdminPage { admin, token }: AdminPage,
    RawQuery(q): RawQuery,
) -> PageResult {
    let p = page_query::<AuditQuery>(q.as_deref())?;
    let filter = crate::storage::audit::AuditFilter {
        actor: p.actor.clone().filter(|a| !a.is_empty()),
        action: p.action.clone().filter(|a| !a.is_empty()),
        since: None,
    };
    let mut events = s
        .admin
        .audit_events(&filter, p.before, PAGE + 1)
        .await
        .or_page(&s)?;
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
    let issuance = s
        .admin
        .issuance(s.provider.clock.now() - 86_400)
        .await
        .or_page(&s)?;
    let n = nav(&s, &admin, &token);
    Ok(AuditPage {
        issuance,
        title: s.web.title.clone(),
        base: n.base,
        csrf: n.csrf,
        admin: n.admin,
        here: "/admin/audit",
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
    .into_response())
}

/// A page of the audit trail; `next_before` is `before` for the next page (null on the last).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = AuditPage)]
struct AuditPageJson {
    #[schema(schema_with = audit_events)]
    items: Vec<AuditEvent>,
    next_before: Option<i64>,
}

/// The events as `AuditEvent` serializes them.
fn audit_events() -> utoipa::openapi::Array {
    use utoipa::openapi::{ObjectBuilder, Type};
    let field = |t: Type| ObjectBuilder::new().schema_type(t);
    let mut event = ObjectBuilder::new()
        .property("id", field(Type::Integer))
        .property("at", field(Type::Integer).description(Some("Unix seconds")))
        .property(
            "detail",
            field(Type::String).description(Some("JSON, never secrets")),
        )
        .property(
            "request_id",
            field(Type::String).description(Some(
                "the X-Request-Id of the request that caused it; empty for background tasks",
            )),
        );
    for name in ["actor", "action", "target", "outcome"] {
        event = event.property(name, field(Type::String));
    }
    for name in [
        "id",
        "at",
        "actor",
        "action",
        "target",
        "outcome",
        "detail",
        "request_id",
    ] {
        event = event.required(name);
    }
    utoipa::openapi::Array::new(event)
}

#[derive(Deserialize)]
struct ApiAuditQuery {
    actor: Option<String>,
    action: Option<String>,
    since: Option<i64>,
    before: Option<i64>,
    limit: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SinceQuery {
    since: Option<i64>,
}

/// Tokens issued and refused since `since` (default: the last 24 hours), by client and grant.
#[utoipa::path(
    get,
    operation_id = "audit_token_counts",
    path = "/audit/tokens",
    summary = "Tokens issued and refused, by client and grant type, summed over replicas by the hour",
    params(("since" = Option<i64>, Query, minimum = 0, maximum = 4_102_444_800_i64, description = "Unix seconds; default the last 24 hours")),
    responses(
        (status = 200, description = "Counts", body = List<IssuanceRow>),
        (status = 400, response = Problem),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
    )
)]
async fn token_counts(
    State(s): State<AppState>,
    _: ApiAdmin,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p: SinceQuery = serde_urlencoded::from_str(q.as_deref().unwrap_or_default())
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    if p.since.is_some_and(|t| !(0..=MAX_TIME).contains(&t)) {
        return Err(ApiError::bad_request("since: Unix seconds, at least 0"));
    }
    let since = p.since.unwrap_or_else(|| s.provider.clock.now() - 86_400);
    let items = s.admin.issuance(since).await?;
    Ok(axum::Json(List::<IssuanceRow> { items }).into_response())
}

#[utoipa::path(
    get,
    operation_id = "audit_list_audit",
    path = "/audit",
    summary = "Audit events, newest first",
    params(("actor" = Option<String>, Query), ("action" = Option<String>, Query), ("since" = Option<i64>, Query, minimum = 0, maximum = 4_102_444_800_i64, description = "Unix seconds"), ("before" = Option<i64>, Query, minimum = 0, maximum = 9_007_199_254_740_991_i64, description = "next_before of the previous page"), ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "default 50")),
    responses(
        (status = 200, description = "A page of events", body = AuditPageJson),
        (status = 400, response = Problem),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
    )
)]
async fn list_audit(
    State(s): State<AppState>,
    _: ApiAdmin,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p: ApiAuditQuery = serde_urlencoded::from_str(q.as_deref().unwrap_or_default())
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let limit = p.limit.unwrap_or(50);
    if !(1..=500).contains(&limit)
        || p.since.is_some_and(|t| !(0..=MAX_TIME).contains(&t))
        || p.before.is_some_and(|b| !(0..=MAX_ID).contains(&b))
    {
        return Err(ApiError::bad_request(
            "limit must be 1..500; since and before at least 0",
        ));
    }
    let filter = crate::storage::audit::AuditFilter {
        actor: p.actor.filter(|a| !a.is_empty()),
        action: p.action.filter(|a| !a.is_empty()),
        since: p.since,
    };
    let mut items = s.admin.audit_events(&filter, p.before, limit + 1).await?;
    let more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    let next = more.then(|| items.last().map(|e| e.id)).flatten();
    Ok(axum::Json(AuditPageJson {
        items,
        next_before: next,
    })
    .into_response())
}
