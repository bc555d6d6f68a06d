//! What each fuzz target does with its input, shared by the targets (fuzz/fuzz_targets, run by
//! scripts/fuzz.sh) and the replay test (tests/it/fuzz_replay.rs), which runs every saved
//! input and finding through the same code on stable Rust in the test command. Each must
//! answer every input with Ok or Err: never panic, never hang.

// Each fuzz target compiles all of this and calls one function.
#![allow(dead_code)]

use std::sync::OnceLock;

use gantry::config::Config;
use gantry::keys::{Algorithm, SigningKey};
use gantry::oauth::client::{Client, Clients};

/// The SAML response seeds are signed by this IdP certificate's key.
const IDP_CERT: &[u8] = include_bytes!("corpus-key/idp.crt");
/// The JWT seeds are signed by this ES256 key (PKCS#8 DER).
const JWT_KEY: &[u8] = include_bytes!("corpus-key/jwt-es256.der");
pub const ISSUER: &str = "http://127.0.0.1:5556/dex";

struct Fixture {
    client: Client,
    clients: Clients,
    key: SigningKey,
}

fn fixture() -> Option<&'static Fixture> {
    static F: OnceLock<Option<Fixture>> = OnceLock::new();
    F.get_or_init(|| {
        let cfg = Config::parse(&format!(
            "issuer: {ISSUER}\nstorage:\n  type: memory\nstaticClients:\n  - id: rp\n    secret: s\n    \
             redirectURIs: [\"http://127.0.0.1:5555/callback\", \"https://app.example/cb\"]\n  \
             - id: peer\n    secret: p\n    trustedPeers: [rp]\n    redirectURIs: [\"https://peer.example/cb\"]\n"
        ))
        .ok()?;
        let all: Vec<Client> = cfg.static_clients.iter().map(Client::from_config).collect();
        Some(Fixture {
            client: all.first()?.clone(),
            clients: Clients::new(all),
            key: SigningKey::from_pkcs8(Algorithm::ES256, JWT_KEY).ok()?,
        })
    })
    .as_ref()
}

/// A SAML response as the callback receives it (up to 256 KiB: scripts/fuzz.sh lets inputs
/// grow that far), checked against the harness's IdP key.
pub fn saml_response(data: &[u8]) {
    use gantry::connector::saml::dsig::IdpKey;
    use gantry::connector::saml::response::{Expect, verify};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The pass before the parser counts and must not judge: it calls nothing malformed that the
    // parser takes. (Small inputs only: the parser alone is what that pass protects from large.)
    if text.len() <= 16 * 1024
        && matches!(
            gantry::connector::saml::xml::parse(text),
            Err(gantry::connector::saml::xml::XmlError::Malformed(_))
        )
    {
        let opts = roxmltree::ParsingOptions {
            allow_dtd: false,
            ..roxmltree::ParsingOptions::default()
        };
        assert!(
            roxmltree::Document::parse_with_options(text, opts).is_err(),
            "refused as malformed, but the parser takes it"
        );
    }
    let Ok(keys) = IdpKey::from_pem(IDP_CERT) else {
        return;
    };
    let expect = Expect {
        audience: "http://127.0.0.1:5556/dex/callback",
        acs: "http://127.0.0.1:5556/dex/callback",
        issuer: Some("http://idp.test/metadata"),
        in_response_to: "_req_42",
        // Inside the seed responses' validity window, so whole verifications succeed too.
        now: 1_795_990_000,
        skew: 10 * 365 * 86_400,
        allow_sha1: false,
    };
    let _ = verify(text, &keys, &expect);
}

/// `/auth`'s query: its parsing rules, then every check that needs no database (redirect URI
/// matching, scopes and cross-client audiences, PKCE).
pub fn authorize_request(data: &[u8]) {
    use gantry::oauth::authorize::AuthorizeParams;
    let (Ok(text), Some(f)) = (std::str::from_utf8(data), fixture()) else {
        return;
    };
    let Ok(p) = gantry::http::extract::page_query::<AuthorizeParams>(Some(text)) else {
        return;
    };
    if let Some(uri) = &p.redirect_uri {
        let _ = f.client.redirect_allowed(uri);
    }
    if let Some(scope) = &p.scope {
        let _ = gantry::oauth::scope::Scopes::parse(scope, &f.client, &f.clients);
    }
    if let Some(challenge) = &p.code_challenge {
        let method = p.code_challenge_method.as_deref().unwrap_or("plain");
        let _ = gantry::oauth::pkce::method_supported(method);
        let _ = gantry::oauth::pkce::verify(challenge, method, p.state.as_deref().unwrap_or(""));
    }
}

/// A `/token` body: the form rules, then Basic credentials built from its fields the way a
/// client's header carries them.
pub fn token_form(data: &[u8]) {
    use gantry::oauth::grants::TokenParams;
    let Ok(p) = gantry::http::extract::parse_form::<TokenParams>(data) else {
        return;
    };
    if let Some(user) = &p.username {
        let mut h = axum::http::HeaderMap::new();
        if let Ok(v) = axum::http::HeaderValue::from_str(&format!("Basic {user}")) {
            h.insert(axum::http::header::AUTHORIZATION, v);
            let _ = gantry::http::extract::basic_auth(&h);
        }
    }
    if let Some(scope) = &p.scope {
        let _ = gantry::oauth::scope::Scopes::stored(scope);
    }
}

/// A JWT presented to Gantry (a bearer at userinfo, introspection, a registry identity token):
/// its header, then verification as the access-token path does it.
pub fn jwt(data: &[u8]) {
    let (Ok(text), Some(f)) = (std::str::from_utf8(data), fixture()) else {
        return;
    };
    let _ = jsonwebtoken::decode_header(text);
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    v.set_issuer(&[ISSUER]);
    v.validate_aud = false;
    v.validate_exp = false;
    v.leeway = 0;
    v.set_required_spec_claims(&["iss", "sub"]);
    let _ = f.key.verify::<serde_json::Value>(text, &v);
}

/// The registry's `scope` parameters, space-separated and one per line.
pub fn registry_scope(data: &[u8]) {
    use gantry::registry::scope::ResourceScope;
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = ResourceScope::parse_all(text.lines());
}

/// The config file: parsing, `$VAR` expansion, validation and the derived settings.
pub fn config_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cfg) = Config::parse(text)
        && gantry::app::check(&cfg).is_ok()
    {
        let _ = cfg.expiry();
        let _ = gantry::app::compiled_policy(&cfg);
    }
}
