# clipapi.serve_pages: clipapi-serve serves exactly the corpus files:
# every page of every channel (cursor pagination, any page size), users,
# followers, id lookups, time windows, snapshot switching; Helix errors
# for bad requests; Ratelimit headers; 401 without the token; bound to
# 127.0.0.1 only; clean SIGTERM with a stats file.
source "$(dirname "$0")/lib.sh"

D=$TMP/corpus
gen_corpus "$D" --seed 5
start_server main --corpus "$D" --stats-file "$TMP/main.stats"
MAIN=$PID
BASE=http://127.0.0.1:$PORT
# Non-control requests are counted in a file (get and status often run in
# a $(...) subshell, where a variable would not survive).
: >"$TMP/sent"
sent() { echo >>"$TMP/sent"; }
SENT() { wc -l <"$TMP/sent"; }

get() { sent; curl -s --max-time 10 "$@"; }

# status URL [curl args]: prints the HTTP status only.
status() {
    sent
    curl -s -o "$TMP/body" -w '%{http_code}' --max-time 10 "${@:2}" "$1"
}

# Loopback only: the listening socket is 127.0.0.1:PORT, nothing else.
hexport=$(printf '%04X' "$PORT")
grep -qE "^ *[0-9]+: 0100007F:$hexport 00000000:0000 0A" /proc/net/tcp ||
    fail "no LISTEN socket on 127.0.0.1:$PORT in /proc/net/tcp"
grep -E "^ *[0-9]+: [0-9A-F]{8}:$hexport 00000000:0000 0A" /proc/net/tcp |
    grep -vq "0100007F:$hexport" && fail "port $PORT also listens off loopback"
grep -qE "^ *[0-9]+: [0-9A-F]{32}:$hexport [0-9A-F]{32}:0000 0A" /proc/net/tcp6 2>/dev/null &&
    fail "port $PORT listens on IPv6"
# ss (iproute2) may be missing on a minimal system; /proc/net/tcp suffices.
if command -v ss >/dev/null; then
    ss -ltn "sport = :$PORT" | grep -q "127.0.0.1:$PORT" ||
        fail "ss does not show 127.0.0.1:$PORT"
fi

# Every channel, snapshots 0 and 3: served pages (first=100) equal the
# files, page for page (one jq per snapshot compares them all).
for k in 0 3; do
    [ "$(curl -s "$BASE/control/snapshot?set=$k" | jq -r .observed_at)" = \
        "$(jq -r ".snapshots[$k].observed_at" "$D/corpus.json")" ] ||
        fail "/control/snapshot?set=$k did not report its observed_at"
    mkdir -p "$TMP/srv$k"
    : >"$TMP/list.served"
    : >"$TMP/list.files"
    while read -r ch; do
        served_pages "$BASE" "$ch" 100 "$TMP/srv$k/$ch"
        for _ in $(seq "$NPAGES"); do sent; done
        pages_in_order "$TMP/srv$k/$ch" >>"$TMP/list.served"
        pages_in_order "$D/snap-$(printf %03d $k)/clips/$ch/page" >>"$TMP/list.files"
        files=$(ls "$D/snap-$(printf %03d $k)/clips/$ch" | wc -l)
        [ "$NPAGES" -eq "$files" ] ||
            fail "snapshot $k channel $ch: $NPAGES pages served, $files files"
    done <"$D/channels.txt"
    xargs jq -c '.data' <"$TMP/list.served" >"$TMP/served.data"
    xargs jq -c '.data' <"$TMP/list.files" >"$TMP/file.data"
    [ "$(wc -l <"$TMP/served.data")" -gt 40 ] || fail "too few pages compared"
    cmp -s "$TMP/served.data" "$TMP/file.data" ||
        fail "snapshot $k: served clips differ from the files"
done

# Small pages follow the cursor to the same clips.
big=$(jq -r '.channels | max_by(.follower_count) | .id' "$D/corpus.json")
served_pages "$BASE" "$big" 7 "$TMP/small"
for _ in $(seq "$NPAGES"); do sent; done
pages_in_order "$TMP/small" | xargs jq -s '[.[].data[]]' >"$TMP/served.json"
file_pages "$D" 3 "$big" >"$TMP/file.json"
jq -e -n --slurpfile a "$TMP/served.json" --slurpfile b "$TMP/file.json" \
    '$a[0] == $b[0] and ($a[0] | length) > 7' >/dev/null ||
    fail "first=7 pagination differs from the files"
[ "$NPAGES" -eq $(( ($(jq length "$TMP/file.json") + 6) / 7 )) ] ||
    fail "first=7 gave $NPAGES pages"

# started_at/ended_at select clips by created_at, inclusive.
from=2026-10-31T00:00:00Z to=2026-10-31T23:59:59Z
want=$(jq --arg f $from --arg t $to '[.[] | select(.created_at >= $f and .created_at <= $t)] | length' "$TMP/file.json")
got=$(get "$BASE/helix/clips?broadcaster_id=$big&first=100&started_at=$from&ended_at=$to" | jq '.data | length')
[ "$want" -gt 0 ] && [ "$got" -eq "$want" ] || fail "time window: got $got clips, want $want"

# Lookups by clip id; users by id and login; followers.
ids=$(jq -r '.[0].id, .[1].id' "$TMP/file.json")
got=$(get "$BASE/helix/clips?id=$(sed -n 1p <<<"$ids")&id=$(sed -n 2p <<<"$ids")" | jq -c '[.data[].id]')
[ "$got" = "$(jq -c '[.[0].id, .[1].id]' "$TMP/file.json")" ] || fail "clips by id: $got"
login=$(jq -r --arg id "$big" '.channels[] | select(.id == $id) | .login' "$D/corpus.json")
get "$BASE/helix/users?id=$big&login=$login&id=999" >"$TMP/users.json"
jq -e --slurpfile f "$D/snap-003/users/$big.json" '.data == [$f[0].data[0], $f[0].data[0]]' \
    "$TMP/users.json" >/dev/null || fail "users by id and login differ from the file"
get "$BASE/helix/channels/followers?broadcaster_id=$big" >"$TMP/fol.json"
cmp -s <(jq -S . "$TMP/fol.json") <(jq -S . "$D/snap-003/followers/$big.json") ||
    fail "followers differ from the file"
[ "$(get "$BASE/helix/clips?broadcaster_id=123" | jq -c .)" = '{"data":[],"pagination":{}}' ] ||
    fail "unknown broadcaster is not an empty page"

# Headers: Ratelimit-* on every Helix answer; Reset in epoch seconds.
sent
curl -s -D "$TMP/h" -o /dev/null "$BASE/helix/users?id=$big"
limit=$(awk -F': ' 'tolower($1)=="ratelimit-limit" {print $2+0}' "$TMP/h")
remain=$(awk -F': ' 'tolower($1)=="ratelimit-remaining" {print $2+0}' "$TMP/h")
reset=$(awk -F': ' 'tolower($1)=="ratelimit-reset" {print $2+0}' "$TMP/h")
[ "$limit" = 800 ] && [ "$remain" -lt 800 ] && [ "$reset" -ge "$(date +%s)" ] &&
    [ "$reset" -le $(($(date +%s) + 61)) ] || fail "Ratelimit headers: $limit $remain $reset"
grep -qi '^content-type: application/json' "$TMP/h" || fail "Content-Type not JSON"

# Bad requests: Helix-style JSON errors with the right status.
expect_error() { # CODE URL [curl args]
    local code
    code=$(status "${@:2}")
    [ "$code" = "$1" ] || fail "$2: status $code, want $1"
    jq -e --argjson s "$1" '.status == $s and (.error | length > 0) and (.message | length > 0)' \
        "$TMP/body" >/dev/null || fail "$2: not a Helix error body: $(cat "$TMP/body")"
}
expect_error 404 "$BASE/helix/nothing"
expect_error 404 "$BASE/other"
expect_error 400 "$BASE/helix/clips?broadcaster_id=$big&first=101"
expect_error 400 "$BASE/helix/clips?broadcaster_id=$big&first=0"
expect_error 400 "$BASE/helix/clips?broadcaster_id=abc"
expect_error 400 "$BASE/helix/clips"
expect_error 400 "$BASE/helix/clips?broadcaster_id=$big&id=x"
expect_error 400 "$BASE/helix/clips?broadcaster_id=$big&after=%21%21"
expect_error 400 "$BASE/helix/clips?broadcaster_id=$big&after=MTox"
expect_error 400 "$BASE/helix/clips?broadcaster_id=$big&started_at=yesterday"
expect_error 400 "$BASE/helix/users"
expect_error 400 "$BASE/helix/channels/followers"
expect_error 405 "$BASE/helix/clips?broadcaster_id=$big" -X POST
code=$(curl -s -o "$TMP/body" -w '%{http_code}' "$BASE/control/snapshot?set=4")
[ "$code" = 400 ] || fail "/control/snapshot?set=4 of 4 snapshots: $code"

# The counters saw exactly our requests; SIGTERM writes them to a file.
stats=$(curl -s "$BASE/control/stats")
jq -e --argjson n "$(SENT)" '.requests == $n and .faults_total == 0' <<<"$stats" >/dev/null ||
    fail "stats count $(jq .requests <<<"$stats") requests, we sent $(SENT)"
stop_server "$MAIN"
jq -e --argjson n "$(SENT)" '.requests == $n and .responses["404"] == 2' "$TMP/main.stats" >/dev/null ||
    fail "stats file: $(cat "$TMP/main.stats")"

# --require-token: 401 JSON without or with a wrong token, 200 with it;
# Client-Id is accepted; /control/ needs no token.
start_server auth --corpus "$D" --require-token s3cret
A=http://127.0.0.1:$PORT
expect_error 401 "$A/helix/users?id=$big"
grep -q 'missing' "$TMP/body" || fail "401 without token does not say it is missing"
expect_error 401 "$A/helix/users?id=$big" -H 'Authorization: Bearer wrong'
expect_error 401 "$A/helix/clips?broadcaster_id=$big" -H 'Authorization: OAuth s3cret'
code=$(status "$A/helix/users?id=$big" -H 'Authorization: Bearer s3cret' -H 'Client-Id: abc123')
[ "$code" = 200 ] || fail "valid token and Client-Id: status $code"
code=$(curl -s -o /dev/null -w '%{http_code}' "$A/control/stats")
[ "$code" = 200 ] || fail "/control/stats with --require-token: $code"
echo "PASS: serve pages, errors, auth, loopback"
