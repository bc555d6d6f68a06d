//! The bare cost of what bounds Gantry's token endpoints: one signature per algorithm (with the
//! key parsed once, as Gantry keeps it) and one argon2id password check. scripts/bench.sh turns
//! these into each row's "signing-bound maximum".
//! run: cargo bench -p gantry-benches --bench signing

// A benchmark that cannot set up has nothing to measure: it stops at once.
#![allow(clippy::panic)]

use criterion::{Criterion, criterion_group, criterion_main};
use gantry::keys::{Algorithm, SigningKey};

fn signatures(c: &mut Criterion) {
    let claims = serde_json::json!({
        "iss": "http://127.0.0.1:5556/dex", "sub": "bench", "aud": "bench", "client_id": "bench",
        "iat": 1_800_000_000u64, "exp": 1_800_000_600u64, "jti": "0123456789abcdef",
    });
    for alg in [Algorithm::ES256, Algorithm::EdDSA, Algorithm::RS256] {
        let Ok((key, _)) = SigningKey::generate(alg) else {
            panic!("cannot generate a {} key", alg.as_str());
        };
        c.bench_function(&format!("sign {}", alg.as_str()), |b| {
            b.iter(|| key.sign(std::hint::black_box(&claims), "at+jwt"))
        });
    }
}

fn argon2id(c: &mut Criterion) {
    let Ok(hash) = gantry::password::hash("correct horse battery staple") else {
        panic!("cannot hash");
    };
    let mut g = c.benchmark_group("password");
    g.sample_size(10);
    g.bench_function("argon2id verify", |b| {
        b.iter(|| {
            gantry::password::verify(std::hint::black_box("correct horse battery staple"), &hash)
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    // Short rounds: the figures are medians of microsecond (and one 20 ms) operations, and
    // the whole benchmark run has a time budget.
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = signatures, argon2id
}
criterion_main!(benches);
