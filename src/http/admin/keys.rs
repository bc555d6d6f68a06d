//! The signing-keys page and `/api/v1/keys`: list, and rotate now.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use super::api::{ApiAdmin, ApiError, List, Problem};
use super::confirm;
use super::page::{AdminForm, AdminPage};
use super::page::{OrPage, PageResult};
use super::ui::{CsrfForm, nav};
use crate::admin::KeyView;
use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/keys", get(keys))
        .route("/admin/keys/rotate", post(rotate))
        .route("/api/v1/keys", get(list_keys))
        .route("/api/v1/keys/rotate", post(rotate_keys))
}

struct KeyRow {
    kid: String,
    alg: String,
    since: String,
    retired: String,
    signing: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/keys.html")]
struct KeysPage {
    title: String,
    base: String,
    csrf: String,
    admin: String,
    /// The navigation link marked as this page (a path under the issuer's).
    here: &'static str,
    notice: String,
    keys: Vec<KeyRow>,
}

async fn keys(
    State(s): State<AppState>,
    AdminPage { admin, token }: AdminPage,
    RawQuery(q): RawQuery,
) -> Response {
    let n = nav(&s, &admin, &token);
    KeysPage {
        title: s.web.title.clone(),
        base: n.base,
        csrf: n.csrf,
        admin: n.admin,
        here: "/admin/keys",
        notice: if q.as_deref() == Some("rotated=1") {
            "Rotated: the new key signs from now on.".into()
        } else {
            String::new()
        },
        keys: s
            .admin
            .signing_keys()
            .into_iter()
            .map(|k| KeyRow {
                kid: k.kid,
                alg: k.alg,
                since: crate::clock::rfc3339(k.active_from),
                retired: k.retired_at.map(crate::clock::rfc3339).unwrap_or_default(),
                signing: k.signing,
            })
            .collect(),
    }
    .into_response()
}

async fn rotate(
    State(s): State<AppState>,
    AdminForm {
        form: f,
        admin,
        token,
    }: AdminForm<CsrfForm>,
) -> PageResult {
    if !confirm::confirmed(f.confirm.as_deref()) {
        return Ok(confirm::ask(
            &s,
            nav(&s, &admin, &token),
            confirm::Ask {
                heading: "Rotate the signing key now?".into(),
                what: "A new key signs from now on, without the usual publication lead: a \
                       verifier that cached the key set refuses the new tokens until it fetches \
                       it again. The current key stays published until the tokens it signed \
                       expire."
                    .into(),
                button: "Rotate now",
                action: "/admin/keys/rotate",
                fields: Vec::new(),
                cancel: "/admin/keys",
            },
        ));
    }
    s.admin.rotate_keys(&admin).await.or_page(&s)?;
    Ok(Redirect::to(&s.web.path("/admin/keys?rotated=1")).into_response())
}

#[utoipa::path(
    get,
    operation_id = "keys_list_keys",
    path = "/keys",
    summary = "Published signing keys, newest first",
    responses(
        (status = 200, description = "Keys", body = List<KeyView>),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
    )
)]
async fn list_keys(State(s): State<AppState>, _: ApiAdmin) -> Response {
    axum::Json(List::<KeyView> {
        items: s.admin.signing_keys(),
    })
    .into_response()
}

#[utoipa::path(
    post,
    operation_id = "keys_rotate_keys",
    path = "/keys/rotate",
    summary = "Rotate the signing key now; the new key signs at once",
    responses(
        (status = 204, description = "Rotated"),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
    )
)]
async fn rotate_keys(
    State(s): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
) -> Result<Response, ApiError> {
    s.admin.rotate_keys(&admin).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
