//! The clients page and `/api/v1/clients`.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use super::api::{ApiAdmin, ApiError, IfMatch, List, Problem, if_match, json_body, with_etag};
use super::confirm;
use super::page::{AdminForm, AdminPage, with_csrf};
use super::page::{AdminPageError, PageResult};
use super::ui::{Nav, nav};
use crate::admin::AdminError;
use crate::admin::clients::{ClientSpec, ClientView};
use crate::admin::version::Precondition;
use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/clients", get(page).post(create))
        .route("/admin/clients/change", post(change))
        .route("/api/v1/clients", get(api_list).post(api_create))
        .route(
            "/api/v1/clients/{id}",
            get(api_get).put(api_update).delete(api_delete),
        )
        .route("/api/v1/clients/{id}/secret", post(api_rotate))
}

struct ClientRow {
    id: String,
    name: String,
    redirect_uris: String,
    grant_types: String,
    allowed_connectors: String,
    backchannel_logout_uri: String,
    /// Space-separated; `None`: the default chain.
    mfa_chain: Option<String>,
    public: bool,
    read_only: bool,
    /// What the row's buttons expect (a hidden field).
    version: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/clients.html")]
struct ClientsPage {
    title: String,
    base: String,
    csrf: String,
    admin: String,
    /// The navigation link marked as this page (a path under the issuer's).
    here: &'static str,
    notice: String,
    secret: String,
    secret_for: String,
    error: String,
    clients: Vec<ClientRow>,
}

/// The page, with at most one of: a notice, a secret to show once, an error.
fn render(
    s: &AppState,
    n: Nav,
    notice: &str,
    secret: Option<(String, String)>,
    error: &str,
) -> Response {
    let (secret_for, secret) = secret.unwrap_or_default();
    let status = if error.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let page = ClientsPage {
        title: s.web.title.clone(),
        base: n.base,
        csrf: n.csrf,
        admin: n.admin,
        here: "/admin/clients",
        notice: notice.into(),
        secret,
        secret_for,
        error: error.into(),
        clients: s
            .admin
            .client_views()
            .into_iter()
            .map(|c| ClientRow {
                read_only: c.source == "config",
                id: c.id,
                name: c.name,
                redirect_uris: c.redirect_uris.join(" "),
                grant_types: c.grant_types.join(" "),
                allowed_connectors: c.allowed_connectors.join(" "),
                backchannel_logout_uri: c.backchannel_logout_uri.unwrap_or_default(),
                mfa_chain: c.mfa_chain.map(|m| m.join(" ")),
                public: c.public,
                version: c.version.unwrap_or_default(),
            })
            .collect(),
    };
    // A page showing a secret must not be cached anywhere.
    (status, [("cache-control", "no-store")], page).into_response()
}

async fn page(State(s): State<AppState>, AdminPage { admin, token }: AdminPage) -> Response {
    render(&s, nav(&s, &admin, &token), "", None, "")
}

#[derive(Deserialize)]
struct CreateForm {
    csrf: Option<String>,
    id: Option<String>,
    name: Option<String>,
    redirect_uris: Option<String>,
    grant_types: Option<String>,
    allowed_connectors: Option<String>,
    backchannel_logout_uri: Option<String>,
    mfa_chain: Option<String>,
    public: Option<String>,
}

fn words(s: Option<String>) -> Vec<String> {
    s.unwrap_or_default()
        .split_ascii_whitespace()
        .map(String::from)
        .collect()
}

async fn create(
    State(s): State<AppState>,
    AdminForm {
        form: f,
        admin,
        token,
    }: AdminForm<CreateForm>,
) -> PageResult {
    let id = f.id.clone().unwrap_or_default();
    let public = f.public.is_some();
    let spec = ClientSpec {
        name: f.name.unwrap_or_default(),
        redirect_uris: words(f.redirect_uris),
        grant_types: words(f.grant_types),
        allowed_connectors: words(f.allowed_connectors),
        backchannel_logout_uri: f.backchannel_logout_uri.map(|u| u.trim().to_string()),
        // The form cannot tell "none" from "the default": empty is the default.
        mfa_chain: Some(words(f.mfa_chain)).filter(|c| !c.is_empty()),
        public,
        require_pkce: public,
        ..ClientSpec::default()
    };
    let n = nav(&s, &admin, &token);
    match s.admin.create_client(&admin, &id, &spec).await {
        Ok((Some(secret), _)) => Ok(render(
            &s,
            n,
            "The client was created.",
            Some((id, secret)),
            "",
        )),
        Ok((None, _)) => Ok(render(&s, n, "The public client was created.", None, "")),
        Err(AdminError::BadRequest(m) | AdminError::Conflict(m)) => Ok(render(&s, n, "", None, &m)),
        Err(e) => Err(AdminPageError::new(&s, e)),
    }
}

#[derive(Deserialize)]
struct ChangeForm {
    csrf: Option<String>,
    id: Option<String>,
    action: Option<String>,
    /// "yes" on the second post, from the confirmation page.
    confirm: Option<String>,
    /// The version of the client the page showed.
    version: Option<String>,
}

/// What rotating or deleting a client does, asked before it is done.
fn question(id: &str, action: &str, version: &str) -> Option<confirm::Ask> {
    let (heading, what, button) = match action {
        "rotate" => (
            format!("Rotate the secret of client {id}?"),
            "A new secret replaces the current one at once: every application that uses the \
             current secret fails until it is given the new one, which is shown once.",
            "Rotate the secret",
        ),
        "delete" => (
            format!("Delete client {id}?"),
            "The client can no longer sign users in or get tokens, and its settings are gone.",
            "Delete the client",
        ),
        _ => return None,
    };
    Some(confirm::Ask {
        heading,
        what: what.into(),
        button,
        action: "/admin/clients/change",
        fields: vec![
            ("id", id.to_string()),
            ("action", action.to_string()),
            ("version", version.to_string()),
        ],
        cancel: "/admin/clients",
    })
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
    let n = nav(&s, &admin, &token);
    let version = f.version.unwrap_or_default();
    if !confirm::confirmed(f.confirm.as_deref())
        && let Some(q) = question(&id, f.action.as_deref().unwrap_or_default(), &version)
    {
        return Ok(confirm::ask(&s, n, q));
    }
    let expect = Precondition::from_form(Some(&version));
    let done = match f.action.as_deref() {
        Some("rotate") => match s
            .admin
            .rotate_client_secret(&admin, &id, expect.as_ref())
            .await
        {
            Ok((secret, _)) => {
                return Ok(render(
                    &s,
                    n,
                    "The secret was replaced; the old one no longer works.",
                    Some((id, secret)),
                    "",
                ));
            }
            Err(e) => e,
        },
        Some("delete") => match s.admin.delete_client(&admin, &id, expect.as_ref()).await {
            Ok(()) => return Ok(render(&s, n, "The client was deleted.", None, "")),
            Err(e) => e,
        },
        _ => AdminError::BadRequest("unknown action".into()),
    };
    match done {
        AdminError::Stale(_) => {
            let mut page = render(
                &s,
                n,
                "",
                None,
                &format!(
                    "Someone else changed client {id} after you opened this page, so nothing \
                     was done. It is shown below as it is now: decide again."
                ),
            );
            *page.status_mut() = StatusCode::CONFLICT;
            Ok(page)
        }
        e => Err(AdminPageError::new(&s, e)),
    }
}

#[utoipa::path(
    get,
    operation_id = "clients_list",
    path = "/clients",
    summary = "Clients: the config file's (read-only) and those created here",
    responses(
        (status = 200, description = "Clients", body = List<ClientView>),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
    )
)]
async fn api_list(State(s): State<AppState>, _: ApiAdmin) -> Response {
    axum::Json(List::<ClientView> {
        items: s.admin.client_views(),
    })
    .into_response()
}

/// A client's id and its new secret (none for a public client), shown once.
#[derive(Serialize, utoipa::ToSchema)]
struct ClientSecret {
    id: String,
    secret: Option<String>,
}

/// A new client: its id and settings.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewClient {
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    id: String,
    #[schema(min_length = 1, max_length = 128, pattern = "\\S")]
    name: String,
    #[serde(default)]
    #[schema(schema_with = crate::admin::clients::uri_list)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    #[schema(schema_with = crate::admin::clients::uri_list)]
    post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    trusted_peers: Vec<String>,
    #[serde(default)]
    #[schema(schema_with = crate::admin::clients::grant_type_names)]
    grant_types: Vec<String>,
    #[serde(default)]
    public: bool,
    #[serde(default)]
    require_pkce: bool,
    /// The connectors the client may log in through; empty or absent, every one.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    allowed_connectors: Vec<String>,
    /// Where back-channel logout tokens are POSTed (see `ClientSpec`); absent, nowhere.
    #[serde(default)]
    #[schema(schema_with = crate::admin::clients::backchannel_uri)]
    backchannel_logout_uri: Option<String>,
    /// The second factors a login must pass (ids of `mfa.authenticators`); absent, the
    /// server's default chain; empty, none.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$", nullable = false)]
    mfa_chain: Option<Vec<String>>,
}

#[utoipa::path(
    post,
    operation_id = "clients_create",
    path = "/clients",
    summary = "Create a client; a confidential one's secret is in the answer, once",
    request_body = NewClient,
    responses(
        (status = 201, description = "Created", body = ClientSecret, headers(("ETag" = String, description = "The current version, to send in If-Match"))),
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
    let c: NewClient = json_body(&headers, body).await?;
    let spec = ClientSpec {
        name: c.name,
        redirect_uris: c.redirect_uris,
        post_logout_redirect_uris: c.post_logout_redirect_uris,
        trusted_peers: c.trusted_peers,
        grant_types: c.grant_types,
        public: c.public,
        require_pkce: c.require_pkce,
        allowed_connectors: c.allowed_connectors,
        backchannel_logout_uri: c.backchannel_logout_uri,
        mfa_chain: c.mfa_chain,
    };
    let (secret, version) = s.admin.create_client(&admin, &c.id, &spec).await?;
    Ok(with_etag(
        (
            StatusCode::CREATED,
            [("cache-control", "no-store")],
            axum::Json(ClientSecret { id: c.id, secret }),
        )
            .into_response(),
        &version,
    ))
}

#[utoipa::path(
    get,
    operation_id = "clients_get",
    path = "/clients/{id}",
    summary = "One client; a database client's ETag is its version",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The client", body = ClientView, headers(("ETag" = String, description = "The current version, to send in If-Match"))),
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
    let v = s.admin.client_view_of(&id).ok_or(AdminError::NotFound)?;
    let version = v.version.clone();
    let resp = axum::Json(v).into_response();
    Ok(match version {
        Some(version) => with_etag(resp, &version),
        None => resp,
    })
}

#[utoipa::path(
    put,
    operation_id = "clients_update",
    path = "/clients/{id}",
    summary = "Change a client's settings (its secret stays)",
    params(("id" = String, Path), IfMatch),
    request_body = ClientSpec,
    responses(
        (status = 204, description = "Changed", headers(("ETag" = String, description = "The current version, to send in If-Match"))),
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
    let spec: ClientSpec = json_body(&headers, body).await?;
    let expect = if_match(&headers);
    let version = s
        .admin
        .update_client(&admin, &id, &spec, expect.as_ref())
        .await?;
    Ok(with_etag(StatusCode::NO_CONTENT.into_response(), &version))
}

#[utoipa::path(
    post,
    operation_id = "clients_rotate",
    path = "/clients/{id}/secret",
    summary = "Replace a client's secret; the new one is in the answer, once",
    params(("id" = String, Path), IfMatch),
    responses(
        (status = 200, description = "The new secret", body = ClientSecret, headers(("ETag" = String, description = "The current version, to send in If-Match"))),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 404, response = Problem),
        (status = 409, response = Problem),
        (status = 412, response = Problem),
    )
)]
async fn api_rotate(
    State(s): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let expect = if_match(&headers);
    let (secret, version) = s
        .admin
        .rotate_client_secret(&admin, &id, expect.as_ref())
        .await?;
    Ok(with_etag(
        (
            [("cache-control", "no-store")],
            axum::Json(ClientSecret {
                id,
                secret: Some(secret),
            }),
        )
            .into_response(),
        &version,
    ))
}

#[utoipa::path(
    delete,
    operation_id = "clients_delete",
    path = "/clients/{id}",
    summary = "Delete a client created here",
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
    s.admin.delete_client(&admin, &id, expect.as_ref()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

with_csrf!(ChangeForm, CreateForm);
