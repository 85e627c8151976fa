"""Connecting: hello and a full frame, sessions by token, the session cap and idle expiry."""

from __future__ import annotations

from collections.abc import Callable

import flask
import pytest
from flask_socketio import ConnectionRefusedError

from raftviz.sim.checks.raft_invariants import INVARIANTS
from raftviz.sim.engine.commands import COMMANDS

from .conftest import Page, Server


def test_hello_then_a_full_frame(server: Server) -> None:
    client = server.socketio.test_client(server.app, auth={"session": ""})
    received = client.get_received()
    assert [m["name"] for m in received] == ["hello", "frame"]
    hello = received[0]["args"][0]
    assert hello["version"] == 1
    assert len(hello["session"]) >= 32
    assert hello["limits"] == {
        "max_nodes": 9,
        "max_speed": 1.0,
        "min_speed": 0.001,
        "frame_hz": 20,
        "max_time": 600_000.0,
        "max_advance_ms": 60_000.0,
    }
    assert hello["commands"] == sorted(COMMANDS)
    assert hello["invariants"] == INVARIANTS
    schema = hello["settings_schema"]
    assert schema["pre_vote"] == {
        "type": "bool",
        "teaching": False,
        "label": "Pre-vote",
        "help": schema["pre_vote"]["help"],
    }
    assert schema["election_timeout_min"]["type"] == "number"
    assert (schema["heartbeat_interval"]["min"], schema["heartbeat_interval"]["max"]) == (1, 30_000)
    assert {name for name, s in schema.items() if s["teaching"]} == {
        "no_majority",
        "commit_old_terms",
        "unsafe_lease",
        "unsafe_config_change",
    }
    assert all(s["label"] and s["help"] for s in schema.values())
    paxos = hello["paxos_settings_schema"]
    assert {name for name, s in paxos.items() if s["teaching"]} == {
        "forgetful_acceptors",
        "ignore_promised_values",
    }
    assert "mode" not in paxos and all(s["label"] and s["help"] for s in paxos.values())

    frame = received[1]["args"][0]
    assert frame["full"] is True
    assert frame["time"] == 0
    assert [n["id"] for n in frame["nodes"]] == ["n1", "n2", "n3", "n4", "n5"]
    assert all(n["log_from"] == 1 and n["log"] == [] for n in frame["nodes"])
    assert frame["player"] == {
        "playing": False,
        "speed": 0.05,
        "now": 0.0,
        "horizon": 0.0,
        "start": 0,
        "checkpoints": 1,
        "manual": False,
    }
    assert "milestones" in frame and "settings" in frame


def test_no_auth_at_all_gets_a_new_session(server: Server) -> None:
    client = server.socketio.test_client(server.app)
    assert client.is_connected()
    assert [m["name"] for m in client.get_received()] == ["hello", "frame"]


def test_reconnect_with_the_token_gets_the_same_cluster(server: Server) -> None:
    page = server.page()
    page.player(action="advance", ms=1234)
    page.command(type="crash", node="n3")
    before = page.state
    page.disconnect()

    again = server.page(page.token)
    assert again.token == page.token
    assert again.frames[0]["full"] is True
    assert again.state["time"] == 1234
    assert again.state["seed"] == before["seed"]
    assert again.node("n3")["state"] == "crashed"
    again.assert_in_sync()


def test_different_tokens_get_different_clusters(server: Server) -> None:
    one = server.page()
    two = server.page()
    assert one.token != two.token
    one.player(action="advance", ms=500)
    one.command(type="crash", node="n1")
    two.receive()
    assert one.session is not two.session
    assert two.state["time"] == 0
    assert two.node("n1")["state"] == "up"
    assert two.frames[-1]["full"] is True and len(two.frames) == 1


def test_an_unknown_or_bad_token_gets_a_new_session_and_token(server: Server) -> None:
    for token in ["no-such-session", "x" * 500]:
        page = server.page(token)
        assert page.token != token
    client = server.socketio.test_client(server.app, auth={"session": 42})
    assert client.is_connected()
    client = server.socketio.test_client(server.app, auth=["not", "a", "dict"])
    assert client.is_connected()


def test_two_pages_of_one_session_both_get_frames(server: Server) -> None:
    first = server.page()
    second = server.page(first.token)
    first.command(type="crash", node="n2")
    second.receive()
    assert second.node("n2")["state"] == "crashed"
    second.assert_in_sync()
    first.assert_in_sync()


def test_the_session_cap_refuses_one_more(make_server: Callable[..., Server]) -> None:
    server = make_server(max_sessions=3)
    pages = [server.page() for _ in range(3)]
    refused = server.socketio.test_client(server.app, auth={"session": ""})
    assert not refused.is_connected()
    assert len(server.manager) == 3
    # A known session still gets back in while the server is full.
    pages[0].disconnect()
    back = server.page(pages[0].token)
    assert back.token == pages[0].token
    with server.app.test_client() as http:
        response = http.get("/")
        assert response.status_code == 503
        assert b"full" in response.data


def test_connect_error_data_says_server_full(make_server: Callable[..., Server]) -> None:
    # The test client drops connect_error data, so call the connect handler directly.
    server = make_server(max_sessions=1)
    server.page()
    handlers = server.app.extensions["raftviz"].handlers
    with server.app.test_request_context("/"):
        flask.request.sid = "refused-sid"  # type: ignore[attr-defined]
        with pytest.raises(ConnectionRefusedError) as refused:
            handlers.on_connect({"session": ""})
    assert refused.value.error_args == {"message": "server full", "data": {"error": "server full"}}
    assert server.manager.connection("refused-sid") is None


def test_idle_sessions_expire_and_make_room(make_server: Callable[..., Server]) -> None:
    server = make_server(max_sessions=2, session_ttl=30)
    old = server.page()
    busy = server.page()
    busy.player(action="play")
    server.clock.advance(29 * 60)
    server.playback.expire()
    assert len(server.manager) == 2
    server.clock.advance(2 * 60)
    # The idle one expires; the playing one does not.
    newcomer = server.page()
    assert server.manager.get(old.token) is None
    assert not old.client.is_connected()
    assert server.manager.get(busy.token) is not None
    assert server.manager.get(newcomer.token) is not None


def test_an_expired_token_gets_a_fresh_cluster(server: Server) -> None:
    old = server.page()
    old.player(action="advance", ms=2000)
    server.clock.advance(31 * 60)
    server.playback.expire()
    assert not old.client.is_connected()
    again = server.page(old.token)
    assert again.token != old.token
    assert again.state["time"] == 0


def test_a_session_without_pages_pauses(server: Server) -> None:
    page = server.page()
    page.player(action="play")
    session = page.session
    assert session.playing
    page.disconnect()
    assert not session.playing


def test_an_event_named_connect_changes_nothing(tab: Page) -> None:
    before = tab.session
    ack = tab.emit("connect", {"session": ""})
    assert ack == {"ok": False, "error": "already connected"}
    assert tab.session is before
    tab.command(type="crash", node="n1")
