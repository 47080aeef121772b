#!/usr/bin/env bash
# npm run test:compose: ferry migrates a live, dirtying 64 MiB image between two containers over an
# emulated WAN (tc netem, or ferry wan-proxy when the kernel has no netem) and the target's copy must be
# byte-identical to the source's paused image; the target's /metrics must count the commit. Needs root (apt-get, dockerd) and no container registry:
# the base image is built from this host's node, busybox and tc (scripts/make-base-image.sh).
# Env: WAN_DELAY (20ms), WAN_RATE (200mbit), WAN_LOSS (0), IMAGE_SIZE (64MiB), COMPOSE_TIMEOUT (300 s),
# FERRY_BASE_IMAGE (ferry-base:local; an official node image works too when a registry is reachable).
set -euo pipefail
cd "$(dirname "$0")/.."

PROJECT=ferrycompose
BASE="${FERRY_BASE_IMAGE:-ferry-base:local}"
TIMEOUT="${COMPOSE_TIMEOUT:-300}"
export FERRY_IMAGE=ferry:local
export WAN_DELAY="${WAN_DELAY:-20ms}" WAN_RATE="${WAN_RATE:-200mbit}" WAN_LOSS="${WAN_LOSS:-0}" IMAGE_SIZE="${IMAGE_SIZE:-64MiB}"
# A fresh bearer token per run: the target listens on a non-loopback address, so it requires one.
FERRY_TOKEN="$(node -e 'process.stdout.write(require("node:crypto").randomBytes(24).toString("hex"))')"
export FERRY_TOKEN
START=$SECONDS
DOCKERD_PID=""
COMPOSE_STARTED=""

say() { echo "test-compose: $*"; }

install_missing() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v docker-compose >/dev/null || missing+=(docker-compose)
  [ -x /bin/busybox ] && file -L /bin/busybox | grep -q 'statically linked' || missing+=(busybox-static)
  command -v tc >/dev/null || missing+=(iproute2)
  command -v file >/dev/null || missing+=(file)
  [ "${#missing[@]}" -eq 0 ] && return 0
  say "installing ${missing[*]} from Debian"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

start_dockerd() {
  docker info >/dev/null 2>&1 && return 0
  # No iptables: nothing leaves the machine; the compose bridge between containers works without NAT.
  say "starting dockerd in the background (log /tmp/ferry-dockerd.log)"
  nohup dockerd --iptables=false >/tmp/ferry-dockerd.log 2>&1 &
  DOCKERD_PID=$!
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && return 0; sleep 1; done
  say "dockerd did not come up:"; tail -n 30 /tmp/ferry-dockerd.log; exit 1
}

compose() { docker-compose -p "$PROJECT" "$@"; }

teardown() {
  local status=$?
  if [ -n "$COMPOSE_STARTED" ]; then compose down -v --remove-orphans >/dev/null 2>&1 || true; fi
  # Stop the daemon only if this script started it (FERRY_KEEP_DOCKERD=1 keeps it for the next run).
  if [ -n "$DOCKERD_PID" ] && [ -z "${FERRY_KEEP_DOCKERD:-}" ]; then
    kill "$DOCKERD_PID" 2>/dev/null && wait "$DOCKERD_PID" 2>/dev/null || true
  fi
  exit "$status"
}

# Waits for a container to exit and prints its exit code; 124 when it still runs at $DEADLINE.
wait_exit() {
  local id="$1"
  while [ "$(docker inspect -f '{{.State.Running}}' "$id")" = true ]; do
    [ "$SECONDS" -lt "$DEADLINE" ] || { echo 124; return; }
    sleep 1
  done
  docker inspect -f '{{.State.ExitCode}}' "$id"
}

# Reads a file from the compose results volume (the containers may be gone by then).
read_result() {
  docker run --rm --entrypoint /bin/sh -v "${PROJECT}_results:/results" "$FERRY_IMAGE" -c "cat /results/$1 2>/dev/null" || true
}

trap teardown EXIT
install_missing
start_dockerd
bash scripts/make-base-image.sh "$BASE"
say "npm run build"
npm run build --silent
say "docker build --build-arg BASE=$BASE -t $FERRY_IMAGE ."
docker build -q --build-arg "BASE=$BASE" -t "$FERRY_IMAGE" . >/dev/null

COMPOSE_STARTED=1
compose down -v --remove-orphans >/dev/null 2>&1 || true
say "docker-compose up (WAN_DELAY=$WAN_DELAY WAN_RATE=$WAN_RATE WAN_LOSS=$WAN_LOSS IMAGE_SIZE=$IMAGE_SIZE)"
compose up -d --no-build
DEADLINE=$((SECONDS + TIMEOUT))
source_id="$(compose ps -q source)"
target_id="$(compose ps -q target)"
source_status="$(wait_exit "$source_id")"
# A failed source never connects again: the target's --once would wait forever, so give it 10 s.
[ "$source_status" = 0 ] || DEADLINE=$((SECONDS + 10))
target_status="$(wait_exit "$target_id")"
compose logs --no-color || true

source_sha="$(read_result source.sha256)"
target_sha="$(read_result target.sha256)"
summary="$(read_result migrate.ndjson | tail -n 1)"
wan="$(docker logs "$source_id" 2>&1 | grep '^wan:' || echo 'wan: no line logged')"
wan="${wan%%$'\n'*}"
say "source exit $source_status, target exit $target_status, $((SECONDS - START)) s in all"
say "$wan"
say "summary: ${summary:-none}"
say "source paused image sha256 ${source_sha:-missing}"
say "target image sha256        ${target_sha:-missing}"
# The target scraped its own /metrics once the migration ended: one commit, the passes of the summary.
metrics="$(read_result target.metrics)"
committed="$(grep -E '^ferry_migrations_ended_total\{result="committed"' <<<"$metrics" | awk '{print $2}' || true)"
passes_sum="$(grep -E '^ferry_migration_passes_sum' <<<"$metrics" | awk '{print $2}' || true)"
summary_passes="$(sed -nE 's/.*"passes":([0-9]+).*/\1/p' <<<"$summary")"
say "target /metrics: ended committed ${committed:-missing}, passes ${passes_sum:-missing} (summary: ${summary_passes:-missing})"
metrics_ok=""
[ "$committed" = 1 ] && [ -n "$passes_sum" ] && [ "$passes_sum" = "$summary_passes" ] && metrics_ok=1
if [ "$source_status" = 0 ] && [ "$target_status" = 0 ] && [ -n "$source_sha" ] && [ "$source_sha" = "$target_sha" ] && [ -n "$metrics_ok" ]; then
  say "PASS: the migration committed over the emulated WAN, the target image is byte-identical, and the target's /metrics counted it"
  echo "1 passed, 0 failed"
  exit 0
fi
say "FAIL: see the container logs above"
echo "0 passed, 1 failed"
exit 1
