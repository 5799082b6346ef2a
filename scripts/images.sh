#!/usr/bin/env bash
# The release images, as `make images` builds them.
#
#   scripts/images.sh refs    print the two image references (operator, sidecar): the
#                             repositories of charts/agentlens/values.yaml, tagged with the
#                             chart's appVersion (the chart's defaults, read, never retyped)
#   scripts/images.sh demo-ref
#                             print the demo agent image's reference: agentlens-demo-agent
#                             beside the operator's repository, same tag
#   scripts/images.sh engine  print the container engine: $AGENTLENS_CONTAINER_ENGINE, else
#                             docker when its daemon answers, else podman (set up by
#                             scripts/podman-setup.sh)
#   scripts/images.sh build [all|base]
#                             release binaries, base root (scripts/image-rootfs.sh), the
#                             operator, sidecar and demo agent images and auto-instrumentation
#                             images: with `all` (the default) the three providers', with `base`
#                             (what make test runs) the opentelemetry one the demo uses; OCI
#                             archives and CycloneDX 1.5 SBOMs under dist/
#   scripts/images.sh context DIR   only the build context the operator and sidecar
#                             Containerfiles use: the stripped release binaries (bin/) and the
#                             base root (rootfs/)
#   scripts/images.sh sbom REF OUT  the CycloneDX 1.5 SBOM of the built image REF, made by
#                             `agentlens-sidecar inventory --root` over its exported root
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

demo_ref() {
  local op
  op="$(refs)"
  op="${op%%$'\n'*}"
  echo "${op%/*}/agentlens-demo-agent:${op##*:}"
}

# The demo image's root: Python from Debian packages with a dpkg database, the pip packages of
# images/demo-agent/requirements.txt (pure wheels and cp311 manylinux wheels, for the image's
# CPython, whatever Python runs pip here), the app and the real H200 OOM report it prints.
demo_context() {
  local ctx="$1" pip site
  mapfile -t demo_packages < <(grep -v '^[[:space:]]*\(#\|$\)' images/demo-agent/packages.txt)
  scripts/image-rootfs.sh --dpkg-status "$ctx/demo-rootfs" "${demo_packages[@]}"
  site="$ctx/demo-rootfs/usr/local/lib/python3.11/dist-packages"
  pip=(python3 -m pip)
  [ ! -x "$root/.tools/venv/bin/python" ] || pip=("$root/.tools/venv/bin/python" -m pip)
  "${pip[@]}" install --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --platform "manylinux2014_$(uname -m)" --python-version 3.11 --implementation cp --abi cp311 \
    --target "$site" -r images/demo-agent/requirements.txt
  rm -rf "${site:?}/bin"
  mkdir -p "$ctx/demo"
  cp images/demo-agent/app/*.py sidecar/tests/data/logscan/torch-cuda-oom-h200.stderr "$ctx/demo/"
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

target="${CARGO_TARGET_DIR:-$root/target}/release"

# The release binaries, stripped, and the base root: the context of both Containerfiles.
context() {
  local ctx="${1:?usage: $0 context DIR}"
  # The same build as `make build` / make test's (the whole workspace): a subset with -p
  # unifies features differently and would rebuild everything (4 min on 2 cores).
  "${CARGO:-cargo}" build --release --locked --bins
  rm -rf "$ctx"
  mkdir -p "$ctx/bin"
  scripts/image-rootfs.sh "$ctx/rootfs"
  for b in agentlens-operator kubectl-agentlens agentlens-sidecar; do
    strip -o "$ctx/bin/$b" "$target/$b"
  done
}

# The SBOM: our own inventory reading the image's root filesystem as the engine exports it.
sbom() {
  local ref="${1:?usage: $0 sbom REF OUT}" out="${2:?usage: $0 sbom REF OUT}" eng fs cid
  eng="$(engine)"
  fs="$(mktemp -d)"
  cid="$("$eng" create "$ref")"
  "$eng" export "$cid" | tar -x -C "$fs"
  "$eng" rm "$cid" >/dev/null
  "$target/agentlens-sidecar" inventory --root "$fs" --name "$ref" >"$out"
  rm -rf "$fs"
}

# Saves image REF as an OCI archive beside its SBOM and appends its sizes: publish ENGINE REF
# NAME VERSION.
publish() {
  local eng="$1" ref="$2" name="$3" version="$4"
  # vfs keeps full copies: drop the image this tag replaced (project-local storage only).
  [ "$eng" != podman ] || podman image prune -f >/dev/null
  rm -f "$dist/$name-$version.oci.tar"
  if [ "$eng" = podman ]; then
    podman save --format oci-archive -o "$dist/$name-$version.oci.tar" "$ref"
  else
    docker save -o "$dist/$name-$version.oci.tar" "$ref"
  fi
  sbom "$ref" "$dist/$name-$version.cdx.json"
  printf '%s\t%s bytes (image)\t%s bytes (archive)\n' "$ref" \
    "$("$eng" image inspect --format '{{.Size}}' "$ref")" \
    "$(stat -c %s "$dist/$name-$version.oci.tar")" | tee -a "$dist/sizes.txt.new"
}

build() {
  local which="${1:-all}" eng version revision start
  case "$which" in all|base) ;; *) echo "usage: $0 build [all|base]" >&2; exit 2 ;; esac
  start=$(date +%s)
  eng="$(engine)"
  if [ "$eng" = podman ]; then
    scripts/podman-setup.sh
    export CONTAINERS_CONF="${CONTAINERS_CONF:-$root/.tools/podman/containers.conf}"
    export CONTAINERS_STORAGE_CONF="${CONTAINERS_STORAGE_CONF:-$root/.tools/podman/storage.conf}"
  fi
  version="$(app_version)"
  revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
  mapfile -t image_refs < <(refs; demo_ref)

  local ctx="$dist/context"
  context "$ctx"
  demo_context "$ctx"

  local i=0
  for c in operator sidecar demo-agent; do
    local ref="${image_refs[$i]}" name="agentlens-$c"
    i=$((i + 1))
    "$eng" build -f "images/$c/Containerfile" \
      --build-arg VERSION="$version" --build-arg REVISION="$revision" \
      -t "$ref" "$ctx"
    publish "$eng" "$ref" "$name" "$version"
  done
  # The zero-code instrumentation images, one per provider, beside the sidecar's repository and
  # with its tag (where the operator looks by default: default_image in
  # operator/src/inject/autoinstrument.rs), from the layouts `make tools` builds. `base` builds
  # the one the demo example uses (examples/demo/agentdeployment.yaml, operator/tests/real_pods.rs).
  local sidecar_ref="${image_refs[1]}" p providers=(opentelemetry openinference openlit)
  [ "$which" = all ] || providers=(opentelemetry)
  for p in "${providers[@]}"; do
    local layout="$root/.tools/autoinstrument/$p"
    scripts/autoinstrument-layout.sh "$p" "$layout"
    rm -rf "$ctx/autoinstrument" && mkdir -p "$ctx/autoinstrument"
    cp -a "$layout" "$ctx/autoinstrument/$p"
    local ref="${sidecar_ref%agentlens-sidecar:*}agentlens-autoinstrument-$p:$version"
    "$eng" build -f images/autoinstrument/Containerfile \
      --build-arg VERSION="$version" --build-arg REVISION="$revision" \
      --build-arg PROVIDER="$p" --build-arg PYTHON_ABI="$(cat "$layout/.python-abi")" \
      -t "$ref" "$ctx"
    publish "$eng" "$ref" "agentlens-autoinstrument-$p" "$version"
  done
  mv "$dist/sizes.txt.new" "$dist/sizes.txt"
  rm -rf "$ctx"
  echo "images built with $eng in $(( $(date +%s) - start ))s; archives and SBOMs in $dist"
}

case "${1:-}" in
  refs) refs ;;
  demo-ref) demo_ref ;;
  engine) engine ;;
  build) build "${2:-all}" ;;
  context) context "${2:-}" ;;
  sbom) sbom "${2:-}" "${3:-}" ;;
  *) echo "usage: $0 refs|demo-ref|engine|build [all|base]|context DIR|sbom REF OUT" >&2; exit 2 ;;
esac
