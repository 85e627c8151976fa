"""Socket.IO events of classroom mode (docs/protocol.md, "Classroom").

A presenter's session gets a :class:`~raftviz.service.classroom.Classroom`; students' sockets
join it as *followers* of that session (``Connection.follower``): they get its frames through one
shared delta stream broadcast to the classroom's room (``raftviz/web/playback.py``) and the
lab's dispatcher refuses their state-changing events (:meth:`ClassroomEvents.guard`) unless the
presenter handed them control. Presenter-only events carry the secret returned by
``class_create``. The events go through the lab's dispatcher (rate limit, payload checks,
acknowledgement), so they never raise and a refused one changes nothing.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from flask_socketio import ConnectionRefusedError as SocketRefused

from raftviz.service.classroom import (
    MAX_NAME,
    Classroom,
    ClassroomError,
    Classrooms,
    normalize_code,
)
from raftviz.service.sessions import Connection, ServerFull, Session
from raftviz.service.store.rooms import RoomStore
from raftviz.web.events import MAX_PAYLOAD, Ack, BadRequest, EventHandlers, ok
from raftviz.web.hello import hello_message

MAX_CODE = 16
# Events a read-only student may send: they change nothing of the presenter's cluster.
STUDENT_EVENTS = frozenset(
    {"resync", "trace_export", "class_join", "class_state", "poll_answer", "lesson_list",
     "lesson_state", "spacetime", "ophistory"}
)
# Events only the presenter's own pages may send (with the secret).
PRESENTER_EVENTS = frozenset(
    {"class_hand", "class_close", "poll_open", "poll_close", "poll_reveal"}
)
COUNT_EVERY = 0.25  # seconds between roster/answer-count broadcasts to the students
# Up to this many students the presenter sees each join, leave and answer at once; beyond it
# the presenter's view is batched like the students' (every COUNT_EVERY seconds).
PRESENTER_IMMEDIATE = 40
ROOM_REFRESH = 60.0  # seconds between re-saves of a live classroom's record (it expires)

log = logging.getLogger(__name__)


def _only(event: str, data: dict[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(data) - allowed)
    if extra:
        expected = ", ".join(sorted(allowed)) or "no fields"
        raise BadRequest(f"{event}: unexpected field(s) {', '.join(map(repr, extra))}; "
                         f"expected {expected}")


def _string(data: dict[str, Any], name: str, event: str, limit: int, required: bool = True) -> str:
    value = data.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value) or len(value) > limit:
        raise BadRequest(f"{event}: {name} must be a string of 1..{limit} characters")
    return value


def _choice(value: Any, name: str, event: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{event}: {name} must be a whole number (a choice index from 0)")
    return value


class ClassroomEvents:
    """The ``class_*`` and ``poll_*`` events, added to the lab's handlers before it registers."""

    def __init__(self, handlers: EventHandlers, classrooms: Classrooms | None = None,
                 rooms: RoomStore | None = None) -> None:
        self.handlers = handlers
        self.socketio = handlers.socketio
        self.manager = handlers.manager
        self.classrooms = classrooms or Classrooms()
        self.rooms = rooms  # classroom records beside the stored sessions (None: memory only)
        self._count_sent: dict[str, float] = {}  # room code -> when counts last went out
        self._count_pending: set[str] = set()

    def install(self) -> None:
        events: dict[str, Callable[[Session, Connection, Any], Ack]] = {
            "class_create": self.class_create,
            "class_join": self.class_join,
            "class_state": self.class_state,
            "class_hand": self.class_hand,
            "class_close": self.class_close,
            "poll_open": self.poll_open,
            "poll_answer": self.poll_answer,
            "poll_close": self.poll_close,
            "poll_reveal": self.poll_reveal,
        }
        for name, handler in events.items():
            self.handlers.events[name] = (MAX_PAYLOAD, True, handler)
        self.handlers.guard = self.guard
        self.handlers.connect_follower = self.connect_follower
        self.handlers.on_leave = self.on_leave
        if self.rooms is not None and self.handlers.playback.run_task:
            self.socketio.start_background_task(self._keep_rooms)

    # ------------------------------------------------------------ the guard

    def guard(self, session: Session, conn: Connection, event: str) -> str | None:
        """Why ``event`` from this socket is refused, or None to let it through."""
        room = session.classroom
        if event in PRESENTER_EVENTS and conn.follower:
            return f"{event}: only the presenter can do this"
        if room is None or not conn.follower or event in STUDENT_EVENTS:
            return None
        if room.can_control(conn.sid):
            return None
        return (f"read-only: you are following the presenter of classroom {room.code}; "
                f"{event} is refused until the presenter hands you control")

    # ---------------------------------------------------------- membership

    def _room_of(self, code: Any, event: str) -> tuple[Classroom, Session]:
        if not isinstance(code, str) or not code.strip() or len(code) > MAX_CODE:
            raise BadRequest(f"{event}: code must be the classroom code (6 letters and digits)")
        room = self.classrooms.get(code)
        session = None if room is None else self.manager.get(room.token)
        if room is not None and session is None:
            self.classrooms.close(room)  # the presenter's session expired
            room = None
        if room is None:  # maybe one this server ran before a restart
            restored = self._restore_room(normalize_code(code), None, None)
            if restored is not None:
                room, session = restored
        if room is None or session is None:
            raise BadRequest(f"no classroom with code {code.strip().upper()!r}; check the code "
                             "on the presenter's screen")
        return room, session

    def _enter(self, sid: str, name: str, room: Classroom, session: Session) -> Connection:
        """Attach ``sid`` as a follower; the caller holds the session's lock."""
        room.add_student(sid, name)
        conn = self.manager.attach(sid, session, follower=True)
        self.handlers.playback.send_frames(session, [conn])  # full frame, room brought up to date
        self.socketio.server.enter_room(sid, room.room, namespace="/")
        runner = session.lesson
        if runner is not None:  # a lesson is running: the student follows its steps
            state = runner.state()  # as lesson_events.py sends it
            if state.get("started"):
                state["hints"] = runner.hint_due()
            self.socketio.emit("lesson", {"state": state}, to=sid)
        return conn

    def connect_follower(self, sid: str, auth: dict[str, Any]) -> None:
        """A socket that connects with ``auth: {join: code, name?}``: a student from the start
        (no session of its own, so 200 students do not fill the server's sessions)."""
        try:
            name = auth.get("name")
            name = name.strip()[:MAX_NAME] if isinstance(name, str) else ""
            room, session = self._room_of(auth.get("join"), "join")
            with session.lock:
                self.socketio.emit("hello", {**hello_message("", self.manager.limits),
                                             "classroom": room.code}, to=sid)
                self._enter(sid, name, room, session)
                state = room.state_for(sid)
        except (BadRequest, ClassroomError) as exc:
            raise SocketRefused(str(exc), {"error": str(exc)}) from None
        self.socketio.emit("class", state, to=sid)
        self._changed(room, session, counts_only=True)
        self.handlers.playback.start()

    def on_leave(self, session: Session, sid: str) -> None:
        room = session.classroom
        if room is None or (sid not in room.students and sid not in room.presenter_sids):
            return
        with session.lock:
            was_controller = room.controller == sid
            room.remove(sid)
        self._changed(room, session, counts_only=not was_controller)

    # -------------------------------------------------------------- events

    def class_create(self, session: Session, conn: Connection, data: dict[str, Any]) -> Ack:
        """Make this session a classroom; with the secret of its classroom, resume presenting."""
        _only("class_create", data, {"secret"})
        if conn.follower:
            raise BadRequest("class_create: a student cannot start a classroom; reload the "
                             "page without the join code first")
        self._prune()
        if session.classroom is None and "secret" in data and self.rooms is not None:
            code = self._stored_code(session.token)
            if code is not None:  # this page presented a classroom before a restart
                self._restore_room(code, conn.sid, data["secret"])
        with session.lock:
            room = session.classroom
            if room is not None:
                if "secret" not in data:
                    raise ClassroomError(
                        f"this session already runs classroom {room.code}; send its secret to "
                        "present it from this page")
                room.check_secret(data["secret"])
                room.presenter_sids.add(conn.sid)
                resumed = True
            else:
                room = self.classrooms.create(session.token, conn.sid)
                session.classroom = room
                room.frames.full = True
                resumed = False
            state = room.state_for(conn.sid)
        if not resumed:
            self.persist(room)
        return ok(code=room.code, secret=room.secret, link=f"/join/{room.code}",
                  resumed=resumed, **{"class": state})

    def class_join(self, session: Session, conn: Connection, data: dict[str, Any]) -> Ack:
        """Leave this socket's own cluster and follow the classroom's presenter."""
        _only("class_join", data, {"code", "name"})
        name = _string(data, "name", "class_join", MAX_NAME, required=False).strip()
        room, target = self._room_of(data.get("code"), "class_join")
        if target is session:
            if conn.follower:
                with session.lock:
                    return ok(role="student", **{"class": room.state_for(conn.sid)})
            raise BadRequest("class_join: this page presents that classroom")
        if session.classroom is not None and not conn.follower:
            raise BadRequest("class_join: this page presents a classroom; it cannot also join one")
        sid = conn.sid
        old = self.manager.detach(sid)
        if old is not None:
            if old.classroom is not None:  # was following another classroom
                with old.lock:
                    old.classroom.remove(sid)
                self.socketio.server.leave_room(sid, old.classroom.room, namespace="/")
            self.manager.discard(old)
        with target.lock:
            self._enter(sid, name, room, target)
            state = room.state_for(sid)
        self._changed(room, target, counts_only=True)
        return ok(role="student", **{"class": state})

    def class_state(self, session: Session, conn: Connection, data: dict[str, Any]) -> Ack:
        _only("class_state", data, set())
        with session.lock:
            room = session.classroom
            if room is None or not (conn.follower or conn.sid in room.presenter_sids):
                return ok(**{"class": None})
            return ok(**{"class": room.state_for(conn.sid)})

    def _presenter(self, session: Session, data: dict[str, Any], event: str) -> Classroom:
        room = session.classroom
        if room is None:
            raise BadRequest(f"{event}: this session runs no classroom; create one first")
        room.check_secret(data.get("secret"))
        return room

    def class_hand(self, session: Session, conn: Connection, data: dict[str, Any]) -> Ack:
        """Hand control to one student (by public id), or take it back with ``null``."""
        _only("class_hand", data, {"secret", "student"})
        student = data.get("student")
        if student is not None and (not isinstance(student, str) or len(student) > MAX_NAME):
            raise BadRequest("class_hand: student must be a student id like 's3', or null")
        with session.lock:
            room = self._presenter(session, data, "class_hand")
            room.hand(student)
        self._changed(room, session)
        return ok(controller=student)

    def class_close(self, session: Session, conn: Connection, data: dict[str, Any]) -> Ack:
        """End the classroom: students are told, then disconnected."""
        _only("class_close", data, {"secret"})
        with session.lock:
            room = self._presenter(session, data, "class_close")
            students = list(room.students)
            session.classroom = None
            self.classrooms.close(room)
        if self.rooms is not None:
            try:
                self.rooms.drop(room.code, room.token)
            except Exception:
                log.exception("classroom %s: could not drop its stored record", room.code)
        self.socketio.emit("class", {"closed": True, "code": room.code}, to=room.room)
        for sid in students:
            self.socketio.server.disconnect(sid, namespace="/")
        return ok()

    def poll_open(self, session: Session, conn: Connection, data: dict[str, Any]) -> Ack:
        """A poll from ``question`` and ``choices``, or from the running lesson's question
        ``lesson_question`` (its prompt and choices, as plain text)."""
        _only("poll_open", data, {"secret", "question", "choices", "lesson_question"})
        if "lesson_question" in data:
            if "question" in data or "choices" in data:
                raise BadRequest("poll_open: give question and choices, or lesson_question")
            qid = _string(data, "lesson_question", "poll_open", MAX_NAME * 3)
        else:
            qid = ""
            question = _string(data, "question", "poll_open", 1000)
            given = data.get("choices")
            if not isinstance(given, list) or not all(isinstance(c, str) for c in given):
                raise BadRequest("poll_open: choices must be a list of 2..6 strings")
            choices: list[str] = given
        with session.lock:
            room = self._presenter(session, data, "poll_open")
            if qid:
                question, choices = self._lesson_question(session, qid)
            room.open_poll(question, choices)
        self._changed(room, session)
        return ok()

    @staticmethod
    def _lesson_question(session: Session, qid: str) -> tuple[str, list[str]]:
        runner = session.lesson
        if runner is None:
            raise BadRequest("poll_open: no lesson is running; lesson_question needs one")
        step = runner.step
        found = next((q for q in step.questions if q.id == qid), None)
        if found is None or not found.choices:
            ids = ", ".join(q.id for q in step.questions if q.choices) or "none"
            raise BadRequest(f"poll_open: no multiple-choice question {qid!r} in this step; "
                             f"its questions: {ids}")
        return found.prompt, [c.label for c in found.choices]

    def poll_answer(self, session: Session, conn: Connection, data: dict[str, Any]) -> Ack:
        _only("poll_answer", data, {"choice"})
        choice = _choice(data.get("choice"), "choice", "poll_answer")
        room = session.classroom
        if room is None or not conn.follower:
            raise BadRequest("poll_answer: only students of a classroom answer polls")
        with session.lock:
            room.answer(conn.sid, choice)
        self._changed(room, session, counts_only=True)
        return ok(choice=choice)

    def poll_close(self, session: Session, conn: Connection, data: dict[str, Any]) -> Ack:
        """Stop taking answers; with ``correct`` (a choice index) also reveal the answer."""
        _only("poll_close", data, {"secret", "correct"})
        correct = data.get("correct")
        if correct is not None:
            correct = _choice(correct, "correct", "poll_close")
        with session.lock:
            room = self._presenter(session, data, "poll_close")
            room.close_poll(correct)
            tally = room.poll.tally() if room.poll else []
        self._changed(room, session)
        return ok(tally=tally)

    def poll_reveal(self, session: Session, conn: Connection, data: dict[str, Any]) -> Ack:
        """Close the poll and show everyone the tally against the right choice."""
        _only("poll_reveal", data, {"secret", "correct"})
        _choice(data.get("correct"), "correct", "poll_reveal")
        return self.poll_close(session, conn, data)

    # ------------------------------------------------------------- updates

    def _changed(self, room: Classroom, session: Session, counts_only: bool = False) -> None:
        """Send the presenter their view and the students the shared view.

        A change of substance (control, a poll opened or closed) goes out at once. A change
        of counts (a join, a leave, an answer) reaches the students at most every
        COUNT_EVERY seconds; in a large room the presenter's view (with its roster) too, or
        a lecture of a thousand students joining would cost a million roster lines.
        """
        if not counts_only:
            self._send_views(room, session)
            return
        if len(room.students) <= PRESENTER_IMMEDIATE:
            self._send_views(room, session, students=False)
            presenters = False
        else:
            presenters = True
        wait = self._count_sent.get(room.code, 0.0) + COUNT_EVERY - time.monotonic()
        if wait <= 0:
            self._send_views(room, session, presenters=presenters)
        elif room.code not in self._count_pending:
            self._count_pending.add(room.code)
            self.socketio.start_background_task(self._later, room, session, wait)

    def _send_views(
        self, room: Classroom, session: Session, presenters: bool = True, students: bool = True
    ) -> None:
        with session.lock:
            views = [(sid, room.state_for(sid)) for sid in room.presenter_sids
                     if sid in session.connections] if presenters else []
            shared = room.shared_student_state() if students else None
        for sid, state in views:
            self.socketio.emit("class", state, to=sid)
        if shared is not None:
            self._count_sent[room.code] = time.monotonic()
            self.socketio.emit("class", shared, to=room.room)
        self.persist(room)

    def _later(self, room: Classroom, session: Session, wait: float) -> None:
        self.socketio.sleep(wait)
        self._count_pending.discard(room.code)
        if session.classroom is room:
            self._send_views(room, session)

    def persist(self, room: Classroom) -> None:
        """Store the classroom's record beside its session, so it outlives this server."""
        if self.rooms is None:
            return
        try:
            self.rooms.save(room.code, room.token, json.dumps(room.record()),
                            self.manager.limits.session_ttl)
        except Exception:
            log.exception("classroom %s: could not store its record", room.code)

    def _stored_code(self, token: str) -> str | None:
        assert self.rooms is not None
        try:
            return self.rooms.code_of(token)
        except Exception:
            log.exception("could not look up a stored classroom")
            return None

    def _restore_room(
        self, code: str, presenter_sid: str | None, secret: Any
    ) -> tuple[Classroom, Session] | None:
        """Bring back classroom ``code`` from its stored record (its session is rebuilt from
        the store if needed); None when there is none or it cannot be restored. With a
        presenter's ``secret``, ClassroomError if it is wrong."""
        if self.rooms is None:
            return None
        try:
            found = self.rooms.load(code)
        except Exception:
            log.exception("classroom %s: could not read its stored record", code)
            return None
        if found is None:
            return None
        token, text = found
        session = self.manager.get(token)
        if session is None:
            try:
                session = self.manager.open(token)
            except ServerFull:
                return None
            if session.token != token:  # the session itself could not be restored
                self.manager.discard(session)
                return None
        room = session.classroom
        if room is None:
            try:
                room = Classroom.from_record(code, token, json.loads(text), None)
            except (ValueError, RecursionError, ClassroomError) as exc:
                log.warning("classroom %s cannot be restored: %s", code, exc)
                return None
            with session.lock:
                if session.classroom is None:
                    session.classroom = room
                    room.frames.full = True
                    self.classrooms.adopt(room)
                    self.adopted(room, session)
                room = session.classroom
            log.info("classroom %s restored from the store", code)
        if secret is not None:
            room.check_secret(secret)
        if presenter_sid is not None:
            room.presenter_sids.add(presenter_sid)
        return room, session

    def adopted(self, room: Classroom, session: Session) -> None:
        """A classroom restored from the store is now held here (the cluster subclass
        records its ownership)."""

    def _keep_rooms(self) -> None:
        """Re-save live classrooms now and then, so their records expire with their sessions
        and not while a class goes on without changes."""
        while True:
            self.socketio.sleep(ROOM_REFRESH)
            for code in self.classrooms.codes():
                room = self.classrooms.get(code)
                if room is not None and self.manager.get(room.token) is not None:
                    self.persist(room)

    def _prune(self) -> None:
        """Forget classrooms whose presenter session expired."""
        for code in list(self.classrooms.codes()):
            room = self.classrooms.get(code)
            if room is not None and self.manager.get(room.token) is None:
                self.classrooms.close(room)
                self._count_sent.pop(code, None)
