//! Reading claims from upstream ID tokens and userinfo answers, which providers fill in their
//! own ways (numbers for ids, a string where a list was expected, objects for groups).

use serde_json::{Map, Value};

pub type Claims = Map<String, Value>;

/// A claim as a string; numbers too (GitHub's and GitLab's user ids are numbers).
pub fn string(c: &Claims, key: &str) -> Option<String> {
    match c.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A boolean claim; some providers send `"true"`.
pub fn boolean(c: &Claims, key: &str) -> Option<bool> {
    match c.get(key)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s == "true" => Some(true),
        Value::String(s) if s == "false" => Some(false),
        _ => None,
    }
}

/// A claim that holds something other than the shape it must have.
#[derive(Debug, thiserror::Error)]
#[error("malformed \"{0}\" claim")]
pub struct MalformedClaim(pub String);

/// A groups claim: a list of names, a list of objects with a `name` (Keycloak, GitLab style
/// exports), or one name. `Err` for anything else: a malformed claim must not mean "no groups"
/// silently when groups decide access.
pub fn groups(c: &Claims, key: &str) -> Result<Option<Vec<String>>, MalformedClaim> {
    let Some(v) = c.get(key) else {
        return Ok(None);
    };
    match v {
        Value::String(s) => Ok(Some(vec![s.clone()])),
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Ok(s.clone()),
                Value::Object(o) => match o.get("name") {
                    Some(Value::String(s)) => Ok(s.clone()),
                    _ => Err(MalformedClaim(key.to_string())),
                },
                _ => Err(MalformedClaim(key.to_string())),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Value::Null => Ok(None),
        _ => Err(MalformedClaim(key.to_string())),
    }
}

/// Keep the groups in `allowed` (all when `allowed` is empty); `None` when none is left.
pub fn filter_allowed(groups: Vec<String>, allowed: &[String]) -> Option<Vec<String>> {
    if allowed.is_empty() {
        return Some(groups);
    }
    let kept: Vec<String> = groups.into_iter().filter(|g| allowed.contains(g)).collect();
    (!kept.is_empty()).then_some(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Claims {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn providers_shapes_are_read() {
        let c = claims(
            json!({"id": 42, "g1": "one", "g2": ["a", {"name": "b"}], "g3": [1],
                              "v": "true", "w": false}),
        );
        assert_eq!(string(&c, "id").as_deref(), Some("42"));
        assert_eq!(groups(&c, "g1").unwrap(), Some(vec!["one".to_string()]));
        assert_eq!(
            groups(&c, "g2").unwrap(),
            Some(vec!["a".to_string(), "b".to_string()])
        );
        assert!(groups(&c, "g3").is_err());
        assert_eq!(groups(&c, "none").unwrap(), None);
        assert_eq!(boolean(&c, "v"), Some(true));
        assert_eq!(boolean(&c, "w"), Some(false));
    }

    #[test]
    fn allowed_groups_filter_and_refuse_when_empty() {
        let g = vec!["a".to_string(), "b".to_string()];
        assert_eq!(filter_allowed(g.clone(), &[]), Some(g.clone()));
        assert_eq!(
            filter_allowed(g.clone(), &["b".to_string()]),
            Some(vec!["b".to_string()])
        );
        assert_eq!(filter_allowed(g, &["c".to_string()]), None);
    }
}
