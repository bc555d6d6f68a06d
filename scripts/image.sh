#!/usr/bin/env bash
# Builds the Gantry container image without a daemon (podman), from the release binary:
#   scripts/image.sh [--binary PATH]
# 1. builds `gantry` in release mode (unless --binary names one), strips it,
# 2. stages a root filesystem: the binary, the shared libraries `ldd` says it loads, the CA
#    certificates, /etc/passwd and /etc/group with the user gantry (65532), /tmp,
# 3. builds ./Containerfile on it as localhost/gantry:<version> and localhost/gantry:latest,
#    with file times and the creation date set to the commit's (SOURCE_DATE_EPOCH), and saves
#    it as an OCI archive: target/image/gantry-<version>.oci.tar (`podman load -i` or
#    `skopeo copy oci-archive:... docker://registry/...` to push it),
# 4. finds how this machine can run a container (some need `--runtime runc` or lower ulimits;
#    some cannot at all) and writes the podman options that worked to target/image/run-args
#    (and as a containers.conf, for `podman kube play`), or the reason none did to
#    target/image/run-skipped.
# Needs podman (Debian: apt install podman) and binutils' strip.
set -euo pipefail
cd "$(dirname "$0")/.."

binary=""
while (($#)); do
  case "$1" in
    --binary) binary=$2; shift 2 ;;
    *) echo "usage: scripts/image.sh [--binary PATH]" >&2; exit 2 ;;
  esac
done
command -v podman >/dev/null || { echo "podman not found (Debian: apt install podman)" >&2; exit 1; }

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
revision=${GANTRY_GIT_COMMIT:-$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
out=target/image
image=localhost/gantry:$version

if [ -z "$binary" ]; then
  echo "== cargo build --release (gantry)"
  cargo build --release --locked --bin gantry
  binary=${CARGO_TARGET_DIR:-target}/release/gantry
fi

echo "== staging the root filesystem"
ctx=$out/context
rm -rf "$ctx" && mkdir -p "$ctx/rootfs/usr/bin" "$ctx/rootfs/etc/ssl/certs" "$ctx/rootfs/etc/gantry" \
  "$ctx/rootfs/tmp" "$ctx/state"
chmod 1777 "$ctx/rootfs/tmp"
strip --strip-all -o "$ctx/rootfs/usr/bin/gantry" "$binary"
# The libraries the dynamic linker loads, at the paths it looks for them (the loader itself
# at its absolute path). A build machine of the same Debian release gives the same set.
ldd "$binary" | awk '/=> \// { print $3 } /^\t\// { print $1 }' | while read -r lib; do
  mkdir -p "$ctx/rootfs$(dirname "$lib")"
  cp -L "$lib" "$ctx/rootfs$lib"
done
ca=/etc/ssl/certs/ca-certificates.crt
[ -f "$ca" ] || { echo "$ca missing (Debian: apt install ca-certificates)" >&2; exit 1; }
cp "$ca" "$ctx/rootfs/etc/ssl/certs/"
printf 'root:x:0:0:root:/root:/sbin/nologin\ngantry:x:65532:65532:gantry:/var/lib/gantry:/sbin/nologin\n' \
  > "$ctx/rootfs/etc/passwd"
printf 'root:x:0:\ngantry:x:65532:\n' > "$ctx/rootfs/etc/group"
cp Containerfile "$ctx/"

echo "== podman build $image"
previous=$(podman image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
podman build --quiet --format oci --timestamp "$SOURCE_DATE_EPOCH" \
  --build-arg VERSION="$version" --build-arg REVISION="$revision" \
  -t "$image" -t localhost/gantry:latest "$ctx" >/dev/null
# The image this replaced, untagged now: gone, so rebuilds do not pile up.
current=$(podman image inspect --format '{{.Id}}' "$image")
if [ -n "$previous" ] && [ "$previous" != "$current" ]; then
  podman rmi "$previous" >/dev/null 2>&1 || true
fi
archive=$out/gantry-$version.oci.tar
rm -f "$archive"
podman save --quiet --format oci-archive -o "$archive" "$image"
size=$(podman image inspect --format '{{.Size}}' "$image")
echo "$image: $((size / 1000000)) MB unpacked ($size bytes), archive $archive $(( $(stat -c %s "$archive") / 1000000 )) MB"

echo "== can this machine run it?"
rm -f "$out/run-args" "$out/run-skipped" "$out/containers.conf"
# Without CAP_SYS_RESOURCE the runtime cannot raise rlimits to podman's defaults; crun also
# refuses cgroups v1 with a v2 hierarchy mounted beside it (hybrid), where runc works. Each
# way is written twice: as `podman run` options, and as a containers.conf for `podman kube play`.
lower="--ulimit nofile=4096:4096 --ulimit nproc=4096:4096"
lower_conf='[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]'
ways=("" "$lower" "--runtime runc $lower")
confs=("" "$lower_conf" "$lower_conf
[engine]
runtime = \"runc\"")
errors=""
for i in "${!ways[@]}"; do
  args=${ways[$i]}
  # shellcheck disable=SC2086 # the options are words
  if said=$(podman run --rm $args "$image" --version 2>&1) && [[ "$said" == gantry* ]]; then
    echo "$args" > "$out/run-args"
    printf '%s\n' "${confs[$i]}" > "$out/containers.conf"
    echo "podman run ${args:+$args }$image: $said"
    exit 0
  fi
  errors+="podman run ${args:+$args }: $(tail -n1 <<<"$said")"$'\n'
done
printf 'this machine cannot run containers; the image and %s were built, not run:\n%s' \
  "$archive" "$errors" | tee "$out/run-skipped" >&2
