# lib.sh: helpers for the clipapi test scripts (sourced, bash).
#
# Usage in a test: GEN=$1 SERVE=$2; source lib.sh. Gives a private $TMP,
# fail(), start_server() and an EXIT trap that stops every server the test
# started, by PID, and removes $TMP.
set -euo pipefail

GEN=${1:?usage: $0 CLIPAPI_GEN CLIPAPI_SERVE}
SERVE=${2:?usage: $0 CLIPAPI_GEN CLIPAPI_SERVE}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/clipapi-test.XXXXXX")
SERVER_PIDS=()

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

cleanup() {
    local p
    for p in "${SERVER_PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$TMP"
}
trap cleanup EXIT

# start_server NAME ARGS...: starts clipapi-serve on an ephemeral port;
# sets PORT and PID; its stdout/stderr go to $TMP/NAME.out and .err.
start_server() {
    local name=$1 i
    shift
    rm -f "$TMP/$name.port"
    "$SERVE" "$@" --port 0 --port-file "$TMP/$name.port" \
        >"$TMP/$name.out" 2>"$TMP/$name.err" &
    PID=$!
    SERVER_PIDS+=("$PID")
    # The server loads the whole corpus before it listens: on a slow,
    # loaded machine that has taken over 10 s. Allow 120 s.
    for i in $(seq 2400); do
        [ -s "$TMP/$name.port" ] && break
        kill -0 "$PID" 2>/dev/null ||
            fail "server $name exited early: $(cat "$TMP/$name.err")"
        sleep 0.05
    done
    [ -s "$TMP/$name.port" ] || fail "server $name wrote no port file"
    PORT=$(cat "$TMP/$name.port")
}

# stop_server PID: SIGTERM, then the exit status must be 0 within 10 s.
stop_server() {
    local pid=$1 i rc=0
    kill -TERM "$pid"
    for i in $(seq 200); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -0 "$pid" 2>/dev/null && fail "server $pid ignored SIGTERM for 10 s"
    wait "$pid" || rc=$?
    [ "$rc" -eq 0 ] || fail "server $pid exited with status $rc"
}

# gen_corpus DIR ARGS...: runs clipapi-gen quietly into DIR.
gen_corpus() {
    local dir=$1
    shift
    "$GEN" --out "$dir" "$@" 2>"$TMP/gen.err" ||
        fail "clipapi-gen $*: $(cat "$TMP/gen.err")"
}

# file_pages DIR SNAP CHANNEL: all clips of a channel's page files, in
# page order, as one JSON array.
file_pages() {
    pages_in_order "$1/snap-$(printf %03d "$2")/clips/$3/page" |
        xargs jq -s '[.[].data[]]'
}

# served_pages BASEURL CHANNEL FIRST PREFIX: follows the cursors of
# /helix/clips, saving page n as PREFIX-<n>.json; sets NPAGES.
served_pages() {
    local base=$1 ch=$2 first=$3 prefix=$4 cursor="" url
    NPAGES=0
    while :; do
        url="$base/helix/clips?broadcaster_id=$ch&first=$first"
        [ -n "$cursor" ] && url="$url&after=$cursor"
        NPAGES=$((NPAGES + 1))
        curl -sf --max-time 10 -o "$prefix-$NPAGES.json" "$url" ||
            fail "GET $url failed"
        cursor=$(jq -r '.pagination.cursor // empty' "$prefix-$NPAGES.json")
        [ -n "$cursor" ] || break
        [ "$NPAGES" -lt 1000 ] || fail "cursor loop for $ch"
    done
}

# pages_in_order PREFIX: the files PREFIX-1.json, PREFIX-2.json, ... that
# exist, in page order.
pages_in_order() {
    local n=1
    while [ -f "$1-$n.json" ]; do
        echo "$1-$n.json"
        n=$((n + 1))
    done
}
