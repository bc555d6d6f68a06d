//! Google's Admin SDK Directory API, as Dex's `google` connector calls it: a service account
//! with domain-wide delegation acts as a Workspace admin (an RS256 JWT assertion for the
//! OAuth2 JWT-bearer grant, RFC 7523, at the key file's `token_uri`, with `sub` the admin) and
//! lists a user's groups with `groups?userKey=`, page after page; with
//! `fetchTransitiveGroupMembership`, the groups of those groups too, each group once.
//!
//! The key's private half is parsed once and never logged; the admins' access tokens are kept
//! in memory until shortly before they expire.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::config::ANY_DOMAIN;
use crate::connector::ConnectorConfigError;
use crate::connector::json_pages::Api;
use crate::connector::upstream::{Http, UpstreamError, read_limited};

/// The one scope Dex asks for (and its docs say to delegate, alone).
pub const GROUP_READONLY_SCOPE: &str =
    "https://www.googleapis.com/auth/admin.directory.group.readonly";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Google's default `token_uri`, for a key file without one.
const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// An assertion's lifetime: Google accepts at most an hour.
const ASSERTION_LIFETIME: i64 = 3600;
/// Most groups (and nested groups) read for one user: a directory in a loop, or a huge one,
/// must not keep a login waiting forever.
const MAX_GROUPS: usize = 2000;

/// The fields of a service-account key file (`type: service_account`) that Gantry reads.
#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: String,
    client_email: String,
    private_key: String,
    #[serde(default)]
    private_key_id: String,
    #[serde(default)]
    token_uri: String,
}

/// A service account, and the admins it may act as per domain.
pub struct Directory {
    email: String,
    key: jsonwebtoken::EncodingKey,
    key_id: String,
    token_uri: String,
    api: url::Url,
    admins: BTreeMap<String, String>,
    /// Access tokens per admin, with their end (Unix seconds).
    tokens: Mutex<HashMap<String, (String, i64)>>,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory")
            .field("service_account", &self.email)
            .field("token_uri", &self.token_uri)
            .field("admins", &self.admins)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Assertion<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    sub: &'a str,
    iat: i64,
    exp: i64,
}

/// A group as `groups.list` answers it; Dex takes its email.
#[derive(Deserialize)]
struct Group {
    #[serde(default)]
    email: String,
}

impl Directory {
    /// The service account of the key file at `path`, acting as `admins` (Dex's
    /// `domainToAdminEmail`), against the Admin SDK at `api_root`.
    pub fn open(
        path: &str,
        admins: BTreeMap<String, String>,
        api_root: &str,
        allow_http: bool,
    ) -> Result<Directory, ConnectorConfigError> {
        let bad = |problem: &'static str| ConnectorConfigError::Value {
            key: "serviceAccountFilePath".into(),
            value: path.to_string(),
            problem,
        };
        let bytes = crate::files::read_limited(path).map_err(|_| bad("not a readable file"))?;
        let k: KeyFile = serde_json::from_slice(&bytes)
            .map_err(|_| bad("not a Google service-account key file (JSON)"))?;
        if k.kind != "service_account" {
            return Err(bad(
                "not a service-account key (its type is not service_account)",
            ));
        }
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(k.private_key.as_bytes())
            .map_err(|_| bad("its private_key is not an RSA private key in PEM"))?;
        let token_uri = if k.token_uri.is_empty() {
            GOOGLE_TOKEN_URI.to_string()
        } else {
            k.token_uri
        };
        crate::connector::plain_http::check(
            "config.serviceAccountFilePath: token_uri",
            &token_uri,
            allow_http,
        )?;
        let api = url::Url::parse(&format!("{api_root}/admin/directory/v1/groups")).map_err(
            |source| ConnectorConfigError::NotAUrl {
                key: "directoryURL".into(),
                source,
            },
        )?;
        Ok(Directory {
            email: k.client_email,
            key,
            key_id: k.private_key_id,
            token_uri,
            api,
            admins,
            tokens: Mutex::new(HashMap::new()),
        })
    }

    /// Dex's `findAdminService`: the admin for the domain of `email` (after its last `@`), or
    /// the `*` admin; a name without `@` has only the `*` one.
    fn admin_for(&self, email: &str) -> Result<&str, UpstreamError> {
        let domain = email.rsplit_once('@').map_or(ANY_DOMAIN, |(_, d)| d);
        self.admins
            .get(domain)
            .or_else(|| self.admins.get(ANY_DOMAIN))
            .map(String::as_str)
            .ok_or_else(|| {
                UpstreamError::Rejected(format!(
                    "no admin to ask for the groups of domain `{}`: domainToAdminEmail names \
                     neither it nor `*`",
                    crate::printable::printable(domain)
                ))
            })
    }

    /// An access token acting as `admin`, from the cache or the token endpoint.
    async fn token(&self, http: &Http, admin: &str, now: i64) -> Result<String, UpstreamError> {
        let mut tokens = self.tokens.lock().await;
        if let Some((t, until)) = tokens.get(admin)
            && *until > now + 60
        {
            return Ok(t.clone());
        }
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        if !self.key_id.is_empty() {
            header.kid = Some(self.key_id.clone());
        }
        let claims = Assertion {
            iss: &self.email,
            scope: GROUP_READONLY_SCOPE,
            aud: &self.token_uri,
            sub: admin,
            iat: now,
            exp: now + ASSERTION_LIFETIME,
        };
        let assertion = jsonwebtoken::encode(&header, &claims, &self.key).map_err(|e| {
            UpstreamError::Rejected(format!("the service account's assertion: {e}"))
        })?;
        let body = serde_urlencoded::to_string([
            ("grant_type", JWT_BEARER),
            ("assertion", assertion.as_str()),
        ])
        .map_err(|e| UpstreamError::Rejected(e.to_string()))?;
        let req = http
            .post(&self.token_uri)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body);
        let resp = http.send(req).await?;
        let status = resp.status();
        let limited = crate::connector::rest::rate_limited(status, resp.headers());
        let bytes = read_limited(&self.token_uri, resp).await?;
        if let Some(why) = limited {
            return Err(UpstreamError::Unavailable(format!(
                "{}: {why}",
                self.token_uri
            )));
        }
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        if status.is_server_error() {
            return Err(UpstreamError::Unavailable(format!(
                "{} answered HTTP {}",
                self.token_uri,
                status.as_u16()
            )));
        }
        let text = |k: &str| {
            v.get(k)
                .and_then(|x| x.as_str())
                .map(|s| s.chars().take(200).collect::<String>())
        };
        let Some(token) = text("access_token").filter(|t| status.is_success() && !t.is_empty())
        else {
            return Err(UpstreamError::Rejected(format!(
                "the service account may not act as {admin}: {} ({})",
                text("error").unwrap_or_else(|| format!("HTTP {}", status.as_u16())),
                text("error_description").unwrap_or_default()
            )));
        };
        let lasts = v.get("expires_in").and_then(|e| e.as_i64()).unwrap_or(3600);
        tokens.insert(admin.to_string(), (token.clone(), now + lasts));
        Ok(token)
    }

    /// Dex's `getGroups`: the emails of the groups `email` is in, and with `transitive` the
    /// groups those are in, each group once (a cycle ends where it closes). The same set as
    /// Dex's; the order differs (a page's groups before their groups).
    pub async fn groups(
        &self,
        http: &Http,
        email: &str,
        transitive: bool,
        now: i64,
    ) -> Result<Vec<String>, UpstreamError> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        let mut stack = vec![email.to_string()];
        while let Some(key) = stack.pop() {
            let admin = self.admin_for(&key)?.to_string();
            let token = self.token(http, &admin, now).await?;
            let mut url = self.api.clone();
            url.query_pairs_mut().append_pair("userKey", &key);
            let page: Vec<Group> = Api::new(http, &token)
                .get_all_by_token(&url, "groups")
                .await?;
            let mut nested = Vec::new();
            for g in page {
                if g.email.is_empty() || !seen.insert(g.email.clone()) {
                    continue;
                }
                if seen.len() > MAX_GROUPS {
                    return Err(UpstreamError::Rejected(format!(
                        "the user is in more than {MAX_GROUPS} groups; not read further"
                    )));
                }
                out.push(g.email.clone());
                if transitive {
                    nested.push(g.email);
                }
            }
            stack.extend(nested.into_iter().rev());
        }
        Ok(out)
    }
}
