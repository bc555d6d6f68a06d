//! `$VAR` expansion in connector configs and the `*Env` keys, as Dex reads them, and in the
//! storage credentials (Gantry).

use super::{Config, ConfigError};

impl Config {
    pub(super) fn resolve_env(&mut self) -> Result<(), ConfigError> {
        for (i, c) in self.static_clients.iter_mut().enumerate() {
            if let Some(var) = &c.id_env {
                c.id = Some(env_var(var, &format!("staticClients[{i}].idEnv"))?);
            }
            if let Some(var) = &c.secret_env {
                c.secret = Some(env_var(var, &format!("staticClients[{i}].secretEnv"))?);
            }
        }
        for (i, p) in self.static_passwords.iter_mut().enumerate() {
            if let Some(var) = &p.hash_from_env {
                p.hash = Some(env_var(var, &format!("staticPasswords[{i}].hashFromEnv"))?);
            }
        }
        for c in &mut self.connectors {
            expand_env(&mut c.config);
        }
        for k in &mut self.encryption.keys {
            *k = expand_str(k);
        }
        // Gantry: the database's credentials from the environment, so that a deployment keeps
        // them in a Secret (Kubernetes) or a credentials file (systemd), not in the config.
        let p = &mut self.storage.config;
        for v in [&mut p.dsn, &mut p.password, &mut p.user, &mut p.host] {
            if let Some(s) = v.as_mut() {
                *s = expand_str(s);
            }
        }
        Ok(())
    }
}

fn env_var(name: &str, key: &str) -> Result<String, ConfigError> {
    std::env::var(name).map_err(|_| {
        ConfigError::Invalid(format!("{key}: environment variable `{name}` is not set"))
    })
}

/// Replace `$VAR` and `${VAR}` in every string of a connector config, as Dex does.
fn expand_env(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) => *s = expand_str(s),
        serde_json::Value::Array(a) => a.iter_mut().for_each(expand_env),
        serde_json::Value::Object(o) => o.values_mut().for_each(expand_env),
        _ => {}
    }
}

fn expand_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
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
        } else {
            out.push_str(&std::env::var(&name).unwrap_or_default());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connector_config_expands_env() {
        // set_var is unsafe in edition 2024 (and unsafe code is forbidden): use a variable every
        // process has.
        let path = std::env::var("PATH").unwrap_or_default();
        assert_eq!(expand_str("a:$PATH:${PATH}"), format!("a:{path}:{path}"));
        assert_eq!(expand_str("cost $"), "cost $");
        assert_eq!(expand_str("$GANTRY_SURELY_UNSET_VAR"), "");
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
}
