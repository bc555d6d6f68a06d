#!/usr/bin/env bash
# A throwaway container registry (distribution's docker-registry) on loopback with token
# authentication pointed at Gantry, filesystem storage in DIR.
#
#   registry.sh start PORT DIR REALM SERVICE ISSUER ROOTCERTBUNDLE
#   registry.sh stop DIR
#
# REALM is Gantry's token endpoint (ISSUER_URL/registry/token), SERVICE and ISSUER must match a
# `registry.services` entry of Gantry's config, ROOTCERTBUNDLE is `gantry registry ca` output.
set -euo pipefail
case "${1:-}" in
  start)
    PORT=${2:?port}; DIR=${3:?dir}; REALM=${4:?realm}; SERVICE=${5:?service}; ISSUER=${6:?issuer}; ROOT=${7:?rootcertbundle}
    mkdir -p "$DIR/data"
    cat > "$DIR/config.yml" <<CONF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $DIR/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$PORT
  secret: throwaway-test-secret
auth:
  token:
    realm: $REALM
    service: $SERVICE
    issuer: $ISSUER
    rootcertbundle: $ROOT
CONF
    docker-registry serve "$DIR/config.yml" > "$DIR/registry.log" 2>&1 &
    echo $! > "$DIR/registry.pid"
    for _ in $(seq 1 100); do
      # An unauthenticated /v2/ answers 401 once the registry listens.
      code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v2/" || true)
      [ "$code" = 401 ] && exit 0
      kill -0 "$(cat "$DIR/registry.pid")" 2>/dev/null || break
      sleep 0.1
    done
    echo "docker-registry did not start:" >&2; cat "$DIR/registry.log" >&2; exit 1 ;;
  stop)
    DIR=${2:?dir}
    [ -f "$DIR/registry.pid" ] || exit 0
    pid=$(cat "$DIR/registry.pid"); kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 0.1; done ;;
  *) echo "usage: $0 start PORT DIR REALM SERVICE ISSUER ROOTCERTBUNDLE | stop DIR" >&2; exit 2 ;;
esac
