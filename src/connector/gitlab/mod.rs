//! The `gitlab` connector: GitLab's OAuth2 login, the user from `/api/v4/user`, groups from
//! GitLab's OpenID userinfo (or, with `inheritedGroups`, from `/api/v4/groups`). Keys and
//! meaning are Dex's (`connector/gitlab/gitlab.go`): `groups` lets in only members of one of
//! them and keeps only those, `getGroupsPermission` adds `group:role` entries. A refresh
//! renews GitLab's token and asks again, so a user who left the groups is refused.

pub mod config;
pub mod groups;

use serde::{Deserialize, Serialize};

use self::config::GitlabConfig;
use self::groups::{Group, UserInfo};
use crate::connector::egress::DenyList;
use crate::connector::probe::{self, Outcome, Probe};
use crate::connector::rest::{self, Api};
use crate::connector::token_endpoint::TokenEndpoint;
use crate::connector::upstream::{self, Http};
use crate::connector::{Begin, ConnectorConfigError, ConnectorError, Scopes};
use crate::identity::Identity;
use crate::seal::Sealer;

const SEAL_PURPOSE: &str = "gitlab-connector-data";

#[derive(Debug)]
pub struct GitlabConnector {
    id: String,
    cfg: GitlabConfig,
    http: Http,
    token: TokenEndpoint,
    base: url::Url,
    sealer: Sealer,
}

/// What a refresh needs (Dex's connector data) and the user it belongs to.
#[derive(Debug, Serialize, Deserialize)]
struct Data {
    access_token: String,
    #[serde(default)]
    refresh_token: String,
    /// GitLab's numeric id of the user.
    user: i64,
}

/// `GET /api/v4/user`, as far as Dex reads it.
#[derive(Debug, Deserialize)]
struct User {
    id: i64,
    username: String,
    name: Option<String>,
    email: Option<String>,
}

/// `GET /api/v4/groups/{id}/members/all/{user}`, as far as Dex reads it.
#[derive(Debug, Deserialize)]
struct Member {
    access_level: i64,
}

impl GitlabConnector {
    pub fn new(
        id: &str,
        cfg: GitlabConfig,
        sealer: Sealer,
        deny: &DenyList,
    ) -> Result<GitlabConnector, ConnectorConfigError> {
        let roots: Vec<String> = Some(cfg.root_ca_data.clone())
            .filter(|r| !r.is_empty())
            .into_iter()
            .collect();
        let http = upstream::client_trusting("config.rootCAData", &roots, cfg.timeout()?, deny)?;
        let token = TokenEndpoint::new(
            &format!("{}/oauth/authorize", cfg.base_url),
            &format!("{}/oauth/token", cfg.base_url),
            &cfg.client_id,
            &cfg.client_secret,
            &cfg.redirect_uri,
            false,
        )?;
        let base =
            url::Url::parse(&cfg.base_url).map_err(|source| ConnectorConfigError::NotAUrl {
                key: "baseURL".into(),
                source,
            })?;
        Ok(GitlabConnector {
            id: id.to_string(),
            cfg,
            http,
            token,
            base,
            sealer,
        })
    }

    pub fn begin(&self, state: &str, s: Scopes) -> Result<Begin, ConnectorError> {
        let a = self
            .token
            .authorize(state, &self.cfg.scopes(s.groups), None, &[]);
        Ok(Begin {
            url: a.url,
            nonce: String::new(),
            verifier: a.verifier,
        })
    }

    /// The admin's Test: does the token endpoint answer as one, and take the client's
    /// credentials?
    pub async fn probe(&self) -> Probe {
        let token_url = format!("{}/oauth/token", self.cfg.base_url);
        match self.token.probe(&self.http).await {
            Ok(true) => Probe::passed(vec![
                probe::transport_fact(&token_url),
                "the token endpoint answered as OAuth2 (it refused a made-up code)".into(),
            ]),
            Ok(false) => Probe::failed(
                Outcome::ClientRefused,
                format!("{token_url}: invalid_client"),
            )
            .after(vec![probe::transport_fact(&token_url)]),
            Err(e) => Probe::failed(e.reach().into(), e),
        }
    }

    pub async fn finish(&self, code: &str, s: Scopes) -> Result<Identity, ConnectorError> {
        let t = self
            .token
            .exchange_code(&self.http, code, "")
            .await
            .map_err(|e| ConnectorError::from(e).while_("gitlab: failed to get token"))?;
        let data = Data {
            access_token: t.access_token().to_string(),
            refresh_token: t.refresh_token().unwrap_or_default().to_string(),
            user: 0,
        };
        Ok(self.identity(data, s).await?.0)
    }

    /// Dex's Refresh: with a refresh token, a new access token first (GitLab's expire); then
    /// the whole identity again, from the same GitLab user.
    pub async fn refresh(&self, old: &Identity, s: Scopes) -> Result<Identity, ConnectorError> {
        let data: Data = old
            .connector_data
            .as_deref()
            .and_then(|d| self.sealer.open(SEAL_PURPOSE, d))
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(ConnectorError::UserGone)?;
        let fresh = if !data.refresh_token.is_empty() {
            let t = self
                .token
                .refresh(&self.http, &data.refresh_token)
                .await
                .map_err(|e| ConnectorError::from(e).on_refresh(&self.id))?;
            Data {
                access_token: t.access_token().to_string(),
                refresh_token: t
                    .refresh_token()
                    .map_or_else(|| data.refresh_token.clone(), str::to_string),
                user: data.user,
            }
        } else if !data.access_token.is_empty() {
            data
        } else {
            return Err(ConnectorError::UserGone);
        };
        let was = fresh.user;
        let (identity, user) = self
            .identity(
                fresh,
                Scopes {
                    offline_access: true,
                    ..s
                },
            )
            .await
            .map_err(|e| e.on_refresh(&self.id))?;
        if user != was {
            tracing::info!(connector = %self.id, "the access token now belongs to another user");
            return Err(ConnectorError::UserGone);
        }
        Ok(identity)
    }

    /// Dex's `identity`: the user, and the groups when they are needed; GitLab's user id.
    async fn identity(&self, mut data: Data, s: Scopes) -> Result<(Identity, i64), ConnectorError> {
        let api = Api::new(&self.http, &data.access_token, &[]);
        let user: User = api
            .get_json(&self.url(&["api", "v4", "user"]))
            .await
            .map_err(|e| ConnectorError::from(e).while_("gitlab: get user"))?;
        let email = user.email.clone().unwrap_or_default();
        let mut identity = Identity {
            user_id: if self.cfg.use_login_as_id {
                user.username.clone()
            } else {
                user.id.to_string()
            },
            username: user
                .name
                .clone()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| email.clone()),
            preferred_username: user.username.clone(),
            email,
            email_verified: true,
            connector_id: self.id.clone(),
            ..Identity::default()
        };
        if identity.user_id.is_empty() {
            return Err(ConnectorError::Rejected(
                "gitlab: get user: the answer has no username".into(),
            ));
        }
        if self.cfg.groups_required(s.groups) {
            let g = self
                .groups(&api, user.id)
                .await
                .map_err(|e| e.while_("gitlab: get groups"))?;
            identity.groups = if !self.cfg.groups.is_empty() {
                let kept = groups::filter(g, &self.cfg.groups);
                if kept.is_empty() {
                    return Err(ConnectorError::Rejected(format!(
                        "gitlab: user \"{}\" is not in any of the required groups",
                        user.username
                    )));
                }
                kept
            } else if s.groups {
                g
            } else {
                Vec::new()
            };
        }
        if s.offline_access {
            data.user = user.id;
            identity.connector_data = Some(self.seal(&data));
        }
        Ok((identity, user.id))
    }

    /// The user's groups: userinfo's, or the groups API's with `inheritedGroups`; with
    /// `getGroupsPermission`, `group:role` entries too.
    async fn groups(&self, api: &Api<'_>, user: i64) -> Result<Vec<String>, ConnectorError> {
        if !self.cfg.inherited_groups {
            let u = self.userinfo(api).await?;
            return Ok(if self.cfg.get_groups_permission {
                groups::with_roles(u.groups.clone(), &u)
            } else {
                u.groups
            });
        }
        let mut list = self.url(&["api", "v4", "groups"]);
        list.query_pairs_mut()
            .append_pair("all_available", "false")
            .append_pair("per_page", "100");
        let records: Vec<Group> = api.get_all(&list).await?;
        let paths: Vec<String> = records
            .iter()
            .filter_map(|g| g.claim().map(str::to_string))
            .collect();
        if !self.cfg.get_groups_permission {
            return Ok(paths);
        }
        let u = self.userinfo(api).await?;
        let mut out = groups::with_roles(paths, &u);
        // A group userinfo names no role in: ask the members API for the effective one.
        for g in &records {
            let Some(path) = g.claim() else { continue };
            if groups::role_from_userinfo(path, &u).is_some() {
                continue;
            }
            if let Some(role) = self.effective_role(api, g.id, user).await? {
                out.push(format!("{path}:{role}"));
            }
        }
        Ok(out)
    }

    async fn userinfo(&self, api: &Api<'_>) -> Result<UserInfo, ConnectorError> {
        Ok(api.get_json(&self.url(&["oauth", "userinfo"])).await?)
    }

    /// The user's access level in group `id`, inherited ones included; none where GitLab does
    /// not say (403, 404).
    async fn effective_role(
        &self,
        api: &Api<'_>,
        id: i64,
        user: i64,
    ) -> Result<Option<&'static str>, ConnectorError> {
        if id == 0 || user == 0 {
            return Err(ConnectorError::Rejected(
                "gitlab: group and user ids are required to fetch effective group permissions"
                    .into(),
            ));
        }
        let (gid, uid) = (id.to_string(), user.to_string());
        let url = self.url(&["api", "v4", "groups", &gid, "members", "all", &uid]);
        let a = api.get(&url).await?;
        match a.status.as_u16() {
            200 => {
                let m: Member = serde_json::from_slice(&a.body).map_err(|e| {
                    ConnectorError::Rejected(format!("{url}: the answer is not a member: {e}"))
                })?;
                Ok(groups::role_of_access_level(m.access_level))
            }
            403 | 404 => Ok(None),
            _ => Err(rest::status_error(&url, a.status).into()),
        }
    }

    fn url(&self, segments: &[&str]) -> url::Url {
        let mut u = self.base.clone();
        if let Ok(mut p) = u.path_segments_mut() {
            p.pop_if_empty().extend(segments);
        }
        u
    }

    fn seal(&self, d: &Data) -> String {
        self.sealer
            .seal(SEAL_PURPOSE, &serde_json::to_vec(d).unwrap_or_default())
    }
}
