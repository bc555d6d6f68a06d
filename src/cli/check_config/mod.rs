//! `gantry check-config`: everything wrong with a config file, in one run, before a server
//! starts on it. Beyond the file's own rules (`app::check`) it checks what only the machine
//! can say: the listen addresses, the TLS files, and the `$VAR`s the environment does not set.
//! It changes nothing: with `--bind` it opens each listen address for a moment and closes it.

mod listen;
mod tls;

use std::path::Path;

use crate::config::{Config, ConfigError};

pub fn run(path: &Path, bind: bool) -> i32 {
    let shown = path.display();
    let cfg = match std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read {
            path: shown.to_string(),
            source,
        })
        .and_then(|text| Config::parse(&text))
    {
        Ok(c) => c,
        // Without a parsed file there is nothing more to check.
        Err(e) => {
            eprintln!("{shown}: {e}");
            return 1;
        }
    };
    let now = crate::clock::Clock::now(&crate::clock::SystemClock);
    let problems = problems(&cfg, bind, now);
    for w in cfg.warnings() {
        eprintln!("{shown}: warning: {w}");
    }
    if problems.is_empty() {
        println!("{shown}: ok");
        return 0;
    }
    for p in &problems {
        eprintln!("{shown}: {p}");
    }
    if problems.len() > 1 {
        eprintln!("{shown}: {} problems", problems.len());
    }
    1
}

/// Every problem found, each once, in the order of the file's sections.
fn problems(cfg: &Config, bind: bool, now: i64) -> Vec<String> {
    // Worded as `serve` refuses them.
    let mut all: Vec<String> = crate::app::problems(cfg)
        .into_iter()
        .map(|p| ConfigError::Invalid(p).to_string())
        .collect();
    all.extend(
        cfg.unset_variables()
            .iter()
            .filter(|u| !u.required)
            .map(|u| u.to_string()),
    );
    all.extend(listen::problems(cfg, bind));
    all.extend(tls::problems(cfg, now));
    let mut seen = std::collections::HashSet::new();
    all.retain(|p| seen.insert(p.clone()));
    all
}
