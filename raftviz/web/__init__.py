"""The web layer: the only part of raftviz that imports Flask and Flask-SocketIO.

``create_app(config)`` builds the Flask app and its Socket.IO server with one
:class:`~raftviz.service.sessions.SessionManager` (a cluster per browser session) and one
:class:`~raftviz.web.playback.Playback` task. ``app.py`` at the top of the repository runs it.

With a session ``store`` sessions are durable (written before each acknowledgement, rebuilt
on reconnect); with a ``message_queue`` (Redis) several workers share Socket.IO broadcasts,
and every page gets a ``raftviz_route`` cookie that the load balancer hashes on, so one
browser's long-polling requests all reach the same worker (deploy/nginx.conf).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from flask import Flask, Response, request
from flask_socketio import SocketIO
from socketio.packet import Packet

from raftviz.service.sessions import Limits, SessionLock, SessionManager
from raftviz.service.store import SessionStore
from raftviz.service.store.rooms import rooms_for
from raftviz.sim.engine.cluster import ClusterConfig
from raftviz.web import wire_json
from raftviz.web.classroom_events import ClassroomEvents
from raftviz.web.events import MAX_TRACE_PAYLOAD, EventHandlers
from raftviz.web.export_events import ExportEvents
from raftviz.web.hello import FRAME_HZ, page_defaults
from raftviz.web.lesson_events import LessonEvents
from raftviz.web.playback import Playback, offloader
from raftviz.web.record_events import RecordEvents
from raftviz.web.routes import register_routes

ROOT = Path(__file__).resolve().parents[2]
ASYNC_MODES = ("eventlet", "gevent", "threading")
APP_VERSION = "0.1.0"
# Transport-level cap on one message: payloads up to this size get an error acknowledgement
# from events.py; a larger one makes Engine.IO close the connection.
MAX_MESSAGE = 4 * MAX_TRACE_PAYLOAD
ROUTE_COOKIE = "raftviz_route"
POSITION_SWEEP = 0.5  # seconds between checks for playing sessions whose position to store
STORE_UPKEEP = 4  # sweeps between store upkeep runs (SQLite: copying its WAL back)

log = logging.getLogger(__name__)


class TextPacket(Packet):  # type: ignore[misc]
    """Socket.IO packets whose data never holds bytes (all we send is JSON).

    python-socketio walks every outgoing payload looking for binary parts; for a frame that
    walk costs more than building the frame. Incoming binary packets are still decoded (and
    then refused by the payload checks). Packets are encoded by orjson (``wire_json``).
    """

    json = wire_json

    @classmethod
    def data_is_binary(cls, data: Any) -> bool:
        return False


@dataclass(frozen=True, slots=True)
class WebConfig:
    """What ``create_app`` accepts (as a dict with these keys)."""

    async_mode: str = "eventlet"
    max_sessions: int = 200
    session_ttl: float = 30.0  # minutes
    limits: Limits | None = None  # overrides max_sessions and session_ttl when given
    cluster: ClusterConfig | None = None  # the cluster a new session starts with
    clock: Callable[[], float] = time.monotonic
    frame_hz: float = FRAME_HZ
    # Per playing session per tick (20 per second), frames included: 10 ms keeps one session
    # on the busiest cluster from delaying the others' frames (tests/web/test_hostile_session.py).
    budget_ms: float = 10.0
    playback_task: bool = True  # False: tests call app.extensions["raftviz"].playback.tick()
    store: SessionStore | None = None  # durable sessions (raftviz/service/store); None: memory
    message_queue: str | None = None  # redis://... : broadcasts shared by several workers
    worker: str = ""  # this worker's name (X-Raftviz-Worker header), for logs and tests

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> WebConfig:
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown config key(s) {', '.join(unknown)}; known: {sorted(known)}")
        config = cls(**data)
        if config.async_mode not in ASYNC_MODES:
            raise ValueError(
                f"async_mode must be one of {', '.join(ASYNC_MODES)}, not {config.async_mode!r}"
            )
        return config

    def resolved_limits(self) -> Limits:
        if self.limits is not None:
            return self.limits
        return replace(Limits(), max_sessions=self.max_sessions, session_ttl=self.session_ttl * 60)


@dataclass(frozen=True, slots=True)
class RaftvizServer:
    """What the app keeps in ``app.extensions["raftviz"]`` (tests reach in through it)."""

    config: WebConfig
    manager: SessionManager
    playback: Playback
    handlers: EventHandlers


def require_async_mode(mode: str) -> None:
    """Raise a clear error when the packages ``mode`` needs are missing."""
    needs = {"eventlet": ["eventlet"], "gevent": ["gevent", "geventwebsocket"]}.get(mode, [])
    missing = [name for name in needs if importlib.util.find_spec(name) is None]
    if missing:
        raise ValueError(
            f"async mode {mode!r} needs {', '.join(missing)}, which is not installed "
            f"(pip install {' '.join(missing).replace('geventwebsocket', 'gevent-websocket')}); "
            "or use --async-mode threading"
        )


def lock_factory(mode: str) -> Callable[[], SessionLock]:
    """A lock that blocks only the waiting green thread (or OS thread) in ``mode``."""
    if mode == "eventlet":
        from eventlet.semaphore import Semaphore

        return Semaphore
    if mode == "gevent":
        from gevent.lock import Semaphore as GeventSemaphore  # type: ignore[import-untyped]

        return GeventSemaphore  # type: ignore[no-any-return]
    return threading.Lock


def static_version() -> str:
    """The app version plus a digest of the static files, so browsers fetch changed files."""
    digest = hashlib.sha1(usedforsecurity=False)
    static = ROOT / "static"
    if static.is_dir():
        for path in sorted(static.rglob("*")):
            if path.is_file():
                stat = path.stat()
                digest.update(f"{path.relative_to(static)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return f"{APP_VERSION}-{digest.hexdigest()[:8]}"


def create_app(config: dict[str, Any] | None = None) -> tuple[Flask, SocketIO]:
    """Build the Flask app and its Socket.IO server (``async_mode`` is always explicit)."""
    cfg = WebConfig.from_dict(config)
    require_async_mode(cfg.async_mode)
    limits = cfg.resolved_limits()

    app = Flask(
        "raftviz",
        root_path=str(ROOT),
        template_folder="templates",
        static_folder="static",
        static_url_path="/static",
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    socketio = SocketIO(
        app,
        async_mode=cfg.async_mode,
        async_handlers=False,  # one socket's events are handled in the order they were sent
        manage_session=False,
        serializer=TextPacket,
        max_http_buffer_size=MAX_MESSAGE,
        logger=False,
        engineio_logger=False,
        **_queue(cfg.message_queue),
    )
    manager = SessionManager(
        limits, cfg.clock, lock_factory(cfg.async_mode), cfg.cluster, store=cfg.store
    )
    playback = Playback(
        socketio,
        manager,
        frame_hz=cfg.frame_hz,
        budget_ms=cfg.budget_ms,
        offload=offloader(cfg.async_mode),
        run_task=cfg.playback_task,
    )
    handlers = EventHandlers(socketio, manager, playback)
    LessonEvents(handlers).install()
    if cfg.message_queue:
        from raftviz.service.store.cluster_link import ClusterLink
        from raftviz.web.cluster_events import ClusterClassroomEvents

        link = ClusterLink(cfg.message_queue, cfg.worker or secrets.token_hex(4),
                           limits.session_ttl)
        ClusterClassroomEvents(handlers, link, app, rooms_for(cfg.store)).install()
    else:
        ClassroomEvents(handlers, rooms=rooms_for(cfg.store)).install()
    RecordEvents(handlers).install()
    ExportEvents(handlers).install(app)
    handlers.register()
    register_routes(
        app, manager, playback, static_version(), page_defaults(manager.config, limits)
    )
    app.extensions["raftviz"] = RaftvizServer(cfg, manager, playback, handlers)
    _route_cookie(app, cfg)
    if cfg.store is not None and cfg.playback_task:
        socketio.start_background_task(_store_sweep, socketio, manager, playback)
    return app, socketio


def _queue(url: str | None) -> dict[str, Any]:
    """SocketIO options for a Redis message queue between workers (none without a URL)."""
    if not url:
        return {}
    from raftviz.web.queue import LocalFirstRedisManager

    return {"client_manager": LocalFirstRedisManager(url, channel="flask-socketio")}


def _route_cookie(app: Flask, cfg: WebConfig) -> None:
    """Name the worker on every response; give each browser a key for sticky routing."""

    @app.after_request
    def route(response: Response) -> Response:
        if cfg.worker:
            response.headers["X-Raftviz-Worker"] = cfg.worker
        if cfg.message_queue and response.mimetype == "text/html":
            if ROUTE_COOKIE not in request.cookies:
                response.set_cookie(
                    ROUTE_COOKIE, secrets.token_urlsafe(12), httponly=True, samesite="Lax"
                )
        return response


def _store_sweep(socketio: SocketIO, manager: SessionManager, playback: Playback) -> None:
    """Keep stored positions of playing sessions about a second fresh, and stored checkpoints
    close enough to each run's position that a rebuild is quick."""
    store = manager.store
    assert store is not None
    sweeps = 0
    while True:
        socketio.sleep(POSITION_SWEEP)
        sweeps += 1
        if sweeps % STORE_UPKEEP == 0:
            try:
                playback.offload(store.maintain)
            except Exception:
                log.exception("session store upkeep failed")
        for session in manager.sessions():
            try:
                if session.playing:
                    manager.save_position(session)
                manager.store_checkpoint(session, playback.offload)
            except Exception:
                log.exception("storing session #%d failed", session.serial)
            socketio.sleep(0)
