#!/usr/bin/env bash
# Builds the guest that runs node and ferry itself under Debian's stock kernel, into .cache/node-guest/
# (git-ignored), for tests and benchmarks that need a kernel feature this host may lack (soft-dirty):
#   kernel         the newest /boot/vmlinuz-* (linux-image-amd64) as scripts/guest-kernel.sh prepares it
#                  (uncompressed ELF entered through PVH when the kernel has it, else a copy)
#   initramfs.gz   two gzip cpio archives, one after the other (the kernel unpacks both):
#                  1. busybox-static, guest/node-init as /init, mapwriter (guest/mapwriter.c, static), and
#                     the kernel modules for virtio-pci and 9p in the order modules.dep gives (modprobe
#                     --show-depends), listed in /lib/modules/order
#                  2. the host's node binary and the libraries ldd lists for it
# The checkout reaches the guest as a read-only 9p share (tag "ferry"), mounted at /ferry by the init.
# Skips whatever is already newer than its inputs. Needs: gcc, cpio, gzip, busybox-static, kmod, a
# kernel with its modules, node. Prints the output folder last.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/.cache/node-guest"
mkdir -p "$out"

kernel=$(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1 || true)
[ -n "$kernel" ] || { echo "build-node-guest: no /boot/vmlinuz-* (install linux-image-amd64)" >&2; exit 1; }
kversion=${kernel#/boot/vmlinuz-}
[ -d "/lib/modules/$kversion" ] || { echo "build-node-guest: no /lib/modules/$kversion for $kernel" >&2; exit 1; }
busybox=$(command -v busybox || true)
[ -x /bin/busybox ] && busybox=/bin/busybox
[ -n "$busybox" ] || { echo "build-node-guest: no busybox (install busybox-static)" >&2; exit 1; }
if ldd "$busybox" >/dev/null 2>&1; then
  echo "build-node-guest: $busybox is dynamically linked (install busybox-static)" >&2
  exit 1
fi
node=$(command -v node || true)
[ -n "$node" ] || { echo "build-node-guest: no node on PATH" >&2; exit 1; }
node=$(readlink -f "$node")

stale() {
  local target=$1; shift
  [ -e "$target" ] || return 0
  local input
  for input in "$@"; do [ "$input" -nt "$target" ] && return 0; done
  return 1
}

# cpio_gz DIR OUT: the tree as a gzip'd newc archive owned by root
cpio_gz() {
  (cd "$1" && find . -print0 | sort -z | cpio --null -o -H newc --quiet -R 0:0) | gzip -1 >"$2"
}

if stale "$out/mapwriter" "$root/guest/mapwriter.c"; then
  gcc -static -O2 -Wall -Wextra -o "$out/mapwriter.tmp" "$root/guest/mapwriter.c"
  mv "$out/mapwriter.tmp" "$out/mapwriter"
fi

# Each module once, dependencies first, as modules.dep orders them.
mapfile -t modules < <(for module in virtio_pci 9pnet_virtio 9p; do
  modprobe -S "$kversion" --show-depends "$module" | awk '$1 == "insmod" { print $2 }'
done | awk '!seen[$0]++')
[ "${#modules[@]}" -gt 0 ] || { echo "build-node-guest: modprobe found no virtio/9p modules for $kversion" >&2; exit 1; }

tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
if stale "$out/base.cpio.gz" "$out/mapwriter" "$root/guest/node-init" "$busybox" "$kernel" "$0"; then
  mkdir -p "$tree/base/bin" "$tree/base/lib/modules" "$tree/base/etc"
  # node's os.userInfo() (pino, ferry's state dir) needs the user in /etc/passwd
  echo 'root:x:0:0:root:/tmp:/bin/sh' >"$tree/base/etc/passwd"
  echo 'root:x:0:' >"$tree/base/etc/group"
  cp "$busybox" "$tree/base/bin/busybox"
  ln -s busybox "$tree/base/bin/sh"
  cp "$out/mapwriter" "$tree/base/bin/mapwriter"
  cp "$root/guest/node-init" "$tree/base/init"
  for file in "${modules[@]}"; do
    name=$(basename "$file")
    case "$name" in
      *.ko.xz) xz -dc "$file" >"$tree/base/lib/modules/${name%.xz}"; name=${name%.xz} ;;
      *.ko.zst) zstd -qdc "$file" >"$tree/base/lib/modules/${name%.zst}"; name=${name%.zst} ;;
      *) cp "$file" "$tree/base/lib/modules/$name" ;;
    esac
    echo "$name" >>"$tree/base/lib/modules/order"
  done
  chmod 0755 "$tree/base/init" "$tree/base/bin/mapwriter" "$tree/base/bin/busybox"
  cpio_gz "$tree/base" "$out/base.cpio.gz.tmp"
  mv "$out/base.cpio.gz.tmp" "$out/base.cpio.gz"
fi

if stale "$out/node.cpio.gz" "$node"; then
  mkdir -p "$tree/node/usr/bin"
  cp "$node" "$tree/node/usr/bin/node"
  ldd "$node" | awk '/=> \// { print $3 } /^\t\/lib/ { print $1 }' | while read -r lib; do
    mkdir -p "$tree/node$(dirname "$lib")"
    cp -L "$lib" "$tree/node$lib"
  done
  cpio_gz "$tree/node" "$out/node.cpio.gz.tmp"
  mv "$out/node.cpio.gz.tmp" "$out/node.cpio.gz"
fi

if stale "$out/initramfs.gz" "$out/base.cpio.gz" "$out/node.cpio.gz"; then
  cat "$out/base.cpio.gz" "$out/node.cpio.gz" >"$out/initramfs.gz.tmp"
  mv "$out/initramfs.gz.tmp" "$out/initramfs.gz"
fi

if stale "$out/kernel" "$kernel" "$root/scripts/guest-kernel.sh"; then
  bash "$root/scripts/guest-kernel.sh" "$kernel" "$out/kernel"
fi
echo "$out"
