"""Four workers behind nginx: a lecture followed by many students, and many sessions playing.

Starts Debian's redis-server, W app.py workers (``--redis`` and ``--message-queue``, 4 by
default) and nginx with deploy/nginx.conf, all on loopback (tests/deploy/procs.py). Clients are
raw websockets multiplexed with ``select`` in this one thread (bench/bench_classroom.py's and
bench/bench_web_sessions.py's clients), each carrying a ``raftviz_route`` cookie chosen so that
they spread evenly over the workers.

1. Lecture: a presenter on worker 1 creates a classroom; S students (``--students``) join
   through nginx, spread over all workers; the presenter sends K commands; for each, the time
   from sending it to the next frame at *every* student. Target: p99 <= 300 ms.
2. Labs: P sessions (``--sessions``) spread over the workers all play at the default speed;
   the deviation of each session's frame intervals from 50 ms. Target: p99 <= 100 ms.

Everything runs on this machine, clients included: with 2 cores the clients and 4 workers
compete for the same CPUs, so the figures are a floor for what the deployment does on real
hardware. Run from the repository root:

    .venv/bin/python -m bench.bench_store_cluster [--workers 4] [--students 1000] \
        [--sessions 400] [--actions 20] [--seconds 15]
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import websocket

from bench.bench_classroom import Client, Student, percentile, pump, read_frames
from bench.bench_web_sessions import TARGET_INTERVAL, RawSession
from tests.deploy.procs import App, Nginx, Redis, route_cookies


def _connect(self: Any, base_url: str, cookie: str) -> None:
    url = base_url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
    self.ws = websocket.create_connection(
        url, timeout=30, header=[f"Cookie: raftviz_route={cookie}"]
    )


ACK = b'431[{"ok":true'  # the acknowledgement of the "play" the session sent


class RoutedClient(Client):
    def __init__(self, base_url: str, auth: dict[str, Any], cookie: str) -> None:
        _connect(self, base_url, cookie)
        assert self.ws.sock is not None
        self.sock = self.ws.sock
        self.ws.recv()
        self.ws.send("40" + json.dumps(auth))
        self.ws.settimeout(None)
        self.frames: list[float] = []
        self.bytes = 0
        self.acks: dict[int, Any] = {}
        self.refused: str | None = None
        self.next_id = 1


class RoutedStudent(Student, RoutedClient):
    def __init__(self, base_url: str, auth: dict[str, Any], cookie: str) -> None:
        RoutedClient.__init__(self, base_url, auth, cookie)
        self.sock.setblocking(False)
        self.tail = b""


class RoutedSession(RawSession):
    """A playing session read as raw bytes (as bench_classroom's students are): through nginx
    several websocket frames often arrive in one read, and websocket-client would keep all but
    the first in its buffer, out of sight of ``select``."""

    MARK = b'42["frame"'

    def __init__(self, base_url: str, cookie: str) -> None:
        _connect(self, base_url, cookie)
        self.ws.recv()
        self.ws.send('40{"session":""}')
        self.arrivals: list[float] = []
        self.frames = 0
        self.bytes = 0
        self.acked = False
        assert self.ws.sock is not None
        self.sock = self.ws.sock
        self.sock.setblocking(False)
        self.tail = b""
        self.before = b""  # the end of the last read, for an acknowledgement split across two

    def on_readable(self) -> None:
        got = read_frames(self)
        if got is None:
            return
        data, found, now = got
        self.frames += found
        self.arrivals.extend([now] * found)
        if not self.acked and ACK in self.before + data:
            self.acked = True
        self.before = data[-(len(ACK) - 1):]


def lecture(url: str, cookies: list[str], students: int, actions: int) -> dict[str, Any]:
    selector = selectors.DefaultSelector()
    host = RoutedClient(url, {"session": ""}, cookies[0])
    selector.register(host.sock, selectors.EVENT_READ, host)
    pump(selector, 2, until=lambda: bool(host.frames))
    ack = host.emit("class_create", {})
    pump(selector, 5, until=lambda: ack in host.acks)
    code = host.acks[ack]["code"]
    pupils = []
    started = time.perf_counter()
    for i in range(students):
        pupil = RoutedStudent(url, {"join": code, "name": f"bench {i}"}, cookies[i % len(cookies)])
        selector.register(pupil.sock, selectors.EVENT_READ, pupil)
        pupils.append(pupil)
        pump(selector, 0.0)
    pump(selector, 120, until=lambda: all(p.frames for p in pupils))
    joined = sum(1 for p in pupils if p.frames)
    join_s = time.perf_counter() - started
    pump(selector, 1.0)
    latencies: list[float] = []
    by_worker: dict[int, list[float]] = {}
    missing = 0
    for i in range(actions):
        marks = [len(p.frames) for p in pupils]
        sent = time.perf_counter()
        host.emit("command", {"command": {"type": "crash" if i % 2 == 0 else "restart",
                                          "node": "n1"}})
        pump(selector, 10, until=lambda m=marks: all(
            len(p.frames) > k for p, k in zip(pupils, m, strict=True)))
        for n, (p, k) in enumerate(zip(pupils, marks, strict=True)):
            if len(p.frames) > k:
                latencies.append((p.frames[k] - sent) * 1000)
                by_worker.setdefault(n % len(cookies), []).append(latencies[-1])
            else:
                missing += 1
        pump(selector, 0.3)
    for client in [host, *pupils]:
        client.ws.close()
    return {
        "students": students, "joined": joined, "join_s": join_s,
        "samples": len(latencies), "missing": missing,
        "p50_ms": statistics.median(latencies), "p99_ms": percentile(latencies, 0.99),
        "max_ms": max(latencies),
        "p99_by_worker": [round(percentile(by_worker.get(w, [0.0]), 0.99))
                          for w in range(len(cookies))],
    }


def labs(url: str, cookies: list[str], sessions: int, seconds: float) -> dict[str, Any]:
    selector = selectors.DefaultSelector()
    clients = []
    for i in range(sessions):
        client = RoutedSession(url, cookies[i % len(cookies)])
        assert client.ws.sock is not None
        selector.register(client.ws.sock, selectors.EVENT_READ, client)
        clients.append(client)
    pump(selector, 1.0)
    for client in clients:
        client.play()
    pump(selector, 5.0)
    playing = sum(c.acked for c in clients)
    for client in clients:
        client.arrivals.clear()
        client.frames = client.bytes = 0
    pump(selector, seconds)
    for client in clients:
        client.ws.close()
    deviations = sorted(
        abs((b - a) - TARGET_INTERVAL) * 1000
        for c in clients for a, b in zip(c.arrivals, c.arrivals[1:], strict=False)
    )
    frames = sum(c.frames for c in clients)
    return {
        "sessions": sessions, "playing": playing,
        "frames_per_s_per_session": frames / sessions / seconds,
        "p50_ms": statistics.median(deviations), "p99_ms": percentile(deviations, 0.99),
        "max_ms": deviations[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--students", type=int, default=1000)
    parser.add_argument("--sessions", type=int, default=400)
    parser.add_argument("--actions", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--nice", type=int, default=0,
                        help="nice value for every process of the trial (e.g. -10; root)")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    env = {"RAFTVIZ_STORE_KEY": "bench"}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        redis = Redis(work)
        workers: list[App] = []
        nginx = None
        try:
            url = redis.url
            per_worker = max(args.sessions // args.workers + 10, 200)
            for i in range(1, args.workers + 1):
                workers.append(App(work, "--redis", url, "--message-queue", url, "--worker",
                                   f"w{i}", "--max-sessions", str(per_worker), name=f"w{i}",
                                   env=env))
            nginx = Nginx(work, [w.port for w in workers])
            if args.nice:
                # On a machine shared with other work: give the trial its share of the CPUs.
                for proc in [redis.proc, nginx.proc, *(w.proc for w in workers)]:
                    if proc is not None:
                        os.setpriority(os.PRIO_PROCESS, proc.pid, args.nice)
                os.setpriority(os.PRIO_PROCESS, 0, args.nice)
            names = [f"w{i}" for i in range(1, args.workers + 1)]
            found = route_cookies(nginx.url, set(names))
            cookies = [found[n] for n in names]
            if args.students:
                r = lecture(nginx.url, cookies, args.students, args.actions)
                print(f"1. lecture: {r['joined']}/{r['students']} students joined over "
                      f"{args.workers} workers in {r['join_s']:.1f} s; presenter command -> "
                      f"frame at every student: p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} "
                      f"ms, max {r['max_ms']:.0f} ms (n={r['samples']}, missing {r['missing']}; "
                      "target p99 <= 300 ms)")
                print("   p99 by the students' worker (w1 holds the presenter): "
                      + ", ".join(f"w{i + 1} {v} ms" for i, v in enumerate(r["p99_by_worker"])))
            if args.sessions:
                r = labs(nginx.url, cookies, args.sessions, args.seconds)
                print(f"2. labs: {r['playing']}/{r['sessions']} sessions playing over "
                      f"{args.workers} workers, {r['frames_per_s_per_session']:.1f} frames/s "
                      f"each; frame interval deviation p50 {r['p50_ms']:.0f} ms, p99 "
                      f"{r['p99_ms']:.0f} ms, max {r['max_ms']:.0f} ms (target p99 <= 100 ms)")
        finally:
            if nginx is not None:
                nginx.stop()
            for app in workers:
                app.stop()
            redis.stop()


if __name__ == "__main__":
    main()
