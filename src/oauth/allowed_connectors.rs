//! Which connectors a client may log in through: Dex's `allowedConnectors`. The chooser shows
//! only those, a client with one skips it, and every path that logs in through a connector (the
//! browser login, the password, refresh and token-exchange grants, a device's login) refuses
//! the others. An empty list allows every connector, as in Dex.
//!
//! A request is checked again where the login happens, not only where it starts: the login
//! page's address names its connector, and anyone can edit an address.

use std::sync::Arc;

use crate::connector::Connector;
use crate::oauth::Provider;
use crate::oauth::client::Client;
use crate::oauth::error::OAuthError;
use crate::storage::auth::AuthRequest;

/// What a page says when a client may use no connector that exists (its list names only
/// connectors an admin deleted since).
pub const NO_CONNECTOR: &str =
    "No login method is available for this application. Tell its administrator.";

/// What a grant says when the client may not use the connector it would log in through (Dex's
/// `invalid_grant` and wording).
pub fn not_allowed() -> OAuthError {
    OAuthError::invalid_grant("connector not allowed for this client")
}

/// Where a new login goes: straight to one connector, or to a choice among several.
#[derive(Debug)]
pub enum Entry {
    Connector(String),
    Choose(Vec<Arc<Connector>>),
}

/// Why a new login cannot go anywhere.
#[derive(Debug, PartialEq, Eq)]
pub enum NoEntry {
    /// `connector_id` names no connector.
    Unknown,
    /// `connector_id` names a connector the client may not use.
    NotAllowed,
    /// The client may use no connector there is.
    NoneLeft,
}

impl Provider {
    /// The connectors `client` may log in through, in the chooser's order (Dex's `Filter`).
    pub fn connectors_for(&self, client: &Client) -> Vec<Arc<Connector>> {
        self.connectors
            .all()
            .into_iter()
            .filter(|c| client.connector_allowed(c.id()))
            .collect()
    }

    /// Where a new login of `client` goes: the connector `named` (a request's `connector_id`),
    /// else the only one the client may use unless `alwaysShowLoginScreen`, else a choice
    /// among those it may use.
    pub(crate) fn entry(&self, client: &Client, named: Option<&str>) -> Result<Entry, NoEntry> {
        if let Some(id) = named.filter(|s| !s.is_empty()) {
            return match self.connector(id) {
                None => Err(NoEntry::Unknown),
                Some(_) if !client.connector_allowed(id) => Err(NoEntry::NotAllowed),
                Some(c) => Ok(Entry::Connector(c.id().to_string())),
            };
        }
        let usable = self.connectors_for(client);
        match usable.as_slice() {
            [] => Err(NoEntry::NoneLeft),
            [only] if !self.always_show_login => Ok(Entry::Connector(only.id().to_string())),
            _ => Ok(Entry::Choose(usable)),
        }
    }

    /// Whether pending request `req` may log in through `connector_id`: one its client may use,
    /// and the one it was started for when it named one (Dex's "Bad connector ID"). The reason
    /// when not, for the page.
    pub(crate) fn may_log_in_with(
        &self,
        req: &AuthRequest,
        connector_id: &str,
    ) -> Result<(), &'static str> {
        let Some(client) = self.clients.get(&req.client_id) else {
            return Err("the application of this login is no longer registered");
        };
        if !client.connector_allowed(connector_id) {
            tracing::warn!(client = %req.client_id, connector = %connector_id, "login refused: connector not allowed for this client");
            return Err("this application may not log in through this login method");
        }
        if req
            .connector_id
            .as_deref()
            .is_some_and(|c| c != connector_id)
        {
            return Err("this login was started for another login method");
        }
        Ok(())
    }
}
