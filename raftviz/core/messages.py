"""Every message that crosses the simulated network, as small frozen records.

Raft messages are named after Figure 2 of the Raft paper (``RequestVote``, ``AppendEntries`` and
their replies). Client messages carry a state-machine :class:`Command` to the cluster and its
result back. Messages are immutable, so the simulation can share them between history
checkpoints instead of copying them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from raftviz.core.membership import Configuration


class Op(StrEnum):
    """Operations of the replicated state machine (key-value store plus lock service)."""

    NOOP = "noop"
    SET = "set"
    GET = "get"
    DELETE = "delete"
    CAS = "cas"
    ACQUIRE = "acquire"
    RELEASE = "release"
    CONFIG = "config"  # a cluster configuration entry (membership change, thesis 4.1)


WRITE_OPS = frozenset({Op.SET, Op.DELETE, Op.CAS, Op.ACQUIRE, Op.RELEASE})


class ReadMode(StrEnum):
    """How a read is served (Raft thesis, section 6.4)."""

    LOG = "log"  # the GET goes through the log like a write
    READ_INDEX = "read_index"  # leader confirms leadership with a heartbeat round first
    LEASE = "lease"  # leader answers while its heartbeat lease is valid
    FOLLOWER = "follower"  # any node answers from its own state machine; may be stale


class Immutable:
    """Mixin: immutable records are their own deep copy (checkpoints share them)."""

    __slots__ = ()

    def __deepcopy__(self, memo: dict[int, Any]) -> Immutable:
        return self

    def __copy__(self) -> Immutable:
        return self


@dataclass(frozen=True, slots=True)
class Command(Immutable):
    """One state-machine command, as proposed by a client and stored in a log entry."""

    op: Op
    key: str = ""
    value: str | None = None
    expected: str | None = None  # CAS: the value it must find (None = key absent)
    client: str = ""  # client id; with request_id it makes retries idempotent
    request_id: int = 0
    ttl: float = 0.0  # ACQUIRE: lease length in ms of log time
    token: int = 0  # RELEASE: the fencing token being released
    config: Configuration | None = None  # CONFIG: the configuration this entry installs

    def describe(self) -> str:
        """Short human text, e.g. ``SET x=3`` or ``ACQUIRE lock1 (c2, 500 ms)``."""
        match self.op:
            case Op.NOOP:
                return "no-op"
            case Op.SET:
                return f"SET {self.key}={self.value}"
            case Op.GET:
                return f"GET {self.key}"
            case Op.DELETE:
                return f"DEL {self.key}"
            case Op.CAS:
                exp = "∅" if self.expected is None else self.expected
                return f"CAS {self.key} {exp}→{self.value}"
            case Op.ACQUIRE:
                return f"ACQUIRE {self.key} ({self.client}, {self.ttl:g} ms)"
            case Op.RELEASE:
                return f"RELEASE {self.key} ({self.client})"
            case Op.CONFIG:
                return f"CONFIG {self.config.describe() if self.config else '?'}"
        return str(self.op)  # pragma: no cover - every Op is matched above


NOOP = Command(Op.NOOP)


@dataclass(frozen=True, slots=True)
class LogEntry(Immutable):
    """A log entry: the term of the leader that created it, its command, and log time.

    ``time`` is the creating leader's clock reading; the lock service decides expiry from it,
    so every replica reaches the same decision without reading its own clock.
    """

    term: int
    command: Command
    time: float = 0.0


class Kind(StrEnum):
    """Message kinds, as shown in the UI and in transcripts."""

    REQUEST_VOTE = "RequestVote"
    REQUEST_VOTE_REPLY = "RequestVoteReply"
    APPEND_ENTRIES = "AppendEntries"
    APPEND_ENTRIES_REPLY = "AppendEntriesReply"
    INSTALL_SNAPSHOT = "InstallSnapshot"
    INSTALL_SNAPSHOT_REPLY = "InstallSnapshotReply"
    CLIENT_REQUEST = "ClientRequest"
    CLIENT_REPLY = "ClientReply"
    TIMEOUT_NOW = "TimeoutNow"


@dataclass(frozen=True, slots=True)
class Message(Immutable):
    """Base of every message: sender, receiver and the sender's term (0 for clients)."""

    src: str
    dst: str
    term: int

    @property
    def kind(self) -> Kind:
        raise NotImplementedError

    @property
    def is_reply(self) -> bool:
        return self.kind.endswith("Reply")

    def summary(self) -> str:
        """One line for the UI's message inspector and the transcript."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class RequestVote(Message):
    """Raft Fig. 2, RequestVote RPC arguments (plus the PreVote flag, thesis 9.6)."""

    last_log_index: int
    last_log_term: int
    pre_vote: bool = False
    # Sent because of a leadership transfer (thesis 3.10): voters inside a lease still answer.
    transfer: bool = False

    @property
    def kind(self) -> Kind:
        return Kind.REQUEST_VOTE

    def summary(self) -> str:
        pre = "pre-vote " if self.pre_vote else "transfer " if self.transfer else ""
        return (
            f"{pre}term {self.term}, last log index {self.last_log_index}, "
            f"last log term {self.last_log_term}"
        )


@dataclass(frozen=True, slots=True)
class RequestVoteReply(Message):
    """Raft Fig. 2, RequestVote RPC results."""

    vote_granted: bool
    pre_vote: bool = False

    @property
    def kind(self) -> Kind:
        return Kind.REQUEST_VOTE_REPLY

    def summary(self) -> str:
        pre = "pre-vote " if self.pre_vote else ""
        return f"{pre}term {self.term}, {'granted' if self.vote_granted else 'refused'}"


@dataclass(frozen=True, slots=True)
class AppendEntries(Message):
    """Raft Fig. 2, AppendEntries RPC arguments.

    ``seq`` numbers the leader's broadcast rounds so a reply can confirm a ReadIndex or lease
    round (thesis 6.4); it is bookkeeping only and never affects log handling.
    """

    prev_log_index: int
    prev_log_term: int
    entries: tuple[LogEntry, ...]
    leader_commit: int
    seq: int = 0

    @property
    def kind(self) -> Kind:
        return Kind.APPEND_ENTRIES

    def summary(self) -> str:
        if not self.entries:
            what = "heartbeat"
        else:
            first = self.prev_log_index + 1
            last = self.prev_log_index + len(self.entries)
            what = f"entries {first}" + (f"-{last}" if last != first else "")
        return (
            f"term {self.term}, {what}, prev {self.prev_log_index}/t{self.prev_log_term}, "
            f"commit {self.leader_commit}"
        )


@dataclass(frozen=True, slots=True)
class AppendEntriesReply(Message):
    """Raft Fig. 2, AppendEntries RPC results, with the fast back-up hint (section 5.3).

    ``match_index`` is the last index known to match the leader on success. On rejection,
    ``reject_index`` echoes the request's prev_log_index so a stale rejection can be ignored,
    and ``conflict_term``/``conflict_index`` let the leader skip a whole term at a time.
    """

    success: bool
    match_index: int = 0
    reject_index: int = 0
    conflict_term: int = 0
    conflict_index: int = 0
    seq: int = 0

    @property
    def kind(self) -> Kind:
        return Kind.APPEND_ENTRIES_REPLY

    def summary(self) -> str:
        if self.success:
            return f"term {self.term}, ok, match {self.match_index}"
        hint = ""
        if self.conflict_index:
            hint = f", conflict term {self.conflict_term} from {self.conflict_index}"
        return f"term {self.term}, rejected at {self.reject_index}{hint}"


@dataclass(frozen=True, slots=True)
class InstallSnapshot(Message):
    """Raft Fig. 13, InstallSnapshot RPC arguments: one chunk of the leader's snapshot.

    ``size`` (the snapshot's total bytes) and ``seq`` (the leader's round, as in
    AppendEntries) are bookkeeping for the UI's progress bar and for ReadIndex rounds.
    """

    last_included_index: int
    last_included_term: int
    offset: int
    data: bytes
    done: bool
    size: int = 0
    seq: int = 0

    @property
    def kind(self) -> Kind:
        return Kind.INSTALL_SNAPSHOT

    def summary(self) -> str:
        end = self.offset + len(self.data)
        last = ", done" if self.done else ""
        return (
            f"term {self.term}, snapshot through {self.last_included_index}/"
            f"t{self.last_included_term}, bytes {self.offset}-{end} of {self.size}{last}"
        )


@dataclass(frozen=True, slots=True)
class InstallSnapshotReply(Message):
    """Raft Fig. 13, InstallSnapshot RPC results (the term).

    Like AppendEntriesReply it also says what it acknowledges: which snapshot, how many of its
    bytes the follower now holds in order (``received``: where the next chunk must start), and
    whether the snapshot is installed, so the leader can move on or resend a lost chunk.
    """

    last_included_index: int
    received: int
    installed: bool
    seq: int = 0

    @property
    def kind(self) -> Kind:
        return Kind.INSTALL_SNAPSHOT_REPLY

    def summary(self) -> str:
        what = "installed" if self.installed else f"holds {self.received} bytes"
        return f"term {self.term}, snapshot through {self.last_included_index} {what}"


@dataclass(frozen=True, slots=True)
class TimeoutNow(Message):
    """Thesis 3.10: the leader tells the transfer target to start an election at once."""

    @property
    def kind(self) -> Kind:
        return Kind.TIMEOUT_NOW

    def summary(self) -> str:
        return f"term {self.term}, start an election now (leadership transfer)"


@dataclass(frozen=True, slots=True)
class ClientRequest(Message):
    """A client's request to a node: a command plus, for GET, how to serve the read."""

    request_id: int
    command: Command
    read_mode: ReadMode = ReadMode.LOG

    @property
    def kind(self) -> Kind:
        return Kind.CLIENT_REQUEST

    def summary(self) -> str:
        mode = f" ({self.read_mode})" if self.command.op is Op.GET else ""
        return f"#{self.request_id} {self.command.describe()}{mode}"


@dataclass(frozen=True, slots=True)
class ClientReply(Message):
    """A node's answer to a client: a result, or an error with a hint where the leader is."""

    request_id: int
    ok: bool
    result: Result | None = None
    error: str = ""
    leader_hint: str | None = None

    @property
    def kind(self) -> Kind:
        return Kind.CLIENT_REPLY

    def summary(self) -> str:
        if self.ok and self.result is not None:
            return f"#{self.request_id} {self.result.describe()}"
        hint = f" (try {self.leader_hint})" if self.leader_hint else ""
        return f"#{self.request_id} error: {self.error}{hint}"


@dataclass(frozen=True, slots=True)
class Result(Immutable):
    """What applying a command returned.

    ``value`` is the value read (GET) or found; ``ok`` is False for a CAS that did not swap or a
    lock request that was refused; ``token`` is the fencing token of a granted lock.
    """

    ok: bool = True
    value: str | None = None
    token: int = 0
    detail: str = ""

    def describe(self) -> str:
        parts = ["ok" if self.ok else "refused"]
        if self.value is not None:
            parts.append(f"value={self.value}")
        if self.token:
            parts.append(f"token={self.token}")
        if self.detail:
            parts.append(self.detail)
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class Event(Immutable):
    """Something a node did, in plain words, for narration and transcripts."""

    node: str
    kind: str
    text: str
    data: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
