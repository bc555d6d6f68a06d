//! An upstream's authorization and token endpoints through the `oauth2` crate: the
//! authorization URL with state and PKCE, the code exchange, refresh. Shared by the `oidc` and
//! `oauth` connectors; every call goes through the connector's own [`Http`].
//!
//! The answers are read as leniently as Dex reads them (no `token_type` required, an ID token
//! kept as the raw string the one verifier checks); an empty access token is refused.
//! Introspection (RFC 7662) stays a plain form POST: its answer is read as the raw claims.

use serde::{Deserialize, Serialize};

use oauth2::basic::{
    BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AccessToken, AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    EndpointNotSet, EndpointSet, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken,
    RequestTokenError, Scope, StandardRevocableToken, TokenUrl,
};

use crate::connector::upstream::{Http, UpstreamError, read_limited};
use crate::secret;

/// A token endpoint's answer.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct TokenSet {
    #[serde(default = "no_access_token")]
    access_token: AccessToken,
    /// Never read: a provider that leaves it out (or says `bearer`) is answered all the same.
    #[serde(skip, default = "bearer")]
    token_type: BasicTokenType,
    pub id_token: Option<String>,
    refresh_token: Option<RefreshToken>,
    expires_in: Option<i64>,
    /// GitHub answers a refused code with HTTP 200 and this.
    #[serde(default, skip_serializing)]
    error: Option<String>,
}

fn no_access_token() -> AccessToken {
    AccessToken::new(String::new())
}

fn bearer() -> BasicTokenType {
    BasicTokenType::Bearer
}

impl TokenSet {
    pub fn access_token(&self) -> &str {
        self.access_token.secret()
    }

    pub fn refresh_token(&self) -> Option<&str> {
        self.refresh_token.as_ref().map(|t| t.secret().as_str())
    }

    /// Seconds the access token lasts, if the provider said.
    pub fn expires_in_secs(&self) -> Option<i64> {
        self.expires_in
    }
}

impl oauth2::TokenResponse for TokenSet {
    type TokenType = BasicTokenType;

    fn access_token(&self) -> &AccessToken {
        &self.access_token
    }

    fn token_type(&self) -> &BasicTokenType {
        &self.token_type
    }

    fn expires_in(&self) -> Option<std::time::Duration> {
        self.expires_in
            .and_then(|s| u64::try_from(s).ok())
            .map(std::time::Duration::from_secs)
    }

    fn refresh_token(&self) -> Option<&RefreshToken> {
        self.refresh_token.as_ref()
    }

    fn scopes(&self) -> Option<&Vec<Scope>> {
        None
    }
}

/// An RFC 6749 5.2 error answer; `error` too may be missing from a broken one.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ErrorBody {
    error: Option<String>,
    error_description: Option<String>,
}

impl std::fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.error.as_deref().unwrap_or("HTTP error"))?;
        if let Some(d) = &self.error_description {
            write!(f, " ({})", d.chars().take(200).collect::<String>())?;
        }
        Ok(())
    }
}

impl oauth2::ErrorResponse for ErrorBody {}

type Client = oauth2::Client<
    ErrorBody,
    TokenSet,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// A provider's authorization and token endpoints, and this client's credentials there.
#[derive(Debug, Clone)]
pub struct TokenEndpoint {
    client: Client,
    url: String,
    client_id: String,
    client_secret: String,
    post_auth: bool,
}

/// What the browser is sent to, and the PKCE verifier to keep for the exchange ("" for none).
pub struct Authorization {
    pub url: String,
    pub verifier: String,
}

/// An endpoint URL of the provider that does not parse: which one, and why.
#[derive(Debug, thiserror::Error)]
#[error("{0}: {1}")]
pub struct EndpointError(&'static str, url::ParseError);

impl TokenEndpoint {
    /// `post_auth`: send the credentials in the form (`client_secret_post`) instead of Basic.
    pub fn new(
        authorization_url: &str,
        token_url: &str,
        client_id: &str,
        client_secret: &str,
        redirect_uri: &str,
        post_auth: bool,
    ) -> Result<TokenEndpoint, EndpointError> {
        let client = oauth2::Client::new(ClientId::new(client_id.to_string()))
            // Always a secret, "" too: Basic `id:` for a client without one, as before.
            .set_client_secret(ClientSecret::new(client_secret.to_string()))
            .set_auth_type(if post_auth {
                AuthType::RequestBody
            } else {
                AuthType::BasicAuth
            })
            .set_auth_uri(
                AuthUrl::new(authorization_url.to_string())
                    .map_err(|e| EndpointError("authorization endpoint", e))?,
            )
            .set_token_uri(
                TokenUrl::new(token_url.to_string())
                    .map_err(|e| EndpointError("token endpoint", e))?,
            )
            .set_redirect_uri(
                RedirectUrl::new(redirect_uri.to_string())
                    .map_err(|e| EndpointError("redirectURI", e))?,
            );
        Ok(TokenEndpoint {
            client,
            url: token_url.to_string(),
            client_id: client_id.to_string(),
            client_secret: client_secret.to_string(),
            post_auth,
        })
    }

    /// The authorization URL for `state`: `scopes` (none sent when empty), a PKCE challenge
    /// (`S256` or `plain`; none for `None`) and `extra` parameters (nonce, prompt, ...).
    pub fn authorize(
        &self,
        state: &str,
        scopes: &[String],
        pkce: Option<&str>,
        extra: &[(&str, &str)],
    ) -> Authorization {
        let mut req = self
            .client
            .authorize_url(|| CsrfToken::new(state.to_string()))
            .add_scopes(scopes.iter().map(|s| Scope::new(s.clone())));
        let mut verifier = String::new();
        if let Some(method) = pkce {
            // The verifier from Gantry's one source of randomness.
            let v = PkceCodeVerifier::new(secret::random_token(32));
            let challenge = if method == "plain" {
                PkceCodeChallenge::from_code_verifier_plain(&v)
            } else {
                PkceCodeChallenge::from_code_verifier_sha256(&v)
            };
            req = req.set_pkce_challenge(challenge);
            verifier = v.into_secret();
        }
        for (k, v) in extra {
            req = req.add_extra_param(*k, *v);
        }
        let (url, _) = req.url();
        Authorization {
            url: url.to_string(),
            verifier,
        }
    }

    pub async fn exchange_code(
        &self,
        http: &Http,
        code: &str,
        verifier: &str,
    ) -> Result<TokenSet, UpstreamError> {
        let mut req = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_string()));
        if !verifier.is_empty() {
            req = req.set_pkce_verifier(PkceCodeVerifier::new(verifier.to_string()));
        }
        usable(req.request_async(http).await)
    }

    pub async fn refresh(
        &self,
        http: &Http,
        refresh_token: &str,
    ) -> Result<TokenSet, UpstreamError> {
        let rt = RefreshToken::new(refresh_token.to_string());
        usable(
            self.client
                .exchange_refresh_token(&rt)
                .request_async(http)
                .await,
        )
    }

    /// The admin's Test of this endpoint: redeem a code nobody issued, with this client's
    /// credentials. A token endpoint refuses it with an RFC 6749 error; whether that error
    /// is about the client is the one thing Test reports of the answer. Anything else did
    /// not answer as a token endpoint.
    pub async fn probe(&self, http: &Http) -> Result<bool, UpstreamError> {
        let code = AuthorizationCode::new(secret::random_token(16));
        let error = match self.client.exchange_code(code).request_async(http).await {
            // GitHub's refusal comes with HTTP 200.
            Ok(t) => t.error,
            Err(RequestTokenError::ServerResponse(e)) => e.error,
            Err(RequestTokenError::Request(e)) => return Err(e),
            Err(_) => None,
        };
        match error.as_deref() {
            // RFC 6749 5.2; GitHub has words of its own.
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
                "{}: not an OAuth2 error answer",
                self.url
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
        let mut form = vec![("token", token), ("token_type_hint", "access_token")];
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
}

/// A token answer Gantry can use: one with an access token.
fn usable(
    r: Result<TokenSet, RequestTokenError<UpstreamError, ErrorBody>>,
) -> Result<TokenSet, UpstreamError> {
    let t = r.map_err(|e| match e {
        RequestTokenError::Request(e) => e,
        RequestTokenError::ServerResponse(e) => {
            UpstreamError::Rejected(format!("the token endpoint refused: {e}"))
        }
        RequestTokenError::Parse(e, _) => {
            UpstreamError::Rejected(format!("the token endpoint's answer is not usable: {e}"))
        }
        RequestTokenError::Other(m) => {
            UpstreamError::Rejected(format!("the token endpoint's answer is not usable: {m}"))
        }
    })?;
    if t.access_token().is_empty() {
        return Err(UpstreamError::Rejected(
            "the token endpoint returned no access_token".into(),
        ));
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> TokenEndpoint {
        TokenEndpoint::new(
            "https://id.example.com/auth?tenant=t",
            "https://id.example.com/token",
            "g",
            "s",
            "https://g.example.com/callback",
            false,
        )
        .unwrap()
    }

    fn params(url: &str) -> std::collections::HashMap<String, String> {
        url::Url::parse(url)
            .unwrap()
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    #[test]
    fn the_authorization_url_carries_state_scopes_and_the_pkce_challenge() {
        let a = endpoint().authorize(
            "st",
            &["openid".into(), "email".into()],
            Some("S256"),
            &[("nonce", "n")],
        );
        let q = params(&a.url);
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["client_id"], "g");
        assert_eq!(q["state"], "st");
        assert_eq!(q["redirect_uri"], "https://g.example.com/callback");
        assert_eq!(q["scope"], "openid email");
        assert_eq!(q["nonce"], "n");
        assert_eq!(q["tenant"], "t", "the endpoint's own query is kept");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(
            q["code_challenge"],
            secret::b64(&secret::sha256(a.verifier.as_bytes()))
        );
        let plain = endpoint().authorize("st", &[], Some("plain"), &[]);
        let q = params(&plain.url);
        assert_eq!(
            (
                q["code_challenge_method"].as_str(),
                q["code_challenge"].as_str()
            ),
            ("plain", plain.verifier.as_str())
        );
        assert!(!q.contains_key("scope"), "no scopes, no scope parameter");
        let none = endpoint().authorize("st", &[], None, &[]);
        assert!(none.verifier.is_empty());
        assert!(!params(&none.url).contains_key("code_challenge"));
    }

    #[test]
    fn answers_are_read_leniently_but_need_an_access_token() {
        let t: TokenSet =
            serde_json::from_str(r#"{"access_token": "at", "refresh_token": "rt"}"#).unwrap();
        assert_eq!((t.access_token(), t.refresh_token()), ("at", Some("rt")));
        let github: TokenSet =
            serde_json::from_str(r#"{"error": "bad_verification_code"}"#).unwrap();
        let e = usable(Ok(github)).unwrap_err();
        assert!(e.to_string().contains("no access_token"), "{e}");
        let refused = ErrorBody {
            error: Some("invalid_grant".into()),
            error_description: Some("code expired".into()),
        };
        let e = usable(Err(RequestTokenError::ServerResponse(refused))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the token endpoint refused: invalid_grant (code expired)"
        );
    }

    /// A token endpoint at `path` of a server that answers as `answer` says.
    async fn serve(path: &'static str, answer: axum::routing::MethodRouter) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new().route(path, answer);
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("{base}{path}")
    }

    fn at(url: &str) -> TokenEndpoint {
        TokenEndpoint::new(url, url, "g", "s", "https://g.example.com/callback", false).unwrap()
    }

    fn http(deny: &[&str]) -> Http {
        let deny = crate::connector::egress::DenyList::parse(
            &deny.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
        .unwrap();
        crate::connector::upstream::client(&[], std::time::Duration::from_secs(5), &deny).unwrap()
    }

    #[tokio::test]
    async fn the_crates_calls_keep_gantrys_bounds_and_refusals() {
        use axum::http::StatusCode;
        use axum::routing::post;
        let big = serve(
            "/big",
            post(|| async { format!("{{\"access_token\": \"{}\"}}", "a".repeat(2 << 20)) }),
        )
        .await;
        let e = at(&big)
            .exchange_code(&http(&[]), "c", "")
            .await
            .unwrap_err();
        assert!(e.to_string().contains("larger than"), "{e}");

        let moved = serve(
            "/moved",
            post(|| async {
                (
                    StatusCode::FOUND,
                    [("location", "/elsewhere")],
                    r#"{"access_token": "at"}"#,
                )
            }),
        )
        .await;
        let e = at(&moved).exchange_code(&http(&[]), "c", "").await;
        assert!(
            e.is_err(),
            "a redirect is not followed, nor read as tokens: {e:?}"
        );

        let down = serve(
            "/down",
            post(|| async { (StatusCode::SERVICE_UNAVAILABLE, r#"{"error": "x"}"#) }),
        )
        .await;
        let e = at(&down).refresh(&http(&[]), "rt").await.unwrap_err();
        assert!(matches!(e, UpstreamError::Unavailable(_)), "{e:?}");

        let ok = serve(
            "/ok",
            post(|| async { axum::Json(serde_json::json!({"access_token": "at"})) }),
        )
        .await;
        at(&ok).refresh(&http(&[]), "rt").await.unwrap();
        let e = at(&ok)
            .refresh(&http(&["127.0.0.0/8"]), "rt")
            .await
            .unwrap_err();
        assert_eq!(e.reach(), crate::connector::egress::Reach::Denied, "{e:?}");
    }
}
