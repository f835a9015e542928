#!/bin/sh
# Fault tolerance of clip-analyzer against clipapi-serve (issue 4, tests).
#
# One corpus, its snapshots replayed twice into two databases:
#   reference  fault-free, from the file:// pages;
#   faulty     over HTTP from clipapi-serve on 127.0.0.1 injecting 500/503,
#              429 with Retry-After, truncated and invalid JSON bodies,
#              added latency and stalled connections.
# Then, per snapshot, the faulty run's ranking (ids and scores) must equal
# the reference's, and the failures the analyzer reports by reason must
# equal the faults the server says it injected; every failure was retried.
#
# usage: fault_tolerance.sh ANALYZER CLIPAPI_GEN CLIPAPI_SERVE [SEED]
set -eu
. "$(dirname "$0")/lib.sh"
analyzer=$1 gen=$2 serve=$3 seed=${4:-7}
work=$(mktemp -d)
server=
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
export CLIPBUS_DISABLE=1

"$gen" --seed "$seed" --out "$work/corpus" --channels 24 >/dev/null 2>&1
"$serve" --corpus "$work/corpus" --port-file "$work/port" --fault-seed "$seed" \
    --rate-500 0.12 --rate-503 0.08 --rate-429 0.10 --truncate-rate 0.05 \
    --bad-json-rate 0.03 --latency-rate 0.05 --latency-ms 50 \
    --timeout-rate 0.01 --timeout-s 3 --retry-after 1 2>"$work/serve.log" &
server=$!
wait_port "$work/port" "$server" "$work/serve.log"
port=$(cat "$work/port")
base=http://127.0.0.1:$port

retry="--retries 12 --retry-budget 10000 --backoff-ms 5 --backoff-max-ms 40 \
--timeout-ms 1000 --connect-timeout-ms 1000 --max-wait-ms 2000"
snaps=$(jq '.snapshots | length' "$work/corpus/corpus.json")
fail=0 k=0
while [ "$k" -lt "$snaps" ]; do
    at=$(jq -r ".snapshots[$k].observed_at" "$work/corpus/corpus.json")
    snap=$(printf '%s/corpus/snap-%03d' "$work" "$k")
    "$analyzer" --api "file://$snap" --channels-file "$work/corpus/channels.txt" \
        --db "$work/ref.db" --observed-at "$at" --format json --top 0 \
        >"$work/ref.json"
    curl -sf "$base/control/snapshot?set=$k" >/dev/null
    before=$(curl -sf "$base/control/stats")
    # shellcheck disable=SC2086 # $retry is a list of options
    "$analyzer" --api "$base" --channels-file "$work/corpus/channels.txt" \
        --db "$work/faulty.db" --observed-at "$at" --format json --top 0 \
        --jobs 6 $retry >"$work/faulty.json"
    after=$(curl -sf "$base/control/stats")
    # Injected faults of this run, as the analyzer names them.
    injected=$(jq -n --argjson a "$after" --argjson b "$before" '
        ($a.faults) as $x | ($b.faults) as $y |
        {timeout: ($x.timeout - $y.timeout),
         http_429: ($x.http_429 - $y.http_429),
         http_5xx: ($x.http_500 + $x.http_503 - $y.http_500 - $y.http_503),
         truncated: ($x.truncated - $y.truncated),
         bad_json: ($x.bad_json - $y.bad_json)}')
    seen=$(jq '.run.fetch.failures | {timeout, http_429, http_5xx, truncated,
                                      bad_json}' "$work/faulty.json")
    others=$(jq '.run.fetch.failures | del(.timeout, .http_429, .http_5xx,
                 .truncated, .bad_json) | add' "$work/faulty.json")
    retries=$(jq '.run.fetch.retries' "$work/faulty.json")
    total=$(jq '.run.fetch.failures_total' "$work/faulty.json")
    same=$(jq -n --slurpfile r "$work/ref.json" --slurpfile f "$work/faulty.json" '
        ($r[0].clips | map([.id, .score])) == ($f[0].clips | map([.id, .score]))
        and ($r[0].clips | length) > 0')
    status=$(jq -r '.run.status' "$work/faulty.json")
    echo "snapshot $k: status $status, ranking equal: $same," \
         "injected $(echo "$injected" | jq -c .), reported $(echo "$seen" | jq -c .)," \
         "other failures $others, retries $retries"
    if [ "$same" != true ] || [ "$status" != ok ] || [ "$others" != 0 ] ||
       [ "$(echo "$injected" | jq -S -c .)" != "$(echo "$seen" | jq -S -c .)" ] ||
       [ "$retries" != "$total" ]; then
        fail=1
    fi
    k=$((k + 1))
done
[ "$(sqlite3 "$work/faulty.db" 'PRAGMA integrity_check')" = ok ] || fail=1
[ $fail = 0 ] && echo "fault tolerance: ok" || echo "fault tolerance: FAIL"
exit $fail
