# The soft-dirty pause benchmark inside the node guest: guest/soft-dirty-scenario.sh once per image
# size, with the same writer each time (HOT pages rewritten, COLD written at the pause), xen policy.
# Usage: sh soft-dirty-bench.sh HOT COLD LOG MIB...
set -u
hot=$1 cold=$2 log=$3
shift 3
for mib in "$@"; do
  echo "SD-SIZE $mib"
  sh /ferry/guest/soft-dirty-scenario.sh "$mib" "$hot" "$cold" xen "$log"
done
