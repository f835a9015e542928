#!/bin/sh
# Table-driven rule tests through `clipbus-alert test`: for, hysteresis,
# cooldown (flapping), repeat, silences, dynamic baselines, absence,
# producer death. Each cases/*.json (except rules.json) carries its
# expected notifications; bad rules must be refused with exit 2.
set -u
rc=0
for f in "$SRC"/cases/*.json; do
    case $f in */rules.json) continue ;; esac
    if "$ALERT_BIN" test -q "$SRC/cases/rules.json" "$f" 2>/tmp/cba_case_$$; then
        echo "ok   $(basename "$f")"
    else
        echo "FAIL $(basename "$f")"; cat /tmp/cba_case_$$; rc=1
    fi
done
rm -f /tmp/cba_case_$$
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
bad() { # JSON EXPECTED-MESSAGE-FRAGMENT
    printf '%s' "$1" > "$T/bad.json"
    out=$("$ALERT_BIN" check "$T/bad.json" 2>&1); st=$?
    if [ $st -ne 2 ] || ! printf '%s' "$out" | grep -q -- "$2"; then
        echo "FAIL bad rules: exit $st, wanted '$2' in: $out"; rc=1
    else
        echo "ok   refused: $2"
    fi
}
bad '{"alert":{"rules":[{"name":"a","kind":"latency","fire":1,"clear":2}]}}' '$.alert.rules\[0\].clear: 2 contradicts fire 1'
bad '{"alert":{"rules":[{"name":"a","kind":"latency","window":"5x"}]}}' '$.alert.rules\[0\].window: "5x" is not a duration'
bad '{"alert":{"rules":[{"name":"a","kind":"latency","functoin":"x"}]}}' 'functoin'
bad '{"alert":{"rules":[{"name":"a","kind":"latency","summary":"{nope}"}]}}' '$.alert.rules\[0\].summary'
bad '{"alert":{"rules":[{"name":"a","kind":"latency"},{"name":"a","kind":"gauge"}]}}' 'rules\[1\].name: rule name already used'
bad '{"alert":{"routes":[{"channels":["x"]}]}}' 'no channel named "x"'
bad '{"alert":{"channels":[{"name":"m","type":"email","url":"smtp://127.0.0.1:25"}]}}' 'needs a from address'
bad '{"alert":{"rules":[{"name":"a","kind":"latency","threshold":"ratio","fire":3,"window":"1h","baseline":"30m"}]}}' 'baseline longer than'
exit $rc
