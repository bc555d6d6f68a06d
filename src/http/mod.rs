//! HTTP: thin axum handlers that parse a request, call one protocol function, and map the
//! result to the protocol's own response shape. No OAuth semantics live here.

pub mod access;
pub mod admin;
pub mod authorize;
pub mod browser;
pub mod callback;
pub mod cookies;
pub mod csrf;
pub mod device;
pub mod discovery;
pub mod error;
pub mod extract;
pub mod frontend;
pub mod health;
pub mod limits;
pub mod listen;
pub mod logout;
pub mod mfa;
pub mod registry;
pub mod rejections;
pub mod request_ids;
#[cfg(test)]
mod responders_tests;
pub mod static_docs;
pub mod token;
pub mod views;

use std::sync::Arc;

use crate::oauth::Provider;

/// Shared by every handler.
#[derive(Debug, Clone)]
pub struct AppState {
    pub provider: Arc<Provider>,
    pub admin: Arc<crate::admin::AdminService>,
    pub registry: Arc<crate::registry::RegistryService>,
    pub web: Arc<WebSettings>,
}

/// What handlers need to know about where they are served.
#[derive(Debug, Clone)]
pub struct WebSettings {
    /// The issuer URL without a trailing slash; every endpoint URL starts with it.
    pub base_url: String,
    /// The issuer's path ("" at the root); cookies are scoped to it.
    pub base_path: String,
    /// Mark cookies `Secure` (the issuer is https).
    pub secure_cookies: bool,
    /// The name pages show (`frontend.issuer`).
    pub title: String,
    /// Dex's `frontend` settings in force, and the assets they serve.
    pub frontend: Arc<frontend::Frontend>,
    /// The discovery document, rendered at the first request: nothing in it changes while
    /// the process runs.
    pub discovery: std::sync::OnceLock<bytes::Bytes>,
    /// The Content-Security-Policy in force with `script-src 'self'` added: the policy of the
    /// one page that runs a script (the WebAuthn step, `static/webauthn.js`).
    pub script_csp: String,
}

/// The Content-Security-Policy of every response (unless `web.headers` sets another): no
/// script anywhere; the WebAuthn page adds its own (see [`with_own_scripts`]).
pub const DEFAULT_CSP: &str = "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' https: data:; font-src 'self'; form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'none'";

/// `csp` with this origin's scripts allowed: `script-src 'self'` added, or `'self'` added to
/// a `script-src` it has.
pub fn with_own_scripts(csp: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut had = false;
    for d in csp.split(';').map(str::trim).filter(|d| !d.is_empty()) {
        let mut words = d.split_whitespace();
        if words
            .next()
            .is_some_and(|n| n.eq_ignore_ascii_case("script-src"))
        {
            had = true;
            let rest: Vec<&str> = words.filter(|w| *w != "'none'").collect();
            if rest.contains(&"'self'") {
                out.push(d.to_string());
            } else {
                out.push(
                    format!("script-src 'self' {}", rest.join(" "))
                        .trim()
                        .to_string(),
                );
            }
        } else {
            out.push(d.to_string());
        }
    }
    if !had {
        out.push("script-src 'self'".into());
    }
    out.join("; ")
}

impl WebSettings {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }
    pub fn path(&self, path: &str) -> String {
        format!("{}{path}", self.base_path)
    }
}
