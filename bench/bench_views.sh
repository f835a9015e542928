#!/usr/bin/env bash
# bench/bench_views.sh -- CPU use of clipbus-top and clipbus-progress at
# one refresh per second with 200 functions and 10 producers (issue 7).
#
# 10 views_workload producers, each calling all 200 functions (fn000..
# fn199) at RATE calls/s per function (default 2: 4,000 calls/s in all)
# in a session of steady progress. Each view runs for SECONDS (default 20)
# and its CPU time (utime + stime from /proc/PID/stat) over that time is
# reported as a percentage of one core, one JSON line per program:
#   clipbus-top -b -d 1 (text to /dev/null), clipbus-top in a real
#   terminal (tmux 120x40, curses), clipbus-progress (tmux, refresh 1s
#   via config), and the baseline: an idle `sleep` process (0 by
#   construction, checks the method).
# Usage: bench/bench_views.sh BUILD_DIR
set -eu
B=${1:?usage: bench_views.sh BUILD_DIR}
SECONDS_RUN=${SECONDS_RUN:-20}
RATE=${RATE:-2}
BUS="bench_views_$$"
SOCK="bvsock_$$"
TMP=$(mktemp -d)
export CLIPBUS_BUS=$BUS LANG=C.UTF-8
PIDS=()
cleanup() {
    tmux -L "$SOCK" kill-server 2>/dev/null || true
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -f /dev/shm/clipbus."$BUS".* /dev/shm/clipbus-r."$BUS".*
    rm -rf "$TMP"
}
trap cleanup EXIT
TOP=$B/consumers/top/clipbus-top
PROG=$B/consumers/progress/clipbus-progress
WL=$B/tests/consumers/views/views_workload
HZ=$(getconf CLK_TCK)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
measure() { # measure NAME PID
    local t0 t1
    sleep 2 # warm-up: discovery, the first windows
    t0=$(cpu_ticks "$2")
    sleep "$SECONDS_RUN"
    t1=$(cpu_ticks "$2")
    awk -v n="$1" -v d=$((t1 - t0)) -v hz="$HZ" -v s="$SECONDS_RUN" \
        -v r="$RATE" 'BEGIN { printf "{\"bench\":\"views\",\"program\":\"%s\",\"producers\":10,\"functions\":200,\"calls_per_s\":%d,\"seconds\":%d,\"cpu_pct_of_core\":%.2f}\n", n, 2000*r, s, 100*d/hz/s }'
}

for i in $(seq 10); do
    "$WL" --functions 200 --rate "$RATE" --seconds 600 --session "run$i" \
        --steps 6000 --step-ms 100 >/dev/null 2>&1 &
    PIDS+=($!)
done
sleep 1
printf '{"progress": {"refresh": "1s"}}\n' >"$TMP/cfg.json"

sleep 600 & PIDS+=($!); measure "baseline-sleep" $!
"$TOP" -b -d 1 >/dev/null & PIDS+=($!); measure "clipbus-top -b -d 1" $!
kill "${PIDS[-1]}"
tmux -L "$SOCK" new-session -d -s s -x 120 -y 40 "$TOP -d 1"
sleep 0.5
measure "clipbus-top (curses, tmux 120x40)" "$(pgrep -f "^$TOP -d 1$" | head -1)"
tmux -L "$SOCK" kill-server; sleep 0.5
tmux -L "$SOCK" new-session -d -s s -x 120 -y 40 "$PROG --config $TMP/cfg.json"
sleep 0.5
measure "clipbus-progress (tmux, 10 bars)" "$(pgrep -f "^$PROG --config" | head -1)"
