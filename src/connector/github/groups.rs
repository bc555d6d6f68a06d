//! Dex's rules for a GitHub user's groups and email, on answers already read: which team
//! names become groups, who the `orgs` list lets in, which address is the user's.

use serde::Deserialize;

use super::config::{Org, TeamNameField};

/// A team of `GET /user/teams`, as far as Dex reads it.
#[derive(Debug, Clone, Deserialize)]
pub struct Team {
    pub name: String,
    pub slug: String,
    pub organization: OrgRef,
}

/// An organization of `GET /user/orgs`, or a team's.
#[derive(Debug, Clone, Deserialize)]
pub struct OrgRef {
    pub login: String,
}

/// An address of `GET /user/emails`.
#[derive(Debug, Clone, Deserialize)]
pub struct Email {
    pub email: String,
    pub verified: bool,
    pub primary: bool,
}

/// Groups are `org:team`: two organizations may have teams of one name.
pub fn qualified(org: &str, team: &str) -> String {
    format!("{org}:{team}")
}

/// The names a team's groups carry (its name, its slug, or both).
pub fn team_names(field: TeamNameField, t: &Team) -> Vec<String> {
    match field {
        TeamNameField::Name => vec![t.name.clone()],
        TeamNameField::Slug => vec![t.slug.clone()],
        TeamNameField::Both => vec![t.name.clone(), t.slug.clone()],
    }
}

/// The names of the user's teams in `org`.
pub fn teams_in(field: TeamNameField, teams: &[Team], org: &str) -> Vec<String> {
    teams
        .iter()
        .filter(|t| t.organization.login == org)
        .flat_map(|t| team_names(field, t))
        .collect()
}

/// The `orgs` rule (Dex's `groupsForOrgs`): for each configured organization the user is a
/// member of, its teams as `org:team` (only the listed ones when it lists teams). The user
/// may log in if one organization without a team list has them, or if any group is left.
/// `member_of`: the organizations (of those configured) the user is a member of.
pub fn for_orgs(
    orgs: &[Org],
    member_of: &[&str],
    field: TeamNameField,
    teams: &[Team],
) -> Option<Vec<String>> {
    let mut groups = Vec::new();
    let mut in_org_without_teams = false;
    for org in orgs.iter().filter(|o| member_of.contains(&o.name.as_str())) {
        let mut names = teams_in(field, teams, &org.name);
        if org.teams.is_empty() {
            in_org_without_teams = true;
        } else {
            names.retain(|n| org.teams.contains(n));
        }
        groups.extend(names.iter().map(|n| qualified(&org.name, n)));
    }
    (in_org_without_teams || !groups.is_empty()).then_some(groups)
}

/// `loadAllGroups` (Dex's `userGroups`): each organization, then its teams as `org:team`.
pub fn all(field: TeamNameField, orgs: &[OrgRef], teams: &[Team]) -> Vec<String> {
    let mut groups = Vec::new();
    for o in orgs {
        groups.push(o.login.clone());
        groups.extend(
            teams_in(field, teams, &o.login)
                .iter()
                .map(|t| qualified(&o.login, t)),
        );
    }
    groups
}

/// Why no address of the user could be chosen.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EmailError {
    #[error("github: invalid format email is detected")]
    Malformed,
    #[error("github: user has no verified, primary email or preferred-domain email")]
    NoneUsable,
}

/// Dex's choice among `/user/emails`: the first verified address in `preferred` (a domain,
/// `*` standing for one label), else the verified primary one. On GitHub Enterprise every
/// address counts as verified: it has no verification.
pub fn choose_email(
    emails: &[Email],
    preferred: &str,
    enterprise: bool,
) -> Result<String, EmailError> {
    let mut primary = None;
    let mut preferred_found = None;
    for e in emails {
        let verified = e.verified || enterprise;
        if verified && e.primary {
            primary = Some(e.email.clone());
        }
        if !preferred.is_empty() {
            let (_, domain) = e.email.split_once('@').ok_or(EmailError::Malformed)?;
            if verified && preferred_found.is_none() && domain_matches(preferred, domain) {
                preferred_found = Some(e.email.clone());
            }
        }
    }
    preferred_found.or(primary).ok_or(EmailError::NoneUsable)
}

/// `domain` is `preferred`, or matches it label by label where `preferred` has `*`.
pub fn domain_matches(preferred: &str, domain: &str) -> bool {
    if preferred == domain {
        return true;
    }
    let p: Vec<&str> = preferred.split('.').collect();
    let d: Vec<&str> = domain.split('.').collect();
    p.len() == d.len() && p.iter().zip(&d).all(|(p, d)| p == d || *p == "*")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn team(org: &str, name: &str, slug: &str) -> Team {
        Team {
            name: name.into(),
            slug: slug.into(),
            organization: OrgRef { login: org.into() },
        }
    }

    fn org(name: &str, teams: &[&str]) -> Org {
        Org {
            name: name.into(),
            teams: teams.iter().map(|t| t.to_string()).collect(),
        }
    }

    fn teams() -> Vec<Team> {
        vec![
            team("acme", "Site Reliability", "site-reliability"),
            team("acme", "Red Team", "red-team"),
            team("other", "Blue", "blue"),
        ]
    }

    #[test]
    fn orgs_let_in_members_and_filter_teams_as_dex_does() {
        let t = teams();
        let f = TeamNameField::Name;
        // An organization without a team list: every team of it, and in even with none.
        assert_eq!(
            for_orgs(&[org("acme", &[])], &["acme"], f, &t).unwrap(),
            ["acme:Site Reliability", "acme:Red Team"]
        );
        assert_eq!(
            for_orgs(&[org("empty", &[])], &["empty"], f, &t).unwrap(),
            Vec::<String>::new()
        );
        // With a team list: only those; a member of none of them is not let in by it.
        assert_eq!(
            for_orgs(&[org("acme", &["Red Team"])], &["acme"], f, &t).unwrap(),
            ["acme:Red Team"]
        );
        assert_eq!(
            for_orgs(&[org("acme", &["Purple"])], &["acme"], f, &t),
            None
        );
        // Not a member: that organization's teams do not count.
        assert_eq!(for_orgs(&[org("other", &[])], &["acme"], f, &t), None);
        // Listed teams in one org, none in another: either lets in.
        assert_eq!(
            for_orgs(
                &[org("acme", &["Purple"]), org("other", &[])],
                &["acme", "other"],
                f,
                &t
            )
            .unwrap(),
            ["other:Blue"]
        );
        // Team lists are matched against the names the groups carry.
        assert_eq!(
            for_orgs(
                &[org("acme", &["red-team"])],
                &["acme"],
                TeamNameField::Slug,
                &t
            )
            .unwrap(),
            ["acme:red-team"]
        );
        assert_eq!(
            for_orgs(
                &[org("acme", &["red-team"])],
                &["acme"],
                TeamNameField::Name,
                &t
            ),
            None
        );
        assert_eq!(
            for_orgs(&[org("acme", &[])], &["acme"], TeamNameField::Both, &t).unwrap(),
            [
                "acme:Site Reliability",
                "acme:site-reliability",
                "acme:Red Team",
                "acme:red-team"
            ]
        );
    }

    #[test]
    fn all_groups_are_each_org_then_its_teams() {
        let orgs = vec![
            OrgRef {
                login: "acme".into(),
            },
            OrgRef {
                login: "solo".into(),
            },
        ];
        assert_eq!(
            all(TeamNameField::Slug, &orgs, &teams()),
            ["acme", "acme:site-reliability", "acme:red-team", "solo"],
            "a team of an org not listed by /user/orgs is left out, as in Dex"
        );
    }

    fn email(e: &str, verified: bool, primary: bool) -> Email {
        Email {
            email: e.into(),
            verified,
            primary,
        }
    }

    #[test]
    fn the_email_is_the_preferred_domains_else_the_verified_primary() {
        let list = vec![
            email("me@home.example", true, true),
            email("me@unverified.corp.example", false, false),
            email("me@eu.corp.example", true, false),
            email("me@us.corp.example", true, false),
        ];
        assert_eq!(choose_email(&list, "", false).unwrap(), "me@home.example");
        assert_eq!(
            choose_email(&list, "*.corp.example", false).unwrap(),
            "me@eu.corp.example"
        );
        assert_eq!(
            choose_email(&list, "us.corp.example", false).unwrap(),
            "me@us.corp.example"
        );
        assert_eq!(
            choose_email(&list, "corp.example", false).unwrap(),
            "me@home.example",
            "a wildcard matches one label, a domain only itself"
        );
        let unverified = vec![
            email("me@unverified.corp.example", false, true),
            email("x@y.example", false, false),
        ];
        assert_eq!(
            choose_email(&unverified, "", false),
            Err(EmailError::NoneUsable)
        );
        assert_eq!(
            choose_email(&unverified, "", true).unwrap(),
            "me@unverified.corp.example",
            "GitHub Enterprise does not verify addresses"
        );
        assert_eq!(
            choose_email(&[email("no-at-sign", true, true)], "x.example", false),
            Err(EmailError::Malformed)
        );
        assert!(!domain_matches("*.example.com", "example.com"));
        assert!(domain_matches("*.example.com", "a.example.com"));
        assert!(!domain_matches("*.example.com", "a.b.example.com"));
    }
}
