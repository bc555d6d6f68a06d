//! `/callback` (and `/callback/{connector}`, as Dex serves both): where upstream providers send
//! the browser back.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::http::authorize::{approval_url, login_failed};
use crate::http::error::PageError;
use crate::http::extract::{page_query, saml_form};
use crate::http::{AppState, csrf};
use crate::oauth::upstream::CallbackParams;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/callback", get(callback).post(saml_post))
        .route("/callback/{connector}", get(callback).post(saml_post))
        .route("/saml/{connector}/metadata", get(sp_metadata))
}

#[derive(serde::Deserialize)]
struct SamlForm {
    #[serde(rename = "SAMLResponse")]
    saml_response: Option<String>,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

/// The HTTP-POST binding: verify, park the identity, send the browser on to the GET callback
/// (same-site, so its cookie comes along) to finish.
async fn saml_post(State(s): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let f = match saml_form::<SamlForm>(&headers, body).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let relay = f.relay_state.unwrap_or_default();
    match s
        .provider
        .saml_post(&relay, f.saml_response.as_deref().unwrap_or_default())
        .await
    {
        Ok(connector) => {
            let q: String = form_urlencoded::Serializer::new(String::new())
                .append_pair("state", &relay)
                .finish();
            let path = format!(
                "/callback/{}?{q}",
                form_urlencoded::byte_serialize(connector.as_bytes()).collect::<String>()
            );
            Redirect::to(&s.web.path(&path)).into_response()
        }
        Err(e) => login_failed(
            e,
            "saml",
            "The identity provider's metadata could not be read.",
        ),
    }
}

async fn sp_metadata(State(s): State<AppState>, Path(connector): Path<String>) -> Response {
    let conn = s.provider.connector(&connector);
    let Some(saml) = conn.as_deref().and_then(|c| c.saml()) else {
        return PageError::new(StatusCode::NOT_FOUND, "No SAML connector by that name.")
            .into_response();
    };
    match saml.sp_metadata() {
        Ok(xml) => (
            [(header::CONTENT_TYPE, "application/samlmetadata+xml")],
            xml,
        )
            .into_response(),
        Err(e) => PageError::internal(e).into_response(),
    }
}

async fn callback(
    State(s): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let p = match page_query::<CallbackParams>(q.as_deref()) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let browser = csrf::cookie_value(&headers).unwrap_or_default();
    match s.provider.finish_upstream(&p, &browser).await {
        Ok(req_id) => Redirect::to(&approval_url(&s, &req_id)).into_response(),
        Err(e) => login_failed(e, "upstream", "The identity provider is not answering."),
    }
}
