#!/bin/sh
# clipbus-alert end to end with a real producer and a real HTTP receiver
# on 127.0.0.1 (webhook_sink.py): the Alertmanager v4 body, firing then
# resolved in order, 500 / 429+Retry-After / timeouts retried, and a
# kill -9 while the receiver is down loses nothing (delivered after the
# restart). Checked with jq and sqlite3.
# Env: ALERT_BIN, LOAD_BIN, SRC (this directory).
set -u
PY=/usr/bin/python3
T=$(mktemp -d)
BUS=t_alert_wh_$$
export CLIPBUS_BUS=$BUS
PIDS=""
cleanup() {
    for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
    rm -f /dev/shm/clipbus."$BUS".* /dev/shm/clipbus-r."$BUS".* 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT INT TERM
fail() { echo "FAIL: $*"; echo "--- alert log"; tail -20 "$T/alert.log"; exit 1; }

wait_for() { # CMD TIMEOUT_S
    i=0
    while [ $i -lt $(($2 * 10)) ]; do
        sh -c "$1" >/dev/null 2>&1 && return 0
        sleep 0.1; i=$((i + 1))
    done
    return 1
}

$PY "$SRC/webhook_sink.py" "$T/port" "$T/hook.jsonl" --fail 2 --r429 1 \
    --hang 1 --hang-s 2 --down-file "$T/down" &
PIDS="$PIDS $!"
wait_for "test -s $T/port" 60 || fail "webhook sink did not start"
PORT=$(cat "$T/port")

cat > "$T/cfg.json" <<JSON
{"alert": {
  "state_dir": "$T/state",
  "rules": [{"name": "FetchErrors", "kind": "error_count",
             "match": ["function=fetch_clip"], "window": "2s", "fire": 0,
             "repeat": "0s", "cooldown": "0s", "severity": "critical",
             "labels": ["team=media"],
             "summary": "{function}: {value} errors",
             "description": "producer {producer}"}],
  "channels": [
    {"name": "hook", "type": "webhook",
     "url": "http://127.0.0.1:$PORT/alerts", "bearer_token": "s3cret",
     "timeout": "1s", "backoff": "200ms", "max_backoff": "1s"},
    {"name": "log", "type": "file", "path": "$T/alerts.jsonl"}]}}
JSON
"$ALERT_BIN" check "$T/cfg.json" >/dev/null || fail "check refused the config"

"$ALERT_BIN" --config "$T/cfg.json" >"$T/alert.log" 2>&1 &
APID=$!; PIDS="$PIDS $APID"

# Episode 1: errors for about 1.5 s, then quiet: firing, then resolved.
"$LOAD_BIN" --seconds 2 --period-ms 20 --fail-after-ms 500 || fail "load"
wait_for "[ \$(jq -s 'length' $T/hook.jsonl) -ge 2 ]" 30 ||
    fail "webhook: expected firing and resolved after 500/429/timeout"
jq -s -e '.[0].status == "firing" and .[1].status == "resolved"' \
    "$T/hook.jsonl" >/dev/null || fail "order: $(jq -c .status "$T/hook.jsonl")"
# The Alertmanager v4 shape, every field.
jq -e '.version == "4" and (.groupKey|type) == "string" and
       (.receiver == "hook") and (.groupLabels.alertname == "FetchErrors") and
       (.commonLabels.team == "media") and (.commonAnnotations|type) == "object"
       and (.externalURL|type) == "string" and (.alerts|length) >= 1 and
       (.alerts | all(has("status") and has("labels") and has("annotations")
        and has("startsAt") and has("endsAt") and has("generatorURL") and
        (.fingerprint|test("^[0-9a-f]{16}$")))) and
       .auth == "Bearer s3cret"' "$T/hook.jsonl" >/dev/null ||
    fail "body is not Alertmanager v4: $(head -1 "$T/hook.jsonl")"
jq -s -e '.[1].alerts[0].endsAt != "0001-01-01T00:00:00Z" and
          .[0].alerts[0].endsAt == "0001-01-01T00:00:00Z" and
          .[0].alerts[0].labels.function == "fetch_clip" and
          .[0].alerts[0].labels.severity == "critical"' "$T/hook.jsonl" \
    >/dev/null || fail "alert fields"
wait_for "[ \$(wc -l < $T/alerts.jsonl) -ge 2 ]" 10 || fail "file channel"
"$ALERT_BIN" status --config "$T/cfg.json" > "$T/status.txt" || fail status
grep -q "hook .*delivered 2, failed attempts [4-9]" "$T/status.txt" ||
    fail "status does not count the failed attempts: $(cat "$T/status.txt")"

# Episode 2: the receiver is down (503); kill -9 the watcher with the
# notifications in its outbox; restart; bring the receiver back.
touch "$T/down"
"$LOAD_BIN" --seconds 2 --period-ms 20 --fail-after-ms 300 || fail "load 2"
wait_for "[ \$(sqlite3 $T/state/alert.db \"SELECT count(*) FROM outbox WHERE channel='hook'\") -ge 2 ]" 20 ||
    fail "outbox did not fill while the receiver was down"
kill -9 $APID
sqlite3 "$T/state/alert.db" 'PRAGMA integrity_check' | grep -qx ok ||
    fail "alert.db damaged by kill -9"
rm -f "$T/down"
"$ALERT_BIN" --config "$T/cfg.json" >>"$T/alert.log" 2>&1 &
APID=$!; PIDS="$PIDS $APID"
wait_for "[ \$(jq -s 'length' $T/hook.jsonl) -ge 4 ]" 30 ||
    fail "notifications of episode 2 were lost across kill -9"
jq -s -e '[.[].status] == ["firing","resolved","firing","resolved"]' \
    "$T/hook.jsonl" >/dev/null ||
    fail "order after restart: $(jq -c .status "$T/hook.jsonl" | tr '\n' ' ')"
sleep 1
[ "$(jq -s 'length' "$T/hook.jsonl")" -eq 4 ] ||
    fail "duplicate page after restart"
kill -TERM $APID; wait $APID || fail "watcher exit status on SIGTERM"
echo "PASS"
