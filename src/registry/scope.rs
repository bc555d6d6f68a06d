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

/// A scope that is not in the grammar: the scope (its first 200 characters) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scope `{scope}`: {reason}")]
pub struct ScopeError {
    pub scope: String,
    pub reason: ScopeFault,
}

/// What is wrong with a scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ScopeFault {
    #[error("expected type:name:actions")]
    Shape,
    #[error("malformed resource class")]
    Class,
    #[error("the resource type is [a-z0-9]+")]
    Type,
    #[error(
        "the resource name is not a repository name: [host[:port]/]component[/component...], \
         each component [a-z0-9]+ joined by `.`, `_`, `__` or dashes, at most 255 characters"
    )]
    Name,
    #[error("actions are [a-z]+ or *")]
    Actions,
}

impl ResourceScope {
    /// The scope as the policy judges it.
    pub fn asked(&self) -> crate::policy::Asked<'_> {
        crate::policy::Asked {
            kind: &self.kind,
            name: &self.name,
            actions: &self.actions,
        }
    }

    /// Parse one scope; `Err` names what is wrong.
    pub fn parse(s: &str) -> Result<ResourceScope, ScopeError> {
        let bad = |reason: ScopeFault| {
            Err(ScopeError {
                scope: s.chars().take(200).collect(),
                reason,
            })
        };
        let Some((kind, rest)) = s.split_once(':') else {
            return bad(ScopeFault::Shape);
        };
        let Some((name, actions)) = rest.rsplit_once(':') else {
            return bad(ScopeFault::Shape);
        };
        let kind = match kind.split_once('(') {
            Some((k, class))
                if class.ends_with(')') && is_lower_alnum(&class[..class.len() - 1]) =>
            {
                k
            }
            Some(_) => return bad(ScopeFault::Class),
            None => kind,
        };
        if !is_lower_alnum(kind) {
            return bad(ScopeFault::Type);
        }
        if !is_repository_name(name) {
            return bad(ScopeFault::Name);
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
            return bad(ScopeFault::Actions);
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
    ) -> Result<Vec<ResourceScope>, ScopeError> {
        params
            .into_iter()
            .flat_map(|p| p.split(' '))
            .filter(|s| !s.is_empty())
            .map(Self::parse)
            .collect()
    }
}

/// The distribution project's reference grammar for a name (reference/regexp.go): an optional
/// registry host, then path components. A name outside it (`a/../b`, `a/./b`, `a..b`) could
/// match a policy glob that the registry would then resolve to something else, or nothing.
fn is_repository_name(name: &str) -> bool {
    if name.is_empty() || name.len() > 255 {
        return false;
    }
    let mut components: Vec<&str> = name.split('/').collect();
    if components.len() > 1 {
        let first = components[0];
        if first.contains('.') || first.contains(':') || first == "localhost" {
            if !is_host(first) {
                return false;
            }
            components.remove(0);
        }
    }
    components.into_iter().all(is_path_component)
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn is_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let (mut i, n) = (0, b.len());
    loop {
        let run = b[i..].iter().take_while(|x| alnum(**x)).count();
        if run == 0 {
            return false;
        }
        i += run;
        if i == n {
            return true;
        }
        let sep = &b[i..];
        let len = if sep.starts_with(b"__") {
            2
        } else if sep[0] == b'.' || sep[0] == b'_' {
            1
        } else if sep[0] == b'-' {
            sep.iter().take_while(|x| **x == b'-').count()
        } else {
            return false;
        };
        i += len;
    }
}

/// `host[:port]`: dot-separated labels of letters, digits and inner dashes.
fn is_host(h: &str) -> bool {
    let (host, port) = match h.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (h, None),
    };
    if let Some(port) = port
        && (port.is_empty() || port.len() > 5 || !port.bytes().all(|x| x.is_ascii_digit()))
    {
        return false;
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|x| x.is_ascii_lowercase() || x.is_ascii_digit() || x == b'-')
        })
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
    fn names_with_a_host_and_port_keep_them() -> Result<(), ScopeError> {
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
    fn names_follow_the_distribution_reference_grammar() {
        for ok in [
            "a",
            "library/alpine",
            "team-a/my_app/v1.2",
            "a__b/c---d/e.f",
            "registry.example.com/team/app",
            "localhost/app",
            "127.0.0.1:5000/app",
        ] {
            assert!(is_repository_name(ok), "{ok}");
        }
        assert!(is_repository_name(&"a".repeat(255)));
        assert!(!is_repository_name(&"a".repeat(256)));
        for bad in [
            "a/..", "..", ".", "a/./b", "a//b", "/a", "a/", "a:b", "a/b:c",
        ] {
            assert!(!is_repository_name(bad), "{bad}");
        }
    }

    #[test]
    fn several_scopes_in_one_parameter_and_across_parameters() -> Result<(), ScopeError> {
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
            "repository:a/../b:pull",
            "repository:team-a/../prod/app:push",
            "repository:./a:pull",
            "repository:a/.:pull",
            "repository:a..b:pull",
            "repository:.a:pull",
            "repository:a.:pull",
            "repository:a___b:pull",
            "repository:-a:pull",
            "repository:a-:pull",
            "repository:a/b:c/d:pull",
            "repository:localhost:/a:pull",
            "repository:localhost:99999999/a:pull",
            "repository:-bad.host/a:pull",
        ] {
            assert!(ResourceScope::parse(s).is_err(), "{s:?}");
        }
    }
}
