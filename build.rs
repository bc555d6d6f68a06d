//! Names the commit the binary is built from, for `gantry --version` and the metrics:
//! `GANTRY_GIT_COMMIT` (short hash, `-dirty` when the sources differ from it, or `unknown`),
//! `GANTRY_GIT_DATE` (the commit's date, which a rebuild of the same commit keeps: a build date
//! would make two builds of one commit differ) and `GANTRY_BUILD_INFO` (the two together).
//!
//! A build without `.git` (a source tarball, a container build that copies only the sources)
//! sets `GANTRY_GIT_COMMIT` in its environment; that value wins and git is not asked.
//!
//! Cheap on purpose: git is asked only when HEAD, the branch it points to, or a source moves,
//! and no crate is built for it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// What the binary is made of: a change to any of these makes the build differ from the
/// commit (`-dirty`), so they are also what makes this script run again.
const SOURCES: &[&str] = &[
    "src",
    "templates",
    "static",
    "migrations",
    "Cargo.toml",
    "Cargo.lock",
    "askama.toml",
    "build.rs",
];

fn main() {
    println!("cargo:rerun-if-env-changed=GANTRY_GIT_COMMIT");
    let (commit, date) = match std::env::var("GANTRY_GIT_COMMIT") {
        Ok(c) if !c.trim().is_empty() => (c.trim().to_string(), None),
        _ => from_git().unwrap_or_else(|| ("unknown".into(), None)),
    };
    let info = match &date {
        Some(d) => format!("commit {commit} {d}"),
        None => format!("commit {commit}"),
    };
    println!("cargo:rustc-env=GANTRY_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=GANTRY_BUILD_INFO={info}");
    if let Some(d) = date {
        println!("cargo:rustc-env=GANTRY_GIT_DATE={d}");
    }
}

/// The short hash (with `-dirty`) and the commit date, or None outside a git checkout.
fn from_git() -> Option<(String, Option<String>)> {
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?);
    for s in SOURCES {
        println!("cargo:rerun-if-changed={s}");
    }
    // Sources unpacked inside some other repository are not that repository's commit.
    let top = git(&root, &["rev-parse", "--show-toplevel"])?;
    if std::fs::canonicalize(&top).ok()? != std::fs::canonicalize(&root).ok()? {
        return None;
    }
    watch_git(&root);
    let out = git(&root, &["log", "-1", "--format=%h %cs"])?;
    let (hash, date) = out.split_once(' ')?;
    // --no-optional-locks: status would otherwise rewrite the index as it goes.
    let mut status = vec![
        "--no-optional-locks",
        "status",
        "--porcelain",
        "--untracked-files=normal",
        "--",
    ];
    status.extend(SOURCES);
    let dirty = !git(&root, &status)?.is_empty();
    let hash = if dirty {
        format!("{hash}-dirty")
    } else {
        hash.to_string()
    };
    Some((hash, Some(date.to_string())))
}

/// Run again when HEAD moves (checkout, commit) or a source changes. A worktree's `.git` is a
/// file naming another directory, so git itself says where HEAD and the refs are.
fn watch_git(root: &Path) {
    let Some(head) = git(root, &["rev-parse", "--git-path", "HEAD"]) else {
        return;
    };
    let mut watched = vec![head];
    if let Some(branch) = git(root, &["symbolic-ref", "-q", "HEAD"]) {
        watched.extend(git(root, &["rev-parse", "--git-path", "packed-refs"]));
        if let Some(r) = git(root, &["rev-parse", "--git-path", &branch]) {
            let r = root.join(r);
            // A packed ref has no file of its own until the next commit writes one: then watch
            // its directory (a path that does not exist would make the script run every
            // build). Not otherwise: other branches' commits move that directory too.
            match r.parent() {
                Some(dir) if !r.exists() => watched.push(dir.display().to_string()),
                _ => watched.push(r.display().to_string()),
            }
        }
    }
    for w in watched {
        let p = root.join(w);
        if p.exists() {
            println!("cargo:rerun-if-changed={}", p.display());
        }
    }
}

fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8(out.stdout).ok()?.trim().to_string())
}
