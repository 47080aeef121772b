#!/usr/bin/env bash
# Builds the QEMU test guest into .cache/guest/ (git-ignored) from Debian packages:
#   memtouch        guest/memtouch.c, static
#   initramfs.gz    busybox-static + guest/init + memtouch + the kernel's virtio block modules and their
#                   load order (cpio newc, gzip)
#   kernel          the kernel of the newest /boot/vmlinuz-* (linux-image-amd64) as QEMU boots it fastest
#                   (scripts/guest-kernel.sh: its uncompressed ELF when it has PVH, else a copy)
# Skips whatever is already newer than its inputs. Needs: gcc and what scripts/guest-lib.sh needs
# (scripts/install-qemu.sh installs them). Prints the output folder last.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
guest_tool=build-guest
. "$root/scripts/guest-lib.sh"
out="$root/.cache/guest"
mkdir -p "$out"
# Test files run in parallel and each asks for the guest: one build at a time, the others wait and
# then find it newer than its inputs.
exec 9>"$out/.build.lock"
flock 9

guest_kernel
guest_busybox
guest_static "$out/memtouch" "$root/guest/memtouch.c"
# The guest disk is virtio-blk; Debian builds its driver (and virtio-pci) as modules of this kernel.
guest_modules virtio_pci virtio_blk

if stale "$out/initramfs.gz" "$out/memtouch" "$root/guest/init" "$busybox" "$kernel" "$0" "$guest_lib"; then
  tree=$(mktemp -d)
  trap 'rm -rf "$tree"' EXIT
  guest_tree "$tree" "$root/guest/init"
  mkdir -p "$tree/proc" "$tree/sys" "$tree/dev" "$tree/tmp"
  cp "$out/memtouch" "$tree/bin/memtouch"
  chmod 0755 "$tree/bin/memtouch"
  cpio_gz "$tree" "$out/initramfs.gz"
fi

guest_boot_kernel "$out/kernel"
echo "$out"
