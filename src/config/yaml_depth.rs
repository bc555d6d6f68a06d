//! A bound on YAML flow nesting (`[[[...]]]`, `{a: {b: ...}}`), checked before the parser runs:
//! its time grows with the square of the depth (100,000 levels took over 20 s), and the
//! admin's connector and policy forms take YAML. Block nesting needs indentation, so a text of
//! bounded size cannot nest deep that way.

/// Deeper than any config or policy needs (Dex's deepest is 4).
pub const MAX_FLOW_DEPTH: usize = 64;

/// Why `text` must not reach the YAML parser, if it must not.
pub fn too_deep(text: &str) -> Option<String> {
    let mut depth = 0usize;
    // The last character that was not blank (`\n` at the start of a line, or of the text).
    let mut prev = '\n';
    // Whether the character just before this one was blank.
    let mut blank = false;
    // Whether that last `-`, `?` or `:` is an indicator: `- [` starts a sequence in one,
    // `a-[` is a plain scalar.
    let mut indicator = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        // Where a flow collection or a quoted scalar may start: anywhere inside a flow
        // collection (its plain scalars cannot hold brackets), else at the start of a line or
        // after an indicator and a blank.
        let node_start = depth > 0 || prev == '\n' || (indicator && blank);
        match c {
            '\'' | '"' if node_start => {
                // A quoted scalar: skip to its end ('' escapes a quote in single quotes).
                while let Some(q) = chars.next() {
                    if q == '\\' && c == '"' {
                        chars.next();
                    } else if q == c {
                        if c == '\'' && chars.peek() == Some(&'\'') {
                            chars.next();
                        } else {
                            break;
                        }
                    }
                }
                (prev, blank, indicator) = ('x', false, false);
                continue;
            }
            '#' if blank || prev == '\n' => {
                for q in chars.by_ref() {
                    if q == '\n' {
                        break;
                    }
                }
                (prev, blank, indicator) = ('\n', true, false);
                continue;
            }
            '[' | '{' if node_start => {
                depth += 1;
                if depth > MAX_FLOW_DEPTH {
                    return Some(format!(
                        "YAML nested deeper than {MAX_FLOW_DEPTH} levels of [ ] or {{ }}"
                    ));
                }
            }
            ']' | '}' if depth > 0 => depth -= 1,
            _ => {}
        }
        if c == '\n' {
            (prev, blank, indicator) = ('\n', true, false);
        } else if c.is_whitespace() {
            blank = true;
        } else {
            indicator = match c {
                ':' => true,
                '-' | '?' => blank || prev == '\n',
                ',' | '[' | '{' => depth > 0,
                _ => false,
            };
            (prev, blank) = (c, false);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_flow_nesting_is_refused_before_the_parser() {
        let deep = format!("issuer: {}{}", "[".repeat(65), "]".repeat(65));
        assert!(too_deep(&deep).is_some());
        let ok = format!("issuer: {}{}", "[".repeat(64), "]".repeat(64));
        assert_eq!(too_deep(&ok), None);
        let maps = format!("a: {}1{}", "{b: ".repeat(65), "}".repeat(65));
        assert!(too_deep(&maps).is_some());
        // 100,000 levels are refused at once, without the parser's quadratic time.
        assert!(too_deep(&"[".repeat(100_000)).is_some());
    }

    #[test]
    fn brackets_in_scalars_and_comments_are_not_nesting() {
        let many = "[".repeat(100);
        for text in [
            format!("filter: \"{many}\"\n"),
            format!("filter: '{many}'\n"),
            format!("filter: 'it''s {many}'\n"),
            format!("a: 1 # {many}\n"),
            format!("# {many}\nb: 2\n"),
            format!("regex: a{many}\n"),
            format!("list:\n  - \"{many}\"\n  - x\n"),
        ] {
            assert_eq!(too_deep(&text), None, "{text}");
        }
        // Real configs pass.
        for f in ["config/dev.yaml", "config/example.yaml"] {
            let text =
                std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/").to_owned() + f)
                    .unwrap();
            assert_eq!(too_deep(&text), None, "{f}");
        }
    }
}
