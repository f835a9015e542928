#!/usr/bin/env bash
# clipbus status: a live producer with its rings and a running (blocked)
# call; a reader (tail --follow) with its cursor, lag and losses; exited
# and dead producers.
. "$(dirname "$0")/lib.sh"

S=$TMP/status.json
status() { "$CLIPBUS" status --json >"$S"; }

# 1. A producer blocked inside a monitored call.
"$PRODUCER" --calls 4 --threads --block --ready "$TMP/ready" &
P=$!
PIDS+=("$P")
wait_for 10 test -e "$TMP/ready" || fail "producer did not reach its block"
expect_rc 0 "$CLIPBUS" status --json >"$S"
jcheck "$S" ".bus == \"$CLIPBUS_BUS\" and (.producers | length) == 1 and
  (.readers | length) == 0 and (.bad | length) == 0" "one producer"
jcheck "$S" ".producers[0] | .pid == $P and .program == \"tools_producer\" and
  .state == \"alive\" and .rings_used == 2 and .ring_count == 64 and
  .ring_records == 65536 and .sessions == 1 and .exited == null and
  .records_published == ([.rings[].head] | add) and
  .records_published > 30 and .names_dropped == 0 and
  .threads_unringed == 0 and .records_unringed == 0 and
  .shm == \"/clipbus.$CLIPBUS_BUS.$P\"" "producer fields"
jcheck "$S" ".producers[0].rings[0] | .tid == $P and
  .thread == \"tools_producer\" and .inflight_depth == 1 and
  .inflight[0].name == \"blocking_call\" and .inflight[0].running_ns > 0" \
  "ring 0 shows the running call"
jcheck "$S" ".producers[0].rings[1] | .tid == 0 and .inflight_depth == 0 and
  .head == 3" "ring 1 was given back when the worker thread ended"
run1=$("$JQ" '.producers[0].rings[0].inflight[0].running_ns' "$S")
sleep 0.3
status
run2=$("$JQ" '.producers[0].rings[0].inflight[0].running_ns' "$S")
[ "$run2" -ge $((run1 + 250000000)) ] ||
    fail "running time did not grow: $run1 then $run2 ns"
"$CLIPBUS" status >"$TMP/status.txt"
grep -q "PRODUCER /clipbus.$CLIPBUS_BUS.$P  pid $P  \"tools_producer\"  alive" \
    "$TMP/status.txt" || fail "text status: producer line"
grep -qE "^ +0  $P +tools_producer +[0-9]+  blocking_call running [0-9.]+ (ms|s)$" \
    "$TMP/status.txt" || fail "text status: running call line"
ok "status: live producer, rings, running call and its growing age"

# 2. A reader: tail --follow. And a producer with a tiny ring (64).
"$CLIPBUS" tail --jsonl >"$TMP/tail.jsonl" &
T=$!
PIDS+=("$T")
CLIPBUS_RING_RECORDS=64 "$PRODUCER" --calls 0 --hold --ready "$TMP/hready" &
H=$!
PIDS+=("$H")
wait_for 10 test -e "$TMP/hready" || fail "holding producer did not start"
caught_up() {
    status
    "$JQ" -e ".readers[0].rings | map(select(.producer_pid == $H)) |
      length == 1 and .[0].lag == 0 and .[0].head > 0" "$S" >/dev/null
}
wait_for 10 caught_up || fail "tail did not catch up with $H"
jcheck "$S" ".readers | length == 1 and (.[0] | .pid == $T and
  .program == \"clipbus-tail\" and .alive and .sink == \"stdout jsonl\" and
  .heartbeat_age_ns < 5000000000 and .lost == 0 and .producers == 2)" \
  "reader fields"
jcheck "$S" ".readers[0].rings | map(select(.producer_pid == $P and
  .ring == 0)) | length == 1 and .[0].lost == 0" "reader ring of $P"

kill -STOP "$T"
h0=$("$JQ" ".producers[] | select(.pid == $H) | .records_published" "$S")
kill -USR2 "$H"
burst_done() {
    status
    "$JQ" -e ".producers[] | select(.pid == $H) |
      .records_published == $h0 + 1000" "$S" >/dev/null
}
wait_for 10 burst_done || fail "burst of 1000 records not published"
jcheck "$S" ".readers[0].rings | map(select(.producer_pid == $H))[0] |
  .lag == 1000 and .head == $h0 + 1000 and .cursor == $h0" \
  "a stopped reader's lag counts against the producer's current head"
kill -CONT "$T"
lost_seen() {
    status
    "$JQ" -e ".readers[0].rings | map(select(.producer_pid == $H))[0] |
      .lag == 0 and .lost > 0 and .delivered + .lost == .head" "$S" >/dev/null
}
wait_for 10 lost_seen || fail "tail did not report its loss on the 64 ring"
lost=$("$JQ" ".readers[0].rings | map(select(.producer_pid == $H))[0].lost" "$S")
jcheck "$S" ".readers[0].lost == $lost" "reader total lost"
wait_for 5 grep -q "\"type\":\"loss\",.*\"pid\":$H,.*\"count\":" \
    "$TMP/tail.jsonl" || fail "tail printed no loss event"
jslurp "$TMP/tail.jsonl" "map(select(.type == \"loss\" and .pid == $H) |
  .count) | add == $lost" "loss events add up to the reader's lost count"
ok "status: reader with cursor, lag (stopped) and lost ($lost) per ring"

# 3. The blocked producer finishes: exited. The reader ends: gone.
kill -USR1 "$P"
wait "$P" || fail "producer exited non-zero"
status
jcheck "$S" ".producers[] | select(.pid == $P) | .state == \"exited\" and
  (.exited | type) == \"string\" and all(.rings[]; .inflight_depth == 0)" \
  "exited producer"
kill -TERM "$T"
rc=0
wait "$T" || rc=$?
[ "$rc" -eq 0 ] || fail "tail exited $rc on SIGTERM"
[ "$(shm_count clipbus-r)" -eq 0 ] || fail "tail left its status segment"
expect_rc 0 "$CLIPBUS" status --json >"$S"
jcheck "$S" ".readers == []" "no reader after tail ended"
ok "status: exited producer; a reader ended by SIGTERM removes its status"

# 4. A producer killed: dead, and status exits 1.
kill -KILL "$H"
wait "$H" 2>/dev/null
expect_rc 1 "$CLIPBUS" status --json >"$S"
jcheck "$S" ".producers[] | select(.pid == $H) | .state == \"dead\"" "dead"
expect_rc 1 "$CLIPBUS" status >"$TMP/status.txt"
grep -q "pid $H  \"tools_producer\"  dead" "$TMP/status.txt" ||
    fail "text status: dead producer"
expect_rc 1 "$CLIPBUS" status --all-buses --json >"$S"
jcheck "$S" ".buses | map(select(.bus == \"$CLIPBUS_BUS\")) | length == 1" \
  "--all-buses lists our bus"
ok "status: a killed producer is dead and status exits 1"
