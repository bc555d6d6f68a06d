//! Request parsing with the protocol's own error shape: bodies are capped, and a malformed or
//! oversized form becomes an OAuth JSON error or an HTML page, never axum's plain-text rejection.

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use base64::Engine;
use serde::de::DeserializeOwned;

use crate::http::error::{OAuthJson, PageError};
use crate::oauth::error::OAuthError;
use crate::oauth::grants::ClientAuth;

/// Largest form body any endpoint accepts.
pub const MAX_FORM: usize = 64 * 1024;

/// The largest SAML POST: base64 of the largest response the SAML connector reads, and room.
pub const MAX_SAML_FORM: usize = 384 * 1024;

async fn read_form<T: DeserializeOwned>(headers: &HeaderMap, body: Body) -> Result<T, String> {
    read_form_limited(headers, body, MAX_FORM).await
}

async fn read_form_limited<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<T, String> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !ct
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return Err("the body must be application/x-www-form-urlencoded".into());
    }
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| format!("the body is larger than {limit} bytes"))?;
    parse_form(&bytes)
}

/// A form body already read: no parameter twice, then the fields `T` names.
pub fn parse_form<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    reject_repeats(bytes)?;
    serde_urlencoded::from_bytes(bytes).map_err(|e| format!("malformed form: {e}"))
}

/// RFC 6749 3.1: parameters must not be included more than once.
fn reject_repeats(bytes: &[u8]) -> Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    for (k, _) in form_urlencoded::parse(bytes) {
        if !seen.insert(k.clone()) {
            return Err(format!("parameter {k} is repeated"));
        }
    }
    Ok(())
}

/// A form for an OAuth endpoint.
pub async fn oauth_form<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
) -> Result<T, OAuthJson> {
    read_form(headers, body)
        .await
        .map_err(|m| OAuthJson(OAuthError::invalid_request(m)))
}

/// A form posted by a browser.
/// A SAML HTTP-POST binding form, with its larger limit, errors as an HTML page.
pub async fn saml_form<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
) -> Result<T, PageError> {
    read_form_limited(headers, body, MAX_SAML_FORM)
        .await
        .map_err(|m| PageError::new(StatusCode::BAD_REQUEST, m))
}

pub async fn page_form<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
) -> Result<T, PageError> {
    read_form(headers, body)
        .await
        .map_err(|m| PageError::new(StatusCode::BAD_REQUEST, m))
}

/// Query parameters of a browser request, with the same rules.
pub fn page_query<T: DeserializeOwned>(query: Option<&str>) -> Result<T, PageError> {
    let q = query.unwrap_or_default();
    if q.len() > MAX_FORM {
        return Err(PageError::new(
            StatusCode::BAD_REQUEST,
            "the request is too long",
        ));
    }
    reject_repeats(q.as_bytes()).map_err(|m| PageError::new(StatusCode::BAD_REQUEST, m))?;
    serde_urlencoded::from_str(q)
        .map_err(|e| PageError::new(StatusCode::BAD_REQUEST, format!("malformed request: {e}")))
}

/// HTTP Basic client credentials (RFC 6749 2.3.1: both halves form-urlencoded).
pub fn basic_auth(headers: &HeaderMap) -> Result<Option<ClientAuth>, OAuthJson> {
    let Some(v) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || OAuthJson(OAuthError::invalid_client());
    let v = v.to_str().map_err(|_| bad())?;
    let Some(b64) = v
        .strip_prefix("Basic ")
        .or_else(|| v.strip_prefix("basic "))
    else {
        return Err(bad());
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let (id, secret) = raw.split_once(':').ok_or_else(bad)?;
    let dec = |s: &str| {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Ok(Some(ClientAuth {
        id: dec(id),
        secret: dec(secret),
    }))
}

/// A bearer token from the Authorization header.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let t = v
        .strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))?
        .trim();
    (!t.is_empty()).then_some(t)
}

/// One cookie's value from the Cookie headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}
