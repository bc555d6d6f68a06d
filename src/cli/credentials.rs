//! Registry identity tokens on disk, and the docker credential helper protocol over them
//! (`docker-credential-gantry get|store|erase|list`).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Store {
    #[serde(default)]
    pub registries: BTreeMap<String, Entry>,
    /// The issuer each registry host's logins go to, given with `--issuer` or confirmed by the
    /// user at the first `gantry registry login`. Kept apart from the credentials so that
    /// `docker logout` (erase) and `docker login` (store) leave it alone.
    #[serde(default)]
    pub issuers: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub identity_token: String,
    #[serde(default)]
    pub realm: String,
    #[serde(default)]
    pub service: String,
}

/// `$GANTRY_CREDENTIALS`, else `$XDG_CONFIG_HOME/gantry/registries.json`, else under `~/.config`.
pub fn path() -> PathBuf {
    if let Ok(p) = std::env::var("GANTRY_CREDENTIALS") {
        return PathBuf::from(p);
    }
    let base = std::env::var("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| ".".into())).join(".config")
        });
    base.join("gantry").join("registries.json")
}

/// `https://host:5000/v2/` and `host:5000` name the same registry.
pub fn normalize(server: &str) -> String {
    let s = server.trim();
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    s.split('/').next().unwrap_or_default().to_string()
}

pub fn load() -> Store {
    std::fs::read_to_string(path())
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// Write the store readable by its owner only: it holds long-lived secrets.
pub fn save(store: &Store) -> std::io::Result<()> {
    let data = serde_json::to_string_pretty(store).map_err(std::io::Error::other)?;
    super::private_file::write(&path(), data.as_bytes())
}

/// What docker hands a helper to store.
#[derive(Deserialize)]
struct Stored {
    #[serde(rename = "ServerURL")]
    server_url: String,
    #[serde(rename = "Secret")]
    secret: String,
}

fn stdin() -> String {
    let mut s = String::new();
    let _ = std::io::stdin().read_to_string(&mut s);
    s
}

/// The credential helper; the exit code.
pub fn helper(action: &str) -> i32 {
    match action {
        "get" => {
            let server = stdin();
            match load().registries.get(&normalize(&server)) {
                Some(e) => {
                    let out = serde_json::json!({"ServerURL": server.trim(), "Username": "<token>", "Secret": e.identity_token});
                    println!("{out}");
                    0
                }
                None => {
                    // The text docker's helpers use, which clients recognise as "no entry".
                    println!("credentials not found in native keychain");
                    1
                }
            }
        }
        "store" => {
            let Ok(s) = serde_json::from_str::<Stored>(&stdin()) else {
                eprintln!("store: expected {{\"ServerURL\",\"Username\",\"Secret\"}} on stdin");
                return 1;
            };
            let mut store = load();
            store.registries.insert(
                normalize(&s.server_url),
                Entry {
                    identity_token: s.secret,
                    realm: String::new(),
                    service: String::new(),
                },
            );
            match save(&store) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("{e}");
                    1
                }
            }
        }
        "erase" => {
            let mut store = load();
            store.registries.remove(&normalize(&stdin()));
            match save(&store) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("{e}");
                    1
                }
            }
        }
        "list" => {
            let store = load();
            let m: BTreeMap<&String, &str> =
                store.registries.keys().map(|k| (k, "<token>")).collect();
            println!("{}", serde_json::to_string(&m).unwrap_or_default());
            0
        }
        other => {
            eprintln!("usage: docker-credential-gantry get|store|erase|list (got `{other}`)");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_normalize_to_host_and_port() {
        assert_eq!(
            normalize("https://reg.example.com:5000/v2/"),
            "reg.example.com:5000"
        );
        assert_eq!(normalize("reg.example.com"), "reg.example.com");
        assert_eq!(normalize(" http://127.0.0.1:5000\n"), "127.0.0.1:5000");
    }
}
