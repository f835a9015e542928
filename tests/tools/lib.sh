# lib.sh -- shared by the tool tests: a private bus, cleanup, assertions.
# Sourced by test_*.sh. Needs CLIPBUS (the clipbus binary) and PRODUCER
# (tools_producer) in the environment; CTest sets both.
set -u
: "${CLIPBUS:?set CLIPBUS to the clipbus binary}"
: "${PRODUCER:?set PRODUCER to the tools_producer binary}"
JQ=${JQ:-jq}

TEST_NAME=$(basename "$0" .sh)
export CLIPBUS_BUS="t_tools_${TEST_NAME#test_}_$$"
export CLIPBUS_QUIET=1
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cbtools.XXXXXX")
PIDS=()

cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill -CONT "$p" 2>/dev/null
        kill -KILL "$p" 2>/dev/null
    done
    wait 2>/dev/null
    rm -f /dev/shm/clipbus."$CLIPBUS_BUS".* /dev/shm/clipbus-r."$CLIPBUS_BUS".*
    rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
    echo "FAIL ($TEST_NAME): $*" >&2
    exit 1
}

ok() {
    echo "ok - $*"
}

# expect_rc WANT CMD...: runs CMD, fails unless it exits with WANT.
expect_rc() {
    local want=$1 rc=0
    shift
    "$@" || rc=$?
    [ "$rc" -eq "$want" ] || fail "'$*' exited $rc, expected $want"
}

# jcheck FILE EXPR MSG: jq -e EXPR over FILE must be true.
jcheck() {
    "$JQ" -e "$2" "$1" >/dev/null || {
        echo "--- $1:" >&2
        head -c 4000 "$1" >&2
        fail "$3 (jq: $2)"
    }
}

# jslurp FILE EXPR MSG: as jcheck, over all lines of a JSONL file at once.
jslurp() {
    "$JQ" -e -s "$2" "$1" >/dev/null || {
        echo "--- $1 (first lines):" >&2
        head -n 40 "$1" >&2
        fail "$3 (jq -s: $2)"
    }
}

# wait_for SECONDS CMD...: retries CMD every 50 ms until it succeeds.
wait_for() {
    local end=$((SECONDS + $1))
    shift
    until "$@"; do
        [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.05
    done
}

# shm_count PREFIX: objects of our bus ("clipbus" or "clipbus-r").
shm_count() {
    local n=0 f
    for f in /dev/shm/"$1"."$CLIPBUS_BUS".*; do
        [ -e "$f" ] && n=$((n + 1))
    done
    echo "$n"
}
