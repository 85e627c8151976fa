"""The session store: what a session is on disk (or in Redis), and how it is rebuilt.

A session is its configuration (which holds the seed) plus its positioned command log, so
that is what is stored, together with where the run stands (``now``, ``horizon``) and its
playback speed. A worker that does not hold a session in memory rebuilds it by replaying
the log up to ``now`` (:func:`rebuild`); commands recorded beyond ``now`` (after a jump back)
stay in the log as the run's future, exactly as in memory.

Each stored session carries an *epoch*: a worker that loads it takes a new epoch
(:meth:`SessionStore.claim`), and every write names the epoch it holds, so a worker that lost
the session to another (the page reconnected elsewhere) can no longer write into it: it gets
:class:`Fenced` and drops its stale copy. Store content is untrusted: anything malformed,
truncated or from another record version raises :class:`StoreError` naming what is wrong,
and only that session is affected.

A session running a guided lesson also stores the lesson: a header (which lesson, and a digest
of its file) and the runner's journal, one JSON entry per learner action, appended as commands
are (raftviz/service/store/lessons.py rebuilds the lesson from them).
"""

from __future__ import annotations

import copy
import gc
import json
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from raftviz.service.store.checkpoint import StoredCheckpoint, unseal
from raftviz.sim.engine.cluster import Cluster, CommandError
from raftviz.sim.engine.commands import parse_command
from raftviz.sim.history import (
    MAX_TRACE_TIME,
    Checkpoint,
    History,
    Logged,
    config_from_json,
)
from raftviz.sim.record import Recorder

RECORD_VERSION = 1
MAX_STORED_COMMANDS = 100_000


class StoreError(Exception):
    """A stored session that cannot be restored; the message says what is wrong with it."""


class Fenced(Exception):
    """Another worker has taken this session over (a newer epoch); this copy is stale."""


@dataclass(frozen=True, slots=True)
class Position:
    """Where a run stands: events processed and simulated now (a step stops between two
    events of the same instant), the furthest time reached, and the playback speed."""

    events: int
    now: float
    horizon: float
    speed: float


@dataclass(frozen=True, slots=True)
class LessonWrite:
    """How a write changes the stored lesson: ``header`` None removes it; otherwise the header
    is set, the stored journal cut to its first ``keep`` entries and ``entries`` appended."""

    header: str | None
    keep: int = 0
    entries: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StoredRun:
    """A session as read back from a store (still untrusted until :func:`rebuild`)."""

    token: str
    epoch: int
    version: Any
    config: str
    commands: list[str]
    position: Position
    checkpoint: StoredCheckpoint | None = None
    lesson: str | None = None  # the lesson header, when the session runs a lesson
    journal: tuple[str, ...] = ()


def encode_command(entry: Logged) -> str:
    return json.dumps(
        {"events": entry.events, "time": entry.time, "command": entry.command.to_json()},
        separators=(",", ":"),
    )


def encode_config(history: History) -> str:
    from raftviz.sim.history import config_to_json

    return json.dumps(config_to_json(history.config), separators=(",", ":"))


def _finite(value: Any, name: str, high: float = MAX_TRACE_TIME) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise StoreError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or not 0 <= value <= high:
        raise StoreError(f"{name} must be within 0..{high:g}, got {value!r}")
    return float(value)


def decode_position(events: Any, now: Any, horizon: Any, speed: Any) -> Position:
    """A position from stored text or numbers (Redis hands back strings)."""
    try:
        values = [
            float(v) if isinstance(v, (str, bytes)) else v for v in (events, now, horizon, speed)
        ]
    except ValueError as exc:
        raise StoreError(f"the stored position is not numeric ({exc})") from None
    count = _finite(values[0], "events", 1e12)
    if count != int(count):
        raise StoreError(f"events must be a whole number, got {count!r}")
    return Position(
        int(count),
        _finite(values[1], "now"),
        _finite(values[2], "horizon"),
        _finite(values[3], "speed", 1.0),
    )


def rebuild(run: StoredRun, key: bytes = b"") -> History:
    """Replay a stored run up to its ``now``, from its stored checkpoint when that is ours and
    not past ``now``; StoreError for anything malformed."""
    if run.version != RECORD_VERSION:
        raise StoreError(
            f"the stored session has record version {run.version!r}; this server reads version "
            f"{RECORD_VERSION} (it was written by another release of raftviz)"
        )
    try:
        raw = json.loads(run.config)
    except (ValueError, RecursionError) as exc:
        raise StoreError(f"the stored configuration is not valid JSON ({exc})") from None
    try:
        config = config_from_json(raw)
    except (CommandError, ValueError) as exc:
        raise StoreError(f"the stored configuration is invalid: {exc}") from None
    if len(run.commands) > MAX_STORED_COMMANDS:
        raise StoreError(f"the stored session has {len(run.commands)} commands, too many")
    logged: list[Logged] = []
    last = (0, 0.0)
    for i, text in enumerate(run.commands):
        try:
            item = json.loads(text)
        except (ValueError, RecursionError):
            raise StoreError(f"stored command {i} is not valid JSON (truncated?)") from None
        if not isinstance(item, dict):
            raise StoreError(f"stored command {i} is not an object")
        events = item.get("events")
        if isinstance(events, bool) or not isinstance(events, int) or events < 0:
            raise StoreError(f"stored command {i}: events must be a whole number >= 0")
        time = _finite(item.get("time"), f"stored command {i}: time")
        if (events, time) < last:
            raise StoreError(f"stored command {i} is out of order")
        last = (events, time)
        try:
            command = parse_command(item.get("command"))
        except CommandError as exc:
            raise StoreError(f"stored command {i}: {exc}") from None
        logged.append(Logged(events, time, command))
    pos = run.position
    if pos.now > pos.horizon:
        raise StoreError(f"the stored position is past its horizon ({pos.now:g} > {pos.horizon:g})")
    history = History(config)
    history.log = logged
    _start_from_checkpoint(history, run.checkpoint, key, pos)
    enabled = gc.isenabled()
    gc.disable()  # a big cluster's heap makes each full collection slow; replay makes no cycles
    try:
        replay_to(history, pos)
    except CommandError as exc:
        raise StoreError(f"the stored session does not replay: {exc}") from None
    finally:
        if enabled:
            gc.enable()
    due = sum(1 for e in logged if e.time < pos.now)
    if history.cursor < due:
        raise StoreError(f"the stored session does not replay: command {history.cursor} never "
                         "came due")
    history.horizon = max(history.horizon, pos.horizon)
    return history


def _start_from_checkpoint(
    history: History, cp: StoredCheckpoint | None, key: bytes, pos: Position
) -> None:
    if cp is None or not key or (cp.events, cp.time) > (pos.events, pos.now):
        return
    if not 0 <= cp.cursor <= len(history.log):
        return
    kept = unseal(cp.blob, key)
    if kept is None:
        return
    kept.record = record_from_here(kept)
    cluster = copy.deepcopy(kept)  # the checkpoint itself is never run (seek copies it too)
    if (cluster.events_processed, cluster.now) != (cp.events, cp.time):
        return
    history.cluster = cluster
    history.cursor = cp.cursor
    history.checkpoints.append(Checkpoint(cp.events, cp.time, cp.cursor, kept))
    history.horizon = cluster.now


def record_from_here(cluster: Cluster) -> Recorder:
    """A run record that starts at ``cluster``'s moment (raftviz/sim/record.py).

    A stored checkpoint carries no record; rebuilding the part before it would mean replaying
    from the seed, a hundred times the rebuild (bench/bench_store.py). The servers' roles and
    commit indexes are taken as they stand, so the record does not mark them as changes.
    """
    record = Recorder(cluster.network.next_id, cluster.now)
    for host_id, host in cluster.hosts.items():
        if host.node is not None:
            record.roles[host_id] = host.node.role
            record.commits[host_id] = host.node.commit_index
    return record


def replay_to(history: History, pos: Position) -> None:
    """Replay the run to exactly ``pos``, as :meth:`History.run_until` does, except that at
    ``pos.now`` itself only ``pos.events`` events are processed (``step`` stops between two
    events of one instant)."""
    c = history.cluster
    log = history.log
    while True:
        history._apply_due(pos.now)  # noqa: SLF001 - recorded commands due at this position
        t = c.next_event_time()
        if t is None or t > pos.now or (t == pos.now and c.events_processed >= pos.events):
            break
        if history.cursor < len(log) and log[history.cursor].events == c.events_processed:
            break  # a recorded command comes first, but after pos.now
        history.step()
    if pos.now > c.now:
        c._set_now(pos.now)  # noqa: SLF001 - as History.run_until does
    history.horizon = max(history.horizon, c.now)


class SessionStore(ABC):
    """Where sessions live between processes. Every method is safe to call from any thread."""

    #: what ``--store`` / ``--redis`` named, for logs and /healthz
    description: str = ""
    #: signs stored checkpoints (raftviz/service/store/checkpoint.py)
    key: bytes = b""

    @abstractmethod
    def write(
        self,
        token: str,
        epoch: int,
        *,
        config: str | None,
        keep: int,
        commands: list[str],
        position: Position,
        ttl: float,
        drop_checkpoint: bool = False,
        lesson: LessonWrite | None = None,
    ) -> bool:
        """Store a change, durably, before it is acknowledged.

        With ``config`` the run is replaced (a new session, reset, import): the stored
        commands become ``commands``. Without it the stored log is cut to its first ``keep``
        commands and ``commands`` appended. Returns False when there is no such session any
        more (it expired in the store: the caller writes it whole); raises :class:`Fenced`
        when another worker holds a newer epoch. ``ttl`` seconds from now it expires. The
        stored checkpoint goes with a new run or with ``drop_checkpoint`` (a fork before it).
        The stored lesson changes only with ``lesson`` (in the same transaction).
        """

    @abstractmethod
    def write_checkpoint(self, token: str, epoch: int, checkpoint: StoredCheckpoint) -> None:
        """Replace the session's stored checkpoint (Fenced as for :meth:`write`)."""

    @abstractmethod
    def claim(self, token: str) -> StoredRun | None:
        """Take the session over (a new epoch) and read it; None when there is none."""

    @abstractmethod
    def delete(self, token: str, epoch: int | None = None) -> None:
        """Forget a session; with ``epoch``, only while no other worker has taken it over."""

    def sweep(self) -> int:
        """Drop expired sessions (stores without their own expiry); returns how many."""
        return 0

    def maintain(self) -> None:  # noqa: B027 - most stores need no upkeep
        """Upkeep that must stay off the acknowledgement path; called now and then from a
        worker thread."""

    @abstractmethod
    def close(self) -> None: ...
