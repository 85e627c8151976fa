"""Classroom mode: a presenter's cluster followed live by read-only students (docs/protocol.md)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from raftviz.service.classroom import CODE_ALPHABET, CODE_LENGTH
from raftviz.service.sessions import Session
from raftviz.web.classroom_events import PRESENTER_IMMEDIATE
from tests.web.conftest import Page, Server


@dataclass
class Member(Page):
    """A page that also keeps the ``class`` messages it received."""

    classes: list[dict[str, Any]] = field(default_factory=list)
    lessons: list[dict[str, Any]] = field(default_factory=list)
    follows: Session | None = None  # a student's view of the presenter's session

    @property
    def session(self) -> Session:
        return self.follows if self.follows is not None else super().session

    def receive(self) -> list[dict[str, Any]]:
        got = []
        for message in self.client.get_received():
            name, args = message["name"], message["args"]
            if name == "hello":
                self.hello = args[0]
            elif name == "frame":
                self.apply(args[0])
                got.append(args[0])
            elif name == "class":
                self.classes.append(args[0])
            elif name == "lesson":
                self.lessons.append(args[0])
        self.frames.extend(got)
        return got


def presenter(server: Server) -> Member:
    client = server.socketio.test_client(server.app, auth={"session": ""})
    page = Member(client, server)
    page.receive()
    return page


def student(server: Server, code: str, name: str = "") -> Member:
    client = server.socketio.test_client(server.app, auth={"join": code, "name": name})
    assert client.is_connected(), "the server refused the student"
    page = Member(client, server)
    page.follows = next(s for s in server.manager.sessions() if s.classroom is not None)
    page.receive()
    return page


@pytest.fixture
def room(server: Server) -> tuple[Member, dict[str, Any]]:
    host = presenter(server)
    created = host.ok("class_create", {})
    return host, created


def test_create_gives_code_secret_and_link(room: tuple[Member, dict[str, Any]]) -> None:
    host, created = room
    code = created["code"]
    assert len(code) == CODE_LENGTH and set(code) <= set(CODE_ALPHABET)
    assert created["link"] == f"/join/{code}"
    assert len(created["secret"]) >= 20
    assert created["class"]["role"] == "presenter" and created["class"]["students"] == 0
    # A second create from the same session needs the secret (a reload resumes with it).
    assert "already runs classroom" in host.refused("class_create", {})
    assert "wrong presenter secret" in host.refused("class_create", {"secret": "nope"})
    again = host.ok("class_create", {"secret": created["secret"]})
    assert again["code"] == code and again["resumed"] is True


def test_student_joins_and_follows_presenter_frames(
    server: Server, room: tuple[Member, dict[str, Any]]
) -> None:
    host, created = room
    pupil = student(server, created["code"].lower(), "Ada")
    assert pupil.hello is not None and pupil.hello["session"] == ""  # never the presenter's token
    assert pupil.frames and pupil.frames[0]["full"]
    personal = [c for c in pupil.classes if not c.get("shared")]
    assert personal[-1]["role"] == "student" and personal[-1]["you"]["name"] == "Ada"
    host.receive()
    assert host.classes[-1]["students"] == 1
    assert host.classes[-1]["roster"] == [{"id": "s1", "name": "Ada"}]

    host.player(action="run_until", condition="leader")
    host.command(type="crash", node=host.state["leader"])
    pupil.receive()
    assert pupil.state["time"] == host.state["time"]
    assert pupil.state["nodes"] == host.state["nodes"]
    pupil.assert_in_sync()
    # Playback reaches students too: one shared frame per tick.
    host.player(action="play")
    server.clock.advance(0.5)
    server.playback.tick()
    pupil.receive()
    host.receive()
    assert pupil.state["player"]["playing"] is True
    assert pupil.state["time"] == host.state["time"] > 0
    pupil.assert_in_sync()


def test_student_is_read_only(server: Server, room: tuple[Member, dict[str, Any]]) -> None:
    host, created = room
    pupil = student(server, created["code"])
    session = host.session
    before = (session.history.now, session.history.cursor, session.playing)
    for event, payload in [
        ("command", {"command": {"type": "crash", "node": "n1"}}),
        ("player", {"action": "play"}),
        ("player", {"action": "advance", "ms": 500}),
        ("reset", {}),
        ("trace_import", {"trace": {}}),
        ("lesson_start", {"lesson": "x"}),
    ]:
        message = pupil.refused(event, payload)
        assert "read-only" in message and created["code"] in message
    assert (session.history.now, session.history.cursor, session.playing) == before
    # Reading is fine.
    pupil.ok("resync")
    assert pupil.frames[-1]["full"]
    # Presenter-only events are refused even with the right secret.
    assert "only the presenter" in pupil.refused(
        "class_hand", {"secret": created["secret"], "student": "s1"}
    )


def test_bad_code_and_bad_secret_are_refused(
    server: Server, room: tuple[Member, dict[str, Any]]
) -> None:
    host, created = room
    client = server.socketio.test_client(server.app, auth={"join": "ZZZZZZ"})
    assert not client.is_connected()
    other = presenter(server)
    assert "no classroom with code" in other.refused("class_join", {"code": "ZZZZZZ"})
    assert "code must be" in other.refused("class_join", {"code": 7})
    assert "wrong presenter secret" in host.refused("class_hand", {"secret": "x", "student": None})
    assert "wrong presenter secret" in host.refused(
        "poll_open", {"secret": "x", "question": "Q?", "choices": ["a", "b"]}
    )
    assert "runs no classroom" in other.refused("poll_open", {
        "secret": created["secret"], "question": "Q?", "choices": ["a", "b"]})
    assert host.session.classroom is not None and host.session.classroom.poll is None


def test_class_join_event_moves_a_page_into_the_classroom(
    server: Server, room: tuple[Member, dict[str, Any]]
) -> None:
    host, created = room
    page = presenter(server)
    own = page.token
    joined = page.ok("class_join", {"code": created["code"], "name": "Bob"})
    assert joined["role"] == "student" and joined["class"]["you"]["name"] == "Bob"
    assert server.manager.get(own) is None  # the unused own session is gone
    assert page.frames[-1]["full"]
    host.command(type="crash", node="n2")
    page.receive()
    assert page.state["nodes"] == host.state["nodes"]
    assert "read-only" in page.refused("command", {"command": {"type": "restart", "node": "n2"}})


def test_hand_control_and_take_it_back(server: Server, room: tuple[Member, dict[str, Any]]) -> None:
    host, created = room
    secret = created["secret"]
    pupil = student(server, created["code"], "Ada")
    student(server, created["code"], "Bob")
    assert "no student" in host.refused("class_hand", {"secret": secret, "student": "s9"})
    host.ok("class_hand", {"secret": secret, "student": "s1"})
    pupil.receive()
    assert pupil.classes[-1]["controller"] == "s1"
    pupil.ok("command", {"command": {"type": "crash", "node": "n1"}})
    host.receive()
    assert host.node("n1")["state"] == "crashed"
    assert pupil.node("n1")["state"] == "crashed"
    host.ok("class_hand", {"secret": secret, "student": None})
    assert "read-only" in pupil.refused("command", {"command": {"type": "restart", "node": "n1"}})
    host.receive()
    assert host.node("n1")["state"] == "crashed"


def test_poll_round_trip(server: Server, room: tuple[Member, dict[str, Any]]) -> None:
    host, created = room
    secret = created["secret"]
    a, b, c = (student(server, created["code"]) for _ in range(3))
    assert "no open poll" in a.refused("poll_answer", {"choice": 0})
    assert "2..6 choices" in host.refused(
        "poll_open", {"secret": secret, "question": "Q?", "choices": ["only"]})
    host.ok("poll_open", {"secret": secret, "question": "Who wins the election?",
                          "choices": ["n1", "n2", "nobody"]})
    a.receive()
    assert a.classes[-1]["poll"]["question"] == "Who wins the election?"
    assert "tally" not in a.classes[-1]["poll"]  # students do not see the tally while open
    a.ok("poll_answer", {"choice": 0})
    b.ok("poll_answer", {"choice": 0})
    c.ok("poll_answer", {"choice": 2})
    c.ok("poll_answer", {"choice": 1})  # changeable until closed
    assert "choice must be within" in a.refused("poll_answer", {"choice": 3})
    assert "whole number" in a.refused("poll_answer", {"choice": True})
    host.receive()
    assert host.classes[-1]["poll"]["tally"] == [2, 1, 0]
    assert host.classes[-1]["poll"]["answers"] == 3
    # Run it, then reveal.
    host.player(action="run_until", condition="leader")
    closed = host.ok("poll_reveal", {"secret": secret, "correct": 1})
    assert closed["tally"] == [2, 1, 0]
    assert "no open poll" in a.refused("poll_answer", {"choice": 1})
    c.receive()
    poll = c.classes[-1]["poll"]
    assert poll["open"] is False and poll["correct"] == 1 and poll["tally"] == [2, 1, 0]


def test_thirty_students_share_one_stream(
    server: Server, room: tuple[Member, dict[str, Any]]
) -> None:
    host, created = room
    pupils = [student(server, created["code"], f"p{i}") for i in range(30)]
    host.receive()
    assert host.classes[-1]["students"] == 30
    before = server.playback.frames
    host.command(type="crash", node="n3")
    assert server.playback.frames - before == 2  # the presenter's frame and one shared frame
    for pupil in pupils:
        pupil.receive()
        assert pupil.node("n3")["state"] == "crashed"
    pupils[0].disconnect()
    host.receive()
    assert host.classes[-1]["students"] == 29


def test_students_follow_the_presenters_lesson(
    server: Server, room: tuple[Member, dict[str, Any]]
) -> None:
    host, created = room
    early = student(server, created["code"])
    started = host.ok("lesson_start", {"id": "what-consensus-means"})
    late = student(server, created["code"])  # joins mid-lesson: gets the state at once
    for pupil in (early, late):
        pupil.receive()
        assert pupil.lessons and pupil.lessons[-1]["state"] == started["state"]
    assert "read-only" in early.refused("lesson_next", {})
    # The presenter can put the lesson's own question to the class.
    step = started["state"]["step"]
    question = next((q for q in step["questions"] if q["choices"]), None)
    assert question is not None
    host.ok("poll_open", {"secret": created["secret"], "lesson_question": question["id"]})
    host.receive()
    assert len(host.classes[-1]["poll"]["choices"]) == len(question["choices"])
    assert "no multiple-choice question" in host.refused(
        "poll_open", {"secret": created["secret"], "lesson_question": "nope"})


def test_a_full_room_refuses_the_next_student(
    server: Server, room: tuple[Member, dict[str, Any]]
) -> None:
    host, created = room
    classroom = next(s for s in server.manager.sessions() if s.classroom).classroom
    assert classroom is not None and created["class"]["capacity"] == classroom.capacity == 250
    classroom.capacity = 2
    student(server, created["code"])
    student(server, created["code"])
    refused = server.socketio.test_client(server.app, auth={"join": created["code"]})
    assert not refused.is_connected()
    host.receive()
    assert host.classes[-1]["students"] == 2


def test_a_large_room_batches_the_presenters_roster(
    server: Server, room: tuple[Member, dict[str, Any]]
) -> None:
    host, created = room
    host.receive()
    before = len(host.classes)
    pupils = [student(server, created["code"], f"p{i}") for i in range(PRESENTER_IMMEDIATE + 20)]
    host.receive()
    immediate = len(host.classes) - before
    # One view per join up to the threshold; past it, joins within COUNT_EVERY share one.
    assert PRESENTER_IMMEDIATE <= immediate < PRESENTER_IMMEDIATE + 20
    deadline = time.monotonic() + 5
    while host.classes[-1]["students"] != len(pupils) and time.monotonic() < deadline:
        time.sleep(0.05)
        host.receive()
    last = host.classes[-1]
    assert last["students"] == len(pupils) and len(last["roster"]) == len(pupils)
