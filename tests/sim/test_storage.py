"""Stable storage: a server persists term, vote and entries before it replies (Raft Fig. 2).

Each test drives a real cluster and checks what the disk model promises: messages wait for the
fsync of the state they rest on, writes queue and batch, a crash loses exactly what was not yet
fsynced, and because nothing was said before it was durable, safety holds all the same.
"""

from __future__ import annotations

import pytest

from raftviz.core.messages import (
    Command,
    InstallSnapshotReply,
    Op,
    ReadMode,
    RequestVote,
    RequestVoteReply,
)
from raftviz.core.raft import RaftNode, RaftSettings, Role
from raftviz.sim.engine.cluster import Cluster, ClusterConfig, CommandError
from raftviz.sim.engine.commands import apply_command, parse_command
from raftviz.sim.engine.storage import DEFAULT_FSYNC_MS
from raftviz.sim.history import config_from_json, config_to_json
from raftviz.sim.snapshot import snapshot

# Long election timeouts: nobody campaigns unless a test says so.
PATIENT = RaftSettings(election_timeout_min=1000.0, election_timeout_max=2000.0)


def make(
    size: int = 3, fsync_ms: float = 50.0, seed: int = 1, settings: RaftSettings = PATIENT
) -> Cluster:
    return Cluster(ClusterConfig(size=size, seed=seed, fsync_ms=fsync_ms, settings=settings))


def node(c: Cluster, node_id: str) -> RaftNode:
    n = c.hosts[node_id].node
    assert isinstance(n, RaftNode)
    return n


def in_flight(c: Cluster, kind: type, src: str, dst: str | None = None) -> list[int]:
    return sorted(
        env.id for env in c.network.in_flight.values()
        if isinstance(env.msg, kind) and env.msg.src == src and dst in (None, env.msg.dst)
    )


def broken(c: Cluster) -> dict[str, int]:
    return {name: s["count"] for name, s in c.monitor.status().items() if not s["ok"]}


def candidate_n1_asks_n2(fsync_ms: float = 50.0) -> Cluster:
    """n1 campaigns for term 1; its RequestVote reaches n2 (messages delivered by hand)."""
    c = make(fsync_ms=fsync_ms)
    c.set_manual_delivery(True)
    c.timeout_now("n1")
    assert node(c, "n1").role is Role.CANDIDATE
    # The term and the vote for itself must be on disk before any RequestVote leaves.
    assert in_flight(c, RequestVote, "n1") == []
    writing = c.hosts["n1"].disk.writing  # type: ignore[union-attr]
    assert writing is not None and writing.state.current_term == 1
    assert writing.state.voted_for == "n1" and len(writing.messages) == 2
    c.run_for(fsync_ms)
    [to_n2] = in_flight(c, RequestVote, "n1", "n2")
    c.deliver(to_n2)
    assert node(c, "n2").voted_for == "n1"
    return c


def test_a_vote_is_not_sent_before_it_is_durable_and_a_crash_forgets_it() -> None:
    c = candidate_n1_asks_n2()
    assert in_flight(c, RequestVoteReply, "n2") == []  # the grant waits for n2's fsync
    c.run_for(20)  # less than the 50 ms fsync
    c.crash("n2")
    assert "its vote for n1: that is lost; 1 held message was never sent" in (
        c.narration[-1].text
    )
    c.restart("n2")
    assert (node(c, "n2").current_term, node(c, "n2").voted_for) == (0, None)
    c.run_for(200)
    assert in_flight(c, RequestVoteReply, "n2") == []  # the reply died with the process
    assert node(c, "n1").votes_received == {"n1"}
    # n2 may now vote for a rival in term 1: safe, because n1 never counted its vote.
    c.timeout_now("n3")
    c.run_for(50)
    for env_id in in_flight(c, RequestVote, "n3", "n2"):
        c.deliver(env_id)
    c.run_for(50)
    for env_id in in_flight(c, RequestVoteReply, "n2", "n3"):
        c.deliver(env_id)
    assert node(c, "n3").role is Role.LEADER and node(c, "n3").current_term == 1
    assert node(c, "n1").role is Role.CANDIDATE
    assert broken(c) == {}


def test_a_durable_vote_is_sent_and_survives_a_crash() -> None:
    c = candidate_n1_asks_n2()
    c.run_for(50)
    assert len(in_flight(c, RequestVoteReply, "n2", "n1")) == 1
    c.crash("n2")
    assert c.narration[-1].text == "n2 crashed (term, vote and log are kept on disk)"
    c.restart("n2")
    assert (node(c, "n2").current_term, node(c, "n2").voted_for) == (1, "n1")


def test_a_leader_commits_its_own_entry_only_once_fsynced_and_a_crash_loses_it() -> None:
    c = make(size=1, fsync_ms=30.0)
    c.run_for(3000)
    leader = node(c, "n1")
    assert leader.role is Role.LEADER and leader.commit_index == leader.log.last_index == 1
    record = c.submit(Command(Op.SET, "x", "1"), client_id="c1")
    while leader.log.last_index < 2:
        c.step()
    assert leader.commit_index == 1
    c.run_for(20)
    assert leader.commit_index == 1 and c.clients["c1"].busy  # not on disk: not committed
    c.crash("n1")
    assert "1 log entry from index 2" in c.narration[-1].text
    c.restart("n1")
    assert node(c, "n1").log.last_index == 1
    assert broken(c) == {}
    assert record.status.value == "pending"
    # The control: had the fsync finished, the entry would be committed and answered.
    c2 = make(size=1, fsync_ms=30.0)
    c2.run_for(3000)
    c2.submit(Command(Op.SET, "x", "1"), client_id="c1")
    c2.run_for(60)
    assert node(c2, "n1").commit_index == 2 and not c2.clients["c1"].busy


def test_writes_queue_behind_an_fsync_and_batch() -> None:
    c = make(size=3, fsync_ms=100.0)
    c.run_for(4000)
    leader_id = c.leader
    assert leader_id is not None
    disk = c.hosts[leader_id].disk
    assert disk is not None and not disk.busy
    before = disk.writes
    for i in range(3):
        c.submit(Command(Op.SET, f"k{i}", "v"), client_id=f"c{i}", node=leader_id)
        c.run_for(10)  # each arrives while the first fsync is still running
    assert disk.writing is not None and disk.writing.state.log.last_index == 2
    assert disk.queued is not None
    c.run_for(1000)
    leader = node(c, leader_id)
    assert leader.commit_index == leader.log.last_index == 4
    assert disk.writes - before == 2  # one write for the first entry, one for the other two
    assert all(not c.clients[f"c{i}"].busy for i in range(3))
    assert broken(c) == {}


def loaded(disk: str, fsync_ms: float = 400.0) -> tuple[Cluster, str, float]:
    """A 5-node cluster with the lab's default timing, a disk slowed on ``disk`` ("none",
    "leader" or "all"), then 5 s of 20 writes/s; returns it, the first leader, elections since."""
    c = Cluster(ClusterConfig(size=5, seed=2))
    c.run_for(1500)
    first = c.leader
    assert first is not None
    start = c.metrics["elections"]
    if disk != "none":
        c.set_disk(first if disk == "leader" else None, fsync_ms)
    c.set_workload(20, 0.0, 5, ReadMode.LOG)
    c.run_for(5000)
    assert broken(c) == {}
    return c, first, c.metrics["elections"] - start


def test_a_slow_disk_on_the_leader_holds_its_heartbeats_and_costs_it_the_leadership() -> None:
    c, first, elections = loaded("none")
    assert elections == 0 and c.leader == first
    c, first, elections = loaded("leader")
    # Heartbeats wait behind 400 ms fsyncs, longer than any election timeout (150-300 ms).
    assert elections >= 1 and c.leader not in (None, first)
    assert c.metrics["ops_ok"] > 80


def test_fsyncs_longer_than_the_election_timeout_everywhere_leave_no_leader() -> None:
    """An election needs two fsyncs in a row (the candidate's and a voter's): at 400 ms each,
    every candidate times out before its votes can arrive (broadcast time >> timeout)."""
    c, _, elections = loaded("all")
    assert c.leader is None and elections > 50
    assert c.metrics["ops_ok"] == 0
    c, _, elections = loaded("all", fsync_ms=50.0)
    assert c.leader is not None and elections == 0


def test_a_paused_nodes_write_completes_when_it_resumes() -> None:
    c = candidate_n1_asks_n2()
    c.pause("n2")
    c.run_for(200)
    assert c.hosts["n2"].disk.writing is not None  # type: ignore[union-attr]
    assert in_flight(c, RequestVoteReply, "n2") == []
    c.resume("n2")
    assert c.hosts["n2"].disk.writing is None  # type: ignore[union-attr]
    assert len(in_flight(c, RequestVoteReply, "n2", "n1")) == 1


def test_an_instant_disk_sends_at_once() -> None:
    c = make(fsync_ms=0.0)
    c.set_manual_delivery(True)
    c.timeout_now("n1")
    assert len(in_flight(c, RequestVote, "n1")) == 2
    assert c.hosts["n1"].disk.durable.current_term == 1  # type: ignore[union-attr]


def test_the_snapshot_shows_the_pending_write() -> None:
    c = candidate_n1_asks_n2()
    apply_command(c, parse_command({"type": "disk", "node": "n3", "fsync_ms": 300}))
    nodes = {n["id"]: n for n in snapshot(c)["nodes"]}
    n2 = nodes["n2"]["disk"]
    assert n2["writing"]["term"] == 1 and n2["writing"]["voted_for"] == "n1"
    assert n2["writing"]["held"] == 1 and 0 < n2["writing"]["remaining"] <= 50
    assert n2["durable"] == {"term": 0, "voted_for": None, "log_length": 0}
    assert (n2["slow"], nodes["n3"]["disk"]["slow"], nodes["n3"]["disk"]["fsync_ms"]) == (
        False, True, 300.0
    )
    c.crash("n2")
    crashed = {n["id"]: n for n in snapshot(c)["nodes"]}["n2"]
    assert crashed["term"] == 0 and crashed["disk"]["writing"] is None


def test_the_disk_command_refuses_bad_input_and_changes_nothing() -> None:
    c = make()
    seen = len(c.narration)
    for data, words in [
        ({"type": "disk", "node": "n9", "fsync_ms": 5}, "unknown node 'n9'"),
        ({"type": "disk", "node": "n1", "fsync_ms": -1}, "0..10000"),
        ({"type": "disk", "node": "n1", "fsync_ms": 10_001}, "0..10000"),
        ({"type": "disk", "node": "n1"}, "missing field 'fsync_ms'"),
        ({"type": "disk", "node": "n1", "fsync_ms": "slow"}, "must be a number"),
    ]:
        with pytest.raises(CommandError, match=words):
            apply_command(c, parse_command(data))
    assert len(c.narration) == seen
    assert all(h.fsync_ms == 50.0 for h in c.hosts.values())
    paxos = Cluster(ClusterConfig(size=3, protocol="paxos"))
    with pytest.raises(CommandError, match="for Raft"):
        paxos.set_disk("n1", 5.0)
    apply_command(c, parse_command({"type": "disk", "fsync_ms": 7}))
    assert all(h.fsync_ms == 7.0 for h in c.hosts.values())
    assert c.narration[-1].text == "every node: an fsync now takes 7 ms"


def test_the_configuration_carries_the_fsync_time() -> None:
    config = ClusterConfig(size=3, fsync_ms=12.5)
    assert config_from_json(config_to_json(config)) == config
    assert ClusterConfig().fsync_ms == DEFAULT_FSYNC_MS
    with pytest.raises(CommandError, match="fsync_ms"):
        config_from_json({"fsync_ms": -3})
    with pytest.raises(CommandError, match="fsync_ms"):
        config_from_json({"fsync_ms": "fast"})


def test_a_crash_before_an_installed_snapshot_is_fsynced_loses_it_safely() -> None:
    """Fig. 13 with a disk: the snapshot is saved before the follower acknowledges it."""
    settings = RaftSettings(
        election_timeout_min=1000.0, election_timeout_max=2000.0, snapshot_threshold=0
    )
    c = make(fsync_ms=50.0, settings=settings)
    c.timeout_now("n1")
    c.run_for(200)
    assert node(c, "n1").role is Role.LEADER
    c.crash("n3")
    for i in range(5):
        c.submit(Command(Op.SET, "x", str(i)), client_id=f"c{i}")
    c.run_for(1500)
    leader = node(c, "n1")
    assert leader.commit_index == leader.log.last_index == 6
    c.snapshot_now("n1")
    assert leader.log.snapshot_index == 6
    c.restart("n3")
    while node(c, "n3").log.snapshot_index < 6:
        assert c.step()
    n3 = node(c, "n3")
    assert n3.commit_index == 6 and n3.snapshot is not None
    disk = c.hosts["n3"].disk
    assert disk is not None and disk.durable.snapshot is None
    kept = disk.durable.log.last_index
    assert kept < 6
    # The acknowledgement waits for the snapshot's fsync: the leader does not know yet.
    assert in_flight(c, InstallSnapshotReply, "n3") == []
    assert disk.writing is not None and disk.writing.state.log.snapshot_index == 6
    c.crash("n3")
    assert f"{6 - kept} log entries from index {kept + 1}" in c.narration[-1].text
    c.restart("n3")
    assert node(c, "n3").log.snapshot_index == 0 and node(c, "n3").commit_index == 0
    assert broken(c) == {}  # it never stored those entries, so it lost nothing committed
    # The leader sends the snapshot again; once it is on disk, a crash keeps it.
    c.run_for(500)
    disk = c.hosts["n3"].disk
    assert disk is not None and disk.durable.log.snapshot_index == 6
    c.crash("n3")
    c.restart("n3")
    assert node(c, "n3").log.snapshot_index == node(c, "n3").commit_index == 6
    c.run_for(200)
    assert node(c, "n3").log.last_index == leader.log.last_index
    assert broken(c) == {}
