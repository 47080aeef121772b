# Sourced by the node guest's scenario scripts (guest/soft-dirty-scenario.sh, guest/netem-scenario.sh).
# wait_for TAG WHAT PID COMMAND...: until COMMAND succeeds. When WHAT (process PID) is gone first, or
# 120 s have passed (node starts in seconds under TCG), it prints `TAG-EXIT WHAT-died-CODE at T s` or
# `TAG-EXIT WHAT-not-ready-after-120s` and fails: a process that dies or stalls while starting ends the
# run with its reason instead of hanging the guest until the test's own time limit.
wait_for() {
  tag=$1 what=$2 pid=$3 tries=1200
  shift 3
  until "$@"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid"
      echo "$tag-EXIT $what-died-$? at $(cut -d' ' -f1 /proc/uptime) s"
      return 1
    fi
    tries=$((tries - 1))
    [ "$tries" -gt 0 ] || { echo "$tag-EXIT $what-not-ready-after-120s"; return 1; }
    sleep 0.1
  done
}
