//! Checking a SAML Response, strictly: one Assertion, a signature over the Response or the
//! Assertion (or both, and then both must verify), no signature anywhere else, no duplicated
//! IDs, no encrypted assertions; then Status, Destination, Issuer, InResponseTo, the bearer
//! SubjectConfirmation, Conditions and Audience. The identity is read from the Assertion only
//! after the element covering it verified, from the same parsed tree.

use roxmltree::Node;

use super::dsig::SignatureError;
use super::dsig::{self, IdpKey};
use super::xml::{
    self, Doc, NS_ASSERTION, NS_DSIG, NS_PROTOCOL, XmlError, children, is, only_child, text_only,
};

const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";

/// What the response must say to be for this login.
#[derive(Debug)]
pub struct Expect<'a> {
    /// Gantry's entity ID: the Audience.
    pub audience: &'a str,
    /// Gantry's AssertionConsumerService URL: Destination and Recipient.
    pub acs: &'a str,
    /// The IdP's entity ID, when known: the Issuer.
    pub issuer: Option<&'a str>,
    /// The ID of the AuthnRequest Gantry sent.
    pub in_response_to: &'a str,
    pub now: i64,
    pub skew: i64,
    pub allow_sha1: bool,
}

/// What a verified assertion says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub assertion_id: String,
    pub issuer: String,
    pub name_id: String,
    pub attributes: Vec<(String, Vec<String>)>,
    /// Until when the assertion could be presented: how long its ID is remembered.
    pub valid_until: i64,
}

impl Verified {
    /// The values of the attribute `name` (matched against Name and FriendlyName).
    pub fn attribute(&self, name: &str) -> Option<&[String]> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }
}

/// Why a SAML response does not log anyone in. The texts are what the login page shows.
#[derive(Debug, thiserror::Error)]
pub enum SamlError {
    #[error(transparent)]
    Xml(#[from] XmlError),
    #[error("SAMLResponse is not base64")]
    NotBase64,
    #[error("the SAML response is not UTF-8")]
    NotUtf8,
    #[error("the document is not a SAML Response")]
    NotResponse,
    #[error("the response is not SAML 2.0")]
    NotSaml2,
    #[error("encrypted assertions are not supported")]
    Encrypted,
    #[error("the ID {0} appears twice")]
    DuplicateId(String),
    #[error("the assertion is not where a response keeps it")]
    AssertionMisplaced,
    #[error("the response has no assertion")]
    NoAssertion,
    #[error("the response has more than one assertion")]
    SeveralAssertions,
    #[error("a signature sits where none belongs")]
    SignatureMisplaced,
    #[error("an element carries two signatures")]
    TwoSignatures,
    #[error("the response is not signed")]
    Unsigned,
    #[error("response signature: {0}")]
    ResponseSignature(SignatureError),
    #[error("assertion signature: {0}")]
    AssertionSignature(SignatureError),
    #[error(
        "the identity provider answered {status}{}",
        detail.as_ref().map(|d| format!(" ({d})")).unwrap_or_default()
    )]
    Status {
        status: String,
        detail: Option<String>,
    },
    #[error("the response is for another destination")]
    OtherDestination,
    #[error("a signed response must name its destination")]
    NoDestination,
    #[error("the response does not answer the request Gantry sent")]
    NotOurRequest,
    #[error("the response is from another issuer")]
    OtherIssuer,
    #[error("the assertion has no ID")]
    NoAssertionId,
    #[error("the assertion names no subject")]
    NoSubject,
    #[error("no bearer confirmation for this recipient and request is still valid")]
    NoBearer,
    #[error("the assertion is not valid yet")]
    NotYetValid,
    #[error("the assertion has expired")]
    Expired,
    #[error("the assertion has no audience")]
    NoAudience,
    #[error("the assertion is for another audience")]
    OtherAudience,
    #[error("{element} {attribute} is not a UTC time")]
    Time { element: String, attribute: String },
}

fn time_attr(n: Node, name: &str) -> Result<Option<i64>, SamlError> {
    match n.attribute(name) {
        None => Ok(None),
        Some(v) => super::time::parse_instant(v)
            .map(Some)
            .ok_or_else(|| SamlError::Time {
                element: n.tag_name().name().to_string(),
                attribute: name.to_string(),
            }),
    }
}

/// Decode the `SAMLResponse` form field and check it; the verified assertion.
pub fn verify_b64(b64: &str, keys: &[IdpKey], expect: &Expect) -> Result<Verified, SamlError> {
    use base64::Engine;
    if b64.len() > xml::MAX_XML * 4 / 3 + 4 {
        return Err(XmlError::TooLarge(Doc::Response).into());
    }
    let clean: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(clean)
        .map_err(|_| SamlError::NotBase64)?;
    let text = String::from_utf8(bytes).map_err(|_| SamlError::NotUtf8)?;
    verify(&text, keys, expect)
}

/// Check a SAML response document.
pub fn verify(text: &str, keys: &[IdpKey], expect: &Expect) -> Result<Verified, SamlError> {
    let doc = xml::parse(text)?;
    let root = doc.root_element();
    if !is(root, NS_PROTOCOL, "Response") {
        return Err(SamlError::NotResponse);
    }
    if root.attribute("Version") != Some("2.0") {
        return Err(SamlError::NotSaml2);
    }
    // Structure first: what signature wrapping needs is refused before any crypto runs.
    let mut ids = std::collections::HashSet::new();
    for n in doc.descendants().filter(|n| n.is_element()) {
        if is(n, NS_ASSERTION, "EncryptedAssertion") {
            return Err(SamlError::Encrypted);
        }
        for a in n.attributes() {
            if matches!(a.name(), "ID" | "Id" | "id") && !ids.insert(a.value()) {
                return Err(SamlError::DuplicateId(a.value().to_string()));
            }
        }
    }
    let assertions: Vec<Node> = doc
        .descendants()
        .filter(|n| is(*n, NS_ASSERTION, "Assertion"))
        .collect();
    let assertion = match assertions.as_slice() {
        [a] if a.parent() == Some(root) => *a,
        [_] => return Err(SamlError::AssertionMisplaced),
        [] => return Err(SamlError::NoAssertion),
        _ => return Err(SamlError::SeveralAssertions),
    };
    let mut response_sig = None;
    let mut assertion_sig = None;
    for s in doc.descendants().filter(|n| is(*n, NS_DSIG, "Signature")) {
        let slot = match s.parent() {
            Some(p) if p == root => &mut response_sig,
            Some(p) if p == assertion => &mut assertion_sig,
            _ => return Err(SamlError::SignatureMisplaced),
        };
        if slot.replace(s).is_some() {
            return Err(SamlError::TwoSignatures);
        }
    }
    if response_sig.is_none() && assertion_sig.is_none() {
        return Err(SamlError::Unsigned);
    }
    if let Some(s) = response_sig {
        dsig::verify(&doc, root, s, keys, expect.allow_sha1)
            .map_err(SamlError::ResponseSignature)?;
    }
    if let Some(s) = assertion_sig {
        dsig::verify(&doc, assertion, s, keys, expect.allow_sha1)
            .map_err(SamlError::AssertionSignature)?;
    }

    let status = only_child(
        only_child(root, NS_PROTOCOL, "Status")?,
        NS_PROTOCOL,
        "StatusCode",
    )?;
    if status.attribute("Value") != Some(SUCCESS) {
        let detail = children(status, NS_PROTOCOL, "StatusCode")
            .next()
            .and_then(|c| c.attribute("Value"))
            .map(String::from);
        return Err(SamlError::Status {
            status: status.attribute("Value").unwrap_or("no status").to_string(),
            detail,
        });
    }
    if let Some(d) = root.attribute("Destination")
        && d != expect.acs
    {
        return Err(SamlError::OtherDestination);
    }
    if root.attribute("Destination").is_none() && response_sig.is_some() {
        return Err(SamlError::NoDestination);
    }
    match root.attribute("InResponseTo") {
        Some(irt) if irt == expect.in_response_to => {}
        _ => return Err(SamlError::NotOurRequest),
    }
    for issuer in children(root, NS_ASSERTION, "Issuer") {
        check_issuer(issuer, expect)?;
    }

    // The assertion: covered by a verified signature, its own or the response's.
    let issuer = only_child(assertion, NS_ASSERTION, "Issuer")?;
    let issuer_text = check_issuer(issuer, expect)?;
    let assertion_id = assertion
        .attribute("ID")
        .filter(|i| !i.is_empty())
        .ok_or(SamlError::NoAssertionId)?
        .to_string();
    let subject = only_child(assertion, NS_ASSERTION, "Subject")?;
    let name_id = text_only(only_child(subject, NS_ASSERTION, "NameID")?)?;
    if name_id.trim().is_empty() {
        return Err(SamlError::NoSubject);
    }
    let mut confirmed_until = None;
    for sc in children(subject, NS_ASSERTION, "SubjectConfirmation") {
        if sc.attribute("Method") != Some(BEARER) {
            continue;
        }
        let Some(data) = children(sc, NS_ASSERTION, "SubjectConfirmationData").next() else {
            continue;
        };
        let until = time_attr(data, "NotOnOrAfter")?;
        if data.attribute("Recipient") == Some(expect.acs)
            && data.attribute("InResponseTo") == Some(expect.in_response_to)
            && until.is_some_and(|u| expect.now < u + expect.skew)
            && time_attr(data, "NotBefore")?.is_none_or(|nb| nb <= expect.now + expect.skew)
        {
            confirmed_until = until;
            break;
        }
    }
    let Some(confirmed_until) = confirmed_until else {
        return Err(SamlError::NoBearer);
    };
    let conditions = only_child(assertion, NS_ASSERTION, "Conditions")?;
    if time_attr(conditions, "NotBefore")?.is_some_and(|nb| nb > expect.now + expect.skew) {
        return Err(SamlError::NotYetValid);
    }
    let not_after = time_attr(conditions, "NotOnOrAfter")?;
    if not_after.is_some_and(|na| expect.now >= na + expect.skew) {
        return Err(SamlError::Expired);
    }
    let restrictions: Vec<Node> =
        children(conditions, NS_ASSERTION, "AudienceRestriction").collect();
    if restrictions.is_empty() {
        return Err(SamlError::NoAudience);
    }
    for r in restrictions {
        let mut ok = false;
        for a in children(r, NS_ASSERTION, "Audience") {
            ok |= text_only(a)?.trim() == expect.audience;
        }
        if !ok {
            return Err(SamlError::OtherAudience);
        }
    }
    let mut attributes: Vec<(String, Vec<String>)> = Vec::new();
    for st in children(assertion, NS_ASSERTION, "AttributeStatement") {
        for a in children(st, NS_ASSERTION, "Attribute") {
            let mut values = Vec::new();
            for v in children(a, NS_ASSERTION, "AttributeValue") {
                values.push(text_only(v)?);
            }
            for name in [a.attribute("Name"), a.attribute("FriendlyName")]
                .into_iter()
                .flatten()
            {
                match attributes.iter_mut().find(|(n, _)| n == name) {
                    Some((_, vs)) => vs.extend(values.iter().cloned()),
                    None => attributes.push((name.to_string(), values.clone())),
                }
            }
        }
    }
    Ok(Verified {
        assertion_id,
        issuer: issuer_text,
        name_id: name_id.trim().to_string(),
        attributes,
        valid_until: not_after.unwrap_or(confirmed_until).max(confirmed_until) + expect.skew,
    })
}

fn check_issuer(issuer: Node, expect: &Expect) -> Result<String, SamlError> {
    let text = text_only(issuer)?.trim().to_string();
    match expect.issuer {
        Some(want) if want != text => Err(SamlError::OtherIssuer),
        _ => Ok(text),
    }
}
