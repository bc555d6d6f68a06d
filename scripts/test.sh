#!/usr/bin/env bash
# Runs every Gantry test on a fresh Debian machine or a developer's:
#   1. installs what is missing (Node.js + npm, PostgreSQL, OpenLDAP slapd + ldap-utils,
#      docker-registry + skopeo, Chromium, SimpleSAMLphp + PHP, xmlsec1, podman, a C compiler,
#      openssl, curl, groff) with apt,
#   2. installs the Node peers (openid-client, oidc-provider, playwright-core for Debian's
#      Chromium) with npm ci, and schemathesis with pip into target/py,
#   3. starts a throwaway PostgreSQL cluster, slapd, docker-registry, an upstream OpenID
#      provider (oidc-provider) and a SAML IdP (SimpleSAMLphp) on loopback ports,
#   4. checks formatting, lints and the supply chain (scripts/audit.sh), runs `cargo test` (unit
#      tests + the one integration binary, which replays the fuzz corpora), checks deploy/
#      (scripts/deploy-check.sh), builds the container image from a release build and runs it
#      with podman where the machine can (scripts/image.sh, tests/it/image.rs),
#      then the chaos runs (tests/it/chaos.rs) on their own,
#   5. stops the peers, whatever happened.
# Needs: a Rust toolchain (rustup), root or sudo for apt when something is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }

missing=()
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
export PATH="$PATH:/usr/sbin:/sbin"
command -v slapd >/dev/null 2>&1 || missing+=(slapd)
command -v ldapadd >/dev/null 2>&1 || missing+=(ldap-utils)
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v xmlsec1 >/dev/null 2>&1 || missing+=(xmlsec1)
command -v php >/dev/null 2>&1 || missing+=(php-cli)
[ -d /usr/share/simplesamlphp/www ] || missing+=(simplesamlphp php-xml php-mbstring php-sqlite3 php-curl)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
# The image: podman builds it without a daemon; runc runs it where crun cannot (cgroups v1
# hybrid); the CNI plugins publish its port; binutils strips the binary.
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v runc >/dev/null 2>&1 || missing+=(runc)
# `podman kube play` starts each pod with catatonit as its pause process.
command -v catatonit >/dev/null 2>&1 || [ -x /usr/libexec/podman/catatonit ] || missing+=(catatonit)
[ -d /usr/lib/cni ] || missing+=(containernetworking-plugins)
command -v strip >/dev/null 2>&1 || missing+=(binutils)
[ -f /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)
# The man page test renders `gantry man` with groff.
command -v groff >/dev/null 2>&1 || missing+=(groff-base)
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
command -v cargo >/dev/null 2>&1 || { echo "cargo not found: install Rust with rustup first" >&2; exit 1; }
# kubectl 1.22+ (exec credential API v1); Debian's kubernetes-client is 1.20, too old to use.
command -v kubectl >/dev/null 2>&1 || { echo "kubectl not found: install kubectl 1.22 or newer (the kubectl tests run it)" >&2; exit 1; }

log "npm ci (tests/rp)"
(cd tests/rp && npm ci --no-audit --no-fund --loglevel=error)

# schemathesis (PyPI) checks the admin API against its OpenAPI document; kept in target/py.
SCHEMATHESIS_VERSION=4.32.5
if ! target/py/bin/st --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  log "pip install schemathesis==$SCHEMATHESIS_VERSION (target/py)"
  rm -rf target/py && mkdir -p target
  python3 -m venv target/py
  target/py/bin/pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
export GANTRY_TEST_SCHEMATHESIS="$PWD/target/py/bin/st"
# kubernetes-validate (PyPI) checks the manifests under deploy/ (scripts/deploy-check.sh).
KUBERNETES_VALIDATE_VERSION=1.37.0
if ! target/py/bin/kubernetes-validate --version 2>/dev/null | grep -q "$KUBERNETES_VALIDATE_VERSION"; then
  log "pip install kubernetes-validate==$KUBERNETES_VALIDATE_VERSION (target/py)"
  target/py/bin/pip install --quiet --disable-pip-version-check "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
fi

# --- PostgreSQL: a cluster of our own in a temp dir, trust auth, loopback only ---
PGDIR=$(mktemp -d /tmp/gantry-pg.XXXXXX)
LDAPDIR=$(mktemp -d /tmp/gantry-ldap.XXXXXX)
REGDIR=$(mktemp -d /tmp/gantry-registry.XXXXXX)
OP_PID=""
SAMLDIR=$(mktemp -d /tmp/gantry-saml.XXXXXX)
cleanup() {
  [ -n "$OP_PID" ] && kill "$OP_PID" 2>/dev/null || true
  scripts/peers/saml-idp.sh stop "$SAMLDIR/idp" >/dev/null 2>&1 || true
  rm -rf "$SAMLDIR"
  scripts/peers/registry.sh stop "$REGDIR" >/dev/null 2>&1 || true
  scripts/peers/postgres.sh stop "$PGDIR"
  scripts/peers/slapd.sh stop "$LDAPDIR/slapd" >/dev/null 2>&1 || true
  rm -rf "$PGDIR" "$LDAPDIR" "$REGDIR"
}
trap cleanup EXIT
log "starting PostgreSQL ($(scripts/peers/postgres.sh version))"
PGPORT=$(scripts/peers/postgres.sh start "$PGDIR" fsync=off)
export GANTRY_TEST_POSTGRES="postgres://postgres@127.0.0.1:$PGPORT/postgres"

log "starting slapd ($(slapd -VV 2>&1 | head -n1 | tr -d '@()$#'))"
started=""
for _ in $(seq 1 10); do
  port=$(( 20000 + RANDOM % 20000 ))
  rm -rf "$LDAPDIR/slapd"
  if scripts/peers/slapd.sh start "$port" "$((port + 1))" "$LDAPDIR/slapd" 2>"$LDAPDIR/err"; then
    started=1; break
  fi
  scripts/peers/slapd.sh stop "$LDAPDIR/slapd" >/dev/null 2>&1 || true
done
[ -n "$started" ] || { echo "slapd did not start:" >&2; cat "$LDAPDIR/err" >&2; exit 1; }
export GANTRY_TEST_LDAP_DIR="$LDAPDIR/slapd"
# Read by the tests' connector configs as $GANTRY_TEST_LDAP_BINDPW: tests $VAR expansion too.
export GANTRY_TEST_LDAP_BINDPW=readonly

# --- docker-registry: token auth against the Gantry a test binds on REALM_PORT ---
log "starting docker-registry ($(docker-registry --version 2>&1 | head -n1))"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=Gantry test registry CA" -keyout "$REGDIR/ca.key" -out "$REGDIR/ca.crt" 2>/dev/null
free_port() { # a port nothing listens on now
  local p
  for _ in $(seq 1 50); do
    p=$(( 20000 + RANDOM % 20000 ))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
  return 1
}
REALM_PORT=$(free_port); REG_PORT=$(free_port)
scripts/peers/registry.sh start "$REG_PORT" "$REGDIR" "http://127.0.0.1:$REALM_PORT/dex/registry/token" \
  registry.test gantry-test "$REGDIR/ca.crt"
export GANTRY_TEST_REGISTRY="127.0.0.1:$REG_PORT" GANTRY_TEST_REGISTRY_REALM_PORT="$REALM_PORT"
export GANTRY_TEST_REGISTRY_CA_CERT="$REGDIR/ca.crt" GANTRY_TEST_REGISTRY_CA_KEY="$REGDIR/ca.key"

# --- the upstream OpenID provider of the connector tests ---
OP_PORT=$(free_port)
log "starting oidc-provider $(node -p 'require("./tests/rp/node_modules/oidc-provider/package.json").version') on $OP_PORT"
# Named "localhost", a different site from Gantry's 127.0.0.1: browser logins through it cross
# sites the way they do in production (cookies that are SameSite=Lax still ride top-level GETs).
PORT=$OP_PORT ISSUER="http://localhost:$OP_PORT" node tests/rp/upstream.mjs >"$REGDIR/op.log" 2>&1 &
OP_PID=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$OP_PORT/.well-known/openid-configuration" >/dev/null && break
  kill -0 "$OP_PID" 2>/dev/null || { echo "oidc-provider did not start:" >&2; cat "$REGDIR/op.log" >&2; exit 1; }
  sleep 0.1
done
export GANTRY_TEST_OIDC_ISSUER="http://localhost:$OP_PORT"

# --- the SAML IdP: it must know Gantry's ACS in advance, so the SAML test binds SP_PORT ---
SP_PORT=$(free_port); IDP_PORT=$(free_port)
log "starting SimpleSAMLphp $(dpkg-query -W -f='${Version}' simplesamlphp 2>/dev/null) on $IDP_PORT"
IDP_HOST=localhost SP_ENTITY_ID="http://127.0.0.1:$SP_PORT/dex/callback" \
  SP_ACS_URL="http://127.0.0.1:$SP_PORT/dex/callback" \
  scripts/peers/saml-idp.sh start "$IDP_PORT" "$SAMLDIR/idp" >"$SAMLDIR/start.log" \
  || { cat "$SAMLDIR/start.log" >&2; exit 1; }
export GANTRY_TEST_SAML_SP_PORT="$SP_PORT"
export GANTRY_TEST_SAML_IDP_METADATA="http://localhost:$IDP_PORT/simplesaml/saml2/idp/metadata.php"

log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --all-targets --quiet -- -D warnings
log "supply chain (licenses, sources, advisories)"
scripts/audit.sh
log "cargo test"
cargo test --all-targets "$@"
log "deploy/: manifests and the systemd unit"
scripts/deploy-check.sh
log "container image (scripts/image.sh: release build, podman)"
scripts/image.sh
if [ -f target/image/run-args ]; then
  GANTRY_TEST_IMAGE="localhost/gantry:$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)" \
  GANTRY_TEST_PODMAN_ARGS="$(cat target/image/run-args)" \
  GANTRY_TEST_CONTAINERS_CONF="$PWD/target/image/containers.conf" \
    cargo test --test it image:: -- --ignored --test-threads=1
else
  echo "SKIPPED: running the image (built, and saved as an OCI archive; see above why not run)"
fi
# Alone, after the rest: they load the machine (replicas under load, kill -9, a database outage).
log "chaos runs"
cargo test --test it chaos:: -- --ignored --test-threads=1 --nocapture
