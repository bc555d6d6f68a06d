//! `$VAR` expansion in connector configs and the `*Env` keys, as Dex reads them, and in the
//! storage credentials (Gantry).

use super::Config;

/// A `$VAR` or `*Env` reference whose variable is not set, and where in the file it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsetVariable {
    /// The key, as a path: `connectors[0].config.bindPW`.
    pub key: String,
    pub var: String,
    /// An `*Env` key (the value exists only in the variable), not a `$VAR` inside a value.
    pub required: bool,
}

impl std::fmt::Display for UnsetVariable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.required {
            write!(
                f,
                "{}: environment variable `{}` is not set",
                self.key, self.var
            )
        } else {
            // Dex (os.ExpandEnv) reads an unset variable as an empty string, and so does Gantry.
            write!(
                f,
                "{}: `${}` is not set in the environment (read as an empty string)",
                self.key, self.var
            )
        }
    }
}

impl Config {
    /// Fill in what the environment holds, noting every variable that is not set: each one is
    /// named at once (`validate` refuses the `*Env` ones; `check-config` lists them all).
    pub(super) fn resolve_env(&mut self) {
        let mut unset = Vec::new();
        let mut env_key = |var: &str, key: String| match std::env::var(var) {
            Ok(v) => Some(v),
            Err(_) => {
                unset.push(UnsetVariable {
                    key,
                    var: var.to_string(),
                    required: true,
                });
                None
            }
        };
        for (i, c) in self.static_clients.iter_mut().enumerate() {
            if let Some(var) = &c.id_env {
                c.id = env_key(var, format!("staticClients[{i}].idEnv"));
            }
            if let Some(var) = &c.secret_env {
                c.secret = env_key(var, format!("staticClients[{i}].secretEnv"));
            }
        }
        for (i, p) in self.static_passwords.iter_mut().enumerate() {
            if let Some(var) = &p.hash_from_env {
                p.hash = env_key(var, format!("staticPasswords[{i}].hashFromEnv"));
            }
        }
        let mut expand = |s: &mut String, key: &dyn Fn() -> String| {
            let (value, missing) = expand_str(s);
            *s = value;
            unset.extend(missing.into_iter().map(|var| UnsetVariable {
                key: key(),
                var,
                required: false,
            }));
        };
        for (i, c) in self.connectors.iter_mut().enumerate() {
            expand_env(
                &mut c.config,
                &format!("connectors[{i}].config"),
                &mut expand,
            );
        }
        for (i, k) in self.encryption.keys.iter_mut().enumerate() {
            expand(k, &|| format!("encryption.keys[{i}]"));
        }
        // Gantry: the database's credentials from the environment, so that a deployment keeps
        // them in a Secret (Kubernetes) or a credentials file (systemd), not in the config.
        let p = &mut self.storage.config;
        for (name, v) in [
            ("dsn", &mut p.dsn),
            ("password", &mut p.password),
            ("user", &mut p.user),
            ("host", &mut p.host),
        ] {
            if let Some(s) = v.as_mut() {
                expand(s, &|| format!("storage.config.{name}"));
            }
        }
        self.unset_env = unset;
    }

    /// Every variable the file refers to that is not set, in the file's order.
    pub fn unset_variables(&self) -> &[UnsetVariable] {
        &self.unset_env
    }
}

type Expand<'a> = dyn FnMut(&mut String, &dyn Fn() -> String) + 'a;

/// Replace `$VAR` and `${VAR}` in every string of a connector config, as Dex does.
fn expand_env(v: &mut serde_json::Value, key: &str, expand: &mut Expand<'_>) {
    match v {
        serde_json::Value::String(s) => expand(s, &|| key.to_string()),
        serde_json::Value::Array(a) => {
            for (i, v) in a.iter_mut().enumerate() {
                expand_env(v, &format!("{key}[{i}]"), expand);
            }
        }
        serde_json::Value::Object(o) => {
            for (k, v) in o.iter_mut() {
                expand_env(v, &format!("{key}.{k}"), expand);
            }
        }
        _ => {}
    }
}

/// `s` with its variables replaced, and the names of those that are not set.
fn expand_str(s: &str) -> (String, Vec<String>) {
    let mut out = String::with_capacity(s.len());
    let mut unset = Vec::new();
    let mut chars = s.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        let mut name = String::new();
        if chars.peek().map(|(_, c)| *c) == Some('{') {
            chars.next();
            for (_, c) in chars.by_ref() {
                if c == '}' {
                    break;
                }
                name.push(c);
            }
        } else {
            while let Some((_, c)) = chars.peek() {
                if c.is_ascii_alphanumeric() || *c == '_' {
                    name.push(*c);
                    chars.next();
                } else {
                    break;
                }
            }
        }
        if name.is_empty() {
            out.push('$');
            continue;
        }
        match std::env::var(&name) {
            Ok(v) => out.push_str(&v),
            Err(_) => unset.push(name),
        }
    }
    (out, unset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connector_config_expands_env() {
        // set_var is unsafe in edition 2024 (and unsafe code is forbidden): use a variable every
        // process has.
        let path = std::env::var("PATH").unwrap_or_default();
        assert_eq!(
            expand_str("a:$PATH:${PATH}"),
            (format!("a:{path}:{path}"), vec![])
        );
        assert_eq!(expand_str("cost $"), ("cost $".into(), vec![]));
        assert_eq!(
            expand_str("$GANTRY_SURELY_UNSET_VAR:${GANTRY_SURELY_UNSET_TOO}"),
            (
                ":".into(),
                vec![
                    "GANTRY_SURELY_UNSET_VAR".into(),
                    "GANTRY_SURELY_UNSET_TOO".into()
                ]
            )
        );
    }

    #[test]
    fn storage_credentials_expand_env() {
        let home = std::env::var("HOME").unwrap_or_default();
        let cfg = Config::parse(
            "issuer: http://127.0.0.1:5556/dex\nweb: {http: 127.0.0.1:5556}\n\
             storage: {type: postgres, config: {host: db, user: gantry, password: $HOME}}\n",
        )
        .unwrap();
        assert_eq!(cfg.storage.config.password.as_deref(), Some(home.as_str()));
        assert_eq!(cfg.storage.config.user.as_deref(), Some("gantry"));
    }

    #[test]
    fn every_unset_variable_is_named_with_its_key() {
        let cfg = Config::parse(
            "issuer: http://127.0.0.1:5556/dex\nweb: {http: 127.0.0.1:5556}\n\
             storage: {type: postgres, config: {host: db, password: $GANTRY_UNSET_DB_PW}}\n\
             staticClients:\n\
             - {idEnv: GANTRY_UNSET_ID, secretEnv: GANTRY_UNSET_SECRET, redirectURIs: []}\n\
             connectors:\n\
             - {type: ldap, id: ldap, name: LDAP, config: {host: \"ldap:636\", \
                bindPW: \"${GANTRY_UNSET_LDAP_PW}\", groupSearch: {filter: \"x$GANTRY_UNSET_F\"}}}\n",
        )
        .unwrap();
        let shown: Vec<String> = cfg
            .unset_variables()
            .iter()
            .map(|u| u.to_string())
            .collect();
        assert_eq!(
            shown,
            [
                "staticClients[0].idEnv: environment variable `GANTRY_UNSET_ID` is not set",
                "staticClients[0].secretEnv: environment variable `GANTRY_UNSET_SECRET` is not set",
                "connectors[0].config.bindPW: `$GANTRY_UNSET_LDAP_PW` is not set in the environment (read as an empty string)",
                "connectors[0].config.groupSearch.filter: `$GANTRY_UNSET_F` is not set in the environment (read as an empty string)",
                "storage.config.password: `$GANTRY_UNSET_DB_PW` is not set in the environment (read as an empty string)",
            ]
        );
        // The `*Env` keys hold the only value there is: the file is refused, naming both.
        let e = cfg.validate().unwrap_err().to_string();
        assert!(
            e.contains("GANTRY_UNSET_ID") && e.contains("GANTRY_UNSET_SECRET"),
            "{e}"
        );
    }
}
