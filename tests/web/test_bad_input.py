"""Bad input gets `ok: false` with a clear error and changes nothing; floods are limited."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from raftviz.service.sessions import Session
from raftviz.web.events import BadRequest, payload_of

from .conftest import Page, Server


def _valid_trace(tab: Page) -> dict[str, Any]:
    trace: dict[str, Any] = tab.ok("trace_export")["trace"]
    return trace


def _state(tab: Page) -> tuple[str, str, dict[str, Any]]:
    """Everything a bad event must leave alone: the snapshot, the history, the player."""
    session = tab.session
    return (
        json.dumps(tab.truth(), sort_keys=True),
        json.dumps(session.export_trace(), sort_keys=True),
        session.player_state(),
    )


@pytest.fixture
def busy(server: Server) -> Page:
    """A page whose cluster has a past: a leader, a command, a few seconds of history."""
    tab = server.page()
    tab.player(action="run_until", condition="leader")
    tab.command(type="client", op="set", key="x", value="1")
    tab.player(action="advance", ms=1500)
    return tab


NAN = float("nan")
INF = float("inf")

BAD: list[tuple[str, tuple[Any, ...], str]] = [
    ("command", ("crash n1",), "command payload must be a JSON object, got a string"),
    ("command", (None,), "command payload must be a JSON object, got null"),
    ("command", ([1, 2],), "command payload must be a JSON object, got an array"),
    ("command", (7,), "got a number"),
    ("command", ({"command": "crash"},), "command: command must be a JSON object"),
    ("command", ({},), "command must be a JSON object, got null"),
    ("command", ({"command": {"type": "crash", "node": "n9"}},), "unknown node 'n9'"),
    ("command", ({"command": {"type": "crash", "node": 3}},), "crash.node must be a string"),
    ("command", ({"command": {"type": "crash"}},), "missing field 'node'"),
    ("command", ({"command": {"type": "explode"}},), "unknown command type 'explode'"),
    ("command", ({"command": {"type": None}},), "unknown command type None"),
    ("command", ({"command": {"type": "crash", "node": "n1", "x": 1}},), "unexpected field(s) x"),
    ("command", ({"command": {"type": "heal"}, "also": 1},), "unexpected field(s) 'also'"),
    ("command", ({"command": {"type": "clock", "node": "n1", "rate": NAN}},), "finite"),
    ("command", ({"command": {"type": "clock", "node": "n1", "rate": INF}},), "finite"),
    ("command", ({"command": {"type": "clock", "node": "n1", "rate": "2"}},), "must be a number"),
    ("command", ({"command": {"type": "clock", "node": "n1", "rate": 50}},), "clock rate"),
    ("command", ({"command": {"type": "manual", "on": 1}},), "must be true or false"),
    (
        "command",
        ({"command": {"type": "client", "op": "set", "key": "k" * 1000, "value": "1"}},),
        "1 to 64 characters",
    ),
    ("command", ({"command": {"type": "client", "op": "fly", "key": "k"}},), "unknown operation"),
    ("command", ({"command": {"type": "partition", "groups": [["n1"], ["n7"]]}},), "n7"),
    ("command", ({"command": {"type": "deliver", "id": 99999}},), "no message m99999"),
    ("command", ({"command": {"type": "settings", "changes": {"warp": 9}}},), "unknown setting"),
    (
        "command",
        ({"command": {"type": "settings", "changes": {"snapshot_threshold": -3}}},),
        "snapshot_threshold must be a whole number within 0..1000000 entries (0 = off), got -3",
    ),
    (
        "command",
        ({"command": {"type": "settings", "changes": {"snapshot_chunk_size": 4}}},),
        "snapshot_chunk_size must be a whole number within 16..1048576 bytes, got 4",
    ),
    ("command", ({"command": {"type": "snapshot", "node": "n9"}},), "unknown node 'n9'"),
    ("command", ({"command": {"type": "snapshot"}},), "snapshot: missing field 'node'"),
    ("command", ({"command": {"type": "crash", "node": "x" * 70_000}},), "limit is 64 KiB"),
    ("command", ({"command": {"type": "heal"}}, "extra"), "takes one payload object, got 2"),
    ("player", ({"action": "fly"},), "unknown action 'fly'"),
    ("player", ({},), "unknown action None"),
    ("player", ({"action": "advance"},), "ms must be a number, got None"),
    ("player", ({"action": "advance", "ms": "100"},), "ms must be a number, got '100'"),
    ("player", ({"action": "advance", "ms": True},), "ms must be a number, got True"),
    ("player", ({"action": "advance", "ms": -5},), "ms must be within"),
    ("player", ({"action": "seek", "time": NAN},), "finite"),
    ("player", ({"action": "seek", "time": -INF},), "finite"),
    ("player", ({"action": "speed", "speed": 7},), "speed must be within"),
    ("player", ({"action": "play", "speed": 1},), "unexpected field(s) 'speed'"),
    ("player", ({"action": "run_until", "condition": 3},), "condition must be a string"),
    ("player", ({"action": "run_until", "condition": "leader", "max_ms": 1e9},), "max_ms"),
    ("player", ([],), "got an array"),
    ("reset", ({"config": {"size": 10}},),
     "config.size must be a whole number within 1..9 nodes, got 10"),
    ("reset", ({"config": {"size": "5"}},), "config.size must be a whole number"),
    ("reset", ({"config": {"seed": -1}},),
     "config.seed must be a whole number within 0..9223372036854775807"),
    ("reset", ({"config": {"bogus": 1}},), "unknown field(s) bogus"),
    ("reset", ({"config": {"settings": {"heartbeat_interval": 0}}},),
     "config.settings.heartbeat_interval must be a number within 1..30000 ms, got 0"),
    # The freeze of issue 13: a zero attempt timeout retried for ever at one instant.
    ("reset", ({"config": {"clients": {"attempt_timeout": 0}}},),
     "config.clients.attempt_timeout must be a number within 1..600000 ms, got 0"),
    ("reset", ({"config": {"clients": {"retry_delay": -5}}},),
     "config.clients.retry_delay must be a number within 1..60000 ms, got -5"),
    ("reset", ({"config": {"network": {"latency_min": 0, "latency_max": 0}}},),
     "config.network.latency_min must be a number within 0.1..10000 ms, got 0"),
    ("reset", ({"config": {"protocol": "paxos", "paxos": {"backoff_max": 0}}},),
     "config.paxos.backoff_max must be a number within 1..60000 ms, got 0"),
    ("command", ({"command": {"type": "settings", "changes": {"heartbeat_interval": 0}}},),
     "setting heartbeat_interval must be a number within 1..30000 ms, got 0"),
    ("command", ({"command": {"type": "network", "latency_min": 0, "latency_max": 0}},),
     "network.latency_min must be a number within 0.1..10000 ms, got 0"),
    ("reset", ({"config": 5},), "reset: config must be a JSON object, got a number"),
    ("reset", ({"cfg": {}},), "unexpected field(s) 'cfg'"),
    ("trace_import", ({"trace": {"format": "nope"}},), "not a raftviz trace"),
    ("trace_import", ({"trace": []},), "trace must be a JSON object, got an array"),
    ("trace_import", ({},), "trace must be a JSON object, got null"),
    ("trace_import", ("trace",), "got a string"),
    ("trace_import", ({"trace": {"blob": "x" * 300_000}},), "limit is 256 KiB"),
    ("trace_export", ({"all": True},), "unexpected field(s) 'all'"),
    ("resync", (5,), "resync payload must be a JSON object, got a number"),
    ("no_such_event", ({},), "unknown event 'no_such_event'"),
    ("message", ("hi",), "unknown event 'message'"),
    ("json", ({},), "unknown event 'json'"),
]


@pytest.mark.parametrize(("event", "args", "expected"), BAD, ids=[f"{e}-{x}" for e, _, x in BAD])
def test_bad_input_is_refused_and_changes_nothing(
    busy: Page, event: str, args: tuple[Any, ...], expected: str
) -> None:
    before = _state(busy)
    frames = len(busy.frames)
    error = busy.refused(event, *args)
    assert expected in error
    assert _state(busy) == before
    assert len(busy.frames) == frames  # nothing changed, so no frame either


def _trace_variants(trace: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    command = trace["commands"][0]
    return [
        ({**trace, "version": 2}, "trace version 2 is not supported"),
        ({**trace, "config": {"size": 99}}, "config.size"),
        ({**trace, "commands": "all of them"}, "trace commands must be a list"),
        ({**trace, "commands": [{**command, "events": -1}]}, "events must be a whole number"),
        ({**trace, "commands": [{**command, "command": {"type": "crash"}}]}, "missing field"),
        ({**trace, "commands": [{**command, "events": 10**9}]}, "does not replay"),
        ({**trace, "end": 1e300}, "imports runs of at most"),
        ({**trace, "end": "soon"}, "end must be a number"),
    ]


def test_malformed_traces_are_refused_and_change_nothing(busy: Page) -> None:
    trace = _valid_trace(busy)
    assert trace["commands"], "the fixture records a command"
    before = _state(busy)
    for bad, expected in _trace_variants(trace):
        error = busy.refused("trace_import", {"trace": bad})
        assert expected in error, (expected, error)
        assert _state(busy) == before


def test_payload_checks_refuse_deep_nesting_and_non_finite_numbers() -> None:
    deep: Any = {}
    for _ in range(100_000):
        deep = {"a": deep}
    with pytest.raises(BadRequest, match="nested too deeply"):
        payload_of("command", (deep,), 64 * 1024, False)
    with pytest.raises(BadRequest, match="finite"):
        payload_of("command", ({"x": [1, {"y": math.nan}]},), 64 * 1024, False)
    assert payload_of("resync", (), 64, True) == {}


def test_floods_are_rate_limited_per_connection(server: Server) -> None:
    tab = server.page()
    other = server.page()
    acks = [tab.client.emit("player", {"action": "pause"}, callback=True) for _ in range(70)]
    assert acks[:60] == [{"ok": True}] * 60
    assert acks[60:] == [{"ok": False, "error": "too many requests; slow down"}] * 10
    # Bad events count too, and refused ones change nothing.
    assert tab.refused("command", {"command": {"type": "crash", "node": "n1"}}) == (
        "too many requests; slow down"
    )
    assert tab.session.history.cluster.hosts["n1"].node is not None
    # The other connection is not affected.
    other.command(type="crash", node="n1")
    # Tokens come back at about 30 a second.
    server.clock.advance(1.0)
    ok = [tab.client.emit("player", {"action": "pause"}, callback=True)["ok"] for _ in range(31)]
    assert ok.count(True) == 30


def test_one_sessions_bad_input_does_not_touch_another(server: Server) -> None:
    good = server.page()
    good.player(action="advance", ms=800)
    good.command(type="crash", node="n4")
    before = _state(good)
    frames = len(good.frames)

    bad = server.page()
    for event, args, _ in BAD[:40]:
        bad.client.emit(event, *args, callback=True)
    bad.client.emit("reset", {"config": {"size": 3, "seed": 9}}, callback=True)
    bad.client.emit("trace_import", {"trace": {"format": "x"}}, callback=True)
    good.receive()
    assert _state(good) == before
    assert len(good.frames) == frames
    good.player(action="step")


def test_an_unexpected_engine_error_is_acknowledged_not_raised(
    busy: Page, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Session, data: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(Session, "command", broken)
    error = busy.refused("command", {"command": {"type": "heal"}})
    assert error == "internal error (RuntimeError); try resync or reset"
    monkeypatch.undo()
    busy.command(type="heal")
