#!/usr/bin/env bash
# bench/bench_consumer_cpu.sh -- what each consumer costs in CPU time while
# clip-analyzer runs, for the working tree and, in the same run, for a
# baseline commit.
#
#   bench/bench_consumer_cpu.sh [--rounds N] [--baseline REV] [--api http|file]
#                               [--pause S] [--idle S] [--consumers LIST]
#                               [--no-results] [--note TEXT]
#
# One round = the analyzer run once per snapshot of a fixed corpus (as one
# sample of bench_analyzer.sh), with every consumer attached; measured: the
# CPU time of each consumer (all its threads, nanoseconds from
# /proc/PID/task/*/schedstat) and its voluntary context switches (its
# wake-ups), from just before the round's first analyzer process to 0.5 s
# after its last (the consumers' batches and ticks included). With
# --baseline, the consumers of REV (built in a git worktree) run as a
# second set on a bus of their own, and the rounds alternate between the
# two sets, each stopped (SIGSTOP) while the other is measured; the
# analyzer is always the working tree's.
#
# Why this and not only bench_analyzer.sh: what the consumers cost the
# analyzer's wall time follows their CPU time (bench/RESULTS.md,
# 2026-11-29 10:10), but a wall-time difference of a few tenths of a
# percent takes hundreds of samples to see on a noisy 2-CPU machine. CPU
# time per round is steady to a few percent in 20 rounds: the instrument
# for making a consumer cheaper, one change at a time.
#
# With --idle S, after the rounds, each set is also measured idle (no
# producer running) for S seconds, three times, sets alternating: what
# consumers left running between runs cost the machine.
#
# Prints one JSON line per (build, consumer) and the relative change; with
# results on, appends a table to bench/RESULTS.md.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
build_root="$repo/build-bench-cpu"
rounds=20
baseline=""
api_kind=http
pause=0
idle=0
write_results=1
note=""
seed=${BENCH_SEED:-4242}
channels=${BENCH_CHANNELS:-80}
snapshots=${BENCH_SNAPSHOTS:-4}
consumer_list=all
# shellcheck source=consumers_lib.sh
. "$here/consumers_lib.sh"

usage() {
  awk 'NR > 1 && !/^#/ {exit} NR > 1' "$0" | sed 's/^# \{0,1\}//'
  cat <<'EOF'

Options:
  --rounds N        rounds per build (default 20)
  --baseline REV    also measure the consumers of git revision REV
                    (e.g. HEAD~3 or a commit id), interleaved
  --api http|file   the analyzer reads the local clip API server (http,
                    the default) or file:// pages
  --pause S         seconds the consumers stay stopped after each round
                    (default 0). After a pause of a few seconds they need
                    about 1.5 times the CPU for the same records (cold
                    caches; bench/RESULTS.md 2026-11-29 12:30), which is
                    the state bench_analyzer.sh measures them in
  --idle S          also measure each set idle for S seconds (three times,
                    after the rounds): CPU time and wake-ups per second
  --consumers LIST  comma-separated: tail-jsonl, tail, rrd, log, alert,
                    progress, top, or all (the default)
  --no-results      do not append to bench/RESULTS.md
  --note TEXT       a line of context for RESULTS.md
Environment: BENCH_SEED (4242), BENCH_CHANNELS (80), BENCH_SNAPSHOTS (4),
CLIPBUS_SCHED (the consumers' class; unset: their default), BENCH_MAX_NAP
(a consumer.max_nap for the runtime consumers, e.g. 256ms), TMPDIR,
BENCH_KEEP=1 (keep the work directory and say where).
Builds go to build-bench-cpu/ in the repository.
Exit status: 0 measured, 1 a build, run or check failed, 2 usage error.
EOF
}
die_usage() { echo "bench_consumer_cpu.sh: $*; see --help" >&2; exit 2; }
while (($#)); do
  case "$1" in
    --rounds) [[ $# -ge 2 ]] || die_usage "--rounds needs a number"; rounds=$2; shift ;;
    --baseline) [[ $# -ge 2 ]] || die_usage "--baseline needs a revision"; baseline=$2; shift ;;
    --api) [[ $# -ge 2 ]] || die_usage "--api needs http or file"; api_kind=$2; shift ;;
    --pause) [[ $# -ge 2 ]] || die_usage "--pause needs a number of seconds"; pause=$2; shift ;;
    --idle) [[ $# -ge 2 ]] || die_usage "--idle needs a number of seconds"; idle=$2; shift ;;
    --consumers) [[ $# -ge 2 ]] || die_usage "--consumers needs a list"; consumer_list=$2; shift ;;
    --no-results) write_results="" ;;
    --note) [[ $# -ge 2 ]] || die_usage "--note needs a text"; note=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die_usage "unknown option '$1'" ;;
  esac
  shift
done
[[ $rounds =~ ^[0-9]+$ ]] && ((rounds >= 3)) || die_usage "--rounds must be a whole number, at least 3"
[[ $api_kind == http || $api_kind == file ]] || die_usage "--api must be http or file, not '$api_kind'"
[[ $pause =~ ^[0-9]+([.][0-9]+)?$ ]] || die_usage "--pause must be a number of seconds, not '$pause'"
[[ $idle =~ ^[0-9]+$ ]] || die_usage "--idle must be a whole number of seconds, not '$idle'"
for v in BENCH_SEED:"$seed" BENCH_CHANNELS:"$channels" BENCH_SNAPSHOTS:"$snapshots"; do
  [[ ${v#*:} =~ ^[0-9]+$ ]] || die_usage "${v%%:*} must be a whole number, not '${v#*:}'"
done
bench_parse_consumers "$consumer_list"

log() { echo "bench_consumer_cpu: $*" >&2; }
fail() { log "$*"; exit 1; }
for tool in cmake ninja jq curl python3 git; do
  command -v "$tool" >/dev/null || fail "$tool not found: install it (scripts/install-deps.sh)"
done

# ---------------------------------------------------------------- builds
build() {  # $1 = source tree, $2 = build dir
  log "building $2"
  cmake -S "$1" -B "$2" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCB_BUILD_TESTS=OFF \
    >"$2.configure.log" 2>&1 || { cat "$2.configure.log" >&2; fail "cmake failed for $2"; }
  cmake --build "$2" -j2 --target clip-analyzer clipapi-gen clipapi-serve clipbus-tool \
    clipbus-rrd clipbus-log clipbus-alert clipbus-progress clipbus-top \
    >"$2.build.log" 2>&1 || { tail -30 "$2.build.log" >&2; fail "build failed in $2 (log: $2.build.log)"; }
}
mkdir -p "$build_root"
build "$repo" "$build_root/cur"
builds=(cur)
declare -A bdir=([cur]="$build_root/cur")
declare -A bname=([cur]="working tree $(git -C "$repo" rev-parse --short HEAD)")
wt=""
if [[ -n "$baseline" ]]; then
  rev=$(git -C "$repo" rev-parse --verify --short "$baseline^{commit}" 2>/dev/null) \
    || die_usage "--baseline: '$baseline' is not a commit of this repository"
  wt="$build_root/base-src"
  git -C "$repo" worktree remove --force "$wt" >/dev/null 2>&1 || rm -rf "$wt"
  git -C "$repo" worktree add --detach -q "$wt" "$rev" || fail "git worktree add $wt $rev failed"
  build "$wt" "$build_root/base"
  builds+=(base)
  bdir[base]="$build_root/base"
  bname[base]="baseline $rev"
fi
B=${bdir[cur]}
an="$B/producers/clip-analyzer"
clipbus="$B/tools/clipbus/clipbus"

# ---------------------------------------------------------------- set-up
bus_base="bench_cpu_$$"
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-consumer-cpu.XXXXXX")
declare -A set_pids
server_pid=""
cleanup() {
  local s p
  for s in "${!set_pids[@]}"; do
    for p in ${set_pids[$s]}; do kill -CONT "$p" 2>/dev/null || true; kill -TERM "$p" 2>/dev/null || true; done
    for p in ${set_pids[$s]}; do wait "$p" 2>/dev/null || true; done
  done
  [[ -n "$server_pid" ]] && { kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; }
  rm -f "/dev/shm/clipbus.${bus_base}_"* "/dev/shm/clipbus-r.${bus_base}_"* 2>/dev/null || true
  if [[ -n ${BENCH_KEEP:-} ]]; then log "kept the work directory $work"; else rm -rf "$work"; fi
  [[ -n "$wt" ]] && git -C "$repo" worktree remove --force "$wt" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "corpus: seed $seed, $channels channels, $snapshots snapshots"
"$B/tools/clipapi/clipapi-gen" --seed "$seed" --out "$work/corpus" --channels "$channels" \
  --snapshots "$snapshots" >&2
mapfile -t observed < <(jq -r '.snapshots[].observed_at' "$work/corpus/corpus.json")
if [[ $api_kind == http ]]; then
  "$B/tools/clipapi/clipapi-serve" --corpus "$work/corpus" --port 0 --port-file "$work/port" \
    --ratelimit-limit 1000000 >"$work/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do [[ -s "$work/port" ]] && break; sleep 0.05; done
  [[ -s "$work/port" ]] || { cat "$work/server.log" >&2; fail "clipapi-serve did not start"; }
  api="http://127.0.0.1:$(cat "$work/port")"
fi

# The consumers of build $1 on bus ${bus_base}_$1, configured as in
# bench_analyzer.sh (consumers_lib.sh; the configuration in a directory
# of its own).
start_set() {
  local s=$1 d=$work/set-$1 b=${bus_base}_$1 c pids=()
  local bd=${bdir[$1]}
  mkdir -p "$d/etc"
  bench_write_consumer_config "$d/etc/clipbus.json" "$b" "$d"
  local cfg=$d/etc/clipbus.json
  for c in "${consumers[@]}"; do
    bench_consumer_cmd "$c" "$bd" "$b" "$cfg" "$d"
    case $c in
      tail*|progress|top) "${consumer_cmd[@]}" >/dev/null 2>"$d/$c.err" & ;;
      *) "${consumer_cmd[@]}" >"$d/$c.log" 2>&1 & ;;
    esac
    pids+=($!)
  done
  set_pids[$s]="${pids[*]}"
  for _ in $(seq 200); do
    # status exits 1 while anything on the bus is amiss (a dead reader of
    # an earlier set, say): count what it printed, whatever its status.
    n=$({ "$clipbus" status --bus "$b" --json 2>/dev/null || true; } \
        | jq '[.readers[] | select(.alive)] | length' 2>/dev/null || true)
    n=${n:-0}
    ((n >= ${#consumers[@]})) && break
    sleep 0.05
  done
  ((n >= ${#consumers[@]})) || fail "only $n of ${#consumers[@]} consumers of $1 appeared within 10 s"
  kill -STOP ${set_pids[$s]}
}
for s in "${builds[@]}"; do start_set "$s"; done

# "consumer cpu_ns switches" for each consumer of set $1.
snap() {
  local i=0 p t cpu sw v
  for p in ${set_pids[$1]}; do
    cpu=0; sw=0
    for t in /proc/"$p"/task/*; do
      read -r v _ <"$t/schedstat" 2>/dev/null || v=0
      cpu=$((cpu + v))
      v=$(sed -n 's/^voluntary_ctxt_switches:[[:space:]]*//p' "$t/status" 2>/dev/null || echo 0)
      sw=$((sw + ${v:-0}))
    done
    echo "${consumers[$i]} $cpu $sw"
    i=$((i + 1))
  done
}

raw="$work/raw.txt"
: >"$raw"
round() {  # $1 = set, $2 = round number
  local s=$1 k
  kill -CONT ${set_pids[$s]}
  sleep 0.3   # timers that fell due while stopped fire outside the round
  snap "$s" >"$work/s0"
  for ((k = 0; k < ${#observed[@]}; k++)); do
    if [[ $api_kind == http ]]; then
      curl -sf "$api/control/snapshot?set=$k" >/dev/null || fail "could not set snapshot $k"
      a=$api
    else
      a="file://$work/corpus/snap-$(printf %03d "$k")"
    fi
    rm -f "$work/db.sqlite"*
    CLIPBUS_BUS=${bus_base}_$s "$an" --api "$a" --channels-file "$work/corpus/channels.txt" \
      --db "$work/db.sqlite" --observed-at "${observed[$k]}" --jobs 4 --format json --top 0 \
      -o /dev/null 2>"$work/analyzer.log" || { tail -5 "$work/analyzer.log" >&2; fail "the analyzer failed"; }
    "$clipbus" gc --bus "${bus_base}_$s" >/dev/null 2>&1 || true
  done
  sleep 0.5   # batches handed over at the next tick, and the ticks themselves
  snap "$s" >"$work/s1"
  for p in ${set_pids[$s]}; do
    kill -0 "$p" 2>/dev/null || fail "a consumer of $s (pid $p) is gone; see $work/set-$s"
  done
  kill -STOP ${set_pids[$s]}
  sleep "$pause"
  paste "$work/s0" "$work/s1" | awk -v s="$s" -v r="$2" \
    '{print s, r, $1, $5 - $2, $6 - $3}' >>"$raw"
}
log "$rounds rounds per build: ${builds[*]}; consumers: ${consumers[*]}; api: $api_kind; pause: $pause s"
for ((r = 1; r <= rounds; r++)); do
  if ((r % 2)); then order=("${builds[@]}"); else order=(); for ((i = ${#builds[@]} - 1; i >= 0; i--)); do order+=("${builds[$i]}"); done; fi
  for s in "${order[@]}"; do round "$s" "$r"; done
  ((r % 5 == 0)) && log "round $r of $rounds"
done

idle_raw="$work/idle.txt"
: >"$idle_raw"
if ((idle > 0)); then
  log "idle: ${idle} s per set, three times"
  for ((r = 1; r <= 3; r++)); do
    if ((r % 2)); then order=("${builds[@]}"); else order=(); for ((i = ${#builds[@]} - 1; i >= 0; i--)); do order+=("${builds[$i]}"); done; fi
    for s in "${order[@]}"; do
      kill -CONT ${set_pids[$s]}
      sleep 1   # what fell due while stopped
      snap "$s" >"$work/s0"
      sleep "$idle"
      snap "$s" >"$work/s1"
      kill -STOP ${set_pids[$s]}
      paste "$work/s0" "$work/s1" | awk -v s="$s" -v r="$r" \
        '{print s, r, $1, $5 - $2, $6 - $3}' >>"$idle_raw"
    done
  done
fi

# ---------------------------------------------------------------- report
when=$(date -u '+%Y-%m-%d %H:%M UTC')
commit=$(git -C "$repo" rev-parse --short HEAD)
dirty=$(git -C "$repo" status --porcelain -- bus consumers tools producers 2>/dev/null | head -1)
[[ -n "$dirty" ]] && commit="$commit + uncommitted changes"
python3 - "$raw" "$when" "$commit" "$api_kind" "$rounds" "${bname[cur]}" "${bname[base]:-}" \
  "${write_results:+$repo/bench/RESULTS.md}" "$note" "$(nproc)" "$(uname -r)" "$pause" \
  "$idle_raw" "$idle" <<'PY'
import sys, statistics as st
raw, when, commit, api, rounds, ncur, nbase, results, note, ncpu, kern, pause = sys.argv[1:13]
idle_raw, idle_s = sys.argv[13], float(sys.argv[14])
rows = [l.split() for l in open(raw)]
data = {}
for s, r, c, cpu, sw in rows:
    data.setdefault((s, c), []).append((int(r), int(cpu) / 1e6, int(sw)))
names = []
for s, r, c, cpu, sw in rows:
    if c not in names: names.append(c)
sets = ["cur"] + (["base"] if nbase else [])
def tot(s):
    by = {}
    for (ss, c), v in data.items():
        if ss != s: continue
        for r, cpu, sw in v:
            a = by.setdefault(r, [0.0, 0])
            a[0] += cpu; a[1] += sw
    return [(r, a[0], a[1]) for r, a in sorted(by.items())]
def summary(v):
    cpus = sorted(x[1] for x in v); sws = sorted(x[2] for x in v)
    n = len(cpus)
    return st.median(cpus), cpus[n // 4], cpus[(3 * n) // 4], st.median(sws)
out = []
for c in names + ["all"]:
    line = {}
    for s in sets:
        v = tot(s) if c == "all" else data[(s, c)]
        m, q1, q3, w = summary(v)
        line[s] = (m, q1, q3, w, {r: cpu for r, cpu, _ in v})
        print('{"bench": "consumer_cpu", "api": "%s", "build": "%s", "consumer": "%s", '
              '"rounds": %d, "cpu_ms_per_round_median": %.3f, "cpu_ms_q1": %.3f, '
              '"cpu_ms_q3": %.3f, "wakeups_per_round_median": %.1f, "pause_s": %s}'
              % (api, ncur if s == "cur" else nbase, c, len(v), m, q1, q3, w, pause))
    if nbase:
        cur, base = line["cur"][4], line["base"][4]
        ratios = sorted(cur[r] / base[r] - 1 for r in cur if r in base and base[r] > 0)
        rel = st.median(ratios) if ratios else float("nan")
        print('{"bench": "consumer_cpu", "api": "%s", "consumer": "%s", "case": "change", '
              '"cur_vs_baseline": %.4f}' % (api, c, rel))
        line["rel"] = rel
    out.append((c, line))
if results:
    L = ["", f"## {when}, commit {commit}: consumer CPU per round (bench_consumer_cpu.sh)", "",
         f"- Machine: {ncpu} CPUs, kernel {kern}. API: {api}. {rounds} rounds per build, "
         f"the consumers stopped {pause} s after each; one round = "
         "clip-analyzer once per snapshot (4), every consumer attached; CPU time of all their "
         "threads (schedstat) and voluntary context switches, from before the first process to "
         "0.5 s after the last." + (f" Builds interleaved: {ncur} and {nbase}, the consumers of "
         "each on a bus of their own, stopped while the other's round runs; the analyzer is the "
         "working tree's." if nbase else f" Build: {ncur}.")]
    if note: L.append(f"- Note: {note}")
    L.append("")
    if nbase:
        L.append("| consumer | CPU ms/round, " + ncur + " [IQR] | wake-ups | CPU ms/round, " + nbase + " [IQR] | wake-ups | change (median of paired ratios) |")
        L.append("| --- | ---: | ---: | ---: | ---: | ---: |")
        for c, l in out:
            a, b = l["cur"], l["base"]
            L.append(f"| {c} | {a[0]:.2f} [{a[1]:.2f}, {a[2]:.2f}] | {a[3]:.0f} | {b[0]:.2f} [{b[1]:.2f}, {b[2]:.2f}] | {b[3]:.0f} | {100 * l['rel']:+.1f} % |")
    else:
        L.append("| consumer | CPU ms/round [IQR] | wake-ups/round |")
        L.append("| --- | ---: | ---: |")
        for c, l in out:
            a = l["cur"]
            L.append(f"| {c} | {a[0]:.2f} [{a[1]:.2f}, {a[2]:.2f}] | {a[3]:.0f} |")
idle_lines = []
if idle_s > 0:
    irows = [l.split() for l in open(idle_raw)]
    per = {}
    for s, r, c, cpu, sw in irows:
        a = per.setdefault((s, c), {})
        a[int(r)] = (int(cpu) / 1e6 / idle_s, int(sw) / idle_s)
        t = per.setdefault((s, "all"), {}).setdefault(int(r), [0.0, 0.0])
    for (s, c), v in list(per.items()):
        if c == "all": continue
        for r, (cpu, sw) in v.items():
            t = per[(s, "all")][r]
            t[0] += cpu; t[1] += sw
    for c in names + ["all"]:
        cells = []
        for s in sets:
            v = per[(s, c)]
            cm = st.median(x[0] for x in v.values())
            wm = st.median(x[1] for x in v.values())
            print('{"bench": "consumer_cpu_idle", "build": "%s", "consumer": "%s", '
                  '"seconds": %g, "reps": %d, "cpu_ms_per_s_median": %.3f, '
                  '"wakeups_per_s_median": %.1f}'
                  % (ncur if s == "cur" else nbase, c, idle_s, len(v), cm, wm))
            cells.append(f"{cm:.2f} | {wm:.1f}")
        idle_lines.append(f"| {c} | " + " | ".join(cells) + " |")
if results:
    if idle_lines:
        L += ["", f"Idle, no producer running ({idle_s:g} s, three times per build, "
              "after the rounds; medians):", ""]
        hdr = "| consumer | " + " | ".join(f"CPU ms/s, {n} | wake-ups/s" for n in [ncur] + ([nbase] if nbase else [])) + " |"
        L += [hdr, "| --- |" + " ---: | ---: |" * len(sets)] + idle_lines
    with open(results, "a") as f:
        f.write("\n".join(L) + "\n")
PY
log "done"
