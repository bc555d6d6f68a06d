#!/usr/bin/env bash
# Fuzz the SAML response parser and verifier for a bounded time, keeping the corpus in
# fuzz/corpus/saml_response (commit what it finds worth keeping). Findings land in
# fuzz/artifacts/saml_response; each becomes a test.
#   scripts/fuzz.sh [SECONDS]     (default 300)
# Needs: rustup (installs the nightly toolchain and cargo-fuzz when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-300}
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
# The seed responses are signed by fuzz/corpus-key/idp.key (made by scripts/peers/saml-sign.sh).
cd fuzz
cargo +nightly fuzz run saml_response corpus/saml_response -- \
  -max_total_time="$SECS" -max_len=65536 -timeout=5 -print_final_stats=1
