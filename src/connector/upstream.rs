//! Talking to upstream OAuth2/OIDC providers: the HTTP client (also the one the `oauth2` crate
//! calls through), JSON documents (discovery, JWKS, userinfo) read with a bound.
//! Shared by the `oidc` and `oauth` connectors; the `saml` connector reads its metadata with
//! the same client and the same bounded reader. Every request goes through [`Http::send`],
//! which keeps it out of `connectorNetwork.denyNetworks` (see `egress`).

use crate::connector::ConnectorConfigError;
use std::time::Duration;

use std::future::Future;
use std::pin::Pin;

use super::egress::{self, DenyList, Reach};

/// Largest upstream answer read (discovery, JWKS, tokens, userinfo, SAML metadata): a hostile
/// or broken upstream must not be able to make Gantry buffer without bound.
pub const MAX_BODY: usize = 1 << 20;

/// Why a call upstream failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The provider answered, and said no (or said something unusable); text for the user and log.
    #[error("{0}")]
    Rejected(String),
    /// The provider answered with an error that may pass (a 5xx).
    #[error("{0}")]
    Unavailable(String),
    /// No answer: the connection, its TLS handshake or the network rule failed; `reach` says
    /// how far it got.
    #[error("{detail}")]
    Unreachable { reach: Reach, detail: String },
}

impl UpstreamError {
    /// How far the call got, for the admin's Test: an answer that was an error reads as no
    /// answer at all.
    pub fn reach(&self) -> Reach {
        match self {
            UpstreamError::Unreachable { reach, .. } => *reach,
            _ => Reach::NoAnswer,
        }
    }
}

/// The HTTP client of one upstream. Its requests go out only through [`Http::send`], which
/// refuses an address in a denied network; names are checked by the client's resolver on
/// every connection, so a redirect or a rebinding cannot get around it either (the client
/// follows no redirects anyway).
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
    deny: DenyList,
}

impl Http {
    pub fn get(&self, url: &str) -> reqwest::RequestBuilder {
        self.client.get(url)
    }

    pub fn post(&self, url: &str) -> reqwest::RequestBuilder {
        self.client.post(url)
    }

    /// Send `req`, unless its URL names an address in a denied network (an address literal
    /// never reaches the resolver).
    pub async fn send(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, UpstreamError> {
        let req = req.build().map_err(|e| UpstreamError::Unreachable {
            reach: Reach::NoAnswer,
            detail: e.to_string(),
        })?;
        let url = req.url().to_string();
        if let Err(d) = self.deny.check_url(req.url()) {
            return Err(UpstreamError::Unreachable {
                reach: Reach::Denied,
                detail: format!("{url}: {d}"),
            });
        }
        self.client
            .execute(req)
            .await
            .map_err(|e| unavailable(&url, e))
    }
}

/// The crates' requests (`oauth2`'s token endpoint calls) go through the same [`Http::send`]:
/// the deny-list, no redirects, the timeout and the [`MAX_BODY`] bound hold for them too. An
/// answer of 5xx is an error here, not an answer to parse: the provider may answer later.
impl<'c> oauth2::AsyncHttpClient<'c> for Http {
    type Error = UpstreamError;
    type Future =
        Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, UpstreamError>> + Send + 'c>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let url = request.uri().to_string();
            let (parts, body) = request.into_parts();
            let req = self
                .client
                .request(parts.method, &url)
                .headers(parts.headers)
                .body(body);
            let resp = self.send(req).await?;
            let status = resp.status();
            if status.is_server_error() {
                return Err(UpstreamError::Unavailable(format!(
                    "{url} answered HTTP {}",
                    status.as_u16()
                )));
            }
            let headers = resp.headers().clone();
            let body = read_limited(&url, resp).await?;
            let mut out = oauth2::HttpResponse::new(body);
            *out.status_mut() = status;
            *out.headers_mut() = headers;
            Ok(out)
        })
    }
}

/// Why the HTTP client for an upstream cannot be made; a CA entry is named by its key
/// (`rootCAs`, GitHub's `rootCA`, GitLab's `rootCAData`) and shown by its start.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{key} entry `{entry}`: not a readable file, base64 of a PEM, or a PEM")]
    Unreadable { key: &'static str, entry: String },
    #[error("{key} entry `{entry}`: {source}")]
    Pem {
        key: &'static str,
        entry: String,
        source: reqwest::Error,
    },
    #[error("{key} entry `{entry}`: no certificate")]
    NoCertificate { key: &'static str, entry: String },
    #[error("{0}")]
    Build(reqwest::Error),
}

/// An HTTP client for one upstream: its own CAs on top of the system's, a timeout for every
/// call, no redirects (a token endpoint that redirects is misconfigured or hostile), and no
/// connection into `deny`.
pub fn client(
    root_cas: &[String],
    timeout: Duration,
    deny: &DenyList,
) -> Result<Http, ClientError> {
    client_trusting("config.rootCAs", root_cas, timeout, deny)
}

/// [`client`], for CAs given under the config key `key`.
pub fn client_trusting(
    key: &'static str,
    root_cas: &[String],
    timeout: Duration,
    deny: &DenyList,
) -> Result<Http, ClientError> {
    let mut b = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(std::sync::Arc::new(egress::Resolver(deny.clone())))
        .user_agent(concat!("gantry/", env!("CARGO_PKG_VERSION")));
    if !deny.is_empty() {
        // Through a proxy from the environment (HTTPS_PROXY), the proxy would resolve the name
        // and connect where it likes: with a deny list, Gantry connects itself.
        b = b.no_proxy();
    }
    for ca in root_cas {
        let pem = read_ca(ca).ok_or_else(|| ClientError::Unreadable {
            key,
            entry: short(ca),
        })?;
        let certs =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|source| ClientError::Pem {
                key,
                entry: short(ca),
                source,
            })?;
        if certs.is_empty() {
            return Err(ClientError::NoCertificate {
                key,
                entry: short(ca),
            });
        }
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    Ok(Http {
        client: b.build().map_err(ClientError::Build)?,
        deny: deny.clone(),
    })
}

fn short(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Dex reads each `rootCAs` entry as a file path, as base64 of the PEM, or as the PEM itself.
fn read_ca(entry: &str) -> Option<Vec<u8>> {
    if let Ok(b) = crate::files::read_limited(entry) {
        return Some(b);
    }
    if entry.trim_start().starts_with("-----BEGIN") {
        return Some(entry.as_bytes().to_vec());
    }
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(entry.trim())
        .ok()
}

/// GET a JSON document.
pub async fn get_json(
    http: &Http,
    url: &str,
    bearer: Option<&str>,
) -> Result<serde_json::Value, UpstreamError> {
    let mut req = http.get(url).header("accept", "application/json");
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let resp = http.send(req).await?;
    let status = resp.status();
    let body = read_limited(url, resp).await?;
    if !status.is_success() {
        return Err(UpstreamError::Rejected(format!(
            "{url} answered HTTP {}",
            status.as_u16()
        )));
    }
    serde_json::from_slice(&body)
        .map_err(|e| UpstreamError::Rejected(format!("{url} did not answer JSON: {e}")))
}

fn unavailable(url: &str, e: reqwest::Error) -> UpstreamError {
    let reach = egress::reach_of(&e);
    let what = if e.is_timeout() {
        "timed out".to_string()
    } else {
        // The chain names the cause (refused, DNS, TLS) without the request's secrets.
        let mut msg = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            msg = format!("{msg}: {s}");
            src = s.source();
        }
        msg
    };
    UpstreamError::Unreachable {
        reach,
        detail: format!("{url}: {what}"),
    }
}

/// The body of `resp` (from `url`), refused as soon as it passes [`MAX_BODY`]: the rest is
/// never read, and dropping the response closes the connection. The client's timeout bounds
/// how long a slow body may take.
pub async fn read_limited(
    url: &str,
    mut resp: reqwest::Response,
) -> Result<Vec<u8>, UpstreamError> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| unavailable(url, e))? {
        if out.len() + chunk.len() > MAX_BODY {
            return Err(UpstreamError::Rejected(format!(
                "{url}: the answer is larger than {} MiB, the most Gantry reads",
                MAX_BODY >> 20
            )));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Checks every upstream connector's config shares: Gantry refuses to skip TLS verification,
/// PKCE is S256 or plain, the timeout is a duration (10 s by default).
pub fn check_common(
    insecure_skip_verify: bool,
    pkce_challenge: Option<&str>,
    timeout: Option<&str>,
) -> Result<Duration, ConnectorConfigError> {
    if insecure_skip_verify {
        return Err(ConnectorConfigError::Rule(
            "config.insecureSkipVerify is not supported: trust the provider's CA with rootCAs",
        ));
    }
    if let Some(m) = pkce_challenge
        && !matches!(m, "S256" | "plain")
    {
        return Err(ConnectorConfigError::Value {
            key: "pkceChallenge".into(),
            value: m.to_string(),
            problem: "expected S256 or plain",
        });
    }
    match timeout {
        None => Ok(Duration::from_secs(10)),
        Some(d) => crate::config::parse_duration(d)
            .filter(|d| !d.is_zero())
            .ok_or_else(|| ConnectorConfigError::Value {
                key: "timeout".into(),
                value: d.to_string(),
                problem: "not a duration",
            }),
    }
}
