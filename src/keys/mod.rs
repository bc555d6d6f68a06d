//! Signing keys: generation, rotation, JWKS, signing and verification.
//!
//! Private keys are parsed once when loaded, never per token: the signature is the token
//! endpoint's main cost. Signing goes straight to aws-lc-rs with the parsed key (jsonwebtoken's
//! `encode` re-parses PKCS#8 on every call); verification goes through jsonwebtoken.

pub mod remote;
mod rotation;
mod signer;

pub use rotation::{KeyError, KeySet, Keys, Schedule};
pub use signer::{Algorithm, SignError, SigningKey, VerifyError};
