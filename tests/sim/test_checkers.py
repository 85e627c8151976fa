"""The live monitors: each fires on a hand-made violating state and stays quiet on a correct one.

Each test builds a real cluster, edits node state by hand into the situation the invariant
forbids (or a legal look-alike), and calls ``monitor.observe`` as the cluster does after a step.
Hand-made leaders are elected with real votes (``elect``) and commits are stored on a majority
first, so that only the invariant under test is broken. At the end, seeded chaos runs compare
the live monitor with a slow reference checker (tests/sim/reference_checker.py) that evaluates
every invariant from scratch after every step.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from raftviz.core.log import RaftLog
from raftviz.core.messages import Command, Event, LogEntry, Op, RequestVoteReply
from raftviz.core.paxos import PaxosNode
from raftviz.core.paxos_messages import Ballot, Proposal
from raftviz.core.raft import RaftNode, Role
from raftviz.sim.checks.raft_invariants import INVARIANTS, SafetyMonitor
from raftviz.sim.engine.cluster import Cluster, ClusterConfig, NodeHost
from raftviz.sim.engine.storage import copy_state, node_signature
from raftviz.sim.history import History, config_from_json, leader_exists, logs_converged
from tests.sim.chaos import chaos
from tests.sim.reference_checker import ReferenceChecker


def e(term: int, name: str) -> LogEntry:
    return LogEntry(term, Command(Op.SET, "k", name))


def cluster(size: int = 3) -> Cluster:
    return Cluster(ClusterConfig(size=size, seed=1))


def host(c: Cluster, node_id: str) -> NodeHost:
    return c.hosts[node_id]


def node(c: Cluster, node_id: str) -> RaftNode:
    n = c.hosts[node_id].node
    assert isinstance(n, RaftNode)
    return n


def set_state(
    c: Cluster,
    node_id: str,
    *,
    term: int | None = None,
    role: Role | None = None,
    log: list[LogEntry] | None = None,
    commit: int | None = None,
    voted_for: str | None = None,
) -> None:
    """Edit a node as if by a step whose disk write completed, then let the monitor look."""
    n = node(c, node_id)
    if term is not None:
        if term != n.current_term:
            n.voted_for = None
        n.current_term = term
    if role is not None:
        n.role = role
    if log is not None:
        n.log = RaftLog(log)
    if commit is not None:
        n.commit_index = commit
    if voted_for is not None:
        n.voted_for = voted_for
    disk = host(c, node_id).disk
    assert disk is not None
    disk.durable = copy_state(n)
    disk.written = node_signature(n)
    if n.voted_for is not None:  # the write is done, so the vote went out with its reply
        c.monitor.note_sent(RequestVoteReply(node_id, n.voted_for, n.current_term, True))
    c.monitor.observe(c, [host(c, node_id)])


def elect(c: Cluster, leader: str, term: int, voters: tuple[str, ...] = ()) -> None:
    """``leader`` stands for election in ``term`` and wins with its own vote and ``voters``'."""
    set_state(c, leader, term=term, role=Role.CANDIDATE, voted_for=leader)
    for voter in voters:
        set_state(c, voter, term=term, role=Role.FOLLOWER, voted_for=leader)
    set_state(c, leader, role=Role.LEADER)


def commit_on_majority(c: Cluster, leader: str, log: list[LogEntry], holders: tuple[str, ...],
                       commit: int) -> None:
    """The leader and ``holders`` store ``log``; then the leader commits up to ``commit``."""
    for n in holders:
        set_state(c, n, log=log)
    set_state(c, leader, log=log, commit=commit)


def broken(c: Cluster) -> dict[str, int]:
    return {name: s["count"] for name, s in c.monitor.status().items() if not s["ok"]}


def first(c: Cluster, name: str) -> dict[str, object]:
    v = c.monitor.status()[name]["first"]
    assert v is not None
    return v


# ---------------------------------------------------------------------- Election Safety


def test_election_safety_fires_on_two_leaders_of_one_term() -> None:
    c = cluster()
    elect(c, "n1", 2, ("n3",))
    set_state(c, "n2", term=2, role=Role.LEADER)
    assert broken(c) == {"Election Safety": 1}
    v = first(c, "Election Safety")
    assert v["nodes"] == ["n1", "n2"]
    assert "n2 became leader of term 2, which already has leader n1" in str(v["text"])


def test_election_safety_fires_on_a_leader_that_adopts_a_newer_term_and_keeps_leading() -> None:
    """Issue 11: checked on every step, not only when a node becomes leader."""
    c = cluster()
    elect(c, "n1", 2, ("n3",))
    elect(c, "n2", 3, ("n3",))
    set_state(c, "n1", term=3)  # still LEADER: the bug "adopt the term, stay leader"
    assert broken(c) == {"Election Safety": 1}


def test_election_safety_is_quiet_for_leaders_of_different_terms() -> None:
    c = cluster()
    elect(c, "n1", 2, ("n2",))
    set_state(c, "n1", role=Role.FOLLOWER)
    elect(c, "n2", 3, ("n3",))
    set_state(c, "n2", role=Role.FOLLOWER)
    elect(c, "n1", 4, ("n3",))  # the same node again, in a later term
    assert broken(c) == {}


# ------------------------------------------------------------------- Leader Append-Only


def test_leader_append_only_fires_when_a_leader_deletes_from_its_log() -> None:
    c = cluster()
    set_state(c, "n1", log=[e(1, "a"), e(2, "b")])
    elect(c, "n1", 2, ("n2",))
    node(c, "n1").log.truncate_from(2)
    c.monitor.observe(c, [host(c, "n1")])
    assert broken(c) == {"Leader Append-Only": 1}
    assert c.monitor.violations[0].indices == (2,)


def test_leader_append_only_is_quiet_when_a_follower_truncates() -> None:
    c = cluster()
    set_state(c, "n1", term=2, log=[e(1, "a"), e(2, "b")])
    node(c, "n1").log.truncate_from(2)
    c.monitor.observe(c, [host(c, "n1")])
    assert broken(c) == {}


def test_leader_append_only_is_quiet_when_a_deposed_leader_truncates_in_the_same_step() -> None:
    """One AppendEntries of a newer term both deposes an old leader and cuts its stale tail.

    The node is a follower of the newer term when it deletes: Raft allows that. (Before the fix
    the monitor blamed the old leader, in about half of all partitioned-old-leader runs.)
    """
    c = cluster()
    set_state(c, "n1", log=[e(1, "a"), e(2, "stale")])
    elect(c, "n1", 2, ("n2",))
    n1 = node(c, "n1")
    n1.current_term, n1.role, n1.voted_for = 3, Role.FOLLOWER, None
    n1.log.truncate_from(2)
    n1.log.append(e(3, "new"))
    c.monitor.observe(c, [host(c, "n1")])
    assert broken(c) == {}


# --------------------------------------------------------------------------- Log Matching


def test_log_matching_fires_on_same_index_and_term_with_different_prefixes() -> None:
    c = cluster()
    # Index 1 differs in term, so it alone breaks nothing; index 2 has term 2 in both logs,
    # which promises identical prefixes, yet the prefixes differ at index 1.
    set_state(c, "n2", log=[e(2, "c"), e(2, "b")])
    set_state(c, "n1", log=[e(1, "a"), e(2, "b")])
    assert broken(c) == {"Log Matching": 1}
    v = c.monitor.violations[0]
    assert (v.nodes, v.indices) == (("n1", "n2"), (1, 2))
    assert "differ at index 1" in v.text


def test_log_matching_is_quiet_for_a_shared_prefix_and_for_different_terms() -> None:
    c = cluster()
    set_state(c, "n2", log=[e(1, "a"), e(2, "b"), e(2, "c")])
    set_state(c, "n1", log=[e(1, "a"), e(2, "b")])  # a prefix of n2's log
    set_state(c, "n3", log=[e(1, "a"), e(3, "x")])  # differs, but never with the same term
    assert broken(c) == {}


# -------------------------------------------------------------------- Leader Completeness


def test_leader_completeness_fires_when_a_new_leader_lacks_a_committed_entry() -> None:
    c = cluster()
    elect(c, "n1", 1, ("n3",))
    commit_on_majority(c, "n1", [e(1, "a"), e(1, "b")], ("n3",), 2)
    set_state(c, "n1", role=Role.FOLLOWER)
    set_state(c, "n2", log=[e(1, "a")])
    elect(c, "n2", 2, ("n3",))
    assert broken(c) == {"Leader Completeness": 1}
    v = c.monitor.violations[0]
    assert (v.nodes, v.indices) == (("n2", "n1"), (2,))
    assert "became leader of term 2 without the committed entry at index 2 (committed by n1)" \
        in v.text


def test_leader_completeness_fires_when_an_older_term_commits_after_the_leader_won() -> None:
    """Checked when the committed prefix grows too, not only when a node becomes leader."""
    c = cluster(5)
    set_state(c, "n5", log=[e(1, "a")])
    elect(c, "n1", 1, ("n2", "n3"))
    elect(c, "n5", 2, ("n3", "n4"))  # a leader of term 2 holding only entry a
    assert broken(c) == {}
    commit_on_majority(c, "n1", [e(1, "a"), e(1, "b")], ("n2", "n3"), 2)  # b, in term 1
    assert broken(c) == {"Leader Completeness": 1}
    assert "n5 is leader of term 2 without the committed entry at index 2" in str(
        first(c, "Leader Completeness")["text"]
    )


def test_leader_completeness_is_quiet_when_the_leader_holds_every_committed_entry() -> None:
    c = cluster()
    elect(c, "n1", 1, ("n3",))
    commit_on_majority(c, "n1", [e(1, "a"), e(1, "b")], ("n3",), 2)
    set_state(c, "n1", role=Role.FOLLOWER)
    set_state(c, "n2", log=[e(1, "a"), e(1, "b"), e(2, "c")])
    elect(c, "n2", 2, ("n3",))
    assert broken(c) == {}


# ------------------------------------------------------------------- State Machine Safety


def test_state_machine_safety_fires_when_two_nodes_commit_different_entries() -> None:
    c = cluster()
    elect(c, "n1", 1, ("n3",))
    commit_on_majority(c, "n1", [e(1, "a")], ("n3",), 1)
    set_state(c, "n2", term=2, log=[e(2, "b")], commit=1)
    assert broken(c) == {"State Machine Safety": 1}
    v = c.monitor.violations[0]
    assert (v.nodes, v.indices) == (("n2", "n1"), (1,))


def test_state_machine_safety_fires_when_a_committed_prefix_is_overwritten_in_place() -> None:
    """Issue 11: a follower keeps commit index 2 while its log is replaced by stale entries.

    The commit index does not move, so a monitor that checks only rising commit indices
    stays silent; the committed entries were also lost from a node that held them.
    """
    c = cluster()
    elect(c, "n1", 2, ("n2",))
    commit_on_majority(c, "n1", [e(2, "a"), e(2, "b")], ("n2",), 2)
    set_state(c, "n2", commit=2)
    set_state(c, "n2", log=[e(1, "x"), e(1, "y")])
    assert broken(c) == {"State Machine Safety": 1, "Committed Entries Kept": 1}


def test_state_machine_safety_is_quiet_for_the_same_committed_entries() -> None:
    c = cluster()
    elect(c, "n1", 1, ("n2",))
    commit_on_majority(c, "n1", [e(1, "a"), e(1, "b")], ("n2",), 2)
    set_state(c, "n2", commit=1)
    set_state(c, "n1", role=Role.FOLLOWER)
    set_state(c, "n3", log=[e(1, "a"), e(1, "b")])
    elect(c, "n3", 2, ("n2",))
    commit_on_majority(c, "n3", [e(1, "a"), e(1, "b"), e(2, "c")], ("n2",), 3)
    assert broken(c) == {}


# ---------------------------------------------------------------- Committed Entries Kept


def test_committed_entries_kept_fires_when_a_holder_loses_a_committed_entry() -> None:
    c = cluster()
    elect(c, "n1", 2, ("n2",))
    commit_on_majority(c, "n1", [e(2, "a"), e(2, "b")], ("n2",), 2)
    set_state(c, "n3", log=[e(2, "a"), e(2, "b")])  # n3 holds it too, without knowing
    node(c, "n3").log.truncate_from(2)
    c.monitor.observe(c, [host(c, "n3")])
    assert broken(c) == {"Committed Entries Kept": 1}
    v = first(c, "Committed Entries Kept")
    assert v["indices"] == [2]
    assert "n3 held the committed entry at index 2 (committed by n1) and now has nothing" \
        in str(v["text"])


def test_committed_entries_kept_is_quiet_when_an_uncommitted_tail_is_replaced() -> None:
    c = cluster()
    elect(c, "n1", 2, ("n2",))
    commit_on_majority(c, "n1", [e(2, "a")], ("n2",), 1)
    set_state(c, "n3", log=[e(2, "a"), e(1, "stale")])
    set_state(c, "n3", log=[e(2, "a"), e(2, "b")])
    assert broken(c) == {}


# --------------------------------------------------------------------- One Vote Per Term


def test_one_vote_per_term_fires_on_a_second_vote_in_a_term() -> None:
    c = cluster()
    set_state(c, "n1", term=2, role=Role.CANDIDATE, voted_for="n1")
    set_state(c, "n2", term=2, role=Role.CANDIDATE, voted_for="n2")
    set_state(c, "n3", term=2, voted_for="n1")
    set_state(c, "n3", voted_for="n2")
    assert broken(c) == {"One Vote Per Term": 1}
    assert "n3 voted for n1 and then for n2 in term 2" in str(first(c, "One Vote Per Term")["text"])


def test_one_vote_per_term_fires_across_a_restart_that_forgot_the_vote() -> None:
    c = cluster()
    set_state(c, "n1", term=2, role=Role.CANDIDATE, voted_for="n1")
    set_state(c, "n2", term=2, role=Role.CANDIDATE, voted_for="n2")
    set_state(c, "n3", term=2, voted_for="n1")
    c.crash("n3")
    c.restart("n3")
    node(c, "n3").voted_for = None  # what a node that does not persist its vote would have
    set_state(c, "n3", voted_for="n2")
    assert broken(c) == {"One Vote Per Term": 1}


def test_one_vote_per_term_fires_on_a_vote_kept_into_a_new_term() -> None:
    c = cluster()
    set_state(c, "n1", term=2, role=Role.CANDIDATE, voted_for="n1")
    set_state(c, "n3", term=2, voted_for="n1")
    n3 = node(c, "n3")
    n3.current_term = 3  # voted_for still n1, who is not a candidate in term 3
    c.monitor.observe(c, [host(c, "n3")])
    assert broken(c) == {"One Vote Per Term": 1}
    assert "never stood for election in term 3" in str(first(c, "One Vote Per Term")["text"])


def test_one_vote_per_term_is_quiet_for_one_vote_in_each_term_and_a_restart() -> None:
    c = cluster()
    set_state(c, "n1", term=2, role=Role.CANDIDATE, voted_for="n1")
    set_state(c, "n3", term=2, voted_for="n1")
    c.crash("n3")
    c.restart("n3")
    set_state(c, "n2", term=3, role=Role.CANDIDATE, voted_for="n2")
    set_state(c, "n3", term=3, voted_for="n2")
    assert broken(c) == {}


# ------------------------------------------------------------------- Leader Has Majority


def test_leader_has_majority_fires_on_a_leader_without_enough_votes_in_its_term() -> None:
    """Counting votes granted for an older term makes such a leader."""
    c = cluster(5)
    elect(c, "n1", 2, ("n2",))
    assert broken(c) == {"Leader Has Majority": 1}
    assert "n1 became leader of term 2 with votes from n1, n2 in that term, not a majority of " \
        "{n1,n2,n3,n4,n5}" \
        in str(first(c, "Leader Has Majority")["text"])


def test_leader_has_majority_follows_the_no_majority_teaching_mode() -> None:
    c = Cluster(ClusterConfig(size=3, seed=1, settings=replace(
        node(cluster(), "n1").settings, no_majority=True)))
    elect(c, "n1", 2)
    assert broken(c) == {}


# ---------------------------------------------------------------------------- Commit Rule


def test_commit_rule_fires_when_a_leader_commits_an_old_term_entry_by_counting() -> None:
    c = cluster()
    elect(c, "n1", 3, ("n2",))
    commit_on_majority(c, "n1", [e(1, "a"), e(2, "b")], ("n2",), 2)
    assert broken(c) == {"Commit Rule": 1}
    assert "an entry of term 2" in str(first(c, "Commit Rule")["text"])


def test_commit_rule_fires_when_a_leader_commits_what_only_a_minority_stores() -> None:
    c = cluster(5)
    elect(c, "n1", 1, ("n2", "n3"))
    commit_on_majority(c, "n1", [e(1, "a")], ("n2",), 1)
    assert broken(c) == {"Commit Rule": 1}
    assert "only n1, n2 store that prefix" in str(first(c, "Commit Rule")["text"])


def test_commit_rule_fires_when_a_follower_commits_past_the_leader() -> None:
    """The bug "commit up to the end of my log instead of leaderCommit"."""
    c = cluster()
    elect(c, "n1", 1, ("n2",))
    commit_on_majority(c, "n1", [e(1, "a")], ("n2",), 1)
    set_state(c, "n2", log=[e(1, "a"), e(1, "b")], commit=2)
    assert broken(c) == {"Commit Rule": 1}


def test_commit_rule_is_quiet_for_a_current_term_majority_commit_and_followers_behind() -> None:
    c = cluster()
    elect(c, "n1", 3, ("n2",))
    commit_on_majority(c, "n1", [e(1, "a"), e(2, "b"), e(3, "c")], ("n2",), 3)
    set_state(c, "n2", commit=3)
    set_state(c, "n3", log=[e(1, "a")], commit=1)
    assert broken(c) == {}


# ---------------------------------------------------------- Term Monotonic, Commit Within Log


def test_term_monotonic_fires_when_a_term_goes_back() -> None:
    c = cluster()
    set_state(c, "n1", term=3)
    set_state(c, "n1", term=2)
    assert broken(c) == {"Term Monotonic": 1}


def test_term_monotonic_survives_a_crash_and_restart() -> None:
    c = cluster()
    set_state(c, "n1", term=3)
    c.crash("n1")
    c.restart("n1")
    assert node(c, "n1").current_term == 3
    assert broken(c) == {}


def test_commit_within_log_fires_on_a_commit_index_past_the_log() -> None:
    c = cluster()
    elect(c, "n1", 1, ("n2",))
    commit_on_majority(c, "n1", [e(1, "a"), e(1, "b")], ("n2",), 2)
    set_state(c, "n1", commit=3)
    assert broken(c) == {"Commit Within Log": 1}
    assert c.monitor.violations[0].indices == (3,)


# ----------------------------------------------------------------- reporting and status


def test_a_violation_is_reported_once_and_narrated() -> None:
    c = cluster()
    for _ in range(3):
        c.monitor.report(c, "Linearizability", "c1 read a stale value", ["c1"], [])
    status = c.monitor.status()
    assert status["Linearizability"]["count"] == 1
    assert status["Linearizability"]["first"]["text"] == "c1 read a stale value"
    assert [n.text for n in c.narration if n.kind == "violation"] == [
        "Linearizability violated: c1 read a stale value"
    ]
    assert set(status) == set(INVARIANTS)


def test_a_fresh_monitor_reports_all_invariants_ok() -> None:
    monitor = SafetyMonitor(("n1", "n2"))
    assert all(s["ok"] and s["first"] is None for s in monitor.status().values())


def test_a_run_with_crashes_and_partitions_stays_quiet() -> None:
    h = History(ClusterConfig(size=5, seed=11))
    assert h.run_until_condition(leader_exists, 2000)
    for i in range(4):
        h.apply_json({"type": "client", "op": "set", "key": "x", "value": str(i)})
        h.run_for(150)
    leader = h.cluster.leader
    assert leader is not None
    h.apply_json({"type": "crash", "node": leader})
    h.run_for(800)
    h.apply_json({"type": "partition", "groups": [["n1", "n2"], ["n3", "n4", "n5"]]})
    h.apply_json({"type": "client", "op": "set", "key": "y", "value": "1", "node": "n3"})
    h.run_for(800)
    h.apply_json({"type": "heal"})
    h.apply_json({"type": "restart", "node": leader})
    assert h.run_until_condition(logs_converged, 5000)
    assert broken(h.cluster) == {}


# ------------------------------------------------- the reference checker agrees, step by step


REFERENCE_RUNS = [
    ({}, 3, 1),
    ({}, 5, 2),
    ({"pre_vote": True, "check_quorum": True}, 5, 3),
    ({"no_majority": True}, 3, 1),
    ({"no_majority": True}, 5, 0),
    ({"commit_old_terms": True, "noop_on_election": False}, 3, 4),
]


@pytest.mark.parametrize(("settings", "size", "seed"), REFERENCE_RUNS)
def test_the_live_monitor_agrees_with_the_reference_checker(
    settings: dict[str, bool], size: int, seed: int
) -> None:
    """After every step the slow checker re-evaluates every invariant from scratch; over the
    whole run both must have found exactly the same invariants broken (none in safe modes)."""
    refs: list[ReferenceChecker] = []

    def hook(h: History) -> None:
        refs.append(ReferenceChecker(h.cluster))
        refs[0].hook(h.cluster)

    h = chaos({"size": size, "seed": seed, "settings": settings}, seed, 60, prepare=hook)
    # Linearizability and the membership check (membership_invariants) are not re-derived.
    live = set(broken(h.cluster)) - {"Linearizability", "Configuration Overlap"}
    assert live == refs[0].broken
    if not any(settings.get(m) for m in ("no_majority", "commit_old_terms")):
        assert live == set()
    if settings.get("no_majority"):
        assert "Election Safety" in live  # the runs are long enough to break something


# ------------------------------------------------------------------------------ Paxos


def paxos_cluster(size: int = 3) -> Cluster:
    return History(config_from_json({"protocol": "paxos", "size": size, "seed": 1})).cluster


def paxos_node(c: Cluster, node_id: str) -> PaxosNode:
    n = c.hosts[node_id].node
    assert isinstance(n, PaxosNode)
    return n


def accept(c: Cluster, node_id: str, slot: int, ballot: Ballot, value: LogEntry) -> None:
    """An acceptor accepts ``value`` (as _on_accept does, promise included), then is observed."""
    n = paxos_node(c, node_id)
    n.promised_ballot = max(n.promised_ballot, ballot)
    n.accepted[slot] = Proposal(slot, ballot, value)
    event = Event(node_id, "accepted", "", {"slot": slot, "ballot": str(ballot)})
    c.monitor.observe(c, [c.hosts[node_id]], (event,))


def test_paxos_accepted_is_safe_allows_a_lower_ballot_after_a_choice() -> None:
    """P2a talks about higher ballots only. The 2026-12-03 Hypothesis failure: a paused old
    leader resumed and its own acceptor accepted its stale ballot's value in a slot already
    chosen at a higher ballot. Legal: that value can never gather a majority."""
    c = paxos_cluster()
    low, high = Ballot(1, "n2"), Ballot(2, "n1")
    accept(c, "n1", 2, high, e(2, "chosen"))
    accept(c, "n3", 2, high, e(2, "chosen"))
    accept(c, "n2", 2, low, e(1, "stale"))
    assert broken(c) == {}
    accept(c, "n2", 2, Ballot(3, "n2"), e(3, "other"))
    assert broken(c) == {"Accepted Is Safe": 1}


def test_paxos_promise_kept_fires_when_an_acceptor_accepts_below_its_promise() -> None:
    c = paxos_cluster()
    n2 = paxos_node(c, "n2")
    n2.promised_ballot = Ballot(5, "n1")
    c.monitor.observe(c, [c.hosts["n2"]])
    n2.accepted[1] = Proposal(1, Ballot(4, "n3"), e(4, "x"))
    event = Event("n2", "accepted", "", {"slot": 1, "ballot": "4.n3"})
    c.monitor.observe(c, [c.hosts["n2"]], (event,))
    assert broken(c) == {"Promise Kept": 1}


def test_paxos_learned_is_chosen_fires_on_a_value_no_majority_accepted() -> None:
    c = paxos_cluster()
    accept(c, "n1", 1, Ballot(1, "n1"), e(1, "x"))
    paxos_node(c, "n1").chosen[1] = e(1, "x")  # learned after one acceptor of three
    c.monitor.observe(c, [c.hosts["n1"]])
    assert broken(c) == {"Learned Is Chosen": 1}


def test_paxos_ballots_unique_fires_on_a_ballot_started_by_two_proposers() -> None:
    c = paxos_cluster()
    for who in ("n1", "n2"):
        event = Event(who, "election", "", {"ballot": "1.n1"})
        c.monitor.observe(c, [c.hosts[who]], (event,))
    assert broken(c) == {"Ballots Unique": 1}


def test_paxos_stale_leader_resuming_after_a_pause_is_not_a_violation() -> None:
    """The exact Hypothesis case of 2026-12-03 (Multi-Paxos, 3 nodes, seed 96): n2 is paused
    with a client request waiting; n1 wins ballot 2.n1 and chooses slot 2; on resume n2, still
    leading with 1.n2, proposes the request in slot 2 and its own acceptor accepts it. The
    core is right (the acceptor promised nothing higher yet); the monitor used to report
    Accepted Is Safe for it because it ignored the ballot order."""
    from tests.sim.test_stateful import PaxosUnderFaults

    machine = PaxosUnderFaults()
    machine.build(size=3, seed=96, mode="multi", backoff=False)
    machine.settle_and_check_liveness()
    machine.settle_and_check_liveness()
    machine.pause(i=1)
    machine.step_events(n=26)
    machine.settle_and_check_liveness()
    c = machine.history.cluster
    texts = [n.text for n in c.narration]
    assert "n2 accepted SET z=1 in slot 2 at ballot 1.n2" in texts  # the stale acceptance
    assert "n3 accepted SET z=1 in slot 2 at ballot 2.n1" in texts  # after slot 2 was chosen
    assert broken(c) == {}
