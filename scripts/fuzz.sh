#!/usr/bin/env bash
# Fuzz every parser that takes untrusted bytes, each for a bounded time, keeping what the
# fuzzer learns in fuzz/corpus/TARGET (commit what is worth keeping). Hand-made inputs in
# fuzz/seeds/TARGET start each run too; cmin never drops them. A crash is copied to
# fuzz/findings/TARGET, which the test command replays (tests/it/fuzz_replay.rs) once fixed.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]    default: 60 s for each of every target
#
# Targets (bodies in fuzz/harness.rs): saml_response, authorize_request, token_form, jwt,
# registry_scope, config_file.
# Needs: rustup (installs the nightly toolchain and cargo-fuzz when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
[ $# -gt 0 ] && shift
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(saml_response authorize_request token_form jwt registry_scope config_file)
# cargo fuzz needs nightly flags (sanitizers). Where no nightly toolchain can be fetched, the
# installed one is asked to accept them (RUSTC_BOOTSTRAP), as its own sanitizer runtimes allow.
if rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal; then
  fuzz() { cargo +nightly fuzz "$@"; }
else
  echo "no nightly toolchain: fuzzing with the installed one and RUSTC_BOOTSTRAP=1" >&2
  fuzz() { RUSTC_BOOTSTRAP=1 cargo fuzz "$@"; }
fi
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
cd fuzz
# One build for all targets: they share the gantry library.
fuzz build
failed=()
for t in "${TARGETS[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t" "findings/$t"
  seeds=()
  [ -d "seeds/$t" ] && seeds=("seeds/$t")
  # As large as the input gets in production: a SAML response is refused only above 256 KiB
  # (xml::MAX_XML), and what goes wrong with depth or width needs the room.
  max_len=8192
  case "$t" in saml_response) max_len=262144 ;; config_file) max_len=65536 ;; esac
  printf '\n== %s: %s s, inputs up to %s bytes\n' "$t" "$SECS" "$max_len"
  # The seed SAML responses are signed by fuzz/corpus-key/idp.key, the JWTs by jwt-es256.der.
  if ! fuzz run "$t" "corpus/$t" "${seeds[@]}" -- \
      -max_total_time="$SECS" -max_len="$max_len" -timeout=5 -rss_limit_mb=2048 \
      -print_final_stats=1 2>&1 | grep -E '^(stat::|#[0-9]+ *DONE|==[0-9]+==|SUMMARY|Done)' ; then
    :
  fi
  # Keep the smallest set of inputs that reaches the same coverage: the corpus is committed.
  fuzz cmin "$t" "corpus/$t" -- -max_len="$max_len" -rss_limit_mb=2048 >/dev/null 2>&1 || true
  echo "  corpus: $(ls "corpus/$t" | wc -l) inputs after cmin"
  for a in "artifacts/$t"/*; do
    [ -e "$a" ] || continue
    cp "$a" "findings/$t/"
    failed+=("$t: $a")
  done
  rm -rf "artifacts/$t"
done
if ((${#failed[@]})); then
  printf '\nfindings (copied to fuzz/findings; fix, then the replay test keeps them fixed):\n' >&2
  printf '  %s\n' "${failed[@]}" >&2
  exit 1
fi
printf '\nno findings\n'
