//! Accepting connections, plain or TLS, with what a listener facing the internet needs: a
//! client must finish its request head within [`HEAD_WITHIN`] (a slow-loris client trickling
//! headers loses its connection; a slow body is the request timeout's), one address holds at
//! most `rateLimits.connectionsPerAddress` connections at once, and a stop lets the request in
//! flight on each connection finish while no new one starts.
//!
//! hyper's own header timeout needs a timer, which `axum::serve` does not give it: hence this
//! loop rather than axum's.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::metrics::Metrics;
use crate::ratelimit::{Endpoint, RateLimits};

/// A client sends its request line and headers within this, or the connection is closed
/// (nginx's `client_header_timeout` is 60 s; a form post's head is a few hundred bytes).
pub const HEAD_WITHIN: Duration = Duration::from_secs(10);
/// A TLS handshake finishes within this.
const HANDSHAKE_WITHIN: Duration = Duration::from_secs(10);

/// What a listen setting binds, in order of preference. Go (and so Dex) reads `:5556` as every
/// address: IPv6 and IPv4 where the host has IPv6 (`[::]` takes both on Linux), else IPv4.
pub fn bind_candidates(addr: &str) -> Vec<String> {
    match addr.strip_prefix(':') {
        Some(port) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            vec![format!("[::]:{port}"), format!("0.0.0.0:{port}")]
        }
        _ => vec![addr.to_string()],
    }
}

/// Bind a listen setting: the first of its [`bind_candidates`] that takes it, and which one
/// that was; the last one's error when none does. Blocking, as std binds (same backlog and
/// `SO_REUSEADDR` as tokio's bind): `check-config --bind` and `serve` bind alike.
pub fn bind(addr: &str) -> std::io::Result<(std::net::TcpListener, String)> {
    let mut failed = None;
    for at in bind_candidates(addr) {
        match std::net::TcpListener::bind(at.as_str()) {
            Ok(l) => return Ok((l, at)),
            Err(e) => failed = Some(e),
        }
    }
    Err(failed.unwrap_or_else(|| std::io::Error::other("no address to bind")))
}

/// TLS settings for `web.https`: the certificate chain and key in PEM, TLS 1.2 and 1.3 (the
/// only versions rustls speaks), HTTP/1.1.
pub fn tls_from_pem_files(
    cert: &Path,
    key: &Path,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<tokio_rustls::TlsAcceptor, TlsSetupError> {
    let read = |p: &Path| {
        crate::files::read_limited(p).map_err(|source| TlsSetupError::Read {
            path: p.display().to_string(),
            source,
        })
    };
    tls_acceptor(&read(cert)?, &read(key)?, versions)
}

/// The TLS versions Dex's `web.tlsMinVersion` and `web.tlsMaxVersion` ("1.2", "1.3") leave;
/// unset, both.
pub fn protocol_versions(
    min: Option<&str>,
    max: Option<&str>,
) -> Vec<&'static rustls::SupportedProtocolVersion> {
    let mut v = Vec::new();
    if max != Some("1.2") {
        v.push(&rustls::version::TLS13);
    }
    if min != Some("1.3") {
        v.push(&rustls::version::TLS12);
    }
    v
}

/// Why the HTTPS listener's certificate and key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("certificate: {0}")]
    Certificate(rustls_pki_types::pem::Error),
    #[error("certificate: no PEM certificate found")]
    NoCertificate,
    #[error("key: {0}")]
    Key(rustls_pki_types::pem::Error),
    #[error("{0}")]
    Rustls(#[from] rustls::Error),
}

pub fn tls_from_pem(cert: &[u8], key: &[u8]) -> Result<tokio_rustls::TlsAcceptor, TlsSetupError> {
    tls_acceptor(cert, key, &protocol_versions(None, None))
}

fn tls_acceptor(
    cert: &[u8],
    key: &[u8],
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<tokio_rustls::TlsAcceptor, TlsSetupError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_slice_iter(cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(TlsSetupError::Certificate)?;
    if chain.is_empty() {
        return Err(TlsSetupError::NoCertificate);
    }
    let key = PrivateKeyDer::from_pem_slice(key).map_err(TlsSetupError::Key)?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}

/// Who may open a connection, and where refusals are counted.
#[derive(Clone)]
pub struct Admission {
    pub limits: Arc<RateLimits>,
    pub metrics: Arc<Metrics>,
}

/// Connections open per client address (IPv6 by /64); a slot is given back when its
/// connection closes.
#[derive(Default)]
struct OpenConnections {
    by_address: Mutex<HashMap<u128, u32>>,
}

struct Slot {
    open: Arc<OpenConnections>,
    key: u128,
}

impl OpenConnections {
    fn take(self: &Arc<Self>, ip: IpAddr, limits: &RateLimits) -> Option<Option<Slot>> {
        let max = limits.connections_per_address();
        if max == 0 || limits.is_trusted_proxy(ip) {
            return Some(None);
        }
        let key = crate::ratelimit::address_key(ip);
        let mut map = self.by_address.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(key).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Some(Slot {
            open: self.clone(),
            key,
        }))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = self
            .open
            .by_address
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.key);
            }
        }
    }
}

/// Serve `router` on `listener` until `stop` resolves, then let each connection finish the
/// request in flight and return once all have closed (the caller bounds how long).
pub async fn serve(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    router: Router,
    admission: Admission,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let open = Arc::new(OpenConnections::default());
    // Dropped at the stop: every connection sees it; `closed` resolves when the last is gone.
    let (stopping, stop_seen) = watch::channel(());
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut stop => break,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // wait a moment instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(slot) = open.take(peer.ip(), &admission.limits) else {
            admission.metrics.rate_limited(Endpoint::Connection);
            tracing::debug!(%peer, "connection refused: too many open from this address");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (router, tls, stop_seen) = (router.clone(), tls.clone(), stop_seen.clone());
        tokio::spawn(async move {
            match tls {
                None => connection(stream, peer, router, stop_seen).await,
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_WITHIN, acceptor.accept(stream)).await {
                        Ok(Ok(s)) => connection(s, peer, router, stop_seen).await,
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
            drop(slot);
        });
    }
    drop(listener);
    drop(stop_seen);
    let _ = stopping.send(());
    stopping.closed().await;
    Ok(())
}

/// One HTTP/1.1 connection; at the stop it finishes the request in flight and closes.
async fn connection<I>(io: I, peer: SocketAddr, router: Router, mut stop: watch::Receiver<()>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        tower::ServiceExt::oneshot(router.clone(), req)
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_WITHIN)
        .serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            return;
        }
        _ = stop.changed() => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}
