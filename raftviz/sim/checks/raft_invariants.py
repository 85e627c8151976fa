"""Live safety monitors: Raft's Figure 3 properties and the rules behind them, after every step.

Every invariant is checked after every step for every node whose state changed (term, vote,
role, log, commit index), not only on transitions: a leader that keeps leading after adopting a
newer term, or a follower whose committed prefix is overwritten without its commit index moving,
is caught in the step it happens. The chain digests of :class:`~raftviz.core.log.RaftLog`
compare whole log prefixes in constant time, so a step costs O(nodes) digest comparisons, not
O(log length). A violation is reported with the simulated time, the nodes and the log indices
involved, in words a student can follow. docs/monitors.md lists what each check catches.
A compacted log (section 7) keeps the digest at its snapshot's last included index, which
stands for the whole compacted prefix, so the checks compare from there.

The rule checks (Leader Has Majority, Commit Rule) follow the cluster's settings: in the
``no_majority`` and ``commit_old_terms`` teaching modes they accept what the mode changes on
purpose, and the Figure 3 properties report the consequences.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from raftviz.core.log import RaftLog
from raftviz.core.messages import Event, Immutable, Message, RequestVote, RequestVoteReply
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
    "Committed Entries Kept": "an entry committed anywhere is never removed or changed on a "
    "server that stores it",
    "One Vote Per Term": "a server votes for at most one candidate in a term, even across a "
    "restart, and only for a server that stood for election in that term",
    "Leader Has Majority": "a leader of a term was voted for by a majority of its configuration "
    "in that term",
    "Commit Rule": "a leader commits by counting only an entry of its own term that a majority "
    "stores (5.4.2); no server's commit index passes what a leader committed",
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
    if index <= log.snapshot_index:
        return f"its snapshot through index {log.snapshot_index} (term {log.snapshot_term})"
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

    def note_sent(self, msg: Message) -> None:
        """A message left its node (after its disk write, when a disk is modelled)."""

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
    """Raft's Figure 3 properties and election/commit rules, checked incrementally."""

    def __init__(self, node_ids: tuple[str, ...]) -> None:
        super().__init__()
        self.node_ids = node_ids
        self.leaders_by_term: dict[int, str] = {}
        # Digest of the committed prefix at each index, as first committed anywhere.
        self.committed: PVector[int] = PVector()
        self.committed_by: PVector[str] = PVector()
        # (term, committed length): how much was committed while that term was the newest one
        # seen committing; a leader of a later term must hold that prefix (Leader Completeness).
        self.mark_terms: list[int] = []
        self.mark_lengths: list[int] = []
        self.leader_committed = 0  # the highest index a leader has committed by counting
        # Per node: how long a prefix of its log is known to equal the committed prefix.
        self.held: dict[str, int] = {}
        self.votes: dict[tuple[str, int], str] = {}  # (voter, term) -> candidate
        self.sent_votes: set[tuple[str, int]] = set()  # (voter, term) whose vote left the node
        self.candidates: dict[int, set[str]] = {}  # term -> who stood for election in it
        self.prev_role: dict[str, Role] = {}
        self.prev_term: dict[str, int] = {}
        self.prev_truncations: dict[str, int] = {}
        self.prev_commit: dict[str, int] = {}
        self.seen: dict[str, tuple[int, Role, int, int, int, str | None, int]] = {}

    def observe(
        self, cluster: Cluster, hosts: list[NodeHost], events: tuple[Event, ...] = ()
    ) -> None:
        for host in hosts:
            node = host.node
            if node is None:
                # Volatile state is gone; term, vote and log stay on disk and are checked again
                # when the node restarts.
                self.prev_commit[host.id] = 0
                # A crash may take back a term that was never fsynced (and so never told to
                # anyone); the term on disk is the one that must never go back.
                if isinstance(host.persistent, PersistentState):
                    self.prev_term[host.id] = host.persistent.current_term
                    self._forget_unsynced_votes(host.id)
                    self._forget_unsynced_entries(host.id, host.persistent.log)
                self.prev_role[host.id] = Role.FOLLOWER
                continue
            assert isinstance(node, RaftNode)
            log = node.log
            signature = (node.current_term, node.role, node.commit_index, log.last_index,
                         log.truncations, node.voted_for, log.snapshot_index)
            if log.changed_from > log.last_index and self.seen.get(node.id) == signature:
                continue  # nothing an invariant looks at changed (a heartbeat, a stale reply)
            self.seen[node.id] = signature
            first_sight = node.id not in self.prev_term
            start = log.changed_from
            log.changed_from = log.last_index + 1
            self._check_term(cluster, node)
            self._check_vote(cluster, node, first_sight)
            self._check_log_matching(cluster, node, start)
            self._check_kept(cluster, node)
            self._check_leader(cluster, node)
            self._check_commit(cluster, node, start)
            self.prev_role[node.id] = node.role
            self.prev_term[node.id] = node.current_term

    def note_sent(self, msg: Message) -> None:
        """A granted vote (or a candidate's vote for itself) is binding once it was sent."""
        if isinstance(msg, RequestVoteReply) and msg.vote_granted and not msg.pre_vote:
            self.sent_votes.add((msg.src, msg.term))
        elif isinstance(msg, RequestVote) and not msg.pre_vote:
            self.sent_votes.add((msg.src, msg.term))

    def _forget_unsynced_votes(self, node_id: str) -> None:
        """A vote that was never sent (its reply waited for an fsync the crash cut short) is
        taken back by the crash: the server may vote again in that term. A vote that was sent
        binds for good, whatever the server's disk kept (sim/engine/storage.py)."""
        for key in [k for k in self.votes if k[0] == node_id]:
            if key not in self.sent_votes:
                del self.votes[key]

    def _forget_unsynced_entries(self, node_id: str, durable: RaftLog) -> None:
        """A server stores an entry once its disk has it: a crash may take back committed
        entries (or an installed snapshot) it had only in memory, whose acknowledgement waited
        for the fsync; what the disk kept must survive, and is checked again on restart."""
        held = self.held.get(node_id, 0)
        if held and held > durable.snapshot_index:
            lost = self._matching_prefix(durable, held)
            if lost:
                self.held[node_id] = lost - 1

    def note_candidate(self, node: str, term: int) -> None:
        """A RequestVote for ``term`` was sent on ``node``'s behalf (a script injected it)."""
        self.candidates.setdefault(term, set()).add(node)

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

    def _check_vote(self, cluster: Cluster, node: RaftNode, first_sight: bool) -> None:
        term = node.current_term
        if node.role is Role.LEADER or node.role is Role.CANDIDATE:
            stood = self.candidates.get(term)
            if stood is None:
                stood = self.candidates[term] = set()
            stood.add(node.id)
        vote = node.voted_for
        if vote is None:
            return
        earlier = self.votes.get((node.id, term))
        if earlier is None:
            self.votes[(node.id, term)] = vote
            # A state given in the cluster's configuration is taken as it is.
            if not first_sight and vote != node.id and vote not in self.candidates.get(term, ()):
                self.report(
                    cluster,
                    "One Vote Per Term",
                    f"{node.id} holds a vote for {vote} in term {term}, but {vote} never stood "
                    f"for election in term {term} (a vote kept from an earlier term?)",
                    [node.id, vote],
                    [],
                )
        elif earlier != vote:
            self.report(
                cluster,
                "One Vote Per Term",
                f"{node.id} voted for {earlier} and then for {vote} in term {term}",
                [node.id, earlier, vote],
                [],
            )

    def _check_log_matching(self, cluster: Cluster, node: RaftNode, start: int) -> None:
        log = node.log
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
        last, snapshot = log.last_index, log.snapshot_index
        if start > last:
            return
        for other_host in cluster.hosts.values():
            if other_host.id == node.id:
                continue
            other_node = other_host.node
            other = other_node.log if isinstance(other_node, RaftNode) else _raft_log(other_host)
            top = last if last < other.last_index else other.last_index
            # Below the higher snapshot only one digest is known; compacted prefixes are
            # committed ones, which the commit checks compare.
            floor = snapshot if snapshot > other.snapshot_index else other.snapshot_index
            if top < (start if start > floor else floor) or log.digest(top) == other.digest(top):
                continue  # equal digests: the whole common prefix is identical
            for index in range(max(start, floor), top + 1):
                if log.term_at(index) == other.term_at(index) and log.digest(
                    index
                ) != other.digest(index):
                    first = next(
                        i for i in range(max(floor, 1), index + 1)
                        if log.digest(i) != other.digest(i)
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

    def _matching_prefix(self, log: RaftLog, upto: int) -> int:
        """The first index in 1..upto where ``log`` differs from the committed prefix, or 0."""
        return next(
            (i for i in range(max(log.snapshot_index, 1), upto + 1)
             if i > log.last_index or log.digest(i) != self.committed[i - 1]),
            0,
        )

    def _check_kept(self, cluster: Cluster, node: RaftNode) -> None:
        """Committed Entries Kept: the committed prefix this node held is still there."""
        held = self.held.get(node.id, 0)
        log = node.log
        if held < log.snapshot_index:
            if log.snapshot_index > len(self.committed):
                return  # a snapshot beyond every commit seen: the commit check reports it
            held = log.snapshot_index  # the snapshot stands for its prefix: compared below
        if held and (log.last_index < held or log.digest(held) != self.committed[held - 1]):
            lost = self._matching_prefix(log, held)
            self.report(
                cluster,
                "Committed Entries Kept",
                f"{node.id} held the committed entry at index {lost} (committed by "
                f"{self.committed_by[lost - 1]}) and now has {_describe_entry(log, lost)} there",
                [node.id, self.committed_by[lost - 1]],
                [lost],
            )
            held = lost - 1
        self.held[node.id] = self._extend_held(log, held)

    def _extend_held(self, log: RaftLog, held: int) -> int:
        top = min(log.last_index, len(self.committed))
        while held < top and log.digest(held + 1) == self.committed[held]:
            held += 1
        return held

    def _needed_by(self, term: int) -> int:
        """How much of the committed prefix a leader of ``term`` must hold."""
        at = bisect_left(self.mark_terms, term)
        return self.mark_lengths[at - 1] if at else 0

    def _check_leader(self, cluster: Cluster, node: RaftNode) -> None:
        if node.role is not Role.LEADER:
            return
        term = node.current_term
        holder = self.leaders_by_term.get(term)
        if holder is None:
            self.leaders_by_term[term] = node.id
            self._check_majority(cluster, node)
        elif holder != node.id:
            self.report(
                cluster,
                "Election Safety",
                f"{node.id} became leader of term {term}, which already has leader {holder}",
                [holder, node.id],
                [],
            )
        if self.prev_role.get(node.id) is not Role.LEADER or term != self.prev_term.get(node.id):
            self._check_complete(cluster, node, "became")

    def _check_majority(self, cluster: Cluster, node: RaftNode) -> None:
        if node.settings.no_majority:
            return
        term = node.current_term
        voters = sorted(x for x in cluster.hosts if self.votes.get((x, term)) == node.id)
        if node.config.has_quorum(voters):
            return
        self.report(
            cluster,
            "Leader Has Majority",
            f"{node.id} became leader of term {term} with votes from "
            f"{', '.join(voters) or 'nobody'} in that term, not a majority of "
            f"{node.config.describe()}",
            [node.id],
            [],
        )

    def _check_complete(self, cluster: Cluster, node: RaftNode, verb: str = "is") -> None:
        """Leader Completeness for a leader of its current term."""
        needed = self._needed_by(node.current_term)
        log = node.log
        if log.snapshot_index > needed:
            needed = min(log.snapshot_index, len(self.committed))  # compare the snapshot itself
        if not needed or needed < log.snapshot_index or (
            log.last_index >= needed and log.digest(needed) == self.committed[needed - 1]
        ):
            return
        missing = self._matching_prefix(log, needed)
        self.report(
            cluster,
            "Leader Completeness",
            f"{node.id} {verb} leader of term {node.current_term} without the committed entry at "
            f"index {missing} (committed by {self.committed_by[missing - 1]}); it has "
            f"{_describe_entry(log, missing)} there",
            [node.id, self.committed_by[missing - 1]],
            [missing],
        )

    def _check_commit(self, cluster: Cluster, node: RaftNode, start: int) -> None:
        before = self.prev_commit.get(node.id, 0)
        commit = min(node.commit_index, node.log.last_index)
        self.prev_commit[node.id] = node.commit_index
        if commit > before:
            self._check_commit_rule(cluster, node, commit)
        elif start > commit:
            return  # neither the commit index nor the committed part of the log changed
        log = node.log
        known = len(self.committed)
        if log.snapshot_index > known:
            # A snapshot holds committed entries only, and every commit is seen when made.
            self.report(
                cluster,
                "State Machine Safety",
                f"{node.id}'s snapshot through index {log.snapshot_index} includes entries no "
                f"server had committed (committed so far: {known})",
                [node.id],
                [log.snapshot_index],
            )
            return
        upto = min(commit, known)
        if upto and log.digest(upto) != self.committed[upto - 1]:
            first = self._matching_prefix(log, upto)
            self.report(
                cluster,
                "State Machine Safety",
                f"{node.id} holds {_describe_entry(log, first)} at index {first} as committed "
                f"(its commit index is {node.commit_index}), but "
                f"{self.committed_by[first - 1]} committed a different entry there",
                [node.id, self.committed_by[first - 1]],
                [first],
            )
            return
        if commit <= known:
            return
        for index in range(known + 1, commit + 1):
            self.committed.append(log.digest(index))
            self.committed_by.append(node.id)
        term = node.current_term
        if self.mark_terms and self.mark_terms[-1] >= term:
            # Committed later under an older term (only a broken cluster does that): count it
            # under the newest term, which asks no more of any leader.
            self.mark_lengths[-1] = commit
        else:
            self.mark_terms.append(term)
            self.mark_lengths.append(commit)
        for host in cluster.hosts.values():
            if self.held.get(host.id, 0) == known:
                self.held[host.id] = self._extend_held(_raft_log(host), known)
            other = host.node
            if isinstance(other, RaftNode) and other.role is Role.LEADER and other is not node:
                self._check_complete(cluster, other)

    def _check_commit_rule(self, cluster: Cluster, node: RaftNode, commit: int) -> None:
        """Fig. 2 Leaders 4 with 5.4.2 for a leader; AppendEntries 5 for everyone else."""
        log = node.log
        # A leader that commits its own removal steps down in the same step (thesis 4.2.2).
        was_leader = (
            self.prev_role.get(node.id) is Role.LEADER
            and self.prev_term.get(node.id) == node.current_term
        )
        if node.role is not Role.LEADER and not was_leader:
            if commit > self.leader_committed:
                self.report(
                    cluster,
                    "Commit Rule",
                    f"{node.id} moved its commit index to {commit}, but no leader has "
                    f"committed past {self.leader_committed}",
                    [node.id],
                    [commit],
                )
            return
        self.leader_committed = max(self.leader_committed, commit)
        settings = node.settings
        if not settings.commit_old_terms and log.term_at(commit) != node.current_term:
            self.report(
                cluster,
                "Commit Rule",
                f"leader {node.id} of term {node.current_term} committed up to index {commit}, "
                f"an entry of term {log.term_at(commit)}: replicas of an older term's entry "
                f"do not make it committed (Figure 8)",
                [node.id],
                [commit],
            )
        if settings.no_majority:
            return
        digest = log.digest(commit)
        holders = sorted(
            h.id for h in cluster.hosts.values()
            if (other := _raft_log(h)).snapshot_index >= commit
            or (other.last_index >= commit and other.digest(commit) == digest)
        )
        if not node.config.has_quorum(holders):
            self.report(
                cluster,
                "Commit Rule",
                f"leader {node.id} committed up to index {commit}, but only "
                f"{', '.join(holders)} store that prefix, not a majority of "
                f"{node.config.describe()}",
                [node.id],
                [commit],
            )
