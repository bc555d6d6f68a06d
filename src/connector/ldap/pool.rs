//! Connections to the directory: failover across hosts, timeouts, and two small pools, one of
//! service-account connections (searches) and one of connections used only to check user
//! passwords (binds). A broken connection is dropped and the next operation dials again, so
//! logins recover by themselves when the directory returns. Each connection runs through
//! `transport` (TLS and the relay that checks the directory's messages).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ldap3::{Ldap, LdapError};
use tokio::sync::Mutex;

use super::config::LdapConfig;
use super::relay::Fault;
use super::transport::{Target, Transport};
use crate::connector::egress::{DenyList, Reach};

const MAX_IDLE: usize = 8;

/// Why the directory could not answer: the detail for logs and operators, and where it
/// failed, for the admin's Test.
#[derive(Debug, thiserror::Error)]
#[error("{detail}")]
pub struct Unavailable {
    pub detail: String,
    pub failed: Failed,
}

/// Where a call to the directory failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failed {
    /// Reaching it: connecting, TLS, or an answer that was not LDAP.
    Reach(Reach),
    /// The directory answered the service account's bind with a refusal.
    ServiceBind,
}

impl Unavailable {
    fn no_answer(detail: String) -> Unavailable {
        Unavailable {
            detail,
            failed: Failed::Reach(Reach::NoAnswer),
        }
    }
}

/// A connection, and where its relay says why it closed it.
struct Conn {
    ldap: Ldap,
    fault: Fault,
}

impl Conn {
    fn is_open(&self) -> bool {
        !self.ldap.clone().is_closed()
    }

    /// What failed, naming a malformed message when that is why the connection closed.
    fn why(&self, e: &LdapError) -> String {
        match self.fault.get() {
            Some(f) => f.clone(),
            None => e.to_string(),
        }
    }
}

pub struct Pool {
    targets: Vec<Target>,
    transport: Transport,
    connect_timeout: Duration,
    pub op_timeout: Duration,
    bind_dn: Option<String>,
    bind_pw: Option<String>,
    service: Mutex<Vec<Conn>>,
    binders: Mutex<Vec<Conn>>,
    /// LDAP operations sent (connects excluded), for metrics and the round-trip figure.
    pub operations: AtomicU64,
    /// Connections opened.
    pub dials: AtomicU64,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("targets", &self.targets)
            .finish_non_exhaustive()
    }
}

impl Pool {
    pub fn new(c: &LdapConfig, deny: &DenyList) -> Result<Pool, super::TlsSetupError> {
        let connect_timeout = dur(&c.connect_timeout, 5);
        let op_timeout = dur(&c.timeout, 10);
        let transport = Transport::new(c, deny)?;
        let targets = c
            .hosts()
            .iter()
            .map(|h| Target::parse(h, transport.default_port()))
            .collect();
        Ok(Pool {
            targets,
            transport,
            connect_timeout,
            op_timeout,
            bind_dn: c.bind_dn.clone().filter(|d| !d.is_empty()),
            bind_pw: c.bind_pw.clone(),
            service: Mutex::new(Vec::new()),
            binders: Mutex::new(Vec::new()),
            operations: AtomicU64::new(0),
            dials: AtomicU64::new(0),
        })
    }

    pub fn security(&self) -> super::transport::Security {
        self.transport.security
    }

    /// The service account's DN; `None` binds anonymously.
    pub fn bind_dn(&self) -> Option<&str> {
        self.bind_dn.as_deref()
    }

    pub fn count(&self) {
        self.operations.fetch_add(1, Ordering::Relaxed);
    }

    /// Dial the hosts in order; the first that answers wins.
    async fn dial(&self) -> Result<Conn, Unavailable> {
        let mut last = Unavailable::no_answer("no host configured".into());
        for t in &self.targets {
            self.dials.fetch_add(1, Ordering::Relaxed);
            match tokio::time::timeout(self.connect_timeout, self.transport.connect(t)).await {
                Ok(Ok((conn, ldap, fault))) => {
                    tokio::spawn(async move {
                        if let Err(e) = conn.drive().await {
                            tracing::debug!(error = %e, "ldap connection ended");
                        }
                    });
                    return Ok(Conn { ldap, fault });
                }
                Ok(Err(e)) => {
                    last = Unavailable {
                        detail: format!("{t}: {e}"),
                        failed: Failed::Reach(e.reach),
                    }
                }
                Err(_) => {
                    last = Unavailable::no_answer(format!(
                        "{t}: connect timed out after {:?}",
                        self.connect_timeout
                    ))
                }
            }
            tracing::warn!(error = %last, "ldap host unavailable");
        }
        Err(last)
    }

    /// A connection bound as the service account (or anonymous when no bindDN is set).
    async fn fresh_service_conn(&self) -> Result<Conn, Unavailable> {
        let mut c = self.dial().await?;
        if let Some(dn) = &self.bind_dn {
            self.count();
            let r = c
                .ldap
                .with_timeout(self.op_timeout)
                .simple_bind(dn, self.bind_pw.as_deref().unwrap_or_default())
                .await;
            let r = match r {
                Ok(r) => r,
                Err(e) => {
                    return Err(Unavailable::no_answer(format!(
                        "service bind: {}",
                        c.why(&e)
                    )));
                }
            };
            if r.rc != 0 {
                return Err(Unavailable {
                    detail: format!("service bind as {dn} refused: rc={} {}", r.rc, r.text),
                    failed: Failed::ServiceBind,
                });
            }
        }
        Ok(c)
    }

    /// A new connection bound as the service account, not taken from the pool nor returned
    /// to it.
    pub async fn fresh_service(&self) -> Result<Ldap, Unavailable> {
        Ok(self.fresh_service_conn().await?.ldap)
    }

    /// Run `op` on a service connection. A pooled connection that turns out broken is
    /// replaced by a fresh one once; the connection goes back to the pool if `op` succeeded.
    pub async fn with_service<T, F>(&self, op: F) -> Result<T, Unavailable>
    where
        F: for<'a> Fn(
            &'a mut Ldap,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<T, LdapError>> + Send + 'a>,
        >,
    {
        let pooled = self.service.lock().await.pop().filter(Conn::is_open);
        let mut conn = match pooled {
            Some(c) => c,
            None => self.fresh_service_conn().await?,
        };
        let first = op(&mut conn.ldap).await;
        let (result, conn) = match first {
            Ok(v) => (Ok(v), Some(conn)),
            Err(e) if is_connection_error(&e) => {
                let mut fresh = self.fresh_service_conn().await?;
                match op(&mut fresh.ldap).await {
                    Ok(v) => (Ok(v), Some(fresh)),
                    Err(e) => (Err(Unavailable::no_answer(fresh.why(&e))), None),
                }
            }
            Err(e) => (Err(Unavailable::no_answer(conn.why(&e))), None),
        };
        if let Some(c) = conn {
            let mut idle = self.service.lock().await;
            if idle.len() < MAX_IDLE {
                idle.push(c);
            }
        }
        result
    }

    /// Check a password by binding as `dn`. `Ok(rc)`: the server's answer (0 = correct).
    pub async fn check_password(&self, dn: &str, password: &str) -> Result<u32, Unavailable> {
        // An empty password is an unauthenticated bind on many servers: never send one.
        if password.is_empty() {
            return Ok(49);
        }
        let pooled = self.binders.lock().await.pop().filter(Conn::is_open);
        let mut conn = match pooled {
            Some(c) => c,
            None => self.dial().await?,
        };
        self.count();
        let mut r = conn
            .ldap
            .with_timeout(self.op_timeout)
            .simple_bind(dn, password)
            .await;
        if let Err(e) = &r
            && is_connection_error(e)
        {
            conn = self.dial().await?;
            self.count();
            r = conn
                .ldap
                .with_timeout(self.op_timeout)
                .simple_bind(dn, password)
                .await;
        }
        let rc = match r {
            Ok(r) => r.rc,
            Err(e) => return Err(Unavailable::no_answer(format!("bind: {}", conn.why(&e)))),
        };
        let mut idle = self.binders.lock().await;
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
        Ok(rc)
    }
}

fn dur(v: &Option<String>, default_secs: u64) -> Duration {
    v.as_deref()
        .and_then(crate::config::parse_duration)
        .unwrap_or(Duration::from_secs(default_secs))
}

fn is_connection_error(e: &LdapError) -> bool {
    !matches!(e, LdapError::LdapResult { .. } | LdapError::Timeout { .. })
}
