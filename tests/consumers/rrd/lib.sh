# tests/consumers/rrd/lib.sh -- shared by the clipbus-rrd test scripts.
# Needs RRD_BIN, SYNTH_BIN (and LOAD_BIN, CLIPBUS_BIN where used) from
# CTest. Each test gets its own bus and temporary directory; the trap kills
# what the test started and removes the bus's shm objects.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
: "${RRD_BIN:?set by ctest}" "${SYNTH_BIN:?set by ctest}"
command -v rrdtool >/dev/null || { echo "SKIP: rrdtool not installed"; exit 77; }
BUS="t_rrd_$(basename "$0" .sh | tr -cd 'a-z0-9_' | cut -c1-20)_$$"
export CLIPBUS_BUS="$BUS"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cbrrd.XXXXXX")
PIDS=""
cleanup() {
    for p in $PIDS; do kill -9 "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    if [ -n "${MOUNTED:-}" ]; then umount "$MOUNTED" 2>/dev/null || true; fi
    rm -f /dev/shm/clipbus."$BUS".* /dev/shm/clipbus-r."$BUS".*
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() { echo "FAIL: $*"; exit 1; }

# An epoch second aligned to the minute, $1 seconds ago.
aligned_ago() { echo $(( ( $(date +%s) - $1 ) / 60 * 60 )); }

# Runs rrd_synth in the background; its pid in SYNTH_PID.
synth_bg() {
    "$SYNTH_BIN" --bus "$BUS" "$@" > "$TMP/synth.out" &
    SYNTH_PID=$!
    PIDS="$PIDS $SYNTH_PID"
}

# 0 if the file is a valid PNG of nonzero size.
is_png() {
    [ -s "$1" ] && [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ]
}
