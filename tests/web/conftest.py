"""Web-layer fixtures: an app per test, pages that apply frames the way docs/protocol.md says.

Most tests build the app in threading mode with the playback task off and call
``playback.tick()`` themselves, so nothing depends on timing. eventlet mode (the default) is
tested too, without monkey patching: there, background tasks run only while a test yields with
``socketio.sleep``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from flask_socketio import SocketIO, SocketIOTestClient

from raftviz.service.sessions import Session, SessionManager
from raftviz.sim.snapshot import snapshot
from raftviz.web import create_app
from raftviz.web.playback import Playback


class FakeClock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Server:
    app: Flask
    socketio: SocketIO
    clock: FakeClock

    @property
    def manager(self) -> SessionManager:
        manager: SessionManager = self.app.extensions["raftviz"].manager
        return manager

    @property
    def playback(self) -> Playback:
        playback: Playback = self.app.extensions["raftviz"].playback
        return playback

    def page(self, token: str = "") -> Page:
        client = self.socketio.test_client(self.app, auth={"session": token})
        assert client.is_connected(), "the server refused the connection"
        page = Page(client, self)
        page.receive()
        return page


@dataclass
class Page:
    """A test client plus the state a browser page would hold after applying every frame."""

    client: SocketIOTestClient
    server: Server
    hello: dict[str, Any] | None = None
    state: dict[str, Any] = field(default_factory=dict)
    logs: dict[str, dict[int, list[Any]]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    ops: list[dict[str, Any]] = field(default_factory=list)
    milestones: list[dict[str, Any]] = field(default_factory=list)
    frames: list[dict[str, Any]] = field(default_factory=list)

    @property
    def token(self) -> str:
        assert self.hello is not None
        token: str = self.hello["session"]
        return token

    @property
    def session(self) -> Session:
        session = self.server.manager.get(self.token)
        assert session is not None
        return session

    def emit(self, event: str, *args: Any) -> Any:
        """Send an event and return its acknowledgement (frames it caused are applied)."""
        ack = self.client.emit(event, *args, callback=True)
        self.receive()
        return ack

    def ok(self, event: str, *args: Any) -> dict[str, Any]:
        ack = self.emit(event, *args)
        assert isinstance(ack, dict) and ack.get("ok") is True, ack
        return ack

    def refused(self, event: str, *args: Any) -> str:
        ack = self.emit(event, *args)
        assert isinstance(ack, dict) and ack.get("ok") is False, ack
        assert set(ack) == {"ok", "error"}, ack
        assert isinstance(ack["error"], str) and ack["error"], ack
        return str(ack["error"])

    def command(self, **command: Any) -> dict[str, Any]:
        return self.ok("command", {"command": command})

    def player(self, **payload: Any) -> dict[str, Any]:
        return self.ok("player", payload)

    def receive(self) -> list[dict[str, Any]]:
        """Apply every frame received since the last call; returns those frames."""
        got = []
        for message in self.client.get_received():
            if message["name"] == "hello":
                self.hello = message["args"][0]
            elif message["name"] == "frame":
                frame = message["args"][0]
                self.apply(frame)
                got.append(frame)
        self.frames.extend(got)
        return got

    def apply(self, frame: dict[str, Any]) -> None:
        """What docs/protocol.md tells the page to do with a frame."""
        frame = copy.deepcopy(frame)
        if frame["full"]:
            self.state = {}
            self.logs = {}
            self.events = []
            self.ops = []
            self.milestones = []
        for key, value in frame.items():
            if key not in ("events", "ops", "milestones"):
                self.state[key] = value
        for node in frame["nodes"]:
            log = self.logs.setdefault(node["id"], {})
            for index in [i for i in log if i >= node["log_from"]]:
                del log[index]
            for entry in node["log"]:
                log[entry[0]] = entry
            # Entries a snapshot compacted away are dropped (docs/protocol.md).
            compacted = (node.get("snapshot") or {}).get("last_included_index", 0)
            for index in [i for i in log if i <= compacted]:
                del log[index]
        self.events.extend(frame["events"])
        self.ops.extend(frame["ops"])
        self.milestones.extend(frame["milestones"])

    def node(self, node_id: str) -> dict[str, Any]:
        return next(n for n in self.state["nodes"] if n["id"] == node_id)

    def log(self, node_id: str) -> list[list[Any]]:
        return [self.logs[node_id][i] for i in sorted(self.logs[node_id])]

    def truth(self) -> dict[str, Any]:
        """The snapshot of the session's cluster as the engine sees it now."""
        return snapshot(self.session.history.cluster)

    def assert_in_sync(self) -> None:
        """The page's copy agrees with the engine: every field, and every log entry it holds."""
        truth = self.truth()
        for key, value in truth.items():
            if key in ("nodes", "events", "ops", "milestones", "dropped"):
                continue
            assert self.state[key] == value, key
        for node in truth["nodes"]:
            mine = self.node(node["id"])
            for key, value in node.items():
                if key != "log":
                    assert mine[key] == value, (node["id"], key)
            held = self.logs[node["id"]]
            entries = {e[0]: e for e in node["log"]}
            if truth["protocol"] != "raft":
                assert held == entries, node["id"]  # accepted slots, maybe with gaps
            elif node["log_length"] > (compacted := (node["snapshot"] or {}).get(
                "last_included_index", 0
            )):
                # A contiguous run of entries after the snapshot that ends at the last one.
                assert held and max(held) == node["log_length"], node["id"]
                assert sorted(held) == list(range(min(held), max(held) + 1)), node["id"]
                assert min(held) > compacted, node["id"]
            else:
                assert not held, node["id"]
            for index, entry in held.items():
                assert entries[index] == entry, (node["id"], index)
        if truth["ops"]:
            recent = [o["op_id"] for o in truth["ops"]]
            assert [o["op_id"] for o in self.ops][-len(recent) :] == recent
        if truth["events"]:
            assert self.events[-1] == truth["events"][-1]
        assert self.milestones == truth["milestones"]

    def disconnect(self) -> None:
        self.client.disconnect()


@pytest.fixture
def make_server() -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def make(**config: Any) -> Server:
        clock = FakeClock()
        config.setdefault("async_mode", "threading")
        config.setdefault("playback_task", False)
        # Ample CPU per playback visit: what a tick does must not depend on the machine's speed
        # (test_player.py tests the budget itself with budget_ms=0).
        config.setdefault("budget_ms", 1000.0)
        config.setdefault("clock", clock)
        app, socketio = create_app(config)
        server = Server(app, socketio, clock)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.playback.stop()


@pytest.fixture
def server(make_server: Callable[..., Server]) -> Server:
    return make_server()


@pytest.fixture
def tab(server: Server) -> Page:
    """One page connected to a fresh server (not named `page`: pytest-playwright owns that)."""
    return server.page()
