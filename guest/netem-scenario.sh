# Runs inside the node guest (scripts/build-node-guest.sh, guest/node-init): the compose stack's WAN, as
# docker/wan.sh shapes it, between two network namespaces joined by a veth pair, and one `ferry migrate`
# across it. Each namespace sources docker/wan.sh and runs its wan_setup on its own end of the pair, as
# each compose container does on its eth0, so the round trip grows by twice DELAY and each direction is
# held to RATE. Prints lines the test reads from the serial console:
#   NE-WAN <side> <WAN_MODE> [reason]   NE-QDISC <side> <tc qdisc show>   NE-PING <ping's round-trip line>
#   NE-AT <step> <guest uptime>          NE-EXIT <code>
#   NE-EVENT <guest uptime> <a --json line, as it arrived>   NE-SUMMARY <the --json summary>
#   NE-CMP identical|differ              NE-TIME <seconds the scenario took>
# or, when the target dies or stalls while starting, NE-EXIT target-died-<code> (or
# target-not-ready-after-120s) and the target's stderr, and nothing more.
# Usage: sh netem-scenario.sh DELAY RATE MIB   (DELAY and RATE in tc's spelling, e.g. 20ms 4mbit)
set -u
. /ferry/guest/wait-for.sh
delay=$1 rate=$2 mib=$3
ip=/usr/sbin/ip
ferry="node /ferry/cli/bin/ferry.js"
work=/dev/shm/netem
started=$(cut -d' ' -f1 /proc/uptime)
mkdir -p /run/netns "$work/target"
# src holds the source, dst the target; 10.77.0.0/24 is only ever seen inside the guest.
$ip netns add src && $ip netns add dst || { echo "NE-EXIT no-netns"; exit 0; }
$ip link add wan-src netns src type veth peer name wan-dst netns dst
# One shell per side, as one container: its address and links (busybox's ip: static, quicker to start
# under TCG than iproute2's), then wan.sh's wan_setup on its end of the pair.
side() {
  # shellcheck disable=SC2016
  $ip netns exec "$1" env WAN_DEV="wan-$1" WAN_DELAY="$delay" WAN_RATE="$rate" sh -c '
    ip addr add "$2" dev "$WAN_DEV" && ip link set lo up && ip link set "$WAN_DEV" up
    . /ferry/docker/wan.sh
    wan_setup
    echo "NE-WAN $1 $WAN_MODE $WAN_REASON"
    echo "NE-QDISC $1 $(/usr/sbin/tc qdisc show dev "$WAN_DEV" | head -n 1)"' sh "$1" "$2" 2>&1
}
side dst 10.77.0.2/24
# Not loopback: the target takes only a client with the token, as in the compose stack. It starts
# (node under TCG: seconds) while the source's side is set up.
(umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/token")
$ip netns exec dst $ferry target --listen 10.77.0.2:7500 --dir "$work/target" --token-file "$work/token" --once \
  >"$work/target.out" 2>"$work/target.err" &
target_pid=$!
side src 10.77.0.1/24
echo "NE-PING $($ip netns exec src ping -c 3 -i 0.2 -q 10.77.0.2 | grep round-trip)"
dd if=/dev/urandom of="$work/ram.img" bs=1M count="$mib" 2>/dev/null
echo "NE-AT shaped $(cut -d' ' -f1 /proc/uptime)"
if ! wait_for NE target "$target_pid" grep -q listening "$work/target.out"; then
  tail -n 20 "$work/target.err"
  kill -KILL "$target_pid" 2>/dev/null
  exit 0
fi
echo "NE-AT target-up $(cut -d' ' -f1 /proc/uptime)"
# Each --json line is stamped with the guest's clock as it arrives: the test times the transfer by them.
{
  $ip netns exec src $ferry migrate --to ws://10.77.0.2:7500 --image "ram=$work/ram.img" --id netem \
    --token-file "$work/token" --json 2>"$work/migrate.err"
  echo $? >"$work/code"
} | while IFS= read -r line; do
  read -r now _ </proc/uptime
  echo "$now $line"
done >"$work/migrate.out"
code=$(cat "$work/code")
echo "NE-EXIT $code"
[ "$code" = 0 ] || { tail -n 20 "$work/migrate.err"; kill "$target_pid"; }
sed '$d; s/^/NE-EVENT /' "$work/migrate.out"
echo "NE-SUMMARY $(tail -n 1 "$work/migrate.out" | cut -d' ' -f2-)"
wait "$target_pid"
if cmp -s "$work/ram.img" "$work/target/netem/ram"; then echo "NE-CMP identical"; else echo "NE-CMP differ"; tail -n 5 "$work/target.err"; fi
rm -rf "$work"
$ip netns del src
$ip netns del dst
echo "NE-TIME $(awk -v a="$started" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%.1f", b - a }')"
