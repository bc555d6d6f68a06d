//! The cookies Gantry reads and sets, through the `cookie` crate (as axum-extra exposes it).
//! Every cookie Gantry sets is HttpOnly, scoped to a path under the issuer, and `Secure`
//! whenever the issuer is https; the SameSite value is each caller's choice.

use axum::http::{HeaderMap, HeaderValue, header};
use axum_extra::extract::cookie::Cookie;
pub use axum_extra::extract::cookie::SameSite;

use crate::http::WebSettings;

/// The value of cookie `name`, the first one the browser sent. RFC 6265 5.4 has the browser
/// list the cookie of the longest path first, so two cookies of one name (one set for a wider
/// path by a sibling host) resolve to the one set for this path. Values are taken as sent: no
/// percent-decoding, since every value Gantry sets is base64url.
pub fn get(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_string())
}

/// A `Set-Cookie` value: `name=value` for `path` ("/" when empty), HttpOnly, `same_site`,
/// kept `max_age` seconds (0 removes it) or for the browser session, Secure behind https.
pub fn set(
    web: &WebSettings,
    name: &str,
    value: &str,
    path: &str,
    same_site: SameSite,
    max_age: Option<i64>,
) -> Option<HeaderValue> {
    let path = if path.is_empty() { "/" } else { path };
    let mut c = Cookie::build((name.to_string(), value.to_string()))
        .path(path.to_string())
        .http_only(true)
        .same_site(same_site)
        .secure(web.secure_cookies);
    if let Some(a) = max_age {
        c = c.max_age(time::Duration::seconds(a));
    }
    HeaderValue::from_str(&c.build().to_string()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web(secure: bool) -> WebSettings {
        WebSettings {
            base_url: "https://id.example/dex".into(),
            base_path: "/dex".into(),
            secure_cookies: secure,
            title: "Gantry".into(),
            frontend: Default::default(),
            discovery: std::sync::OnceLock::new(),
            script_csp: String::new(),
        }
    }

    fn headers(cookies: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for c in cookies {
            h.append(header::COOKIE, HeaderValue::from_str(c).unwrap());
        }
        h
    }

    #[test]
    fn the_first_cookie_of_a_name_wins_across_headers() {
        let h = headers(&["a=1; gantry_admin=mine", "gantry_admin=tossed"]);
        assert_eq!(get(&h, "gantry_admin").as_deref(), Some("mine"));
        assert_eq!(get(&h, "a").as_deref(), Some("1"));
        assert_eq!(get(&h, "gantry"), None);
    }

    #[test]
    fn values_are_taken_as_sent_and_malformed_pairs_are_skipped() {
        let h = headers(&["junk; =x; gantry_csrf=a%41b; other"]);
        assert_eq!(get(&h, "gantry_csrf").as_deref(), Some("a%41b"));
    }

    #[test]
    fn set_cookie_carries_every_attribute() {
        let v = set(&web(true), "n", "v", "/dex/admin", SameSite::Lax, Some(600)).unwrap();
        assert_eq!(
            v.to_str().unwrap(),
            "n=v; HttpOnly; SameSite=Lax; Secure; Path=/dex/admin; Max-Age=600"
        );
        let v = set(&web(false), "n", "", "", SameSite::Strict, Some(0)).unwrap();
        assert_eq!(
            v.to_str().unwrap(),
            "n=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"
        );
        let v = set(&web(false), "n", "v", "/dex", SameSite::Lax, None).unwrap();
        assert_eq!(
            v.to_str().unwrap(),
            "n=v; HttpOnly; SameSite=Lax; Path=/dex"
        );
    }
}
