//! Versions of what admins change, so that a write never silently overwrites a change its
//! author did not see. Every user, client, connector and the policy has an opaque version that
//! changes with each write; a writer may name the version it read (the API's `If-Match`, a
//! form's hidden field), and then the write lands only while that is still the stored version.
//! The check is a compare-and-set in the database, never a read followed by a blind write, so of
//! two writers that read the same version exactly one wins, on one replica or several.

/// What a write expects of the object it changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// Any version (`If-Match: *`): only that the object exists.
    Exists,
    /// One of these versions.
    OneOf(Vec<String>),
}

impl Precondition {
    pub fn holds(&self, current: &str) -> bool {
        match self {
            Precondition::Exists => true,
            Precondition::OneOf(v) => v.iter().any(|v| v == current),
        }
    }

    /// The precondition of an `If-Match` field value (RFC 9110 13.1.1): `*`, or a list of
    /// entity tags compared strongly, so a weak tag (`W/"..."`) matches nothing. Anything that
    /// is not an entity tag matches nothing either: a malformed precondition fails, it is never
    /// ignored.
    pub fn from_if_match(value: &str) -> Precondition {
        if value.trim() == "*" {
            return Precondition::Exists;
        }
        Precondition::OneOf(
            value
                .split(',')
                .filter_map(|t| {
                    let t = t.trim();
                    t.strip_prefix('"')
                        .and_then(|t| t.strip_suffix('"'))
                        .filter(|t| !t.contains('"'))
                        .map(String::from)
                })
                .collect(),
        )
    }

    /// The precondition of a form's hidden version field: none when the form has none.
    pub fn from_form(version: Option<&str>) -> Option<Precondition> {
        version
            .filter(|v| !v.is_empty())
            .map(|v| Precondition::OneOf(vec![v.to_string()]))
    }
}

/// Whether `expect` (if any) holds for `current`.
pub fn holds(expect: Option<&Precondition>, current: &str) -> bool {
    expect.is_none_or(|p| p.holds(current))
}

/// The entity tag of a version, as the `ETag` field carries it.
pub fn etag(version: &str) -> String {
    format!("\"{version}\"")
}

/// A fresh version for a row that is being written.
pub fn fresh() -> String {
    crate::secret::random_token(12)
}

/// How many times a write without a precondition reads and tries again when another writer
/// got in between (each try is a read and a compare-and-set).
pub const TRIES: usize = 3;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_compares_strong_tags_and_fails_on_anything_else() {
        let p = Precondition::from_if_match(r#""a", "b""#);
        assert!(p.holds("a") && p.holds("b") && !p.holds("c"));
        assert!(Precondition::from_if_match(" * ").holds("anything"));
        for never in [r#"W/"a""#, "a", r#""a"b""#, "", r#"""#] {
            assert!(
                !Precondition::from_if_match(never).holds("a"),
                "{never} must not match"
            );
        }
        assert_eq!(etag("a"), r#""a""#);
        assert!(Precondition::from_form(Some("")).is_none());
        assert!(holds(None, "x") && !holds(Precondition::from_form(Some("y")).as_ref(), "x"));
    }
}
