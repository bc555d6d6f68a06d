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

use super::api::{ApiAdmin, api_error, json_body, paging, problem};
use super::confirm;
use super::ui::{Nav, nav, page_error, posted, signed_in};
use crate::admin::users::{FieldError, NewUser, UserChange, parse_groups};
use crate::http::AppState;
use crate::http::extract::page_query;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/users", get(page).post(create))
        .route("/admin/users/change", post(change))
        .route("/api/v1/users", get(api_list).post(api_create))
        .route(
            "/api/v1/users/{email}",
            axum::routing::patch(api_change).delete(api_delete),
        )
}

struct UserRow {
    email: String,
    username: String,
    groups: String,
    read_only: bool,
    disabled: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/users.html")]
struct UsersPage {
    title: String,
    base: String,
    csrf: String,
    admin: String,
    notice: String,
    users: Vec<UserRow>,
    form_email: String,
    form_username: String,
    form_groups: String,
    err_email: String,
    err_username: String,
    err_password: String,
    err_groups: String,
}

#[derive(Default)]
struct Entered {
    email: String,
    username: String,
    groups: String,
    errors: Vec<FieldError>,
}

async fn render(s: &AppState, n: Nav, notice: String, entered: Entered) -> Response {
    let users = match s.provider.users(500, 0).await {
        Ok(u) => u,
        Err(e) => return page_error(s, e),
    };
    let err = |f: &str| {
        entered
            .errors
            .iter()
            .filter(|e| e.field == f)
            .map(|e| e.message.clone())
            .collect::<Vec<_>>()
            .join("; ")
    };
    let status = if entered.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let page = UsersPage {
        title: s.web.title.clone(),
        base: n.base,
        csrf: n.csrf,
        admin: n.admin,
        notice,
        users: users
            .into_iter()
            .map(|u| UserRow {
                email: u.email,
                username: u.username,
                groups: u.groups.join(", "),
                read_only: u.source == "config",
                disabled: u.disabled,
            })
            .collect(),
        err_email: err("email"),
        err_username: err("username"),
        err_password: err("password"),
        err_groups: err("groups"),
        form_email: entered.email,
        form_username: entered.username,
        form_groups: entered.groups,
    };
    (status, page).into_response()
}

#[derive(Deserialize)]
struct Notice {
    done: Option<String>,
}

async fn page(State(s): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let (admin, token) = match signed_in(&s, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
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

async fn create(State(s): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let (f, admin, token) =
        match posted(&s, &headers, body, |f: &CreateForm| f.csrf.as_deref()).await {
            Ok(x) => x,
            Err(r) => return r,
        };
    let groups_text = f.groups.unwrap_or_default();
    let u = NewUser {
        email: f.email.unwrap_or_default().trim().to_string(),
        username: f.username.unwrap_or_default(),
        password: f.password.unwrap_or_default(),
        groups: parse_groups(&groups_text),
    };
    let mut errors = s.provider.check_new_user(&u);
    if errors.is_empty() {
        match s.provider.create_user(&admin, &u).await {
            Ok(()) => {
                return Redirect::to(&s.web.path("/admin/users?done=created")).into_response();
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
            Err(e) => return page_error(&s, e),
        }
    }
    let entered = Entered {
        email: u.email,
        username: u.username,
        groups: groups_text,
        errors,
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
}

async fn change(State(s): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let (f, admin, token) =
        match posted(&s, &headers, body, |f: &ChangeForm| f.csrf.as_deref()).await {
            Ok(x) => x,
            Err(r) => return r,
        };
    let email = f.email.unwrap_or_default();
    let c = match f.action.as_deref() {
        Some("delete") if !confirm::confirmed(f.confirm.as_deref()) => {
            return confirm::ask(
                &s,
                nav(&s, &admin, &token),
                confirm::Ask {
                    heading: format!("Delete user {email}?"),
                    what: "They can no longer log in with their password; logins they hold \
                           end at their next refresh."
                        .into(),
                    button: "Delete the user",
                    action: "/admin/users/change",
                    fields: vec![("email", email.clone()), ("action", "delete".into())],
                    cancel: "/admin/users",
                },
            );
        }
        Some("delete") => {
            return match s.provider.delete_user(&admin, &email).await {
                Ok(()) => Redirect::to(&s.web.path("/admin/users?done=deleted")).into_response(),
                Err(e) => page_error(&s, e),
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
            groups: Some(parse_groups(&f.groups.unwrap_or_default())),
            ..UserChange::default()
        },
        _ => {
            return page_error(
                &s,
                crate::admin::AdminError::BadRequest("unknown action".into()),
            );
        }
    };
    match s.provider.change_user(&admin, &email, &c).await {
        Ok(()) => Redirect::to(&s.web.path("/admin/users?done=changed")).into_response(),
        Err(e) => page_error(&s, e),
    }
}

async fn api_list(State(s): State<AppState>, _: ApiAdmin, RawQuery(q): RawQuery) -> Response {
    let (limit, offset) = match paging(q.as_deref(), 100) {
        Ok(p) => p,
        Err(m) => return problem(StatusCode::BAD_REQUEST, "Bad Request", m),
    };
    match s.provider.users(limit, offset).await {
        Ok(items) => axum::Json(serde_json::json!({ "items": items })).into_response(),
        Err(e) => api_error(e),
    }
}

async fn api_create(
    State(s): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let u: NewUser = match json_body(&headers, body).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    match s.provider.create_user(&admin, &u).await {
        Ok(()) => StatusCode::CREATED.into_response(),
        Err(e) => api_error(e),
    }
}

async fn api_change(
    State(s): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    headers: HeaderMap,
    Path(email): Path<String>,
    body: Body,
) -> Response {
    let c: UserChange = match json_body(&headers, body).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match s.provider.change_user(&admin, &email, &c).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => api_error(e),
    }
}

async fn api_delete(
    State(s): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(email): Path<String>,
) -> Response {
    match s.provider.delete_user(&admin, &email).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => api_error(e),
    }
}
