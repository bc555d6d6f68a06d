//! CSRF protection for every browser form: a random cookie, and a form token that is the
//! HMAC of the request id under that cookie. A cross-site page can neither read the cookie nor
//! compute the token.

use axum::http::{HeaderMap, HeaderValue, header};

use crate::http::WebSettings;
use crate::http::cookies::{self, SameSite};
use crate::secret;

const COOKIE: &str = "gantry_csrf";

/// The browser's CSRF cookie value, and a `Set-Cookie` header when it had none.
pub fn ensure(headers: &HeaderMap, web: &WebSettings) -> (String, Option<HeaderValue>) {
    if let Some(v) = cookie_value(headers) {
        return (v, None);
    }
    let v = secret::random_token(32);
    let set = cookies::set(web, COOKIE, &v, &web.base_path, SameSite::Lax, None);
    (v, set)
}

/// The browser's CSRF cookie, if it has one: also the secret that binds a login to the browser.
pub fn cookie_value(headers: &HeaderMap) -> Option<String> {
    cookies::get(headers, COOKIE).filter(|v| v.len() == 43)
}

/// The token a form for `request_id` carries.
pub fn token(cookie_value: &str, request_id: &str) -> String {
    secret::hmac_b64(cookie_value.as_bytes(), request_id.as_bytes())
}

/// Whether a posted form's token matches this browser's cookie.
pub fn check(headers: &HeaderMap, request_id: &str, presented: &str) -> bool {
    match cookie_value(headers) {
        Some(c) if !presented.is_empty() => secret::ct_eq(&token(&c, request_id), presented),
        _ => false,
    }
}

/// Attach a Set-Cookie header if one was made.
pub fn attach(resp: &mut axum::response::Response, set: Option<HeaderValue>) {
    if let Some(v) = set {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}
