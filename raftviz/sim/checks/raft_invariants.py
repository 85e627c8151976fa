"""Live safety monitors: Raft's Figure 3 properties, checked after every step.

Each check looks only at what changed in the step (new log entries, a new leader, an advanced
commit index), using the chain digests of :class:`~raftviz.core.log.RaftLog` to compare whole
log prefixes in constant time. A violation is reported with the simulated time, the nodes and
the log indices involved, in words a student can follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from raftviz.core.log import RaftLog
from raftviz.core.messages import Event, Immutable
from raftviz.core.raft import PersistentState, RaftNode, Role
from raftviz.sim.checks.pvector import PVector

if TYPE_CHECKING:
    from raftviz.sim.engine.cluster import Cluster, NodeHost

INVARIANTS: dict[str, str] = {
    "Election Safety": "at most one leader can be elected in a given term",
    "Leader Append-Only": "a leader never overwrites or deletes entries in its log",
    "Log Matching": "if two logs contain an entry with the same index and term, the logs are "
    "identical in all entries up through that index",
    "Leader Completeness": "if an entry is committed in a term, it is present in the logs of the "
    "leaders of all higher terms",
    "State Machine Safety": "no two servers apply different entries at the same log index",
    "Term Monotonic": "a server's current term never decreases",
    "Commit Within Log": "a server's commit index never exceeds its log",
    # A separate check (membership_invariants), registered here so the panel lists it.
    "Configuration Overlap": "leaders of the same term cannot be elected by majorities of "
    "different configurations (thesis 4.1)",
    "Linearizability": "every client operation appears to take effect at one instant between "
    "its invocation and its response",
}
MAX_VIOLATIONS = 200


@dataclass(frozen=True, slots=True)
class Violation(Immutable):
    """One broken invariant, with when, who and which entries."""

    invariant: str
    time: float
    nodes: tuple[str, ...]
    indices: tuple[int, ...]
    text: str

    def to_json(self) -> dict[str, Any]:
        return {
            "invariant": self.invariant,
            "time": self.time,
            "nodes": list(self.nodes),
            "indices": list(self.indices),
            "text": self.text,
        }


def _raft_log(host: NodeHost) -> RaftLog:
    """A Raft node's log, running or (from its persistent state) crashed."""
    if isinstance(host.node, RaftNode):
        return host.node.log
    assert isinstance(host.persistent, PersistentState)
    return host.persistent.log


def _describe_entry(log: RaftLog, index: int) -> str:
    if index > log.last_index:
        return "nothing"
    entry = log.entry(index)
    return f"(term {entry.term}, {entry.command.describe()})"


class Monitor:
    """What every protocol's monitor shares: reporting, de-duplication and status."""

    invariants: dict[str, str] = INVARIANTS

    def __init__(self) -> None:
        self.violations: list[Violation] = []
        self.reported: set[tuple[str, frozenset[str], tuple[int, ...]]] = set()
        self.counts: dict[str, int] = {name: 0 for name in self.invariants}

    def observe(
        self, cluster: Cluster, hosts: list[NodeHost], events: tuple[Event, ...] = ()
    ) -> None:
        """Check what a step touched: the nodes it ran and the events they reported."""
        raise NotImplementedError

    def report(
        self,
        cluster: Cluster,
        invariant: str,
        text: str,
        nodes: list[str],
        indices: list[int],
    ) -> None:
        """Record a violation (once per invariant, nodes and indices) and narrate it."""
        key = (invariant, frozenset(nodes), tuple(indices))
        if key in self.reported:
            return
        self.reported.add(key)
        self.counts[invariant] += 1
        if len(self.violations) < MAX_VIOLATIONS:
            v = Violation(invariant, round(cluster.now, 3), tuple(nodes), tuple(indices), text)
            self.violations.append(v)
        cluster._narrate(  # noqa: SLF001 - the monitor is the cluster's own part
            "checker", "violation", f"{invariant} violated: {text}", invariant=invariant
        )

    def status(self) -> dict[str, dict[str, Any]]:
        """Per invariant: its statement, how often it was broken, and the first violation."""
        first: dict[str, Violation] = {}
        for v in self.violations:
            first.setdefault(v.invariant, v)
        return {
            name: {
                "statement": statement,
                "ok": self.counts[name] == 0,
                "count": self.counts[name],
                "first": first[name].to_json() if name in first else None,
            }
            for name, statement in self.invariants.items()
        }


class SafetyMonitor(Monitor):
    """Raft's Figure 3 properties, checked incrementally; see the module docstring."""

    def __init__(self, node_ids: tuple[str, ...]) -> None:
        super().__init__()
        self.node_ids = node_ids
        self.leaders_by_term: dict[int, str] = {}
        # Digest of the committed prefix at each index, as first committed anywhere.
        self.committed: PVector[int] = PVector()
        self.committed_by: PVector[str] = PVector()
        self.prev_role: dict[str, Role] = {}
        self.prev_term: dict[str, int] = {}
        self.prev_truncations: dict[str, int] = {}
        self.prev_commit: dict[str, int] = {}
        self.seen: dict[str, tuple[int, Role, int, int, int]] = {}

    def observe(
        self, cluster: Cluster, hosts: list[NodeHost], events: tuple[Event, ...] = ()
    ) -> None:
        for host in hosts:
            node = host.node
            if node is None:
                self.prev_commit[host.id] = 0
                # A crash may take back a term that was never fsynced (and so never told to
                # anyone); the term on disk is the one that must never go back.
                if isinstance(host.persistent, PersistentState):
                    self.prev_term[host.id] = host.persistent.current_term
                self.prev_role[host.id] = Role.FOLLOWER
                continue
            assert isinstance(node, RaftNode)
            log = node.log
            signature = (node.current_term, node.role, node.commit_index, log.last_index,
                         log.truncations)
            if log.changed_from > log.last_index and self.seen.get(node.id) == signature:
                continue  # nothing an invariant looks at changed (a heartbeat, a stale reply)
            self.seen[node.id] = signature
            self._check_term(cluster, node)
            self._check_log_matching(cluster, node)
            self._check_leader(cluster, node)
            self._check_commit(cluster, node)
            self.prev_role[node.id] = node.role
            self.prev_term[node.id] = node.current_term

    # ------------------------------------------------------------------ checks

    def _check_term(self, cluster: Cluster, node: RaftNode) -> None:
        before = self.prev_term.get(node.id, 0)
        if node.current_term < before:
            self.report(
                cluster,
                "Term Monotonic",
                f"{node.id}'s term went back from {before} to {node.current_term}",
                [node.id],
                [],
            )
        if node.commit_index > node.log.last_index:
            self.report(
                cluster,
                "Commit Within Log",
                f"{node.id}'s commit index {node.commit_index} is past its last entry "
                f"{node.log.last_index}",
                [node.id],
                [node.commit_index],
            )

    def _check_log_matching(self, cluster: Cluster, node: RaftNode) -> None:
        log = node.log
        start = log.changed_from
        log.changed_from = log.last_index + 1
        truncated = log.truncations - self.prev_truncations.get(node.id, log.truncations)
        self.prev_truncations[node.id] = log.truncations
        # A leader that saw a newer term in this step was deposed before it truncated: one
        # AppendEntries both makes an old leader a follower and cuts its stale tail.
        same_term = node.current_term == self.prev_term.get(node.id, node.current_term)
        if truncated and self.prev_role.get(node.id) is Role.LEADER and same_term:
            self.report(
                cluster,
                "Leader Append-Only",
                f"leader {node.id} deleted {truncated} entries from its own log at index "
                f"{start}",
                [node.id],
                [start],
            )
        if start > log.last_index:
            return
        for other_host in cluster.hosts.values():
            if other_host.id == node.id:
                continue
            other = _raft_log(other_host)
            top = min(log.last_index, other.last_index)
            if top < start or log.digest(top) == other.digest(top):
                continue  # equal digests: the whole common prefix is identical
            for index in range(start, top + 1):
                if log.term_at(index) == other.term_at(index) and log.digest(
                    index
                ) != other.digest(index):
                    first = next(
                        i for i in range(1, index + 1) if log.digest(i) != other.digest(i)
                    )
                    self.report(
                        cluster,
                        "Log Matching",
                        f"{node.id} and {other_host.id} both hold an entry of term "
                        f"{log.term_at(index)} at index {index}, but differ at index {first}: "
                        f"{_describe_entry(log, first)} versus {_describe_entry(other, first)}",
                        [node.id, other_host.id],
                        [first, index],
                    )
                    break

    def _check_leader(self, cluster: Cluster, node: RaftNode) -> None:
        if node.role is not Role.LEADER or self.prev_role.get(node.id) is Role.LEADER:
            return
        term = node.current_term
        holder = self.leaders_by_term.get(term)
        if holder is not None and holder != node.id:
            self.report(
                cluster,
                "Election Safety",
                f"{node.id} became leader of term {term}, which already has leader {holder}",
                [holder, node.id],
                [],
            )
        else:
            self.leaders_by_term[term] = node.id
        committed = len(self.committed)
        if committed == 0:
            return
        log = node.log
        if log.last_index >= committed and log.digest(committed) == self.committed[committed - 1]:
            return
        missing = next(
            i
            for i in range(1, committed + 1)
            if i > log.last_index or log.digest(i) != self.committed[i - 1]
        )
        self.report(
            cluster,
            "Leader Completeness",
            f"{node.id} became leader of term {term} without the committed entry at index "
            f"{missing} (committed by {self.committed_by[missing - 1]}); it has "
            f"{_describe_entry(log, missing)} there",
            [node.id, self.committed_by[missing - 1]],
            [missing],
        )

    def _check_commit(self, cluster: Cluster, node: RaftNode) -> None:
        before = self.prev_commit.get(node.id, 0)
        commit = min(node.commit_index, node.log.last_index)
        self.prev_commit[node.id] = node.commit_index
        if commit <= before:
            return
        log = node.log
        known = len(self.committed)
        upto = min(commit, known)
        if upto and log.digest(upto) != self.committed[upto - 1]:
            first = next(
                i for i in range(1, upto + 1) if log.digest(i) != self.committed[i - 1]
            )
            self.report(
                cluster,
                "State Machine Safety",
                f"{node.id} committed {_describe_entry(log, first)} at index {first}, but "
                f"{self.committed_by[first - 1]} had already committed a different entry there",
                [node.id, self.committed_by[first - 1]],
                [first],
            )
            return
        for index in range(known + 1, commit + 1):
            self.committed.append(log.digest(index))
            self.committed_by.append(node.id)
