"""kill -9 the server mid-session, start it again: the page gets its cluster back.

The reconnecting page must see the same cluster at the same simulated time, with every
acknowledged command in the log: compared on the full frame and the exported trace (the
command log), never on timing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.client import PageClient
from tests.deploy.procs import App, Redis


@pytest.fixture(params=["sqlite", "redis"])
def store_flags(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[str]]:
    if request.param == "sqlite":
        yield ["--store", str(tmp_path / "sessions.sqlite3")]
    else:
        server: Redis = request.getfixturevalue("redis_server")
        yield ["--redis", server.url]


def commands_of(trace: dict) -> list[dict]:
    return [c["command"] for c in trace["commands"]]


def test_kill_9_mid_session_loses_nothing_acknowledged(
    tmp_path: Path, store_flags: list[str]
) -> None:
    app = App(tmp_path, *store_flags)
    try:
        page = PageClient(app.url)
        acked = []
        page.player(action="speed", speed=1.0)
        page.player(action="play")
        for i in range(6):  # commands while the cluster plays
            cmd = {"type": "client", "op": "set", "key": f"k{i}", "value": str(i)}
            page.command(**cmd)
            acked.append(cmd)
        page.command(type="crash", node="n2")
        acked.append({"type": "crash", "node": "n2"})
        playing = page.call("trace_export")["trace"]
        app.kill9()
        page.close()
        app.start()
        back = PageClient(app.url, token=page.token)
        assert back.token == page.token, back.hello.get("restore_error")
        trace = back.call("trace_export")["trace"]
        assert [c["type"] for c in commands_of(trace)] == [c["type"] for c in acked]
        assert [(c.get("key"), c.get("value"), c.get("node")) for c in commands_of(trace)] == [
            (c.get("key"), c.get("value"), c.get("node")) for c in acked
        ]
        assert trace["commands"] == playing["commands"]
        # Playing on after the last acknowledgement is not a command: the run stands at least
        # where that acknowledgement left it (and at most where the page last saw it).
        assert playing["commands"][-1]["time"] <= trace["now"] <= playing["now"]

        # Paused, a step and an advance: after kill -9 the page is exactly here.
        back.player(action="pause")
        back.command(type="restart", node="n2")
        back.player(action="advance", ms=700)
        back.player(action="step")
        before = back.full_frame()
        exported = back.call("trace_export")["trace"]
        app.kill9()
        back.close()
        app.start()
        again = PageClient(app.url, token=page.token)
        after = again.frames[0]
        assert after["full"] is True
        # The last step's highlights (`changed`) are a view of that moment in the page, not
        # state: a rebuilt session has none to show. Everything else is the same.
        assert after.pop("changed") is None
        before.pop("changed")
        assert after == before  # the whole snapshot: nodes, logs, messages, time, player
        assert again.call("trace_export")["trace"] == exported
        again.close()
    finally:
        app.stop()


def test_bad_store_content_fails_that_session_only(tmp_path: Path) -> None:
    db = tmp_path / "sessions.sqlite3"
    app = App(tmp_path, "--store", str(db))
    try:
        victim = PageClient(app.url)
        victim.command(type="client", op="set", key="x", value="1")
        victim.command(type="crash", node="n1")
        bystander = PageClient(app.url)
        bystander.command(type="timeout", node="n3")
        kept = bystander.full_frame()
        app.kill9()
        victim.close()
        bystander.close()
        with sqlite3.connect(db) as conn:  # a record cut short, as by a torn copy
            conn.execute("UPDATE commands SET body = substr(body, 1, 15) WHERE token = ? "
                         "AND seq = 1", (victim.token,))
        app.start()
        fresh = PageClient(app.url, token=victim.token)
        assert fresh.token != victim.token
        assert "stored command 1 is not valid JSON" in fresh.hello["restore_error"]
        assert fresh.call("trace_export")["trace"]["commands"] == []
        other = PageClient(app.url, token=bystander.token)
        assert other.token == bystander.token and "restore_error" not in other.hello
        assert other.frames[0] == kept
        fresh.close()
        other.close()
    finally:
        app.stop()


def lesson_state(page: PageClient) -> dict:
    state = page.call("lesson_state")["state"]
    assert state is not None, "no lesson runs"
    return state


def test_kill_9_mid_lesson_comes_back_at_the_same_step(
    tmp_path: Path, store_flags: list[str]
) -> None:
    """A student half-way through a guided lesson: the lesson, its answers and its cluster
    survive kill -9, and the lesson goes on from there (next step, back a step)."""
    app = App(tmp_path, *store_flags)
    try:
        page = PageClient(app.url)
        page.call("lesson_start", {"id": "split-brain"})
        page.call("lesson_answer", {"question": "votes-needed", "choice": 2})
        page.call("lesson_next")
        page.command(type="partition", groups=[["n1"], ["n2", "n3"]])  # the step's task
        page.call("lesson_answer", {"question": "how-many-leaders", "choice": 2})
        page.player(action="advance", ms=300)
        page.call("lesson_next")
        page.call("lesson_show_me", {"task": "write-a"})
        page.player(action="step")
        before = lesson_state(page)
        frame = page.full_frame()
        trace = page.call("trace_export")["trace"]
        app.kill9()
        page.close()
        app.start()
        back = PageClient(app.url, token=page.token)
        assert back.token == page.token, back.hello.get("restore_error")
        after = lesson_state(back)
        assert after["step"]["index"] == 2 and after["step"]["id"] == "two-writes"
        assert after["progress"]["questions_answered"] == 2
        assert [t["done_by"] for t in after["step"]["tasks"]] == ["lesson", None]
        assert after == before  # the whole lesson state: step, tasks, answers with grades
        restored = back.frames[0]
        assert restored.pop("changed") is None
        frame.pop("changed")
        assert restored == frame  # the lesson's cluster, at the same time
        assert back.call("trace_export")["trace"] == trace
        # The lesson goes on: back to the step before (its cluster as it began), and forward.
        back.call("lesson_back")
        assert lesson_state(back)["step"]["id"] == "cut-off"
        ack = back.call("lesson_next")
        assert ack["state"]["step"]["id"] == "two-writes"
        back.close()
    finally:
        app.stop()


def test_a_classroom_survives_kill_9_with_its_code_and_poll(
    tmp_path: Path, store_flags: list[str]
) -> None:
    if "--redis" in store_flags:
        import redis

        redis.Redis.from_url(store_flags[1]).flushdb()
    app = App(tmp_path, *store_flags)
    try:
        presenter = PageClient(app.url)
        created = presenter.call("class_create", {})
        code, secret = created["code"], created["secret"]
        student = PageClient(app.url, join=code, name="Ada")
        presenter.command(type="crash", node="n1")
        presenter.player(action="advance", ms=600)
        presenter.call("poll_open", {"secret": secret, "question": "Who leads next?",
                                     "choices": ["n2", "n3", "nobody"]})
        student.call("poll_answer", {"choice": 2})
        before = presenter.full_frame()
        app.kill9()
        presenter.close()
        student.close()
        app.start()

        # The student's page comes back first: the code still works, and it shows the
        # presenter's cluster where it stood (rebuilt from the store) and the open poll.
        back = PageClient(app.url, join=code, name="Ada")
        frame = back.frames[0]
        assert frame["full"] and frame["time"] == before["time"]
        assert [(n["id"], n["state"], n["role"], n["term"]) for n in frame["nodes"]] == [
            (n["id"], n["state"], n["role"], n["term"]) for n in before["nodes"]]
        back.wait(lambda: any((c.get("poll") or {}).get("question") == "Who leads next?"
                              for c in back.classes), "the poll")
        poll = next(c["poll"] for c in reversed(back.classes) if c.get("poll"))
        assert poll["open"] is True and poll["answers"] == 0  # every socket is new: answer again

        # The presenter presents again with the secret: the same classroom, not a new one.
        host = PageClient(app.url, token=presenter.token)
        assert host.token == presenter.token, host.hello.get("restore_error")
        assert "wrong presenter secret" in host.call("class_create", {"secret": "nope"},
                                                     ok=False)["error"]
        resumed = host.call("class_create", {"secret": secret})
        assert resumed["code"] == code and resumed["resumed"] is True
        assert resumed["class"]["students"] == 1
        back.call("poll_answer", {"choice": 1})
        assert host.call("poll_close", {"secret": secret})["tally"] == [0, 1, 0]
        host.command(type="restart", node="n1")
        back.wait(lambda: any(
            next(n for n in f["nodes"] if n["id"] == "n1")["state"] == "up"
            for f in back.frames if "nodes" in f and f["nodes"]), "n1 back up at the student")
        # Closing the classroom forgets it: after another restart the code is unknown.
        host.call("class_close", {"secret": secret})
        app.kill9()
        host.close()
        back.close()
        app.start()
        assert "no classroom with code" in refusal(app.url, {"join": code})
    finally:
        app.stop()


def refusal(url: str, auth: dict[str, str]) -> str:
    """The reason the server gives for refusing a connection with ``auth``."""
    import socketio

    reasons: list[str] = []
    client = socketio.Client(reconnection=False)
    client.on("connect_error", lambda data: reasons.append(str(data)))
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(url, auth=auth, transports=["websocket"], wait_timeout=10)
    return " ".join(reasons)
