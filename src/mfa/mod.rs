//! Second factors: Dex master's `mfa` authenticators, which of them a login must pass, and the
//! factors users enrol: TOTP secrets, and WebAuthn keys (passkeys, security keys).
//!
//! Knows nothing of HTTP or of the login flow: the protocol core (`oauth::second_factor`)
//! asks it which factor a request still needs and hands it the codes users type. A secret
//! is sealed before it reaches storage and never leaves this module except to the one page
//! that enrols it; recovery codes are kept as digests only.

pub mod amr;
pub mod qr;
pub mod recovery;
pub mod totp;
pub mod webauthn;

use std::sync::Arc;

use crate::config::MfaConfig;
use crate::seal::Sealer;
use crate::storage::StorageError;
use crate::storage::factors::{FactorRow, FactorStore};
pub use amr::{amr_after, claimed, has_second_factor};

/// The acr value that asks for a second factor (`acr_values`), and that tokens carry when
/// one was given.
pub const ACR_MFA: &str = "urn:gantry:acr:mfa";

/// Wrong codes one identity may try within [`GUESS_WINDOW`], from anywhere. With three steps
/// accepted per try, a guesser's odds are 15 in a million per window.
pub const GUESSES_PER_WINDOW: i64 = 5;
/// Seconds over which wrong codes are counted.
pub const GUESS_WINDOW: i64 = 300;

/// The kinds of authenticator Dex master names in `mfa.authenticators[].type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthenticatorKind {
    Totp,
    WebAuthn,
}

impl AuthenticatorKind {
    /// From Dex's `type` (`TOTP`, `WebAuthn`).
    pub fn parse(dex_type: &str) -> Option<AuthenticatorKind> {
        match dex_type {
            "TOTP" => Some(AuthenticatorKind::Totp),
            "WebAuthn" => Some(AuthenticatorKind::WebAuthn),
            _ => None,
        }
    }

    /// The `kind` column of its factors.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthenticatorKind::Totp => "totp",
            AuthenticatorKind::WebAuthn => "webauthn",
        }
    }

    /// What a login's stored amr holds when a recovery code stood in for a factor of this
    /// kind: it satisfies the chain's step, and never reaches a token (see [`claimed`]).
    pub fn recovered_mark(self) -> String {
        amr::recovered_mark(self)
    }

    /// The RFC 8176 amr values that show a factor of this kind was given.
    pub fn amr_values(self) -> &'static [&'static str] {
        match self {
            AuthenticatorKind::Totp => &["otp"],
            AuthenticatorKind::WebAuthn => &["hwk", "swk"],
        }
    }
}

/// One `mfa.authenticators[]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticator {
    pub id: String,
    pub kind: AuthenticatorKind,
    /// TOTP: the issuer an app shows (`config.issuer`); `None`: the web title.
    pub issuer: Option<String>,
    /// Connector types (`ldap`, `oidc`, ...) it applies to; empty, every one.
    pub connector_types: Vec<String>,
    /// WebAuthn: its relying party and ceremony settings.
    pub webauthn: Option<crate::config::WebAuthnSettings>,
}

impl Authenticator {
    /// Dex's `EnabledForConnectorType`.
    pub fn applies_to(&self, connector_type: &str) -> bool {
        self.connector_types.is_empty() || self.connector_types.iter().any(|t| t == connector_type)
    }

    /// Whether `amr` (space-separated) shows this authenticator's kind of factor.
    pub fn satisfied_by(&self, amr: &str) -> bool {
        amr::proves(amr, self.kind)
    }
}

/// The configured authenticators and the default chain.
#[derive(Debug, Clone, Default)]
pub struct Authenticators {
    pub all: Vec<Authenticator>,
    pub default_chain: Vec<String>,
}

impl Authenticators {
    /// From a config that passed its checks: an entry of an unknown type, or a WebAuthn one
    /// whose settings do not build, is left out (the check refused it), as Dex's
    /// `buildMFAProviders` skips it. `issuer`: where WebAuthn's defaults come from.
    pub fn from_config(c: Option<&MfaConfig>, issuer: &str) -> Authenticators {
        let Some(c) = c else {
            return Authenticators::default();
        };
        Authenticators {
            all: c
                .authenticators
                .iter()
                .filter_map(|a| {
                    let kind = AuthenticatorKind::parse(&a.kind)?;
                    let webauthn = match kind {
                        AuthenticatorKind::WebAuthn => {
                            Some(crate::config::webauthn_settings(&a.config, issuer).ok()?)
                        }
                        AuthenticatorKind::Totp => None,
                    };
                    Some(Authenticator {
                        id: a.id.clone(),
                        kind,
                        webauthn,
                        issuer: a
                            .config
                            .get("issuer")
                            .and_then(|i| i.as_str())
                            .filter(|i| !i.is_empty())
                            .map(str::to_string),
                        connector_types: a.connector_types.clone(),
                    })
                })
                .collect(),
            default_chain: c.default_mfa_chain.clone(),
        }
    }

    pub fn get(&self, id: &str) -> Option<&Authenticator> {
        self.all.iter().find(|a| a.id == id)
    }

    /// The chain a login through a connector of `connector_type` must pass, in order: the
    /// client's `mfaChain`, or `defaultMFAChain` when the client sets none (`Some(vec![])`
    /// is "no second factor", as in Dex), each kept only where it applies to the connector.
    pub fn chain(
        &self,
        client_chain: Option<&[String]>,
        connector_type: &str,
    ) -> Vec<&Authenticator> {
        client_chain
            .unwrap_or(&self.default_chain)
            .iter()
            .filter_map(|id| self.get(id))
            .filter(|a| a.applies_to(connector_type))
            .collect()
    }

    /// The authenticator asked for when a second factor is wanted beyond any chain
    /// (`acr_values`, `policy.mfa`): the first that applies to the connector.
    pub fn first_for(&self, connector_type: &str) -> Option<&Authenticator> {
        self.all.iter().find(|a| a.applies_to(connector_type))
    }
}

/// The id of the enrolment a login request is shown: derived from the request, so that one
/// request keeps its secret across reloads and no other request sees it.
fn enrolment_id(request_id: &str) -> String {
    let digest = crate::secret::sha256(format!("mfa-enrolment\0{request_id}").as_bytes());
    format!("enrol-{}", crate::secret::b64(&digest[..16]))
}

/// Whether `acr_values` (space-separated) asks for a second factor.
pub fn asks_for_mfa(acr_values: &str) -> bool {
    acr_values.split(' ').any(|v| v == ACR_MFA)
}

/// Why a factor operation failed.
#[derive(Debug, thiserror::Error)]
pub enum FactorError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A stored secret that the deployment's keys do not open: the encryption keys changed,
    /// or the row was altered. Never treated as "no factor".
    #[error("a stored second-factor secret does not open with the configured encryption keys")]
    Sealed,
    /// webauthn-rs could not start or read a ceremony of a configured authenticator.
    #[error("webauthn: {0}")]
    WebAuthn(String),
}

/// Where an identity stands with one authenticator.
#[derive(Debug, Clone)]
pub enum Standing {
    /// Nothing enrolled: the user must enrol first.
    None,
    /// Enrolment started and not confirmed by a code.
    Enrolling(FactorRow),
    Confirmed(FactorRow),
}

/// What an enrolment page shows: the secret as text, and the URI its QR code encodes.
#[derive(Debug, Clone)]
pub struct Enrolment {
    /// Base32, in groups of four for reading aloud or typing.
    pub secret: String,
    pub uri: String,
    /// The URI as an SVG QR code.
    pub qr_svg: String,
}

/// What a typed TOTP code turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    /// Accepted. `confirmed_now`: this code finished the enrolment.
    Good {
        confirmed_now: bool,
    },
    /// The code of a step already used.
    Replayed,
    Wrong,
    /// The user has no factor for this authenticator.
    NotEnrolled,
}

/// The second-factor service: the configured authenticators over the factor store.
#[derive(Debug, Clone)]
pub struct SecondFactors {
    pub authenticators: Authenticators,
    store: Arc<dyn FactorStore>,
    sealer: Sealer,
}

/// What a secret is sealed for: its own row, so a sealed secret copied into another user's
/// row does not open there.
fn purpose(f: &FactorRow) -> String {
    format!("mfa-totp:{}:{}:{}", f.subject, f.authenticator_id, f.id)
}

impl SecondFactors {
    pub fn new(
        authenticators: Authenticators,
        store: Arc<dyn FactorStore>,
        sealer: Sealer,
    ) -> SecondFactors {
        SecondFactors {
            authenticators,
            store,
            sealer,
        }
    }

    /// Whether any authenticator is configured (else no login is ever asked for a factor).
    pub fn enabled(&self) -> bool {
        !self.authenticators.all.is_empty()
    }

    pub fn store(&self) -> &dyn FactorStore {
        self.store.as_ref()
    }

    /// Where `subject` stands with authenticator `a`.
    pub async fn standing(
        &self,
        subject: &str,
        a: &Authenticator,
    ) -> Result<Standing, FactorError> {
        let kind = a.kind.as_str();
        let row = self
            .store
            .factors_of(subject)
            .await?
            .into_iter()
            .find(|f| f.authenticator_id == a.id && f.kind == kind);
        Ok(match row {
            None => Standing::None,
            Some(f) if f.confirmed_at.is_some() => Standing::Confirmed(f),
            Some(f) => Standing::Enrolling(f),
        })
    }

    /// Whether the identity has any confirmed factor (recovery codes may stand in for one).
    pub async fn has_confirmed(&self, subject: &str) -> Result<bool, FactorError> {
        Ok(self
            .store
            .factors_of(subject)
            .await?
            .iter()
            .any(|f| f.confirmed_at.is_some()))
    }

    /// The TOTP enrolment of `subject` for `a`: the one started before (the user may have
    /// scanned it already), or a new secret. `account`: the name the app lists it under;
    /// `default_issuer`: the name it shows when the authenticator's `config.issuer` is unset.
    ///
    /// The enrolment belongs to one login request (`request_id`): a reload of that page shows
    /// the same secret, and any other login is shown a new one, which replaces it. Otherwise
    /// whoever knows the password could read the pending secret and wait for the user to
    /// confirm it.
    pub async fn enrolment(
        &self,
        subject: &str,
        connector_id: &str,
        a: &Authenticator,
        (account, default_issuer): (&str, &str),
        now: i64,
        request_id: &str,
    ) -> Result<Enrolment, FactorError> {
        let id = enrolment_id(request_id);
        self.store
            .drop_enrolment_unless(subject, &a.id, &id)
            .await?;
        let mut row = FactorRow {
            id,
            subject: subject.into(),
            connector_id: connector_id.into(),
            authenticator_id: a.id.clone(),
            kind: a.kind.as_str().into(),
            secret: String::new(),
            last_step: -1,
            confirmed_at: None,
            created_at: now,
            last_used_at: None,
            name: String::new(),
            credential_id: None,
            sign_count: 0,
        };
        row.secret = self.sealer.seal(&purpose(&row), &totp::new_secret());
        let stored = self.store.add_totp_factor(&row).await?;
        let secret = self.open(&stored)?;
        let issuer = a.issuer.as_deref().unwrap_or(default_issuer);
        let uri = totp::otpauth_uri(issuer, account, &secret);
        let text = totp::base32(&secret);
        Ok(Enrolment {
            secret: text
                .as_bytes()
                .chunks(4)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join(" "),
            qr_svg: qr::svg(&uri),
            uri,
        })
    }

    fn open(&self, f: &FactorRow) -> Result<Vec<u8>, FactorError> {
        self.sealer
            .open(&purpose(f), &f.secret)
            .ok_or(FactorError::Sealed)
    }

    /// Check a TOTP code of `subject` for `a` at `now`; a good one is burnt (its step can
    /// never be used again) before this returns.
    /// An enrolment confirms only from the login request it was shown to (`request_id`).
    pub async fn check_code(
        &self,
        subject: &str,
        a: &Authenticator,
        code: &str,
        now: i64,
        request_id: &str,
    ) -> Result<CodeCheck, FactorError> {
        if a.kind != AuthenticatorKind::Totp {
            return Ok(CodeCheck::NotEnrolled);
        }
        let f = match self.standing(subject, a).await? {
            Standing::None => return Ok(CodeCheck::NotEnrolled),
            Standing::Enrolling(f) if f.id != enrolment_id(request_id) => {
                return Ok(CodeCheck::NotEnrolled);
            }
            Standing::Enrolling(f) | Standing::Confirmed(f) => f,
        };
        let secret = self.open(&f)?;
        match totp::check(&secret, code, now, f.last_step) {
            totp::Check::Wrong => Ok(CodeCheck::Wrong),
            totp::Check::Replayed(_) => Ok(CodeCheck::Replayed),
            totp::Check::Good(step) => {
                // Another tab or replica may have taken this step since it was read.
                if self.store.accept_totp_step(&f.id, step, now).await? {
                    Ok(CodeCheck::Good {
                        confirmed_now: f.confirmed_at.is_none(),
                    })
                } else {
                    Ok(CodeCheck::Replayed)
                }
            }
        }
    }

    /// New recovery codes for `subject`, replacing any before: shown once, kept as digests.
    pub async fn issue_recovery_codes(
        &self,
        subject: &str,
        now: i64,
    ) -> Result<Vec<String>, FactorError> {
        let codes: Vec<String> = (0..recovery::COUNT).map(|_| recovery::new_code()).collect();
        let digests: Vec<String> = codes.iter().filter_map(|c| recovery::digest(c)).collect();
        self.store
            .replace_recovery_codes(subject, &digests, now)
            .await?;
        Ok(codes)
    }

    /// Whether `subject` holds unused recovery codes.
    pub async fn has_recovery_codes(&self, subject: &str) -> Result<bool, FactorError> {
        Ok(!self.store.unused_recovery_codes(subject).await?.is_empty())
    }

    /// Use a recovery code of `subject`: true once per code.
    pub async fn use_recovery_code(
        &self,
        subject: &str,
        typed: &str,
        now: i64,
    ) -> Result<bool, FactorError> {
        let stored = self.store.unused_recovery_codes(subject).await?;
        let Some(hit) = recovery::find(&stored, typed) else {
            return Ok(false);
        };
        Ok(self.store.use_recovery_code(subject, &hit, now).await?)
    }

    /// Remove every factor and recovery code of `subject` (an administrator's reset): the next
    /// login that asks for a factor enrols again. (factors, recovery codes) removed.
    pub async fn reset(&self, subject: &str) -> Result<(u64, u64), FactorError> {
        Ok(self.store.reset_factors(subject).await?)
    }

    /// Whether `subject` used up its wrong guesses for now.
    pub async fn guesses_exhausted(&self, subject: &str, now: i64) -> Result<bool, FactorError> {
        let n = self.store.mfa_failures(subject, now - GUESS_WINDOW).await?;
        Ok(n >= GUESSES_PER_WINDOW)
    }

    /// Whether a guess may be checked. It is counted before it is checked: counted after, a
    /// burst of guesses sent together would all pass the budget before any was counted.
    pub async fn take_guess(&self, subject: &str, now: i64) -> Result<bool, FactorError> {
        let n = self
            .store
            .record_mfa_failure(subject, now, now - GUESS_WINDOW)
            .await?;
        Ok(n <= GUESSES_PER_WINDOW)
    }

    /// A right code: the guesses before it are forgiven.
    pub async fn guessed_right(&self, subject: &str) -> Result<(), FactorError> {
        Ok(self.store.clear_mfa_failures(subject).await?)
    }
}

#[cfg(test)]
mod tests;
