#!/bin/sh
# clip-analyzer end to end: command-line errors, partial results, bad
# input, unreachable server, refused token, foreign database. Each case
# checks the exit status and that the message names what is wrong.
#
# usage: cli.sh ANALYZER FIXTURES_DIR CLIPAPI_SERVE CLIPAPI_GEN
set -u
. "$(dirname "$0")/lib.sh"
a=$1 fx=$2 serve=$3 gen=$4
work=$(mktemp -d)
server=
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
pass=0 failed=0

# expect NAME STATUS PATTERN -- ARGS...: runs the analyzer, checks the exit
# status and that stderr matches PATTERN (grep -E).
expect() {
    name=$1 want=$2 pat=$3
    shift 4
    "$a" "$@" >"$work/out" 2>"$work/err"
    got=$?
    if [ "$got" = "$want" ] &&
       { [ -z "$pat" ] || grep -Eq -- "$pat" "$work/err"; }; then
        pass=$((pass + 1))
    else
        failed=$((failed + 1))
        echo "FAIL $name: exit $got (want $want); stderr:" >&2
        sed 's/^/    /' "$work/err" >&2
    fi
}
check() { # NAME CONDITION...
    name=$1
    shift
    if "$@"; then pass=$((pass + 1)); else
        failed=$((failed + 1)); echo "FAIL $name" >&2; fi
}

snap="file://$fx/snap"
db=$work/a.db
at=2024-05-01T12:00:00Z

# --- the command line ---
"$a" --help >"$work/help"
check help-exit test $? = 0
check help-text grep -q "EXIT STATUS" "$work/help"
expect no-args 2 "--api is required" --
expect jobs-zero 2 "--jobs \"0\".*1\.\.64" -- --api "$snap" -c 111 --db "$db" --jobs 0
expect jobs-word 2 "--jobs \"many\"" -- --api "$snap" -c 111 --db "$db" --jobs many
expect api-scheme 2 "--api \"ftp://x\"" -- --api ftp://x -c 111 --db "$db"
expect bad-channel 2 "channel id \"1;2\"" -- --api "$snap" -c "1;2" --db "$db"
expect no-channels 2 "no channels" -- --api "$snap" --db "$db"
expect bad-time 2 "--observed-at \"yesterday\"" -- --api "$snap" -c 111 --db "$db" --observed-at yesterday
expect bad-format 2 "--format \"xml\"" -- --api "$snap" -c 111 --db "$db" --format xml
expect bad-window 2 "--window \"0h\"" -- --api "$snap" -c 111 --db "$db" --window 0h
expect unknown-opt 2 "unknown option --frobnicate" -- --api "$snap" -c 111 --db "$db" --frobnicate
expect missing-value 2 "needs a value" -- --api "$snap" -c 111 --db
printf '111\n# comment\n\n222 # trailing\nbad id\n' >"$work/ch.txt"
expect channels-file-line 2 "ch.txt:5: channel id \"bad id\"" -- --api "$snap" --channels-file "$work/ch.txt" --db "$db"
expect output-dir 2 "--output" -- --api "$snap" -c 111 --db "$db" --output "$work/no/such/dir/x"

# --- a partial run: one channel truncated, one with absurd values ---
expect partial 1 "channel 333 failed \(truncated\).*page-0.json" -- \
    --api "$snap" -c 111,222,333 --db "$db" --observed-at "$at" --format json --top 0
cp "$work/out" "$work/partial.json"
check partial-bad-values grep -q "channel 222: skipped 4 clip.*view_count -5 is negative" "$work/err"
check partial-json jq -e '.run.status == "partial" and .run.channels.ok == 2 and
    (.clips | length) == 4 and .clips[0].rank == 1 and
    .run.channels.failures[0].id == "333"' "$work/partial.json"
check db-integrity test "$(sqlite3 "$db" 'PRAGMA integrity_check')" = ok
check db-run-row test "$(sqlite3 "$db" 'SELECT status FROM runs')" = partial
check db-no-bad-rows test "$(sqlite3 "$db" "SELECT count(*) FROM clips WHERE id LIKE 'Beta%'")" = 1
expect csv 1 "" -- --api "$snap" -c 111,222,333 --db "$db" --observed-at "$at" --format csv
check csv-rows test "$(grep -c . "$work/out")" = 5
expect table 1 "" -- --api "$snap" -c 111,222,333 --db "$db" --observed-at "$at"
check table-header grep -q "^rank" "$work/out"

# --- unreachable sources ---
expect no-dir 3 "channel 111 failed \(io\): cannot read .*No such file" -- \
    --api "file://$work/nowhere" -c 111 --db "$db"
expect unreachable 3 "channel 111 failed \(connect\).*gave up after 2 attempts" -- \
    --api http://127.0.0.1:9 -c 111 --db "$db" --retries 1 --backoff-ms 1

# --- a database that is not ours ---
echo "plain text, not SQLite, and long enough to be looked at" >"$work/text.db"
expect foreign-db 5 "text.db" -- --api "$snap" -c 111 --db "$work/text.db"
sqlite3 "$work/other.db" 'CREATE TABLE x(y)'
expect other-db 5 "not a clip-analyzer database" -- --api "$snap" -c 111 --db "$work/other.db"

# --- a server that wants a token ---
"$gen" --seed 5 --out "$work/corpus" --channels 4 --planted 2 >/dev/null 2>&1
"$serve" --corpus "$work/corpus" --port-file "$work/port" \
    --require-token s3cr3t-t0ken 2>/dev/null &
server=$!
wait_port "$work/port" "$server" ""
base=http://127.0.0.1:$(cat "$work/port")
chans=$(paste -sd, "$work/corpus/channels.txt")
expect no-token 4 "failed \(http_401\).*HTTP 401" -- --api "$base" -c "$chans" --db "$work/t.db"
CLIP_API_TOKEN=wrong expect bad-token 4 "HTTP 401" -- --api "$base" -c "$chans" --db "$work/t.db"
t0=$(jq -r '.snapshots[0].observed_at' "$work/corpus/corpus.json")
CLIP_API_TOKEN=s3cr3t-t0ken CLIP_API_CLIENT_ID=cid expect good-token 0 "" -- \
    --api "$base" -c "$chans" --db "$work/t.db" --format json --observed-at "$t0"
check token-not-printed sh -c "! grep -rq s3cr3t '$work/out' '$work/err'"
check token-run jq -e '.run.status == "ok" and (.clips | length) > 0' "$work/out"

echo "$pass passed, $failed failed"
[ "$failed" = 0 ]
