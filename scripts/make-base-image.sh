#!/usr/bin/env bash
# Builds ferry-base:local, a minimal image made from this host's own binaries, so that
# `npm run test:compose` needs no container registry (the machine reaches only npm and Debian).
# It holds: the host's node and the shared libraries it links (found with ldd), busybox (static,
# from Debian's busybox-static) with its applets as symlinks (sh, sha256sum, kill, sleep, ...),
# iproute2's tc and ip with their libraries and netem distribution tables, /etc/passwd, /tmp.
# Usage: scripts/make-base-image.sh [IMAGE]   (default ferry-base:local; skipped when it exists)
set -euo pipefail

IMAGE="${1:-ferry-base:local}"
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "make-base-image: $IMAGE exists, skipping (docker rmi $IMAGE to rebuild)"
  exit 0
fi

need() { command -v "$1" >/dev/null 2>&1 || { echo "make-base-image: $1 not found (apt-get install $2)" >&2; exit 1; }; }
need node nodejs
need tc iproute2
need ip iproute2
BUSYBOX="$(command -v busybox || true)"
# The dynamic busybox would need its own libraries; the static one is self-contained.
if [ -z "$BUSYBOX" ] || ! file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked'; then
  for candidate in /bin/busybox /usr/bin/busybox; do
    if [ -x "$candidate" ]; then BUSYBOX="$candidate"; break; fi
  done
fi
[ -n "$BUSYBOX" ] || { echo "make-base-image: busybox not found (apt-get install busybox-static)" >&2; exit 1; }

ROOTFS="$(mktemp -d /tmp/ferry-rootfs.XXXXXX)"
trap 'rm -rf "$ROOTFS"' EXIT

# Merged-/usr layout like Debian bookworm, so the library paths ldd prints (/lib/x86_64-linux-gnu/...,
# /lib64/ld-linux-x86-64.so.2) resolve inside the image exactly as on the host.
mkdir -p "$ROOTFS"/usr/{bin,sbin,lib,lib64} "$ROOTFS"/{etc,tmp,root,data,proc,sys,dev,run}
for dir in bin sbin lib lib64; do ln -s "usr/$dir" "$ROOTFS/$dir"; done
chmod 1777 "$ROOTFS/tmp"

# Copies a file to the same path inside the rootfs, following symlinks (the image gets real files).
copy_file() {
  local source="$1"
  mkdir -p "$ROOTFS$(dirname "$source")"
  cp -L "$source" "$ROOTFS$source"
}

# Copies a dynamically linked binary and every library ldd resolves for it.
copy_binary() {
  local binary
  binary="$(command -v "$1")"
  copy_file "$binary"
  ldd "$binary" | grep -oE '/[^ ]+' | while read -r lib; do
    [ -e "$ROOTFS$lib" ] || copy_file "$lib"
  done
}

copy_binary node
copy_binary tc
copy_binary ip
# tc reads netem's delay distribution tables (normal, pareto) from here when jitter is given.
for tables in /usr/lib/x86_64-linux-gnu/tc /usr/lib/tc; do
  if [ -d "$tables" ]; then mkdir -p "$ROOTFS$tables" && cp -a "$tables/." "$ROOTFS$tables/"; fi
done

cp "$BUSYBOX" "$ROOTFS/usr/bin/busybox"
for applet in $("$ROOTFS/usr/bin/busybox" --list); do
  # node, tc and ip are the real ones; busybox only fills in what is missing.
  [ -e "$ROOTFS/usr/bin/$applet" ] || [ -e "$ROOTFS/usr/sbin/$applet" ] || ln -s busybox "$ROOTFS/usr/bin/$applet"
done

cat > "$ROOTFS/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
node:x:1000:1000:node:/home/node:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/sh
PASSWD
cat > "$ROOTFS/etc/group" <<'GROUP'
root:x:0:
node:x:1000:
nogroup:x:65534:
GROUP
# glibc's resolver reads this; docker bind-mounts /etc/hosts and /etc/resolv.conf at run time.
echo 'hosts: files dns' > "$ROOTFS/etc/nsswitch.conf"

tar -C "$ROOTFS" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["/bin/sh"]' \
  - "$IMAGE" >/dev/null
echo "make-base-image: built $IMAGE ($(docker image inspect -f '{{.Size}}' "$IMAGE") bytes) with node $(node --version)"
