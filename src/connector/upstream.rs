//! Talking to upstream OAuth2/OIDC providers: the HTTP client, the token endpoint, userinfo.
//! Shared by the `oidc` and `oauth` connectors; the `saml` connector reads its metadata with
//! the same client and the same bounded reader. Every request goes through [`Http::send`],
//! which keeps it out of `connectorNetwork.denyNetworks` (see `egress`).

use std::time::Duration;

use serde::Deserialize;

use super::egress::{self, DenyList, Reach};
use crate::secret;

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

/// An HTTP client for one upstream: its own CAs on top of the system's, a timeout for every
/// call, no redirects (a token endpoint that redirects is misconfigured or hostile), and no
/// connection into `deny`.
pub fn client(root_cas: &[String], timeout: Duration, deny: &DenyList) -> Result<Http, String> {
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
        let pem = read_ca(ca)?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("rootCAs entry `{}`: {e}", short(ca)))?;
        if certs.is_empty() {
            return Err(format!("rootCAs entry `{}`: no certificate", short(ca)));
        }
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    Ok(Http {
        client: b.build().map_err(|e| e.to_string())?,
        deny: deny.clone(),
    })
}

fn short(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Dex reads each `rootCAs` entry as a file path, or as base64 of the PEM itself.
fn read_ca(entry: &str) -> Result<Vec<u8>, String> {
    if let Ok(b) = std::fs::read(entry) {
        return Ok(b);
    }
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(entry.trim())
        .map_err(|_| {
            format!(
                "rootCAs entry `{}`: not a readable file or base64 PEM",
                short(entry)
            )
        })
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

/// A token endpoint and how to authenticate to it.
#[derive(Debug, Clone)]
pub struct TokenEndpoint {
    pub url: String,
    pub client_id: String,
    pub client_secret: String,
    /// Send the credentials in the form (`client_secret_post`) instead of Basic.
    pub post_auth: bool,
}

/// A token endpoint's answer.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TokenSet {
    #[serde(default)]
    pub access_token: String,
    pub id_token: Option<String>,
    pub refresh_token: Option<String>,
    pub expires_in: Option<i64>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: Option<String>,
    error_description: Option<String>,
}

impl TokenEndpoint {
    pub async fn exchange_code(
        &self,
        http: &Http,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
    ) -> Result<TokenSet, UpstreamError> {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
        ];
        if !verifier.is_empty() {
            form.push(("code_verifier", verifier));
        }
        self.call(http, form).await
    }

    pub async fn refresh(
        &self,
        http: &Http,
        refresh_token: &str,
    ) -> Result<TokenSet, UpstreamError> {
        self.call(
            http,
            vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
        )
        .await
    }

    /// The admin's Test of this endpoint: redeem a code nobody issued, with this client's
    /// credentials. A token endpoint refuses it with an RFC 6749 error; whether that error
    /// is about the client is the one thing Test reports of the answer. Anything else did
    /// not answer as a token endpoint.
    pub async fn probe(&self, http: &Http, redirect_uri: &str) -> Result<bool, UpstreamError> {
        let code = secret::random_token(16);
        let (status, bytes) = self
            .post(
                http,
                &self.url,
                vec![
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", redirect_uri),
                ],
            )
            .await?;
        let error = serde_json::from_slice::<ErrorBody>(&bytes)
            .ok()
            .and_then(|e| e.error);
        match error.as_deref() {
            // RFC 6749 5.2; GitHub has words of its own (and answers HTTP 200).
            Some(
                "invalid_request"
                | "invalid_grant"
                | "unauthorized_client"
                | "unsupported_grant_type"
                | "invalid_scope"
                | "bad_verification_code"
                | "redirect_uri_mismatch",
            ) => Ok(true),
            Some("invalid_client" | "incorrect_client_credentials") => Ok(false),
            _ => Err(UpstreamError::Rejected(format!(
                "{}: HTTP {}, not an OAuth2 error answer",
                self.url,
                status.as_u16()
            ))),
        }
    }

    /// RFC 7662: what the provider says of `token`, asked at `url` with this client's
    /// credentials.
    pub async fn introspect(
        &self,
        http: &Http,
        url: &str,
        token: &str,
    ) -> Result<serde_json::Value, UpstreamError> {
        let (status, bytes) = self
            .post(
                http,
                url,
                vec![("token", token), ("token_type_hint", "access_token")],
            )
            .await?;
        if status.is_server_error() {
            return Err(UpstreamError::Unavailable(format!(
                "{url} answered HTTP {}",
                status.as_u16()
            )));
        }
        if !status.is_success() {
            return Err(UpstreamError::Rejected(format!(
                "the introspection endpoint refused: HTTP {}",
                status.as_u16()
            )));
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            UpstreamError::Rejected(format!("the introspection answer is not JSON: {e}"))
        })
    }

    /// POST a form to `url` with this client's credentials; the status and the body.
    async fn post(
        &self,
        http: &Http,
        url: &str,
        mut form: Vec<(&str, &str)>,
    ) -> Result<(reqwest::StatusCode, Vec<u8>), UpstreamError> {
        let mut req = http.post(url).header("accept", "application/json");
        if self.post_auth {
            form.push(("client_id", &self.client_id));
            form.push(("client_secret", &self.client_secret));
        } else {
            // RFC 6749 2.3.1: both halves form-encoded before Basic.
            let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            req = req.basic_auth(enc(&self.client_id), Some(enc(&self.client_secret)));
        }
        let body = serde_urlencoded::to_string(&form)
            .map_err(|e| UpstreamError::Rejected(e.to_string()))?;
        let resp = http
            .send(
                req.header("content-type", "application/x-www-form-urlencoded")
                    .body(body),
            )
            .await?;
        let status = resp.status();
        let bytes = read_limited(url, resp).await?;
        Ok((status, bytes))
    }

    async fn call(&self, http: &Http, form: Vec<(&str, &str)>) -> Result<TokenSet, UpstreamError> {
        let (status, bytes) = self.post(http, &self.url, form).await?;
        if status.is_server_error() {
            return Err(UpstreamError::Unavailable(format!(
                "{} answered HTTP {}",
                self.url,
                status.as_u16()
            )));
        }
        if !status.is_success() {
            let e: ErrorBody = serde_json::from_slice(&bytes).unwrap_or(ErrorBody {
                error: None,
                error_description: None,
            });
            return Err(UpstreamError::Rejected(format!(
                "the token endpoint refused: {}{}",
                e.error.as_deref().unwrap_or("HTTP error"),
                e.error_description
                    .map(|d| format!(" ({})", d.chars().take(200).collect::<String>()))
                    .unwrap_or_default()
            )));
        }
        let t: TokenSet = serde_json::from_slice(&bytes).map_err(|e| {
            UpstreamError::Rejected(format!("the token endpoint's answer is not usable: {e}"))
        })?;
        if t.access_token.is_empty() {
            return Err(UpstreamError::Rejected(
                "the token endpoint returned no access_token".into(),
            ));
        }
        Ok(t)
    }
}

/// Add a PKCE challenge (`S256` or `plain`; none for `None`) to an authorization URL's query;
/// the verifier, empty when none was sent.
pub fn add_pkce(
    q: &mut form_urlencoded::Serializer<'_, url::UrlQuery<'_>>,
    method: Option<&str>,
) -> String {
    let Some(method) = method else {
        return String::new();
    };
    let verifier = secret::random_token(32);
    let challenge = if method == "plain" {
        verifier.clone()
    } else {
        secret::b64(&secret::sha256(verifier.as_bytes()))
    };
    q.append_pair("code_challenge", &challenge).append_pair(
        "code_challenge_method",
        if method == "plain" { "plain" } else { "S256" },
    );
    verifier
}

/// Checks every upstream connector's config shares: Gantry refuses to skip TLS verification,
/// PKCE is S256 or plain, the timeout is a duration (10 s by default).
pub fn check_common(
    insecure_skip_verify: bool,
    pkce_challenge: Option<&str>,
    timeout: Option<&str>,
) -> Result<Duration, String> {
    if insecure_skip_verify {
        return Err(
            "config.insecureSkipVerify is not supported: trust the provider's CA with rootCAs"
                .into(),
        );
    }
    if let Some(m) = pkce_challenge
        && !matches!(m, "S256" | "plain")
    {
        return Err(format!(
            "config.pkceChallenge `{m}`: expected S256 or plain"
        ));
    }
    match timeout {
        None => Ok(Duration::from_secs(10)),
        Some(d) => crate::config::parse_duration(d)
            .filter(|d| !d.is_zero())
            .ok_or_else(|| format!("config.timeout `{d}`: not a duration")),
    }
}
