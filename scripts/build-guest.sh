#!/usr/bin/env bash
# Builds the QEMU test guest into .cache/guest/ (git-ignored) from Debian packages:
#   memtouch        guest/memtouch.c, static
#   initramfs.gz    busybox-static + guest/init + memtouch + the kernel's virtio block modules (cpio newc, gzip)
#   vmlinuz         a readable copy of /boot/vmlinuz-* (linux-image-amd64)
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

# The guest disk is virtio-blk; Debian builds its driver (and virtio-pci) as modules of this kernel.
kversion=${kernel#/boot/vmlinuz-}
modules=()
for module in virtio virtio_ring virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk; do
  file=$(modinfo -k "$kversion" -F filename "$module" 2>/dev/null || true)
  case "$file" in
    ''|'(builtin)') ;;
    *) modules+=("$file") ;;
  esac
done

if stale "$out/initramfs.gz" "$out/memtouch" "$root/guest/init" "$busybox" "$kernel"; then
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
      *.ko.xz) xz -dc "$file" >"$tree/lib/modules/${name%.xz}" ;;
      *.ko.zst) zstd -qdc "$file" >"$tree/lib/modules/${name%.zst}" ;;
      *) cp "$file" "$tree/lib/modules/$name" ;;
    esac
  done
  chmod 0755 "$tree/init" "$tree/bin/memtouch" "$tree/bin/busybox"
  (cd "$tree" && find . -print0 | sort -z | cpio --null -o -H newc --quiet -R 0:0) | gzip -9 >"$out/initramfs.gz.tmp"
  mv "$out/initramfs.gz.tmp" "$out/initramfs.gz"
fi

if stale "$out/vmlinuz" "$kernel"; then
  cp "$kernel" "$out/vmlinuz.tmp"
  chmod 0644 "$out/vmlinuz.tmp"
  mv "$out/vmlinuz.tmp" "$out/vmlinuz"
fi
echo "$out"
