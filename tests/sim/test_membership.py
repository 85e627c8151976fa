"""Membership changes and leadership transfer in a running cluster, driven by user commands.

The scenarios follow the thesis: adding a server (4.2.1, learner first), removing the leader
(4.2.2), disruptive removed servers (4.2.3), joint consensus (paper section 6), the
single-server change bug and its fix (4.1), and leadership transfer (3.10).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from raftviz.core.membership import Configuration
from raftviz.core.raft import Role
from raftviz.sim.engine.cluster import Cluster, CommandError
from raftviz.sim.history import History, leader_exists, logs_converged
from raftviz.sim.snapshot import snapshot
from tests.sim.scenario_utils import history, node, violations


def cfg(*voters: str) -> Configuration:
    return Configuration(frozenset(voters))


def led_by(name: str) -> Callable[[Cluster], bool]:
    return lambda c: c.leader == name


def started(size: int, settings: dict[str, Any] | None = None, seed: int = 3) -> History:
    """A cluster whose n1 leads and has committed its no-op."""
    h = history(size, seed=seed, settings=settings)
    h.apply_json({"type": "timeout", "node": "n1"})
    assert h.run_until_condition(led_by("n1"), 2000)
    assert h.run_until_condition(lambda c: node(c, "n1").commit_index >= 1, 2000)
    return h


def configs(c: Cluster) -> dict[str, Configuration]:
    return {n: node(c, n).config for n in c.hosts if c.hosts[n].node is not None}


# ------------------------------------------------------------------------- adding


def test_a_new_server_joins_as_a_learner_then_becomes_a_voter() -> None:
    h = started(3)
    c = h.cluster
    h.apply_json({"type": "client", "op": "set", "key": "x", "value": "1"})
    h.run_for(200)
    h.apply_json({"type": "add_server"})
    assert list(c.hosts) == ["n1", "n2", "n3", "n4"]
    frame = snapshot(c)
    assert frame["nodes"][3]["membership"] == "learner"
    assert frame["nodes"][0]["config"]["learner"] == "n4"
    four = cfg("n1", "n2", "n3", "n4")
    assert h.run_until_condition(lambda c: set(configs(c).values()) == {four}, 2000)
    assert h.run_until_condition(logs_converged, 2000)
    assert node(c, "n4").sm.data == {"x": "1"}
    frame = snapshot(c)
    assert [n["membership"] for n in frame["nodes"]] == ["voter"] * 4
    assert frame["nodes"][0]["config"]["majorities"] == [
        {"name": "new", "voters": ["n1", "n2", "n3", "n4"], "needed": 3}
    ]
    assert violations(c) == {}


def test_adding_a_tenth_server_is_refused_and_changes_nothing() -> None:
    h = started(9)
    before = snapshot(h.cluster)
    with pytest.raises(CommandError, match="already has 9 servers"):
        h.apply_json({"type": "add_server"})
    assert snapshot(h.cluster) == before


@pytest.mark.parametrize(
    ("command", "error"),
    [
        ({"type": "remove_server", "node": "n1"}, "last voter"),
        ({"type": "remove_server", "node": "n7"}, "unknown node 'n7'"),
        ({"type": "transfer_leadership", "node": "n1"}, "already the leader"),
        ({"type": "add_server", "node": "n1"}, "already a voter"),
    ],
)
def test_bad_membership_commands_change_nothing(command: dict[str, Any], error: str) -> None:
    h = started(1)
    before = snapshot(h.cluster)
    with pytest.raises(CommandError, match=error):
        h.apply_json(command)
    assert snapshot(h.cluster) == before


def test_transferring_to_a_crashed_server_is_refused() -> None:
    h = started(3)
    h.apply_json({"type": "crash", "node": "n3"})
    before = snapshot(h.cluster)
    with pytest.raises(CommandError, match="n3 is down"):
        h.apply_json({"type": "transfer_leadership", "node": "n3"})
    assert snapshot(h.cluster) == before


def test_changes_need_a_leader() -> None:
    h = history(3, seed=3)
    with pytest.raises(CommandError, match="no leader"):
        h.apply_json({"type": "remove_server", "node": "n2"})


# ------------------------------------------------------------------------ removing


def test_removing_the_leader_hands_the_cluster_to_the_others() -> None:
    """Thesis 4.2.2: the leader commits its removal, steps down, and never campaigns again."""
    h = started(3)
    c = h.cluster
    h.apply_json({"type": "remove_server", "node": "n1"})
    assert node(c, "n1").role is Role.LEADER  # it manages the cluster until C_new commits
    assert h.run_until_condition(lambda c: node(c, "n1").role is Role.FOLLOWER, 2000)
    assert h.run_until_condition(lambda c: c.leader in ("n2", "n3"), 3000)
    h.run_for(3000)
    assert c.leader in ("n2", "n3") and node(c, "n1").role is Role.FOLLOWER
    assert configs(c)["n2"] == cfg("n2", "n3")
    h.apply_json({"type": "client", "op": "set", "key": "y", "value": "2"})
    h.run_for(500)
    assert node(c, "n2").sm.data == {"y": "2"} and "y" not in node(c, "n1").sm.data
    assert snapshot(c)["nodes"][0]["membership"] == "removed"
    assert violations(c) == {}


@pytest.mark.parametrize("guard", [None, "pre_vote", "check_quorum"])
def test_a_removed_server_disrupts_the_cluster_unless_prevote_or_checkquorum(
    guard: str | None,
) -> None:
    """Thesis 4.2.3: n3 never learns it was removed; it times out and campaigns."""
    h = started(3, settings={guard: True} if guard else None)
    c = h.cluster
    h.apply_json({"type": "partition", "groups": [["n1", "n2"], ["n3"]]})
    h.apply_json({"type": "remove_server", "node": "n3"})
    assert h.run_until_condition(lambda c: node(c, "n1").commit_index == 2, 1000)
    h.apply_json({"type": "heal"})
    term = node(c, "n1").current_term
    h.run_for(3000)
    assert configs(c)["n3"] == cfg("n1", "n2", "n3")  # it still thinks it belongs
    disrupted = node(c, "n1").current_term > term
    assert disrupted is (guard is None)
    assert violations(c) == {}


# ----------------------------------------------------------------- joint consensus


def test_joint_consensus_replaces_two_servers_through_c_old_new() -> None:
    h = started(3, settings={"joint_consensus": True})
    c = h.cluster
    h.apply_json({"type": "add_server"})
    n1 = node(c, "n1")
    assert h.run_until_condition(
        lambda c: n1.config == cfg("n1", "n2", "n3", "n4")
        and n1.commit_index >= n1.configs.latest_index,
        2000,
    )
    texts = [e.text for e in c.narration if e.kind in ("config", "config_committed")]
    assert any("C_old,new {n1,n2,n3} + {n1,n2,n3,n4}" in t for t in texts)
    h.apply_json({"type": "remove_server", "node": "n1"})
    joint = snapshot(c)["nodes"][0]["config"]
    assert joint["joint"] is True and [m["name"] for m in joint["majorities"]] == ["old", "new"]
    assert h.run_until_condition(lambda c: c.leader in ("n2", "n3", "n4"), 3000)
    new = cfg("n2", "n3", "n4")
    assert h.run_until_condition(lambda c: all(configs(c)[n] == new for n in new.voters), 3000)
    assert node(c, "n1").role is Role.FOLLOWER and c.leader in new.voters
    assert violations(c) == {}


# ---------------------------------------------------------- the single-server bug


def bug_run(unsafe: bool) -> tuple[History, str | None]:
    """The 2015 single-server change bug, step by step (see the membership lesson).

    C = {n1..n4}. n1 (term 1) adds n5: C1 = {n1..n5} reaches only n5. n2 wins term 2 in C and,
    before committing anything of its own term, removes n1: C2 = {n2,n3,n4} commits on n2, n3.
    Then n1 wins term 3 with n4, n5 (3 of C1), and n3 wins term 3 with n2 (2 of C2).
    Returns the run and the refusal, if the leader refused the second change.
    """
    h = started(4, settings={"unsafe_config_change": unsafe})
    c = h.cluster
    h.apply_json({"type": "add_server"})
    h.apply_json({"type": "partition", "groups": [["n1", "n5"], ["n2", "n3", "n4"]]})
    assert h.run_until_condition(lambda c: node(c, "n5").config == node(c, "n1").config
                                 == cfg("n1", "n2", "n3", "n4", "n5"), 2000)
    h.apply_json({"type": "timeout", "node": "n2"})
    assert h.run_until_condition(lambda c: node(c, "n2").role is Role.LEADER, 2000)
    h.apply_json({"type": "cut", "src": "n2", "dst": "n4"})
    try:
        h.apply_json({"type": "remove_server", "node": "n1"})
    except CommandError as refused:
        return h, str(refused)
    assert h.run_until_condition(lambda c: node(c, "n3").config == cfg("n2", "n3", "n4"), 1000)
    h.run_for(200)
    h.apply_json({"type": "partition", "groups": [["n1", "n4", "n5"], ["n2", "n3"]]})
    h.apply_json({"type": "restore", "src": "n2", "dst": "n4"})
    for _ in range(3):
        h.apply_json({"type": "timeout", "node": "n1"})
        h.run_for(60)
    for _ in range(3):
        if node(c, "n3").current_term >= node(c, "n1").current_term:
            break
        h.apply_json({"type": "timeout", "node": "n3"})
        h.run_for(60)
    return h, None


def test_the_unsafe_mode_reproduces_two_leaders_of_one_term() -> None:
    h, refused = bug_run(unsafe=True)
    c = h.cluster
    assert refused is None
    both = [n for n in ("n1", "n3") if node(c, n).role is Role.LEADER]
    assert both == ["n1", "n3"] and node(c, "n1").current_term == node(c, "n3").current_term
    found = violations(c)
    assert found["Election Safety"]["nodes"] == ["n1", "n3"]
    assert "share no server" in found["Configuration Overlap"]["text"]
    assert "unsafe_config_change" in snapshot(c)["teaching_modes"]


def test_the_fix_refuses_the_change_until_the_new_leader_commits_in_its_term() -> None:
    h, refused = bug_run(unsafe=False)
    assert refused is not None and "own term 2" in refused
    c = h.cluster
    h.apply_json({"type": "restore", "src": "n2", "dst": "n4"})
    assert h.run_until_condition(lambda c: node(c, "n2").commit_index >= 2, 1000)
    h.apply_json({"type": "remove_server", "node": "n1"})  # now allowed
    h.run_for(300)
    h.apply_json({"type": "partition", "groups": [["n1", "n4", "n5"], ["n2", "n3"]]})
    for _ in range(3):
        h.apply_json({"type": "timeout", "node": "n1"})
        h.run_for(60)
    assert node(c, "n1").role is not Role.LEADER  # n4 has term 2 entries: it refuses n1
    assert violations(c) == {}


# ------------------------------------------------------------ leadership transfer


def test_leadership_transfer_hands_over_without_waiting_for_a_timeout() -> None:
    h = started(5)
    c = h.cluster
    h.apply_json({"type": "transfer_leadership", "node": "n4"})
    assert h.run_until_condition(led_by("n4"), 200)
    kinds = [e.kind for e in c.narration]
    assert "transfer" in kinds and "transfer_aborted" not in kinds
    assert node(c, "n4").current_term == 2 and violations(c) == {}


def test_a_transfer_to_an_unreachable_server_is_aborted_and_writes_resume() -> None:
    h = started(5)
    c = h.cluster
    h.apply_json({"type": "partition", "groups": [["n1", "n2", "n3", "n5"], ["n4"]]})
    h.apply_json({"type": "transfer_leadership", "node": "n4"})
    assert snapshot(c)["nodes"][0]["leader_state"]["transfer_to"] == "n4"
    assert h.run_until_condition(
        lambda c: any(e.kind == "transfer_aborted" for e in c.narration), 1000
    )
    assert c.leader == "n1"
    h.apply_json({"type": "client", "op": "set", "key": "x", "value": "1"})
    h.run_for(300)
    assert node(c, "n1").sm.data == {"x": "1"}


def test_membership_runs_replay_identically() -> None:
    h = started(3)
    h.apply_json({"type": "add_server"})
    h.run_for(400)
    h.apply_json({"type": "transfer_leadership", "node": "n4"})
    h.run_for(400)
    end = snapshot(h.cluster)
    h.seek(0)
    h.seek(end["time"])
    assert snapshot(h.cluster)["nodes"] == end["nodes"]
    assert leader_exists(h.cluster)


def test_a_leader_removing_itself_behind_a_one_way_cut_does_not_deadlock() -> None:
    """Found by the stateful test: the removed leader must keep campaigning until C_new commits.

    n-leader appends C_new = {other} but cannot reach the other server. The other, still in
    the old configuration, needs the old leader's vote, which its shorter log cannot get; only
    the old leader (whose log holds C_new) can win, and it must be allowed to try.
    """
    h = started(2)
    c = h.cluster
    h.apply_json({"type": "remove_server", "node": "n1"})
    h.apply_json({"type": "cut", "src": "n1", "dst": "n2", "both": False})
    h.run_for(250)
    h.apply_json({"type": "heal"})
    assert h.run_until_condition(lambda c: configs(c)["n2"] == cfg("n2") and c.leader == "n2",
                                 5000)
    assert violations(c) == {}
