//! The Microsoft Graph calls Dex's `microsoft` connector makes, made the same way: `GET
//! /v1.0/me` with Dex's `$select`, `POST /v1.0/me/getMemberGroups` and `POST
//! /v1.0/directoryObjects/getByIds`, each followed through `@odata.nextLink`.

use serde::Deserialize;

use crate::connector::json_pages::Api;
use crate::connector::upstream::{Http, UpstreamError};

/// Graph resolves at most this many ids per `getByIds` call (Dex's `batchGroupLookups`).
pub const MAX_IDS_PER_LOOKUP: usize = 1000;

/// Graph's `user`, the properties Dex selects.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    #[serde(default, deserialize_with = "or_empty")]
    pub display_name: String,
    #[serde(default, deserialize_with = "or_empty")]
    pub user_principal_name: String,
    #[serde(default, deserialize_with = "or_empty")]
    pub mail_nickname: String,
    #[serde(default, deserialize_with = "or_empty")]
    pub on_premises_sam_account_name: String,
}

/// Graph's string properties are nullable; null reads as Go's zero value, as in Dex.
fn or_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// A `directoryObject` that `getByIds` answers for a group: its display name.
#[derive(Debug, Deserialize)]
struct Group {
    #[serde(rename = "displayName", default, deserialize_with = "or_empty")]
    name: String,
}

/// Graph, called with one user's access token.
pub struct Graph<'a> {
    api: Api<'a>,
    base: &'a url::Url,
}

impl<'a> Graph<'a> {
    /// `base`: the `graphURL` with a trailing slash.
    pub fn new(http: &'a Http, base: &'a url::Url, token: &'a str) -> Graph<'a> {
        Graph {
            api: Api::new(http, token),
            base,
        }
    }

    fn url(&self, path: &str) -> Result<url::Url, UpstreamError> {
        self.base
            .join(path)
            .map_err(|e| UpstreamError::Rejected(format!("graphURL: {e}")))
    }

    pub async fn me(&self) -> Result<User, UpstreamError> {
        let url = self.url(
            "v1.0/me?$select=id,displayName,userPrincipalName,mailNickname,onPremisesSamAccountName",
        )?;
        let v = self.api.call(&url, None).await?;
        serde_json::from_value(v).map_err(|e| {
            UpstreamError::Rejected(format!("{url}: the user is not what was expected: {e}"))
        })
    }

    /// The ids of every group the user is in, directly or through other groups.
    pub async fn member_groups(&self, security_only: bool) -> Result<Vec<String>, UpstreamError> {
        let url = self.url("v1.0/me/getMemberGroups")?;
        self.api
            .post_all(
                &url,
                &serde_json::json!({ "securityEnabledOnly": security_only }),
            )
            .await
    }

    /// The display names of the groups `ids`, asked `batch` ids at a time.
    pub async fn group_names(
        &self,
        ids: &[String],
        batch: usize,
    ) -> Result<Vec<String>, UpstreamError> {
        let url = self.url("v1.0/directoryObjects/getByIds")?;
        let mut names = Vec::new();
        for chunk in ids.chunks(batch.max(1)) {
            let body = serde_json::json!({ "ids": chunk, "types": ["group"] });
            let groups: Vec<Group> = self.api.post_all(&url, &body).await?;
            names.extend(groups.into_iter().map(|g| g.name));
        }
        Ok(names)
    }
}
