"""One input, whole resulting state: each Raft handler checked against Figure 2 (h11 style).

Every test builds a node in a stated situation, feeds it exactly one message (or one tick), and
then asserts the node's whole relevant state and the exact messages it sent. Stale or illegal
input must leave the state untouched. Section numbers refer to the Raft paper ("Fig. 2",
"5.4.1") or to Ongaro's thesis ("thesis 9.6").
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import pytest

from raftviz.core.log import RaftLog
from raftviz.core.messages import (
    NOOP,
    AppendEntries,
    AppendEntriesReply,
    ClientReply,
    ClientRequest,
    Command,
    LogEntry,
    Op,
    ReadMode,
    RequestVote,
    RequestVoteReply,
    Result,
)
from raftviz.core.raft import Output, PersistentState, RaftNode, RaftSettings, Role

THREE = ("n1", "n2", "n3")
FIVE = ("n1", "n2", "n3", "n4", "n5")
BASE = RaftSettings()
ET_MIN = BASE.election_timeout_min


def e(term: int, name: str = "") -> LogEntry:
    """A log entry whose SET value names it (default: its term)."""
    return LogEntry(term, Command(Op.SET, "k", name or f"t{term}"))


def make_node(
    log: list[LogEntry] | tuple[LogEntry, ...] = (),
    *,
    term: int = 0,
    voted_for: str | None = None,
    peers: tuple[str, ...] = THREE,
    settings: RaftSettings = BASE,
    now: float = 0.0,
    node_id: str = "n1",
) -> RaftNode:
    return RaftNode(
        node_id,
        peers,
        settings,
        random.Random(7),
        now,
        PersistentState(term, voted_for, RaftLog(list(log))),
    )


def view(node: RaftNode) -> dict[str, Any]:
    """The state Figure 2 talks about, in one comparable value."""
    return {
        "role": node.role,
        "term": node.current_term,
        "voted_for": node.voted_for,
        "log": [(x.term, x.command.value) for x in node.log],
        "commit_index": node.commit_index,
        "last_applied": node.last_applied,
        "leader_id": node.leader_id,
    }


def timer(node: RaftNode) -> tuple[float, float]:
    return (node.election_started_at, node.election_deadline)


def make_leader(
    log: list[LogEntry] | tuple[LogEntry, ...] = (),
    *,
    term: int = 1,
    peers: tuple[str, ...] = THREE,
    settings: RaftSettings = BASE,
    now: float = 0.0,
) -> RaftNode:
    """A node that won the election for ``term`` through the real handlers (at time ``now``)."""
    node = make_node(log, term=term - 1, peers=peers, settings=settings, now=now)
    node.timeout_now(now)
    if settings.pre_vote:
        for peer in peers[1:]:
            node.step(RequestVoteReply(peer, "n1", term, True, pre_vote=True), now)
    for peer in peers[1:]:
        if node.role is not Role.LEADER:
            node.step(RequestVoteReply(peer, "n1", term, True), now)
    assert node.role is Role.LEADER and node.current_term == term
    return node


def append(
    term: int,
    prev: int,
    prev_term: int,
    entries: tuple[LogEntry, ...] = (),
    commit: int = 0,
    *,
    src: str = "n2",
    dst: str = "n1",
    seq: int = 0,
) -> AppendEntries:
    return AppendEntries(src, dst, term, prev, prev_term, entries, commit, seq)


def kinds(out: Output) -> list[str]:
    return [ev.kind for ev in out.events]


# ---------------------------------------------------------------------------- RequestVote


def test_request_vote_granted_to_an_up_to_date_candidate_of_a_newer_term() -> None:
    """Fig. 2, RequestVote receiver 2, and Rules for All Servers 2 (adopt the newer term)."""
    node = make_node([e(1)], term=1)
    out = node.step(RequestVote("n2", "n1", 2, last_log_index=1, last_log_term=1), 100.0)
    assert out.messages == (RequestVoteReply("n1", "n2", 2, True),)
    assert view(node) == {
        "role": Role.FOLLOWER, "term": 2, "voted_for": "n2", "log": [(1, "t1")],
        "commit_index": 0, "last_applied": 0, "leader_id": None,
    }
    assert node.election_started_at == 100.0  # granting a vote resets the election timer
    assert "vote" in kinds(out)


def test_request_vote_granted_again_to_the_same_candidate() -> None:
    """A retried RequestVote from the candidate we already voted for gets the same answer."""
    node = make_node([e(1)], term=2, voted_for="n2")
    out = node.step(RequestVote("n2", "n1", 2, 1, 1), 50.0)
    assert out.messages == (RequestVoteReply("n1", "n2", 2, True),)
    assert (node.current_term, node.voted_for) == (2, "n2")


def test_request_vote_refused_when_already_voted_in_this_term() -> None:
    node = make_node([e(1)], term=2, voted_for="n3", now=0.0)
    before = (view(node), timer(node))
    out = node.step(RequestVote("n2", "n1", 2, 5, 1), 100.0)
    assert out.messages == (RequestVoteReply("n1", "n2", 2, False),)
    assert (view(node), timer(node)) == before  # no vote change, no timer reset
    assert kinds(out) == ["vote_refused"]
    assert "already voted for n3 in term 2" in out.events[0].text


def test_request_vote_from_an_older_term_is_refused_and_changes_nothing() -> None:
    node = make_node([e(1), e(3)], term=3)
    before = (view(node), timer(node))
    out = node.step(RequestVote("n2", "n1", 2, 9, 3), 100.0)
    assert out.messages == (RequestVoteReply("n1", "n2", 3, False),)  # tells it the newer term
    assert (view(node), timer(node)) == before


@pytest.mark.parametrize(
    ("last_index", "last_term", "why"),
    [
        (9, 1, "older last term beats nothing: last term 1 < 2"),
        (1, 2, "same last term, shorter log: index 1 < 2"),
    ],
)
def test_request_vote_refused_to_a_less_up_to_date_log(
    last_index: int, last_term: int, why: str
) -> None:
    """Section 5.4.1: compare last terms first, then lengths. The newer term is still adopted."""
    node = make_node([e(1), e(2)], term=2, voted_for="n1")
    started, deadline = timer(node)
    out = node.step(RequestVote("n2", "n1", 3, last_index, last_term), 100.0)
    assert out.messages == (RequestVoteReply("n1", "n2", 3, False),), why
    assert view(node) == {
        "role": Role.FOLLOWER, "term": 3, "voted_for": None, "log": [(1, "t1"), (2, "t2")],
        "commit_index": 0, "last_applied": 0, "leader_id": None,
    }
    # A refused vote must not reset the timer, or a stale candidate could delay elections.
    assert timer(node) == (started, deadline)
    assert "less up-to-date" in out.events[-1].text


def test_request_vote_granted_to_an_equally_up_to_date_log() -> None:
    node = make_node([e(1), e(2)], term=2)
    out = node.step(RequestVote("n2", "n1", 3, 2, 2), 100.0)
    assert out.messages == (RequestVoteReply("n1", "n2", 3, True),)
    assert node.voted_for == "n2"


def test_request_vote_granted_to_a_shorter_log_with_a_newer_last_term() -> None:
    node = make_node([e(1), e(1), e(1)], term=1)
    out = node.step(RequestVote("n2", "n1", 3, 2, 2), 100.0)
    assert out.messages == (RequestVoteReply("n1", "n2", 3, True),)


def test_a_leader_steps_down_on_a_request_vote_of_a_newer_term() -> None:
    leader = make_leader([e(1)], term=2)
    out = leader.step(RequestVote("n2", "n1", 3, 5, 2), 100.0)
    # The leader's log ends with its term-2 no-op at index 2; the candidate's (2, 5) is newer.
    assert out.messages == (RequestVoteReply("n1", "n2", 3, True),)
    assert view(leader)["role"] is Role.FOLLOWER
    assert (leader.current_term, leader.voted_for) == (3, "n2")
    assert leader.next_index == {} and leader.match_index == {}
    assert kinds(out)[0] == "step_down"


def test_a_candidate_that_sees_a_newer_term_keeps_its_election_timer() -> None:
    """Fig. 2, Rules for All Servers 2 and Followers 2: it becomes a follower, but only
    AppendEntries from the leader or a granted vote reset the timer, so a rival whose log is
    behind cannot re-synchronize everyone's timeouts (section 9.3's split votes)."""
    node = make_node([e(1), e(1)], term=1, peers=FIVE)
    node.timeout_now(10.0)
    started, deadline = timer(node)
    out = node.step(RequestVote("n2", "n1", 3, 1, 1), 100.0)
    assert out.messages == (RequestVoteReply("n1", "n2", 3, False),)
    assert view(node) == {
        "role": Role.FOLLOWER, "term": 3, "voted_for": None, "log": [(1, "t1"), (1, "t1")],
        "commit_index": 0, "last_applied": 0, "leader_id": None,
    }
    assert timer(node) == (started, deadline) == (10.0, deadline)
    # Its own timeout still fires when it was due, and it campaigns for the next term.
    out = node.tick(deadline)
    assert (node.role, node.current_term) == (Role.CANDIDATE, 4)


# ----------------------------------------------------------------------- RequestVoteReply


def test_candidate_sends_request_vote_with_its_last_log_position() -> None:
    node = make_node([e(1), e(1)], term=1)
    out = node.timeout_now(10.0)
    assert out.messages == (
        RequestVote("n1", "n2", 2, 2, 1),
        RequestVote("n1", "n3", 2, 2, 1),
    )
    assert view(node)["role"] is Role.CANDIDATE
    assert (node.current_term, node.voted_for, node.votes_received) == (2, "n1", {"n1"})
    assert node.election_started_at == 10.0  # starting an election resets the timer


def test_majority_of_votes_makes_a_leader_that_appends_a_noop_and_broadcasts() -> None:
    """Fig. 2, Candidates 2 and Leaders; section 8: a no-op at the start of the term."""
    node = make_node([e(1), e(1)], term=1)
    node.timeout_now(10.0)
    out = node.step(RequestVoteReply("n2", "n1", 2, True), 20.0)
    noop = LogEntry(2, NOOP, 20.0)
    assert out.messages == (
        AppendEntries("n1", "n2", 2, 2, 1, (noop,), 0, 1),
        AppendEntries("n1", "n3", 2, 2, 1, (noop,), 0, 1),
    )
    assert view(node) == {
        "role": Role.LEADER, "term": 2, "voted_for": "n1",
        "log": [(1, "t1"), (1, "t1"), (2, None)], "commit_index": 0, "last_applied": 0,
        "leader_id": "n1",
    }
    assert node.log.entry(3) == noop
    # nextIndex starts just past the leader's log as it was when elected; matchIndex at 0.
    assert node.next_index == {"n2": 3, "n3": 3}
    assert node.match_index == {"n2": 0, "n3": 0}


def test_one_vote_is_not_a_majority_of_five_and_duplicates_do_not_count() -> None:
    node = make_node(peers=FIVE)
    node.timeout_now(10.0)
    node.step(RequestVoteReply("n2", "n1", 1, True), 20.0)
    out = node.step(RequestVoteReply("n2", "n1", 1, True), 21.0)  # duplicated delivery
    assert out.messages == ()
    assert (node.role, node.votes_received) == (Role.CANDIDATE, {"n1", "n2"})
    out = node.step(RequestVoteReply("n3", "n1", 1, True), 22.0)
    assert view(node)["role"] is Role.LEADER
    assert {m.dst for m in out.messages} == {"n2", "n3", "n4", "n5"}


def test_refusals_are_counted_but_do_not_elect() -> None:
    node = make_node()
    node.timeout_now(10.0)
    out = node.step(RequestVoteReply("n2", "n1", 1, False), 20.0)
    assert out.messages == ()
    assert node.role is Role.CANDIDATE
    assert (node.votes_received, node.votes_refused) == ({"n1"}, {"n2"})


def test_a_vote_from_an_earlier_election_is_ignored() -> None:
    node = make_node(term=1)
    node.timeout_now(10.0)  # now a candidate in term 2
    before = (view(node), set(node.votes_received))
    out = node.step(RequestVoteReply("n2", "n1", 1, True), 20.0)  # a term-1 vote, late
    assert out == Output()
    assert (view(node), node.votes_received) == before


def test_a_vote_arriving_after_winning_is_ignored() -> None:
    node = make_leader(term=1)
    before = (view(node), dict(node.next_index))
    out = node.step(RequestVoteReply("n3", "n1", 1, True), 30.0)
    assert out == Output()
    assert (view(node), node.next_index) == before


def test_a_refusal_from_a_newer_term_turns_the_candidate_into_a_follower() -> None:
    node = make_node(term=1)
    node.timeout_now(10.0)
    out = node.step(RequestVoteReply("n2", "n1", 5, False), 20.0)
    assert out.messages == ()
    assert view(node) == {
        "role": Role.FOLLOWER, "term": 5, "voted_for": None, "log": [],
        "commit_index": 0, "last_applied": 0, "leader_id": None,
    }


# --------------------------------------------------------------------------- AppendEntries


FOLLOWER_LOG = (e(1, "a"), e(1, "b"), e(2, "c"), e(2, "d"))


def follower(log: tuple[LogEntry, ...] = FOLLOWER_LOG, term: int = 2) -> RaftNode:
    return make_node(log, term=term, voted_for="n2")


def test_heartbeat_from_the_leader_resets_the_timer_and_learns_the_commit_index() -> None:
    node = follower()
    out = node.step(append(2, 4, 2, (), commit=2, seq=7), 100.0)
    assert out.messages == (AppendEntriesReply("n1", "n2", 2, True, match_index=4, seq=7),)
    assert view(node) == {
        "role": Role.FOLLOWER, "term": 2, "voted_for": "n2",
        "log": [(1, "a"), (1, "b"), (2, "c"), (2, "d")],
        "commit_index": 2, "last_applied": 2, "leader_id": "n2",
    }
    assert node.election_started_at == 100.0
    assert node.heard_from_leader_at == 100.0
    assert node.sm.data == {"k": "b"}  # entries 1-2 applied in order


def test_append_entries_appends_new_entries_after_a_matching_prev() -> None:
    node = follower()
    new = (e(2, "e"), e(2, "f"))
    out = node.step(append(2, 4, 2, new, commit=0), 100.0)
    assert out.messages == (AppendEntriesReply("n1", "n2", 2, True, match_index=6),)
    assert view(node)["log"] == [(1, "a"), (1, "b"), (2, "c"), (2, "d"), (2, "e"), (2, "f")]
    assert node.log.truncations == 0


def test_append_entries_rejected_when_prev_index_is_missing() -> None:
    """Fig. 2, AppendEntries receiver 2; the hint says where the log ends (conflict term 0)."""
    node = follower()
    out = node.step(append(2, 6, 2, (e(2, "g"),), commit=4, seq=3), 100.0)
    assert out.messages == (
        AppendEntriesReply(
            "n1", "n2", 2, False, reject_index=6, conflict_term=0, conflict_index=5, seq=3
        ),
    )
    assert view(node)["log"] == [(1, "a"), (1, "b"), (2, "c"), (2, "d")]
    assert node.commit_index == 0  # nothing learned from a message that did not match
    # It is still the current leader talking: the timer resets and the leader is known.
    assert (node.leader_id, node.election_started_at) == ("n2", 100.0)


def test_append_entries_rejected_when_prev_term_differs_with_conflict_hint() -> None:
    node = follower(term=3)
    out = node.step(append(3, 4, 3, (e(3, "x"),), commit=0), 100.0)
    assert out.messages == (
        AppendEntriesReply(
            "n1", "n2", 3, False, reject_index=4, conflict_term=2, conflict_index=3
        ),
    )
    assert view(node)["log"] == [(1, "a"), (1, "b"), (2, "c"), (2, "d")]  # nothing deleted yet


def test_conflicting_entries_are_truncated_and_replaced() -> None:
    """Fig. 2, AppendEntries receiver 3-4: delete the conflicting entry and all after it."""
    node = follower(term=3)
    out = node.step(append(3, 2, 1, (e(3, "x"),), commit=0), 100.0)
    assert out.messages == (AppendEntriesReply("n1", "n2", 3, True, match_index=3),)
    assert view(node)["log"] == [(1, "a"), (1, "b"), (3, "x")]
    assert node.log.truncations == 2
    assert [ev.data.get("index") for ev in out.events if ev.kind == "truncate"] == [3]


def test_an_old_shorter_append_entries_never_truncates_matching_entries() -> None:
    """A delayed AppendEntries whose entries all match must not cut the log back."""
    node = follower(log=(e(1, "a"), e(3, "x"), e(3, "y"), e(3, "z")), term=3)
    out = node.step(append(3, 1, 1, (e(3, "x"),), commit=0), 100.0)
    assert view(node)["log"] == [(1, "a"), (3, "x"), (3, "y"), (3, "z")]
    assert node.log.truncations == 0
    # It acknowledges only what this message covered: index 2, not the whole log.
    assert out.messages == (AppendEntriesReply("n1", "n2", 3, True, match_index=2),)


def test_a_repeated_append_entries_is_idempotent() -> None:
    node = follower()
    msg = append(2, 4, 2, (e(2, "e"),), commit=5)
    node.step(msg, 100.0)
    first = view(node)
    out = node.step(msg, 110.0)
    assert view(node) == first
    assert out.messages == (AppendEntriesReply("n1", "n2", 2, True, match_index=5),)


@pytest.mark.parametrize(
    ("leader_commit", "entries", "expected"),
    [
        (9, (), 4),  # min(leaderCommit, index of last new entry): prev 4, nothing new
        (3, (), 3),  # leaderCommit below the last new entry
        (9, (e(2, "e"),), 5),
    ],
)
def test_commit_index_is_min_of_leader_commit_and_last_new_entry(
    leader_commit: int, entries: tuple[LogEntry, ...], expected: int
) -> None:
    """Fig. 2, AppendEntries receiver 5."""
    node = follower()
    node.step(append(2, 4, 2, entries, commit=leader_commit), 100.0)
    assert node.commit_index == expected
    assert node.last_applied == expected


def test_commit_index_is_not_raised_past_what_this_message_proves() -> None:
    """A heartbeat with an early prev cannot commit the unverified entries after it."""
    node = follower(log=(e(1, "a"), e(1, "b"), e(1, "stale")), term=2)
    node.step(append(2, 1, 1, (), commit=3), 100.0)
    assert node.commit_index == 1


def test_commit_index_never_decreases() -> None:
    node = follower()
    node.step(append(2, 4, 2, (), commit=4), 100.0)
    assert node.commit_index == 4
    node.step(append(2, 2, 1, (), commit=1), 110.0)  # an older, reordered heartbeat
    assert (node.commit_index, node.last_applied) == (4, 4)


def test_append_entries_from_an_older_term_is_rejected_and_changes_nothing() -> None:
    node = follower(term=3)
    node.leader_id = "n3"
    before = (view(node), timer(node), node.heard_from_leader_at)
    out = node.step(append(2, 4, 2, (e(2, "zz"),), commit=4, seq=5), 100.0)
    assert out.messages == (AppendEntriesReply("n1", "n2", 3, False, reject_index=4),)
    assert (view(node), timer(node), node.heard_from_leader_at) == before


def test_candidate_hearing_from_a_leader_of_its_term_becomes_follower() -> None:
    node = make_node([e(1)], term=1)
    node.timeout_now(10.0)  # candidate in term 2
    out = node.step(append(2, 1, 1, (), commit=1), 20.0)
    assert out.messages == (AppendEntriesReply("n1", "n2", 2, True, match_index=1),)
    assert view(node) == {
        "role": Role.FOLLOWER, "term": 2, "voted_for": "n1", "log": [(1, "t1")],
        "commit_index": 1, "last_applied": 1, "leader_id": "n2",
    }


def test_append_entries_of_a_newer_term_is_obeyed_after_adopting_the_term() -> None:
    node = follower(term=2)
    out = node.step(append(4, 2, 1, (e(4, "n"),), commit=0), 100.0)
    assert out.messages == (AppendEntriesReply("n1", "n2", 4, True, match_index=3),)
    assert view(node) == {
        "role": Role.FOLLOWER, "term": 4, "voted_for": None,
        "log": [(1, "a"), (1, "b"), (4, "n")], "commit_index": 0, "last_applied": 0,
        "leader_id": "n2",
    }


# ---------------------------------------------------------------------- AppendEntriesReply


def test_success_reply_advances_match_and_commits_a_current_term_entry() -> None:
    """Fig. 2, Leaders 3.1 and 4."""
    node = make_leader([e(1, "a")], term=2)  # log: a (t1), no-op (t2) at index 2
    out = node.step(AppendEntriesReply("n2", "n1", 2, True, match_index=2, seq=1), 30.0)
    assert out.messages == ()
    assert node.match_index == {"n2": 2, "n3": 0}
    assert node.next_index == {"n2": 3, "n3": 2}
    assert (node.commit_index, node.last_applied) == (2, 2)
    assert node.sm.data == {"k": "a"}
    assert [ev.kind for ev in out.events] == ["commit"]


def test_a_stale_success_never_lowers_match_index() -> None:
    node = make_leader([e(1, "a")], term=2)
    node.step(AppendEntriesReply("n2", "n1", 2, True, match_index=2, seq=1), 30.0)
    out = node.step(AppendEntriesReply("n2", "n1", 2, True, match_index=1, seq=1), 31.0)
    assert out.messages == ()
    assert (node.match_index["n2"], node.next_index["n2"], node.commit_index) == (2, 3, 2)


def test_an_old_term_entry_is_not_committed_by_counting_replicas() -> None:
    """Section 5.4.2 (Figure 8): only current-term entries are committed by counting."""
    settings = replace(BASE, noop_on_election=False)
    node = make_leader([e(1, "a"), e(2, "b")], term=4, settings=settings)
    out = node.step(AppendEntriesReply("n2", "n1", 4, True, match_index=2), 30.0)
    assert node.match_index["n2"] == 2  # stored on n1 and n2: a majority of three
    assert node.commit_index == 0
    assert out.messages == ()
    # Once an entry of term 4 is stored on a majority, it and everything before it commit.
    node.step(set_request(1), 40.0)
    node.step(AppendEntriesReply("n2", "n1", 4, True, match_index=3), 50.0)
    assert node.commit_index == 3


def test_commit_old_terms_teaching_mode_commits_by_counting() -> None:
    settings = replace(BASE, noop_on_election=False, commit_old_terms=True)
    node = make_leader([e(1, "a"), e(2, "b")], term=4, settings=settings)
    node.step(AppendEntriesReply("n2", "n1", 4, True, match_index=2), 30.0)
    assert node.commit_index == 2


ONE_BY_ONE = replace(BASE, fast_backup=False)


def test_rejection_backs_next_index_off_by_one_and_retries() -> None:
    """Fig. 2, Leaders 3.2: decrement nextIndex and retry (fast back-up off)."""
    log = (e(1, "a"), e(1, "b"), e(1, "c"))
    node = make_leader(log, term=2, settings=ONE_BY_ONE)  # next_index 4; log a, b, c, no-op
    out = node.step(
        AppendEntriesReply("n2", "n1", 2, False, reject_index=3, conflict_index=1), 30.0
    )
    noop = node.log.entry(4)
    assert node.next_index == {"n2": 3, "n3": 4}
    assert out.messages == (
        AppendEntries("n1", "n2", 2, 2, 1, (e(1, "c"), noop), 0, 1),
    )


def test_fast_backup_skips_the_followers_whole_conflicting_term() -> None:
    """Section 5.3's optimisation: the leader has no entry of the conflict term."""
    settings = replace(BASE, fast_backup=True)
    log = (e(1, "a"), e(1, "b"), e(3, "c"), e(3, "d"), e(3, "e"))
    node = make_leader(log, term=4, settings=settings)  # next_index 6
    reply = AppendEntriesReply(
        "n2", "n1", 4, False, reject_index=5, conflict_term=2, conflict_index=3
    )
    out = node.step(reply, 30.0)
    assert node.next_index["n2"] == 3
    assert [m.prev_log_index for m in out.messages if isinstance(m, AppendEntries)] == [2]


def test_fast_backup_jumps_past_the_leaders_last_entry_of_the_conflict_term() -> None:
    settings = replace(BASE, fast_backup=True)
    log = (e(1, "a"), e(1, "b"), e(3, "c"), e(3, "d"), e(3, "e"))
    node = make_leader(log, term=4, settings=settings)
    reply = AppendEntriesReply(
        "n2", "n1", 4, False, reject_index=5, conflict_term=1, conflict_index=1
    )
    node.step(reply, 30.0)
    assert node.next_index["n2"] == 3  # last term-1 entry of the leader is index 2


def test_fast_backup_to_the_end_of_a_short_log() -> None:
    settings = replace(BASE, fast_backup=True)
    log = tuple(e(1, str(i)) for i in range(1, 9))
    node = make_leader(log, term=2, settings=settings)  # next_index 9
    reply = AppendEntriesReply(
        "n2", "n1", 2, False, reject_index=8, conflict_term=0, conflict_index=3
    )
    node.step(reply, 30.0)
    assert node.next_index["n2"] == 3


def test_fast_backup_is_on_by_default() -> None:
    assert RaftSettings().fast_backup is True


def test_without_fast_backup_the_hint_is_ignored() -> None:
    log = tuple(e(1, str(i)) for i in range(1, 9))
    node = make_leader(log, term=2, settings=replace(BASE, fast_backup=False))
    reply = AppendEntriesReply(
        "n2", "n1", 2, False, reject_index=8, conflict_term=0, conflict_index=3
    )
    node.step(reply, 30.0)
    assert node.next_index["n2"] == 8


def test_a_stale_rejection_is_ignored() -> None:
    """A rejection for an older probe must not move nextIndex a second time."""
    log = (e(1, "a"), e(1, "b"), e(1, "c"))
    node = make_leader(log, term=2, settings=ONE_BY_ONE)
    reply = AppendEntriesReply("n2", "n1", 2, False, reject_index=3, conflict_index=1)
    node.step(reply, 30.0)  # next 3
    before = dict(node.next_index)
    out = node.step(reply, 31.0)  # a duplicate
    assert out.messages == ()
    assert node.next_index == before


def test_heartbeat_now_sends_append_entries_to_every_follower_at_once() -> None:
    node = make_leader([e(1, "a")], term=2, now=0.0)
    out = node.heartbeat_now(20.0)
    noop = node.log.entry(2)
    assert out.messages == (
        AppendEntries("n1", "n2", 2, 1, 1, (noop,), 0, 2),
        AppendEntries("n1", "n3", 2, 1, 1, (noop,), 0, 2),
    )
    assert node.heartbeat_deadline == 20.0 + BASE.heartbeat_interval


def test_heartbeat_now_at_a_follower_sends_nothing() -> None:
    node = make_node([e(1, "a")], term=1)
    before = (view(node), timer(node))
    assert node.heartbeat_now(20.0) == Output()
    assert (view(node), timer(node)) == before


def test_a_refusal_from_another_leader_of_the_term_is_not_probed_again() -> None:
    """No-majority teaching mode: two leaders of one term refuse each other's AppendEntries
    (no conflict hint). The logs are not the problem; answering with a new probe would bounce
    between the two leaders forever."""
    node = make_leader([e(1, "a")], term=2)  # next_index 2 (set before the no-op)
    before = (view(node), dict(node.next_index), dict(node.match_index))
    out = node.step(AppendEntriesReply("n2", "n1", 2, False, reject_index=1), 30.0)
    assert out == Output()
    assert (view(node), node.next_index, node.match_index) == before


def test_a_reply_from_an_older_term_is_ignored() -> None:
    node = make_leader([e(1, "a")], term=3)
    before = (view(node), dict(node.next_index), dict(node.match_index))
    out = node.step(AppendEntriesReply("n2", "n1", 2, True, match_index=2), 30.0)
    assert out == Output()
    assert (view(node), node.next_index, node.match_index) == before
    out = node.step(AppendEntriesReply("n2", "n1", 2, False, reject_index=1), 31.0)
    assert out == Output()
    assert (view(node), node.next_index, node.match_index) == before


def test_a_reply_from_a_newer_term_deposes_the_leader() -> None:
    node = make_leader([e(1, "a")], term=2)
    out = node.step(AppendEntriesReply("n2", "n1", 5, False), 30.0)
    assert out.messages == ()
    assert view(node)["role"] is Role.FOLLOWER
    assert (node.current_term, node.voted_for, node.leader_id) == (5, None, None)


def test_a_follower_far_behind_is_caught_up_batch_by_batch() -> None:
    settings = replace(BASE, max_batch=2, fast_backup=False)
    log = tuple(e(1, str(i)) for i in range(1, 6))
    node = make_leader(log, term=2, settings=settings)  # last index 6 (no-op)
    node.step(AppendEntriesReply("n2", "n1", 2, False, reject_index=5, conflict_index=4), 10.0)
    node.step(AppendEntriesReply("n2", "n1", 2, False, reject_index=4, conflict_index=4), 11.0)
    out = node.step(AppendEntriesReply("n2", "n1", 2, True, match_index=5), 12.0)
    assert node.next_index["n2"] == 6
    # The batch carried 4-5; the success triggers the next batch at once (index 6).
    assert out.messages == (AppendEntries("n1", "n2", 2, 5, 1, (node.log.entry(6),), 0, 1),)


# -------------------------------------------------------------------------- ClientRequest


def set_request(request_id: int, value: str = "1", client: str = "c1") -> ClientRequest:
    cmd = Command(Op.SET, "x", value, client=client, request_id=request_id)
    return ClientRequest(client, "n1", 0, request_id, cmd)


def test_follower_redirects_the_client_to_the_leader_it_knows() -> None:
    node = follower()
    node.step(append(2, 4, 2), 10.0)
    before = view(node)
    out = node.step(set_request(1), 20.0)
    assert out.messages == (
        ClientReply("n1", "c1", 0, 1, False, error="not the leader", leader_hint="n2"),
    )
    assert view(node) == before


def test_leader_appends_a_client_command_and_replicates_it_at_once() -> None:
    node = make_leader([e(1, "a")], term=2)  # index 2 is the no-op
    out = node.step(set_request(1), 25.0)
    entry = LogEntry(2, set_request(1).command, 25.0)
    assert node.log.entry(3) == entry
    assert node.pending_writes == {3: ("c1", 1)}
    # next_index is still 2 for both (no replies yet), so the batch carries the no-op too.
    noop = node.log.entry(2)
    assert out.messages == (
        AppendEntries("n1", "n2", 2, 1, 1, (noop, entry), 0, 2),
        AppendEntries("n1", "n3", 2, 1, 1, (noop, entry), 0, 2),
    )


def test_leader_replies_to_the_client_once_the_entry_is_applied() -> None:
    node = make_leader(term=1)
    node.step(set_request(1), 10.0)
    out = node.step(AppendEntriesReply("n2", "n1", 1, True, match_index=2, seq=2), 20.0)
    assert out.messages == (ClientReply("n1", "c1", 0, 1, True, Result(True)),)
    assert node.pending_writes == {}
    assert node.sm.data == {"x": "1"}


def test_a_retry_of_a_pending_request_is_not_appended_twice() -> None:
    node = make_leader(term=1)
    node.step(set_request(1), 10.0)
    before = (view(node), dict(node.pending_writes))
    out = node.step(set_request(1), 15.0)
    assert out.messages == ()
    assert (view(node), node.pending_writes) == before


def test_a_retry_of_an_applied_request_is_answered_from_the_session() -> None:
    node = make_leader(term=1)
    node.step(set_request(1), 10.0)
    node.step(AppendEntriesReply("n2", "n1", 1, True, match_index=2, seq=2), 20.0)
    last = node.log.last_index
    out = node.step(set_request(1), 30.0)
    assert out.messages == (ClientReply("n1", "c1", 0, 1, True, Result(True)),)
    assert node.log.last_index == last


def test_a_deposed_leader_tells_its_waiting_clients() -> None:
    node = make_leader(term=1)
    node.step(set_request(1), 10.0)
    out = node.step(append(2, 0, 0, (), src="n2"), 20.0)
    assert ClientReply("n1", "c1", 0, 1, False, error="leadership lost") in out.messages
    assert node.pending_writes == {}


def test_follower_read_is_answered_locally_and_flagged_as_possibly_stale() -> None:
    node = follower()
    node.step(append(2, 4, 2, (), commit=4), 10.0)
    req = ClientRequest("c1", "n1", 0, 3, Command(Op.GET, "k"), ReadMode.FOLLOWER)
    out = node.step(req, 20.0)
    assert out.messages == (ClientReply("n1", "c1", 0, 3, True, Result(True, "d")),)
    assert "may be stale" in out.events[0].text


# ------------------------------------------------------------------------- PreVote (9.6)

PRE_VOTE = replace(BASE, pre_vote=True)


def test_pre_vote_asks_without_raising_the_term() -> None:
    node = make_node([e(1)], term=1, voted_for="n2", settings=PRE_VOTE)
    out = node.timeout_now(200.0)
    assert out.messages == (
        RequestVote("n1", "n2", 2, 1, 1, pre_vote=True),
        RequestVote("n1", "n3", 2, 1, 1, pre_vote=True),
    )
    assert node.role is Role.PRE_CANDIDATE
    assert (node.current_term, node.voted_for) == (1, "n2")  # persistent state untouched


def test_pre_vote_is_granted_without_changing_the_voters_term_vote_or_timer() -> None:
    node = make_node([e(1)], term=1, voted_for="n3", settings=PRE_VOTE)
    before = (view(node), timer(node))
    out = node.step(RequestVote("n2", "n1", 2, 1, 1, pre_vote=True), 400.0)
    # The reply carries the proposed term, so the pre-candidate can match it to its round.
    assert out.messages == (RequestVoteReply("n1", "n2", 2, True, pre_vote=True),)
    assert (view(node), timer(node)) == before


def test_pre_vote_refused_while_the_voter_still_hears_from_a_leader() -> None:
    node = make_node([e(1)], term=1, settings=PRE_VOTE)
    node.step(append(1, 1, 1, (), src="n3"), 300.0)
    before = (view(node), timer(node))
    out = node.step(RequestVote("n2", "n1", 2, 1, 1, pre_vote=True), 350.0)
    assert out.messages == (RequestVoteReply("n1", "n2", 1, False, pre_vote=True),)
    assert (view(node), timer(node)) == before
    assert "n1 heard from leader n3 less than an election timeout ago" in out.events[-1].text


def test_pre_vote_refused_to_a_log_that_is_behind() -> None:
    node = make_node([e(1), e(2)], term=2, settings=PRE_VOTE)
    out = node.step(RequestVote("n2", "n1", 3, 5, 1, pre_vote=True), 400.0)
    assert out.messages == (RequestVoteReply("n1", "n2", 2, False, pre_vote=True),)
    assert node.current_term == 2


def test_winning_the_pre_vote_starts_the_real_election() -> None:
    node = make_node([e(1)], term=1, settings=PRE_VOTE)
    node.timeout_now(200.0)
    out = node.step(RequestVoteReply("n2", "n1", 2, True, pre_vote=True), 210.0)
    assert node.role is Role.CANDIDATE
    assert (node.current_term, node.voted_for) == (2, "n1")
    assert out.messages == (
        RequestVote("n1", "n2", 2, 1, 1),
        RequestVote("n1", "n3", 2, 1, 1),
    )


def test_losing_the_pre_vote_leaves_the_term_alone() -> None:
    node = make_node([e(1)], term=1, settings=PRE_VOTE)
    node.timeout_now(200.0)
    node.step(RequestVoteReply("n2", "n1", 1, False, pre_vote=True), 210.0)
    out = node.step(RequestVoteReply("n3", "n1", 1, False, pre_vote=True), 211.0)
    assert out.messages == ()
    assert node.role is Role.FOLLOWER
    assert node.current_term == 1
    assert kinds(out) == ["prevote_lost"]


def test_a_candidate_that_times_out_again_asks_for_pre_votes_first() -> None:
    """Thesis 9.6 (etcd's PreCandidate): a lost or stalled election does not raise the term."""
    node = make_node([e(1)], term=1, settings=PRE_VOTE)
    node.timeout_now(200.0)
    node.step(RequestVoteReply("n2", "n1", 2, True, pre_vote=True), 210.0)
    assert (node.role, node.current_term, node.voted_for) == (Role.CANDIDATE, 2, "n1")
    out = node.tick(node.election_deadline)
    assert out.messages == (
        RequestVote("n1", "n2", 3, 1, 1, pre_vote=True),
        RequestVote("n1", "n3", 3, 1, 1, pre_vote=True),
    )
    assert kinds(out) == ["prevote"]
    assert (node.role, node.current_term, node.voted_for) == (Role.PRE_CANDIDATE, 2, "n1")


def test_a_pre_candidate_that_hears_nothing_keeps_its_term() -> None:
    node = make_node([e(1)], term=1, settings=PRE_VOTE)
    for _ in range(5):
        node.tick(node.election_deadline)
    assert (node.role, node.current_term) == (Role.PRE_CANDIDATE, 1)


def test_a_granted_pre_vote_reply_does_not_change_a_followers_term() -> None:
    node = make_node([e(1)], term=1, settings=PRE_VOTE)
    before = view(node)
    out = node.step(RequestVoteReply("n2", "n1", 2, True, pre_vote=True), 210.0)
    assert out == Output()
    assert view(node) == before


# -------------------------------------------------------------------- CheckQuorum (4.2.3)

CHECK_QUORUM = replace(BASE, check_quorum=True)


def test_a_leader_that_hears_from_no_majority_steps_down() -> None:
    node = make_leader(settings=CHECK_QUORUM, now=0.0)
    assert node.quorum_deadline == ET_MIN
    node.step(AppendEntriesReply("n2", "n1", 1, True, match_index=1, seq=1), 10.0)
    node.tick(ET_MIN)  # n2 answered in this window: n1 + n2 is a majority of three
    assert view(node)["role"] is Role.LEADER
    out = node.tick(2 * ET_MIN)  # nobody answered in the second window
    assert view(node)["role"] is Role.FOLLOWER
    assert node.current_term == 1
    assert "step_down" in kinds(out)
    assert node.election_started_at == 2 * ET_MIN


def test_a_follower_in_its_lease_ignores_a_newer_term_request_vote() -> None:
    node = make_node([e(1)], term=1, settings=CHECK_QUORUM)
    node.step(append(1, 1, 1, (), src="n3"), 300.0)
    before = (view(node), timer(node))
    out = node.step(RequestVote("n2", "n1", 2, 9, 1), 300.0 + ET_MIN - 1)
    assert out.messages == ()  # no reply at all: the term is not even adopted
    assert (view(node), timer(node)) == before
    assert kinds(out) == ["vote_ignored"]


def test_after_the_lease_a_follower_votes_again() -> None:
    node = make_node([e(1)], term=1, settings=CHECK_QUORUM)
    node.step(append(1, 1, 1, (), src="n3"), 300.0)
    out = node.step(RequestVote("n2", "n1", 2, 9, 1), 300.0 + ET_MIN)
    assert out.messages == (RequestVoteReply("n1", "n2", 2, True),)


def test_a_just_restarted_node_waits_out_one_timeout_before_voting() -> None:
    node = make_node([e(1)], term=1, settings=CHECK_QUORUM, now=1000.0)
    out = node.step(RequestVote("n2", "n1", 2, 9, 1), 1000.0 + ET_MIN - 1)
    assert out.messages == ()
    assert node.current_term == 1


# ------------------------------------------------------------ ReadIndex and leases (6.4)


def get(request_id: int, mode: ReadMode, key: str = "k") -> ClientRequest:
    return ClientRequest("c9", "n1", 0, request_id, Command(Op.GET, key), mode)


def committed_leader(settings: RaftSettings = BASE) -> RaftNode:
    """Leader of term 2 over [a (t1)], with its term-2 no-op committed by n2's ack."""
    node = make_leader([e(1, "a")], term=2, settings=settings, now=0.0)
    node.step(AppendEntriesReply("n2", "n1", 2, True, match_index=2, seq=1), 10.0)
    assert node.commit_index == 2
    return node


def test_read_index_waits_for_a_heartbeat_round_acknowledged_by_a_majority() -> None:
    node = committed_leader()
    out = node.step(get(1, ReadMode.READ_INDEX), 20.0)
    assert node.seq == 2
    assert [m.dst for m in out.messages] == ["n2", "n3"]
    assert all(isinstance(m, AppendEntries) and m.seq == 2 for m in out.messages)
    assert not any(isinstance(m, ClientReply) for m in out.messages)
    # An ack of the older round 1 proves nothing about leadership after the read arrived.
    out = node.step(AppendEntriesReply("n3", "n1", 2, True, match_index=2, seq=1), 25.0)
    assert out.messages == ()
    out = node.step(AppendEntriesReply("n3", "n1", 2, True, match_index=2, seq=2), 30.0)
    assert out.messages == (ClientReply("n1", "c9", 0, 1, True, Result(True, "a")),)
    assert node.pending_reads == []


def test_read_index_waits_for_a_commit_in_the_leaders_own_term() -> None:
    """Thesis 6.4 step 1: a new leader does not know the commit index until its no-op commits."""
    node = make_leader([e(1, "a")], term=2)
    node.step(get(1, ReadMode.READ_INDEX), 20.0)
    out = node.step(AppendEntriesReply("n2", "n1", 2, False, reject_index=1, seq=2), 25.0)
    # Leadership is confirmed (n2 answered round 2 in term 2), but nothing of term 2 is
    # committed yet, so the read must wait.
    assert not any(isinstance(m, ClientReply) for m in out.messages)
    assert len(node.pending_reads) == 1
    out = node.step(AppendEntriesReply("n2", "n1", 2, True, match_index=2, seq=2), 30.0)
    assert ClientReply("n1", "c9", 0, 1, True, Result(True, "a")) in out.messages


def test_lease_read_needs_check_quorum() -> None:
    node = committed_leader()
    out = node.step(get(1, ReadMode.LEASE), 20.0)
    assert out.messages == (
        ClientReply(
            "n1", "c9", 0, 1, False, error="lease reads need CheckQuorum on", leader_hint="n1"
        ),
    )


def test_lease_lasts_from_the_acknowledged_rounds_send_time_shortened_for_drift() -> None:
    node = committed_leader(CHECK_QUORUM)
    b = BASE.lease_drift_bound
    expected = 0.0 + ET_MIN * (1 - b) / (1 + b)  # round 1 was sent at 0.0 on election
    assert node.lease_until == pytest.approx(expected)
    out = node.step(get(1, ReadMode.LEASE), expected - 1)
    assert out.messages == (ClientReply("n1", "c9", 0, 1, True, Result(True, "a")),)
    out = node.step(get(2, ReadMode.LEASE), expected)
    assert out.messages == (
        ClientReply("n1", "c9", 0, 2, False, error="no valid lease", leader_hint="n1"),
    )


def test_unsafe_lease_teaching_mode_outlives_the_election_timeout() -> None:
    assert replace(BASE, unsafe_lease=True).lease_duration > BASE.election_timeout_max
    assert BASE.lease_duration < BASE.election_timeout_min


def test_a_read_on_a_follower_in_leader_modes_is_redirected() -> None:
    node = follower()
    node.step(append(2, 4, 2), 10.0)
    for mode in (ReadMode.LOG, ReadMode.READ_INDEX, ReadMode.LEASE):
        out = node.step(get(1, mode), 20.0)
        assert out.messages == (
            ClientReply("n1", "c9", 0, 1, False, error="not the leader", leader_hint="n2"),
        )


# ------------------------------------------------------------------ timers and timeout_now


def test_tick_before_the_deadline_does_nothing_and_at_it_starts_an_election() -> None:
    node = make_node([e(1)], term=1, now=0.0)
    deadline = node.election_deadline
    assert BASE.election_timeout_min <= deadline <= BASE.election_timeout_max
    before = view(node)
    assert node.tick(deadline - 0.001) == Output()
    assert view(node) == before
    out = node.tick(deadline)
    assert node.role is Role.CANDIDATE and node.current_term == 2
    assert [m.dst for m in out.messages] == ["n2", "n3"]


def test_leader_tick_sends_heartbeats_every_interval() -> None:
    node = make_leader([e(1, "a")], term=2, now=0.0)
    assert node.next_wakeup() == BASE.heartbeat_interval
    assert node.tick(BASE.heartbeat_interval - 1) == Output()
    out = node.tick(BASE.heartbeat_interval)
    assert [(m.dst, m.seq) for m in out.messages if isinstance(m, AppendEntries)] == [
        ("n2", 2),
        ("n3", 2),
    ]
    assert node.next_wakeup() == 2 * BASE.heartbeat_interval


def test_timeout_now_on_a_follower_starts_an_election_at_once() -> None:
    node = make_node([e(1)], term=3, voted_for="n2", now=0.0)
    out = node.timeout_now(5.0)
    assert out.messages == (RequestVote("n1", "n2", 4, 1, 1), RequestVote("n1", "n3", 4, 1, 1))
    assert view(node)["role"] is Role.CANDIDATE
    assert (node.current_term, node.voted_for, node.election_started_at) == (4, "n1", 5.0)


def test_timeout_now_on_a_leader_steps_down_and_campaigns_for_the_next_term() -> None:
    node = make_leader(term=1)
    node.step(set_request(1), 10.0)
    out = node.timeout_now(20.0)
    assert out.messages[0] == ClientReply("n1", "c1", 0, 1, False, error="leadership lost")
    assert out.messages[1:] == (RequestVote("n1", "n2", 2, 2, 1), RequestVote("n1", "n3", 2, 2, 1))
    assert node.role is Role.CANDIDATE and node.current_term == 2


def test_a_single_node_cluster_elects_itself_and_commits_alone() -> None:
    node = make_node(peers=("n1",))
    node.timeout_now(5.0)
    assert node.role is Role.LEADER
    assert node.commit_index == 1  # its own no-op
    out = node.step(set_request(1), 6.0)
    assert out.messages == (ClientReply("n1", "c1", 0, 1, True, Result(True)),)


def test_no_majority_teaching_mode_wins_and_commits_alone() -> None:
    node = make_node(settings=replace(BASE, no_majority=True))
    node.timeout_now(5.0)
    assert node.role is Role.LEADER
    assert node.commit_index == 1


def test_unknown_message_types_are_refused() -> None:
    node = make_node()
    reply = ClientReply("n2", "n1", 0, 1, True)
    with pytest.raises(TypeError, match="n1 cannot handle ClientReply"):
        node.step(reply, 1.0)


# ------------------------------------------------------------------ stable storage


def test_a_leader_counts_its_own_entry_only_once_its_disk_has_it() -> None:
    """Thesis 10.2.1: with a disk modelled, the leader's copy counts when persisted."""
    node = make_node(peers=("n1",))
    node.durable_index = 0  # the simulation models a disk
    node.timeout_now(10.0)
    assert node.role is Role.LEADER and node.log.last_index == 1  # its no-op
    assert node.commit_index == 0  # the no-op is only in memory
    out = node.persisted(1, 13.0)
    assert node.commit_index == 1 and node.last_applied == 1
    assert [ev.kind for ev in out.events] == ["commit"]
    assert node.persisted(1, 14.0) == Output()  # nothing new on disk: nothing happens


def test_without_a_disk_model_the_leaders_log_counts_at_once() -> None:
    node = make_node(peers=("n1",))
    node.timeout_now(10.0)
    assert node.durable_index is None and node.commit_index == 1
