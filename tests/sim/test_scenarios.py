"""Scenarios from the Raft paper and the thesis, run through History and user commands.

Every scenario is driven only by commands a user could give (timeout, crash, partition, client
...), so each one is also a lesson a student can replay. Seeds are fixed; where an outcome
depends on timing, the test waits on the cluster's state instead of a guessed delay.
"""

from __future__ import annotations

import json
import re

import pytest

from raftviz.core.raft import Role
from raftviz.sim.engine.clients import Status
from raftviz.sim.engine.cluster import Cluster
from raftviz.sim.history import History, config_from_json, leader_exists, logs_converged
from raftviz.sim.snapshot import snapshot
from tests.sim.scenario_utils import (
    history,
    idle,
    leaders,
    node,
    op,
    terms,
    transcript,
    values,
    violations,
)

# ---------------------------------------------------------------------------- Figure 7

# Raft paper, Figure 7: the leader for term 8 and six possible follower logs (a)-(f).
FIG7_LEADER = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6]
FIG7_FOLLOWERS = {
    "n2": [1, 1, 1, 4, 4, 5, 5, 6, 6],  # (a) missing an entry
    "n3": [1, 1, 1, 4],  # (b) missing many
    "n4": [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],  # (c) an extra uncommitted entry
    "n5": [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],  # (d) extra entries of term 7
    "n6": [1, 1, 1, 4, 4, 4, 4],  # (e) missing and extra
    "n7": [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],  # (f) a leader of terms 2 and 3 that never committed
}


def figure7(fast_backup: bool) -> History:
    """Seven nodes in the Figure 7 state; n1 is made leader of term 8 as in the figure.

    Each follower's term is the last term in its log (d is in term 7). n1 starts in term 7 and
    is told to time out first, so it campaigns for term 8. Its log (last term 6, index 10) is
    at least as up-to-date as those of a, b, e and f, so with its own vote it has 5 of 7;
    c (longer log of term 6) and d (term 7 entries) refuse, as section 5.4.1 requires.
    """
    initial = {"n1": FIG7_LEADER, **FIG7_FOLLOWERS}
    h = history(7, seed=1, initial=initial, terms={"n1": 7},
                settings={"fast_backup": fast_backup})
    h.apply_json({"type": "timeout", "node": "n1"})
    assert h.run_until_condition(logs_converged, 3000)
    return h


def rejected_probes(h: History) -> dict[str, set[int]]:
    """For each follower, the prevLogIndex values it rejected while being brought in line."""
    probes: dict[str, set[int]] = {}
    for event in h.cluster.narration:
        if event.kind == "append_rejected":
            probes.setdefault(event.node, set()).add(event.data["index"])
    return probes


def removed(h: History) -> set[tuple[str, str]]:
    """(node, text) of every conflict truncation, e.g. "removed 2 ... from index 11"."""
    found = set()
    for event in h.cluster.narration:
        if event.kind == "truncate":
            match = re.search(r"removed (\d+) conflicting entr(?:y|ies) from index (\d+)",
                              event.text)
            assert match, event.text
            found.add((event.node, f"{match[1]}@{match[2]}"))
    return found


@pytest.mark.parametrize("fast_backup", [False, True])
def test_figure7_leader_brings_every_follower_log_in_line(fast_backup: bool) -> None:
    h = figure7(fast_backup)
    c = h.cluster
    leader = node(c, "n1")
    assert (c.leader, leader.role, leader.current_term) == ("n1", Role.LEADER, 8)
    refused = {e.node for e in c.narration if e.kind == "vote_refused"}
    assert refused == {"n4", "n5"}  # (c) and (d) have more up-to-date logs
    expected = FIG7_LEADER + [8]  # the leader's log plus its term-8 no-op
    for n in c.node_ids:
        assert terms(c, n) == expected, n
    assert values(c, "n1")[-1] == "no-op"
    # Entries not in the leader's log are gone: (c)'s extra 6, (d)'s 7s, (e)'s 4s, (f)'s 2s/3s.
    assert removed(h) == {("n4", "1@11"), ("n5", "2@11"), ("n6", "2@6"), ("n7", "8@4")}
    assert all(node(c, n).commit_index == 11 for n in c.node_ids)
    assert violations(c) == {}


def test_figure7_one_entry_at_a_time_probes_each_index() -> None:
    """Fig. 2, Leaders 3.2: after each rejection, nextIndex goes back by one."""
    assert rejected_probes(figure7(fast_backup=False)) == {
        "n2": {10},
        "n3": {10, 9, 8, 7, 6, 5},
        "n6": {10, 9, 8, 7, 6},
        "n7": {10, 9, 8, 7, 6, 5, 4},
    }


def test_figure7_fast_backup_skips_a_term_per_rejection() -> None:
    """Section 5.3's optimisation: one rejection per conflicting term, not per entry."""
    assert rejected_probes(figure7(fast_backup=True)) == {
        "n2": {10},
        "n3": {10},  # "no entry at 10; my log ends at 4" -> next probe at prev 4 succeeds
        "n6": {10, 7},  # (e): term 4 from index 4; the leader's last term-4 entry is 5
        "n7": {10, 6},  # (f): term 3 from 7, then term 2 from 4; the leader has neither
    }


# ---------------------------------------------------------------------------- Figure 8

# Raft paper, Figure 8 (c): S1 is about to lead term 4 with index 2 (term 2) on S1 and S2;
# S5 holds a term-3 entry at index 2 that only it has. n5 starts crashed, as in (c).
FIG8 = {
    "n1": [1, 2],
    "n2": [1, 2],
    "n3": [1],
    "n4": [1],
    "n5": [1, 3],
}
FIG8_TERMS = {"n1": 3, "n3": 3, "n4": 3, "n5": 3}


def figure8_c(commit_old_terms: bool) -> History:
    """(c): S1 leads term 4 and replicates its term-2 entry to a majority.

    The no-op at the start of a term is switched off here: it is a term-4 entry, and replicating
    it along with index 2 would commit index 2 safely at once, which is Figure 8 (e) instead.
    """
    settings = {"noop_on_election": False, "commit_old_terms": commit_old_terms}
    h = history(5, seed=1, initial=FIG8, terms=FIG8_TERMS, settings=settings)
    h.apply_json({"type": "crash", "node": "n5"})
    h.apply_json({"type": "timeout", "node": "n1"})
    h.run_for(100)
    c = h.cluster
    assert leaders(c) == ["n1"] and node(c, "n1").current_term == 4
    for n in ("n1", "n2", "n3", "n4"):
        assert terms(c, n) == [1, 2], n  # index 2 (term 2) is now on four of five servers
    return h


def figure8_d(h: History) -> None:
    """(d): S1 crashes; S5 restarts and wins term 5 with votes from S2, S3 and S4.

    Its first timeout (term 4) is refused, since they voted for S1 in term 4; the second asks
    for term 5, and its last log term 3 beats their last term 2.
    """
    h.apply_json({"type": "crash", "node": "n1"})
    h.apply_json({"type": "restart", "node": "n5"})
    h.apply_json({"type": "timeout", "node": "n5"})
    h.apply_json({"type": "timeout", "node": "n5"})
    h.run_for(200)


def test_figure8_an_old_term_entry_on_a_majority_is_not_committed() -> None:
    h = figure8_c(commit_old_terms=False)
    c = h.cluster
    assert node(c, "n1").commit_index == 0  # stored on 4 of 5, and still not committed
    figure8_d(h)
    # S5 overwrites index 2 everywhere; legal, because that entry was never committed.
    assert leaders(c) == ["n5"] and node(c, "n5").current_term == 5
    assert h.run_until_condition(lambda cl: all(
        terms(cl, n) == [1, 3] for n in ("n2", "n3", "n4", "n5")), 1000)
    assert violations(c) == {}


def test_figure8_e_a_current_term_entry_commits_the_old_one_and_blocks_s5() -> None:
    h = figure8_c(commit_old_terms=False)
    c = h.cluster
    h.apply_json({"type": "client", "op": "set", "key": "x", "value": "4", "node": "n1"})
    assert h.run_until_condition(lambda cl: node(cl, "n1").commit_index == 3, 500)
    assert terms(c, "n1") == [1, 2, 4]  # committing index 3 (term 4) commits index 2 too
    figure8_d(h)
    # S5 (last term 3) cannot win against logs ending in term 4: index 2 stays committed.
    assert "n5" not in leaders(c)
    # Another of S2-S4 leads next. With no no-op it too commits nothing until an entry of its
    # own term is stored on a majority (5.4.2 again), so give it one.
    assert h.run_until_condition(lambda cl: bool(leaders(cl)), 1000)
    h.apply_json({"type": "client", "op": "set", "key": "x", "value": "later"})
    assert h.run_until_condition(logs_converged, 3000)
    assert terms(c, "n5")[:3] == [1, 2, 4]  # S5's term-3 entry is gone, index 2 survived
    assert node(c, "n5").sm.data == {"x": "later"}
    assert violations(c) == {}


def test_figure8_commit_old_terms_loses_a_committed_entry_and_the_checker_says_so() -> None:
    h = figure8_c(commit_old_terms=True)
    c = h.cluster
    assert node(c, "n1").commit_index == 2  # the teaching mode counts old-term replicas
    figure8_d(h)
    assert leaders(c) == ["n5"]
    assert h.run_until_condition(lambda cl: terms(cl, "n2") == [1, 3], 1000)
    found = violations(c)
    assert found["Leader Completeness"]["indices"] == [2]
    assert "n5 became leader of term 5 without the committed entry at index 2" in (
        found["Leader Completeness"]["text"]
    )
    assert found["State Machine Safety"]["indices"] == [2]


# -------------------------------------------------------------------------- split brain


def split_brain(no_majority: bool) -> History:
    """Three nodes; n1 leads and is cut off alone; both sides are sent a write."""
    h = history(3, seed=2, settings={"no_majority": no_majority})
    c = h.cluster
    h.apply_json({"type": "timeout", "node": "n1"})
    assert h.run_until_condition(lambda cl: leaders(cl) == ["n1"], 500)
    h.run_for(100)
    h.apply_json({"type": "partition", "groups": [["n1"], ["n2", "n3"]]})
    h.apply_json({"type": "client", "op": "set", "key": "x", "value": "a", "node": "n1",
                  "client": "c1"})
    assert h.run_until_condition(lambda cl: bool(leaders(cl, ["n2", "n3"])), 2000)
    other = leaders(c, ["n2", "n3"])[0]
    h.apply_json({"type": "client", "op": "set", "key": "x", "value": "b", "node": other,
                  "client": "c2"})
    h.run_for(600)
    return h


def test_split_brain_without_majorities_commits_on_both_sides() -> None:
    h = split_brain(no_majority=True)
    c = h.cluster
    assert (op(c, "c1").status, op(c, "c1").node) == (Status.OK, "n1")  # "committed" alone
    assert op(c, "c2").status is Status.OK
    assert "SET x=a" in values(c, "n1") and "SET x=a" not in values(c, "n2")
    found = violations(c)
    assert "State Machine Safety" in found or "Election Safety" in found


def test_split_brain_script_in_safe_mode_commits_nothing_on_the_isolated_side() -> None:
    h = split_brain(no_majority=False)
    c = h.cluster
    n1 = node(c, "n1")
    assert n1.role is Role.LEADER  # it does not know; without CheckQuorum it stays leader
    assert n1.commit_index == 1  # only its term-1 no-op, committed before the partition
    assert values(c, "n1")[-1] == "SET x=a"  # accepted, never committed
    assert op(c, "c2").status is Status.OK
    assert violations(c) == {}


# -------------------------------------------------------------- partitioned old leader


def test_a_partitioned_old_leader_cannot_commit_and_is_overwritten_after_heal() -> None:
    h = history(5, seed=3)
    c = h.cluster
    assert h.run_until_condition(leader_exists, 2000)
    h.run_for(100)
    old = c.leader
    assert old is not None
    old_term = node(c, old).current_term
    buddy = next(n for n in c.node_ids if n != old)
    majority = [n for n in c.node_ids if n not in (old, buddy)]
    h.apply_json({"type": "partition", "groups": [[old, buddy], majority]})
    h.apply_json({"type": "client", "op": "set", "key": "x", "value": "old", "node": old,
                  "client": "c1"})
    h.apply_json({"type": "pause_client", "client": "c1"})  # no retries through the majority
    h.run_for(1000)
    old_commit = node(c, old).commit_index
    assert values(c, old)[-1] == "SET x=old"
    assert old_commit == node(c, old).log.last_index - 1  # its last entry never commits
    assert h.run_until_condition(lambda cl: bool(leaders(cl, majority)), 2000)
    new = leaders(c, majority)[0]
    assert node(c, new).current_term > old_term
    h.apply_json({"type": "client", "op": "set", "key": "x", "value": "new", "node": new,
                  "client": "c2"})
    assert h.run_until_condition(idle("c2"), 2000)
    assert op(c, "c2").status is Status.OK
    assert node(c, old).commit_index == old_commit
    h.apply_json({"type": "heal"})
    assert h.run_until_condition(logs_converged, 3000)
    assert node(c, old).role is Role.FOLLOWER
    assert leaders(c) == [new]
    for n in c.node_ids:
        assert "SET x=old" not in values(c, n), n
        assert node(c, n).sm.data == {"x": "new"}
    assert violations(c) == {}


# ------------------------------------------------------------------------ crash faults


def test_two_of_five_down_still_commit_three_down_stop_and_a_restart_resumes() -> None:
    h = history(5, seed=4, clients={"give_up_after": 1500.0})
    c = h.cluster
    assert h.run_until_condition(leader_exists, 2000)
    leader = c.leader
    assert leader is not None
    followers = [n for n in c.node_ids if n != leader]
    for n in followers[:2]:
        h.apply_json({"type": "crash", "node": n})
    h.apply_json({"type": "client", "op": "set", "key": "x", "value": "1", "node": leader,
                  "client": "c1"})
    assert h.run_until_condition(idle("c1"), 1000)
    assert op(c, "c1").status is Status.OK
    h.apply_json({"type": "crash", "node": followers[2]})
    h.apply_json({"type": "client", "op": "set", "key": "x", "value": "2", "node": leader,
                  "client": "c2"})
    h.run_for(100)
    index = node(c, leader).log.last_index
    assert values(c, leader)[-1] == "SET x=2"
    assert h.run_until_condition(idle("c2"), 3000)
    assert op(c, "c2").status is Status.UNKNOWN  # the client gave up; it may still commit
    assert node(c, leader).commit_index == index - 1
    h.apply_json({"type": "restart", "node": followers[0]})
    assert h.run_until_condition(lambda cl: node(cl, leader).commit_index >= index, 1000)
    h.apply_json({"type": "client", "op": "set", "key": "x", "value": "3", "client": "c3"})
    assert h.run_until_condition(idle("c3"), 2000)
    assert op(c, "c3").status is Status.OK
    assert node(c, leader).sm.data == {"x": "3"}
    assert violations(c) == {}


# --------------------------------------------------------------- CheckQuorum and PreVote


@pytest.mark.parametrize("check_quorum", [True, False])
def test_an_isolated_leader_steps_down_only_with_check_quorum(check_quorum: bool) -> None:
    h = history(5, seed=5, settings={"check_quorum": check_quorum})
    c = h.cluster
    assert h.run_until_condition(leader_exists, 2000)
    h.run_for(200)
    old = c.leader
    assert old is not None
    term = node(c, old).current_term
    h.apply_json({"type": "partition", "groups": [[old], [n for n in c.node_ids if n != old]]})
    start = c.now
    stepped = h.run_until_condition(lambda cl: node(cl, old).role is not Role.LEADER, 1000)
    assert stepped is check_quorum
    if check_quorum:
        # Within two quorum windows of losing touch, and without changing its term.
        assert c.now - start <= 2 * 150.0
        assert node(c, old).current_term == term
    assert violations(c) == {}


@pytest.mark.parametrize("check_quorum", [True, False])
def test_followers_of_a_live_leader_ignore_a_disruptive_candidate(check_quorum: bool) -> None:
    """Thesis 4.2.3: within an election timeout of hearing from the leader, a server neither
    adopts a RequestVote's newer term nor grants its vote."""
    h = history(5, seed=7, settings={"check_quorum": check_quorum})
    c = h.cluster
    assert h.run_until_condition(leader_exists, 2000)
    h.run_for(200)
    leader = c.leader
    assert leader is not None
    term = node(c, leader).current_term
    rogue = next(n for n in c.node_ids if n != leader)
    others = [n for n in c.node_ids if n not in (leader, rogue)]
    since = c.next_event_seq
    h.apply_json({"type": "timeout", "node": rogue})

    def delivered(cl: Cluster) -> bool:
        answered = {
            e.node for e in cl.narration
            if e.seq >= since and e.kind in ("vote", "vote_refused", "vote_ignored")
        }
        return answered >= set(others)

    assert h.run_until_condition(delivered, 100)
    if check_quorum:
        assert [node(c, n).current_term for n in others] == [term] * 3
        assert all(node(c, n).voted_for != rogue for n in others)
    else:
        assert [node(c, n).current_term for n in others] == [term + 1] * 3
    assert violations(c) == {}


@pytest.mark.parametrize("pre_vote", [True, False])
def test_a_rejoining_partitioned_node_disrupts_only_without_pre_vote(pre_vote: bool) -> None:
    h = history(5, seed=6, settings={"pre_vote": pre_vote})
    c = h.cluster
    assert h.run_until_condition(leader_exists, 2000)
    h.run_for(200)
    leader = c.leader
    assert leader is not None
    term = node(c, leader).current_term
    loner = next(n for n in c.node_ids if n != leader)
    h.apply_json({"type": "partition", "groups": [[loner], [n for n in c.node_ids if n != loner]]})
    h.run_for(2000)
    h.apply_json({"type": "heal"})
    h.run_for(1000)
    if pre_vote:
        assert node(c, loner).current_term == term  # its pre-votes never raised its term
        assert leaders(c) == [leader] and node(c, leader).current_term == term
        assert node(c, loner).leader_id == leader
    else:
        assert node(c, leader).current_term > term  # the loner's high term deposed it
        assert any(e.kind == "step_down" and e.node == leader for e in c.narration)
    assert violations(c) == {}


# ----------------------------------------------------------------------- lease reads


def stale_read_script(
    settings: dict[str, object],
    *,
    freeze_clock: bool = False,
    pause: bool = True,
    clock_rate: float | None = None,
    seed: int = 1,
) -> History:
    """c1 writes x=1 through leader L; L is cut off (and maybe paused); the rest elect a new
    leader and c2 writes x=2 there; then c3 reads x from L in lease mode.

    L is paused a few milliseconds before its CheckQuorum deadline, so on resuming it still
    counts the followers that answered before the partition and keeps leading for one more
    window; whether it answers the read then depends only on its lease.
    """
    h = history(5, seed=seed, settings={"check_quorum": True, **settings})
    c = h.cluster
    assert h.run_until_condition(leader_exists, 2000)
    old = c.leader
    assert old is not None
    rest = [n for n in c.node_ids if n != old]
    if clock_rate is not None:
        h.apply_json({"type": "clock", "node": old, "rate": clock_rate})
    h.apply_json({"type": "client", "op": "set", "key": "x", "value": "1", "node": old,
                  "client": "c1"})
    h.run_for(300)
    if pause:
        h.run_until(node(c, old).quorum_deadline - 5)  # L's clock runs at rate 1 here
    h.apply_json({"type": "partition", "groups": [[old], rest]})
    if pause:
        h.apply_json({"type": "pause", "node": old, "freeze_clock": freeze_clock})
    assert h.run_until_condition(lambda cl: bool(leaders(cl, rest)), 2000)
    new = leaders(c, rest)[0]
    h.apply_json({"type": "client", "op": "set", "key": "x", "value": "2", "node": new,
                  "client": "c2"})
    assert h.run_until_condition(idle("c2"), 2000)
    assert op(c, "c2").status is Status.OK
    if pause:
        h.apply_json({"type": "resume", "node": old})
    h.apply_json({"type": "client", "op": "get", "key": "x", "node": old, "client": "c3",
                  "read_mode": "lease"})
    assert h.run_until_condition(idle("c3"), 4000)
    return h


def test_safe_lease_expires_before_a_new_leader_can_commit() -> None:
    h = stale_read_script({})
    c = h.cluster
    read = op(c, "c3")
    assert (read.status, read.result and read.result.value) == (Status.OK, "2")
    assert read.node != op(c, "c1").node  # the old leader refused: its lease had run out
    assert violations(c) == {}


def test_frozen_clock_pause_gives_a_stale_lease_read() -> None:
    """A paused VM whose clock stopped believes its lease is still fresh (thesis 6.4)."""
    h = stale_read_script({}, freeze_clock=True)
    c = h.cluster
    read = op(c, "c3")
    assert (read.node, read.result and read.result.value) == (op(c, "c1").node, "1")
    assert "returned '1'" in violations(c)["Linearizability"]["text"]


def test_unsafe_lease_teaching_mode_gives_a_stale_read() -> None:
    h = stale_read_script({"unsafe_lease": True})
    c = h.cluster
    read = op(c, "c3")
    assert (read.node, read.result and read.result.value) == (op(c, "c1").node, "1")
    assert "Linearizability" in violations(c)


def test_a_leader_clock_slower_than_the_drift_bound_gives_a_stale_read() -> None:
    """At rate 0.1 L's 136 ms lease lasts 1360 ms of real time, longer than the others need
    to elect a new leader and commit x=2 (at rate 0.2 its 680 ms no longer always are: since a
    candidate that sees a newer term keeps its election timer, as Fig. 2 says, and every vote
    waits for an fsync, that election may take a few rounds)."""
    h = stale_read_script({"heartbeat_interval": 20.0}, pause=False, clock_rate=0.1)
    c = h.cluster
    read = op(c, "c3")
    assert (read.node, read.result and read.result.value) == (op(c, "c1").node, "1")
    assert "Linearizability" in violations(c)
    assert snapshot(c)["clock_beyond_bound"] == [op(c, "c1").node]


def test_forcing_a_timeout_inside_the_lease_gives_a_stale_read_and_is_flagged() -> None:
    """"Time out now" on a follower that still hears from its leader breaks the lease argument.

    The lease rests on every follower waiting a minimum election timeout after each heartbeat
    (thesis 4.2.3, 6.4). Forcing A's timer to fire early is, for the lease, the same fault as a
    clock beyond the drift bound: A votes for itself while it is inside L's lease, and B, cut
    off from L earlier, has no lease to respect. A wins and commits x=2 while L, holding a lease
    from A's last acknowledgement, still answers x=1. No teaching mode is on, so the snapshot
    flags the forced timeout itself (``forced_timeout_in_lease``) and the linearizability
    checker names the stale read.
    """
    h = history(3, seed=1, settings={"check_quorum": True, "pre_vote": True},
                network={"latency_min": 1.0, "latency_max": 2.0})
    c = h.cluster
    assert h.run_until_condition(leader_exists, 2000)
    old = c.leader
    assert old is not None
    a, b = [n for n in c.node_ids if n != old]
    h.apply_json({"type": "client", "op": "set", "key": "x", "value": "1", "node": old,
                  "client": "c1"})
    h.run_for(200)
    h.apply_json({"type": "cut", "src": old, "dst": b, "both": False})  # b stops hearing old
    h.run_for(600)
    assert node(c, b).current_term == node(c, old).current_term  # PreVote kept b's term
    # Act just after a ignored a pre-vote round of b: b's timer was just reset and its
    # requests are used up, so b cannot split the vote by campaigning at the same moment.
    since = c.next_event_seq
    assert h.run_until_condition(lambda cl: any(
        e.seq >= since and e.node == a and e.kind == "vote_ignored" for e in cl.narration), 400)
    h.apply_json({"type": "partition", "groups": [[old], [a, b]]})
    h.apply_json({"type": "timeout", "node": a})
    assert h.run_until_condition(lambda cl: leaders(cl, [a]) == [a], 100)
    h.apply_json({"type": "client", "op": "set", "key": "x", "value": "2", "node": a,
                  "client": "c2"})
    assert h.run_until_condition(idle("c2"), 200)
    h.apply_json({"type": "client", "op": "get", "key": "x", "node": old, "client": "c3",
                  "read_mode": "lease"})
    assert h.run_until_condition(idle("c3"), 200)
    read = op(c, "c3")
    assert (read.node, read.result and read.result.value) == (old, "1")
    assert "Linearizability" in violations(c)
    assert snapshot(c)["teaching_modes"] == ["forced_timeout_in_lease"]
    assert snapshot(c)["lease_breakers"] == [a]


def test_lease_and_read_index_reads_stay_linearizable_through_faults() -> None:
    h = history(5, seed=8, settings={"check_quorum": True})
    c = h.cluster
    assert h.run_until_condition(leader_exists, 2000)
    h.apply_json({"type": "workload", "rate": 80.0, "read_ratio": 0.6, "keys": 2,
                  "read_mode": "lease"})
    h.run_for(800)
    old = c.leader
    assert old is not None
    h.apply_json({"type": "partition", "groups": [[old], [n for n in c.node_ids if n != old]]})
    h.run_for(1000)
    h.apply_json({"type": "heal"})
    h.apply_json({"type": "settings", "changes": {}})
    h.apply_json({"type": "workload", "rate": 80.0, "read_ratio": 0.6, "keys": 2,
                  "read_mode": "read_index"})
    h.run_for(800)
    h.apply_json({"type": "pause", "node": c.leader or "n1"})
    h.run_for(600)
    h.apply_json({"type": "workload", "rate": 0.0})
    h.run_for(3500)
    reads = [r for r in c.ops if r.command.op.value == "get" and r.status is Status.OK]
    assert len(reads) > 20
    assert violations(c) == {}


# ----------------------------------------------------------------------- determinism


def busy(seed: int) -> History:
    h = history(5, seed=seed)
    h.run_until(500)
    h.apply_json({"type": "client", "op": "set", "key": "x", "value": "1"})
    h.apply_json({"type": "network", "latency_min": 5.0, "latency_max": 40.0, "drop": 0.1,
                  "duplicate": 0.1})
    h.run_for(400)
    h.apply_json({"type": "partition", "groups": [["n1", "n2"], ["n3", "n4", "n5"]]})
    h.apply_json({"type": "client", "op": "cas", "key": "x", "value": "2", "expected": "1"})
    h.run_for(700)
    h.apply_json({"type": "heal"})
    h.apply_json({"type": "crash", "node": "n3"})
    h.run_for(500)
    h.apply_json({"type": "restart", "node": "n3"})
    h.run_for(500)
    return h


def test_same_config_and_commands_give_the_same_transcript_and_snapshot() -> None:
    a, b = busy(seed=9), busy(seed=9)
    assert transcript(a) == transcript(b)
    assert len(transcript(a)) > 50
    assert json.dumps(snapshot(a.cluster)) == json.dumps(snapshot(b.cluster))


def test_a_different_seed_gives_a_different_run() -> None:
    a, b = busy(seed=9), busy(seed=10)
    assert transcript(a) != transcript(b)
    assert json.dumps(snapshot(a.cluster)) != json.dumps(snapshot(b.cluster))


# ------------------------------------------------- issue 11: PreVote after a lost election


def test_a_candidate_cut_off_mid_election_keeps_its_term_and_the_leader_survives() -> None:
    """Thesis 9.6: every timeout goes through a pre-vote, a candidate's too (etcd's
    PreCandidate). n1 becomes a candidate after the leader crashes and is then cut off; without
    the fix it raised its term at every timeout (2 -> 14) and deposed the healthy leader when
    the network healed."""
    h = History(config_from_json({"size": 3, "seed": 1, "settings": {"pre_vote": True}}))
    c = h.cluster
    h.run_for(1000)
    first = c.leader
    assert first is not None
    h.apply_json({"type": "crash", "node": first})
    others = [n for n in c.node_ids if n != first]
    assert h.run_until_condition(
        lambda cl: any(node(cl, n).role is Role.CANDIDATE for n in others), 5000
    )
    cand = next(n for n in others if node(c, n).role is Role.CANDIDATE)
    cand_term = node(c, cand).current_term
    for y in c.node_ids:
        if y != cand:
            h.apply_json({"type": "cut", "src": cand, "dst": y})
    h.run_for(3000)
    assert node(c, cand).current_term == cand_term  # pre-votes only, no real elections
    assert node(c, cand).role is Role.PRE_CANDIDATE
    h.apply_json({"type": "restart", "node": first})
    h.run_for(3000)
    healthy = c.leader
    assert healthy is not None and healthy != cand
    term = node(c, healthy).current_term
    h.apply_json({"type": "heal"})
    h.run_for(1000)
    assert leaders(c) == [healthy] and node(c, healthy).current_term == term
    assert node(c, cand).leader_id == healthy
    assert not any(e.kind == "step_down" and e.node == healthy for e in c.narration)
    assert violations(c) == {}


def test_the_same_cut_off_candidate_deposes_the_leader_without_pre_vote() -> None:
    h = History(config_from_json({"size": 3, "seed": 1}))
    c = h.cluster
    h.run_for(1000)
    first = c.leader
    assert first is not None
    h.apply_json({"type": "crash", "node": first})
    others = [n for n in c.node_ids if n != first]
    assert h.run_until_condition(
        lambda cl: any(node(cl, n).role is Role.CANDIDATE for n in others), 5000
    )
    cand = next(n for n in others if node(c, n).role is Role.CANDIDATE)
    for y in c.node_ids:
        if y != cand:
            h.apply_json({"type": "cut", "src": cand, "dst": y})
    h.run_for(3000)
    h.apply_json({"type": "restart", "node": first})
    h.run_for(3000)
    healthy = c.leader
    assert healthy is not None
    h.apply_json({"type": "heal"})
    h.run_for(1000)
    assert any(e.kind == "step_down" and e.node == healthy for e in c.narration)


# ---------------------------------------------------- issue 11: log back-up (paper 5.3)


def catch_up_time(settings: dict[str, object]) -> float:
    """Simulated ms for an empty follower to receive a 300-entry log from a new leader."""
    h = history(3, seed=1, initial={"n1": [1] * 300, "n2": [1] * 300}, terms={"n3": 1},
                settings=settings)
    h.apply_json({"type": "timeout", "node": "n1"})
    assert h.run_until_condition(lambda c: c.leader == "n1", 2000)
    start = h.now
    assert h.run_until_condition(logs_converged, 20000)
    assert terms(h.cluster, "n3") == [1] * 300 + [2]
    return h.now - start


def test_a_300_entry_gap_catches_up_in_under_half_a_second_by_default() -> None:
    assert catch_up_time({}) < 500


def test_one_by_one_back_up_pays_a_round_trip_per_entry() -> None:
    assert catch_up_time({"fast_backup": False}) > 20 * catch_up_time({})
