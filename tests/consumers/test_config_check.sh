#!/usr/bin/env bash
# `clipbus config check` on a table of bad files: each must exit 2 and
# print an error line naming the expected JSON path (or line:column for
# syntax errors) and the expected words. Good files exit 0 with a one-line
# summary; `dump` output is itself valid and stable. Needs CLIPBUS (the
# clipbus binary) and CB_SOURCE_DIR; CTest sets both.
set -u
: "${CLIPBUS:?set CLIPBUS to the clipbus binary}"
: "${CB_SOURCE_DIR:?set CB_SOURCE_DIR to the source tree}"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cbcfgsh.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
unset CLIPBUS_CONFIG
fails=0
n=0

fail() {
    echo "FAIL: $*" >&2
    fails=$((fails + 1))
}

# bad 'JSON' 'expected fragment of the error line' ['another fragment']
bad() {
    local json=$1 want=$2 also=${3:-} f=$TMP/c.json rc=0
    n=$((n + 1))
    printf '%s' "$json" >"$f"
    "$CLIPBUS" config check "$f" >"$TMP/out" 2>"$TMP/err" || rc=$?
    if [ "$rc" -ne 2 ]; then
        fail "case $n: exit $rc, expected 2: $json"
        return
    fi
    if ! grep -qF -- "$f$want" "$TMP/err"; then
        fail "case $n: no line with '$f$want' for $json; got:"
        cat "$TMP/err" >&2
    fi
    if [ -n "$also" ] && ! grep -qF -- "$also" "$TMP/err"; then
        fail "case $n: no '$also' for $json"
    fi
    [ -s "$TMP/out" ] && fail "case $n: wrote to stdout"
}

# Types, ranges, enums, units.
bad '{"bus": {"name": "bad name!"}}' ': $.bus.name: ' "letters, digits"
bad '{"bus": {"name": ""}}' ': $.bus.name: ' 'must not be empty'
bad '{"bus": {"name": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}}' ': $.bus.name: ' 'length must be 1 to 48'
bad '{"bus": {"name": 7}}' ': $.bus.name: ' 'expected a string or null'
bad '{"bus": {"grace": 60}}' ': $.bus.grace: ' 'bare number; write a unit'
bad '{"bus": {"grace": "8d"}}' ': $.bus.grace: ' 'out of range (0s to 7d)'
bad '{"bus": {"from": "newest"}}' ': $.bus.from: ' 'is not one of "oldest", "now"'
bad '{"bus": {"from": 1}}' ': $.bus.from: ' 'expected one of'
bad '{"bus": []}' ': $.bus: ' 'expected an object, got an array'
bad '{"consumer": {"batch": 0}}' ': $.consumer.batch: ' '0 is out of range (1 to 65536)'
bad '{"consumer": {"batch": 1.5}}' ': $.consumer.batch: ' 'expected an integer'
bad '{"consumer": {"batch": "64"}}' ': $.consumer.batch: ' 'got the string "64"'
bad '{"consumer": {"status_interval": "10ms"}}' ': $.consumer.status_interval: ' 'out of range (100ms to 1h)'
bad '{"consumer": {"status_interval": "1.5s"}}' ': $.consumer.status_interval: ' 'is not a duration'
bad '{"consumer": {"batchh": 3}}' ': $.consumer.batchh: ' 'did you mean "batch"'
bad '{"rrd": {"step": "10"}}' ': $.rrd.step: ' 'is not a duration (use a number and a unit'
bad '{"rrd": {"step": "10 s"}}' ': $.rrd.step: ' 'is not a duration'
bad '{"rrd": {"step": "1500ms"}}' ': $.rrd.step: ' 'whole number of seconds'
bad '{"rrd": {"step": "99999999999999999999y"}}' ': $.rrd.step: ' 'out of range'
bad '{"rrd": {"heartbeat": "5s"}}' ': $.rrd.heartbeat: ' 'shorter than $.rrd.step (10s)'
bad '{"rrd": {"daemon": false}}' ': $.rrd.daemon: ' 'expected a string or null, got false'
bad '{"rrd": {"max_files": 0}}' ': $.rrd.max_files: ' 'out of range (1 to 1000000)'
bad '{"rrd": {"functions": "*"}}' ': $.rrd.functions: ' 'expected a list'
bad '{"rrd": {"functions": ["ok", 5]}}' ': $.rrd.functions[1]: ' 'expected a string'
bad '{"rrd": {"rras": []}}' ': $.rrd.rras: ' 'has 0 elements; it must have 1 to 32'
bad '{"rrd": {"rras": [{"cf": "AVERAGE", "step": "1m", "keep": "1d"}, 3]}}' ': $.rrd.rras[1]: ' 'expected an object'
bad '{"rrd": {"rras": [{"cf": "AVG", "step": "1m", "keep": "1d"}]}}' ': $.rrd.rras[0].cf: ' '"AVG" is not one of "AVERAGE", "MAX", "MIN", "LAST"'
bad '{"rrd": {"rras": [{"cf": "MAX", "step": "1m"}]}}' ': $.rrd.rras[0].keep: ' 'is required but missing'
bad '{"rrd": {"rras": [{"cf": "MAX", "step": "1m", "keep": "1d"}, {"cf": "MAX", "step": "1m", "keep": "1d"}, {"cf": "MIN", "step": "1h", "keep": "9x"}]}}' ': $.rrd.rras[2].keep: "9x" is not a duration (use a number and a unit: 500ms, 10s, 5m, 2h, 90d, 1y)'
bad '{"rrd": {"rras": [{"cf": "MAX", "step": "15s", "keep": "1d"}]}}' ': $.rrd.rras[0].step: ' 'not a multiple of $.rrd.step (10s)'
bad '{"rrd": {"rras": [{"cf": "MAX", "step": "1h", "keep": "30m"}]}}' ': $.rrd.rras[0].keep: ' "shorter than the archive's step (1h)"
bad '{"rrd": {"rras": [{"cf": "MAX", "step": "10s", "keep": "5y"}]}}' ': $.rrd.rras[0].keep: ' 'over 10000000 rows'
bad '{"rrd": {"rras": [{"cf": "MAX", "step": "1m", "keep": "1d"}, {"cf": "MAX", "step": "1m", "keep": "1d"}]}}' ': $.rrd.rras[1]: ' 'same cf, step and keep as $.rrd.rras[0]'
bad '{"rrd": {"rras": [{"cf": "MAX", "step": "1m", "keep": "1d", "rows": 5}]}}' ': $.rrd.rras[0].rows: ' 'unknown key'
bad '{"zzzzzz": {}}' ': $.zzzzzz: ' 'unknown key (known keys: '
bad '{"weird key": 1}' ': $["weird key"]: ' 'unknown key'
bad '[]' ': $: ' 'expected an object, got an array'
# Syntax: line and column from jansson.
bad '{"rrd": {"step": "10s",
"step": "20s"}}' ':2:' 'duplicate object key'
bad '{"rrd": {"step": }}' ':1:' ''
bad '{"bus": {"name": "x"}' ':1:' ''
bad '' ': is empty' 'write {}'
[ "$n" -ge 25 ] || fail "only $n bad cases"

# All errors of one file are reported, one line each, plus the summary.
printf '{"bus": {"from": "x", "grace": 5}, "consumer": {"batch": 0}, "rrd": {"step": "9x"}, "zz": 1}' >"$TMP/m.json"
rc=0
"$CLIPBUS" config check "$TMP/m.json" 2>"$TMP/err" || rc=$?
[ "$rc" -eq 2 ] || fail "many errors: exit $rc"
[ "$(grep -c "^$TMP/m.json: \\$" "$TMP/err")" -eq 5 ] || fail "many errors: not 5 lines"
grep -q "is invalid (5 errors)" "$TMP/err" || fail "many errors: no summary"

# Missing file, directory: exit 2, one line naming it.
rc=0; "$CLIPBUS" config check "$TMP/none.json" 2>"$TMP/err" || rc=$?
[ "$rc" -eq 2 ] && grep -q "none.json: cannot open: No such file" "$TMP/err" || fail "missing file"
rc=0; "$CLIPBUS" config check "$TMP" 2>"$TMP/err" || rc=$?
[ "$rc" -eq 2 ] && grep -q "is not a regular file" "$TMP/err" || fail "directory"

# Good files: exit 0 and one summary line; dump is valid and stable.
for f in "$CB_SOURCE_DIR/docs/clipbus.example.json" "$TMP/empty-object.json"; do
    [ -e "$f" ] || printf '{}' >"$f"
    out=$("$CLIPBUS" config check "$f") || fail "check $f failed"
    [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] || fail "check $f: not one line"
    case $out in *": valid ("*) ;; *) fail "check $f: '$out'" ;; esac
    "$CLIPBUS" config dump "$f" >"$TMP/d1.json" || fail "dump $f"
    "$CLIPBUS" config check "$TMP/d1.json" >/dev/null || fail "dump of $f invalid"
    "$CLIPBUS" config dump "$TMP/d1.json" >"$TMP/d2.json" || fail "dump 2"
    cmp -s "$TMP/d1.json" "$TMP/d2.json" || fail "dump of $f not stable"
done
CLIPBUS_CONFIG="$TMP/d1.json" "$CLIPBUS" config dump >"$TMP/d3.json" || fail "dump via env"
cmp -s "$TMP/d1.json" "$TMP/d3.json" || fail "dump ignores CLIPBUS_CONFIG"

# Usage errors exit 2 with one line; --help exits 0.
"$CLIPBUS" config --help | grep -q "^Usage: clipbus config check FILE" || fail "help"
for args in "" "check" "check a b" "frob" "dump a b" "check --x f"; do
    rc=0
    # shellcheck disable=SC2086
    "$CLIPBUS" config $args >/dev/null 2>"$TMP/err" || rc=$?
    [ "$rc" -eq 2 ] || fail "'config $args' exited $rc"
    [ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "'config $args': not one line"
done
"$CLIPBUS" config keys | grep -q '^| `rrd.step` | duration |' || fail "keys"

if [ "$fails" -ne 0 ]; then
    echo "$fails failure(s) in $n bad-config cases and the checks after them" >&2
    exit 1
fi
echo "ok - $n bad configs each exit 2 naming their path; good files, dump, usage"
