//! XML for the SAML connector: parsing with no DTD and bounded size, finding elements by
//! namespace and name, strict text reading, and escaping for the documents Gantry writes.
//! Canonicalization is in `c14n`, `xs:dateTime` in `time`.
//!
//! Everything here runs on unauthenticated input, before any signature is checked: no walk over
//! the tree recurses (a stack overflow aborts the whole process), and the depth is bounded.

use roxmltree::{Document, Node, ParsingOptions};

use super::prescan::{MAX_ATTRIBUTES, MAX_NAMESPACES};

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
pub fn parse(text: &str) -> Result<Document<'_>, XmlError> {
    parse_doc(text, Doc::Response)
}

/// `parse` for an IdP's metadata: the same limits, errors that name the metadata.
pub fn parse_metadata(text: &str) -> Result<Document<'_>, XmlError> {
    parse_doc(text, Doc::Metadata)
}

/// Which document is read; its errors name it as the operator knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doc {
    Response,
    Metadata,
}

impl std::fmt::Display for Doc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Doc::Response => "SAML response",
            Doc::Metadata => "metadata",
        })
    }
}

/// Why untrusted XML was refused, or an element lacks the shape SAML gives it.
#[derive(Debug, thiserror::Error)]
pub enum XmlError {
    #[error("the {0} is far larger than any real one")]
    TooLarge(Doc),
    /// Markup the pre-scan cannot follow.
    #[error("the {0} is not well-formed XML")]
    Malformed(Doc),
    #[error("an element of the {0} has more than {max} attributes", max = MAX_ATTRIBUTES)]
    Attributes(Doc),
    #[error(
        "the {0} has more than {max} namespace declarations in scope",
        max = MAX_NAMESPACES
    )]
    Namespaces(Doc),
    #[error("the {0} contains a DOCTYPE, which is never accepted")]
    Doctype(Doc),
    #[error("the {0} is not well-formed XML: {1}")]
    NotWellFormed(Doc, roxmltree::Error),
    #[error("the {0} contains a comment or processing instruction")]
    CommentOrPi(Doc),
    #[error("the {0} nests elements deeper than {max} levels", max = MAX_DEPTH)]
    TooDeep(Doc),
    #[error("{parent} has no {name}")]
    Missing { parent: String, name: String },
    #[error("{parent} has more than one {name}")]
    Several { parent: String, name: String },
    #[error("{0} must hold text only")]
    NotText(String),
}

fn parse_doc(text: &str, doc: Doc) -> Result<Document<'_>, XmlError> {
    if text.len() > MAX_XML {
        return Err(XmlError::TooLarge(doc));
    }
    super::prescan::check(text, doc)?;
    let opts = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..ParsingOptions::default()
    };
    let kind = doc;
    let doc = Document::parse_with_options(text, opts).map_err(|e| match e {
        roxmltree::Error::DtdDetected => XmlError::Doctype(kind),
        e => XmlError::NotWellFormed(kind, e),
    })?;
    // roxmltree parses without recursion and keeps the tree in one vector: the depth is checked
    // on the parsed tree, before anything walks it.
    let mut depth = 0usize;
    for edge in Edges::new(doc.root()) {
        match edge {
            Edge::Open(n) if n.is_comment() || n.is_pi() => {
                return Err(XmlError::CommentOrPi(kind));
            }
            Edge::Open(n) if n.is_element() => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(XmlError::TooDeep(kind));
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
) -> Result<Node<'a, 'i>, XmlError> {
    let mut it = children(n, ns, name);
    let (parent, name) = (n.tag_name().name().to_string(), name.to_string());
    match (it.next(), it.next()) {
        (Some(c), None) => Ok(c),
        (None, _) => Err(XmlError::Missing { parent, name }),
        (Some(_), Some(_)) => Err(XmlError::Several { parent, name }),
    }
}

/// The text of an element that must hold text only.
pub fn text_only(n: Node) -> Result<String, XmlError> {
    let mut s = String::new();
    for c in n.children() {
        match c.text() {
            Some(t) if c.is_text() => s.push_str(t),
            _ => {
                return Err(XmlError::NotText(n.tag_name().name().to_string()));
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
                .to_string()
                .contains("DOCTYPE")
        );
        assert!(
            parse("<r>a<!---->b</r>")
                .unwrap_err()
                .to_string()
                .contains("comment")
        );
        assert!(parse("<r><?pi x?></r>").is_err());
        assert!(
            parse(&format!("<r>{}</r>", "x".repeat(MAX_XML)))
                .unwrap_err()
                .to_string()
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
            parse(&nested(MAX_DEPTH + 1)).unwrap_err().to_string(),
            "the SAML response nests elements deeper than 64 levels"
        );
        // Siblings do not add depth, however many.
        let wide = format!("<r>{}</r>", "<e a=\"1\" b=\"2\"/>".repeat(5000));
        assert!(parse(&wide).is_ok());
        // Far deeper than any stack allows a recursive parser or walk: refused, not a crash.
        assert!(
            parse(&nested(19_000))
                .unwrap_err()
                .to_string()
                .contains("deeper than 64")
        );
    }
}
