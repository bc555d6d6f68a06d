//! A user's groups, with nesting in Dex's meaning (`connector/ldap/ldap.go`, `groups()`): the
//! direct groups are those whose `groupAttr` holds one of the user's `userAttr` values; the
//! parents of a group are the groups whose `recursionGroupAttr` holds that group's DN.
//!
//! Never reads a found group's own members to go on: with `recursionGroupAttr: member` that
//! would find the other groups of the group's members, and a user would receive the groups of
//! everyone they share a group with. Each level is one search; a group seen before is not
//! searched again (cycles end), and the walk stops `MAX_PARENT_LEVELS` above the direct groups
//! (Dex has no bound).

use std::collections::HashSet;
use std::future::Future;

use ldap3::ldap_escape;

use super::and;
use super::config::UserMatcher;
use crate::connector::ConnectorError;

/// Levels of parent groups followed above the direct ones.
pub const MAX_PARENT_LEVELS: usize = 10;

/// A group a search returned: its DN (what its parents list) and its names.
#[derive(Debug, Clone)]
pub struct Found {
    pub dn: String,
    pub names: Vec<String>,
}

/// `(&<groupSearch.filter>(|(attr=v1)(attr=v2)...))`, every value escaped (RFC 4515).
pub fn level_filter(group_filter: &str, attr: &str, values: &[String]) -> String {
    let clauses: String = values
        .iter()
        .map(|v| format!("({attr}={})", ldap_escape(v.as_str())))
        .collect();
    let clause = if values.len() == 1 {
        clauses
    } else {
        format!("(|{clauses})")
    };
    and(group_filter, clause)
}

/// The names of the groups `m` finds for a user whose `userAttr` values are `user_values`,
/// direct groups first, then each level of parents. `search` runs one filter against
/// `groupSearch.baseDN`.
pub async fn walk<S, F>(
    group_filter: &str,
    m: &UserMatcher,
    user_values: Vec<String>,
    mut search: S,
) -> Result<Vec<String>, ConnectorError>
where
    S: FnMut(String) -> F,
    F: Future<Output = Result<Vec<Found>, ConnectorError>>,
{
    let mut names: Vec<String> = Vec::new();
    // DNs compare without case; a cycle meets a DN it has seen and stops there.
    let mut seen: HashSet<String> = HashSet::new();
    let mut filter =
        (!user_values.is_empty()).then(|| level_filter(group_filter, &m.group_attr, &user_values));
    let mut parent_levels = 0;
    while let Some(f) = filter.take() {
        let mut fresh: Vec<String> = Vec::new();
        for g in search(f).await? {
            if !seen.insert(g.dn.to_lowercase()) {
                continue;
            }
            for n in g.names {
                if !names.contains(&n) {
                    names.push(n);
                }
            }
            fresh.push(g.dn);
        }
        let Some(attr) = &m.recursion_group_attr else {
            break;
        };
        if fresh.is_empty() {
            break;
        }
        if parent_levels == MAX_PARENT_LEVELS {
            tracing::warn!(
                "ldap: groups nested more than {MAX_PARENT_LEVELS} levels deep; the rest are left out"
            );
            break;
        }
        parent_levels += 1;
        filter = Some(level_filter(group_filter, attr, &fresh));
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    const G: &str = "ou=groups,dc=example,dc=org";

    fn matcher(recursion: Option<&str>) -> UserMatcher {
        UserMatcher {
            user_attr: "DN".into(),
            group_attr: "member".into(),
            recursion_group_attr: recursion.map(str::to_string),
        }
    }

    fn group(cn: &str) -> Found {
        Found {
            dn: format!("cn={cn},{G}"),
            names: vec![cn.to_string()],
        }
    }

    /// Answers level n with `levels[n]` and records each filter sent.
    async fn run(
        m: &UserMatcher,
        user: &str,
        levels: Vec<Vec<Found>>,
    ) -> (Vec<String>, Vec<String>) {
        let sent = Mutex::new(Vec::new());
        let names = walk(
            "(objectClass=groupOfNames)",
            m,
            vec![user.to_string()],
            |f| {
                let mut s = sent.lock().unwrap();
                let answer = levels.get(s.len()).cloned().unwrap_or_default();
                s.push(f);
                async move { Ok(answer) }
            },
        )
        .await
        .unwrap();
        (names, sent.into_inner().unwrap())
    }

    #[tokio::test]
    async fn each_level_searches_for_the_parents_of_the_groups_found_by_their_dn() {
        let bob = "uid=bob,ou=people,dc=example,dc=org";
        let (names, sent) = run(
            &matcher(Some("member")),
            bob,
            vec![
                vec![group("developers")],
                vec![group("engineering")],
                vec![],
            ],
        )
        .await;
        assert_eq!(names, ["developers", "engineering"]);
        assert_eq!(
            sent,
            [
                format!("(&(objectClass=groupOfNames)(member={bob}))"),
                format!("(&(objectClass=groupOfNames)(member=cn=developers,{G}))"),
                format!("(&(objectClass=groupOfNames)(member=cn=engineering,{G}))"),
            ]
        );
    }

    #[tokio::test]
    async fn one_search_per_level_for_all_its_groups_and_values_are_escaped() {
        let odd = Found {
            dn: format!("cn=a*b\\29(c),{G}"),
            names: vec!["a*b)(c".into()],
        };
        let (names, sent) = run(
            &matcher(Some("uniqueMember")),
            "x)(uid=*",
            vec![vec![group("one"), odd], vec![]],
        )
        .await;
        assert_eq!(names, ["one", "a*b)(c"]);
        assert_eq!(
            sent,
            [
                "(&(objectClass=groupOfNames)(member=x\\29\\28uid=\\2a))".to_string(),
                format!(
                    "(&(objectClass=groupOfNames)(|(uniqueMember=cn=one,{G})(uniqueMember=cn=a\\2ab\\5c29\\28c\\29,{G})))"
                ),
            ]
        );
    }

    #[tokio::test]
    async fn without_recursion_only_direct_groups_are_read() {
        let (names, sent) = run(
            &matcher(None),
            "u",
            vec![vec![group("developers")], vec![group("engineering")]],
        )
        .await;
        assert_eq!(names, ["developers"]);
        assert_eq!(sent.len(), 1);
    }

    #[tokio::test]
    async fn a_cycle_ends_when_every_group_found_was_seen() {
        let (names, sent) = run(
            &matcher(Some("member")),
            "u",
            vec![
                vec![group("cycle-a")],
                vec![group("cycle-b")],
                vec![group("CYCLE-A")],
                vec![group("never-asked")],
            ],
        )
        .await;
        assert_eq!(names, ["cycle-a", "cycle-b"]);
        assert_eq!(sent.len(), 3, "{sent:?}");
    }

    #[tokio::test]
    async fn nesting_stops_ten_levels_above_the_direct_groups() {
        let levels: Vec<Vec<Found>> = (0..20).map(|i| vec![group(&format!("g{i}"))]).collect();
        let (names, sent) = run(&matcher(Some("member")), "u", levels).await;
        assert_eq!(sent.len(), 1 + MAX_PARENT_LEVELS);
        assert_eq!(names.len(), 1 + MAX_PARENT_LEVELS);
        assert_eq!(names.last().map(String::as_str), Some("g10"));
    }

    #[tokio::test]
    async fn a_user_without_the_matched_attribute_costs_no_search() {
        let sent = Mutex::new(0);
        let names = walk("", &matcher(Some("member")), Vec::new(), |_| {
            *sent.lock().unwrap() += 1;
            async { Ok(Vec::new()) }
        })
        .await
        .unwrap();
        assert!(names.is_empty());
        assert_eq!(*sent.lock().unwrap(), 0);
    }
}
