#!/usr/bin/env bash
# The demo: installs what is missing, builds, generates a clip corpus,
# serves it on 127.0.0.1 with some injected faults, attaches every consumer
# to the bus, runs clip-analyzer once per observation time (and kills one
# more run half-way), and shows what the monitoring saw. Everything it
# writes goes under build/demo-run/.
#
# Usage: scripts/demo.sh [--seed N] [--channels N] [--snapshots N]
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
seed=7 channels=40 snapshots=4
while (($#)); do
  case $1 in
    --seed) seed=$2; shift 2 ;;
    --channels) channels=$2; shift 2 ;;
    --snapshots) snapshots=$2; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
done

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

scripts/install-deps.sh
mkdir -p build
say "Building (build/demo)"
cmake -S . -B build/demo -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCB_BUILD_TESTS=OFF >build/demo.configure.log 2>&1 \
  || { cat build/demo.configure.log; exit 1; }
cmake --build build/demo -j"$(nproc)" | tail -1

bin=$top/build/demo
gen=$bin/tools/clipapi/clipapi-gen
serve=$bin/tools/clipapi/clipapi-serve
analyzer=$bin/producers/clip-analyzer
clipbus=$bin/tools/clipbus/clipbus
rrd=$bin/consumers/rrd/clipbus-rrd
logc=$bin/consumers/log/clipbus-log
progress=$bin/consumers/progress/clipbus-progress
topv=$bin/consumers/top/clipbus-top
alert=$bin/consumers/alert/clipbus-alert
run=$top/build/demo-run
export CLIPBUS_BUS=demo
"$clipbus" gc --bus demo >/dev/null 2>&1 || true
rm -rf "$run"; mkdir -p "$run"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

say "Generating a corpus: seed $seed, $channels channels, $snapshots observation times"
"$gen" --seed "$seed" --out "$run/corpus" --channels "$channels" \
       --snapshots "$snapshots"
jq -r '"  \(.channels | length) channels, \(.planted | length) planted viral clips"' \
   "$run/corpus/corpus.json"
last_at=$(jq -r '.snapshots[-1].observed_at' "$run/corpus/corpus.json")

say "Starting the local clip API on 127.0.0.1 (5% HTTP 500, 3% 429, 2% truncated pages)"
"$serve" --corpus "$run/corpus" --port 0 --port-file "$run/port" \
         --rate-500 0.05 --rate-429 0.03 --retry-after 1 --truncate-rate 0.02 \
         --fault-seed "$seed" --stats-file "$run/server-stats.json" \
         2>"$run/server.log" &
pids+=($!)
for _ in $(seq 50); do [[ -s $run/port ]] && break; sleep 0.1; done
port=$(cat "$run/port")
echo "  http://127.0.0.1:$port/helix/clips"

say "Attaching consumers to bus '$CLIPBUS_BUS'"
# One configuration for every consumer (docs/config.md): where each one
# writes, and two alert rules -- fetch failures, and an analyzer that dies.
jq -n --arg run "$run" '{
  bus: {name: "demo"},
  rrd: {dir: "\($run)/rrd"},
  log: {path: "\($run)/clipbus-log.db"},
  alert: {
    state_dir: "\($run)/alert",
    rules: [
      {name: "FetchFailures", kind: "counter_rate",
       match: ["function=fetch_failures"], window: "10s", fire: 0.1,
       for: "0s", severity: "warning",
       summary: "fetch failures at {value}/s ({labels.reason})"},
      {name: "AnalyzerDied", kind: "producer_died",
       match: ["producer=clip-analyzer"], severity: "critical",
       summary: "clip-analyzer died"}],
    channels: [{name: "journal", type: "file", path: "\($run)/alerts.jsonl"}],
    routes: [{channels: ["journal"]}]}}' >"$run/clipbus.json"
export CLIPBUS_CONFIG=$run/clipbus.json
"$clipbus" config check "$CLIPBUS_CONFIG" | sed 's/^/  /'
start() { # name, output file, command...
  local name=$1 out=$2; shift 2
  "$@" >"$out" 2>&1 &
  pids+=($!)
  printf '  %-22s -> %s\n' "$name" "${out#$top/}"
}
start "clipbus tail --jsonl" "$run/bus.jsonl" "$clipbus" tail --jsonl
start "clipbus tail" "$run/bus.log" "$clipbus" tail
start "clipbus-rrd" "$run/rrd.log" "$rrd"
start "clipbus-log" "$run/log.log" "$logc"
start "clipbus-progress" "$run/progress.log" "$progress" --logs=warn --json "$run/progress.json"
start "clipbus-alert" "$run/alert.log" "$alert"
sleep 0.5

say "Running clip-analyzer once per observation time"
for k in $(seq 0 $((snapshots - 1))); do
  at=$(jq -r ".snapshots[$k].observed_at" "$run/corpus/corpus.json")
  curl -sf "http://127.0.0.1:$port/control/snapshot?set=$k" >/dev/null
  rc=0
  "$analyzer" --api "http://127.0.0.1:$port" \
              --channels-file "$run/corpus/channels.txt" --db "$run/clips.db" \
              --observed-at "$at" --jobs 4 --backoff-ms 20 --seed "$seed" \
              --format json --top 0 -o "$run/ranking-$k.json" \
              2>"$run/analyzer-$k.log" || rc=$?
  jq -r --arg k "$k" --arg rc "$rc" \
     '"  observation \($k) at \(.run.observed_at): exit \($rc), \(.clips | length) clips ranked, \(.run.channels.ok) of \(.run.channels.requested) channels ok"' \
     "$run/ranking-$k.json"
done

say "clipbus-top, one frame in batch mode"
"$topv" -b -n 1 -d 1 --width 110 2>/dev/null | head -22 | sed 's/^/  /' || true

say "One more run, killed half-way with SIGKILL (the alert watcher notices)"
"$analyzer" --api "http://127.0.0.1:$port" \
            --channels-file "$run/corpus/channels.txt" --db "$run/killed.db" \
            --observed-at "$last_at" --jobs 1 --backoff-ms 20 \
            --format json -o /dev/null 2>/dev/null &
victim=$!
sleep 0.5
kill -KILL "$victim" 2>/dev/null || true
wait "$victim" 2>/dev/null || true
echo "  killed pid $victim"
sleep 3

say "Top 10 after the last observation"
"$analyzer" --api "file://$run/corpus/snap-$(printf %03d $((snapshots - 1)))" \
            --channels-file "$run/corpus/channels.txt" --db "$run/clips.db" \
            --observed-at "$last_at" --top 10 2>/dev/null
jq -r --slurpfile r "$run/ranking-$((snapshots - 1)).json" \
   '(.planted) as $p | [$r[0].clips[:10][] | select(.id as $i | $p | index($i))] | length
    | "  planted viral clips in the top 10: \(.) of 10"' "$run/corpus/corpus.json"

say "What the bus carried"
# The bus and the consumers' health; `clipbus status` shows far more
# (every producer's rings and running calls, every consumer's rings).
"$clipbus" status --bus demo | awk '
  NR == 1 { print "  " $0; next }
  /^READER/ { print "  " $0; show = 1; next }
  /^PRODUCER/ { show = 0 }
  show && /^ *(records|sink)/ { print "  " $0 }' || true
cleanup; pids=()
jq -rs '
  "  records: \(length) events; calls \(map(select(.type=="call")) | length),"
  + " failed calls \(map(select(.type=="call" and .status=="error")) | length),"
  + " sessions \(map(select(.type=="session_begin")) | length),"
  + " losses \([.[] | select(.type=="loss") | .count] | add // 0)",
  "  fetch failures by reason (cb_count_l):",
  (map(select(.type=="count" and .name=="fetch_failures"))
   | group_by(.labels.reason)[] | "    \(.[0].labels.reason): \(map(.value) | add)"),
  "  slowest functions (mean duration):",
  (map(select(.type=="call")) | group_by(.name)
   | map({n: .[0].name, c: length, ms: ((map(.dur_ns) | add) / length / 1e6)})
   | sort_by(-.ms)[:5][] | "    \(.n): \(.c) calls, \(.ms * 1000 | round / 1000) ms")
' "$run/bus.jsonl"
jq -r '"  the server injected: \(.faults | to_entries | map(select(.value > 0)) | map("\(.key)=\(.value)") | join(", "))"' \
   "$run/server-stats.json" 2>/dev/null || true

say "What the consumers made of it"
echo "  clipbus-progress (last lines of its plain output):"
tail -3 "$run/progress.log" | cut -c1-110 | sed 's/^/    /'
echo "  clipbus-alert (notifications in its file channel):"
if [[ -s $run/alerts.jsonl ]]; then
  jq -r '.alerts[] | "\(.status) \(.labels.alertname): \(.annotations.summary // "")"' \
     "$run/alerts.jsonl" | sort | uniq -c | sed 's/^/    /'
else
  echo "    (none)"
fi
echo "  clipbus-log (clipbus query over its SQLite file):"
"$clipbus" query calls --db "$run/clipbus-log.db" --status error --limit 3 \
  --format table 2>&1 | cut -c1-110 | sed 's/^/    /' || true
sqlite3 "$run/clipbus-log.db" \
  "SELECT '    rows: calls ' || (SELECT count(*) FROM calls) || ', logs ' ||
          (SELECT count(*) FROM logs) || ', sessions ' ||
          (SELECT count(*) FROM sessions) || ', metric samples ' ||
          (SELECT count(*) FROM metrics)" 2>/dev/null || true
echo "  clipbus-rrd (RRD files, read by the stock rrdtool):"
echo "    $(ls "$run/rrd" 2>/dev/null | grep -c '\.rrd$') files in ${run#$top/}/rrd"
(cd "$run" && "$rrd" graph-cmd --dir "$run/rrd" --what calls --since 3m \
    fetch_channel 2>/dev/null | sh >/dev/null 2>&1) || true
for png in "$run"/*.png; do
  [[ -e $png ]] && echo "    graph: ${png#$top/}"
done

# The consumers are stopped: remove the analyzer runs' segments now
# rather than leave them to the next consumer's grace period.
"$clipbus" gc --bus demo >/dev/null 2>&1 || true

say "Where the output is"
cat <<EOF
  ${run#$top/}/bus.jsonl         every record as JSON (clipbus tail --jsonl)
  ${run#$top/}/clipbus-log.db    the structured log: clipbus query --db FILE (docs/clipbus-log.md)
  ${run#$top/}/rrd/              RRD archives for rrdtool graph/fetch/info (docs/clipbus-rrd.md)
  ${run#$top/}/alerts.jsonl      clipbus-alert's notifications (docs/clipbus-alert.md)
  ${run#$top/}/progress.json     clipbus-progress's last snapshot (docs/clipbus-progress.md)
  ${run#$top/}/ranking-K.json    the analyzer's ranking after observation K
  ${run#$top/}/clips.db          the analyzer's own store (sqlite3 FILE .tables)
Watch live next time: run "clipbus-top --bus demo" in another terminal, then this demo.
EOF
