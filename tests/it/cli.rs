//! The command line's conventions, on the real binary: `--version` names the commit, shell
//! completions load in the shell, the man page renders with every command and its examples.

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

/// Every command's name as typed (`kubectl credential`), from the grammar itself: a command
/// added later is checked too.
fn command_paths() -> Vec<String> {
    use clap::CommandFactory;
    fn walk(c: &clap::Command, prefix: &str, out: &mut Vec<String>) {
        for s in c.get_subcommands().filter(|s| s.get_name() != "help") {
            let path = format!("{prefix}{}", s.get_name());
            out.push(path.clone());
            walk(s, &format!("{path} "), out);
        }
    }
    let mut out = Vec::new();
    walk(&gantry::cli::Cli::command(), "", &mut out);
    assert!(out.len() > 10, "{out:?}");
    out
}

/// Runs `script` in a real bash and returns what it printed.
fn bash(script: &str) -> String {
    let out = Command::new("bash")
        .args(["-c", script])
        .env("GANTRY", env!("CARGO_BIN_EXE_gantry"))
        .output()
        .expect("bash is needed for this test");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out)
}

#[test]
fn bash_completion_loads_and_completes_commands_and_flags() {
    let load = r#"source <("$GANTRY" completions bash) || exit 1"#;
    let registered = bash(&format!("{load}; complete -p gantry"));
    assert!(registered.contains("gantry"), "{registered}");
    // What bash offers at `gantry che<TAB>` and `gantry kubectl whoami --<TAB>`.
    let complete = |words: &str| {
        bash(&format!(
            "{load}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
             COMP_LINE=\"${{COMP_WORDS[*]}}\"; COMP_POINT=${{#COMP_LINE}}; \
             _gantry gantry \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\""
        ))
    };
    assert_eq!(complete("gantry che").trim(), "check-config");
    let flags = complete("gantry kubectl whoami --");
    for f in ["--issuer", "--client-id", "--scope"] {
        assert!(flags.lines().any(|l| l == f), "{f} not offered: {flags}");
    }
    assert!(complete("gantry completions ''").contains("zsh"));
}

#[test]
fn completions_exist_for_each_shell_and_know_every_command() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = gantry(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let script = stdout(&out);
        for c in command_paths() {
            let last = c.rsplit(' ').next().unwrap();
            assert!(script.contains(last), "{shell}: no {c}");
        }
    }
    let bad = gantry(&["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2));
}

/// A man page as groff lays it out, on one long line per paragraph and whitespace made single,
/// so that text is found wherever the layout broke it.
fn groff(page: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-rLL=400n", "-P-cbou"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("groff is needed for this test: apt-get install groff-base (scripts/test.sh does)");
    child.stdin.take().unwrap().write_all(page).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let warnings = String::from_utf8_lossy(&out.stderr);
    assert!(warnings.is_empty(), "groff: {warnings}");
    // Hyphens and spaces as typed: groff renders `-` as U+2010 and may use U+2212.
    String::from_utf8_lossy(&out.stdout)
        .replace(['\u{2010}', '\u{2212}'], "-")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn the_man_page_renders_and_names_every_command() {
    let out = gantry(&["man"]);
    assert!(out.status.success());
    let text = groff(&out.stdout);
    assert!(text.contains("GANTRY(1)"), "{text}");
    for c in command_paths() {
        assert!(
            text.contains(&format!("gantry {c}")),
            "no `gantry {c}` in: {text}"
        );
    }
    assert!(text.contains("EXAMPLES gantry serve config.yaml"), "{text}");
}

#[test]
fn man_dir_writes_a_page_per_command_with_its_options() {
    let dir = tempfile::tempdir().unwrap();
    let out = gantry(&["man", "--dir", dir.path().to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("gantry.1").exists());
    for c in command_paths() {
        let name = format!("gantry-{}.1", c.replace(' ', "-"));
        let page = std::fs::read(dir.path().join(&name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let text = groff(&page);
        assert!(text.contains("--help"), "{name}: {text}");
    }
    let whoami = groff(&std::fs::read(dir.path().join("gantry-kubectl-whoami.1")).unwrap());
    assert!(
        whoami.contains("--issuer <URL> Gantry's issuer URL"),
        "{whoami}"
    );
    assert!(
        whoami.contains("EXAMPLES gantry kubectl whoami"),
        "{whoami}"
    );
}

/// `--help` of a command ends with how to call it.
#[test]
fn each_command_s_help_ends_with_examples() {
    for c in command_paths() {
        let mut args: Vec<&str> = c.split(' ').collect();
        args.push("--help");
        let out = gantry(&args);
        assert!(out.status.success(), "{c}");
        let help = stdout(&out);
        let examples = help
            .split_once("\nExamples:\n")
            .map(|(_, e)| e)
            .unwrap_or_else(|| panic!("gantry {c} --help has no examples:\n{help}"));
        assert!(examples.contains("gantry "), "{c}: {examples}");
    }
}

/// Runs `gantry hash-password` on a real terminal (a pty, driven by python3's pty module):
/// waits for each prompt before typing the next answer, as a person would, and returns the
/// exit code and everything the terminal showed (stdout and stderr included).
fn hash_password_on_a_terminal(answers: &[&str]) -> (i32, String) {
    const DRIVER: &str = r#"
import json, os, pty, select, sys, time
gantry, answers = sys.argv[1], json.loads(sys.argv[2])
pid, fd = pty.fork()
if pid == 0:
    os.execv(gantry, [gantry, "hash-password"])
seen = b""
def read():
    # Nothing for 10 s: no prompt is coming (type anyway), or the program hangs (stop).
    global seen
    if not select.select([fd], [], [], 10)[0]:
        return False
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        return False
    seen += chunk
    return bool(chunk)
for n, answer in enumerate(answers):
    while seen.count(b"Password") <= n:
        if not read():
            break
    # A person's pause after the prompt: rpassword shows the prompt a moment before it turns
    # echo off, and what arrives in between is echoed by the terminal.
    time.sleep(0.3)
    os.write(fd, answer.encode() + b"\n")
while read():
    pass
for _ in range(100):
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    time.sleep(0.1)
else:
    os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
print(json.dumps({"code": os.waitstatus_to_exitcode(status), "screen": seen.decode("utf-8", "replace")}))
"#;
    let out = Command::new("python3")
        .args(["-c", DRIVER, env!("CARGO_BIN_EXE_gantry")])
        .arg(serde_json::to_string(answers).unwrap())
        .output()
        .expect("python3 is needed for this test (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        v["code"].as_i64().unwrap() as i32,
        v["screen"].as_str().unwrap().to_string(),
    )
}

fn argon2_hash_in(screen: &str) -> Option<&str> {
    screen
        .split_whitespace()
        .find(|w| w.starts_with("$argon2id$"))
}

#[test]
fn on_a_terminal_hash_password_asks_twice_without_echo() {
    let pw = "correct horse battery staple";
    let (code, screen) = hash_password_on_a_terminal(&[pw, pw]);
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("Password again:"), "{screen}");
    assert!(
        !screen.contains("horse"),
        "the password was echoed: {screen}"
    );
    assert!(!screen.contains("warning"), "{screen}");
    let hash = argon2_hash_in(&screen).unwrap_or_else(|| panic!("no hash: {screen}"));
    assert_eq!(
        gantry::password::verify(pw, hash),
        gantry::password::Verified::Ok
    );
}

#[test]
fn on_a_terminal_two_different_passwords_are_refused() {
    let (code, screen) = hash_password_on_a_terminal(&[
        "correct horse battery staple",
        "correct horse battery stapel",
    ]);
    assert_eq!(code, 1, "{screen}");
    assert!(screen.contains("differ"), "{screen}");
    assert_eq!(argon2_hash_in(&screen), None, "{screen}");
}

#[test]
fn a_short_password_is_hashed_with_a_warning_naming_the_minimum() {
    // From a pipe: the hash alone on stdout, the warning on stderr.
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .arg("hash-password")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"hunter2\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let hash = stdout(&out);
    assert_eq!(
        gantry::password::verify("hunter2", hash.trim()),
        gantry::password::Verified::Ok
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: the password has 7 characters")
            && stderr.contains("NIST SP 800-63B asks for at least 15"),
        "{stderr}"
    );
    // On a terminal, the same.
    let (code, screen) = hash_password_on_a_terminal(&["hunter2", "hunter2"]);
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("at least 15"), "{screen}");
    assert!(argon2_hash_in(&screen).is_some(), "{screen}");
}
