#!/usr/bin/env bash
# guest-kernel.sh BZIMAGE OUT: writes the kernel the test guests boot to OUT.
# Under TCG a bzImage spends seconds of every boot in its own decompressor (about 6 s of a 15 s boot to
# the first heartbeat, measured here with Debian's xz-compressed kernel). A kernel built with
# CONFIG_PVH=y can instead be given to QEMU as its uncompressed ELF, which QEMU loads and enters at the
# PVH entry point directly, so OUT is that ELF, cut from the bzImage's payload. A kernel without PVH, or
# whose payload is not xz, zstd or gzip, is copied as it is.
set -euo pipefail
bzimage=$1
out=$2
config="/boot/config-${bzimage#/boot/vmlinuz-}"

# payload MAGIC DECOMPRESSOR...: the first payload at MAGIC (a byte string) decompressed to stdout
payload() {
  local magic=$1 offset; shift
  offset=$(LC_ALL=C grep -abo -m 1 "$magic" "$bzimage" | head -n 1 | cut -d: -f1) || return 1
  [ -n "$offset" ] || return 1
  tail -c "+$((offset + 1))" "$bzimage" | "$@" 2>/dev/null
}

is_elf() {
  [ "$(head -c 4 "$1" | od -An -c | tr -d ' ')" = '177ELF' ]
}

if [ -r "$config" ] && grep -q '^CONFIG_PVH=y' "$config"; then
  for format in xz zstd gzip; do
    case $format in
      # A truncated read of a concatenated stream is fine: the ELF is the first member.
      xz) payload $'\xfd7zXZ\x00' xz -dc >"$out.tmp" || true ;;
      zstd) payload $'\x28\xb5\x2f\xfd' zstd -dcq >"$out.tmp" || true ;;
      gzip) payload $'\x1f\x8b\x08\x00' gzip -dc >"$out.tmp" || true ;;
    esac
    if [ -s "$out.tmp" ] && is_elf "$out.tmp"; then
      chmod 0644 "$out.tmp"
      mv "$out.tmp" "$out"
      exit 0
    fi
  done
  rm -f "$out.tmp"
fi
cp "$bzimage" "$out.tmp"
chmod 0644 "$out.tmp"
mv "$out.tmp" "$out"
