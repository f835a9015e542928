#!/usr/bin/env bash
# tests/consumers/test_cli_common.sh -- the options every consumer shares
# (consumers/common/cli.c) are checked, and refused, the same way by each:
# exit status 2 and one line naming the program, the option, the value and
# where to look. Runs the real binaries; nothing is started on a bus.
#
# Env: RRD, LOG, ALERT, TOP, PROGRESS (binaries).
set -u
fails=0
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# refuses PROG EXPECTED_LINE ARGS...: exit 2 and exactly that one line.
refuses() {
    local prog=$1 want=$2; shift 2
    "$prog" "$@" >"$T/out" 2>"$T/err"
    local st=$?
    if [ $st -ne 2 ] || [ "$(cat "$T/err")" != "$want" ] || [ -s "$T/out" ]; then
        echo "FAIL - $(basename "$prog") $*: exit $st, stderr:"
        sed 's/^/  | /' "$T/err"
        echo "  want: $want"
        fails=$((fails + 1))
    else
        echo "ok   - $(basename "$prog") $*"
    fi
}

for p in "$RRD" "$LOG" "$ALERT" "$TOP" "$PROGRESS"; do
    n=$(basename "$p")
    refuses "$p" "$n: --from: 'sideways' is not oldest or now; see $n --help" \
        --from sideways
    refuses "$p" "$n: unknown option '--no-such-option'; see $n --help" \
        --no-such-option
    refuses "$p" "$n: --sched: 'fast' is not idle, batch or normal; see $n --help" \
        --sched fast
    # A bad CLIPBUS_SCHED is refused before anything starts (-b: top needs
    # no terminal then; the bus is never opened).
    extra=(); [ "$p" = "$TOP" ] && extra=(-b)
    CLIPBUS_SCHED=bogus refuses "$p" "$n: CLIPBUS_SCHED: 'bogus' is not idle, batch or normal" \
        "${extra[@]}" --bus cli_common_never_opened
    # --help goes to stdout, exit 0.
    if "$p" --help >"$T/out" 2>"$T/err" && grep -q "^Usage: $n" "$T/out" &&
        [ ! -s "$T/err" ]; then
        echo "ok   - $n --help"
    else
        echo "FAIL - $n --help"; fails=$((fails + 1))
    fi
done
for p in "$RRD" "$LOG" "$ALERT"; do
    n=$(basename "$p")
    for v in soon -1 1e3 86400001 ""; do
        refuses "$p" "$n: --exit-idle: '$v' is not a number of milliseconds (0 to 86400000); see $n --help" \
            --exit-idle "$v"
    done
done
for p in "$RRD" "$LOG"; do
    n=$(basename "$p")
    refuses "$p" "$n: unexpected argument 'extra'; see $n --help" extra
    refuses "$p" "$n: missing value for '--bus'; see $n --help" --bus
done

[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo PASS
