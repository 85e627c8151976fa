"""The default async mode (eventlet), without monkey patching: only `socketio.sleep` yields.

The playback task here is the real background task on the real clock; it runs while the test
yields with `socketio.sleep` (TOOLCHAIN.md). Heavy requests go through eventlet's thread pool.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from raftviz.web import WebConfig

from .conftest import Server


def test_eventlet_is_the_default_mode() -> None:
    assert WebConfig().async_mode == "eventlet"


def test_connect_command_and_heavy_requests(make_server: Callable[..., Server]) -> None:
    server = make_server(async_mode="eventlet")
    assert server.socketio.async_mode == "eventlet"
    tab = server.page()
    assert tab.frames[0]["full"] is True
    tab.command(type="crash", node="n5")
    assert tab.player(action="run_until", condition="leader")["reached"] is True
    tab.player(action="advance", ms=2500)
    tab.player(action="seek", time=1000)
    assert tab.state["time"] == 1000 and tab.frames[-1]["full"] is True
    trace = tab.ok("trace_export")["trace"]
    other = server.page()
    other.ok("trace_import", {"trace": trace})
    assert other.truth() == tab.truth()
    assert "unknown node" in tab.refused("command", {"command": {"type": "crash", "node": "n6"}})
    tab.assert_in_sync()


def test_the_background_task_plays_sessions(make_server: Callable[..., Server]) -> None:
    server = make_server(async_mode="eventlet", playback_task=True, clock=time.monotonic)
    tab = server.page()
    idle = server.page()
    tab.player(action="speed", speed=1.0)
    tab.player(action="play")
    started = time.monotonic()
    server.socketio.sleep(0.5)
    elapsed = time.monotonic() - started
    frames = tab.receive()
    assert len(frames) >= 4
    times = [f["time"] for f in frames]
    assert times == sorted(times) and times[-1] > 100
    assert tab.state["time"] <= elapsed * 1000 + 1
    assert all(not f["full"] for f in frames)
    assert idle.receive() == []  # a paused session gets no frames
    tab.player(action="pause")
    server.socketio.sleep(0.2)
    assert tab.receive() == []
    tab.assert_in_sync()
