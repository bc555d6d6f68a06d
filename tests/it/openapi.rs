//! A checker for the schema objects of an OpenAPI 3.0 description, as far as the vendored
//! excerpts under tests/api-descriptions/ use them: `type`, `nullable`, `properties`,
//! `required`, `items`, `enum`, `oneOf`/`anyOf`/`allOf`, `additionalProperties: false`, the
//! `email`, `uri` and `date-time` formats, and `$ref` to `#/components/schemas/`. A `$ref` to a
//! schema that was not vendored fails, so a stand-in answer can never pass unchecked.
//!
//! Written here rather than taken as a dev-dependency: the JSON Schema crates check JSON
//! Schema, whose `nullable` and `$ref` rules differ from OpenAPI 3.0's, and would add a tree of
//! crates to link for some hundred lines.

use serde_json::{Map, Value};

/// The component schemas of one vendored description.
pub struct Description {
    schemas: Map<String, Value>,
}

impl Description {
    /// The GitHub REST API excerpt (tests/api-descriptions/github/).
    pub fn github() -> &'static Description {
        static D: std::sync::OnceLock<Description> = std::sync::OnceLock::new();
        D.get_or_init(|| {
            let text =
                include_str!("../api-descriptions/github/api.github.com.2022-11-28.schemas.json");
            let doc: Value = serde_json::from_str(text).expect("the vendored description is JSON");
            Description {
                schemas: doc["components"]["schemas"]
                    .as_object()
                    .cloned()
                    .expect("components.schemas"),
            }
        })
    }

    /// Whether `v` is a `name` (a component schema); the first mismatch, with its path.
    pub fn check(&self, name: &str, v: &Value) -> Result<(), String> {
        let s = self.schema(name)?;
        self.value(s, v, "$")
    }

    /// Whether `v` is an array of `name`.
    pub fn check_list(&self, name: &str, v: &Value) -> Result<(), String> {
        let items = v.as_array().ok_or("$: not an array")?;
        for (i, item) in items.iter().enumerate() {
            let s = self.schema(name)?;
            self.value(s, item, &format!("$[{i}]"))?;
        }
        Ok(())
    }

    fn schema(&self, name: &str) -> Result<&Value, String> {
        self.schemas
            .get(name)
            .ok_or_else(|| format!("schema `{name}` is not vendored"))
    }

    fn resolve<'a>(&'a self, s: &'a Value) -> Result<&'a Value, String> {
        match s.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let name = r
                    .strip_prefix("#/components/schemas/")
                    .ok_or_else(|| format!("unsupported $ref {r}"))?;
                self.resolve(self.schema(name)?)
            }
            None => Ok(s),
        }
    }

    fn value(&self, s: &Value, v: &Value, at: &str) -> Result<(), String> {
        let s = self.resolve(s)?;
        if v.is_null() {
            return if s["nullable"] == true {
                Ok(())
            } else {
                Err(format!("{at}: null where the schema is not nullable"))
            };
        }
        if let Some(all) = s.get("allOf").and_then(Value::as_array) {
            for sub in all {
                self.value(sub, v, at)?;
            }
        }
        if let Some(any) = s.get("anyOf").and_then(Value::as_array)
            && !any.iter().any(|sub| self.value(sub, v, at).is_ok())
        {
            return Err(format!("{at}: matches none of anyOf"));
        }
        if let Some(one) = s.get("oneOf").and_then(Value::as_array) {
            let n = one
                .iter()
                .filter(|sub| self.value(sub, v, at).is_ok())
                .count();
            if n != 1 {
                return Err(format!("{at}: matches {n} of oneOf, not one"));
            }
        }
        if let Some(allowed) = s.get("enum").and_then(Value::as_array)
            && !allowed.contains(v)
        {
            return Err(format!("{at}: {v} is not one of {allowed:?}"));
        }
        match s.get("type").and_then(Value::as_str) {
            None => Ok(()),
            Some("object") => self.object(s, v, at),
            Some("array") => {
                let items = v.as_array().ok_or_else(|| format!("{at}: not an array"))?;
                match s.get("items") {
                    Some(item_schema) => items
                        .iter()
                        .enumerate()
                        .try_for_each(|(i, x)| self.value(item_schema, x, &format!("{at}[{i}]"))),
                    None => Ok(()),
                }
            }
            Some("string") => {
                let text = v
                    .as_str()
                    .ok_or_else(|| format!("{at}: {v} is not a string"))?;
                format(s.get("format").and_then(Value::as_str), text)
                    .map_err(|why| format!("{at}: `{text}` {why}"))
            }
            Some("integer") if v.is_i64() || v.is_u64() => Ok(()),
            Some("number") if v.is_number() => Ok(()),
            Some("boolean") if v.is_boolean() => Ok(()),
            Some(t) => Err(format!("{at}: {v} is not a(n) {t}")),
        }
    }

    fn object(&self, s: &Value, v: &Value, at: &str) -> Result<(), String> {
        let o = v
            .as_object()
            .ok_or_else(|| format!("{at}: not an object"))?;
        for r in s["required"].as_array().into_iter().flatten() {
            let k = r.as_str().unwrap_or_default();
            if !o.contains_key(k) {
                return Err(format!("{at}: required `{k}` is missing"));
            }
        }
        let props = s["properties"].as_object();
        for (k, x) in o {
            match props.and_then(|p| p.get(k)) {
                Some(ps) => self.value(ps, x, &format!("{at}.{k}"))?,
                None if s["additionalProperties"] == false => {
                    return Err(format!("{at}: `{k}` is not a property of the schema"));
                }
                None => {}
            }
        }
        Ok(())
    }
}

/// The formats the excerpts use, checked as loosely as their meaning allows.
fn format(f: Option<&str>, text: &str) -> Result<(), &'static str> {
    match f {
        Some("email") if !text.contains('@') => Err("is not an email address"),
        Some("uri") if url::Url::parse(text).is_err() => Err("is not a URI"),
        Some("date-time") if chrono::DateTime::parse_from_rfc3339(text).is_err() => {
            Err("is not an RFC 3339 date-time")
        }
        _ => Ok(()),
    }
}

#[test]
fn the_checker_refuses_what_the_description_does_not_allow() {
    use serde_json::json;
    let d = Description::github();
    let email =
        json!({"email": "a@b.example", "primary": true, "verified": true, "visibility": null});
    d.check("email", &email).unwrap();
    for (bad, says) in [
        (
            json!({"email": "a@b.example", "primary": true, "verified": true}),
            "required `visibility`",
        ),
        (
            json!({"email": "a@b.example", "primary": "yes", "verified": true, "visibility": null}),
            "$.primary",
        ),
        (
            json!({"email": "nobody", "primary": true, "verified": true, "visibility": null}),
            "email address",
        ),
        (
            json!({"email": null, "primary": true, "verified": true, "visibility": null}),
            "not nullable",
        ),
        (json!(["not", "an", "object"]), "not an object"),
    ] {
        let e = d.check("email", &bad).unwrap_err();
        assert!(e.contains(says), "{bad}: {e}");
    }
    assert!(
        d.check_list("email", &json!([email, {"email": 1}]))
            .is_err()
    );
    // The stand-in's own answers pass; each broken in one place, they fail there.
    let base = "https://127.0.0.1:1";
    let team = crate::github::team_json(base, 1, "acme", "Red Team", "red-team");
    d.check("team-full", &team).unwrap();
    let user = crate::github::user_json(base, &crate::github::Account::default());
    d.check("private-user", &user).unwrap();
    d.check(
        "organization-simple",
        &crate::github::org_json(base, 1, "acme"),
    )
    .unwrap();
    for (path, value, says) in [
        ("/privacy", json!("public"), "is not one of"),
        ("/organization/login", json!(7), "$.organization.login"),
        ("/organization", Value::Null, "not nullable"),
        ("/created_at", json!("yesterday"), "date-time"),
        (
            "/parent",
            Value::Null,
            "`nullable-team-simple` is not vendored",
        ),
    ] {
        let mut broken = team.clone();
        match broken.pointer_mut(path) {
            Some(at) => *at = value,
            None => broken[path.trim_start_matches('/')] = value,
        }
        let e = d.check("team-full", &broken).unwrap_err();
        assert!(e.contains(says), "{path}: {e}");
    }
    let mut no_id = user.clone();
    no_id.as_object_mut().unwrap().remove("id");
    assert!(
        d.check("private-user", &no_id)
            .unwrap_err()
            .contains("`id`")
    );
    assert!(d.check("no-such-schema", &json!({})).is_err());
}
