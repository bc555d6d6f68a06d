//! The `saml` connector: a small, strict SAML 2.0 service provider. SP-initiated only: an
//! AuthnRequest over HTTP-Redirect, the Response over HTTP-POST, checked by `response` with
//! the XML signature subset of `dsig`. SAML has no refresh: Gantry's refresh tokens for a SAML
//! login last `maxSessionAge` from the login, then the user logs in again.

mod c14n;
pub mod config;
pub mod dsig;
pub mod metadata;
mod prescan;
pub mod response;
mod time;
pub mod xml;

use std::sync::Arc;

use base64::Engine;
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

use crate::connector::egress::DenyList;
use crate::connector::probe::{self, Outcome, Probe};
use crate::connector::upstream::{self, Http, UpstreamError};
use crate::connector::{Begin, ConnectorError};
use crate::identity::Identity;
use crate::secret;
use config::SamlConfig;
use dsig::IdpKey;

/// Where the IdP is and how it signs.
#[derive(Debug)]
struct Idp {
    sso_url: String,
    issuer: Option<String>,
    keys: Vec<IdpKey>,
}

#[derive(Debug)]
pub struct SamlConnector {
    id: String,
    cfg: SamlConfig,
    http: Http,
    /// Keys from `ca`/`caData`, read at start.
    configured_keys: Vec<IdpKey>,
    idp: RwLock<Option<Arc<Idp>>>,
}

/// A verified login, before Gantry records it.
#[derive(Debug)]
pub struct SamlLogin {
    pub identity: Identity,
    /// Names the assertion for the replay cache.
    pub replay_key: String,
    pub valid_until: i64,
}

/// Kept with the login: when it happened, for `maxSessionAge`.
#[derive(Debug, Serialize, Deserialize)]
struct Data {
    login_at: i64,
}

/// Why a SAML connector cannot be set up from its config: the IdP's certificates or metadata.
#[derive(Debug, thiserror::Error)]
pub enum SamlSetupError {
    #[error("config.ca `{path}`: {source}")]
    CaFile {
        path: String,
        source: std::io::Error,
    },
    #[error("config.ca: {0}")]
    Ca(dsig::CertError),
    #[error("config.caData must be base64 of the PEM")]
    CaDataNotBase64,
    #[error("config.caData: {0}")]
    CaData(dsig::CertError),
    #[error("config.metadataFile `{path}`: {source}")]
    MetadataFile {
        path: String,
        source: std::io::Error,
    },
    #[error("config.metadataFile: {0}")]
    Metadata(metadata::MetadataError),
    #[error("{0}")]
    Client(#[from] upstream::ClientError),
    #[error("{0}")]
    Lock(#[from] tokio::sync::TryLockError),
}

impl SamlConnector {
    pub fn new(
        id: &str,
        cfg: SamlConfig,
        deny: &DenyList,
    ) -> Result<SamlConnector, SamlSetupError> {
        let mut configured_keys = Vec::new();
        if let Some(path) = &cfg.ca {
            let pem =
                crate::files::read_limited(path).map_err(|source| SamlSetupError::CaFile {
                    path: path.clone(),
                    source,
                })?;
            configured_keys.extend(IdpKey::from_pem(&pem).map_err(SamlSetupError::Ca)?);
        }
        if let Some(data) = &cfg.ca_data {
            let pem = base64::engine::general_purpose::STANDARD
                .decode(data.trim())
                .map_err(|_| SamlSetupError::CaDataNotBase64)?;
            configured_keys.extend(IdpKey::from_pem(&pem).map_err(SamlSetupError::CaData)?);
        }
        let http = upstream::client(&[], std::time::Duration::from_secs(10), deny)?;
        let c = SamlConnector {
            id: id.to_string(),
            cfg,
            http,
            configured_keys,
            idp: RwLock::new(None),
        };
        if let Some(path) = &c.cfg.metadata_file {
            let text = crate::files::read_limited_to_string(path).map_err(|source| {
                SamlSetupError::MetadataFile {
                    path: path.clone(),
                    source,
                }
            })?;
            let idp = c
                .idp_from_metadata(&text)
                .map_err(SamlSetupError::Metadata)?;
            c.idp.try_write()?.replace(Arc::new(idp));
        } else if c.cfg.metadata_url.is_none() {
            let idp = Idp {
                sso_url: c.cfg.sso_url.clone().unwrap_or_default(),
                issuer: c.cfg.sso_issuer.clone(),
                keys: c.configured_keys.clone(),
            };
            c.idp.try_write()?.replace(Arc::new(idp));
        }
        Ok(c)
    }

    /// The IdP from its metadata; the config's own values win where both are given.
    fn idp_from_metadata(&self, text: &str) -> Result<Idp, metadata::MetadataError> {
        let md = metadata::parse_idp(text)?;
        let mut keys = self.configured_keys.clone();
        keys.extend(md.keys);
        Ok(Idp {
            sso_url: self.cfg.sso_url.clone().unwrap_or(md.sso_url),
            issuer: Some(self.cfg.sso_issuer.clone().unwrap_or(md.entity_id)),
            keys,
        })
    }

    async fn idp(&self) -> Result<Arc<Idp>, ConnectorError> {
        if let Some(i) = self.idp.read().await.clone() {
            return Ok(i);
        }
        let url = self.cfg.metadata_url.as_deref().unwrap_or_default();
        let idp = Arc::new(
            self.fetch_idp(url)
                .await
                .map_err(|e| ConnectorError::Unavailable(e.to_string()))?,
        );
        *self.idp.write().await = Some(idp.clone());
        Ok(idp)
    }

    /// The IdP as the metadata at `url` describes it.
    async fn fetch_idp(&self, url: &str) -> Result<Idp, UpstreamError> {
        let resp = self.http.send(self.http.get(url)).await?;
        if !resp.status().is_success() {
            return Err(UpstreamError::Unavailable(format!(
                "{url} answered HTTP {}",
                resp.status().as_u16()
            )));
        }
        let body = upstream::read_limited(url, resp).await?;
        let text = String::from_utf8(body)
            .map_err(|_| UpstreamError::Rejected(format!("{url}: metadata is not UTF-8")))?;
        self.idp_from_metadata(&text)
            .map_err(|e| UpstreamError::Rejected(format!("{url}: {e}")))
    }

    pub async fn warm_up(&self) -> Result<(), ConnectorError> {
        self.idp().await.map(|_| ())
    }

    /// The admin's Test: the IdP (its metadata read now, when it comes from a URL), its
    /// issuer and certificates and when they expire. What the metadata says is shown only once
    /// it has parsed as an IdP's, with a signing certificate; the single sign-on URL it names
    /// is not shown.
    pub async fn probe(&self, now: i64) -> Probe {
        let mut facts = Vec::new();
        let from_url = self
            .cfg
            .metadata_url
            .as_deref()
            .filter(|_| self.cfg.metadata_file.is_none());
        let idp = match from_url {
            Some(url) => match self.fetch_idp(url).await {
                Ok(idp) => {
                    let idp = Arc::new(idp);
                    *self.idp.write().await = Some(idp.clone());
                    facts.push(probe::transport_fact(url));
                    facts.push("read the IdP metadata".into());
                    idp
                }
                Err(e) => return Probe::failed(e.reach().into(), e),
            },
            None => match self.idp().await {
                Ok(idp) => idp,
                Err(e) => return Probe::failed(Outcome::Unreachable, e),
            },
        };
        if let Some(sso) = &self.cfg.sso_url {
            facts.push(format!("single sign-on at {sso}"));
        }
        facts.push(match &idp.issuer {
            Some(i) => format!("issuer {}", crate::printable::printable(i)),
            None => "issuer not checked: set ssoIssuer".into(),
        });
        for k in &idp.keys {
            let days = (k.not_after - now) / 86_400;
            facts.push(if k.not_after <= now {
                format!(
                    "a signing certificate EXPIRED on {}",
                    time::instant(k.not_after)
                )
            } else {
                format!(
                    "a signing certificate valid until {} ({days} days)",
                    time::instant(k.not_after)
                )
            });
        }
        Probe::passed(facts)
    }

    /// Gantry's SP metadata for this connector.
    pub fn sp_metadata(&self) -> Result<String, crate::connector::ConnectorConfigError> {
        Ok(metadata::sp_metadata(
            self.cfg.entity_id(),
            &self.cfg.redirect_uri,
            &self.cfg.name_id_format()?,
        ))
    }

    /// The IdP URL with a fresh AuthnRequest (HTTP-Redirect binding); `nonce` carries the
    /// request's ID, which the response's InResponseTo must name.
    pub async fn begin(&self, state: &str, now: i64) -> Result<Begin, ConnectorError> {
        let idp = self.idp().await?;
        // An xs:ID must not start with a digit.
        let id = format!("_{}", hex(&secret::random_bytes(16)));
        let format = self.cfg.name_id_format()?;
        // IdPs find the SP by this Issuer; without entityIssuer it is the redirect URI, which
        // is also the Audience Gantry then expects.
        let issuer = format!(
            "<saml:Issuer>{}</saml:Issuer>",
            xml::escape(self.cfg.entity_id())
        );
        let request = format!(
            "<samlp:AuthnRequest xmlns:samlp=\"{}\" xmlns:saml=\"{}\" ID=\"{id}\" Version=\"2.0\" \
             IssueInstant=\"{}\" Destination=\"{}\" AssertionConsumerServiceURL=\"{}\" \
             ProtocolBinding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\">{issuer}\
             <samlp:NameIDPolicy Format=\"{}\" AllowCreate=\"true\"/></samlp:AuthnRequest>",
            xml::NS_PROTOCOL,
            xml::NS_ASSERTION,
            time::instant(now),
            xml::escape(&idp.sso_url),
            xml::escape(&self.cfg.redirect_uri),
            xml::escape(&format),
        );
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(deflate_stored(request.as_bytes()));
        let mut u = url::Url::parse(&idp.sso_url)
            .map_err(|e| ConnectorError::Unavailable(format!("ssoURL: {e}")))?;
        u.query_pairs_mut()
            .append_pair("SAMLRequest", &encoded)
            .append_pair("RelayState", state);
        Ok(Begin {
            url: u.to_string(),
            nonce: id,
            verifier: String::new(),
        })
    }

    /// Check the IdP's POSTed response for the request `in_response_to`.
    pub async fn finish_post(
        &self,
        saml_response: &str,
        in_response_to: &str,
        now: i64,
    ) -> Result<SamlLogin, ConnectorError> {
        let idp = self.idp().await?;
        let v = response::verify_b64(
            saml_response,
            &idp.keys,
            &response::Expect {
                audience: self.cfg.entity_id(),
                acs: &self.cfg.redirect_uri,
                issuer: idp.issuer.as_deref(),
                in_response_to,
                now,
                skew: self.cfg.clock_skew()?,
                allow_sha1: self.cfg.insecure_allow_sha1,
            },
        )
        .map_err(|e| ConnectorError::Rejected(e.to_string()))?;
        let first = |name: &str| {
            v.attribute(name)
                .and_then(|vs| vs.first())
                .cloned()
                .ok_or_else(|| {
                    ConnectorError::Rejected(format!("the assertion has no \"{name}\" attribute"))
                })
        };
        let username = first(&self.cfg.username_attr)?;
        let email = first(&self.cfg.email_attr)?;
        let mut groups: Vec<String> = Vec::new();
        if let Some(attr) = &self.cfg.groups_attr {
            for g in v.attribute(attr).unwrap_or_default() {
                match self.cfg.groups_delim.as_deref().filter(|d| !d.is_empty()) {
                    Some(d) => groups.extend(g.split(d).map(|x| x.trim().to_string())),
                    None => groups.push(g.clone()),
                }
            }
            groups.retain(|g| !g.is_empty());
        }
        if !self.cfg.allowed_groups.is_empty() {
            if !groups.iter().any(|g| self.cfg.allowed_groups.contains(g)) {
                return Err(ConnectorError::Rejected(format!(
                    "user {username} is not in any of the allowed groups"
                )));
            }
            if self.cfg.filter_groups {
                groups.retain(|g| self.cfg.allowed_groups.contains(g));
            }
        }
        let data = serde_json::to_string(&Data { login_at: now }).unwrap_or_default();
        Ok(SamlLogin {
            identity: Identity {
                user_id: v.name_id.clone(),
                username,
                preferred_username: String::new(),
                email,
                // The IdP vouches for the address it asserts (Dex does the same).
                email_verified: true,
                groups,
                connector_id: self.id.clone(),
                connector_data: Some(data),
            },
            replay_key: secret::hash_secret(&format!("{}\u{0}{}", v.issuer, v.assertion_id)),
            valid_until: v.valid_until,
        })
    }

    /// No refresh in SAML: the login stands until `maxSessionAge`, then the user logs in again.
    pub fn refresh(&self, old: &Identity, now: i64) -> Result<Identity, ConnectorError> {
        let data: Data = old
            .connector_data
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok())
            .ok_or(ConnectorError::UserGone)?;
        let max = self.cfg.max_session_age()?;
        if now - data.login_at >= max {
            return Err(ConnectorError::UserGone);
        }
        Ok(old.clone())
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A raw DEFLATE stream (RFC 1951) of stored blocks: what the HTTP-Redirect binding requires,
/// without a compressor; an AuthnRequest is far below one block's 65535 bytes, but longer input
/// is split correctly anyway.
fn deflate_stored(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 5 * (data.len() / 65535 + 1));
    let mut chunks = data.chunks(65535).peekable();
    if chunks.peek().is_none() {
        return vec![1, 0, 0, 0xff, 0xff];
    }
    while let Some(c) = chunks.next() {
        out.push(u8::from(chunks.peek().is_none()));
        let len = c.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_deflate_blocks_frame_the_data() {
        let d = deflate_stored(b"abc");
        assert_eq!(d, [1, 3, 0, 0xfc, 0xff, b'a', b'b', b'c']);
        let big = vec![7u8; 70_000];
        let d = deflate_stored(&big);
        assert_eq!(d[0], 0, "first of two blocks is not final");
        assert_eq!(d[5 + 65535], 1, "the second is");
        assert_eq!(d.len(), 70_000 + 10);
    }
}
