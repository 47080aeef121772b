# Runs inside the node guest (scripts/build-node-guest.sh, guest/node-init) from the read-only checkout
# at /ferry: for each dirty log named, a ferry target on the guest's loopback, a fresh mapwriter on a
# MIB MiB file in /dev/shm rewriting its first HOT pages, and `ferry migrate --dirty-log LOG` of that
# file, paused by the writer itself (on SIGUSR1 it writes COLD more pages, reports which pages it wrote
# since the last freeze, and stops). Prints, per run, lines the test reads from the serial console:
#   SD-RUN <log>   SD-EXIT <migrate's exit code>   SD-SUMMARY <the --json summary>
#   SD-REPORT <mapwriter's report>   SD-CMP identical|differ
# or, when the target or the writer dies or stalls while starting, SD-EXIT <what>-died-<code> (or
# <what>-not-ready-after-120s) and the target's stderr, and the next log's run.
# Usage: sh soft-dirty-scenario.sh MIB HOT COLD POLICY LOG...   (POLICY: ferry's --policy)
set -u
mib=$1 hot=$2 cold=$3 policy=$4
shift 4
ferry="node /ferry/cli/bin/ferry.js"
port=7400
. /ferry/guest/wait-for.sh
for log in "$@"; do
  port=$((port + 1))
  work=/dev/shm/run-$log
  target=/dev/shm/target-$log
  mkdir -p "$work" "$target"
  echo "SD-RUN $log at $(cut -d' ' -f1 /proc/uptime) s"
  $ferry target --listen "127.0.0.1:$port" --dir "$target" --once >"$work/target.out" 2>"$work/target.err" &
  target_pid=$!
  mapwriter "$work/ram.img" "$mib" "$hot" "$cold" "$work/report" &
  writer=$!
  if ! wait_for SD writer "$writer" test -e "$work/ram.img.ready" ||
     ! wait_for SD target "$target_pid" grep -q listening "$work/target.out"; then
    tail -n 20 "$work/target.err"
    kill -KILL "$writer" "$target_pid" 2>/dev/null
    rm -rf "$work" "$target"
    continue
  fi
  cat >"$work/pause.sh" <<EOS
kill -USR1 $writer
until [ -e $work/report ]; do sleep 0.02; done
until grep -q '^State:.*T' /proc/$writer/status; do sleep 0.02; done
EOS
  echo "SD-MIGRATE at $(cut -d' ' -f1 /proc/uptime) s"
  $ferry migrate --to "ws://127.0.0.1:$port" --image "ram=$work/ram.img" --id "sd-$log" --policy "$policy" \
    --dirty-log "$log" --dirty-pid "$writer" --pause-cmd "sh $work/pause.sh" --resume-cmd "kill -CONT $writer" \
    --json >"$work/migrate.out" 2>"$work/migrate.err"
  code=$?
  echo "SD-EXIT $code"
  [ "$code" = 0 ] || { tail -n 20 "$work/migrate.err"; kill "$target_pid"; }
  echo "SD-SUMMARY $(tail -n 1 "$work/migrate.out")"
  echo "SD-REPORT $(cat "$work/report" 2>/dev/null)"
  wait "$target_pid"
  if cmp -s "$work/ram.img" "$target/sd-$log/ram"; then echo "SD-CMP identical"; else echo "SD-CMP differ"; tail -n 5 "$work/migrate.err" "$work/target.err"; fi
  kill -KILL "$writer" 2>/dev/null
  rm -rf "$work" "$target"
done
