"""Many sessions playing at once in one server process: server CPU and frame timing.

Starts the real server (``app.py``, default async mode) on loopback, opens N sessions (100 by
default), each over its own websocket, sets every one playing at the default speed, and for a
fixed window measures:

- the server's CPU use (user + system time of its process / wall time; 1.0 = one core),
- how far apart consecutive frames of a session arrive, as the deviation from the 50 ms target
  (p50, p99, max), and frames per second per session.

The client side is deliberately light so that it does not steal the machine from the server:
one thread, raw websockets multiplexed with ``select``, speaking just enough Engine.IO /
Socket.IO to connect, answer pings and time the arrival of each ``frame`` (not parsing it).
Targets: CPU under one core, p99 deviation at most 100 ms. Stops by itself.

Run from the repository root:

    .venv/bin/python -m bench.bench_web_sessions [--sessions 100] [--seconds 20] [--nice -10]

``RAFTVIZ_FLAGS="--async-mode threading"`` passes flags to app.py.
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

TARGET_INTERVAL = 0.050
# Extra app.py flags, e.g. RAFTVIZ_FLAGS="--async-mode threading".
EXTRA = os.environ.get("RAFTVIZ_FLAGS", "").split()


class RawSession:
    """One Socket.IO connection over a raw websocket: connect, play, time frames."""

    def __init__(self, base_url: str) -> None:
        url = base_url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
        # Without wsaccel, websocket-client checks UTF-8 byte by byte in Python: at 2000 frames
        # a second that alone needs more than a core, and the server's frames queue up unread.
        self.ws = websocket.create_connection(url, timeout=10, skip_utf8_validation=True)
        self.ws.recv()  # Engine.IO "open"
        self.ws.send('40{"session":""}')
        self.arrivals: list[float] = []
        self.frames = 0
        self.bytes = 0
        self.acked = False

    def play(self) -> None:
        self.ws.send('421["player",{"action":"play"}]')

    def on_readable(self) -> None:
        message = self.ws.recv()
        now = time.perf_counter()
        if isinstance(message, bytes):
            return
        if message == "2":
            self.ws.send("3")  # Engine.IO ping -> pong
        elif message.startswith('42["frame"'):
            self.frames += 1
            self.bytes += len(message)
            self.arrivals.append(now)
        elif message.startswith("431"):
            self.acked = json.loads(message[3:])[0].get("ok") is True


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _health(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + "/healthz", timeout=10) as response:
        data: dict[str, Any] = json.load(response)
        return data


def _pump(selector: selectors.BaseSelector, seconds: float) -> None:
    deadline = time.perf_counter() + seconds
    while (left := deadline - time.perf_counter()) > 0:
        for key, _ in selector.select(timeout=min(left, 0.1)):
            key.data.on_readable()


def run(sessions: int, seconds: float, warmup: float, nice: int = 0) -> dict[str, float]:
    with live_server("--max-sessions", str(max(sessions, 200)), *EXTRA) as (url, proc):
        if nice:
            # On a machine shared with other work: give the server (and this client, which
            # must keep up with reading) their share of the CPUs.
            os.setpriority(os.PRIO_PROCESS, proc.pid, nice)
            os.setpriority(os.PRIO_PROCESS, 0, nice)
        selector = selectors.DefaultSelector()
        clients = []
        for _ in range(sessions):
            client = RawSession(url)
            assert client.ws.sock is not None
            selector.register(client.ws.sock, selectors.EVENT_READ, client)
            clients.append(client)
        _pump(selector, 0.5)
        for client in clients:
            client.play()
        _pump(selector, warmup)
        assert all(c.acked for c in clients), "every session should be playing"
        for client in clients:
            client.arrivals.clear()
            client.frames = client.bytes = 0
        before = _health(url)["playback"]
        cpu0, wall0 = _cpu_seconds(proc.pid), time.perf_counter()
        client0 = time.process_time()
        _pump(selector, seconds)
        cpu1, wall1 = _cpu_seconds(proc.pid), time.perf_counter()
        client_cpu = time.process_time() - client0
        after = _health(url)["playback"]
        for client in clients:
            client.ws.close()

    deviations = [
        abs((b - a) - TARGET_INTERVAL) * 1000
        for c in clients
        for a, b in zip(c.arrivals, c.arrivals[1:], strict=False)
    ]
    deviations.sort()
    frames = sum(c.frames for c in clients)
    sent = after["frames"] - before["frames"]
    return {
        "server_frames_per_s": sent / (wall1 - wall0),
        "cpu_ms_per_frame": (cpu1 - cpu0) / max(sent, 1) * 1000,
        "late_ticks": after["late_ticks"] - before["late_ticks"],
        "ticks": after["ticks"] - before["ticks"],
        "sessions": sessions,
        "window_s": wall1 - wall0,
        "server_cpu_cores": (cpu1 - cpu0) / (wall1 - wall0),
        "client_cpu_cores": client_cpu / (wall1 - wall0),
        "frames_per_s_per_session": frames / sessions / (wall1 - wall0),
        "mean_frame_bytes": sum(c.bytes for c in clients) / max(frames, 1),
        "deviation_p50_ms": statistics.median(deviations),
        "deviation_p99_ms": deviations[int(len(deviations) * 0.99)],
        "deviation_max_ms": deviations[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20.0, help="measuring window")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="nice value for the server (e.g. -10 on a busy machine; negative needs root)",
    )
    args = parser.parse_args()
    load = os.getloadavg()[0]
    result = run(args.sessions, args.seconds, args.warmup, args.nice)
    print(
        f"{result['sessions']} sessions playing at the default speed "
        f"for {result['window_s']:.1f} s"
    )
    print(f"  machine: {os.cpu_count()} CPUs, load average {load:.1f} before the run")
    print(f"  server CPU:            {result['server_cpu_cores']:.2f} cores (target < 1)")
    print(f"  benchmark client CPU:  {result['client_cpu_cores']:.2f} cores (reading the frames)")
    print(f"  frames/s per session:  {result['frames_per_s_per_session']:.1f} (target 20)")
    print(
        f"  server side: {result['server_frames_per_s']:.0f} frames/s sent, "
        f"{result['cpu_ms_per_frame']:.2f} ms of CPU per frame, "
        f"{result['late_ticks']:.0f} of {result['ticks']:.0f} ticks late"
    )
    print(f"  mean frame size:       {result['mean_frame_bytes']:.0f} bytes")
    print(
        f"  frame interval deviation from 50 ms: p50 {result['deviation_p50_ms']:.1f} ms, "
        f"p99 {result['deviation_p99_ms']:.1f} ms (target <= 100), "
        f"max {result['deviation_max_ms']:.1f} ms"
    )


if __name__ == "__main__":
    main()
