"""A tiny deterministic message pump for the Paxos tests.

Nodes share one clock. Every message takes ``latency(src, dst)`` ms to arrive; messages due at
the same moment arrive in the order they were sent, and they arrive before timers due at that
moment. A partition or a deaf node is a set of blocked links, checked when a message arrives,
so a message already in flight is lost when a partition starts. Crashed nodes keep only what
:meth:`PaxosNode.persistent_state` returns. Nothing here is random except each node's own
``random.Random``, seeded from the harness seed, so every run of a test is the same run.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable

from raftviz.core.messages import ClientReply, ClientRequest, Command, Event, Message, ReadMode
from raftviz.core.paxos import PaxosNode, PaxosPersistent, PaxosSettings
from raftviz.core.paxos_messages import PaxosMessage
from raftviz.core.raft import Output, Role

Latency = Callable[[str, str], float]


def _fixed(ms: float) -> Latency:
    return lambda src, dst: ms


class Harness:
    """A cluster of PaxosNodes ``n1..n<size>`` on a simulated network."""

    def __init__(
        self,
        size: int = 5,
        settings: PaxosSettings | None = None,
        seed: int = 1,
        latency: float | Latency = 10.0,
    ) -> None:
        self.ids = tuple(f"n{i}" for i in range(1, size + 1))
        self.settings = settings if settings is not None else PaxosSettings()
        self.seed = seed
        self.latency: Latency = latency if callable(latency) else _fixed(latency)
        self.now = 0.0
        self.disk: dict[str, PaxosPersistent] = {i: PaxosPersistent() for i in self.ids}
        self.incarnation = dict.fromkeys(self.ids, 0)
        self.nodes: dict[str, PaxosNode | None] = {i: self._boot(i) for i in self.ids}
        self._seq = itertools.count()
        self._flights: list[tuple[float, int, Message]] = []
        self.blocked: set[tuple[str, str]] = set()
        self.drop: Callable[[Message], bool] = lambda msg: False  # lose matching messages
        self.sent: list[PaxosMessage] = []  # every node-to-node message, in send order
        self.replies: list[ClientReply] = []
        self.events: list[Event] = []

    # ------------------------------------------------------------------ nodes

    def _boot(self, node_id: str) -> PaxosNode:
        rng = random.Random(self.seed * 1000 + int(node_id[1:]) * 10 + self.incarnation[node_id])
        return PaxosNode(node_id, self.ids, self.settings, rng, self.now, self.disk[node_id])

    def node(self, node_id: str) -> PaxosNode:
        node = self.nodes[node_id]
        assert node is not None, f"{node_id} is down"
        return node

    def crash(self, node_id: str) -> None:
        self.disk[node_id] = self.node(node_id).persistent_state()
        self.nodes[node_id] = None

    def restart(self, node_id: str) -> None:
        self.incarnation[node_id] += 1
        self.nodes[node_id] = self._boot(node_id)

    # ---------------------------------------------------------------- network

    def partition(self, *groups: set[str]) -> None:
        """Only nodes in the same group can talk (a node in no group is alone)."""
        where = {n: i for i, group in enumerate(groups) for n in group}
        self.blocked = {
            (a, b)
            for a in self.ids
            for b in self.ids
            if a != b and where.get(a, a) != where.get(b, b)
        }

    def deafen(self, node_id: str) -> None:
        """``node_id`` can still send, but receives nothing from the other nodes."""
        self.blocked |= {(other, node_id) for other in self.ids if other != node_id}

    def heal(self) -> None:
        self.blocked = set()

    # ----------------------------------------------------------------- inputs

    def request(
        self, node_id: str, command: Command, read_mode: ReadMode = ReadMode.LOG
    ) -> None:
        """The command's client asks ``node_id`` now (request id as in the command)."""
        client = command.client or "c1"
        msg = ClientRequest(client, node_id, 0, command.request_id, command, read_mode)
        self._absorb(self.node(node_id).step(msg, self.now))

    def timeout_now(self, node_id: str) -> None:
        self._absorb(self.node(node_id).timeout_now(self.now))

    def run(self, until: float) -> None:
        """Deliver messages and fire timers, in time order, up to and including ``until``."""
        while True:
            when = self._next_time()
            if when > until:
                break
            self.now = when
            if self._flights and self._flights[0][0] == when:
                self._arrive(heapq.heappop(self._flights)[2])
                continue
            for node_id in self.ids:
                node = self.nodes[node_id]
                if node is not None and node.next_wakeup() <= when:
                    self._absorb(node.tick(when))
                    break
        self.now = max(self.now, until)

    def run_for(self, duration: float) -> None:
        self.run(self.now + duration)

    def run_until(self, done: Callable[[], bool], limit: float = 10_000.0) -> bool:
        """Run in 1 ms steps until ``done()`` holds; False if ``limit`` ms pass first."""
        end = self.now + limit
        while not done():
            if self.now >= end:
                return False
            self.run(self.now + 1.0)
        return True

    # ---------------------------------------------------------------- queries

    def chosen(self, slot: int = 1) -> dict[str, str]:
        """What each live node learned for ``slot`` (the command's text), if anything."""
        found: dict[str, str] = {}
        for node_id, node in self.nodes.items():
            if node is not None and slot in node.chosen:
                found[node_id] = node.chosen[slot].command.describe()
        return found

    def leaders(self) -> list[str]:
        return [i for i, n in self.nodes.items() if n is not None and n.role is Role.LEADER]

    def count(self, kind: str) -> int:
        """How many node-to-node messages of ``kind`` were sent so far."""
        return sum(1 for m in self.sent if m.kind == kind)

    def event_texts(self, kind: str) -> list[str]:
        return [e.text for e in self.events if e.kind == kind]

    # --------------------------------------------------------------- plumbing

    def _next_time(self) -> float:
        times = [node.next_wakeup() for node in self.nodes.values() if node is not None]
        if self._flights:
            times.append(self._flights[0][0])
        return min(times, default=float("inf"))

    def _arrive(self, msg: Message) -> None:
        node = self.nodes.get(msg.dst)
        if node is None or (msg.src, msg.dst) in self.blocked or self.drop(msg):
            return
        self._absorb(node.step(msg, self.now))

    def _absorb(self, out: Output) -> None:
        self.events.extend(out.events)
        for msg in out.messages:
            if isinstance(msg, ClientReply):
                self.replies.append(msg)
                continue
            assert isinstance(msg, PaxosMessage), msg
            self.sent.append(msg)
            arrive = self.now + self.latency(msg.src, msg.dst)
            heapq.heappush(self._flights, (arrive, next(self._seq), msg))
