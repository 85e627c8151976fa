"""Scenarios for log compaction (Raft paper, section 7): snapshots, catch-up, restarts, errors.

Each scenario runs the whole cluster (network, clients, monitors) and asserts the outcome: how
a lagging follower caught up, what every node's state machine holds, and that every Figure 3
property and linearizability held throughout.
"""

from __future__ import annotations

from typing import Any

import pytest

from raftviz.sim.engine.cluster import Cluster, CommandError
from raftviz.sim.history import History, config_from_json, leader_exists, logs_converged
from raftviz.sim.snapshot import snapshot
from tests.sim.scenario_utils import history, node, violations

COMPACTING = {"snapshot_threshold": 20, "snapshot_chunk_size": 64}


def narrated(cluster: Cluster, kind: str, who: str | None = None) -> list[str]:
    return [e.text for e in cluster.narration if e.kind == kind and who in (None, e.node)]


def write(h: History, count: int, start: int = 0) -> None:
    """``count`` SETs one after another through client c1, each waited for."""
    for i in range(start, start + count):
        h.apply_json({"type": "client", "op": "set", "key": f"k{i % 7}", "value": str(i),
                      "client": "c1"})
        assert h.run_until_condition(lambda c: not c.clients["c1"].busy, 3000)


def settle(h: History) -> Cluster:
    assert h.run_until_condition(logs_converged, 5000)
    h.run_for(200)
    return h.cluster


def test_a_follower_crashed_long_ago_catches_up_with_install_snapshot() -> None:
    h = history(3, seed=4, settings=COMPACTING)
    assert h.run_until_condition(leader_exists, 2000)
    leader = h.cluster.leader
    assert leader is not None
    lagging = next(n for n in h.cluster.node_ids if n != leader)
    write(h, 3)
    h.apply_json({"type": "crash", "node": lagging})
    write(h, 60, start=3)
    lead = node(h.cluster, leader)
    assert lead.log.snapshot_index >= 40  # the leader compacted past everything n-lagging has
    h.apply_json({"type": "restart", "node": lagging})
    cluster = settle(h)
    follower = node(cluster, lagging)
    assert narrated(cluster, "snapshot_send", leader)
    installed = narrated(cluster, "snapshot_installed", lagging)
    assert installed and "discarded its whole log" in installed[0]
    assert follower.sm.data == lead.sm.data
    assert follower.sm.sessions == lead.sm.sessions  # exactly-once survives the snapshot
    assert follower.log.snapshot_index >= 40
    assert violations(cluster) == {}
    assert cluster.linearizability.status.violation_count == 0


def test_a_partitioned_follower_catches_up_in_chunks_over_a_slow_link() -> None:
    h = history(5, seed=2, settings=COMPACTING)
    assert h.run_until_condition(leader_exists, 2000)
    leader = h.cluster.leader
    assert leader is not None
    cut = next(n for n in h.cluster.node_ids if n != leader)
    others = [n for n in h.cluster.node_ids if n != cut]
    h.apply_json({"type": "partition", "groups": [others, [cut]]})
    write(h, 50)
    h.apply_json({"type": "network", "latency_min": 40, "latency_max": 60, "link": [leader, cut]})
    h.apply_json({"type": "heal"})
    seen: list[dict[str, Any]] = []
    assert h.run_until_condition(
        lambda c: bool(seen.extend(m for m in snapshot(c)["messages"] if m["chunk"]))
        or node(c, cut).log.snapshot_index > 0,
        3000,
    )
    cluster = settle(h)
    chunks = {m["chunk"]["offset"] for m in seen}
    assert len(chunks) >= 2  # the snapshot crossed the slow link in several 64-byte chunks
    assert all(m["kind"] == "InstallSnapshot" and m["chunk"]["length"] <= 64 for m in seen)
    assert node(cluster, cut).sm.data == node(cluster, leader).sm.data
    assert violations(cluster) == {}


def test_a_restart_restores_the_state_machine_from_snapshot_and_log() -> None:
    h = history(3, seed=5, settings=COMPACTING)
    assert h.run_until_condition(leader_exists, 2000)
    write(h, 30)
    settle(h)
    victim = h.cluster.node_ids[0]
    before = dict(node(h.cluster, victim).sm.data)
    snap_index = node(h.cluster, victim).log.snapshot_index
    assert snap_index >= 20
    h.apply_json({"type": "crash", "node": victim})
    h.apply_json({"type": "restart", "node": victim})
    restarted = node(h.cluster, victim)
    assert (restarted.commit_index, restarted.log.snapshot_index) == (snap_index, snap_index)
    assert f"snapshot through index {snap_index}" in narrated(h.cluster, "fault", victim)[-1]
    cluster = settle(h)
    assert node(cluster, victim).sm.data == before
    assert violations(cluster) == {}


def test_snapshot_now_command_and_the_snapshot_json() -> None:
    h = history(3, seed=1, settings={"snapshot_threshold": 0})
    assert h.run_until_condition(leader_exists, 2000)
    write(h, 5)
    settle(h)
    target = h.cluster.node_ids[1]
    applied = node(h.cluster, target).last_applied
    h.apply_json({"type": "snapshot", "node": target})
    state = {n["id"]: n for n in snapshot(h.cluster)["nodes"]}
    assert state[target]["snapshot"] == {
        "last_included_index": applied,
        "last_included_term": node(h.cluster, target).log.snapshot_term,
    }
    assert state[target]["log"] == []  # every entry is inside the snapshot
    assert state[target]["log_length"] == applied
    others = [n for n in h.cluster.node_ids if n != target]
    assert all(state[n]["snapshot"] is None for n in others)
    with pytest.raises(CommandError, match="has applied nothing since its snapshot"):
        h.apply_json({"type": "snapshot", "node": target})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"snapshot_threshold": -1}, r"snapshot_threshold must be a whole number within 0..10"),
        ({"snapshot_threshold": 2_000_000}, r"within 0..1000000 entries \(0 = off\), got 2000000"),
        ({"snapshot_chunk_size": 8}, "chunk_size must be a whole number within 16..1048576 bytes"),
        ({"snapshot_threshold": 1.5}, "snapshot_threshold must be a whole number"),
    ],
)
def test_bad_compaction_settings_are_refused_and_change_nothing(
    changes: dict[str, Any], message: str
) -> None:
    h = history(3, seed=1)
    before = h.cluster.settings
    with pytest.raises(CommandError, match=message):
        h.apply_json({"type": "settings", "changes": changes})
    assert h.cluster.settings == before


def test_snapshot_now_is_refused_where_it_cannot_run() -> None:
    h = history(3, seed=1)
    with pytest.raises(CommandError, match="unknown node 'n9'"):
        h.apply_json({"type": "snapshot", "node": "n9"})
    h.apply_json({"type": "crash", "node": "n2"})
    with pytest.raises(CommandError, match="n2 is not running"):
        h.apply_json({"type": "snapshot", "node": "n2"})
    with pytest.raises(CommandError, match="has applied nothing"):
        h.apply_json({"type": "snapshot", "node": "n1"})
    paxos = History(config_from_json({"size": 3, "protocol": "paxos"}))
    with pytest.raises(CommandError, match="snapshots are for Raft clusters"):
        paxos.apply_json({"type": "snapshot", "node": "n1"})


def test_rewind_and_replay_reproduce_a_run_with_snapshots() -> None:
    h = history(3, seed=9, settings=COMPACTING)
    assert h.run_until_condition(leader_exists, 2000)
    write(h, 45)
    h.apply_json({"type": "crash", "node": "n3"})
    write(h, 25, start=45)
    h.apply_json({"type": "restart", "node": "n3"})
    settle(h)
    first = snapshot(h.cluster)
    h.seek(0)
    h.seek(first["time"])
    again = snapshot(h.cluster)
    assert again["nodes"] == first["nodes"]
    assert again["events"] == first["events"]
    assert narrated(h.cluster, "snapshot") and narrated(h.cluster, "snapshot_installed", "n3")


def test_the_monitors_see_through_a_snapshot_in_the_figure8_teaching_mode() -> None:
    """The Figure 8 mistake with the wrongly committed entry compacted into n1's snapshot: the
    checkers still catch the lost entry, and n1's snapshot disagreeing with the new leader's
    log once n1 returns (its log digests start at the snapshot)."""
    from tests.sim.test_scenarios import figure8_c, figure8_d

    h = figure8_c(commit_old_terms=True)
    h.apply_json({"type": "snapshot", "node": "n1"})  # index 2 (term 2), "committed"
    h.run_for(h.cluster.config.fsync_ms)  # the snapshot is on n1's disk before it crashes
    assert node(h.cluster, "n1").log.snapshot_index == 2
    figure8_d(h)
    assert h.run_until_condition(lambda c: c.leader == "n5", 1000)
    h.apply_json({"type": "restart", "node": "n1"})
    h.apply_json({"type": "client", "op": "set", "key": "x", "value": "5", "node": "n5"})
    assert h.run_until_condition(lambda c: node(c, "n1").log.last_index >= 3, 2000)
    found = violations(h.cluster)
    assert found["Leader Completeness"]["indices"] == [2]
    assert found["State Machine Safety"]["indices"] == [2]
    matching = found["Log Matching"]
    assert "n1" in matching["nodes"] and matching["indices"][0] == 2
    assert "snapshot through index 2 (term 2)" in matching["text"]


def test_a_configuration_compacted_into_a_snapshot_reaches_a_lagging_follower() -> None:
    """Fig. 12's "last config": a server added before the snapshot is in the snapshot's
    configuration, and a follower that installs the snapshot adopts it."""
    h = history(3, seed=4, settings={"snapshot_threshold": 10, "snapshot_chunk_size": 64})
    assert h.run_until_condition(leader_exists, 2000)
    leader = h.cluster.leader
    assert leader is not None
    lagging = next(n for n in h.cluster.node_ids if n != leader)
    h.run_for(300)
    h.apply_json({"type": "crash", "node": lagging})
    h.apply_json({"type": "add_server"})
    assert h.run_until_condition(lambda c: "n4" in node(c, leader).config.voters, 3000)
    write(h, 25)
    lead = node(h.cluster, leader)
    assert lead.snapshot is not None and "n4" in lead.snapshot.configuration.voters
    assert lead.configs.entries == [] or all(i > lead.log.snapshot_index
                                             for i, _ in lead.configs.entries)
    h.apply_json({"type": "restart", "node": lagging})
    assert h.run_until_condition(
        lambda c: node(c, lagging).log.snapshot_index >= lead.log.snapshot_index - 10, 5000
    )
    assert "n4" in node(h.cluster, lagging).config.voters
    assert violations(h.cluster) == {}
