# Sourced by the entrypoints: emulate the WAN on this container's egress with tc netem.
# WAN_DELAY (one way, e.g. 20ms; empty or 0 = no WAN), WAN_RATE (tc spelling, e.g. 200mbit),
# WAN_LOSS (e.g. 0.5%), WAN_JITTER (e.g. 5ms), WAN_DEV (default eth0).
# Sets WAN_MODE: off (nothing asked), netem (applied), fallback (no netem here: see wan_fallback_note).
# Both containers apply it to their own egress, so each direction gets WAN_DELAY and the round trip
# grows by twice WAN_DELAY: the same link the symmetric ferry wan-proxy emulates in the fallback.

wan_log() { echo "wan: $*" >&2; }

# "20ms" -> 20, "0.5s" -> 500, "800us" -> 0.8, "20" -> 20 (ms, unlike tc where a bare number is usec).
wan_ms() {
  case "$1" in
    *ms) echo "${1%ms}" ;;
    *us) awk -v v="${1%us}" 'BEGIN { print v / 1000 }' ;;
    *s) awk -v v="${1%s}" 'BEGIN { print v * 1000 }' ;;
    *) echo "$1" ;;
  esac
}

wan_is_zero() { case "${1:-0}" in 0 | 0ms | 0% | 0.0 | 0.0% | "") return 0 ;; *) return 1 ;; esac; }

wan_setup() {
  WAN_MODE=off
  WAN_REASON=
  wan_is_zero "${WAN_DELAY:-}" && [ -z "${WAN_RATE:-}" ] && { wan_log "no WAN_DELAY or WAN_RATE set: plain container network"; return 0; }
  local dev="${WAN_DEV:-eth0}" tc="" path
  # A path, not `command -v tc`: busybox's shell prefers its own applet, which knows no netem.
  for path in /usr/sbin/tc /sbin/tc; do [ -x "$path" ] && { tc="$path"; break; }; done
  set -- delay "${WAN_DELAY:-0ms}"
  wan_is_zero "${WAN_JITTER:-}" || set -- "$@" "$WAN_JITTER"
  [ -n "${WAN_RATE:-}" ] && set -- "$@" rate "$WAN_RATE"
  wan_is_zero "${WAN_LOSS:-}" || set -- "$@" loss "$WAN_LOSS"
  if [ -z "$tc" ]; then
    WAN_REASON="tc is not installed in this image"
  elif WAN_REASON="$("$tc" qdisc replace dev "$dev" root netem "$@" 2>&1)"; then
    WAN_MODE=netem
    wan_log "tc netem on $dev egress: $* (round trip +2x delay with both sides shaped)"
    return 0
  fi
  WAN_MODE=fallback
  WAN_REASON="$(echo "$WAN_REASON" | head -n 1)"
}

# The one line that says what the fallback emulates and what it cannot.
wan_fallback_note() {
  local rate="${WAN_RATE:-unlimited}" loss=""
  wan_is_zero "${WAN_LOSS:-}" || loss="; loss ${WAN_LOSS} cannot be emulated by a TCP proxy and is ignored"
  echo "tc netem unavailable on this kernel ($WAN_REASON); falling back to ferry wan-proxy with delay ${WAN_DELAY:-0ms} rate $rate${WAN_JITTER:+ jitter $WAN_JITTER} each way$loss"
}
