//! One parsed key pair: sign compact JWS, publish its JWK, verify with it.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::secret::{b64, sha256};

/// Signature algorithms Gantry signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    ES256,
    RS256,
    EdDSA,
}

impl Algorithm {
    pub fn parse(s: &str) -> Option<Algorithm> {
        match s {
            "ES256" => Some(Algorithm::ES256),
            "RS256" => Some(Algorithm::RS256),
            "EdDSA" => Some(Algorithm::EdDSA),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::ES256 => "ES256",
            Algorithm::RS256 => "RS256",
            Algorithm::EdDSA => "EdDSA",
        }
    }
    fn jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            Algorithm::ES256 => jsonwebtoken::Algorithm::ES256,
            Algorithm::RS256 => jsonwebtoken::Algorithm::RS256,
            Algorithm::EdDSA => jsonwebtoken::Algorithm::EdDSA,
        }
    }
}

enum Pair {
    Ec(EcdsaKeyPair),
    Rsa(aws_lc_rs::rsa::KeyPair),
    Ed(Ed25519KeyPair),
}

/// Why a key could not be made or read, or a token not signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("no signing key")]
    NoKey,
    #[error("cannot generate a {0} key")]
    Generate(&'static str),
    #[error("stored {0} key does not parse")]
    Unparsable(&'static str),
    #[error("unexpected EC public key encoding")]
    EcEncoding,
    #[error("{0}")]
    PublicKey(jsonwebtoken::errors::Error),
    #[error("{0}")]
    Claims(#[from] serde_json::Error),
    #[error("signing failed")]
    Failed,
}

/// Why a token did not verify. Callers treat every variant as "not a valid token".
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("malformed token")]
    Malformed,
    #[error("unknown signing key")]
    UnknownKey,
    #[error("invalid token: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
}

/// A parsed key pair with its public JWK and verification key.
pub struct SigningKey {
    pub kid: String,
    pub alg: Algorithm,
    pair: Pair,
    jwk: serde_json::Value,
    decoding: jsonwebtoken::DecodingKey,
    /// PKCS#8, for certifying this key (registry tokens carry a certificate chain).
    der: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish()
    }
}

impl SigningKey {
    /// A fresh key pair, returned with its PKCS#8 DER for storage.
    pub fn generate(alg: Algorithm) -> Result<(SigningKey, Vec<u8>), SignError> {
        let der = match alg {
            Algorithm::ES256 => EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
                .and_then(|k| k.to_pkcs8v1())
                .map(|d| d.as_ref().to_vec()),
            Algorithm::RS256 => aws_lc_rs::rsa::KeyPair::generate(KeySize::Rsa2048)
                .and_then(|k| k.as_der())
                .map(|d| d.as_ref().to_vec()),
            Algorithm::EdDSA => Ed25519KeyPair::generate()
                .and_then(|k| k.to_pkcs8())
                .map(|d| d.as_ref().to_vec()),
        }
        .map_err(|_| SignError::Generate(alg.as_str()))?;
        Ok((Self::from_pkcs8(alg, &der)?, der))
    }

    /// Parse a stored key. The kid is the RFC 7638 thumbprint of the public key.
    pub fn from_pkcs8(alg: Algorithm, der: &[u8]) -> Result<SigningKey, SignError> {
        let bad = |_| SignError::Unparsable(alg.as_str());
        let (pair, mut jwk, decoding) = match alg {
            Algorithm::ES256 => {
                let k = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map_err(bad)?;
                let p = k.public_key().as_ref();
                if p.len() != 65 {
                    return Err(SignError::EcEncoding);
                }
                let (x, y) = (b64(&p[1..33]), b64(&p[33..65]));
                let dk = jsonwebtoken::DecodingKey::from_ec_components(&x, &y)
                    .map_err(SignError::PublicKey)?;
                (
                    Pair::Ec(k),
                    json!({"crv": "P-256", "kty": "EC", "x": x, "y": y}),
                    dk,
                )
            }
            Algorithm::RS256 => {
                let k = aws_lc_rs::rsa::KeyPair::from_pkcs8(der).map_err(bad)?;
                let public = k.public_key();
                let n = b64(public.modulus().big_endian_without_leading_zero());
                let e = b64(public.exponent().big_endian_without_leading_zero());
                let dk = jsonwebtoken::DecodingKey::from_rsa_components(&n, &e)
                    .map_err(SignError::PublicKey)?;
                (Pair::Rsa(k), json!({"e": e, "kty": "RSA", "n": n}), dk)
            }
            Algorithm::EdDSA => {
                let k = Ed25519KeyPair::from_pkcs8(der).map_err(bad)?;
                let x = b64(k.public_key().as_ref());
                let dk = jsonwebtoken::DecodingKey::from_ed_components(&x)
                    .map_err(SignError::PublicKey)?;
                (
                    Pair::Ed(k),
                    json!({"crv": "Ed25519", "kty": "OKP", "x": x}),
                    dk,
                )
            }
        };
        // serde_json's map is ordered, so this is the canonical RFC 7638 member order.
        let kid = b64(&sha256(jwk.to_string().as_bytes()));
        if let Some(o) = jwk.as_object_mut() {
            o.insert("kid".into(), kid.clone().into());
            o.insert("alg".into(), alg.as_str().into());
            o.insert("use".into(), "sig".into());
        }
        Ok(SigningKey {
            kid,
            alg,
            pair,
            jwk,
            decoding,
            der: der.to_vec(),
        })
    }

    /// The public JWK.
    pub fn jwk(&self) -> &serde_json::Value {
        &self.jwk
    }

    /// The private key as PKCS#8 DER.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.der
    }

    /// Sign `claims` as a compact JWS with this key's `kid`.
    pub fn sign<T: Serialize>(&self, claims: &T, typ: &str) -> Result<String, SignError> {
        self.sign_with_chain(claims, typ, None)
    }

    /// Sign with an `x5c` certificate chain in the header (base64 DER, leaf first).
    pub fn sign_with_chain<T: Serialize>(
        &self,
        claims: &T,
        typ: &str,
        x5c: Option<&[String]>,
    ) -> Result<String, SignError> {
        let mut header = json!({"alg": self.alg.as_str(), "kid": self.kid, "typ": typ});
        if let (Some(chain), Some(h)) = (x5c, header.as_object_mut()) {
            h.insert("x5c".into(), chain.into());
        }
        let payload = serde_json::to_vec(claims)?;
        let mut msg = b64(header.to_string().as_bytes());
        msg.push('.');
        msg.push_str(&b64(&payload));
        let sig = self.sign_bytes(msg.as_bytes())?;
        msg.push('.');
        msg.push_str(&b64(&sig));
        Ok(msg)
    }

    fn sign_bytes(&self, msg: &[u8]) -> Result<Vec<u8>, SignError> {
        let rng = SystemRandom::new();
        match &self.pair {
            Pair::Ec(k) => k.sign(&rng, msg).map(|s| s.as_ref().to_vec()),
            Pair::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &rng, msg, &mut sig)
                    .map(|_| sig)
            }
            Pair::Ed(k) => Ok(k.sign(msg).as_ref().to_vec()),
        }
        .map_err(|_| SignError::Failed)
    }

    /// Verify signature and the registered claims `validation` asks for.
    pub fn verify<T: DeserializeOwned>(
        &self,
        token: &str,
        validation: &jsonwebtoken::Validation,
    ) -> Result<T, VerifyError> {
        let mut v = validation.clone();
        v.algorithms = vec![self.alg.jwt()];
        Ok(jsonwebtoken::decode::<T>(token, &self.decoding, &v)?.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(alg: Algorithm) {
        let (k, der) = SigningKey::generate(alg).unwrap_or_else(|e| panic!("{e}"));
        let again = SigningKey::from_pkcs8(alg, &der).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(k.kid, again.kid);
        let claims = json!({"sub": "a", "exp": 4_000_000_000u64});
        let t = k.sign(&claims, "JWT").unwrap_or_default();
        let mut v = jsonwebtoken::Validation::new(alg.jwt());
        v.validate_aud = false;
        v.required_spec_claims.clear();
        let got: serde_json::Value = again.verify(&t, &v).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got["sub"], "a");
        // A token signed by another key of the same type fails.
        let (other, _) = SigningKey::generate(alg).unwrap_or_else(|e| panic!("{e}"));
        let forged = other.sign(&claims, "JWT").unwrap_or_default();
        assert!(k.verify::<serde_json::Value>(&forged, &v).is_err());
    }

    #[test]
    fn es256_signs_and_verifies() {
        roundtrip(Algorithm::ES256);
    }
    #[test]
    fn rs256_signs_and_verifies() {
        roundtrip(Algorithm::RS256);
    }
    #[test]
    fn eddsa_signs_and_verifies() {
        roundtrip(Algorithm::EdDSA);
    }
}
