#!/bin/sh
# The analyzer's instrumentation is real: `clipbus tail --jsonl` reads the
# bus while clip-analyzer runs against a fault-injecting clipapi-serve, and
# this checks what it saw: the session and its progress reaching 100%,
# monitored calls with parameters and outcomes (HTTP failures with their
# status), performance samples, worker threads on their own rings, and
# metrics that agree with the analyzer's report and the server's count of
# injected faults. Needs an instrumented build (not CLIPBUS_DISABLE).
#
# usage: bus_instrumentation.sh ANALYZER CLIPAPI_GEN CLIPAPI_SERVE CLIPBUS
set -eu
. "$(dirname "$0")/lib.sh"
analyzer=$1 gen=$2 serve=$3 clipbus=$4
work=$(mktemp -d)
bus=ca_instr_$$
server= tail_pid=
cleanup() {
    [ -n "$tail_pid" ] && kill "$tail_pid" 2>/dev/null && wait "$tail_pid" 2>/dev/null
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    "$clipbus" gc --bus "$bus" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
unset CLIPBUS_DISABLE

"$gen" --seed 3 --out "$work/corpus" --channels 8 --planted 2 >/dev/null 2>&1
"$serve" --corpus "$work/corpus" --port-file "$work/port" --fault-seed 9 \
    --rate-500 0.15 --rate-503 0.05 --rate-429 0.1 --retry-after 1 \
    --truncate-rate 0.05 --bad-json-rate 0.05 2>/dev/null &
server=$!
wait_port "$work/port" "$server" ""
base=http://127.0.0.1:$(cat "$work/port")

# The reader starts first and follows the run as it happens.
"$clipbus" tail --bus "$bus" --jsonl --from oldest >"$work/bus.jsonl" \
    2>"$work/tail.err" &
tail_pid=$!
sleep 0.3
at=$(jq -r '.snapshots[0].observed_at' "$work/corpus/corpus.json")
CLIPBUS_BUS=$bus CLIP_API_TOKEN=not-for-the-bus "$analyzer" --api "$base" \
    --channels-file "$work/corpus/channels.txt" --db "$work/a.db" \
    --observed-at "$at" --format json --jobs 3 --retries 10 \
    --retry-budget 1000 --backoff-ms 5 --backoff-max-ms 40 >"$work/run.json"
pid_line='select(.type == "producer_exit" and .program == "clip-analyzer")'
i=0
until jq -e "$pid_line" "$work/bus.jsonl" >/dev/null 2>&1 || [ $i -ge 100 ]; do
    sleep 0.1
    i=$((i + 1))
done
kill "$tail_pid"
wait "$tail_pid" 2>/dev/null || true
tail_pid=
curl -sf "$base/control/stats" >"$work/stats.json"

pass=0 failed=0
check() { # NAME JQ-EXPR: true over the slurped bus events
    if jq -e -s --slurpfile run "$work/run.json" --slurpfile st "$work/stats.json" \
        "$2" "$work/bus.jsonl" >/dev/null; then
        pass=$((pass + 1))
    else
        failed=$((failed + 1))
        echo "FAIL $1" >&2
    fi
}
check producer-exited 'any(.type == "producer_exit")'
check session 'any(.type == "session_begin" and .name == "clip-analyzer") and
    any(.type == "session_end" and .status == "ok")'
check progress-100 '(map(select(.type == "session_begin")) | .[0]) as $s |
    (map(select(.type == "progress" and .session == $s.session) | .delta) |
     add) as $done | ($done - $s.total_weight | fabs) < 1e-6'
check fetch-steps 'map(select(.type == "progress" and .name == "fetch_channel"
    and .phase == "end")) | length == 8'
check page-calls 'any(.type == "call" and .name == "fetch_clip_page" and
    .status == "ok" and (.params.channel | type) == "string" and
    .params.page == 0)'
check http-failure-calls 'any(.type == "call" and .name == "ca_transport_get"
    and .status == "error" and (.error.code == -500 or .error.code == -503)
    and (.error.message | test("HTTP 50[03]")) and .params.endpoint != null)'
check perf-samples 'any(.type == "call" and .name == "ca_store_save" and
    .perf.cpu_ns != null) and any(.type == "call" and .name ==
    "ca_score_items" and .perf != null)'
check worker-rings '[.[] | select(.type == "progress" and .name ==
    "fetch_channel") | .ring] | unique | length >= 2'
check failures-by-reason '[.[] | select(.type == "count" and .name ==
    "fetch_failures")] | group_by(.labels.reason) |
    map({key: .[0].labels.reason, value: (map(.value) | add)}) |
    from_entries as $bus | ($run[0].run.fetch.failures |
    with_entries(select(.value > 0))) == $bus and
    ($bus.http_5xx // 0) == $st[0].faults.http_500 + $st[0].faults.http_503 and
    ($bus.http_429 // 0) == $st[0].faults.http_429 and
    ($bus.truncated // 0) == $st[0].faults.truncated and
    ($bus.bad_json // 0) == $st[0].faults.bad_json'
check counters '
    def total(n): [.[] | select(.type == "count" and .name == n) | .value] | add // 0;
    total("clips_fetched") == $run[0].run.fetch.clips and
    total("pages_fetched") == $run[0].run.fetch.pages and
    total("retries") == $run[0].run.fetch.retries'
check observations 'any(.type == "observe" and .name == "http_latency_ms") and
    any(.type == "observe" and .name == "db_query_ms")'
check log-lines 'any(.type == "log" and (.message | test("run ok")))'
check no-token 'all(tostring | test("not-for-the-bus") | not)'
echo "$pass passed, $failed failed"
[ "$failed" = 0 ]
