#!/usr/bin/env bash
# The steps of .github/workflows/release.yml, kept here so that shellcheck reads them and a
# maintainer can run one by hand. Each step runs on the runner of the architecture it builds
# (native builds: the images hold host-built binaries and a root made of Debian packages of
# that architecture, which cross-compiling would have to fetch and link for the other one).
#
#   scripts/release.sh check-tag TAG       TAG must be v<appVersion of charts/agentlens/Chart.yaml>
#   scripts/release.sh context             in a debian:12 container: the toolchain, then
#                                          `scripts/images.sh context dist/context` and the
#                                          auto-instrumentation layouts under it
#   scripts/release.sh push-arch ARCH      build the operator, sidecar and the three
#                                          auto-instrumentation images for linux/ARCH from dist/context,
#                                          push them as <ref>-ARCH, write their SBOMs to
#                                          dist/sbom/ and `<component>-{ref,digest,sbom}=`
#                                          lines to $GITHUB_OUTPUT
#   scripts/release.sh kind-images         the operator and sidecar images from dist/context for
#                                          this runner's architecture, tagged as the chart
#                                          references them and saved where `make images` saves
#                                          them (dist/agentlens-<component>-<version>.oci.tar),
#                                          for `AGENTLENS_IMAGES_BUILT=1 scripts/kind-e2e.sh`
#                                          (.github/workflows/ci.yml, job kind)
#   scripts/release.sh merge               one multi-arch index per image: <ref> over <ref>-amd64
#                                          and <ref>-arm64
#   scripts/release.sh chart REGISTRY      package the chart, push it to oci://REGISTRY
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
chart="${AGENTLENS_CHART_DIR:-charts/agentlens}"
dist="${AGENTLENS_DIST_DIR:-$root/dist}"
# The Rust toolchain of the release builds (the workspace's rust-version is the minimum).
rust_toolchain="${RUST_TOOLCHAIN:-1.95.0}"
arches=(amd64 arm64)
providers=(opentelemetry openinference openlit)

app_version() {
  sed -n 's/^appVersion:[[:space:]]*["'\'']\{0,1\}\([^"'\'' ]*\)["'\'']\{0,1\}[[:space:]]*$/\1/p' "$chart/Chart.yaml"
}

chart_version() {
  sed -n 's/^version:[[:space:]]*\([^ ]*\)[[:space:]]*$/\1/p' "$chart/Chart.yaml"
}

# A tag that does not match the chart would publish images the chart never pulls.
check_tag() {
  local tag="${1:?usage: $0 check-tag TAG}" want
  want="v$(app_version)"
  if [ "$tag" != "$want" ]; then
    echo "release.sh: tag $tag does not match the chart's appVersion ($want)" >&2
    exit 1
  fi
  if [ "$(chart_version)" != "$(app_version)" ]; then
    echo "release.sh: chart version $(chart_version) differs from appVersion $(app_version)" >&2
    exit 1
  fi
}

# Runs as root in debian:12, the distribution of the images' root and of their SBOMs.
context() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends ca-certificates curl gcc libc6-dev binutils dpkg-dev git
  export CARGO_HOME="${CARGO_HOME:-$root/.cargo-home}" RUSTUP_HOME="${RUSTUP_HOME:-$root/.rustup-home}"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs \
    | sh -s -- -y -q --profile minimal --default-toolchain "$rust_toolchain" --no-modify-path
  export PATH="$CARGO_HOME/bin:$PATH"
  # The checkout belongs to the runner's user; git (the revision label) must accept it.
  git config --global --add safe.directory "$root"
  scripts/images.sh context "$dist/context"
  # The auto-instrumentation layouts, for Debian 12's CPython (cp311, in the images' labels).
  apt-get install -y -q --no-install-recommends python3 python3-pip
  local p
  for p in "${providers[@]}"; do
    scripts/autoinstrument-layout.sh "$p" "$dist/context/autoinstrument/$p"
  done
}

# The references of every published image, one per line: operator, sidecar, then the
# auto-instrumentation images beside the sidecar's repository with its tag (where the operator
# looks by default: default_image in operator/src/inject/autoinstrument.rs).
all_refs() {
  local refs p
  mapfile -t refs < <(scripts/images.sh refs)
  printf '%s\n' "${refs[@]}"
  for p in "${providers[@]}"; do
    echo "${refs[1]%agentlens-sidecar:*}agentlens-autoinstrument-$p:$(app_version)"
  done
}

push_arch() {
  local arch="${1:?usage: $0 push-arch amd64|arm64}" version revision i=0 ref c digest sbom file
  version="$(app_version)"
  revision="$(git rev-parse HEAD)"
  mapfile -t refs < <(all_refs)
  mkdir -p "$dist/sbom"
  for c in operator sidecar "${providers[@]/#/autoinstrument-}"; do
    ref="${refs[$i]}"
    i=$((i + 1))
    case "$c" in
      autoinstrument-*)
        local p="${c#autoinstrument-}"
        docker build --platform "linux/$arch" -f images/autoinstrument/Containerfile \
          --build-arg VERSION="$version" --build-arg REVISION="$revision" \
          --build-arg PROVIDER="$p" \
          --build-arg PYTHON_ABI="$(cat "$dist/context/autoinstrument/$p/.python-abi")" \
          -t "$ref-$arch" "$dist/context" ;;
      *)
        docker build --platform "linux/$arch" -f "images/$c/Containerfile" \
          --build-arg VERSION="$version" --build-arg REVISION="$revision" \
          -t "$ref-$arch" "$dist/context" ;;
    esac
    docker push "$ref-$arch"
    digest="$(docker inspect --format '{{index .RepoDigests 0}}' "$ref-$arch")"
    digest="${digest#*@}"
    file="agentlens-$c-$version-$arch.cdx.json"
    sbom="$dist/sbom/$file"
    AGENTLENS_CONTAINER_ENGINE=docker scripts/images.sh sbom "$ref-$arch" "$sbom"
    # The workflow attests the operator's and the sidecar's; every SBOM goes to the release.
    case "$c" in
      operator|sidecar)
        {
          echo "$c-ref=${ref%:*}"
          echo "$c-digest=$digest"
          echo "$c-sbom=$sbom"
        } >>"${GITHUB_OUTPUT:-/dev/stdout}" ;;
    esac
  done
}

# kind loads docker's archives: `docker save` writes the repository:tag containerd names the
# image by.
kind_images() {
  local version revision i=0 ref c
  version="$(app_version)"
  revision="$(git rev-parse HEAD)"
  mapfile -t refs < <(scripts/images.sh refs)
  for c in operator sidecar; do
    ref="${refs[$i]}"
    i=$((i + 1))
    docker build -f "images/$c/Containerfile" \
      --build-arg VERSION="$version" --build-arg REVISION="$revision" \
      -t "$ref" "$dist/context"
    docker save -o "$dist/agentlens-$c-$version.oci.tar" "$ref"
  done
}

merge() {
  local ref a
  for ref in $(all_refs); do
    local sources=()
    for a in "${arches[@]}"; do sources+=("$ref-$a"); done
    docker buildx imagetools create -t "$ref" "${sources[@]}"
    docker buildx imagetools inspect "$ref"
  done
}

push_chart() {
  local registry="${1:?usage: $0 chart REGISTRY (e.g. ghcr.io/agentlens/charts)}"
  mkdir -p "$dist/chart"
  helm lint --strict "$chart"
  helm package "$chart" -d "$dist/chart"
  helm push "$dist/chart/$(basename "$chart")-$(chart_version).tgz" "oci://$registry"
}

case "${1:-}" in
  check-tag) check_tag "${2:-}" ;;
  context) context ;;
  push-arch) push_arch "${2:-}" ;;
  kind-images) kind_images ;;
  merge) merge ;;
  chart) push_chart "${2:-}" ;;
  *) echo "usage: $0 check-tag TAG|context|push-arch ARCH|kind-images|merge|chart REGISTRY" >&2; exit 2 ;;
esac
