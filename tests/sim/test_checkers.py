"""The live Figure 3 monitors: each fires on a hand-made violating state and stays quiet on a
correct one.

Each test builds a real cluster, edits node state by hand into the situation the invariant
forbids (or a legal look-alike), and calls ``monitor.observe`` as the cluster does after a step.
"""

from __future__ import annotations

from raftviz.core.log import RaftLog
from raftviz.core.messages import Command, LogEntry, Op
from raftviz.core.raft import RaftNode, Role
from raftviz.sim.checks.raft_invariants import INVARIANTS, SafetyMonitor
from raftviz.sim.engine.cluster import Cluster, ClusterConfig, NodeHost
from raftviz.sim.engine.storage import copy_state, node_signature
from raftviz.sim.history import History, leader_exists, logs_converged


def e(term: int, name: str) -> LogEntry:
    return LogEntry(term, Command(Op.SET, "k", name))


def cluster(size: int = 3) -> Cluster:
    return Cluster(ClusterConfig(size=size, seed=1))


def host(c: Cluster, node_id: str) -> NodeHost:
    return c.hosts[node_id]


def node(c: Cluster, node_id: str) -> RaftNode:
    n = c.hosts[node_id].node
    assert n is not None
    return n


def set_state(
    c: Cluster,
    node_id: str,
    *,
    term: int | None = None,
    role: Role | None = None,
    log: list[LogEntry] | None = None,
    commit: int | None = None,
) -> None:
    """Edit a node as if by a step whose disk write completed, then let the monitor look."""
    n = node(c, node_id)
    if term is not None:
        n.current_term = term
    if role is not None:
        n.role = role
    if log is not None:
        n.log = RaftLog(log)
    if commit is not None:
        n.commit_index = commit
    disk = host(c, node_id).disk
    assert disk is not None
    disk.durable = copy_state(n)
    disk.written = node_signature(n)
    c.monitor.observe(c, [host(c, node_id)])


def broken(c: Cluster) -> dict[str, int]:
    return {name: s["count"] for name, s in c.monitor.status().items() if not s["ok"]}


# ---------------------------------------------------------------------- Election Safety


def test_election_safety_fires_on_two_leaders_of_one_term() -> None:
    c = cluster()
    set_state(c, "n1", term=2, role=Role.LEADER)
    set_state(c, "n2", term=2, role=Role.LEADER)
    assert broken(c) == {"Election Safety": 1}
    first = c.monitor.status()["Election Safety"]["first"]
    assert first["nodes"] == ["n1", "n2"]
    assert "n2 became leader of term 2, which already has leader n1" in first["text"]


def test_election_safety_is_quiet_for_leaders_of_different_terms() -> None:
    c = cluster()
    set_state(c, "n1", term=2, role=Role.LEADER)
    set_state(c, "n1", role=Role.FOLLOWER)
    set_state(c, "n2", term=3, role=Role.LEADER)
    set_state(c, "n1", term=4, role=Role.LEADER)  # the same node again, in a later term
    assert broken(c) == {}


# ------------------------------------------------------------------- Leader Append-Only


def test_leader_append_only_fires_when_a_leader_deletes_from_its_log() -> None:
    c = cluster()
    set_state(c, "n1", term=2, role=Role.LEADER, log=[e(1, "a"), e(2, "b")])
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
    set_state(c, "n1", term=2, role=Role.LEADER, log=[e(1, "a"), e(2, "stale")])
    n1 = node(c, "n1")
    n1.current_term, n1.role = 3, Role.FOLLOWER
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
    set_state(c, "n1", term=1, log=[e(1, "a"), e(1, "b")], commit=2)
    set_state(c, "n2", term=2, log=[e(1, "a")], role=Role.LEADER)
    assert broken(c) == {"Leader Completeness": 1}
    v = c.monitor.violations[0]
    assert (v.nodes, v.indices) == (("n2", "n1"), (2,))
    assert "without the committed entry at index 2 (committed by n1)" in v.text


def test_leader_completeness_is_quiet_when_the_leader_holds_every_committed_entry() -> None:
    c = cluster()
    set_state(c, "n1", term=1, log=[e(1, "a"), e(1, "b")], commit=2)
    set_state(c, "n2", term=2, log=[e(1, "a"), e(1, "b"), e(2, "c")], role=Role.LEADER)
    assert broken(c) == {}


# ------------------------------------------------------------------- State Machine Safety


def test_state_machine_safety_fires_when_two_nodes_commit_different_entries() -> None:
    c = cluster()
    set_state(c, "n1", term=1, log=[e(1, "a")], commit=1)
    set_state(c, "n2", term=2, log=[e(2, "b")], commit=1)
    assert broken(c) == {"State Machine Safety": 1}
    v = c.monitor.violations[0]
    assert (v.nodes, v.indices) == (("n2", "n1"), (1,))


def test_state_machine_safety_is_quiet_for_the_same_committed_entries() -> None:
    c = cluster()
    set_state(c, "n1", term=1, log=[e(1, "a"), e(1, "b")], commit=2)
    set_state(c, "n2", term=1, log=[e(1, "a")], commit=1)
    set_state(c, "n3", term=2, log=[e(1, "a"), e(1, "b"), e(2, "c")], commit=3)
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
    set_state(c, "n1", term=1, log=[e(1, "a"), e(1, "b")], commit=3)
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
