//! XML Signature verification for exactly the subset SAML IdPs use: an enveloped signature
//! over its parent element, one Reference to that parent's ID, Exclusive C14N, RSA-SHA256 or
//! ECDSA-P256-SHA256 over SHA-256 digests (SHA-1 only when the config insists). The key comes
//! from the configured certificates, never from the signature's KeyInfo.

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use base64::Engine;
use roxmltree::{Document, Node};

use super::c14n::exc_c14n;
use super::xml::{NS_DSIG, XmlError, children, is, only_child};
use crate::secret;

const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const ECDSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";
const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";

/// A public key of the IdP, from a configured certificate.
#[derive(Debug, Clone)]
pub struct IdpKey {
    kind: KeyKind,
    /// The certificate's notAfter, Unix seconds.
    pub not_after: i64,
    /// What verification takes: PKCS#1 RSAPublicKey, or the uncompressed EC point.
    der: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Rsa,
    EcP256,
}

/// Why an IdP certificate (from the config or the metadata) cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("certificate PEM: {0}")]
    Pem(x509_parser::error::PEMError),
    #[error("no certificate in the PEM")]
    NoCertificate,
    #[error("certificate: {0}")]
    Parse(x509_parser::nom::Err<x509_parser::error::X509Error>),
    #[error("only P-256 EC certificates are supported")]
    NotP256,
    #[error("certificate key type {0} is not supported")]
    KeyType(String),
}

/// Why an XML signature does not vouch for the element it sits in.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error(transparent)]
    Xml(#[from] XmlError),
    #[error("the signature is not enveloped in the element it signs")]
    NotEnveloped,
    #[error("the signed element has no ID")]
    NoId,
    #[error("canonicalization {0} is not supported (exclusive c14n only)")]
    Canonicalization(String),
    #[error("SHA-1 signatures are refused")]
    Sha1Signature,
    #[error("signature algorithm {0} is not supported")]
    Algorithm(String),
    #[error("the signature references another element than the one it is in")]
    OtherReference,
    #[error("the reference must list its transforms")]
    NoTransforms,
    #[error("transforms {0:?} are not supported (enveloped-signature then exclusive c14n)")]
    Transforms(Vec<String>),
    #[error("SHA-1 digests are refused")]
    Sha1Digest,
    #[error("digest {0} is not supported")]
    Digest(String),
    #[error("the signature's InclusiveNamespaces lists more than {MAX_PREFIXES} prefixes")]
    TooManyPrefixes,
    #[error("the signature holds invalid base64")]
    Base64,
    #[error("the signed content was modified (digest mismatch)")]
    DigestMismatch,
    #[error("the signature is not by the identity provider's key")]
    NotByIdp,
}

impl IdpKey {
    /// Every certificate in a PEM bundle.
    pub fn from_pem(pem: &[u8]) -> Result<Vec<IdpKey>, CertError> {
        let mut keys = Vec::new();
        for p in x509_parser::pem::Pem::iter_from_buffer(pem) {
            let p = p.map_err(CertError::Pem)?;
            if p.label != "CERTIFICATE" {
                continue;
            }
            keys.push(Self::from_der(&p.contents)?);
        }
        if keys.is_empty() {
            return Err(CertError::NoCertificate);
        }
        Ok(keys)
    }

    /// A DER certificate (as in metadata's base64 `X509Certificate`).
    pub fn from_der(der: &[u8]) -> Result<IdpKey, CertError> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(CertError::Parse)?;
        let spki = cert.public_key();
        let oid = spki.algorithm.algorithm.to_id_string();
        let kind = match oid.as_str() {
            "1.2.840.113549.1.1.1" => KeyKind::Rsa,
            "1.2.840.10045.2.1" => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.as_oid().ok())
                    .map(|o| o.to_id_string());
                if curve.as_deref() != Some("1.2.840.10045.3.1.7") {
                    return Err(CertError::NotP256);
                }
                KeyKind::EcP256
            }
            other => return Err(CertError::KeyType(other.to_string())),
        };
        Ok(IdpKey {
            kind,
            not_after: cert.validity().not_after.timestamp(),
            der: spki.subject_public_key.data.to_vec(),
        })
    }

    fn verify(&self, alg: &str, msg: &[u8], sig: &[u8]) -> bool {
        let a: &dyn VerificationAlgorithm = match (self.kind, alg) {
            (KeyKind::Rsa, RSA_SHA256) => &signature::RSA_PKCS1_2048_8192_SHA256,
            (KeyKind::Rsa, RSA_SHA1) => &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            // XML DSig ECDSA values are r || s, not DER.
            (KeyKind::EcP256, ECDSA_SHA256) => &signature::ECDSA_P256_SHA256_FIXED,
            _ => return false,
        };
        UnparsedPublicKey::new(a, &self.der)
            .verify(msg, sig)
            .is_ok()
    }
}

fn attr<'a>(n: Node<'a, '_>, name: &str) -> &'a str {
    n.attribute(name).unwrap_or("")
}

/// Signers list the few prefixes their content uses in attribute values (`xs`, `xsi`).
const MAX_PREFIXES: usize = 16;

/// The InclusiveNamespaces PrefixList of a transform. Canonicalization looks each prefix up on
/// every element, before the signature is checked: a long list is refused, not walked.
fn inclusive_prefixes(transform: Node) -> Result<Vec<String>, SignatureError> {
    let mut prefixes: Vec<String> = transform
        .children()
        .filter(|c| c.is_element() && c.tag_name().name() == "InclusiveNamespaces")
        .flat_map(|c| attr(c, "PrefixList").split_ascii_whitespace())
        .map(String::from)
        .collect();
    prefixes.sort();
    prefixes.dedup();
    if prefixes.len() > MAX_PREFIXES {
        return Err(SignatureError::TooManyPrefixes);
    }
    Ok(prefixes)
}

fn b64(text: &str) -> Result<Vec<u8>, SignatureError> {
    let clean: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(clean)
        .map_err(|_| SignatureError::Base64)
}

/// Verify the enveloped signature `sig`, a direct child of `signed`, whose one Reference must
/// name `signed` by its ID. `Ok` only if the digest and the signature both check out under one
/// of `keys`.
pub fn verify(
    doc: &Document,
    signed: Node,
    sig: Node,
    keys: &[IdpKey],
    allow_sha1: bool,
) -> Result<(), SignatureError> {
    if sig.parent() != Some(signed) || !is(sig, NS_DSIG, "Signature") {
        return Err(SignatureError::NotEnveloped);
    }
    let id = signed
        .attribute("ID")
        .filter(|i| !i.is_empty())
        .ok_or(SignatureError::NoId)?;
    let info = only_child(sig, NS_DSIG, "SignedInfo")?;
    let c14n = only_child(info, NS_DSIG, "CanonicalizationMethod")?;
    if attr(c14n, "Algorithm") != EXC_C14N {
        return Err(SignatureError::Canonicalization(
            attr(c14n, "Algorithm").to_string(),
        ));
    }
    let method = attr(only_child(info, NS_DSIG, "SignatureMethod")?, "Algorithm").to_string();
    match method.as_str() {
        RSA_SHA256 | ECDSA_SHA256 => {}
        RSA_SHA1 if allow_sha1 => {}
        RSA_SHA1 => return Err(SignatureError::Sha1Signature),
        other => return Err(SignatureError::Algorithm(other.to_string())),
    }
    let reference = only_child(info, NS_DSIG, "Reference")?;
    if attr(reference, "URI") != format!("#{id}") {
        return Err(SignatureError::OtherReference);
    }
    let transforms: Vec<Node> = match children(reference, NS_DSIG, "Transforms").count() {
        1 => children(
            only_child(reference, NS_DSIG, "Transforms")?,
            NS_DSIG,
            "Transform",
        )
        .collect(),
        _ => return Err(SignatureError::NoTransforms),
    };
    let algs: Vec<&str> = transforms.iter().map(|t| attr(*t, "Algorithm")).collect();
    if algs != [ENVELOPED, EXC_C14N] {
        return Err(SignatureError::Transforms(
            algs.into_iter().map(String::from).collect(),
        ));
    }
    let digest_alg = attr(only_child(reference, NS_DSIG, "DigestMethod")?, "Algorithm");
    let digest: &'static aws_lc_rs::digest::Algorithm = match digest_alg {
        SHA256 => &aws_lc_rs::digest::SHA256,
        SHA1 if allow_sha1 => &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        SHA1 => return Err(SignatureError::Sha1Digest),
        other => return Err(SignatureError::Digest(other.to_string())),
    };
    let want = b64(&super::xml::text_only(only_child(
        reference,
        NS_DSIG,
        "DigestValue",
    )?)?)?;
    let canonical = exc_c14n(
        doc,
        signed,
        Some(sig.id()),
        &inclusive_prefixes(transforms[1])?,
    );
    let got = aws_lc_rs::digest::digest(digest, canonical.as_bytes());
    if !secret::ct_eq_bytes(got.as_ref(), &want) {
        return Err(SignatureError::DigestMismatch);
    }
    let info_c14n = exc_c14n(doc, info, None, &inclusive_prefixes(c14n)?);
    let value = b64(&super::xml::text_only(only_child(
        sig,
        NS_DSIG,
        "SignatureValue",
    )?)?)?;
    if keys
        .iter()
        .any(|k| k.verify(&method, info_c14n.as_bytes(), &value))
    {
        Ok(())
    } else {
        Err(SignatureError::NotByIdp)
    }
}
