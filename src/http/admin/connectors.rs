//! The connectors page and `/api/v1/connectors`.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::api::{ApiAdmin, ApiError, IfMatch, List, Problem, if_match, json_body, with_etag};
use super::confirm;
use super::connector_templates::template;
use super::page::{AdminForm, AdminPage, with_csrf};
use super::page::{AdminPageError, PageResult};
use super::ui::{Nav, nav};
use crate::admin::AdminError;
use crate::admin::connectors::{ConnectorSpec, ConnectorView, KINDS, ProbeResult};
use crate::admin::version::Precondition;
use crate::connector::secret_keys;
use crate::http::AppState;
use crate::http::extract::page_query;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/connectors", get(page).post(save))
        .route("/admin/connectors/change", post(change))
        .route("/api/v1/connectors", get(api_list).post(api_create))
        .route(
            "/api/v1/connectors/{id}",
            get(api_get).put(api_update).delete(api_delete),
        )
        .route("/api/v1/connectors/{id}/test", post(api_test))
}

struct Row {
    id: String,
    name: String,
    kind: &'static str,
    source: &'static str,
    secrets: String,
    /// What the row's Delete button expects (a hidden field).
    version: String,
}

/// The create/edit form as shown, with the error next to its field.
#[derive(Default)]
struct Form {
    editing: bool,
    id: String,
    name: String,
    kind: String,
    config: String,
    secret_set: bool,
    error_id: String,
    error_name: String,
    error_kind: String,
    error_config: String,
    error: String,
    /// The version of the connector being edited, which saving expects.
    version: String,
    /// After a save someone else's change got ahead of: the connector as it is now (YAML).
    current: String,
    /// When editing: the template of the connector's type, every key explained.
    template: String,
}

/// An empty form for a new connector of `kind`, its config the type's template.
fn new_form(s: &AppState, kind: &str) -> Form {
    Form {
        kind: kind.into(),
        config: template(kind, &callback(s)).unwrap_or_default(),
        ..Form::default()
    }
}

/// Where upstream providers send users back: what a template tells an admin to register.
fn callback(s: &AppState) -> String {
    format!("{}/callback", s.provider.issuer.trim_end_matches('/'))
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/connectors.html")]
struct ConnectorsPage {
    title: String,
    base: String,
    csrf: String,
    admin: String,
    /// The navigation link marked as this page (a path under the issuer's).
    here: &'static str,
    notice: String,
    connectors: Vec<Row>,
    kinds: Vec<&'static str>,
    form: Form,
    probe_id: String,
    probe_ok: bool,
    probe_facts: Vec<String>,
    probe_error: String,
}

fn render(
    s: &AppState,
    n: Nav,
    notice: &str,
    form: Form,
    probe: Option<(String, ProbeResult)>,
) -> Response {
    let bad = !form.error.is_empty()
        || !form.error_id.is_empty()
        || !form.error_name.is_empty()
        || !form.error_kind.is_empty()
        || !form.error_config.is_empty();
    let conflict = !form.current.is_empty();
    let (probe_id, probe) = probe.unzip();
    let page = ConnectorsPage {
        title: s.web.title.clone(),
        base: n.base,
        csrf: n.csrf,
        admin: n.admin,
        here: "/admin/connectors",
        notice: notice.into(),
        connectors: s
            .admin
            .connector_views()
            .into_iter()
            .map(|c| Row {
                secrets: c
                    .secrets
                    .iter()
                    .map(|(k, v)| format!("{k}: {}", if *v == true { "set" } else { "unset" }))
                    .collect::<Vec<_>>()
                    .join(", "),
                id: c.id,
                name: c.name,
                kind: c.kind,
                source: c.source,
                version: c.version.unwrap_or_default(),
            })
            .collect(),
        kinds: KINDS.to_vec(),
        form,
        probe_id: probe_id.unwrap_or_default(),
        probe_ok: probe.as_ref().is_some_and(|r| r.ok),
        probe_facts: probe.as_ref().map(|r| r.facts.clone()).unwrap_or_default(),
        probe_error: probe.and_then(|r| r.error).unwrap_or_default(),
    };
    let status = if conflict {
        StatusCode::CONFLICT
    } else if bad {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    (status, [("cache-control", "no-store")], page).into_response()
}

#[derive(Deserialize)]
struct EditQuery {
    edit: Option<String>,
    /// The type of a new connector, whose template fills the form.
    #[serde(rename = "type")]
    kind: Option<String>,
}

async fn page(
    State(s): State<AppState>,
    AdminPage { admin, token }: AdminPage,
    RawQuery(q): RawQuery,
) -> PageResult {
    let q = page_query::<EditQuery>(q.as_deref())?;
    let kind = q
        .kind
        .as_deref()
        .filter(|k| !k.is_empty())
        .unwrap_or("ldap");
    if template(kind, "").is_none() {
        return Err(AdminPageError::new(
            &s,
            AdminError::BadRequest(format!("type: one of {}", KINDS.join(", "))),
        ));
    }
    let mut form = new_form(&s, kind);
    if let Some(id) = q.edit.as_deref().filter(|i| !i.is_empty()) {
        let Some(v) = s.admin.connector_view_of(id) else {
            return Err(AdminPageError::new(&s, AdminError::NotFound));
        };
        if v.source != "database" {
            return Err(AdminPageError::new(
                &s,
                AdminError::Conflict(format!(
                    "{id} is defined by the config file and is read-only here"
                )),
            ));
        }
        form = Form {
            editing: true,
            id: v.id,
            name: v.name,
            kind: v.kind.to_string(),
            config: serde_norway::to_string(&v.config).unwrap_or_default(),
            secret_set: v.secrets.values().any(|s| *s == true),
            version: v.version.unwrap_or_default(),
            template: template(v.kind, &callback(&s)).unwrap_or_default(),
            ..Form::default()
        };
    }
    Ok(render(&s, nav(&s, &admin, &token), "", form, None))
}

#[derive(Deserialize)]
struct SaveForm {
    csrf: Option<String>,
    mode: Option<String>,
    id: Option<String>,
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    config: Option<String>,
    secret: Option<String>,
    /// The version of the connector the edit form showed.
    version: Option<String>,
}

/// Put an error next to the field it names ("config.host: ..." belongs to the config).
fn place_error(form: &mut Form, message: String) {
    let field = message.split([':', '.', '[']).next().unwrap_or_default();
    match field {
        "id" => form.error_id = message,
        "name" => form.error_name = message,
        "type" => form.error_kind = message,
        "config" => form.error_config = message,
        _ => form.error = message,
    }
}

async fn save(
    State(s): State<AppState>,
    AdminForm {
        form: f,
        admin,
        token,
    }: AdminForm<SaveForm>,
) -> PageResult {
    let editing = f.mode.as_deref() == Some("update");
    let kind = f.kind.unwrap_or_default();
    let mut form = Form {
        editing,
        id: f.id.unwrap_or_default().trim().to_string(),
        name: f.name.unwrap_or_default(),
        template: if editing {
            template(&kind, &callback(&s)).unwrap_or_default()
        } else {
            String::new()
        },
        kind,
        config: f.config.unwrap_or_default(),
        version: f.version.unwrap_or_default(),
        ..Form::default()
    };
    let n = nav(&s, &admin, &token);
    let config = match yaml_object(&form.config) {
        Ok(c) => c,
        Err(m) => {
            place_error(&mut form, format!("config: {m}"));
            return Ok(render(&s, n, "", form, None));
        }
    };
    let mut config = config;
    let secret = f.secret.unwrap_or_default();
    if !secret.is_empty()
        && let (Some(o), Some(k)) = (
            config.as_object_mut(),
            crate::config::ConnectorKind::parse(&form.kind).and_then(|k| secret_keys(k).first()),
        )
    {
        o.insert((*k).to_string(), secret.into());
    }
    let spec = ConnectorSpec {
        kind: form.kind.clone(),
        name: form.name.clone(),
        config,
    };
    let done = if editing {
        let expect = Precondition::from_form(Some(&form.version));
        s.admin
            .update_connector(&admin, &form.id, &spec, expect.as_ref())
            .await
    } else {
        s.admin.create_connector(&admin, &form.id, &spec).await
    };
    Ok(match done {
        Ok(v) => render(
            &s,
            n,
            &format!(
                "Connector {} {}. Test it below.",
                v.id,
                if editing { "saved" } else { "created" }
            ),
            new_form(&s, &form.kind),
            None,
        ),
        Err(AdminError::Stale(_)) => {
            // What was typed stays in the form (but the secret, which is typed again); the
            // connector as it is now is shown beside it, and saving again is a decision made
            // on that version.
            match s.admin.connector_view_of(&form.id) {
                Some(now) => {
                    form.secret_set = now.secrets.values().any(|s| *s == true);
                    form.version = now.version.clone().unwrap_or_default();
                    form.current = current_yaml(&now);
                    form.error = format!(
                        "Someone else changed connector {} after you opened this page, so \
                         your changes were not saved. They are kept in the form below, and the \
                         connector as it is now is shown under it: merge what you need and \
                         save again.",
                        form.id
                    );
                    render(&s, n, "", form, None)
                }
                None => return Err(AdminPageError::new(&s, AdminError::NotFound)),
            }
        }
        Err(AdminError::BadRequest(m) | AdminError::Conflict(m)) => {
            form.secret_set = editing
                && s.admin
                    .connector_view_of(&form.id)
                    .is_some_and(|v| v.secrets.values().any(|s| *s == true));
            place_error(&mut form, m);
            render(&s, n, "", form, None)
        }
        Err(e) => return Err(AdminPageError::new(&s, e)),
    })
}

/// The config block as typed in the form (YAML, as in the config file's `config:`).
/// Why the typed config block is not a connector's settings.
#[derive(Debug, thiserror::Error)]
enum ConfigBlockError {
    #[error("{0}")]
    Yaml(#[from] serde_norway::Error),
    #[error("a mapping of settings, as under `config:` in the config file")]
    NotMapping,
}

fn yaml_object(text: &str) -> Result<serde_json::Value, ConfigBlockError> {
    if text.trim().is_empty() {
        return Ok(serde_json::json!({}));
    }
    if let Some(why) = crate::config::yaml_too_deep(text) {
        return Err(ConfigBlockError::from(
            <serde_norway::Error as serde::de::Error>::custom(why),
        ));
    }
    let v: serde_json::Value = serde_norway::from_str(text)?;
    if v.is_object() {
        Ok(v)
    } else {
        Err(ConfigBlockError::NotMapping)
    }
}

/// A connector as it is stored now, for a page that shows it beside what was typed.
fn current_yaml(v: &ConnectorView) -> String {
    format!(
        "name: {}\ntype: {}\nconfig:\n{}",
        v.name,
        v.kind,
        serde_norway::to_string(&v.config)
            .unwrap_or_default()
            .lines()
            .map(|l| format!("  {l}\n"))
            .collect::<String>()
    )
}

#[derive(Deserialize)]
struct ChangeForm {
    csrf: Option<String>,
    id: Option<String>,
    action: Option<String>,
    /// "yes" on the second post, from the confirmation page.
    confirm: Option<String>,
    /// The version of the connector the page showed.
    version: Option<String>,
}

async fn change(
    State(s): State<AppState>,
    AdminForm {
        form: f,
        admin,
        token,
    }: AdminForm<ChangeForm>,
) -> PageResult {
    let id = f.id.unwrap_or_default();
    let version = f.version.unwrap_or_default();
    let n = nav(&s, &admin, &token);
    let blank = || new_form(&s, "ldap");
    Ok(match f.action.as_deref() {
        Some("test") => match s.admin.test_connector(&admin, &id).await {
            Ok(r) => render(&s, n, "", blank(), Some((id, r))),
            Err(e) => return Err(AdminPageError::new(&s, e)),
        },
        Some("delete") if !confirm::confirmed(f.confirm.as_deref()) => confirm::ask(
            &s,
            n,
            confirm::Ask {
                heading: format!("Delete connector {id}?"),
                what: "Nobody can log in through it any more, and the logins made through it \
                       end at their next refresh."
                    .into(),
                button: "Delete the connector",
                action: "/admin/connectors/change",
                fields: vec![
                    ("id", id.clone()),
                    ("action", "delete".into()),
                    ("version", version.clone()),
                ],
                cancel: "/admin/connectors",
            },
        ),
        Some("delete") => match s
            .admin
            .delete_connector(
                &admin,
                &id,
                Precondition::from_form(Some(&version)).as_ref(),
            )
            .await
        {
            Ok(()) => render(
                &s,
                n,
                &format!("Connector {id} deleted; its logins end at their next refresh."),
                blank(),
                None,
            ),
            Err(AdminError::Stale(_)) => {
                let mut page = render(
                    &s,
                    n,
                    "",
                    Form {
                        error: format!(
                            "Someone else changed connector {id} after you opened this page, \
                             so it was not deleted. It is listed as it is now: decide again."
                        ),
                        ..blank()
                    },
                    None,
                );
                *page.status_mut() = StatusCode::CONFLICT;
                page
            }
            Err(e) => return Err(AdminPageError::new(&s, e)),
        },
        _ => {
            return Err(AdminPageError::new(
                &s,
                AdminError::BadRequest("unknown action".into()),
            ));
        }
    })
}

#[utoipa::path(
    get,
    operation_id = "connectors_list",
    path = "/connectors",
    summary = "Connectors: the config file's (read-only), the built-in password database, and those created here",
    responses(
        (status = 200, description = "Connectors", body = List<ConnectorView>),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
    )
)]
async fn api_list(State(s): State<AppState>, _: ApiAdmin) -> Response {
    axum::Json(serde_json::json!({ "items": s.admin.connector_views() })).into_response()
}

#[utoipa::path(
    get,
    operation_id = "connectors_get",
    path = "/connectors/{id}",
    summary = "One connector; secrets only as set or not",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The connector; a database connector's ETag is its version", body = ConnectorView, headers(("ETag" = String, description = "The current version, to send in If-Match"))),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 404, response = Problem),
    )
)]
async fn api_get(
    State(s): State<AppState>,
    _: ApiAdmin,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let v = s.admin.connector_view_of(&id).ok_or(AdminError::NotFound);
    respond(v, StatusCode::OK)
}

/// A new connector: its id and settings.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewConnector {
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    id: String,
    #[serde(rename = "type")]
    #[schema(schema_with = crate::admin::connectors::kinds)]
    kind: String,
    #[schema(min_length = 1, max_length = 128, pattern = "\\S")]
    name: String,
    /// The keys of Dex's connector config for the type; bindPW and clientSecret are write-only.
    #[serde(default)]
    #[schema(value_type = Object)]
    config: Option<serde_json::Value>,
}

#[utoipa::path(
    post,
    operation_id = "connectors_create",
    path = "/connectors",
    summary = "Create a connector; it serves logins on every replica within a second",
    description = "`config` takes the keys of Dex's connector config for the type. A 400 names the key that does not build a connector.",
    request_body = NewConnector,
    responses(
        (status = 201, description = "Created", body = ConnectorView, headers(("ETag" = String, description = "The current version, to send in If-Match"))),
        (status = 400, response = Problem),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 409, response = Problem),
        (status = 413, response = Problem),
        (status = 415, response = Problem),
    )
)]
async fn api_create(
    State(s): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let c: NewConnector = json_body(&headers, body).await?;
    let spec = ConnectorSpec {
        kind: c.kind,
        name: c.name,
        config: c.config.unwrap_or_else(|| serde_json::json!({})),
    };
    respond(
        s.admin.create_connector(&admin, &c.id, &spec).await,
        StatusCode::CREATED,
    )
}

#[utoipa::path(
    put,
    operation_id = "connectors_update",
    path = "/connectors/{id}",
    summary = "Change a connector created here; a secret key left out of config keeps its value unless the change moves it (another host, issuer, endpoint, CA, TLS setting or type: 400, send it again), null clears it",
    params(("id" = String, Path), IfMatch),
    request_body = ConnectorSpec,
    responses(
        (status = 200, description = "Changed", body = ConnectorView, headers(("ETag" = String, description = "The current version, to send in If-Match"))),
        (status = 400, response = Problem),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 404, response = Problem),
        (status = 409, response = Problem),
        (status = 412, response = Problem),
        (status = 413, response = Problem),
        (status = 415, response = Problem),
    )
)]
async fn api_update(
    State(s): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let spec: ConnectorSpec = json_body(&headers, body).await?;
    let expect = if_match(&headers);
    respond(
        s.admin
            .update_connector(&admin, &id, &spec, expect.as_ref())
            .await,
        StatusCode::OK,
    )
}

/// A connector, with its version as the ETag (database connectors have one).
fn respond(r: Result<ConnectorView, AdminError>, ok: StatusCode) -> Result<Response, ApiError> {
    let v = r?;
    let version = v.version.clone();
    let resp = (ok, axum::Json(v)).into_response();
    Ok(match version {
        Some(version) => with_etag(resp, &version),
        None => resp,
    })
}

#[utoipa::path(
    delete,
    operation_id = "connectors_delete",
    path = "/connectors/{id}",
    summary = "Delete a connector created here; its logins end at their next refresh",
    params(("id" = String, Path), IfMatch),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 404, response = Problem),
        (status = 409, response = Problem),
        (status = 412, response = Problem),
    )
)]
async fn api_delete(
    State(s): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let expect = if_match(&headers);
    s.admin
        .delete_connector(&admin, &id, expect.as_ref())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(
    post,
    operation_id = "connectors_test",
    path = "/connectors/{id}/test",
    summary = "Reach the connector's identity source now (LDAP bind and group search, OIDC discovery and JWKS, OAuth2 token endpoint, SAML metadata and certificate expiry); the answer is one of a fixed set of outcomes",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "What the test found", body = ProbeResult),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 404, response = Problem),
    )
)]
async fn api_test(
    State(s): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let r = s.admin.test_connector(&admin, &id).await?;
    Ok(axum::Json(r).into_response())
}

with_csrf!(ChangeForm, SaveForm);
