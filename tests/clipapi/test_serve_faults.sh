# clipapi.serve_faults: every fault kind appears at roughly its rate, the
# client can tell each one apart, /control/stats counts exactly the faults
# the client observed, the same fault seed replays the same faults, and
# --fault-only-clips spares the other endpoints.
source "$(dirname "$0")/lib.sh"

N=${CLIPAPI_FAULT_REQUESTS:-200}
LAT_MS=300
D=$TMP/corpus
gen_corpus "$D" --seed 3 --channels 6 --clips-per-channel 40 --planted 2
CH=$(head -1 "$D/channels.txt")
PATHQ="/helix/clips?broadcaster_id=$CH&first=100"

# The true body, from a fault-free server.
start_server clean --corpus "$D"
curl -sf "http://127.0.0.1:$PORT$PATHQ" >"$TMP/ref" || fail "reference fetch"
stop_server "$PID"
REF_LEN=$(stat -c %s "$TMP/ref")

declare -A RATE=([latency]=0.06 [timeout]=0.03 [http_429]=0.08 [http_500]=0.08
                 [http_503]=0.06 [truncated]=0.06 [bad_json]=0.06)
FAULT_ARGS=(--latency-rate 0.06 --latency-ms $LAT_MS --timeout-rate 0.03
            --rate-429 0.08 --retry-after 7 --rate-500 0.08 --rate-503 0.06
            --truncate-rate 0.06 --bad-json-rate 0.06)

# classify URL: one request; prints the fault the client saw, or "none".
classify() {
    local rc=0 out code t len
    out=$(curl -s -o "$TMP/b" -D "$TMP/h" -w '%{http_code} %{time_total}' \
        --max-time 1.2 "$1") || rc=$?
    [ "$rc" -eq 28 ] && { echo timeout; return; }
    [ "$rc" -eq 0 ] || fail "curl exit $rc on $1 (a short body must still be well framed)"
    read -r code t <<<"$out"
    len=$(stat -c %s "$TMP/b")
    grep -qi "^content-length: $len"$'\r'"\$" "$TMP/h" || fail "Content-Length is not $len"
    case $code in
    429)
        grep -qi $'^retry-after: 7\r$' "$TMP/h" || fail "429 without Retry-After: 7"
        grep -qi $'^ratelimit-remaining: 0\r$' "$TMP/h" || fail "429 with Remaining > 0"
        jq -e '.status == 429' "$TMP/b" >/dev/null || fail "429 body"
        echo http_429 ;;
    500 | 503)
        jq -e --argjson c "$code" '.status == $c' "$TMP/b" >/dev/null || fail "$code body"
        echo "http_$code" ;;
    200)
        if cmp -s "$TMP/b" "$TMP/ref"; then
            if awk -v t="$t" -v l=$LAT_MS 'BEGIN { exit !(t * 1000 >= l * 0.9) }'; then
                echo latency
            else
                echo none
            fi
        elif [ "$len" -lt "$REF_LEN" ] && cmp -s "$TMP/b" <(head -c "$len" "$TMP/ref"); then
            jq -e . "$TMP/b" >/dev/null 2>&1 && fail "a truncated body parses as JSON"
            echo truncated
        else
            jq -e . "$TMP/b" >/dev/null 2>&1 && fail "an altered body is still valid JSON"
            echo bad_json
        fi ;;
    *) fail "unexpected status $code" ;;
    esac
}

# run_sequence NAME COUNT: COUNT requests to $BASE$PATHQ, classes to NAME.
run_sequence() {
    local i
    : >"$TMP/$1"
    for i in $(seq "$2"); do
        classify "$BASE$PATHQ" >>"$TMP/$1"
    done
}

start_server faulty --corpus "$D" --fault-seed 77 "${FAULT_ARGS[@]}" \
    --stats-file "$TMP/faulty.stats"
FAULTY=$PID
BASE=http://127.0.0.1:$PORT
run_sequence seen "$N"
stats=$(curl -s "$BASE/control/stats")

# Exact agreement per kind, and each kind within 4 sigma (+2) of its rate.
for kind in "${!RATE[@]}"; do
    seen=$(grep -cx "$kind" "$TMP/seen" || true)
    told=$(jq -r ".faults.$kind" <<<"$stats")
    [ "$seen" = "$told" ] || fail "$kind: client saw $seen, /control/stats says $told"
    awk -v n="$N" -v r="${RATE[$kind]}" -v k="$seen" 'BEGIN {
        m = n * r; s = sqrt(n * r * (1 - r)); d = k - m; if (d < 0) d = -d
        exit !(d <= 4 * s + 2) }' || fail "$kind: $seen of $N is far from rate ${RATE[$kind]}"
    [ "$seen" -gt 0 ] || fail "$kind never occurred in $N requests"
    echo "  $kind: $seen (rate ${RATE[$kind]}, expected $(awk -v n="$N" -v r="${RATE[$kind]}" 'BEGIN{print n*r}'))"
done
none=$(grep -cx none "$TMP/seen" || true)
jq -e --argjson n "$N" --argjson ok "$none" \
    '.requests == $n and .faults_total == $n - $ok' <<<"$stats" >/dev/null ||
    fail "stats requests/faults_total disagree: $stats"

# SIGTERM ends the server promptly even with connections held by timeout
# faults, and the stats file equals the last /control/stats counts.
stop_server "$FAULTY"
jq -e --argjson s "$stats" '.faults == $s.faults and .requests == $s.requests' \
    "$TMP/faulty.stats" >/dev/null || fail "stats file differs from /control/stats"

# Same seed, same request sequence: same faults. Another seed: different.
start_server replay --corpus "$D" --fault-seed 77 "${FAULT_ARGS[@]}"
BASE=http://127.0.0.1:$PORT
run_sequence replay 40
cmp -s "$TMP/replay" <(head -40 "$TMP/seen") || fail "fault seed 77 did not replay"
start_server other --corpus "$D" --fault-seed 78 "${FAULT_ARGS[@]}"
BASE=http://127.0.0.1:$PORT
run_sequence other 40
cmp -s "$TMP/other" "$TMP/replay" && fail "fault seeds 77 and 78 gave the same faults"

# --fault-only-clips: every clips request fails, users/followers and
# /control/ never do.
start_server only --corpus "$D" --rate-500 1 --fault-only-clips
O=http://127.0.0.1:$PORT
[ "$(curl -s -o /dev/null -w '%{http_code}' "$O$PATHQ")" = 500 ] || fail "clips not faulted"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$O/helix/users?id=$CH")" = 200 ] ||
    fail "--fault-only-clips faulted /helix/users"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$O/helix/channels/followers?broadcaster_id=$CH")" = 200 ] ||
    fail "--fault-only-clips faulted followers"
start_server all --corpus "$D" --rate-503 1
O=http://127.0.0.1:$PORT
[ "$(curl -s -o /dev/null -w '%{http_code}' "$O/helix/users?id=$CH")" = 503 ] ||
    fail "rate 1 did not fault /helix/users"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$O/control/stats")" = 200 ] ||
    fail "/control/stats was faulted"
[ "$(curl -s "$O/control/stats" | jq .faults.http_503)" = 1 ] || fail "503 count"
echo "PASS: serve faults ($N requests, $none unfaulted)"
