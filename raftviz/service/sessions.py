"""Browser sessions: one simulated cluster (a :class:`History`) per session, with limits.

A session is found by an unguessable token (``secrets.token_urlsafe``) that the page keeps in
its tab, so a reload gets the same cluster back. :class:`SessionManager` creates sessions up to
a cap, expires idle ones, and maps each socket connection to its session. Everything here is
plain Python (no Flask): the web layer validates payloads and calls these methods, and the
clock is injected so tests can expire sessions without sleeping.

Time control lives on :class:`Session` too: play/pause and speed (simulated ms per real ms),
stepping, advancing, seeking and running until a condition, each bounded so that one request
cannot keep the server busy for long. Memory is bounded per session: a cap on recorded commands
(a clear error past it) and on checkpoints (thinned, so a jump back replays a little more).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from raftviz.service.frame_state import FrameState
from raftviz.sim.engine.cluster import MAX_NODES, ClusterConfig, CommandError
from raftviz.sim.engine.errors import WorkLimitError
from raftviz.sim.history import CONDITIONS, MAX_TRACE_TIME, History, config_from_json

if TYPE_CHECKING:
    from raftviz.lessons import LessonRunner
    from raftviz.service.classroom import Classroom

DEFAULT_SPEED = 0.05
MIN_SPEED = 0.001
MAX_SPEED = 1.0


class SessionLock(AbstractContextManager[Any], Protocol):
    """What a session needs from a lock (threading.Lock, an eventlet or gevent semaphore)."""

    def acquire(self, blocking: bool = True) -> bool: ...

    def release(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Limits:
    """Server-wide limits; every one has a default matching docs/protocol.md."""

    max_sessions: int = 200
    session_ttl: float = 30 * 60.0  # seconds without an event (and not playing)
    unused_ttl: float = 120.0  # seconds for a session that never got an event and has no page
    max_nodes: int = MAX_NODES
    max_commands: int = 5000  # recorded commands per session
    max_checkpoints: int = 100  # beyond this, every other checkpoint is dropped
    max_time: float = 600_000.0  # simulated ms a run may reach (and a trace may run to)
    max_advance_ms: float = 60_000.0  # simulated ms one advance or run_until may cover
    default_run_until_ms: float = 10_000.0
    rate: float = 30.0  # events per second per connection
    burst: float = 60.0

    def __post_init__(self) -> None:
        if self.max_sessions < 1:
            raise ValueError("max_sessions must be at least 1")
        if self.session_ttl <= 0:
            raise ValueError("session_ttl must be positive")
        if not 1 <= self.max_nodes <= MAX_NODES:
            raise ValueError(f"max_nodes must be within 1..{MAX_NODES}")
        if self.max_checkpoints < 2:
            raise ValueError("max_checkpoints must be at least 2")
        if not 0 < self.max_time <= MAX_TRACE_TIME:
            raise ValueError(f"max_time must be within 0..{MAX_TRACE_TIME:g} ms")
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("rate must be positive and burst at least 1")


class ServerFull(Exception):
    """No room for another session."""


class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst``; one token per event."""

    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = now

    def allow(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


@dataclass(slots=True)
class Connection:
    """One socket of a session: its rate limit and its frame state."""

    sid: str
    bucket: TokenBucket
    frames: FrameState = field(default_factory=FrameState)
    follower: bool = False  # a classroom student: gets the classroom's shared frames instead


def _condition_names() -> str:
    return ", ".join(sorted(CONDITIONS))


class Session:
    """One browser session: a cluster with its history, and how it is being played."""

    def __init__(
        self,
        token: str,
        history: History,
        limits: Limits,
        now: float,
        lock: SessionLock,
    ) -> None:
        self.token = token
        self.serial = 0  # a number for logs (the token is a secret)
        self.history = history
        self.limits = limits
        self.lock = lock
        self.playing = False
        self.speed = DEFAULT_SPEED
        self.last_activity = now
        self.used = False  # any event accepted yet
        self.played_until = now  # real time up to which playback has advanced the run
        self.stopped: str | None = None  # why playback last stopped by itself (a work guard)
        self.connections: dict[str, Connection] = {}
        self.classroom: Classroom | None = None  # students following this session
        # A guided lesson (raftviz/web/lesson_events.py); while it runs, history is its History.
        self.lesson: LessonRunner | None = None

    # --------------------------------------------------------------- status

    def touch(self, now: float) -> None:
        self.last_activity = now

    def idle_for(self, now: float) -> float:
        return 0.0 if self.playing else now - self.last_activity

    def expired(self, now: float) -> bool:
        """Idle past the TTL; sooner for a session nobody used that has no page open."""
        idle = self.idle_for(now)
        if not self.used and not self.connections:
            return idle > min(self.limits.unused_ttl, self.limits.session_ttl)
        return idle > self.limits.session_ttl

    def player_state(self) -> dict[str, Any]:
        """The ``player`` block of a frame (docs/protocol.md)."""
        h = self.history
        state: dict[str, Any] = {
            "playing": self.playing,
            "speed": self.speed,
            "now": round(h.now, 3),
            "horizon": round(h.horizon, 3),
            "start": 0,
            "checkpoints": len(h.checkpoints),
            "manual": h.cluster.network.manual,
        }
        if self.stopped is not None:
            state["stopped"] = self.stopped
        return state

    def need_full_frames(self) -> None:
        """Every page must be sent a full frame next (after a jump back, reset or import)."""
        for conn in self.connections.values():
            conn.frames.full = True
        if self.classroom is not None:
            self.classroom.frames.full = True

    # ------------------------------------------------------------- commands

    def command(self, data: Any) -> list[str]:
        """Apply one command object (docs/commands.md); CommandError changes nothing.

        During a lesson the command goes through the lesson, so tasks done on the canvas
        count; returns the lesson tasks it completed.
        """
        # Commands past the cursor are dropped when this one forks history.
        if self.history.cursor >= self.limits.max_commands:
            raise CommandError(
                f"this run has recorded {self.limits.max_commands} commands, the most a session "
                "keeps; reset, or seek back and carry on from there"
            )
        completed: list[str] = []
        if self.lesson is not None:
            completed = self.lesson.on_learner_command(data)
        else:
            self.history.apply_json(data)
        self._bound_memory()
        return completed

    # ---------------------------------------------------------- time control

    def play(self, now: float) -> None:
        if self.history.now >= self.limits.max_time:
            raise CommandError(
                f"this run reached the {self.limits.max_time:g} ms limit of simulated time; "
                "seek back or reset"
            )
        self.playing = True
        self.stopped = None
        self.played_until = now

    def pause(self) -> None:
        self.playing = False

    def set_speed(self, speed: float) -> None:
        if not MIN_SPEED <= speed <= MAX_SPEED:
            raise CommandError(f"speed must be within {MIN_SPEED:g}..{MAX_SPEED:g}, got {speed:g}")
        self.speed = speed

    def step(self) -> bool:
        """Process one event; False when nothing is scheduled or the time limit is reached."""
        h = self.history
        t = h.cluster.next_event_time()
        if t is None or t > self.limits.max_time:
            return False
        stepped = h.step()
        self._bound_memory()
        return stepped

    def advance(self, ms: float) -> None:
        """Run ``ms`` of simulated time."""
        if not 0 < ms <= self.limits.max_advance_ms:
            raise CommandError(f"ms must be within 0..{self.limits.max_advance_ms:g}, got {ms:g}")
        self._check_target(self.history.now + ms)
        self.history.run_for(ms)
        self._bound_memory()

    def seek(self, target: float) -> bool:
        """Jump to simulated time ``target``; True when that went back in time."""
        h = self.history
        if not 0 <= target <= self.limits.max_time:
            raise CommandError(f"time must be within 0..{self.limits.max_time:g} ms")
        back = target < h.now
        try:
            h.seek(target)
        finally:
            if back:  # also when a work guard stopped the replay part of the way
                self.need_full_frames()
        self._bound_memory()
        return back

    def run_until(self, condition: str, max_ms: float | None) -> bool:
        """Run until ``condition`` holds (True) or ``max_ms`` of simulated time pass (False)."""
        check = CONDITIONS.get(condition)
        if check is None:
            raise CommandError(f"unknown condition {condition!r}; use {_condition_names()}")
        limit = self.limits.default_run_until_ms if max_ms is None else max_ms
        if not 0 < limit <= self.limits.max_advance_ms:
            raise CommandError(
                f"max_ms must be within 0..{self.limits.max_advance_ms:g}, got {limit:g}"
            )
        limit = min(limit, self.limits.max_time - self.history.now)
        if limit <= 0:
            raise CommandError(f"this run reached the {self.limits.max_time:g} ms limit")
        reached = self.history.run_until_condition(check, limit)
        self._bound_memory()
        return reached

    def play_for(self, real_ms: float, deadline: float, clock: Callable[[], float]) -> bool:
        """Playback: run ``real_ms x speed`` of simulated time, stopping early at ``deadline``.

        Returns False when the CPU budget ran out first: the run then stands where it got to,
        so a session with too much to do slows down instead of starving the others.
        """
        h = self.history
        c = h.cluster
        target = min(h.now + real_ms * self.speed, self.limits.max_time)
        on_time = True
        try:
            with h.metered():
                while True:
                    t = c.next_event_time()
                    if t is None or t > target:
                        h.run_until(target)
                        break
                    h.step()
                    if clock() > deadline:
                        on_time = False
                        break
        except WorkLimitError as exc:
            self.playing = False  # the page learns why from player.stopped
            self.stopped = str(exc)
        if h.now >= self.limits.max_time:
            self.playing = False
        self._bound_memory()
        return on_time

    def _check_target(self, target: float) -> None:
        if target > self.limits.max_time:
            raise CommandError(
                f"a run may reach at most {self.limits.max_time:g} ms of simulated time; "
                "seek back or reset"
            )

    # ----------------------------------------------------- whole-run changes

    def reset(self, config_json: Any) -> None:
        """Start a new cluster from config JSON (None: the default cluster)."""
        config = ClusterConfig() if config_json is None else config_from_json(config_json)
        self._check_config(config)
        self.history = History(config)
        self.lesson = None
        self.playing = False
        self.need_full_frames()

    def export_trace(self) -> dict[str, Any]:
        return self.history.export_trace()

    def import_trace(self, data: Any) -> None:
        """Replace the run with an imported trace; a bad trace raises and changes nothing."""
        if isinstance(data, dict):
            end = data.get("end", 0)
            if isinstance(end, (int, float)) and not isinstance(end, bool):
                if end > self.limits.max_time:
                    raise CommandError(
                        f"this trace runs to {end:g} ms; this server imports runs of at most "
                        f"{self.limits.max_time:g} ms"
                    )
            commands = data.get("commands")
            if isinstance(commands, list) and len(commands) > self.limits.max_commands:
                raise CommandError(
                    f"this trace has {len(commands)} commands; a session keeps at most "
                    f"{self.limits.max_commands}"
                )
        history = History.import_trace(data)
        self._check_config(history.config)
        self.history = history
        self.lesson = None
        self.playing = False
        self._bound_memory()
        self.need_full_frames()

    def _check_config(self, config: ClusterConfig) -> None:
        if config.size > self.limits.max_nodes:
            raise CommandError(
                f"this server runs clusters of at most {self.limits.max_nodes} nodes, "
                f"not {config.size}"
            )

    def _bound_memory(self) -> None:
        """Past the checkpoint cap, keep every other checkpoint and take them half as often.

        The spacing stays even and doubles each time, so a jump back replays at most one
        (longer) interval; the first checkpoint (time 0) and the latest one always stay.
        """
        h = self.history
        while len(h.checkpoints) > self.limits.max_checkpoints:
            cps = h.checkpoints
            h.checkpoints = cps[::2] if len(cps) % 2 else [*cps[::2], cps[-1]]
            h.checkpoint_every *= 2
            h.checkpoint_events *= 2


class SessionManager:
    """Sessions by token, connections by socket id; caps, idle expiry and rate limits."""

    def __init__(
        self,
        limits: Limits | None = None,
        clock: Callable[[], float] = time.monotonic,
        lock_factory: Callable[[], SessionLock] = threading.Lock,
        config: ClusterConfig | None = None,
    ) -> None:
        self.limits = limits or Limits()
        self.clock = clock
        self.lock_factory = lock_factory
        self.config = config or ClusterConfig()
        self._check_default_config()
        self._sessions: dict[str, Session] = {}
        self._by_sid: dict[str, Session] = {}
        self._created = 0
        # Guards the two maps; taken only for short, non-yielding dictionary updates.
        self._lock = lock_factory()

    def _check_default_config(self) -> None:
        if self.config.size > self.limits.max_nodes:
            raise ValueError("the default cluster is larger than max_nodes")

    def __len__(self) -> int:
        return len(self._sessions)

    @property
    def full(self) -> bool:
        return len(self._sessions) >= self.limits.max_sessions

    def get(self, token: str) -> Session | None:
        return self._sessions.get(token)

    def sessions(self) -> list[Session]:
        with self._lock:
            return list(self._sessions.values())

    def playing(self) -> list[Session]:
        with self._lock:
            return [s for s in self._sessions.values() if s.playing]

    def open(self, token: str | None) -> Session:
        """The session for ``token``, or a new one (with a new token); ServerFull if no room."""
        now = self.clock()
        with self._lock:
            session = self._sessions.get(token) if token else None
            if session is not None:
                session.touch(now)
                return session
            if len(self._sessions) >= self.limits.max_sessions:
                raise ServerFull("server full")
            new_token = secrets.token_urlsafe(24)
            history = History(self.config)
            session = Session(new_token, history, self.limits, now, self.lock_factory())
            self._created += 1
            session.serial = self._created
            self._sessions[new_token] = session
            return session

    def attach(self, sid: str, session: Session, follower: bool = False) -> Connection:
        """Register socket ``sid`` as a page of ``session``; its first frame will be full."""
        conn = Connection(sid, TokenBucket(self.limits.rate, self.limits.burst, self.clock()))
        conn.follower = follower
        with self._lock:
            session.connections[sid] = conn
            self._by_sid[sid] = session
        return conn

    def detach(self, sid: str) -> Session | None:
        """Forget socket ``sid``; a session left without pages is paused."""
        with self._lock:
            session = self._by_sid.pop(sid, None)
            if session is None:
                return None
            session.connections.pop(sid, None)
            if not session.connections:
                session.playing = False
                session.touch(self.clock())
            return session

    def discard(self, session: Session) -> None:
        """Forget a session no page holds any more (a page left it to join a classroom)."""
        with self._lock:
            if not session.connections:
                self._sessions.pop(session.token, None)

    def connection(self, sid: str) -> tuple[Session, Connection] | None:
        session = self._by_sid.get(sid)
        if session is None:
            return None
        conn = session.connections.get(sid)
        return None if conn is None else (session, conn)

    def expire(self) -> list[Session]:
        """Remove expired sessions; returns them (their sockets to close).

        A session expires after ``session_ttl`` without events (and not playing). One that
        never received an event and has no page open goes after ``unused_ttl``: opening and
        dropping connections cannot fill the server for half an hour.
        """
        now = self.clock()
        with self._lock:
            gone = [s for s in self._sessions.values() if s.expired(now)]
            for s in gone:
                del self._sessions[s.token]
                for sid in s.connections:
                    self._by_sid.pop(sid, None)
            return gone

    def __iter__(self) -> Iterator[Session]:
        return iter(self.sessions())
