"""Paxos ballots and messages, as small frozen records (Lamport, "Paxos Made Simple", 2001).

Phase 1 is ``Prepare`` and its answers ``Promise`` or ``Nack``; phase 2 is ``Accept`` and its
answers ``Accepted`` or ``Nack``. ``Learn`` tells learners which values were chosen. Multi-Paxos
adds the leader's ``Heartbeat`` and a lagging learner's ``CatchUp`` request.

Every message carries the ballot it is about; its ``term`` is that ballot's round (for a Nack,
the round of the higher ballot that caused it), so the UI can compare "terms" the same way for
Raft and Paxos. A Paxos value is a :class:`LogEntry`: the
client's command plus the proposer's clock reading (which the lock service needs, exactly as in
Raft) and the round of the ballot that first proposed it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from raftviz.core.messages import Immutable, LogEntry, Message

_NODE_ID = re.compile(r"(.*?)(\d*)")


@functools.lru_cache(maxsize=256)  # ballots are compared on every message; ids are few
def node_order(node: str) -> tuple[str, int]:
    """Deterministic node order for ballot ties: by name, numbers compared as numbers (n2 < n10)."""
    match = _NODE_ID.fullmatch(node)
    assert match is not None  # the pattern matches every string
    prefix, digits = match.groups()
    return prefix, int(digits) if digits else -1


@dataclass(frozen=True, slots=True)
class Ballot(Immutable):
    """A proposal number (Lamport's n): unique per proposer, ordered by round, then by node.

    Two proposers never use the same ballot because the node id is part of it. ``NO_BALLOT``
    (round 0) is below every real ballot: it is what an acceptor has promised at the start.
    """

    round: int
    node: str

    def _key(self) -> tuple[int, tuple[str, int]]:
        return self.round, node_order(self.node)

    def __lt__(self, other: Ballot) -> bool:
        return self._key() < other._key()

    def __le__(self, other: Ballot) -> bool:
        return self._key() <= other._key()

    def __gt__(self, other: Ballot) -> bool:
        return self._key() > other._key()

    def __ge__(self, other: Ballot) -> bool:
        return self._key() >= other._key()

    def __str__(self) -> str:
        return f"{self.round}.{self.node}" if self.node else "none"


NO_BALLOT = Ballot(0, "")


@dataclass(frozen=True, slots=True)
class Proposal(Immutable):
    """A proposal an acceptor accepted: the slot, the ballot (accepted_ballot) and the value."""

    slot: int
    ballot: Ballot
    value: LogEntry

    def describe(self) -> str:
        return f"slot {self.slot}: {self.value.command.describe()} at {self.ballot}"


class PaxosKind(StrEnum):
    """Paxos message kinds, as shown in the UI and in transcripts."""

    PREPARE = "Prepare"
    PROMISE = "Promise"
    NACK = "Nack"
    ACCEPT = "Accept"
    ACCEPTED = "Accepted"
    LEARN = "Learn"
    HEARTBEAT = "Heartbeat"
    CATCH_UP = "CatchUp"


REPLY_KINDS = frozenset({PaxosKind.PROMISE, PaxosKind.NACK, PaxosKind.ACCEPTED})


@dataclass(frozen=True, slots=True)
class PaxosMessage(Message):
    """Base of every Paxos message: ``ballot`` is the ballot the message is about."""

    ballot: Ballot

    KIND: ClassVar[PaxosKind]  # each message class names its kind

    # Message.kind is typed with Raft's Kind; Paxos has its own kinds, so the override widens it.
    @property
    def kind(self) -> PaxosKind:  # type: ignore[override]
        return self.KIND

    @property
    def is_reply(self) -> bool:
        return self.kind in REPLY_KINDS


@dataclass(frozen=True, slots=True)
class Prepare(PaxosMessage):
    """Phase 1(a): "promise me nothing below ``ballot``", for every slot from ``from_slot`` on.

    Basic Paxos has one slot, so ``from_slot`` is 1. A Multi-Paxos leader prepares all slots it
    does not yet know to be chosen at once, which is why steady state needs only phase 2.
    """

    from_slot: int

    KIND = PaxosKind.PREPARE

    def summary(self) -> str:
        return f"ballot {self.ballot}, slots {self.from_slot}+"


@dataclass(frozen=True, slots=True)
class Promise(PaxosMessage):
    """Phase 1(b): a promise for ``ballot``, with every proposal accepted in the prepared slots."""

    accepted: tuple[Proposal, ...]

    KIND = PaxosKind.PROMISE

    def summary(self) -> str:
        if not self.accepted:
            return f"ballot {self.ballot}, accepted nothing"
        shown = "; ".join(p.describe() for p in self.accepted[:3])
        more = f" (+{len(self.accepted) - 3} more)" if len(self.accepted) > 3 else ""
        return f"ballot {self.ballot}, accepted {shown}{more}"


@dataclass(frozen=True, slots=True)
class Nack(PaxosMessage):
    """A refusal: the acceptor promised ``promised``, which is higher than ``ballot``.

    ``refused`` names what was refused (Prepare, Accept or Heartbeat); ``slot`` is the slot of a
    refused Accept. The proposer learns the higher ballot, so its next one can beat it. The
    message's ``term`` is the round of ``promised``: the sender's view, as in Raft's replies.
    """

    refused: PaxosKind
    promised: Ballot
    slot: int = 0

    KIND = PaxosKind.NACK

    def summary(self) -> str:
        where = f" slot {self.slot}" if self.slot else ""
        return f"refused {self.refused}{where} at {self.ballot}: promised {self.promised}"


@dataclass(frozen=True, slots=True)
class Accept(PaxosMessage):
    """Phase 2(a): "accept ``value`` in ``slot`` at ``ballot``".

    In Multi-Paxos the leader also says which slots it knows chosen (``chosen_upto``), as
    Raft's leader sends its commit index: a follower that accepted those slots at this ballot
    learns them without a separate Learn message.
    """

    slot: int
    value: LogEntry
    chosen_upto: int = 0

    KIND = PaxosKind.ACCEPT

    def summary(self) -> str:
        chosen = f", chosen up to {self.chosen_upto}" if self.chosen_upto else ""
        return f"ballot {self.ballot}, slot {self.slot}: {self.value.command.describe()}{chosen}"


@dataclass(frozen=True, slots=True)
class Accepted(PaxosMessage):
    """Phase 2(b): the acceptor accepted the proposal in ``slot`` at ``ballot``."""

    slot: int

    KIND = PaxosKind.ACCEPTED

    def summary(self) -> str:
        return f"ballot {self.ballot}, slot {self.slot}"


@dataclass(frozen=True, slots=True)
class Learn(PaxosMessage):
    """To a learner: ``values`` were chosen in slots ``slot``, ``slot + 1``, ...

    The proposer that saw a majority accept sends one slot; catch-up sends a run of slots.
    """

    slot: int
    values: tuple[LogEntry, ...]

    KIND = PaxosKind.LEARN

    def summary(self) -> str:
        if len(self.values) == 1:
            return f"slot {self.slot} chose {self.values[0].command.describe()}"
        return f"slots {self.slot}-{self.slot + len(self.values) - 1} chosen"


@dataclass(frozen=True, slots=True)
class Heartbeat(PaxosMessage):
    """Multi-Paxos: the leader of ``ballot`` is alive and knows slots 1..``chosen_upto`` chosen."""

    chosen_upto: int

    KIND = PaxosKind.HEARTBEAT

    def summary(self) -> str:
        return f"ballot {self.ballot}, chosen up to slot {self.chosen_upto}"


@dataclass(frozen=True, slots=True)
class CatchUp(PaxosMessage):
    """Multi-Paxos: a learner behind the leader asks for the chosen values from ``from_slot``."""

    from_slot: int

    KIND = PaxosKind.CATCH_UP

    def summary(self) -> str:
        return f"send chosen values from slot {self.from_slot}"
