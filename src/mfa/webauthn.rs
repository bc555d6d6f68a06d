//! WebAuthn keys (passkeys, security keys) as a second factor, through webauthn-rs.
//!
//! The ceremony's state (the challenge, the keys it allows) never goes to the browser: it is
//! kept with the login request, taken once by the answer ([`FactorStore::take_ceremony`]) and
//! dies with the request or after the authenticator's `timeout`. The browser's answer is
//! believed only as far as the key signed it: webauthn-rs checks the challenge, the origin,
//! the RP ID hash, the user-verification flag and the signature. The signature counter is
//! checked again here against the stored one, and advanced by a compare-and-set, so that a
//! cloned key (or an old assertion) loses even on another replica.
//!
//! `userVerification` picks webauthn-rs's kind of credential: `required` makes passkeys (the
//! key must verify its user: PIN or biometrics), `preferred` and `discouraged` security keys
//! (user verification asked for, or only the user's presence).

use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::*;

use super::{Authenticator, FactorError, SecondFactors};
use crate::config::{UserVerification, WebAuthnSettings};
use crate::secret::b64;
use crate::storage::factors::FactorRow;

/// The name a key gets when the user gives none.
pub const DEFAULT_KEY_NAME: &str = "Security key";

/// A key's name as the user typed it, made fit for an admin's list: no control characters and
/// no bidirectional overrides (which would show it, and what follows it, reordered), trimmed,
/// at most [`MAX_NAME`] characters. Empty when nothing is left.
fn key_name(typed: &str) -> String {
    let kept: String = typed
        .chars()
        .filter(|c| {
            !c.is_control()
                && !matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
        })
        .collect();
    kept.trim().chars().take(MAX_NAME).collect()
}
/// Characters of a key's name kept.
pub const MAX_NAME: usize = 64;

/// The RFC 8176 amr value of a key, from the backup-eligible (BE) flag its authenticator
/// signed: `hwk` ("proof of possession of a hardware-secured key") when BE is clear, a
/// device-bound credential whose private key never leaves the authenticator (a security key,
/// a platform authenticator's device-bound key); `swk` ("software-secured key") when BE is
/// set, a passkey that a cloud account copies between devices, so the key exists outside any
/// one piece of hardware. Without a verified attestation this is the authenticator's own
/// word, as every WebAuthn flag is.
pub fn amr_value(backup_eligible: bool) -> &'static str {
    if backup_eligible { "swk" } else { "hwk" }
}

/// The signature-counter rule of WebAuthn (§6.1.1, §7.2 step 21): an assertion must carry a
/// counter above the stored one; an authenticator that keeps no counter sends 0 every time,
/// which is accepted only while the stored one is 0 too. Anything else is a key used in two
/// places at once (a clone) or an assertion replayed.
pub fn counter_advances(stored: u32, presented: u32) -> bool {
    presented > stored || (stored == 0 && presented == 0)
}

/// The user handle a key stores for an identity: derived from the subject, so it names nobody
/// to whoever reads the key, and is the same for each of the identity's keys.
pub fn user_handle(subject: &str) -> Uuid {
    let d = crate::secret::sha256(format!("gantry-webauthn-user:{subject}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    Uuid::from_bytes(b)
}

/// A ceremony a second-factor page started.
#[derive(Debug, Serialize, Deserialize)]
pub struct Ceremony {
    /// `mfa.authenticators[].id`.
    pub authenticator: String,
    /// Past this, the answer is refused (the authenticator's `timeout`).
    pub expires_at: i64,
    /// A further key registered after this login's factor was given.
    pub adding: bool,
    pub state: CeremonyState,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum CeremonyState {
    PasskeyRegistration(PasskeyRegistration),
    SecurityKeyRegistration(SecurityKeyRegistration),
    PasskeyAuthentication(PasskeyAuthentication),
    SecurityKeyAuthentication(SecurityKeyAuthentication),
}

impl CeremonyState {
    pub fn registers(&self) -> bool {
        matches!(
            self,
            CeremonyState::PasskeyRegistration(_) | CeremonyState::SecurityKeyRegistration(_)
        )
    }
}

/// What a second-factor page offers for a WebAuthn authenticator.
#[derive(Debug, Clone)]
pub struct KeyPage {
    /// The options for `navigator.credentials.create` (registering) or `.get`, as JSON.
    pub options: String,
    pub register: bool,
    /// The names of the user's keys.
    pub keys: Vec<String>,
}

/// Why a key's answer was refused (the audit's `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRefusal {
    /// Not a WebAuthn answer at all.
    Malformed,
    /// Signed on a page of an origin not in `rpOrigins`.
    WrongOrigin,
    /// For another relying party (RP ID).
    WrongRpId,
    /// For another challenge than this page's.
    WrongChallenge,
    /// A key that is not one of this user's.
    UnknownCredential,
    /// The signature counter did not go forward: a cloned key, or an assertion replayed.
    CounterRegressed,
    /// The key did not verify its user where the authenticator requires it.
    UserNotVerified,
    /// The key is registered already (to this identity or another).
    AlreadyRegistered,
    /// The signature or another check failed.
    Invalid,
}

impl KeyRefusal {
    pub fn reason(self) -> &'static str {
        match self {
            KeyRefusal::Malformed => "malformed",
            KeyRefusal::WrongOrigin => "wrong_origin",
            KeyRefusal::WrongRpId => "wrong_rp_id",
            KeyRefusal::WrongChallenge => "wrong_challenge",
            KeyRefusal::UnknownCredential => "unknown_credential",
            KeyRefusal::CounterRegressed => "counter_regressed",
            KeyRefusal::UserNotVerified => "user_not_verified",
            KeyRefusal::AlreadyRegistered => "already_registered",
            KeyRefusal::Invalid => "invalid",
        }
    }

    fn from_error(e: &WebauthnError) -> KeyRefusal {
        match e {
            WebauthnError::InvalidRPOrigin | WebauthnError::CredentialCrossOrigin => {
                KeyRefusal::WrongOrigin
            }
            WebauthnError::InvalidRPIDHash => KeyRefusal::WrongRpId,
            WebauthnError::MismatchedChallenge | WebauthnError::ChallengeNotFound => {
                KeyRefusal::WrongChallenge
            }
            WebauthnError::CredentialNotFound => KeyRefusal::UnknownCredential,
            WebauthnError::CredentialPossibleCompromise => KeyRefusal::CounterRegressed,
            WebauthnError::UserNotVerified | WebauthnError::UserNotPresent => {
                KeyRefusal::UserNotVerified
            }
            WebauthnError::CredentialExcludedFromRequest
            | WebauthnError::CredentialAlreadyExists => KeyRefusal::AlreadyRegistered,
            WebauthnError::ParseCBORFailure(_)
            | WebauthnError::ParseJSONFailure(_)
            | WebauthnError::ParseNOMFailure
            | WebauthnError::ParseInsufficientBytesAvailable
            | WebauthnError::InvalidClientDataType => KeyRefusal::Malformed,
            _ => KeyRefusal::Invalid,
        }
    }
}

/// What a key's answer turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyCheck {
    /// A new key was registered: the ceremony proved the user holds it.
    Registered {
        amr: &'static str,
        name: String,
    },
    /// One of the user's keys signed this page's challenge.
    Good {
        amr: &'static str,
        name: String,
    },
    Refused(KeyRefusal),
}

/// The relying party of an authenticator's settings.
pub fn relying_party(s: &WebAuthnSettings) -> Result<Webauthn, WebauthnError> {
    let first = s.rp_origins.first().ok_or(WebauthnError::Configuration)?;
    let mut b = WebauthnBuilder::new(&s.rp_id, first)?
        .rp_name(&s.rp_display_name)
        .timeout(std::time::Duration::from_secs(
            u64::try_from(s.timeout_secs).unwrap_or(60),
        ))
        .danger_set_user_presence_only_security_keys(
            s.user_verification == UserVerification::Discouraged,
        );
    for o in s.rp_origins.iter().skip(1) {
        b = b.append_allowed_origin(o);
    }
    b.build()
}

fn internal(e: impl std::fmt::Display) -> FactorError {
    FactorError::WebAuthn(e.to_string())
}

/// What a key's credential is sealed for: its own row.
fn purpose(f: &FactorRow) -> String {
    format!("mfa-webauthn:{}:{}:{}", f.subject, f.authenticator_id, f.id)
}

fn settings(a: &Authenticator) -> Result<&WebAuthnSettings, FactorError> {
    a.webauthn
        .as_ref()
        .ok_or_else(|| internal(format!("`{}` has no WebAuthn settings", a.id)))
}

/// The options webauthn-rs leaves at its own choice, set as the authenticator's config says
/// (hints to the browser: webauthn-rs checks the statement the key returns, whichever kind).
fn creation_options(ccr: &CreationChallengeResponse, s: &WebAuthnSettings) -> String {
    let mut o = serde_json::to_value(ccr).unwrap_or_default();
    if let Some(pk) = o.get_mut("publicKey").and_then(|p| p.as_object_mut()) {
        pk.insert("attestation".into(), s.attestation.clone().into());
        if let Some(sel) = pk
            .get_mut("authenticatorSelection")
            .and_then(|x| x.as_object_mut())
        {
            match &s.attachment {
                Some(a) => sel.insert("authenticatorAttachment".into(), a.clone().into()),
                None => sel.remove("authenticatorAttachment"),
            };
        }
    }
    o.to_string()
}

impl SecondFactors {
    /// The confirmed WebAuthn keys of `subject` for `a`, oldest first.
    pub async fn keys(
        &self,
        subject: &str,
        a: &Authenticator,
    ) -> Result<Vec<FactorRow>, FactorError> {
        Ok(self
            .store
            .factors_of(subject)
            .await?
            .into_iter()
            .filter(|f| {
                f.authenticator_id == a.id
                    && f.kind == a.kind.as_str()
                    && f.confirmed_at.is_some()
                    && f.credential_id.is_some()
            })
            .collect())
    }

    fn credential(&self, f: &FactorRow) -> Result<Credential, FactorError> {
        let json = self
            .sealer
            .open(&purpose(f), &f.secret)
            .ok_or(FactorError::Sealed)?;
        let mut c: Credential = serde_json::from_slice(&json).map_err(internal)?;
        // The column is the counter in force: uses advance it without a read of the credential.
        c.counter = u32::try_from(f.sign_count).unwrap_or(u32::MAX);
        Ok(c)
    }

    /// Start a ceremony for request `request_id` of `subject` (`names`: the account name and
    /// the display name a new key stores): a registration when the user has no key for `a` or
    /// is `adding` one, else an authentication with their keys. Kept with the request,
    /// replacing the one its page started before.
    pub async fn begin_ceremony(
        &self,
        request_id: &str,
        subject: &str,
        a: &Authenticator,
        (account, display): (&str, &str),
        adding: bool,
        now: i64,
    ) -> Result<KeyPage, FactorError> {
        let s = settings(a)?;
        let rp = relying_party(s).map_err(internal)?;
        let rows = self.keys(subject, a).await?;
        let creds = rows
            .iter()
            .map(|f| self.credential(f))
            .collect::<Result<Vec<_>, _>>()?;
        let names: Vec<String> = rows.iter().map(|f| f.name.clone()).collect();
        let passkeys = s.user_verification == UserVerification::Required;
        let (options, state, register) = if rows.is_empty() || adding {
            let exclude = Some(creds.iter().map(|c| c.cred_id.clone()).collect());
            let user = user_handle(subject);
            if passkeys {
                let (ccr, st) = rp
                    .start_passkey_registration(user, account, display, exclude)
                    .map_err(internal)?;
                (
                    creation_options(&ccr, s),
                    CeremonyState::PasskeyRegistration(st),
                    true,
                )
            } else {
                let hint = match s.attachment.as_deref() {
                    Some("platform") => Some(AuthenticatorAttachment::Platform),
                    Some("cross-platform") => Some(AuthenticatorAttachment::CrossPlatform),
                    _ => None,
                };
                let (ccr, st) = rp
                    .start_securitykey_registration(user, account, display, exclude, None, hint)
                    .map_err(internal)?;
                (
                    creation_options(&ccr, s),
                    CeremonyState::SecurityKeyRegistration(st),
                    true,
                )
            }
        } else if passkeys {
            let keys: Vec<Passkey> = creds.into_iter().map(Passkey::from).collect();
            let (rcr, st) = rp.start_passkey_authentication(&keys).map_err(internal)?;
            (
                serde_json::to_string(&rcr).map_err(internal)?,
                CeremonyState::PasskeyAuthentication(st),
                false,
            )
        } else {
            let keys: Vec<SecurityKey> = creds.into_iter().map(SecurityKey::from).collect();
            let (rcr, st) = rp
                .start_securitykey_authentication(&keys)
                .map_err(internal)?;
            (
                serde_json::to_string(&rcr).map_err(internal)?,
                CeremonyState::SecurityKeyAuthentication(st),
                false,
            )
        };
        let ceremony = Ceremony {
            authenticator: a.id.clone(),
            expires_at: now + s.timeout_secs,
            adding,
            state,
        };
        let json = serde_json::to_string(&ceremony).map_err(internal)?;
        if !self.store.put_ceremony(request_id, &json, now).await? {
            return Err(FactorError::Storage(crate::storage::StorageError::NotFound));
        }
        Ok(KeyPage {
            options,
            register,
            keys: names,
        })
    }

    /// Take the ceremony of request `request_id`: once.
    pub async fn take_ceremony(
        &self,
        request_id: &str,
        now: i64,
    ) -> Result<Option<Ceremony>, FactorError> {
        Ok(self
            .store
            .take_ceremony(request_id, now)
            .await?
            .and_then(|j| serde_json::from_str(&j).ok()))
    }

    /// Check the browser's answer `response` (the credential as JSON) to `ceremony`, which
    /// was started for `a` and `subject`; a new key is stored (named `name`), a used key's
    /// counter advanced, before this returns.
    pub async fn finish_ceremony(
        &self,
        ceremony: Ceremony,
        (subject, connector_id): (&str, &str),
        a: &Authenticator,
        response: &str,
        name: &str,
        now: i64,
    ) -> Result<KeyCheck, FactorError> {
        let rp = relying_party(settings(a)?).map_err(internal)?;
        let refused = |e: WebauthnError| Ok(KeyCheck::Refused(KeyRefusal::from_error(&e)));
        if ceremony.state.registers() {
            let Ok(reg) = serde_json::from_str::<RegisterPublicKeyCredential>(response) else {
                return Ok(KeyCheck::Refused(KeyRefusal::Malformed));
            };
            let cred: Credential = match &ceremony.state {
                CeremonyState::PasskeyRegistration(st) => {
                    match rp.finish_passkey_registration(&reg, st) {
                        Ok(k) => k.into(),
                        Err(e) => return refused(e),
                    }
                }
                CeremonyState::SecurityKeyRegistration(st) => {
                    match rp.finish_securitykey_registration(&reg, st) {
                        Ok(k) => k.into(),
                        Err(e) => return refused(e),
                    }
                }
                _ => return Ok(KeyCheck::Refused(KeyRefusal::Invalid)),
            };
            return self
                .store_key(subject, connector_id, a, cred, name, now)
                .await;
        }
        let Ok(assertion) = serde_json::from_str::<PublicKeyCredential>(response) else {
            return Ok(KeyCheck::Refused(KeyRefusal::Malformed));
        };
        let result = match &ceremony.state {
            CeremonyState::PasskeyAuthentication(st) => {
                rp.finish_passkey_authentication(&assertion, st)
            }
            CeremonyState::SecurityKeyAuthentication(st) => {
                rp.finish_securitykey_authentication(&assertion, st)
            }
            _ => return Ok(KeyCheck::Refused(KeyRefusal::Invalid)),
        };
        let result = match result {
            Ok(r) => r,
            Err(e) => return refused(e),
        };
        // The key as stored now, not as the ceremony saw it when the page was drawn: another
        // login may have used it since.
        let id = b64(result.cred_id());
        let Some(row) = self
            .keys(subject, a)
            .await?
            .into_iter()
            .find(|f| f.credential_id.as_deref() == Some(id.as_str()))
        else {
            return Ok(KeyCheck::Refused(KeyRefusal::UnknownCredential));
        };
        let mut cred = self.credential(&row)?;
        if !counter_advances(cred.counter, result.counter()) {
            return Ok(KeyCheck::Refused(KeyRefusal::CounterRegressed));
        }
        cred.counter = result.counter();
        cred.backup_state = result.backup_state();
        cred.backup_eligible = result.backup_eligible();
        let json = serde_json::to_vec(&cred).map_err(internal)?;
        let sealed = self.sealer.seal(&purpose(&row), &json);
        if !self
            .store
            .accept_webauthn_use(
                &row.id,
                (row.sign_count, i64::from(result.counter())),
                &sealed,
                now,
            )
            .await?
        {
            // Another use of the key won the race with a counter this one did not pass.
            return Ok(KeyCheck::Refused(KeyRefusal::CounterRegressed));
        }
        Ok(KeyCheck::Good {
            amr: amr_value(result.backup_eligible()),
            name: row.name,
        })
    }

    async fn store_key(
        &self,
        subject: &str,
        connector_id: &str,
        a: &Authenticator,
        cred: Credential,
        name: &str,
        now: i64,
    ) -> Result<KeyCheck, FactorError> {
        let name = key_name(name);
        let name = if name.is_empty() {
            DEFAULT_KEY_NAME.to_string()
        } else {
            name
        };
        let mut row = FactorRow {
            id: crate::secret::random_token(16),
            subject: subject.into(),
            connector_id: connector_id.into(),
            authenticator_id: a.id.clone(),
            kind: a.kind.as_str().into(),
            secret: String::new(),
            last_step: -1,
            confirmed_at: Some(now),
            created_at: now,
            last_used_at: Some(now),
            name: name.clone(),
            credential_id: Some(b64(&cred.cred_id)),
            sign_count: i64::from(cred.counter),
        };
        let json = serde_json::to_vec(&cred).map_err(internal)?;
        row.secret = self.sealer.seal(&purpose(&row), &json);
        if !self.store.add_webauthn_factor(&row).await? {
            return Ok(KeyCheck::Refused(KeyRefusal::AlreadyRegistered));
        }
        Ok(KeyCheck::Registered {
            amr: amr_value(cred.backup_eligible),
            name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_name_loses_control_characters_and_direction_overrides() {
        assert_eq!(
            key_name("  Ann's \u{1b}[31mYubiKey\u{202E}gpj.exe  "),
            "Ann's [31mYubiKeygpj.exe"
        );
        assert_eq!(key_name("\u{2066}\u{0007}"), "");
        assert_eq!(key_name(&"k".repeat(200)).chars().count(), MAX_NAME);
    }

    #[test]
    fn a_counter_must_go_forward_unless_the_key_keeps_none() {
        assert!(counter_advances(0, 1));
        assert!(counter_advances(5, 6));
        assert!(counter_advances(5, 500));
        // A key without a counter sends 0 each time.
        assert!(counter_advances(0, 0));
        // Equal or behind: the same assertion again, or a second copy of the key.
        assert!(!counter_advances(5, 5));
        assert!(!counter_advances(5, 4));
        assert!(!counter_advances(5, 0));
        assert!(!counter_advances(1, 0));
    }

    #[test]
    fn a_device_bound_key_is_hwk_and_a_synced_passkey_swk() {
        assert_eq!(amr_value(false), "hwk");
        assert_eq!(amr_value(true), "swk");
        assert_eq!(
            super::super::amr_after("pwd", amr_value(false)),
            "pwd hwk mfa"
        );
        assert_eq!(
            super::super::amr_after("pwd swk mfa", amr_value(true)),
            "pwd swk mfa"
        );
    }

    #[test]
    fn the_user_handle_is_stable_per_identity_and_differs_between_them() {
        assert_eq!(user_handle("a"), user_handle("a"));
        assert_ne!(user_handle("a"), user_handle("b"));
    }

    fn settings(uv: UserVerification) -> WebAuthnSettings {
        crate::config::webauthn_settings(
            &serde_json::json!({
                "rpID": "example.com",
                "rpOrigins": ["https://login.example.com", "https://example.com:8443"],
                "userVerification": match uv {
                    UserVerification::Required => "required",
                    UserVerification::Preferred => "preferred",
                    UserVerification::Discouraged => "discouraged",
                },
                "authenticatorAttachment": "cross-platform",
                "attestationPreference": "none",
                "timeout": "2m",
            }),
            "https://login.example.com/dex",
        )
        .unwrap()
    }

    #[test]
    fn the_options_carry_the_configured_relying_party_and_preferences() {
        let s = settings(UserVerification::Preferred);
        assert_eq!(s.timeout_secs, 120);
        let rp = relying_party(&s).unwrap();
        assert_eq!(rp.get_allowed_origins().len(), 2);
        let (ccr, _) = rp
            .start_securitykey_registration(user_handle("x"), "x", "x", None, None, None)
            .unwrap();
        let o: serde_json::Value = serde_json::from_str(&creation_options(&ccr, &s)).unwrap();
        let pk = &o["publicKey"];
        assert_eq!(pk["rp"]["id"], "example.com");
        assert_eq!(pk["attestation"], "none");
        assert_eq!(pk["timeout"], 120_000);
        assert_eq!(
            pk["authenticatorSelection"]["authenticatorAttachment"],
            "cross-platform"
        );
        assert_eq!(
            pk["authenticatorSelection"]["userVerification"],
            "preferred"
        );
        // Passkeys when the config requires user verification.
        let s = settings(UserVerification::Required);
        let rp = relying_party(&s).unwrap();
        let (ccr, _) = rp
            .start_passkey_registration(user_handle("x"), "x", "x", None)
            .unwrap();
        let o: serde_json::Value = serde_json::from_str(&creation_options(&ccr, &s)).unwrap();
        assert_eq!(
            o["publicKey"]["authenticatorSelection"]["userVerification"],
            "required"
        );
    }
}
