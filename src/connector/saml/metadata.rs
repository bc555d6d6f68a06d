//! SAML metadata: reading an IdP's (entity ID, HTTP-Redirect SSO URL, signing certificates)
//! and writing Gantry's own SP metadata for the IdP admin to import.

use base64::Engine;

use super::dsig::IdpKey;
use super::xml::{self, escape, is};

const NS_MD: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
const REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
const POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

/// What an IdP's metadata says.
#[derive(Debug, Clone)]
pub struct IdpMetadata {
    pub entity_id: String,
    pub sso_url: String,
    pub keys: Vec<IdpKey>,
}

/// Why an IdP's metadata cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("{0}")]
    Xml(#[from] xml::XmlError),
    #[error("the metadata describes no identity provider")]
    NoIdp,
    #[error("the identity provider offers no HTTP-Redirect single sign-on")]
    NoRedirectSso,
    #[error("a metadata certificate is not base64")]
    CertNotBase64,
    #[error("{0}")]
    Cert(#[from] super::dsig::CertError),
    #[error("the metadata has no signing certificate")]
    NoSigningCert,
    #[error("the metadata has no entityID")]
    NoEntityId,
}

/// Parse an IdP's `EntityDescriptor` (or the first one of an `EntitiesDescriptor`).
pub fn parse_idp(text: &str) -> Result<IdpMetadata, MetadataError> {
    let doc = xml::parse_metadata(text)?;
    let entity = doc
        .descendants()
        .find(|n| {
            is(*n, NS_MD, "EntityDescriptor")
                && n.children().any(|c| is(c, NS_MD, "IDPSSODescriptor"))
        })
        .ok_or(MetadataError::NoIdp)?;
    let idp = entity
        .children()
        .find(|c| is(*c, NS_MD, "IDPSSODescriptor"))
        .ok_or(MetadataError::NoIdp)?;
    let sso_url = idp
        .children()
        .find(|c| is(*c, NS_MD, "SingleSignOnService") && c.attribute("Binding") == Some(REDIRECT))
        .and_then(|c| c.attribute("Location"))
        .ok_or(MetadataError::NoRedirectSso)?
        .to_string();
    let mut keys = Vec::new();
    for kd in idp.children().filter(|c| is(*c, NS_MD, "KeyDescriptor")) {
        if kd.attribute("use").is_some_and(|u| u != "signing") {
            continue;
        }
        for cert in kd
            .descendants()
            .filter(|n| is(*n, xml::NS_DSIG, "X509Certificate"))
        {
            let b64: String = xml::text_only(cert)?
                .chars()
                .filter(|c| !c.is_ascii_whitespace())
                .collect();
            let der = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| MetadataError::CertNotBase64)?;
            keys.push(IdpKey::from_der(&der)?);
        }
    }
    if keys.is_empty() {
        return Err(MetadataError::NoSigningCert);
    }
    Ok(IdpMetadata {
        entity_id: entity
            .attribute("entityID")
            .ok_or(MetadataError::NoEntityId)?
            .to_string(),
        sso_url,
        keys,
    })
}

/// Gantry's SP metadata: its entity ID, where it takes responses (HTTP-POST), the NameID
/// format it asks for, and that it wants assertions signed.
pub fn sp_metadata(entity_id: &str, acs: &str, name_id_format: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="{NS_MD}" entityID="{}">
  <md:SPSSODescriptor AuthnRequestsSigned="false" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:NameIDFormat>{}</md:NameIDFormat>
    <md:AssertionConsumerService Binding="{POST}" Location="{}" index="0" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>
"#,
        escape(entity_id),
        escape(name_id_format),
        escape(acs)
    )
}
