#!/usr/bin/env bash
# Checks what deploy/ ships, offline: each kustomize overlay renders (`kubectl kustomize`) into
# objects valid for Kubernetes 1.32 (kubernetes-validate, strict: no unknown fields), its config
# passes `gantry check-config`, and the systemd unit passes `systemd-analyze verify` without a
# single warning (the tool exits 0 on unknown keys and bad values, so its output is the test).
#   scripts/deploy-check.sh [path to a gantry binary]
# Run by scripts/test.sh after the build; needs kubectl, systemd-analyze and kubernetes-validate
# (test.sh installs the last into target/py).
set -euo pipefail
cd "$(dirname "$0")/.."
GANTRY=$(realpath "${1:-${CARGO_TARGET_DIR:-target}/debug/gantry}")
VALIDATE=${KUBERNETES_VALIDATE:-target/py/bin/kubernetes-validate}
KUBERNETES_VERSION=1.32.0
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# The manifests run the image scripts/image.sh builds: localhost/gantry:<Cargo.toml's version>.
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
for dir in deploy/kubernetes/overlays/*/; do
  name=$(basename "$dir")
  kubectl kustomize "$dir" > "$out/$name.yaml"
  images=$(sed -n 's/^ *image: *//p' "$out/$name.yaml" | sort -u)
  [ "$images" = "localhost/gantry:$version" ] || {
    echo "deploy/kubernetes/overlays/$name runs $images, not localhost/gantry:$version" >&2; exit 1; }
  "$VALIDATE" --kubernetes-version "$KUBERNETES_VERSION" --strict --quiet "$out/$name.yaml"
  # The values the Secret would hold; any will do for a check.
  GANTRY_ENCRYPTION_KEY=$(head -c 32 /dev/urandom | base64) DASHBOARD_CLIENT_SECRET=x \
    LDAP_BIND_PASSWORD=x PGHOST=db.example.com PGUSER=gantry PGPASSWORD=x \
    "$GANTRY" check-config --config "$dir/config.yaml" >/dev/null
  echo "deploy/kubernetes/overlays/$name: $(grep -c '^kind:' "$out/$name.yaml") objects, valid for Kubernetes $KUBERNETES_VERSION, config ok"
done

unit="$out/gantry.service"
sed "s|/usr/local/bin/gantry|$GANTRY|" deploy/systemd/gantry.service > "$unit"
said=$(systemd-analyze verify "$unit" 2>&1) || { echo "$said" >&2; exit 1; }
if [ -n "$said" ]; then
  echo "deploy/systemd/gantry.service: systemd-analyze verify warns:" >&2
  echo "$said" >&2
  exit 1
fi
echo "deploy/systemd/gantry.service: systemd-analyze verify ok"
