"""The run record: every message and mark of a run, matching the network's own counts, and
staying true to the current run across seek, replay and fork."""

from __future__ import annotations

import math
from typing import Any

from raftviz.sim.engine.cluster import ClusterConfig
from raftviz.sim.engine.network import LinkParams
from raftviz.sim.history import History
from raftviz.sim.record import MarkKind, Outcome, Recorder


def record(h: History) -> Recorder:
    rec = h.cluster.record
    assert rec is not None
    return rec


def rows(h: History) -> list[tuple[Any, ...]]:
    """The whole record as plain tuples (messages, then marks), to compare two runs."""
    s = record(h).store
    msgs = [
        (s.sent[i], None if math.isnan(s.end[i]) else s.end[i], s.names[s.src[i]],
         s.names[s.dst[i]], s.kinds[s.kind[i]], s.outcome[i], s.flags[i], s.term[i], s.info[i])
        for i in range(len(s.sent))
    ]
    marks = [
        (s.mark_time[i], s.names[s.mark_node[i]], s.mark_kind[i], s.mark_term[i], s.mark_value[i])
        for i in range(len(s.mark_time))
    ]
    return msgs + marks


def crash_and_partition(seed: int = 3) -> History:
    """A leader crash, then a partition that cuts a minority off, under lossy links."""
    h = History(
        ClusterConfig(size=5, seed=seed, network=LinkParams(10, 20, 0.05, 0.05)),
        checkpoint_every=200.0,
        checkpoint_events=50,
    )
    h.run_until(600)
    h.apply_json({"type": "client", "op": "set", "key": "x", "value": "1"})
    h.run_for(300)
    leader = h.cluster.leader
    assert leader is not None
    h.apply_json({"type": "crash", "node": leader})
    h.run_for(700)
    h.apply_json({"type": "partition", "groups": [["n1", "n2"], ["n3", "n4", "n5"]]})
    h.run_for(600)
    h.apply_json({"type": "heal"})
    h.apply_json({"type": "client", "op": "set", "key": "x", "value": "2"})
    h.run_for(500)
    return h


def test_every_message_is_recorded_with_how_it_ended() -> None:
    h = crash_and_partition()
    rec, net = record(h), h.cluster.network
    s = rec.store
    assert rec.message_count == net.next_id - 1
    outcomes = [Outcome(o) for o in s.outcome]
    arrived = sum(o in (Outcome.DELIVERED, Outcome.QUEUED) for o in outcomes)
    down = outcomes.count(Outcome.DOWN)  # the network let them through to a crashed server
    assert arrived + down == net.delivered
    lost = sum(o in (Outcome.LOST, Outcome.PARTITIONED, Outcome.DROPPED) for o in outcomes)
    assert lost == net.dropped
    assert sum(o is Outcome.IN_FLIGHT for o in outcomes) == len(net.in_flight)
    assert sum(f & 1 for f in s.flags) == net.duplicated
    assert Outcome.PARTITIONED in outcomes and Outcome.LOST in outcomes
    assert Outcome.DOWN in outcomes  # messages to the crashed leader
    for i, o in enumerate(outcomes):
        if o is Outcome.IN_FLIGHT:
            assert math.isnan(s.end[i])
        else:
            assert s.sent[i] <= s.end[i] <= h.now


def test_marks_show_elections_crash_partition_and_commits() -> None:
    h = crash_and_partition()
    s = record(h).store
    kinds = [MarkKind(k) for k in s.mark_kind]
    names = [s.names[n] for n in s.mark_node]
    leaders = [(names[i], s.mark_term[i]) for i, k in enumerate(kinds) if k is MarkKind.LEADER]
    assert len(leaders) >= 2, "a first leader, and a new one after the crash"
    assert kinds.count(MarkKind.CRASH) == 1
    assert kinds.count(MarkKind.PARTITION) == 1 and kinds.count(MarkKind.HEAL) == 1
    assert names[kinds.index(MarkKind.PARTITION)] == "network"
    assert kinds.count(MarkKind.CANDIDATE) >= 2
    commits = [s.mark_value[i] for i, k in enumerate(kinds) if k is MarkKind.COMMIT]
    assert commits and max(commits) == max(
        n.commit_index for n in h.cluster.live_nodes()
    )
    assert list(s.mark_time) == sorted(s.mark_time)
    narrated = [e for e in h.cluster.milestones if e.kind == "leader"]
    assert [e.node for e in narrated] == [n for n, _ in leaders]


def test_seek_back_and_replay_keep_the_record_of_the_same_run() -> None:
    h = crash_and_partition()
    before = rows(h)
    end = h.now
    h.seek(700.0)
    assert rows(h) == before, "a jump back still shows the run up to its horizon"
    h.seek(end)
    assert rows(h) == before


def test_a_fork_cuts_the_record_to_the_new_run() -> None:
    h = crash_and_partition()
    h.seek(1100.0)
    h.apply_json({"type": "pause", "node": "n4"})
    h.run_for(400)
    again = History.import_trace(h.export_trace())
    assert rows(h) == rows(again)
    s = record(h).store
    assert MarkKind.PARTITION not in [MarkKind(k) for k in s.mark_kind]
    assert list(s.other_marks) == [i for i, k in enumerate(s.mark_kind) if k != MarkKind.COMMIT]


def test_checkpoints_share_the_rows() -> None:
    h = crash_and_partition()
    stores = {id(cp.cluster.record.store) for cp in h.checkpoints if cp.cluster.record}
    assert stores == {id(record(h).store)}
    assert len(h.checkpoints) > 3


def test_window_lists_arrows_crossing_it_and_filters() -> None:
    h = crash_and_partition()
    rec = record(h)
    w = rec.window(1000.0, 1200.0)
    names, kinds = w["names"], w["kinds"]
    msgs = w["messages"]
    assert w["total"] == len(msgs) > 0
    for m in msgs:
        sent, end = m[4], m[5]
        assert sent <= 1200.0 and (end is None or end >= 1000.0)
    expected = sum(
        1 for i in range(rec.message_count)
        if rec.store.sent[i] <= 1200.0
        and (math.isnan(rec.store.end[i]) or rec.store.end[i] >= 1000.0)
    )
    assert len(msgs) == expected
    votes = rec.window(0, h.now, kinds=frozenset({"RequestVote"}))
    assert votes["messages"] and {kinds[m[1]] for m in votes["messages"]} == {"RequestVote"}
    only = rec.window(0, h.now, nodes=frozenset({"n5"}))
    assert all("n5" in (names[m[2]], names[m[3]]) for m in only["messages"])
    dense = rec.window(0, h.now, limit=10)
    assert "messages" not in dense
    assert sum(dense["density"]["counts"]) == dense["total"] == rec.message_count
    one = rec.message(msgs[0][0])
    assert one is not None and one["src"] == names[msgs[0][2]]


def test_paxos_arrows_carry_ballots() -> None:
    h = History(ClusterConfig(size=3, seed=2, protocol="paxos"))
    h.run_until(800)
    h.apply_json({"type": "client", "op": "set", "key": "x", "value": "1"})
    h.run_for(500)
    rec = record(h)
    kinds = set(rec.store.kinds)
    assert {"Prepare", "Promise", "Accept", "Accepted"} <= kinds
    prepare = next(
        i for i in range(rec.message_count) if rec.store.kinds[rec.store.kind[i]] == "Prepare"
    )
    shown = rec.message(prepare + 1)
    assert shown is not None and shown["ballot"].endswith(f".{shown['src']}")
    assert MarkKind.LEADER in [MarkKind(k) for k in rec.store.mark_kind]


def test_a_window_with_too_many_marks_keeps_every_mark_but_commits(monkeypatch: Any) -> None:
    h = crash_and_partition()
    rec = record(h)
    s = rec.store
    monkeypatch.setattr("raftviz.sim.record.MAX_WINDOW_MARKS", 20)
    w = rec.window(0, h.now)
    kinds = [MarkKind(m[3]) for m in w["marks"]]
    others = [MarkKind(k) for k in s.mark_kind if k != MarkKind.COMMIT]
    assert sorted(k for k in kinds if k is not MarkKind.COMMIT) == sorted(others)
    assert 0 < kinds.count(MarkKind.COMMIT) < list(s.mark_kind).count(MarkKind.COMMIT)
    assert w["marks_thinned"] == rec.mark_count - len(w["marks"])
    assert [m[0] for m in w["marks"]] == sorted(m[0] for m in w["marks"])



def test_restoring_a_copy_the_record_was_cut_short_of_starts_the_record_there() -> None:
    """A lesson keeps its own copy of the cluster at each step; after a jump back and a new
    command cut the record, restoring a later step's copy must not break the record: it
    starts afresh at that copy's position (as a restored session's does)."""
    import copy

    h = crash_and_partition()
    later = copy.deepcopy(h.cluster)  # a lesson's mark, taken at the end of the run
    h.seek(500.0)
    h.apply_json({"type": "pause", "node": "n4"})  # a new branch: the record is cut here
    assert record(h).message_count < later.network.next_id - 1
    h.cluster = copy.deepcopy(later)
    h.cluster.fork_record()
    rec = record(h)
    assert rec.store.since == h.now and rec.store.first == h.cluster.network.next_id
    assert rec.message_count == 0 and rec.mark_count == 0
    first = h.cluster.network.next_id
    h.run_for(300)  # the run records on from here, with no error: one row per envelope
    assert rec.message_count == h.cluster.network.next_id - first > 0
    assert all(math.isnan(e) or e >= h.now - 300 for e in rec.store.end)
