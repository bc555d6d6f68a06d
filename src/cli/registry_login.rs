//! `gantry registry login HOST`: log in through the browser (code flow with PKCE on a loopback
//! redirect) and keep a registry identity token for HOST, which the credential helper hands to
//! docker and skopeo. This is how users without a password (SSO) push.

use std::time::Duration;

use super::credentials::{self, Entry};
use crate::secret;

/// `realm` and `service` from the registry's `WWW-Authenticate: Bearer ...` challenge.
fn challenge(h: &str) -> Option<(String, String)> {
    let rest = h.strip_prefix("Bearer ")?;
    let mut realm = None;
    let mut service = None;
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        let v = v.trim_matches('"').to_string();
        match k {
            "realm" => realm = Some(v),
            "service" => service = Some(v),
            _ => {}
        }
    }
    Some((realm?, service?))
}

async fn discover_registry(http: &reqwest::Client, host: &str) -> Result<(String, String), String> {
    let mut last = String::new();
    for scheme in ["https", "http"] {
        match http.get(format!("{scheme}://{host}/v2/")).send().await {
            Ok(r) => {
                let h = r
                    .headers()
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                return challenge(h).ok_or_else(|| {
                    format!(
                        "{host} does not ask for Bearer tokens (answered {})",
                        r.status()
                    )
                });
            }
            Err(e) => last = e.to_string(),
        }
    }
    Err(format!("{host}: {last}"))
}

async fn post_form(
    http: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
) -> Result<serde_json::Value, String> {
    http.post(url)
        .form(form)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())
}

pub async fn login(host: &str, client_id: &str, open_browser: bool) -> i32 {
    match run(host, client_id, open_browser).await {
        Ok(()) => {
            eprintln!(
                "Logged in to {host}. Use the credential helper: \"credHelpers\": {{\"{host}\": \"gantry\"}}"
            );
            0
        }
        Err(e) => {
            eprintln!("registry login: {e}");
            1
        }
    }
}

async fn run(host: &str, client_id: &str, open_browser: bool) -> Result<(), String> {
    let host = credentials::normalize(host);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())?;
    let (realm, service) = discover_registry(&http, &host).await?;
    let issuer = realm
        .strip_suffix("/registry/token")
        .ok_or_else(|| format!("the realm {realm} is not a Gantry token endpoint"))?
        .to_string();
    let disco: serde_json::Value = http
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let endpoint = |k: &str| {
        disco[k]
            .as_str()
            .map(String::from)
            .ok_or_else(|| format!("discovery has no {k}"))
    };
    let (auth, token) = (
        endpoint("authorization_endpoint")?,
        endpoint("token_endpoint")?,
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let redirect = format!("http://127.0.0.1:{port}/callback");
    let (state, verifier) = (secret::random_token(16), secret::random_token(32));
    let challenge = secret::b64(&secret::sha256(verifier.as_bytes()));
    let mut url = url::Url::parse(&auth).map_err(|e| e.to_string())?;
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", &redirect)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid profile email groups offline_access")
        .append_pair("state", &state)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");

    eprintln!("Open this URL in a browser to log in to {host}:\n\n  {url}\n");
    if open_browser {
        let _ = std::process::Command::new("xdg-open")
            .arg(url.as_str())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }
    let code = super::loopback::wait_for_code(listener, &state, Duration::from_secs(300)).await?;
    let tokens = post_form(
        &http,
        &token,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect),
            ("code_verifier", &verifier),
            ("client_id", client_id),
        ],
    )
    .await?;
    let refresh = tokens["refresh_token"]
        .as_str()
        .ok_or_else(|| format!("no refresh token ({})", error_fields(&tokens)))?;
    // Exchange the login's refresh token, once, for an identity token of the registry.
    let reg = post_form(
        &http,
        &realm,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("service", &service),
            ("client_id", "gantry"),
            ("access_type", "offline"),
        ],
    )
    .await?;
    let identity = reg["refresh_token"].as_str().ok_or_else(|| {
        format!(
            "the registry token service refused ({})",
            error_fields(&reg)
        )
    })?;
    let mut store = credentials::load();
    store.registries.insert(
        host.clone(),
        Entry {
            identity_token: identity.to_string(),
            realm,
            service,
        },
    );
    credentials::save(&store).map_err(|e| format!("{}: {e}", credentials::path().display()))
}

/// What a token answer says went wrong: its `error` and `error_description`, without control
/// characters, and never the rest: an answer that holds live tokens (an access token without
/// the refresh token asked for) must not end up in a CI log.
fn error_fields(answer: &serde_json::Value) -> String {
    let field = |k: &str| {
        answer[k].as_str().map(|v| {
            v.chars()
                .filter(|c| !c.is_control())
                .take(300)
                .collect::<String>()
        })
    };
    match (field("error"), field("error_description")) {
        (Some(e), Some(d)) => format!("{e}: {d}"),
        (Some(e), None) => e,
        _ => "the answer names no error".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_answer_is_reported_without_its_tokens() {
        let live = serde_json::json!({"access_token": "eyJhbGciOi.secret.sig", "id_token": "eyJ.x.y",
                                      "token_type": "Bearer"});
        let shown = error_fields(&live);
        assert!(
            !shown.contains("eyJ") && !shown.contains("secret"),
            "{shown}"
        );
        let refused =
            serde_json::json!({"error": "invalid_grant", "error_description": "bad\u{1b}[2Jcode"});
        assert_eq!(error_fields(&refused), "invalid_grant: bad[2Jcode");
    }

    #[test]
    fn bearer_challenges_parse() {
        let h = r#"Bearer realm="http://127.0.0.1:5556/dex/registry/token",service="registry.test",scope="registry:catalog:*""#;
        assert_eq!(
            challenge(h),
            Some((
                "http://127.0.0.1:5556/dex/registry/token".into(),
                "registry.test".into()
            ))
        );
        assert_eq!(challenge("Basic realm=x"), None);
    }
}
