"""Playback: one background task that advances every playing session and sends it frames.

About 20 times a second the task visits each playing session: it runs the simulation forward by
the real time elapsed since the last visit times the session's speed, within a CPU budget per
session, and sends each page of the session its next frame. A session that cannot keep up
within its budget simply gets less simulated time (it slows down); the others are not starved.
The task yields between sessions so that socket handlers run promptly, and it never waits for a
session that a handler holds: that session is visited on the next tick.

The code is the same in every async mode: it uses only ``socketio.sleep`` and
``socketio.start_background_task``. Requests that run the simulation (commands, advances,
seeks, trace imports, lesson steps) run off the event loop with :meth:`Playback.offload`: a
native thread in eventlet and gevent mode (the request's own thread already in threading mode),
each bounded by its work budget (``WorkBudget`` in raftviz/sim/engine/scheduler.py). At most
``workers`` heavy requests run at once, server-wide: the others wait their turn without
blocking anything, so the event loop always keeps most of the interpreter.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from flask_socketio import SocketIO

from raftviz.service.sessions import (
    Connection,
    FrameState,
    Session,
    SessionLock,
    SessionManager,
)
from raftviz.sim.engine.scheduler import PACE
from raftviz.web.frames import build_frame

log = logging.getLogger(__name__)

T = TypeVar("T")

HEAVY_WORKERS = 2  # heavy requests running at once (they share the interpreter lock)
# While sessions are playing, a worker thread sleeps PACE_RATIO times as long as it worked, in
# slices of PACE_SLICE seconds of CPU: the workers together take at most half the interpreter
# and playing sessions keep their frame rate beside long requests (which take up to four
# times as long then, only while someone is watching frames).
PACE_SLICE = 0.004
PACE_RATIO = 3.0
MIN_SIMULATION_SHARE = 0.1  # of a visit's budget, however costly the session's frames are
MAX_CATCH_UP = 0.25  # seconds of real time one visit may make up for (after a stall)
EXPIRE_EVERY = 5.0  # seconds between idle-session sweeps
YIELD_EVERY = 0.005  # seconds of work between yields to the event loop within a tick


def gate(async_mode: str, workers: int) -> SessionLock:
    """A semaphore of ``workers`` places that blocks only the waiting green thread (or thread)."""
    if async_mode == "eventlet":
        from eventlet.semaphore import Semaphore

        return Semaphore(workers)
    if async_mode == "gevent":
        from gevent.lock import Semaphore as GeventSemaphore  # type: ignore[import-untyped]

        return GeventSemaphore(workers)  # type: ignore[no-any-return]
    return threading.Semaphore(workers)


def offloader(async_mode: str) -> Callable[[Callable[[], Any]], Any]:
    """How to run CPU-heavy work without blocking the event loop in ``async_mode``."""
    if async_mode == "eventlet":
        from eventlet import tpool

        return lambda fn: tpool.execute(fn)
    if async_mode == "gevent":
        import gevent  # type: ignore[import-untyped]

        return lambda fn: gevent.get_hub().threadpool.apply(fn)
    return lambda fn: fn()


class _Pacer:
    """Called by a request's work meter: sleeps off the CPU used since the last sleep."""

    __slots__ = ("sleep", "busy", "since")

    def __init__(self, sleep: Callable[[float], None], busy: Callable[[], bool]) -> None:
        self.sleep = sleep
        self.busy = busy
        self.since = time.thread_time()

    def __call__(self) -> None:
        worked = time.thread_time() - self.since
        if worked >= PACE_SLICE:
            if self.busy():
                self.sleep(worked * PACE_RATIO)
            self.since = time.thread_time()


def _real_sleep(async_mode: str) -> Callable[[float], None]:
    """``time.sleep`` that blocks the OS thread (the worker), whatever was monkey-patched."""
    if async_mode == "eventlet":
        from eventlet import patcher

        sleep: Callable[[float], None] = patcher.original("time").sleep
        return sleep
    if async_mode == "gevent":
        from gevent import monkey  # type: ignore[import-untyped]

        original: Callable[[float], None] = monkey.get_original("time", "sleep")
        return original
    return time.sleep


class Playback:
    """Advances playing sessions, sends frames, expires idle sessions."""

    def __init__(
        self,
        socketio: SocketIO,
        manager: SessionManager,
        frame_hz: float = 20.0,
        budget_ms: float = 10.0,
        offload: Callable[[Callable[[], Any]], Any] | None = None,
        run_task: bool = True,
        workers: int = HEAVY_WORKERS,
    ) -> None:
        self.socketio = socketio
        self.manager = manager
        self.period = 1.0 / frame_hz
        self.budget = budget_ms / 1000.0
        self._offload = offload or (lambda fn: fn())
        self._heavy = gate(socketio.async_mode, workers)
        self._sleep = _real_sleep(socketio.async_mode)
        self._frames_cost: weakref.WeakKeyDictionary[Session, float] = weakref.WeakKeyDictionary()
        self.watching = False  # any session playing at the last tick (workers pace then)
        self._resting: weakref.WeakKeyDictionary[Session, int] = weakref.WeakKeyDictionary()
        self.run_task = run_task
        self._started = False
        self._stopping = False
        self._next_sweep = 0.0
        # Counters for /healthz and the benchmarks.
        self.ticks = 0
        self.frames = 0  # frames sent, by playback and after events
        self.behind = 0  # session visits cut short by the CPU budget
        self.late_ticks = 0  # ticks that started later than one period after the previous one

    def offload(self, fn: Callable[[], T], heavy: bool = True) -> T:
        """Run ``fn`` off the event loop; a heavy one waits for one of the ``workers`` places.

        A light one (a command: at most one instant's events) does not queue behind heavy ones.
        """

        def job() -> T:
            token = PACE.set(_Pacer(self._sleep, self._someone_watching))
            try:
                return fn()
            finally:
                PACE.reset(token)

        if not heavy:
            result: T = self._offload(job)
            return result
        with self._heavy:
            result = self._offload(job)
        return result

    def _someone_watching(self) -> bool:
        """Read from worker threads: a plain flag, no lock (set by each tick)."""
        return self.watching

    # ---------------------------------------------------------------- frames

    def send_frames(self, session: Session, conns: list[Connection] | None = None) -> None:
        """Queue the next frame for each page of ``session``; the caller holds its lock.

        Classroom students (followers) share one delta stream: it is built once and broadcast
        to the classroom's room. A follower named in ``conns`` (it just joined, or asked to
        resync) gets the room brought up to date first, then a full frame of its own, so the
        next shared delta applies on top of what it holds.
        """
        targets = list(session.connections.values()) if conns is None else conns
        player = session.player_state()
        h = session.history
        cluster = h.cluster
        # Commands move History's place in its command log; between them and the events the
        # cluster counts itself, only time moves (see raftviz/sim/snapshot.py).
        version = (h.cursor, len(h.log))
        changed = session.changed()  # sent in every frame: null clears the page's highlights
        followers = []
        for conn in targets:
            if conn.follower:
                followers.append(conn)
                continue
            frame = build_frame(cluster, conn.frames, player, version=version)
            frame["changed"] = changed
            self.socketio.emit("frame", frame, to=conn.sid)
            self.frames += 1
        room = session.classroom
        if room is not None and (conns is None or followers):
            # A catch-up needs no room frame when nothing changed since the last one (a wave
            # of students joining a paused cluster would otherwise cost n^2 frames).
            key = (id(h), h.cursor, h.now, tuple(player.values()))
            if conns is None or room.frames.full or key != room.sent_key:
                frame = build_frame(cluster, room.frames, player, version=version)
                frame["changed"] = changed
                self.socketio.emit("frame", frame, to=room.room)
                room.sent_key = key
                self.frames += 1
        if conns is not None:
            for conn in followers:
                conn.frames = FrameState()
                frame = build_frame(cluster, conn.frames, player, version=version)
                frame["changed"] = changed
                self.socketio.emit("frame", frame, to=conn.sid)
                self.frames += 1

    # ------------------------------------------------------------------ task

    def start(self) -> None:
        """Start the background task once (on the first connection)."""
        if self._started or not self.run_task:
            return
        self._started = True
        self.socketio.start_background_task(self._run)

    def stop(self) -> None:
        self._stopping = True

    def _run(self) -> None:
        next_tick = time.monotonic()
        while not self._stopping:
            try:
                self.tick()
            except Exception:
                log.exception("playback tick failed")
            next_tick += self.period
            delay = next_tick - time.monotonic()
            if delay < 0:
                next_tick = time.monotonic()  # behind: carry on without trying to catch up
                delay = 0.0
                self.late_ticks += 1
            self.socketio.sleep(delay)

    def tick(self) -> None:
        """Visit every playing session once; sweep idle sessions now and then."""
        self.ticks += 1
        last_yield = time.perf_counter()
        playing = self.manager.playing()
        self.watching = bool(playing)
        for session in playing:
            self._visit(session)
            if time.perf_counter() - last_yield > YIELD_EVERY:
                self.socketio.sleep(0)  # let handlers and socket writers run
                last_yield = time.perf_counter()
        now = self.manager.clock()
        if now >= self._next_sweep:
            self._next_sweep = now + EXPIRE_EVERY
            self.expire()

    def _visit(self, session: Session) -> None:
        resting = self._resting.get(session, 0)
        if resting:
            self._resting[session] = resting - 1
            return  # its last visit cost more than its budget: it sits this tick out
        if not session.lock.acquire(blocking=False):
            return  # a handler is working on it; next tick
        try:
            if not session.playing:
                return
            now = self.manager.clock()
            if not session.connections:
                session.playing = False
                return
            real_ms = min(max(now - session.played_until, 0.0), MAX_CATCH_UP) * 1000.0
            session.played_until = now
            # The budget covers the whole visit: the frames this session's pages cost last
            # time (a big, busy cluster's are not cheap) come out of its simulation time.
            start = time.perf_counter()
            frames_cost = self._frames_cost.get(session, 0.0)
            deadline = start + max(self.budget - frames_cost, self.budget * MIN_SIMULATION_SHARE)
            if not session.play_for(real_ms, deadline, time.perf_counter):
                self.behind += 1
            session.touch(now)
            sent = time.perf_counter()
            self.send_frames(session)
            end = time.perf_counter()
            self._frames_cost[session] = end - sent
            # Frames costlier than the whole budget: skip visits so that on average this
            # session uses no more than its budget per tick (it gets fewer frames, no one else
            # gets fewer).
            over = (end - start) - self.budget
            if over > 0 and self.budget > 0:
                self._resting[session] = math.ceil(over / self.budget)
        except Exception:
            log.exception("playback failed for session #%d; pausing it", session.serial)
            session.playing = False
        finally:
            session.lock.release()

    def stats(self) -> dict[str, int]:
        return {
            "ticks": self.ticks,
            "late_ticks": self.late_ticks,
            "frames": self.frames,
            "behind": self.behind,
        }

    def expire(self) -> None:
        """Drop idle sessions and close their sockets."""
        for session in self.manager.expire():
            for sid in list(session.connections):
                try:
                    self.socketio.server.disconnect(sid, namespace="/")
                except Exception:
                    log.exception("could not disconnect %s", sid)
