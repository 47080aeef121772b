# The steps the QEMU guest builders share (scripts/build-guest.sh, scripts/build-node-guest.sh), sourced
# by both after `set -euo pipefail`. Each builder sets guest_tool (its name, for messages) first. Needs:
# a kernel with its modules (linux-image-amd64), kmod, busybox-static, cpio, gzip, xz and zstd for
# compressed modules.

guest_lib=${BASH_SOURCE[0]}

guest_fail() {
  echo "$guest_tool: $*" >&2
  exit 1
}

# stale OUTPUT INPUT...: true when OUTPUT is missing or older than an input
stale() {
  local target=$1 input
  shift
  [ -e "$target" ] || return 0
  for input in "$@"; do [ "$input" -nt "$target" ] && return 0; done
  return 1
}

# guest_kernel: sets kernel (the newest /boot/vmlinuz-*) and kversion, and checks its modules are there
guest_kernel() {
  kernel=$(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$kernel" ] || guest_fail "no /boot/vmlinuz-* (install linux-image-amd64)"
  kversion=${kernel#/boot/vmlinuz-}
  [ -d "/lib/modules/$kversion" ] || guest_fail "no /lib/modules/$kversion for $kernel"
}

# guest_busybox: sets busybox to a statically linked busybox (the initramfs has no libraries for it)
guest_busybox() {
  busybox=$(command -v busybox || true)
  [ -x /bin/busybox ] && busybox=/bin/busybox
  [ -n "$busybox" ] || guest_fail "no busybox (install busybox-static)"
  if ldd "$busybox" >/dev/null 2>&1; then guest_fail "$busybox is dynamically linked (install busybox-static)"; fi
}

# guest_modules MODULE...: sets modules to the files of the MODULEs and of what they need, dependencies
# first, each once. The order is the kernel's own (modules.dep, through modprobe --show-depends), so a
# point release that moves a symbol between modules (6.1.0-57: virtio now needs virtio_ring) cannot
# break a guest's boot; a module built into the kernel needs no file.
guest_modules() {
  local module depends file
  local -A seen=()
  modules=()
  for module in "$@"; do
    depends=$(modprobe -S "$kversion" --show-depends "$module" 2>&1) \
      || guest_fail "kernel $kversion has no module $module ($depends)"
    for file in $(awk '$1 == "insmod" { print $2 }' <<<"$depends"); do
      [ -n "${seen[$file]:-}" ] && continue
      seen[$file]=1
      modules+=("$file")
    done
  done
}

# guest_tree TREE INIT: what every guest's initramfs holds: busybox as /bin/busybox and /bin/sh, INIT as
# /init, and $modules uncompressed in /lib/modules, named one a line in /lib/modules/load-order in the
# order to load them.
guest_tree() {
  local tree=$1 init=$2 file name
  mkdir -p "$tree/bin" "$tree/lib/modules"
  cp "$busybox" "$tree/bin/busybox"
  ln -s busybox "$tree/bin/sh"
  cp "$init" "$tree/init"
  chmod 0755 "$tree/init" "$tree/bin/busybox"
  for file in "${modules[@]}"; do
    name=$(basename "$file")
    case "$name" in
      *.ko.xz) name=${name%.xz}; xz -dc "$file" >"$tree/lib/modules/$name" ;;
      *.ko.zst) name=${name%.zst}; zstd -qdc "$file" >"$tree/lib/modules/$name" ;;
      *) cp "$file" "$tree/lib/modules/$name" ;;
    esac
    echo "$name" >>"$tree/lib/modules/load-order"
  done
}

# guest_program TREE PROGRAM PATH: PROGRAM (dynamically linked) at PATH in TREE, with the libraries ldd
# lists for it at their own paths
guest_program() {
  local tree=$1 program=$2 path=$3 lib
  mkdir -p "$tree$(dirname "$path")"
  cp "$program" "$tree$path"
  ldd "$program" | awk '/=> \// { print $3 } /^\t\/lib/ { print $1 }' | while read -r lib; do
    mkdir -p "$tree$(dirname "$lib")"
    cp -L "$lib" "$tree$lib"
  done
}

# cpio_gz TREE OUT: the tree as a gzip'd newc archive owned by root, written whole or not at all
cpio_gz() {
  (cd "$1" && find . -print0 | sort -z | cpio --null -o -H newc --quiet -R 0:0) | gzip -1 >"$2.tmp"
  mv "$2.tmp" "$2"
}

# guest_static OUT SOURCE: SOURCE (C) built static into OUT, when older than SOURCE
guest_static() {
  if stale "$1" "$2"; then
    gcc -static -O2 -Wall -Wextra -o "$1.tmp" "$2"
    mv "$1.tmp" "$1"
  fi
}

# guest_boot_kernel OUT: $kernel as QEMU boots it fastest, readable (the one in /boot may be root's only);
# scripts/guest-kernel.sh says how
guest_boot_kernel() {
  if stale "$1" "$kernel" "$root/scripts/guest-kernel.sh"; then
    bash "$root/scripts/guest-kernel.sh" "$kernel" "$1"
  fi
}
