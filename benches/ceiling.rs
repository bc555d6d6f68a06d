//! The ceilings the benchmark measures Gantry against, in the same rounds: an axum endpoint that
//! does nothing but sign one ES256 JWT with a key parsed once (`POST /sign`), and one that
//! returns a constant (`GET /hello`). Whatever Gantry does around its signature shows as the
//! distance to the first; whatever it does around an answer, as the distance to the second.
//! usage: ceiling 127.0.0.1:PORT   (built by scripts/bench.sh: cargo build --release -p gantry-benches)

use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

struct Key {
    pair: EcdsaKeyPair,
    rng: SystemRandom,
}

async fn sign(State(k): State<Arc<Key>>) -> impl IntoResponse {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256","kid":"ceiling","typ":"at+jwt"}"#);
    let claims = serde_json::json!({
        "iss": "http://127.0.0.1/ceiling", "sub": "bench", "aud": "bench", "client_id": "bench",
        "iat": now, "exp": now + 600, "jti": now,
    });
    let mut jwt = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
    let Ok(sig) = k.pair.sign(&k.rng, jwt.as_bytes()) else {
        return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, String::new()).into_response();
    };
    jwt.push('.');
    jwt.push_str(&URL_SAFE_NO_PAD.encode(sig.as_ref()));
    (
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({"access_token": jwt, "token_type": "Bearer", "expires_in": 600})
            .to_string(),
    )
        .into_response()
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7400".into());
    let pkcs8 = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
        .and_then(|k| k.to_pkcs8v1())
        .map_err(|_| std::io::Error::other("cannot generate a key"))?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
        .map_err(|_| std::io::Error::other("cannot parse the key"))?;
    let key = Arc::new(Key {
        pair,
        rng: SystemRandom::new(),
    });
    let app = Router::new()
        .route("/sign", post(sign))
        .route("/hello", get(|| async { "hello" }))
        .with_state(key);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("ceiling listening on {addr}");
    axum::serve(listener, app).await
}
