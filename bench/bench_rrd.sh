#!/usr/bin/env bash
# bench/bench_rrd.sh -- clipbus-rrd: consumer CPU when idle and under a
# producer running flat out, records/s it sustains through the consumer
# runtime into its aggregation sink, its RSS with 200 functions, and the
# preallocated size of its files.
#
#   bench/bench_rrd.sh [BUILD_DIR] [--no-results] [--note TEXT]
#
# BUILD_DIR (default build-rrd) must hold clipbus-rrd and the test programs
# rrd_load / rrd_synth (tests/consumers/rrd). Prints one JSON line per
# result on stdout and appends a dated section to bench/RESULTS.md.
# Cases:
#   idle        clipbus-rrd on an empty bus for 10 s: CPU % of one core
#   flat        rrd_load (real producer, 20 functions) flat out for 8 s with
#               clipbus-rrd attached: consumer CPU %, records read, lost on
#               the bus and in hand-off, read/s, and the producer's rate
#               against a run without consumer (same script)
#   paced       the same at fixed producer rates (2, 4, 8, 16 M calls/s): the
#               highest rate read with no loss is the sustained rate
#   rss200      200 functions at 50 k calls/s for 80 s: VmRSS and VmHWM
#   filesize    bytes of a function file (5 sources) and a counter file
#               (1 source) with the default archives
# The archives of the load cases use one 1-day AVERAGE archive (a 200-file
# default archive set would write 2.3 GB); the filesize case uses the
# defaults. Machine: 2 shared cores, other work running: noisy.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
build="$repo/build-rrd"
write_results=1
note=""
while [[ $# -gt 0 ]]; do
    case "$1" in
    --no-results) write_results=0 ;;
    --note) note="$2"; shift ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) build=$(cd "$1" && pwd) ;;
    esac
    shift
done
rrd="$build/consumers/rrd/clipbus-rrd"
load="$build/tests/consumers/rrd/rrd_load"
for b in "$rrd" "$load"; do
    [[ -x "$b" ]] || { echo "bench_rrd: $b missing; build BUILD_DIR first" >&2; exit 2; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench_rrd.XXXXXX")
bus="bench_rrd_$$"
export CLIPBUS_BUS="$bus"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    rm -f /dev/shm/clipbus."$bus".* /dev/shm/clipbus-r."$bus".*
    rm -rf "$tmp"
}
trap cleanup EXIT
printf '{"rrd": {"rras": [{"cf": "AVERAGE", "step": null, "keep": "1d"}]}}\n' \
    > "$tmp/small.json"
results="$tmp/results.jsonl"
emit() { echo "$1" | tee -a "$results"; }
hz=$(getconf CLK_TCK)

# CPU ticks (user + system) of a process.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

start_rrd() { # args: dir, extra options
    "$rrd" --config "$tmp/small.json" --dir "$1" "${@:2}" 2>"$tmp/rrd.log" &
    rpid=$!
    pids+=("$rpid")
    sleep 0.5
}
stop_rrd() {
    kill -TERM "$rpid"
    wait "$rpid" || true
}
# "read N, lost L + H" from the summary line.
summary_field() { sed -n "s/.*(read \([0-9]*\) entries, lost \([0-9]*\) + \([0-9]*\) in hand-off).*/\\$1/p" "$tmp/rrd.log"; }

# ---- idle ---------------------------------------------------------------
start_rrd "$tmp/idle"
t0=$(ticks "$rpid"); sleep 10; t1=$(ticks "$rpid")
stop_rrd
emit "{\"case\": \"idle\", \"seconds\": 10, \"cpu_pct\": $(awk -v d=$((t1 - t0)) -v hz="$hz" 'BEGIN { printf "%.2f", 100 * d / hz / 10 }')}"

# ---- flat out ---------------------------------------------------------------
"$load" --seconds 8 --functions 20 > "$tmp/alone.json"
rm -f /dev/shm/clipbus."$bus".*
start_rrd "$tmp/flat"
t0=$(ticks "$rpid")
"$load" --seconds 8 --functions 20 > "$tmp/with.json"
t1=$(ticks "$rpid")
sleep 2
stop_rrd
read_n=$(summary_field 1); lost=$(summary_field 2); hlost=$(summary_field 3)
emit "$(jq -c -n --slurpfile a "$tmp/alone.json" --slurpfile w "$tmp/with.json" \
    --argjson cpu "$(awk -v d=$((t1 - t0)) -v hz="$hz" 'BEGIN { printf "%.1f", 100 * d / hz / 8 }')" \
    --argjson rd "${read_n:-0}" --argjson lost "${lost:-0}" --argjson hl "${hlost:-0}" \
    '{case: "flat", consumer_cpu_pct: $cpu, records_read: $rd, lost_bus: $lost,
      lost_handoff: $hl, read_per_s: ($rd / $w[0].seconds | floor),
      producer_calls_per_s_alone: $a[0].median_1s,
      producer_calls_per_s_with_consumer: $w[0].median_1s,
      producer_calls_per_cpu_s_alone: $a[0].calls_per_cpu_s,
      producer_calls_per_cpu_s_with_consumer: $w[0].calls_per_cpu_s}')"
rm -f /dev/shm/clipbus."$bus".*

# ---- paced: the highest loss-free rate --------------------------------------
for r in 2000000 4000000 8000000 16000000; do
    start_rrd "$tmp/paced"
    t0=$(ticks "$rpid")
    "$load" --seconds 5 --functions 20 --rate "$r" > "$tmp/p.json"
    t1=$(ticks "$rpid")
    sleep 1
    stop_rrd
    read_n=$(summary_field 1); lost=$(summary_field 2); hlost=$(summary_field 3)
    emit "$(jq -c -n --slurpfile p "$tmp/p.json" --argjson r "$r" \
        --argjson cpu "$(awk -v d=$((t1 - t0)) -v hz="$hz" 'BEGIN { printf "%.1f", 100 * d / hz / 5 }')" \
        --argjson rd "${read_n:-0}" --argjson lost "${lost:-0}" --argjson hl "${hlost:-0}" \
        '{case: "paced", target_calls_per_s: $r, produced: $p[0].calls,
          consumer_cpu_pct: $cpu, records_read: $rd, lost_bus: $lost,
          lost_handoff: $hl, loss_free: ($lost + $hl == 0)}')"
    rm -f /dev/shm/clipbus."$bus".*
done

# ---- RSS with 200 functions ---------------------------------------------
start_rrd "$tmp/rss"
# Windows close 60 s after their end (the grace for out-of-order
# records): run long enough for 200 files to exist and be updated.
"$load" --seconds 80 --functions 200 --rate 50000 > "$tmp/r.json"
sleep 3
rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$rpid/status")
hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$rpid/status")
nfiles=$(find "$tmp/rss" -name '*.rrd' | wc -l)
stop_rrd
emit "{\"case\": \"rss200\", \"functions\": 200, \"files\": $nfiles, \"vm_rss_kb\": $rss, \"vm_hwm_kb\": $hwm}"

# ---- file sizes with the default archives ----------------------------------
"$build/tests/consumers/rrd/rrd_synth" --bus "$bus" --start $(( ($(date +%s) - 7200) / 60 * 60 )) \
    --seconds 60 > /dev/null
"$rrd" --dir "$tmp/sizes" --exit-idle 300 2>/dev/null
fn=$(stat -c %s "$tmp/sizes/fn-fetch_page.rrd")
ct=$(stat -c %s "$tmp/sizes"/counter-*.rrd)
emit "{\"case\": \"filesize\", \"function_file_bytes\": $fn, \"counter_file_bytes\": $ct, \"bytes_per_ds\": $(( (fn - ct) / 4 ))}"

if [[ $write_results == 1 ]]; then
    commit=$(git -C "$repo" rev-parse --short HEAD)
    dirty=$(git -C "$repo" status --porcelain -- consumers/rrd bench/bench_rrd.sh | head -1)
    {
        echo
        echo "## $(date -u '+%Y-%m-%d %H:%M') UTC, commit $commit${dirty:+ + uncommitted changes}: clipbus-rrd (bench_rrd.sh)"
        echo
        echo "$(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), kernel $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg) at the end. Shared, noisy machine: indicative figures.${note:+ $note}"
        echo
        echo '```'
        cat "$results"
        echo '```'
    } >> "$repo/bench/RESULTS.md"
fi
