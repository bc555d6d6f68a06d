//! Every input the fuzzers kept (fuzz/corpus/TARGET) and every finding turned into a case
//! (fuzz/findings/TARGET) through the targets' own code, on stable Rust: a crash the fuzzer
//! found once stays fixed. scripts/fuzz.sh does the fuzzing.

#[path = "../../fuzz/harness.rs"]
mod harness;

use std::path::PathBuf;

type Target = fn(&[u8]);

/// Run each saved input of `target`; how many there were.
fn replay(target: &str, run: Target) -> usize {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut n = 0;
    for dir in [
        root.join("corpus").join(target),
        root.join("findings").join(target),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(outcome.is_ok(), "{target} panicked on {}", path.display());
            n += 1;
        }
    }
    n
}

#[test]
fn fuzz_inputs_of_every_target_replay_without_a_panic() {
    let targets: [(&str, Target); 6] = [
        ("saml_response", harness::saml_response),
        ("authorize_request", harness::authorize_request),
        ("token_form", harness::token_form),
        ("jwt", harness::jwt),
        ("registry_scope", harness::registry_scope),
        ("config_file", harness::config_file),
    ];
    for (target, run) in targets {
        let n = replay(target, run);
        assert!(n > 0, "no saved inputs for {target}: the seeds are missing");
        println!("{target}: {n} inputs");
    }
}

/// The JWT seeds: tokens signed by the harness's key, well-formed and subtly wrong, so that
/// mutations start from inputs that reach the signature check. Run once by hand:
/// `cargo test --test it write_jwt_seeds -- --ignored`.
#[test]
#[ignore = "writes fuzz/corpus/jwt; run by hand when the seeds change"]
fn write_jwt_seeds() {
    let der = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fuzz/corpus-key/jwt-es256.der"
    ))
    .unwrap();
    let key = gantry::keys::SigningKey::from_pkcs8(gantry::keys::Algorithm::ES256, &der).unwrap();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/jwt");
    std::fs::create_dir_all(&dir).unwrap();
    let claims = [
        serde_json::json!({"iss": harness::ISSUER, "sub": "u1", "aud": "rp", "exp": 4_000_000_000u64, "jti": "j1", "scope": "openid"}),
        serde_json::json!({"iss": harness::ISSUER, "sub": "u1", "aud": ["rp", "kube"], "exp": 1, "groups": ["a", "b"]}),
        serde_json::json!({"iss": "https://other.example", "sub": "u2", "exp": 4_000_000_000u64}),
        serde_json::json!({"iss": harness::ISSUER, "exp": 4_000_000_000u64}),
        serde_json::json!({"iss": harness::ISSUER, "sub": "u3", "access": [{"type": "repository", "name": "library/app", "actions": ["pull"]}]}),
    ];
    for (i, c) in claims.iter().enumerate() {
        for typ in ["JWT", "at+jwt"] {
            let t = key.sign(c, typ).unwrap();
            std::fs::write(dir.join(format!("seed-{i}-{}", typ.replace('+', "-"))), &t).unwrap();
        }
    }
    // Header tricks: alg none, HS256, a kid with a path, jku and x5u.
    let b64 = |v: serde_json::Value| gantry::secret::b64(v.to_string().as_bytes());
    let body = b64(claims[0].clone());
    for (i, h) in [
        serde_json::json!({"alg": "none", "typ": "JWT"}),
        serde_json::json!({"alg": "HS256", "typ": "JWT"}),
        serde_json::json!({"alg": "ES256", "kid": "../../etc/passwd"}),
        serde_json::json!({"alg": "ES256", "jku": "https://evil.example/jwks", "x5u": "https://evil.example/c"}),
    ]
    .into_iter()
    .enumerate()
    {
        std::fs::write(dir.join(format!("header-{i}")), format!("{}.{body}.AAAA", b64(h))).unwrap();
    }
}
