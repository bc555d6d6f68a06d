//! BER as LDAP uses it (RFC 4511, section 5.1): reading one element and its children with
//! the limits of `frame` (low tag numbers, definite lengths of at most four bytes, each element
//! inside its parent, `MAX_DEPTH`), and writing the few elements Gantry sends itself.
//!
//! Reading never recurses past `MAX_DEPTH` and allocates nothing per element.

/// The deepest nesting of constructed elements. An LDAP response needs five (message, entry,
/// attribute list, attribute, value set).
pub const MAX_DEPTH: usize = 8;

pub(super) const UNIVERSAL: u8 = 0;
pub(super) const APPLICATION: u8 = 1;
pub(super) const CONTEXT: u8 = 2;
pub(super) const BOOLEAN: u8 = 1;
pub(super) const INTEGER: u8 = 2;
pub(super) const OCTET_STRING: u8 = 4;
pub(super) const ENUMERATED: u8 = 10;
pub(super) const SEQUENCE: u8 = 16;
pub(super) const SET: u8 = 17;

/// What is wrong with a message; for the log and the connector's error.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub String);

pub(super) fn bad(why: impl Into<String>) -> Malformed {
    Malformed(why.into())
}

/// One BER element.
#[derive(Debug, Clone, Copy)]
pub(super) struct Elem<'a> {
    pub(super) class: u8,
    pub(super) constructed: bool,
    pub(super) number: u8,
    pub(super) content: &'a [u8],
}

impl Elem<'_> {
    pub(super) fn is(&self, class: u8, constructed: bool, number: u8) -> bool {
        (self.class, self.constructed, self.number) == (class, constructed, number)
    }
}

/// An element's tag and length.
pub(super) struct Header {
    pub(super) class: u8,
    pub(super) constructed: bool,
    pub(super) number: u8,
    /// Bytes of tag and length.
    pub(super) size: usize,
    /// Bytes of content.
    pub(super) len: usize,
}

/// The tag and length at the start of `buf`, or `None` while bytes are missing.
pub(super) fn header(buf: &[u8]) -> Result<Option<Header>, Malformed> {
    let Some(&t) = buf.first() else {
        return Ok(None);
    };
    if t & 0x1f == 0x1f {
        return Err(bad("a high tag number, which LDAP never uses"));
    }
    let Some(&l) = buf.get(1) else {
        return Ok(None);
    };
    let (header_len, len) = match l {
        0..=0x7f => (2, usize::from(l)),
        0x80 => {
            return Err(bad(
                "an indefinite length (LDAP allows definite lengths only, RFC 4511 5.1)",
            ));
        }
        _ => {
            let n = usize::from(l & 0x7f);
            if n > 4 {
                return Err(bad("a length of more than four bytes"));
            }
            let Some(bytes) = buf.get(2..2 + n) else {
                return Ok(None);
            };
            let len = bytes.iter().fold(0usize, |a, &b| (a << 8) | usize::from(b));
            (2 + n, len)
        }
    };
    Ok(Some(Header {
        class: t >> 6,
        constructed: t & 0x20 != 0,
        number: t & 0x1f,
        size: header_len,
        len,
    }))
}

/// The element at the front of `buf`, which must hold all of it, and what follows it.
pub(super) fn split(buf: &[u8]) -> Result<(Elem<'_>, &[u8]), Malformed> {
    let Some(h) = header(buf)? else {
        return Err(bad("an element cut short"));
    };
    let end = h
        .size
        .checked_add(h.len)
        .filter(|&end| end <= buf.len())
        .ok_or_else(|| bad("an element longer than what contains it"))?;
    let (content, rest) = (
        buf.get(h.size..end).unwrap_or_default(),
        buf.get(end..).unwrap_or_default(),
    );
    Ok((
        Elem {
            class: h.class,
            constructed: h.constructed,
            number: h.number,
            content,
        },
        rest,
    ))
}

/// The elements inside a constructed element's content.
pub(super) struct Children<'a>(pub(super) &'a [u8]);

impl<'a> Iterator for Children<'a> {
    type Item = Result<Elem<'a>, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        match split(self.0) {
            Ok((e, rest)) => {
                self.0 = rest;
                Some(Ok(e))
            }
            Err(e) => {
                self.0 = &[];
                Some(Err(e))
            }
        }
    }
}

/// Every element inside its parent, constructed ones at most `MAX_DEPTH` deep. Recursion is
/// bounded by `MAX_DEPTH`, which is what ldap3's parser lacks.
pub(super) fn check_framing(content: &[u8], depth: usize) -> Result<(), Malformed> {
    for e in Children(content) {
        let e = e?;
        if e.constructed {
            if depth >= MAX_DEPTH {
                return Err(bad(format!("elements nested more than {MAX_DEPTH} deep")));
            }
            check_framing(e.content, depth + 1)?;
        }
    }
    Ok(())
}

/// A non-negative INTEGER or ENUMERATED of one to four bytes.
pub(super) fn unsigned(content: &[u8]) -> Option<u32> {
    match content {
        [] => None,
        [first, ..] if first & 0x80 != 0 || content.len() > 4 => None,
        _ => Some(content.iter().fold(0u32, |a, &b| (a << 8) | u32::from(b))),
    }
}

pub(super) fn octet_string<'a>(
    e: Option<Result<Elem<'a>, Malformed>>,
    what: &str,
) -> Result<&'a [u8], Malformed> {
    match e.transpose()? {
        Some(e) if e.is(UNIVERSAL, false, OCTET_STRING) => Ok(e.content),
        _ => Err(bad(format!("{what} that is not an OCTET STRING"))),
    }
}

pub(super) fn utf8<'a>(
    e: Option<Result<Elem<'a>, Malformed>>,
    what: &str,
) -> Result<&'a [u8], Malformed> {
    let s = octet_string(e, what)?;
    std::str::from_utf8(s).map_err(|_| bad(format!("{what} that is not UTF-8")))?;
    Ok(s)
}

/// A definite length in BER, in as few bytes as it takes.
pub(super) fn length(n: usize) -> Vec<u8> {
    if n < 0x80 {
        return vec![n as u8];
    }
    let bytes: Vec<u8> = (n as u32)
        .to_be_bytes()
        .into_iter()
        .skip_while(|b| *b == 0)
        .collect();
    let mut out = vec![0x80 | bytes.len() as u8];
    out.extend(bytes);
    out
}

pub(super) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend(length(content.len()));
    out.extend_from_slice(content);
    out
}
