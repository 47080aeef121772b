#!/usr/bin/env bash
# Builds the QEMU test guest into .cache/guest/ (git-ignored) from Debian packages:
#   memtouch        guest/memtouch.c, static
#   initramfs.gz    busybox-static + guest/init + memtouch + the kernel's virtio block modules and their
#                   load order (cpio newc, gzip)
#   kernel          the kernel of the newest /boot/vmlinuz-* (linux-image-amd64) as QEMU boots it fastest
#                   (scripts/guest-kernel.sh: its uncompressed ELF when it has PVH, else a copy)
# Skips whatever is already newer than its inputs. Needs: gcc, cpio, gzip, busybox-static, a kernel
# (scripts/install-qemu.sh installs them). Prints the output folder last.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/.cache/guest"
mkdir -p "$out"

kernel=$(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1 || true)
[ -n "$kernel" ] || { echo "build-guest: no /boot/vmlinuz-* (install linux-image-amd64)" >&2; exit 1; }
busybox=$(command -v busybox || true)
[ -x /bin/busybox ] && busybox=/bin/busybox
[ -n "$busybox" ] || { echo "build-guest: no busybox (install busybox-static)" >&2; exit 1; }
if ldd "$busybox" >/dev/null 2>&1; then
  echo "build-guest: $busybox is dynamically linked (install busybox-static)" >&2
  exit 1
fi

# stale OUTPUT INPUT...: true when OUTPUT is missing or older than an input
stale() {
  local target=$1; shift
  [ -e "$target" ] || return 0
  local input
  for input in "$@"; do [ "$input" -nt "$target" ] && return 0; done
  return 1
}

if stale "$out/memtouch" "$root/guest/memtouch.c"; then
  gcc -static -O2 -Wall -Wextra -o "$out/memtouch.tmp" "$root/guest/memtouch.c"
  mv "$out/memtouch.tmp" "$out/memtouch"
fi

# The guest disk is virtio-blk; Debian builds its driver (and virtio-pci) as modules of this kernel. Their
# load order comes from the kernel's own dependency data (modinfo -F depends), resolved depth first here,
# so a point release that moves a symbol between modules (6.1.0-57: virtio now needs virtio_ring) cannot
# break the guest's boot. The order goes into the initramfs as lib/modules/load-order, one file a line.
kversion=${kernel#/boot/vmlinuz-}
modules=()
declare -A visited=()
visit() {
  local module=$1 dependencies dependency file
  [ -n "${visited[$module]:-}" ] && return 0
  visited[$module]=1
  file=$(modinfo -k "$kversion" -F filename "$module" 2>/dev/null) \
    || { echo "build-guest: kernel $kversion has no module $module (modinfo -k $kversion $module)" >&2; exit 1; }
  [ "$file" = '(builtin)' ] && return 0
  dependencies=$(modinfo -k "$kversion" -F depends "$module")
  for dependency in ${dependencies//,/ }; do visit "$dependency"; done
  modules+=("$file")
}
for wanted in virtio_pci virtio_blk; do visit "$wanted"; done

if stale "$out/initramfs.gz" "$out/memtouch" "$root/guest/init" "$busybox" "$kernel" "$0"; then
  tree=$(mktemp -d)
  trap 'rm -rf "$tree"' EXIT
  mkdir -p "$tree/bin" "$tree/proc" "$tree/sys" "$tree/dev" "$tree/tmp"
  cp "$busybox" "$tree/bin/busybox"
  ln -s busybox "$tree/bin/sh"
  cp "$out/memtouch" "$tree/bin/memtouch"
  cp "$root/guest/init" "$tree/init"
  mkdir -p "$tree/lib/modules"
  for file in "${modules[@]}"; do
    name=$(basename "$file")
    case "$name" in
      *.ko.xz) name=${name%.xz}; xz -dc "$file" >"$tree/lib/modules/$name" ;;
      *.ko.zst) name=${name%.zst}; zstd -qdc "$file" >"$tree/lib/modules/$name" ;;
      *) cp "$file" "$tree/lib/modules/$name" ;;
    esac
    echo "$name" >>"$tree/lib/modules/load-order"
  done
  chmod 0755 "$tree/init" "$tree/bin/memtouch" "$tree/bin/busybox"
  (cd "$tree" && find . -print0 | sort -z | cpio --null -o -H newc --quiet -R 0:0) | gzip -9 >"$out/initramfs.gz.tmp"
  mv "$out/initramfs.gz.tmp" "$out/initramfs.gz"
fi

if stale "$out/kernel" "$kernel" "$root/scripts/guest-kernel.sh"; then
  bash "$root/scripts/guest-kernel.sh" "$kernel" "$out/kernel"
fi
echo "$out"
