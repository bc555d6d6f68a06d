//! The LDAP messages a directory may send before ldap3 reads them.
//!
//! ldap3 0.12 trusts the server's BER: its decoder recurses once per nesting level (a deep
//! enough message overflows the stack and aborts the whole process), and it unwraps what it
//! expects to find (a bind response without a result code, a matchedDN that is not UTF-8)
//! with a panic. So every message from the directory is checked here first: its framing (one
//! SEQUENCE, low tag numbers, definite lengths of at most four bytes, each element inside its
//! parent, `MAX_DEPTH`, `MAX_MESSAGE`), then the shape ldap3 decodes for the request it
//! answers (RFC 4511, section 4). A message that fails is never forwarded.
//!
//! A check walks the bytes and allocates nothing per element, so a message of many tiny
//! elements costs no more memory than its size.

use std::collections::HashMap;

pub use super::ber::Malformed;
use super::ber::{
    APPLICATION, BOOLEAN, CONTEXT, Children, ENUMERATED, Elem, INTEGER, SEQUENCE, SET, UNIVERSAL,
    bad, check_framing, header, octet_string, split, tlv, unsigned, utf8,
};

/// The largest message taken from a directory. Gantry asks for a few attributes per entry,
/// and each entry is its own message.
pub const MAX_MESSAGE: usize = 8 << 20;

/// What a request waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Awaiting {
    /// One response, the operation with this APPLICATION tag number.
    Result(u8),
    /// Entries and references, then SearchResultDone.
    Search,
}

/// A message that passed: whom it answers, and whether that request is now complete.
#[derive(Debug, PartialEq, Eq)]
pub struct Response {
    pub id: i32,
    pub op: u8,
    /// The result code, for operations that carry an LDAPResult.
    pub rc: Option<u32>,
    pub ends: bool,
}

/// The size of the message at the start of `buf` once all of it is there; `None` while bytes
/// are missing. A header that cannot start a message, or announces more than `MAX_MESSAGE`,
/// is an error at once, before its content is waited for.
pub fn message_len(buf: &[u8]) -> Result<Option<usize>, Malformed> {
    let Some(h) = header(buf)? else {
        return Ok(None);
    };
    if (h.class, h.constructed, h.number) != (UNIVERSAL, true, SEQUENCE) {
        return Err(bad("a message that is not a SEQUENCE"));
    }
    let total = h.size.saturating_add(h.len);
    if total > MAX_MESSAGE {
        return Err(bad(format!(
            "a message of {total} bytes (at most {MAX_MESSAGE} are taken)"
        )));
    }
    Ok((buf.len() >= total).then_some(total))
}

/// A framed message's id, operation and the one element that may follow the operation.
fn parse_message(msg: &[u8]) -> Result<(i32, Elem<'_>, Option<Elem<'_>>), Malformed> {
    let (outer, rest) = split(msg)?;
    if !rest.is_empty() || !outer.is(UNIVERSAL, true, SEQUENCE) {
        return Err(bad("a message that is not exactly one SEQUENCE"));
    }
    check_framing(outer.content, 1)?;
    let mut parts = Children(outer.content);
    let id = parts
        .next()
        .transpose()?
        .filter(|e| e.is(UNIVERSAL, false, INTEGER))
        .ok_or_else(|| bad("a message without a message id"))?;
    let id = unsigned(id.content)
        .and_then(|v| i32::try_from(v).ok())
        .ok_or_else(|| bad("a message id that is not an INTEGER from 0 to 2^31-1"))?;
    let op = parts
        .next()
        .transpose()?
        .ok_or_else(|| bad("a message without an operation"))?;
    let trailing = parts.next().transpose()?;
    if parts.next().is_some() {
        return Err(bad("a message with elements after its controls"));
    }
    Ok((id, op, trailing))
}

/// `SEQUENCE OF LDAPString`, at least one: a Referral or a SearchResultReference.
fn check_uris(e: Elem<'_>) -> Result<(), Malformed> {
    let mut n = 0;
    for u in Children(e.content) {
        utf8(Some(u), "a referral URI")?;
        n += 1;
    }
    if n == 0 {
        return Err(bad("a referral without URIs"));
    }
    Ok(())
}

/// An LDAPResult (plus serverSaslCreds for a BindResponse, responseName and responseValue
/// for an ExtendedResponse); its result code.
fn check_result(op: Elem<'_>) -> Result<u32, Malformed> {
    let mut parts = Children(op.content);
    let rc = parts
        .next()
        .transpose()?
        .filter(|e| e.is(UNIVERSAL, false, ENUMERATED))
        .and_then(|e| unsigned(e.content))
        .ok_or_else(|| bad("a result without a result code"))?;
    utf8(parts.next(), "a matchedDN")?;
    utf8(parts.next(), "a diagnosticMessage")?;
    for e in parts {
        let e = e?;
        match (e.class, e.constructed, e.number, op.number) {
            (CONTEXT, true, 3, _) => check_uris(e)?,
            (CONTEXT, false, 7, 1) | (CONTEXT, false, 11, 24) => {}
            (CONTEXT, false, 10, 24) => {
                std::str::from_utf8(e.content)
                    .map_err(|_| bad("a responseName that is not UTF-8"))?;
            }
            _ => return Err(bad("a result with an element it may not carry")),
        }
    }
    Ok(rc)
}

/// A SearchResultEntry: objectName, then `SEQUENCE OF SEQUENCE { type, SET OF value }`.
fn check_entry(op: Elem<'_>) -> Result<(), Malformed> {
    let mut parts = Children(op.content);
    utf8(parts.next(), "an entry DN")?;
    let attrs = parts
        .next()
        .transpose()?
        .filter(|e| e.is(UNIVERSAL, true, SEQUENCE))
        .ok_or_else(|| bad("an entry without its attribute list"))?;
    if parts.next().is_some() {
        return Err(bad("an entry with elements after its attributes"));
    }
    for a in Children(attrs.content) {
        let a = a?;
        if !a.is(UNIVERSAL, true, SEQUENCE) {
            return Err(bad("an attribute that is not a SEQUENCE"));
        }
        let mut parts = Children(a.content);
        utf8(parts.next(), "an attribute type")?;
        let values = parts
            .next()
            .transpose()?
            .filter(|e| e.is(UNIVERSAL, true, SET))
            .ok_or_else(|| bad("an attribute without its value SET"))?;
        if parts.next().is_some() {
            return Err(bad("an attribute with elements after its values"));
        }
        for v in Children(values.content) {
            octet_string(Some(v), "an attribute value")?;
        }
    }
    Ok(())
}

/// `[0] Controls`: each `SEQUENCE { controlType, criticality BOOLEAN OPTIONAL, controlValue
/// OCTET STRING OPTIONAL }`.
fn check_controls(c: Elem<'_>) -> Result<(), Malformed> {
    for ctrl in Children(c.content) {
        let ctrl = ctrl?;
        if !ctrl.is(UNIVERSAL, true, SEQUENCE) {
            return Err(bad("a control that is not a SEQUENCE"));
        }
        let mut parts = Children(ctrl.content).peekable();
        utf8(parts.next(), "a controlType")?;
        if let Some(Ok(b)) = parts.peek()
            && b.is(UNIVERSAL, false, BOOLEAN)
        {
            if b.content.len() != 1 {
                return Err(bad("a criticality that is not one byte"));
            }
            parts.next();
        }
        if parts.peek().is_some() {
            octet_string(parts.next(), "a controlValue")?;
        }
        if parts.next().is_some() {
            return Err(bad("a control with elements after its value"));
        }
    }
    Ok(())
}

/// Check one whole message from the directory (as `message_len` cut it) against the requests
/// waiting for an answer. Message id 0 is the server's own notice (an ExtendedResponse, such as
/// Notice of Disconnection).
pub fn check_response(msg: &[u8], pending: &HashMap<i32, Awaiting>) -> Result<Response, Malformed> {
    let (id, op, trailing) = parse_message(msg)?;
    match trailing {
        None => {}
        Some(t) if t.is(CONTEXT, true, 0) => check_controls(t)?,
        // Active Directory puts a Notice of Disconnection's OID here; ldap3 skips it.
        Some(t) if t.is(CONTEXT, false, 10) => {}
        Some(_) => return Err(bad("a message with an element that is not its controls")),
    }
    if op.class != APPLICATION || !op.constructed {
        return Err(bad(
            "an operation that is not a constructed APPLICATION element",
        ));
    }
    let awaiting = if id == 0 {
        Awaiting::Result(24)
    } else {
        *pending.get(&id).ok_or_else(|| {
            bad(format!(
                "an answer to message {id}, which no request awaits"
            ))
        })?
    };
    let (rc, ends) = match (awaiting, op.number) {
        (Awaiting::Search, 4) => (check_entry(op).map(|_| None)?, false),
        (Awaiting::Search, 19) => (check_uris(op).map(|_| None)?, false),
        (Awaiting::Search, 5) => (Some(check_result(op)?), true),
        (Awaiting::Result(want), got) if want == got => (Some(check_result(op)?), true),
        (_, got) => {
            return Err(bad(format!(
                "operation {got} in answer to message {id}, which awaits another"
            )));
        }
    };
    Ok(Response {
        id,
        op: op.number,
        rc,
        ends,
    })
}

/// The id of a request Gantry (through ldap3) sends, and what it waits for; `None` for
/// requests without an answer (Unbind, Abandon).
pub fn request(msg: &[u8]) -> Result<(i32, Option<Awaiting>), Malformed> {
    let (id, op, _) = parse_message(msg)?;
    if op.class != APPLICATION {
        return Err(bad("a request that is not an APPLICATION element"));
    }
    let awaiting = match op.number {
        0 => Awaiting::Result(1),
        3 => Awaiting::Search,
        6 => Awaiting::Result(7),
        8 => Awaiting::Result(9),
        10 => Awaiting::Result(11),
        12 => Awaiting::Result(13),
        14 => Awaiting::Result(15),
        23 => Awaiting::Result(24),
        2 | 16 => return Ok((id, None)),
        n => return Err(bad(format!("a request with operation {n}"))),
    };
    Ok((id, Some(awaiting)))
}

/// The StartTLS ExtendedRequest (RFC 4511 4.14.1) as message `id`.
pub fn start_tls_request(id: u8) -> Vec<u8> {
    let name = tlv(0x80, b"1.3.6.1.4.1.1466.20037");
    let mut body = tlv(0x02, &[id]);
    body.extend(tlv(0x77, &name));
    tlv(0x30, &body)
}

#[cfg(test)]
mod tests {
    use super::super::ber::MAX_DEPTH;
    use super::*;

    fn waiting(id: i32, a: Awaiting) -> HashMap<i32, Awaiting> {
        HashMap::from([(id, a)])
    }

    /// `30 len 02 01 id <op>` around `op`.
    fn message(id: u8, op: &[u8]) -> Vec<u8> {
        let mut body = tlv(0x02, &[id]);
        body.extend_from_slice(op);
        tlv(0x30, &body)
    }

    fn result(tag: u8, rc: u8, extra: &[u8]) -> Vec<u8> {
        let mut c = tlv(0x0a, &[rc]);
        c.extend(tlv(0x04, b""));
        c.extend(tlv(0x04, b"ok"));
        c.extend_from_slice(extra);
        tlv(tag, &c)
    }

    type Attr<'a> = (&'a [u8], &'a [&'a [u8]]);

    fn entry(dn: &[u8], attrs: &[Attr<'_>]) -> Vec<u8> {
        let mut list = Vec::new();
        for (t, vals) in attrs {
            let mut set = Vec::new();
            for v in *vals {
                set.extend(tlv(0x04, v));
            }
            let mut a = tlv(0x04, t);
            a.extend(tlv(0x31, &set));
            list.extend(tlv(0x30, &a));
        }
        let mut c = tlv(0x04, dn);
        c.extend(tlv(0x30, &list));
        tlv(0x64, &c)
    }

    fn err(msg: &[u8], pending: &HashMap<i32, Awaiting>) -> String {
        check_response(msg, pending).unwrap_err().0
    }

    #[test]
    fn well_formed_answers_pass_and_say_when_a_request_is_done() {
        let bind = message(1, &result(0x61, 0, b""));
        assert_eq!(message_len(&bind), Ok(Some(bind.len())));
        let r = check_response(&bind, &waiting(1, Awaiting::Result(1))).unwrap();
        assert_eq!((r.id, r.op, r.rc, r.ends), (1, 1, Some(0), true));

        let search = waiting(2, Awaiting::Search);
        let e = message(
            2,
            &entry(
                b"cn=developers,ou=groups",
                &[(b"cn", &[b"developers".as_slice(), b"\xff\x00".as_slice()])],
            ),
        );
        assert!(!check_response(&e, &search).unwrap().ends);
        let done = message(2, &result(0x65, 32, &tlv(0xa3, &tlv(0x04, b"ldap://b/"))));
        assert_eq!(check_response(&done, &search).unwrap().rc, Some(32));

        // With controls, and the server's own notice on message 0.
        let mut ctrl = tlv(0x04, b"1.2.840.113556.1.4.319");
        ctrl.extend(tlv(0x01, &[0xff]));
        ctrl.extend(tlv(0x04, b"\x30\x00"));
        let mut with = tlv(0x02, &[1]);
        with.extend(result(0x61, 49, b""));
        with.extend(tlv(0xa0, &tlv(0x30, &ctrl)));
        let with = tlv(0x30, &with);
        assert!(check_response(&with, &waiting(1, Awaiting::Result(1))).is_ok());
        let notice = message(0, &result(0x78, 52, &tlv(0x8a, b"1.3.6.1.4.1.1466.20036")));
        assert!(check_response(&notice, &HashMap::new()).is_ok());
    }

    #[test]
    fn a_truncated_length_waits_for_more_bytes() {
        let bind = message(1, &result(0x61, 0, b""));
        for cut in 0..bind.len() {
            assert_eq!(message_len(&bind[..cut]), Ok(None), "cut at {cut}");
        }
        // A long-form length whose bytes have not all arrived.
        assert_eq!(message_len(&[0x30, 0x84, 0x00, 0x00]), Ok(None));
        // At the end of the stream that is a message cut short: never forwarded.
        assert!(check_response(&bind[..bind.len() - 1], &waiting(1, Awaiting::Result(1))).is_err());
    }

    #[test]
    fn an_indefinite_length_is_refused() {
        assert!(
            message_len(&[0x30, 0x80])
                .unwrap_err()
                .0
                .contains("indefinite")
        );
        let inner = [
            0x30, 0x0e, 0x02, 0x01, 0x01, 0x61, 0x80, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00,
            0x00, 0x00,
        ];
        assert!(err(&inner, &waiting(1, Awaiting::Result(1))).contains("indefinite"));
    }

    #[test]
    fn a_length_past_what_contains_it_is_refused() {
        // The bind response claims 9 bytes inside a message that has 8 after its id.
        let msg = [
            0x30, 0x0d, 0x02, 0x01, 0x01, 0x61, 0x09, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00,
            0x00,
        ];
        assert!(err(&msg, &waiting(1, Awaiting::Result(1))).contains("longer than"));
        // Five length bytes, and lengths past the cap, are refused from the header alone.
        assert!(message_len(&[0x30, 0x85, 0, 0, 0, 0, 1]).is_err());
        let e = message_len(&[0x30, 0x84, 0x7f, 0xff, 0xff, 0xff]).unwrap_err();
        assert!(e.0.contains("at most"), "{e}");
        let e = message_len(&[0x30, 0x83, 0x80, 0x00, 0x00]).unwrap_err();
        assert!(e.0.contains("at most"), "{e}");
        assert_eq!(message_len(&[0x30, 0x83, 0x7f, 0xff, 0xf0]), Ok(None));
    }

    #[test]
    fn deep_nesting_is_refused_without_deep_recursion() {
        // 100 000 SEQUENCEs, each holding the next: six bytes of header per level.
        let depth = 100_000u32;
        let mut inner: Vec<u8> = Vec::with_capacity(6 * depth as usize);
        for level in (0..depth).rev() {
            inner.extend_from_slice(&[0x30, 0x84]);
            inner.extend_from_slice(&(6 * level).to_be_bytes());
        }
        let msg = message(1, &tlv(0x61, &inner));
        assert!(err(&msg, &waiting(1, Awaiting::Result(1))).contains("nested"));
        // Exactly as deep as allowed is fine for framing (the shape check then refuses it).
        let mut ok = Vec::new();
        for _ in 0..MAX_DEPTH - 2 {
            ok = tlv(0x30, &ok);
        }
        let msg = message(1, &tlv(0x61, &ok));
        assert!(!err(&msg, &waiting(1, Awaiting::Result(1))).contains("nested"));
    }

    #[test]
    fn shapes_ldap3_would_panic_on_are_refused() {
        let bind = waiting(1, Awaiting::Result(1));
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![0x30, 0x00], "message id"),
            (message(1, &[]), "operation"),
            (message(1, &[0x61, 0x00]), "result code"),
            (message(1, &[0x41, 0x00]), "constructed"),
            (message(1, &tlv(0x61, &tlv(0x0a, &[0]))), "matchedDN"),
            (
                message(
                    1,
                    &tlv(0x61, &[0x0a, 0x01, 0x00, 0x04, 0x01, 0xff, 0x04, 0x00]),
                ),
                "UTF-8",
            ),
            (
                message(1, &result(0x61, 0, &tlv(0xa3, b""))),
                "without URIs",
            ),
            (
                message(1, &result(0x61, 0, &tlv(0x8a, b"x"))),
                "may not carry",
            ),
            // An entry in answer to a bind, and a bind response to a search.
            (message(1, &entry(b"cn=x", &[])), "awaits another"),
            (message(9, &result(0x61, 0, b"")), "no request awaits"),
            // A criticality with no byte (ldap3 indexes it).
            (
                {
                    let mut m = tlv(0x02, &[1]);
                    m.extend(result(0x61, 0, b""));
                    let mut c = tlv(0x04, b"1.2.3");
                    c.extend(tlv(0x01, b""));
                    m.extend(tlv(0xa0, &tlv(0x30, &c)));
                    tlv(0x30, &m)
                },
                "criticality",
            ),
            (
                {
                    let mut m = tlv(0x02, &[1]);
                    m.extend(result(0x61, 0, b""));
                    m.extend(tlv(0x04, b"extra"));
                    tlv(0x30, &m)
                },
                "not its controls",
            ),
            (message(1, &[0x7f, 0x21, 0x00]), "high tag"),
            (
                {
                    let mut m = tlv(0x02, &[0x80, 0, 0, 0]);
                    m.extend(result(0x61, 0, b""));
                    tlv(0x30, &m)
                },
                "message id",
            ),
        ];
        for (msg, why) in cases {
            let e = err(&msg, &bind);
            assert!(e.contains(why), "{msg:02x?}: {e}");
        }
        let search = waiting(2, Awaiting::Search);
        for (msg, why) in [
            (
                message(2, &tlv(0x64, &tlv(0x04, b"cn=x"))),
                "attribute list",
            ),
            (
                message(2, &tlv(0x64, &[0x04, 0x01, 0xff, 0x30, 0x00])),
                "UTF-8",
            ),
            (
                message(2, &entry(b"cn=x", &[(b"\xc3".as_slice(), &[])])),
                "attribute type",
            ),
            (message(2, &tlv(0x79, &tlv(0x04, b"x"))), "awaits another"),
        ] {
            let e = err(&msg, &search);
            assert!(e.contains(why), "{msg:02x?}: {e}");
        }
    }

    #[test]
    fn requests_name_what_they_wait_for() {
        assert_eq!(
            request(&start_tls_request(1)),
            Ok((1, Some(Awaiting::Result(24))))
        );
        assert_eq!(
            message_len(&start_tls_request(1)),
            Ok(Some(start_tls_request(1).len()))
        );
        let unbind = message(3, &[0x42, 0x00]);
        assert_eq!(request(&unbind), Ok((3, None)));
        let search = message(4, &tlv(0x63, &tlv(0x04, b"dc=x")));
        assert_eq!(request(&search), Ok((4, Some(Awaiting::Search))));
    }
}
