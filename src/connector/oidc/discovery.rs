//! What a provider's discovery document (plus the config's overrides) says: its endpoints,
//! keys and signing algorithms.
//!
//! Read by Gantry rather than as `openidconnect`'s `ProviderMetadata`: that type requires
//! `response_types_supported` and `subject_types_supported` (Dex, and Gantry before, do not),
//! accepts only the exact issuer (no `issuerAlias`), and fetches the JWKS at once (Gantry
//! fetches it when a token first needs it). Never accepts a document of another issuer, or
//! one that sends Gantry over plain http to a host that is not loopback for what vouches
//! for an identity.

use serde::Deserialize;

use super::config::OidcConfig;
use super::verify::Jwks;
use crate::connector::ConnectorError;
use crate::connector::plain_http;
use crate::connector::token_endpoint::TokenEndpoint;
use crate::keys::remote;

/// What discovery (plus overrides) says about the provider.
#[derive(Debug)]
pub struct Provider {
    pub issuer: String,
    pub endpoint: TokenEndpoint,
    pub userinfo_endpoint: Option<String>,
    /// RFC 7662, where the provider offers it: how an opaque access token is proved ours.
    pub introspection_endpoint: Option<String>,
    pub jwks: Jwks,
    pub algorithms: Vec<openidconnect::core::CoreJwsSigningAlgorithm>,
    pub s256: bool,
    /// RFC 9207: the provider puts `iss` on every authorization response.
    pub iss_parameter: bool,
}

#[derive(Debug, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    jwks_uri: Option<String>,
    userinfo_endpoint: Option<String>,
    introspection_endpoint: Option<String>,
    #[serde(default)]
    id_token_signing_alg_values_supported: Vec<String>,
    #[serde(default)]
    code_challenge_methods_supported: Vec<String>,
    #[serde(default)]
    token_endpoint_auth_methods_supported: Vec<String>,
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
}

/// Where `cfg`'s provider publishes its discovery document.
pub fn url(cfg: &OidcConfig) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        cfg.issuer.trim_end_matches('/')
    )
}

/// The provider a discovery document (from `url`) describes, if it is this issuer's and
/// usable.
pub fn provider(
    cfg: &OidcConfig,
    url: &str,
    doc: serde_json::Value,
) -> Result<Provider, ConnectorError> {
    let d: Discovery = serde_json::from_value(doc)
        .map_err(|e| ConnectorError::Unavailable(format!("{url}: {e}")))?;
    // OIDC Discovery 4.3: the document must be for the issuer asked for.
    if !cfg.issuers().iter().any(|i| i == &d.issuer) {
        return Err(ConnectorError::Unavailable(format!(
            "{url} is for issuer `{}`, not `{}` (set issuerAlias if that is expected)",
            d.issuer, cfg.issuer
        )));
    }
    let o = &cfg.provider_discovery_overrides;
    let need = |v: Option<String>, what: &str| {
        v.filter(|s| !s.is_empty())
            .ok_or_else(|| ConnectorError::Unavailable(format!("{url} has no {what}")))
    };
    let post_auth = match cfg.basic_auth_unsupported {
        Some(b) => b,
        None => {
            let m = &d.token_endpoint_auth_methods_supported;
            !m.is_empty()
                && !m.iter().any(|x| x == "client_secret_basic")
                && m.iter().any(|x| x == "client_secret_post")
        }
    };
    // A discovery document may name other hosts; they must be as safe to fetch from as the
    // issuer: keys, tokens and claims come from there.
    // (An override replaces the document's value and was checked with the config.)
    for (what, u, overridden) in [
        // The browser goes there with the state and nonce: a login page over plain http can
        // be replaced by anyone on the user's network.
        (
            "authorization_endpoint",
            &d.authorization_endpoint,
            o.auth_url.is_some(),
        ),
        ("jwks_uri", &d.jwks_uri, o.jwks_url.is_some()),
        ("token_endpoint", &d.token_endpoint, o.token_url.is_some()),
        ("userinfo_endpoint", &d.userinfo_endpoint, false),
        ("introspection_endpoint", &d.introspection_endpoint, false),
    ] {
        if let Some(u) = u.as_deref().filter(|u| !u.is_empty() && !overridden) {
            plain_http::check(&format!("{url}: {what}"), u, cfg.insecure_allow_http)
                .map_err(|e| ConnectorError::Unavailable(e.to_string()))?;
        }
    }
    let algorithms = remote::algorithms(&d.id_token_signing_alg_values_supported);
    if algorithms.is_empty() {
        return Err(ConnectorError::Unavailable(format!(
            "{url}: the provider signs ID tokens only with algorithms Gantry refuses"
        )));
    }
    let endpoint = TokenEndpoint::new(
        &need(
            o.auth_url.clone().or(d.authorization_endpoint),
            "authorization_endpoint",
        )?,
        &need(o.token_url.clone().or(d.token_endpoint), "token_endpoint")?,
        &cfg.client_id,
        &cfg.client_secret,
        &cfg.redirect_uri,
        post_auth,
    )
    .map_err(|e| ConnectorError::Unavailable(format!("{url}: {e}")))?;
    Ok(Provider {
        issuer: d.issuer,
        endpoint,
        userinfo_endpoint: d.userinfo_endpoint,
        introspection_endpoint: d.introspection_endpoint,
        jwks: Jwks::new(need(o.jwks_url.clone().or(d.jwks_uri), "jwks_uri")?),
        algorithms,
        s256: d
            .code_challenge_methods_supported
            .iter()
            .any(|m| m == "S256"),
        iss_parameter: d.authorization_response_iss_parameter_supported,
    })
}

/// Whether `doc` is an OpenID discovery document at all: an issuer, and an authorization
/// endpoint or the response types (OpenID Connect Discovery 3 requires all three; a provider
/// Gantry can log in through has at least the first two). Test must not tell any other JSON
/// from no answer.
pub fn is_discovery(doc: &serde_json::Value) -> bool {
    doc.get("issuer").is_some_and(|i| i.is_string())
        && (doc
            .get("authorization_endpoint")
            .is_some_and(|a| a.is_string())
            || doc
                .get("response_types_supported")
                .is_some_and(|r| r.is_array()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_a_discovery_document_counts_as_one() {
        assert!(is_discovery(&json!({"issuer": "https://id.example.com",
            "authorization_endpoint": "https://id.example.com/auth"})));
        assert!(is_discovery(
            &json!({"issuer": "x", "response_types_supported": ["code"]})
        ));
        for other in [
            json!({"issuer": "https://id.example.com"}),
            json!({"issuer": 1, "authorization_endpoint": "x"}),
            json!({"error": "x", "keys": []}),
            json!(["issuer"]),
        ] {
            assert!(!is_discovery(&other), "{other}");
        }
    }

    fn cfg(extra: serde_json::Value) -> OidcConfig {
        let mut c = json!({"issuer": "https://id.example.com", "clientID": "g",
                           "redirectURI": "https://g.example.com/callback"});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        OidcConfig::from_value(&c).unwrap()
    }

    fn doc(extra: serde_json::Value) -> serde_json::Value {
        let mut d = json!({"issuer": "https://id.example.com",
            "authorization_endpoint": "https://id.example.com/auth",
            "token_endpoint": "https://id.example.com/token",
            "jwks_uri": "https://id.example.com/keys"});
        for (k, v) in extra.as_object().unwrap() {
            d[k] = v.clone();
        }
        d
    }

    #[test]
    fn a_document_of_another_issuer_or_with_refused_algorithms_is_unusable() {
        let c = cfg(json!({}));
        let p = provider(&c, "u", doc(json!({}))).unwrap();
        assert_eq!(
            p.algorithms,
            [openidconnect::core::CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256]
        );
        let e = provider(&c, "u", doc(json!({"issuer": "https://evil"}))).unwrap_err();
        assert!(e.to_string().contains("issuerAlias"), "{e}");
        let aliased = cfg(json!({"issuerAlias": "https://alias"}));
        provider(&aliased, "u", doc(json!({"issuer": "https://alias"}))).unwrap();
        let e = provider(
            &c,
            "u",
            doc(json!({"id_token_signing_alg_values_supported": ["HS256", "none"]})),
        )
        .unwrap_err();
        assert!(e.to_string().contains("algorithms Gantry refuses"), "{e}");
        let e = provider(
            &c,
            "u",
            doc(json!({"token_endpoint": "http://t.example.com"})),
        )
        .unwrap_err();
        assert!(e.to_string().contains("token_endpoint"), "{e}");
        for login_page in ["http://login.example.com/auth", "javascript:alert(1)//"] {
            let e =
                provider(&c, "u", doc(json!({"authorization_endpoint": login_page}))).unwrap_err();
            assert!(e.to_string().contains("authorization_endpoint"), "{e}");
        }
        let local = doc(json!({"authorization_endpoint": "http://127.0.0.1:9/auth"}));
        provider(&c, "u", local).unwrap();
        let flagged = cfg(json!({"insecureAllowHTTP": true}));
        let plain = doc(json!({"authorization_endpoint": "http://login.example.com/auth"}));
        provider(&flagged, "u", plain).unwrap();
    }
}
