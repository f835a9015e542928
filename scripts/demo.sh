#!/usr/bin/env bash
# The demo: installs what is missing, builds, generates a clip corpus,
# serves it on 127.0.0.1 with some injected faults, attaches consumers to
# the bus, runs clip-analyzer once per observation time, and shows what the
# monitoring saw. Everything it writes goes under build/demo-run/.
#
# Usage: scripts/demo.sh [--seed N] [--channels N] [--snapshots N] [--keep]
#   --keep   leave the server and consumers' output in place (they are
#            always stopped; --keep only skips cleaning the run directory
#            at the next start)
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
seed=7 channels=40 snapshots=4
while (($#)); do
  case $1 in
    --seed) seed=$2; shift 2 ;;
    --channels) channels=$2; shift 2 ;;
    --snapshots) snapshots=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
done

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

scripts/install-deps.sh
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
run=$top/build/demo-run
export CLIPBUS_BUS=demo
rm -rf "$run"; mkdir -p "$run"
"$clipbus" gc --bus demo >/dev/null 2>&1 || true

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
"$clipbus" tail --jsonl >"$run/bus.jsonl" 2>"$run/tail-jsonl.err" &
pids+=($!)
"$clipbus" tail >"$run/bus.log" 2>"$run/tail.err" &
pids+=($!)
sleep 0.3
echo "  clipbus tail --jsonl  -> $run/bus.jsonl"
echo "  clipbus tail          -> $run/bus.log"

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
  echo "  observation $k at $at: exit $rc, $(jq '.clips | length' "$run/ranking-$k.json") clips ranked" \
       "(run: $(jq -r '.run | tostring' "$run/ranking-$k.json" | cut -c1-120))"
done

say "Top 10 after the last observation"
"$analyzer" --api "file://$run/corpus/snap-$(printf %03d $((snapshots - 1)))" \
            --channels-file "$run/corpus/channels.txt" --db "$run/clips.db" \
            --observed-at "$(jq -r ".snapshots[-1].observed_at" "$run/corpus/corpus.json")" \
            --top 10 2>/dev/null
jq -r --slurpfile r "$run/ranking-$((snapshots - 1)).json" \
   '(.planted) as $p | [$r[0].clips[:10][] | select(.id as $i | $p | index($i))] | length
    | "  planted viral clips in the top 10: \(.) of 10"' "$run/corpus/corpus.json"

say "What the bus carried"
sleep 0.5
# The bus header and the consumers' health (clipbus status shows far more:
# every producer's rings and running calls).
"$clipbus" status --bus demo | awk '
  NR == 1 { print "  " $0; next }
  /^READER/ { show = 1 } /^PRODUCER/ { show = 0 }
  show && NF { print "  " $0 }' || true
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
jq -r '"  server injected: \(.faults | to_entries | map("\(.key)=\(.value)") | join(", "))"' \
   "$run/server-stats.json" 2>/dev/null || true

say "Where the output is"
cat <<EOF
  $run/bus.jsonl        every record as JSON (clipbus tail --jsonl)
  $run/bus.log          the same as readable lines
  $run/ranking-K.json   the analyzer's ranking after observation K
  $run/clips.db         the analyzer's own SQLite store (sqlite3 $run/clips.db .tables)
  $run/server-stats.json  faults the local API injected
Try: $clipbus tail --bus demo   (in another terminal, then rerun this demo)
EOF
