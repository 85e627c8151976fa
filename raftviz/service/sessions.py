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

With a :mod:`~raftviz.service.store` the manager makes sessions durable: :meth:`SessionManager.save`
writes the configuration and every new command (and, during a guided lesson, the lesson's
journal) before the web layer acknowledges the event, and :meth:`SessionManager.open` rebuilds
a session it does not hold from the store by replay, off the event loop when given an offload.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from raftviz.service.frame_state import FrameState
from raftviz.service.store import Fenced, Position, SessionStore, StoreError, rebuild
from raftviz.service.store.base import LessonWrite, StoredRun, encode_command, encode_config
from raftviz.service.store.checkpoint import StoredCheckpoint, seal
from raftviz.service.store.lessons import (
    decode_journal,
    find_stored_lesson,
    lesson_write,
    resume_lesson,
)
from raftviz.sim.changes import before_step, changes
from raftviz.sim.engine.cluster import MAX_NODES, ClusterConfig, CommandError
from raftviz.sim.engine.errors import WorkLimitError
from raftviz.sim.history import (
    CONDITIONS,
    MAX_TRACE_TIME,
    History,
    Logged,
    config_from_json,
)

if TYPE_CHECKING:
    from raftviz.lessons import Lesson, LessonRunner
    from raftviz.service.classroom import Classroom

log = logging.getLogger(__name__)

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


class SessionMoved(CommandError):
    """Another worker took this session over; this worker's copy was dropped."""


POSITION_EVERY = 1.0  # seconds between position writes of a playing session
# Events a rebuild may replay past the stored checkpoint (about 0.3 s on a slow core) before a
# newer checkpoint is stored.
CHECKPOINT_GAP = 4000


@dataclass(slots=True)
class StoredMark:
    """What the store holds of a session: its epoch, which History and which log entries,
    the horizon it was told, and where its stored checkpoint stands."""

    epoch: int
    history: History
    entries: list[Logged]
    horizon: float = 0.0
    checkpoint: tuple[int, float] | None = None
    saved_at: float = 0.0
    lesson: LessonRunner | None = None  # the lesson whose journal is stored
    journal: int = 0  # how many of its journal entries


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
        # After a single step: where it left the run, and what it changed (docs/snapshot.md).
        self._step_changes: tuple[tuple[int, int, int, float, int], dict[str, Any]] | None = None
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
        self.stored: StoredMark | None = None  # None: not written to the store yet
        self.restore_error: str | None = None  # why the stored session behind the token failed

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
        before = before_step(h.cluster)
        stepped = h.step()
        self._bound_memory()
        self._step_changes = (self._position(), changes(before, h.cluster)) if stepped else None
        return stepped

    def _position(self) -> tuple[int, int, int, float, int]:
        h = self.history
        return id(h), id(h.cluster), h.cluster.events_processed, h.now, h.cursor

    def changed(self) -> dict[str, Any] | None:
        """What the last single step changed per server, while the run still stands there."""
        if self._step_changes is None or self._step_changes[0] != self._position():
            return None
        return self._step_changes[1]

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
        store: SessionStore | None = None,
    ) -> None:
        self.limits = limits or Limits()
        self.store = store
        self.clock = clock
        self.lock_factory = lock_factory
        self.config = config or ClusterConfig()
        self._check_default_config()
        self._sessions: dict[str, Session] = {}
        self._by_sid: dict[str, Session] = {}
        self._created = 0
        # Guards the maps; taken only for short, non-yielding dictionary updates.
        self._lock = lock_factory()
        # Tokens being restored: (a lock the restorer holds, how many connections want it).
        self._restoring: dict[str, tuple[SessionLock, list[int]]] = {}
        # Lessons by id, for restoring a session that runs one (set by the web layer).
        self.find_lesson: Callable[[str], Lesson | None] | None = None
        # Where a rebuild runs when open() is given none (the web layer: a worker thread).
        self.offload: Callable[[Callable[[], Any]], Any] | None = None

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

    def open(
        self, token: str | None, offload: Callable[[Callable[[], Any]], Any] | None = None
    ) -> Session:
        """The session for ``token``, or a new one (with a new token); ServerFull if no room.

        A token this worker does not hold is looked up in the store and the session rebuilt
        by replay, in ``offload`` (else :attr:`offload`, else right here); if the stored
        session cannot be restored, the new session carries the reason in ``restore_error``
        (nothing else is affected). Connections that open one token at once wait for a single
        restore.
        """
        now = self.clock()
        with self._lock:
            session = self._sessions.get(token) if token else None
            if session is not None:
                session.touch(now)
                return session
            if len(self._sessions) >= self.limits.max_sessions:
                raise ServerFull("server full")
        if not token or self.store is None:
            return self._new(None)
        with self._one_restore(token):
            with self._lock:
                session = self._sessions.get(token)
                if session is not None:  # another connection restored it meanwhile
                    session.touch(now)
                    return session
            restored, problem = self._restore(
                token, offload or self.offload or (lambda fn: fn())
            )
            if restored is None:
                return self._new(problem)
            with self._lock:
                self._register(restored)
            return restored

    @contextmanager
    def _one_restore(self, token: str) -> Iterator[None]:
        """Held while ``token`` is restored: a second connection waits (without blocking the
        event loop) and then finds the session in memory, instead of claiming it again."""
        with self._lock:
            gate, waiting = self._restoring.setdefault(token, (self.lock_factory(), [0]))
            waiting[0] += 1
        try:
            with gate:
                yield
        finally:
            with self._lock:
                waiting[0] -= 1
                if not waiting[0]:
                    del self._restoring[token]

    def _new(self, problem: str | None) -> Session:
        with self._lock:
            if len(self._sessions) >= self.limits.max_sessions:
                raise ServerFull("server full")
            session = Session(
                secrets.token_urlsafe(24), History(self.config), self.limits, self.clock(),
                self.lock_factory(),
            )
            session.restore_error = problem
            self._register(session)
        return session

    def _register(self, session: Session) -> None:
        """Add a session to the map; the caller holds ``_lock``."""
        self._created += 1
        session.serial = self._created
        self._sessions[session.token] = session

    def _restore(
        self, token: str, offload: Callable[[Callable[[], Any]], Any]
    ) -> tuple[Session | None, str | None]:
        """Rebuild session ``token`` from the store: (session, None), or (None, why not).

        The store is read here (its clients belong to the event loop); the replay, pure
        computation, runs in ``offload``.
        """
        store = self.store
        assert store is not None
        try:
            run = store.claim(token)
            if run is None:
                return None, None
            lesson = (
                None if run.lesson is None else find_stored_lesson(run.lesson, self.find_lesson)
            )
            journal = [] if lesson is None else decode_journal(run.journal)
            rebuilt: tuple[History, LessonRunner | None] = offload(
                lambda: self._rebuild(run, lesson, journal)
            )
        except StoreError as exc:
            log.warning("stored session could not be restored: %s", exc)
            return None, f"your saved session could not be restored ({exc}); this is a new one"
        history, runner = rebuilt
        session = Session(token, history, self.limits, self.clock(), self.lock_factory())
        session.used = True
        session.lesson = runner
        session.speed = min(max(run.position.speed, MIN_SPEED), MAX_SPEED)
        session._bound_memory()  # noqa: SLF001
        cp = run.checkpoint
        session.stored = StoredMark(
            run.epoch, history, list(history.log), history.horizon,
            None if cp is None else (cp.events, cp.time), self.clock(),
            runner, 0 if runner is None else len(runner.journal),
        )
        return session, None

    def _rebuild(
        self, run: StoredRun, lesson: Lesson | None, journal: list[dict[str, Any]]
    ) -> tuple[History, LessonRunner | None]:
        """The stored run replayed, and its lesson (if it runs one) redone on it."""
        assert self.store is not None
        history = rebuild(run, self.store.key)
        runner = None if lesson is None else resume_lesson(lesson, journal, run, history)
        return history, runner

    # ---------------------------------------------------------------- store

    def save(self, session: Session) -> None:
        """Write what changed since the last save; the caller holds the session's lock.

        Called before an event is acknowledged, so an acknowledged command is in the store.
        Raises :class:`SessionMoved` (and forgets the session) when another worker took it.
        """
        store = self.store
        if store is None or not session.used:
            return
        h = session.history
        mark = session.stored
        position = Position(h.cluster.events_processed, h.now, h.horizon, session.speed)
        ttl = self.limits.session_ttl
        try:
            written = False
            if mark is not None and mark.history is h:
                keep = min(len(mark.entries), len(h.log))
                while keep and h.log[keep - 1] is not mark.entries[keep - 1]:
                    keep -= 1  # the run forked: the stored future from here is gone
                new = h.log[keep:]
                # A fork (a command after a jump back) invalidates a checkpoint past it.
                forked = keep < len(mark.entries) or h.horizon < mark.horizon
                drop = (
                    forked
                    and mark.checkpoint is not None
                    and mark.checkpoint > (position.events, position.now)
                )
                written = store.write(
                    session.token, mark.epoch, config=None, keep=keep,
                    commands=[encode_command(e) for e in new], position=position, ttl=ttl,
                    drop_checkpoint=drop, lesson=_lesson_change(session.lesson, mark),
                )
                if written:
                    del mark.entries[keep:]
                    mark.entries.extend(new)
                    if drop:
                        mark.checkpoint = None
            if not written:  # a new run (new session, reset, import, lesson), or expired
                epoch = 1 if mark is None else mark.epoch
                store.write(
                    session.token, epoch, config=encode_config(h), keep=0,
                    commands=[encode_command(e) for e in h.log], position=position, ttl=ttl,
                    lesson=lesson_write(session.lesson),
                )
                mark = session.stored = StoredMark(epoch, h, list(h.log))
        except Fenced:
            self._drop(session)
            raise SessionMoved(
                "this session was opened on another server process; reload the page to "
                "continue there"
            ) from None
        assert mark is not None
        mark.horizon = h.horizon
        mark.saved_at = self.clock()
        mark.lesson = session.lesson
        mark.journal = 0 if session.lesson is None else len(session.lesson.journal)

    def save_position(self, session: Session) -> None:
        """While playing, write where the run stands about once a second (not per frame)."""
        mark = session.stored
        if self.store is None or mark is None:
            return
        if self.clock() - mark.saved_at < POSITION_EVERY:
            return
        if not session.lock.acquire(blocking=False):
            return
        try:
            self.save(session)
        except SessionMoved:
            pass
        finally:
            session.lock.release()

    def store_checkpoint(
        self, session: Session, offload: Callable[[Callable[[], bytes]], bytes]
    ) -> bool:
        """Store a newer checkpoint when a rebuild would otherwise replay too many events.

        The cluster is pickled by ``offload`` (a native thread under eventlet) without the
        session's lock: a History checkpoint is never changed (seeking copies it). Returns
        True when one was written.
        """
        store = self.store
        if store is None or not session.lock.acquire(blocking=False):
            return False
        try:
            mark, h = session.stored, session.history
            if mark is None or mark.history is not h:
                return False
            here = (h.cluster.events_processed, h.now)
            done = [cp for cp in h.checkpoints if (cp.events, cp.time) <= here]
            cp = done[-1] if done else None
            stored = mark.checkpoint
            if cp is None or cp.events < CHECKPOINT_GAP:
                return False
            if stored is not None and stored <= here and cp.events - stored[0] < CHECKPOINT_GAP:
                return False
            epoch = mark.epoch
        finally:
            session.lock.release()
        blob = offload(lambda: seal(cp.cluster, store.key))
        with session.lock:
            if session.stored is not mark or session.history is not h or not any(
                c is cp for c in h.checkpoints
            ):
                return False  # the run was replaced or forked before this checkpoint meanwhile
            try:
                store.write_checkpoint(
                    session.token, epoch, StoredCheckpoint(cp.events, cp.time, cp.cursor, blob)
                )
            except Fenced:
                return False  # the next save drops the session
            mark.checkpoint = (cp.events, cp.time)
        return True

    def _drop(self, session: Session) -> None:
        with self._lock:
            if self._sessions.get(session.token) is session:
                del self._sessions[session.token]

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
            last = not session.connections
            if last:
                session.playing = False
                session.touch(self.clock())
        if last and session.stored is not None:
            with session.lock:  # where the run stopped, for a page that comes back elsewhere
                try:
                    self.save(session)
                except SessionMoved:
                    pass
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
        if self.store is not None:
            for s in gone:
                if s.stored is not None:  # unless another worker has taken it over since
                    self.store.delete(s.token, s.stored.epoch)
            self.store.sweep()
        return gone

    def __iter__(self) -> Iterator[Session]:
        return iter(self.sessions())


def _lesson_change(runner: LessonRunner | None, mark: StoredMark) -> LessonWrite | None:
    """What the store must learn of the session's lesson (None: nothing new)."""
    if runner is not mark.lesson:
        return lesson_write(runner)  # another lesson, or none any more
    if runner is None or len(runner.journal) == mark.journal:
        return None
    return lesson_write(runner, mark.journal)
