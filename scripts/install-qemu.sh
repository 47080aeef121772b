#!/usr/bin/env bash
# Installs what the QEMU end-to-end tests and the test guest need, from Debian packages:
# QEMU (TCG is enough), a kernel, busybox-static, gcc and cpio, kmod (modprobe orders the node guest's modules); qemu-utils (qemu-io) for the NBD tests
# against qemu-storage-daemon. Idempotent: installs only what is missing.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

wanted=(qemu-system-x86 qemu-utils linux-image-amd64 busybox-static gcc libc6-dev cpio gzip kmod)
missing=()
for pkg in "${wanted[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$pkg")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-qemu: all present (${wanted[*]})"
  exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install-qemu: installing ${missing[*]}"
# Update the package lists only when they are missing or the install cannot find a package.
if ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then
  $sudo apt-get update -q -o DPkg::Lock::Timeout=600
fi
if ! $sudo apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}"; then
  $sudo apt-get update -q -o DPkg::Lock::Timeout=600
  $sudo apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}"
fi
