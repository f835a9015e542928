#!/bin/sh
# clipbus-rrd end to end: three hours of synthetic records (rrd_synth: a
# real segment whose records carry chosen timestamps) archived in one
# catch-up run, then checked with the stock rrdtool fetch/info/lastupdate
# (check_synth.py) and graphed with the command lines graph-cmd prints.
. "$(dirname "$0")/lib.sh"

SECS=10800
START=$(aligned_ago 18000)     # 5 h ago: ends 2 h ago, inside the 1-day RRA
"$SYNTH_BIN" --bus "$BUS" --start "$START" --seconds "$SECS" >/dev/null \
    || fail "rrd_synth"
"$RRD_BIN" --bus "$BUS" --dir "$TMP/rrd" --exit-idle 500 2>"$TMP/log" \
    || { cat "$TMP/log"; fail "clipbus-rrd exited $?"; }
cat "$TMP/log"
grep -q "5400 update(s) to 5 file(s); late 0 record(s), past 0, future 0, errors 0" "$TMP/log" \
    || fail "summary line"

# The name map: index.json and the file names.
jq -e '.files | length == 5' "$TMP/rrd/index.json" >/dev/null || fail "index size"
jq -e '.files[] | select(.kind == "function" and .name == "fetch_page")
       | .file == "fn-fetch_page.rrd"' "$TMP/rrd/index.json" >/dev/null \
    || fail "clean function name keeps a clean file name"
for f in $(jq -r '.files[].file' "$TMP/rrd/index.json"); do
    [ -f "$TMP/rrd/$f" ] || fail "index names $f, which is missing"
    echo "$f" | grep -Eq '^[a-z0-9_-]+\.rrd$' || fail "unsanitized file name $f"
    rrdtool info "$TMP/rrd/$f" >/dev/null || fail "rrdtool info $f"
done

python3 "$HERE/check_synth.py" "$TMP/rrd" "$START" "$SECS" || fail "values"

# Graphs: the printed command lines, run by sh, make PNGs.
cd "$TMP"
"$RRD_BIN" graph-cmd --dir "$TMP/rrd" --since 1d fetch_page > cmds.sh
[ "$(wc -l < cmds.sh)" -eq 3 ] || fail "graph-cmd printed $(wc -l < cmds.sh) lines"
sh cmds.sh > graph.out || { cat cmds.sh graph.out; fail "rrdtool graph"; }
for w in latency errors calls; do
    is_png "fn-fetch_page-$w.png" || fail "fn-fetch_page-$w.png is not a PNG"
done
"$RRD_BIN" graph-cmd --dir "$TMP/rrd" --kind counter --labels source=api \
    --out counter.png clips.processed | sh >/dev/null || fail "counter graph"
is_png counter.png || fail "counter.png"
"$RRD_BIN" graph-cmd --dir "$TMP/rrd" no_such_function >/dev/null 2>err.txt \
    && fail "graph-cmd of an unknown function succeeded"
grep -q 'no archive of function "no_such_function"' err.txt || fail "graph-cmd message"
echo "ok"
