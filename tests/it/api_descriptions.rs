//! Checkers for the vendored API descriptions (tests/api-descriptions/): Microsoft Graph's
//! metadata (an OData CSDL excerpt) and Google's Admin SDK discovery document (an excerpt).
//! The stand-ins in `microsoft` and `google` pass every answer through them, so a stand-in
//! cannot drift from what the real service answers without a test failing. Each refuses a
//! property, type or schema the excerpt does not hold.

use serde_json::Value;

/// (name, type, nullable) of a property or parameter.
type Typed = Vec<(String, String, bool)>;

/// Microsoft Graph v1.0, as far as the excerpt describes it.
pub struct Graph {
    doc: String,
}

impl Graph {
    pub fn get() -> &'static Graph {
        static G: std::sync::OnceLock<Graph> = std::sync::OnceLock::new();
        G.get_or_init(|| Graph {
            doc: include_str!("../api-descriptions/microsoft/graph-v1.0.excerpt.xml").into(),
        })
    }

    fn with<T>(&self, f: impl FnOnce(roxmltree::Node) -> T) -> T {
        let doc = roxmltree::Document::parse(&self.doc).expect("the excerpt is XML");
        let schema = doc
            .descendants()
            .find(|n| n.has_tag_name("Schema"))
            .expect("a Schema");
        f(schema)
    }

    /// (name, type, nullable) of every property of entity type `name` and its bases.
    fn properties(&self, name: &str) -> Result<Typed, String> {
        self.with(|schema| {
            let mut out = Vec::new();
            let mut at = Some(name.to_string());
            while let Some(n) = at.take() {
                let t = schema
                    .children()
                    .find(|c| c.has_tag_name("EntityType") && c.attribute("Name") == Some(&n))
                    .ok_or_else(|| format!("entity type `{n}` is not in the excerpt"))?;
                for p in t.children().filter(|c| c.has_tag_name("Property")) {
                    out.push((
                        p.attribute("Name").unwrap_or_default().to_string(),
                        p.attribute("Type").unwrap_or_default().to_string(),
                        p.attribute("Nullable") != Some("false"),
                    ));
                }
                at = t
                    .attribute("BaseType")
                    .map(|b| b.trim_start_matches("graph.").to_string());
            }
            Ok(out)
        })
    }

    /// Whether `v` is an entity of type `name` (or of the type its `@odata.type` names, which
    /// must derive from `name`).
    pub fn check_entity(&self, name: &str, v: &Value, at: &str) -> Result<(), String> {
        let o = v.as_object().ok_or(format!("{at}: not an object"))?;
        let mut ty = name.to_string();
        if let Some(t) = o.get("@odata.type") {
            let t = t
                .as_str()
                .and_then(|t| t.strip_prefix("#microsoft.graph."))
                .ok_or(format!("{at}: @odata.type {t} names no Graph type"))?;
            let chain = self.with(|schema| {
                let mut chain = Vec::new();
                let mut n = Some(t.to_string());
                while let Some(x) = n.take() {
                    chain.push(x.clone());
                    n = schema
                        .children()
                        .find(|c| c.has_tag_name("EntityType") && c.attribute("Name") == Some(&x))
                        .and_then(|c| c.attribute("BaseType"))
                        .map(|b| b.trim_start_matches("graph.").to_string());
                }
                chain
            });
            if !chain.iter().any(|c| c == name) {
                return Err(format!("{at}: {t} is not a {name}"));
            }
            ty = t.to_string();
        }
        let props = self.properties(&ty)?;
        for (k, x) in o {
            if k.starts_with("@odata.") {
                continue;
            }
            let Some((_, t, nullable)) = props.iter().find(|(n, _, _)| n == k) else {
                return Err(format!("{at}: `{k}` is not a property of {ty}"));
            };
            value(t, *nullable, x, &format!("{at}.{k}"))?;
        }
        for (n, _, nullable) in &props {
            if !nullable && !o.contains_key(n) {
                return Err(format!("{at}: `{n}` of {ty} is missing"));
            }
        }
        Ok(())
    }

    fn action(&self, name: &str) -> Result<(Typed, String), String> {
        self.with(|schema| {
            let a = schema
                .children()
                .find(|c| c.has_tag_name("Action") && c.attribute("Name") == Some(name))
                .ok_or_else(|| format!("action `{name}` is not in the excerpt"))?;
            let params = a
                .children()
                .filter(|c| c.has_tag_name("Parameter"))
                .filter(|c| c.attribute("Name") != Some("bindingParameter"))
                .map(|p| {
                    (
                        p.attribute("Name").unwrap_or_default().to_string(),
                        p.attribute("Type").unwrap_or_default().to_string(),
                        p.attribute("Nullable") != Some("false"),
                    )
                })
                .collect();
            let ret = a
                .children()
                .find(|c| c.has_tag_name("ReturnType"))
                .and_then(|r| r.attribute("Type"))
                .unwrap_or_default()
                .to_string();
            Ok((params, ret))
        })
    }

    /// Whether `body` is what action `name` takes: only its parameters, of their types.
    pub fn check_action_request(&self, name: &str, body: &Value) -> Result<(), String> {
        let (params, _) = self.action(name)?;
        let o = body.as_object().ok_or("request: not an object")?;
        for (k, x) in o {
            let Some((_, t, nullable)) = params.iter().find(|(n, _, _)| n == k) else {
                return Err(format!("request: `{k}` is not a parameter of {name}"));
            };
            value(t, *nullable, x, &format!("request.{k}"))?;
        }
        for (n, _, nullable) in &params {
            if !nullable && !o.contains_key(n) {
                return Err(format!("request: `{n}` of {name} is missing"));
            }
        }
        Ok(())
    }

    /// Whether `answer` is what action `name` returns: a collection as `value`, beside
    /// `@odata.*` annotations.
    pub fn check_action_answer(&self, name: &str, answer: &Value) -> Result<(), String> {
        let (_, ret) = self.action(name)?;
        let o = answer.as_object().ok_or("$: not an object")?;
        for k in o.keys() {
            if k != "value" && !k.starts_with("@odata.") {
                return Err(format!("$: `{k}` is not part of an action's answer"));
            }
        }
        if let Some(next) = o.get("@odata.nextLink") {
            next.as_str()
                .and_then(|n| url::Url::parse(n).ok())
                .ok_or("$.@odata.nextLink: not an absolute URL")?;
        }
        value(
            &ret,
            false,
            o.get("value").ok_or("$: no `value`")?,
            "$.value",
        )
    }
}

/// An OData value of type `t` (`Edm.String`, `Edm.Boolean`, `Collection(...)`, an entity type).
fn value(t: &str, nullable: bool, v: &Value, at: &str) -> Result<(), String> {
    if v.is_null() {
        return if nullable {
            Ok(())
        } else {
            Err(format!("{at}: null where {t} is not nullable"))
        };
    }
    if let Some(item) = t
        .strip_prefix("Collection(")
        .and_then(|r| r.strip_suffix(')'))
    {
        let items = v.as_array().ok_or(format!("{at}: not an array"))?;
        return items
            .iter()
            .enumerate()
            .try_for_each(|(i, x)| value(item, false, x, &format!("{at}[{i}]")));
    }
    match t {
        "Edm.String" if v.is_string() => Ok(()),
        "Edm.Boolean" if v.is_boolean() => Ok(()),
        t if t.starts_with("graph.") => {
            Graph::get().check_entity(t.trim_start_matches("graph."), v, at)
        }
        t => Err(format!("{at}: {v} is not a(n) {t}")),
    }
}

/// Google's Admin SDK Directory API, as far as the excerpt describes it.
pub struct Directory {
    doc: Value,
}

impl Directory {
    pub fn get() -> &'static Directory {
        static D: std::sync::OnceLock<Directory> = std::sync::OnceLock::new();
        D.get_or_init(|| Directory {
            doc: serde_json::from_str(include_str!(
                "../api-descriptions/google/admin-directory_v1.excerpt.json"
            ))
            .expect("the excerpt is JSON"),
        })
    }

    /// Whether `query` holds only parameters `groups.list` takes, of their types.
    pub fn check_list_query(&self, query: &[(String, String)]) -> Result<(), String> {
        let params = &self.doc["resources"]["groups"]["methods"]["list"]["parameters"];
        for (k, v) in query {
            let p = params
                .get(k)
                .ok_or(format!("`{k}` is not a parameter of groups.list"))?;
            if p["type"] == "integer" && v.parse::<i64>().is_err() {
                return Err(format!("`{k}`: `{v}` is not an integer"));
            }
        }
        Ok(())
    }

    /// Whether `v` is a `name` (a schema of the excerpt).
    pub fn check(&self, name: &str, v: &Value) -> Result<(), String> {
        let s = self
            .doc
            .pointer(&format!("/schemas/{name}"))
            .ok_or(format!("schema `{name}` is not in the excerpt"))?;
        self.value(s, v, "$")
    }

    fn value(&self, s: &Value, v: &Value, at: &str) -> Result<(), String> {
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            let s = self
                .doc
                .pointer(&format!("/schemas/{r}"))
                .ok_or(format!("schema `{r}` is not in the excerpt"))?;
            return self.value(s, v, at);
        }
        match s["type"].as_str() {
            Some("object") => {
                let o = v.as_object().ok_or(format!("{at}: not an object"))?;
                for (k, x) in o {
                    let p = s["properties"]
                        .get(k)
                        .ok_or(format!("{at}: `{k}` is not a property of the schema"))?;
                    self.value(p, x, &format!("{at}.{k}"))?;
                }
                Ok(())
            }
            Some("array") => v
                .as_array()
                .ok_or(format!("{at}: not an array"))?
                .iter()
                .enumerate()
                .try_for_each(|(i, x)| self.value(&s["items"], x, &format!("{at}[{i}]"))),
            Some("string") => {
                let text = v.as_str().ok_or(format!("{at}: {v} is not a string"))?;
                if s["format"] == "int64" && text.parse::<i64>().is_err() {
                    return Err(format!("{at}: `{text}` is not an int64 in a string"));
                }
                Ok(())
            }
            Some("boolean") if v.is_boolean() => Ok(()),
            Some("integer") if v.is_i64() => Ok(()),
            t => Err(format!("{at}: {v} is not a(n) {t:?}")),
        }
    }
}

#[test]
fn the_checkers_refuse_what_the_descriptions_do_not_allow() {
    use serde_json::json;
    let g = Graph::get();
    let user = json!({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
        "id": "u1", "displayName": "Ann", "userPrincipalName": "ann@example.com",
        "mailNickname": "ann", "onPremisesSamAccountName": null});
    g.check_entity("user", &user, "$").unwrap();
    for (bad, says) in [
        (json!({"displayName": "Ann"}), "`id` of user is missing"),
        (json!({"id": "u1", "displayName": 7}), "$.displayName"),
        (
            json!({"id": "u1", "mail": "x"}),
            "`mail` is not a property of user",
        ),
        (json!({"id": null}), "not nullable"),
    ] {
        let e = g.check_entity("user", &bad, "$").unwrap_err();
        assert!(e.contains(says), "{bad}: {e}");
    }
    g.check_action_answer("getMemberGroups", &json!({"value": ["a", "b"]}))
        .unwrap();
    assert!(
        g.check_action_answer("getMemberGroups", &json!({"value": [1]}))
            .is_err()
    );
    assert!(
        g.check_action_answer("getMemberGroups", &json!(["a"]))
            .is_err()
    );
    let groups = json!({"value": [{"@odata.type": "#microsoft.graph.group", "id": "g1",
        "displayName": "devs"}], "@odata.nextLink": "https://graph.microsoft.com/v1.0/x"});
    g.check_action_answer("getByIds", &groups).unwrap();
    let not_a_group = json!({"value": [{"@odata.type": "#microsoft.graph.user", "id": "g1",
        "securityEnabled": true}]});
    assert!(
        g.check_action_answer("getByIds", &not_a_group)
            .unwrap_err()
            .contains("securityEnabled")
    );
    g.check_action_request("getByIds", &json!({"ids": ["a"], "types": ["group"]}))
        .unwrap();
    assert!(
        g.check_action_request("getByIds", &json!({"types": ["group"]}))
            .unwrap_err()
            .contains("`ids`")
    );
    assert!(
        g.check_action_request("getMemberGroups", &json!({"securityEnabledOnly": "yes"}))
            .is_err()
    );

    let d = Directory::get();
    let page = json!({"kind": "admin#directory#groups", "etag": "\"e\"",
        "groups": [{"kind": "admin#directory#group", "id": "1", "email": "a@example.com",
                    "name": "A", "directMembersCount": "3", "adminCreated": true}],
        "nextPageToken": "t"});
    d.check("Groups", &page).unwrap();
    for (path, v, says) in [
        ("/groups/0/directMembersCount", json!(3), "not a string"),
        ("/groups/0/directMembersCount", json!("three"), "int64"),
        ("/groups/0/adminCreated", json!("yes"), "adminCreated"),
        ("/nextPageToken", json!(2), "nextPageToken"),
    ] {
        let mut broken = page.clone();
        *broken.pointer_mut(path).unwrap() = v;
        let e = d.check("Groups", &broken).unwrap_err();
        assert!(e.contains(says), "{path}: {e}");
    }
    let mut extra = page.clone();
    extra["groups"][0]["members"] = json!([]);
    assert!(d.check("Groups", &extra).unwrap_err().contains("`members`"));
    d.check_list_query(&[
        ("userKey".into(), "a@example.com".into()),
        ("pageToken".into(), "t".into()),
    ])
    .unwrap();
    assert!(d.check_list_query(&[("user".into(), "a".into())]).is_err());
}
