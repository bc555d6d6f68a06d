//! The layers of `src/` (shared/DESIGN.md): data flows down, and no module reaches back up.
//! Reads the sources as text: a top-level module `a` uses `b` when `crate::b` appears in its
//! code (comments left out). No use may close a cycle among the top-level modules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Top-level module -> the top-level modules its code names.
fn uses() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut g = Graph::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        for line in text.lines() {
            let code = line.split("//").next().unwrap_or_default();
            for (i, _) in code.match_indices("crate::") {
                let name: String = code[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                    .collect();
                if !name.is_empty() && name != module {
                    g.entry(module.clone()).or_default().insert(name);
                }
            }
        }
    }
    g
}

fn reaches(g: &Graph, from: &str, to: &str) -> bool {
    let mut seen = BTreeSet::new();
    let mut todo = vec![from.to_string()];
    while let Some(m) = todo.pop() {
        if m == to {
            return true;
        }
        if seen.insert(m.clone()) {
            todo.extend(g.get(&m).into_iter().flatten().cloned());
        }
    }
    false
}

#[test]
fn no_top_level_module_reaches_back_up() {
    let g = uses();
    let cycle_edges: BTreeSet<(String, String)> = g
        .iter()
        .flat_map(|(a, bs)| bs.iter().map(move |b| (a.clone(), b.clone())))
        .filter(|(a, b)| reaches(&g, b, a))
        .collect();
    assert!(
        cycle_edges.is_empty(),
        "import cycles: {cycle_edges:?}. A lower layer takes what it needs as a value; it does \
         not import the layer above (shared/DESIGN.md)"
    );
}

#[test]
fn the_check_sees_a_cycle_it_is_shown() {
    let mut g = Graph::new();
    g.entry("config".into()).or_default().insert("oauth".into());
    g.entry("oauth".into())
        .or_default()
        .insert("storage".into());
    g.entry("storage".into())
        .or_default()
        .insert("config".into());
    assert!(reaches(&g, "oauth", "config") && reaches(&g, "config", "oauth"));
    g.entry("storage".into()).or_default().remove("config");
    assert!(!reaches(&g, "oauth", "config"));
}
