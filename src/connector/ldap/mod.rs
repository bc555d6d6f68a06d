//! The LDAP connector: find the user with the service account, bind as the user's DN to check
//! the password, then read groups (nested ones through `recursionGroupAttr`, in `groups`).
//!
//! Never sends an empty password to a bind (an unauthenticated bind succeeds on many servers),
//! never puts a username in a filter unescaped (RFC 4515), and never picks one of several
//! entries that match a username.

mod ber;
pub mod config;
mod frame;
mod groups;
mod pool;
mod relay;
mod transport;

pub use transport::TlsSetupError;

use ldap3::{Ldap, LdapError, Scope, SearchEntry, SearchOptions, ldap_escape};
use serde::{Deserialize, Serialize};

use crate::connector::egress::DenyList;
use crate::connector::probe::{Outcome, Probe};
use crate::connector::{ConnectorError, PasswordCheck};
use crate::identity::Identity;
use config::LdapConfig;
use pool::{Failed, Pool, Unavailable};
use transport::Security;

#[derive(Debug)]
pub struct LdapConnector {
    id: String,
    cfg: LdapConfig,
    pool: Pool,
}

/// What a refresh needs to find the user again.
#[derive(Debug, Serialize, Deserialize)]
struct RefreshData {
    username: String,
    dn: String,
}

impl From<Unavailable> for ConnectorError {
    fn from(e: Unavailable) -> Self {
        ConnectorError::Unavailable(format!("LDAP: {}", e.detail))
    }
}

fn scope(s: &Option<String>) -> Scope {
    match s.as_deref() {
        Some("one") => Scope::OneLevel,
        _ => Scope::Subtree,
    }
}

/// A filter with parentheses, as Dex accepts both `objectClass=x` and `(objectClass=x)`.
fn wrap(f: &str) -> String {
    let f = f.trim();
    if f.is_empty() || f.starts_with('(') {
        f.to_string()
    } else {
        format!("({f})")
    }
}

fn and(base: &str, clause: String) -> String {
    let base = wrap(base);
    if base.is_empty() {
        clause
    } else {
        format!("(&{base}{clause})")
    }
}

/// `(attr=value)` for each attribute of a comma-separated list, OR-ed.
fn any_attr_equals(attrs: &str, value: &str) -> String {
    let v = ldap_escape(value);
    let parts: Vec<String> = attrs
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| format!("({a}={v})"))
        .collect();
    if parts.len() == 1 {
        parts.concat()
    } else {
        format!("(|{})", parts.concat())
    }
}

fn first(e: &SearchEntry, attr: &str) -> Option<String> {
    if attr.eq_ignore_ascii_case("DN") {
        return Some(e.dn.clone());
    }
    e.attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(attr))
        .and_then(|(_, v)| v.first().cloned())
}

fn all(e: &SearchEntry, attr: &str) -> Vec<String> {
    if attr.eq_ignore_ascii_case("DN") {
        return vec![e.dn.clone()];
    }
    e.attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(attr))
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

type SearchResult = Result<Vec<SearchEntry>, LdapError>;

fn search<'a>(
    l: &'a mut Ldap,
    timeout: std::time::Duration,
    base: String,
    scope: Scope,
    filter: String,
    attrs: Vec<String>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = SearchResult> + Send + 'a>> {
    Box::pin(async move {
        let (entries, _) = l
            .with_timeout(timeout)
            .search(&base, scope, &filter, attrs)
            .await?
            .success()?;
        Ok(entries.into_iter().map(SearchEntry::construct).collect())
    })
}

impl LdapConnector {
    pub fn new(id: &str, cfg: LdapConfig, deny: &DenyList) -> Result<LdapConnector, TlsSetupError> {
        let pool = Pool::new(&cfg, deny)?;
        Ok(LdapConnector {
            id: id.to_string(),
            cfg,
            pool,
        })
    }

    pub fn prompt(&self) -> &str {
        self.cfg
            .username_prompt
            .as_deref()
            .filter(|p| !p.is_empty())
            .unwrap_or("Username")
    }

    /// LDAP operations sent so far, and connections opened.
    pub fn operations(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.pool.operations.load(Relaxed),
            self.pool.dials.load(Relaxed),
        )
    }

    fn user_attrs(&self) -> Vec<String> {
        let u = &self.cfg.user_search;
        let mut attrs: Vec<String> = [
            u.id_attr.as_deref().unwrap_or("uid"),
            u.email_attr.as_deref().unwrap_or("mail"),
            u.name_attr.as_deref().unwrap_or("cn"),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        attrs.extend(u.username.split(',').map(|a| a.trim().to_string()));
        attrs.extend(u.preferred_username_attr.clone());
        if let Some(g) = &self.cfg.group_search {
            attrs.extend(g.matchers().into_iter().map(|m| m.user_attr));
        }
        attrs.retain(|a| !a.eq_ignore_ascii_case("DN"));
        attrs.sort();
        attrs.dedup();
        attrs
    }

    /// The one entry for `username`; `None` when there is none. Several is an error.
    async fn find_user(&self, username: &str) -> Result<Option<SearchEntry>, ConnectorError> {
        let u = &self.cfg.user_search;
        let filter = and(&u.filter, any_attr_equals(&u.username, username));
        let (base, sc, attrs, t) = (
            u.base_dn.clone(),
            scope(&u.scope),
            self.user_attrs(),
            self.pool.op_timeout,
        );
        let mut entries = self
            .pool
            .with_service(|l| {
                self.pool.count();
                search(l, t, base.clone(), sc, filter.clone(), attrs.clone())
            })
            .await?;
        match entries.len() {
            0 => Ok(None),
            1 => Ok(entries.pop()),
            n => {
                tracing::error!(connector = %self.id, username, entries = n, "ldap: username matches several entries; refusing");
                Err(ConnectorError::Ambiguous)
            }
        }
    }

    /// Groups of a user entry: direct, then their parents (see `groups`).
    async fn groups(&self, user: &SearchEntry) -> Result<Vec<String>, ConnectorError> {
        let Some(gs) = &self.cfg.group_search else {
            return Ok(Vec::new());
        };
        let name_attr = gs.name_attr.clone().unwrap_or_else(|| "cn".into());
        let mut names: Vec<String> = Vec::new();
        for m in gs.matchers() {
            let found = groups::walk(&gs.filter, &m, all(user, &m.user_attr), |filter| {
                self.search_groups(gs, &name_attr, filter)
            })
            .await?;
            for n in found {
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        }
        Ok(names)
    }

    async fn search_groups(
        &self,
        gs: &config::GroupSearch,
        name_attr: &str,
        filter: String,
    ) -> Result<Vec<groups::Found>, ConnectorError> {
        let attrs = vec![name_attr.to_string()];
        let (base, sc, t) = (gs.base_dn.clone(), scope(&gs.scope), self.pool.op_timeout);
        let entries = self
            .pool
            .with_service(|l| {
                self.pool.count();
                search(l, t, base.clone(), sc, filter.clone(), attrs.clone())
            })
            .await?;
        Ok(entries
            .into_iter()
            .map(|e| groups::Found {
                names: all(&e, name_attr),
                dn: e.dn,
            })
            .collect())
    }

    async fn identity(&self, username: &str, e: &SearchEntry) -> Result<Identity, ConnectorError> {
        let u = &self.cfg.user_search;
        let login_attr = u.username.split(',').next().unwrap_or("uid").trim();
        let login_value = first(e, login_attr).unwrap_or_else(|| username.to_string());
        let email = match (
            first(e, u.email_attr.as_deref().unwrap_or("mail")),
            &u.email_suffix,
        ) {
            (Some(m), _) => m,
            (None, Some(sfx)) if !sfx.is_empty() => format!("{login_value}@{sfx}"),
            _ => String::new(),
        };
        let Some(user_id) = first(e, u.id_attr.as_deref().unwrap_or("uid")) else {
            return Err(ConnectorError::Unavailable(format!(
                "LDAP: entry {} has no id attribute",
                e.dn
            )));
        };
        let data = RefreshData {
            username: username.to_string(),
            dn: e.dn.clone(),
        };
        Ok(Identity {
            user_id,
            username: first(e, u.name_attr.as_deref().unwrap_or("cn"))
                .unwrap_or_else(|| login_value.clone()),
            preferred_username: u
                .preferred_username_attr
                .as_deref()
                .and_then(|a| first(e, a))
                .unwrap_or(login_value),
            email,
            email_verified: true,
            groups: self.groups(e).await?,
            connector_id: self.id.clone(),
            connector_data: serde_json::to_string(&data).ok(),
        })
    }

    /// The admin's Test: on a new connection, bind as the service account and read the entry
    /// at `userSearch.baseDN`, then count the groups when `groupSearch` is set. Each step that
    /// fails says which, in Test's fixed words (the directory's own messages go to the log);
    /// nothing passes without the directory having answered.
    pub async fn probe(&self) -> Probe {
        let mut l = match self.pool.fresh_service().await {
            Ok(l) => l,
            Err(e) => {
                let outcome = match e.failed {
                    Failed::Reach(r) => r.into(),
                    Failed::ServiceBind => Outcome::BindFailed,
                };
                let facts = match e.failed {
                    Failed::ServiceBind => vec![self.transport_fact()],
                    Failed::Reach(_) => Vec::new(),
                };
                return Probe::failed(outcome, e).after(facts);
            }
        };
        let mut facts = vec![
            self.transport_fact(),
            match self.pool.bind_dn() {
                Some(dn) => format!("bound as the service account {dn}"),
                None => "bound anonymously (no bindDN)".to_string(),
            },
        ];
        let base = &self.cfg.user_search.base_dn;
        self.pool.count();
        let read = l
            .with_timeout(self.pool.op_timeout)
            .with_search_options(SearchOptions::new().sizelimit(1))
            .search(base, Scope::Base, "(objectClass=*)", vec!["1.1"])
            .await;
        // The connection was only for this test.
        let _ = l.unbind().await;
        let found = match read.map(|r| r.success()) {
            Ok(Ok((entries, _))) => !entries.is_empty(),
            Ok(Err(LdapError::LdapResult { result })) if result.rc == 32 => false,
            Ok(Err(e)) | Err(e) => {
                facts.push(format!("searched userSearch.baseDN `{base}`"));
                return Probe::failed(
                    Outcome::SearchFailed,
                    format!("the search of userSearch.baseDN `{base}` failed: {e}"),
                )
                .after(facts);
            }
        };
        if !found {
            facts.push(format!("looked for userSearch.baseDN `{base}`"));
            return Probe::failed(
                Outcome::BaseNotFound,
                format!("userSearch.baseDN `{base}`: no such entry, or not readable"),
            )
            .after(facts);
        }
        facts.push(format!("read userSearch.baseDN `{base}`"));
        if self.cfg.group_search.is_some() {
            match self.list_groups().await {
                Ok(groups) => facts.push(format!("searched groups: {} found", groups.len())),
                Err(e) => return Probe::failed(Outcome::SearchFailed, e).after(facts),
            }
        }
        Probe::passed(facts)
    }

    /// How connections to the directory are protected.
    fn transport_fact(&self) -> String {
        match self.pool.security() {
            Security::Ldaps if self.cfg.insecure_skip_verify => {
                "reached over ldaps, certificate NOT checked (insecureSkipVerify)".into()
            }
            Security::StartTls if self.cfg.insecure_skip_verify => {
                "reached with StartTLS, certificate NOT checked (insecureSkipVerify)".into()
            }
            Security::Ldaps => "reached over ldaps, certificate trusted".into(),
            Security::StartTls => "reached with StartTLS, certificate trusted".into(),
            Security::Plain => "reached over plain LDAP, no TLS (insecureNoSSL)".into(),
        }
    }

    /// Every group name under `groupSearch` (for expanding group patterns in RBAC output).
    pub async fn list_groups(&self) -> Result<Vec<String>, ConnectorError> {
        let Some(gs) = &self.cfg.group_search else {
            return Ok(Vec::new());
        };
        let name_attr = gs.name_attr.clone().unwrap_or_else(|| "cn".into());
        let filter = and(&gs.filter, "(objectClass=*)".into());
        let (base, sc, t, attrs) = (
            gs.base_dn.clone(),
            scope(&gs.scope),
            self.pool.op_timeout,
            vec![name_attr.clone()],
        );
        let entries = self
            .pool
            .with_service(|l| {
                self.pool.count();
                search(l, t, base.clone(), sc, filter.clone(), attrs.clone())
            })
            .await?;
        let mut names: Vec<String> = entries.iter().flat_map(|e| all(e, &name_attr)).collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// Check a username and password. Wrong password and a refused bind are told apart only
    /// in the log.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
    ) -> Result<PasswordCheck, ConnectorError> {
        if password.is_empty() || username.is_empty() {
            return Ok(PasswordCheck::UNKNOWN);
        }
        let Some(entry) = self.find_user(username).await? else {
            // Not the name typed: it may be a password typed into the wrong field.
            tracing::info!(connector = %self.id, "ldap login: no such user");
            return Ok(PasswordCheck::UNKNOWN);
        };
        let refused = PasswordCheck::Refused { known_login: true };
        match self.pool.check_password(&entry.dn, password).await? {
            0 => {}
            49 => {
                tracing::info!(connector = %self.id, dn = %entry.dn, "ldap login: wrong password");
                return Ok(refused);
            }
            rc => {
                tracing::warn!(connector = %self.id, dn = %entry.dn, rc, "ldap login: bind refused (locked or disabled?)");
                return Ok(refused);
            }
        }
        Ok(PasswordCheck::Accepted(
            self.identity(username, &entry).await?,
        ))
    }

    /// Find the user again with the same filter and read the groups now. A user who is gone,
    /// filtered out (disabled) or now a different entry cannot refresh.
    pub async fn refresh(&self, old: &Identity) -> Result<Identity, ConnectorError> {
        let data: RefreshData = old
            .connector_data
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok())
            .ok_or(ConnectorError::UserGone)?;
        let Some(entry) = self.find_user(&data.username).await? else {
            return Err(ConnectorError::UserGone);
        };
        if !entry.dn.eq_ignore_ascii_case(&data.dn) {
            return Err(ConnectorError::UserGone);
        }
        let fresh = self.identity(&data.username, &entry).await?;
        if fresh.user_id != old.user_id {
            return Err(ConnectorError::UserGone);
        }
        Ok(fresh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_escaped_in_filters() {
        assert_eq!(
            any_attr_equals("uid", "alice)(|(uid=*"),
            "(uid=alice\\29\\28|\\28uid=\\2a)"
        );
        assert_eq!(any_attr_equals("uid", "*"), "(uid=\\2a)");
        assert_eq!(any_attr_equals("uid", "a\\b\0"), "(uid=a\\5cb\\00)");
        assert_eq!(any_attr_equals("uid,mail", "x"), "(|(uid=x)(mail=x))");
        assert_eq!(
            and("objectClass=person", "(uid=x)".into()),
            "(&(objectClass=person)(uid=x))"
        );
        assert_eq!(and("", "(uid=x)".into()), "(uid=x)");
    }

    #[tokio::test]
    async fn an_empty_password_never_reaches_the_directory() {
        // Nothing listens on port 9: any network attempt would be an error, not Ok(None).
        let cfg = LdapConfig::from_value(&serde_json::json!({
            "host": "127.0.0.1:9", "insecureNoSSL": true,
            "userSearch": {"baseDN": "dc=x", "username": "uid"}
        }))
        .unwrap();
        let c = LdapConnector::new("ldap", cfg, &DenyList::default()).unwrap();
        assert!(matches!(
            c.login("alice", "").await,
            Ok(PasswordCheck::Refused { known_login: false })
        ));
        assert_eq!(c.operations(), (0, 0));
        assert!(matches!(
            c.login("alice", "x").await,
            Err(ConnectorError::Unavailable(_))
        ));
    }
}
