//! Registered clients: authentication and redirect URI matching.
//!
//! Redirect URIs match exactly. The one exception is RFC 8252 loopback redirects of public
//! (native) clients, whose port may vary.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::config::{GrantType, StaticClient};
use crate::oauth::error::OAuthError;
use crate::secret;

#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    /// SHA-256 of the secret; `None` for public clients.
    pub secret_hash: Option<String>,
    pub redirect_uris: Vec<String>,
    pub trusted_peers: Vec<String>,
    pub public: bool,
    pub name: String,
    pub logo_url: Option<String>,
    /// `None`: every grant the server allows (no list in the config or the admin's form);
    /// otherwise these only.
    pub grant_types: Option<Vec<GrantType>>,
    pub post_logout_redirect_uris: Vec<String>,
    pub require_pkce: bool,
    /// Dex's `allowedConnectors`: the connectors this client may log in through; empty, every
    /// one.
    pub allowed_connectors: Vec<String>,
    /// Dex's `backchannelLogoutURI`: where a logout token is POSTed when a session the client
    /// logged in to ends (OpenID Connect Back-Channel Logout 1.0); `None`, never told.
    pub backchannel_logout_uri: Option<String>,
    /// Dex master's `mfaChain`: the authenticators a login must pass; `None`: the server's
    /// `mfa.defaultMFAChain`; empty: none.
    pub mfa_chain: Option<Vec<String>>,
    /// Dex's `ssoSharedWith`: the clients a login to this one signs in without a form (`*`:
    /// all); `None` follows `sessions.ssoSharedWithDefault`.
    pub sso_shared_with: Option<Vec<String>>,
    /// Dex's `refreshTokenLifetime: session`: refresh tokens end with the browser session.
    pub refresh_bound_to_session: bool,
    /// The version of a database client's row (see `admin::version`); empty for the config
    /// file's.
    pub version: String,
}

impl Client {
    pub fn from_config(c: &StaticClient) -> Client {
        Client {
            id: c.id.clone().unwrap_or_default(),
            secret_hash: if c.public {
                None
            } else {
                c.secret.as_deref().map(secret::hash_secret)
            },
            // Dex's relative device callback (`/dex/device/callback`, the only relative URI the
            // config check lets through) marks a device-flow client; no browser is sent there.
            redirect_uris: c
                .redirect_uris
                .iter()
                .filter(|u| url::Url::parse(u).is_ok())
                .cloned()
                .collect(),
            trusted_peers: c.trusted_peers.clone(),
            public: c.public,
            name: if c.name.is_empty() {
                c.id.clone().unwrap_or_default()
            } else {
                c.name.clone()
            },
            logo_url: c.logo_url.clone(),
            grant_types: grants_named(&c.grant_types),
            post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
            require_pkce: c.require_pkce || c.public,
            allowed_connectors: c.allowed_connectors.clone(),
            // Empty means unset in Dex: the client does not take part.
            backchannel_logout_uri: c.backchannel_logout_uri.clone().filter(|u| !u.is_empty()),
            mfa_chain: c.mfa_chain.clone(),
            sso_shared_with: c.sso_shared_with.clone(),
            refresh_bound_to_session: c.refresh_token_lifetime.as_deref() == Some("session"),
            version: String::new(),
        }
    }

    /// Whether this client may log in through connector `id` (Dex's `ConnectorAllowed`).
    pub fn connector_allowed(&self, id: &str) -> bool {
        self.allowed_connectors.is_empty() || self.allowed_connectors.iter().any(|a| a == id)
    }

    /// Whether a login to this client signs the user in to `target` without a form (Dex's
    /// `ClientSharesWith`); `share_all` is `sessions.ssoSharedWithDefault: all`.
    pub fn shares_with(&self, target: &str, share_all: bool) -> bool {
        match &self.sso_shared_with {
            None => share_all,
            Some(peers) => peers.iter().any(|p| p == "*" || p == target),
        }
    }

    /// Whether `uri` is one this client registered.
    pub fn redirect_allowed(&self, uri: &str) -> bool {
        if self.redirect_uris.iter().any(|r| r == uri) {
            return true;
        }
        // The admin UI is a web application served by Gantry, not a native app: its one
        // callback is exact even on a loopback issuer, where another port is another program.
        if !self.public || self.id == crate::config::ADMIN_CLIENT {
            return false;
        }
        let Ok(asked) = url::Url::parse(uri) else {
            return false;
        };
        if !is_loopback(&asked) {
            return false;
        }
        // A public client without registered URIs may use any loopback URI, as in Dex.
        if self.redirect_uris.is_empty() {
            return true;
        }
        self.redirect_uris
            .iter()
            .filter_map(|r| url::Url::parse(r).ok())
            .any(|reg| {
                is_loopback(&reg)
                    && reg.host() == asked.host()
                    && reg.path() == asked.path()
                    && reg.query() == asked.query()
            })
    }

    /// Whether this client may use `grant`, given what the server allows. A public client may
    /// use token exchange only when its `grantTypes` name it: anyone can present a public
    /// client's id, so by default it must not turn upstream tokens into Gantry's.
    pub fn grant_allowed(&self, grant: GrantType, server: &[GrantType]) -> bool {
        let per_client = match &self.grant_types {
            None => {
                grant != GrantType::ClientCredentials
                    && !(self.public && grant == GrantType::TokenExchange)
            }
            Some(listed) => listed.contains(&grant),
        };
        per_client && server.contains(&grant)
    }

    /// The client's own grant list as written, empty for none.
    pub fn grant_names(&self) -> Vec<String> {
        self.grant_types
            .iter()
            .flatten()
            .map(|g| g.as_str().to_string())
            .collect()
    }
}

/// A client's grant list from its names: `None` (the server's) for an empty list. A name that
/// is no grant is left out, never widening the list: one that names nothing known allows none.
pub fn grants_named(names: &[String]) -> Option<Vec<GrantType>> {
    (!names.is_empty()).then(|| names.iter().filter_map(|n| GrantType::parse(n)).collect())
}

fn is_loopback(u: &url::Url) -> bool {
    u.scheme() == "http"
        && match u.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d == "localhost",
            None => false,
        }
}

/// Every client the server knows: the config file's, and those an admin created (kept in the
/// database, swapped in whole when any replica changes them).
#[derive(Debug, Default)]
pub struct Clients {
    statics: HashMap<String, Arc<Client>>,
    dynamic: RwLock<Arc<HashMap<String, Arc<Client>>>>,
}

impl Clients {
    pub fn new(clients: impl IntoIterator<Item = Client>) -> Clients {
        Clients {
            statics: clients
                .into_iter()
                .map(|c| (c.id.clone(), Arc::new(c)))
                .collect(),
            dynamic: RwLock::default(),
        }
    }

    fn snapshot(&self) -> Arc<HashMap<String, Arc<Client>>> {
        match self.dynamic.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Replace the database clients; an id the config file also has stays the file's.
    pub fn replace_dynamic(&self, clients: Vec<Client>) {
        let map: HashMap<String, Arc<Client>> = clients
            .into_iter()
            .filter(|c| !self.statics.contains_key(&c.id))
            .map(|c| (c.id.clone(), Arc::new(c)))
            .collect();
        match self.dynamic.write() {
            Ok(mut g) => *g = Arc::new(map),
            Err(p) => *p.into_inner() = Arc::new(map),
        }
    }

    pub fn len(&self) -> usize {
        self.statics.len() + self.snapshot().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the client comes from the config file (read-only for admins).
    pub fn is_static(&self, id: &str) -> bool {
        self.statics.contains_key(id)
    }

    pub fn get(&self, id: &str) -> Option<Arc<Client>> {
        self.statics
            .get(id)
            .cloned()
            .or_else(|| self.snapshot().get(id).cloned())
    }

    /// Every client, the file's first, each sorted by id.
    pub fn all(&self) -> Vec<Arc<Client>> {
        let mut s: Vec<Arc<Client>> = self.statics.values().cloned().collect();
        s.sort_by(|a, b| a.id.cmp(&b.id));
        let mut d: Vec<Arc<Client>> = self.snapshot().values().cloned().collect();
        d.sort_by(|a, b| a.id.cmp(&b.id));
        s.extend(d);
        s
    }

    /// Authenticate a client from its id and presented secret. Public clients have no secret;
    /// a confidential one must present its own, compared in constant time.
    pub fn authenticate(&self, id: &str, secret: Option<&str>) -> Result<Arc<Client>, OAuthError> {
        let Some(c) = self.get(id) else {
            return Err(OAuthError::invalid_client());
        };
        match (&c.secret_hash, secret) {
            (None, _) => Ok(c),
            (Some(h), Some(s)) if secret::ct_eq(h, &secret::hash_secret(s)) => Ok(c),
            _ => Err(OAuthError::invalid_client()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(public: bool, uris: &[&str]) -> Client {
        Client {
            id: "c".into(),
            secret_hash: None,
            redirect_uris: uris.iter().map(|s| s.to_string()).collect(),
            trusted_peers: vec![],
            public,
            name: "c".into(),
            logo_url: None,
            grant_types: None,
            post_logout_redirect_uris: vec![],
            require_pkce: public,
            allowed_connectors: vec![],
            backchannel_logout_uri: None,
            mfa_chain: None,
            sso_shared_with: None,
            refresh_bound_to_session: false,
            version: String::new(),
        }
    }

    #[test]
    fn dex_s_session_keys_reach_the_client() {
        let c = Client::from_config(&StaticClient {
            id: Some("a".into()),
            sso_shared_with: Some(vec!["other".into()]),
            refresh_token_lifetime: Some("session".into()),
            ..Default::default()
        });
        assert!(c.refresh_bound_to_session);
        assert!(c.shares_with("other", false) && !c.shares_with("third", true));
        let c = Client::from_config(&StaticClient {
            refresh_token_lifetime: Some("standalone".into()),
            ..Default::default()
        });
        assert!(!c.refresh_bound_to_session && !c.shares_with("x", false));
    }

    #[test]
    fn sso_sharing_is_dex_s_share_list_or_the_default() {
        let mut c = client(false, &[]);
        assert!(!c.shares_with("b", false));
        assert!(
            c.shares_with("b", true),
            "no list: ssoSharedWithDefault all"
        );
        c.sso_shared_with = Some(vec![]);
        assert!(
            !c.shares_with("b", true),
            "an empty list shares with no one"
        );
        c.sso_shared_with = Some(vec!["b".into()]);
        assert!(c.shares_with("b", false) && !c.shares_with("x", true));
        c.sso_shared_with = Some(vec!["*".into()]);
        assert!(c.shares_with("x", false));
    }

    #[test]
    fn confidential_clients_match_exactly() {
        let c = client(false, &["https://app.example/cb"]);
        assert!(c.redirect_allowed("https://app.example/cb"));
        assert!(!c.redirect_allowed("https://app.example/cb/"));
        assert!(!c.redirect_allowed("https://app.example/cb?x=1"));
        assert!(!c.redirect_allowed("https://APP.example/cb"));
    }

    #[test]
    fn the_admin_ui_callback_matches_exactly_even_on_a_loopback_issuer() {
        let mut admin = client(true, &["http://127.0.0.1:5556/dex/admin/callback"]);
        assert!(admin.redirect_allowed("http://127.0.0.1:9999/dex/admin/callback"));
        admin.id = crate::config::ADMIN_CLIENT.into();
        assert!(admin.redirect_allowed("http://127.0.0.1:5556/dex/admin/callback"));
        assert!(!admin.redirect_allowed("http://127.0.0.1:9999/dex/admin/callback"));
        assert!(!admin.redirect_allowed("http://127.0.0.1:80/dex/admin/callback"));
    }

    #[test]
    fn native_loopback_redirects_may_change_port_only() {
        let c = client(true, &["http://127.0.0.1:8000/callback"]);
        assert!(c.redirect_allowed("http://127.0.0.1:51234/callback"));
        assert!(!c.redirect_allowed("http://127.0.0.1:51234/other"));
        assert!(!c.redirect_allowed("http://127.0.0.2.evil.example:80/callback"));
        assert!(!c.redirect_allowed("https://evil.example/callback"));
    }

    #[test]
    fn public_clients_exchange_tokens_only_when_their_grant_list_says_so() {
        use GrantType::{AuthorizationCode, TokenExchange};
        let server = [AuthorizationCode, TokenExchange];
        let mut public = client(true, &[]);
        assert!(public.grant_allowed(AuthorizationCode, &server));
        assert!(!public.grant_allowed(TokenExchange, &server));
        public.grant_types = Some(vec![TokenExchange]);
        assert!(public.grant_allowed(TokenExchange, &server));
        assert!(client(false, &[]).grant_allowed(TokenExchange, &server));
    }

    #[test]
    fn grant_lists_narrow_the_server_list() {
        use GrantType::{AuthorizationCode, ClientCredentials, Password, RefreshToken};
        let server = [AuthorizationCode, RefreshToken, ClientCredentials];
        let mut c = client(false, &[]);
        assert!(c.grant_allowed(AuthorizationCode, &server));
        assert!(!c.grant_allowed(ClientCredentials, &server));
        assert!(!c.grant_allowed(Password, &server));
        c.grant_types = Some(vec![ClientCredentials]);
        assert!(c.grant_allowed(ClientCredentials, &server));
        assert!(!c.grant_allowed(AuthorizationCode, &server));
        assert!(!c.grant_allowed(ClientCredentials, &server[..2]));
    }

    #[test]
    fn an_empty_connector_list_allows_every_connector_a_list_only_its_own() {
        let mut c = client(false, &[]);
        assert!(c.connector_allowed("local") && c.connector_allowed("sso"));
        c.allowed_connectors = vec!["sso".into()];
        assert!(c.connector_allowed("sso"));
        assert!(!c.connector_allowed("local"));
        assert!(!c.connector_allowed("ss"), "whole ids only");
        assert!(!c.connector_allowed(""));
    }

    #[test]
    fn an_empty_backchannel_logout_uri_is_none_as_in_dex() {
        let mut c = StaticClient {
            id: Some("c".into()),
            backchannel_logout_uri: Some(String::new()),
            ..Default::default()
        };
        assert_eq!(Client::from_config(&c).backchannel_logout_uri, None);
        c.backchannel_logout_uri = Some("https://app.example/bcl".into());
        assert_eq!(
            Client::from_config(&c).backchannel_logout_uri.as_deref(),
            Some("https://app.example/bcl")
        );
    }

    #[test]
    fn a_grant_list_of_unknown_names_allows_nothing_rather_than_everything() {
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(grants_named(&[]), None);
        assert_eq!(grants_named(&names(&["implicit"])), Some(vec![]));
        let mut c = client(false, &[]);
        c.grant_types = grants_named(&names(&["implicit"]));
        assert!(!c.grant_allowed(GrantType::AuthorizationCode, &GrantType::ALL));
        assert_eq!(
            grants_named(&names(&["implicit", "refresh_token"])),
            Some(vec![GrantType::RefreshToken])
        );
    }
}
