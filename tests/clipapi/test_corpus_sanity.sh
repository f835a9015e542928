# clipapi.corpus_sanity: the generated corpus has the promised shape:
# Helix fields, page sizes, cursor chains, clip counts, monotone views,
# no clip before its creation, planted clips that exist and outgrow their
# channel, sizes spanning small to huge channels, tricky titles.
source "$(dirname "$0")/lib.sh"

D=$TMP/corpus
gen_corpus "$D" --seed 11
S=$(jq '.snapshots | length' "$D/corpus.json")
LAST=$(printf %03d $((S - 1)))
[ "$S" -eq 4 ] || fail "expected 4 snapshots, got $S"

# Channels: 40, ids match channels.txt, sizes heavy-tailed and spread.
jq -e '.channels | length == 40' "$D/corpus.json" >/dev/null ||
    fail "expected 40 channels"
diff <(jq -r '.channels[].id' "$D/corpus.json") "$D/channels.txt" >/dev/null ||
    fail "channels.txt differs from corpus.json"
jq -e '[.channels[].follower_count] | (min < 1000) and (max > 1000000)
       and (sort | .[length/2|floor] < 20000)' "$D/corpus.json" >/dev/null ||
    fail "follower counts do not span small to huge with a heavy tail"

# Every page: at most 100 clips, exactly the Helix clip fields, a
# cursor to page n+1 exactly when that file exists, views not increasing.
HELIX='["id","url","embed_url","broadcaster_id","broadcaster_name","creator_id","creator_name","video_id","game_id","language","title","view_count","created_at","thumbnail_url","duration","vod_offset","is_featured"]'
# One jq pass over all pages prints: file, verdict or cursor, first and
# last view count; the loop then checks the cursor chain and the view order
# across pages.
find "$D" -path '*/clips/*/page-*.json' -print0 |
    xargs -0 jq -r --argjson keys "$HELIX" '[input_filename,
        (if (.data | length) > 100 then "too-many-clips"
         elif (.data | all(keys_unsorted == $keys) | not) then "bad-keys"
         elif ([.data[].view_count] | . != (sort | reverse)) then "not-in-view-order"
         else (.pagination.cursor // "none") end),
        (.data[0].view_count // -1), (.data[-1].view_count // -1)] | @tsv' \
    >"$TMP/pages.tsv"
multi=0
while IFS=$'\t' read -r f verdict first last; do
    n=${f##*/page-}
    n=${n%.json}
    next=${f%/page-*}/page-$((n + 1)).json
    case $verdict in
    "page-$((n + 1))")
        [ -f "$next" ] || fail "$f: cursor to a missing $next"
        read -r nfirst < <(jq '.data[0].view_count' "$next")
        [ "$nfirst" -le "$last" ] || fail "$next: views above the previous page's"
        multi=$((multi + 1)) ;;
    none) [ ! -f "$next" ] || fail "$f: no cursor, but $next exists" ;;
    *) fail "$f: $verdict" ;;
    esac
done <"$TMP/pages.tsv"
[ "$(grep -c $'/page-1.json\t' "$TMP/pages.tsv")" -eq $((40 * S)) ] ||
    fail "not every channel has page-1.json in every snapshot"
[ "$multi" -ge 4 ] || fail "only $multi pages with a next page; some channels must need several"

# Per snapshot: an id -> {views, created} map and the observation time.
for k in $(seq 0 $((S - 1))); do
    kk=$(printf %03d "$k")
    at=$(jq -r ".snapshots[$k].observed_at" "$D/corpus.json")
    find "$D/snap-$kk/clips" -name 'page-*.json' -print0 |
        xargs -0 jq -c '.data[] | {id, view_count, created_at}' |
        jq -s --arg at "$at" '
            if any(.[]; .created_at > $at) then error("clip after observed_at")
            elif any(.[]; .view_count < 1) then error("a view count below 1")
            else map({key: .id, value: .view_count}) | from_entries end' \
            >"$TMP/views.$k.json" ||
        fail "snapshot $k shows a clip created after $at or with no views"
done

# Clip count: every clip is visible at the last snapshot, once.
jq -e --slurpfile c "$D/corpus.json" 'length == $c[0].clip_count' \
    "$TMP/views.$((S - 1)).json" >/dev/null || fail "clip_count mismatch"
[ "$(find "$D/snap-$LAST/clips" -name 'page-*.json' -print0 |
    xargs -0 jq -r '.data[].id' | sort | uniq -d | wc -l)" -eq 0 ] ||
    fail "a clip appears twice in one snapshot"
# Some clips appear only after snapshot 0.
jq -e -n --slurpfile a "$TMP/views.0.json" --slurpfile b "$TMP/views.$((S - 1)).json" \
    '($b[0] | length) > ($a[0] | length)' >/dev/null ||
    fail "no clip is created between snapshots"

# Monotone views: a clip seen at k-1 is seen at k with at least as many.
for k in $(seq 1 $((S - 1))); do
    jq -e -n --slurpfile a "$TMP/views.$((k - 1)).json" \
        --slurpfile b "$TMP/views.$k.json" \
        '$a[0] | to_entries | all(.value <= ($b[0][.key] // -1))' >/dev/null ||
        fail "views decrease or a clip vanishes between snapshots $((k - 1)) and $k"
done

# Planted: 10 ids, all present from snapshot 0, spread over tiers, and each
# gains views over the last interval at least 4x faster than the median
# clip of its channel.
jq -e '(.planted | length == 10) and
       ([.planted_detail[].channel_tier] | unique == ["large","medium","small"])' \
    "$D/corpus.json" >/dev/null || fail "planted list or tier spread wrong"
for id in $(jq -r '.planted[]' "$D/corpus.json"); do
    jq -e --arg id "$id" 'has($id)' "$TMP/views.0.json" >/dev/null ||
        fail "planted $id missing at snapshot 0"
    ch=$(jq -r --arg id "$id" '.planted_detail[] | select(.id == $id) | .broadcaster_id' "$D/corpus.json")
    jq -s -e -n --arg id "$id" \
        --slurpfile a "$TMP/views.$((S - 2)).json" \
        --slurpfile b "$TMP/views.$((S - 1)).json" \
        --slurpfile ch <(jq -s '[.[].data[].id]' "$D/snap-$LAST/clips/$ch"/page-*.json) '
        def inc($i): ($b[0][$i] - ($a[0][$i] // 0));
        ($ch[0] | map(inc(.)) | sort | .[length/2|floor]) as $med
        | inc($id) >= 4 * ([$med, 1] | max)' >/dev/null ||
        fail "planted $id does not outgrow its channel $ch"
done

# Titles: non-ASCII UTF-8, double quotes and backslashes occur.
find "$D/snap-$LAST/clips" -name 'page-*.json' -print0 |
    xargs -0 jq -r '.data[].title' >"$TMP/titles"
grep -qP '[^\x00-\x7f]' "$TMP/titles" || fail "no non-ASCII title"
grep -q '"' "$TMP/titles" || fail "no title with a double quote"
grep -qF '\' "$TMP/titles" || fail "no title with a backslash"

# Users and followers agree with corpus.json.
for id in $(head -5 "$D/channels.txt"); do
    want=$(jq --arg id "$id" '.channels[] | select(.id == $id) | .follower_count' "$D/corpus.json")
    jq -e --argjson n "$want" '.total == $n and .data == [] and .pagination == {}' \
        "$D/snap-000/followers/$id.json" >/dev/null || fail "followers of $id"
    jq -e --arg id "$id" '.data | length == 1 and .[0].id == $id and
        (.[0] | keys_unsorted) == ["id","login","display_name","type",
        "broadcaster_type","description","profile_image_url",
        "offline_image_url","view_count","created_at"]' \
        "$D/snap-000/users/$id.json" >/dev/null || fail "users file of $id"
done
echo "PASS: corpus sanity ($multi continued pages)"
