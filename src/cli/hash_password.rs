//! `gantry hash-password`: an argon2id hash for `staticPasswords`. On a terminal the password
//! is asked twice without echo (it never shows on screen or in the scrollback, and a typo is
//! caught before it becomes a hash nobody can log in with); from a pipe, one line is read, for
//! scripts. A short password is hashed all the same, with a warning: the length rule is the
//! operator's to make, but they should make it knowingly.

use std::io::{BufRead, IsTerminal};

/// NIST SP 800-63B-4 (3.1.1.2): a password that is the only factor must be at least 15
/// characters; one used with a second factor at least 8. Characters are code points.
const SINGLE_FACTOR_MIN: usize = 15;
const WITH_SECOND_FACTOR_MIN: usize = 8;

pub fn run() -> i32 {
    let password = if std::io::stdin().is_terminal() {
        // rpassword reads /dev/tty with echo off (and restores the terminal on Ctrl-C). It
        // shows the prompt a moment before turning echo off: keys sent in that instant, by a
        // program rather than a person, would be echoed.
        ask_twice(|prompt| rpassword::prompt_password(prompt))
    } else {
        one_line(&mut std::io::stdin().lock())
    };
    let password = match password {
        Ok(p) => p,
        Err(e) => {
            eprintln!("gantry: {e}");
            return 1;
        }
    };
    if let Some(w) = length_warning(&password) {
        eprintln!("gantry: warning: {w}");
    }
    match crate::password::hash(&password) {
        Ok(h) => {
            println!("{h}");
            0
        }
        Err(e) => {
            eprintln!("gantry: {e}");
            1
        }
    }
}

/// The password typed twice; the two must be the same.
fn ask_twice(mut ask: impl FnMut(&str) -> std::io::Result<String>) -> Result<String, String> {
    let read = |e: std::io::Error| format!("cannot read the password from the terminal: {e}");
    let first = ask("Password: ").map_err(read)?;
    if first.is_empty() {
        return Err("empty password; nothing was hashed".into());
    }
    // The terminal's bytes that are not UTF-8 arrive as U+FFFD: two different typos would
    // compare equal and hash to a password no one can type again. A pipe refuses them too.
    if first.contains(char::REPLACEMENT_CHARACTER) {
        return Err("the password is not UTF-8 text; nothing was hashed".into());
    }
    let again = ask("Password again: ").map_err(read)?;
    if first != again {
        return Err("the two passwords differ; nothing was hashed".into());
    }
    Ok(first)
}

/// The first line of a pipe, without its line ending.
fn one_line(input: &mut impl BufRead) -> Result<String, String> {
    let mut line = String::new();
    input
        .read_line(&mut line)
        .map_err(|e| format!("cannot read standard input: {e}"))?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        return Err("empty password; nothing was hashed".into());
    }
    Ok(password.to_string())
}

fn length_warning(password: &str) -> Option<String> {
    let n = password.chars().count();
    if n >= SINGLE_FACTOR_MIN {
        return None;
    }
    let floor = if n < WITH_SECOND_FACTOR_MIN {
        format!(", and at least {WITH_SECOND_FACTOR_MIN} even with a second factor")
    } else {
        format!(" ({WITH_SECOND_FACTOR_MIN} with a second factor)")
    };
    Some(format!(
        "the password has {n} characters; NIST SP 800-63B asks for at least \
         {SINGLE_FACTOR_MIN} when a password is the only factor{floor}. Hashed anyway"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a terminal user types, one answer a prompt.
    fn typed(answers: &[&str]) -> impl FnMut(&str) -> std::io::Result<String> {
        let mut answers: Vec<String> = answers.iter().rev().map(|s| s.to_string()).collect();
        move |_| Ok(answers.pop().unwrap_or_default())
    }

    #[test]
    fn a_password_typed_twice_must_match() {
        assert_eq!(
            ask_twice(typed(&["correct horse", "correct horse"])).as_deref(),
            Ok("correct horse")
        );
        let e = ask_twice(typed(&["correct horse", "correct hoarse"])).unwrap_err();
        assert!(e.contains("differ"), "{e}");
        let e = ask_twice(typed(&["", ""])).unwrap_err();
        assert!(e.contains("empty"), "{e}");
        // What the terminal reading makes of \xffabc and \xfeabc: equal, and refused.
        let e = ask_twice(typed(&[
            "\u{fffd}abcdefghijklmnop",
            "\u{fffd}abcdefghijklmnop",
        ]))
        .unwrap_err();
        assert!(e.contains("not UTF-8"), "{e}");
    }

    #[test]
    fn a_piped_password_is_its_first_line() {
        let mut input = std::io::Cursor::new("s3cret pass\r\nignored\n");
        assert_eq!(one_line(&mut input).as_deref(), Ok("s3cret pass"));
        assert!(one_line(&mut std::io::Cursor::new("\n")).is_err());
    }

    #[test]
    fn short_passwords_are_named_with_the_nist_minimums() {
        assert_eq!(length_warning("fifteen chars!!"), None);
        // Code points, not bytes: 15 characters of two bytes each are long enough.
        assert_eq!(length_warning(&"é".repeat(15)), None);
        let w = length_warning("fourteen chars").unwrap_or_default();
        assert!(
            w.contains("14 characters") && w.contains("at least 15"),
            "{w}"
        );
        let w = length_warning("hunter2").unwrap_or_default();
        assert!(
            w.contains("7 characters") && w.contains("at least 8 even"),
            "{w}"
        );
    }
}
