//! The TLS files the server reads when it starts or first connects: they exist, are PEM of
//! the right kind, each key is its certificate's, and the certificates are in date. The
//! connectors' CA files (LDAP rootCA, OIDC rootCAs, SAML ca) are read when a connector is
//! built, which `check-config` does for each connector.

use std::path::Path;

use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::Config;
use crate::http::listen::TlsSetupError;

pub fn problems(cfg: &Config, now: i64) -> Vec<String> {
    let mut out = Vec::new();
    if cfg.web.https.is_some()
        && let (Some(cert), Some(key)) = (&cfg.web.tls_cert, &cfg.web.tls_key)
    {
        match crate::http::listen::tls_from_pem_files(
            Path::new(cert),
            Path::new(key),
            &crate::http::listen::protocol_versions(
                cfg.web.tls_min_version.as_deref(),
                cfg.web.tls_max_version.as_deref(),
            ),
        ) {
            Ok(_) => out.extend(in_date("web.tlsCert", cert, now)),
            Err(TlsSetupError::Rustls(rustls::Error::InconsistentKeys(_))) => out.push(format!(
                "web.tlsKey {key} is not the key of web.tlsCert {cert} (the certificate comes \
                 first in the file, then its chain)"
            )),
            Err(e) => out.push(format!("web.tlsCert {cert}, web.tlsKey {key}: {e}")),
        }
    }
    if let (Some(cert), Some(key)) = (&cfg.registry.ca_cert, &cfg.registry.ca_key) {
        match crate::registry::ca::RegistryCa::from_files(cert, key) {
            Ok(_) => out.extend(in_date("registry.caCert", cert, now)),
            Err(e) => out.push(e.to_string()),
        }
    }
    if cfg.storage.kind == "postgres"
        && let Some(ssl) = &cfg.storage.config.ssl
    {
        if let Some(ca) = &ssl.ca_file {
            out.extend(certificates("storage.config.ssl.caFile", ca).err());
        }
        match (&ssl.cert_file, &ssl.key_file) {
            (Some(cert), Some(key)) => match client_pair(cert, key) {
                Ok(()) => out.extend(in_date("storage.config.ssl.certFile", cert, now)),
                Err(e) => out.push(e),
            },
            (None, None) => {}
            _ => out.push("storage.config.ssl: certFile and keyFile go together".into()),
        }
    }
    out
}

/// The PEM certificates in `path`: at least one.
fn certificates(setting: &str, path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = crate::files::read_pem_certs(path).map_err(|e| format!("{setting} {path}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{setting} {path}: no PEM certificate in it"));
    }
    Ok(certs)
}

/// A client certificate and its key, as rustls would present them.
fn client_pair(cert: &str, key: &str) -> Result<(), String> {
    let chain = certificates("storage.config.ssl.certFile", cert)?;
    let key_der = crate::files::read_pem::<PrivateKeyDer>(key)
        .map_err(|e| format!("storage.config.ssl.keyFile {key}: {e}"))?;
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    match rustls::sign::CertifiedKey::from_der(chain, key_der, &provider) {
        Ok(_) => Ok(()),
        Err(rustls::Error::InconsistentKeys(_)) => Err(format!(
            "storage.config.ssl.keyFile {key} is not the key of storage.config.ssl.certFile {cert}"
        )),
        Err(e) => Err(format!(
            "storage.config.ssl.certFile {cert}, storage.config.ssl.keyFile {key}: {e}"
        )),
    }
}

/// Whether the first certificate in `path` is valid at `now`: a client refuses it otherwise.
fn in_date(setting: &str, path: &str, now: i64) -> Option<String> {
    let der = certificates(setting, path).ok()?.into_iter().next()?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
    let validity = cert.validity();
    let (from, to) = (
        validity.not_before.timestamp(),
        validity.not_after.timestamp(),
    );
    if now > to {
        Some(format!(
            "{setting} {path}: the certificate expired at {}",
            crate::clock::rfc3339(to)
        ))
    } else if now < from {
        Some(format!(
            "{setting} {path}: the certificate is not valid before {}",
            crate::clock::rfc3339(from)
        ))
    } else {
        None
    }
}
