//! serde over the positioned tree, built to find every problem of a file in one run.
//!
//! Unknown keys are set aside as the struct is read (serde hands the deserializer the names
//! it knows), so they never stop the read. A value of the wrong type does stop it: the reader
//! notes where, reads again without that entry, and repeats until the file reads or nothing
//! is left to drop. Null reads as an empty section or list, as Go's decoder (Dex's) reads it.

use std::cell::RefCell;
use std::collections::HashSet;

use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, Visitor};

use super::Problem;
use super::tree::{Mark, Node, Value};
use super::wording;

/// Reads of one file before the reader gives up dropping entries: far more than the problems
/// any file has.
const MAX_ROUNDS: usize = 200;
/// Unknown keys listed at most: a file with thousands is no config, and listing them all would
/// only take time.
const MAX_UNKNOWN: usize = 500;

/// Read `T` from `root`, with every problem found. `base` is the path of `root` in the file
/// ("" for the whole file), so that paths in problems are the file's.
pub fn read_all<T: de::DeserializeOwned>(root: &Node, base: &str) -> (Option<T>, Vec<Problem>) {
    let mut skip: HashSet<String> = HashSet::new();
    let mut problems: Vec<Problem> = Vec::new();
    let mut unknown: Vec<Problem> = Vec::new();
    let mut unknown_paths: HashSet<String> = HashSet::new();
    let mut result = None;
    for _ in 0..MAX_ROUNDS {
        let ctx = Ctx {
            skip: &skip,
            unknown: RefCell::new(Vec::new()),
        };
        let read = T::deserialize(De {
            node: root,
            path: base.to_string(),
            ctx: &ctx,
        });
        for u in ctx.unknown.into_inner() {
            if unknown.len() < MAX_UNKNOWN && unknown_paths.insert(u.path.clone()) {
                unknown.push(u);
            }
        }
        match read {
            Ok(v) => {
                result = Some(v);
                break;
            }
            Err(e) => {
                let path = e.path.clone().unwrap_or_else(|| base.to_string());
                // A required key dropped for its own problem, or misspelt (the "did you mean"
                // says it), is not missing a second time.
                let echo = e.missing.as_ref().is_some_and(|m| {
                    skip.contains(&child(&path, m))
                        || unknown.iter().any(|u| {
                            u.path.starts_with(&child(&path, ""))
                                && u.message.ends_with(&format!("did you mean `{m}`?"))
                        })
                });
                if !echo {
                    problems.push(e.into_problem(root));
                }
                if path == base || !skip.insert(path) {
                    break;
                }
            }
        }
    }
    problems.extend(unknown);
    problems.sort_by_key(|p| (p.at.map(|m| (m.line, m.column)), p.path.clone()));
    (result, problems)
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

struct Ctx<'s> {
    skip: &'s HashSet<String>,
    unknown: RefCell<Vec<Problem>>,
}

/// A problem while reading, with the path and place of the node it belongs to once known.
#[derive(Debug)]
pub struct Error {
    message: String,
    path: Option<String>,
    at: Option<Mark>,
    /// The key a struct found missing.
    missing: Option<String>,
}

impl Error {
    fn located(mut self, path: &str, at: Mark) -> Error {
        if self.path.is_none() {
            self.path = Some(path.to_string());
            self.at = Some(at);
        }
        self
    }

    fn into_problem(self, root: &Node) -> Problem {
        let path = self.path.unwrap_or_default();
        let at = self
            .at
            .or_else(|| Some(root.locate(&path).at))
            .filter(|m| m.line > 0);
        Problem {
            path,
            message: self.message,
            at,
            note: false,
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<M: std::fmt::Display>(msg: M) -> Self {
        Error {
            message: wording::custom(&msg.to_string()),
            path: None,
            at: None,
            missing: None,
        }
    }

    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Error::custom_plain(wording::invalid(&unexp, &exp.to_string()))
    }

    fn invalid_value(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Error::custom_plain(wording::invalid(&unexp, &exp.to_string()))
    }

    fn invalid_length(len: usize, exp: &dyn de::Expected) -> Self {
        Error::custom_plain(format!(
            "{len} items where {} are expected",
            wording::expected(&exp.to_string())
        ))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        Error::custom_plain(format!(
            "`{variant}` is not one of {}",
            wording::one_of(expected)
        ))
    }

    fn missing_field(field: &'static str) -> Self {
        Error {
            message: format!("`{field}` is required here"),
            path: None,
            at: None,
            missing: Some(field.to_string()),
        }
    }
}

impl Error {
    fn custom_plain(message: String) -> Error {
        Error {
            message,
            path: None,
            at: None,
            missing: None,
        }
    }
}

type Result<T> = std::result::Result<T, Error>;

struct De<'a, 's> {
    node: &'a Node,
    path: String,
    ctx: &'s Ctx<'s>,
}

impl<'a, 's> De<'a, 's> {
    fn at<T>(&self, r: Result<T>) -> Result<T> {
        r.map_err(|e| e.located(&self.path, self.node.at))
    }

    fn scalar(&self) -> Option<(&'a str, bool)> {
        match &self.node.value {
            Value::Scalar { text, plain } => Some((text.as_str(), *plain)),
            _ => None,
        }
    }
}

/// A plain scalar as YAML 1.2's core schema reads it.
enum Plain<'a> {
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Text(&'a str),
}

fn resolve(text: &str) -> Plain<'_> {
    match text {
        "true" | "True" | "TRUE" => return Plain::Bool(true),
        "false" | "False" | "FALSE" => return Plain::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Plain::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Plain::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Plain::Float(f64::NAN),
        _ => {}
    }
    let digits = |s: &str, radix| !s.is_empty() && u64::from_str_radix(s, radix).is_ok();
    if let Some(h) = text.strip_prefix("0x")
        && digits(h, 16)
    {
        return u64::from_str_radix(h, 16).map_or(Plain::Text(text), Plain::Uint);
    }
    if let Some(o) = text.strip_prefix("0o")
        && digits(o, 8)
    {
        return u64::from_str_radix(o, 8).map_or(Plain::Text(text), Plain::Uint);
    }
    let unsigned = text.strip_prefix('+').unwrap_or(text);
    if unsigned.bytes().all(|b| b.is_ascii_digit())
        && !unsigned.is_empty()
        && let Ok(u) = unsigned.parse::<u64>()
    {
        return Plain::Uint(u);
    }
    if let Some(neg) = text.strip_prefix('-')
        && !neg.is_empty()
        && neg.bytes().all(|b| b.is_ascii_digit())
        && let Ok(i) = text.parse::<i64>()
    {
        return Plain::Int(i);
    }
    let looks_numeric = text
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
        && text.bytes().any(|b| b.is_ascii_digit());
    if looks_numeric && let Ok(f) = text.parse::<f64>() {
        return Plain::Float(f);
    }
    Plain::Text(text)
}

impl<'de, 'a: 'de, 's> Deserializer<'de> for De<'a, 's> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        let r = match &self.node.value {
            Value::Null => v.visit_unit(),
            Value::Scalar { text, plain: false } => v.visit_borrowed_str(text),
            Value::Scalar { text, plain: true } => match resolve(text) {
                Plain::Bool(b) => v.visit_bool(b),
                Plain::Int(i) => v.visit_i64(i),
                Plain::Uint(u) => v.visit_u64(u),
                Plain::Float(f) => v.visit_f64(f),
                Plain::Text(t) => v.visit_borrowed_str(t),
            },
            Value::Seq(items) => v.visit_seq(Seq::new(items, self.path.clone(), self.ctx)),
            Value::Map(entries) => {
                v.visit_map(Map::new(entries, self.path.clone(), self.ctx, None))
            }
        };
        self.at(r)
    }

    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        // Go reads null into a string as "", and a plain `5556` is text where text is asked.
        let r = match self.scalar() {
            Some((text, _)) => v.visit_borrowed_str(text),
            None if self.node.value == Value::Null => v.visit_borrowed_str(""),
            None => return self.deserialize_any(v),
        };
        self.at(r)
    }

    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.deserialize_str(v)
    }

    fn deserialize_char<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.deserialize_str(v)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.deserialize_str(v)
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        if self.node.value == Value::Null {
            let r = v.visit_none();
            return self.at(r);
        }
        let (path, at) = (self.path.clone(), self.node.at);
        v.visit_some(self).map_err(|e| e.located(&path, at))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        let r = match &self.node.value {
            Value::Null => v.visit_seq(Seq::new(&[], self.path.clone(), self.ctx)),
            Value::Seq(items) => v.visit_seq(Seq::new(items, self.path.clone(), self.ctx)),
            _ => return self.deserialize_any(v),
        };
        self.at(r)
    }

    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        let r = match &self.node.value {
            Value::Null => v.visit_map(Map::new(&[], self.path.clone(), self.ctx, None)),
            Value::Map(entries) => {
                v.visit_map(Map::new(entries, self.path.clone(), self.ctx, None))
            }
            _ => return self.deserialize_any(v),
        };
        self.at(r)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value> {
        let r = match &self.node.value {
            // serde would read a list into a struct by position; a file means no such thing.
            Value::Seq(_) => Err(de::Error::invalid_type(
                de::Unexpected::Seq,
                &"a section of `key: value` lines",
            )),
            Value::Null => v.visit_map(Map::new(&[], self.path.clone(), self.ctx, Some(fields))),
            Value::Map(entries) => {
                v.visit_map(Map::new(entries, self.path.clone(), self.ctx, Some(fields)))
            }
            _ => return self.deserialize_any(v),
        };
        self.at(r)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value> {
        let r = match &self.node.value {
            Value::Scalar { text, .. } => {
                v.visit_enum(IntoDeserializer::<Error>::into_deserializer(text.as_str()))
            }
            Value::Map(entries) if entries.len() == 1 => v.visit_enum(Variant {
                key: &entries[0].0,
                value: &entries[0].1,
                path: self.path.clone(),
                ctx: self.ctx,
            }),
            _ => return self.deserialize_any(v),
        };
        self.at(r)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        v: V,
    ) -> Result<V::Value> {
        let (path, at) = (self.path.clone(), self.node.at);
        v.visit_newtype_struct(self)
            .map_err(|e| e.located(&path, at))
    }

    fn deserialize_unit<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.deserialize_any(v)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        v.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 bytes byte_buf
        unit_struct tuple tuple_struct
    }
}

struct Seq<'a, 's> {
    items: std::iter::Enumerate<std::slice::Iter<'a, Node>>,
    path: String,
    ctx: &'s Ctx<'s>,
}

impl<'a, 's> Seq<'a, 's> {
    fn new(items: &'a [Node], path: String, ctx: &'s Ctx<'s>) -> Self {
        Seq {
            items: items.iter().enumerate(),
            path,
            ctx,
        }
    }
}

impl<'de, 'a: 'de, 's> de::SeqAccess<'de> for Seq<'a, 's> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        for (i, node) in self.items.by_ref() {
            let path = format!("{}[{i}]", self.path);
            if self.ctx.skip.contains(&path) {
                continue;
            }
            return seed
                .deserialize(De {
                    node,
                    path,
                    ctx: self.ctx,
                })
                .map(Some);
        }
        Ok(None)
    }
}

struct Map<'a, 's> {
    all: &'a [(Node, Node)],
    entries: std::slice::Iter<'a, (Node, Node)>,
    path: String,
    ctx: &'s Ctx<'s>,
    fields: Option<&'static [&'static str]>,
    value: Option<(&'a Node, String)>,
}

impl<'a, 's> Map<'a, 's> {
    fn new(
        entries: &'a [(Node, Node)],
        path: String,
        ctx: &'s Ctx<'s>,
        fields: Option<&'static [&'static str]>,
    ) -> Self {
        Map {
            all: entries,
            entries: entries.iter(),
            path,
            ctx,
            fields,
            value: None,
        }
    }
}

impl<'de, 'a: 'de, 's> de::MapAccess<'de> for Map<'a, 's> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        for (k, v) in self.entries.by_ref() {
            let name = k.as_str().unwrap_or_default();
            let path = child(&self.path, name);
            if self.ctx.skip.contains(&path) {
                continue;
            }
            if let Some(fields) = self.fields
                && !fields.contains(&name)
            {
                // Go's decoder (Dex's) matches keys in any case: such a key means its field.
                let taken = |f: &str| {
                    self.all
                        .iter()
                        .filter_map(|(k, _)| k.as_str())
                        .filter(|k| k.eq_ignore_ascii_case(f))
                        .count()
                        > 1
                };
                if let Some(meant) = fields.iter().find(|f| f.eq_ignore_ascii_case(name)) {
                    if taken(meant) {
                        self.ctx.unknown.borrow_mut().push(Problem {
                            message: format!("`{meant}` is given twice, in two cases"),
                            path,
                            at: Some(k.at),
                            note: false,
                        });
                        continue;
                    }
                    self.ctx.unknown.borrow_mut().push(Problem {
                        message: format!(
                            "read as `{meant}`, as Dex reads keys in any case; write `{meant}`"
                        ),
                        path: path.clone(),
                        at: Some(k.at),
                        note: true,
                    });
                    self.value = Some((v, child(&self.path, meant)));
                    return seed
                        .deserialize(IntoDeserializer::<Error>::into_deserializer(*meant))
                        .map(Some);
                }
                self.ctx.unknown.borrow_mut().push(Problem {
                    message: wording::unknown_key(name, fields),
                    path,
                    at: Some(k.at),
                    note: false,
                });
                continue;
            }
            self.value = Some((v, path.clone()));
            return seed
                .deserialize(De {
                    node: k,
                    path,
                    ctx: self.ctx,
                })
                .map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        let Some((node, path)) = self.value.take() else {
            return Err(de::Error::custom("a value without its key"));
        };
        seed.deserialize(De {
            node,
            path,
            ctx: self.ctx,
        })
    }
}

struct Variant<'a, 's> {
    key: &'a Node,
    value: &'a Node,
    path: String,
    ctx: &'s Ctx<'s>,
}

impl<'de, 'a: 'de, 's> de::EnumAccess<'de> for Variant<'a, 's> {
    type Error = Error;
    type Variant = De<'a, 's>;

    fn variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<(T::Value, De<'a, 's>)> {
        let name = self.key.as_str().unwrap_or_default();
        let path = child(&self.path, name);
        let v = seed.deserialize(De {
            node: self.key,
            path: path.clone(),
            ctx: self.ctx,
        })?;
        Ok((
            v,
            De {
                node: self.value,
                path,
                ctx: self.ctx,
            },
        ))
    }
}

impl<'de, 'a: 'de, 's> de::VariantAccess<'de> for De<'a, 's> {
    type Error = Error;

    fn unit_variant(self) -> Result<()> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, v: V) -> Result<V::Value> {
        self.deserialize_seq(v)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value> {
        self.deserialize_struct("", fields, v)
    }
}
