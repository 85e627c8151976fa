"""Classrooms across several workers (``--message-queue`` with ``--redis``).

A classroom is owned by the worker that holds its presenter's session; the ownership is
recorded in Redis with an expiry (raftviz/service/store/cluster_link.py). A student may be
connected to any worker: that worker puts the socket in the classroom's Socket.IO room (the
message queue carries the owner's broadcasts to it) and forwards the student's events to the
owner, which handles them exactly as for a local student and sends the acknowledgement back.
If the owner dies, the presenter's page reconnects elsewhere, its session is rebuilt from the
store, and its ``class_create`` with the secret takes the classroom over: the new owner asks
every worker to re-announce the students it holds, so they keep following.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from flask import Flask, request

from raftviz.service.classroom import MAX_STUDENTS, Classroom, ClassroomError, normalize_code
from raftviz.service.sessions import Connection, Session
from raftviz.service.store.cluster_link import ClusterLink
from raftviz.service.store.rooms import RoomStore
from raftviz.web.classroom_events import MAX_CODE, ClassroomEvents
from raftviz.web.events import Ack, EventHandlers, error, ok
from raftviz.web.hello import hello_message

log = logging.getLogger(__name__)

CALL_TIMEOUT = 5.0  # seconds a forwarded student event waits for the owner's answer
HEARTBEAT = 1.0
NOT_ANSWERING = ("the classroom's presenter is reconnecting to another server; the class "
                 "continues when they are back, try again in a moment")


class ClusterClassroomEvents(ClassroomEvents):
    """:class:`ClassroomEvents` plus ownership in Redis and forwarding between workers."""

    def __init__(self, handlers: EventHandlers, link: ClusterLink, app: Flask,
                 rooms: RoomStore | None = None) -> None:
        super().__init__(handlers, rooms=rooms)
        self.link = link
        self.app = app
        self.remote: dict[str, tuple[str, str]] = {}  # local student sid -> (code, name)
        self.workers = 1  # workers seen in the last minute: a classroom holds MAX_STUDENTS
        # per worker, since each worker writes its own students' frames

    def install(self) -> None:
        super().install()
        local_dispatch = self.handlers.dispatch
        local_disconnect = self.handlers.on_disconnect

        def dispatch(event: Any, args: tuple[Any, ...]) -> Ack:
            sid = request.sid  # type: ignore[attr-defined]
            if sid in self.remote:
                return self._forward(sid, event, args)
            return local_dispatch(event, args)

        def on_disconnect(*args: Any) -> None:
            sid = request.sid  # type: ignore[attr-defined]
            member = self.remote.pop(sid, None)
            if member is None:
                local_disconnect(*args)
                return
            self._to_owner(member[0], {"op": "leave", "sid": sid})

        self.handlers.dispatch = dispatch  # type: ignore[method-assign]
        self.handlers.on_disconnect = on_disconnect  # type: ignore[method-assign]
        self.socketio.start_background_task(self._listen)
        self.socketio.start_background_task(self._heartbeat)

    # ------------------------------------------------------------ presenter

    def class_create(self, session: Session, conn: Connection, data: dict[str, Any]) -> Ack:
        """As in one worker; a presenter whose classroom another worker ran takes it over."""
        if session.classroom is None and not conn.follower and isinstance(data.get("secret"), str):
            adopted = self._take_over(session, conn, data["secret"])
            if adopted is not None:
                return adopted
        ack = super().class_create(session, conn, data)
        room = session.classroom
        if room is not None and not ack.get("resumed"):
            room.capacity = MAX_STUDENTS * self.workers
            self.link.register(room.code, session.token, room.secret)
        return ack

    def _take_over(self, session: Session, conn: Connection, secret: str) -> Ack | None:
        code = self.link.code_of(session.token)
        record = None if code is None else self.link.lookup(code)
        if code is None or record is None or record["token"] != session.token:
            return None
        if not hmac.compare_digest(secret, record["secret"]):
            return None  # the usual path answers "wrong secret"
        with session.lock:
            room = self._stored_room(code, session.token, conn.sid)
            if room is None or room.secret != record["secret"]:
                room = Classroom(code, record["secret"], session.token, conn.sid)
            room.capacity = MAX_STUDENTS * self.workers
            self.classrooms.adopt(room)
            session.classroom = room
            room.frames.full = True
            state = room.state_for(conn.sid)
        self.link.register(code, session.token, room.secret)
        self.link.broadcast({"op": "rejoin", "code": code, "owner": self.link.worker})
        if room.poll is not None:
            self.socketio.start_background_task(self._forget_gone_answers, room)
        log.info("took classroom %s over", code)
        return ok(code=code, secret=room.secret, link=f"/join/{code}", resumed=True,
                  **{"class": state})

    def _stored_room(self, code: str, token: str, presenter_sid: str) -> Classroom | None:
        """The classroom as the previous owner stored it beside the session (its poll with
        the answers); None (and a log line) when there is no readable record."""
        if self.rooms is None:
            return None
        try:
            found = self.rooms.load(code)
            if found is None or found[0] != token:
                return None
            return Classroom.from_record(code, token, json.loads(found[1]), presenter_sid,
                                         keep_answers=True)
        except (ValueError, RecursionError, ClassroomError) as exc:
            log.warning("classroom %s: its stored record is dropped (%s)", code, exc)
        except Exception:
            log.exception("classroom %s: could not read its stored record", code)
        return None

    def _forget_gone_answers(self, room: Classroom) -> None:
        """After a takeover, once the other workers re-announced their students: answers of
        students who did not come back (they sat on the dead worker and rejoin as new
        students, who may answer again) no longer count."""
        self.socketio.sleep(CALL_TIMEOUT)
        session = self.manager.get(room.token)
        if session is None or session.classroom is not room:
            return
        with session.lock:
            poll = room.poll
            if poll is None:
                return
            for sid in [sid for sid in poll.answers if sid not in room.students]:
                del poll.answers[sid]
        self._changed(room, session)

    def adopted(self, room: Classroom, session: Session) -> None:
        """A classroom restored from the store (every worker had stopped): this worker owns it."""
        room.capacity = MAX_STUDENTS * self.workers
        self.link.register(room.code, session.token, room.secret)

    def class_close(self, session: Session, conn: Connection, data: dict[str, Any]) -> Ack:
        room = session.classroom
        ack = super().class_close(session, conn, data)
        if room is not None and ack.get("ok"):
            self.link.unregister(room.code, session.token)
        return ack

    # -------------------------------------------------------------- students

    def connect_follower(self, sid: str, auth: dict[str, Any]) -> None:
        code = auth.get("join")
        if not isinstance(code, str) or len(code) > MAX_CODE:
            super().connect_follower(sid, auth)  # its error message
            return
        code = normalize_code(code)
        record = None if self.classrooms.get(code) is not None else self.link.lookup(code)
        if record is None:
            super().connect_follower(sid, auth)  # local, or "no classroom with code ..."
            return
        name = auth.get("name")
        name = name.strip()[:40] if isinstance(name, str) else ""
        hello = {**hello_message("", self.manager.limits), "classroom": code}
        self.socketio.emit("hello", hello, to=sid)
        self.socketio.server.enter_room(sid, f"class:{code}", namespace="/")
        self.remote[sid] = (code, name)
        self._to_owner(code, {"op": "join", "code": code, "sid": sid, "name": name})

    def _enter(self, sid: str, name: str, room: Classroom, session: Session) -> Connection:
        """As in one worker; a room that looks full first counts the workers again (one may
        have joined since the last heartbeat)."""
        if len(room.students) >= room.capacity:
            self.workers = max(1, self.link.workers_seen())
            room.capacity = MAX_STUDENTS * self.workers
        return super()._enter(sid, name, room, session)

    def _owner(self, code: str) -> str | None:
        record = self.link.lookup(code)
        return None if record is None else record["owner"]

    def _to_owner(self, code: str, message: dict[str, Any]) -> None:
        owner = self._owner(code)
        if owner == self.link.worker:
            self._handle(message)
        elif owner is not None:
            self.link.send(owner, message)

    def _forward(self, sid: str, event: Any, args: tuple[Any, ...]) -> Ack:
        code = self.remote[sid][0]
        owner = self._owner(code)
        if owner is None:
            return error(f"classroom {code} has ended")
        if not self.link.alive(owner):
            return error(NOT_ANSWERING)
        answer = self.link.call(owner, {"op": "event", "sid": sid, "event": event,
                                        "args": list(args)}, CALL_TIMEOUT)
        return answer if isinstance(answer, dict) else error(NOT_ANSWERING)

    # ---------------------------------------------------- messages (owner side)

    def _handle(self, message: dict[str, Any]) -> None:
        op = message.get("op")
        sid = message.get("sid")
        try:
            if op == "join" and isinstance(sid, str):
                self._join_here(str(message.get("code")), sid, str(message.get("name") or ""))
            elif op == "leave" and isinstance(sid, str):
                session = self.manager.detach(sid)
                if session is not None:
                    self.on_leave(session, sid)
            elif op == "event" and isinstance(sid, str):
                self.link.answer(str(message.get("reply")), self._event_here(sid, message))
            elif op == "rejoin":
                self._rejoin(str(message.get("code")), str(message.get("owner")))
        except Exception:
            log.exception("cluster message %r failed", op)

    def _join_here(self, code: str, sid: str, name: str) -> None:
        """A student connected to another worker (or to this one before it took over)."""
        room = self.classrooms.get(code)
        session = None if room is None else self.manager.get(room.token)
        if room is None or session is None:
            return
        self.remote.pop(sid, None)  # if the socket is here, it is now an ordinary follower
        if self.manager.connection(sid) is not None:
            return  # already a member
        with session.lock:
            self._enter(sid, name, room, session)
            state = room.state_for(sid)
        self.socketio.emit("class", state, to=sid)
        self._changed(room, session, counts_only=True)

    def _event_here(self, sid: str, message: dict[str, Any]) -> Ack:
        args = message.get("args")
        if self.manager.connection(sid) is None or not isinstance(args, list):
            return error(NOT_ANSWERING)
        with self.app.test_request_context("/"):
            # As Flask-SocketIO's own handlers do: the sid rides on the request context.
            request.sid = sid  # type: ignore[attr-defined]
            request.namespace = "/"  # type: ignore[attr-defined]
            return self.handlers.dispatch(message.get("event"), tuple(args))

    def _rejoin(self, code: str, owner: str) -> None:
        """A worker took classroom ``code`` over: announce our students of it to the owner."""
        for sid, (member_code, name) in list(self.remote.items()):
            if member_code == code:
                message = {"op": "join", "code": code, "sid": sid, "name": name}
                if owner == self.link.worker:
                    self._handle(message)
                else:
                    self.link.send(owner, message)

    # ------------------------------------------------------------ background

    def _listen(self) -> None:
        while True:
            try:
                for message in self.link.listen():
                    self.socketio.start_background_task(self._handle, message)
            except Exception:
                log.exception("cluster channel failed; listening again")
                self.socketio.sleep(1.0)

    def _heartbeat(self) -> None:
        """Say we are alive; keep our classrooms' records from expiring."""
        while True:
            try:
                self.link.heartbeat()
                self.workers = max(1, self.link.workers_seen())
                for code in self.classrooms.codes():
                    room = self.classrooms.get(code)
                    if room is not None and self.manager.get(room.token) is not None:
                        room.capacity = MAX_STUDENTS * self.workers
                        self.link.refresh(code, room.token)
            except Exception:
                log.exception("cluster heartbeat failed")
            self.socketio.sleep(HEARTBEAT)
