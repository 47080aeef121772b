#!/bin/sh
# Target container: shape the egress, receive one migration into /data, then record the image's sha256
# in /results for the check (scripts/test-compose.sh compares it with the source's paused image).
set -eu
. /opt/ferry/docker/wan.sh
FERRY="node /opt/ferry/cli/bin/ferry.js"

wan_setup
# Without netem the source's wan-proxy shapes both directions; the target has nothing to do.
[ "$WAN_MODE" = fallback ] && wan_log "netem unavailable here ($WAN_REASON); the source's ferry wan-proxy shapes both directions"

mkdir -p /data /results
rm -f /results/target.sha256
umask 077
printf '%s' "${FERRY_TOKEN:?FERRY_TOKEN must be set (shared by source and target)}" > /tmp/token

status=0
# The source dials ws://target:7070: the target answers to that name (any other name is refused, against
# DNS rebinding); through the fallback wan-proxy it is reached as 127.0.0.1, which always works.
$FERRY target --listen 0.0.0.0:7070 --dir /data --once --token-file /tmp/token --allow-host "${TARGET_HOST:-target}" \
  --log-level "${FERRY_LOG_LEVEL:-info}" || status=$?
if [ "$status" -ne 0 ]; then
  echo "target: ferry target exited $status" >&2
  exit "$status"
fi
# --once: exactly one migration directory, committed (no .partial names left).
image="$(ls -d /data/*/"${IMAGE_NAME:-ram}" 2>/dev/null | head -n 1)"
[ -n "$image" ] || { echo "target: no committed image ${IMAGE_NAME:-ram} under /data" >&2; exit 1; }
sha256sum "$image" | cut -d' ' -f1 > /results/target.sha256
echo "target: committed $image sha256 $(cat /results/target.sha256)" >&2
