"""Simulated clients: they send requests, follow leader hints, retry, give up, and record history.

Each client has at most one operation outstanding, so its history is well formed for the
linearizability checker. Retries reuse the request id, which the state machine's client sessions
turn into exactly-once execution. A client that gives up records the outcome as unknown: the
write may still take effect later, and the checker allows for that.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from raftviz.core.messages import (
    ClientReply,
    ClientRequest,
    Command,
    Immutable,
    Op,
    ReadMode,
    Result,
)

RETRYABLE = frozenset({"not the leader", "leadership lost", "no valid lease"})


class Status(StrEnum):
    PENDING = "pending"
    OK = "ok"
    FAILED = "failed"
    UNKNOWN = "unknown"  # gave up: the operation may or may not take effect


@dataclass(frozen=True, slots=True)
class ClientSettings(Immutable):
    attempt_timeout: float = 300.0  # wait this long for an answer before trying another node
    give_up_after: float = 3000.0  # then record the outcome as unknown
    retry_delay: float = 20.0  # pause before retrying after an error


@dataclass(frozen=True, slots=True)
class OpRecord(Immutable):
    """One client operation as the client saw it (for the UI and the checkers)."""

    op_id: int
    client: str
    command: Command
    read_mode: ReadMode
    invoke: float
    complete: float | None
    status: Status
    result: Result | None = None
    node: str | None = None  # the node that answered
    error: str = ""


@dataclass(slots=True)
class PendingOp:
    op_id: int
    request_id: int
    command: Command
    read_mode: ReadMode
    invoke: float
    deadline: float
    target: str
    attempts: int = 1


class Client:
    """A client endpoint on the network (ids ``c1``, ``c2``, ...)."""

    def __init__(self, client_id: str, nodes: tuple[str, ...], rng: random.Random) -> None:
        self.id = client_id
        self.nodes = nodes
        self.rng = rng
        self.known_leader: str | None = None
        self.next_request_id = 1
        self.pending: PendingOp | None = None
        self.paused = False
        self.inbox: list[ClientReply] = []
        self.timer_generation = 0
        self.timer_at: float | None = None
        self.token = 0  # fencing token of the last lock this client was granted

    @property
    def busy(self) -> bool:
        return self.pending is not None

    def start(
        self,
        op_id: int,
        command: Command,
        read_mode: ReadMode,
        now: float,
        settings: ClientSettings,
        target: str | None,
    ) -> ClientRequest:
        """Begin an operation; returns the first request to send."""
        assert self.pending is None, f"{self.id} already has an operation outstanding"
        request_id = self.next_request_id
        self.next_request_id += 1
        if command.op is not Op.NOOP:
            command = Command(
                command.op,
                command.key,
                command.value,
                command.expected,
                self.id,
                request_id,
                command.ttl,
                command.token,
            )
        node = target or self.known_leader or self.rng.choice(self.nodes)
        self.pending = PendingOp(
            op_id, request_id, command, read_mode, now, now + settings.give_up_after, node
        )
        self.timer_at = now + settings.attempt_timeout
        return self._request()

    def _request(self) -> ClientRequest:
        p = self.pending
        assert p is not None
        return ClientRequest(self.id, p.target, 0, p.request_id, p.command, p.read_mode)

    def on_reply(
        self, reply: ClientReply, now: float, settings: ClientSettings
    ) -> OpRecord | None:
        """Handle an answer: returns the finished record, or None (ignored, or will retry)."""
        p = self.pending
        if p is None or reply.request_id != p.request_id:
            return None  # an answer to an attempt we already settled
        if reply.ok:
            self.known_leader = reply.src if p.read_mode is not ReadMode.FOLLOWER else None
            if reply.result is not None and reply.result.token and p.command.op is Op.ACQUIRE:
                if reply.result.ok:
                    self.token = reply.result.token
            return self._finish(now, Status.OK, reply.result, reply.src)
        if reply.error not in RETRYABLE:
            return self._finish(now, Status.FAILED, None, reply.src, reply.error)
        if reply.leader_hint and reply.leader_hint != reply.src:
            self.known_leader = reply.leader_hint
        elif reply.src == self.known_leader and reply.error != "no valid lease":
            self.known_leader = None
        self.timer_at = min(now + settings.retry_delay, p.deadline)
        return None

    def on_timer(self, now: float, settings: ClientSettings) -> ClientRequest | OpRecord | None:
        """Retry (returns the request to send) or give up (returns the record)."""
        p = self.pending
        if p is None:
            self.timer_at = None
            return None
        if now >= p.deadline:
            return self._finish(now, Status.UNKNOWN, None, None, "timed out")
        previous = p.target
        if self.known_leader is not None:
            p.target = self.known_leader
        else:
            others = [n for n in self.nodes if n != previous] or list(self.nodes)
            p.target = self.rng.choice(others)
        if p.target == previous and self.known_leader == previous:
            self.known_leader = None  # it did not answer last time; do not insist
        p.attempts += 1
        self.timer_at = min(now + settings.attempt_timeout, p.deadline)
        return self._request()

    def _finish(
        self,
        now: float,
        status: Status,
        result: Result | None,
        node: str | None,
        error: str = "",
    ) -> OpRecord:
        p = self.pending
        assert p is not None
        self.pending = None
        self.timer_at = None
        complete = None if status is Status.UNKNOWN else now
        return OpRecord(
            p.op_id, self.id, p.command, p.read_mode, p.invoke, complete, status, result, node,
            error,
        )

    def pending_record(self) -> OpRecord | None:
        """The outstanding operation as a record (for the UI)."""
        p = self.pending
        if p is None:
            return None
        return OpRecord(
            p.op_id, self.id, p.command, p.read_mode, p.invoke, None, Status.PENDING, node=p.target
        )
