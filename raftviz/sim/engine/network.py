"""The simulated network: links with latency, loss and duplication; partitions; manual delivery.

The network is data. Every message in flight is an :class:`Envelope` with a stable id that the
UI can show and the user can deliver or drop. A partition is a grouping of nodes, not a flag on
nodes; one-way cuts block a single direction. Whether a message gets through is decided when it
arrives, so a message already on its way is lost when a partition comes down in front of it.
Endpoints outside every partition group (the clients) reach everyone.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from raftviz.core.messages import Immutable, Message
from raftviz.sim import config


@dataclass(frozen=True, slots=True)
class LinkParams(Immutable):
    """Behaviour of a link (one direction)."""

    latency_min: float = 10.0
    latency_max: float = 20.0
    drop: float = 0.0
    duplicate: float = 0.0

    def validate(self) -> None:
        """Check the fields against the one schema (raftviz/sim/config.py)."""
        config.check("network", self, "network")


@dataclass(frozen=True, slots=True)
class Envelope(Immutable):
    """A message in flight. ``lost`` is decided when sent (random loss) and shown on arrival."""

    id: int
    msg: Message
    sent_at: float
    deliver_at: float
    lost: bool = False
    duplicate: bool = False


# Every message class has one kind; reading it through the property and the enum's value for
# each of tens of thousands of messages a simulated minute showed in profiles.
_KIND_NAMES: dict[type[Message], str] = {}


class Drop(Exception):
    """Raised by :meth:`Network.arrive` when a message does not make it; says why."""


class Network:
    """Links, partitions and the messages in flight."""

    def __init__(self, rng: random.Random, defaults: LinkParams | None = None) -> None:
        self.rng = rng
        self.defaults = defaults or LinkParams()
        self.links: dict[tuple[str, str], LinkParams] = {}
        self.groups: tuple[frozenset[str], ...] = ()
        self.cut: set[tuple[str, str]] = set()
        self.manual = False
        self.in_flight: dict[int, Envelope] = {}
        self.next_id = 1
        self.sent = 0
        self.sent_by_kind: dict[str, int] = {}
        self.delivered = 0
        self.dropped = 0
        self.duplicated = 0
        # Scripting: message kinds dropped on arrival, per (src, dst) ("*" = any node).
        self.dropped_kinds: dict[tuple[str, str], frozenset[str]] = {}
        # Scripting: extra delay per message, uniform in [0, jitter) ms, on top of the link's
        # latency, so messages overtake each other. Drawn only when on: runs without it keep
        # their random streams.
        self.jitter = 0.0

    # ---------------------------------------------------------------- topology

    def params(self, src: str, dst: str) -> LinkParams:
        return self.links.get((src, dst), self.defaults)

    def set_params(self, params: LinkParams, link: tuple[str, str] | None = None) -> None:
        """Set the parameters of one link (both directions) or of all links."""
        params.validate()
        if link is None:
            self.defaults = params
            self.links.clear()
        else:
            a, b = link
            self.links[(a, b)] = params
            self.links[(b, a)] = params

    def partition(self, groups: list[list[str]]) -> None:
        """Split the nodes into groups; nodes in different groups cannot talk."""
        seen: set[str] = set()
        for group in groups:
            overlap = seen.intersection(group)
            if overlap:
                raise ValueError(f"node {sorted(overlap)[0]} is in more than one group")
            seen.update(group)
        self.groups = tuple(frozenset(g) for g in groups if g)

    def heal(self) -> None:
        """Remove every partition and one-way cut."""
        self.groups = ()
        self.cut.clear()

    def group_of(self, node: str) -> int | None:
        for i, group in enumerate(self.groups):
            if node in group:
                return i
        return None

    def can_reach(self, src: str, dst: str) -> bool:
        if (src, dst) in self.cut:
            return False
        if self.groups:
            a, b = self.group_of(src), self.group_of(dst)
            if a is not None and b is not None and a != b:
                return False
        return True

    # ---------------------------------------------------------------- messages

    def send(self, msg: Message, now: float) -> list[Envelope]:
        """Put a message in flight; returns one envelope, or two when duplicated."""
        p = self.params(msg.src, msg.dst)
        self.sent += 1
        kind = _KIND_NAMES.get(type(msg))
        if kind is None:
            kind = _KIND_NAMES[type(msg)] = msg.kind.value
        self.sent_by_kind[kind] = self.sent_by_kind.get(kind, 0) + 1
        copies = 2 if p.duplicate and self.rng.random() < p.duplicate else 1
        out = []
        for i in range(copies):
            latency = self.rng.uniform(p.latency_min, p.latency_max)
            lost = bool(p.drop) and self.rng.random() < p.drop
            if self.jitter:
                latency += self.rng.uniform(0, self.jitter)
            env = Envelope(self.next_id, msg, now, round(now + latency, 3), lost, i > 0)
            self.next_id += 1
            self.in_flight[env.id] = env
            out.append(env)
        if copies == 2:
            self.duplicated += 1
        return out

    def take(self, envelope_id: int) -> Envelope | None:
        """Remove an envelope from flight (None if it is no longer there)."""
        return self.in_flight.pop(envelope_id, None)

    def arrive(self, env: Envelope) -> None:
        """Judge an arriving envelope: returns normally if delivered, raises Drop if lost."""
        if env.lost:
            self.dropped += 1
            raise Drop("lost on the link")
        if not self.can_reach(env.msg.src, env.msg.dst):
            self.dropped += 1
            raise Drop("blocked by the partition")
        if self.dropped_kinds and self.kind_dropped(env.msg):
            self.dropped += 1
            raise Drop(f"{env.msg.kind} messages are being dropped")
        self.delivered += 1

    def kind_dropped(self, msg: Message) -> bool:
        """Whether a drop-by-kind rule catches this message."""
        kind = msg.kind.value
        return any(
            kind in self.dropped_kinds.get(link, frozenset())
            for link in ((msg.src, msg.dst), (msg.src, "*"), ("*", msg.dst), ("*", "*"))
        )

    def reschedule(self, env: Envelope, deliver_at: float) -> Envelope:
        moved = replace(env, deliver_at=deliver_at)
        self.in_flight[env.id] = moved
        return moved
