"""History: seed + command log + checkpoints, so a run can be rewound, replayed and shared.

A run is fully described by its :class:`ClusterConfig` (which holds the seed) and the commands
applied to it, each stamped with its position: how many events had been processed and the
simulated time. :class:`History` keeps periodic deep-copied checkpoints of the cluster (cheap:
logs share their full chunks), so jumping to any earlier moment restores the nearest checkpoint
and replays at most one checkpoint interval. Running forward after a jump replays the recorded
commands at their positions; a *new* command after a jump forks history, dropping the old
future (RaftScope's model).
"""

from __future__ import annotations

import copy
import json
import math
import time as wall
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Concatenate, ParamSpec, TypeVar

from raftviz.core.messages import Command, LogEntry, Op
from raftviz.core.paxos import PaxosNode, PaxosSettings
from raftviz.core.raft import RaftNode, RaftSettings, Role
from raftviz.sim import config as schema
from raftviz.sim.engine.clients import ClientSettings
from raftviz.sim.engine.cluster import Cluster, ClusterConfig, CommandError, NodeInit
from raftviz.sim.engine.commands import SimCommand, apply_command, parse_command
from raftviz.sim.engine.errors import WorkLimitError
from raftviz.sim.engine.network import LinkParams
from raftviz.sim.engine.scheduler import WorkBudget, WorkMeter
from raftviz.sim.engine.storage import DEFAULT_FSYNC_MS
from raftviz.sim.record import Recorder

TRACE_FORMAT = "raftviz-trace"
TRACE_VERSION = 1
MAX_TRACE_COMMANDS = 100_000
MAX_TRACE_TIME = 3_600_000.0  # one simulated hour
MAX_RUN_MS = 600_000.0
DEFAULT_BUDGET = WorkBudget()  # one request: a command, a step, an advance, a seek
# Replaying a whole trace is one request: a run recorded here over ten simulated minutes (many
# requests) must import in one. Ten minutes under 20 operations/s replay in about 13 s of CPU.
IMPORT_BUDGET = WorkBudget(max_events=3_000_000, max_cpu_seconds=30.0)
# Scripts, benchmarks and autograders that run long stretches on purpose keep only the
# zero-time-loop guard: ``History(config, budget=SCRIPT_BUDGET)``.
SCRIPT_BUDGET = WorkBudget(max_events=2**62, max_cpu_seconds=math.inf)
MAX_TERM = 1_000_000  # in an initial state (a figure from the paper needs a handful)


@dataclass(frozen=True, slots=True)
class Logged:
    """A command with the position at which it was applied."""

    events: int
    time: float
    command: SimCommand


P = ParamSpec("P")
R = TypeVar("R")


def _request(
    method: Callable[Concatenate[History, P], R],
) -> Callable[Concatenate[History, P], R]:
    """One request's work: the outermost call opens a :class:`WorkMeter`, nested calls share it."""

    def metered(self: History, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with self.metered():
            return method(self, *args, **kwargs)

    metered.__name__, metered.__doc__ = method.__name__, method.__doc__
    return metered


@dataclass(slots=True)
class Checkpoint:
    events: int
    time: float
    cursor: int  # how many logged commands the checkpoint already includes
    cluster: Cluster


class History:
    """A cluster with its past: step, run, jump back and forth, fork, export and import."""

    def __init__(
        self,
        config: ClusterConfig,
        checkpoint_every: float = 1000.0,
        keep_history: bool = False,
        checkpoint_events: int = 3000,
        budget: WorkBudget | None = None,
        work_clock: Callable[[], float] = wall.thread_time,
    ) -> None:
        self.config = config
        # Bounds each request (seek, advance, a command, a trace's replay): see WorkMeter.
        # The clock is the thread's CPU time, so work offloaded to a worker thread is measured
        # by what it did, not by how long it waited for the interpreter lock.
        self.budget = budget or DEFAULT_BUDGET
        self.work_clock = work_clock
        self._meter: WorkMeter | None = None
        self._instant = (-math.inf, 0)  # the last request's instant and its events there
        self.checkpoint_every = checkpoint_every
        # A jump back replays from the checkpoint before it, and replay costs by the event, so
        # checkpoints are spaced by events as well as by time: a busy cluster is not copied
        # more often than every few thousand events (tens of milliseconds of replay).
        self.checkpoint_events = checkpoint_events
        self.cluster = Cluster(config, keep_history=keep_history)
        self.cluster.record = Recorder()
        self.log: list[Logged] = []
        self.cursor = 0
        self.horizon = 0.0
        self.checkpoints: list[Checkpoint] = [self._checkpoint_now()]

    @property
    def now(self) -> float:
        return self.cluster.now

    # ------------------------------------------------------------- commands

    @contextmanager
    def metered(self) -> Iterator[WorkMeter]:
        """Everything inside is one request with one work budget (nested calls join it)."""
        if self._meter is not None:
            yield self._meter
            return
        meter = self._meter = WorkMeter(self.budget, self.work_clock, *self._instant)
        try:
            yield meter
        finally:
            self._instant = (meter.instant, meter.at_instant)
            self._meter = None

    def _process(self, t: float) -> None:
        """Process the next event (due at ``t``), within the request's work budget."""
        assert self._meter is not None, "events are processed inside a request"
        # Raises before the event, so the run stays between two whole events.
        self._meter.charge(max(t, self.cluster.now))
        self._maybe_checkpoint()
        self.cluster.step()

    @_request
    def apply(self, command: SimCommand) -> None:
        """Apply a command now; after a jump back this forks history (the old future is gone)."""
        forking = self.cursor < len(self.log) or self.cluster.now < self.horizon
        apply_command(self.cluster, command)  # validates before it changes anything
        if forking:
            self._fork()
        c = self.cluster
        self.log.append(Logged(c.events_processed, c.now, command))
        self.cursor = len(self.log)
        # What the command set in motion for this very instant happens now, exactly as it
        # does when the command is replayed inside run_until.
        self.run_until(c.now)

    def applied(self, node: str) -> list[dict[str, Any]]:
        """What ``node``'s state machine applied since it last started, in log order."""
        return self.cluster.applied(node)

    def apply_json(self, data: Any) -> SimCommand:
        command = parse_command(data)
        self.apply(command)
        return command

    def _fork(self) -> None:
        del self.log[self.cursor :]
        self.cluster.fork_record()
        position = (self.cluster.events_processed, self.cluster.now)
        self.checkpoints = [
            cp for cp in self.checkpoints if (cp.events, cp.time) <= position
        ]
        self.horizon = self.cluster.now

    def _apply_due(self, limit: float) -> None:
        """Re-apply logged commands that fall at the current position (when replaying)."""
        c = self.cluster
        while self.cursor < len(self.log):
            entry = self.log[self.cursor]
            if entry.events != c.events_processed or entry.time > limit:
                return
            if entry.time > c.now:
                c._set_now(entry.time)  # noqa: SLF001 - history owns the clock while replaying
            apply_command(c, entry.command)
            self.cursor += 1

    # ----------------------------------------------------------------- time

    @_request
    def step(self) -> bool:
        """Process exactly one event (and any recorded command due just before it)."""
        c = self.cluster
        t = c.next_event_time()
        if t is None:
            return False
        self._apply_due(t)
        t = c.next_event_time()
        if t is None:
            return False
        self._process(t)
        self.horizon = max(self.horizon, c.now)
        return True

    @_request
    def run_until(self, time: float) -> None:
        """Run every event up to ``time`` and stand there."""
        c = self.cluster
        if time - c.now > MAX_RUN_MS:
            raise CommandError(f"run at most {MAX_RUN_MS:g} ms at once")
        try:
            while True:
                self._apply_due(time)
                t = c.next_event_time()
                if t is None or t > time:
                    break
                if (
                    self.cursor < len(self.log)
                    and self.log[self.cursor].events == c.events_processed
                ):
                    break  # a recorded command comes first, but after ``time``
                self._process(t)
            if time > c.now:
                c._set_now(time)  # noqa: SLF001
        finally:
            self.horizon = max(self.horizon, c.now)  # also where a work guard stopped it

    def run_for(self, ms: float) -> None:
        self.run_until(self.cluster.now + ms)

    @_request
    def run_until_condition(
        self, condition: Callable[[Cluster], bool], max_ms: float = 10_000.0
    ) -> bool:
        """Step until ``condition`` holds (True) or ``max_ms`` pass (False)."""
        c = self.cluster
        limit = c.now + min(max_ms, MAX_RUN_MS)
        while not condition(c):
            t = c.next_event_time()
            if t is None or t > limit:
                self.run_until(limit)
                return condition(c)
            self.step()
        return True

    @_request
    def seek(self, time: float) -> None:
        """Jump to simulated ``time`` (earlier or later), restoring a checkpoint if needed."""
        if not 0 <= time <= MAX_TRACE_TIME:
            raise CommandError(f"time must be within 0..{MAX_TRACE_TIME:g} ms")
        if time < self.cluster.now:
            cp = max(
                (cp for cp in self.checkpoints if cp.time <= time), key=lambda cp: cp.time
            )
            self.cluster = copy.deepcopy(cp.cluster)
            self.cursor = cp.cursor
        self.run_until(time)

    def _checkpoint_now(self) -> Checkpoint:
        c = self.cluster
        return Checkpoint(c.events_processed, c.now, self.cursor, copy.deepcopy(c))

    def _maybe_checkpoint(self) -> None:
        last = self.checkpoints[-1]
        if (
            self.cluster.now >= last.time + self.checkpoint_every
            and self.cluster.events_processed >= last.events + self.checkpoint_events
        ):
            self.checkpoints.append(self._checkpoint_now())

    # --------------------------------------------------------------- traces

    def export_trace(self) -> dict[str, Any]:
        """The whole run as JSON data: configuration, positioned commands, and where to stop."""
        return {
            "format": TRACE_FORMAT,
            "version": TRACE_VERSION,
            "config": config_to_json(self.config),
            "commands": [
                {"events": e.events, "time": e.time, "command": e.command.to_json()}
                for e in self.log
            ],
            "end": self.horizon,
            "now": self.cluster.now,
        }

    @classmethod
    def import_trace(cls, data: Any, budget: WorkBudget | None = None) -> History:
        """Rebuild a run from an exported trace; raises CommandError for a malformed one.

        The whole replay is one request under ``budget``: a trace that needs more work than
        that is refused (WorkLimitError), like one that does not replay.
        """
        if not isinstance(data, dict):
            raise CommandError("a trace is a JSON object")
        if data.get("format") != TRACE_FORMAT:
            raise CommandError(f"not a raftviz trace (format must be {TRACE_FORMAT!r})")
        if data.get("version") != TRACE_VERSION:
            raise CommandError(
                f"trace version {data.get('version')!r} is not supported; this build reads "
                f"version {TRACE_VERSION}"
            )
        config = config_from_json(data.get("config"))
        raw = data.get("commands")
        if not isinstance(raw, list) or len(raw) > MAX_TRACE_COMMANDS:
            raise CommandError(f"trace commands must be a list of at most {MAX_TRACE_COMMANDS}")
        logged: list[Logged] = []
        last = (0, 0.0)
        for i, item in enumerate(raw):
            if not isinstance(item, dict):
                raise CommandError(f"trace command {i} is not an object")
            events, time = item.get("events"), item.get("time")
            if isinstance(events, bool) or not isinstance(events, int) or events < 0:
                raise CommandError(f"trace command {i}: events must be a whole number >= 0")
            if isinstance(time, bool) or not isinstance(time, (int, float)):
                raise CommandError(f"trace command {i}: time must be a number")
            if not 0 <= time <= MAX_TRACE_TIME:
                raise CommandError(f"trace command {i}: time out of range")
            if (events, float(time)) < last:
                raise CommandError(f"trace command {i} is out of order")
            last = (events, float(time))
            try:
                command = parse_command(item.get("command"))
            except CommandError as exc:
                raise CommandError(f"trace command {i}: {exc}") from None
            logged.append(Logged(events, float(time), command))
        end = _number(data.get("end", 0.0), "end", 0, MAX_TRACE_TIME)
        now = _number(data.get("now", end), "now", 0, MAX_TRACE_TIME)
        history = cls(config, budget=budget or IMPORT_BUDGET)
        history.log = logged
        try:
            with history.metered():
                while history.cluster.now < end:
                    history.run_until(min(end, history.cluster.now + MAX_RUN_MS))
        except WorkLimitError as exc:
            raise WorkLimitError(f"the trace was not imported: {exc}") from None
        except CommandError as exc:
            raise CommandError(f"the trace does not replay: {exc}") from None
        if history.cursor != len(logged):
            raise CommandError(
                f"the trace does not replay: command {history.cursor} never came due"
            )
        if now < history.cluster.now:
            with history.metered():  # a fresh budget: the replay may have used most of its own
                history.seek(now)
        return history

    def to_json_text(self) -> str:
        return json.dumps(self.export_trace(), separators=(",", ":"))


def _number(value: Any, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise CommandError(f"{name} must be a number within {low:g}..{high:g}")
    return float(value)


# ---------------------------------------------------------- configuration JSON


def config_to_json(config: ClusterConfig) -> dict[str, Any]:
    return {
        "size": config.size,
        "seed": config.seed,
        "protocol": config.protocol,
        "settings": asdict(config.settings),
        "network": asdict(config.network),
        "clients": asdict(config.clients),
        "paxos": asdict(config.paxos),
        "fsync_ms": config.fsync_ms,
        "initial": {
            node: {
                "term": init.term,
                "voted_for": init.voted_for,
                "log": [entry_to_json(e) for e in init.log],
            }
            for node, init in config.initial
        },
    }


def entry_to_json(entry: LogEntry) -> dict[str, Any]:
    c = entry.command
    data: dict[str, Any] = {"term": entry.term, "op": c.op.value}
    for name in ("key", "value", "expected", "client"):
        v = getattr(c, name)
        if v:
            data[name] = v
    if c.request_id:
        data["request_id"] = c.request_id
    if entry.time:
        data["time"] = entry.time
    return data


def config_from_json(data: Any) -> ClusterConfig:
    """Validate and build a configuration from untrusted JSON (the schema: sim/config.py)."""
    if not isinstance(data, dict):
        raise CommandError("config must be an object")
    allowed = {
        "size", "seed", "protocol", "settings", "network", "clients", "initial", "paxos",
        "fsync_ms",
    }
    extra = set(data) - allowed
    if extra:
        raise CommandError(f"config: unknown field(s) {', '.join(sorted(extra))}")
    top = {
        name: schema.check_value("config", name, data[name], f"config.{name}")
        for name in ("size", "seed", "protocol")
        if name in data
    }
    fsync_ms = data.get("fsync_ms", DEFAULT_FSYNC_MS)
    if isinstance(fsync_ms, bool) or not isinstance(fsync_ms, (int, float)):
        raise CommandError("config.fsync_ms must be a number of milliseconds")
    config = ClusterConfig(
        **top,
        settings=schema.from_json(
            "settings", RaftSettings, data.get("settings"), "config.settings"
        ),
        network=schema.from_json("network", LinkParams, data.get("network"), "config.network"),
        clients=schema.from_json("clients", ClientSettings, data.get("clients"), "config.clients"),
        initial=_initial_from_json(data.get("initial", {})),
        paxos=schema.from_json("paxos", PaxosSettings, data.get("paxos"), "config.paxos"),
        fsync_ms=float(fsync_ms),
    )
    config.validate()
    return config


def _initial_from_json(data: Any) -> tuple[tuple[str, NodeInit], ...]:
    if not isinstance(data, dict):
        raise CommandError("config.initial must map node ids to their state")
    out = []
    for node, state in sorted(data.items()):
        where = f"config.initial.{node}"
        if not isinstance(state, dict):
            raise CommandError(f"{where} must be an object")
        term = state.get("term", 0)
        if isinstance(term, bool) or not isinstance(term, int) or not 0 <= term <= MAX_TERM:
            raise CommandError(f"{where}.term must be a whole number within 0..{MAX_TERM}")
        voted = state.get("voted_for")
        if voted is not None and not isinstance(voted, str):
            raise CommandError(f"{where}.voted_for must be a node id or null")
        raw_log = state.get("log", [])
        if not isinstance(raw_log, list) or len(raw_log) > 10_000:
            raise CommandError(f"{where}.log must be a list of at most 10000 entries")
        entries = []
        prev_term = 0
        for i, item in enumerate(raw_log, start=1):
            entry = entry_from_json(item, f"{where}.log[{i}]")
            if entry.term < prev_term or entry.term > term:
                raise CommandError(
                    f"{where}.log[{i}]: terms must not decrease along the log and must not "
                    f"exceed the node's term {term}"
                )
            prev_term = entry.term
            entries.append(entry)
        out.append((str(node), NodeInit(term, voted, tuple(entries))))
    return tuple(out)


def entry_from_json(item: Any, where: str) -> LogEntry:
    """A log entry from JSON: ``{"term": 2, "op": "set", "key": "x", "value": "1"}``."""
    if isinstance(item, int) and not isinstance(item, bool):
        item = {"term": item}  # shorthand for the paper's figures: just a term
    if not isinstance(item, dict):
        raise CommandError(f"{where} must be an object or a term number")
    term = item.get("term")
    if isinstance(term, bool) or not isinstance(term, int) or term < 1:
        raise CommandError(f"{where}.term must be a whole number >= 1")
    try:
        op = Op(item.get("op", "noop"))
    except ValueError:
        raise CommandError(f"{where}.op is not a known operation") from None
    if op is Op.CONFIG:
        raise CommandError(f"{where}.op: configuration entries come from add_server/remove_server")
    texts = {}
    for name in ("key", "value", "expected", "client"):
        v = item.get(name)
        if v is not None and (not isinstance(v, str) or len(v) > 64):
            raise CommandError(f"{where}.{name} must be a string of at most 64 characters")
        texts[name] = v
    request_id = item.get("request_id", 0)
    if isinstance(request_id, bool) or not isinstance(request_id, int) or request_id < 0:
        raise CommandError(f"{where}.request_id must be a whole number >= 0")
    time = item.get("time", 0.0)
    if isinstance(time, bool) or not isinstance(time, (int, float)):
        raise CommandError(f"{where}.time must be a number")
    if op in (Op.SET, Op.CAS) and texts["value"] is None:
        raise CommandError(f"{where}: {op.value} needs a value")
    command = Command(
        op,
        texts["key"] or "",
        texts["value"],
        texts["expected"],
        texts["client"] or "",
        request_id,
    )
    return LogEntry(term, command, float(time))


# ------------------------------------------------------------------ conditions


def leader_exists(cluster: Cluster) -> bool:
    return cluster.leader is not None


def committed_on_majority(index: int) -> Callable[[Cluster], bool]:
    """Holds once a live leader has committed ``index``."""

    def condition(cluster: Cluster) -> bool:
        return any(
            n.role is Role.LEADER and n.commit_index >= index for n in cluster.live_nodes()
        )

    return condition


def logs_converged(cluster: Cluster) -> bool:
    """Every live node holds the same log (Paxos: the same chosen slots) and applied all of it."""
    nodes = cluster.live_nodes()
    if not nodes:
        return False
    rafts = [n for n in nodes if isinstance(n, RaftNode)]
    if rafts:
        first = rafts[0].log
        return len(rafts) == len(nodes) and all(
            n.log.last_index == first.last_index
            and n.log.digest(n.log.last_index) == first.digest(first.last_index)
            and n.last_applied == n.log.last_index
            for n in rafts
        )
    paxos = [n for n in nodes if isinstance(n, PaxosNode)]
    top = max(n.commit_index for n in paxos)
    return top > 0 and all(
        n.commit_index == top
        and n.last_applied == top
        and all(n.chosen.get(i) == paxos[0].chosen.get(i) for i in range(1, top + 1))
        for n in paxos
    )


CONDITIONS: dict[str, Callable[[Cluster], bool]] = {
    "leader": leader_exists,
    "converged": logs_converged,
    "no_leader": lambda c: c.leader is None,
}
