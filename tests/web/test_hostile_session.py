"""A hostile session cannot freeze the server or delay other sessions' frames (issue 13).

Starts the real server (``app.py``, eventlet, the default) in a subprocess. Four well-behaved
sessions play at the default speed while a hostile session tries what issue 13 found, then the
heaviest work the limits allow: the cluster that costs most per simulated millisecond (9
nodes, 1 ms heartbeats, 0.1 ms links, a workload of 1000 operations/s) played at full speed
(playback, under its CPU budget per tick), then advanced by 60 s in one request (a worker
thread, under its work budget). The well-behaved sessions' frames must
keep to the target of bench/bench_web_sessions.py (interval deviation p99 <= 100 ms) and
``/healthz`` must answer promptly.

The client side is one thread multiplexing raw websockets, like the benchmark, so that it does
not compete with the server for the interpreter.
"""

from __future__ import annotations

import json
import os
import selectors
import time
import urllib.request
from typing import Any

import pytest
import websocket

from tests.live_server import live_server

pytestmark = pytest.mark.slow

TARGET_INTERVAL = 0.050
P99_TARGET_MS = 100.0
MIN_FPS = 15.0
BASELINE = 4.0
WINDOW = 6.0

HEAVIEST = {
    "size": 9,
    "settings": {"heartbeat_interval": 1, "election_timeout_min": 10, "election_timeout_max": 10},
    "network": {"latency_min": 0.1, "latency_max": 0.1},
    "clients": {"attempt_timeout": 1, "retry_delay": 1},
}


class RawSession:
    """One Socket.IO connection over a raw websocket: events with acks, frame arrival times."""

    def __init__(self, base_url: str) -> None:
        url = base_url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
        self.ws = websocket.create_connection(url, timeout=10)
        self.ws.recv()  # Engine.IO "open"
        self.ws.send('40{"session":""}')
        self.arrivals: list[float] = []
        self.acks: dict[int, Any] = {}
        self.sent: dict[int, float] = {}
        self.ack_times: dict[int, float] = {}
        self.next_id = 1

    def emit(self, event: str, payload: dict[str, Any]) -> int:
        ack_id = self.next_id
        self.next_id += 1
        self.sent[ack_id] = time.perf_counter()
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
            self.arrivals.append(now)
        elif message.startswith("43"):
            digits = len(message) - len(message[2:].lstrip("0123456789"))
            ack_id = int(message[2:digits])
            self.acks[ack_id] = json.loads(message[digits:])[0]
            self.ack_times[ack_id] = now - self.sent[ack_id]


def _pump(selector: selectors.BaseSelector, seconds: float) -> None:
    deadline = time.perf_counter() + seconds
    while (left := deadline - time.perf_counter()) > 0:
        for key, _ in selector.select(timeout=min(left, 0.05)):
            key.data.on_readable()


def _until_acked(selector: selectors.BaseSelector, page: RawSession, ack_id: int) -> Any:
    deadline = time.perf_counter() + 15
    while ack_id not in page.acks:
        assert time.perf_counter() < deadline, "no acknowledgement"
        _pump(selector, 0.02)
    return page.acks[ack_id]


def _healthz(url: str) -> float:
    start = time.perf_counter()
    with urllib.request.urlopen(url + "/healthz", timeout=10) as response:
        assert json.load(response)["ok"] is True
    return time.perf_counter() - start


def _measure(
    selector: selectors.BaseSelector, url: str, victims: list[RawSession], seconds: float
) -> tuple[float, float, float]:
    """Pump for ``seconds`` (checking /healthz each second): the slowest victim's frames per
    second, the p99 of frame interval deviations (ms) and the slowest /healthz (s)."""
    for page in victims:
        page.arrivals.clear()
    started = time.perf_counter()
    health = []
    while (left := seconds - (time.perf_counter() - started)) > 0:
        _pump(selector, min(1.0, left))
        health.append(_healthz(url))
    deviations = sorted(
        abs((b - a) - TARGET_INTERVAL) * 1000
        for page in victims
        for a, b in zip(page.arrivals, page.arrivals[1:], strict=False)
    )
    frames_per_s = min(len(page.arrivals) for page in victims) / seconds
    return frames_per_s, deviations[int(len(deviations) * 0.99)], max(health)


def _favour(pid: int) -> None:
    """On a machine shared with other work, give the server and this client their share of the
    CPUs (like ``bench_web_sessions.py --nice -10``); without the privilege, carry on."""
    for who in (pid, 0):
        try:
            os.setpriority(os.PRIO_PROCESS, who, -10)
        except OSError:
            return


def test_a_hostile_session_does_not_delay_other_sessions_frames() -> None:
    with live_server() as (url, proc):
        _favour(proc.pid)
        selector = selectors.DefaultSelector()
        pages = []
        for _ in range(5):
            page = RawSession(url)
            assert page.ws.sock is not None
            selector.register(page.ws.sock, selectors.EVENT_READ, page)
            pages.append(page)
        victims, hostile = pages[:4], pages[4]
        _pump(selector, 0.5)
        for page in victims:
            page.emit("player", {"action": "play"})
        _pump(selector, 1.0)
        quiet = _measure(selector, url, victims, BASELINE)

        # Issue 13's freeze: refused, naming the field and its range.
        answer = _until_acked(
            selector,
            hostile,
            hostile.emit("reset", {"config": {"clients": {"attempt_timeout": 0}}}),
        )
        assert answer["ok"] is False
        assert "config.clients.attempt_timeout must be a number within 1..600000 ms" in (
            answer["error"]
        )
        write = {"command": {"type": "client", "op": "set", "key": "x", "value": "1"}}
        assert _until_acked(selector, hostile, hostile.emit("command", write))["ok"] is True

        # The heaviest cluster the limits allow, working as hard as it may: played at full
        # speed (playback), then advanced by 60 s in one request (a worker thread).
        assert _until_acked(selector, hostile, hostile.emit("reset", {"config": HEAVIEST}))["ok"]
        load = {"command": {"type": "workload", "rate": 1000, "read_ratio": 0.5}}
        assert _until_acked(selector, hostile, hostile.emit("command", load))["ok"] is True
        hostile.emit("player", {"action": "speed", "speed": 1})
        hostile.emit("player", {"action": "play"})
        playing = _measure(selector, url, victims, WINDOW / 2)
        hostile.emit("player", {"action": "pause"})
        long_advance = hostile.emit("player", {"action": "advance", "ms": 60_000})
        advancing = _measure(selector, url, victims, WINDOW / 2)
        # Still working (its budget is seconds of CPU), or stopped by it: never a freeze.
        answer = hostile.acks.get(long_advance)
        assert answer is None or answer["ok"] or "the most one request may" in answer["error"]
        for page in pages:
            page.ws.close()

    print(f"quiet: {quiet}, hostile playing: {playing}, hostile advancing: {advancing}")
    if quiet[0] < MIN_FPS or quiet[1] > P99_TARGET_MS:
        pytest.skip(f"this machine is too busy to judge: with no hostile session the frames came "
                    f"at {quiet[0]:.1f}/s, interval deviation p99 {quiet[1]:.0f} ms")
    for fps, p99, health in (playing, advancing):
        assert fps >= MIN_FPS, f"{fps:.1f} frames/s (quiet: {quiet[0]:.1f})"
        assert p99 <= P99_TARGET_MS, f"frame interval deviation p99 {p99:.1f} ms"
        assert health < 0.5, f"/healthz took {health * 1000:.0f} ms"
