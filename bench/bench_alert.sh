#!/bin/sh
# bench_alert.sh -- clipbus-alert: (1) latency from the first failing call
# (the record that makes the rule true) to the webhook body arriving at a
# local receiver, over TRIALS trials, defaults (eval 100ms, group_wait
# 200ms); (2) evaluation cost with 200 rules x 200 functions through
# `clipbus-alert test` (engine only). One JSON line per result.
# Usage: bench_alert.sh BUILD_DIR [TRIALS]
#   or:  cmake --build BUILD_DIR --target bench_alert  (builds what it needs;
#        a build configured with -DCB_BUILD_BENCH=ON)
set -u
B=${1:?build dir}; N=${2:-20}
ALERT=$B/consumers/alert/clipbus-alert; LOAD=$B/tests/consumers/alert/alert_load
for x in "$ALERT" "$LOAD"; do
    [ -x "$x" ] || { echo "bench_alert.sh: $x not built; run cmake --build $B --target clipbus-alert alert_load" >&2; exit 2; }
done
SRC=$(cd "$(dirname "$0")/../tests/consumers/alert" && pwd)
T=$(mktemp -d); BUS=b_alert_$$; export CLIPBUS_BUS=$BUS; PIDS=""
trap 'for p in $PIDS; do kill -9 $p 2>/dev/null; done; rm -f /dev/shm/clipbus.$BUS.* /dev/shm/clipbus-r.$BUS.*; rm -rf $T' EXIT
/usr/bin/python3 "$SRC/webhook_sink.py" "$T/port" "$T/hook.jsonl" & PIDS="$PIDS $!"
while [ ! -s "$T/port" ]; do sleep 0.05; done
cat > "$T/cfg.json" <<JSON
{"alert": {"state_dir": "$T/state",
  "rules": [{"name": "E", "kind": "error_count", "match": ["function=fetch_clip"],
             "window": "1s", "fire": 0, "cooldown": "0s", "repeat": "0s"}],
  "channels": [{"name": "h", "type": "webhook", "url": "http://127.0.0.1:$(cat $T/port)/"}]}}
JSON
"$ALERT" -q -c "$T/cfg.json" 2>"$T/alert.log" & PIDS="$PIDS $!"
sleep 0.5
: > "$T/hook.jsonl"; : > "$T/lat"
i=0
while [ $i -lt "$N" ]; do
    before=$(wc -l < "$T/hook.jsonl")
    "$LOAD" --seconds 0.6 --period-ms 10 --fail-after-ms 200 --mark "$T/mark"
    while [ "$(wc -l < "$T/hook.jsonl")" -le "$before" ]; do sleep 0.02; done
    recv=$(sed -n "$((before + 1))p" "$T/hook.jsonl" | jq .recv_ns)
    echo $(( (recv - $(cat "$T/mark")) / 1000 )) >> "$T/lat"
    # wait for the resolved notification before the next trial
    while [ "$(wc -l < "$T/hook.jsonl")" -le $((before + 1)) ]; do sleep 0.05; done
    i=$((i + 1))
done
sort -n "$T/lat" | awk -v n="$N" '{a[NR]=$1} END {
  p50=a[int((n+1)/2)]; i99=int(0.99*n+0.999); if (i99<1) i99=1;
  printf "{\"bench\":\"alert_latency\",\"trials\":%d,\"median_ms\":%.1f,\"p99_ms\":%.1f,\"max_ms\":%.1f,\"min_ms\":%.1f,\"baseline\":\"eval_interval 100ms + group_wait 200ms = 300ms floor\"}\n", n, p50/1000, a[i99]/1000, a[n]/1000, a[1]/1000}'

# (2) 200 rules x 200 functions, 60 s of 1 call/s per function, evaluated
# every 100 ms (600 evaluations of 40000 alert instances).
python3 - "$T" <<'PY'
import json, sys
t = sys.argv[1]
rules = []
for i in range(200):
    k = ["error_rate", "latency", "error_count", "latency"][i % 4]
    rules.append({"name": "r%d" % i, "kind": k, "match": ["function=fn_*"],
                  "window": ["10s", "1m", "5m", "1m"][i % 4], "fire": 1e9})
json.dump({"alert": {"rules": rules}}, open(t + "/rules200.json", "w"))
ins = [{"at": "%dms" % (j * 5), "every": "1s", "until": "60s",
        "call": "fn_%d" % j, "dur": "%dms" % (1 + j % 50)} for j in range(200)]
json.dump({"eval_every": "100ms", "until": "60s", "inputs": ins},
          open(t + "/tl200.json", "w"))
json.dump({"eval_every": "60s", "until": "60s", "inputs": ins},
          open(t + "/tl200_once.json", "w"))
PY
s0=$(date +%s%N); "$ALERT" test -q "$T/rules200.json" "$T/tl200_once.json"; s1=$(date +%s%N)
"$ALERT" test -q "$T/rules200.json" "$T/tl200.json"; s2=$(date +%s%N)
awk -v a="$s0" -v b="$s1" -v c="$s2" 'BEGIN {
  base=(b-a)/1e6; full=(c-b)/1e6;
  printf "{\"bench\":\"alert_eval_200x200\",\"instances\":40000,\"evals\":600,\"feed_only_ms\":%.0f,\"total_ms\":%.0f,\"ms_per_eval\":%.2f}\n", base, full, (full-base)/599}'
