//! XML for the SAML connector: parsing with no DTD and bounded size, finding elements by
//! namespace and name, strict text reading, and escaping for the documents Gantry writes.
//! Canonicalization is in `c14n`, `xs:dateTime` in `time`.
//!
//! Everything here runs on unauthenticated input, before any signature is checked: no walk over
//! the tree recurses (a stack overflow aborts the whole process), and the depth is bounded.

use roxmltree::{Document, Node, ParsingOptions};

pub const NS_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const NS_ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";

/// Far above any real response (a few KiB, tens with many groups), far below harm.
pub const MAX_XML: usize = 256 * 1024;
const MAX_NODES: u32 = 20_000;
/// Elements nested in elements, the document element being level 1. A SAML response needs about
/// a dozen (Response, Assertion, AttributeStatement, Attribute, AttributeValue, a little structure
/// in a value; Signature, KeyInfo, X509Data); nothing deeper has a reason to be accepted.
pub const MAX_DEPTH: usize = 64;

/// Parse untrusted XML: no DTD (so no entity declarations), bounded size, node count, depth
/// ([`MAX_DEPTH`]), attributes per element and namespaces in scope (see `prescan`), and no
/// comments or processing instructions anywhere: none belongs in a SAML response, and a comment
/// inside a value is how signed text is made to read differently.
pub fn parse(text: &str) -> Result<Document<'_>, String> {
    if text.len() > MAX_XML {
        return Err("the SAML response is far larger than any real one".into());
    }
    super::prescan::check(text)?;
    let opts = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..ParsingOptions::default()
    };
    let doc = Document::parse_with_options(text, opts).map_err(|e| match e {
        roxmltree::Error::DtdDetected => {
            "the SAML response contains a DOCTYPE, which is never accepted".to_string()
        }
        e => format!("the SAML response is not well-formed XML: {e}"),
    })?;
    // roxmltree parses without recursion and keeps the tree in one vector: the depth is checked
    // on the parsed tree, before anything walks it.
    let mut depth = 0usize;
    for edge in Edges::new(doc.root()) {
        match edge {
            Edge::Open(n) if n.is_comment() || n.is_pi() => {
                return Err(
                    "the SAML response contains a comment or processing instruction".into(),
                );
            }
            Edge::Open(n) if n.is_element() => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(format!(
                        "the SAML response nests elements deeper than {MAX_DEPTH} levels"
                    ));
                }
            }
            Edge::Close(n) if n.is_element() => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(doc)
}

/// Whether `n` is the element `{ns}name`.
pub fn is(n: Node, ns: &str, name: &str) -> bool {
    n.is_element() && n.tag_name().name() == name && n.tag_name().namespace() == Some(ns)
}

/// Element children named `{ns}name`.
pub fn children<'a, 'i>(
    n: Node<'a, 'i>,
    ns: &'a str,
    name: &'a str,
) -> impl Iterator<Item = Node<'a, 'i>> + 'a {
    n.children().filter(move |c| is(*c, ns, name))
}

/// The one child `{ns}name`; an error when there are none or several.
pub fn only_child<'a, 'i>(
    n: Node<'a, 'i>,
    ns: &'a str,
    name: &'a str,
) -> Result<Node<'a, 'i>, String> {
    let mut it = children(n, ns, name);
    match (it.next(), it.next()) {
        (Some(c), None) => Ok(c),
        (None, _) => Err(format!("{} has no {name}", n.tag_name().name())),
        (Some(_), Some(_)) => Err(format!("{} has more than one {name}", n.tag_name().name())),
    }
}

/// The text of an element that must hold text only.
pub fn text_only(n: Node) -> Result<String, String> {
    let mut s = String::new();
    for c in n.children() {
        match c.text() {
            Some(t) if c.is_text() => s.push_str(t),
            _ => {
                return Err(format!("{} must hold text only", n.tag_name().name()));
            }
        }
    }
    Ok(s)
}

/// One step of a walk over a subtree in document order.
#[derive(Debug, Clone, Copy)]
pub(super) enum Edge<'a, 'i> {
    Open(Node<'a, 'i>),
    Close(Node<'a, 'i>),
}

/// The open and close edges of a subtree in document order, found from each node's first child,
/// next sibling or parent: no recursion and no stack, at any depth.
pub(super) struct Edges<'a, 'i> {
    apex: Node<'a, 'i>,
    next: Option<Edge<'a, 'i>>,
}

impl<'a, 'i> Edges<'a, 'i> {
    pub(super) fn new(apex: Node<'a, 'i>) -> Self {
        Edges {
            apex,
            next: Some(Edge::Open(apex)),
        }
    }

    /// Where the walk goes once `n` is closed.
    fn after(&self, n: Node<'a, 'i>) -> Option<Edge<'a, 'i>> {
        if n == self.apex {
            return None;
        }
        match (n.next_sibling(), n.parent()) {
            (Some(s), _) => Some(Edge::Open(s)),
            (None, Some(p)) => Some(Edge::Close(p)),
            (None, None) => None,
        }
    }

    /// Called right after `Open(n)`: leave out `n`'s subtree and its close edge.
    pub(super) fn skip_subtree(&mut self, n: Node<'a, 'i>) {
        self.next = self.after(n);
    }
}

impl<'a, 'i> Iterator for Edges<'a, 'i> {
    type Item = Edge<'a, 'i>;

    fn next(&mut self) -> Option<Self::Item> {
        let edge = self.next.take()?;
        self.next = match edge {
            Edge::Open(n) => Some(n.first_child().map_or(Edge::Close(n), Edge::Open)),
            Edge::Close(n) => self.after(n),
        };
        Some(edge)
    }
}

pub(super) fn escape_text(s: &str, out: &mut String) {
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

pub(super) fn escape_attr(s: &str, out: &mut String) {
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

/// Escape text for an XML document Gantry writes (AuthnRequest, SP metadata).
pub fn escape(s: &str) -> String {
    let mut out = String::new();
    escape_attr(s, &mut out);
    out.replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doctype_comments_and_oversize_are_refused() {
        assert!(
            parse("<!DOCTYPE r [<!ENTITY e \"x\">]><r>&e;</r>")
                .unwrap_err()
                .contains("DOCTYPE")
        );
        assert!(parse("<r>a<!---->b</r>").unwrap_err().contains("comment"));
        assert!(parse("<r><?pi x?></r>").is_err());
        assert!(
            parse(&format!("<r>{}</r>", "x".repeat(MAX_XML)))
                .unwrap_err()
                .contains("larger")
        );
    }

    /// `depth` elements, each inside the one before; the innermost holds text.
    fn nested(depth: usize) -> String {
        format!("{}t{}", "<e>".repeat(depth), "</e>".repeat(depth))
    }

    #[test]
    fn depth_up_to_the_bound_is_accepted_and_beyond_it_refused() {
        assert!(parse(&nested(MAX_DEPTH)).is_ok());
        assert_eq!(
            parse(&nested(MAX_DEPTH + 1)).unwrap_err(),
            "the SAML response nests elements deeper than 64 levels"
        );
        // Siblings do not add depth, however many.
        let wide = format!("<r>{}</r>", "<e a=\"1\" b=\"2\"/>".repeat(5000));
        assert!(parse(&wide).is_ok());
        // Far deeper than any stack allows a recursive parser or walk: refused, not a crash.
        assert!(
            parse(&nested(19_000))
                .unwrap_err()
                .contains("deeper than 64")
        );
    }
}
