//! `gantry registry login HOST`: log in through the browser (code flow with PKCE on a loopback
//! redirect) and keep a registry identity token for HOST, which the credential helper hands to
//! docker and skopeo. This is how users without a password (SSO) push.
//!
//! The registry does not decide where the user logs in. Its challenge names a realm, and the
//! realm must be the token endpoint of the issuer the user trusts for HOST: the one given with
//! `--issuer`, or the one the user confirmed at the first login, pinned per host in the
//! credential store. That issuer's discovery document is checked by `issuer::check`, so the
//! code and the PKCE verifier go to the trusted issuer's own token endpoint and nowhere else.
//! The registry is asked over https; plain http only for a registry on this machine, never as
//! a fallback after https failed.

use std::io::IsTerminal;
use std::time::Duration;

use super::credentials::{self, Entry};
use super::issuer;
use super::terminal::{self, printable};
use crate::secret;

/// Where a Gantry issuer serves registry tokens.
const TOKEN_PATH: &str = "/registry/token";

pub struct Options {
    /// The registry, as host[:port], optionally with `https://` (or `http://` on loopback).
    pub host: String,
    /// The issuer the user trusts for this registry; else the pinned one, else ask.
    pub issuer: Option<String>,
    pub client_id: String,
    pub open_browser: bool,
}

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

/// The registry's host[:port] (the credential store's key) and the `/v2/` URL to ask it at:
/// https, unless the host is this machine's (then http, or https when named so). One scheme
/// only: falling back to http after https failed would hand the login to whoever can make
/// port 443 fail.
fn registry_url(arg: &str) -> Result<(String, String), String> {
    let arg = arg.trim();
    let host = credentials::normalize(arg);
    let parsed = url::Url::parse(&format!("http://{host}/"))
        .ok()
        .filter(|u| !host.is_empty() && u.path() == "/" && u.username().is_empty());
    let Some(parsed) = parsed else {
        return Err(format!("{}: not a registry host[:port]", printable(arg)));
    };
    let local = issuer::loopback(&parsed);
    let scheme = if arg.starts_with("https://") {
        "https"
    } else if arg.starts_with("http://") {
        if !local {
            return Err(format!(
                "{}: plain http only for a registry on this machine; use https",
                printable(arg)
            ));
        }
        "http"
    } else if local {
        "http"
    } else {
        "https"
    };
    Ok((host.clone(), format!("{scheme}://{host}/v2/")))
}

async fn discover_registry(http: &reqwest::Client, url: &str) -> Result<(String, String), String> {
    let r = http
        .get(url)
        .send()
        .await
        .map_err(|e| format!("{url}: {}", issuer::error_chain(&e)))?;
    let h = r
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    challenge(h).ok_or_else(|| {
        format!(
            "{url} does not ask for Bearer tokens (answered {})",
            r.status()
        )
    })
}

/// How the user answers "trust this issuer for this registry?"; an error when no one can be asked.
type Ask<'a> = &'a dyn Fn(&str, &str) -> Result<bool, String>;

/// The issuer this login may go to: `given`, else `pinned`, else the realm's own issuer once
/// `ask` confirms it. The realm must be that issuer's token endpoint, whichever it is.
fn trusted_issuer(
    host: &str,
    given: Option<&str>,
    pinned: Option<&str>,
    realm: &str,
    ask: Ask,
) -> Result<String, String> {
    let realm_issuer = realm.strip_suffix(TOKEN_PATH);
    let issuer = match (given, pinned) {
        (Some(i), _) => i.trim_end_matches('/').to_string(),
        (None, Some(p)) => p.to_string(),
        (None, None) => {
            let candidate = realm_issuer.ok_or_else(|| {
                format!(
                    "{host} sends logins to {}, which is not a Gantry token endpoint",
                    printable(realm)
                )
            })?;
            issuer::check_issuer(candidate)?;
            if !ask(host, candidate)? {
                return Err(format!(
                    "{} was not confirmed; nothing was sent to it",
                    printable(candidate)
                ));
            }
            candidate.to_string()
        }
    };
    if realm_issuer != Some(issuer.as_str()) {
        return Err(match (given, pinned) {
            (None, Some(p)) => format!(
                "{host} now sends logins to {}, which is not the token endpoint of the issuer \
                 pinned for it ({p}); refusing. If the registry really moved, log in with \
                 --issuer NEW-ISSUER",
                printable(realm)
            ),
            _ => format!(
                "{host} sends logins to {}, not to {issuer}{TOKEN_PATH}; refusing",
                printable(realm)
            ),
        });
    }
    Ok(issuer)
}

/// Ask on the terminal; refuse when there is none (a script cannot confirm an issuer).
fn ask_on_terminal(host: &str, candidate: &str) -> Result<bool, String> {
    let candidate = printable(candidate);
    if !std::io::stdin().is_terminal() {
        return Err(format!(
            "{host} sends logins to the issuer {candidate}, which is not confirmed for it. \
             Pass --issuer {candidate} if that is your organisation's Gantry, or run this \
             once in a terminal to confirm it"
        ));
    }
    eprint!(
        "The registry {host} sends logins to the issuer\n\n  {candidate}\n\n\
         Trust this issuer for {host} from now on? Answer yes only if it is your \
         organisation's Gantry. [y/N] "
    );
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    Ok(matches!(
        line.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
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

pub async fn login(o: Options) -> i32 {
    match run(&o).await {
        Ok(host) => {
            eprintln!(
                "Logged in to {host}. Use the credential helper: \"credHelpers\": {{\"{host}\": \"gantry\"}}"
            );
            0
        }
        Err(e) => {
            eprintln!("registry login: {}", printable(&e));
            1
        }
    }
}

/// The login; the registry's host[:port] it stored a token for.
async fn run(o: &Options) -> Result<String, String> {
    let (host, v2) = registry_url(&o.host)?;
    // No redirects: the registry and the issuer answer these requests themselves, and a
    // redirect must not carry the login (or a posted code) to another origin or to http.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let (realm, service) = discover_registry(&http, &v2).await?;
    let pinned = credentials::load().issuers.get(&host).cloned();
    let issuer = trusted_issuer(
        &host,
        o.issuer.as_deref(),
        pinned.as_deref(),
        &realm,
        &ask_on_terminal,
    )?;
    let endpoints = issuer::discover(&http, &issuer).await?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let redirect = format!("http://127.0.0.1:{port}/callback");
    let (state, verifier) = (secret::random_token(16), secret::random_token(32));
    let challenge = secret::b64(&secret::sha256(verifier.as_bytes()));
    let mut url = url::Url::parse(&endpoints.authorization).map_err(|e| e.to_string())?;
    url.query_pairs_mut()
        .append_pair("client_id", &o.client_id)
        .append_pair("redirect_uri", &redirect)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid profile email groups offline_access")
        .append_pair("state", &state)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");

    eprintln!(
        "Open this URL in a browser to log in to {host}:\n\n  {}\n",
        printable(url.as_str())
    );
    if o.open_browser {
        let _ = std::process::Command::new("xdg-open")
            .arg(url.as_str())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }
    let code = super::loopback::wait_for_code(listener, &state, Duration::from_secs(300)).await?;
    let tokens = post_form(
        &http,
        &endpoints.token,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect),
            ("code_verifier", &verifier),
            ("client_id", &o.client_id),
        ],
    )
    .await?;
    let refresh = tokens["refresh_token"]
        .as_str()
        .ok_or_else(|| format!("no refresh token ({})", terminal::error_fields(&tokens)))?;
    // Exchange the login's refresh token, once, for an identity token of the registry. The
    // realm is the trusted issuer's own token endpoint (checked above).
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
            terminal::error_fields(&reg)
        )
    })?;
    if let Some(p) = pinned.as_deref().filter(|p| *p != issuer) {
        eprintln!(
            "registry login: {host} is now pinned to the issuer {} (was {})",
            printable(&issuer),
            printable(p)
        );
    }
    // Loaded again: another login may have written the store while this one waited.
    let mut store = credentials::load();
    store.registries.insert(
        host.clone(),
        Entry {
            identity_token: identity.to_string(),
            realm,
            service,
        },
    );
    store.issuers.insert(host.clone(), issuer);
    credentials::save(&store).map_err(|e| format!("{}: {e}", credentials::path().display()))?;
    Ok(host)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn registries_are_asked_over_https_and_http_only_on_this_machine() {
        let url = |h: &str| registry_url(h).map(|(_, u)| u);
        assert_eq!(
            url("reg.example.com").unwrap(),
            "https://reg.example.com/v2/"
        );
        assert_eq!(
            url("http://reg.example.com:5000").unwrap_err(),
            "http://reg.example.com:5000: plain http only for a registry on this machine; use https"
        );
        assert_eq!(
            url("https://reg.example.com:5000/v2/").unwrap(),
            "https://reg.example.com:5000/v2/"
        );
        assert_eq!(url("127.0.0.1:5000").unwrap(), "http://127.0.0.1:5000/v2/");
        assert_eq!(url("localhost:5000").unwrap(), "http://localhost:5000/v2/");
        assert_eq!(url("[::1]:5000").unwrap(), "http://[::1]:5000/v2/");
        assert_eq!(
            url("https://127.0.0.1:5000").unwrap(),
            "https://127.0.0.1:5000/v2/"
        );
        // Names that only look local are not.
        assert_eq!(
            url("127.0.0.1.nip.io").unwrap(),
            "https://127.0.0.1.nip.io/v2/"
        );
        assert_eq!(
            url("localhost.evil.example").unwrap(),
            "https://localhost.evil.example/v2/"
        );
        assert!(url("").is_err());
        assert!(url("user@reg.example.com").is_err());
        assert_eq!(
            registry_url("https://reg.example.com/v2/").unwrap().0,
            "reg.example.com"
        );
    }

    const REALM: &str = "https://id.example.com/dex/registry/token";

    fn never(_: &str, _: &str) -> Result<bool, String> {
        panic!("nobody should be asked")
    }

    #[test]
    fn the_realm_must_belong_to_the_given_or_pinned_issuer() {
        let iss = "https://id.example.com/dex";
        assert_eq!(
            trusted_issuer("r", Some(iss), None, REALM, &never).unwrap(),
            iss
        );
        assert_eq!(
            trusted_issuer(
                "r",
                Some("https://id.example.com/dex/"),
                None,
                REALM,
                &never
            )
            .unwrap(),
            iss
        );
        assert_eq!(
            trusted_issuer("r", None, Some(iss), REALM, &never).unwrap(),
            iss
        );
        // --issuer overrides the pin (and becomes the new one).
        assert_eq!(
            trusted_issuer("r", Some(iss), Some("https://old.example"), REALM, &never).unwrap(),
            iss
        );
        for realm in [
            "https://evil.example/registry/token",
            "https://id.example.com/dex/other/registry/token",
            "https://id.example.com/registry/token",
            "http://id.example.com/dex/registry/token",
            "https://id.example.com/dex/token",
        ] {
            let e = trusted_issuer("r", None, Some(iss), realm, &never).unwrap_err();
            assert!(e.contains("pinned for it") && e.contains("--issuer"), "{e}");
            let e = trusted_issuer("r", Some(iss), None, realm, &never).unwrap_err();
            assert!(e.contains("refusing"), "{e}");
        }
    }

    #[test]
    fn a_new_registry_s_issuer_is_trusted_only_once_confirmed() {
        let yes = |_: &str, _: &str| Ok(true);
        let no = |_: &str, _: &str| Ok(false);
        assert_eq!(
            trusted_issuer("r", None, None, REALM, &yes).unwrap(),
            "https://id.example.com/dex"
        );
        assert!(
            trusted_issuer("r", None, None, REALM, &no)
                .unwrap_err()
                .contains("not confirmed")
        );
        // Never offered: an http issuer on the network, a realm that is no Gantry's.
        for realm in [
            "http://id.example.com/dex/registry/token",
            "https://id.example.com/token",
        ] {
            assert!(
                trusted_issuer("r", None, None, realm, &never).is_err(),
                "{realm}"
            );
        }
    }
}
