#!/bin/sh
# clipbus-rrd --daemon: every create, check and update through rrdcached
# on a unix socket (rrdcached started here the safe way: -l unix:SOCK
# only, -B confined to the archive directory). The stock rrdtool then
# reads the values through the daemon (--daemon flushes first). Also: a
# daemon that is not there is a one-line error, exit 1.
. "$(dirname "$0")/lib.sh"
command -v rrdcached >/dev/null || { echo "SKIP: rrdcached not installed"; exit 77; }

SECS=3600
START=$(aligned_ago 14400)
SOCK="$TMP/rrdcached.sock"
mkdir -p "$TMP/rrd" "$TMP/journal"

"$RRD_BIN" --bus "$BUS" --dir "$TMP/rrd" --daemon "unix:$SOCK" --exit-idle 100 2>"$TMP/err" \
    && fail "ran without its daemon"
[ $? -eq 1 ] || fail "exit status without a daemon"
grep -q "rrdcached at unix:$SOCK" "$TMP/err" || { cat "$TMP/err"; fail "message without a daemon"; }

rrdcached -g -l "unix:$SOCK" -b "$TMP/rrd" -B -j "$TMP/journal" -w 3600 -f 7200 \
    -p "$TMP/rrdcached.pid" >"$TMP/rrdcached.log" 2>&1 &
DPID=$!
PIDS="$PIDS $DPID"
i=0
while [ ! -S "$SOCK" ]; do
    i=$((i + 1)); [ $i -lt 1200 ] || fail "rrdcached did not start in 60 s"; sleep 0.05
done

"$SYNTH_BIN" --bus "$BUS" --start "$START" --seconds "$SECS" >/dev/null || fail synth
"$RRD_BIN" --bus "$BUS" --dir "$TMP/rrd" --daemon "unix:$SOCK" --exit-idle 500 2>"$TMP/log" \
    || { cat "$TMP/log"; fail "clipbus-rrd --daemon exited $?"; }
cat "$TMP/log"
grep -q "1800 update(s) to 5 file(s); late 0 record(s), past 0, future 0, errors 0" "$TMP/log" \
    || fail "summary"
# With -w 3600 nothing is written back yet: the files on disk are behind.
DISK=$(rrdtool last "$TMP/rrd/fn-fetch_page.rrd")
[ "$DISK" -lt $((START + SECS)) ] && echo "on disk (not flushed yet): $DISK"
python3 "$HERE/check_synth.py" "$TMP/rrd" "$START" "$SECS" --daemon "unix:$SOCK" \
    || fail "values through the daemon"
# A second run re-reads the same records: the daemon's files are checked
# through the daemon, old windows are skipped as past, nothing fails.
"$RRD_BIN" --bus "$BUS" --dir "$TMP/rrd" --daemon "unix:$SOCK" --exit-idle 300 2>"$TMP/log2" \
    || fail "second run"
grep -q "0 update(s) to 5 file(s); late 0 record(s), past 1800, future 0, errors 0" "$TMP/log2" \
    || { cat "$TMP/log2"; fail "second run summary"; }
kill -TERM "$DPID"; wait "$DPID" || true
# SIGTERM flushed everything: the plain files now hold it all.
[ "$(rrdtool last "$TMP/rrd/fn-fetch_page.rrd")" -eq $((START + SECS)) ] || fail "not flushed at exit"
python3 "$HERE/check_synth.py" "$TMP/rrd" "$START" "$SECS" || fail "values on disk"
echo ok
