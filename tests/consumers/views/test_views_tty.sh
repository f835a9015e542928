#!/usr/bin/env bash
# tests/consumers/views/test_views_tty.sh -- clipbus-top and
# clipbus-progress as a user sees them: in real terminals (tmux, private
# server, LANG=C.UTF-8) at 120x40 and 40x12, driven with send-keys and
# checked with capture-pane; and batch/JSON output parsed against a known
# synthetic workload (views_workload).
#
# Environment: TOP, PROGRESS, WORKLOAD (binaries). Needs tmux and jq.
set -u
export LANG=C.UTF-8 LC_ALL=C.UTF-8
BUS="t_views_$$"
export CLIPBUS_BUS="$BUS"
SOCK="cbviews_$$"
TMP=$(mktemp -d)
PIDS=()
fails=0

cleanup() {
    tmux -L "$SOCK" kill-server 2>/dev/null
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    rm -f /dev/shm/clipbus."$BUS".* /dev/shm/clipbus-r."$BUS".*
    rm -rf "$TMP"
}
trap cleanup EXIT

ok() { echo "ok   - $*"; }
bad() { echo "FAIL - $*"; fails=$((fails + 1)); }
jqe() { jq -e "$@" >/dev/null; }
check() { # check "description" command...
    local d=$1; shift
    if "$@"; then ok "$d"; else bad "$d"; fi
}

for b in tmux jq; do
    command -v $b >/dev/null || { echo "SKIP: $b not installed"; exit 77; }
done

workload() { # starts views_workload in the background with its args
    "$WORKLOAD" "$@" >"$TMP/wl.$#.out" 2>&1 &
    PIDS+=($!)
    WL=$!
}

tm() { tmux -L "$SOCK" "$@"; }
cap() { tm capture-pane -p -t s; }
# eventually SECONDS CMD...: CMD succeeds within SECONDS (polled every 0.1 s);
# on failure the pane is shown.
eventually() {
    local i n=$(($1 * 10)); shift
    for ((i = 0; i < n; i++)); do
        "$@" && return 0
        sleep 0.1
    done
    echo "  (still failing after the wait; the pane:)"; cap | sed 's/^/  | /'
    return 1
}
# wait_for TEXT [seconds]: until the pane shows TEXT
wait_for() {
    local i
    for ((i = 0; i < ${2:-8} * 10; i++)); do
        cap | grep -qF -- "$1" && return 0
        sleep 0.1
    done
    echo "  (pane did not show '$1'):"; cap | sed 's/^/  | /'
    return 1
}
# first table row after the FUNCTION header
first_row() { cap | awk '/^FUNCTION/ {getline; print $1; exit}'; }
max_width() { cap | awk '{ if (length($0) > m) m = length($0) } END { print m+0 }'; }
new_shell() { # new_shell W H: a shell in a fresh tmux session "s"
    tm kill-server 2>/dev/null
    sleep 0.2
    tm new-session -d -s s -x "$1" -y "$2" "env -i PATH=$PATH HOME=$TMP \
LANG=C.UTF-8 TERM=screen CLIPBUS_BUS=$BUS PS1='PROMPT\$ ' bash --norc"
    sleep 0.3
}
gone() { # the program in the pane has exited (a loaded machine takes a
         # while; keys typed before that would go to the program)
    local i sh
    sh=$(tm display-message -p -t s '#{pane_pid}')
    for ((i = 0; i < 100; i++)); do
        pgrep -P "$sh" >/dev/null || return 0
        sleep 0.1
    done
    echo "  (the program in the pane is still running after 10 s)"
    return 1
}
tty_sane() { # after a program quit: the shell's terminal is usable again
    gone
    # The marker is printed as a line of its own ("END") but typed as
    # E""ND, so the echoed command line cannot be mistaken for the output
    # (it was, once, in CI: the pane was captured before stty had run).
    tm send-keys -t s "clear; stty -a | tr ' ;' '\n\n' | grep -cx -e icanon -e echo; echo E\"\"ND" Enter
    eventually 10 stty_report_is 2
}
stty_report_is() { # the pane holds the marker line and, before it, N
    local p
    p=$(cap)
    grep -qx END <<<"$p" && grep -B1 -x END <<<"$p" | head -1 | grep -qx "$1"
}

# ---- a known workload: 6 functions at 40 calls/s, fn001 fails 1 in 4 ----
workload --functions 6 --rate 40 --fail-every 4 --seconds 400 \
    --session job --steps 4000 --step-ms 100 --log-every 10
sleep 0.5

# ---- batch mode, parsed --------------------------------------------------
"$TOP" -b -n 5 -d 1 --json >"$TMP/top.jsonl" 2>"$TMP/top.err"
check "top -b -n 5 --json: exit 0, 5 JSON frames" \
    test "$(wc -l <"$TMP/top.jsonl")" = 5 -a -s "$TMP/top.jsonl"
last=$(tail -n 1 "$TMP/top.jsonl")
check "batch: 6 functions fn000..fn005" \
    jqe '[.functions[].name] | sort == ["fn000","fn001","fn002","fn003","fn004","fn005"]' <<<"$last"
check "batch: fn001 error rate 25% (+-5)" \
    jqe '.functions[] | select(.name=="fn001") | .error_rate > 0.20 and .error_rate < 0.30' <<<"$last"
check "batch: other functions have no errors" \
    jqe '[.functions[] | select(.name!="fn001") | .errors] | add == 0' <<<"$last"
check "batch: calls/s near 40 (28..46)" \
    jqe '[.functions[].calls_per_s] | min > 28 and max < 46' <<<"$last"
check "batch: session job running with progress and ETA" \
    jqe '.sessions[0] | .name=="job" and .state=="running" and .fraction > 0 and (.eta_s != null)' <<<"$last"
check "batch: producer alive, loss 0" \
    jqe '.producers[0].state=="alive" and .lost==0' <<<"$last"
check "batch: recent errors carry fn001's message" \
    jqe '.recent_errors[0].function=="fn001" and (.recent_errors[0].message|test("synthetic failure"))' <<<"$last"

# The bus named by --bus or by the configuration's bus.name, with
# CLIPBUS_BUS unset: both were once ignored (the name was copied onto
# itself, which left it empty, and the view read the "default" bus).
env -u CLIPBUS_BUS "$TOP" --bus "$BUS" -b -n 3 -d 0.5 --json >"$TMP/top-bus.json" 2>&1
check "--bus NAME without CLIPBUS_BUS: the workload's functions" \
    jqe -s '.[-1] | .bus == "'"$BUS"'" and ([.functions[].name] | length == 6)' <"$TMP/top-bus.json"
printf '{"bus": {"name": "%s"}}\n' "$BUS" >"$TMP/bus-only.json"
env -u CLIPBUS_BUS "$TOP" --config "$TMP/bus-only.json" -b -n 3 -d 0.5 --json \
    >"$TMP/top-cfg.json" 2>&1
check "bus.name without CLIPBUS_BUS: the workload's functions" \
    jqe -s '.[-1] | .bus == "'"$BUS"'" and ([.functions[].name] | length == 6)' <"$TMP/top-cfg.json"

"$TOP" -b -n 2 -d 0.5 --width 100 >"$TMP/top.txt"
check "text batch: 2 frames, each with a header and the table" \
    test "$(grep -c '^clipbus-top ' "$TMP/top.txt")" = 2 -a \
         "$(grep -c '^FUNCTION' "$TMP/top.txt")" = 2
check "text batch: no line over --width 100" \
    test "$(awk '{ if (length($0) > m) m = length($0) } END { print m }' "$TMP/top.txt")" -le 100
check "text batch: fn001 row shows about 25% errors" \
    awk '$1=="fn001" { e=$3 } END { exit !(e > 18 && e < 32) }' "$TMP/top.txt"

# ---- clipbus-top at 120x40: sort, filter, help, quit ---------------------
new_shell 120 40
tm send-keys -t s "$TOP -d 0.5" Enter
wait_for fn005
check "120x40: default sort is by calls/s (header marks it)" \
    bash -c "tmux -L $SOCK capture-pane -p -t s | grep -q 'CALLS/Sv'"
tm send-keys -t s 3 && sleep 0.8
check "sort by ERR% (key 3) puts fn001 first" test "$(first_row)" = fn001
tm send-keys -t s 1 && sleep 0.8
r1=$(first_row)
tm send-keys -t s r && sleep 0.8
r2=$(first_row)
check "sort by name, then r reverses the order ($r1 -> $r2)" \
    test "$r1" = fn000 -a "$r2" = fn005 -o "$r1" = fn005 -a "$r2" = fn000
tm send-keys -t s / f n 0 0 3 Enter && sleep 0.8
check "filter fn003 hides the other rows" \
    bash -c "p=\$(tmux -L $SOCK capture-pane -p -t s); grep -q '^fn003' <<<\"\$p\" && ! grep -q '^fn001' <<<\"\$p\""
tm send-keys -t s Escape && sleep 0.8
check "Esc clears the filter" wait_for fn001 3
tm send-keys -t s h && sleep 0.5
check "h shows the help screen" wait_for "clipbus-top help" 3
tm send-keys -t s x && sleep 0.5
tm send-keys -t s s && sleep 0.8
check "s switches to the sessions view" wait_for "SESSION" 3
tm send-keys -t s c && sleep 1.2
check "c shows the consumers panel with clipbus-top itself" \
    wait_for "clipbus-top" 3
check "consumers panel has LAG and LOST columns" wait_for "LOST" 3
tm send-keys -t s q
check "q quits back to the shell" gone
check "q restores the terminal (icanon and echo on)" tty_sane

# ---- 40x12: stacked header, dropped columns, nothing wider -----------------
new_shell 40 12
tm send-keys -t s "$TOP -d 0.5" Enter
wait_for fn00
check "40x12: no line wider than 40" test "$(max_width)" -le 40
check "40x12: header stacked over several lines" \
    bash -c "tmux -L $SOCK capture-pane -p -t s | head -3 | grep -q 'producers:'"
check "40x12: table kept FUNCTION and CALLS/S, dropped P99" \
    bash -c "p=\$(tmux -L $SOCK capture-pane -p -t s); grep -q 'CALLS/S' <<<\"\$p\" && ! grep -q P99 <<<\"\$p\""
tm resize-window -t s -x 120 -y 40 && sleep 1.2
check "resize to 120x40: the wide columns come back" wait_for P99 3
tm resize-window -t s -x 40 -y 12 && sleep 1.2
check "resize back to 40x12: still fits" test "$(max_width)" -le 40
tm send-keys -t s C-c
check "SIGINT (C-c) ends it and restores the terminal" tty_sane

# ---- colour and NO_COLOR ----------------------------------------------------
new_shell 120 40
tm send-keys -t s "$TOP -d 0.5" Enter
wait_for fn001
check "colour: fn001 (errors) is drawn in red" \
    bash -c "tmux -L $SOCK capture-pane -e -p -t s | grep -a fn001 | grep -aq '31m'"
tm send-keys -t s q && gone
tm send-keys -t s "clear; NO_COLOR=1 $TOP -d 0.5" Enter
wait_for fn001
check "NO_COLOR: no colour sequences" \
    bash -c "! tmux -L $SOCK capture-pane -e -p -t s | grep -aq '3[1-3]m'"
tm send-keys -t s q && gone

# ---- clipbus-progress in terminals -----------------------------------------
for size in "120 40" "40 12"; do
    set -- $size
    new_shell "$1" "$2"
    tm send-keys -t s "$PROGRESS --logs=warn" Enter
    wait_for "job (" 5
    sleep 2.5
    # Polled, not sampled once: on a loaded machine a redraw can be
    # caught half-way (seen in CI-like runs with two builds at once).
    check "progress ${1}x${2}: one bar for the session (redrawn in place)" \
        eventually 5 bash -c "test \"\$(tmux -L $SOCK capture-pane -p -t s | grep -c '^job (')\" = 1"
    check "progress ${1}x${2}: log lines printed above the bar" \
        bash -c "tmux -L $SOCK capture-pane -p -t s | grep -q '^log WARN'"
    check "progress ${1}x${2}: no line wider than the terminal" \
        test "$(max_width)" -lt "$1"
    check "progress ${1}x${2}: shows ETA" \
        eventually 5 bash -c "tmux -L $SOCK capture-pane -p -t s | grep '^job (' | grep -q 'ETA'"
    tm send-keys -t s C-c
    check "progress ${1}x${2}: C-c restores the terminal" tty_sane
done

# A producer that dies mid-session: ABORTED; one that ends: ok with duration.
new_shell 120 40
tm send-keys -t s "$PROGRESS" Enter
sleep 0.5
workload --session doomed --steps 20 --step-ms 100 --die-at 5
workload --session quick --steps 5 --step-ms 100
check "aborted session shown as ABORTED" wait_for "ABORTED" 8
check "ended session shows ok and its duration" wait_for "ok in" 8
tm send-keys -t s C-c
tty_sane >/dev/null

# Plain mode (not a terminal) and the JSON snapshot.
"$PROGRESS" --interval 0.5 --json "$TMP/p.json" >"$TMP/p.txt" &
PP=$!
PIDS+=($PP)
sleep 2
kill -TERM $PP
wait $PP
check "progress: SIGTERM exits 0" test $? = 0
check "progress plain: 'progress job' lines" grep -q '^progress job (' "$TMP/p.txt"
check "progress plain: no escape sequences" bash -c "! grep -q $'\x1b' $TMP/p.txt"
check "progress --json: snapshot with the running session" \
    jqe '.sessions[] | select(.name=="job") | .state=="running" and .fraction > 0 and .total==4000' "$TMP/p.json"

# ---- bad input ---------------------------------------------------------------
"$TOP" -d 0 >/dev/null 2>"$TMP/e1"; r1=$?
check "top -d 0: exit 2 with a message" \
    bash -c "test $r1 = 2 && grep -q -- '--delay' $TMP/e1"
"$TOP" --bogus >/dev/null 2>&1; check "top --bogus: exit 2" test $? = 2
"$TOP" </dev/null >/dev/null 2>"$TMP/e2"; r2=$?
check "top without a terminal: exit 2, says to use -b" \
    bash -c "test $r2 = 2 && grep -q -- '-b' $TMP/e2"
"$PROGRESS" --interval abc >/dev/null 2>&1; check "progress --interval abc: exit 2" test $? = 2
CLIPBUS_BUS="t_views_empty_$$" "$TOP" -b -n 1 -d 0.2 >"$TMP/empty.txt"
check "top on an empty bus: says what to start" grep -q 'No producers on bus' "$TMP/empty.txt"
CLIPBUS_BUS='bad bus!' "$TOP" -b -n 1 >/dev/null 2>"$TMP/e3"
check "top with a bad bus name: exit 2" test $? = 2

echo "$fails failure(s)"
exit $((fails > 0))
