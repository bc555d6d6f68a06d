//! Exclusive XML Canonicalization 1.0 (without comments) of one element's subtree, as SAML
//! signatures need it: the canonical form of an element minus one excluded child (the enveloped
//! signature), with an optional InclusiveNamespaces prefix list.
//!
//! It runs on unauthenticated input, before any signature is checked: no walk over the tree
//! recurses (a stack overflow aborts the whole process).

use roxmltree::{Document, Node, NodeId};

use super::xml::{Edge, Edges, escape_attr, escape_text};

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

#[cfg(test)]
mod tests {
    use super::super::xml::{MAX_DEPTH, NS_DSIG, is, parse};
    use super::*;

    fn nested(depth: usize) -> String {
        format!("{}t{}", "<e>".repeat(depth), "</e>".repeat(depth))
    }

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
}
