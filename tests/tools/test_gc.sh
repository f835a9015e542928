#!/usr/bin/env bash
# clipbus gc: --dry-run lists and keeps; gc removes exited and dead
# producers and dead readers, never a live producer; bad segments (random
# bytes, truncated, wrong mode) are reported, shown by status and tail,
# and removed only with --force-bad; --older-than keeps recent ones.
. "$(dirname "$0")/lib.sh"

shm=/dev/shm
seg() { echo "$shm/clipbus.$CLIPBUS_BUS.$1"; }
rseg() { echo "$shm/clipbus-r.$CLIPBUS_BUS.$1"; }
O=$TMP/gc.txt

"$PRODUCER" --calls 2 &
A=$!
wait "$A" || fail "producer A"
"$PRODUCER" --calls 2 --die &
B=$!
wait "$B" 2>/dev/null
"$PRODUCER" --calls 1 &
M=$!
wait "$M" || fail "producer M"
chmod 0644 "$(seg "$M")"
"$PRODUCER" --calls 2 --hold --ready "$TMP/ready" &
C=$!
PIDS+=("$C")
"$CLIPBUS" tail >/dev/null &
D=$!
PIDS+=("$D")
tail_up() {
    "$CLIPBUS" status --json 2>/dev/null |
        "$JQ" -e ".readers | any(.pid == $D)" >/dev/null
}
wait_for 10 test -e "$TMP/ready" || fail "producer C not up"
wait_for 10 tail_up || fail "reader D not up"
kill -KILL "$D"
wait "$D" 2>/dev/null
head -c 8192 /dev/urandom >"$(seg 999999)"
head -c 100 /dev/urandom >"$(seg 999998)"
head -c 8192 /dev/urandom >"$(rseg 999997)"
# Half-created segments (magic never set) of processes that are gone.
head -c 33024 /dev/zero >"$(rseg "$A")"
head -c 8192 /dev/zero >"$(seg "$B").1"
chmod 0600 "$(seg 999999)" "$(seg 999998)" "$(rseg 999997)" "$(rseg "$A")" \
    "$(seg "$B").1"
[ "$(shm_count clipbus)" -eq 7 ] && [ "$(shm_count clipbus-r)" -eq 3 ] ||
    fail "set-up: $(ls $shm | grep -c "$CLIPBUS_BUS") objects"

# status and tail show the bad segments with their reasons.
expect_rc 1 "$CLIPBUS" status --json >"$TMP/s.json"
jcheck "$TMP/s.json" "(.bad | length) == 6 and
  (.bad | map(select(.why | test(\"died while creating it\"))) | map(.shm)
   | sort) == [\"/clipbus-r.$CLIPBUS_BUS.$A\", \"/clipbus.$CLIPBUS_BUS.$B.1\"]
  and
  (.bad | map(select(.shm == \"/clipbus.$CLIPBUS_BUS.999999\"))[0].why |
   test(\"bad magic\")) and
  (.bad | map(select(.shm == \"/clipbus.$CLIPBUS_BUS.999998\"))[0].why |
   test(\"truncated\")) and
  (.bad | map(select(.shm == \"/clipbus.$CLIPBUS_BUS.$M\"))[0].why |
   test(\"mode 0644\")) and
  (.bad | map(select(.shm == \"/clipbus-r.$CLIPBUS_BUS.999997\"))[0].kind ==
   \"reader\")" "status lists the bad segments with reasons"
jcheck "$TMP/s.json" "(.producers | map({(.pid | tostring): .state}) | add) ==
  {\"$A\": \"exited\", \"$B\": \"dead\", \"$C\": \"alive\"} and
  (.readers | length) == 1 and .readers[0].pid == $D and
  (.readers[0].alive | not)" "status: exited, dead, alive, dead reader"
"$CLIPBUS" status >"$TMP/s.txt"
grep -q "^BAD /clipbus.$CLIPBUS_BUS.999999: bad magic" "$TMP/s.txt" ||
    fail "text status: bad segment line"
expect_rc 0 "$CLIPBUS" tail --no-follow --jsonl --kind bad >"$TMP/t.jsonl"
jslurp "$TMP/t.jsonl" "length == 3 and all(.type == \"bad_segment\") and
  (map(.why) | any(test(\"/clipbus.$CLIPBUS_BUS.999999: bad magic\"))) and
  (map(.why) | any(test(\"999998: truncated\"))) and
  (map(.why) | any(test(\"mode 0644\")))" "tail reports the bad segments"
ok "bad segments: listed with the reason by status and tail"

# --dry-run lists, keeps everything.
expect_rc 1 "$CLIPBUS" gc --dry-run >"$O"
grep -q "^would remove  /clipbus.$CLIPBUS_BUS.$A: pid $A \"tools_producer\" exited" "$O" ||
    fail "dry run: A"
grep -q "^would remove  /clipbus.$CLIPBUS_BUS.$B: pid $B \"tools_producer\" died" "$O" ||
    fail "dry run: B"
grep -q "^would remove  /clipbus-r.$CLIPBUS_BUS.$D: reader pid $D is dead" "$O" ||
    fail "dry run: D"
grep -q "^kept          /clipbus.$CLIPBUS_BUS.999999: bad segment (use --force-bad" "$O" ||
    fail "dry run: bad kept"
grep -q "$C" "$O" && fail "dry run mentions the live producer"
grep -q "^would remove  /clipbus.$CLIPBUS_BUS.$B.1: pid $B died while creating it" "$O" ||
    fail "dry run: half-created producer segment"
grep -q "^would remove  /clipbus-r.$CLIPBUS_BUS.$A: pid $A died while creating it" "$O" ||
    fail "dry run: half-created reader status"
grep -q "^gc (dry run): would remove 5 segments (3 producer, 2 reader, 0 bad); kept 1 live, 0 recent, 4 bad; 0 failed$" "$O" ||
    fail "dry run summary: $(tail -1 "$O")"
[ "$(shm_count clipbus)" -eq 7 ] && [ "$(shm_count clipbus-r)" -eq 3 ] ||
    fail "--dry-run removed something"
ok "gc --dry-run lists what it would remove and keeps all"

expect_rc 1 "$CLIPBUS" gc -v >"$O"
grep -q "^removed       /clipbus.$CLIPBUS_BUS.$A: " "$O" || fail "A not removed"
grep -q "^kept          /clipbus.$CLIPBUS_BUS.$C: pid $C \"tools_producer\" is alive" "$O" ||
    fail "-v does not list the live producer"
[ ! -e "$(seg "$A")" ] && [ ! -e "$(seg "$B")" ] && [ ! -e "$(rseg "$D")" ] ||
    fail "gc left an exited or dead segment"
[ -e "$(seg "$C")" ] || fail "gc REMOVED A LIVE PRODUCER's segment"
for x in "$(seg 999999)" "$(seg 999998)" "$(seg "$M")" "$(rseg 999997)"; do
    [ -e "$x" ] || fail "gc removed bad segment $x without --force-bad"
done
[ ! -e "$(seg "$B").1" ] && [ ! -e "$(rseg "$A")" ] ||
    fail "gc left a half-created segment of a dead process"
grep -q "^gc: removed 5 segments (3 producer, 2 reader, 0 bad); kept 1 live, 0 recent, 4 bad; 0 failed$" "$O" ||
    fail "gc summary: $(tail -1 "$O")"
kill -0 "$C" || fail "the live producer died"
ok "gc removes exited, dead and half-created segments, never a live one"

expect_rc 0 "$CLIPBUS" gc --force-bad >"$O"
grep -q "removed 4 segments (0 producer, 0 reader, 4 bad)" "$O" ||
    fail "--force-bad summary: $(tail -1 "$O")"
[ "$(shm_count clipbus)" -eq 1 ] && [ -e "$(seg "$C")" ] &&
    [ "$(shm_count clipbus-r)" -eq 0 ] || fail "after --force-bad"
ok "gc --force-bad removes our bad segments, still not the live one"

kill -TERM "$C"
wait "$C" || fail "producer C exited non-zero on SIGTERM"
expect_rc 0 "$CLIPBUS" gc --older-than 3600 >"$O"
grep -q "^kept          /clipbus.$CLIPBUS_BUS.$C: .*exited .* ago.*younger than --older-than" "$O" ||
    fail "--older-than: not kept"
[ -e "$(seg "$C")" ] || fail "--older-than 3600 removed a fresh exit"
# Other buses on this machine may hold bad segments: exit status unchecked.
"$CLIPBUS" gc --all-buses --dry-run >"$O"
grep -q "^would remove  /clipbus.$CLIPBUS_BUS.$C: " "$O" || fail "--all-buses"
expect_rc 0 "$CLIPBUS" gc >"$O"
[ "$(shm_count clipbus)" -eq 0 ] || fail "exited producer C not removed"
ok "gc --older-than keeps recent exits; --all-buses; then removes C"
