//! A YAML document as a tree whose every node knows its line and column: what the config's
//! reader needs to say where a problem is. Aliases are expanded (within a budget, so a
//! "billion laughs" file cannot exhaust memory); tags other than `!!str` are ignored.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// Where a node starts: line and column, both counted from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mark {
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub at: Mark,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `~`, `null`, or nothing at all after a key (`connectors:`).
    Null,
    /// `plain`: written without quotes, so `true` and `5556` are a boolean and a number.
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    /// Entries in the file's order; a repeated key is reported, the first one kept.
    Map(Vec<(Node, Node)>),
}

/// Nodes and bytes of text aliases may add in all: well past any config, far below what hurts.
const ALIAS_BUDGET: usize = 100_000;
const ALIAS_BYTES: usize = 4 << 20;
/// Nesting that any config stays well within.
const MAX_DEPTH: usize = 64;

/// Why the text is no YAML document.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub message: String,
    pub at: Mark,
}

impl Node {
    /// A JSON value as a tree without places (a connector block kept in the database).
    pub fn from_json(v: &serde_json::Value) -> Node {
        use serde_json::Value as J;
        let value = match v {
            J::Null => Value::Null,
            J::Bool(b) => Value::Scalar {
                text: b.to_string(),
                plain: true,
            },
            J::Number(n) => Value::Scalar {
                text: n.to_string(),
                plain: true,
            },
            J::String(s) => Value::Scalar {
                text: s.clone(),
                plain: false,
            },
            J::Array(items) => Value::Seq(items.iter().map(Node::from_json).collect()),
            J::Object(o) => Value::Map(
                o.iter()
                    .map(|(k, v)| {
                        (
                            Node {
                                value: Value::Scalar {
                                    text: k.clone(),
                                    plain: false,
                                },
                                at: Mark::default(),
                            },
                            Node::from_json(v),
                        )
                    })
                    .collect(),
            ),
        };
        Node {
            value,
            at: Mark::default(),
        }
    }

    /// The text of a scalar, or None for anything else.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The value of `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The node at a path as the reader writes them (`staticClients[0].redirectURIs[1]`), or
    /// the deepest node on the way there.
    pub fn locate(&self, path: &str) -> &Node {
        self.walk(path).node
    }

    /// The node at `path`, if the file has it all the way.
    pub fn find(&self, path: &str) -> Option<&Node> {
        let w = self.walk(path);
        w.complete.then_some(w.node)
    }

    /// Where a problem about `path` is best shown: the key itself for a key (its value may be
    /// a whole section, starting on the next line), else the node.
    pub fn place(&self, path: &str) -> Mark {
        let w = self.walk(path);
        w.key.map_or(w.node.at, |k| k.at)
    }

    fn walk(&self, path: &str) -> Walk<'_> {
        let mut w = Walk {
            node: self,
            key: None,
            complete: true,
        };
        for step in steps(path) {
            let next = match (step, &w.node.value) {
                (Step::Key(k), Value::Map(entries)) => entries
                    .iter()
                    .find(|(n, _)| n.as_str() == Some(k))
                    .map(|(key, value)| (Some(key), value)),
                (Step::Index(i), Value::Seq(items)) => items.get(i).map(|n| (None, n)),
                _ => None,
            };
            match next {
                Some((key, node)) => {
                    w.key = key;
                    w.node = node;
                }
                None => {
                    w.key = None;
                    w.complete = false;
                    break;
                }
            }
        }
        w
    }
}

/// How far a path goes in a tree: the deepest node reached, the key of the last step when it
/// was a key that the tree has, and whether the whole path was there.
struct Walk<'a> {
    node: &'a Node,
    key: Option<&'a Node>,
    complete: bool,
}

enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

fn steps(path: &str) -> Vec<Step<'_>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, rest) = part.split_once('[').unwrap_or((part, ""));
        if !key.is_empty() {
            out.push(Step::Key(key));
        }
        for idx in rest.split('[') {
            if let Ok(i) = idx.trim_end_matches(']').parse() {
                out.push(Step::Index(i));
            }
        }
    }
    out
}

fn mark(span: &Span) -> Mark {
    Mark {
        line: span.start.line(),
        column: span.start.col() + 1,
    }
}

enum Open {
    Seq(Mark, usize, Vec<Node>),
    /// A mapping and the key read whose value is still to come.
    Map(Mark, usize, Vec<(Node, Node)>, Option<Node>),
}

/// Parse one YAML document. An empty text is a null document; several documents are refused
/// (a Kubernetes manifest holds its config inside a ConfigMap: take it out).
pub fn parse(text: &str) -> Result<Node, Vec<SyntaxError>> {
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Open> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut budget = ALIAS_BUDGET;
    let mut bytes_budget = ALIAS_BYTES;
    let mut docs: Vec<Node> = Vec::new();
    let mut doc_marks: Vec<Mark> = Vec::new();
    let mut duplicates = Vec::new();
    while let Some(ev) = parser.next_event() {
        let (event, span) = ev.map_err(|e| {
            vec![SyntaxError {
                message: e.info().to_string(),
                at: Mark {
                    line: e.marker().line(),
                    column: e.marker().col() + 1,
                },
            }]
        })?;
        let at = mark(&span);
        let done: Option<(Node, usize)> = match event {
            Event::DocumentStart(_) => {
                doc_marks.push(at);
                None
            }
            Event::Scalar(text, style, anchor, tag) => {
                if let Some(t) = tag.as_ref().filter(|t| !is_str_tag(t)) {
                    return Err(untagged(t, at));
                }
                let plain =
                    style == ScalarStyle::Plain && tag.as_ref().is_none_or(|t| t.suffix != "str");
                let value = if plain && matches!(&*text, "" | "~" | "null" | "Null" | "NULL") {
                    Value::Null
                } else {
                    Value::Scalar {
                        text: text.into_owned(),
                        plain,
                    }
                };
                Some((Node { value, at }, anchor))
            }
            Event::SequenceStart(anchor, tag) => {
                if let Some(t) = &tag {
                    return Err(untagged(t, at));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(too_deep(at));
                }
                stack.push(Open::Seq(at, anchor, Vec::new()));
                None
            }
            Event::MappingStart(anchor, tag) => {
                if let Some(t) = &tag {
                    return Err(untagged(t, at));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(too_deep(at));
                }
                stack.push(Open::Map(at, anchor, Vec::new(), None));
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Open::Seq(m, anchor, items)) => Some((
                    Node {
                        value: Value::Seq(items),
                        at: m,
                    },
                    anchor,
                )),
                _ => return Err(broken(at)),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Open::Map(m, anchor, entries, _)) => Some((
                    Node {
                        value: Value::Map(merged(entries)),
                        at: m,
                    },
                    anchor,
                )),
                _ => return Err(broken(at)),
            },
            Event::Alias(id) => {
                let Some(n) = anchors.get(&id) else {
                    return Err(vec![SyntaxError {
                        message: "an alias names no anchor defined before it".into(),
                        at,
                    }]);
                };
                let (size, bytes) = (count(n), text_bytes(n));
                if size > budget || bytes > bytes_budget {
                    return Err(vec![SyntaxError {
                        message: format!(
                            "aliases expand to more than {ALIAS_BUDGET} nodes or {} MiB; \
                             write the config out instead",
                            ALIAS_BYTES >> 20
                        ),
                        at,
                    }]);
                }
                budget -= size;
                bytes_budget -= bytes;
                let mut copy = n.clone();
                copy.at = at;
                Some((copy, 0))
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => None,
        };
        let Some((node, anchor)) = done else { continue };
        if anchor != 0 {
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            None => docs.push(node),
            Some(Open::Seq(_, _, items)) => items.push(node),
            Some(Open::Map(_, _, entries, pending)) => match pending.take() {
                None => *pending = Some(node),
                Some(key) => {
                    let first = entries
                        .iter()
                        .find(|(k, _)| k.as_str().is_some() && k.as_str() == key.as_str());
                    match first {
                        Some((k, _)) => duplicates.push(SyntaxError {
                            message: format!(
                                "`{}` is given twice (first at line {})",
                                key.as_str().unwrap_or_default(),
                                k.at.line
                            ),
                            at: key.at,
                        }),
                        None => entries.push((key, node)),
                    }
                }
            },
        }
    }
    // A trailing `---` with nothing (or only comments) after it is no second document.
    if docs.len() > 1 {
        let first = docs.remove(0);
        let rest: Vec<Node> = docs
            .into_iter()
            .filter(|d| d.value != Value::Null)
            .collect();
        docs = std::iter::once(first).chain(rest).collect();
    }
    if docs.len() > 1 {
        return Err(vec![SyntaxError {
            message: format!(
                "the file holds {} YAML documents; a config is one (from a Kubernetes manifest, \
                 take the config.yaml out of its ConfigMap or Secret)",
                docs.len()
            ),
            at: doc_marks.get(1).copied().unwrap_or_default(),
        }]);
    }
    if !duplicates.is_empty() {
        return Err(duplicates);
    }
    Ok(docs.pop().unwrap_or(Node {
        value: Value::Null,
        at: Mark { line: 1, column: 1 },
    }))
}

fn text_bytes(n: &Node) -> usize {
    match &n.value {
        Value::Scalar { text, .. } => text.len(),
        Value::Seq(items) => items.iter().map(text_bytes).sum(),
        Value::Map(entries) => entries
            .iter()
            .map(|(k, v)| text_bytes(k) + text_bytes(v))
            .sum(),
        Value::Null => 0,
    }
}

fn count(n: &Node) -> usize {
    1 + match &n.value {
        Value::Seq(items) => items.iter().map(count).sum(),
        Value::Map(entries) => entries.iter().map(|(k, v)| count(k) + count(v)).sum(),
        _ => 0,
    }
}

/// YAML's merge key (`<<: *defaults`, which Go's decoder reads): the entries of the mapping
/// (or mappings) it names, under the keys this mapping does not set itself.
fn merged(entries: Vec<(Node, Node)>) -> Vec<(Node, Node)> {
    let is_merge =
        |k: &Node| matches!(&k.value, Value::Scalar { text, plain: true } if text == "<<");
    if !entries.iter().any(|(k, _)| is_merge(k)) {
        return entries;
    }
    let (merges, mut own): (Vec<_>, Vec<_>) = entries.into_iter().partition(|(k, _)| is_merge(k));
    for (key, value) in merges {
        let sources = match value.value {
            Value::Map(_) => vec![value],
            Value::Seq(items) => items,
            // Not a mapping: left as a key, which the reader names as unknown.
            _ => {
                own.push((key, value));
                continue;
            }
        };
        for src in sources {
            if let Value::Map(src_entries) = src.value {
                for (k, v) in src_entries {
                    let set = own
                        .iter()
                        .any(|(o, _)| o.as_str().is_some() && o.as_str() == k.as_str());
                    if !set {
                        own.push((k, v));
                    }
                }
            }
        }
    }
    own
}

/// `!!str`, the one tag read (as "this is text"), however the parser spells its handle.
fn is_str_tag(t: &saphyr_parser::Tag) -> bool {
    t.suffix == "str" && matches!(t.handle.as_str(), "!!" | "tag:yaml.org,2002:")
}

fn untagged(t: &saphyr_parser::Tag, at: Mark) -> Vec<SyntaxError> {
    vec![SyntaxError {
        message: format!(
            "YAML tags are not read (`{}{}`): write the value itself",
            t.handle, t.suffix
        ),
        at,
    }]
}

fn too_deep(at: Mark) -> Vec<SyntaxError> {
    vec![SyntaxError {
        message: format!("nested deeper than {MAX_DEPTH} levels"),
        at,
    }]
}

fn broken(at: Mark) -> Vec<SyntaxError> {
    vec![SyntaxError {
        message: "unbalanced YAML structure".into(),
        at,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(n: &Node) -> (&str, bool) {
        match &n.value {
            Value::Scalar { text, plain } => (text, *plain),
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn nodes_know_their_line_and_column() {
        let t = parse("issuer: x\nweb:\n  http: 127.0.0.1:5556\n  list:\n  - 'a'\n").unwrap();
        let http = t.locate("web.http");
        assert_eq!(scalar(http), ("127.0.0.1:5556", true));
        assert_eq!(http.at, Mark { line: 3, column: 9 });
        let a = t.locate("web.list[0]");
        assert_eq!(scalar(a), ("a", false));
        assert_eq!(a.at.line, 5);
        // A path that goes further than the file stops at the deepest node there is.
        assert_eq!(t.locate("web.nothing.deeper").at, t.locate("web").at);
        // A problem about a key is shown at the key, not at the section under it.
        assert_eq!(t.place("web"), Mark { line: 2, column: 1 });
        assert_eq!(t.place("web.list[0]").line, 5);
    }

    #[test]
    fn empty_values_and_null_words_are_null_but_quoted_ones_are_text() {
        let t = parse("a:\nb: ~\nc: null\nd: 'null'\ne: !!str 5\n").unwrap();
        for k in ["a", "b", "c"] {
            assert_eq!(t.get(k).unwrap().value, Value::Null, "{k}");
        }
        assert_eq!(scalar(t.get("d").unwrap()), ("null", false));
        assert_eq!(scalar(t.get("e").unwrap()), ("5", false));
    }

    #[test]
    fn merge_keys_fill_in_what_the_mapping_does_not_set() {
        let t = parse("d: &d {a: 1, b: 2}\nx:\n  <<: *d\n  b: 3\n").unwrap();
        let x = t.get("x").unwrap();
        assert_eq!(scalar(x.get("a").unwrap()).0, "1");
        assert_eq!(scalar(x.get("b").unwrap()).0, "3");
        assert!(x.get("<<").is_none());
    }

    #[test]
    fn aliases_expand_within_a_budget_of_bytes_too() {
        let big = "x".repeat(100_000);
        let mut bytes = format!("s: &s {big}\nl:\n");
        for _ in 0..100 {
            bytes.push_str("- *s\n");
        }
        let e = parse(&bytes).unwrap_err();
        assert!(e[0].message.contains("aliases expand"), "{e:?}");
    }

    #[test]
    fn aliases_expand_within_a_budget() {
        let t = parse("a: &x [1, 2]\nb: *x\n").unwrap();
        assert_eq!(t.get("a").unwrap().value, t.get("b").unwrap().value);
        let mut laughs = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let p = i - 1;
            laughs.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let e = parse(&laughs).unwrap_err();
        assert!(e[0].message.contains("aliases expand"), "{e:?}");
    }

    #[test]
    fn several_documents_repeated_keys_and_bad_syntax_are_refused_with_a_place() {
        let e = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert!(e[0].message.contains("2 YAML documents"), "{e:?}");
        let e = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert!(
            e[0].message
                .contains("`a` is given twice (first at line 1)")
        );
        // A trailing `---` with nothing after it is no second document.
        assert!(parse("a: 1\n---\n").is_ok());
        assert!(parse("a: 1\n--- # nothing\n").is_ok());
        // Tags are refused rather than misread (`!!binary` would be base64 to YAML).
        for tagged in [
            "a: !!binary c2VjcmV0\n",
            "a: !!python/object:x {}\n",
            "a: !foo [1]\n",
        ] {
            let e = parse(tagged).unwrap_err();
            assert!(
                e[0].message.contains("YAML tags are not read"),
                "{tagged}: {e:?}"
            );
        }
        assert_eq!(e[0].at.line, 3);
        let e = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(e[0].at.line >= 1, "{e:?}");
        let deep = format!("{}1{}", "[".repeat(80), "]".repeat(80));
        assert!(
            parse(&deep).unwrap_err()[0]
                .message
                .contains("nested deeper")
        );
        assert_eq!(parse("").unwrap().value, Value::Null);
    }
}
