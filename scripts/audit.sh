#!/usr/bin/env bash
# Supply-chain checks of Cargo.lock, run by scripts/test.sh:
#   1. every dependency comes from crates.io and its license is one Gantry (Apache-2.0) may
#      ship with (checked offline from `cargo metadata`);
#   2. `cargo audit` against the RustSec advisory database, with the exceptions (and their
#      reasons) in .cargo/audit.toml. The database is a git repository on github.com: where
#      that is out of reach the step says so and is skipped, it does not pass silently.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "licenses and sources:"
cargo metadata --format-version 1 --locked | python3 -c '
import json, re, sys

ALLOWED = {
    "MIT", "MIT-0", "Apache-2.0", "Apache-2.0 WITH LLVM-exception", "BSD-1-Clause",
    "BSD-2-Clause", "BSD-3-Clause", "ISC", "Zlib", "Unicode-3.0", "Unlicense", "CC0-1.0",
    "BSL-1.0", "CDLA-Permissive-2.0",
    # File-level copyleft: using the unmodified crates in a binary obliges only that their own
    # files stay MPL. webauthn-rs (the WebAuthn implementation the issue names) is MPL-2.0.
    "MPL-2.0",
}
CRATES_IO = "registry+https://github.com/rust-lang/crates.io-index"

def ok(expr):
    """An SPDX expression is acceptable when some choice of its ORs is all allowed."""
    tokens = re.findall(r"\(|\)|[A-Za-z0-9.+-]+(?: WITH [A-Za-z0-9.+-]+)?", expr.replace("/", " OR "))
    pos = 0
    def atom():
        nonlocal pos
        t = tokens[pos]; pos += 1
        if t == "(":
            v = disj(); pos += 1
            return v
        return t in ALLOWED
    def conj():
        nonlocal pos
        v = atom()
        while pos < len(tokens) and tokens[pos] == "AND":
            pos += 1; v = atom() and v
        return v
    def disj():
        nonlocal pos
        v = conj()
        while pos < len(tokens) and tokens[pos] == "OR":
            pos += 1; v = conj() or v
        return v
    return bool(tokens) and disj() and pos == len(tokens)

meta = json.load(sys.stdin)
local = set(meta["workspace_members"])
bad = []
n = 0
for p in meta["packages"]:
    if p["id"] in local:
        continue
    n += 1
    # No single quotes in here: this program is a single-quoted shell word.
    crate, source, lic = p["name"] + " " + p["version"], p.get("source"), p.get("license")
    if source != CRATES_IO:
        bad.append(f"{crate}: not from crates.io ({source})")
    if not ok(p.get("license") or ""):
        bad.append(f"{crate}: license {lic!r} is not allowed")
if bad:
    print("\n".join(bad)); sys.exit(1)
print(f"  {n} crates, all from crates.io under allowed licenses")
'

echo "advisories:"
if ! timeout 15 git ls-remote https://github.com/rustsec/advisory-db HEAD >/dev/null 2>&1; then
  echo "  SKIPPED: the RustSec advisory database (github.com/rustsec/advisory-db) is out of reach"
  exit 0
fi
command -v cargo-audit >/dev/null 2>&1 || cargo install cargo-audit --locked --quiet
cargo audit --deny warnings
