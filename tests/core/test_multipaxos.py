"""Multi-Paxos: a log of slots, one phase 1 per leader, then only phase 2 per command.

Handler tests first (one message in, whole state and output checked), then scenarios on the
harness: leader election, steady state, redirects, a leader crash with gaps to fill, catch-up,
partitions, and the unsafe teaching mode.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from raftviz.core.messages import (
    NOOP,
    ClientReply,
    ClientRequest,
    Command,
    LogEntry,
    Message,
    Op,
    ReadMode,
    Result,
)
from raftviz.core.paxos import PaxosMode, PaxosNode, PaxosPersistent, PaxosSettings, Phase
from raftviz.core.paxos_messages import (
    Accept,
    Accepted,
    Ballot,
    CatchUp,
    Heartbeat,
    Learn,
    Nack,
    PaxosKind,
    Prepare,
    Promise,
    Proposal,
)
from raftviz.core.raft import Role
from tests.core.paxos_harness import Harness

MULTI = PaxosSettings()
THREE = ("n1", "n2", "n3")
FIVE = ("n1", "n2", "n3", "n4", "n5")


def set_cmd(key: str, value: str, client: str = "c1", request_id: int = 1) -> Command:
    return Command(Op.SET, key, value, client=client, request_id=request_id)


def entry(key: str, value: str, round_: int = 1, client: str = "c1") -> LogEntry:
    return LogEntry(round_, set_cmd(key, value, client), 0.0)


def node(node_id: str = "n2", persistent: PaxosPersistent | None = None) -> PaxosNode:
    return PaxosNode(node_id, THREE, MULTI, random.Random(3), 0.0, persistent)


def leader_of_three() -> PaxosNode:
    """n1 after winning phase 1 for ballot 1.n1 with n2's promise."""
    n = node("n1")
    n.timeout_now(0.0)
    n.step(Promise("n2", "n1", 1, Ballot(1, "n1"), ()), 10.0)
    assert n.role is Role.LEADER
    return n


def log_of(n: PaxosNode) -> list[str]:
    """The chosen prefix a node has applied, as text."""
    return [n.chosen[s].command.describe() for s in range(1, n.commit_index + 1)]


def started(size: int = 5, **settings: Any) -> Harness:
    """A cluster where n1 was told to time out at once and became leader."""
    h = Harness(size, PaxosSettings(**settings))
    h.timeout_now("n1")
    h.run(50)
    assert h.leaders() == ["n1"]
    return h


def assert_agreement(h: Harness) -> None:
    """Every slot that two nodes know is chosen holds the same value on both."""
    for slot in {s for n in h.nodes.values() if n for s in n.chosen}:
        values = {n.chosen[slot] for n in h.nodes.values() if n and slot in n.chosen}
        assert len(values) == 1, f"slot {slot}: {values}"


# ------------------------------------------------------------------------ handlers


def test_prepare_reports_accepted_proposals_from_the_prepared_slot_on() -> None:
    old = {s: Proposal(s, Ballot(1, "n3"), entry("k", str(s))) for s in (1, 2, 3)}
    n = node("n2", PaxosPersistent(Ballot(1, "n3"), old))
    out = n.step(Prepare("n1", "n2", 2, Ballot(2, "n1"), 2), 0.0)
    assert out.messages == (Promise("n2", "n1", 2, Ballot(2, "n1"), (old[2], old[3])),)
    assert n.promised_ballot == Ballot(2, "n1")
    assert n.leader_id is None


def test_a_majority_of_promises_makes_a_leader_that_fills_gaps_and_reproposes() -> None:
    n = node("n1")
    n.timeout_now(0.0)
    assert n.role is Role.CANDIDATE and n.phase is Phase.PREPARE
    b1, b2 = Ballot(1, "n2"), Ballot(1, "n3")
    reported = (
        Proposal(1, b1, entry("a", "old", 1, "c2")),
        Proposal(1, b2, entry("a", "new", 1, "c3")),  # higher ballot for slot 1 wins
        Proposal(3, b1, entry("c", "3", 1, "c2")),
    )
    out = n.step(Promise("n2", "n1", 1, Ballot(1, "n1"), reported), 10.0)
    ballot = Ballot(1, "n1")
    assert (n.role, n.leader_id, n.phase) == (Role.LEADER, "n1", Phase.ACCEPT)
    noop = LogEntry(1, NOOP, 10.0)
    assert n.proposals == {1: reported[1].value, 2: noop, 3: reported[2].value}
    assert n.next_slot == 4
    accepts = [m for m in out.messages if isinstance(m, Accept)]
    assert [(m.dst, m.slot) for m in accepts] == [
        ("n2", 1), ("n3", 1), ("n2", 2), ("n3", 2), ("n2", 3), ("n3", 3)
    ]
    assert [m for m in out.messages if isinstance(m, Heartbeat)] == [
        Heartbeat("n1", "n2", 1, ballot, 0),
        Heartbeat("n1", "n3", 1, ballot, 0),
    ]
    assert [e.kind for e in out.events][:3] == ["leader", "recover", "noop"]
    assert out.events[1].text == (
        "n1 proposes again the highest-ballot value reported for each slot: "
        "slot 1: SET a=new (accepted at 1.n3); slot 3: SET c=3 (accepted at 1.n2)"
    )
    assert out.events[2].text == "n1 fills the gaps with no-ops: slots 2"


def test_the_leader_proposes_a_client_command_with_phase_2_only() -> None:
    n = leader_of_three()
    cmd = set_cmd("x", "1")
    out = n.step(ClientRequest("c1", "n1", 0, 1, cmd), 20.0)
    value = LogEntry(1, cmd, 20.0)
    assert out.messages == (
        Accept("n1", "n2", 1, Ballot(1, "n1"), 1, value),
        Accept("n1", "n3", 1, Ballot(1, "n1"), 1, value),
    )
    assert n.proposals == {1: value} and n.accepted_by == {1: {"n1"}}
    assert n.pending_writes == {1: ("c1", 1, cmd)}
    # A retry of the same request while it is in flight is not proposed again.
    again = n.step(ClientRequest("c1", "n1", 0, 1, cmd), 25.0)
    assert again.messages == () and n.next_slot == 2


def test_accepted_by_a_majority_chooses_the_slot_applies_it_and_answers_the_client() -> None:
    n = leader_of_three()
    n.step(ClientRequest("c1", "n1", 0, 1, set_cmd("x", "1")), 20.0)
    out = n.step(Accepted("n3", "n1", 1, Ballot(1, "n1"), 1), 30.0)
    assert n.chosen[1].command == set_cmd("x", "1")
    assert n.commit_index == 1 and n.last_applied == 1 and n.sm.data == {"x": "1"}
    assert n.proposals == {} and n.pending_writes == {}
    # No Learn broadcast: like Raft's commit index, the chosen prefix rides on what the leader
    # sends next (an Accept or a heartbeat).
    assert [m.kind for m in out.messages] == ["ClientReply"]
    nxt = n.step(ClientRequest("c2", "n1", 0, 1, set_cmd("y", "2", client="c2")), 35.0)
    assert {m.chosen_upto for m in nxt.messages if isinstance(m, Accept)} == {1}


def test_a_nack_makes_the_leader_step_down_and_release_its_clients() -> None:
    n = leader_of_three()
    n.step(ClientRequest("c1", "n1", 0, 1, set_cmd("x", "1")), 20.0)
    out = n.step(Nack("n2", "n1", 3, Ballot(1, "n1"), PaxosKind.ACCEPT, Ballot(3, "n3"), 1), 30.0)
    assert n.role is Role.FOLLOWER and n.phase is Phase.IDLE and n.leader_id is None
    assert n.current_term == 3
    assert n.proposals == {} and n.pending_writes == {}
    assert n.next_wakeup() == n.election_deadline > 30.0
    assert out.messages == (
        ClientReply("n1", "c1", 0, 1, False, error="leadership lost"),
    )
    assert out.events[0].text == (
        "n1 stopped being leader with ballot 1.n1: n2 refused it: it promised 3.n3"
    )


def test_a_heartbeat_makes_a_follower_follow_and_ask_for_what_it_missed() -> None:
    n = node("n3")
    out = n.step(Heartbeat("n1", "n3", 2, Ballot(2, "n1"), 4), 5.0)
    assert n.leader_id == "n1" and n.heard_from_leader_at == 5.0
    assert n.election_started_at == 5.0
    assert out.messages == (CatchUp("n3", "n1", 2, Ballot(2, "n1"), 1),)


def test_a_heartbeat_below_the_promise_is_refused_and_changes_nothing() -> None:
    n = node("n3", PaxosPersistent(Ballot(3, "n2")))
    before = (n.leader_id, n.election_deadline, n.promised_ballot)
    out = n.step(Heartbeat("n1", "n3", 2, Ballot(2, "n1"), 4), 5.0)
    assert (n.leader_id, n.election_deadline, n.promised_ballot) == before
    assert out.messages == (
        Nack("n3", "n1", 3, Ballot(2, "n1"), PaxosKind.HEARTBEAT, Ballot(3, "n2")),
    )


def test_catch_up_is_answered_with_the_chosen_values_in_one_learn() -> None:
    n = node("n1")
    values = [entry("k", str(i)) for i in range(1, 4)]
    n.step(Learn("n2", "n1", 1, Ballot(1, "n2"), 1, tuple(values)), 0.0)
    assert n.commit_index == 3
    out = n.step(CatchUp("n3", "n1", 1, Ballot(1, "n2"), 2), 1.0)
    assert out.messages == (Learn("n1", "n3", 0, n.ballot, 2, tuple(values[1:])),)
    assert n.step(CatchUp("n3", "n1", 1, Ballot(1, "n2"), 4), 2.0).messages == ()


def test_an_accept_from_a_new_leader_makes_the_old_leader_follow_it() -> None:
    n = leader_of_three()
    out = n.step(Accept("n3", "n1", 2, Ballot(2, "n3"), 1, entry("x", "9", 2)), 30.0)
    assert n.role is Role.FOLLOWER and n.leader_id == "n3"
    assert n.accepted_ballot(1) == Ballot(2, "n3")
    assert out.messages[0] == Accepted("n1", "n3", 2, Ballot(2, "n3"), 1)


# ------------------------------------------------------------------------ scenarios


def test_a_leader_is_elected_and_everyone_follows_it() -> None:
    h = Harness(5)
    h.run(500)
    leaders = h.leaders()
    assert len(leaders) == 1
    assert all(h.node(i).leader_id == leaders[0] for i in FIVE)
    assert h.node(leaders[0]).current_term == 1


def test_steady_state_needs_only_phase_2_per_command() -> None:
    h = started()
    h.sent.clear()
    for k in range(1, 11):
        h.request("n1", set_cmd("x", str(k), request_id=k))
        h.run_for(30)
    h.run_for(60)  # the last value reaches the followers with the next heartbeat
    per_kind = Counter(m.kind for m in h.sent)
    assert per_kind[PaxosKind.PREPARE] == per_kind[PaxosKind.PROMISE] == 0
    # One Accept and one Accepted per other node and command; followers learn what is chosen
    # from the chosen prefix carried by the next Accept or heartbeat, so no Learn at all.
    assert per_kind[PaxosKind.ACCEPT] == per_kind[PaxosKind.ACCEPTED] == 40
    assert per_kind[PaxosKind.LEARN] == 0
    assert all(log_of(h.node(i)) == [f"SET x={k}" for k in range(1, 11)] for i in FIVE)
    assert all(h.node(i).sm.data == {"x": "10"} for i in FIVE)
    assert [r.ok for r in h.replies] == [True] * 10


def test_followers_redirect_clients_to_the_leader() -> None:
    h = started()
    h.request("n3", set_cmd("x", "1"))
    assert h.replies == [
        ClientReply("n3", "c1", 0, 1, False, error="not the leader", leader_hint="n1")
    ]


def test_reads_through_the_log_locally_or_not_at_all() -> None:
    h = started()
    h.request("n1", set_cmd("x", "1"))
    h.run_for(50)
    get = Command(Op.GET, "x", client="c2", request_id=1)
    h.request("n1", get)
    h.run_for(50)
    assert h.replies[-1] == ClientReply("n1", "c2", 0, 1, True, Result(True, "1"))
    h.request("n4", Command(Op.GET, "x", client="c3", request_id=1), ReadMode.FOLLOWER)
    assert h.replies[-1] == ClientReply("n4", "c3", 0, 1, True, Result(True, "1"))
    h.request("n1", Command(Op.GET, "x", client="c4", request_id=1), ReadMode.READ_INDEX)
    assert h.replies[-1].error == "read mode not supported by Multi-Paxos"


def test_a_new_leader_recovers_accepted_values_and_fills_gaps_with_no_ops() -> None:
    h = started()
    # Slot 2's Accepts are all lost; slot 3 reaches only n2; slot 4 reaches n3 and n4, so a
    # majority (n1, n3, n4) accepts it: it is chosen, but n1 crashes before telling anyone.
    only = {2: set(), 3: {"n2"}, 4: {"n3", "n4"}}

    def lost(msg: Message) -> bool:
        if msg.src != "n1":
            return False
        if isinstance(msg, Accept) and msg.slot in only:
            return msg.dst not in only[msg.slot]
        return isinstance(msg, Learn) and msg.slot == 4

    h.drop = lost
    for slot, key in enumerate("abcd", start=1):
        h.request("n1", set_cmd(key, str(slot), client=f"c{slot}"))
    h.run(75)
    assert log_of(h.node("n1")) == ["SET a=1"] and 4 in h.node("n1").chosen
    h.crash("n1")
    h.run(85)
    h.timeout_now("n2")
    h.run(200)
    assert h.leaders() == ["n2"]
    expected = ["SET a=1", "no-op", "SET c=3", "SET d=4"]
    assert all(log_of(h.node(i)) == expected for i in ("n2", "n3", "n4", "n5"))
    assert h.event_texts("noop") == ["n2 fills the gaps with no-ops: slots 2"]
    assert h.event_texts("recover") == [
        "n2 proposes again the highest-ballot value reported for each slot: "
        "slot 3: SET c=3 (accepted at 1.n1); slot 4: SET d=4 (accepted at 1.n1)"
    ]
    # The client of slot 4 retries at the new leader: its session answers, nothing is re-applied.
    h.request("n2", set_cmd("d", "4", client="c4"))
    assert h.replies[-1].ok and h.node("n2").next_slot == 5
    # n1 comes back, keeps what it accepted, and catches up from the leader's heartbeats.
    h.restart("n1")
    assert h.node("n1").accepted_value(2) == LogEntry(1, set_cmd("b", "2", "c2"), 50.0)
    h.run(400)
    assert log_of(h.node("n1")) == expected
    assert h.count(PaxosKind.CATCH_UP) >= 1
    assert_agreement(h)


def test_a_crashed_follower_catches_up_after_restart() -> None:
    h = started()
    h.crash("n5")
    for k in range(1, 6):
        h.request("n1", set_cmd("x", str(k), request_id=k))
        h.run_for(20)
    h.restart("n5")
    h.run_for(300)
    assert log_of(h.node("n5")) == log_of(h.node("n1")) == [f"SET x={k}" for k in range(1, 6)]
    assert h.node("n5").sm.data == {"x": "5"}


def test_a_leader_cut_off_in_a_minority_is_replaced_and_steps_down_on_healing() -> None:
    h = started()
    h.request("n1", set_cmd("x", "1"))
    h.run_for(50)
    h.partition({"n1", "n2"}, {"n3", "n4", "n5"})
    h.request("n1", set_cmd("x", "lost", request_id=2))
    h.run_for(1000)
    new = [i for i in h.leaders() if i != "n1"]
    assert len(new) == 1 and new[0] in ("n3", "n4", "n5")
    assert 2 not in h.node("n1").chosen  # the minority leader's proposal is never chosen
    h.request(new[0], set_cmd("x", "2", client="c2"))
    h.run_for(100)
    h.heal()
    h.run_for(500)
    assert h.leaders() == new
    assert all(h.node(i).leader_id == new[0] for i in FIVE)
    assert all(log_of(h.node(i)) == log_of(h.node(new[0])) for i in FIVE)
    assert log_of(h.node("n1"))[-1] == "SET x=2"
    assert_agreement(h)


def test_every_node_ends_with_the_same_log_after_crashes_and_leader_changes() -> None:
    h = Harness(5, seed=4, latency=lambda s, d: 5.0 + (int(s[1:]) * 7 + int(d[1:]) * 3) % 11)
    request_id = 0
    for crash in ("n1", "n2", "n3", "n4", "n5", None):
        for _ in range(5):
            request_id += 1
            for leader in h.leaders():
                h.request(leader, set_cmd("x", str(request_id), request_id=request_id))
            h.run_for(40)
        leaders = h.leaders()
        if crash is not None and leaders:
            h.crash(leaders[0])
            h.run_for(400)
            h.restart(leaders[0])
    h.run_for(1000)
    assert_agreement(h)
    logs = {i: log_of(h.node(i)) for i in FIVE}
    assert len({tuple(log) for log in logs.values()}) == 1
    assert len(logs["n1"]) >= 10


def test_a_single_node_cluster_decides_alone() -> None:
    h = Harness(1)
    h.timeout_now("n1")
    h.request("n1", set_cmd("x", "1"))
    assert h.node("n1").sm.data == {"x": "1"} and h.replies[-1].ok
    assert h.sent == []


def test_the_mode_cannot_change_on_a_running_node() -> None:
    n = node("n1")
    with pytest.raises(ValueError, match="the Paxos mode is fixed when a cluster is built"):
        n.update_settings(PaxosSettings(mode=PaxosMode.BASIC), 1.0)
    n.update_settings(PaxosSettings(heartbeat_interval=20.0), 1.0)
    assert n.settings.heartbeat_interval == 20.0


def test_a_leader_ignoring_promised_values_gets_two_values_chosen_in_one_slot() -> None:
    h = started(ignore_promised_values=True)
    h.partition({"n1", "n2", "n3"}, {"n4", "n5"})
    h.request("n1", set_cmd("x", "A"))
    h.run_for(50)
    assert h.chosen(1) == dict.fromkeys(("n1", "n2", "n3"), "SET x=A")
    h.crash("n1")
    h.partition({"n2"}, {"n3", "n4", "n5"})
    h.timeout_now("n5")  # n3 reports slot 1 = SET x=A; n5 ignores it
    h.run_for(50)
    assert h.leaders() == ["n5"]
    h.request("n5", set_cmd("x", "B", client="c2"))
    h.run_for(100)  # followers learn with n5's next heartbeat
    assert h.chosen(1) == {"n2": "SET x=A", "n3": "SET x=A", "n4": "SET x=B", "n5": "SET x=B"}
    assert h.event_texts("recover") == [
        "n5 IGNORES the values reported for slots 1 (teaching mode)"
    ]
    broken = "SAFETY BROKEN: n3 knows slot 1 chose SET x=A"
    assert any(broken in text for text in h.event_texts("violation"))
