#!/usr/bin/env bash
# The Kubernetes quickstart on a kind cluster, as a user runs it on a machine with kind, helm,
# kubectl and docker or podman:
#
#   scripts/kind-e2e.sh            every step below, in order
#   scripts/kind-e2e.sh cluster    `make images`, `kind create cluster`, `kind load image-archive`
#                                  of the two OCI archives in dist/
#   scripts/kind-e2e.sh install    `helm upgrade --install` the chart, wait for the operator
#   scripts/kind-e2e.sh demo       create and label a namespace, apply an example, wait until
#                                  the operator wrote its status, `kubectl get agd`, the status,
#                                  `kubectl agentlens inspect`
#   scripts/kind-e2e.sh delete     `kind delete cluster`
#
# Only `cluster` and `delete` need kind: `install` and `demo` run against whatever cluster the
# current kubeconfig names (KUBECONFIG), which is how tests/tests/kind_quickstart.rs runs them
# against kube-emulator. Settings (environment):
#   KIND_CLUSTER (agentlens)        the kind cluster's name
#   AGENTLENS_NAMESPACE             the chart's namespace (agentlens-system)
#   AGENTLENS_RELEASE               the Helm release (agentlens)
#   AGENTLENS_EXAMPLE               the example directory to apply (examples/invoice-rpa)
#   AGENTLENS_TIMEOUT               how long each wait may take (300s)
#   AGENTLENS_HELM_ARGS             extra `helm upgrade --install` arguments (word-split)
#   AGENTLENS_BIN_DIR               where kubectl-agentlens is (target/release, built by
#                                   `make images`); put on PATH so `kubectl agentlens` finds it
#   AGENTLENS_IMAGES_BUILT          1: `cluster` skips `make images`, the archives in dist/ are
#                                   built already (CI builds them in debian:12 with
#                                   `scripts/release.sh context` and `kind-images`)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cluster="${KIND_CLUSTER:-agentlens}"
ns="${AGENTLENS_NAMESPACE:-agentlens-system}"
release="${AGENTLENS_RELEASE:-agentlens}"
example="${AGENTLENS_EXAMPLE:-examples/invoice-rpa}"
timeout="${AGENTLENS_TIMEOUT:-300s}"
chart=charts/agentlens
export PATH="${AGENTLENS_BIN_DIR:-$root/target/release}:$PATH"

step() { printf '\n==> %s\n' "$*"; }

app_version() {
  sed -n 's/^appVersion:[[:space:]]*["'\'']\{0,1\}\([^"'\'' ]*\)["'\'']\{0,1\}[[:space:]]*$/\1/p' "$chart/Chart.yaml"
}

# A YAML field of the example's AgentDeployment (the first `kind: AgentDeployment` document).
agd_field() {
  awk -v field="$1" '
    /^kind: AgentDeployment/ { agd = 1 }
    agd && /^---/ { exit }
    agd && $0 ~ "^  " field ":" { print $2; exit }
  ' "$example"/*.yaml
}

cluster() {
  for tool in kind helm kubectl; do
    command -v "$tool" >/dev/null || { echo "kind-e2e.sh: $tool is not installed" >&2; exit 1; }
  done
  if [ "${AGENTLENS_IMAGES_BUILT:-}" = 1 ]; then
    step "images: built already (AGENTLENS_IMAGES_BUILT=1), OCI archives in dist/"
  else
    step "make images (the operator and sidecar images, OCI archives in dist/)"
    make images
  fi
  step "kind create cluster --name $cluster"
  if kind get clusters | grep -qx "$cluster"; then
    echo "cluster $cluster exists"
  else
    kind create cluster --name "$cluster" --wait "$timeout"
  fi
  kubectl config use-context "kind-$cluster"
  step "kind load image-archive (both images, as the chart references them)"
  local version engine ref archive c
  version="$(app_version)"
  engine="$(scripts/images.sh engine)"
  if [ "$engine" = podman ]; then
    # The project-local podman configuration `make images` used (Makefile PODMAN_ENV).
    export CONTAINERS_CONF="${CONTAINERS_CONF:-$root/.tools/podman/containers.conf}"
    export CONTAINERS_STORAGE_CONF="${CONTAINERS_STORAGE_CONF:-$root/.tools/podman/storage.conf}"
  fi
  mapfile -t refs < <(scripts/images.sh refs)
  local i=0
  for c in operator sidecar; do
    ref="${refs[$i]}"
    i=$((i + 1))
    archive="dist/agentlens-$c-$version.oci.tar"
    if [ "$engine" = podman ]; then
      # kind imports the archive with containerd, which names an OCI archive's image by its
      # own annotation (io.containerd.image.name; the OCI ref.name is a tag by the spec), and
      # podman does not write it; a docker-archive carries the repository:tag (RepoTags).
      archive="dist/agentlens-$c-$version.docker.tar"
      rm -f "$archive"
      podman save --format docker-archive -o "$archive" "$ref"
    fi
    kind load image-archive --name "$cluster" "$archive"
  done
  docker exec "$cluster-control-plane" crictl images 2>/dev/null | grep agentlens || true
}

install() {
  step "helm upgrade --install $release $chart -n $ns"
  # shellcheck disable=SC2086 # AGENTLENS_HELM_ARGS is a list of arguments
  helm upgrade --install "$release" "$chart" -n "$ns" --create-namespace ${AGENTLENS_HELM_ARGS:-}
  step "wait for the operator (webhook and controllers)"
  kubectl -n "$ns" wait --for=condition=Available deployment \
    -l agentlens.dev/component=operator --timeout="$timeout"
  kubectl -n "$ns" get deployments,pods -l agentlens.dev/component=operator
}

demo() {
  local app app_ns generation
  app="$(agd_field name)"
  app_ns="$(agd_field namespace)"
  if [ -z "$app" ] || [ -z "$app_ns" ]; then
    echo "kind-e2e.sh: no AgentDeployment with a namespace in $example" >&2
    exit 1
  fi

  step "namespace $app_ns: create it, then opt it in"
  # Idempotent create (kubectl create fails when it exists).
  kubectl create namespace "$app_ns" --dry-run=client -o yaml | kubectl apply -f -
  kubectl label namespace "$app_ns" agentlens.dev/injection=enabled --overwrite

  step "kubectl apply -f $example"
  kubectl apply -f "$example"

  step "wait until the operator wrote the status of agd/$app"
  generation="$(kubectl -n "$app_ns" get agd "$app" -o jsonpath='{.metadata.generation}')"
  kubectl -n "$app_ns" wait "agd/$app" \
    --for=jsonpath='{.status.observedGeneration}'="$generation" --timeout="$timeout"

  step "kubectl get agd -n $app_ns"
  kubectl get agd -n "$app_ns"
  step "its status"
  kubectl -n "$app_ns" get agd "$app" -o jsonpath='{.status}{"\n"}'
  step "kubectl agentlens inspect $app -n $app_ns"
  kubectl agentlens inspect "$app" -n "$app_ns"
  kubectl -n "$app_ns" get pods -o wide
}

delete() {
  kind delete cluster --name "$cluster"
}

if [ "$#" -eq 0 ]; then
  set -- cluster install demo
fi
for s in "$@"; do
  case "$s" in
    cluster) cluster ;;
    install) install ;;
    demo) demo ;;
    delete) delete ;;
    *) echo "usage: $0 [cluster|install|demo|delete]..." >&2; exit 2 ;;
  esac
done
