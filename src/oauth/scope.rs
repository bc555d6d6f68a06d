//! Scope parsing, including Dex's cross-client `audience:server:client_id:X`.

use crate::oauth::client::{Client, Clients};
use crate::oauth::error::{ErrorCode, OAuthError};

const PEER_PREFIX: &str = "audience:server:client_id:";
const KNOWN: &[&str] = &[
    "openid",
    "email",
    "profile",
    "groups",
    "offline_access",
    "federated:id",
];

/// A parsed, checked scope set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes {
    pub list: Vec<String>,
    /// Client ids named by cross-client scopes.
    pub peers: Vec<String>,
}

impl Scopes {
    /// Parse a space-separated scope string, refusing scopes Gantry does not know and peers
    /// that do not trust `client`.
    pub fn parse(s: &str, client: &Client, clients: &Clients) -> Result<Scopes, OAuthError> {
        let mut out = Scopes::default();
        for sc in s.split(' ').filter(|x| !x.is_empty()) {
            if out.list.iter().any(|x| x == sc) {
                continue;
            }
            if let Some(peer) = sc.strip_prefix(PEER_PREFIX) {
                let trusted = peer == client.id
                    || clients
                        .get(peer)
                        .is_some_and(|p| p.trusted_peers.iter().any(|t| t == &client.id));
                if !trusted {
                    return Err(OAuthError::new(
                        ErrorCode::InvalidScope,
                        format!("client {peer} does not trust this client"),
                    ));
                }
                out.peers.push(peer.to_string());
            } else if !KNOWN.contains(&sc) {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    format!("unknown scope {sc}"),
                ));
            }
            out.list.push(sc.to_string());
        }
        Ok(out)
    }

    /// Parse a stored scope string, which was checked when it was granted.
    pub fn stored(s: &str) -> Scopes {
        let list: Vec<String> = s
            .split(' ')
            .filter(|x| !x.is_empty())
            .map(String::from)
            .collect();
        let peers = list
            .iter()
            .filter_map(|x| x.strip_prefix(PEER_PREFIX))
            .map(String::from)
            .collect();
        Scopes { list, peers }
    }

    pub fn has(&self, s: &str) -> bool {
        self.list.iter().any(|x| x == s)
    }

    /// The scopes a connector acts on (refresh tokens upstream, groups).
    pub fn connector(&self) -> crate::connector::Scopes {
        crate::connector::Scopes::of(&self.list)
    }

    pub fn joined(&self) -> String {
        self.list.join(" ")
    }

    /// Whether every scope of `self` was in `granted`.
    pub fn subset_of(&self, granted: &Scopes) -> bool {
        self.list.iter().all(|s| granted.has(s))
    }
}
