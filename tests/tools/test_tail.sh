#!/usr/bin/env bash
# clipbus tail: exact content of --jsonl for a known producer run, valid
# JSON for any bytes, the text format, filters, --from now, follow mode
# with a producer that starts later, SIGINT, and a closed pipe.
. "$(dirname "$0")/lib.sh"

N=10
"$PRODUCER" --calls $N --threads || fail "tools_producer failed"
pid=$(ls /dev/shm | sed -n "s/^clipbus\.$CLIPBUS_BUS\.\([0-9]*\)$/\1/p")
[ -n "$pid" ] || fail "no producer segment after the run"

J=$TMP/tail.jsonl
expect_rc 0 "$CLIPBUS" tail --jsonl --no-follow >"$J"
lines=$(wc -l <"$J")
values=$("$JQ" -c . "$J" | wc -l) || fail "tail --jsonl is not valid JSON"
[ "$lines" -gt 0 ] && [ "$lines" -eq "$values" ] ||
    fail "$lines lines but $values JSON values"
ok "tail --jsonl: $lines lines, each one JSON object"

cnt() { echo "(map(select($1)) | length)"; }
jslurp "$J" "$(cnt '.type == "call"') == $((N + 5))" "calls"
jslurp "$J" "$(cnt '.type == "call" and .status == "error"') == 3" "failures"
jslurp "$J" "[.[] | select(.status == \"error\") | .error.message] ==
  [\"item 2 failed\", \"item 5 failed\", \"item 8 failed\"]" "error messages"
jslurp "$J" "all(.[] | select(.status == \"error\"); .error.code == -5 and
  .status_code == 1 and .name == \"process_item\")" "error codes"
jslurp "$J" "[.[] | select(.name == \"process_item\") | .params.index] ==
  [range(0; $N)]" "process_item index parameters, in order"
jslurp "$J" "map(select(.name == \"process_item\" and .params.index == 4))
  | .[0].params == {index: 4, label: \"item-4\", ratio: 2}" "params of item 4"
jslurp "$J" "all(.[] | select(.type == \"call\"); .dur_ns >= 0 and
  (.params | type) == \"object\")" "every call has dur_ns and params"
jslurp "$J" "$(cnt '.type == "thread"') == 2 and
  ([.[] | select(.type == \"thread\") | .thread_name] | sort) ==
  [\"tools_producer\", \"worker\"]" "thread records"
jslurp "$J" "([.[] | select(.type == \"thread\" and .thread_name == \"worker\")
  | .tid][0]) as \$w | [.[] | select(.name == \"worker_call\") | .tid] ==
  [\$w, \$w] and \$w != $pid" "worker calls carry the worker's tid"
jslurp "$J" "map(select(.type == \"session_begin\")) | length == 1 and
  .[0].name == \"tools_session\" and .[0].total_weight == $N and
  .[0].session == 1" "session begin"
jslurp "$J" "map(select(.type == \"session_end\")) | length == 1 and
  .[0].status == \"ok\"" "session end"
jslurp "$J" "$(cnt '.type == "progress"') == $((2 * N)) and
  ([.[] | select(.type == \"progress\" and .phase == \"end\") | .delta]
  | add) == $N" "progress steps add up to the total weight"
jslurp "$J" "([.[] | select(.type == \"count\" and .name == \"items\") |
  .value] | add) == $N" "count items"
jslurp "$J" "map(select(.type == \"count\" and .name == \"errors\")) |
  length == 3 and all(.labels == {reason: \"io\"} and
  .labels_text == \"reason=io\")" "count errors with labels"
jslurp "$J" "map(select(.type == \"gauge\")) == map(select(.type ==
  \"gauge\" and .name == \"queue_depth\" and .value == 3.5))
  and $(cnt '.type == "gauge"') == 1" "gauge"
jslurp "$J" "$(cnt '.type == "observe" and .name == "latency_ms" and
  .value == 12.25') == 1" "observe"
jslurp "$J" "[.[] | select(.type == \"log\") | [.level, .message]] ==
  [[\"info\", \"processed $N items\"], [\"warn\", \"odd bytes \ufffd( here\"]]" \
  "logs, invalid UTF-8 replaced by U+FFFD"
jslurp "$J" "map(select(.name == \"weird_text\"))[0].params.text ==
  \"bad\ufffd\ufffd \\\"q\\\" nl\n tab\t esc\u001b[31m end\"" \
  "string parameter with invalid UTF-8, quotes and controls"
jslurp "$J" "map(select(.name == \"long_param\"))[0].params.long |
  length == 150 and startswith(\"Lxxx\") and endswith(\"xxE\")" \
  "long string parameter over continuation records"
jslurp "$J" "map(select(.name == \"perf_call\"))[0].perf | .cpu_ns > 0 and
  .maxrss_kb > 0 and has(\"rss_delta_kb\") and has(\"vol_csw\")" "perf fields"
jslurp "$J" "$(cnt '.type == "producer_new"') == 1 and
  $(cnt '.type == "producer_exit" and .program == "tools_producer"') == 1 and
  (map(select(.type | startswith(\"producer_\"))) | all(.pid == $pid))" \
  "producer_new and producer_exit events"
jslurp "$J" "$(cnt '.type == "loss" or .type == "bad_segment"') == 0" \
  "no loss, no bad segment"
jslurp "$J" "all(.[]; .pid == $pid and (.time | test(
  \"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}Z$\")))" \
  "pid and ISO 8601 UTC time on every event"
jslurp "$J" "[group_by(.ring)[] | map(select(.recno != null) | .recno) |
  . == sort and . == unique] | all" "record numbers increase per ring"
ok "tail --jsonl: exact counts and fields"

T=$TMP/tail.txt
expect_rc 0 "$CLIPBUS" tail --no-follow --utc >"$T"
[ "$(wc -l <"$T")" -eq "$lines" ] || fail "text and JSON differ in events"
! grep -q $'\x1b' "$T" ||
    fail "an escape character reached the text output"
grep -qF 'text="bad\xff\xfe \"q\" nl\n tab\t esc\x1b[31m end"' "$T" ||
    fail "text output does not escape the weird parameter"
grep -qE "^[0-9-]{10}T[0-9:]{8}\.[0-9]{3}Z $pid r0/$pid s1 call +process_item [0-9.]+ [mun]?s error index=2 label=\"item-2\" ratio=1 error=-5 \"item 2 failed\"$" "$T" ||
    fail "call line format"
grep -qE " log +warn +odd bytes \\\\xc3\( here$" "$T" || fail "log line"
grep -qE " count +errors \+1 \{reason=io\}$" "$T" || fail "metric line"
grep -qE " producer_exit \"tools_producer\" /clipbus\.$CLIPBUS_BUS\.$pid$" "$T" ||
    fail "producer exit line"
ok "tail text: one escaped line per event"

expect_rc 0 "$CLIPBUS" tail --no-follow --kind call --count 2 >"$T"
[ "$(wc -l <"$T")" -eq 2 ] && [ "$(grep -c ' call ' "$T")" -eq 2 ] ||
    fail "--kind call --count 2"
expect_rc 0 "$CLIPBUS" tail --no-follow --jsonl --kind metric >"$T"
jslurp "$T" "length == $((N + 3 + 2)) and all(.type == \"count\" or
  .type == \"gauge\" or .type == \"observe\")" "--kind metric"
expect_rc 0 "$CLIPBUS" tail --no-follow --jsonl --kind log,session >"$T"
jslurp "$T" "map(.type) == [\"session_begin\", \"log\", \"log\",
  \"session_end\"]" "--kind log,session"
expect_rc 0 "$CLIPBUS" tail --no-follow --grep "item 5 failed" >"$T"
[ "$(wc -l <"$T")" -eq 1 ] || fail "--grep"
expect_rc 0 "$CLIPBUS" tail --no-follow --from now --kind call >"$T"
[ ! -s "$T" ] || fail "--from now printed old records"
ok "tail filters: --kind, --count, --grep, --from now"

# Follow mode: a producer that starts after the tail is found and read.
F=$TMP/follow.jsonl
"$CLIPBUS" tail --jsonl --from now >"$F" &
tpid=$!
PIDS+=("$tpid")
# Its first lines (the producers already there) mean cb_bus_open is done.
wait_for 10 grep -q '"type":"producer_new"' "$F" || fail "tail did not start"
"$PRODUCER" --calls 3 || fail "second producer run"
exits() { test "$(grep -c '"type":"producer_exit"' "$F")" -eq 2; }
wait_for 10 exits || fail "follow: the new producer's exit was not seen"
kill -INT "$tpid"
rc=0
wait "$tpid" || rc=$?
[ "$rc" -eq 0 ] || fail "tail --follow exited $rc on SIGINT"
[ "$(shm_count clipbus-r)" -eq 0 ] || fail "status segment left after SIGINT"
jslurp "$F" "$(cnt '.type == "call"') == 3 + 3 and
  $(cnt '.type == "producer_new"') == 2 and
  (map(select(.type == \"call\") | .pid) | unique | length) == 1 and
  (map(.type) | index(\"producer_new\")) == 0" \
  "follow: the old producer is announced, the new one read from its start"
ok "tail --follow: reads a producer that starts later; SIGINT ends it cleanly"

# A closed pipe ends tail quietly.
"$PRODUCER" --calls 0 --burst 30000 || fail "burst producer run"
"$CLIPBUS" tail --no-follow 2>"$TMP/err" | head -n 1 >/dev/null
rc=${PIPESTATUS[0]}
[ "$rc" -eq 0 ] || fail "tail | head: tail exited $rc"
[ ! -s "$TMP/err" ] || fail "tail | head: stderr: $(cat "$TMP/err")"
[ "$(shm_count clipbus-r)" -eq 0 ] || fail "tail | head left its status"
ok "tail | head: quiet exit 0 on EPIPE"
