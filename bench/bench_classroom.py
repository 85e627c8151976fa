"""One presenter and 200 students in one classroom: action-to-student latency and server memory.

Starts the real server (``app.py``, default async mode) on loopback. A presenter connects,
creates a classroom (``class_create``), then N students (200 by default) join with the code
(``auth: {join: code}``), each over its own websocket. Then:

- latency: the presenter sends K commands (crash / restart a node, one every 200 ms); for each
  one, the time from sending it to the arrival of the next ``frame`` at each student (p50, p99,
  max over all student x action pairs; target p99 <= 250 ms);
- playback: the presenter plays the cluster for a few seconds; frames per second per student
  and the server's CPU (1.0 = one core);
- memory: the server's RSS before the classroom, after the students joined, and the
  difference per student.

The client side is one thread speaking raw Engine.IO / Socket.IO over websocket-client
sockets multiplexed with ``select`` (as bench/bench_web_sessions.py does): 200 python-socketio
``Client`` objects would need 400+ threads and measure the client's scheduling more than the
server. Everything is bounded in time; it stops by itself.

Run from the repository root:

    .venv/bin/python -m bench.bench_classroom [--students 200] [--actions 30] [--play 5] \
        [--nice -10]
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import statistics
import time
import urllib.request
from typing import Any

import websocket

from tests.live_server import live_server

DEADLINE = 120.0  # seconds for the whole run, whatever happens


class Client:
    """One Socket.IO connection over a raw websocket; times each ``frame`` it receives."""

    def __init__(self, base_url: str, auth: dict[str, Any]) -> None:
        url = base_url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
        self.ws = websocket.create_connection(url, timeout=10)
        assert self.ws.sock is not None
        self.sock = self.ws.sock
        self.ws.recv()  # Engine.IO "open"
        self.ws.send("40" + json.dumps(auth))
        # Blocking reads after select: with a timeout websocket-client polls before every read.
        self.ws.settimeout(None)
        self.frames: list[float] = []
        self.bytes = 0
        self.acks: dict[int, Any] = {}
        self.refused: str | None = None
        self.next_id = 1

    def emit(self, event: str, payload: dict[str, Any]) -> int:
        ack_id = self.next_id
        self.next_id += 1
        self.ws.send(f"42{ack_id}" + json.dumps([event, payload]))
        return ack_id

    def on_readable(self) -> None:
        message = self.ws.recv()
        now = time.perf_counter()
        if isinstance(message, bytes):
            return
        if message == "2":
            self.ws.send("3")  # Engine.IO ping -> pong
        elif message.startswith('42["frame"'):
            self.frames.append(now)
            self.bytes += len(message)
        elif message.startswith("43"):
            digits = message[2:].split("[", 1)[0]
            self.acks[int(digits)] = json.loads(message[2 + len(digits):])[0]
        elif message.startswith("44"):
            self.refused = message[2:]


class Student(Client):
    """A student: after the handshake, raw socket reads that only count ``frame`` messages.

    Server-to-client websocket frames are unmasked, so each Socket.IO ``frame`` event shows
    up in the byte stream as ``42["frame"``; counting that marker (one ``recv`` per readable
    socket, no parsing) keeps this one-thread client ahead of the server it measures.
    """

    MARK = b'42["frame"'

    def __init__(self, base_url: str, auth: dict[str, Any]) -> None:
        super().__init__(base_url, auth)
        self.sock.setblocking(False)
        self.tail = b""

    def on_readable(self) -> None:
        got = read_frames(self)
        if got is not None:
            self.frames.extend([got[2]] * got[1])


def read_frames(client: Any) -> tuple[bytes, int, float] | None:
    """One non-blocking read of a raw client (``sock``, ``ws``, ``tail``, ``bytes``, ``MARK``):
    (the bytes read, ``frame`` messages begun in them, when); None when nothing was ready.

    The last ``len(MARK) - 1`` bytes carry over, so a marker split between two reads is found
    once and never twice. An Engine.IO ping (text frame "2") is answered with a pong.
    """
    try:
        data: bytes = client.sock.recv(1 << 20)
    except BlockingIOError:
        return None
    now = time.perf_counter()
    chunk = client.tail + data
    client.tail = chunk[-(len(client.MARK) - 1):]
    client.bytes += len(data)
    if b"\x81\x012" in data:
        client.ws.send("3")
    return data, chunk.count(client.MARK), now


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pump(selector: selectors.BaseSelector, seconds: float, until: Any = None) -> None:
    deadline = time.perf_counter() + seconds
    while (left := deadline - time.perf_counter()) > 0:
        for key, _ in selector.select(timeout=min(left, 0.05)):
            key.data.on_readable()
        if until is not None and until():
            return


def health(url: str) -> dict[str, int]:
    with urllib.request.urlopen(url + "/healthz", timeout=10) as response:
        data: dict[str, int] = json.load(response)["playback"]
        return data


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def run(students: int, actions: int, play: float, nice: int = 0) -> dict[str, Any]:
    started = time.monotonic()
    with live_server() as (url, proc):
        if nice:
            # On a machine shared with other work: give the server (and this client, which
            # must keep up with reading 200 sockets) their share of the CPUs.
            os.setpriority(os.PRIO_PROCESS, proc.pid, nice)
            os.setpriority(os.PRIO_PROCESS, 0, nice)
        selector = selectors.DefaultSelector()
        host = Client(url, {"session": ""})
        selector.register(host.sock, selectors.EVENT_READ, host)
        pump(selector, 0.5, until=lambda: bool(host.frames))
        rss_before = rss_kib(proc.pid)
        ack = host.emit("class_create", {})
        pump(selector, 5, until=lambda: ack in host.acks)
        created = host.acks[ack]
        assert created.get("ok"), created
        code = created["code"]

        joined_at = time.perf_counter()
        pupils = []
        for i in range(students):
            pupil = Student(url, {"join": code, "name": f"bench {i}"})
            selector.register(pupil.sock, selectors.EVENT_READ, pupil)
            pupils.append(pupil)
            pump(selector, 0.0)
        pump(selector, 30, until=lambda: all(p.frames for p in pupils))
        join_s = time.perf_counter() - joined_at
        assert all(p.frames for p in pupils), "every student should get a full frame"
        pump(selector, 1.0)
        rss_after = rss_kib(proc.pid)

        # Latency: presenter command -> next frame at each student.
        latencies: list[float] = []
        for i in range(actions):
            if time.monotonic() - started > DEADLINE:
                break
            marks = [len(p.frames) for p in pupils]
            sent = time.perf_counter()
            kind = "crash" if i % 2 == 0 else "restart"
            host.emit("command", {"command": {"type": kind, "node": "n1"}})
            pump(selector, 5, until=lambda m=marks: all(
                len(p.frames) > k for p, k in zip(pupils, m, strict=True)))
            for p, k in zip(pupils, marks, strict=True):
                if len(p.frames) > k:
                    latencies.append((p.frames[k] - sent) * 1000)
            pump(selector, 0.2)

        # Playback: the students get the presenter's frames at the playback rate.
        counts = [len(p.frames) for p in pupils]
        host_count = len(host.frames)
        host.emit("player", {"action": "play"})
        before = health(url)
        cpu0, wall0, own0 = cpu_seconds(proc.pid), time.perf_counter(), time.process_time()
        pump(selector, play)
        cpu1, wall1, own1 = cpu_seconds(proc.pid), time.perf_counter(), time.process_time()
        after = health(url)
        host.emit("player", {"action": "pause"})
        per_student = [len(p.frames) - c for p, c in zip(pupils, counts, strict=True)]
        host_fps = (len(host.frames) - host_count) / (wall1 - wall0)
        pump(selector, 0.3)
        mean_bytes = sum(p.bytes for p in pupils) / max(sum(len(p.frames) for p in pupils), 1)
        for client in [host, *pupils]:
            client.ws.close()

    return {
        "students": students,
        "join_s": join_s,
        "latency_n": len(latencies),
        "expected_n": actions * students,
        "latency_p50_ms": statistics.median(latencies),
        "latency_p99_ms": percentile(latencies, 0.99),
        "latency_max_ms": max(latencies),
        "play_s": wall1 - wall0,
        "frames_per_s_per_student": statistics.mean(per_student) / (wall1 - wall0),
        "frames_per_s_presenter": host_fps,
        "ticks": after["ticks"] - before["ticks"],
        "late_ticks": after["late_ticks"] - before["late_ticks"],
        "behind": after["behind"] - before["behind"],
        "server_cpu_cores": (cpu1 - cpu0) / (wall1 - wall0),
        "client_cpu_cores": (own1 - own0) / (wall1 - wall0),
        "mean_frame_bytes": mean_bytes,
        "rss_before_mib": rss_before / 1024,
        "rss_after_mib": rss_after / 1024,
        "rss_per_student_kib": (rss_after - rss_before) / students,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--actions", type=int, default=30)
    parser.add_argument("--play", type=float, default=5.0, help="seconds of playback")
    parser.add_argument(
        "--nice", type=int, default=0,
        help="nice value for the server and this client (e.g. -10 on a busy machine; "
        "negative needs root)",
    )
    args = parser.parse_args()
    load = os.getloadavg()[0]
    r = run(args.students, args.actions, args.play, args.nice)
    print(f"classroom: 1 presenter, {r['students']} students "
          f"({os.cpu_count()} CPUs, load average {load:.1f} before the run)")
    print(f"  all students joined and got a full frame in {r['join_s']:.2f} s")
    print(f"  presenter command -> frame at each student ({r['latency_n']} of "
          f"{r['expected_n']} measured): p50 {r['latency_p50_ms']:.1f} ms, "
          f"p99 {r['latency_p99_ms']:.1f} ms (target <= 250), max {r['latency_max_ms']:.1f} ms")
    print(f"  playing for {r['play_s']:.1f} s: {r['frames_per_s_per_student']:.1f} frames/s "
          f"per student, {r['frames_per_s_presenter']:.1f} at the presenter (target 20), "
          f"server CPU {r['server_cpu_cores']:.2f} cores "
          f"(this client {r['client_cpu_cores']:.2f}), "
          f"mean frame {r['mean_frame_bytes']:.0f} bytes; server ticks {r['ticks']} "
          f"({r['late_ticks']} late, {r['behind']} visits cut short)")
    print(f"  server RSS: {r['rss_before_mib']:.1f} MiB before the classroom, "
          f"{r['rss_after_mib']:.1f} MiB with {r['students']} students "
          f"({r['rss_per_student_kib']:.0f} KiB per student)")


if __name__ == "__main__":
    main()
