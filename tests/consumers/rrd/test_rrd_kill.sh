#!/bin/sh
# kill -9 of clipbus-rrd mid-run, then a restart: every file still reads
# (`rrdtool info`), the restarted run re-reads the rings from the oldest
# record, skips (and counts) the windows already archived, never fails on
# them, and the archive ends up exactly as if nothing had happened.
. "$(dirname "$0")/lib.sh"

SECS=10800
START=$(aligned_ago 18000)
# A live producer: the three hours arrive in 40 slices over about 6 s.
synth_bg --start "$START" --seconds "$SECS" --chunks 40 --chunk-ms 150
"$RRD_BIN" --bus "$BUS" --dir "$TMP/rrd" 2>"$TMP/log1" &
RPID=$!
PIDS="$PIDS $RPID"
sleep 2
kill -9 "$RPID"
wait "$RPID" 2>/dev/null || true
n=0
for f in "$TMP"/rrd/*.rrd; do
    [ -e "$f" ] || continue
    rrdtool info "$f" >/dev/null || fail "$f unreadable after kill -9"
    n=$((n + 1))
done
[ "$n" -ge 1 ] || { cat "$TMP/log1"; fail "no file written before the kill"; }
LU=$(rrdtool last "$TMP/rrd/fn-fetch_page.rrd")
echo "killed after archiving up to $LU ($(( (LU - START) / 60 )) min of $((SECS / 60)))"
[ "$LU" -lt $((START + SECS)) ] || echo "note: the first run had already finished"

# Restart: catches up with the rest and exits once the producer is done.
"$RRD_BIN" --bus "$BUS" --dir "$TMP/rrd" --exit-idle 1000 2>"$TMP/log2" \
    || { cat "$TMP/log2"; fail "restart exited $?"; }
cat "$TMP/log2"
wait "$SYNTH_PID" || fail "rrd_synth"
grep -q "errors 0, refused files 0" "$TMP/log2" || fail "errors after restart"
if [ "$LU" -gt "$START" ]; then
    past=$(sed -n 's/.*past \([0-9]*\),.*/\1/p' "$TMP/log2")
    [ "${past:-0}" -gt 0 ] || fail "the restart did not count re-read windows as past"
fi
python3 "$HERE/check_synth.py" "$TMP/rrd" "$START" "$SECS" || fail "values after restart"
echo ok
