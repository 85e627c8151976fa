"""Socket.IO handlers: check the payload, then act on the session, then acknowledge.

Every event goes through the same steps (docs/protocol.md): find the socket's session, take a
token from its rate limit, check the payload's size, finiteness and shape, and only then lock
the session and act through :class:`~raftviz.service.sessions.Session` (commands go through the one
dispatcher, ``History.apply_json``). The acknowledgement is ``{"ok": true, ...}`` or
``{"ok": false, "error": "..."}``; no exception leaves a handler. Events of one socket are handled
in order (``async_handlers=False``); a session's frames are built and queued under its lock, so
each page receives its deltas in the order they were computed.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import request
from flask_socketio import ConnectionRefusedError as SocketRefused
from flask_socketio import SocketIO

from raftviz.service.sessions import Connection, ServerFull, Session, SessionManager
from raftviz.sim.engine.cluster import CommandError
from raftviz.web.hello import hello_message
from raftviz.web.playback import Playback

log = logging.getLogger(__name__)

MAX_PAYLOAD = 64 * 1024
MAX_TRACE_PAYLOAD = 256 * 1024
MAX_TOKEN = 64
TOO_MANY = "too many requests; slow down"

Ack = dict[str, Any]


class BadRequest(Exception):
    """A payload that is refused before the session is touched; the message says why."""


def ok(**extra: Any) -> Ack:
    return {"ok": True, **extra}


def error(message: str) -> Ack:
    return {"ok": False, "error": message}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# ------------------------------------------------------------------ payload checks


def payload_of(event: str, args: tuple[Any, ...], limit: int, optional: bool) -> dict[str, Any]:
    """The single JSON-object argument of an event, checked for size and finite numbers."""
    if len(args) > 1:
        raise BadRequest(f"{event} takes one payload object, got {len(args)} arguments")
    data = args[0] if args else None
    if data is None and optional:
        return {}
    if not isinstance(data, dict):
        raise BadRequest(f"{event} payload must be a JSON object, got {_json_type(data)}")
    try:
        size = len(
            json.dumps(data, allow_nan=False, separators=(",", ":"), ensure_ascii=False).encode()
        )
    except ValueError:
        raise BadRequest("numbers must be finite (NaN and Infinity are not allowed)") from None
    except TypeError:
        raise BadRequest(f"{event} payload must be plain JSON (no binary data)") from None
    except RecursionError:
        raise BadRequest("payload is nested too deeply") from None
    if size > limit:
        raise BadRequest(f"{event} payload is {size} bytes; the limit is {limit // 1024} KiB")
    return data


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


def _only(event: str, data: dict[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(data) - allowed)
    if extra:
        names = ", ".join(_short(k) for k in extra)
        expected = ", ".join(sorted(allowed)) or "no fields"
        raise BadRequest(f"{event}: unexpected field(s) {names}; expected {expected}")


def _number(data: dict[str, Any], name: str, where: str, required: bool = True) -> float | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BadRequest(f"{where}: {name} must be a number, got {_short(value)}")
    return float(value)


def _object(data: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    value = data.get(name)
    if not isinstance(value, dict):
        raise BadRequest(f"{where}: {name} must be a JSON object, got {_json_type(value)}")
    return value


PLAYER_FIELDS: dict[str, set[str]] = {
    "play": set(),
    "pause": set(),
    "step": set(),
    "advance": {"ms"},
    "seek": {"time"},
    "speed": {"speed"},
    "run_until": {"condition", "max_ms"},
}


@dataclass(frozen=True, slots=True)
class PlayerRequest:
    action: str
    ms: float | None = None
    time: float | None = None
    speed: float | None = None
    condition: str | None = None
    max_ms: float | None = None


def parse_player(data: dict[str, Any]) -> PlayerRequest:
    action = data.get("action")
    if not isinstance(action, str) or action not in PLAYER_FIELDS:
        raise BadRequest(
            f"player: unknown action {_short(action)}; use {', '.join(PLAYER_FIELDS)}"
        )
    where = f"player {action}"
    _only(where, data, {"action"} | PLAYER_FIELDS[action])
    if action == "advance":
        return PlayerRequest(action, ms=_number(data, "ms", where))
    if action == "seek":
        return PlayerRequest(action, time=_number(data, "time", where))
    if action == "speed":
        return PlayerRequest(action, speed=_number(data, "speed", where))
    if action == "run_until":
        condition = data.get("condition")
        if not isinstance(condition, str):
            raise BadRequest(f"{where}: condition must be a string, got {_short(condition)}")
        return PlayerRequest(
            action, condition=condition, max_ms=_number(data, "max_ms", where, required=False)
        )
    return PlayerRequest(action)


# ------------------------------------------------------------------------ handlers


class EventHandlers:
    """The protocol's events, bound to one server's sessions and playback."""

    def __init__(self, socketio: SocketIO, manager: SessionManager, playback: Playback) -> None:
        self.socketio = socketio
        self.manager = manager
        self.playback = playback
        # A rebuild from the store replays the run: off the event loop, as heavy requests.
        manager.offload = playback.offload
        # event -> (payload limit, payload optional, handler)
        self.events: dict[str, tuple[int, bool, Callable[[Session, Connection, Any], Ack]]] = {
            "command": (MAX_PAYLOAD, False, self.command),
            "player": (MAX_PAYLOAD, False, self.player),
            "reset": (MAX_PAYLOAD, True, self.reset),
            "trace_export": (MAX_PAYLOAD, True, self.trace_export),
            "trace_import": (MAX_TRACE_PAYLOAD, False, self.trace_import),
            "resync": (MAX_PAYLOAD, True, self.resync),
        }
        # Called after a command during a lesson (the lesson events send the new state).
        self.after_lesson_command: Callable[[Session], None] | None = None
        # Classrooms (raftviz/web/classroom_events.py): refuse an event from a read-only
        # member (returns the error), attach a socket that connects to join a classroom, and
        # hear when a member's socket leaves.
        self.guard: Callable[[Session, Connection, str], str | None] | None = None
        self.connect_follower: Callable[[str, dict[str, Any]], None] | None = None
        self.on_leave: Callable[[Session, str], None] | None = None

    def register(self) -> None:
        sio = self.socketio
        sio.on("connect")(self.on_connect)
        sio.on("disconnect")(self.on_disconnect)
        for name in self.events:
            sio.on(name)(self._bind(name))
        sio.on("*")(self.on_unknown)

    def _bind(self, name: str) -> Callable[..., Ack]:
        def handler(*args: Any) -> Ack:
            return self.dispatch(name, args)

        handler.__name__ = f"on_{name}"
        return handler

    # ----------------------------------------------------------- connections

    def on_connect(self, auth: Any = None) -> Ack | None:
        """Attach the socket to its session (or a new one), then send hello and a full frame."""
        sid = request.sid  # type: ignore[attr-defined]
        if self.manager.connection(sid) is not None:
            return error("already connected")  # a client sent an event named "connect"
        if self.connect_follower is not None and isinstance(auth, dict) and "join" in auth:
            self.connect_follower(sid, auth)
            return None
        token = auth.get("session") if isinstance(auth, dict) else None
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN:
            token = None
        try:
            if self.manager.full and (token is None or self.manager.get(token) is None):
                self.playback.expire()  # idle sessions make room first
            session = self.manager.open(token)
        except ServerFull:
            raise SocketRefused("server full", {"error": "server full"}) from None
        except Exception:
            log.exception("connect failed")
            raise SocketRefused("internal error", {"error": "internal error"}) from None
        try:
            with session.lock:
                conn = self.manager.attach(sid, session)
                hello = hello_message(session.token, self.manager.limits)
                if session.restore_error is not None:
                    hello["restore_error"] = session.restore_error
                    session.restore_error = None
                self.socketio.emit("hello", hello, to=sid)
                self.playback.send_frames(session, [conn])
        except Exception:
            log.exception("connect failed for session #%d", session.serial)
            self.manager.detach(sid)
            raise SocketRefused("internal error", {"error": "internal error"}) from None
        self.playback.start()
        return None

    def on_disconnect(self, *args: Any) -> None:
        try:
            sid = request.sid  # type: ignore[attr-defined]
            session = self.manager.detach(sid)
            if session is not None and self.on_leave is not None:
                self.on_leave(session, sid)
        except Exception:
            log.exception("disconnect failed")

    def on_unknown(self, event: Any, *args: Any) -> Ack:
        return self.dispatch(event, args)

    # -------------------------------------------------------------- dispatch

    def dispatch(self, event: Any, args: tuple[Any, ...]) -> Ack:
        """Rate limit, check, act, acknowledge; never raises."""
        try:
            found = self.manager.connection(request.sid)  # type: ignore[attr-defined]
            if found is None:
                return error("this socket has no session; reconnect")
            session, conn = found
            if not conn.bucket.allow(self.manager.clock()):
                return error(TOO_MANY)
            spec = self.events.get(event) if isinstance(event, str) else None
            if spec is None:
                return error(
                    f"unknown event {_short(event)}; events are {', '.join(self.events)}"
                )
            limit, optional, handler = spec
            refused = None if self.guard is None else self.guard(session, conn, event)
            if refused is not None:
                return error(refused)
            data = payload_of(event, args, limit, optional)
            session.used = True
            return handler(session, conn, data)
        except (BadRequest, CommandError) as exc:
            return error(str(exc))
        except Exception as exc:
            log.exception("event %s failed", _short(event))
            return error(f"internal error ({type(exc).__name__}); try resync or reset")

    def _act(
        self,
        session: Session,
        action: Callable[[], Ack],
        heavy: bool = False,
        only: Connection | None = None,
        simulates: bool = False,
    ) -> Ack:
        """Run ``action`` under the session's lock, then send frames; errors change nothing.

        ``heavy`` actions (long runs, imports, lesson steps) and those that ``simulates`` (a
        command runs the events it sets off at its instant) run off the event loop, bounded by
        their work budget; only heavy ones wait for a worker place.
        """
        with session.lock:
            if heavy or simulates:
                result = self.playback.offload(action, heavy=heavy)
                session.played_until = self.manager.clock()  # playing resumes from here
            else:
                result = action()
            self.manager.save(session)  # durable before the acknowledgement (a store is set)
            session.touch(self.manager.clock())
            self.playback.send_frames(session, [only] if only is not None else None)
        return result

    # --------------------------------------------------------------- events

    def command(self, session: Session, conn: Connection, data: dict[str, Any]) -> Ack:
        _only("command", data, {"command"})
        command = _object(data, "command", "command")

        def apply() -> Ack:
            completed = session.command(command)
            return ok(completed=completed) if session.lesson is not None else ok()

        result = self._act(session, apply, simulates=True)
        if session.lesson is not None and self.after_lesson_command is not None:
            self.after_lesson_command(session)
        return result

    def player(self, session: Session, conn: Connection, data: dict[str, Any]) -> Ack:
        req = parse_player(data)
        now = self.manager.clock()

        def act() -> Ack:
            match req.action:
                case "play":
                    session.play(now)
                case "pause":
                    session.pause()
                case "speed":
                    assert req.speed is not None
                    session.set_speed(req.speed)
                case "step":
                    return ok(stepped=session.step())
                case "advance":
                    assert req.ms is not None
                    session.advance(req.ms)
                case "seek":
                    assert req.time is not None
                    session.seek(req.time)
                case "run_until":
                    assert req.condition is not None
                    return ok(reached=session.run_until(req.condition, req.max_ms))
            return ok()

        heavy = req.action in ("advance", "seek", "run_until")
        return self._act(session, act, heavy=heavy)

    def reset(self, session: Session, conn: Connection, data: dict[str, Any]) -> Ack:
        _only("reset", data, {"config"})
        config = data.get("config")
        if config is not None and not isinstance(config, dict):
            raise BadRequest(f"reset: config must be a JSON object, got {_json_type(config)}")

        def act() -> Ack:
            session.reset(config)
            return ok()

        return self._act(session, act)

    def trace_export(self, session: Session, conn: Connection, data: dict[str, Any]) -> Ack:
        _only("trace_export", data, set())
        with session.lock:
            session.touch(self.manager.clock())
            return ok(trace=session.export_trace())

    def trace_import(self, session: Session, conn: Connection, data: dict[str, Any]) -> Ack:
        _only("trace_import", data, {"trace"})
        trace = _object(data, "trace", "trace_import")

        def act() -> Ack:
            session.import_trace(trace)
            return ok()

        return self._act(session, act, heavy=True)

    def resync(self, session: Session, conn: Connection, data: dict[str, Any]) -> Ack:
        _only("resync", data, set())

        def act() -> Ack:
            conn.frames.full = True
            return ok()

        return self._act(session, act, only=conn)
