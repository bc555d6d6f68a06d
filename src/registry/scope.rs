//! The Docker Registry v2 token scope grammar:
//! `type[(class)]:name:action[,action...]`, where the name may carry a `host:port/` prefix.

/// One requested resource scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceScope {
    /// The type without its class: `repository`, `registry`.
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

impl ResourceScope {
    /// Parse one scope; `Err` names what is wrong.
    pub fn parse(s: &str) -> Result<ResourceScope, String> {
        let bad = |m: &str| {
            Err(format!(
                "scope `{}`: {m}",
                s.chars().take(200).collect::<String>()
            ))
        };
        let Some((kind, rest)) = s.split_once(':') else {
            return bad("expected type:name:actions");
        };
        let Some((name, actions)) = rest.rsplit_once(':') else {
            return bad("expected type:name:actions");
        };
        let kind = match kind.split_once('(') {
            Some((k, class))
                if class.ends_with(')') && is_lower_alnum(&class[..class.len() - 1]) =>
            {
                k
            }
            Some(_) => return bad("malformed resource class"),
            None => kind,
        };
        if !is_lower_alnum(kind) {
            return bad("the resource type is [a-z0-9]+");
        }
        if name.is_empty()
            || name.len() > 255
            || name.starts_with('/')
            || name.ends_with('/')
            || name.contains("//")
        {
            return bad("malformed resource name");
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/:".contains(c))
        {
            return bad("the resource name has characters outside [a-z0-9._-/:]");
        }
        let actions: Vec<String> = actions
            .split(',')
            .filter(|a| !a.is_empty())
            .map(String::from)
            .collect();
        if actions.is_empty()
            || !actions
                .iter()
                .all(|a| a == "*" || a.chars().all(|c| c.is_ascii_lowercase()))
        {
            return bad("actions are [a-z]+ or *");
        }
        Ok(ResourceScope {
            kind: kind.to_string(),
            name: name.to_string(),
            actions,
        })
    }

    /// Every scope of several `scope` parameters, each possibly space-separated.
    pub fn parse_all<'a>(
        params: impl IntoIterator<Item = &'a str>,
    ) -> Result<Vec<ResourceScope>, String> {
        params
            .into_iter()
            .flat_map(|p| p.split(' '))
            .filter(|s| !s.is_empty())
            .map(Self::parse)
            .collect()
    }
}

fn is_lower_alnum(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_a_host_and_port_keep_them() -> Result<(), String> {
        let s = ResourceScope::parse("repository:localhost:5000/team-a/app:pull,push")?;
        assert_eq!(
            (s.kind.as_str(), s.name.as_str()),
            ("repository", "localhost:5000/team-a/app")
        );
        assert_eq!(s.actions, vec!["pull", "push"]);
        let s = ResourceScope::parse("repository(plugin):vieux/sshfs:pull")?;
        assert_eq!(s.kind, "repository");
        assert_eq!(
            ResourceScope::parse("registry:catalog:*")?.actions,
            vec!["*"]
        );
        Ok(())
    }

    #[test]
    fn several_scopes_in_one_parameter_and_across_parameters() -> Result<(), String> {
        let all = ResourceScope::parse_all([
            "repository:a:pull repository:b:push",
            "registry:catalog:*",
        ])?;
        assert_eq!(all.len(), 3);
        Ok(())
    }

    #[test]
    fn malformed_scopes_are_refused() {
        for s in [
            "",
            "repository",
            "repository:a",
            "Repository:a:pull",
            "repository::pull",
            "repository:a/:pull",
            "repository:a//b:pull",
            "repository:A:pull",
            "repository:a:PULL",
            "repository:a:",
            "repository(x:a:pull",
            "repository:a b:pull",
        ] {
            assert!(ResourceScope::parse(s).is_err(), "{s:?}");
        }
    }
}
