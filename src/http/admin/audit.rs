//! The audit page and `/api/v1/audit`: the trail, and tokens issued and refused.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};

use super::api::{ApiAdmin, ApiError, List, MAX_ID, MAX_TIME, Problem};
use super::audit_detail::{Detail, detail};
use super::page::{AdminPage, AdminPageError, OrPage, PageResult};
use super::ui::{PAGE, nav};
use crate::admin::AdminError;
use crate::admin::audit_trail::MAX_PAGE;
use crate::admin::issuance::IssuanceRow;
use crate::http::AppState;
use crate::http::extract::page_query;
use crate::storage::audit::{AuditCursor, AuditEvent, AuditFilter};

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
    detail: Detail,
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
    /// The range as typed (`datetime-local`, UTC).
    from: String,
    to: String,
    limit: i64,
    /// The page sizes offered: the usual ones, and this one.
    sizes: Vec<i64>,
    /// Why the request cannot be answered; no events are shown then.
    error: String,
    events: Vec<AuditRow>,
    /// Links to the pages beside this one, and to the newest; empty where there is none.
    older: String,
    newer: String,
    newest: String,
    issuance: Vec<crate::admin::issuance::IssuanceRow>,
}

#[derive(Deserialize)]
struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
    from: Option<String>,
    to: Option<String>,
    // Text, read by `whole`: a typo gets the page with the error beside the form, not a bare
    // 400 from the query parser.
    before: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

/// A whole number from 0 in the page's query (an event id, a page size), or why not.
fn whole(name: &str, text: &Option<String>) -> Result<Option<i64>, String> {
    match text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => match t.parse::<i64>() {
            Ok(n) if n >= 0 => Ok(Some(n)),
            _ => Err(format!("{name}: {t:?} is not a whole number from 0")),
        },
    }
}

/// A time typed in the page's range: none when empty, or why it is not one.
fn typed_time(field: &str, text: Option<&str>) -> Result<Option<i64>, String> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => crate::clock::parse_utc(t).map(Some).ok_or_else(|| {
            format!("{field}: {t:?} is not a date and time such as 2026-11-29T18:23 (UTC)")
        }),
    }
}

/// Both cursors at once name no page: the links never send that.
fn cursor(before: Option<i64>, after: Option<i64>) -> Result<AuditCursor, &'static str> {
    match (before, after) {
        (Some(_), Some(_)) => Err("before and after: one page at a time, not both"),
        (Some(b), None) => Ok(AuditCursor::Before(b)),
        (None, Some(a)) => Ok(AuditCursor::After(a)),
        (None, None) => Ok(AuditCursor::Newest),
    }
}

async fn audit(
    State(s): State<AppState>,
    AdminPage { admin, token }: AdminPage,
    RawQuery(q): RawQuery,
) -> PageResult {
    let p = page_query::<AuditQuery>(q.as_deref())?;
    let limit_read = whole("limit", &p.limit);
    let limit = limit_read.clone().ok().flatten().unwrap_or(PAGE);
    let cursor = match (whole("before", &p.before), whole("after", &p.after)) {
        (Err(e), _) | (_, Err(e)) => Err(e),
        (Ok(b), Ok(a)) => cursor(b, a).map_err(str::to_string),
    };
    let from = typed_time("From", p.from.as_deref());
    let to = typed_time("To", p.to.as_deref());
    // A time that reads is shown back as the date-time field writes it; one that does not,
    // as it was typed, next to the error that names it.
    let shown = |typed: &Option<String>, read: &Result<Option<i64>, String>| match read {
        Ok(Some(t)) => crate::clock::form_utc(*t),
        _ => typed.clone().unwrap_or_default(),
    };
    let (from_shown, to_shown) = (shown(&p.from, &from), shown(&p.to, &to));
    // What the links to other pages keep: the filter as given, and the page size if chosen.
    let mut keep: Vec<(&str, String)> = Vec::new();
    for (k, v) in [
        ("actor", &p.actor),
        ("action", &p.action),
        ("from", &p.from),
        ("to", &p.to),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            keep.push((k, v.to_string()));
        }
    }
    if matches!(limit_read, Ok(Some(_))) {
        keep.push(("limit", limit.to_string()));
    }
    let link = |extra: Option<(&str, i64)>| {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &keep {
            q.append_pair(k, v);
        }
        if let Some((k, v)) = extra {
            q.append_pair(k, &v.to_string());
        }
        let q = q.finish();
        let path = s.web.path("/admin/audit");
        if q.is_empty() {
            path
        } else {
            format!("{path}?{q}")
        }
    };
    let found = match (from, to, limit_read, cursor) {
        (Err(e), _, _, _) | (_, Err(e), _, _) | (_, _, Err(e), _) | (_, _, _, Err(e)) => Err(e),
        (Ok(since), Ok(until), Ok(_), Ok(cursor)) => {
            let filter = AuditFilter {
                actor: p.actor.clone().filter(|a| !a.is_empty()),
                action: p.action.clone().filter(|a| !a.is_empty()),
                since,
                until,
            };
            match s.admin.audit_page(&filter, cursor, limit).await {
                Ok(page) => Ok(page),
                Err(AdminError::BadRequest(m)) => Err(m),
                Err(e) => return Err(AdminPageError::new(&s, e)),
            }
        }
    };
    let (page, error) = match found {
        Ok(page) => (page, String::new()),
        Err(e) => (Default::default(), e),
    };
    let issuance = s
        .admin
        .issuance(s.provider.clock.now() - 86_400)
        .await
        .or_page(&s)?;
    let mut sizes = vec![25, PAGE, 100, 200, MAX_PAGE];
    if (1..=MAX_PAGE).contains(&limit) && !sizes.contains(&limit) {
        sizes.push(limit);
        sizes.sort_unstable();
    }
    let n = nav(&s, &admin, &token);
    let status = if error.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let view = AuditPage {
        issuance,
        title: s.web.title.clone(),
        base: n.base,
        csrf: n.csrf,
        admin: n.admin,
        here: "/admin/audit",
        actor: p.actor.clone().unwrap_or_default(),
        action: p.action.clone().unwrap_or_default(),
        from: from_shown,
        to: to_shown,
        limit,
        sizes,
        error,
        older: page
            .older
            .map(|b| link(Some(("before", b))))
            .unwrap_or_default(),
        newer: page
            .newer
            .map(|a| link(Some(("after", a))))
            .unwrap_or_default(),
        newest: page.newer.map(|_| link(None)).unwrap_or_default(),
        events: page
            .events
            .into_iter()
            .map(|e| AuditRow {
                when: crate::clock::rfc3339(e.at),
                actor: e.actor,
                action: e.action,
                target: e.target,
                outcome: e.outcome,
                detail: detail(&e.detail),
                request_id: e.request_id,
            })
            .collect(),
    };
    Ok((status, view).into_response())
}

/// A page of the audit trail, newest first. `next_before` is `before` for the page of older
/// events and `next_after` is `after` for the page of newer ones; each is null when no event
/// of the filter lies that way.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = AuditPage)]
struct AuditPageJson {
    #[schema(schema_with = audit_events)]
    items: Vec<AuditEvent>,
    next_before: Option<i64>,
    next_after: Option<i64>,
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
    until: Option<i64>,
    before: Option<i64>,
    after: Option<i64>,
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
    summary = "Audit events, newest first, a page at a time",
    description = "The events of the filters and of the time range since <= at < until. A page starts next to an event id: next_before of a page gives the older events, next_after the newer ones; without either, the newest. Ids follow the order events were recorded in, so a page reads the same rows however many events are added meanwhile.",
    params(
        ("actor" = Option<String>, Query, description = "exactly this actor"),
        ("action" = Option<String>, Query, description = "exactly this action"),
        ("since" = Option<i64>, Query, minimum = 0, maximum = 4_102_444_800_i64, description = "Unix seconds: events at or after it"),
        ("until" = Option<i64>, Query, minimum = 0, maximum = 4_102_444_800_i64, description = "Unix seconds: events before it (not at it); after since when both are given"),
        ("before" = Option<i64>, Query, minimum = 0, maximum = 9_007_199_254_740_991_i64, description = "next_before of a page: the older events; not with after"),
        ("after" = Option<i64>, Query, minimum = 0, maximum = 9_007_199_254_740_991_i64, description = "next_after of a page: the newer events; not with before"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "events a page, default 50"),
    ),
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
    let time = |t: Option<i64>| t.is_some_and(|t| !(0..=MAX_TIME).contains(&t));
    let id = |i: Option<i64>| i.is_some_and(|i| !(0..=MAX_ID).contains(&i));
    if time(p.since) || time(p.until) || id(p.before) || id(p.after) {
        return Err(ApiError::bad_request(
            "since and until: Unix seconds from 0; before and after: event ids from 0",
        ));
    }
    let cursor = cursor(p.before, p.after).map_err(ApiError::bad_request)?;
    let filter = AuditFilter {
        actor: p.actor.filter(|a| !a.is_empty()),
        action: p.action.filter(|a| !a.is_empty()),
        since: p.since,
        until: p.until,
    };
    let page = s
        .admin
        .audit_page(&filter, cursor, p.limit.unwrap_or(PAGE))
        .await?;
    Ok(axum::Json(AuditPageJson {
        items: page.events,
        next_before: page.older,
        next_after: page.newer,
    })
    .into_response())
}
