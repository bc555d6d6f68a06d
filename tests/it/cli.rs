//! The command line's conventions, on the real binary: `--version` names the commit, shell
//! completions load in the shell, the man page renders, every flag explains itself.

use std::process::{Command, Output};

fn gantry(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A bug report says which build it is about: the commit, and whether it was built from
/// changed sources.
#[test]
fn version_names_the_commit_it_was_built_from() {
    let out = gantry(&["--version"]);
    assert!(out.status.success());
    let line = stdout(&out);
    let rest = line
        .trim_end()
        .strip_prefix(concat!("gantry ", env!("CARGO_PKG_VERSION"), " (commit "))
        .unwrap_or_else(|| panic!("{line}"));
    let rest = rest.strip_suffix(')').unwrap_or_else(|| panic!("{line}"));
    let (hash, date) = rest.split_once(' ').unwrap_or((rest, ""));
    let hash = hash.strip_suffix("-dirty").unwrap_or(hash);
    let head = Command::new("git")
        .args([
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "rev-parse",
            "--short",
            "HEAD",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success());
    match head {
        // Built from a checkout: its commit and that commit's date.
        Some(h) => {
            assert_eq!(hash, stdout(&h).trim(), "{line}");
            let d: Vec<&str> = date.split('-').collect();
            assert!(
                d.len() == 3 && d.iter().all(|p| p.chars().all(|c| c.is_ascii_digit())),
                "no commit date: {line}"
            );
        }
        None => assert!(hash == "unknown" || std::env::var("GANTRY_GIT_COMMIT").is_ok()),
    }
    assert_eq!(
        gantry::build_info::GIT_COMMIT,
        rest.split(' ').next().unwrap()
    );
    // -V says the same.
    assert_eq!(stdout(&gantry(&["-V"])), line);
}
