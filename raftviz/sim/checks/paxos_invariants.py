"""Live safety monitors for Paxos, checked after every step.

The monitor follows what acceptors report as they accept (the ``accepted`` events carry the slot
and ballot), so it knows when a majority has accepted one proposal, which is what "chosen"
means, without ever reading a learner's conclusion. Learners are checked separately: a learner
must never learn a value other than the one chosen, nor before it is chosen. Acceptors are
checked against their own promises event by event (a step may both promise and accept), and
ballots against their proposers.

"Accepted Is Safe" is Paxos's P2a: once a value is chosen at ballot b, every proposal accepted
at a ballot of b or higher carries it. An acceptor that has not yet heard of b may still accept
an older ballot's different value: that is allowed, and such a value can never gather a majority
(its ballot is below what a majority promised).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from raftviz.core.messages import Event, LogEntry
from raftviz.core.paxos import PaxosNode
from raftviz.core.paxos_messages import NO_BALLOT, Ballot
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
    "Promise Kept": "an acceptor never accepts a proposal below the ballot it has promised",
    "Learned Is Chosen": "a learner learns a value only once a majority of acceptors accepted it "
    "at one ballot",
    "Ballots Unique": "each ballot belongs to one proposer, is started once, and carries one "
    "value per slot",
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


# A chosen value with the ballot at which a majority accepted it and who accepted it.
Chosen = tuple[LogEntry, Ballot, tuple[str, ...]]


def parse_ballot(text: str) -> Ballot:
    """A ballot from its text form ``round.node`` (as events carry it)."""
    if text == str(NO_BALLOT):
        return NO_BALLOT
    round_text, node = text.split(".", 1)
    return Ballot(int(round_text), node)


class PaxosMonitor(Monitor):
    """Checks the Paxos invariants incrementally."""

    invariants = PAXOS_INVARIANTS

    def __init__(self, node_ids: tuple[str, ...]) -> None:
        super().__init__()
        self.node_ids = node_ids
        self.quorum = len(node_ids) // 2 + 1
        # (slot, ballot) -> acceptors that accepted it and the value; dropped once chosen.
        self.votes: dict[tuple[int, Ballot], tuple[frozenset[str], LogEntry]] = {}
        self.chosen: PVector[Chosen | None] = PVector()  # index slot - 1
        self.learned: PVector[tuple[LogEntry, str] | None] = PVector()
        self.prev_learned: dict[str, int] = {}
        self.prev_promise: dict[str, Ballot] = {}
        self.ballot_owner: dict[Ballot, str] = {}

    def observe(
        self, cluster: Cluster, hosts: list[NodeHost], events: tuple[Event, ...] = ()
    ) -> None:
        promise: dict[str, Ballot] = {}  # each acceptor's promise as this step's events unfold
        for event in events:
            if event.kind == "accepted" and "slot" in event.data:
                ballot = parse_ballot(str(event.data["ballot"]))
                held = promise.get(event.node, self.prev_promise.get(event.node, NO_BALLOT))
                if ballot < held:
                    self.report(
                        cluster,
                        "Promise Kept",
                        f"{event.node} accepted a proposal at ballot {ballot} in slot "
                        f"{event.data['slot']} after promising {held}",
                        [event.node],
                        [int(event.data["slot"])],
                    )
                promise[event.node] = max(held, ballot)
                self._on_accepted(cluster, event, ballot)
            elif event.kind == "promise" and "ballot" in event.data:
                ballot = parse_ballot(str(event.data["ballot"]))
                held = promise.get(event.node, self.prev_promise.get(event.node, NO_BALLOT))
                promise[event.node] = max(held, ballot)
            elif event.kind in ("election", "prepare") and "ballot" in event.data:
                self._check_ballot(cluster, event.node, parse_ballot(str(event.data["ballot"])))
        for host in hosts:
            node = host.node
            if node is None:
                self.prev_learned[host.id] = 0
                continue
            assert isinstance(node, PaxosNode)
            self._check_promise(cluster, node)
            self._check_learned(cluster, node)

    # ------------------------------------------------------------------ checks

    def _check_ballot(self, cluster: Cluster, node: str, ballot: Ballot) -> None:
        owner = self.ballot_owner.get(ballot)
        if owner is None:
            self.ballot_owner[ballot] = node
            return
        again = "again" if owner == node else f"already used by {owner}"
        self.report(
            cluster,
            "Ballots Unique",
            f"{node} started phase 1 with ballot {ballot}, {again}",
            sorted({node, owner}),
            [],
        )

    def _on_accepted(self, cluster: Cluster, event: Event, ballot: Ballot) -> None:
        slot = int(event.data["slot"])
        host = cluster.hosts[event.node]
        node = host.node
        if not isinstance(node, PaxosNode) or slot not in node.accepted:
            return
        value = node.accepted[slot].value
        chosen = _get(self.chosen, slot)
        if chosen is not None:
            chosen_value, chosen_ballot, _ = chosen
            if value != chosen_value and ballot >= chosen_ballot:
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
        if value != first_value:
            self.report(
                cluster,
                "Ballots Unique",
                f"{node.id} accepted {value.command.describe()} in slot {slot} at ballot "
                f"{ballot}, which already carried {first_value.command.describe()} there",
                sorted(voters | {node.id}),
                [slot],
            )
            return
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
            chosen = _get(self.chosen, slot)
            if chosen is None or chosen[0] != value:
                what = (
                    "nothing was chosen there yet" if chosen is None
                    else f"{chosen[0].command.describe()} was chosen there at ballot {chosen[1]}"
                )
                self.report(
                    cluster,
                    "Learned Is Chosen",
                    f"{node.id} learned {value.command.describe()} in slot {slot}, but {what}",
                    [node.id],
                    [slot],
                )
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
