# clipapi.bad_input: bad command lines and broken corpus files give one
# line naming the option or file and what is wrong, a non-zero status,
# and never a crash (status >= 128 would be a signal).
source "$(dirname "$0")/lib.sh"

# expect_msg STATUS PATTERN CMD...: CMD exits with STATUS and prints one
# stderr line matching PATTERN.
expect_msg() {
    local want=$1 pat=$2 rc=0
    shift 2
    "$@" >"$TMP/out" 2>"$TMP/err" </dev/null || rc=$?
    [ "$rc" -eq "$want" ] || fail "$*: status $rc, want $want ($(cat "$TMP/err"))"
    [ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "$*: not one line: $(cat "$TMP/err")"
    grep -q -- "$pat" "$TMP/err" || fail "$*: message lacks '$pat': $(cat "$TMP/err")"
}

O=$TMP/out-dir
expect_msg 2 "--seed" "$GEN" --out "$O"
expect_msg 2 "--seed.*'abc'" "$GEN" --seed abc --out "$O"
expect_msg 2 "--seed.*'-1'" "$GEN" --seed -1 --out "$O"
expect_msg 2 "--out" "$GEN" --seed 1
expect_msg 2 "--channels.*'0'" "$GEN" --seed 1 --out "$O" --channels 0
expect_msg 2 "--clips-per-channel" "$GEN" --seed 1 --out "$O" --clips-per-channel 12x
expect_msg 2 "--page-size.*'101'" "$GEN" --seed 1 --out "$O" --page-size 101
expect_msg 2 "--interval.*'0'" "$GEN" --seed 1 --out "$O" --interval 0
expect_msg 2 "--interval.*'1w'" "$GEN" --seed 1 --out "$O" --interval 1w
expect_msg 2 "--start.*2026-02-31" "$GEN" --seed 1 --out "$O" --start 2026-02-31T00:00:00Z
expect_msg 2 "--start" "$GEN" --seed 1 --out "$O" --start 2026-11-01
expect_msg 2 "--planted 11 exceeds --channels 10" "$GEN" --seed 1 --out "$O" --channels 10 --planted 11
expect_msg 2 "too large" "$GEN" --seed 1 --out "$O" --channels 100000 --clips-per-channel 10000
expect_msg 2 "unknown option.*--colour" "$GEN" --seed 1 --out "$O" --colour
expect_msg 2 "unexpected argument 'extra'" "$GEN" --seed 1 --out "$O" extra
[ ! -e "$O" ] || fail "a refused command line created $O"
mkdir -p "$TMP/full" && touch "$TMP/full/x"
expect_msg 2 "not empty" "$GEN" --seed 1 --out "$TMP/full"
touch "$TMP/file"
expect_msg 2 "cannot use --out .*Not a directory" "$GEN" --seed 1 --out "$TMP/file/sub"
"$GEN" --help | grep -q -- "--clips-per-channel" || fail "gen --help"

D=$TMP/corpus
gen_corpus "$D" --seed 2 --channels 4 --clips-per-channel 30 --planted 2
expect_msg 2 "--corpus" "$SERVE"
expect_msg 1 "nowhere/corpus.json" "$SERVE" --corpus "$TMP/nowhere"
expect_msg 2 "sum to 1.2" "$SERVE" --corpus "$D" --rate-500 0.7 --rate-503 0.5
expect_msg 2 "--rate-429.*'2'" "$SERVE" --corpus "$D" --rate-429 2
expect_msg 2 "--truncate-rate.*'nan'" "$SERVE" --corpus "$D" --truncate-rate nan
expect_msg 2 "--port.*'70000'" "$SERVE" --corpus "$D" --port 70000
expect_msg 2 "--snapshot 4: the corpus has snapshots 0 .. 3" "$SERVE" --corpus "$D" --snapshot 4
expect_msg 2 "--latency-ms.*'-5'" "$SERVE" --corpus "$D" --latency-ms -5
"$SERVE" --help | grep -q -- "--fault-only-clips" || fail "serve --help"

# A port already taken: a clear message, status 1.
start_server first --corpus "$D"
expect_msg 1 "cannot listen on 127.0.0.1:$PORT" "$SERVE" --corpus "$D" --port "$PORT"
stop_server "$PID"

# Broken corpus files: each names the file.
CH=$(head -1 "$D/channels.txt")
PG=snap-001/clips/$CH/page-1.json
broken() { # NAME EDIT-COMMAND...: a copy of the corpus with one file edited
    rm -rf "$TMP/$1"
    cp -r "$D" "$TMP/$1"
    (cd "$TMP/$1" && eval "${@:2}")
}
broken cut 'head -c 100 "$PG" > x && mv x "$PG"'
expect_msg 1 "cut/$PG:1:" "$SERVE" --corpus "$TMP/cut"
broken dup "sed -i 's/^{\"data\"/{\"data\":[],\"data\"/' \"$PG\""
expect_msg 1 "dup/$PG:.*duplicate" "$SERVE" --corpus "$TMP/dup"
broken noid "jq -c '.data[0] |= del(.id)' \"$PG\" > x && mv x \"$PG\""
expect_msg 1 "noid/$PG: a clip without" "$SERVE" --corpus "$TMP/noid"
broken date "jq -c '.data[0].created_at = \"yesterday\"' \"$PG\" > x && mv x \"$PG\""
expect_msg 1 "date/$PG: a clip with a bad created_at" "$SERVE" --corpus "$TMP/date"
broken loop "jq -c '.pagination = {cursor: \"page-1\"}' \"$PG\" > x && mv x \"$PG\""
expect_msg 1 "loop/$PG: pagination.cursor" "$SERVE" --corpus "$TMP/loop"
broken gap "jq -c '.pagination = {cursor: \"page-2\"}' \"$PG\" > x && mv x \"$PG\""
expect_msg 1 "page-2.json" "$SERVE" --corpus "$TMP/gap"
broken nouser "rm snap-002/users/$CH.json"
expect_msg 1 "nouser/snap-002/users/$CH.json" "$SERVE" --corpus "$TMP/nouser"
broken fol "echo '{\"total\":-3}' > snap-000/followers/$CH.json"
expect_msg 1 "fol/snap-000/followers/$CH.json: expected a non-negative" "$SERVE" --corpus "$TMP/fol"
broken meta "echo '[]' > corpus.json"
expect_msg 1 "meta/corpus.json: expected" "$SERVE" --corpus "$TMP/meta"
broken slash "jq '.channels[0].id = \"../../etc\"' corpus.json > x && mv x corpus.json"
expect_msg 1 "slash/corpus.json: a channel without a plain" "$SERVE" --corpus "$TMP/slash"
echo "PASS: bad input"
