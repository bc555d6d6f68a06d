//! Dex's `claimModifications` of the `oidc` connector: `filterGroupClaims` keeps the groups a
//! regex matches, `modifyGroupNames` puts a prefix and suffix on every group, and
//! `newGroupFromClaims` adds groups joined from other claims. They run where and in the order
//! Dex's `createIdentity` runs them: the filter while the groups claim is read (before
//! `allowedGroups`), the prefix and suffix after `allowedGroups`, the new groups last, left as
//! they are and added even without `insecureEnableGroups`.
//!
//! One difference from Dex, on purpose: a groups claim that is a single string is filtered too.
//! Dex skips the filter for that shape only, so a filter meant to drop a group would keep it
//! when the provider happens to send that group alone.

use serde::{Deserialize, Deserializer};

use crate::connector::claims::Claims;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClaimModifications {
    #[serde(default)]
    pub new_group_from_claims: Vec<NewGroupFromClaims>,
    #[serde(default)]
    pub filter_group_claims: FilterGroupClaims,
    #[serde(default)]
    pub modify_group_names: ModifyGroupNames,
}

/// A group made of string claims joined by `delimiter`, after `prefix`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewGroupFromClaims {
    #[serde(default)]
    pub claims: Vec<String>,
    #[serde(default)]
    pub delimiter: String,
    /// Remove the delimiter from the claims' values first, so that whoever controls a value
    /// (a pipeline's name) cannot add segments to the group.
    #[serde(default)]
    pub clear_delimiter: bool,
    #[serde(default)]
    pub prefix: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FilterGroupClaims {
    /// Empty or absent: no filter.
    #[serde(default, deserialize_with = "groups_filter")]
    pub groups_filter: Option<GroupsFilter>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ModifyGroupNames {
    #[serde(default)]
    pub prefix: String,
    #[serde(default)]
    pub suffix: String,
}

/// Dex's `groupsFilter`: a Go (RE2) regex, read by the engine of Rust's `regex` crate in the
/// same syntax; unanchored, as Go's `MatchString`. Unlike Go, `\d`, `\w`, `\s` and `\b` match
/// beyond ASCII too: write `[0-9]` for ASCII digits only.
#[derive(Debug, Clone)]
pub struct GroupsFilter(regex_automata::meta::Regex);

impl GroupsFilter {
    pub fn keeps(&self, group: &str) -> bool {
        self.0.is_match(group)
    }
}

/// A regex that does not compile is refused: Dex logs it and drops the filter, which would let
/// through every group the filter was written to keep out.
fn groups_filter<'de, D: Deserializer<'de>>(d: D) -> Result<Option<GroupsFilter>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) => regex_automata::meta::Regex::new(&s)
            .map(|r| Some(GroupsFilter(r)))
            .map_err(|e| {
                // The syntax error's last line says what is wrong; the rest draws where.
                let why = e
                    .syntax_error()
                    .and_then(|x| x.to_string().lines().last().map(String::from))
                    .map(|l| l.trim_start_matches("error: ").to_string())
                    .unwrap_or_else(|| e.to_string());
                serde::de::Error::custom(format!("groupsFilter `{s}` is not a regex: {why}"))
            }),
    }
}

impl ClaimModifications {
    /// Whether `filterGroupClaims` keeps `group`.
    pub fn keeps(&self, group: &str) -> bool {
        self.filter_group_claims
            .groups_filter
            .as_ref()
            .is_none_or(|f| f.keeps(group))
    }

    /// `modifyGroupNames`, then `newGroupFromClaims`: the groups once `allowedGroups` has
    /// judged them.
    pub fn finish(&self, groups: Vec<String>, c: &Claims) -> Vec<String> {
        let ModifyGroupNames { prefix, suffix } = &self.modify_group_names;
        let mut groups: Vec<String> = groups
            .into_iter()
            .map(|g| format!("{prefix}{g}{suffix}"))
            .collect();
        groups.extend(self.new_group_from_claims.iter().filter_map(|n| n.group(c)));
        groups
    }
}

impl NewGroupFromClaims {
    /// The group, or `None` when none of its claims is a string (Dex joins no empty group).
    fn group(&self, c: &Claims) -> Option<String> {
        let mut segments = vec![self.prefix.clone()];
        // Only strings: Dex ignores numbers, lists and objects here.
        for value in self.claims.iter().filter_map(|k| c.get(k)?.as_str()) {
            segments.push(if self.clear_delimiter && !self.delimiter.is_empty() {
                value.replace(&self.delimiter, "")
            } else {
                value.to_string()
            });
        }
        (segments.len() > 1).then(|| segments.join(&self.delimiter))
    }
}
