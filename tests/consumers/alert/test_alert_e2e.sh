#!/bin/sh
# clipbus-alert end to end with the real analyzer (clip-analyzer) and the
# fault-injecting clip API (clipapi-serve) on 127.0.0.1, alerts arriving
# at a real webhook receiver (webhook_sink.py):
#   1. injected 429 and 5xx bursts fire FetchFailures (counter_rate on
#      fetch_failures, one alert per reason label);
#   2. the analyzer killed mid-run (SIGKILL) fires AnalyzerDied;
#   3. a `clipbus tail` stopped (SIGSTOP) while a producer with a tiny
#      ring (CLIPBUS_RING_RECORDS=64) floods the bus loses records once
#      resumed: RecordsLost fires for consumer clipbus-tail -- and does
#      not for the same losses by a reader of another bus;
# and before all that (0.), idle, the watcher ticks once a second.
# Env: ALERT_BIN, LOAD_BIN, SRC, ANALYZER_BIN, SERVE_BIN, GEN_BIN,
#      CLIPBUS_BIN.
set -u
PY=/usr/bin/python3
T=$(mktemp -d)
BUS=t_alert_e2e_$$
export CLIPBUS_BUS=$BUS
PIDS=""
cleanup() {
    for p in $PIDS; do kill -CONT "$p" 2>/dev/null; kill -9 "$p" 2>/dev/null; done
    rm -f /dev/shm/clipbus."$BUS".* /dev/shm/clipbus-r."$BUS".* 2>/dev/null
    rm -f /dev/shm/clipbus."$BUS"_other.* /dev/shm/clipbus-r."$BUS"_other.* 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT INT TERM
fail() {
    echo "FAIL: $*"
    echo "--- alert log"; tail -20 "$T/alert.log"
    echo "--- webhook bodies"; jq -c '[.status, .groupLabels.alertname,
        [.alerts[].labels | del(.alertname, .severity)]]' "$T/hook.jsonl" 2>/dev/null
    exit 1
}
wait_for() { # CMD TIMEOUT_S (CMD is eval'ed here: it may call hook)
    i=0
    while [ $i -lt $(($2 * 10)) ]; do
        eval "$1" >/dev/null 2>&1 && return 0
        sleep 0.1; i=$((i + 1))
    done
    return 1
}
# hook QUERY: the webhook alerts matching a jq filter over one alert, e.g.
# hook '.labels.alertname == "X" and .status == "firing"' -> count
hook() {
    jq -s "[.[] | .alerts[] | select($1)] | length" "$T/hook.jsonl" 2>/dev/null ||
        echo 0
}

"$GEN_BIN" --seed 11 --out "$T/corpus" --channels 8 --planted 2 --snapshots 1 \
    >/dev/null 2>"$T/gen.log" || fail "clipapi-gen: $(cat "$T/gen.log")"
# A server that answers 429 and 5xx to a third of the requests each.
"$SERVE_BIN" --corpus "$T/corpus" --port 0 --port-file "$T/api.port" \
    --rate-429 0.3 --rate-500 0.2 --rate-503 0.1 --retry-after 1 \
    --fault-seed 5 --fault-only-clips 2>"$T/serve.log" &
PIDS="$PIDS $!"
$PY "$SRC/webhook_sink.py" "$T/hook.port" "$T/hook.jsonl" &
PIDS="$PIDS $!"
wait_for "test -s $T/api.port && test -s $T/hook.port" 120 ||
    fail "clipapi-serve or the webhook receiver did not start"
API=http://127.0.0.1:$(cat "$T/api.port")
HOOK=http://127.0.0.1:$(cat "$T/hook.port")/alerts

cat > "$T/cfg.json" <<JSON
{"alert": {
  "state_dir": "$T/state",
  "records_lost_poll": "200ms",
  "rules": [
    {"name": "FetchFailures", "kind": "counter_rate",
     "match": ["function=fetch_failures", "reason=http_*"], "window": "10s",
     "fire": 0, "repeat": "0s", "cooldown": "1m", "severity": "warning",
     "summary": "{labels.reason} fetch failures: {value}/s"},
    {"name": "AnalyzerDied", "kind": "producer_died",
     "match": ["producer=clip-analyzer"], "window": "10s", "fire": 0,
     "repeat": "0s", "cooldown": "1m", "severity": "critical",
     "summary": "{producer} died"},
    {"name": "RecordsLost", "kind": "records_lost",
     "match": ["consumer!=clipbus-alert"], "window": "10s", "fire": 0,
     "repeat": "0s", "cooldown": "1m", "severity": "warning",
     "summary": "{target} lost {value} records"}],
  "channels": [{"name": "hook", "type": "webhook", "url": "$HOOK",
                "timeout": "2s", "backoff": "100ms"}]}}
JSON
"$ALERT_BIN" check "$T/cfg.json" >/dev/null || fail "check refused the config"
"$ALERT_BIN" --config "$T/cfg.json" >"$T/alert.log" 2>&1 &
APID=$!; PIDS="$PIDS $APID"

# 0. Idle: no producer has run yet, no alert is pending, so only time can
#    change an alert and the watcher ticks once a second instead of every
#    128 ms. The worker thread's voluntary context switches (one per
#    wake-up) over 3 s: about 3, against 23 with the fast ticks; the
#    configuration watcher's the same. Not the reader's (the main
#    thread): it wakes on every change in /dev/shm, of any bus, so tests
#    running beside this one move it (17 wake-ups once, under ASan).
#    Measured before anything fires: a notification being delivered wakes
#    the watcher for real.
sleep 1.5
vcs() { # thread name -> its voluntary context switches, or nothing
    for t in /proc/"$APID"/task/*; do
        [ "$(cat "$t/comm")" = "$1" ] || continue
        awk '/^voluntary_ctxt_switches/ { print $2 }' "$t/status"
        return
    done
}
w0=$(vcs cb-worker); c0=$(vcs cb-config)
[ -n "$w0" ] && [ -n "$c0" ] ||
    fail "clipbus-alert has no threads named cb-worker and cb-config"
sleep 3
w1=$(vcs cb-worker); c1=$(vcs cb-config)
[ $((w1 - w0)) -le 6 ] ||
    fail "the idle watcher's worker woke $((w1 - w0)) times in 3 s (ticks of a second: at most 6)"
[ $((c1 - c0)) -le 6 ] ||
    fail "the idle configuration watcher woke $((c1 - c0)) times in 3 s (at most 6)"
echo "ok   an idle watcher ticks once a second (worker $((w1 - w0)), configuration $((c1 - c0)) wake-ups in 3 s)"

# 1. The analyzer against the faulting API: its fetch_failures by reason.
"$ANALYZER_BIN" --api "$API" --channels-file "$T/corpus/channels.txt" \
    --db "$T/clips.db" --jobs 4 --backoff-ms 10 --backoff-max-ms 50 \
    --max-wait-ms 50 --retries 20 --retry-budget 1000 --seed 3 \
    --format json --top 0 -o "$T/rank.json" 2>"$T/analyzer.log"
st=$?
[ $st -le 1 ] || fail "clip-analyzer exit $st: $(tail -3 "$T/analyzer.log")"
wait_for "[ \$(hook '.labels.alertname == \"FetchFailures\" and .status == \"firing\"') -ge 2 ]" 10 ||
    fail "FetchFailures did not fire for the injected 429s and 5xx"
for r in http_429 http_5xx; do
    [ "$(hook ".labels.alertname == \"FetchFailures\" and .status == \"firing\" and .labels.reason == \"$r\"")" -eq 1 ] ||
        fail "no single FetchFailures alert for reason $r"
done
jq -s -e '[.[] | .alerts[] | select(.labels.alertname == "FetchFailures")]
          | all(.annotations.summary | test("^http_(429|5xx) fetch failures: [0-9.]+/s$"))' \
    "$T/hook.jsonl" >/dev/null || fail "FetchFailures summary"
echo "ok   injected 429/5xx fire FetchFailures per reason"

# 2. The analyzer killed mid-run: every request hangs, so it is busy.
"$SERVE_BIN" --corpus "$T/corpus" --port 0 --port-file "$T/slow.port" \
    --timeout-rate 1 --timeout-s 30 2>/dev/null &
PIDS="$PIDS $!"
wait_for "test -s $T/slow.port" 120 || fail "second clipapi-serve"
"$ANALYZER_BIN" --api "http://127.0.0.1:$(cat "$T/slow.port")" \
    --channels-file "$T/corpus/channels.txt" --db "$T/clips2.db" \
    --timeout-ms 30000 2>/dev/null &
AN=$!; PIDS="$PIDS $AN"
wait_for "ls /dev/shm/clipbus.$BUS.$AN*" 5 || fail "the analyzer made no segment"
sleep 0.5
kill -9 $AN
wait_for "[ \$(hook '.labels.alertname == \"AnalyzerDied\" and .status == \"firing\"') -ge 1 ]" 15 ||
    fail "AnalyzerDied did not fire after SIGKILL"
jq -s -e '[.[] | .alerts[] | select(.labels.alertname == "AnalyzerDied")][0]
          | .labels.producer == "clip-analyzer" and .labels.severity == "critical"' \
    "$T/hook.jsonl" >/dev/null || fail "AnalyzerDied labels"
echo "ok   SIGKILL of the analyzer fires AnalyzerDied"

# 3. A stopped consumer loses records of a tiny ring. First on another bus:
#    the watcher reads its own bus's readers only, so nothing fires.
OBUS=${BUS}_other
CLIPBUS_BUS=$OBUS "$CLIPBUS_BIN" tail --jsonl >/dev/null 2>"$T/otail.err" &
OTAIL=$!; PIDS="$PIDS $OTAIL"
wait_for "ls /dev/shm/clipbus-r.$OBUS.$OTAIL" 5 ||
    fail "clipbus tail on the other bus made no status segment"
kill -STOP $OTAIL
CLIPBUS_BUS=$OBUS CLIPBUS_RING_RECORDS=64 "$LOAD_BIN" --seconds 1 \
    --period-ms 0.2 || fail "load with a 64-record ring on the other bus"
kill -CONT $OTAIL
wait_for "CLIPBUS_BUS=$OBUS $CLIPBUS_BIN status --json | jq -e '[.readers[]? | .lost] | add > 0'" 10 ||
    fail "the clipbus tail on the other bus lost nothing: the check below would prove nothing"
sleep 2 # ten polls (200 ms) and two evaluations
[ "$(hook '.labels.alertname == "RecordsLost"')" -eq 0 ] ||
    fail "RecordsLost fired for a consumer of another bus"
kill -9 $OTAIL
rm -f /dev/shm/clipbus."$OBUS".* /dev/shm/clipbus-r."$OBUS".*
echo "ok   losses of a reader of another bus do not fire RecordsLost"

"$CLIPBUS_BIN" tail --jsonl >/dev/null 2>"$T/tail.err" &
TAIL=$!; PIDS="$PIDS $TAIL"
wait_for "ls /dev/shm/clipbus-r.$BUS.$TAIL" 5 ||
    fail "clipbus tail made no status segment"
kill -STOP $TAIL
CLIPBUS_RING_RECORDS=64 "$LOAD_BIN" --seconds 1 --period-ms 0.2 ||
    fail "load with a 64-record ring"
kill -CONT $TAIL
wait_for "[ \$(hook '.labels.alertname == \"RecordsLost\" and .status == \"firing\"') -ge 1 ]" 10 ||
    fail "RecordsLost did not fire for the stopped clipbus tail"
jq -s -e '[.[] | .alerts[] | select(.labels.alertname == "RecordsLost"
           and .status == "firing")] | map(.labels.consumer) == ["clipbus-tail"]' \
    "$T/hook.jsonl" >/dev/null || fail "RecordsLost is not for clipbus-tail only"
echo "ok   a stopped clipbus tail losing records fires RecordsLost"

kill -TERM $APID; wait $APID || fail "watcher exit status on SIGTERM"
echo "PASS"
