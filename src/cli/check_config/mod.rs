//! `gantry check-config`: everything wrong with a config file, in one run, before a server
//! starts on it, each problem at its key path, line and column. Beyond the file's own rules
//! (`app::problems`) it checks what only the machine can say: the listen addresses, the TLS
//! files, and the `$VAR`s the environment does not set. It changes nothing: with `--bind` it
//! opens each listen address for a moment and closes it. Ends with a summary: what of a Dex
//! file Gantry maps, warns about or refuses; `--dex` lists the mappings.

mod listen;
mod tls;

use std::collections::HashSet;
use std::path::Path;

use crate::config::{Config, ConfigError, Problem, Reading};

pub fn run(path: &Path, bind: bool, dex: bool) -> i32 {
    let shown = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(source) => {
            eprintln!(
                "{shown}: {}",
                ConfigError::Read {
                    path: shown.clone(),
                    source
                }
            );
            return 1;
        }
    };
    let reading = Config::read(&text);
    let now = crate::clock::Clock::now(&crate::clock::SystemClock);
    let (notes, mut problems): (Vec<Problem>, Vec<Problem>) = problems(&reading, bind, now)
        .into_iter()
        .partition(|p| p.note);
    reading.place(&mut problems);
    problems.sort_by_key(|p| p.at.map_or((usize::MAX, 0), |m| (m.line, m.column)));
    let mut warnings = reading
        .config
        .as_ref()
        .map(crate::app::warnings)
        .unwrap_or_default();
    warnings.extend(notes);
    reading.place(&mut warnings);
    for w in &warnings {
        eprintln!("{}", line(&shown, "warning: ", w));
    }
    for p in &problems {
        eprintln!("{}", line(&shown, "", p));
    }
    let mappings = reading
        .config
        .as_ref()
        .map(Config::dex_mappings)
        .unwrap_or_default();
    if dex {
        if mappings.is_empty() {
            println!("{shown}: no Dex key here needs a Gantry equivalent");
        }
        for m in &mappings {
            println!("{shown}: {}  ->  {}", m.dex, m.gantry);
        }
    }
    if problems.is_empty() {
        println!("{shown}: ok{}", summary(&mappings, &warnings, &problems));
        return 0;
    }
    eprintln!(
        "{shown}: {} problem{}{}",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" },
        summary(&mappings, &warnings, &problems)
    );
    1
}

/// `file:line:column: path: message`, the form editors jump to. What came from the file is
/// made printable: a key must not clear or reorder the terminal it is read on.
fn line(shown: &str, kind: &str, p: &Problem) -> String {
    crate::printable::printable(&line_raw(shown, kind, p))
}

fn line_raw(shown: &str, kind: &str, p: &Problem) -> String {
    let place = match p.at.filter(|m| m.line > 0) {
        Some(m) => format!("{shown}:{}:{}", m.line, m.column),
        None => shown.to_string(),
    };
    if p.path.is_empty() {
        format!("{place}: {kind}{}", p.message)
    } else {
        format!("{place}: {kind}{}: {}", p.path, p.message)
    }
}

fn summary(
    mappings: &[crate::config::Mapping],
    warnings: &[Problem],
    problems: &[Problem],
) -> String {
    if mappings.is_empty() && warnings.is_empty() {
        return String::new();
    }
    let n = |k: usize, one: &str, many: &str| format!("{k} {}", if k == 1 { one } else { many });
    let mut parts = Vec::new();
    if !mappings.is_empty() {
        parts.push(format!(
            "{} mapped to Gantry's settings (--dex lists them)",
            n(mappings.len(), "Dex key", "Dex keys")
        ));
    }
    if !warnings.is_empty() {
        parts.push(format!(
            "{} accepted with a warning",
            n(warnings.len(), "key", "keys")
        ));
    }
    if !problems.is_empty() {
        parts.push(format!(
            "{} refused",
            n(problems.len(), "setting", "settings")
        ));
    }
    format!(" ({})", parts.join(", "))
}

/// Every problem found, each once, in the order of the file.
fn problems(reading: &Reading, bind: bool, now: i64) -> Vec<Problem> {
    let mut all = reading.problems.clone();
    let Some(cfg) = &reading.config else {
        return all;
    };
    // Connector blocks read with their places first; a block that does not read is not
    // built as well (its first problem would be said twice).
    let mut unread: HashSet<usize> = HashSet::new();
    if let Some(root) = &reading.root {
        for (i, c) in cfg.connectors.iter().enumerate() {
            let Ok(kind) = c.connector_kind() else {
                continue;
            };
            let base = format!("connectors[{i}].config");
            // No `config:` in the file: the build says what is required.
            let Some(node) = root.find(&base) else {
                continue;
            };
            let shape = crate::connector::config_shape_problems(kind, node, &base);
            if shape.iter().any(|p| !p.note) {
                unread.insert(i);
            }
            all.extend(shape);
        }
    }
    let built: Vec<Problem> = crate::app::problems(cfg)
        .into_iter()
        .filter(|p| {
            !unread
                .iter()
                .any(|i| p.path.starts_with(&format!("connectors[{i}].config")))
        })
        .collect();
    all.extend(built);
    let loose = |m: String| Problem::new("", m);
    all.extend(
        cfg.unset_variables()
            .iter()
            .filter(|u| !u.required)
            .map(|u| loose(u.to_string())),
    );
    all.extend(listen::problems(cfg, bind).into_iter().map(loose));
    all.extend(tls::problems(cfg, now).into_iter().map(loose));
    let mut seen = HashSet::new();
    all.retain(|p| seen.insert((p.path.clone(), p.message.clone())));
    all
}
