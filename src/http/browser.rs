//! What a browser request tells the protocol about its browser (CSRF cookie, session cookie,
//! address, user agent), and the session cookie an answer sets.

use std::net::IpAddr;

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;

use crate::http::cookies::{self, SameSite};
use crate::http::{AppState, csrf};
use crate::oauth::session::{Browser, CookieChange, decode_cookie};

/// The browser behind `headers`, and the CSRF cookie to set when it had none (the caller
/// attaches it with [`csrf::attach`]).
pub fn of(s: &AppState, headers: &HeaderMap, ip: Option<IpAddr>) -> (Browser, Option<HeaderValue>) {
    let (csrf, set) = csrf::ensure(headers, &s.web);
    (with_csrf(s, headers, ip, csrf), set)
}

/// The browser behind `headers` as it is: no CSRF cookie is made for it.
pub fn as_is(s: &AppState, headers: &HeaderMap, ip: Option<IpAddr>) -> Browser {
    with_csrf(
        s,
        headers,
        ip,
        csrf::cookie_value(headers).unwrap_or_default(),
    )
}

fn with_csrf(s: &AppState, headers: &HeaderMap, ip: Option<IpAddr>, csrf: String) -> Browser {
    let sessions = &s.provider.sessions;
    let session = cookies::get(headers, &sessions.cookie_name)
        .and_then(|v| decode_cookie(&v, sessions.cookie_encryption_key.as_deref()));
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    Browser {
        csrf,
        session,
        address: ip,
        user_agent,
    }
}

/// Set or clear the session cookie on `resp`. `SameSite=Lax`: it must come along on the
/// top-level navigation from an application to `/auth`, which is all it is for.
pub fn set_session(s: &AppState, resp: &mut Response, change: Option<CookieChange>) {
    let name = &s.provider.sessions.cookie_name;
    let v = match change {
        None => return,
        Some(CookieChange::Set { value, max_age }) => cookies::set(
            &s.web,
            name,
            &value,
            &s.web.base_path,
            SameSite::Lax,
            max_age,
        ),
        Some(CookieChange::Clear) => {
            cookies::set(&s.web, name, "", &s.web.base_path, SameSite::Lax, Some(0))
        }
    };
    if let Some(v) = v {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}
