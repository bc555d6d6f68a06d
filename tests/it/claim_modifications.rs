//! The `oidc` connector's `claimModifications` against a real OpenID provider (node
//! oidc-provider, started by scripts/test.sh): the groups Gantry's tokens carry after the
//! filter, the prefix and suffix and the groups joined from claims, at login and at refresh.

use reqwest::StatusCode;

use crate::support::*;
use crate::upstream::{
    account, gantry_behind_provider, login_through, refresh, upstream_test_call,
};

/// Added under the connector's `config`; `claimMapping:` with nothing under it is YAML null, as
/// a file with its children commented out reads.
const MODIFICATIONS: &str = r#"      claimMapping:
      #  groups: roles
      claimModifications:
        filterGroupClaims:
          groupsFilter: "^team-"
        modifyGroupNames:
          prefix: "sso:"
          suffix: "@corp"
        newGroupFromClaims:
          - claims: [preferred_username]
            delimiter: ":"
            prefix: user
"#;

#[tokio::test]
async fn provider_groups_are_filtered_renamed_and_joined_from_claims_at_login_and_refresh() {
    let app = gantry_behind_provider(MODIFICATIONS).await;
    let login = account("cy", &["team-a", "sales", "team-b"]);
    let name = login.split('+').next().unwrap().to_string();
    let t = login_through(&app, &login, "any").await;
    let c = jwt_claims(t["id_token"].as_str().unwrap());
    assert_eq!(
        c["groups"],
        serde_json::json!(["sso:team-a@corp", "sso:team-b@corp", format!("user:{name}")]),
        "sales is filtered out, the rest renamed, the user's group added last"
    );
    // The provider's groups change: a refresh reads them through the same modifications.
    upstream_test_call("/test/groups", &login, "sales,team-c").await;
    let (s, b) = refresh(&app, t["refresh_token"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let c = jwt_claims(b["id_token"].as_str().unwrap());
    assert_eq!(
        c["groups"],
        serde_json::json!(["sso:team-c@corp", format!("user:{name}")])
    );
}

#[tokio::test]
async fn a_filter_that_drops_every_allowed_group_refuses_the_login() {
    // allowedGroups judges what the filter kept: `admins` never reaches it.
    let app = gantry_behind_provider(
        "      allowedGroups: [admins]\n      claimModifications:\n        filterGroupClaims:\n          groupsFilter: \"^team-\"\n",
    )
    .await;
    let b = app.browser();
    let auth = rp_auth_url(&app, "upstream", "openid groups", &[]);
    let login = account("dee", &["admins", "team-a"]);
    let callback = walk(&b, &auth, &login, "any", |u| {
        u.starts_with(&app.url("/callback"))
    })
    .await;
    let r = b.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("not in any of the allowed groups")
    );
}
