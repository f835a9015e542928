#!/usr/bin/env python3
"""Checks clipbus-rrd's files for rrd_synth's workload with the STOCK
rrdtool programs (fetch, info, lastupdate).

Usage: check_synth.py DIR START SECONDS [--daemon ADDR]

Every expectation is derived from rrd_synth.c's workload description:
  fetch_page   2 calls/s, 0.2 errors/s; durations 1..20 ms per window
               (mean 10.5, p95 19, max 20), doubled from SECONDS/2 on;
               no calls for 60 s from 3600 s in (zero-filled).
  Score.Clip   0.1 calls/s, 5 ms
  clips.processed{source=api}  3/s
  queue.depth  7, then 9 from SECONDS/2
  api.latency_ms  1 sample/s, mean 145, p95 190
Tolerance: 1e-6 relative for exact quantities; percentiles within the
histogram's documented 1/128 relative error (agg.h CB_HIST_REL_ERROR).
Prints one line per failed check and exits 1 if any failed.
"""
import json
import math
import subprocess
import sys

REL_EXACT = 1e-6
REL_PCT = 1.0 / 128 + 1e-9
STEP = 10
PAUSE = (3600, 3660)

failures = []


def fail(msg):
    failures.append(msg)
    if len(failures) <= 30:
        print("FAIL: " + msg)


def rrdtool(args, daemon):
    cmd = ["rrdtool"] + args[:1] + (["--daemon", daemon] if daemon else []) + args[1:]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return out.stdout


def fetch(path, cf, res, start, end, daemon):
    """{end_time: [values]} from `rrdtool fetch` (rows are stamped with
    the END of their step)."""
    text = rrdtool(["fetch", path, cf, "-r", str(res), "-s", str(start),
                    "-e", str(end)], daemon)
    rows = {}
    names = None
    for line in text.splitlines():
        if not line.strip():
            continue
        if names is None:
            names = line.split()
            continue
        t, vals = line.split(":", 1)
        rows[int(t)] = [float(v) for v in vals.split()]
    return names, rows


def close(got, want, rel, what):
    if want is None:
        if not math.isnan(got):
            fail("%s: got %r, want unknown" % (what, got))
        return
    if math.isnan(got) or abs(got - want) > rel * max(abs(want), 1e-12):
        fail("%s: got %r, want %r (rel tol %g)" % (what, got, want, rel))


def check_fetch_page(d, start, seconds, daemon):
    path = d + "/" + index_file(d, "function", "fetch_page")
    names, rows = fetch(path, "AVERAGE", STEP, start, start + seconds, daemon)
    if names != ["calls", "errors", "avg", "p95", "max"]:
        fail("fetch_page DS names %r" % names)
    n = 0
    for t in range(start + STEP, start + seconds + 1, STEP):
        if t not in rows:
            fail("fetch_page: no row at %d" % t)
            continue
        sec = t - STEP - start
        v = rows[t]
        n += 1
        what = "fetch_page @%d (second %d)" % (t, sec)
        if PAUSE[0] <= sec < PAUSE[1]:
            close(v[0], 0.0, REL_EXACT, what + " calls (pause: zero-filled)")
            close(v[1], 0.0, REL_EXACT, what + " errors (pause)")
            close(v[2], None, 0, what + " avg (pause)")
            continue
        f = 2.0 if sec >= seconds // 2 else 1.0
        close(v[0], 2.0, REL_EXACT, what + " calls/s")
        close(v[1], 0.2, REL_EXACT, what + " errors/s")
        close(v[2], 0.0105 * f, REL_EXACT, what + " avg s")
        close(v[3], 0.019 * f, REL_PCT, what + " p95 s")
        close(v[4], 0.020 * f, REL_EXACT, what + " max s")
    if n != seconds // STEP:
        fail("fetch_page: %d rows checked, want %d" % (n, seconds // STEP))
    # The 1-minute archives: AVERAGE and MAX, away from the pause and the
    # change at half time.
    span = min(3000, seconds // 2) // 60 * 60
    _, avg1m = fetch(path, "AVERAGE", 60, start, start + span, daemon)
    _, max1m = fetch(path, "MAX", 60, start, start + span, daemon)
    checked = 0
    for t in range(start + 120, start + span, 60):
        if t in avg1m and t in max1m:
            checked += 1
            close(avg1m[t][0], 2.0, REL_EXACT, "fetch_page 1-min avg calls @%d" % t)
            close(avg1m[t][2], 0.0105, REL_EXACT, "fetch_page 1-min avg @%d" % t)
            close(max1m[t][4], 0.020, REL_EXACT, "fetch_page 1-min MAX max @%d" % t)
    if checked < span // 60 - 3:
        fail("fetch_page: only %d 1-minute rows" % checked)


def check_metrics(d, start, seconds, daemon):
    half = seconds // 2
    p = d + "/" + index_file(d, "function", "Score.Clip")
    _, rows = fetch(p, "AVERAGE", STEP, start, start + seconds, daemon)
    for t in range(start + STEP, start + seconds + 1, STEP):
        v = rows.get(t, [float("nan")] * 5)
        close(v[0], 0.1, REL_EXACT, "Score.Clip calls/s @%d" % t)
        close(v[2], 0.005, REL_EXACT, "Score.Clip avg @%d" % t)
    p = d + "/" + index_file(d, "counter", "clips.processed", "source=api")
    _, rows = fetch(p, "AVERAGE", STEP, start, start + seconds, daemon)
    for t in range(start + STEP, start + seconds + 1, STEP):
        close(rows.get(t, [float("nan")])[0], 3.0, REL_EXACT,
              "clips.processed rate @%d" % t)
    p = d + "/" + index_file(d, "gauge", "queue.depth")
    _, rows = fetch(p, "AVERAGE", STEP, start, start + seconds, daemon)
    for t in range(start + STEP, start + seconds + 1, STEP):
        want = 9.0 if t - STEP - start >= half else 7.0
        close(rows.get(t, [float("nan")])[0], want, REL_EXACT,
              "queue.depth @%d" % t)
    p = d + "/" + index_file(d, "observe", "api.latency_ms")
    _, rows = fetch(p, "AVERAGE", STEP, start, start + seconds, daemon)
    for t in range(start + STEP, start + seconds + 1, STEP):
        v = rows.get(t, [float("nan")] * 3)
        close(v[0], 1.0, REL_EXACT, "api.latency_ms count/s @%d" % t)
        close(v[1], 145.0, REL_EXACT, "api.latency_ms avg @%d" % t)
        close(v[2], 190.0, REL_PCT, "api.latency_ms p95 @%d" % t)


_index = None


def index_file(d, kind, name, labels=""):
    global _index
    if _index is None:
        with open(d + "/index.json") as f:
            _index = json.load(f)
    for e in _index["files"]:
        if e["kind"] == kind and e["name"] == name and e["labels"] == labels:
            return e["file"]
    fail("index.json has no %s %r %r" % (kind, name, labels))
    return "missing.rrd"


def check_info(d, start, seconds, daemon):
    p = d + "/" + index_file(d, "function", "fetch_page")
    info = {}
    for line in rrdtool(["info", p], daemon).splitlines():
        k, _, v = line.partition(" = ")
        info[k] = v
    want = {"step": "10", "ds[calls].type": '"GAUGE"', "ds[p95].type": '"GAUGE"',
            "ds[calls].minimal_heartbeat": "20",
            "rra[0].pdp_per_row": "1", "rra[0].rows": "8640",
            "rra[1].cf": '"AVERAGE"', "rra[1].pdp_per_row": "6",
            "rra[1].rows": "129600", "rra[2].cf": '"MAX"',
            "rra[3].rows": "8784", "rra[5].rows": "1830",
            "last_update": str(start + seconds)}
    for k, v in want.items():
        if info.get(k) != v:
            fail("rrdtool info %s: %s = %r, want %r" % (p, k, info.get(k), v))
    if "rra[7].cf" in info:
        fail("rrdtool info: more than 7 RRAs")
    lu = rrdtool(["lastupdate", p], daemon).split()
    # " calls errors avg p95 max", then "T: v v v v v"
    if lu[:5] != ["calls", "errors", "avg", "p95", "max"] or \
            lu[5] != "%d:" % (start + seconds):
        fail("rrdtool lastupdate: %r" % lu)
    else:
        close(float(lu[6]), 2.0, REL_EXACT, "lastupdate calls")
        close(float(lu[10]), 0.040, REL_EXACT, "lastupdate max")
    sc = index_file(d, "function", "Score.Clip")
    if not (sc.startswith("fn-score_clip-") and sc.endswith(".rrd")
            and len(sc) == len("fn-score_clip-12345678.rrd")):
        fail("Score.Clip file name %r (want fn-score_clip-<8 hex>.rrd)" % sc)


def main():
    d, start, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    daemon = sys.argv[5] if len(sys.argv) > 5 and sys.argv[4] == "--daemon" else None
    check_info(d, start, seconds, daemon)
    check_fetch_page(d, start, seconds, daemon)
    check_metrics(d, start, seconds, daemon)
    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    print("ok: values of %d s of synthetic records match" % seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
