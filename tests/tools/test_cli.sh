#!/usr/bin/env bash
# The command line: --help everywhere, usage errors exit 2 with a one-line
# message naming the problem, an empty bus says so and exits 1.
. "$(dirname "$0")/lib.sh"

out=$TMP/out
err=$TMP/err

"$CLIPBUS" --help >"$out" || fail "clipbus --help failed"
for c in status gc tail; do
    grep -q "^  $c " "$out" || fail "clipbus --help does not list $c"
    "$CLIPBUS" "$c" --help >"$TMP/h" 2>&1 || fail "clipbus $c --help failed"
    grep -q "^Usage: clipbus $c" "$TMP/h" || fail "clipbus $c --help: no usage"
    grep -q "Exit status" "$TMP/h" || fail "clipbus $c --help: no exit status"
done
ok "--help for clipbus and every subcommand"

expect_rc 2 "$CLIPBUS" 2>/dev/null
expect_rc 2 "$CLIPBUS" frobnicate 2>"$err"
grep -q "unknown command 'frobnicate'" "$err" || fail "unknown command msg"
for c in status gc tail; do
    expect_rc 2 "$CLIPBUS" "$c" --no-such-option 2>"$err"
    [ "$(wc -l <"$err")" -eq 1 ] || fail "$c: usage error is not one line"
    grep -q "unknown option '--no-such-option'" "$err" || fail "$c: bad msg"
    expect_rc 2 "$CLIPBUS" "$c" --bus 'bad name!' 2>"$err"
    grep -q "bad name!" "$err" || fail "$c: bad bus name not named"
    expect_rc 2 env CLIPBUS_BUS=x.y "$CLIPBUS" "$c" 2>"$err" >/dev/null
    grep -q "CLIPBUS_BUS" "$err" || fail "$c: env bus name error names var"
    expect_rc 2 "$CLIPBUS" "$c" --bus 2>/dev/null
    expect_rc 2 "$CLIPBUS" "$c" stray-argument 2>/dev/null
done
expect_rc 2 "$CLIPBUS" status --bus a --all-buses 2>/dev/null
expect_rc 2 "$CLIPBUS" gc --older-than -5 2>/dev/null
expect_rc 2 "$CLIPBUS" gc --older-than 5x 2>/dev/null
expect_rc 2 "$CLIPBUS" tail --from yesterday 2>/dev/null
expect_rc 2 "$CLIPBUS" tail --count 0 2>/dev/null
expect_rc 2 "$CLIPBUS" tail --kind call,nonsense 2>"$err"
grep -q "nonsense" "$err" || fail "--kind error does not name the type"
ok "usage errors exit 2 with a one-line message"

expect_rc 1 "$CLIPBUS" status >"$out"
grep -q "is empty" "$out" || fail "empty bus not reported"
grep -q "CLIPBUS_BUS=$CLIPBUS_BUS" "$out" || fail "empty bus: no hint"
expect_rc 1 "$CLIPBUS" status --json >"$out"
jcheck "$out" ".bus == \"$CLIPBUS_BUS\" and (.producers|length) == 0 and
  (.readers|length) == 0 and (.bad|length) == 0" "empty status json"
expect_rc 0 "$CLIPBUS" gc >"$out"
grep -q "removed 0 segments" "$out" || fail "gc on empty bus: summary"
expect_rc 0 "$CLIPBUS" tail --no-follow >"$out"
[ ! -s "$out" ] || fail "tail of an empty bus printed something"
[ "$(shm_count clipbus-r)" -eq 0 ] || fail "tail left its status segment"
ok "empty bus: status exits 1 and says what to start; gc and tail are quiet"
