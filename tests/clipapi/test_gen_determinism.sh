# clipapi.gen_determinism: the same seed gives a byte-identical corpus, a
# different seed a different one, and --truth agrees with corpus.json.
source "$(dirname "$0")/lib.sh"

tree_sum() {
    (cd "$1" && find . -type f | LC_ALL=C sort | xargs sha256sum | sha256sum)
}

gen_corpus "$TMP/a" --seed 42
gen_corpus "$TMP/b" --seed 42
gen_corpus "$TMP/c" --seed 43
nfiles=$(find "$TMP/a" -type f | wc -l)
[ "$nfiles" -gt 100 ] || fail "only $nfiles files in the corpus"
[ "$(tree_sum "$TMP/a")" = "$(tree_sum "$TMP/b")" ] ||
    fail "seed 42 twice gave different trees: $(diff -rq "$TMP/a" "$TMP/b" | head -3)"
[ "$(tree_sum "$TMP/a")" != "$(tree_sum "$TMP/c")" ] ||
    fail "seeds 42 and 43 gave the same tree"
# Both the file list and the contents differ between seeds.
cmp -s "$TMP/a/corpus.json" "$TMP/c/corpus.json" &&
    fail "seeds 42 and 43 gave the same corpus.json"

# Non-default parameters are deterministic too.
gen_corpus "$TMP/d" --seed 9 --channels 7 --clips-per-channel 150 \
    --snapshots 6 --planted 3 --interval 30m --start 2025-01-02T03:04:05Z
gen_corpus "$TMP/e" --seed 9 --channels 7 --clips-per-channel 150 \
    --snapshots 6 --planted 3 --interval 30m --start 2025-01-02T03:04:05Z
[ "$(tree_sum "$TMP/d")" = "$(tree_sum "$TMP/e")" ] ||
    fail "seed 9 with custom options twice gave different trees"
[ -d "$TMP/d/snap-005" ] && [ ! -d "$TMP/d/snap-006" ] ||
    fail "--snapshots 6 did not give snap-000 .. snap-005"

# --truth prints the planted ids of corpus.json, in order, with or
# without --out.
diff <("$GEN" --seed 42 --truth) <(jq -r '.planted[]' "$TMP/a/corpus.json") ||
    fail "--truth differs from corpus.json planted"
[ "$("$GEN" --seed 42 --truth | wc -l)" -eq 10 ] ||
    fail "--truth did not print 10 ids"
echo "PASS: gen determinism ($nfiles files)"
