#!/usr/bin/env bash
# The release images, as `make images` builds them.
#
#   scripts/images.sh refs    print the two image references (operator, sidecar): the
#                             repositories of charts/agentlens/values.yaml, tagged with the
#                             chart's appVersion (the chart's defaults, read, never retyped)
#   scripts/images.sh engine  print the container engine: $AGENTLENS_CONTAINER_ENGINE, else
#                             docker when its daemon answers, else podman (set up by
#                             scripts/podman-setup.sh)
#   scripts/images.sh build   release binaries, base root (scripts/image-rootfs.sh), both
#                             images, OCI archives and CycloneDX 1.5 SBOMs under dist/
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
chart="${AGENTLENS_CHART_DIR:-charts/agentlens}"
dist="${AGENTLENS_DIST_DIR:-$root/dist}"

app_version() {
  sed -n 's/^appVersion:[[:space:]]*["'\'']\{0,1\}\([^"'\'' ]*\)["'\'']\{0,1\}[[:space:]]*$/\1/p' "$chart/Chart.yaml"
}

# The `repository:` under `<component>.image` in values.yaml.
repository() {
  awk -v want="$1" '
    /^[^[:space:]#]/ { top = $1; sub(":", "", top); img = 0 }
    top == want && /^  image:/ { img = 1; next }
    top == want && img && /^    repository:/ { print $2; exit }
    /^  [^[:space:]]/ && !/^  image:/ { img = 0 }
  ' "$chart/values.yaml"
}

refs() {
  local v
  v="$(app_version)"
  [ -n "$v" ] || { echo "images.sh: no appVersion in $chart/Chart.yaml" >&2; exit 1; }
  for c in operator sidecar; do
    local r
    r="$(repository "$c")"
    [ -n "$r" ] || { echo "images.sh: no $c.image.repository in $chart/values.yaml" >&2; exit 1; }
    echo "$r:$v"
  done
}

engine() {
  if [ -n "${AGENTLENS_CONTAINER_ENGINE:-}" ]; then
    echo "$AGENTLENS_CONTAINER_ENGINE"
  elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    echo docker
  else
    echo podman
  fi
}

# Saves image REF as an OCI archive, writes its SBOM and appends its sizes: publish ENGINE REF
# NAME VERSION TARGET_DIR.
publish() {
  local eng="$1" ref="$2" name="$3" version="$4" target="$5"
  # vfs keeps full copies: drop the image this tag replaced (project-local storage only).
  [ "$eng" != podman ] || podman image prune -f >/dev/null
  rm -f "$dist/$name-$version.oci.tar"
  if [ "$eng" = podman ]; then
    podman save --format oci-archive -o "$dist/$name-$version.oci.tar" "$ref"
  else
    docker save -o "$dist/$name-$version.oci.tar" "$ref"
  fi
  # The SBOM: our own inventory reading the image's root filesystem as exported.
  local fs cid
  fs="$(mktemp -d)"
  cid="$("$eng" create "$ref")"
  "$eng" export "$cid" | tar -x -C "$fs"
  "$eng" rm "$cid" >/dev/null
  "$target/agentlens-sidecar" inventory --root "$fs" --name "$ref" >"$dist/$name-$version.cdx.json"
  rm -rf "$fs"
  printf '%s\t%s bytes (image)\t%s bytes (archive)\n' "$ref" \
    "$("$eng" image inspect --format '{{.Size}}' "$ref")" \
    "$(stat -c %s "$dist/$name-$version.oci.tar")" | tee -a "$dist/sizes.txt.new"
}

build() {
  local eng version revision start
  start=$(date +%s)
  eng="$(engine)"
  if [ "$eng" = podman ]; then
    scripts/podman-setup.sh
    export CONTAINERS_CONF="${CONTAINERS_CONF:-$root/.tools/podman/containers.conf}"
    export CONTAINERS_STORAGE_CONF="${CONTAINERS_STORAGE_CONF:-$root/.tools/podman/storage.conf}"
  fi
  version="$(app_version)"
  revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
  mapfile -t image_refs < <(refs)

  "${CARGO:-cargo}" build --release --locked -p agentlens-operator -p agentlens-sidecar --bins
  local target="${CARGO_TARGET_DIR:-$root/target}/release"

  local ctx="$dist/context"
  rm -rf "$ctx"
  mkdir -p "$ctx/bin"
  scripts/image-rootfs.sh "$ctx/rootfs"
  for b in agentlens-operator kubectl-agentlens agentlens-sidecar; do
    strip -o "$ctx/bin/$b" "$target/$b"
  done

  local i=0
  for c in operator sidecar; do
    local ref="${image_refs[$i]}" name="agentlens-$c"
    i=$((i + 1))
    "$eng" build -f "images/$c/Containerfile" \
      --build-arg VERSION="$version" --build-arg REVISION="$revision" \
      -t "$ref" "$ctx"
    publish "$eng" "$ref" "$name" "$version" "$target"
  done
  # The zero-code instrumentation images, one per provider, beside the sidecar's repository and
  # with its tag (where the operator looks by default: default_image in
  # operator/src/inject/autoinstrument.rs), from the layouts `make tools` builds.
  local sidecar_ref="${image_refs[1]}" p
  for p in opentelemetry openinference openlit; do
    local layout="$root/.tools/autoinstrument/$p"
    scripts/autoinstrument-layout.sh "$p" "$layout"
    rm -rf "$ctx/autoinstrument" && mkdir -p "$ctx/autoinstrument"
    cp -a "$layout" "$ctx/autoinstrument/$p"
    local ref="${sidecar_ref%agentlens-sidecar:*}agentlens-autoinstrument-$p:$version"
    "$eng" build -f images/autoinstrument/Containerfile \
      --build-arg VERSION="$version" --build-arg REVISION="$revision" \
      --build-arg PROVIDER="$p" --build-arg PYTHON_ABI="$(cat "$layout/.python-abi")" \
      -t "$ref" "$ctx"
    publish "$eng" "$ref" "agentlens-autoinstrument-$p" "$version" "$target"
  done
  mv "$dist/sizes.txt.new" "$dist/sizes.txt"
  rm -rf "$ctx"
  echo "images built with $eng in $(( $(date +%s) - start ))s; archives and SBOMs in $dist"
}

case "${1:-}" in
  refs) refs ;;
  engine) engine ;;
  build) build ;;
  *) echo "usage: $0 refs|engine|build" >&2; exit 2 ;;
esac
