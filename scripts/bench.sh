#!/usr/bin/env bash
# Benchmarks: Gantry beside node oidc-provider (a certified OpenID provider) and two ceilings
# (benches/ceiling.rs), measured by wrk one after the other in one run, then refresh latency
# with 10k, 100k and 1M stored tokens on SQLite and on a throwaway PostgreSQL; writes
# BENCHMARKS.md. Not part of the test command: the tests assert behaviour, this measures speed.
#   scripts/bench.sh                        # 4 s rounds at 16 and 64 connections, SQLite
#   scripts/bench.sh --postgres             # the main table on PostgreSQL
#   DURATION=4 CONNS="64" scripts/bench.sh  # shorter; PARTS=growth for the growth rounds alone
# Installs what is missing on Debian (wrk, node, npm, python3, PostgreSQL), the peer from npm
# (bench/).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = --postgres ]; then export BENCH_STORAGE=postgres; fi

missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
command -v python3 >/dev/null || missing+=(python3)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
command -v psql >/dev/null || missing+=(postgresql-client)
if ((${#missing[@]})); then
  echo "== apt-get install ${missing[*]}"
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

echo "== npm ci (bench: oidc-provider)"
(cd bench && npm ci --no-audit --no-fund --silent)

echo "== cargo build --release (gantry, the ceilings)"
# One command for all three, so that they share every compiled crate (the micro-benchmarks'
# dependencies change the features of some crates gantry uses too).
cargo build --release -p gantry --bin gantry -p gantry-benches --bin ceiling --bench signing

echo "== criterion micro-benchmarks (benches/signing.rs)"
CRITERION_OUT="$(mktemp)"
trap 'rm -f "$CRITERION_OUT"' EXIT
cargo bench -p gantry-benches --bench signing 2>/dev/null | tee "$CRITERION_OUT"

echo "== rounds"
CRITERION_OUT="$CRITERION_OUT" python3 bench/run.py
