"""`python app.py` for real: flags, the page over HTTP, Socket.IO over a real websocket."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request

import pytest
import socketio
import websocket

from tests.live_server import REPO_ROOT, live_server


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read()


def _connect(url: str, token: str = "") -> socketio.SimpleClient:
    client = socketio.SimpleClient()
    client.connect(url, auth={"session": token}, transports=["websocket"], wait_timeout=10)
    return client


def _receive(client: socketio.SimpleClient, name: str) -> object:
    while True:
        event, *args = client.receive(timeout=10)
        if event == name:
            return args[0]


@pytest.mark.parametrize("mode", ["default", "threading"])
def test_the_server_serves_the_page_and_the_socket(mode: str) -> None:
    flags = [] if mode == "default" else ["--async-mode", mode]
    with live_server(*flags) as (url, _proc):
        status, _ = _get(url + "/healthz")
        assert status == 200
        status, body = _get(url + "/")
        assert status == 200 and b"<html" in body

        client = _connect(url)
        hello = _receive(client, "hello")
        assert isinstance(hello, dict)
        frame = _receive(client, "frame")
        assert isinstance(frame, dict) and frame["full"] is True
        ack = client.call("command", {"command": {"type": "crash", "node": "n2"}}, timeout=10)
        assert ack == {"ok": True}
        frame = _receive(client, "frame")
        assert isinstance(frame, dict) and frame["nodes"][1]["state"] == "crashed"
        assert client.call("player", {"action": "speed", "speed": 1}, timeout=10)["ok"]
        assert client.call("player", {"action": "play"}, timeout=10)["ok"]
        times = []
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            frame = _receive(client, "frame")
            assert isinstance(frame, dict)
            times.append(frame["time"])
        assert len(times) >= 5 and times == sorted(times) and times[-1] > times[0]
        client.disconnect()

        again = _connect(url, str(hello["session"]))
        assert _receive(again, "hello")["session"] == hello["session"]  # type: ignore[index]
        again.disconnect()


def test_garbage_on_the_wire_does_not_hurt_the_server() -> None:
    with live_server() as (url, proc):
        ws_url = url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
        raw = websocket.create_connection(ws_url, timeout=10)
        raw.recv()  # Engine.IO open packet
        raw.send('40{"session":""}')
        for packet in [
            "42[",  # broken JSON
            '42["command",' + "[" * 5000 + "]" * 5000 + "]",  # nested too deeply to parse
            '42["command",NaN]',
            '421["command",{"command":{"type":"crash","node":"n1"}},1,2,3]',
            "4x",
            "9",
            '42["connect",{"session":""}]',
            '42["disconnect"]',
        ]:
            raw.send(packet)
        raw.close()
        client = _connect(url)
        assert client.call("player", {"action": "step"}, timeout=10)["ok"] is True
        client.disconnect()
        assert proc.poll() is None


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--port", "0"], "port must be within 1..65535"),
        (["--port", "http"], "port must be a whole number"),
        (["--async-mode", "asyncio"], "invalid choice"),
        (["--max-sessions", "0"], "must be at least 1"),
        (["--session-ttl", "-5"], "must be more than 0"),
        (["--bogus"], "unrecognized arguments"),
    ],
)
def test_bad_flags_exit_2_with_a_clear_message(flags: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "app.py", *flags],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert message in done.stderr
    assert done.stderr.startswith("usage: app.py")


def test_help_lists_every_flag() -> None:
    done = subprocess.run(
        [sys.executable, "app.py", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0
    for flag in ("--host", "--port", "--async-mode", "--max-sessions", "--session-ttl"):
        assert flag in done.stdout
    assert "(eventlet)" in done.stdout
