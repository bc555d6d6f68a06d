//! Dex's rules for a GitLab user's groups, on answers already read: the role-qualified
//! entries of `getGroupsPermission` and the `groups` filter.

use serde::Deserialize;

/// GitLab's OpenID userinfo, as far as Dex reads it: the direct groups and the groups the
/// user holds a role in (a role in a group holds in its subgroups).
#[derive(Debug, Default, Deserialize)]
pub struct UserInfo {
    #[serde(default, deserialize_with = "nullable")]
    pub groups: Vec<String>,
    #[serde(
        default,
        rename = "https://gitlab.org/claims/groups/owner",
        deserialize_with = "nullable"
    )]
    pub owner: Vec<String>,
    #[serde(
        default,
        rename = "https://gitlab.org/claims/groups/maintainer",
        deserialize_with = "nullable"
    )]
    pub maintainer: Vec<String>,
    #[serde(
        default,
        rename = "https://gitlab.org/claims/groups/developer",
        deserialize_with = "nullable"
    )]
    pub developer: Vec<String>,
}

/// `null` reads as an empty list, as Go reads it into a nil slice.
fn nullable<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

/// A group of `GET /api/v4/groups`, as far as Dex reads it.
#[derive(Debug, Clone, Deserialize)]
pub struct Group {
    #[serde(default)]
    pub id: i64,
    #[serde(default)]
    pub full_path: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
}

impl Group {
    /// Its full path, or its path when GitLab gives no full one.
    pub fn claim(&self) -> Option<&str> {
        [self.full_path.as_deref(), self.path.as_deref()]
            .into_iter()
            .flatten()
            .find(|p| !p.is_empty())
    }
}

/// The role userinfo gives the user in `group` (the highest, directly or through an ancestor).
pub fn role_from_userinfo(group: &str, u: &UserInfo) -> Option<&'static str> {
    [
        ("owner", &u.owner),
        ("maintainer", &u.maintainer),
        ("developer", &u.developer),
    ]
    .into_iter()
    .find(|(_, paths)| paths.iter().any(|p| same_or_ancestor(p, group)))
    .map(|(role, _)| role)
}

/// `ancestor` is `group` or one of its parent groups (`dev` is not a parent of `developer`).
fn same_or_ancestor(ancestor: &str, group: &str) -> bool {
    group == ancestor
        || group
            .strip_prefix(ancestor)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The groups, each followed (at the end) by `group:role` where userinfo gives a role.
pub fn with_roles(groups: Vec<String>, u: &UserInfo) -> Vec<String> {
    let roles: Vec<String> = groups
        .iter()
        .filter_map(|g| role_from_userinfo(g, u).map(|r| format!("{g}:{r}")))
        .collect();
    let mut out = groups;
    out.extend(roles);
    out
}

/// GitLab's numeric access levels, by name.
pub fn role_of_access_level(level: i64) -> Option<&'static str> {
    Some(match level {
        5 => "minimal_access",
        10 => "guest",
        15 => "planner",
        20 => "reporter",
        25 => "security_manager",
        30 => "developer",
        40 => "maintainer",
        50 => "owner",
        60 => "admin",
        _ => return None,
    })
}

/// Keep the groups in `allowed`, in the user's order (Dex's `groups.Filter`).
pub fn filter(groups: Vec<String>, allowed: &[String]) -> Vec<String> {
    groups.into_iter().filter(|g| allowed.contains(g)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn roles_come_from_the_group_or_an_ancestor_and_the_highest_wins() {
        let u: UserInfo = serde_json::from_value(serde_json::json!({
            "groups": ["project", "project/group1", "dev", "developer", "other"],
            "https://gitlab.org/claims/groups/owner": ["project/group1"],
            "https://gitlab.org/claims/groups/maintainer": ["project"],
            "https://gitlab.org/claims/groups/developer": ["dev", "project/group1"],
        }))
        .unwrap();
        assert_eq!(
            with_roles(u.groups.clone(), &u),
            s(&[
                "project",
                "project/group1",
                "dev",
                "developer",
                "other",
                "project:maintainer",
                "project/group1:owner",
                "dev:developer"
            ])
        );
        assert_eq!(role_from_userinfo("project/group1/sub", &u), Some("owner"));
        assert_eq!(role_from_userinfo("projects", &u), None);
    }

    #[test]
    fn missing_and_null_lists_read_as_empty() {
        let u: UserInfo =
            serde_json::from_value(serde_json::json!({"sub": "1", "groups": null})).unwrap();
        assert!(u.groups.is_empty() && u.owner.is_empty());
        assert!(serde_json::from_value::<UserInfo>(serde_json::json!({"groups": "g"})).is_err());
    }

    #[test]
    fn the_filter_keeps_allowed_groups_in_order() {
        assert_eq!(
            filter(s(&["a", "b:owner", "c", "b"]), &s(&["b", "a"])),
            s(&["a", "b"])
        );
        assert!(filter(s(&["a"]), &s(&["z"])).is_empty());
        assert_eq!(role_of_access_level(40), Some("maintainer"));
        assert_eq!(role_of_access_level(41), None);
        let g = Group {
            id: 1,
            full_path: Some(String::new()),
            path: Some("p".into()),
        };
        assert_eq!(g.claim(), Some("p"));
    }
}
