//! Connections to the directory: URLs and TLS from the config, failover across hosts,
//! timeouts, and two small pools, one of service-account connections (searches) and one of
//! connections used only to check user passwords (binds). A broken connection is dropped and
//! the next operation dials again, so logins recover by themselves when the directory returns.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::Mutex;

use super::config::LdapConfig;

const MAX_IDLE: usize = 8;

/// Why the directory could not answer; the message is for logs and operators.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unavailable(pub String);

pub struct Pool {
    urls: Vec<String>,
    settings: LdapConnSettings,
    connect_timeout: Duration,
    pub op_timeout: Duration,
    bind_dn: Option<String>,
    bind_pw: Option<String>,
    service: Mutex<Vec<Ldap>>,
    binders: Mutex<Vec<Ldap>>,
    /// LDAP operations sent (connects excluded), for metrics and the round-trip figure.
    pub operations: AtomicU64,
    /// Connections opened.
    pub dials: AtomicU64,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("urls", &self.urls)
            .finish_non_exhaustive()
    }
}

impl Pool {
    pub fn new(c: &LdapConfig) -> Result<Pool, String> {
        let connect_timeout = dur(&c.connect_timeout, 5);
        let op_timeout = dur(&c.timeout, 10);
        let (scheme, default_port) = if c.insecure_no_ssl || c.start_tls {
            ("ldap", 389)
        } else {
            ("ldaps", 636)
        };
        let urls = c
            .hosts()
            .iter()
            .map(|h| {
                if h.rsplit_once(':')
                    .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
                {
                    format!("{scheme}://{h}")
                } else {
                    format!("{scheme}://{h}:{default_port}")
                }
            })
            .collect();
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(connect_timeout)
            .set_starttls(c.start_tls);
        if c.insecure_skip_verify {
            settings = settings.set_no_tls_verify(true);
        } else if let Some(cfg) = tls_config(c)? {
            settings = settings.set_config(cfg);
        }
        Ok(Pool {
            urls,
            settings,
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

    /// The service account's DN; `None` binds anonymously.
    pub fn bind_dn(&self) -> Option<&str> {
        self.bind_dn.as_deref()
    }

    pub fn count(&self) {
        self.operations.fetch_add(1, Ordering::Relaxed);
    }

    /// Dial the hosts in order; the first that answers wins.
    async fn dial(&self) -> Result<Ldap, Unavailable> {
        let mut last = String::from("no host configured");
        for url in &self.urls {
            self.dials.fetch_add(1, Ordering::Relaxed);
            let attempt = tokio::time::timeout(
                self.connect_timeout,
                LdapConnAsync::with_settings(self.settings.clone(), url),
            )
            .await;
            match attempt {
                Ok(Ok((conn, ldap))) => {
                    tokio::spawn(async move {
                        if let Err(e) = conn.drive().await {
                            tracing::debug!(error = %e, "ldap connection ended");
                        }
                    });
                    return Ok(ldap);
                }
                Ok(Err(e)) => last = format!("{url}: {e}"),
                Err(_) => {
                    last = format!("{url}: connect timed out after {:?}", self.connect_timeout)
                }
            }
            tracing::warn!(error = %last, "ldap host unavailable");
        }
        Err(Unavailable(last))
    }

    /// A connection bound as the service account (or anonymous when no bindDN is set).
    pub async fn fresh_service(&self) -> Result<Ldap, Unavailable> {
        let mut l = self.dial().await?;
        if let Some(dn) = &self.bind_dn {
            self.count();
            let r = l
                .with_timeout(self.op_timeout)
                .simple_bind(dn, self.bind_pw.as_deref().unwrap_or_default())
                .await
                .map_err(|e| Unavailable(format!("service bind: {e}")))?;
            if r.rc != 0 {
                return Err(Unavailable(format!(
                    "service bind as {dn} refused: rc={} {}",
                    r.rc, r.text
                )));
            }
        }
        Ok(l)
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
        let pooled = self
            .service
            .lock()
            .await
            .pop()
            .filter(|l| !l.clone().is_closed());
        let mut conn = match pooled {
            Some(c) => c,
            None => self.fresh_service().await?,
        };
        let first = op(&mut conn).await;
        let (result, conn) = match first {
            Ok(v) => (Ok(v), Some(conn)),
            Err(e) if is_connection_error(&e) => {
                let mut fresh = self.fresh_service().await?;
                match op(&mut fresh).await {
                    Ok(v) => (Ok(v), Some(fresh)),
                    Err(e) => (Err(Unavailable(e.to_string())), None),
                }
            }
            Err(e) => (Err(Unavailable(e.to_string())), None),
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
        let pooled = self
            .binders
            .lock()
            .await
            .pop()
            .filter(|l| !l.clone().is_closed());
        let mut conn = match pooled {
            Some(c) => c,
            None => self.dial().await?,
        };
        self.count();
        let mut r = conn
            .with_timeout(self.op_timeout)
            .simple_bind(dn, password)
            .await;
        if let Err(e) = &r
            && is_connection_error(e)
        {
            conn = self.dial().await?;
            self.count();
            r = conn
                .with_timeout(self.op_timeout)
                .simple_bind(dn, password)
                .await;
        }
        let rc = r.map_err(|e| Unavailable(format!("bind: {e}")))?.rc;
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

/// TLS settings when the config names its own CA or a client certificate; `None` leaves
/// ldap3's default (the system's roots).
fn tls_config(c: &LdapConfig) -> Result<Option<Arc<rustls::ClientConfig>>, String> {
    let mut roots_pem: Vec<u8> = Vec::new();
    if let Some(path) = &c.root_ca {
        roots_pem = std::fs::read(path).map_err(|e| format!("rootCA {path}: {e}"))?;
    }
    if let Some(data) = &c.root_ca_data {
        let pem = base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .map_err(|e| format!("rootCAData is not base64: {e}"))?;
        roots_pem.extend_from_slice(&pem);
    }
    if roots_pem.is_empty() && c.client_cert.is_none() {
        return Ok(None);
    }
    if roots_pem.is_empty() {
        return Err("clientCert needs rootCA or rootCAData to check the server".into());
    }
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&roots_pem) {
        let cert = cert.map_err(|e| format!("rootCA: {e}"))?;
        roots.add(cert).map_err(|e| format!("rootCA: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let cfg = match (&c.client_cert, &c.client_key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("clientCert {cert}: {e}"))?;
            let key =
                PrivateKeyDer::from_pem_file(key).map_err(|e| format!("clientKey {key}: {e}"))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("clientCert: {e}"))?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Some(Arc::new(cfg)))
}
