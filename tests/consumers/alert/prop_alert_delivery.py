"""Property 8: Alert Delivery Completeness.

Random failure plans at a real webhook receiver on 127.0.0.1
(webhook_sink.py: seeded 500s, 429 with Retry-After, hangs past the
channel timeout; and the receiver killed, so connections are refused,
then restarted on the same port) and random kill -9 / restarts of
clipbus-alert while notifications wait in its outbox. A real producer
(alert_load) makes a number of error episodes, each one a firing and a
resolved notification. After recovery:
  - the file channel (the control) holds exactly the notifications made:
    firing, resolved, firing, resolved ... one pair per episode;
  - the webhook received every one of them at least once, in the same
    order (duplicates only as immediate repeats: at-least-once);
  - the outbox is empty.

Seeded: CB_TEST_SEED (printed, with a replay line, on failure),
CB_TEST_ITERS random plans (default 2). Env: ALERT_BIN, LOAD_BIN, SRC.
"""
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

PY = "/usr/bin/python3"
ALERT = os.environ["ALERT_BIN"]
LOAD = os.environ["LOAD_BIN"]
SRC = os.environ["SRC"]


def env_int(name, dflt):
    v = os.environ.get(name)
    if not v:
        return dflt
    try:
        return int(v, 0)
    except ValueError:
        print("%s=%r is not a number; using %d" % (name, v, dflt),
              file=sys.stderr)
        return dflt


SEED = env_int("CB_TEST_SEED", 0x70726F7038)
ITERS = env_int("CB_TEST_ITERS", 2)


class Fail(Exception):
    pass


def reserve_port():
    """A port of 127.0.0.1 held for the whole run by a socket that is
    bound but never listens (SO_REUSEPORT, as webhook_sink.py --port
    binds it): while the receiver is down, connections are refused, as
    they should be, and the port cannot go to another process. A port
    merely found free and then left unbound could: once another test's
    server took it while the receiver was killed and answered 200, and
    the notifications were "delivered" there (CI, 2026-11-29)."""
    s = socket.socket()
    # Not SO_REUSEADDR: with it on both sockets, Linux lets anyone bind
    # beside a socket that does not listen.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(("127.0.0.1", 0))
    return s


def wait_for(fn, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if fn():
            return True
        time.sleep(0.05)
    return fn()


def read_notes(path):
    """Notifications in a JSON-lines file of webhook bodies, as
    (status, fingerprint, startsAt) per alert, and with consecutive
    duplicates (at-least-once re-deliveries) removed."""
    out = []
    try:
        with open(path) as f:
            lines = f.readlines()
    except FileNotFoundError:
        return [], []
    raw = []
    for line in lines:
        if not line.endswith("\n"):
            continue  # being written
        doc = json.loads(line)
        for a in doc["alerts"]:
            raw.append((a["status"], a["fingerprint"], a["startsAt"]))
    for x in raw:
        if not out or out[-1] != x:
            out.append(x)
    return raw, out


class Run:
    def __init__(self, it):
        self.it = it
        self.rng = random.Random(SEED * 1000003 + it)
        self.dir = tempfile.mkdtemp(prefix="cba_p8_")
        self.bus = "t_alert_p8_%d_%d" % (os.getpid(), it)
        self.hold = reserve_port()
        self.port = self.hold.getsockname()[1]
        self.sink = None
        self.alert = None
        self.plan = []
        self.pending_kills = 0
        self.hook = os.path.join(self.dir, "hook.jsonl")
        self.file = os.path.join(self.dir, "alerts.jsonl")
        self.log = open(os.path.join(self.dir, "alert.log"), "a")
        self.env = dict(os.environ, CLIPBUS_BUS=self.bus)
        self.cfg = os.path.join(self.dir, "cfg.json")
        with open(self.cfg, "w") as f:
            json.dump({"alert": {
                "state_dir": os.path.join(self.dir, "state"),
                "rules": [{"name": "FetchErrors", "kind": "error_count",
                           "match": ["function=fetch_clip"], "window": "1s",
                           "fire": 0, "repeat": "0s", "cooldown": "0s",
                           "summary": "{function}: {value} errors"}],
                "channels": [
                    {"name": "hook", "type": "webhook",
                     "url": "http://127.0.0.1:%d/alerts" % self.port,
                     "timeout": "1s", "backoff": "100ms",
                     "max_backoff": "400ms"},
                    {"name": "log", "type": "file", "path": self.file}]}},
                f)

    def note(self, what):
        self.plan.append(what)

    def start_sink(self):
        p = round(self.rng.uniform(0.2, 0.7), 2)
        n = self.rng.randint(2, 12)
        s = self.rng.randrange(1 << 30)
        self.note("receiver up (p=%.2f of 500/429/hang for %d requests, "
                  "seed %d)" % (p, n, s))
        pf = os.path.join(self.dir, "port")
        if os.path.exists(pf):
            os.unlink(pf)
        for _ in range(50):
            self.sink = subprocess.Popen(
                [PY, os.path.join(SRC, "webhook_sink.py"), pf, self.hook,
                 "--port", str(self.port), "--seed", str(s), "--p", str(p),
                 "--random-n", str(n), "--hang-s", "1.5"],
                stderr=subprocess.DEVNULL)
            if wait_for(lambda: os.path.exists(pf) or
                        self.sink.poll() is not None, 5) and \
                    os.path.exists(pf):
                return
            time.sleep(0.1)  # the port is still in use: retry
        raise Fail("webhook receiver did not start on port %d" % self.port)

    def kill_sink(self):
        self.note("receiver killed (connections refused)")
        self.sink.kill()
        self.sink.wait()
        self.sink = None

    def start_alert(self):
        self.note("clipbus-alert started")
        self.alert = subprocess.Popen([ALERT, "--config", self.cfg],
                                      stdout=self.log, stderr=self.log,
                                      env=self.env)

    def kill_alert(self):
        self.note("clipbus-alert kill -9")
        self.alert.kill()
        self.alert.wait()
        self.alert = None

    def outbox(self):
        try:
            db = sqlite3.connect(os.path.join(self.dir, "state", "alert.db"),
                                 timeout=10)
            n = db.execute("SELECT count(*) FROM outbox").fetchone()[0]
            n += db.execute("SELECT count(*) FROM notes").fetchone()[0]
            db.close()
            return n
        except sqlite3.Error:
            return -1

    def run(self):
        self.start_sink()
        self.start_alert()
        episodes = self.rng.randint(3, 5)
        for ep in range(episodes):
            # the first episode always meets a dead receiver and a kill -9
            # with its notifications in the outbox; later ones at random
            first = ep == 0
            if self.sink is not None and (first or self.rng.random() < 0.3):
                self.kill_sink()
            self.note("episode %d" % ep)
            r = subprocess.run([LOAD, "--seconds", "0.5", "--period-ms", "20",
                                "--fail-after-ms", "100"], env=self.env)
            if r.returncode != 0:
                raise Fail("alert_load exited with %d" % r.returncode)
            # the episode's firing and resolved have been made (the file
            # channel is never down): now the webhook may still owe them
            if not wait_for(lambda: len(read_notes(self.file)[1]) >=
                            2 * (ep + 1), 15):
                raise Fail("episode %d: the file channel has %d of %d "
                           "notifications" % (ep, len(read_notes(
                               self.file)[1]), 2 * (ep + 1)))
            if first or self.rng.random() < 0.6:
                time.sleep(self.rng.uniform(0, 0.7))
                pending = self.outbox()
                self.pending_kills += pending > 0
                self.kill_alert()
                self.note("(%d pending)" % pending)
                time.sleep(self.rng.uniform(0, 0.5))
                self.start_alert()
            if self.sink is None and self.rng.random() < 0.5:
                self.start_sink()
        # recovery
        if self.sink is None:
            self.start_sink()
        want = 2 * episodes
        ok = wait_for(lambda: len(read_notes(self.hook)[1]) >= want and
                      self.outbox() == 0, 40)
        time.sleep(0.3)
        _, fnotes = read_notes(self.file)
        hraw, hnotes = read_notes(self.hook)
        statuses = [s for s, _, _ in fnotes]
        if statuses != ["firing", "resolved"] * episodes:
            raise Fail("the file channel holds %s, expected %d firing/"
                       "resolved pairs" % (statuses, episodes))
        if not ok:
            raise Fail("not delivered after recovery: webhook %d of %d, "
                       "outbox %d" % (len(hnotes), want, self.outbox()))
        if hnotes != fnotes:
            raise Fail("webhook order/content differs from what was made:"
                       "\n  made:     %s\n  received: %s" % (fnotes, hnotes))
        self.alert.send_signal(signal.SIGTERM)
        if self.alert.wait(10) != 0:
            raise Fail("clipbus-alert exit status %d on SIGTERM" %
                       self.alert.returncode)
        self.alert = None
        if self.pending_kills == 0:
            raise Fail("no kill -9 found notifications pending: a weak plan")
        return episodes, len(hraw) - len(hnotes), self.pending_kills

    def cleanup(self):
        for p in (self.alert, self.sink):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
        self.log.close()
        self.hold.close()
        for name in os.listdir("/dev/shm"):
            if ("." + self.bus + ".") in name:
                try:
                    os.unlink(os.path.join("/dev/shm", name))
                except OSError:
                    pass
        shutil.rmtree(self.dir, ignore_errors=True)


def main():
    total = dups = kills = 0
    for it in range(ITERS):
        r = Run(it)
        try:
            n, d, k = r.run()
            total += n
            dups += d
            kills += k
        except (Fail, subprocess.SubprocessError, OSError) as e:
            print("FAIL Property 8: Alert Delivery Completeness (seed 0x%x, "
                  "iteration %d): %s" % (SEED, it, e))
            print("  plan: " + "; ".join(r.plan))
            try:
                with open(os.path.join(r.dir, "alert.log")) as f:
                    print("  alert log (end):\n    " +
                          "    ".join(f.readlines()[-15:]))
            except OSError:
                pass
            print("  replay: CB_TEST_SEED=0x%x CB_TEST_ITERS=%d"
                  % (SEED, it + 1))
            r.cleanup()
            return 1
        r.cleanup()
    print("Property 8: Alert Delivery Completeness: %d plans, %d episodes, "
          "%d kill -9 with notifications pending; every notification "
          "delivered in order (%d re-deliveries) (seed 0x%x)"
          % (ITERS, total, kills, dups, SEED))
    return 0


sys.exit(main())
