//! Request parsing with the protocol's own error shape: bodies are capped, and a malformed or
//! oversized form becomes an OAuth JSON error or an HTML page, never axum's plain-text rejection.

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use headers::authorization::Basic;
use headers::{Authorization, HeaderMapExt};
use serde::de::DeserializeOwned;

use crate::http::error::{OAuthJson, PageError};
use crate::oauth::error::OAuthError;
use crate::oauth::grants::ClientAuth;

/// Largest form body any endpoint accepts.
pub const MAX_FORM: usize = 64 * 1024;

/// The largest SAML POST: base64 of the largest response the SAML connector reads, and room.
pub const MAX_SAML_FORM: usize = 384 * 1024;

/// Why a form body or query was refused; the text is what the client is told.
#[derive(Debug, thiserror::Error)]
pub enum FormError {
    #[error("the body must be application/x-www-form-urlencoded")]
    ContentType,
    #[error("the body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("parameter {0} is repeated")]
    Repeated(String),
    #[error("malformed form: {0}")]
    Malformed(serde_urlencoded::de::Error),
}

async fn read_form<T: DeserializeOwned>(headers: &HeaderMap, body: Body) -> Result<T, FormError> {
    read_form_limited(headers, body, MAX_FORM).await
}

async fn read_form_limited<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<T, FormError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !ct
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return Err(FormError::ContentType);
    }
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| FormError::TooLarge(limit))?;
    parse_form(&bytes)
}

/// A form body already read: no parameter twice, then the fields `T` names.
pub fn parse_form<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, FormError> {
    reject_repeats(bytes)?;
    serde_urlencoded::from_bytes(bytes).map_err(FormError::Malformed)
}

/// RFC 6749 3.1: parameters must not be included more than once.
fn reject_repeats(bytes: &[u8]) -> Result<(), FormError> {
    let mut seen = std::collections::HashSet::new();
    for (k, _) in form_urlencoded::parse(bytes) {
        if !seen.insert(k.clone()) {
            return Err(FormError::Repeated(k.into_owned()));
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
        .map_err(|e| OAuthJson(OAuthError::invalid_request(e.to_string())))
}

/// A form posted by a browser.
/// A SAML HTTP-POST binding form, with its larger limit, errors as an HTML page.
pub async fn saml_form<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
) -> Result<T, PageError> {
    read_form_limited(headers, body, MAX_SAML_FORM)
        .await
        .map_err(|e| PageError::new(StatusCode::BAD_REQUEST, e.to_string()))
}

pub async fn page_form<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
) -> Result<T, PageError> {
    read_form(headers, body)
        .await
        .map_err(|e| PageError::new(StatusCode::BAD_REQUEST, e.to_string()))
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
    reject_repeats(q.as_bytes())
        .map_err(|e| PageError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    serde_urlencoded::from_str(q)
        .map_err(|e| PageError::new(StatusCode::BAD_REQUEST, format!("malformed request: {e}")))
}

/// An Authorization header that is not readable Basic credentials.
#[derive(Debug)]
pub struct MalformedBasic;

/// Basic credentials as RFC 7617 has them (user and password as sent), or `Err` when the
/// Authorization header is there but is not readable Basic: another scheme, not base64, not
/// UTF-8, or no colon. The scheme's name is case-insensitive (RFC 9110 11.1).
pub fn basic(headers: &HeaderMap) -> Result<Option<Basic>, MalformedBasic> {
    let Some(v) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let b = v.as_bytes();
    if !b
        .get(..6)
        .is_some_and(|s| s.eq_ignore_ascii_case(b"basic "))
    {
        return Err(MalformedBasic);
    }
    match headers.typed_try_get::<Authorization<Basic>>() {
        Ok(Some(Authorization(basic))) => Ok(Some(basic)),
        _ => Err(MalformedBasic),
    }
}

/// HTTP Basic client credentials (RFC 6749 2.3.1: both halves form-urlencoded).
pub fn basic_auth(headers: &HeaderMap) -> Result<Option<ClientAuth>, OAuthJson> {
    let Some(b) = basic(headers).map_err(|_| OAuthJson(OAuthError::invalid_client()))? else {
        return Ok(None);
    };
    let (id, secret) = (b.username(), b.password());
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use base64::Engine;

    fn auth(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        h
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn oauth_basic_form_decodes_both_halves() {
        let h = auth(&format!("Basic {}", b64("my%3Aapp:p%2Bw+d")));
        let c = basic_auth(&h).unwrap().unwrap();
        assert_eq!(c.id.as_deref(), Some("my:app"));
        assert_eq!(c.secret.as_deref(), Some("p+w d"));
    }

    #[test]
    fn plain_basic_is_taken_as_sent_in_any_case_of_the_scheme() {
        for scheme in ["BASIC", "bAsIc"] {
            let h = auth(&format!("{scheme} {}", b64("app:pw")));
            assert_eq!(basic_auth(&h).unwrap().unwrap().id.as_deref(), Some("app"));
        }
        let h = auth(&format!("basic {}", b64("al%41ce:pa:ss+")));
        let b = basic(&h).unwrap().unwrap();
        assert_eq!((b.username(), b.password()), ("al%41ce", "pa:ss+"));
    }

    #[test]
    fn malformed_basic_is_refused_and_absent_is_none() {
        assert!(basic(&HeaderMap::new()).unwrap().is_none());
        for bad in [
            format!("Basically {}", b64("a:b")),
            format!("Bearer {}", b64("a:b")),
            "Basic !!!".to_string(),
            format!("Basic {}", b64("no-colon")),
            "Basic ".to_string(),
        ] {
            assert!(basic(&auth(&bad)).is_err(), "{bad}");
            let e = basic_auth(&auth(&bad)).unwrap_err();
            assert_eq!(e.0.code, crate::oauth::error::ErrorCode::InvalidClient);
        }
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_bytes(b"Basic \xff\xfe").unwrap(),
        );
        assert!(basic(&h).is_err());
    }
}
