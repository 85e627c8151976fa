"""Every user action as a command object, parsed from JSON and applied by one dispatcher.

A click in the browser, a step of a lesson, a line of a test and the command line all produce
the same command objects, and :func:`apply_command` is the only way they touch a cluster. That
is what makes the command log a complete record of a run: seed + commands = the run.

:func:`parse_command` validates untrusted JSON (types, ranges, sizes) and raises
:class:`~raftviz.sim.engine.cluster.CommandError` with a specific message; nothing is changed then.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, ClassVar

from raftviz.core.messages import Command, Kind, Op, ReadMode
from raftviz.sim.engine import membership, scripting
from raftviz.sim.engine.cluster import Cluster, CommandError
from raftviz.sim.engine.network import LinkParams

MAX_TEXT = 64


class JsonObject(dict[str, Any]):
    """A field holding a JSON object checked by its handler (e.g. a hand-built message)."""


@dataclass(frozen=True, slots=True)
class SimCommand:
    """Base of all commands; ``type`` is the name used in JSON."""

    type: ClassVar[str] = ""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key, value in list(data.items()):
            if isinstance(value, tuple):
                data[key] = _listify(value)
        return {"type": self.type, **data}


def _listify(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_listify(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class Crash(SimCommand):
    type: ClassVar[str] = "crash"
    node: str


@dataclass(frozen=True, slots=True)
class Restart(SimCommand):
    type: ClassVar[str] = "restart"
    node: str


@dataclass(frozen=True, slots=True)
class Pause(SimCommand):
    type: ClassVar[str] = "pause"
    node: str
    freeze_clock: bool = False


@dataclass(frozen=True, slots=True)
class Resume(SimCommand):
    type: ClassVar[str] = "resume"
    node: str


@dataclass(frozen=True, slots=True)
class TimeoutNow(SimCommand):
    type: ClassVar[str] = "timeout"
    node: str


@dataclass(frozen=True, slots=True)
class SnapshotNow(SimCommand):
    type: ClassVar[str] = "snapshot"
    node: str


@dataclass(frozen=True, slots=True)
class SetClockRate(SimCommand):
    type: ClassVar[str] = "clock"
    node: str
    rate: float


@dataclass(frozen=True, slots=True)
class ClientOp(SimCommand):
    """A client operation: set, get, delete, cas, acquire or release."""

    type: ClassVar[str] = "client"
    op: str
    key: str
    value: str | None = None
    expected: str | None = None
    node: str | None = None
    client: str | None = None
    read_mode: str = "log"
    ttl: float = 1000.0


@dataclass(frozen=True, slots=True)
class FencedWrite(SimCommand):
    type: ClassVar[str] = "fenced_write"
    client: str
    value: str


@dataclass(frozen=True, slots=True)
class PauseClient(SimCommand):
    type: ClassVar[str] = "pause_client"
    client: str


@dataclass(frozen=True, slots=True)
class ResumeClient(SimCommand):
    type: ClassVar[str] = "resume_client"
    client: str


@dataclass(frozen=True, slots=True)
class Partition(SimCommand):
    type: ClassVar[str] = "partition"
    groups: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class Heal(SimCommand):
    type: ClassVar[str] = "heal"


@dataclass(frozen=True, slots=True)
class CutLink(SimCommand):
    type: ClassVar[str] = "cut"
    src: str
    dst: str
    both: bool = True


@dataclass(frozen=True, slots=True)
class RestoreLink(SimCommand):
    type: ClassVar[str] = "restore"
    src: str
    dst: str
    both: bool = True


@dataclass(frozen=True, slots=True)
class SetNetwork(SimCommand):
    type: ClassVar[str] = "network"
    latency_min: float = 10.0
    latency_max: float = 20.0
    drop: float = 0.0
    duplicate: float = 0.0
    link: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class ManualDelivery(SimCommand):
    type: ClassVar[str] = "manual"
    on: bool


@dataclass(frozen=True, slots=True)
class DeliverMessage(SimCommand):
    type: ClassVar[str] = "deliver"
    id: int


@dataclass(frozen=True, slots=True)
class DropMessage(SimCommand):
    type: ClassVar[str] = "drop"
    id: int


@dataclass(frozen=True, slots=True)
class ChangeSettings(SimCommand):
    type: ClassVar[str] = "settings"
    changes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Workload(SimCommand):
    type: ClassVar[str] = "workload"
    rate: float
    read_ratio: float = 0.0
    keys: int = 5
    read_mode: str = "log"


@dataclass(frozen=True, slots=True)
class SetDisk(SimCommand):
    """A node's fsync time (a slow disk), or every node's without ``node``."""

    type: ClassVar[str] = "disk"
    fsync_ms: float
    node: str | None = None


@dataclass(frozen=True, slots=True)
class AddServer(SimCommand):
    """Thesis 4.1/4.2.1: a new server (or a removed one, by name) joins via the leader."""

    type: ClassVar[str] = "add_server"
    node: str | None = None


@dataclass(frozen=True, slots=True)
class RemoveServer(SimCommand):
    type: ClassVar[str] = "remove_server"
    node: str


@dataclass(frozen=True, slots=True)
class TransferLeadership(SimCommand):
    """Thesis 3.10: the leader hands leadership to ``node``."""

    type: ClassVar[str] = "transfer_leadership"
    node: str


# ----------------------------------------------- scripting (autograders, test authors)


@dataclass(frozen=True, slots=True)
class Propose(SimCommand):
    """A raw value handed to one node now: no client, no retry, no leader hints."""

    type: ClassVar[str] = "propose"
    node: str
    op: str
    key: str
    value: str | None = None
    expected: str | None = None


@dataclass(frozen=True, slots=True)
class Inject(SimCommand):
    """A Raft protocol message built by hand, sent from its src to its dst."""

    type: ClassVar[str] = "inject"
    message: JsonObject


@dataclass(frozen=True, slots=True)
class Heartbeat(SimCommand):
    type: ClassVar[str] = "heartbeat"
    node: str


@dataclass(frozen=True, slots=True)
class DropKind(SimCommand):
    """Drop every message of these kinds from src to dst ("*" = any node); [] stops it."""

    type: ClassVar[str] = "drop_kind"
    kinds: tuple[str, ...]
    src: str = "*"
    dst: str = "*"


@dataclass(frozen=True, slots=True)
class Jitter(SimCommand):
    """An extra random delay per message, uniform in [0, ms), on top of link latency."""

    type: ClassVar[str] = "jitter"
    ms: float


COMMANDS: dict[str, type[SimCommand]] = {
    cls.type: cls
    for cls in (
        Crash, Restart, Pause, Resume, TimeoutNow, SetClockRate, ClientOp, FencedWrite,
        PauseClient, ResumeClient, Partition, Heal, CutLink, RestoreLink, SetNetwork,
        ManualDelivery, DeliverMessage, DropMessage, ChangeSettings, Workload, SetDisk,
        AddServer, RemoveServer, TransferLeadership,
        Propose, Inject, Heartbeat, DropKind, Jitter, SnapshotNow,
    )
}


# ------------------------------------------------------------------- parsing


def parse_command(data: Any) -> SimCommand:
    """Build a command from untrusted JSON; raises CommandError saying what is wrong."""
    if not isinstance(data, dict):
        raise CommandError(f"a command is a JSON object, got {type(data).__name__}")
    kind = data.get("type")
    cls = COMMANDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise CommandError(
            f"unknown command type {kind!r}; known types: {', '.join(sorted(COMMANDS))}"
        )
    hints = typing.get_type_hints(cls)
    names = {f.name for f in fields(cls)}
    extra = set(data) - names - {"type"}
    if extra:
        raise CommandError(f"{kind}: unexpected field(s) {', '.join(sorted(extra))}")
    values: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in data:
            if f.default is MISSING and f.default_factory is MISSING:
                raise CommandError(f"{kind}: missing field {f.name!r}")
            continue
        values[f.name] = _coerce(data[f.name], hints[f.name], f"{kind}.{f.name}")
    try:
        return cls(**values)
    except TypeError as exc:
        raise CommandError(f"{kind}: {exc}") from exc


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        inner = next(o for o in options if o is not type(None))
        return _coerce(value, inner, where)
    if hint is bool:
        if not isinstance(value, bool):
            raise CommandError(f"{where} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise CommandError(f"{where} must be a whole number, got {value!r}")
        if abs(value) > 10**12:
            raise CommandError(f"{where} is out of range")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise CommandError(f"{where} must be a number, got {value!r}")
        if value != value or abs(value) > 1e9:
            raise CommandError(f"{where} is out of range")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise CommandError(f"{where} must be a string, got {value!r}")
        if not value or len(value) > MAX_TEXT:
            raise CommandError(f"{where} must be 1 to {MAX_TEXT} characters")
        return value
    if origin is tuple:
        if not isinstance(value, list) or len(value) > 16:
            raise CommandError(f"{where} must be a list of at most 16 items")
        inner = typing.get_args(hint)[0]
        return tuple(_coerce(v, inner, f"{where}[{i}]") for i, v in enumerate(value))
    if hint is JsonObject:
        if not isinstance(value, dict) or len(value) > 32:
            raise CommandError(f"{where} must be an object of at most 32 fields")
        return JsonObject(value)
    if origin is dict:
        if not isinstance(value, dict) or len(value) > 32:
            raise CommandError(f"{where} must be an object of at most 32 fields")
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(v, (bool, int, float)) or (isinstance(v, float) and v != v):
                raise CommandError(f"{where}.{k} must be a number or true/false")
            out[str(k)] = v
        return out
    raise CommandError(f"{where}: unsupported field type")  # pragma: no cover


# ---------------------------------------------------------------- dispatching


def apply_command(cluster: Cluster, cmd: SimCommand) -> None:
    """The one dispatcher: apply a command to a cluster (raises CommandError, changing nothing)."""
    handler = _HANDLERS.get(type(cmd))
    if handler is None:
        raise CommandError(f"no handler for {type(cmd).__name__}")
    handler(cluster, cmd)
    cluster.update_leader()


def _client_op(cluster: Cluster, cmd: ClientOp) -> None:
    try:
        op = Op(cmd.op)
    except ValueError:
        raise CommandError(
            f"unknown operation {cmd.op!r}; use set, get, delete, cas, acquire or release"
        ) from None
    if op in (Op.NOOP, Op.CONFIG):
        raise CommandError(
            "clients cannot propose no-ops or configuration entries; use add_server/remove_server"
        )
    try:
        mode = ReadMode(cmd.read_mode)
    except ValueError:
        raise CommandError(
            f"unknown read mode {cmd.read_mode!r}; use {', '.join(m.value for m in ReadMode)}"
        ) from None
    if op in (Op.SET, Op.CAS) and cmd.value is None:
        raise CommandError(f"{op.value} needs a value")
    if op is Op.ACQUIRE and not 0 < cmd.ttl <= 600_000:
        raise CommandError("acquire needs a ttl of 1..600000 ms")
    if cmd.node is not None:
        cluster.require_node(cmd.node)  # before a client is created: errors change nothing
    client = cluster.client(cmd.client)
    token = client.token if op is Op.RELEASE else 0
    command = Command(op, cmd.key, cmd.value, cmd.expected, ttl=cmd.ttl, token=token)
    cluster.submit(command, mode, cmd.node, client.id)


def _network(cluster: Cluster, cmd: SetNetwork) -> None:
    if cmd.link is not None and len(cmd.link) != 2:
        raise CommandError("network.link names exactly two nodes")
    params = LinkParams(cmd.latency_min, cmd.latency_max, cmd.drop, cmd.duplicate)
    link = (cmd.link[0], cmd.link[1]) if cmd.link else None
    cluster.set_network(params, link)


def _fenced_write(cluster: Cluster, cmd: FencedWrite) -> None:
    cluster.fenced_write(cmd.client, cmd.value)  # a refusal is narrated, not an error


def _workload(cluster: Cluster, cmd: Workload) -> None:
    try:
        mode = ReadMode(cmd.read_mode)
    except ValueError:
        raise CommandError(f"unknown read mode {cmd.read_mode!r}") from None
    cluster.set_workload(cmd.rate, cmd.read_ratio, cmd.keys, mode)


def _propose(cluster: Cluster, cmd: Propose) -> None:
    try:
        op = Op(cmd.op)
    except ValueError:
        raise CommandError(f"unknown operation {cmd.op!r}; use set, get, delete or cas") from None
    if op not in (Op.SET, Op.GET, Op.DELETE, Op.CAS):
        raise CommandError(f"propose takes set, get, delete or cas, not {cmd.op!r}")
    if op in (Op.SET, Op.CAS) and cmd.value is None:
        raise CommandError(f"{op.value} needs a value")
    scripting.propose(cluster, cmd.node, Command(op, cmd.key, cmd.value, cmd.expected))


def _drop_kind(cluster: Cluster, cmd: DropKind) -> None:
    known = {k.value for k in Kind}
    for kind in cmd.kinds:
        if kind not in known:
            raise CommandError(
                f"drop_kind.kinds: unknown kind {kind!r}; kinds are {', '.join(sorted(known))}"
            )
    for end in (cmd.src, cmd.dst):
        if end != "*":
            cluster.require_node(end)
    cluster.set_dropped_kinds(cmd.src, cmd.dst, frozenset(cmd.kinds))


def _jitter(cluster: Cluster, cmd: Jitter) -> None:
    if not 0 <= cmd.ms <= 10_000:
        raise CommandError(f"jitter.ms must be 0..10000 (0 turns it off), got {cmd.ms:g}")
    cluster.set_jitter(cmd.ms)


_HANDLERS: dict[type[SimCommand], Callable[[Cluster, Any], None]] = {
    Crash: lambda c, m: c.crash(m.node),
    Restart: lambda c, m: c.restart(m.node),
    Pause: lambda c, m: c.pause(m.node, m.freeze_clock),
    Resume: lambda c, m: c.resume(m.node),
    TimeoutNow: lambda c, m: c.timeout_now(m.node),
    SetClockRate: lambda c, m: c.set_clock_rate(m.node, m.rate),
    ClientOp: _client_op,
    FencedWrite: _fenced_write,
    PauseClient: lambda c, m: c.pause_client(m.client),
    ResumeClient: lambda c, m: c.resume_client(m.client),
    Partition: lambda c, m: c.partition([list(g) for g in m.groups]),
    Heal: lambda c, m: c.heal(),
    CutLink: lambda c, m: c.cut_link(m.src, m.dst, m.both),
    RestoreLink: lambda c, m: c.restore_link(m.src, m.dst, m.both),
    SetNetwork: _network,
    ManualDelivery: lambda c, m: c.set_manual_delivery(m.on),
    DeliverMessage: lambda c, m: c.deliver(m.id),
    DropMessage: lambda c, m: c.drop(m.id),
    ChangeSettings: lambda c, m: c.set_settings(m.changes),
    Workload: _workload,
    SetDisk: lambda c, m: c.set_disk(m.node, m.fsync_ms),
    AddServer: lambda c, m: membership.add_server(c, m.node),
    RemoveServer: lambda c, m: membership.remove_server(c, m.node),
    TransferLeadership: lambda c, m: membership.transfer_leadership(c, m.node),
    Propose: _propose,
    Inject: lambda c, m: scripting.inject(c, dict(m.message)),
    Heartbeat: lambda c, m: scripting.heartbeat(c, m.node),
    DropKind: _drop_kind,
    Jitter: _jitter,
    SnapshotNow: lambda c, m: c.snapshot_now(m.node),
}
