"""Membership changes (thesis chapter 4, paper section 6) and leadership transfer (thesis 3.10).

h11 style, like test_raft_handlers: build a node in a stated situation, give it one input, and
assert its whole resulting configuration, role and the exact messages it sent. Refused changes
must leave everything as it was.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from raftviz.core.membership import ConfigHistory, Configuration, MembershipError
from raftviz.core.messages import (
    AppendEntries,
    AppendEntriesReply,
    ClientReply,
    ClientRequest,
    Command,
    LogEntry,
    Op,
    RequestVote,
    RequestVoteReply,
    TimeoutNow,
)
from raftviz.core.raft import CATCH_UP_ROUNDS, RaftNode, Role
from tests.core.test_raft_handlers import BASE, ET_MIN, THREE, e, kinds, make_leader, make_node

FOUR = ("n1", "n2", "n3", "n4")


def cfg(*voters: str, old: tuple[str, ...] | None = None) -> Configuration:
    return Configuration(frozenset(voters), frozenset(old) if old is not None else None)


def config_entry(term: int, config: Configuration) -> LogEntry:
    return LogEntry(term, Command(Op.CONFIG, config=config))


def ack(node: RaftNode, peer: str, now: float = 1.0, match: int | None = None) -> None:
    """``peer`` acknowledges everything up to ``match`` (default: the leader's whole log)."""
    index = node.log.last_index if match is None else match
    node.step(AppendEntriesReply(peer, node.id, node.current_term, True, match_index=index), now)


def committed_leader(peers: tuple[str, ...] = THREE, **settings: object) -> RaftNode:
    """Leader of term 1 whose no-op is committed (so it may change the configuration)."""
    node = make_leader(peers=peers, settings=replace(BASE, **settings))  # type: ignore[arg-type]
    for peer in peers[1:]:
        ack(node, peer, 0.0)
    assert node.commit_index == 1
    return node


def appends_to(out_messages: tuple[object, ...]) -> list[str]:
    return sorted(m.dst for m in out_messages if isinstance(m, AppendEntries))


# --------------------------------------------------------------------- majorities


def test_a_configuration_counts_a_majority_of_its_voters() -> None:
    c = cfg("n1", "n2", "n3", "n4")
    assert c.has_quorum({"n1", "n2", "n3"}) and not c.has_quorum({"n1", "n2", "n9"})
    assert c.agreed({"n1": 9, "n2": 7, "n3": 5, "n4": 1, "n9": 99}) == 5


def test_joint_consensus_needs_majorities_of_both_old_and_new() -> None:
    """Paper section 6: during C_old,new every decision needs both majorities."""
    c = cfg("n3", "n4", "n5", old=("n1", "n2", "n3"))
    assert c.members == {"n1", "n2", "n3", "n4", "n5"}
    assert not c.has_quorum({"n1", "n2", "n3"})  # the old majority alone is not enough
    assert not c.has_quorum({"n3", "n4", "n5"})  # nor the new one alone
    assert c.has_quorum({"n2", "n3", "n4"})
    # The new voters agree on 6, the old ones only on 4: the lower one counts.
    assert c.agreed({"n1": 8, "n2": 3, "n3": 4, "n4": 6, "n5": 6}) == 4
    assert [m["needed"] for m in c.majorities()] == [2, 2]


def test_config_history_falls_back_when_its_entry_is_truncated() -> None:
    h = ConfigHistory(cfg("n1", "n2", "n3"), [(2, cfg("n1", "n2"))])
    h.appended(5, cfg("n1"))
    assert h.latest == cfg("n1") and h.latest_index == 5
    assert h.truncated_from(4) and h.latest == cfg("n1", "n2")
    assert not h.truncated_from(4)
    assert h.truncated_from(1) and h.latest == cfg("n1", "n2", "n3") and h.latest_index == 0


# ------------------------------------------------------------- single-server add


def test_add_server_first_catches_the_new_server_up_as_a_learner() -> None:
    """Thesis 4.2.1: the new server receives entries but does not count yet."""
    node = committed_leader()
    out = node.add_server("n4", 10.0)
    assert node.config == cfg(*THREE)  # no configuration entry yet
    assert node.catch_up is not None and node.catch_up.server == "n4"
    assert node.peers == ("n2", "n3", "n4")
    assert out.messages == (AppendEntries("n1", "n4", 1, 1, 1, (), 1, node.seq),)
    assert kinds(out) == ["learner"]
    assert node.log.last_index == 1  # nothing appended


def test_a_learner_that_finishes_a_round_within_an_election_timeout_becomes_a_voter() -> None:
    """Thesis 4.2.1 and 4.1: the C+n4 entry is appended and counts at once, before commit."""
    node = committed_leader()
    node.add_server("n4", 10.0)
    node.step(AppendEntriesReply("n4", "n1", 1, False, reject_index=1, conflict_index=1), 12.0)
    out = node.step(AppendEntriesReply("n4", "n1", 1, True, match_index=1), 20.0)
    assert node.catch_up is None
    assert node.config == cfg("n1", "n2", "n3", "n4")
    assert node.log.entry(2).command.config == cfg("n1", "n2", "n3", "n4")
    assert node.commit_index == 1  # in force although not committed
    assert appends_to(out.messages) == ["n2", "n3", "n4"]
    assert kinds(out) == ["learner_ready", "config"]
    # A majority of the NEW configuration (3 of 4) is needed to commit it.
    ack(node, "n2", 21.0)
    assert node.commit_index == 1
    ack(node, "n4", 22.0)
    assert node.commit_index == 2


def test_a_slow_learner_gets_another_round() -> None:
    """Thesis 4.2.1: a round longer than an election timeout starts a new round."""
    node = committed_leader()
    node.add_server("n4", 0.0)
    node.step(ClientRequest("c1", "n1", 0, 1, Command(Op.SET, "x", "1")), ET_MIN)
    out = node.step(AppendEntriesReply("n4", "n1", 1, True, match_index=1), ET_MIN + 10)
    assert node.catch_up is not None and node.catch_up.round == 2
    assert node.catch_up.round_end == 2
    assert node.config == cfg(*THREE) and kinds(out) == ["learner"]


def test_a_learner_that_never_answers_is_given_up() -> None:
    node = committed_leader()
    node.add_server("n4", 0.0)
    limit = CATCH_UP_ROUNDS * BASE.election_timeout_max
    t = 0.0
    while node.catch_up is not None and t < limit + 200:
        t += BASE.heartbeat_interval
        out = node.tick(t)
    assert node.catch_up is None and "catch_up_aborted" in kinds(out)
    assert node.peers == ("n2", "n3") and node.config == cfg(*THREE)


@pytest.mark.parametrize(
    ("setup", "error"),
    [
        ("follower", "not the leader"),
        ("uncommitted_term", "has not yet committed an entry of its own term"),
        ("pending", "is not committed yet"),
        ("learner", "still catching up"),
        ("member", "already a voter"),
    ],
)
def test_refused_changes_change_nothing(setup: str, error: str) -> None:
    """Thesis 4.1: one change at a time, only by a leader that committed in its term."""
    if setup == "follower":
        node = make_node()
    elif setup == "uncommitted_term":
        node = make_leader()
    else:
        node = committed_leader()
        if setup == "pending":
            node.remove_server("n3", 1.0)
        elif setup == "learner":
            node.add_server("n5", 1.0)
    before = (node.log.last_index, node.config, node.catch_up, node.peers, node.role)
    with pytest.raises(MembershipError, match=error):
        node.add_server("n2" if setup == "member" else "n4", 2.0)
    assert (node.log.last_index, node.config, node.catch_up, node.peers, node.role) == before


def test_the_teaching_mode_lets_a_new_leader_change_before_committing_in_its_term() -> None:
    node = make_leader(settings=replace(BASE, unsafe_config_change=True))
    assert node.commit_index == 0
    node.remove_server("n3", 1.0)
    assert node.config == cfg("n1", "n2")
    assert "unsafe_config_change" in node.settings.teaching_modes()


# ------------------------------------------------------------------ removal


def test_removing_a_follower_stops_replication_to_it() -> None:
    """Thesis 4.2.3: once C_new is in the leader's log it no longer sends to the removed one."""
    node = committed_leader()
    out = node.remove_server("n3", 5.0)
    assert node.config == cfg("n1", "n2") and node.peers == ("n2",)
    assert appends_to(out.messages) == ["n2"]
    assert "n3" not in node.next_index and "n3" not in node.match_index
    ack(node, "n2", 6.0)
    assert node.commit_index == 2
    # A late reply from the removed server is ignored.
    late = node.step(AppendEntriesReply("n3", "n1", 1, True, match_index=2), 7.0)
    assert late.messages == () and node.commit_index == 2


def test_a_removed_leader_steps_down_after_committing_its_removal() -> None:
    """Thesis 4.2.2: it manages the cluster without counting itself until C_new commits."""
    node = committed_leader()
    node.remove_server("n1", 5.0)
    assert node.role is Role.LEADER and node.config == cfg("n2", "n3")
    ack(node, "n2", 6.0)  # n1's own copy does not count: 1 of {n2, n3} is not a majority
    assert node.role is Role.LEADER and node.commit_index == 1
    out = node.step(AppendEntriesReply("n3", "n1", 1, True, match_index=2), 7.0)
    assert node.commit_index == 2 and node.role is Role.FOLLOWER
    assert kinds(out)[-2:] == ["config_committed", "step_down"]
    assert appends_to(out.messages) == ["n2", "n3"]  # the final commit index goes out
    assert node.next_wakeup() == float("inf")  # it is not a voter: it never campaigns
    assert kinds(node.timeout_now(8.0)) == ["not_voter"] and node.current_term == 1


def test_removing_the_last_voter_is_refused() -> None:
    node = committed_leader(peers=("n1",))
    with pytest.raises(MembershipError, match="last voter"):
        node.remove_server("n1", 1.0)


def test_a_follower_adopts_a_configuration_when_it_appends_it() -> None:
    """Thesis 4.1: a server uses the latest configuration in its log, committed or not."""
    node = make_node([e(1)], term=1)
    entry = config_entry(1, cfg("n1", "n2"))
    node.step(AppendEntries("n2", "n1", 1, 1, 1, (entry,), 1), 10.0)
    assert node.config == cfg("n1", "n2") and node.commit_index == 1
    assert node.peers == ("n2",)
    # A leader of a newer term overwrites the uncommitted entry: the old configuration returns.
    node.step(AppendEntries("n3", "n1", 2, 1, 1, (e(2),), 1), 20.0)
    assert node.config == cfg(*THREE) and node.peers == ("n2", "n3")


def test_a_restarted_server_rebuilds_its_configuration_from_its_log() -> None:
    node = make_node([e(1), config_entry(1, cfg("n1", "n2")), e(1)], term=1)
    assert node.config == cfg("n1", "n2") and node.configs.latest_index == 2
    again = RaftNode("n1", THREE, BASE, node.rng, 0.0, node.persistent_state())
    assert again.config == node.config


# ---------------------------------------------------------------- joint consensus


def test_joint_consensus_goes_through_c_old_new_then_c_new() -> None:
    """Paper section 6: C_old,new commits with both majorities, then the leader appends C_new."""
    node = committed_leader(peers=FOUR, joint_consensus=True)
    node.remove_server("n4", 1.0)
    assert node.config == cfg("n1", "n2", "n3", old=FOUR)
    ack(node, "n4", 2.0)  # {n1, n4}: a majority of neither
    assert node.commit_index == 1
    ack(node, "n2", 3.0)  # {n1, n2, n4}: 3 of 4 old and {n1, n2}: 2 of 3 new
    assert node.commit_index == 2
    assert node.config == cfg("n1", "n2", "n3")  # C_new appended right after C_old,new committed
    assert node.log.last_index == 3 and "n4" not in node.peers
    ack(node, "n3", 4.0)
    assert node.commit_index == 3


def test_joint_consensus_does_not_commit_with_only_the_new_majority() -> None:
    node = committed_leader(peers=THREE, joint_consensus=True)
    node.add_server("n4", 0.0)
    node.step(AppendEntriesReply("n4", "n1", 1, True, match_index=1), 1.0)
    assert node.config == cfg("n1", "n2", "n3", "n4", old=THREE)
    ack(node, "n4", 2.0)  # new: {n1, n4} of 4 is not a majority; old: {n1} of 3 neither
    assert node.commit_index == 1
    ack(node, "n2", 3.0)  # old {n1, n2}, new {n1, n2, n4}: both majorities
    assert node.commit_index == 2 and node.config == cfg("n1", "n2", "n3", "n4")


# ------------------------------------------------------------ leadership transfer


def test_transfer_to_a_current_target_sends_timeout_now_at_once() -> None:
    node = committed_leader()
    out = node.transfer_leadership("n2", 5.0)
    assert out.messages == (TimeoutNow("n1", "n2", 1),)
    assert node.transfer_target == "n2" and node.role is Role.LEADER


def test_transfer_brings_a_lagging_target_up_to_date_first() -> None:
    """Thesis 3.10: replicate to the target, then TimeoutNow once its log matches."""
    node = make_leader()
    ack(node, "n3", 0.0)
    out = node.transfer_leadership("n2", 5.0)
    assert [type(m) for m in out.messages] == [AppendEntries]
    out = node.step(AppendEntriesReply("n2", "n1", 1, True, match_index=1), 6.0)
    assert TimeoutNow("n1", "n2", 1) in out.messages


def test_a_transferring_leader_refuses_new_requests() -> None:
    node = committed_leader()
    node.transfer_leadership("n2", 5.0)
    out = node.step(ClientRequest("c1", "n1", 0, 1, Command(Op.SET, "x", "1")), 6.0)
    assert out.messages == (
        ClientReply("n1", "c1", 0, 1, False, error="leadership transfer to n2 in progress",
                    leader_hint="n2"),
    )
    assert node.log.last_index == 1


def test_a_transfer_that_does_not_finish_in_an_election_timeout_is_aborted() -> None:
    node = committed_leader()
    node.transfer_leadership("n2", 5.0)
    deadline = 5.0 + BASE.election_timeout_max
    assert node.next_wakeup() <= deadline
    out = node.tick(deadline)
    assert "transfer_aborted" in kinds(out) and node.transfer_target is None
    assert node.role is Role.LEADER
    node.step(ClientRequest("c1", "n1", 0, 1, Command(Op.SET, "x", "1")), deadline + 1)
    assert node.log.last_index == 2  # it takes writes again


def test_timeout_now_starts_an_election_at_once_skipping_pre_vote() -> None:
    """Thesis 3.10: the target campaigns at once, and its RequestVote passes leases."""
    node = make_node([e(1)], term=1, settings=replace(BASE, pre_vote=True, check_quorum=True))
    out = node.step(TimeoutNow("n2", "n1", 1), 10.0)
    assert node.role is Role.CANDIDATE and node.current_term == 2
    assert out.messages == (
        RequestVote("n1", "n2", 2, 1, 1, transfer=True),
        RequestVote("n1", "n3", 2, 1, 1, transfer=True),
    )
    voter = make_node([e(1)], term=1, settings=replace(BASE, check_quorum=True), node_id="n3")
    voter.step(AppendEntries("n2", "n3", 1, 1, 1, (), 1), 20.0)  # inside n2's lease now
    reply = voter.step(out.messages[1], 21.0)
    assert reply.messages == (RequestVoteReply("n3", "n1", 2, True),)
    plain = voter.step(RequestVote("n1", "n3", 3, 1, 1), 22.0)  # no transfer: ignored
    assert plain.messages == () and voter.current_term == 2


def test_a_stale_timeout_now_is_ignored() -> None:
    node = make_node([e(1)], term=3)
    out = node.step(TimeoutNow("n2", "n1", 2), 10.0)
    assert out.messages == () and node.current_term == 3 and node.role is Role.FOLLOWER


@pytest.mark.parametrize(
    ("target", "error"), [("n1", "already the leader"), ("n7", "not a voter")]
)
def test_bad_transfer_targets_are_refused(target: str, error: str) -> None:
    node = committed_leader()
    with pytest.raises(MembershipError, match=error):
        node.transfer_leadership(target, 1.0)
    assert node.transfer_target is None


def test_the_old_leader_steps_down_when_the_target_campaigns() -> None:
    node = committed_leader()
    node.transfer_leadership("n2", 5.0)
    out = node.step(RequestVote("n2", "n1", 2, 1, 1, transfer=True), 6.0)
    assert node.role is Role.FOLLOWER and node.transfer_target is None
    assert RequestVoteReply("n1", "n2", 2, True) in out.messages


def test_a_new_leader_finishes_a_committed_joint_configuration() -> None:
    """Paper section 6: once C_old,new is committed, C_new follows, whoever leads by then."""
    joint = cfg("n1", "n2", old=THREE)
    node = make_node([e(1), config_entry(1, joint)], term=1)
    node.step(AppendEntries("n3", "n1", 1, 2, 1, (), 2), 10.0)  # C_old,new is committed
    assert node.commit_index == 2 and node.config == joint
    node.timeout_now(20.0)
    for peer in ("n2", "n3"):
        if node.role is not Role.LEADER:
            node.step(RequestVoteReply(peer, "n1", 2, True), 21.0)
    assert node.role is Role.LEADER
    assert node.config == cfg("n1", "n2") and node.log.entry(4).command.config == cfg("n1", "n2")


def test_a_server_whose_removal_is_not_committed_still_campaigns() -> None:
    """Thesis 4.2.2: until C_new commits, the removed server may be needed for an election."""
    node = committed_leader()
    node.remove_server("n1", 5.0)
    node.step(RequestVote("n2", "n1", 2, 1, 1), 6.0)  # deposed before the removal committed
    assert node.role is Role.FOLLOWER and node.config == cfg("n2", "n3")
    assert node.campaigns() and node.next_wakeup() < float("inf")
    node.step(AppendEntries("n2", "n1", 2, 2, 1, (), 2), 7.0)  # now it learns the commit
    assert not node.campaigns() and node.next_wakeup() == float("inf")


def test_a_learner_never_campaigns() -> None:
    node = make_node(node_id="n4")
    assert not node.campaigns() and node.next_wakeup() == float("inf")
    assert kinds(node.timeout_now(1.0)) == ["not_voter"] and node.current_term == 0
