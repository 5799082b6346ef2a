#!/usr/bin/env bash
# Sets up podman for building and running the images on a machine without a container daemon
# (idempotent). Debian's podman 4.3 works here only with runc, the vfs storage driver, the
# cgroupfs cgroup manager and no default ulimits (crun and podman's default ulimits fail with
# `setrlimit ... Operation not permitted` / "cgroups in hybrid mode").
#
# The configuration is project-local: CONTAINERS_CONF and CONTAINERS_STORAGE_CONF point at files
# under .tools/podman/ (the Makefile exports both); the user's own configuration is not touched.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${AGENTLENS_PODMAN_DIR:-$root/.tools/podman}"

if ! command -v podman >/dev/null || ! command -v runc >/dev/null; then
  sudo=$([ "$(id -u)" = 0 ] || echo sudo)
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends podman runc catatonit \
    || { $sudo apt-get update -q && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends podman runc catatonit; }
fi

mkdir -p "$dir/storage" "$dir/run" "$dir/tmp"
conf="$dir/containers.conf"
storage="$dir/storage.conf"
want_conf=$(cat <<CONF
# Written by scripts/podman-setup.sh.
[containers]
default_ulimits = []

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$dir/tmp"
CONF
)
want_storage=$(cat <<CONF
# Written by scripts/podman-setup.sh.
[storage]
driver = "vfs"
graphroot = "$dir/storage"
runroot = "$dir/run"
CONF
)
[ "$(cat "$conf" 2>/dev/null)" = "$want_conf" ] || printf '%s\n' "$want_conf" >"$conf"
[ "$(cat "$storage" 2>/dev/null)" = "$want_storage" ] || printf '%s\n' "$want_storage" >"$storage"

export CONTAINERS_CONF="$conf" CONTAINERS_STORAGE_CONF="$storage"
podman --version >/dev/null
podman info --format '{{.Store.GraphDriverName}} {{.Host.OCIRuntime.Name}} {{.Host.CgroupManager}}' >/dev/null
