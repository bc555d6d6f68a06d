//! The kinds of connector Gantry implements, as one enum: the config check, the connector
//! builder, the secrets each keeps and the admin API all name kinds through it.

use serde::{Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectorKind {
    /// The built-in password connector: Gantry adds it, no file or admin names it.
    Local,
    Ldap,
    Oidc,
    OAuth,
    Saml,
    Github,
    Gitlab,
    /// Dex's development connector: logs anyone in as one fixed user, without a password.
    /// Only in a config file, only for an issuer on this machine (see `validate`).
    MockCallback,
    Microsoft,
    Google,
}

impl ConnectorKind {
    /// The kinds a config file or an admin may name (Dex's names).
    pub const CONFIGURABLE: [ConnectorKind; 8] = [
        ConnectorKind::Ldap,
        ConnectorKind::Oidc,
        ConnectorKind::OAuth,
        ConnectorKind::Saml,
        ConnectorKind::Github,
        ConnectorKind::Gitlab,
        ConnectorKind::Microsoft,
        ConnectorKind::Google,
    ];

    /// The name in the config's `type`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ConnectorKind::Local => "local",
            ConnectorKind::Ldap => "ldap",
            ConnectorKind::Oidc => "oidc",
            ConnectorKind::OAuth => "oauth",
            ConnectorKind::Saml => "saml",
            ConnectorKind::Github => "github",
            ConnectorKind::Gitlab => "gitlab",
            ConnectorKind::MockCallback => "mockCallback",
            ConnectorKind::Microsoft => "microsoft",
            ConnectorKind::Google => "google",
        }
    }

    /// A kind a config or an admin may name, by its exact name. `local` is none: it is
    /// Gantry's own, and a second one would shadow it.
    pub fn parse(s: &str) -> Option<ConnectorKind> {
        ConnectorKind::CONFIGURABLE
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for ConnectorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ConnectorKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A connector `type` Gantry does not implement: one of Dex's it lacks (keystone, linkedin,
/// ...), or no connector type at all (a slip: `githib`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", describe(.0))]
pub struct UnsupportedKind(pub String);

/// Dex's connector types (server/connector.go), for telling "not yet" from
/// "no such type".
const DEX_KINDS: &[&str] = &[
    "keystone",
    "mockCallback",
    "mockPassword",
    "ldap",
    "github",
    "gitlab",
    "oidc",
    "oauth",
    "saml",
    "google",
    "linkedin",
    "microsoft",
    "bitbucket-cloud",
    "openshift",
    "atlassian-crowd",
    "authproxy",
    "gitea",
    "samlExperimental",
];

fn describe(name: &str) -> String {
    let names: Vec<&str> = ConnectorKind::CONFIGURABLE
        .map(ConnectorKind::as_str)
        .to_vec();
    let have = super::yaml::one_of(&names);
    if name == ConnectorKind::Local.as_str() {
        return format!(
            "connector type `local` is not supported here: the built-in password connector is \
             on with enablePasswordDB or staticPasswords; Gantry has {have}"
        );
    }
    if DEX_KINDS.contains(&name) {
        return format!("connector type `{name}` is not supported yet; Gantry has {have}");
    }
    let mut known = names.clone();
    known.extend(DEX_KINDS.iter().filter(|k| !names.contains(k)));
    match super::yaml::suggest(name, &known) {
        Some(s) => format!("unknown connector type `{name}`; did you mean `{s}`?"),
        None => format!("unknown connector type `{name}`; Gantry has {have}"),
    }
}

impl super::ConnectorConfig {
    /// The `type` of this entry as a kind Gantry builds: a configurable one, or Dex's
    /// development connector, which only a file may name (never the admin API).
    pub fn connector_kind(&self) -> Result<ConnectorKind, UnsupportedKind> {
        if self.kind == ConnectorKind::MockCallback.as_str() {
            return Ok(ConnectorKind::MockCallback);
        }
        ConnectorKind::parse(&self.kind).ok_or_else(|| UnsupportedKind(self.kind.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_local_is_not_configurable() {
        for k in ConnectorKind::CONFIGURABLE {
            assert_eq!(ConnectorKind::parse(k.as_str()), Some(k));
        }
        for other in ["local", "GitHub", "Google", "mockCallback", "LDAP", ""] {
            assert_eq!(ConnectorKind::parse(other), None, "{other}");
        }
    }
}
