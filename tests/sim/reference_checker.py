"""A slow, obviously correct Raft safety checker, for testing the live monitor against.

After every step it looks at every node's whole state (logs as plain lists, no digests, no
incremental bookkeeping beyond what a definition needs: what was committed, who voted for whom)
and evaluates each invariant of :data:`raftviz.sim.checks.raft_invariants.INVARIANTS` from its
definition. It costs O(nodes^2 * log length) per step: fine for tests, far too slow live.
"""

from __future__ import annotations

from typing import Any

from raftviz.core.messages import Command
from raftviz.core.raft import PersistentState, RaftNode, Role
from raftviz.sim.engine.cluster import Cluster, NodeHost

Entry = tuple[int, Command]


def entries(host: NodeHost) -> list[Entry]:
    if isinstance(host.node, RaftNode):
        log = host.node.log
    else:
        assert isinstance(host.persistent, PersistentState)
        log = host.persistent.log
    return [(e.term, e.command) for e in log]


class ReferenceChecker:
    """Evaluates every Raft invariant from scratch; ``broken`` collects the violated names."""

    def __init__(self, cluster: Cluster) -> None:
        self.broken: set[str] = set()
        self.majority = len(cluster.node_ids) // 2 + 1
        self.committed: list[Entry] = []
        self.commit_term: list[int] = []  # the term of the node that first committed each index
        self.leader_committed = 0
        self.leaders: dict[int, set[str]] = {}
        self.votes: dict[tuple[str, int], str] = {}
        self.candidates: dict[int, set[str]] = {}
        self.last: dict[str, dict[str, Any]] = {}
        self.held: dict[str, int] = {}  # how long a prefix of each log equals the committed one

    def hook(self, cluster: Cluster) -> None:
        """Check after every observation the live monitor makes."""
        live = cluster.monitor.observe

        def observe(c: Cluster, hosts: list[NodeHost], events: Any = ()) -> None:
            live(c, hosts, events)
            self.check(c)

        cluster.monitor.observe = observe  # type: ignore[method-assign]

    def check(self, cluster: Cluster) -> None:
        logs = {h.id: entries(h) for h in cluster.hosts.values()}
        for host in cluster.hosts.values():
            node = host.node
            before = self.last.get(host.id)
            if node is None:
                if before is not None:
                    before.update(role=Role.FOLLOWER, commit=0)
                continue
            assert isinstance(node, RaftNode)
            self.check_node(cluster, node, logs, before)
        self.check_log_matching(logs)
        for host in cluster.hosts.values():
            if isinstance(host.node, RaftNode) and host.node.role is Role.LEADER:
                self.check_complete(host.node, logs[host.id])
        for node_id, log in logs.items():
            held = 0
            while held < min(len(log), len(self.committed)) and log[held] == self.committed[held]:
                held += 1
            self.held[node_id] = held

    def check_node(
        self,
        cluster: Cluster,
        node: RaftNode,
        logs: dict[str, list[Entry]],
        before: dict[str, Any] | None,
    ) -> None:
        log, term = logs[node.id], node.current_term
        if before is not None and term < before["term"]:
            self.broken.add("Term Monotonic")
        if node.commit_index > len(log):
            self.broken.add("Commit Within Log")
        # Votes and candidacies.
        if node.role in (Role.CANDIDATE, Role.LEADER):
            self.candidates.setdefault(term, set()).add(node.id)
        if node.voted_for is not None:
            earlier = self.votes.setdefault((node.id, term), node.voted_for)
            if earlier != node.voted_for:
                self.broken.add("One Vote Per Term")
            elif (
                before is not None
                and (before["term"], before["vote"]) != (term, node.voted_for)
                and node.voted_for != node.id
                and node.voted_for not in self.candidates.get(term, set())
            ):
                self.broken.add("One Vote Per Term")
        # Leader Append-Only: a leader of the same term only ever extends its log.
        if (
            before is not None
            and before["role"] is Role.LEADER
            and before["term"] == term
            and log[: len(before["log"])] != before["log"]
        ):
            self.broken.add("Leader Append-Only")
        # Committed Entries Kept: what matched the committed prefix still matches it.
        held = self.held.get(node.id, 0)
        if log[:held] != self.committed[:held]:
            self.broken.add("Committed Entries Kept")
        # Leaders.
        if node.role is Role.LEADER:
            leaders = self.leaders.setdefault(term, set())
            if not leaders and not node.settings.no_majority:
                voters = [x for x in cluster.node_ids if self.votes.get((x, term)) == node.id]
                if len(voters) < self.majority:
                    self.broken.add("Leader Has Majority")
            leaders.add(node.id)
            if len(leaders) > 1:
                self.broken.add("Election Safety")
        # Commit.
        commit = min(node.commit_index, len(log))
        old_commit = before["commit"] if before is not None else 0
        if commit > old_commit:
            was_leader = (
                before is not None and before["role"] is Role.LEADER and before["term"] == term
            )
            if node.role is Role.LEADER or was_leader:
                self.leader_committed = max(self.leader_committed, commit)
                if not node.settings.commit_old_terms and log[commit - 1][0] != term:
                    self.broken.add("Commit Rule")
                holders = [x for x, other in logs.items() if other[:commit] == log[:commit]]
                if not node.settings.no_majority and len(holders) < self.majority:
                    self.broken.add("Commit Rule")
            elif commit > self.leader_committed:
                self.broken.add("Commit Rule")
        known = len(self.committed)
        if log[: min(commit, known)] != self.committed[: min(commit, known)]:
            self.broken.add("State Machine Safety")
        elif commit > known:
            self.committed.extend(log[known:commit])
            self.commit_term.extend([term] * (commit - known))
        self.last[node.id] = {
            "term": term,
            "vote": node.voted_for,
            "role": node.role,
            "log": log,
            "commit": commit,
        }

    def check_log_matching(self, logs: dict[str, list[Entry]]) -> None:
        for a, la in logs.items():
            for b, lb in logs.items():
                if a >= b:
                    continue
                common = min(len(la), len(lb))
                differ = next((i for i in range(common) if la[i] != lb[i]), common)
                # From the first difference on, the prefixes differ: an equal term there breaks it.
                if any(la[i][0] == lb[i][0] for i in range(differ, common)):
                    self.broken.add("Log Matching")

    def check_complete(self, node: RaftNode, log: list[Entry]) -> None:
        for i, entry in enumerate(self.committed):
            if self.commit_term[i] < node.current_term and (i >= len(log) or log[i] != entry):
                self.broken.add("Leader Completeness")
                return
