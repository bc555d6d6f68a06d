//! XML for the SAML connector: parsing with no DTD and bounded size, Exclusive XML
//! Canonicalization 1.0 (without comments) of one element's subtree, and strict text reading.
//!
//! Only what SAML responses need: the canonical form of an element minus one excluded child
//! (the enveloped signature), with an optional InclusiveNamespaces prefix list.
//!
//! Everything here runs on unauthenticated input, before any signature is checked: no walk over
//! the tree recurses (a stack overflow aborts the whole process), and the depth is bounded.

use roxmltree::{Document, Node, NodeId, ParsingOptions};

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

/// The qualified name of an element as written (prefix:local).
fn element_qname<'i>(doc_text: &'i str, n: Node) -> &'i str {
    let start = n.range().start + 1;
    let rest = &doc_text[start..];
    let end = rest
        .find(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>')
        .unwrap_or(rest.len());
    &rest[..end]
}

fn prefix_of(qname: &str) -> &str {
    qname.split_once(':').map(|(p, _)| p).unwrap_or("")
}

/// The namespace URI bound to `prefix` ("" for the default namespace) at `n`.
fn ns_uri<'a>(n: Node<'a, '_>, prefix: &str) -> Option<&'a str> {
    n.namespaces()
        .find(|ns| ns.name().unwrap_or("") == prefix)
        .map(|ns| ns.uri())
}

/// One step of a walk over a subtree in document order.
#[derive(Debug, Clone, Copy)]
enum Edge<'a, 'i> {
    Open(Node<'a, 'i>),
    Close(Node<'a, 'i>),
}

/// The open and close edges of a subtree in document order, found from each node's first child,
/// next sibling or parent: no recursion and no stack, at any depth.
struct Edges<'a, 'i> {
    apex: Node<'a, 'i>,
    next: Option<Edge<'a, 'i>>,
}

impl<'a, 'i> Edges<'a, 'i> {
    fn new(apex: Node<'a, 'i>) -> Self {
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
    fn skip_subtree(&mut self, n: Node<'a, 'i>) {
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

/// Exclusive XML Canonicalization 1.0 (no comments) of `apex` and its subtree, leaving out the
/// element `exclude` (the enveloped signature) and its subtree. `inclusive`: the
/// InclusiveNamespaces PrefixList ("#default" for the default namespace).
///
/// One pass over the subtree's open and close edges, with the open elements' state on an
/// explicit stack: no recursion, however deep the input.
pub fn exc_c14n(
    doc: &Document,
    apex: Node,
    exclude: Option<NodeId>,
    inclusive: &[String],
) -> String {
    let text = doc.input_text();
    let mut out = String::new();
    // Namespace declarations rendered by the open elements, innermost last.
    let mut rendered: Vec<(String, String)> = Vec::new();
    // For each open element: its name as written, and how much of `rendered` was there before it.
    let mut open: Vec<(&str, usize)> = Vec::new();
    let mut edges = Edges::new(apex);
    while let Some(edge) = edges.next() {
        match edge {
            Edge::Open(n) => {
                if n != apex && Some(n.id()) == exclude {
                    edges.skip_subtree(n);
                } else if n.is_element() {
                    let qname = element_qname(text, n);
                    open.push((qname, rendered.len()));
                    start_tag(text, n, qname, inclusive, &mut rendered, &mut out);
                } else if n.is_text() {
                    escape_text(n.text().unwrap_or(""), &mut out);
                }
            }
            Edge::Close(n) => {
                if n.is_element()
                    && let Some((qname, before)) = open.pop()
                {
                    out.push_str("</");
                    out.push_str(qname);
                    out.push('>');
                    rendered.truncate(before);
                }
            }
        }
    }
    out
}

/// The start tag of `n`: the namespace declarations not already rendered by an open ancestor
/// (recorded in `rendered`), then the attributes in canonical order.
fn start_tag(
    text: &str,
    n: Node,
    qname: &str,
    inclusive: &[String],
    rendered: &mut Vec<(String, String)>,
    out: &mut String,
) {
    // Prefixes this element visibly uses, plus the inclusive ones in scope.
    let mut used: Vec<String> = vec![prefix_of(qname).to_string()];
    let attrs: Vec<(&str, roxmltree::Attribute)> = n
        .attributes()
        .map(|a| (&text[a.range_qname()], a))
        .collect();
    for (q, _) in &attrs {
        let p = prefix_of(q);
        if !p.is_empty() && p != "xml" {
            used.push(p.to_string());
        }
    }
    for p in inclusive {
        let p = if p == "#default" { "" } else { p.as_str() };
        if ns_uri(n, p).is_some() {
            used.push(p.to_string());
        }
    }
    used.sort();
    used.dedup();
    let mut decls: Vec<(String, String)> = Vec::new();
    for p in used {
        let uri = ns_uri(n, &p).unwrap_or("");
        let current = rendered
            .iter()
            .rev()
            .find(|(rp, _)| *rp == p)
            .map(|(_, u)| u.as_str());
        let needed = match current {
            Some(u) => u != uri,
            // An empty default namespace needs saying only if a non-empty one was said above.
            None => !(p.is_empty() && uri.is_empty()),
        };
        if needed {
            decls.push((p, uri.to_string()));
        }
    }
    out.push('<');
    out.push_str(qname);
    for (p, uri) in &decls {
        if p.is_empty() {
            out.push_str(" xmlns=\"");
        } else {
            out.push_str(" xmlns:");
            out.push_str(p);
            out.push_str("=\"");
        }
        escape_attr(uri, out);
        out.push('"');
        rendered.push((p.clone(), uri.clone()));
    }
    let mut sorted = attrs;
    sorted.sort_by(|(_, a), (_, b)| {
        (a.namespace().unwrap_or(""), a.name()).cmp(&(b.namespace().unwrap_or(""), b.name()))
    });
    for (q, a) in sorted {
        out.push(' ');
        out.push_str(q);
        out.push_str("=\"");
        escape_attr(a.value(), out);
        out.push('"');
    }
    out.push('>');
}

fn escape_text(s: &str, out: &mut String) {
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

fn escape_attr(s: &str, out: &mut String) {
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

/// An `xs:dateTime` in UTC (`Z` or `+00:00`, optional fraction) as Unix seconds.
pub fn parse_instant(s: &str) -> Option<i64> {
    let s = s.trim();
    let s = s.strip_suffix('Z').or_else(|| s.strip_suffix("+00:00"))?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-');
    let (y, m, day): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    let time = time.split('.').next()?;
    let mut t = time.split(':');
    let (hh, mm, ss): (i64, i64, i64) = (
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
    );
    if d.next().is_some()
        || t.next().is_some()
        || !(1..=12).contains(&m)
        || !(1..=31).contains(&day)
        || hh > 23
        || mm > 59
        || ss > 60
    {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// Unix seconds as an `xs:dateTime` in UTC.
pub fn instant(t: i64) -> String {
    crate::clock::rfc3339(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c14n(xml: &str, inclusive: &[&str]) -> String {
        let doc = parse(xml).unwrap();
        let inc: Vec<String> = inclusive.iter().map(|s| s.to_string()).collect();
        exc_c14n(&doc, doc.root_element(), None, &inc)
    }

    #[test]
    fn exclusive_canonicalization_renders_only_used_namespaces_sorted() {
        // Unused namespaces are dropped, attributes sorted by (namespace, name), empty
        // elements expanded, quotes normalised, whitespace kept.
        let xml = r#"<a:root xmlns:a="urn:a" xmlns:b="urn:b" xmlns:unused="urn:u" z="1" b:y='2' a:x="3">
  <a:child/><b:c attr="&lt;&amp;&quot;&#9;"> t&gt;&amp; </b:c></a:root>"#;
        assert_eq!(
            c14n(xml, &[]),
            "<a:root xmlns:a=\"urn:a\" xmlns:b=\"urn:b\" z=\"1\" a:x=\"3\" b:y=\"2\">\n  \
             <a:child></a:child><b:c attr=\"&lt;&amp;&quot;&#x9;\"> t&gt;&amp; </b:c></a:root>"
        );
    }

    #[test]
    fn a_subtree_carries_the_namespaces_it_uses_from_above() {
        let xml = r#"<p:r xmlns:p="urn:p" xmlns="urn:d" xmlns:x="urn:x"><p:s ID="1"><t x:a="v"/><p:u/></p:s></p:r>"#;
        let doc = parse(xml).unwrap();
        let s = doc.root_element().first_child().unwrap();
        assert_eq!(
            exc_c14n(&doc, s, None, &[]),
            "<p:s xmlns:p=\"urn:p\" ID=\"1\"><t xmlns=\"urn:d\" xmlns:x=\"urn:x\" x:a=\"v\"></t><p:u></p:u></p:s>"
        );
        // The prefix list renders in-scope namespaces even if unused.
        assert_eq!(
            exc_c14n(&doc, s, None, &["x".into(), "#default".into()])
                .split('>')
                .next()
                .unwrap(),
            "<p:s xmlns=\"urn:d\" xmlns:p=\"urn:p\" xmlns:x=\"urn:x\" ID=\"1\""
        );
    }

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

    /// The canonicalization as it was written before it walked iteratively: the reference the
    /// iterative walk must agree with.
    fn recursive_c14n(
        doc: &Document,
        apex: Node,
        exclude: Option<NodeId>,
        inc: &[String],
    ) -> String {
        fn element(
            text: &str,
            n: Node,
            exclude: Option<NodeId>,
            inc: &[String],
            rendered: &mut Vec<(String, String)>,
            out: &mut String,
        ) {
            let qname = element_qname(text, n);
            let before = rendered.len();
            start_tag(text, n, qname, inc, rendered, out);
            for c in n.children() {
                if Some(c.id()) == exclude {
                    continue;
                }
                if c.is_element() {
                    element(text, c, exclude, inc, rendered, out);
                } else if c.is_text() {
                    escape_text(c.text().unwrap_or(""), out);
                }
            }
            out.push_str("</");
            out.push_str(qname);
            out.push('>');
            rendered.truncate(before);
        }
        let mut out = String::new();
        element(
            doc.input_text(),
            apex,
            exclude,
            inc,
            &mut Vec::new(),
            &mut out,
        );
        out
    }

    /// Both walks over what a signature check canonicalizes in `doc` (each element that carries
    /// a Signature, without it, and each SignedInfo; the first four signatures), and over the
    /// whole document with an element excluded, at three places. How many signed elements were
    /// compared.
    fn both_walks_agree(doc: &Document) -> usize {
        let check = |apex: Node, exclude: Option<NodeId>, inc: &[String]| {
            assert_eq!(
                exc_c14n(doc, apex, exclude, inc),
                recursive_c14n(doc, apex, exclude, inc),
                "{}",
                doc.input_text()
            );
        };
        let mut signed = 0;
        for sig in doc
            .descendants()
            .filter(|n| is(*n, NS_DSIG, "Signature"))
            .take(4)
        {
            let prefixes: Vec<String> = sig
                .descendants()
                .filter(|n| n.tag_name().name() == "InclusiveNamespaces")
                .flat_map(|n| {
                    n.attribute("PrefixList")
                        .unwrap_or("")
                        .split_ascii_whitespace()
                        .map(String::from)
                        .collect::<Vec<_>>()
                })
                .collect();
            if let Some(parent) = sig.parent_element() {
                check(parent, Some(sig.id()), &prefixes);
                signed += 1;
            }
            for info in sig.children().filter(|n| is(*n, NS_DSIG, "SignedInfo")) {
                check(info, None, &prefixes);
            }
        }
        let elements: Vec<Node> = doc.descendants().filter(|n| n.is_element()).collect();
        for n in elements.iter().step_by(elements.len() / 3 + 1) {
            check(
                doc.root_element(),
                Some(n.id()),
                &["#default".into(), "xs".into()],
            );
        }
        signed
    }

    #[test]
    fn the_iterative_canonicalization_renders_what_the_recursive_one_did() {
        // Signed responses (xmlsec1, RSA and EC, with and without InclusiveNamespaces, and what
        // the fuzzer made of them): the fuzz corpus of the response verifier.
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/saml_response");
        let mut signed = 0;
        for e in std::fs::read_dir(dir).unwrap() {
            let bytes = std::fs::read(e.unwrap().path()).unwrap();
            // The large inputs are the fuzzer's widenings of the wide seeds, not signed
            // fixtures; each full canonicalization of one costs a debug build a tenth of a second.
            let Ok(text) = std::str::from_utf8(&bytes) else {
                continue;
            };
            if text.len() > 64 * 1024 {
                continue;
            }
            if let Ok(doc) = parse(text)
                && both_walks_agree(&doc) > 0
            {
                signed += 1;
            }
        }
        assert!(signed >= 50, "only {signed} signed responses in the corpus");
        // As deep as allowed (the top, 62 levels, the last), namespaces declared, redeclared and undeclared on the way down,
        // attributes in several namespaces, the excluded element in the middle.
        let mut deep = String::new();
        for i in 0..MAX_DEPTH - 2 {
            // Every fifth level in turn (19 declarations in scope at the bottom, of 32 allowed).
            let decl = match i % 15 {
                0 => format!(" xmlns=\"urn:d{i}\" xmlns:p=\"urn:p{i}\""),
                5 => " xmlns=\"\"".to_string(),
                10 => format!(" xmlns:q=\"urn:q{i}\" q:a=\"{i}\" p:b=\"&lt;&quot;\""),
                _ if i > 10 => format!(" q:c=\"{i}\""),
                _ => String::new(),
            };
            let name = if i % 3 == 0 { "p:e" } else { "e" };
            deep.push_str(&format!("<{name}{decl} z=\"{i}\">\n"));
            if i == MAX_DEPTH / 2 {
                deep.push_str(
                    "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:SignedInfo/></ds:Signature>",
                );
            }
        }
        deep.push_str("<last>t &amp; \r</last>");
        for i in (0..MAX_DEPTH - 2).rev() {
            deep.push_str(if i % 3 == 0 { "</p:e>" } else { "</e>" });
        }
        let deep = format!("<p:top xmlns:p=\"urn:top\">{deep}</p:top>");
        let doc = parse(&deep).unwrap();
        assert_eq!(both_walks_agree(&doc), 1);
    }

    #[test]
    fn canonicalization_walks_any_depth_without_recursing() {
        // Not through `parse`, which refuses this: the walk itself holds no stack per level.
        let text = nested(19_000);
        let doc = Document::parse(&text).unwrap();
        let c = exc_c14n(&doc, doc.root_element(), None, &[]);
        assert_eq!(c, text);
    }

    #[test]
    fn instants_parse_as_utc() {
        assert_eq!(parse_instant("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_instant("2026-11-29T20:00:00.123Z"),
            Some(1_795_982_400)
        );
        assert_eq!(
            parse_instant("2000-02-29T12:00:00+00:00"),
            Some(951_825_600)
        );
        assert_eq!(parse_instant("2026-11-29T20:00:00+01:00"), None);
        assert_eq!(parse_instant("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_instant(&instant(1_795_982_400)), Some(1_795_982_400));
    }
}
