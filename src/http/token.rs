//! `/token`, `/token/introspect`, `/token/revoke`, `/userinfo`.

use axum::Router;
use axum::body::Body;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::http::AppState;
use crate::http::error::OAuthJson;
use crate::http::extract::{basic_auth, bearer, oauth_form};
use crate::http::limits::{self, Format};
use crate::oauth::client::Client;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::grants::TokenParams;
use crate::ratelimit::Endpoint;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/token", post(token))
        .route("/token/introspect", post(introspect))
        .route("/token/revoke", post(revoke))
        .route("/userinfo", get(userinfo).post(userinfo))
}

fn no_store(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

async fn token(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, OAuthJson> {
    let ip = limits::client_ip(&s, peer, &headers);
    // The address first, before the body is read.
    if let Some(refused) = limits::check_address(&s, Endpoint::Token, ip, Format::OAuth) {
        return Ok(refused);
    }
    let p: TokenParams = oauth_form(&headers, body).await?;
    let basic = basic_auth(&headers)?;
    let client_id = basic
        .as_ref()
        .and_then(|b| b.id.as_deref())
        .or(p.client_id.as_deref());
    let users = [client_id, p.username.as_deref()];
    if let Some(refused) = limits::check_users(&s, Endpoint::Token, ip, &users, Format::OAuth) {
        return Ok(refused);
    }
    let r = s.provider.token(basic, p).await?;
    Ok(no_store(axum::Json(r).into_response()))
}

#[derive(Deserialize)]
struct TokenForm {
    token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// The common part of introspection and revocation: an authenticated client and a token.
async fn client_and_token(
    s: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(std::sync::Arc<Client>, String), OAuthJson> {
    let f: TokenForm = oauth_form(headers, body).await?;
    let basic = basic_auth(headers)?;
    let client = s.provider.authenticate_client(
        basic,
        f.client_id.as_deref(),
        f.client_secret.as_deref(),
    )?;
    let token = f
        .token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    Ok((client, token))
}

async fn introspect(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, OAuthJson> {
    let (client, token) = client_and_token(&s, &headers, body).await?;
    // Introspection reveals claims: public clients cannot authenticate, so they may not use it.
    if client.public {
        return Err(OAuthError::invalid_client().into());
    }
    let r = s.provider.introspect(&client, &token).await?;
    Ok(no_store(axum::Json(r).into_response()))
}

async fn revoke(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, OAuthJson> {
    let (client, token) = client_and_token(&s, &headers, body).await?;
    s.provider.revoke(&client, &token).await?;
    Ok(no_store(StatusCode::OK.into_response()))
}

async fn userinfo(State(s): State<AppState>, headers: HeaderMap) -> Result<Response, OAuthJson> {
    let Some(t) = bearer(&headers) else {
        return Err(OAuthError::new(ErrorCode::InvalidToken, "a bearer token is required").into());
    };
    let claims = s.provider.userinfo(t).await?;
    Ok(no_store(axum::Json(claims).into_response()))
}
