#!/usr/bin/env bash
# Builds the guest that runs node and ferry itself under Debian's stock kernel, into .cache/node-guest/
# (git-ignored), for tests and benchmarks that need a kernel feature this host may lack (soft-dirty):
#   kernel         the newest /boot/vmlinuz-* (linux-image-amd64) as scripts/guest-kernel.sh prepares it
#                  (uncompressed ELF entered through PVH when the kernel has it, else a copy)
#   initramfs.gz   two gzip cpio archives, one after the other (the kernel unpacks both):
#                  1. busybox-static, guest/node-init as /init, mapwriter (guest/mapwriter.c, static), and
#                     the kernel modules for virtio-pci, 9p, veth and the netem qdisc in the order
#                     modules.dep gives, listed in /lib/modules/load-order
#                  2. the host's node binary, iproute2's ip and tc (busybox's know no network namespaces
#                     and no netem), and the libraries ldd lists for them
# With ip and tc the guest runs docker/wan.sh between two network namespaces (guest/netem-scenario.sh).
# The checkout reaches the guest as a read-only 9p share (tag "ferry"), mounted at /ferry by the init.
# Skips whatever is already newer than its inputs. Needs: gcc, node and what scripts/guest-lib.sh
# needs, and iproute2. Prints the output folder last.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
guest_tool=build-node-guest
. "$root/scripts/guest-lib.sh"
out="$root/.cache/node-guest"
mkdir -p "$out"
# Test files run in parallel and each asks for the guest: one build at a time, the others wait and
# then find it newer than its inputs.
exec 9>"$out/.build.lock"
flock 9

guest_kernel
guest_busybox
node=$(command -v node || true)
[ -n "$node" ] || guest_fail "no node on PATH"
node=$(readlink -f "$node")
ip=$(readlink -f /usr/sbin/ip 2>/dev/null || true)
tc=$(readlink -f /usr/sbin/tc 2>/dev/null || true)
[ -x "$ip" ] && [ -x "$tc" ] || guest_fail "no /usr/sbin/ip or /usr/sbin/tc (install iproute2)"
guest_static "$out/mapwriter" "$root/guest/mapwriter.c"
guest_modules virtio_pci 9pnet_virtio 9p veth sch_netem

tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
if stale "$out/base.cpio.gz" "$out/mapwriter" "$root/guest/node-init" "$busybox" "$kernel" "$0" "$guest_lib"; then
  guest_tree "$tree/base" "$root/guest/node-init"
  mkdir -p "$tree/base/etc"
  # node's os.userInfo() (pino, ferry's state dir) needs the user in /etc/passwd
  echo 'root:x:0:0:root:/tmp:/bin/sh' >"$tree/base/etc/passwd"
  echo 'root:x:0:' >"$tree/base/etc/group"
  cp "$out/mapwriter" "$tree/base/bin/mapwriter"
  chmod 0755 "$tree/base/bin/mapwriter"
  cpio_gz "$tree/base" "$out/base.cpio.gz"
fi

if stale "$out/node.cpio.gz" "$node" "$ip" "$tc" "$0"; then
  guest_program "$tree/node" "$node" /usr/bin/node
  guest_program "$tree/node" "$ip" /usr/sbin/ip
  guest_program "$tree/node" "$tc" /usr/sbin/tc
  cpio_gz "$tree/node" "$out/node.cpio.gz"
fi

if stale "$out/initramfs.gz" "$out/base.cpio.gz" "$out/node.cpio.gz"; then
  cat "$out/base.cpio.gz" "$out/node.cpio.gz" >"$out/initramfs.gz.tmp"
  mv "$out/initramfs.gz.tmp" "$out/initramfs.gz"
fi

guest_boot_kernel "$out/kernel"
echo "$out"
