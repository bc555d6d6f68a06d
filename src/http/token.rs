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
use crate::http::limits;
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
    // The body is read (64 KiB at most) before any budget: which budget a request spends
    // depends on the client it authenticates as.
    let p: TokenParams = oauth_form(&headers, body).await?;
    let basic = basic_auth(&headers)?;
    let client = match limits::authenticated_client(
        &s,
        Endpoint::Token,
        ip,
        basic,
        p.client_id.as_deref(),
        p.client_secret.as_deref(),
    )
    .await
    {
        Ok(c) => c,
        Err(refused) => return Ok(refused),
    };
    let r = s.provider.token(client, p, ip).await?;
    Ok(no_store(axum::Json(r).into_response()))
}

#[derive(Deserialize)]
struct TokenForm {
    token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// The common part of introspection and revocation: an authenticated client (with the
/// budgets of [`limits::authenticated_client`]) and a token.
async fn client_and_token(
    s: &AppState,
    ep: Endpoint,
    peer: SocketAddr,
    headers: &HeaderMap,
    body: Body,
) -> Result<Result<(std::sync::Arc<Client>, String), Response>, OAuthJson> {
    let ip = limits::client_ip(s, peer, headers);
    let f: TokenForm = oauth_form(headers, body).await?;
    let basic = basic_auth(headers)?;
    let client = match limits::authenticated_client(
        s,
        ep,
        ip,
        basic,
        f.client_id.as_deref(),
        f.client_secret.as_deref(),
    )
    .await
    {
        Ok(c) => c,
        Err(refused) => return Ok(Err(refused)),
    };
    let token = f
        .token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    Ok(Ok((client, token)))
}

async fn introspect(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, OAuthJson> {
    let (client, token) =
        match client_and_token(&s, Endpoint::Introspect, peer, &headers, body).await? {
            Ok(v) => v,
            Err(refused) => return Ok(refused),
        };
    // Introspection reveals claims: public clients cannot authenticate, so they may not use it.
    if client.public {
        return Err(OAuthError::invalid_client().into());
    }
    let r = s.provider.introspect(&client, &token).await?;
    Ok(no_store(axum::Json(r).into_response()))
}

async fn revoke(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, OAuthJson> {
    let (client, token) = match client_and_token(&s, Endpoint::Revoke, peer, &headers, body).await?
    {
        Ok(v) => v,
        Err(refused) => return Ok(refused),
    };
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
