//! Every input the fuzzers kept (fuzz/corpus/TARGET), every hand-made seed (fuzz/seeds/TARGET)
//! and every finding turned into a case (fuzz/findings/TARGET) through the targets' own code, on
//! stable Rust: a crash the fuzzer found once stays fixed. scripts/fuzz.sh does the fuzzing.

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
        root.join("seeds").join(target),
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

/// The hand-made SAML seeds: responses signed by the harness's IdP key (xmlsec1, through
/// scripts/peers/saml-sign.sh), then made deep or wide up to and just past the parser's bounds,
/// so that mutations start where depth and width go wrong. Written to fuzz/seeds, which cmin
/// never minimizes away. Run once by hand:
/// `cargo test --test it write_saml_seeds -- --ignored`.
#[test]
#[ignore = "writes fuzz/seeds/saml_response; run by hand when the seeds change"]
fn write_saml_seeds() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let sign = |env: &[(&str, &str)]| -> String {
        let out = std::process::Command::new("bash")
            .arg(root.join("scripts/peers/saml-sign.sh"))
            .arg(root.join("fuzz/corpus-key"))
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let dir = root.join("fuzz/seeds/saml_response");
    std::fs::create_dir_all(&dir).unwrap();
    // Each seed sits where its name says: the parser takes it (the signature check then walks
    // it and fails) or refuses it for the bound it passes.
    let write = |name: &str, xml: &str| {
        assert!(xml.len() <= 256 * 1024, "{name}: {} bytes", xml.len());
        let parsed = gantry::connector::saml::xml::parse(xml)
            .map(|_| ())
            .map_err(|e| e.to_string());
        match name.split('-').nth(1) {
            Some("65" | "5000" | "33") => assert!(parsed.is_err(), "{name} parsed"),
            _ => assert_eq!(parsed, Ok(()), "{name}"),
        }
        std::fs::write(dir.join(name), xml).unwrap();
    };
    // `inner` under the Extensions of a Response (levels 1 and 2) whose signature covers it.
    let response_signed = sign(&[("SIGN", "response")]);
    let in_extensions = |x: &str, inner: &str| {
        x.replacen(
            "<samlp:Status>",
            &format!("<samlp:Extensions>{inner}</samlp:Extensions><samlp:Status>"),
            1,
        )
    };
    let nest = |levels: usize| format!("{}{}", "<x>".repeat(levels), "</x>".repeat(levels));
    let attrs = |n: usize| (0..n).map(|i| format!(" a{i}=\"{i}\"")).collect::<String>();
    let decls = |n: usize| {
        (0..n)
            .map(|i| format!(" xmlns:n{i}=\"urn:n{i}\""))
            .collect::<String>()
    };

    // Deep: at the bound (64 levels), one past it, and the 35 KB that overflowed the stack.
    write(
        "deep-64-levels-signed",
        &in_extensions(&response_signed, &nest(62)),
    );
    write(
        "deep-65-levels-signed",
        &in_extensions(&response_signed, &nest(63)),
    );
    write(
        "deep-5000-levels-signed",
        &in_extensions(&response_signed, &nest(5000)),
    );
    // Deep inside a signed assertion's attribute value (Response, Assertion, AttributeStatement,
    // Attribute and AttributeValue are levels 1 to 5).
    write(
        "deep-64-levels-in-signed-assertion",
        &sign(&[]).replacen(
            ">alice</saml:AttributeValue>",
            &format!(">{}</saml:AttributeValue>", nest(59)),
            1,
        ),
    );

    // Wide: siblings up to the node limit, attributes at the bound on every element that fits
    // and one element past it.
    write(
        "wide-19000-siblings-signed",
        &in_extensions(&response_signed, &"<x/>".repeat(19_000)),
    );
    write(
        "wide-64-attributes-signed",
        &in_extensions(&response_signed, &format!("<x{}/>", attrs(64)).repeat(300)),
    );
    write(
        "wide-65-attributes",
        &in_extensions(&response_signed, &format!("<x{}/>", attrs(65))),
    );
    // Namespaces: the Response declares 2; 29 more on a wrapper and one on each of 15,000
    // children keep 32 in scope, the most allowed, with an InclusiveNamespaces list of 16 of
    // them (the most allowed) for canonicalization to look up on every element.
    let prefixes: Vec<String> = (0..16).map(|i| format!("n{i}")).collect();
    let with_prefixes = sign(&[("SIGN", "response"), ("PREFIXLIST", &prefixes.join(" "))]);
    write(
        "wide-32-namespaces-in-scope-signed",
        &in_extensions(
            &with_prefixes,
            &format!(
                "<w{}>{}</w>",
                decls(29),
                "<y xmlns:z=\"v\"/>".repeat(15_000)
            ),
        ),
    );
    write(
        "wide-33-namespaces-in-scope",
        &in_extensions(
            &response_signed,
            &format!("<w{}><y xmlns:z=\"v\"/></w>", decls(30)),
        ),
    );
    write(
        "wide-17-inclusive-prefixes-signed",
        &sign(&[
            ("SIGN", "response"),
            (
                "PREFIXLIST",
                &(0..17)
                    .map(|i| format!("p{i}"))
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
        ]),
    );
}
