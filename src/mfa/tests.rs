use std::sync::Arc;

use super::*;
use crate::storage::memory_factors::MemoryFactors;

fn totp(id: &str, types: &[&str]) -> Authenticator {
    Authenticator {
        id: id.into(),
        kind: AuthenticatorKind::Totp,
        issuer: None,
        connector_types: types.iter().map(|t| t.to_string()).collect(),
        webauthn: None,
    }
}

fn service() -> SecondFactors {
    let auths = Authenticators {
        all: vec![totp("otp", &[]), totp("ldap-otp", &["ldap"])],
        default_chain: vec!["otp".into()],
    };
    SecondFactors::new(
        auths,
        Arc::new(MemoryFactors::default()),
        Sealer::new(&[crate::secret::random_bytes(32)]).unwrap(),
    )
}

fn secret_of(e: &Enrolment) -> Vec<u8> {
    let q = url::Url::parse(&e.uri).unwrap();
    let b32 = q
        .query_pairs()
        .find(|(k, _)| k == "secret")
        .unwrap()
        .1
        .to_string();
    assert_eq!(b32, e.secret.replace(' ', ""));
    // Decode base32 the long way, independent of the encoder.
    let mut bits = String::new();
    for c in b32.chars() {
        let v = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".find(c).unwrap();
        bits.push_str(&format!("{v:05b}"));
    }
    bits.as_bytes()
        .chunks(8)
        .filter(|c| c.len() == 8)
        .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 2).unwrap())
        .collect()
}

#[test]
fn the_chain_is_the_clients_else_the_default_filtered_by_connector_type() {
    let s = service();
    let a = &s.authenticators;
    let ids = |c: Vec<&Authenticator>| c.iter().map(|a| a.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(a.chain(None, "local")), ["otp"]);
    // Dex: an explicit empty chain is "no second factor", not "the default".
    assert!(a.chain(Some(&[]), "local").is_empty());
    let both = ["otp".to_string(), "ldap-otp".to_string()];
    assert_eq!(ids(a.chain(Some(&both), "ldap")), ["otp", "ldap-otp"]);
    assert_eq!(ids(a.chain(Some(&both), "saml")), ["otp"]);
    let ldap_only = ["ldap-otp".to_string()];
    assert!(a.chain(Some(&ldap_only), "oidc").is_empty());
    // acr_values asking for a second factor gets one where the chain has none.
    assert_eq!(a.first_for("oidc").map(|a| a.id.as_str()), Some("otp"));
    assert!(asks_for_mfa("urn:x urn:gantry:acr:mfa"));
    assert!(!asks_for_mfa("urn:gantry:acr:1fa"));
}

#[test]
fn amr_gains_otp_and_mfa_once() {
    assert_eq!(amr_after("pwd", "otp"), "pwd otp mfa");
    assert_eq!(amr_after("", "otp"), "otp mfa");
    assert_eq!(amr_after("pwd otp mfa", "otp"), "pwd otp mfa");
    assert!(totp("x", &[]).satisfied_by("pwd otp mfa"));
    assert!(!totp("x", &[]).satisfied_by("pwd mfa"));
}

#[test]
fn a_recovery_code_satisfies_its_step_and_is_claimed_as_otp_only() {
    let key = Authenticator {
        id: "key".into(),
        kind: AuthenticatorKind::WebAuthn,
        issuer: None,
        connector_types: vec![],
        webauthn: None,
    };
    let amr = amr_after("pwd", &format!("otp {}", key.kind.recovered_mark()));
    assert_eq!(amr, "pwd otp recovered:webauthn mfa");
    assert!(key.satisfied_by(&amr), "the key's step is done");
    assert!(
        !totp("x", &[]).satisfied_by("pwd recovered:webauthn mfa"),
        "not another kind's"
    );
    assert!(has_second_factor(&amr));
    assert_eq!(claimed(&amr), ["pwd", "otp", "mfa"], "no hwk claimed");
}

#[tokio::test]
async fn enrolment_keeps_one_secret_until_a_code_confirms_it_once() {
    let s = service();
    let a = s.authenticators.get("otp").unwrap().clone();
    let now = 1_700_000_000;
    let e1 = s
        .enrolment("sub-1", "local", &a, ("jane", "Gantry"), now, "req-1")
        .await
        .unwrap();
    let e2 = s
        .enrolment("sub-1", "local", &a, ("jane", "Gantry"), now + 60, "req-1")
        .await
        .unwrap();
    assert_eq!(
        e1.secret, e2.secret,
        "a reload shows the secret already scanned"
    );
    // Another login (someone else who knows the password) gets a new secret, which replaces
    // the first: the first can then never be confirmed, from either request.
    let other = s
        .enrolment("sub-1", "local", &a, ("jane", "Gantry"), now + 61, "req-2")
        .await
        .unwrap();
    assert_ne!(other.secret, e1.secret);
    let stale = totp::code_at(&secret_of(&e1), totp::step_of(now));
    assert_eq!(
        s.check_code("sub-1", &a, &stale, now, "req-2")
            .await
            .unwrap(),
        CodeCheck::Wrong,
        "the first secret is gone"
    );
    let mine = totp::code_at(&secret_of(&other), totp::step_of(now));
    assert_eq!(
        s.check_code("sub-1", &a, &mine, now, "req-1")
            .await
            .unwrap(),
        CodeCheck::NotEnrolled,
        "a request does not confirm an enrolment shown to another"
    );
    // The first login's page comes back with a secret of its own again.
    let e1 = s
        .enrolment("sub-1", "local", &a, ("jane", "Gantry"), now + 62, "req-1")
        .await
        .unwrap();
    assert!(e1.uri.starts_with("otpauth://totp/Gantry:jane?secret="));
    assert!(e1.qr_svg.contains("<svg"));
    assert!(matches!(
        s.standing("sub-1", &a).await.unwrap(),
        Standing::Enrolling(_)
    ));
    let secret = secret_of(&e1);
    assert_eq!(secret.len(), 20);
    // The row holds it sealed, not in clear.
    let row = &s.store().factors_of("sub-1").await.unwrap()[0];
    assert!(!row.secret.contains(&totp::base32(&secret)));

    let code = totp::code_at(&secret, totp::step_of(now));
    assert_eq!(
        s.check_code("sub-1", &a, "000000", now, "req-1")
            .await
            .unwrap()
            == CodeCheck::Wrong,
        code != "000000"
    );
    assert_eq!(
        s.check_code("sub-1", &a, &code, now, "req-1")
            .await
            .unwrap(),
        CodeCheck::Good {
            confirmed_now: true
        }
    );
    assert_eq!(
        s.check_code("sub-1", &a, &code, now, "req-1")
            .await
            .unwrap(),
        CodeCheck::Replayed
    );
    assert!(matches!(
        s.standing("sub-1", &a).await.unwrap(),
        Standing::Confirmed(_)
    ));
    let later = now + totp::STEP;
    let next = totp::code_at(&secret, totp::step_of(later));
    assert_eq!(
        s.check_code("sub-1", &a, &next, later, "req-1")
            .await
            .unwrap(),
        CodeCheck::Good {
            confirmed_now: false
        }
    );
    // Another identity has nothing enrolled, whatever code it sends.
    assert_eq!(
        s.check_code("sub-2", &a, &next, later, "req-1")
            .await
            .unwrap(),
        CodeCheck::NotEnrolled
    );
}

#[tokio::test]
async fn a_secret_moved_to_another_row_does_not_open() {
    let s = service();
    let a = s.authenticators.get("otp").unwrap().clone();
    s.enrolment("sub-1", "local", &a, ("jane", "Gantry"), 100, "req-1")
        .await
        .unwrap();
    let mut stolen = s.store().factors_of("sub-1").await.unwrap()[0].clone();
    stolen.subject = "sub-2".into();
    stolen.id = "other".into();
    // Confirmed, so that the check opens it (an unconfirmed one answers only its own login).
    stolen.confirmed_at = Some(100);
    s.store().add_totp_factor(&stolen).await.unwrap();
    assert!(matches!(
        s.check_code("sub-2", &a, "123456", 100, "req-1").await,
        Err(FactorError::Sealed)
    ));
}

#[tokio::test]
async fn recovery_codes_work_once_each_and_belong_to_one_identity() {
    let s = service();
    let codes = s.issue_recovery_codes("sub-1", 10).await.unwrap();
    assert_eq!(codes.len(), recovery::COUNT);
    assert!(s.has_recovery_codes("sub-1").await.unwrap());
    assert!(!s.use_recovery_code("sub-2", &codes[0], 11).await.unwrap());
    assert!(s.use_recovery_code("sub-1", &codes[0], 11).await.unwrap());
    assert!(!s.use_recovery_code("sub-1", &codes[0], 12).await.unwrap());
    assert!(s.use_recovery_code("sub-1", &codes[1], 12).await.unwrap());
    // New codes replace the old ones.
    let fresh = s.issue_recovery_codes("sub-1", 20).await.unwrap();
    assert!(!s.use_recovery_code("sub-1", &codes[2], 21).await.unwrap());
    assert!(s.use_recovery_code("sub-1", &fresh[2], 21).await.unwrap());
}

#[tokio::test]
async fn guesses_are_counted_per_identity_within_the_window() {
    let s = service();
    for _ in 0..GUESSES_PER_WINDOW {
        assert!(!s.guesses_exhausted("sub-1", 1000).await.unwrap());
        assert!(s.take_guess("sub-1", 1000).await.unwrap());
    }
    assert!(s.guesses_exhausted("sub-1", 1001).await.unwrap());
    assert!(
        !s.take_guess("sub-1", 1001).await.unwrap(),
        "the sixth is not checked"
    );
    assert!(!s.guesses_exhausted("sub-2", 1001).await.unwrap());
    assert!(
        !s.guesses_exhausted("sub-1", 1000 + GUESS_WINDOW)
            .await
            .unwrap()
    );
    assert!(s.take_guess("sub-1", 2000).await.unwrap());
    assert!(!s.guesses_exhausted("sub-1", 2001).await.unwrap());
    s.guessed_right("sub-1").await.unwrap();
    assert!(s.take_guess("sub-1", 2001).await.unwrap());
}
