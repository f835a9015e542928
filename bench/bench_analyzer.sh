#!/usr/bin/env bash
# bench/bench_analyzer.sh -- what clipbus costs the program it monitors:
# clip-analyzer wall time on one fixed corpus, built with CLIPBUS_DISABLE vs
# instrumented without a consumer vs instrumented with every consumer
# attached, reading file:// pages and through the local clip API server.
#
#   bench/bench_analyzer.sh [--reps N] [--short] [--no-results] [--note TEXT]
#                           [--configs LIST] [--consumers LIST]
#
# Prints one JSON line per result on stdout (human notes go to stderr) and
# appends a dated section to bench/RESULTS.md. Configurations, measured in
# turn within each repetition (the order rotates from one repetition to the
# next, so machine drift spreads over all of them):
#   a  file://, CLIPBUS_DISABLE build          d  the same via clipapi-serve
#   b  file://, instrumented, no consumer      e  the same via clipapi-serve
#   c  file://, instrumented, consumers        f  the same via clipapi-serve
# and two controls:
#   g  HTTP, instrumented, no consumer, beside bench_burn, a SCHED_IDLE
#      process spending --burn ms of CPU a second in bursts every 2 ms
#      (500 wake-ups a second): about the consumers' CPU time and wake-ups,
#      without the consumers
#   h  the same CPU time in bursts every 32 ms (31 wake-ups a second)
#   f vs g says whether the consumers cost more than that much CPU time
#   spent on nothing; g vs h whether the wake-ups or the CPU time cost.
# and one more, only if asked for (--configs e,f,i):
#   i  (f) with a consumer set of its own whose files are on tmpfs
#      (/dev/shm): f vs i says what writing them beside the analyzer's
#      database costs, both layouts measured in the same repetitions
# and another (--configs e,f,h,j):
#   j  (h)'s CPU time split over seven bench_burn processes, as many as
#      the consumers: j vs h says what the number of processes costs,
#      f vs j what the consumers cost beyond seven processes' CPU time
# One sample = one full run: one analyzer process per snapshot of the corpus,
# in order, against a fresh --db, --jobs 4 (--jobs), the snapshots'
# --observed-at.
# Consumers (c, f): every consumer program -- `clipbus tail --jsonl` and
# `clipbus tail` to /dev/null, clipbus-rrd, clipbus-log, clipbus-alert,
# clipbus-progress and clipbus-top -b, each with its real sink. Like the
# daemons they are, they are started once, before the warm-up, and run to
# the end: one set for c and one for f, each configuration on a bus of its
# own. A set is stopped (SIGSTOP) while the other configurations run, so
# that it costs them nothing, and resumed 0.3 s before its own sample.
# After each process the script waits until all have read all its records
# (untimed) and takes the records published, delivered and lost from
# `clipbus status --json`. Target (issue 4): c <= 1 % slower than a.
# Needs cmake, ninja, a C compiler, jq, curl, python3 (stdlib only).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
build_root="$repo/build-bench-analyzer"
short=${BENCH_SHORT:-0}
[[ "$short" == "0" ]] && short=""
reps=${BENCH_REPS:-}
warmup=${BENCH_WARMUP:-1}
seed=${BENCH_SEED:-4242}
channels=${BENCH_CHANNELS:-80}
snapshots=${BENCH_SNAPSHOTS:-4}
nice=${BENCH_NICE:-0}   # niceness the consumers run at (nice -n)
ccpus=${BENCH_CONSUMER_CPUS:-}  # CPU list the consumers are confined to (taskset -c)
jobs=${BENCH_JOBS:-4}
write_results=1
note=""
config_list="a,b,c,d,e,f,g,h"
consumer_list="all"
burn_ms=60
declare -A burn_period=([g]=2 [h]=32 [j]=32)  # ms between the bursts of (g), (h), (j)
declare -A burn_procs=([g]=1 [h]=1 [j]=7)      # bench_burn processes sharing --burn
burn_touch=${BENCH_BURN_TOUCH_KIB:-0}
# shellcheck source=consumers_lib.sh
. "$here/consumers_lib.sh"
all_consumers=$bench_all_consumers

usage() {
  awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'
  cat <<'EOF'

Options:
  --reps N          samples per configuration (default 15, or BENCH_REPS)
  --short           5 samples per configuration (also BENCH_SHORT=1);
                    indicative only. BENCH_REPS wins over it.
  --build-root DIR  where the two builds go (default: build-bench-analyzer
                    in the repository: DIR/instr and DIR/off)
  --no-results      do not append to bench/RESULTS.md
  --note TEXT       a line of context for RESULTS.md (e.g. "machine busy")
  --configs LIST    measure only these configurations, comma-separated
                    letters a-j (default a-h; at least two)
  --jobs N          the analyzer's --jobs (default 4, or BENCH_JOBS): 4
                    keeps both CPUs of a 2-CPU machine busy, so the
                    consumers compete with it; 1 leaves them a CPU
  --burn MS         the CPU load of the controls (g), (h) and (j): ms of CPU a
                    second (default 60: with its wake-ups, about the CPU
                    time the seven consumers use in (f))
  --consumers LIST  attach only these consumers in (c) and (f),
                    comma-separated: tail-jsonl, tail, rrd, log, alert,
                    progress, top, or all (the default). With a subset the
                    figures say what that subset costs; the verdict
                    against the 1 % target is given only for all of them.
                    E.g. what clipbus-log alone costs over HTTP:
                      --configs e,f --consumers log --reps 60
Environment: BENCH_REPS, BENCH_SHORT, BENCH_JOBS, BENCH_WARMUP (untimed warm-up rounds,
default 1), BENCH_SEED (corpus seed, 4242), BENCH_CHANNELS (80),
BENCH_SNAPSHOTS (4), BENCH_BURN_TOUCH_KIB (the burner of (g) and (h) walks a
buffer of this many KiB while it spins; default 0: it only reads the
clock), BENCH_NICE (the consumers' niceness, 0),
BENCH_CONSUMER_CPUS (a CPU list, e.g. 1: run the consumers under
taskset -c LIST; default: any CPU), CLIPBUS_SCHED (the consumers'
scheduling class; unset: their default, idle; CLIPBUS_SCHED=normal
measures them as ordinary tasks), TMPDIR (work directory: corpus,
databases), BENCH_CONSUMER_DIR (where the consumers' files go -- RRD
files, SQLite databases, snapshots -- if not in the work directory: a
directory on another filesystem than the analyzer's database, e.g.
/dev/shm), BENCH_KEEP=1 (keep the work directory and say where).
Exit status: 0 measured (whatever the verdict), 1 a build, a run or a
check failed, 2 usage error.
EOF
}

die_usage() { echo "bench_analyzer.sh: $*; see --help" >&2; exit 2; }
while (($#)); do
  case "$1" in
    --reps) [[ $# -ge 2 ]] || die_usage "--reps needs a number"; reps=$2; shift ;;
    --short) short=1 ;;
    --build-root) [[ $# -ge 2 ]] || die_usage "--build-root needs a directory"
                  build_root=$2; shift ;;
    --no-results) write_results="" ;;
    --note) [[ $# -ge 2 ]] || die_usage "--note needs a text"; note=$2; shift ;;
    --configs) [[ $# -ge 2 ]] || die_usage "--configs needs a list such as e,f"
               config_list=$2; shift ;;
    --jobs) [[ $# -ge 2 ]] || die_usage "--jobs needs a number of worker threads"
            jobs=$2; shift ;;
    --burn) [[ $# -ge 2 ]] || die_usage "--burn needs a number of ms a second"
            burn_ms=$2; shift ;;
    --consumers) [[ $# -ge 2 ]] || die_usage "--consumers needs a list such as log,rrd or all"
                 consumer_list=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die_usage "unknown option '$1'" ;;
  esac
  shift
done
if [[ -z "$reps" ]]; then
  if [[ -n "$short" ]]; then reps=5; else reps=15; fi
fi
for v in reps:"$reps" BENCH_WARMUP:"$warmup" BENCH_SEED:"$seed" BENCH_NICE:"$nice" \
         BENCH_CHANNELS:"$channels" BENCH_SNAPSHOTS:"$snapshots" --burn:"$burn_ms" \
         BENCH_BURN_TOUCH_KIB:"$burn_touch" --jobs:"$jobs"; do
  [[ ${v#*:} =~ ^[0-9]+$ ]] || die_usage "${v%%:*} must be a whole number, not '${v#*:}'"
done
((burn_ms <= 1000)) || die_usage "--burn is ms of CPU a second: at most 1000, not $burn_ms"
((jobs >= 1 && jobs <= 64)) || die_usage "--jobs must be 1 to 64, not $jobs"
((reps >= 2)) || die_usage "--reps must be at least 2 (the statistics need pairs)"
((snapshots >= 1 && channels >= 1)) || die_usage "BENCH_CHANNELS and BENCH_SNAPSHOTS must be at least 1"
configs=()
IFS=, read -r -a _list <<<"$config_list"
for c in "${_list[@]}"; do
  [[ $c =~ ^[a-j]$ ]] || die_usage "--configs: '$c' is not a configuration (a to j)"
  [[ " ${configs[*]} " == *" $c "* ]] || configs+=("$c")
done
((${#configs[@]} >= 2)) || die_usage "--configs needs at least two configurations, e.g. e,f"
bench_parse_consumers "$consumer_list"
consumer_list=$(IFS=,; echo "${consumers[*]}")
has_cfg() { [[ " ${configs[*]} " == *" $1 "* ]]; }

log() { echo "bench_analyzer: $*" >&2; }
fail() { log "$*"; exit 1; }

for tool in cmake ninja jq curl python3; do
  command -v "$tool" >/dev/null || fail "$tool not found: install it (scripts/install-deps.sh)"
done

# ---------------------------------------------------------------- build
# Two builds of the whole tree (tests off): instrumented, and with every
# macro compiled to nothing. The tools (server, generator, clipbus) come
# from the instrumented build; the analyzer from both.
build_variant() {  # $1 = dir, then extra cmake options
  local dir=$1; shift
  log "building $dir ($*)"
  cmake -S "$repo" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCB_BUILD_TESTS=OFF "$@" >"$dir.configure.log" 2>&1 \
    || { cat "$dir.configure.log" >&2; fail "cmake failed for $dir"; }
  if ! cmake --build "$dir" -j2 >"$dir.build.log" 2>&1; then
    # Another directory of the tree may be half-written right now: say so
    # and build what the benchmark runs.
    log "building the whole tree failed in $dir (log: $dir.build.log); building the benchmark's programs only"
    cmake --build "$dir" -j2 --target clip-analyzer clipapi-gen clipapi-serve clipbus \
      clipbus-rrd clipbus-log clipbus-alert clipbus-progress clipbus-top \
      >>"$dir.build.log" 2>&1 \
      || { tail -30 "$dir.build.log" >&2; fail "build failed in $dir (log: $dir.build.log)"; }
    partial_build="$partial_build ${dir##*/}"
  fi
}
partial_build=""
mkdir -p "$build_root"
build_variant "$build_root/instr" -DCLIPBUS_DISABLE=OFF
build_variant "$build_root/off" -DCLIPBUS_DISABLE=ON
an_instr="$build_root/instr/producers/clip-analyzer"
an_off="$build_root/off/producers/clip-analyzer"
gen="$build_root/instr/tools/clipapi/clipapi-gen"
serve="$build_root/instr/tools/clipapi/clipapi-serve"
clipbus="$build_root/instr/tools/clipbus/clipbus"
rrd="$build_root/instr/consumers/rrd/clipbus-rrd"
logc="$build_root/instr/consumers/log/clipbus-log"
alert="$build_root/instr/consumers/alert/clipbus-alert"
progress="$build_root/instr/consumers/progress/clipbus-progress"
topv="$build_root/instr/consumers/top/clipbus-top"
burner="$build_root/bench_burn"
if has_cfg g || has_cfg h; then
  ${CC:-cc} -std=c11 -O2 -Wall -Wextra -o "$burner" "$here/bench_burn.c" \
    || fail "could not build $burner"
fi
for b in "$an_instr" "$an_off" "$gen" "$serve" "$clipbus" "$rrd" "$logc" \
         "$alert" "$progress" "$topv"; do
  [[ -x "$b" ]] || fail "$b was not built"
done
# The CLIPBUS_DISABLE analyzer must not contain the library at all.
if nm "$an_off" 2>/dev/null | grep -q ' [TtDdBb] cb__'; then
  fail "$an_off contains clipbus symbols: CLIPBUS_DISABLE did not take effect"
fi

# ---------------------------------------------------------------- machine
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
cpus=$(nproc)
kernel=$(uname -r)
commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
# What the builds were made of: the commit, plus any uncommitted change in
# the directories they compile (RESULTS.md aside).
dirty=$(git -C "$repo" status --porcelain -- bus producers tools bench cmake CMakeLists.txt \
          2>/dev/null | grep -v 'bench/RESULTS.md$' | awk '{print $2}' | cut -d/ -f1 \
          | sort -u | paste -sd, - || true)
[[ -n "$dirty" ]] && commit="$commit + uncommitted changes in $dirty"
[[ -n "$partial_build" ]] && commit="$commit (whole-tree build failed in:$partial_build)"
when=$(date -u '+%Y-%m-%d %H:%M UTC')
load=$(cut -d' ' -f1-3 /proc/loadavg)
busiest=$(ps -eo pcpu=,comm= --sort=-pcpu | head -3 | awk '{printf "%s%s %s%%", (NR>1?", ":""), $2, $1}')
cc_version=$(${CC:-cc} --version 2>/dev/null | head -1 || echo "?")
log "commit $commit, $cpu_model, $cpus CPUs, kernel $kernel, load $load"
log "busiest processes now: $busiest"

# ---------------------------------------------------------------- set-up
# A bus per configuration: bench_an_<pid>_<config>. $bus is the current
# sample's.
bus_base="bench_an_$$"
bus="${bus_base}_x"
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-analyzer.XXXXXX")
# The consumers' files: in the work directory, or in a directory of their
# own under BENCH_CONSUMER_DIR (removed at the end like the work directory).
cdir=$work cdir_own=""
# (i)'s consumer set always writes on tmpfs.
idir=""
if has_cfg i; then
  idir=$(mktemp -d /dev/shm/bench-analyzer-i.XXXXXX)
fi
if [[ -n ${BENCH_CONSUMER_DIR:-} ]]; then
  [[ -d $BENCH_CONSUMER_DIR ]] || fail "BENCH_CONSUMER_DIR: $BENCH_CONSUMER_DIR is not a directory"
  cdir=$(mktemp -d "$BENCH_CONSUMER_DIR/bench-analyzer-consumers.XXXXXX")
  cdir_own=1
fi
results_dir="$build_root/results"
mkdir -p "$results_dir"
stamp=$(date -u '+%Y%m%dT%H%M%SZ')
raw="$results_dir/$stamp.raw.jsonl"
jsonl="$results_dir/$stamp.jsonl"
: >"$raw"

server_pids=()
consumer_pids=()
declare -A set_pids   # configuration -> its consumers' pids
declare -A burner_pid # control configuration (g, h, j) -> its bench_burn pids
all_consumer_pids() { local c; for c in "${!set_pids[@]}"; do echo ${set_pids[$c]}; done; }
cleanup() {
  local p c cpids
  cpids="$(all_consumer_pids) ${burner_pid[*]}"
  for p in $cpids; do kill -CONT "$p" 2>/dev/null || true; done
  for p in $cpids "${server_pids[@]}"; do
    kill -TERM "$p" 2>/dev/null || true
  done
  for p in $cpids "${server_pids[@]}"; do
    wait "$p" 2>/dev/null || true
  done
  for c in a b c d e f g h i j; do
    "$clipbus" gc --bus "${bus_base}_$c" >/dev/null 2>&1 || true
  done
  # Whatever is left of this run's buses (a segment of a live process that
  # was killed with us, say): only their names.
  rm -f "/dev/shm/clipbus.${bus_base}_"* "/dev/shm/clipbus-r.${bus_base}_"* 2>/dev/null || true
  if [[ -n ${BENCH_KEEP:-} ]]; then
    log "kept the work directory $work${cdir_own:+ and $cdir}"
  else
    rm -rf "$work"
    [[ -z "$cdir_own" ]] || rm -rf "$cdir"
    [[ -z "$idir" ]] || rm -rf "$idir"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "corpus: seed $seed, $channels channels, $snapshots snapshots"
"$gen" --seed "$seed" --out "$work/corpus" --channels "$channels" \
       --snapshots "$snapshots" >&2
corpus="$work/corpus"
mapfile -t observed < <(jq -r '.snapshots[].observed_at' "$corpus/corpus.json")
((${#observed[@]} == snapshots)) || fail "corpus.json lists ${#observed[@]} snapshots, expected $snapshots"
clips=$(jq '.clip_count // 0' "$corpus/corpus.json")

# One server per HTTP configuration, no faults. The rate limit is set high
# so that the analyzer's Ratelimit pacing never kicks in (the default 800
# points a minute would be spent within a few samples).
declare -A port
http_configs=()
for cfg in d e f g h i j; do has_cfg "$cfg" && http_configs+=("$cfg"); done
for cfg in "${http_configs[@]}"; do
  "$serve" --corpus "$corpus" --port 0 --port-file "$work/port-$cfg" \
           --ratelimit-limit 1000000 --stats-file "$work/server-$cfg.json" \
           >"$work/server-$cfg.log" 2>&1 &
  server_pids+=($!)
  for _ in $(seq 100); do [[ -s "$work/port-$cfg" ]] && break; sleep 0.05; done
  [[ -s "$work/port-$cfg" ]] || { cat "$work/server-$cfg.log" >&2; fail "clipapi-serve for $cfg did not start"; }
  port[$cfg]=$(cat "$work/port-$cfg")
done
((${#http_configs[@]} == 0)) \
  || log "servers: $(for c in "${http_configs[@]}"; do printf '%s on %s ' "$c" "${port[$c]}"; done)"

# ---------------------------------------------------------------- helpers
# The timing helpers set globals instead of printing: a command
# substitution would fork (time spent inside the measurement) and a
# subshell starts with zero children's CPU time.
# children_cpu: microseconds of user+system CPU of the reaped children of
# this shell, from the `times` builtin (ms resolution).
tfile="$work/times"
to_us() {  # 1m2.345s -> microseconds, in _us
  local x=$1 m r s f
  m=${x%%m*}; r=${x#*m}; r=${r%s}; s=${r%.*}; f=${r#*.}000000
  _us=$(( (10#$m * 60 + 10#$s) * 1000000 + 10#${f:0:6} ))
}
children_cpu() {  # -> _cpu
  local u s us
  times >"$tfile"
  { read -r _ _; read -r u s; } <"$tfile"
  to_us "$u"; us=$_us; to_us "$s"
  _cpu=$((us + _us))
}
now() { local t=$EPOCHREALTIME; _now=$(( 10#${t%.*} * 1000000 + 10#${t#*.} )); }

status_json() { "$clipbus" status --bus "$bus" --json 2>/dev/null || true; }

# After producer $1 exited: wait (up to 10 s) until every consumer has read
# all of its rings, then print "published delivered lost readers" where
# delivered/lost are summed over the consumers.
drain_and_count() {
  local pid=$1 want_readers=$2 i out
  for i in $(seq 200); do
    out=$(status_json | jq -r --argjson pid "$pid" --argjson want "$want_readers" '
      ([.producers[] | select(.pid == $pid)] | first) as $p
      | if $p == null then "0 0 0 \(.readers | length) done"
        else
          ($p.rings | map(.head) | add // 0) as $heads
          | [.readers[] | [.rings[] | select(.producer_pid == $pid)]] as $rr
          | ($rr | map(map(.delivered) | add // 0) | add // 0) as $d
          | ($rr | map(map(.lost) | add // 0) | add // 0) as $l
          | (($rr | length) == $want and
             ($rr | all(length == ($p.rings | length) and all(.lag == 0)))) as $ok
          | "\($p.records_published) \($d) \($l) \($rr | length) \(if $ok then "done" else "wait" end)"
        end' 2>/dev/null || echo "? 0 0 0 wait")
    [[ $out == *done ]] && { echo "${out% done}"; return 0; }
    sleep 0.05
  done
  log "consumers did not drain producer $pid within 10 s (last: ${out% *})"
  echo "${out% *}"
}

wait_readers() {  # $1 = how many readers must be heartbeating
  local i n
  for i in $(seq 200); do
    n=$(status_json | jq '[.readers[] | select(.alive and .heartbeat != null)] | length' 2>/dev/null || echo 0)
    ((n >= $1)) && return 0
    sleep 0.05
  done
  fail "only $n of $1 consumers appeared on bus $bus within 10 s"
}

# Every consumer program there is, each with its real sink: both forms of
# clipbus tail to /dev/null, clipbus-rrd (RRD files written directly),
# clipbus-log (its SQLite file), clipbus-alert (rules on fetch failures,
# slow page fetches and producer deaths, notifications to a file channel),
# clipbus-progress (plain lines and a JSON snapshot) and clipbus-top in
# batch mode, all to the work directory. A set per configuration with
# consumers (c, f), each with its own bus, configuration and files. The
# archives persist from one sample to the next, as they would for a user:
# only the warm-up round creates the RRD files and the log's tables. The
# checks expect delivered + lost = n_consumers x published.
# A configuration has a directory of its own, as it would in /etc or
# ~/.config: clipbus-log and clipbus-alert watch that directory for edits
# (inotify), and every file created or closed there would wake them --
# here, the analyzer's database and this script's own files.
n_consumers=${#consumers[@]}
write_consumer_config() {  # $1 = configuration (c, f or i), $2 = its directory
  local d=$2
  mkdir -p "$d/etc"
  bench_write_consumer_config "$d/etc/clipbus.json" "${bus_base}_$1" "$d"
  "$clipbus" config check "$d/etc/clipbus.json" >"$d/config-check.log" 2>&1 \
    || { cat "$d/config-check.log" >&2; fail "the consumers' configuration was refused"; }
}
# Runs one consumer in the background at the chosen niceness and CPUs.
run_consumer() {
  if [[ -n "$ccpus" ]]; then
    taskset -c "$ccpus" nice -n "$nice" "$@" &
  else
    nice -n "$nice" "$@" &
  fi
  consumer_pids+=($!)
}

# Starts configuration $1's consumers on its bus, waits until all read, and
# stops them (SIGSTOP) until its samples.
start_consumers() {
  local set=$1 c d
  # (i)'s set writes on tmpfs; the others where BENCH_CONSUMER_DIR says.
  if [[ $set == i ]]; then d=$idir/consumers-$set; else d=$cdir/consumers-$set; fi
  local cfg=$d/etc/clipbus.json b=${bus_base}_$1
  consumer_pids=()
  write_consumer_config "$set" "$d"
  for c in "${consumers[@]}"; do
    bench_consumer_cmd "$c" "$build_root/instr" "$b" "$cfg" "$d"
    case $c in
      tail*|progress|top) run_consumer "${consumer_cmd[@]}" >/dev/null 2>"$d/$c.err" ;;
      *) run_consumer "${consumer_cmd[@]}" >"$d/$c.log" 2>&1 ;;
    esac
  done
  set_pids[$set]="${consumer_pids[*]}"
  bus=$b wait_readers "$n_consumers"
  [[ -n "$consumer_classes" ]] || consumer_classes=$(sched_classes)
  kill -STOP ${set_pids[$set]}
}

# The CPU scheduling classes of the consumers' threads, e.g. "SCHED_IDLE"
# (they pick it themselves: --sched, CLIPBUS_SCHED, consumer.sched).
consumer_classes=""
sched_classes() {
  local p t
  for p in "${consumer_pids[@]}"; do
    for t in /proc/"$p"/task/*; do
      chrt -p "${t##*/}" 2>/dev/null | sed -n 's/.*policy: //p'
    done
  done | sort | uniq -c | awk '{printf "%s%s x%d", (NR > 1 ? ", " : ""), $2, $1}'
}

# CPU time (ns on a CPU, every thread) of configuration $1's consumers so
# far, in _cns (schedstat: nanoseconds, not clock ticks).
consumers_cpu_ns() {
  local p
  _cns=$(for p in ${set_pids[$1]}; do cat /proc/"$p"/task/*/schedstat 2>/dev/null; done \
         | awk '{s += $1} END {printf "%.0f", s}')  # mawk's %d stops at 2^31
}

# Resumes configuration $1's consumers before its sample: 0.3 s for the
# timers that fell due while they were stopped to fire outside the timing,
# then a check that all of them are still there.
thaw_consumers() {
  kill -CONT ${set_pids[$1]}
  sleep 0.3
  bus=${bus_base}_$1 wait_readers "$n_consumers"
}

freeze_consumers() { kill -STOP ${set_pids[$1]}; }

# The load of control configuration $1 (g, h, j): started before the
# warm-up, stopped between its samples like the consumers, its CPU time
# read the same way. With n processes, --burn is shared out among them
# (the first burn_ms % n get a ms more), so the total is the same.
start_burner() {
  local n=${burn_procs[$1]} k ms pids="" p
  for ((k = 0; k < n; k++)); do
    ms=$((burn_ms / n + (k < burn_ms % n ? 1 : 0)))
    "$burner" --ms-per-s "$ms" --period-ms "${burn_period[$1]}" --touch-kib "$burn_touch" &
    pids+=" $!"
  done
  burner_pid[$1]=${pids# }
  sleep 0.1
  for p in ${burner_pid[$1]}; do
    kill -0 "$p" 2>/dev/null || fail "bench_burn did not start"
    kill -STOP "$p"
  done
}
burner_cpu_ns() {
  local p files=()
  for p in ${burner_pid[$1]}; do files+=(/proc/"$p"/task/*/schedstat); done
  _cns=$(awk '{s += $1} END {printf "%.0f", s}' "${files[@]}")
}
burner_signal() {  # $1 = CONT or STOP, $2 = configuration
  local p
  for p in ${burner_pid[$2]}; do kill -"$1" "$p"; done
}

# Ends every set (SIGTERM), and checks how they exited.
consumer_exit_problems=()
stop_consumers() {
  local set p rc
  for set in "${!set_pids[@]}"; do
    for p in ${set_pids[$set]}; do kill -CONT "$p" 2>/dev/null || true; done
    for p in ${set_pids[$set]}; do kill -TERM "$p" 2>/dev/null || true; done
    for p in ${set_pids[$set]}; do
      rc=0; wait "$p" 2>/dev/null || rc=$?
      ((rc == 0)) || consumer_exit_problems+=("a consumer of $set (pid $p) exited $rc")
    done
  done
  set_pids=()
}

# One sample: configuration $1, repetition $2 ("w" for warm-up).
sample() {
  local cfg=$1 rep=$2 an api k pid rc t0 t1 c0 c1 acc p d l n
  local wall=0 cpu=0 pub=0 del=0 lost=0 nread=0 cons_cpu=0 rcs=() walls=()
  local with_consumers="" db="$work/db-$cfg.sqlite" out="$work/rank-$cfg.json"
  case $cfg in a|d) an=$an_off ;; *) an=$an_instr ;; esac
  case $cfg in c|f|i) with_consumers=1 ;; esac
  bus=${bus_base}_$cfg
  rm -f "$db" "$db-wal" "$db-shm" "$db-journal"
  if [[ -n "$with_consumers" ]]; then
    thaw_consumers "$cfg"
    consumers_cpu_ns "$cfg"; cons_cpu=$_cns
  elif [[ $cfg == [ghj] ]]; then
    burner_signal CONT "$cfg"; sleep 0.3
    burner_cpu_ns "$cfg"; cons_cpu=$_cns
  fi
  for ((k = 0; k < snapshots; k++)); do
    case $cfg in
      a|b|c) api="file://$corpus/snap-$(printf %03d "$k")" ;;
      *) api="http://127.0.0.1:${port[$cfg]}"
         curl -sf "$api/control/snapshot?set=$k" >/dev/null \
           || fail "could not set snapshot $k on the server of $cfg" ;;
    esac
    rc=0
    children_cpu; c0=$_cpu
    now; t0=$_now
    CLIPBUS_BUS=$bus "$an" --api "$api" --channels-file "$corpus/channels.txt" --db "$db" \
          --observed-at "${observed[$k]}" --jobs "$jobs" --seed "$seed" \
          --format json --top 0 -o "$out" 2>"$work/analyzer-$cfg.log" &
    pid=$!
    wait "$pid" || rc=$?
    now; t1=$_now
    children_cpu; c1=$_cpu
    walls+=($((t1 - t0)))
    wall=$((wall + t1 - t0))
    cpu=$((cpu + c1 - c0))
    rcs+=("$rc")
    if ((rc != 0)); then
      log "analyzer exited $rc in $cfg, repetition $rep, snapshot $k:"
      tail -5 "$work/analyzer-$cfg.log" >&2
    fi
    # Records on the bus (untimed): wait for the consumers, count, clean.
    read -r p d l n < <(drain_and_count "$pid" "$([[ -n $with_consumers ]] && echo "$n_consumers" || echo 0)")
    pub=$((pub + ${p//\?/0})); del=$((del + d)); lost=$((lost + l)); nread=$n
    "$clipbus" gc --bus "$bus" >/dev/null 2>&1 || true
  done
  if [[ -n "$with_consumers" ]]; then
    consumers_cpu_ns "$cfg"; cons_cpu=$(((_cns - cons_cpu) / 1000))
    freeze_consumers "$cfg"
  elif [[ $cfg == [ghj] ]]; then
    burner_cpu_ns "$cfg"; cons_cpu=$(((_cns - cons_cpu) / 1000))
    burner_signal STOP "$cfg"
  fi
  acc=$(jq -c '[.clips[].id] | length as $n | {n: $n, top: .[:20]}' "$out" 2>/dev/null || echo null)
  [[ $rep == w ]] && return 0
  printf '{"cfg":"%s","rep":%d,"wall_us":%d,"cpu_us":%d,"process_wall_us":[%s],"exit":[%s],"published":%d,"delivered":%d,"lost":%d,"readers":%d,"consumer_cpu_us":%d,"ranking":%s}\n' \
    "$cfg" "$rep" "$wall" "$cpu" "$(IFS=,; echo "${walls[*]}")" "$(IFS=,; echo "${rcs[*]}")" \
    "$pub" "$del" "$lost" "$nread" "$cons_cpu" "$acc" >>"$raw"
}

# ---------------------------------------------------------------- run
for cfg in c f i; do
  if has_cfg "$cfg"; then
    log "starting the consumers of $cfg: ${consumers[*]}"
    start_consumers "$cfg"
  fi
done
for cfg in g h j; do has_cfg "$cfg" && start_burner "$cfg"; done
t_start=$(date +%s)
for ((w = 0; w < warmup; w++)); do
  log "warm-up round $((w + 1)) of $warmup (not recorded)"
  for cfg in "${configs[@]}"; do sample "$cfg" w; done
done
for ((r = 0; r < reps; r++)); do
  order=()
  for ((i = 0; i < ${#configs[@]}; i++)); do
    order+=("${configs[$(((r + i) % ${#configs[@]}))]}")
  done
  log "repetition $((r + 1)) of $reps: ${order[*]} (load $(cut -d' ' -f1 /proc/loadavg))"
  for cfg in "${order[@]}"; do sample "$cfg" "$r"; done
done
t_end=$(date +%s)
stop_consumers
for p in ${burner_pid[*]}; do
  kill -CONT "$p" 2>/dev/null || true
  kill -TERM "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
done
burner_pid=()
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# Servers: stop them (they write their stats) and check they injected nothing.
for p in "${server_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
for p in "${server_pids[@]}"; do wait "$p" 2>/dev/null || true; done
server_pids=()
server_info=$(for cfg in "${http_configs[@]}"; do
  jq -c --arg cfg "$cfg" '{cfg: $cfg, stats: .}' "$work/server-$cfg.json" 2>/dev/null \
    || echo "{\"cfg\":\"$cfg\",\"stats\":null}"
done | jq -sc '. // []')
log "measured in $((t_end - t_start)) s; raw samples in $raw"

# ---------------------------------------------------------------- statistics
BENCH_META=$(jq -nc --arg commit "$commit" --arg cpu "$cpu_model" --argjson cpus "$cpus" \
  --arg kernel "$kernel" --arg load "$load" --arg load_end "$load_end" \
  --arg busiest "$busiest" --arg cc "$cc_version" --arg when "$when" \
  --argjson reps "$reps" --argjson warmup "$warmup" --argjson seed "$seed" \
  --argjson channels "$channels" --argjson snapshots "$snapshots" --argjson clips "$clips" \
  --argjson jobs "$jobs" --arg short "$short" --arg note "$note" --argjson nc "$n_consumers" \
  --arg configs "$(IFS=,; echo "${configs[*]}")" --arg clist "$consumer_list" \
  --arg call "$all_consumers" \
  --argjson burn "$burn_ms" --argjson touch "$burn_touch" \
  --arg wfs "$(stat -f -c %T "$work" 2>/dev/null || echo '?')" \
  --arg cfs "$(stat -f -c %T "$cdir" 2>/dev/null || echo '?')" --arg cown "$cdir_own" \
  --argjson nice "$nice" --arg classes "$consumer_classes" --arg ccpus "$ccpus" \
  --argjson servers "$server_info" --argjson secs "$((t_end - t_start))" \
  --argjson cexit "$( ((${#consumer_exit_problems[@]})) && printf '%s\n' "${consumer_exit_problems[@]}" \
                      | jq -Rsc 'split("\n") | map(select(length > 0))' || echo '[]')" \
  '{commit: $commit, cpu: $cpu, cpus: $cpus, kernel: $kernel, load: $load,
    load_end: $load_end, busiest: $busiest, cc: $cc, when: $when, reps: $reps,
    warmup: $warmup, seed: $seed, channels: $channels, snapshots: $snapshots,
    clips: $clips, jobs: $jobs, short: ($short != ""), note: $note, consumers: $nc,
    consumer_nice: $nice, consumer_sched: $classes, consumer_cpus: $ccpus,
    servers: $servers, seconds: $secs, configs: ($configs | split(",")),
    consumer_list: ($clist | split(",")), all_consumers: ($clist == $call),
    consumer_exit: $cexit, burn_ms: $burn, burn_touch_kib: $touch,
    work_fs: $wfs, consumer_fs: $cfs, consumer_dir_own: ($cown != "")}')
export BENCH_META
md="$work/section.md"
python3 - "$raw" "$md" >"$jsonl" <<'PY'
import json, math, os, statistics as st, sys

raw_path, md_path = sys.argv[1], sys.argv[2]
meta = json.loads(os.environ["BENCH_META"])
rows = [json.loads(l) for l in open(raw_path) if l.strip()]
NAMES = {
    "a": "file://, CLIPBUS_DISABLE build",
    "b": "file://, instrumented, no consumer",
    "c": "file://, instrumented, consumers",
    "d": "HTTP, CLIPBUS_DISABLE build",
    "e": "HTTP, instrumented, no consumer",
    "f": "HTTP, instrumented, consumers",
    "g": f"HTTP, instrumented, no consumer, bench_burn {meta['burn_ms']} ms/s every 2 ms",
    "h": f"HTTP, instrumented, no consumer, bench_burn {meta['burn_ms']} ms/s every 32 ms",
    "i": "HTTP, instrumented, consumers writing on tmpfs",
    "j": f"HTTP, instrumented, no consumer, 7 bench_burn processes sharing {meta['burn_ms']} ms/s, every 32 ms",
}
CASE = {"a": "file/disabled", "b": "file/instrumented", "c": "file/consumers",
        "d": "http/disabled", "e": "http/instrumented", "f": "http/consumers",
        "g": "http/burn_2ms", "h": "http/burn_32ms", "i": "http/consumers_tmpfs",
        "j": "http/burn_7procs"}
NAMES = {k: v for k, v in NAMES.items() if k in meta["configs"]}
# What each consumer is, as the results describe it.
CONSUMER_TEXT = {
    "tail-jsonl": "`clipbus tail --jsonl` to /dev/null",
    "tail": "`clipbus tail` to /dev/null",
    "rrd": "clipbus-rrd (direct RRD writes)",
    "log": "clipbus-log (SQLite)",
    "alert": "clipbus-alert (3 rules, file channel)",
    "progress": "clipbus-progress --plain --json",
    "top": "clipbus-top -b -d 1",
}
ALL = meta["all_consumers"]
TARGET = 0.01
by = {c: {r["rep"]: r for r in rows if r["cfg"] == c} for c in NAMES}
reps = sorted(set.intersection(*(set(v) for v in by.values())))
problems = list(meta["consumer_exit"])


def q(xs, p):
    """Quantile p of xs, linear interpolation between order statistics."""
    xs = sorted(xs)
    if len(xs) == 1:
        return xs[0]
    h = (len(xs) - 1) * p
    lo = int(h)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (h - lo)


def sign_ci(rs):
    """Distribution-free interval for the median of rs from order statistics
    (the sign test): [r_(k), r_(n+1-k)] with the largest k whose coverage
    1 - 2 P(Binomial(n, 1/2) <= k-1) is at least 95 %; for n <= 5 no k
    reaches 95 %, then k = 1 (min..max) and its lower coverage is given."""
    n = len(rs)
    rs = sorted(rs)

    def cover(k):
        tail = sum(math.comb(n, i) for i in range(k)) / 2 ** n
        return 1 - 2 * tail

    k = 1
    while k + 1 <= (n + 1) // 2 and cover(k + 1) >= 0.95:
        k += 1
    return rs[k - 1], rs[n - k], cover(k)


def rel(num, den, key):
    """Overhead of num over den: the median over repetitions of the paired
    ratio num/den - 1 (both measured in the same repetition, so drift
    between repetitions cancels), its sign-test interval, and the ratio of
    the medians - 1 for comparison."""
    x = [by[num][r][key] for r in reps]
    y = [by[den][r][key] for r in reps]
    rs = [a / b - 1 for a, b in zip(x, y)]
    lo, hi, level = sign_ci(rs)
    return {"value": st.median(rs), "ci": [lo, hi], "ci_level": level,
            "ratio_of_medians": st.median(x) / st.median(y) - 1,
            "slower_in": sum(a > b for a, b in zip(x, y))}


def verdict(point, lo, hi):
    if hi <= TARGET:
        return "PASS"
    if lo > TARGET:
        return "MISS"
    if lo <= 0 <= hi:
        return "indistinguishable at this noise level (interval holds 0 and exceeds 1 %)"
    return "inconclusive (interval straddles the 1 % target)"


out = []
out.append({"bench": "analyzer", "case": "config", **{k: meta[k] for k in (
    "commit", "cpu", "cpus", "kernel", "load", "load_end", "reps", "warmup", "seed",
    "channels", "snapshots", "clips", "jobs", "short", "seconds",
    "consumer_nice", "consumer_sched", "consumer_cpus")}, "servers": meta["servers"]})
summ = {}
for c, name in NAMES.items():
    rs = [by[c][r] for r in reps]
    if not rs:
        problems.append(f"no samples for {c}")
        continue
    w = [r["wall_us"] / 1e6 for r in rs]
    cpu = [r["cpu_us"] / 1e6 for r in rs]
    bad = sum(1 for r in rs for e in r["exit"] if e != 0)
    if bad:
        problems.append(f"{c}: {bad} analyzer runs exited non-zero")
    s = {
        "bench": "analyzer", "case": CASE[c], "config": c, "what": name,
        "samples": len(rs), "processes_per_sample": meta["snapshots"],
        "wall_median_s": st.median(w), "wall_p10_s": q(w, .1), "wall_p90_s": q(w, .9),
        "wall_q1_s": q(w, .25), "wall_q3_s": q(w, .75),
        "wall_min_s": min(w), "wall_max_s": max(w),
        "cpu_median_s": st.median(cpu),
        "published_per_sample": st.median([r["published"] for r in rs]),
        "published_total": sum(r["published"] for r in rs),
        "delivered_total": sum(r["delivered"] for r in rs),
        "lost_total": sum(r["lost"] for r in rs),
        "consumers": max(r["readers"] for r in rs),
        "consumer_cpu_median_s": st.median([r["consumer_cpu_us"] / 1e6 for r in rs]),
        "nonzero_exits": bad,
        "samples_s": [round(v, 6) for v in w],
    }
    summ[c] = s
    out.append(s)
    if c in "ad" and s["published_total"]:
        problems.append(f"{c}: the CLIPBUS_DISABLE build put {s['published_total']} records on the bus")
    if c in "beghj" and s["published_total"] == 0:
        problems.append(f"{c}: the instrumented build put no record on the bus")
    if c in "cfi":
        want = meta["consumers"] * s["published_total"]
        if s["delivered_total"] + s["lost_total"] != want:
            problems.append(f"{c}: consumers delivered {s['delivered_total']} + lost "
                            f"{s['lost_total']}, expected {meta['consumers']} x {s['published_total']}")

# Every configuration must rank the same clips in the same order.
rankings = {json.dumps(r["ranking"], sort_keys=True) for r in rows}
if len(rankings) != 1:
    problems.append(f"the rankings differ between samples ({len(rankings)} distinct)")
for srv in meta["servers"]:
    st_ = srv["stats"] or {}
    faults = st_.get("faults") or {}
    if srv["stats"] is None:
        problems.append(f"server of {srv['cfg']} wrote no stats")
    elif any(v for v in faults.values() if isinstance(v, (int, float))):
        problems.append(f"server of {srv['cfg']} injected faults: {faults}")

ratios = []
for num, den in (("b", "a"), ("c", "a"), ("e", "d"), ("f", "d"), ("c", "b"), ("f", "e"),
                 ("g", "e"), ("h", "e"), ("g", "h"), ("f", "g"), ("i", "e"), ("f", "i"),
                 ("j", "e"), ("j", "h"), ("f", "j")):
    if num not in summ or den not in summ:
        continue
    w = rel(num, den, "wall_us")
    cpu = rel(num, den, "cpu_us")
    r = {"bench": "analyzer", "case": f"overhead/{CASE[num]}_vs_{CASE[den].split('/')[1]}",
         "num": num, "den": den, "pairs": len(reps), **w,
         "cpu_value": cpu["value"], "cpu_ci": cpu["ci"]}
    if den in "ad" and num in "cf" and ALL:
        r["target"] = TARGET
        r["verdict"] = verdict(w["value"], *w["ci"])
    ratios.append(r)
    out.append(r)
out.append({"bench": "analyzer", "case": "checks", "ok": not problems, "problems": problems})
for o in out:
    print(json.dumps(o))


def pct(v):
    return f"{v * 100:+.2f} %"


L = []
kind = "full run" if not meta["short"] else "short run (BENCH_SHORT, indicative only)"
what = ("clip-analyzer overhead" if ALL else
        "clip-analyzer overhead of " + ", ".join(meta["consumer_list"]) + " only")
L.append(f"\n## {meta['when']}, commit {meta['commit']}: {what}, {kind}\n")
L.append(f"- Machine: {meta['cpu']}, {meta['cpus']} CPUs, kernel {meta['kernel']}; "
         f"{meta['cc']}, Release.")
L.append(f"- Load average at start {meta['load']}, at end {meta['load_end']}; "
         f"busiest processes at start: {meta['busiest']}.")
if meta["note"]:
    L.append(f"- Note: {meta['note']}")
L.append(f"- Corpus: clipapi-gen --seed {meta['seed']}, {meta['channels']} channels, "
         f"{meta['snapshots']} snapshots. One sample = {meta['snapshots']} analyzer "
         f"processes (one per snapshot, fresh --db, --jobs {meta['jobs']}); "
         f"{len(reps)} samples per configuration, {meta['warmup']} warm-up round, "
         f"configurations interleaved in a rotating order; {meta['seconds']} s of measuring.")
L.append("- Wall time of the analyzer processes only (snapshot switches, waiting for the "
         "consumers to drain and gc are outside it); CPU = the analyzer's user+system. "
         + ((("Consumers (c, f), all seven consumer programs with their real sinks: "
              if ALL else
              f"Consumers (c, f), {len(meta['consumer_list'])} of the seven consumer "
              "programs (a subset: no verdict against the target), with their real sinks: ")
             + ", ".join(CONSUMER_TEXT[c] for c in meta["consumer_list"])
             + "; started once before the warm-up and kept running, a set per configuration "
             "on a bus of its own, stopped (SIGSTOP) while the other configurations run and "
             "resumed 0.3 s before their own sample; "
             f"niceness {meta['consumer_nice']}, "
             f"CPUs: {('taskset -c ' + meta['consumer_cpus']) if meta['consumer_cpus'] else 'any'}, "
             "scheduling class of their threads: "
             f"{meta['consumer_sched'] or 'unknown'} (CLIPBUS_SCHED "
             f"{os.environ.get('CLIPBUS_SCHED') or 'unset: the default'}). ")
            if "c" in NAMES or "f" in NAMES else "")
         + "Overhead = median over repetitions of the paired ratio - 1 (both configurations "
         "of a pair ran in the same repetition); the interval is the sign test's "
         "distribution-free interval for that median, its confidence level in brackets"
         + (" (min..max of the ratios: too few samples for 95 %)." if len(reps) <= 5 else "."))
L.append(f"- Files: the analyzer's databases on {meta['work_fs']}"
         + (f", the consumers' files apart, on {meta['consumer_fs']} (BENCH_CONSUMER_DIR)."
            if meta["consumer_dir_own"] else ", the consumers' files beside them."))
if "i" in NAMES:
    L.append("- (i): a second set of the same consumers on a bus of its own, its files on "
             "tmpfs (/dev/shm), measured in the same repetitions as (f): (f) vs (i) is what "
             "writing their files on the analyzer's filesystem costs.")
if "j" in NAMES:
    L.append(f"- (j): the load of (h) -- {meta['burn_ms']} ms of CPU a second in bursts every "
             "32 ms -- shared out among seven bench_burn processes, as many as the consumers: "
             "(j) vs (h) is what spreading the same CPU time over seven processes costs, (f) "
             "vs (j) what the consumers cost beyond that.")
if "g" in NAMES or "h" in NAMES:
    L.append(f"- Controls (g, h): the analyzer of (e) beside bench_burn, a SCHED_IDLE process "
             f"that spends {meta['burn_ms']} ms of CPU a second in bursts every 2 ms (g: 500 "
             "wake-ups a second) or every 32 ms (h: 31)"
             + (f", walking a {meta['burn_touch_kib']} KiB buffer" if meta["burn_touch_kib"]
                else ", reading only the clock")
             + ", stopped between its samples like the consumers; its CPU time is in the "
             "consumer CPU column. (f) vs (g) near 0: the consumers cost what that much CPU "
             "time in that many wake-ups costs on this machine, whatever it is spent on; "
             "(g) vs (h): what the wake-ups add.")
L.append("")
L.append("| config | median s | p10 s | p90 s | IQR s | CPU median s | records/sample | "
         "consumers: delivered / lost | consumer CPU/sample s |")
L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for c, s in summ.items():
    cons = (f"{s['delivered_total']} / {s['lost_total']} ({s['consumers']} "
            f"reader{'' if s['consumers'] == 1 else 's'})"
            if c in "cfi" else "")
    ccpu = f"{s['consumer_cpu_median_s']:.3f}" if c in "cfghij" else ""
    L.append(f"| ({c}) {s['what']} | {s['wall_median_s']:.3f} | {s['wall_p10_s']:.3f} | "
             f"{s['wall_p90_s']:.3f} | {s['wall_q3_s'] - s['wall_q1_s']:.3f} | "
             f"{s['cpu_median_s']:.3f} | {s['published_per_sample']:.0f} | {cons} | {ccpu} |")
L.append("")
L.append("| comparison | wall overhead (median of paired ratios) | interval (sign test) | "
         "ratio of medians | slower in | analyzer CPU overhead [interval] | "
         "verdict (target <= 1 %) |")
L.append("| --- | ---: | --- | ---: | ---: | --- | --- |")
for r in ratios:
    L.append(f"| ({r['num']}) vs ({r['den']}) | {pct(r['value'])} | "
             f"[{pct(r['ci'][0])}, {pct(r['ci'][1])}] ({r['ci_level'] * 100:.1f} %) | "
             f"{pct(r['ratio_of_medians'])} | {r['slower_in']}/{r['pairs']} | "
             f"{pct(r['cpu_value'])} [{pct(r['cpu_ci'][0])}, {pct(r['cpu_ci'][1])}] | "
             f"{r.get('verdict', '')} |")
L.append("")
L.append("Checks: " + (f"every run exited 0, the {len(summ)} configurations ranked the same "
                       "clips, the servers injected no fault, the CLIPBUS_DISABLE build "
                       "published nothing and the consumers accounted for every record "
                       "(delivered + lost)."
                       if not problems else "PROBLEMS: " + "; ".join(problems)))
open(md_path, "w").write("\n".join(L) + "\n")
PY
cat "$jsonl"
if [[ -n "$write_results" ]]; then
  cat "$md" >>"$here/RESULTS.md"
  log "appended the tables to $here/RESULTS.md"
else
  cat "$md" >&2
fi
if ! jq -e 'select(.case == "checks") | .ok' "$jsonl" >/dev/null; then
  jq -r 'select(.case == "checks") | .problems[]' "$jsonl" | sed 's/^/bench_analyzer: check failed: /' >&2
  exit 1
fi
