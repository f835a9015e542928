#!/usr/bin/env bash
# bench/run.sh -- build and run the clipbus benchmarks, print one JSON line
# per result, and append a dated Markdown table to bench/RESULTS.md.
#
#   bench/run.sh [--short] [--build-dir DIR] [--no-results] [--note TEXT]
#
# A full run takes about 10 minutes on 2 cores; --short (or BENCH_SHORT=1)
# about 1-2 minutes with fewer records (indicative only). Run it on a quiet
# machine: the table records the load average and the busiest processes.
# LTTng-UST rows need lttng-sessiond: if none runs, this script starts one
# (`lttng-sessiond --daemonize --no-kernel`) and stops it, by its PID, at
# the end. Needs: cmake, ninja, a C compiler, jq (for the table), and for
# the baselines liblttng-ust-dev, lttng-tools, babeltrace2, libsqlite3-dev
# (scripts/install-deps.sh --bench installs them).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
build="$repo/build-bench"
short=${BENCH_SHORT:-0}
[[ "$short" == "0" ]] && short=""
write_results=1
note=""

usage() {
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
  cat <<'EOF'
Options:
  --short           quick run: fewer batches and 5 M records per throughput
                    trial instead of 50 M (also BENCH_SHORT=1)
  --build-dir DIR   build tree to use (default: build-bench in the repository)
  --no-results      do not append to bench/RESULTS.md
  --note TEXT       a line of context for RESULTS.md (e.g. "machine busy")
Environment: BENCH_PUBLISH_ARGS, BENCH_THROUGHPUT_ARGS add options to the
two programs (see their --help).
EOF
}

while (($#)); do
  case "$1" in
    --short) short=1 ;;
    --build-dir) [[ $# -ge 2 ]] || { echo "run.sh: --build-dir needs a directory" >&2; exit 2; }
                 build=$2; shift ;;
    --no-results) write_results="" ;;
    --note) [[ $# -ge 2 ]] || { echo "run.sh: --note needs a text" >&2; exit 2; }
            note=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown option '$1'; see --help" >&2; exit 2 ;;
  esac
  shift
done

log() { echo "run.sh: $*" >&2; }

# ---------------------------------------------------------------- build
for tool in cmake ninja; do
  command -v "$tool" >/dev/null || { log "$tool not found: install it (scripts/install-deps.sh)"; exit 1; }
done
log "building in $build"
cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  "-DCMAKE_C_FLAGS_RELEASE=-O2 -DNDEBUG" -DCB_BUILD_BENCH=ON \
  -DCB_BUILD_TESTS=OFF -DCB_BUILD_PROGRAMS=OFF >/dev/null
cmake --build "$build" -j2 --target bench_publish bench_throughput bench_reader >/dev/null
bin="$build/bench"

# ---------------------------------------------------------------- machine
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
cpus=$(nproc)
kernel=$(uname -r)
commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
if ! git -C "$repo" diff --quiet HEAD -- bus bench 2>/dev/null; then
  commit="$commit (bus/ or bench/ modified)"
fi
when=$(date -u '+%Y-%m-%d %H:%M UTC')
load=$(cut -d' ' -f1-3 /proc/loadavg)
busiest=$(ps -eo pcpu=,comm= --sort=-pcpu | head -3 | awk '{printf "%s%s %s%%", (NR>1?", ":""), $2, $1}')
cc_version=$(${CC:-cc} --version 2>/dev/null | head -1 || echo "?")
log "commit $commit, $cpu_model, $cpus CPUs, kernel $kernel, load $load"
log "busiest processes now: $busiest"

# ---------------------------------------------------------------- LTTng
work=$(mktemp -d "${TMPDIR:-/var/tmp}/clipbus-run.XXXXXX")
sessiond_pid=""
cleanup() {
  if [[ -n "$sessiond_pid" ]] && kill -0 "$sessiond_pid" 2>/dev/null; then
    log "stopping the lttng-sessiond this script started (pid $sessiond_pid)"
    kill "$sessiond_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$sessiond_pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

lttng_note=""
if ! command -v lttng >/dev/null || ! command -v lttng-sessiond >/dev/null; then
  lttng_note="lttng-tools not installed: LTTng rows skipped"
elif lttng list >/dev/null 2>&1; then
  log "using the lttng-sessiond already running"
else
  if [[ $(id -u) -eq 0 ]]; then pidfile=/var/run/lttng/lttng-sessiond.pid
  else pidfile="$HOME/.lttng/lttng-sessiond.pid"; fi
  if lttng-sessiond --daemonize --no-kernel >"$work/sessiond.log" 2>&1; then
    for _ in $(seq 50); do lttng list >/dev/null 2>&1 && break; sleep 0.1; done
    sessiond_pid=$(cat "$pidfile" 2>/dev/null || true)
    log "started lttng-sessiond (pid ${sessiond_pid:-unknown})"
  else
    lttng_note="lttng-sessiond could not start: $(head -1 "$work/sessiond.log")"
  fi
fi
[[ -n "$lttng_note" ]] && log "$lttng_note"

# ---------------------------------------------------------------- run
out="$build/bench-results"
mkdir -p "$out"
stamp=$(date -u '+%Y%m%dT%H%M%SZ')
jsonl="$out/$stamp.jsonl"
short_flag=()
[[ -n "$short" ]] && short_flag=(--short)
t0=$(date +%s)

log "bench_publish ${short_flag[*]}"
# shellcheck disable=SC2086
"$bin/bench_publish" "${short_flag[@]}" --lttng-count --tmpdir "$work" \
  ${BENCH_PUBLISH_ARGS:-} | tee -a "$jsonl" || log "bench_publish failed (status $?); going on"
log "bench_throughput ${short_flag[*]}"
# shellcheck disable=SC2086
"$bin/bench_throughput" "${short_flag[@]}" ${BENCH_THROUGHPUT_ARGS:-} | tee -a "$jsonl" \
  || log "bench_throughput failed (status $?); going on"
t1=$(date +%s)
log "all results in $jsonl ($((t1 - t0)) s)"

# ---------------------------------------------------------------- table
if [[ -z "$write_results" ]]; then exit 0; fi
if ! command -v jq >/dev/null; then
  log "jq not found: $here/RESULTS.md not updated (install jq; the JSON lines are in $jsonl)"
  exit 0
fi

load_end=$(cut -d' ' -f1-3 /proc/loadavg)
kind="full run"
[[ -n "$short" ]] && kind="short run (BENCH_SHORT: fewer batches, 5 M records per throughput trial; indicative only)"

{
  echo
  echo "## $when, commit $commit, $kind"
  echo
  echo "- Machine: $cpu_model, $cpus CPUs, kernel $kernel; $cc_version, Release -O2 -DNDEBUG."
  echo "- Load average at start $load, at end $load_end; busiest processes at start: $busiest."
  jq -r 'select(.bench=="publish" and .case=="config") |
    "- Producer clock \(.clock) (\(.ticks_per_ns) ticks/ns), pinned to CPU \(.cpu); readers not pinned; ring \(.ring_records) records; \(.batches) batches of \(.ops_per_batch) ops per row in \(.rounds) rounds; ns median/p99 over blocks of \(.block) ops."' "$jsonl"
  [[ -n "$lttng_note" ]] && echo "- $lttng_note."
  [[ -n "$note" ]] && echo "- Note: $note"
  echo
  echo "### Publish cost (ns per operation on the producer thread)"
  echo
  echo "| case | ns median | ns p99 | batch median | records | readers' lost | reader CPU % | note |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
  jq -r 'def n: if . == null then "" else (. * 100 | round / 100 | tostring) end;
    select(.bench=="publish" and (.case|startswith("ratio/")|not) and .case!="config"
           and .case!="lttng_trace_check") |
    if .skipped then "| \(.case) | skipped | | | | | | \(.skipped) |"
    else "| \(.case) | \(.ns_median|n) | \(.ns_p99|n) | \(.batch_ns_median|n) | \(.records) | \(.lost // "") | \(.reader_cpu_pct|n) | \(.note // "") |" end' "$jsonl"
  jq -r 'select(.case=="lttng_trace_check") |
    "\nLTTng trace check (babeltrace2): \(.events_in_trace) events in the trace, \(.events_fired) fired, \(.discarded) discarded: \(if .ok then "all accounted for" else "MISMATCH" end)."' "$jsonl"
  echo
  echo "### Throughput (one producer thread to one reader process)"
  echo
  echo "| case | ring records | target rate | produced rec/s | delivered rec/s | lost | verified | note |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |"
  jq -r 'def m: if . == null then "" elif . == 0 then "flat out" else ((. / 1e4 | round) / 100 | tostring) + " M" end;
    select(.bench=="throughput" and .case!="config") |
    if .skipped then "| \(.case) | | | | | | | skipped: \(.skipped) |"
    elif (.case|startswith("zero_loss/")) then
      "| **\(.case)** | \(.ring_records) | | **\(.rate|m)** | | 0 | | \(.trials // 0) trials, \(.failed_trials // 0) lost records; lowest losing rate \(.rate_fail_above|m); bound: \(.bound) |"
    else "| \(.case) | \(.ring_records) | \(.rate_target|m) | \(.rate_produced|m) | \(.rate_delivered|m) | \(.lost) | \(.verified) | \(if .gap_episodes > 0 then "\(.gap_episodes) gaps, largest \(.max_gap)" else "" end) |" end' "$jsonl"
  echo
  echo "### Targets (issue 3)"
  echo
  echo "| target | measured | verdict |"
  echo "| --- | --- | --- |"
  jq -r 'def r2: (. * 1000 | round) / 1000 | tostring;
    def pct: if . == null then "?" else ((. * 1000 | round) / 10 | tostring) + " %" end;
    select(.bench=="publish" and (.case|startswith("ratio/"))) |
    if .case=="ratio/monitor_vs_lttng_pair" then
      "| monitored call <= 1/10 of two LTTng-UST events (entry+exit pair measured) | \(.value|r2) | \(.verdict) |"
    elif .case=="ratio/monitor_vs_2x_lttng_event" then
      "| monitored call <= 1/10 of two LTTng-UST events (2 x one event) | \(.value|r2) | \(.verdict) |"
    elif .case=="ratio/cb_count_minus_floor" then
      "| cb_count <= floor + 2 ns | floor + \(.value|r2) ns | \(.verdict) |"
    elif (.case|startswith("ratio/readers_spread")) then
      (if (.case|startswith("ratio/readers_spread_wall/")) then
         "\(.case|ltrimstr("ratio/readers_spread_wall/")), wall time per batch (includes CPU the readers take from the producer)"
       else "\(.case|ltrimstr("ratio/readers_spread/")), median block time (the record cost while the producer runs)" end) as $what |
      "| \($what): 0 vs 3 readers vs 1 stopped reader differ < 5 % | \(.value|pct) (vs 0 readers: 1 reader \(.rel_readers1|pct), 3 readers \(.rel_readers3|pct), stopped \(.rel_stopped1|pct); busy 1 \(.rel_busy1|pct), busy 3 \(.rel_busy3|pct)) | \(.verdict) |"
    else empty end' "$jsonl"
  jq -r 'select(.bench=="throughput" and (.case|startswith("zero_loss/"))) |
    (if .ring_records == 65536 then 1e7 elif .ring_records == 262144 then 3e7 else null end) as $t |
    select($t != null) |
    "| zero-loss rate >= \($t/1e6) M rec/s, ring \(.ring_records) records (\(.ring_records*64/1048576) MiB), \(.records/1e6) M records | \((.rate / 1e4 | round) / 100) M rec/s | \(if .rate >= $t then "PASS" elif .producer_limited then "MISS, inconclusive: the paced producer did not get the CPU to keep its pace (busy machine)" else "MISS" end) |"' "$jsonl"
} >>"$here/RESULTS.md"
log "appended the table to $here/RESULTS.md"
