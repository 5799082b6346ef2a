#!/usr/bin/env bash
# Assembles the base root filesystem of the agentlens images from Debian packages, the way
# distroless images are made (no registry is needed): libc6 and libgcc-s1 (what `ldd` shows the
# release binaries link: libc, libm, libgcc_s, ld.so), the CA certificate bundle, os-release,
# /etc/passwd and /etc/group with `nonroot` (65532), an ld.so configuration and cache (so a
# library the NVIDIA container toolkit mounts, libnvidia-ml.so.1, is found by dlopen), and
# one dpkg `status.d/<package>` file per package, which SBOM tools (ours included) read.
# No shell, no package manager.
#
# Further packages given after OUT_DIR are unpacked whole (the demo agent image's Python). With
# --dpkg-status the package records go into one /var/lib/dpkg/status file instead, as on a
# Debian system, so that dpkg-query (when the packages include dpkg) reads them.
#
# usage: scripts/image-rootfs.sh [--dpkg-status] OUT_DIR [PACKAGE...]
set -euo pipefail

status_file=0
if [ "${1:-}" = --dpkg-status ]; then
  status_file=1
  shift
fi
out="${1:?usage: $0 [--dpkg-status] OUT_DIR [PACKAGE...]}"
shift
packages=(libc6 libgcc-s1 ca-certificates base-files "$@")
arch="$(dpkg --print-architecture)"
multiarch="$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
rm -rf "$out"
mkdir -p "$out"

( cd "$work" && apt-get download -q "${packages[@]/%/:$arch}" >/dev/null 2>&1 ) \
  || { apt-get update -q >/dev/null && ( cd "$work" && apt-get download -q "${packages[@]/%/:$arch}" ); }

mkdir -p "$out/var/lib/dpkg/status.d"
for pkg in "${packages[@]}"; do
  deb=$(ls "$work/${pkg}"_*.deb)
  dpkg-deb -f "$deb" >"$out/var/lib/dpkg/status.d/$pkg"
  case "$pkg" in
    ca-certificates)
      # The bundle update-ca-certificates would write; the script itself needs a shell.
      dpkg-deb -x "$deb" "$work/ca"
      mkdir -p "$out/etc/ssl/certs"
      cat "$work"/ca/usr/share/ca-certificates/mozilla/*.crt >"$out/etc/ssl/certs/ca-certificates.crt"
      mkdir -p "$out/usr/share/doc/ca-certificates"
      cp "$work/ca/usr/share/doc/ca-certificates/copyright" "$out/usr/share/doc/ca-certificates/"
      ;;
    base-files)
      # Only what identifies the OS; base-files' other files are for a full system.
      dpkg-deb -x "$deb" "$work/base"
      mkdir -p "$out/usr/lib" "$out/usr/share/doc/base-files"
      cp "$work/base/usr/lib/os-release" "$out/usr/lib/os-release"
      ln -sf ../usr/lib/os-release "$out/etc/os-release"
      cp "$work/base/usr/share/doc/base-files/copyright" "$out/usr/share/doc/base-files/"
      ;;
    *) dpkg-deb -x "$deb" "$out" ;;
  esac
done

if [ "$status_file" = 1 ]; then
  # dpkg's own database: one stanza per package, installed, in dpkg's field order.
  for pkg in "${packages[@]}"; do
    sed '/^Package:/a Status: install ok installed' "$out/var/lib/dpkg/status.d/$pkg"
    echo
  done >"$out/var/lib/dpkg/status"
  rm -rf "$out/var/lib/dpkg/status.d"
  mkdir -p "$out/var/lib/dpkg/info" "$out/var/lib/dpkg/updates"
  touch "$out/var/lib/dpkg/available"
fi

# Documentation and locale data the binaries never read (licences stay).
find "$out/usr/share/doc" -type f ! -name copyright -delete
rm -rf "$out/usr/share/lintian" "$out/usr/share/man" "$out/usr/share/info"

mkdir -p "$out/etc/ld.so.conf.d" "$out/usr/lib/$multiarch" "$out/home/nonroot" "$out/tmp"
printf 'include /etc/ld.so.conf.d/*.conf\n' >"$out/etc/ld.so.conf"
[ -f "$out/etc/ld.so.conf.d/$multiarch.conf" ] \
  || printf '/usr/local/lib/%s\n/lib/%s\n/usr/lib/%s\n' "$multiarch" "$multiarch" "$multiarch" >"$out/etc/ld.so.conf.d/$multiarch.conf"
ldconfig -r "$out"

cat >"$out/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
PASSWD
cat >"$out/etc/group" <<'GROUP'
root:x:0:
nogroup:x:65534:
nonroot:x:65532:
GROUP
chmod 1777 "$out/tmp"
chown 65532:65532 "$out/home/nonroot" 2>/dev/null || true

if find "$out" \( -type f -o -type l \) \( -name sh -o -name bash -o -name dash \) | grep -q .; then
  echo "image-rootfs: a shell slipped into $out" >&2
  exit 1
fi
