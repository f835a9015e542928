#!/usr/bin/env bash
# tests/consumers/test_sched.sh -- the CPU scheduling class of the consumer
# programs (consumers/common/sched_class.h), on real processes:
#   1. by default every consumer, every thread, runs as SCHED_IDLE, except
#      what writes to a terminal a person watches (clipbus tail on a tty,
#      clipbus-progress's bars), which runs as a normal task;
#   2. --sched beats CLIPBUS_SCHED, which beats consumer.sched;
#   3. an idle consumer on a machine whose every CPU is busy with normal
#      tasks still reads every record: the ring holds them until it runs,
#      and nothing is lost.
#
# Env: CLIPBUS (the clipbus tool), RRD, LOG, ALERT, TOP, PROGRESS,
# PRODUCER (tests/tools/tools_producer).
set -u
fails=0
T=$(mktemp -d)
BUS="sched_$$"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    CLIPBUS_BUS=$BUS "$CLIPBUS" gc >/dev/null 2>&1
    rm -rf "$T"
}
trap cleanup EXIT
export CLIPBUS_BUS=$BUS
unset CLIPBUS_SCHED CLIPBUS_CONFIG

ok() { echo "ok   - $*"; }
bad() { echo "FAIL - $*"; fails=$((fails + 1)); }

# The policies of every thread of PID, sorted and unique ("SCHED_IDLE").
policies() {
    local t
    for t in /proc/"$1"/task/*; do
        chrt -p "${t##*/}" 2>/dev/null | sed -n 's/.*policy: //p'
    done | sort -u | tr '\n' ' ' | sed 's/ $//'
}

# expect_policy WHAT PID POLICY: waits up to 10 s for every thread of PID
# to be in POLICY (the class is set at start-up, after the options).
expect_policy() {
    local what=$1 pid=$2 want=$3 got=""
    for _ in $(seq 100); do
        got=$(policies "$pid")
        [ "$got" = "$want" ] && break
        sleep 0.1
    done
    if [ "$got" = "$want" ]; then ok "$what: $want"
    else bad "$what: threads in '$got', want '$want'"; fi
}

# start NAME CMD...: runs CMD in the background, output to $T/NAME.out.
start() {
    local name=$1; shift
    "$@" >"$T/$name.out" 2>"$T/$name.err" &
    pids+=($!)
    last=$!
}

stop() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; }

cd "$T" || exit 1

# ---- 1. defaults ---------------------------------------------------------
start rrd "$RRD" --dir "$T/rrd" --quiet;            expect_policy "clipbus-rrd, default" "$last" SCHED_IDLE; stop "$last"
start log "$LOG" --db "$T/log.db";                  expect_policy "clipbus-log, default" "$last" SCHED_IDLE; stop "$last"
start alert "$ALERT" --state "$T/alert" --quiet;    expect_policy "clipbus-alert, default" "$last" SCHED_IDLE; stop "$last"
start progress "$PROGRESS" --plain;                 expect_policy "clipbus-progress --plain, default" "$last" SCHED_IDLE; stop "$last"
start top "$TOP" -b -d 1;                           expect_policy "clipbus-top -b, default" "$last" SCHED_IDLE; stop "$last"
start tail "$CLIPBUS" tail;                         expect_policy "clipbus tail into a file, default" "$last" SCHED_IDLE; stop "$last"

# On a terminal (script(1) gives the program a pseudo-terminal): normal.
# on_terminal WHAT CMD: runs CMD on a pseudo-terminal, checks its class.
on_terminal() {
    local what=$1 child; shift
    start tty script -qfec "exec $*" /dev/null
    sleep 0.5
    child=$(pgrep -P "$last" -n)
    if [ -n "$child" ]; then expect_policy "$what" "$child" SCHED_OTHER
    else bad "$what: did not start"; fi
    stop "$last"
}
if command -v script >/dev/null; then
    on_terminal "clipbus tail on a terminal, default" "'$CLIPBUS' tail"
    on_terminal "clipbus-progress bars on a terminal, default" "'$PROGRESS'"
else
    bad "script(1) (util-linux) is missing: cannot test a terminal"
fi

# ---- 2. precedence: --sched > CLIPBUS_SCHED > consumer.sched -------------
start log2 env CLIPBUS_SCHED=normal "$LOG" --db "$T/log2.db"
expect_policy "CLIPBUS_SCHED=normal" "$last" SCHED_OTHER; stop "$last"
start rrd2 env CLIPBUS_SCHED=normal "$RRD" --dir "$T/rrd2" --quiet --sched batch
expect_policy "--sched batch over CLIPBUS_SCHED=normal" "$last" SCHED_BATCH; stop "$last"
echo '{"consumer": {"sched": "batch"}}' >"$T/batch.json"
start alert2 "$ALERT" --config "$T/batch.json" --state "$T/alert2" --quiet
expect_policy "consumer.sched \"batch\"" "$last" SCHED_BATCH; stop "$last"
start alert3 env CLIPBUS_SCHED=idle "$ALERT" --config "$T/batch.json" --state "$T/alert3" --quiet
expect_policy "CLIPBUS_SCHED=idle over consumer.sched \"batch\"" "$last" SCHED_IDLE; stop "$last"
start tail2 "$CLIPBUS" tail --sched normal
expect_policy "clipbus tail --sched normal" "$last" SCHED_OTHER; stop "$last"

# A bad value in the file is a configuration error naming the key.
echo '{"consumer": {"sched": "fast"}}' >"$T/bad.json"
"$RRD" --config "$T/bad.json" --dir "$T/rrd3" >"$T/bad.out" 2>&1
st=$?
if [ $st -eq 2 ] && grep -q 'consumer.sched' "$T/bad.out"; then
    ok "consumer.sched \"fast\" refused (exit 2, names the key)"
else
    bad "consumer.sched \"fast\": exit $st: $(cat "$T/bad.out")"
fi

# ---- 3. an idle consumer on a saturated machine loses nothing -----------
ncpu=$(nproc)
for _ in $(seq "$ncpu"); do
    sh -c 'while :; do :; done' &
    pids+=($!)
    hogs+=($!)
done
start busy "$CLIPBUS" tail --jsonl
reader=$last
expect_policy "clipbus tail --jsonl beside $ncpu busy CPU(s)" "$reader" SCHED_IDLE
burst=5000
"$PRODUCER" --calls 20 --burst "$burst" >/dev/null 2>&1
# Every record of the producer, then its exit, reach the idle reader.
for _ in $(seq 1200); do
    grep -q '"type":"producer_exit"' "$T/busy.out" 2>/dev/null && break
    sleep 0.1
done
for h in "${hogs[@]}"; do kill "$h" 2>/dev/null; done
stop "$reader"
n_burst=$(grep -c '"name":"burst"' "$T/busy.out")
n_loss=$(grep -c '"type":"loss"' "$T/busy.out")
if grep -q '"type":"producer_exit"' "$T/busy.out" && [ "$n_burst" -eq "$burst" ] &&
    [ "$n_loss" -eq 0 ]; then
    ok "idle reader under load: all $burst burst records, no loss"
else
    bad "idle reader under load: $n_burst of $burst burst records, $n_loss loss lines"
fi

[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo PASS
