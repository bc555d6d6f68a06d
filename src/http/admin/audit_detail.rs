//! An audit event's `detail` (a JSON object) as the audit page shows it: one key and value a
//! line in the keys' alphabetical order, nested objects as dotted keys (`after.config.host`),
//! lists of plain values joined.
//! The text is shown as it is, escaped by the template like any other; nothing here decides
//! what is kept, and the API still gives the JSON whole.

use serde_json::Value;

/// The most lines one event shows; the rest are counted, and the API has them all.
const MAX_LINES: usize = 40;
/// How deep nested objects are followed before the rest is shown as JSON.
const MAX_DEPTH: usize = 4;

/// One line of an event's details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Line {
    pub key: String,
    pub value: String,
}

/// An event's details as the page shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Detail {
    pub lines: Vec<Line>,
    /// A detail that is not a JSON object (events written before it always was), as text.
    pub text: String,
}

pub(super) fn detail(json: &str) -> Detail {
    let object = match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(o)) => o,
        _ => {
            return Detail {
                lines: Vec::new(),
                text: json.to_string(),
            };
        }
    };
    let mut lines = Vec::new();
    flatten("", &object, 0, &mut lines);
    if lines.len() > MAX_LINES {
        let more = lines.len() - MAX_LINES;
        lines.truncate(MAX_LINES);
        lines.push(Line {
            key: "…".into(),
            value: format!("{more} more (GET /api/v1/audit has them all)"),
        });
    }
    Detail {
        lines,
        text: String::new(),
    }
}

fn flatten(
    prefix: &str,
    object: &serde_json::Map<String, Value>,
    depth: usize,
    out: &mut Vec<Line>,
) {
    for (k, v) in object {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Value::Object(inner) if !inner.is_empty() && depth < MAX_DEPTH => {
                flatten(&key, inner, depth + 1, out)
            }
            other => out.push(Line {
                key,
                value: value(other),
            }),
        }
    }
}

/// A value on one line: text as it is, a list of plain values joined, anything else as JSON.
fn value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) if items.is_empty() => "(none)".into(),
        Value::Array(items) if items.iter().all(|i| !i.is_array() && !i.is_object()) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(d: &Detail) -> Vec<(&str, &str)> {
        d.lines
            .iter()
            .map(|l| (l.key.as_str(), l.value.as_str()))
            .collect()
    }

    #[test]
    fn nested_objects_become_dotted_keys_and_lists_are_joined() {
        let d = detail(
            r#"{"status":403,"reason":"no valid form token","after":{"type":"ldap","config":{"host":"ldap.example.com:636","tls":true}},"groups":["admins","dev"],"none":[],"rules":[{"name":"a"}],"gone":null,"empty":{}}"#,
        );
        assert_eq!(d.text, "");
        assert_eq!(
            lines(&d),
            [
                ("after.config.host", "ldap.example.com:636"),
                ("after.config.tls", "true"),
                ("after.type", "ldap"),
                ("empty", "{}"),
                ("gone", "null"),
                ("groups", "admins, dev"),
                ("none", "(none)"),
                ("reason", "no valid form token"),
                ("rules", r#"[{"name":"a"}]"#),
                ("status", "403"),
            ]
        );
    }

    #[test]
    fn an_empty_object_shows_nothing_and_what_is_not_an_object_shows_as_text() {
        assert_eq!(detail("{}"), Detail::default());
        for text in ["not json", "[1,2]", "\"a string\"", ""] {
            let d = detail(text);
            assert_eq!((d.lines.len(), d.text.as_str()), (0, text));
        }
    }

    #[test]
    fn deep_and_long_details_are_bounded() {
        let deep = detail(r#"{"a":{"b":{"c":{"d":{"e":{"f":1}}}}}}"#);
        assert_eq!(lines(&deep), [("a.b.c.d.e", r#"{"f":1}"#)]);
        let many: serde_json::Map<String, Value> = (0..50)
            .map(|i| (format!("k{i:02}"), Value::from(i)))
            .collect();
        let d = detail(&Value::Object(many).to_string());
        assert_eq!(d.lines.len(), MAX_LINES + 1);
        assert_eq!(d.lines[MAX_LINES].key, "…");
        assert!(d.lines[MAX_LINES].value.starts_with("10 more"), "{d:?}");
    }
}
