//! Text that came from elsewhere (a server, an IdP, a discovery document) on its way to a
//! person: a terminal, a log line read in one, an admin page. [`printable`] drops what could
//! rewrite or hide what they read: an escape sequence could clear the screen or set the
//! clipboard (OSC 52), a bidi override could reorder a line.

/// The longest server text printed, in characters: enough for a login URL, not a flood.
const MAX: usize = 2000;

/// `s` without control characters (C0, DEL, C1: ESC, BEL, CR, backspace, ...) and without the
/// invisible marks that reorder or hide text (bidi overrides and isolates, zero-width ones),
/// at most [`MAX`] characters long.
pub fn printable(s: &str) -> String {
    let mut out: String = s
        .chars()
        .filter(|c| !c.is_control() && !reorders(*c))
        .take(MAX + 1)
        .collect();
    if out.chars().count() > MAX {
        out = out.chars().take(MAX).collect();
        out.push_str("...");
    }
    out
}

/// Format characters that change how the rest of a line reads (Trojan Source, CVE-2021-42574).
fn reorders(c: char) -> bool {
    matches!(c,
        '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}'
        | '\u{FEFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_reordering_marks_are_removed() {
        // OSC 52 (clipboard write), CSI clear screen, BEL, CR that would overwrite the line.
        let hostile =
            "denied\u{1b}]52;c;Y3VybCBldmlsfHNo\u{07}\u{1b}[2J\r\u{9b}31m ok\u{202e}gnp.exe";
        let shown = printable(hostile);
        assert_eq!(shown, "denied]52;c;Y3VybCBldmlsfHNo[2J31m okgnp.exe");
        assert!(!shown.chars().any(|c| c.is_control()));
        assert_eq!(printable("line\nbreak\ttab"), "linebreaktab");
        assert_eq!(
            printable("https://id.example.com/dex/auth?x=1"),
            "https://id.example.com/dex/auth?x=1"
        );
        assert_eq!(printable("grüße, 日本"), "grüße, 日本");
    }

    #[test]
    fn long_text_is_cut() {
        let shown = printable(&"a".repeat(10 * MAX));
        assert_eq!(shown.len(), MAX + 3);
        assert!(shown.ends_with("..."));
        assert_eq!(printable(&"b".repeat(MAX)), "b".repeat(MAX));
    }
}
