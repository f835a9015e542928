#!/bin/sh
# clipbus-rrd on bad input: unusable directories, files that are not ours
# (garbage, truncated, another schema), a full disk, a damaged index, bad
# options and bad configuration. Each gives one message naming the object;
# existing files that are not ours are never modified; what can be served
# is served.
. "$(dirname "$0")/lib.sh"

SECS=3600
START=$(aligned_ago 14400)
run_synth() { "$SYNTH_BIN" --bus "$BUS" --start "$START" --seconds "$SECS" >/dev/null || fail synth; }

# ---- unusable directory: exit 1, the path in the message ----------------
: > "$TMP/plainfile"
"$RRD_BIN" --bus "$BUS" --dir "$TMP/plainfile/sub" --exit-idle 100 2>"$TMP/err" \
    && fail "a directory under a file was accepted"
[ $? -eq 1 ] || fail "exit status for an unusable directory"
grep -q "$TMP/plainfile/sub: cannot create or write the archive directory" "$TMP/err" \
    || { cat "$TMP/err"; fail "message for an unusable directory"; }

# ---- a clean run tells us the file names ---------------------------------
run_synth
"$RRD_BIN" --bus "$BUS" --dir "$TMP/a" --exit-idle 300 2>/dev/null || fail "clean run"
rm -f /dev/shm/clipbus."$BUS".*
name_of() { jq -r --arg k "$1" --arg n "$2" \
    '.files[] | select(.kind == $k and .name == $n) | .file' "$TMP/a/index.json"; }
FN=$(name_of function fetch_page); SC=$(name_of function Score.Clip)
CT=$(name_of counter clips.processed); GA=$(name_of gauge queue.depth)

# ---- files that are not ours: refused by name, left byte for byte --------
mkdir "$TMP/b"
head -c 70000 /dev/urandom > "$TMP/b/$FN"                   # garbage
head -c 100000 "$TMP/a/$SC" > "$TMP/b/$SC"                  # truncated
rrdtool create "$TMP/b/$CT" --step 60 DS:x:GAUGE:120:U:U RRA:AVERAGE:0.5:1:10  # foreign
mkdir "$TMP/b/$GA"                                          # not a file
(cd "$TMP/b" && sha256sum "$FN" "$SC" "$CT" > "$TMP/sums")
run_synth
"$RRD_BIN" --bus "$BUS" --dir "$TMP/b" --exit-idle 300 2>"$TMP/err" \
    || { cat "$TMP/err"; fail "run with foreign files exited $?"; }
cat "$TMP/err"
grep -q "$TMP/b/$FN: not a usable RRD file" "$TMP/err" || fail "garbage file message"
grep -q "$TMP/b/$SC: not a usable RRD file (.*too small" "$TMP/err" || fail "truncated file message"
grep -q "$TMP/b/$CT: not a clipbus-rrd counter archive (step 60 s, data sources x" "$TMP/err" \
    || fail "foreign RRD message"
grep -q "$TMP/b/$GA: not a regular file" "$TMP/err" || fail "directory message"
grep -q "refused files 4" "$TMP/err" || fail "summary of refused files"
(cd "$TMP/b" && sha256sum -c --quiet "$TMP/sums") || fail "a file that is not ours was modified"
OB=$(jq -r '.files[] | select(.kind == "observe") | .file' "$TMP/a/index.json")
v=$(rrdtool fetch "$TMP/b/$OB" AVERAGE -r 10 -s $((START + 600)) -e $((START + 610)) \
    | awk -F': ' '$1 == '$((START + 610))' {split($2, a, " "); print a[2]}')
[ "$(printf '%.3f' "$v")" = "145.000" ] || fail "the other files were not served ($v)"

# ---- a damaged index: kept aside, a new one written ---------------------
echo '{"files": [' > "$TMP/b/index.json"
run_synth
"$RRD_BIN" --bus "$BUS" --dir "$TMP/b" --exit-idle 300 2>"$TMP/err" || fail "run with a damaged index"
grep -q "index.json:.*starting a new index" "$TMP/err" || { cat "$TMP/err"; fail "index message"; }
[ -f "$TMP/b/index.json.bad" ] || fail "damaged index not kept"
jq -e '.files | length == 5' "$TMP/b/index.json" >/dev/null || fail "new index"
rm -f /dev/shm/clipbus."$BUS".*

# ---- disk full: a tiny tmpfs (root only) --------------------------------
mkdir "$TMP/tiny"
if [ "$(id -u)" -eq 0 ] && mount -t tmpfs -o size=8m tmpfs "$TMP/tiny" 2>/dev/null; then
    MOUNTED="$TMP/tiny"
    run_synth
    # Function files (5 sources, ~11 MB) cannot fit; counter and gauge
    # files (~2.3 MB) can. The run must serve those and report the rest.
    "$RRD_BIN" --bus "$BUS" --dir "$TMP/tiny/rrd" --exit-idle 300 2>"$TMP/err" \
        || { cat "$TMP/err"; fail "disk-full run exited $?"; }
    cat "$TMP/err"
    grep -q "$TMP/tiny/rrd/$FN: cannot create: no space left on device" "$TMP/err" \
        || fail "ENOSPC message"
    rrdtool info "$TMP/tiny/rrd/$CT" >/dev/null || fail "counter file on the full disk"
    rrdtool info "$TMP/tiny/rrd/$GA" >/dev/null || fail "gauge file on the full disk"
    [ ! -e "$TMP/tiny/rrd/$FN" ] || fail "a partial file was left"
    [ -z "$(find "$TMP/tiny/rrd" -name '*.rrd?*')" ] || fail "temporary files left"
    umount "$TMP/tiny"; MOUNTED=""
    rm -f /dev/shm/clipbus."$BUS".*
else
    echo "note: ENOSPC part skipped (needs root and tmpfs mounts)"
fi

# ---- bad options and configuration: exit 2, naming what is wrong --------
expect2() {
    "$@" >/dev/null 2>"$TMP/err" && fail "accepted: $*"
    [ $? -eq 2 ] || fail "exit status for: $*"
}
expect2 "$RRD_BIN" --from sideways
expect2 "$RRD_BIN" --exit-idle soon
expect2 "$RRD_BIN" --future 5parsecs
expect2 "$RRD_BIN" graph-cmd --what nope fetch_page
expect2 "$RRD_BIN" graph-cmd --since 10s fetch_page
printf '{"rrd": {"step": "10x"}}\n' > "$TMP/c1.json"
expect2 "$RRD_BIN" --config "$TMP/c1.json"
grep -q '\$\.rrd\.step' "$TMP/err" || { cat "$TMP/err"; fail "config path for step"; }
printf '{"rrd": {"rras": [{"cf": "AVERAGE", "step": "1m", "keep": "30s"}]}}\n' > "$TMP/c2.json"
expect2 "$RRD_BIN" --config "$TMP/c2.json"
grep -q '\$\.rrd\.rras\[0\]\.keep' "$TMP/err" || { cat "$TMP/err"; fail "config path for keep"; }
printf '{"rrd": {"max_files": 0}}\n' > "$TMP/c3.json"
expect2 "$RRD_BIN" --config "$TMP/c3.json"
grep -q '\$\.rrd\.max_files' "$TMP/err" || { cat "$TMP/err"; fail "config path for max_files"; }
echo ok
