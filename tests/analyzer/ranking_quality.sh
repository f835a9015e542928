#!/bin/sh
# Ranking quality of clip-analyzer on generated corpora (issue 4, tests).
#
# For each seed: clipapi-gen writes a corpus with planted viral clips; the
# analyzer runs once per snapshot (file://, --observed-at of the snapshot)
# against one database; from the last run's --format json ranking this
# computes
#   precision@10  = planted clips among the top 10 / 10
#   recall@2k     = planted clips within the top 2k / k   (k = planted)
# and fails unless both are >= 0.9 for every seed. Nothing is hard-coded:
# the planted list comes from corpus.json.
#
# usage: ranking_quality.sh ANALYZER CLIPAPI_GEN SEED...
set -eu
analyzer=$1 gen=$2
shift 2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
for seed in "$@"; do
    dir=$work/corpus-$seed db=$work/clips-$seed.db
    "$gen" --seed "$seed" --out "$dir" >/dev/null
    snaps=$(jq '.snapshots | length' "$dir/corpus.json")
    k=0
    while [ "$k" -lt "$snaps" ]; do
        at=$(jq -r ".snapshots[$k].observed_at" "$dir/corpus.json")
        snap=$(printf '%s/snap-%03d' "$dir" "$k")
        CLIPBUS_DISABLE=1 "$analyzer" --api "file://$snap" \
            --channels-file "$dir/channels.txt" --db "$db" \
            --observed-at "$at" --format json --top 0 \
            --output "$work/rank-$seed.json"
        k=$((k + 1))
    done
    jq -r '.planted[]' "$dir/corpus.json" | sort >"$work/planted"
    np=$(wc -l <"$work/planted")
    jq -r '.clips[:10][].id' "$work/rank-$seed.json" | sort >"$work/top10"
    jq -r --argjson n $((2 * np)) '.clips[:$n][].id' "$work/rank-$seed.json" |
        sort >"$work/top2k"
    hit10=$(comm -12 "$work/planted" "$work/top10" | wc -l)
    hit2k=$(comm -12 "$work/planted" "$work/top2k" | wc -l)
    p10=$(awk -v h="$hit10" 'BEGIN { printf "%.2f", h / 10 }')
    r2k=$(awk -v h="$hit2k" -v n="$np" 'BEGIN { printf "%.2f", h / n }')
    ok=$(awk -v p="$p10" -v r="$r2k" 'BEGIN { print (p >= 0.9 && r >= 0.9) }')
    echo "seed $seed: planted $np, precision@10 $p10, recall@2k $r2k" \
         "$( [ "$ok" = 1 ] && echo ok || echo FAIL)"
    [ "$ok" = 1 ] || fail=1
done
exit $fail
