//! The registry CA: long-lived, exported once as the registry's `rootcertbundle`, it certifies
//! Gantry's signing keys so that every registry token carries a verifiable chain in `x5c` and
//! keys rotate without touching the registry.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls_pki_types::CertificateDer;

use crate::config::RegistryConfig;
use crate::keys::{Algorithm, SigningKey};
use crate::seal::{KeySealing, SealError};
use crate::storage::{Db, StorageError};

/// What the CA key's sealed value is bound to.
const KEY_PURPOSE: &str = "registry-ca-key";

/// How long a key certificate is valid; it is re-made well before.
const LEAF_DAYS: i64 = 7;
const LEAF_REMAKE: i64 = 24 * 3600;

pub struct RegistryCa {
    cert_der: Vec<u8>,
    key: KeyPair,
    /// kid -> (chain, made at).
    chains: Mutex<HashMap<String, (Vec<String>, i64)>>,
}

impl std::fmt::Debug for RegistryCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryCa").finish_non_exhaustive()
    }
}

/// Why the CA could not be loaded or made, or a key not certified.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("registry.caCert {path}: {source}")]
    CertFile {
        path: String,
        source: rustls_pki_types::pem::Error,
    },
    #[error("registry.caKey {path}: {source}")]
    KeyFile {
        path: String,
        source: std::io::Error,
    },
    #[error("registry.caKey {path}: {source}")]
    KeyPem { path: String, source: rcgen::Error },
    #[error("registry.caCert {path}: {reason}")]
    CertParse { path: String, reason: String },
    #[error("registry.caKey {key} is not the key of registry.caCert {cert}")]
    KeyMismatch { cert: String, key: String },
    #[error("{0}")]
    Storage(#[from] StorageError),
    #[error("{0}")]
    Sealing(#[from] SealError),
    #[error("{0}")]
    Certificate(#[from] rcgen::Error),
    #[error("{0}")]
    Time(#[from] time::error::ComponentRange),
    #[error("registry CA vanished")]
    Vanished,
    #[error("registry tokens need an ES256 or RS256 key")]
    EdDsaKey,
}

fn when(t: i64) -> Result<time::OffsetDateTime, CaError> {
    Ok(time::OffsetDateTime::from_unix_timestamp(t)?)
}

impl RegistryCa {
    /// The CA from `caCert`/`caKey` files, or the one in the database (made on first use; its
    /// key sealed with `sealing`, and sealed again here if it was stored in clear).
    pub async fn load(
        cfg: &RegistryConfig,
        db: &Db,
        now: i64,
        sealing: &KeySealing,
    ) -> Result<RegistryCa, CaError> {
        if let (Some(cert), Some(key)) = (&cfg.ca_cert, &cfg.ca_key) {
            return Self::from_files(cert, key);
        }
        if db.registry_ca().await?.is_none() {
            let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
            let mut p = CertificateParams::default();
            let mut dn = DistinguishedName::new();
            dn.push(DnType::CommonName, "Gantry registry token CA");
            p.distinguished_name = dn;
            p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            p.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::DigitalSignature,
            ];
            p.not_before = when(now - 3600)?;
            p.not_after = when(now + 10 * 365 * 86_400)?;
            let cert = p.self_signed(&key)?;
            let stored = sealing.seal(KEY_PURPOSE, &key.serialize_der())?;
            db.put_registry_ca_if_absent(&stored, cert.der(), now)
                .await?;
        }
        let (stored, cert_der) = db.registry_ca().await?.ok_or(CaError::Vanished)?;
        let key_der = sealing.open("the registry CA key", KEY_PURPOSE, &stored)?;
        if sealing.stale(&stored) {
            let sealed = sealing.seal(KEY_PURPOSE, &key_der)?;
            if db.replace_registry_ca_key(&stored, &sealed).await? {
                tracing::info!("registry CA key sealed with the first of encryption.keys");
            }
        }
        let key = KeyPair::try_from(key_der.as_slice())?;
        Ok(RegistryCa {
            cert_der,
            key,
            chains: Mutex::default(),
        })
    }

    /// The CA from `caCert` and `caKey`: PEM files, the key the one the certificate names
    /// (a registry would refuse every chain signed with another), the certificate in date.
    pub fn from_files(cert: &str, key: &str) -> Result<RegistryCa, CaError> {
        let cert_der = crate::files::read_pem::<CertificateDer>(cert)
            .map_err(|source| CaError::CertFile {
                path: cert.to_string(),
                source,
            })?
            .to_vec();
        let pem = crate::files::read_limited_to_string(key).map_err(|source| CaError::KeyFile {
            path: key.to_string(),
            source,
        })?;
        let key_pair = KeyPair::from_pem(&pem).map_err(|source| CaError::KeyPem {
            path: key.to_string(),
            source,
        })?;
        let (_, parsed) =
            x509_parser::parse_x509_certificate(&cert_der).map_err(|e| CaError::CertParse {
                path: cert.to_string(),
                reason: e.to_string(),
            })?;
        if parsed.public_key().subject_public_key.data.as_ref() != key_pair.public_key_raw() {
            return Err(CaError::KeyMismatch {
                cert: cert.to_string(),
                key: key.to_string(),
            });
        }
        Ok(RegistryCa {
            cert_der,
            key: key_pair,
            chains: Mutex::default(),
        })
    }

    /// The CA certificate in PEM, for the registry's `rootcertbundle`.
    pub fn cert_pem(&self) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(&self.cert_der);
        let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(line));
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
        out
    }

    /// `x5c` for tokens signed by `key`: its certificate (made once per key and day) and the CA.
    pub fn chain_for(&self, key: &SigningKey, now: i64) -> Result<Vec<String>, CaError> {
        if let Ok(c) = self.chains.lock()
            && let Some((chain, made)) = c.get(&key.kid)
            && now - made < LEAF_REMAKE
        {
            return Ok(chain.clone());
        }
        let alg = match key.alg {
            Algorithm::ES256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            Algorithm::RS256 => &rcgen::PKCS_RSA_SHA256,
            Algorithm::EdDSA => return Err(CaError::EdDsaKey),
        };
        let leaf_key = KeyPair::from_pkcs8_der_and_sign_algo(&key.pkcs8_der().into(), alg)?;
        let issuer =
            Issuer::from_ca_cert_der(&CertificateDer::from(self.cert_der.as_slice()), &self.key)?;
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CommonName,
            format!("Gantry registry signer {}", key.kid),
        );
        p.distinguished_name = dn;
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.not_before = when(now - 3600)?;
        p.not_after = when(now + LEAF_DAYS * 86_400)?;
        let leaf = p.signed_by(&leaf_key, &issuer)?;
        let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
        let chain = vec![b64(leaf.der()), b64(&self.cert_der)];
        if let Ok(mut c) = self.chains.lock() {
            c.retain(|_, (_, made)| now - *made < LEAF_REMAKE);
            c.insert(key.kid.clone(), (chain.clone(), now));
        }
        Ok(chain)
    }
}
