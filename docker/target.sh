#!/bin/sh
# Target container: shape the egress, receive one migration into /data, then record the image's sha256
# and the target's /metrics in /results for the check (scripts/test-compose.sh compares the sha256 with
# the source's paused image and the metrics with the source's summary).
set -eu
. /opt/ferry/docker/wan.sh
FERRY="node /opt/ferry/cli/bin/ferry.js"

wan_setup
# Without netem the source's wan-proxy shapes both directions; the target has nothing to do.
[ "$WAN_MODE" = fallback ] && wan_log "netem unavailable here ($WAN_REASON); the source's ferry wan-proxy shapes both directions"

mkdir -p /data /results
rm -f /results/target.sha256 /results/target.metrics
umask 077
printf '%s' "${FERRY_TOKEN:?FERRY_TOKEN must be set (shared by source and target)}" > /tmp/token

# Serves until the first migration ends (like --once), then records the outcome, the image's sha256 and a
# scrape of its own /metrics. FERRY_LINGER=1 keeps it serving afterwards, for a person to look at the
# page on port 7070 and at /metrics (docker-compose.ops.yml publishes the port on the host's loopback).
# The source dials ws://target:7070: the target answers to that name (any other name is refused, against
# DNS rebinding); through the fallback wan-proxy it is reached as 127.0.0.1, which always works.
$FERRY target --listen 0.0.0.0:7070 --dir /data --json --token-file /tmp/token --allow-host "${TARGET_HOST:-target}" \
  --log-level "${FERRY_LOG_LEVEL:-info}" > /tmp/target.out &
TARGET=$!
while ! grep -q '"migration-end"' /tmp/target.out 2>/dev/null; do
  kill -0 "$TARGET" 2>/dev/null || { echo "target: ferry target exited before a migration ended" >&2; wait "$TARGET" || exit $?; exit 1; }
  sleep 0.2
done
end="$(grep '"migration-end"' /tmp/target.out | head -n 1)"
echo "target: $end" >&2
node -e '
  const [token] = process.argv.slice(1);
  fetch("http://127.0.0.1:7070/metrics", { headers: { authorization: `Bearer ${token}` } })
    .then(async (r) => { if (!r.ok) throw new Error(`HTTP ${r.status}`); process.stdout.write(await r.text()); })
    .catch((e) => { console.error(`target: GET /metrics failed: ${e.message}`); process.exit(1); });' "$FERRY_TOKEN" > /results/target.metrics
case "$end" in
  *'"outcome":"committed"'*) ;;
  *) echo "target: the migration did not commit" >&2; kill "$TARGET"; exit 1 ;;
esac
image="$(ls -d /data/*/"${IMAGE_NAME:-ram}" 2>/dev/null | head -n 1)"
[ -n "$image" ] || { echo "target: no committed image ${IMAGE_NAME:-ram} under /data" >&2; exit 1; }
sha256sum "$image" | cut -d' ' -f1 > /results/target.sha256
echo "target: committed $image sha256 $(cat /results/target.sha256)" >&2
if [ -n "${FERRY_LINGER:-}" ]; then
  echo "target: still serving the page and /metrics on port 7070 (FERRY_LINGER)" >&2
  wait "$TARGET"
  exit 0
fi
kill "$TARGET"
wait "$TARGET" 2>/dev/null || true
