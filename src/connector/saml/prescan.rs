//! One linear pass over the raw text of a SAML document before the XML parser sees it, bounding
//! what the parser spends superlinear time on: the attributes of one element (its duplicate
//! check compares each with every other) and the namespace declarations in scope (each element
//! that declares one copies and re-checks all those in scope: 1,000 declarations on the root and
//! 1,000 children declaring one more, 31 KB, took roxmltree 0.21 5.5 s here, and the time grows
//! with the cube). Real responses use a handful of each.
//!
//! It only counts; judging well-formedness is the parser's job. Markup it cannot follow is
//! refused, never handed on unchecked.

/// Attributes on one element, namespace declarations included.
pub const MAX_ATTRIBUTES: usize = 64;
/// Namespace declarations on an element and its ancestors, counted as written (a prefix declared
/// again counts again). Responses from the common IdPs stay near ten: a few on the Response, the
/// Assertion and the Signature, `xs` and `xsi` again on each attribute value.
pub const MAX_NAMESPACES: usize = 32;

use super::xml::{Doc, XmlError};

/// Check the limits on `text`; the parser decides everything else.
pub fn check(text: &str, doc: Doc) -> Result<(), XmlError> {
    walk(text).map_err(|e| match e {
        Limit::Malformed => XmlError::Malformed(doc),
        Limit::Attributes => XmlError::Attributes(doc),
        Limit::Namespaces => XmlError::Namespaces(doc),
    })
}

/// What the walk found, before it is said of a document.
#[derive(Debug, PartialEq, Eq)]
enum Limit {
    Malformed,
    Attributes,
    Namespaces,
}

fn walk(text: &str) -> Result<(), Limit> {
    let b = text.as_bytes();
    // For each open element: the declarations in scope inside it.
    let mut open: Vec<usize> = Vec::new();
    let mut seen_element = false;
    let mut i = 0;
    while let Some(lt) = find(b, i, b"<") {
        let rest = &b[lt + 1..];
        i = if rest.starts_with(b"/") {
            open.pop();
            past(b, lt, b">")?
        } else if rest.starts_with(b"!--") {
            past(b, lt + 4, b"-->")?
        } else if rest.starts_with(b"![CDATA[") {
            past(b, lt + 9, b"]]>")?
        } else if rest.starts_with(b"?") {
            past(b, lt + 2, b"?>")?
        } else if rest.starts_with(b"!DOCTYPE") && !seen_element {
            // The parser refuses a DOCTYPE before reading on, and says so.
            return Ok(());
        } else if rest.starts_with(b"!") {
            return Err(Limit::Malformed);
        } else {
            seen_element = true;
            let tag = start_tag(b, lt + 1)?;
            if tag.attributes > MAX_ATTRIBUTES {
                return Err(Limit::Attributes);
            }
            let in_scope = open.last().copied().unwrap_or(0) + tag.declarations;
            if in_scope > MAX_NAMESPACES {
                return Err(Limit::Namespaces);
            }
            if !tag.empty {
                open.push(in_scope);
            }
            tag.end
        };
    }
    Ok(())
}

struct StartTag {
    /// Just past its `>`.
    end: usize,
    attributes: usize,
    declarations: usize,
    /// Written `<name/>`: it opens no scope.
    empty: bool,
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// The start tag whose name begins at `i`.
fn start_tag(b: &[u8], mut i: usize) -> Result<StartTag, Limit> {
    let at = |i: usize| b.get(i).copied().ok_or(Limit::Malformed);
    while !is_space(at(i)?) && !matches!(at(i)?, b'/' | b'>') {
        i += 1;
    }
    let (mut attributes, mut declarations) = (0, 0);
    loop {
        while is_space(at(i)?) {
            i += 1;
        }
        match at(i)? {
            b'>' => {
                return Ok(StartTag {
                    end: i + 1,
                    attributes,
                    declarations,
                    empty: false,
                });
            }
            b'/' if at(i + 1)? == b'>' => {
                return Ok(StartTag {
                    end: i + 2,
                    attributes,
                    declarations,
                    empty: true,
                });
            }
            _ => {}
        }
        let name_start = i;
        while !is_space(at(i)?) && !matches!(at(i)?, b'=' | b'/' | b'>') {
            i += 1;
        }
        let name = &b[name_start..i];
        while is_space(at(i)?) {
            i += 1;
        }
        if name.is_empty() || at(i)? != b'=' {
            return Err(Limit::Malformed);
        }
        i += 1;
        while is_space(at(i)?) {
            i += 1;
        }
        let quote = at(i)?;
        if !matches!(quote, b'"' | b'\'') {
            return Err(Limit::Malformed);
        }
        i = past(b, i + 1, &[quote])?;
        attributes += 1;
        if name == b"xmlns" || name.starts_with(b"xmlns:") {
            declarations += 1;
        }
    }
}

fn find(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    b.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

/// Just past the first `needle` at or after `from`.
fn past(b: &[u8], from: usize, needle: &[u8]) -> Result<usize, Limit> {
    find(b, from, needle)
        .map(|p| p + needle.len())
        .ok_or(Limit::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_text(text: &str) -> Result<(), String> {
        check(text, Doc::Response).map_err(|e| e.to_string())
    }

    #[test]
    fn attributes_and_declarations_up_to_the_bounds_pass() {
        let attrs: String = (0..MAX_ATTRIBUTES).map(|i| format!(" a{i}='>'")).collect();
        assert_eq!(check_text(&format!("<r{attrs}/>")), Ok(()));
        let decls: String = (0..MAX_NAMESPACES / 2)
            .map(|i| format!(" xmlns:n{i}=\"u\""))
            .collect();
        // Half on the root, half on each of many children: the children's scopes are siblings.
        let child = format!("<c{decls}><d/></c>");
        assert_eq!(
            check_text(&format!("<r{decls}>{}</r>", child.repeat(100))),
            Ok(())
        );
        // Comments, processing instructions and CDATA may hold anything: the parser judges them.
        assert_eq!(
            check_text("<?xml version=\"1.0\"?><r><!-- <x a=1> --><![CDATA[<y>]]><?p <z?></r>"),
            Ok(())
        );
    }

    #[test]
    fn more_attributes_or_declarations_are_refused() {
        let attrs: String = (0..=MAX_ATTRIBUTES)
            .map(|i| format!(" a{i}=\"\""))
            .collect();
        assert!(
            check_text(&format!("<r><e{attrs}/></r>"))
                .unwrap_err()
                .contains("more than 64 attributes")
        );
        let decls = |n: usize, p: &str| -> String {
            (0..n).map(|i| format!(" xmlns:{p}{i}=\"u\"")).collect()
        };
        // Declared on the way down, and the same prefixes declared again: each one counts.
        let deep = format!(
            "<r{}><c{}><d{}/></c></r>",
            decls(15, "a"),
            decls(15, "b"),
            decls(3, "a")
        );
        assert!(
            check_text(&deep)
                .unwrap_err()
                .contains("more than 32 namespace declarations")
        );
    }

    #[test]
    fn markup_it_cannot_follow_is_refused() {
        for bad in [
            "<r a=1/>",
            "<r a/>",
            "<r a=\"x/>",
            "<r><!ELEMENT r ANY></r>",
            "<r><!DOCTYPE r></r>",
            "<r><!-- x </r>",
            "<r",
        ] {
            assert!(
                matches!(check(bad, Doc::Response), Err(XmlError::Malformed(_))),
                "{bad}"
            );
        }
        // A DOCTYPE is left to the parser, which refuses every one by name.
        assert_eq!(check_text("<!DOCTYPE r [<!ENTITY e \"x\">]><r/>"), Ok(()));
    }
}
