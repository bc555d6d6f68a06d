//! The connection to one directory host: TCP, then TLS (ldaps, or StartTLS on plain LDAP)
//! with rustls, then the relay that checks every message before ldap3 reads it. ldap3 itself
//! only ever sees the relay's socket, so TLS is done here rather than by ldap3.
//!
//! Never sends anything but the StartTLS request before TLS is up when StartTLS is on, never
//! goes on in the clear when the server refuses it, and never connects to an address in
//! `connectorNetwork.denyNetworks`.

use std::sync::Arc;

use base64::Engine;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, StdStream};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::config::LdapConfig;
use super::frame;
use super::relay::{self, Fault};
use crate::connector::egress::{self, DenyList, Reach, Unresolved};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    Plain,
    Ldaps,
    StartTls,
}

/// How to reach the hosts of one connector.
#[derive(Clone)]
pub struct Transport {
    pub security: Security,
    tls: Option<TlsConnector>,
    deny: DenyList,
}

/// Why a connection failed: the detail for the operator, and how far it got.
#[derive(Debug)]
pub struct Failure {
    pub reach: Reach,
    pub detail: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

fn no_answer(detail: String) -> Failure {
    Failure {
        reach: Reach::NoAnswer,
        detail,
    }
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("security", &self.security)
            .finish_non_exhaustive()
    }
}

/// One host: where to connect and the name its certificate must carry.
#[derive(Debug, Clone)]
pub struct Target {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl Target {
    /// `host:port`, `host`, `[v6]:port` or `[v6]`; without a port, `default_port`.
    pub fn parse(s: &str, default_port: u16) -> Target {
        let (host, port) = match s.rsplit_once(':') {
            Some((h, p)) if !h.is_empty() && (!h.contains(':') || h.ends_with(']')) => {
                match p.parse::<u16>() {
                    Ok(p) => (h, p),
                    Err(_) => (s, default_port),
                }
            }
            _ => (s, default_port),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        Target {
            host: host.to_string(),
            port,
        }
    }
}

/// Why the TLS settings of an LDAP connector cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("{0}")]
    Protocols(rustls::Error),
    #[error("clientCert {path}: {source}")]
    ClientCertFile {
        path: String,
        source: rustls_pki_types::pem::Error,
    },
    #[error("clientKey {path}: {source}")]
    ClientKeyFile {
        path: String,
        source: rustls_pki_types::pem::Error,
    },
    #[error("clientCert: {0}")]
    ClientCert(rustls::Error),
    #[error("rootCA {path}: {source}")]
    RootCaFile {
        path: String,
        source: std::io::Error,
    },
    #[error("rootCAData is not base64: {0}")]
    RootCaData(base64::DecodeError),
    #[error("clientCert needs rootCA or rootCAData to check the server")]
    NoRootForClientCert,
    #[error("rootCA/rootCAData: no PEM certificate in it")]
    NoRootCa,
    #[error("rootCA: {0}")]
    RootCaPem(rustls_pki_types::pem::Error),
    #[error("rootCA: {0}")]
    RootCa(rustls::Error),
}

impl Transport {
    pub fn new(c: &LdapConfig, deny: &DenyList) -> Result<Transport, TlsSetupError> {
        let security = if c.insecure_no_ssl {
            Security::Plain
        } else if c.start_tls {
            Security::StartTls
        } else {
            Security::Ldaps
        };
        let tls = match security {
            Security::Plain => None,
            _ => Some(TlsConnector::from(tls_config(c)?)),
        };
        Ok(Transport {
            security,
            tls,
            deny: deny.clone(),
        })
    }

    pub fn default_port(&self) -> u16 {
        match self.security {
            Security::Ldaps => 636,
            _ => 389,
        }
    }

    /// Connect to `t` and start ldap3 on the relay; the caller spawns the returned driver.
    /// The error says what failed, for the operator, and how far it got.
    pub async fn connect(&self, t: &Target) -> Result<(LdapConnAsync, Ldap, Fault), Failure> {
        // Checked before connecting, so that it reads the same whether or not the port is open.
        let name = match self.tls {
            None => None,
            Some(_) => Some(ServerName::try_from(t.host.clone()).map_err(|e| Failure {
                reach: Reach::Tls,
                detail: format!("{} is not a name TLS can check: {e}", t.host),
            })?),
        };
        let addrs = self
            .deny
            .resolve(&t.host, t.port)
            .await
            .map_err(|e| match e {
                Unresolved::Denied(d) => Failure {
                    reach: Reach::Denied,
                    detail: format!("connect: {d}"),
                },
                e => no_answer(format!("connect: {e}")),
            })?;
        let tcp = TcpStream::connect(&addrs[..])
            .await
            .map_err(|e| no_answer(format!("connect: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let (sock, fault) = match (&self.tls, self.security, name) {
            (Some(tls), Security::Ldaps, Some(name)) => {
                relay::start(handshake(tls, name, tcp).await?, t.to_string())
            }
            (Some(tls), Security::StartTls, Some(name)) => {
                let mut tcp = tcp;
                start_tls(&mut tcp).await?;
                relay::start(handshake(tls, name, tcp).await?, t.to_string())
            }
            _ => relay::start(tcp, t.to_string()),
        }
        .map_err(|e| no_answer(format!("relay: {e}")))?;
        let settings = LdapConnSettings::new().set_std_stream(StdStream::Unix(sock));
        let (conn, ldap) = LdapConnAsync::with_settings(settings, "ldapi:///")
            .await
            .map_err(|e| no_answer(e.to_string()))?;
        Ok((conn, ldap, fault))
    }
}

async fn handshake(
    tls: &TlsConnector,
    name: ServerName<'static>,
    tcp: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, Failure> {
    tls.connect(name, tcp).await.map_err(|e| Failure {
        reach: egress::reach_of(&e),
        detail: format!("TLS: {e}"),
    })
}

/// The StartTLS exchange (RFC 4511 4.14), checked by `frame` like every other message.
async fn start_tls(tcp: &mut TcpStream) -> Result<(), Failure> {
    start_tls_answer(tcp).await.map_err(|e| Failure {
        reach: match e {
            // A directory that refuses StartTLS is a TLS failure the admin can act on.
            StartTlsError::Refused(_) => Reach::Tls,
            _ => Reach::NoAnswer,
        },
        detail: e.to_string(),
    })
}

/// Why StartTLS did not happen: the server refused it, or did not answer as LDAP.
#[derive(Debug, thiserror::Error)]
enum StartTlsError {
    #[error("StartTLS: {0}")]
    Io(#[from] std::io::Error),
    #[error("StartTLS: {0}")]
    Malformed(#[from] frame::Malformed),
    #[error("StartTLS: the server closed the connection")]
    Closed,
    #[error("StartTLS: the server sent more than its answer")]
    Trailing,
    #[error(
        "StartTLS refused by the server (result code {})",
        .0.map_or_else(|| "none".to_string(), |r| r.to_string())
    )]
    Refused(Option<u32>),
}

/// The server's answer to StartTLS.
async fn start_tls_answer(tcp: &mut TcpStream) -> Result<(), StartTlsError> {
    tcp.write_all(&frame::start_tls_request(1)).await?;
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 1024];
    let len = loop {
        if let Some(n) = frame::message_len(&buf)? {
            break n;
        }
        let n = tcp.read(&mut chunk).await?;
        if n == 0 {
            return Err(StartTlsError::Closed);
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    };
    // Bytes after the answer would be read as if they had come through TLS.
    if buf.len() != len {
        return Err(StartTlsError::Trailing);
    }
    let pending = std::collections::HashMap::from([(1, frame::Awaiting::Result(24))]);
    let answer = frame::check_response(&buf, &pending)?;
    match (answer.id, answer.rc) {
        (1, Some(0)) => Ok(()),
        (_, rc) => Err(StartTlsError::Refused(rc)),
    }
}

/// The TLS client settings: the configured CA (or the system's roots), a client certificate
/// when one is set, or no certificate check at all under `insecureSkipVerify`.
fn tls_config(c: &LdapConfig) -> Result<Arc<rustls::ClientConfig>, TlsSetupError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(TlsSetupError::Protocols)?;
    let builder = if c.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
    } else {
        builder.with_root_certificates(roots(c)?)
    };
    let cfg = match (&c.client_cert, &c.client_key) {
        (Some(cert), Some(key)) => {
            let chain = crate::files::read_pem_certs(cert).map_err(|source| {
                TlsSetupError::ClientCertFile {
                    path: cert.clone(),
                    source,
                }
            })?;
            let key = crate::files::read_pem::<PrivateKeyDer>(key).map_err(|source| {
                TlsSetupError::ClientKeyFile {
                    path: key.clone(),
                    source,
                }
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(TlsSetupError::ClientCert)?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Arc::new(cfg))
}

/// `rootCA` and `rootCAData` when set; the system's roots otherwise.
fn roots(c: &LdapConfig) -> Result<rustls::RootCertStore, TlsSetupError> {
    let mut pem: Vec<u8> = Vec::new();
    if let Some(path) = &c.root_ca {
        pem = crate::files::read_limited(path).map_err(|source| TlsSetupError::RootCaFile {
            path: path.clone(),
            source,
        })?;
    }
    if let Some(data) = &c.root_ca_data {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .map_err(TlsSetupError::RootCaData)?;
        pem.extend_from_slice(&decoded);
    }
    let mut roots = rustls::RootCertStore::empty();
    // The system's roots only when no CA is named: a named one that holds no certificate (an
    // empty file, the wrong file) is a mistake to say, not a reason to trust every public CA.
    if c.root_ca.is_none() && c.root_ca_data.is_none() {
        if c.client_cert.is_some() {
            return Err(TlsSetupError::NoRootForClientCert);
        }
        let found = rustls_native_certs::load_native_certs();
        for e in &found.errors {
            tracing::warn!(error = %e, "ldap: a system root certificate could not be read");
        }
        let (added, _) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            // Every handshake will fail (no root to trust), which says so at each login.
            tracing::warn!("ldap: no system root certificates found; set rootCA");
        }
        return Ok(roots);
    }
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(TlsSetupError::RootCaPem)?;
        roots.add(cert).map_err(TlsSetupError::RootCa)?;
    }
    if roots.is_empty() {
        return Err(TlsSetupError::NoRootCa);
    }
    Ok(roots)
}

/// `insecureSkipVerify`: any certificate is taken (test setups only, as the config says), but
/// the handshake's signatures are still checked, so the session key is the server's.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_root_ca_without_a_certificate_is_refused_not_replaced_by_the_system_s() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let text = dir.path().join("shadow");
        std::fs::write(&text, "root:$6$salt$hash:19000:0:99999:7:::\n").unwrap();
        for path in [&empty, &text] {
            let c: LdapConfig = serde_json::from_value(serde_json::json!({
                "host": "ldap.example.com:636",
                "rootCA": path,
                "userSearch": {"baseDN": "dc=example", "username": "uid"},
            }))
            .unwrap();
            assert!(
                matches!(roots(&c), Err(TlsSetupError::NoRootCa)),
                "{}",
                path.display()
            );
        }
    }

    #[test]
    fn hosts_parse_with_and_without_ports() {
        let p = |s: &str| {
            let t = Target::parse(s, 636);
            (t.host, t.port, Target::parse(s, 636).to_string())
        };
        assert_eq!(
            p("ldap.example.com:389"),
            (
                "ldap.example.com".into(),
                389,
                "ldap.example.com:389".into()
            )
        );
        assert_eq!(
            p("ldap.example.com"),
            (
                "ldap.example.com".into(),
                636,
                "ldap.example.com:636".into()
            )
        );
        assert_eq!(p("[::1]:3389"), ("::1".into(), 3389, "[::1]:3389".into()));
        assert_eq!(p("[::1]"), ("::1".into(), 636, "[::1]:636".into()));
        assert_eq!(
            p("127.0.0.1:1636"),
            ("127.0.0.1".into(), 1636, "127.0.0.1:1636".into())
        );
    }
}
