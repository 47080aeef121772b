# The node guest's one boot for test/e2e/soft-dirty-guest.test.ts: the soft-dirty scenario, then the
# netem one (two scripts, one boot: each boot of the guest under TCG costs more than either scenario).
# Usage: sh soft-dirty-netem.sh MIB HOT COLD POLICY LOG DELAY RATE NETEM_MIB
#   the first five go to guest/soft-dirty-scenario.sh, the last three to guest/netem-scenario.sh
set -u
sh /ferry/guest/soft-dirty-scenario.sh "$1" "$2" "$3" "$4" "$5"
sh /ferry/guest/netem-scenario.sh "$6" "$7" "$8"
