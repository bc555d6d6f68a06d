//! What the admin's Test may say about an identity source. Test reaches whatever address an
//! admin types, so its answers are a small fixed set: refused, timed out, an HTTP error and
//! "answered something else" all read "not reachable", no status code or text of the remote
//! host is shown, and of what a remote host sent only the issuer (or SAML entity ID) of a
//! source that proved to be one is named. Otherwise Test would map the networks Gantry sees
//! and read their services to whoever may press it. The cause of a failure goes to the
//! server's log, for the operator.

use serde::Serialize;

use super::egress::Reach;

/// The answers Test gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The source answered as it should; the facts say what was checked.
    Ok,
    /// Nothing answered as this connector expects (refused, timed out, unknown name, an HTTP
    /// error, another protocol): deliberately one answer for all of them.
    Unreachable,
    /// The address is in `connectorNetwork.denyNetworks`: nothing was sent.
    DeniedNetwork,
    /// A TLS server answered, and its certificate or terms were refused.
    TlsFailed,
    /// OIDC: discovery answered, but not as the provider of this issuer Gantry can use.
    NotOpenidProvider,
    /// OIDC: the provider is the one configured, but its signing keys could not be read.
    KeysUnreadable,
    /// OAuth2: the token endpoint refused the client ID or secret.
    ClientRefused,
    /// LDAP: the directory refused the service account's bind.
    BindFailed,
    /// LDAP: bound, but `userSearch.baseDN` was not found or not readable.
    BaseNotFound,
    /// LDAP: bound, but a search failed.
    SearchFailed,
}

impl Outcome {
    /// The sentence shown for a failed Test.
    pub fn says(self) -> &'static str {
        match self {
            Outcome::Ok => "reachable",
            Outcome::Unreachable => {
                "not reachable, or it did not answer as this connector expects (the server \
                 log has the cause)"
            }
            Outcome::DeniedNetwork => {
                "not reachable (denied network): its address is in connectorNetwork.denyNetworks"
            }
            Outcome::TlsFailed => {
                "TLS failed: the server's certificate is not trusted (rootCAs) or its TLS \
                 settings were refused (the server log has the cause)"
            }
            Outcome::NotOpenidProvider => {
                "not an OpenID provider for this issuer: discovery answered for another issuer, \
                 or with endpoints or algorithms Gantry refuses (the server log says which)"
            }
            Outcome::KeysUnreadable => {
                "the provider's signing keys (jwks_uri) could not be read (the server log has \
                 the cause)"
            }
            Outcome::ClientRefused => "the token endpoint refused the client ID or secret",
            Outcome::BindFailed => {
                "LDAP service bind failed: the directory refused bindDN and bindPW"
            }
            Outcome::BaseNotFound => {
                "userSearch.baseDN does not exist, or the service account cannot read it"
            }
            Outcome::SearchFailed => "an LDAP search failed (the server log has the cause)",
        }
    }
}

impl From<Reach> for Outcome {
    fn from(r: Reach) -> Self {
        match r {
            Reach::Denied => Outcome::DeniedNetwork,
            Reach::Tls => Outcome::TlsFailed,
            Reach::NoAnswer => Outcome::Unreachable,
        }
    }
}

/// What one Test found.
#[derive(Debug, Clone)]
pub struct Probe {
    pub outcome: Outcome,
    /// What was checked, in fixed words with values from the config, counts, and the issuer
    /// of a provider that proved to be the one configured.
    pub facts: Vec<String>,
    /// Why it failed, for the server log only: it may hold what the remote host sent.
    pub detail: Option<String>,
}

impl Probe {
    pub fn passed(facts: Vec<String>) -> Probe {
        Probe {
            outcome: Outcome::Ok,
            facts,
            detail: None,
        }
    }

    pub fn failed(outcome: Outcome, detail: impl std::fmt::Display) -> Probe {
        Probe {
            outcome,
            facts: Vec::new(),
            detail: Some(detail.to_string()),
        }
    }

    /// The same, after `facts` had been found.
    pub fn after(mut self, facts: Vec<String>) -> Probe {
        self.facts = facts;
        self
    }

    pub fn ok(&self) -> bool {
        self.outcome == Outcome::Ok
    }
}

/// The fact of how a URL was reached: over TLS or in the clear.
pub fn transport_fact(url: &str) -> String {
    if url.starts_with("https://") {
        "reachable over TLS, certificate trusted".into()
    } else {
        "reachable over plain http".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_says_something_fixed() {
        for o in [
            Outcome::Unreachable,
            Outcome::DeniedNetwork,
            Outcome::TlsFailed,
            Outcome::NotOpenidProvider,
            Outcome::KeysUnreadable,
            Outcome::ClientRefused,
            Outcome::BindFailed,
            Outcome::BaseNotFound,
            Outcome::SearchFailed,
        ] {
            assert!(!o.says().is_empty());
            assert!(!Probe::failed(o, "cause").ok());
        }
        assert_eq!(
            serde_json::to_value(Outcome::DeniedNetwork).unwrap(),
            "denied_network"
        );
        assert!(
            Outcome::from(Reach::Denied)
                .says()
                .contains("denied network")
        );
    }
}
