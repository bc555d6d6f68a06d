//! The users page and `/api/v1/users`.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::api::{
    ApiAdmin, ApiError, IfMatch, List, Problem, if_match, json_body, paging, with_etag,
};
use super::confirm;
use super::page::{AdminForm, AdminPage, with_csrf};
use super::page::{AdminPageError, OrPage, PageResult};
use super::ui::{Nav, nav};
use crate::admin::AdminError;
use crate::admin::users::{FieldError, NewUser, UserChange, UserView, parse_groups};
use crate::admin::version::Precondition;
use crate::http::AppState;
use crate::http::extract::page_query;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/users", get(page).post(create))
        .route("/admin/users/change", post(change))
        .route("/api/v1/users", get(api_list).post(api_create))
        .route(
            "/api/v1/users/{email}",
            get(api_get).patch(api_change).delete(api_delete),
        )
}

struct UserRow {
    email: String,
    username: String,
    groups: String,
    /// What the row's groups field holds: the groups, or what was typed there before a
    /// change someone else got ahead of.
    groups_input: String,
    read_only: bool,
    disabled: bool,
    /// What the row's buttons expect (a hidden field).
    version: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/users.html")]
struct UsersPage {
    title: String,
    base: String,
    csrf: String,
    admin: String,
    /// The navigation link marked as this page (a path under the issuer's).
    here: &'static str,
    notice: String,
    users: Vec<UserRow>,
    form_email: String,
    form_username: String,
    form_groups: String,
    err_email: String,
    err_username: String,
    err_password: String,
    err_groups: String,
    conflict: String,
}

#[derive(Default)]
struct Entered {
    email: String,
    username: String,
    groups: String,
    errors: Vec<FieldError>,
    /// A change to a user that someone else's change got ahead of: (the message, the user's
    /// email, the groups that were typed for them).
    conflict: Option<(String, String, String)>,
}

async fn render(s: &AppState, n: Nav, notice: String, entered: Entered) -> PageResult {
    let users = s.admin.users(500, 0).await.or_page(s)?;
    let err = |f: &str| {
        entered
            .errors
            .iter()
            .filter(|e| e.field == f)
            .map(|e| e.message.clone())
            .collect::<Vec<_>>()
            .join("; ")
    };
    let status = if entered.conflict.is_some() {
        StatusCode::CONFLICT
    } else if entered.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let (conflict, kept_email, kept_groups) = entered.conflict.unwrap_or_default();
    let page = UsersPage {
        title: s.web.title.clone(),
        base: n.base,
        csrf: n.csrf,
        admin: n.admin,
        here: "/admin/users",
        notice,
        users: users
            .into_iter()
            .map(|u| {
                let groups = u.groups.join(", ");
                UserRow {
                    groups_input: if !kept_email.is_empty()
                        && u.email.eq_ignore_ascii_case(&kept_email)
                    {
                        kept_groups.clone()
                    } else {
                        groups.clone()
                    },
                    groups,
                    email: u.email,
                    username: u.username,
                    read_only: u.source == "config",
                    disabled: u.disabled,
                    version: u.version.unwrap_or_default(),
                }
            })
            .collect(),
        err_email: err("email"),
        err_username: err("username"),
        err_password: err("password"),
        err_groups: err("groups"),
        form_email: entered.email,
        form_username: entered.username,
        form_groups: entered.groups,
        conflict,
    };
    Ok((status, page).into_response())
}

#[derive(Deserialize)]
struct Notice {
    done: Option<String>,
}

async fn page(
    State(s): State<AppState>,
    AdminPage { admin, token }: AdminPage,
    RawQuery(q): RawQuery,
) -> PageResult {
    let done = page_query::<Notice>(q.as_deref())
        .ok()
        .and_then(|n| n.done)
        .map(|d| match d.as_str() {
            "created" => "The user was created.",
            "changed" => "The user was changed.",
            "deleted" => "The user was deleted.",
            _ => "",
        })
        .unwrap_or_default();
    render(&s, nav(&s, &admin, &token), done.into(), Entered::default()).await
}

#[derive(Deserialize)]
struct CreateForm {
    csrf: Option<String>,
    email: Option<String>,
    username: Option<String>,
    password: Option<String>,
    groups: Option<String>,
}

async fn create(
    State(s): State<AppState>,
    AdminForm {
        form: f,
        admin,
        token,
    }: AdminForm<CreateForm>,
) -> PageResult {
    let groups_text = f.groups.unwrap_or_default();
    let u = NewUser {
        email: f.email.unwrap_or_default().trim().to_string(),
        username: f.username.unwrap_or_default(),
        password: f.password.unwrap_or_default(),
        groups: parse_groups(&groups_text),
    };
    let mut errors = s.admin.check_new_user(&u);
    if errors.is_empty() {
        match s.admin.create_user(&admin, &u).await {
            Ok(_) => {
                return Ok(Redirect::to(&s.web.path("/admin/users?done=created")).into_response());
            }
            Err(
                crate::admin::AdminError::BadRequest(m) | crate::admin::AdminError::Conflict(m),
            ) => {
                let (field, message) = m.split_once(": ").unwrap_or(("email", m.as_str()));
                let field = match field {
                    "username" => "username",
                    "password" => "password",
                    "groups" => "groups",
                    _ => "email",
                };
                errors.push(FieldError {
                    field,
                    message: message.to_string(),
                });
            }
            Err(e) => return Err(AdminPageError::new(&s, e)),
        }
    }
    let entered = Entered {
        email: u.email,
        username: u.username,
        groups: groups_text,
        errors,
        conflict: None,
    };
    render(&s, nav(&s, &admin, &token), String::new(), entered).await
}

#[derive(Deserialize)]
struct ChangeForm {
    csrf: Option<String>,
    email: Option<String>,
    action: Option<String>,
    password: Option<String>,
    groups: Option<String>,
    /// "yes" on the second post, from the confirmation page.
    confirm: Option<String>,
    /// The version of the user the page showed.
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
    let email = f.email.unwrap_or_default();
    let version = f.version.unwrap_or_default();
    let expect = Precondition::from_form(Some(&version));
    let groups_text = f.groups.clone().unwrap_or_default();
    let c = match f.action.as_deref() {
        Some("delete") if !confirm::confirmed(f.confirm.as_deref()) => {
            return Ok(confirm::ask(
                &s,
                nav(&s, &admin, &token),
                confirm::Ask {
                    heading: format!("Delete user {email}?"),
                    what: "They can no longer log in with their password; logins they hold \
                           end at their next refresh."
                        .into(),
                    button: "Delete the user",
                    action: "/admin/users/change",
                    fields: vec![
                        ("email", email.clone()),
                        ("action", "delete".into()),
                        ("version", version.clone()),
                    ],
                    cancel: "/admin/users",
                },
            ));
        }
        Some("delete") => {
            return match s.admin.delete_user(&admin, &email, expect.as_ref()).await {
                Ok(()) => {
                    Ok(Redirect::to(&s.web.path("/admin/users?done=deleted")).into_response())
                }
                Err(AdminError::Stale(_)) => {
                    stale_page(&s, nav(&s, &admin, &token), &email, None).await
                }
                Err(e) => Err(AdminPageError::new(&s, e)),
            };
        }
        Some("disable") => UserChange {
            disabled: Some(true),
            ..UserChange::default()
        },
        Some("enable") => UserChange {
            disabled: Some(false),
            ..UserChange::default()
        },
        Some("reset") => UserChange {
            password: Some(f.password.unwrap_or_default()),
            ..UserChange::default()
        },
        Some("groups") => UserChange {
            groups: Some(parse_groups(&groups_text)),
            ..UserChange::default()
        },
        _ => {
            return Err(AdminPageError::new(
                &s,
                AdminError::BadRequest("unknown action".into()),
            ));
        }
    };
    match s
        .admin
        .change_user(&admin, &email, &c, expect.as_ref())
        .await
    {
        Ok(_) => Ok(Redirect::to(&s.web.path("/admin/users?done=changed")).into_response()),
        Err(AdminError::Stale(_)) => {
            let typed = c.groups.is_some().then_some(groups_text);
            stale_page(&s, nav(&s, &admin, &token), &email, typed).await
        }
        Err(e) => Err(AdminPageError::new(&s, e)),
    }
}

/// The users page after a change someone else's change got ahead of: the user as they are
/// now, nothing done, and the groups that were typed kept in their field (a typed password is
/// not sent back into the page: it is typed again).
async fn stale_page(s: &AppState, n: Nav, email: &str, typed_groups: Option<String>) -> PageResult {
    let kept = typed_groups.is_some();
    let message = format!(
        "Someone else changed {email} after you opened this page, so nothing was done. The user \
         is shown as they are now{}: decide again.",
        if kept {
            ", with the groups you typed kept in their field"
        } else {
            ""
        }
    );
    let groups = typed_groups.unwrap_or_default();
    let entered = Entered {
        conflict: Some((
            message,
            if kept {
                email.to_string()
            } else {
                String::new()
            },
            groups,
        )),
        ..Entered::default()
    };
    render(s, n, String::new(), entered).await
}

#[utoipa::path(
    get,
    operation_id = "users_list",
    path = "/users",
    summary = "Users: the config file's (read-only) and the password database's",
    params(("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "default 100"), ("offset" = Option<i64>, Query, minimum = 0, maximum = 1000000, description = "default 0")),
    responses(
        (status = 200, description = "Users", body = List<UserView>),
        (status = 400, response = Problem),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
    )
)]
async fn api_list(
    State(s): State<AppState>,
    _: ApiAdmin,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let (limit, offset) = paging(q.as_deref(), 100)?;
    let items = s.admin.users(limit, offset).await?;
    Ok(axum::Json(List::<UserView> { items }).into_response())
}

#[utoipa::path(
    post,
    operation_id = "users_create",
    path = "/users",
    summary = "Create a user in the password database",
    request_body = NewUser,
    responses(
        (status = 201, description = "Created", headers(("ETag" = String, description = "The current version, to send in If-Match"))),
        (status = 400, response = Problem),
        (status = 409, response = Problem),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
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
    let u: NewUser = json_body(&headers, body).await?;
    let version = s.admin.create_user(&admin, &u).await?;
    Ok(with_etag(StatusCode::CREATED.into_response(), &version))
}

#[utoipa::path(
    get,
    operation_id = "users_get",
    path = "/users/{email}",
    summary = "One user; a database user's ETag is their version",
    params(("email" = String, Path)),
    responses(
        (status = 200, description = "The user", body = UserView, headers(("ETag" = String, description = "The current version, to send in If-Match"))),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 404, response = Problem),
    )
)]
async fn api_get(
    State(s): State<AppState>,
    _: ApiAdmin,
    Path(email): Path<String>,
) -> Result<Response, ApiError> {
    let v = s.admin.user(&email).await?;
    let version = v.version.clone();
    let resp = axum::Json(v).into_response();
    Ok(match version {
        Some(version) => with_etag(resp, &version),
        None => resp,
    })
}

#[utoipa::path(
    patch,
    operation_id = "users_change",
    path = "/users/{email}",
    summary = "Reset the password, set the groups, disable or enable",
    params(("email" = String, Path), IfMatch),
    request_body = UserChange,
    responses(
        (status = 204, description = "Changed", headers(("ETag" = String, description = "The current version, to send in If-Match"))),
        (status = 400, response = Problem),
        (status = 409, response = Problem),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 404, response = Problem),
        (status = 412, response = Problem),
        (status = 413, response = Problem),
        (status = 415, response = Problem),
    )
)]
async fn api_change(
    State(s): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    headers: HeaderMap,
    Path(email): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let c: UserChange = json_body(&headers, body).await?;
    let expect = if_match(&headers);
    let version = s
        .admin
        .change_user(&admin, &email, &c, expect.as_ref())
        .await?;
    Ok(with_etag(StatusCode::NO_CONTENT.into_response(), &version))
}

#[utoipa::path(
    delete,
    operation_id = "users_delete",
    path = "/users/{email}",
    summary = "Delete a user of the password database",
    params(("email" = String, Path), IfMatch),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 404, response = Problem),
        (status = 412, response = Problem),
    )
)]
async fn api_delete(
    State(s): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    headers: HeaderMap,
    Path(email): Path<String>,
) -> Result<Response, ApiError> {
    let expect = if_match(&headers);
    s.admin.delete_user(&admin, &email, expect.as_ref()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

with_csrf!(ChangeForm, CreateForm);
