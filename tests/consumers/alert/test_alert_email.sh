#!/bin/sh
# clipbus-alert's e-mail channel against a real SMTP server on 127.0.0.1:
# Debian's aiosmtpd (system python3) writing a Maildir, read back with
# Python's mailbox.Maildir (maildir_check.py). Checks the headers (Date,
# Message-ID, From, To, RFC 2047 Subject with severity and summary), the
# plain-text UTF-8 body, firing then resolved in order; then a server that
# refuses a recipient (550, smtp_refuse.py): the mail is retried and the
# failure reported in `status`, while the file channel keeps receiving
# notifications on time (evaluation never waits); once the server accepts
# again, every mail arrives, in order, once.
# Env: ALERT_BIN, LOAD_BIN, SRC (this directory).
set -u
PY=/usr/bin/python3
T=$(mktemp -d)
BUS=t_alert_mail_$$
export CLIPBUS_BUS=$BUS
PIDS=""
cleanup() {
    for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
    rm -f /dev/shm/clipbus."$BUS".* /dev/shm/clipbus-r."$BUS".* 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT INT TERM
fail() {
    echo "FAIL: $*"
    echo "--- alert log"; tail -20 "$T/alert.log"
    echo "--- smtp log"; tail -5 "$T/smtp.log"
    exit 1
}
wait_for() { # CMD TIMEOUT_S
    i=0
    while [ $i -lt $(($2 * 10)) ]; do
        sh -c "$1" >/dev/null 2>&1 && return 0
        sleep 0.1; i=$((i + 1))
    done
    return 1
}
$PY -c 'import aiosmtpd' 2>/dev/null ||
    fail "python3-aiosmtpd is not installed (apt-get install python3-aiosmtpd)"

# The sink: a free port picked by the kernel, then handed to aiosmtpd
# (retried if another process took it meanwhile).
for try in 1 2 3 4 5; do
    PORT=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    PYTHONPATH="$SRC" $PY -m aiosmtpd -n -l "127.0.0.1:$PORT" \
        -c smtp_refuse.Refusing "$T/mail" refuse@example.org "$T/refuse" \
        >"$T/smtp.log" 2>&1 &
    SPID=$!
    if wait_for "$PY -c 'import socket; socket.create_connection((\"127.0.0.1\", $PORT), 1)'" 5; then
        break
    fi
    kill -9 $SPID 2>/dev/null; SPID=""
done
[ -n "$SPID" ] || fail "aiosmtpd did not start"
PIDS="$PIDS $SPID"

cat > "$T/cfg.json" <<JSON
{"alert": {
  "state_dir": "$T/state",
  "rules": [{"name": "FetchErrors", "kind": "error_count",
             "match": ["function=fetch_clip"], "window": "1s", "fire": 0,
             "repeat": "0s", "cooldown": "0s", "severity": "critical",
             "summary": "{function}: {value} errors — ünïcode",
             "description": "producer {producer}"}],
  "channels": [
    {"name": "mail", "type": "email", "url": "smtp://127.0.0.1:$PORT",
     "from": "clipbus-alert@example.org",
     "to": ["oncall@example.org", "Refuse Me <refuse@example.org>"],
     "timeout": "2s", "backoff": "200ms", "max_backoff": "500ms"},
    {"name": "log", "type": "file", "path": "$T/alerts.jsonl"}]}}
JSON
"$ALERT_BIN" check "$T/cfg.json" >/dev/null || fail "check refused the config"
"$ALERT_BIN" --config "$T/cfg.json" >"$T/alert.log" 2>&1 &
APID=$!; PIDS="$PIDS $APID"

# Reads the Maildir into mails.jsonl (one message a line); N = count.
mails() {
    $PY "$SRC/maildir_check.py" "$T/mail" > "$T/mails.jsonl" 2>"$T/mails.err" ||
        fail "maildir: $(cat "$T/mails.err")"
    N=$(wc -l < "$T/mails.jsonl")
}

# Episode 1: firing then resolved, two proper mails.
"$LOAD_BIN" --seconds 1.2 --period-ms 20 --fail-after-ms 400 || fail "load"
wait_for "[ \$($PY $SRC/maildir_check.py $T/mail | wc -l) -ge 2 ]" 20 ||
    fail "no firing and resolved mail"
mails; [ "$N" -eq 2 ] || fail "expected 2 mails, got $N"
jq -s -e '
  (.[0].subject | test("^\\[FIRING:1\\] FetchErrors \\(critical\\): fetch_clip: [0-9]+ errors — ünïcode$")) and
  (.[1].subject | test("^\\[RESOLVED:1\\] FetchErrors \\(critical\\): fetch_clip: .* — ünïcode$")) and
  all(.[]; .from == "clipbus-alert@example.org" and
      .to == "oncall@example.org, Refuse Me <refuse@example.org>" and
      .rcpt == "oncall@example.org, refuse@example.org" and
      (.date - now | fabs) < 120) and
  (.[0].message_id != .[1].message_id) and
  (.[0].body | test("^\\[FIRING\\] fetch_clip: [0-9]+ errors — ünïcode\n")) and
  (.[0].body | test("\n  function = fetch_clip\n")) and
  (.[0].body | test("\n  severity = critical\n")) and
  (.[0].body | test("\n  producer alert_load\n")) and
  (.[1].body | startswith("[RESOLVED] fetch_clip"))' "$T/mails.jsonl" \
    >/dev/null || fail "mail headers or body: $(cat "$T/mails.jsonl")"

# Episode 2: the server refuses one recipient (550). The file channel
# gets firing and resolved on time; the mail stays in the outbox, is
# retried, and status reports the refusal.
touch "$T/refuse"
"$LOAD_BIN" --seconds 1.2 --period-ms 20 --fail-after-ms 300 || fail "load 2"
wait_for "[ \$(wc -l < $T/alerts.jsonl) -ge 4 ]" 10 ||
    fail "the file channel was held up by the refusing mail server"
wait_for "[ \$(cat $T/refuse.count) -ge 3 ]" 10 ||
    fail "the refused mail was not retried"
mails; [ "$N" -eq 2 ] || fail "a mail was delivered despite the refusal"
"$ALERT_BIN" status --config "$T/cfg.json" > "$T/status.txt" || fail status
grep -Eq "mail .*outbox [12], delivered 2, failed attempts [1-9]" \
    "$T/status.txt" || fail "status: $(cat "$T/status.txt")"
sqlite3 "$T/state/alert.db" "SELECT last_error FROM channels WHERE name='mail'" |
    grep -q 550 || fail "last error does not name the 550 refusal"
grep -q "channel mail: .*failed: .*550" "$T/alert.log" ||
    fail "the refusal is not logged"

# Recovery: every mail, in order, once.
rm -f "$T/refuse"
wait_for "[ \$($PY $SRC/maildir_check.py $T/mail | wc -l) -ge 4 ]" 15 ||
    fail "mails not delivered after the server recovered"
sleep 1
mails; [ "$N" -eq 4 ] || fail "expected 4 mails, got $N"
jq -s -e '[.[].subject | split(" ")[0]] ==
          ["[FIRING:1]", "[RESOLVED:1]", "[FIRING:1]", "[RESOLVED:1]"] and
          ([.[].message_id] | unique | length) == 4' "$T/mails.jsonl" \
    >/dev/null || fail "order: $(jq -c .subject "$T/mails.jsonl")"
kill -TERM $APID; wait $APID || fail "watcher exit status on SIGTERM"
echo "PASS"
