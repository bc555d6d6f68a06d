//! The `github` connector: GitHub's OAuth2 login, the user from its REST API, groups from the
//! user's organizations and teams. Keys and meaning are Dex's (`connector/github/github.go`):
//! `orgs` limits who may log in and yields `org:team` groups, the legacy `org` only yields the
//! bare names of the user's teams in it, `loadAllGroups` yields every organization and team
//! when the client asks for groups. A refresh asks GitHub again, and refuses a user who has
//! left the organizations. `hostName` is GitHub Enterprise Server, with `rootCA` its CA.
//!
//! GitHub answers a rate-limited call with 403 or 429 and says when the limit resets: that is
//! an unavailable identity source (try again then), never a refusal or a failure of Gantry.

pub mod config;
pub mod groups;

use serde::{Deserialize, Serialize};

use self::config::{GithubConfig, TeamNameField};
use self::groups::{Email, OrgRef, Team};
use crate::connector::egress::DenyList;
use crate::connector::probe::{self, Outcome, Probe};
use crate::connector::rest::{self, Api};
use crate::connector::token_endpoint::{TokenEndpoint, TokenSet};
use crate::connector::upstream::{self, Http};
use crate::connector::{Begin, ConnectorConfigError, ConnectorError, Scopes};
use crate::identity::Identity;
use crate::seal::Sealer;

const SEAL_PURPOSE: &str = "github-connector-data";
/// The REST API version Dex pins; the answers Gantry reads are this version's.
const API_VERSION: &str = "2022-11-28";
const API_HEADERS: &[(&str, &str)] = &[
    ("x-github-api-version", API_VERSION),
    ("accept", "application/vnd.github+json"),
];
/// Seconds before its expiry that an expiring access token is renewed (as Go's oauth2 does).
const EXPIRY_DELTA: i64 = 10;

#[derive(Debug)]
pub struct GithubConnector {
    id: String,
    cfg: GithubConfig,
    team_field: TeamNameField,
    http: Http,
    token: TokenEndpoint,
    /// `https://api.github.com` or `https://HOST/api/v3`, without a trailing slash.
    api: url::Url,
    token_url: String,
    sealer: Sealer,
}

/// What a refresh needs: the access token (and, from a GitHub App, the refresh token that
/// renews it) and the user it belongs to.
#[derive(Debug, Serialize, Deserialize)]
struct Data {
    access_token: String,
    #[serde(default)]
    refresh_token: String,
    /// Unix seconds; none for OAuth Apps' tokens, which do not expire.
    #[serde(default)]
    expires_at: Option<i64>,
    /// GitHub's numeric id of the user.
    user: i64,
}

/// `GET /user`, as far as Dex reads it.
#[derive(Debug, Deserialize)]
struct User {
    id: i64,
    login: String,
    name: Option<String>,
    email: Option<String>,
}

impl GithubConnector {
    pub fn new(
        id: &str,
        cfg: GithubConfig,
        sealer: Sealer,
        deny: &DenyList,
    ) -> Result<GithubConnector, ConnectorConfigError> {
        let (auth_url, token_url, api) = cfg.endpoints();
        Self::at(id, cfg, sealer, deny, &auth_url, &token_url, &api)
    }

    /// The connector with GitHub's endpoints at the given URLs (GitHub's own, an Enterprise
    /// server's, or a stand-in's in unit tests).
    fn at(
        id: &str,
        cfg: GithubConfig,
        sealer: Sealer,
        deny: &DenyList,
        auth_url: &str,
        token_url: &str,
        api: &str,
    ) -> Result<GithubConnector, ConnectorConfigError> {
        let roots: Vec<String> = Some(cfg.root_ca.clone())
            .filter(|r| !r.is_empty())
            .into_iter()
            .collect();
        let http = upstream::client_trusting("config.rootCA", &roots, cfg.timeout()?, deny)?;
        // GitHub takes the client's credentials in the form (Go's github.Endpoint).
        let token = TokenEndpoint::new(
            auth_url,
            token_url,
            &cfg.client_id,
            &cfg.client_secret,
            &cfg.redirect_uri,
            true,
        )?;
        let api = url::Url::parse(api.trim_end_matches('/')).map_err(|source| {
            ConnectorConfigError::NotAUrl {
                key: "hostName".into(),
                source,
            }
        })?;
        if !cfg.org.is_empty() {
            tracing::warn!(
                connector = %id,
                "github: legacy field 'org' being used: it limits no one's login (as in Dex); \
                 switch to 'orgs' to let only its members in"
            );
        }
        Ok(GithubConnector {
            id: id.to_string(),
            team_field: cfg.team_name_field()?,
            cfg,
            http,
            token,
            api,
            token_url: token_url.to_string(),
            sealer,
        })
    }

    fn enterprise(&self) -> bool {
        !self.cfg.host_name.is_empty()
    }

    fn scopes(&self, s: Scopes) -> Vec<String> {
        let mut v = vec!["user:email".to_string()];
        if self.cfg.groups_required(s.groups) {
            v.push("read:org".into());
        }
        v
    }

    pub fn begin(&self, state: &str, s: Scopes) -> Result<Begin, ConnectorError> {
        let a = self.token.authorize(state, &self.scopes(s), None, &[]);
        Ok(Begin {
            url: a.url,
            nonce: String::new(),
            verifier: a.verifier,
        })
    }

    /// The admin's Test: does the token endpoint answer as one, and take the client's
    /// credentials? (Nothing more can be checked without a user's login.)
    pub async fn probe(&self) -> Probe {
        match self.token.probe(&self.http).await {
            Ok(true) => Probe::passed(vec![
                probe::transport_fact(&self.token_url),
                "the token endpoint answered as OAuth2 (it refused a made-up code)".into(),
            ]),
            Ok(false) => Probe::failed(
                Outcome::ClientRefused,
                format!("{}: incorrect_client_credentials", self.token_url),
            )
            .after(vec![probe::transport_fact(&self.token_url)]),
            Err(e) => Probe::failed(e.reach().into(), e),
        }
    }

    pub async fn finish(
        &self,
        code: &str,
        s: Scopes,
        now: i64,
    ) -> Result<Identity, ConnectorError> {
        let tokens = self
            .token
            .exchange_code(&self.http, code, "")
            .await
            .map_err(|e| ConnectorError::from(e).while_("github: failed to get token"))?;
        let api = Api::new(&self.http, tokens.access_token(), API_HEADERS);
        let user = self.user(&api).await?;
        let mut identity = Identity {
            user_id: if self.cfg.use_login_as_id {
                user.login.clone()
            } else {
                user.id.to_string()
            },
            connector_id: self.id.clone(),
            ..Identity::default()
        };
        self.fill(&mut identity, &user);
        if self.cfg.groups_required(s.groups) {
            identity.groups = self.groups(&api, s.groups, &user.login).await?;
        }
        if s.offline_access {
            identity.connector_data = Some(self.seal(&Data::from_tokens(&tokens, user.id, now)));
        }
        Ok(identity)
    }

    /// Dex's Refresh: the user, email and groups asked of GitHub again (the user id stays);
    /// an expired GitHub App token is renewed first with its refresh token.
    pub async fn refresh(
        &self,
        old: &Identity,
        s: Scopes,
        now: i64,
    ) -> Result<Identity, ConnectorError> {
        let mut data: Data = old
            .connector_data
            .as_deref()
            .and_then(|d| self.sealer.open(SEAL_PURPOSE, d))
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(ConnectorError::UserGone)?;
        let expired = data
            .expires_at
            .is_some_and(|t| now >= t.saturating_sub(EXPIRY_DELTA));
        if data.access_token.is_empty() || expired {
            if data.refresh_token.is_empty() {
                return Err(ConnectorError::UserGone);
            }
            let t = self
                .token
                .refresh(&self.http, &data.refresh_token)
                .await
                .map_err(|e| ConnectorError::from(e).on_refresh(&self.id))?;
            data = Data::from_tokens(&t, data.user, now).keeping(&data.refresh_token);
        }
        let api = Api::new(&self.http, &data.access_token, API_HEADERS);
        let user = self.user(&api).await.map_err(|e| e.on_refresh(&self.id))?;
        if user.id != data.user {
            tracing::info!(connector = %self.id, "the access token now belongs to another user");
            return Err(ConnectorError::UserGone);
        }
        let mut identity = old.clone();
        self.fill(&mut identity, &user);
        if self.cfg.groups_required(s.groups) {
            identity.groups = self
                .groups(&api, s.groups, &user.login)
                .await
                .map_err(|e| e.on_refresh(&self.id))?;
        }
        identity.connector_data = Some(self.seal(&data));
        Ok(identity)
    }

    fn fill(&self, identity: &mut Identity, user: &User) {
        identity.username = user
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| user.login.clone());
        identity.preferred_username = user.login.clone();
        identity.email = user.email.clone().unwrap_or_default();
        identity.email_verified = true;
    }

    fn url(&self, segments: &[&str]) -> url::Url {
        let mut u = self.api.clone();
        if let Ok(mut p) = u.path_segments_mut() {
            p.pop_if_empty().extend(segments);
        }
        u
    }

    /// A list's first page, asking for GitHub's largest pages.
    fn list(&self, segments: &[&str]) -> url::Url {
        let mut u = self.url(segments);
        u.query_pairs_mut().append_pair("per_page", "100");
        u
    }

    /// `GET /user`; its public email, or (when it has none, or `preferredEmailDomain` is set)
    /// the one Dex chooses from `/user/emails`.
    async fn user(&self, api: &Api<'_>) -> Result<User, ConnectorError> {
        let mut u: User = api
            .get_json(&self.url(&["user"]))
            .await
            .map_err(|e| ConnectorError::from(e).while_("github: get user"))?;
        if u.login.is_empty() {
            return Err(ConnectorError::Rejected(
                "github: get user: the answer has no login".into(),
            ));
        }
        let public = u.email.clone().unwrap_or_default();
        if public.is_empty() || !self.cfg.preferred_email_domain.is_empty() {
            let emails: Vec<Email> = api
                .get_all(&self.list(&["user", "emails"]))
                .await
                .map_err(|e| ConnectorError::from(e).while_("github: get user emails"))?;
            u.email = Some(
                groups::choose_email(&emails, &self.cfg.preferred_email_domain, self.enterprise())
                    .map_err(|e| ConnectorError::Rejected(e.to_string()))?,
            );
        }
        Ok(u)
    }

    /// Dex's getGroups: by `orgs`, by the legacy `org`, or all of them with `loadAllGroups`.
    async fn groups(
        &self,
        api: &Api<'_>,
        groups_scope: bool,
        login: &str,
    ) -> Result<Vec<String>, ConnectorError> {
        if !self.cfg.orgs.is_empty() {
            let mut member_of = Vec::new();
            for org in &self.cfg.orgs {
                if self.member(api, &org.name, login).await? {
                    member_of.push(org.name.as_str());
                } else {
                    tracing::info!(connector = %self.id, user = %login, org = %org.name,
                        "user not in org or application not authorized to read org data");
                }
            }
            // Teams are read only for a member of some organization: one list serves all.
            let teams = if member_of.is_empty() {
                Vec::new()
            } else {
                self.teams(api).await?
            };
            return groups::for_orgs(&self.cfg.orgs, &member_of, self.team_field, &teams)
                .ok_or_else(|| {
                    ConnectorError::Rejected(format!(
                        "github: user \"{login}\" not in required orgs or teams"
                    ))
                });
        }
        if !self.cfg.org.is_empty() {
            let teams = self.teams(api).await?;
            return Ok(groups::teams_in(self.team_field, &teams, &self.cfg.org));
        }
        if groups_scope && self.cfg.load_all_groups {
            let orgs: Vec<OrgRef> = api
                .get_all(&self.list(&["user", "orgs"]))
                .await
                .map_err(|e| ConnectorError::from(e).while_("github: get orgs"))?;
            let teams = self.teams(api).await?;
            return Ok(groups::all(self.team_field, &orgs, &teams));
        }
        Ok(Vec::new())
    }

    async fn teams(&self, api: &Api<'_>) -> Result<Vec<Team>, ConnectorError> {
        api.get_all(&self.list(&["user", "teams"]))
            .await
            .map_err(|e| ConnectorError::from(e).while_("github: get teams"))
    }

    /// `GET /orgs/{org}/members/{user}`: 204 for a member; 404 (or 302, for a requester
    /// outside the org) for anyone else, or when the org has not approved this application.
    async fn member(&self, api: &Api<'_>, org: &str, login: &str) -> Result<bool, ConnectorError> {
        let url = self.url(&["orgs", org, "members", login]);
        let a = api
            .get(&url)
            .await
            .map_err(|e| ConnectorError::from(e).while_("github: get org membership"))?;
        match a.status.as_u16() {
            204 => Ok(true),
            302 | 404 => Ok(false),
            _ => Err(ConnectorError::from(rest::status_error(&url, a.status))
                .while_("github: get org membership")),
        }
    }

    fn seal(&self, d: &Data) -> String {
        self.sealer
            .seal(SEAL_PURPOSE, &serde_json::to_vec(d).unwrap_or_default())
    }
}

impl Data {
    fn from_tokens(t: &TokenSet, user: i64, now: i64) -> Data {
        Data {
            access_token: t.access_token().to_string(),
            refresh_token: t.refresh_token().unwrap_or_default().to_string(),
            expires_at: t
                .expires_in_secs()
                .filter(|s| *s > 0)
                .map(|s| now.saturating_add(s)),
            user,
        }
    }

    /// A renewal that names no new refresh token keeps the old one.
    fn keeping(mut self, refresh_token: &str) -> Data {
        if self.refresh_token.is_empty() {
            self.refresh_token = refresh_token.to_string();
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::{Form, State};
    use axum::http::HeaderMap;
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    /// A github.com-like server on plain http: its tokens expire after `expires_in` and are
    /// renewed with a refresh token (a GitHub App's user tokens); `/user/emails` has only an
    /// unverified primary address until `verified` is set.
    #[derive(Default)]
    struct Fake {
        live: Vec<String>,
        refreshes: usize,
        verified: bool,
    }

    async fn serve(fake: Arc<Mutex<Fake>>) -> String {
        async fn token(
            State(f): State<Arc<Mutex<Fake>>>,
            Form(form): Form<HashMap<String, String>>,
        ) -> axum::Json<serde_json::Value> {
            let mut f = f.lock().unwrap();
            if form.get("grant_type").map(String::as_str) == Some("refresh_token") {
                assert_eq!(form["refresh_token"], "ghr_1");
                f.refreshes += 1;
            }
            let t = format!("ghu_{}", f.live.len());
            f.live.push(t.clone());
            axum::Json(
                serde_json::json!({"access_token": t, "token_type": "bearer",
                "expires_in": 28800, "refresh_token": "ghr_1",
                "refresh_token_expires_in": 15897600}),
            )
        }
        fn caller_ok(f: &Fake, h: &HeaderMap) -> bool {
            let t = h
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            f.live.last().is_some_and(|l| t == format!("Bearer {l}"))
        }
        async fn user(
            State(f): State<Arc<Mutex<Fake>>>,
            h: HeaderMap,
        ) -> Result<axum::Json<serde_json::Value>, axum::http::StatusCode> {
            if !caller_ok(&f.lock().unwrap(), &h) {
                return Err(axum::http::StatusCode::UNAUTHORIZED);
            }
            Ok(axum::Json(
                serde_json::json!({"id": 9, "login": "octo", "name": null, "email": null}),
            ))
        }
        async fn emails(
            State(f): State<Arc<Mutex<Fake>>>,
            h: HeaderMap,
        ) -> Result<axum::Json<serde_json::Value>, axum::http::StatusCode> {
            let f = f.lock().unwrap();
            if !caller_ok(&f, &h) {
                return Err(axum::http::StatusCode::UNAUTHORIZED);
            }
            Ok(axum::Json(serde_json::json!([
                {"email": "octo@example.com", "verified": f.verified, "primary": true,
                 "visibility": "private"}
            ])))
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .route("/login/oauth/access_token", axum::routing::post(token))
            .route("/user", axum::routing::get(user))
            .route("/user/emails", axum::routing::get(emails))
            .with_state(fake);
        tokio::spawn(async move { axum::serve(listener, app).await });
        base
    }

    #[tokio::test]
    async fn github_com_needs_a_verified_address_and_an_expired_app_token_is_renewed() {
        let fake = Arc::new(Mutex::new(Fake::default()));
        let base = serve(fake.clone()).await;
        let cfg = GithubConfig::from_value(&serde_json::json!({"clientID": "c",
            "clientSecret": "s", "redirectURI": "https://id.example.com/dex/callback"}))
        .unwrap();
        let sealer = Sealer::new(&[crate::secret::random_bytes(32)]).unwrap();
        let c = GithubConnector::at(
            "gh",
            cfg,
            sealer,
            &DenyList::default(),
            &format!("{base}/login/oauth/authorize"),
            &format!("{base}/login/oauth/access_token"),
            &base,
        )
        .unwrap();
        let s = Scopes {
            offline_access: true,
            groups: false,
        };
        // On github.com an unverified primary address is no address: the login is refused.
        let e = c.finish("code", s, 1000).await.unwrap_err();
        assert!(e.to_string().contains("no verified, primary email"), "{e}");
        fake.lock().unwrap().verified = true;
        let id = c.finish("code", s, 1000).await.unwrap();
        assert_eq!(
            (id.user_id.as_str(), id.username.as_str(), id.email.as_str()),
            ("9", "octo", "octo@example.com"),
            "no name: the login is the name"
        );
        assert!(id.groups.is_empty());

        // Within its 8 hours the access token is used as it is; after, it is renewed first.
        let same = c.refresh(&id, s, 1000 + 3600).await.unwrap();
        assert_eq!(fake.lock().unwrap().refreshes, 0);
        let renewed = c.refresh(&same, s, 1000 + 28800).await.unwrap();
        assert_eq!(fake.lock().unwrap().refreshes, 1);
        assert_eq!(renewed.user_id, "9");
        // The renewed token (and its expiry) is what the next refresh starts from.
        c.refresh(&renewed, s, 1000 + 28800 + 60).await.unwrap();
        assert_eq!(fake.lock().unwrap().refreshes, 1);
        // Connector data that does not open (forged, or sealed for another purpose) is nobody's.
        let mut forged = renewed.clone();
        forged.connector_data = Some("not sealed".into());
        assert!(matches!(
            c.refresh(&forged, s, 0).await,
            Err(ConnectorError::UserGone)
        ));
    }
}
