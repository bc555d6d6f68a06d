//! The issuer a CLI login trusts, and its discovery document checked against it (the mix-up
//! defence of RFC 9207 section 2.4 for a client without the `iss` response parameter). Shared
//! by `gantry kubectl credential` and `gantry registry login`.
//!
//! A discovery document is believed only when its `issuer` is exactly the issuer the user
//! trusts and every endpoint the CLI uses lives on that issuer's origin: otherwise a document
//! could send the browser to the real login page and the code with its PKCE verifier to
//! someone else's token endpoint. Plain http is allowed only for issuers on this machine.

use super::terminal::printable;

/// The endpoints of a checked discovery document, each on the issuer's origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    pub authorization: String,
    pub token: String,
    pub jwks: String,
    pub device: Option<String>,
}

/// Whether `u` names this machine: 127.0.0.0/8, ::1 or `localhost`; the same rule as the
/// server's for plain-http signing material.
pub use crate::connector::plain_http::names_this_machine as loopback;

/// `issuer` as a URL a login may trust: https, or http on a loopback host; no query, no
/// fragment (OpenID Connect Discovery section 3).
pub fn check_issuer(issuer: &str) -> Result<url::Url, String> {
    let u = url::Url::parse(issuer)
        .map_err(|e| format!("the issuer {} is not a URL ({e})", printable(issuer)))?;
    let scheme_ok = match u.scheme() {
        "https" => true,
        "http" => loopback(&u),
        _ => false,
    };
    if !scheme_ok {
        return Err(format!(
            "the issuer {} must use https (plain http only on this machine)",
            printable(issuer)
        ));
    }
    if u.query().is_some() || u.fragment().is_some() || !u.username().is_empty() {
        return Err(format!(
            "the issuer {} may not carry a query, a fragment or credentials",
            printable(issuer)
        ));
    }
    Ok(u)
}

/// Fetch `issuer`'s discovery document and check it (see [`check`]).
pub async fn discover(http: &reqwest::Client, issuer: &str) -> Result<Endpoints, String> {
    check_issuer(issuer)?;
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let r = http
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("issuer unreachable ({url}): {}", error_chain(&e)))?;
    if !r.status().is_success() {
        return Err(format!("discovery ({url}) answered {}", r.status()));
    }
    let doc: serde_json::Value = r.json().await.map_err(|e| format!("discovery: {e}"))?;
    check(&doc, issuer)
}

/// The endpoints of discovery document `doc`, if it names `issuer` exactly and puts every
/// endpoint the CLI uses on the issuer's origin.
pub fn check(doc: &serde_json::Value, issuer: &str) -> Result<Endpoints, String> {
    let trusted = check_issuer(issuer)?;
    if doc["issuer"].as_str() != Some(issuer) {
        return Err(format!(
            "discovery names the issuer {}, not {}: refusing to log in",
            printable(&doc["issuer"].to_string()),
            printable(issuer)
        ));
    }
    let origin = trusted.origin();
    let endpoint = |k: &str| -> Result<Option<String>, String> {
        let Some(v) = doc[k].as_str() else {
            return Ok(None);
        };
        let on_origin = url::Url::parse(v).is_ok_and(|u| u.origin() == origin);
        if !on_origin {
            return Err(format!(
                "discovery puts {k} at {}, outside the issuer's origin {}: refusing to log in",
                printable(v),
                origin.ascii_serialization()
            ));
        }
        Ok(Some(v.to_string()))
    };
    let required = |k: &str| endpoint(k)?.ok_or_else(|| format!("discovery has no {k}"));
    Ok(Endpoints {
        authorization: required("authorization_endpoint")?,
        token: required("token_endpoint")?,
        jwks: required("jwks_uri")?,
        device: endpoint("device_authorization_endpoint")?,
    })
}

/// An error with its causes, which say what actually failed (refused, TLS, DNS).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cur = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ISS: &str = "https://id.example.com/dex";

    fn doc() -> serde_json::Value {
        json!({
            "issuer": ISS,
            "authorization_endpoint": "https://id.example.com/dex/auth",
            "token_endpoint": "https://id.example.com/dex/token",
            "jwks_uri": "https://id.example.com/dex/keys",
            "device_authorization_endpoint": "https://id.example.com/dex/device/code",
        })
    }

    #[test]
    fn a_document_of_the_trusted_issuer_passes() {
        let e = check(&doc(), ISS).unwrap();
        assert_eq!(e.token, "https://id.example.com/dex/token");
        assert_eq!(
            e.device.as_deref(),
            Some("https://id.example.com/dex/device/code")
        );
        // The default port is the same origin.
        let mut d = doc();
        d["token_endpoint"] = "https://id.example.com:443/dex/token".into();
        assert!(check(&d, ISS).is_ok());
    }

    #[test]
    fn another_issuer_or_an_endpoint_elsewhere_is_refused() {
        let mut d = doc();
        d["issuer"] = "https://evil.example".into();
        assert!(check(&d, ISS).unwrap_err().contains("names the issuer"));
        for (k, v) in [
            ("token_endpoint", "https://evil.example/token"),
            ("token_endpoint", "http://id.example.com/dex/token"),
            ("token_endpoint", "https://id.example.com:8443/dex/token"),
            (
                "authorization_endpoint",
                "https://id.example.com.evil.example/auth",
            ),
            ("jwks_uri", "https://evil.example/keys"),
            (
                "device_authorization_endpoint",
                "https://evil.example/device",
            ),
            ("token_endpoint", "not a url"),
        ] {
            let mut d = doc();
            d[k] = v.into();
            let e = check(&d, ISS).unwrap_err();
            assert!(
                e.contains(k) && e.contains("outside the issuer's origin"),
                "{e}"
            );
        }
        let mut d = doc();
        d.as_object_mut().unwrap().remove("token_endpoint");
        assert_eq!(
            check(&d, ISS).unwrap_err(),
            "discovery has no token_endpoint"
        );
    }

    #[test]
    fn plain_http_only_on_this_machine() {
        for ok in [
            "https://id.example.com/dex",
            "http://127.0.0.1:5556/dex",
            "http://127.9.0.1/dex",
            "http://[::1]:5556/dex",
            "http://localhost:5556/dex",
        ] {
            assert!(check_issuer(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://id.example.com/dex",
            "http://127.0.0.1.evil.example/dex",
            "http://[::ffff:10.0.0.1]/dex",
            "ftp://id.example.com/dex",
            "https://id.example.com/dex?x=1",
            "https://user@id.example.com/dex",
            "id.example.com",
        ] {
            assert!(check_issuer(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn what_a_hostile_document_says_is_printed_without_control_characters() {
        let mut d = doc();
        d["token_endpoint"] = "https://evil.example/\u{1b}]52;c;ZXZpbA==\u{7}".into();
        let e = check(&d, ISS).unwrap_err();
        assert!(!e.chars().any(char::is_control), "{e:?}");
    }
}
