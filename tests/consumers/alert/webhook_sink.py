"""A webhook receiver for the clipbus-alert tests (stdlib only).

Binds 127.0.0.1:0, writes its port to PORTFILE, appends each accepted
body as one JSON line to LOG (with "recv_ns", the wall-clock arrival
time). Failure plan, applied to requests in arrival order: the first
--fail N get HTTP 500, the next --r429 N get 429 with Retry-After: 1, the
next --hang N are held for --hang-s seconds and then get 500. With
--seed S, each request fails (500, 429 or hang, chosen by a seeded PRNG)
with probability --p until --random-n requests have been answered.
A file STOPFILE, when it exists, makes every request fail with 503
(receiver "down"). --port P binds that port instead of a free one (a
receiver restarted on the same address after being killed), with
SO_REUSEPORT: the test that kills it holds the port meanwhile with a
bound socket that does not listen, so connections are refused and no
other process (another test's server, say) can take the port.

Usage: webhook_sink.py PORTFILE LOG [options]
"""
import argparse
import json
import os
import random
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ap = argparse.ArgumentParser()
ap.add_argument("portfile")
ap.add_argument("log")
ap.add_argument("--fail", type=int, default=0)
ap.add_argument("--r429", type=int, default=0)
ap.add_argument("--hang", type=int, default=0)
ap.add_argument("--hang-s", type=float, default=3.0)
ap.add_argument("--seed", type=int, default=None)
ap.add_argument("--p", type=float, default=0.5)
ap.add_argument("--random-n", type=int, default=20)
ap.add_argument("--down-file", default=None)
ap.add_argument("--port", type=int, default=0)
a = ap.parse_args()

lock = threading.Lock()
count = [0]
rng = random.Random(a.seed)


def plan():
    with lock:
        n = count[0]
        count[0] += 1
        if a.down_file and os.path.exists(a.down_file):
            return "down"
        if a.seed is not None:
            if n < a.random_n and rng.random() < a.p:
                return rng.choice(["500", "429", "hang"])
            return "ok"
    if n < a.fail:
        return "500"
    n -= a.fail
    if n < a.r429:
        return "429"
    n -= a.r429
    if n < a.hang:
        return "hang"
    return "ok"


class H(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        what = plan()
        if what == "hang":
            time.sleep(a.hang_s)
            what = "500"
        if what == "ok":
            try:
                doc = json.loads(body)
            except ValueError:
                doc = {"unparsable": body.decode("utf-8", "replace")}
            doc["recv_ns"] = time.time_ns()
            doc["auth"] = self.headers.get("Authorization")
            with lock, open(a.log, "a") as f:
                f.write(json.dumps(doc) + "\n")
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")
            return
        code = {"500": 500, "429": 429, "down": 503}[what]
        self.send_response(code)
        if code == 429:
            self.send_header("Retry-After", "1")
        self.end_headers()


class Server(ThreadingHTTPServer):
    allow_reuse_address = True

    def server_bind(self):
        if a.port:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()


srv = Server(("127.0.0.1", a.port), H)
srv.daemon_threads = True
with open(a.portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(a.portfile + ".tmp", a.portfile)
srv.serve_forever()
