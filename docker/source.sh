#!/bin/sh
# Source container: fill an image, dirty it with a workload, and migrate it live to the target over the
# emulated WAN (tc netem, else a local ferry wan-proxy in front of the target). The pause hook SIGSTOPs
# the workload, so after the commit the image is frozen: its sha256 must equal the target's copy.
set -eu
. /opt/ferry/docker/wan.sh
FERRY="node /opt/ferry/cli/bin/ferry.js"
TARGET_HOST="${TARGET_HOST:-target}"
TARGET_PORT="${TARGET_PORT:-7070}"
IMAGE="/dev/shm/${IMAGE_NAME:-ram}"
WORKLOAD=""
PROXY=""

cleanup() {
  [ -n "$WORKLOAD" ] && { kill -CONT "$WORKLOAD" 2>/dev/null; kill "$WORKLOAD" 2>/dev/null; }
  [ -n "$PROXY" ] && kill "$PROXY" 2>/dev/null
  return 0
}
trap cleanup EXIT

# Reads a file until a line holding $2 appears (a process's ready line), for up to $3 seconds.
wait_for_line() {
  local i=0
  while ! grep -q "$2" "$1" 2>/dev/null; do
    i=$((i + 1)); [ "$i" -le $(($3 * 10)) ] || { echo "source: no '$2' in $1 after $3 s:" >&2; cat "$1" >&2; return 1; }
    sleep 0.1
  done
}

mkdir -p /results
rm -f /results/source.sha256 /results/migrate.ndjson
umask 077
printf '%s' "${FERRY_TOKEN:?FERRY_TOKEN must be set (shared by source and target)}" > /tmp/token
umask 022

# The target must listen before the WAN is involved: probe it directly (plain TCP connect).
node -e '
  const net = require("node:net"); const [host, port] = process.argv.slice(1); const until = Date.now() + 60000;
  (function probe() {
    const s = net.connect(Number(port), host, () => { s.destroy(); process.exit(0); });
    s.on("error", () => { if (Date.now() > until) { console.error(`source: ${host}:${port} unreachable`); process.exit(1); } setTimeout(probe, 200); });
  })();' "$TARGET_HOST" "$TARGET_PORT"

wan_setup
URL="ws://$TARGET_HOST:$TARGET_PORT"
if [ "$WAN_MODE" = fallback ]; then
  wan_log "$(wan_fallback_note)"
  set -- --listen 127.0.0.1:7071 --to "$TARGET_HOST:$TARGET_PORT" --delay "$(wan_ms "${WAN_DELAY:-0}")"
  [ -n "${WAN_RATE:-}" ] && set -- "$@" --rate "$WAN_RATE"
  wan_is_zero "${WAN_JITTER:-}" || set -- "$@" --jitter "$(wan_ms "$WAN_JITTER")"
  $FERRY wan-proxy "$@" > /tmp/wan-proxy.out 2>/tmp/wan-proxy.log &
  PROXY=$!
  wait_for_line /tmp/wan-proxy.out '"listening"' 10
  URL="ws://127.0.0.1:7071"
fi

$FERRY workload --image "$IMAGE" --size "${IMAGE_SIZE:-64MiB}" --profile "${WORKLOAD_PROFILE:-web}" \
  --rate "${WORKLOAD_RATE:-4MiB/s}" --fill > /tmp/workload.out 2>&1 &
WORKLOAD=$!
wait_for_line /tmp/workload.out '"ready"' 120
echo "source: workload $WORKLOAD dirtying $IMAGE (${IMAGE_SIZE:-64MiB}, ${WORKLOAD_PROFILE:-web} at ${WORKLOAD_RATE:-4MiB/s}); migrating to $URL" >&2

status=0
$FERRY migrate --to "$URL" --image "${IMAGE_NAME:-ram}=$IMAGE" --token-file /tmp/token --json \
  --pause-cmd "kill -STOP $WORKLOAD" --resume-cmd "kill -CONT $WORKLOAD" \
  --log-level "${FERRY_LOG_LEVEL:-warn}" > /results/migrate.ndjson || status=$?
tail -n 1 /results/migrate.ndjson >&2
if [ "$status" -ne 0 ]; then
  echo "source: ferry migrate exited $status" >&2
  exit "$status"
fi
# Still SIGSTOPped since the pause: this is the exact image the target must now hold.
sha256sum "$IMAGE" | cut -d' ' -f1 > /results/source.sha256
echo "source: committed; paused image sha256 $(cat /results/source.sha256)" >&2
[ -n "$PROXY" ] && { echo "source: wan-proxy stats:" >&2; kill "$PROXY"; wait "$PROXY" 2>/dev/null || true; PROXY=""; tail -n 1 /tmp/wan-proxy.log >&2; }
exit 0
