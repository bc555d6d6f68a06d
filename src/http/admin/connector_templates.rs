//! A YAML template per connector type for the connector form (templates/connectors/): Dex's
//! keys with example values and what each means. Each builds a connector as it is shown, once
//! the form's secret field is filled (tests/it/connector_templates.rs saves every one through
//! the form), so a template cannot drift from what the server accepts.

use crate::config::ConnectorKind;

/// Where a template names this issuer's callback URL (the redirect URI and SAML ACS).
const CALLBACK: &str = "CALLBACK_URL";

/// The template of a connector type, naming `callback`; none for a type admins cannot create.
pub(super) fn template(kind: &str, callback: &str) -> Option<String> {
    let text = match ConnectorKind::parse(kind)? {
        ConnectorKind::Ldap => include_str!("../../../templates/connectors/ldap.yaml"),
        ConnectorKind::Oidc => include_str!("../../../templates/connectors/oidc.yaml"),
        ConnectorKind::OAuth => include_str!("../../../templates/connectors/oauth.yaml"),
        ConnectorKind::Saml => include_str!("../../../templates/connectors/saml.yaml"),
        ConnectorKind::Github => include_str!("../../../templates/connectors/github.yaml"),
        ConnectorKind::Gitlab => include_str!("../../../templates/connectors/gitlab.yaml"),
        ConnectorKind::Microsoft => include_str!("../../../templates/connectors/microsoft.yaml"),
        ConnectorKind::Google => include_str!("../../../templates/connectors/google.yaml"),
        ConnectorKind::Local | ConnectorKind::MockCallback => return None,
    };
    Some(text.replace(CALLBACK, callback))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_an_admin_can_create_has_a_template_that_reads_as_a_mapping() {
        for kind in crate::admin::connectors::KINDS {
            let t = template(kind, "https://id.example.com/dex/callback").unwrap_or_default();
            assert!(
                t.contains("https://id.example.com/dex/callback") || kind == "ldap",
                "{kind}: names the callback URL to register"
            );
            assert!(!t.contains(CALLBACK), "{kind}");
            let v: serde_json::Value = serde_norway::from_str(&t).unwrap_or_default();
            assert!(v.as_object().is_some_and(|o| !o.is_empty()), "{kind}: {t}");
        }
        assert_eq!(template("local", "x"), None);
        assert_eq!(template("keystone", "x"), None);
    }
}
