"""Live safety monitors for Paxos, checked after every step.

The monitor follows what acceptors report as they accept (the ``accepted`` events carry the slot
and ballot), so it knows when a majority has accepted one proposal, which is what "chosen"
means, without ever reading a learner's conclusion. Learners are checked separately: a learner
must never learn a value other than the one chosen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from raftviz.core.messages import Event, LogEntry
from raftviz.core.paxos import PaxosNode
from raftviz.core.paxos_messages import Ballot
from raftviz.sim.checks.pvector import PVector
from raftviz.sim.checks.raft_invariants import Monitor

if TYPE_CHECKING:
    from raftviz.sim.engine.cluster import Cluster, NodeHost

PAXOS_INVARIANTS: dict[str, str] = {
    "Chosen Once": "at most one value is chosen in each slot",
    "Learners Agree": "no two learners learn different values for the same slot",
    "Accepted Is Safe": "once a value is chosen in a slot, every proposal accepted there at a "
    "higher ballot carries that same value",
    "Promise Monotonic": "an acceptor's promised ballot never decreases",
    "Linearizability": "every client operation appears to take effect at one instant between "
    "its invocation and its response",
}

T = TypeVar("T")


def _get(table: PVector[T | None], slot: int) -> T | None:
    return table[slot - 1] if slot <= len(table) else None


def _put(table: PVector[T | None], slot: int, value: T) -> None:
    while len(table) < slot:
        table.append(None)
    table[slot - 1] = value


# A chosen value with the ballot (as text) at which a majority accepted it and who saw it.
Chosen = tuple[LogEntry, str, tuple[str, ...]]


class PaxosMonitor(Monitor):
    """Checks the Paxos invariants incrementally."""

    invariants = PAXOS_INVARIANTS

    def __init__(self, node_ids: tuple[str, ...]) -> None:
        super().__init__()
        self.node_ids = node_ids
        self.quorum = len(node_ids) // 2 + 1
        # (slot, ballot) -> acceptors that accepted it and the value; dropped once chosen.
        self.votes: dict[tuple[int, str], tuple[frozenset[str], LogEntry]] = {}
        self.chosen: PVector[Chosen | None] = PVector()  # index slot - 1
        self.learned: PVector[tuple[LogEntry, str] | None] = PVector()
        self.prev_learned: dict[str, int] = {}
        self.prev_promise: dict[str, Ballot] = {}

    def observe(
        self, cluster: Cluster, hosts: list[NodeHost], events: tuple[Event, ...] = ()
    ) -> None:
        for event in events:
            if event.kind == "accepted" and "slot" in event.data:
                self._on_accepted(cluster, event)
        for host in hosts:
            node = host.node
            if node is None:
                self.prev_learned[host.id] = 0
                continue
            assert isinstance(node, PaxosNode)
            self._check_promise(cluster, node)
            self._check_learned(cluster, node)

    # ------------------------------------------------------------------ checks

    def _on_accepted(self, cluster: Cluster, event: Event) -> None:
        slot = int(event.data["slot"])
        ballot = str(event.data["ballot"])
        host = cluster.hosts[event.node]
        node = host.node
        if not isinstance(node, PaxosNode) or slot not in node.accepted:
            return
        value = node.accepted[slot].value
        chosen = _get(self.chosen, slot)
        if chosen is not None:
            chosen_value, chosen_ballot, _ = chosen
            if value != chosen_value:
                self.report(
                    cluster,
                    "Accepted Is Safe",
                    f"{node.id} accepted {value.command.describe()} in slot {slot} at ballot "
                    f"{ballot}, but {chosen_value.command.describe()} was already chosen "
                    f"there at ballot {chosen_ballot}",
                    [node.id],
                    [slot],
                )
        if chosen is not None and value == chosen[0]:
            return  # agrees with the chosen value: nothing more to track
        voters, first_value = self.votes.get((slot, ballot), (frozenset(), value))
        voters = voters | {node.id}
        self.votes[(slot, ballot)] = (voters, first_value)
        if len(voters) < self.quorum:
            return
        del self.votes[(slot, ballot)]
        if chosen is None:
            # Open slots are few, so clearing this slot's other ballots is cheap.
            for key in [k for k in self.votes if k[0] == slot]:
                del self.votes[key]
            _put(self.chosen, slot, (value, ballot, tuple(sorted(voters))))
            return
        chosen_value, chosen_ballot, chosen_by = chosen
        self.report(
            cluster,
            "Chosen Once",
            f"slot {slot} had {chosen_value.command.describe()} chosen at ballot "
            f"{chosen_ballot} (accepted by {', '.join(chosen_by)}), and now "
            f"{value.command.describe()} is chosen at ballot {ballot} (accepted by "
            f"{', '.join(sorted(voters))})",
            sorted(set(chosen_by) | voters),
            [slot],
        )

    def _check_promise(self, cluster: Cluster, node: PaxosNode) -> None:
        before = self.prev_promise.get(node.id)
        now = node.promised_ballot
        if before is not None and now < before:
            self.report(
                cluster,
                "Promise Monotonic",
                f"{node.id}'s promised ballot went back from {before} to {now}",
                [node.id],
                [],
            )
        self.prev_promise[node.id] = now

    def _check_learned(self, cluster: Cluster, node: PaxosNode) -> None:
        seen = self.prev_learned.get(node.id, 0)
        if len(node.chosen) < seen:
            seen = 0  # a restart forgot what it learned; it learns it again
        fresh = len(node.chosen) - seen
        self.prev_learned[node.id] = len(node.chosen)
        if fresh <= 0:
            return
        items = reversed(node.chosen.items())  # newest first: only the new ones are read
        for _ in range(fresh):
            slot, value = next(items)
            known = _get(self.learned, slot)
            if known is None:
                _put(self.learned, slot, (value, node.id))
                continue
            known_value, by = known
            if value != known_value:
                self.report(
                    cluster,
                    "Learners Agree",
                    f"{node.id} learned {value.command.describe()} in slot {slot}, but {by} "
                    f"learned {known_value.command.describe()} there",
                    [node.id, by],
                    [slot],
                )
