"""Basic (single-decree) Paxos: one handler at a time, then whole scenarios on the harness.

The handler tests follow h11's style: build a node, feed it one message, and assert its whole
resulting state and every message it sends; stale or refused input must leave the state as it
was. The scenario tests drive five nodes through the situations of "Paxos Made Simple".
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from raftviz.core.messages import NOOP, ClientReply, ClientRequest, Command, LogEntry, Op
from raftviz.core.paxos import PaxosMode, PaxosNode, PaxosPersistent, PaxosSettings, Phase
from raftviz.core.paxos_messages import (
    NO_BALLOT,
    Accept,
    Accepted,
    Ballot,
    Learn,
    Nack,
    PaxosKind,
    Prepare,
    Promise,
    Proposal,
)
from raftviz.core.raft import Role
from tests.core.paxos_harness import Harness

BASIC = PaxosSettings(mode=PaxosMode.BASIC)
THREE = ("n1", "n2", "n3")
FIVE = ("n1", "n2", "n3", "n4", "n5")


def set_x(value: str, client: str = "c1") -> Command:
    return Command(Op.SET, "x", value, client=client, request_id=1)


def node(
    node_id: str = "n2",
    peers: tuple[str, ...] = THREE,
    settings: PaxosSettings = BASIC,
    persistent: PaxosPersistent | None = None,
) -> PaxosNode:
    return PaxosNode(node_id, peers, settings, random.Random(7), 0.0, persistent)


def state(n: PaxosNode) -> dict[str, Any]:
    """Everything a handler may change, as plain data."""
    return {
        "promised_ballot": n.promised_ballot,
        "accepted": dict(n.accepted),
        "ballot": n.ballot,
        "proposer_round": n.proposer_round,
        "phase": n.phase,
        "role": n.role,
        "promises": dict(n.promises),
        "proposals": dict(n.proposals),
        "accepted_by": {s: set(v) for s, v in n.accepted_by.items()},
        "chosen": dict(n.chosen),
        "commit_index": n.commit_index,
        "last_applied": n.last_applied,
        "current_term": n.current_term,
        "retry_deadline": n.retry_deadline,
        "pending_writes": dict(n.pending_writes),
        "kv": dict(n.sm.data),
    }


def value(text: str, round_: int = 1, client: str = "c1") -> LogEntry:
    return LogEntry(round_, set_x(text, client), 0.0)


def proposer_in_phase1(peers: tuple[str, ...] = THREE, **settings: Any) -> PaxosNode:
    """n1, asked by c1 to propose SET x=1: it has sent Prepare(1.n1) and promised itself."""
    n = node("n1", peers, PaxosSettings(mode=PaxosMode.BASIC, **settings))
    n.step(ClientRequest("c1", "n1", 0, 1, set_x("1")), 0.0)
    return n


B1 = Ballot(1, "n1")


# ------------------------------------------------------------------------------- ballots


def test_ballots_order_by_round_then_node_with_numeric_node_ids() -> None:
    assert Ballot(3, "n1") < Ballot(3, "n2") < Ballot(4, "n1")
    assert Ballot(1, "n9") < Ballot(1, "n10")
    assert NO_BALLOT < Ballot(1, "n1")
    assert max(Ballot(2, "n5"), Ballot(3, "n1")) == Ballot(3, "n1")
    assert str(Ballot(3, "n1")) == "3.n1"


def test_message_kinds_and_replies() -> None:
    prepare = Prepare("n1", "n2", 1, B1, 1)
    promise = Promise("n2", "n1", 1, B1, ())
    assert prepare.kind == "Prepare" and not prepare.is_reply
    assert promise.kind is PaxosKind.PROMISE and promise.is_reply
    assert Nack("n2", "n1", 2, B1, PaxosKind.ACCEPT, Ballot(2, "n3"), 1).is_reply
    assert Accepted("n2", "n1", 1, B1, 1).is_reply
    assert not Accept("n1", "n2", 1, B1, 1, value("1")).is_reply
    assert Nack("n2", "n1", 2, B1, PaxosKind.PREPARE, Ballot(2, "n3")).summary() == (
        "refused Prepare at 1.n1: promised 2.n3"
    )


# ----------------------------------------------------------------- acceptor: Prepare


def test_prepare_to_a_fresh_acceptor_is_promised_with_nothing_accepted() -> None:
    n = node("n2")
    out = n.step(Prepare("n1", "n2", 3, Ballot(3, "n1"), 1), 0.0)
    assert n.promised_ballot == Ballot(3, "n1")
    assert n.current_term == 3
    assert n.accepted == {}
    assert out.messages == (Promise("n2", "n1", 3, Ballot(3, "n1"), ()),)
    assert [e.text for e in out.events] == [
        "n2 promised ballot 3.n1 to n1 (it had accepted nothing)"
    ]


def test_promise_reports_the_proposal_already_accepted() -> None:
    earlier = Proposal(1, Ballot(2, "n3"), value("7", 2))
    n = node("n2", persistent=PaxosPersistent(Ballot(2, "n3"), {1: earlier}))
    out = n.step(Prepare("n1", "n2", 3, Ballot(3, "n1"), 1), 0.0)
    assert n.promised_ballot == Ballot(3, "n1")
    assert n.accepted == {1: earlier}
    assert out.messages == (Promise("n2", "n1", 3, Ballot(3, "n1"), (earlier,)),)


def test_prepare_below_the_promise_is_refused_and_changes_nothing() -> None:
    n = node("n2", persistent=PaxosPersistent(Ballot(4, "n3")))
    before = state(n)
    out = n.step(Prepare("n1", "n2", 3, Ballot(3, "n1"), 1), 0.0)
    assert state(n) == before
    assert out.messages == (
        Nack("n2", "n1", 4, Ballot(3, "n1"), PaxosKind.PREPARE, Ballot(4, "n3")),
    )
    assert [e.text for e in out.events] == [
        "n2 rejected Prepare(3.n1) from n1: it promised 4.n3"
    ]


def test_prepare_with_equal_round_but_lower_node_is_refused() -> None:
    n = node("n2", persistent=PaxosPersistent(Ballot(3, "n3")))
    out = n.step(Prepare("n1", "n2", 3, Ballot(3, "n1"), 1), 0.0)
    assert n.promised_ballot == Ballot(3, "n3")
    assert [type(m) for m in out.messages] == [Nack]


def test_a_repeated_prepare_is_promised_again_without_change() -> None:
    n = node("n2")
    first = n.step(Prepare("n1", "n2", 3, Ballot(3, "n1"), 1), 0.0)
    before = state(n)
    again = n.step(Prepare("n1", "n2", 3, Ballot(3, "n1"), 1), 5.0)
    assert state(n) == before
    assert again.messages == first.messages


# ------------------------------------------------------------------ acceptor: Accept


def test_accept_at_the_promised_ballot_is_accepted() -> None:
    n = node("n2", persistent=PaxosPersistent(Ballot(3, "n1")))
    v = value("1", 3)
    out = n.step(Accept("n1", "n2", 3, Ballot(3, "n1"), 1, v), 0.0)
    assert n.accepted == {1: Proposal(1, Ballot(3, "n1"), v)}
    assert n.accepted_ballot() == Ballot(3, "n1")
    assert n.accepted_value() == v
    assert n.promised_ballot == Ballot(3, "n1")
    assert n.chosen == {}  # accepting is not learning: only a majority chooses
    assert out.messages == (Accepted("n2", "n1", 3, Ballot(3, "n1"), 1),)


def test_accept_above_the_promise_is_accepted_and_raises_the_promise() -> None:
    n = node("n2", persistent=PaxosPersistent(Ballot(2, "n3")))
    n.step(Accept("n1", "n2", 3, Ballot(3, "n1"), 1, value("1", 3)), 0.0)
    assert n.promised_ballot == Ballot(3, "n1")
    assert n.accepted_ballot() == Ballot(3, "n1")


def test_accept_below_the_promise_is_refused_and_changes_nothing() -> None:
    earlier = Proposal(1, Ballot(2, "n3"), value("7", 2))
    n = node("n2", persistent=PaxosPersistent(Ballot(4, "n3"), {1: earlier}))
    before = state(n)
    out = n.step(Accept("n1", "n2", 3, Ballot(3, "n1"), 1, value("1", 3)), 0.0)
    assert state(n) == before
    assert out.messages == (
        Nack("n2", "n1", 4, Ballot(3, "n1"), PaxosKind.ACCEPT, Ballot(4, "n3"), 1),
    )
    assert [e.text for e in out.events] == [
        "n2 rejected Accept(3.n1) for slot 1 from n1: it promised 4.n3"
    ]


# ----------------------------------------------------------------- proposer: Prepare


def test_a_client_request_makes_a_node_a_proposer() -> None:
    n = proposer_in_phase1()
    assert n.phase is Phase.PREPARE
    assert n.role is Role.CANDIDATE
    assert n.ballot == B1 and n.proposer_round == 1
    assert n.promised_ballot == B1  # its own acceptor promised at once
    assert n.promises == {"n1": ()}
    assert n.retry_deadline == BASIC.proposal_timeout


def test_the_proposers_first_output_is_prepare_to_every_other_acceptor() -> None:
    n = node("n1")
    out = n.step(ClientRequest("c1", "n1", 0, 1, set_x("1")), 0.0)
    assert out.messages == (Prepare("n1", "n2", 1, B1, 1), Prepare("n1", "n3", 1, B1, 1))
    assert out.events[0].text == (
        "n1 was asked by c1 to propose SET x=1: it sends Prepare(1.n1) to every acceptor"
    )


# ----------------------------------------------------------------- proposer: Promise


def test_promises_from_a_majority_start_phase_2_with_the_proposers_own_value() -> None:
    n = proposer_in_phase1()
    out = n.step(Promise("n2", "n1", 1, B1, ()), 10.0)
    own = LogEntry(1, set_x("1"), 10.0)
    assert n.phase is Phase.ACCEPT
    assert n.role is Role.CANDIDATE  # Basic Paxos has no distinguished leader
    assert n.promises == {"n1": (), "n2": ()}
    assert n.proposals == {1: own}
    assert n.accepted_by == {1: {"n1"}}  # its own acceptor accepted at once
    assert n.accepted == {1: Proposal(1, B1, own)}
    assert out.messages == (Accept("n1", "n2", 1, B1, 1, own), Accept("n1", "n3", 1, B1, 1, own))
    assert out.events[0].text == (
        "n1 got promises from a majority (n1, n2) for ballot 1.n1; none had accepted "
        "anything, so it proposes its own SET x=1"
    )


def test_phase_2_uses_the_value_of_the_highest_ballot_reported() -> None:
    n = proposer_in_phase1(FIVE)
    low = Proposal(1, Ballot(1, "n4"), value("A", 1, "c4"))
    high = Proposal(1, Ballot(1, "n5"), value("B", 1, "c5"))
    n.step(Promise("n2", "n1", 1, B1, (low,)), 10.0)
    out = n.step(Promise("n3", "n1", 1, B1, (high,)), 10.0)
    assert n.proposals == {1: high.value}
    assert {m.value for m in out.messages if isinstance(m, Accept)} == {high.value}
    assert "n3 had accepted SET x=B at 1.n5, so it must propose that value instead of its own " \
        "SET x=1" in out.events[0].text


def test_a_promise_for_another_ballot_changes_nothing() -> None:
    n = proposer_in_phase1()
    before = state(n)
    out = n.step(Promise("n2", "n1", 1, Ballot(1, "n3"), ()), 10.0)
    assert state(n) == before
    assert out.messages == () and out.events == ()


def test_a_late_promise_after_the_majority_changes_nothing() -> None:
    n = proposer_in_phase1()
    n.step(Promise("n2", "n1", 1, B1, ()), 10.0)
    before = state(n)
    out = n.step(Promise("n3", "n1", 1, B1, ()), 11.0)
    assert state(n) == before
    assert out.messages == ()


# -------------------------------------------------------------------- proposer: Nack


def test_a_nack_makes_the_proposer_back_off_for_a_random_time() -> None:
    n = proposer_in_phase1()
    out = n.step(Nack("n2", "n1", 5, B1, PaxosKind.PREPARE, Ballot(5, "n3")), 10.0)
    assert n.phase is Phase.BACKOFF
    assert n.role is Role.FOLLOWER
    assert n.current_term == 5
    assert 10.0 <= n.retry_deadline < 10.0 + BASIC.backoff_max
    assert out.messages == ()
    assert out.events[0].kind == "backoff"
    assert "n1 gave up ballot 1.n1 (n2 refused it: it promised 5.n3)" in out.events[0].text
    retry = n.tick(n.retry_deadline)
    assert (n.ballot, n.phase) == (Ballot(6, "n1"), Phase.PREPARE)
    assert [m.dst for m in retry.messages if isinstance(m, Prepare)] == ["n2", "n3"]


def test_without_back_off_a_nack_makes_the_proposer_retry_at_once_above_it() -> None:
    n = proposer_in_phase1(backoff=False)
    out = n.step(Nack("n2", "n1", 5, B1, PaxosKind.PREPARE, Ballot(5, "n3")), 10.0)
    six = Ballot(6, "n1")
    assert n.ballot == six and n.phase is Phase.PREPARE
    assert n.promises == {"n1": ()}  # counting starts again for the new ballot
    assert out.messages == (Prepare("n1", "n2", 6, six, 1), Prepare("n1", "n3", 6, six, 1))


def test_a_proposer_whose_acceptor_promises_a_higher_ballot_abandons_its_own() -> None:
    n = proposer_in_phase1(backoff=False)
    out = n.step(Prepare("n3", "n1", 4, Ballot(4, "n3"), 1), 10.0)
    five = Ballot(5, "n1")
    assert n.ballot == five and n.promised_ballot == five
    assert out.messages == (
        Promise("n1", "n3", 4, Ballot(4, "n3"), ()),
        Prepare("n1", "n2", 5, five, 1),
        Prepare("n1", "n3", 5, five, 1),
    )
    assert out.events[1].text == (
        "n1 gave up ballot 1.n1 (its own acceptor promised n3's 4.n3) and tries again at once"
    )


def test_a_nack_for_an_abandoned_ballot_changes_nothing() -> None:
    n = proposer_in_phase1(backoff=False)
    n.step(Nack("n2", "n1", 5, B1, PaxosKind.PREPARE, Ballot(5, "n3")), 10.0)
    before = state(n)
    out = n.step(Nack("n3", "n1", 5, B1, PaxosKind.PREPARE, Ballot(5, "n3")), 11.0)
    assert state(n) == before
    assert out.messages == () and out.events == ()


def test_no_majority_within_the_proposal_timeout_abandons_the_round() -> None:
    n = proposer_in_phase1()
    n.tick(BASIC.proposal_timeout)
    assert n.phase is Phase.BACKOFF


# ---------------------------------------------------------------- proposer: Accepted


def test_accepted_from_a_majority_chooses_the_value_and_tells_every_learner() -> None:
    n = proposer_in_phase1()
    n.step(Promise("n2", "n1", 1, B1, ()), 10.0)
    own = n.proposals[1]
    out = n.step(Accepted("n3", "n1", 1, B1, 1), 20.0)
    assert n.chosen == {1: own}
    assert n.commit_index == 1 and n.last_applied == 1
    assert n.sm.data == {"x": "1"}
    assert n.phase is Phase.IDLE and n.role is Role.FOLLOWER
    assert n.proposals == {} and n.accepted_by == {}
    assert n.next_wakeup() == float("inf")
    assert out.messages == (
        Learn("n1", "n2", 1, B1, 1, (own,)),
        Learn("n1", "n3", 1, B1, 1, (own,)),
        ClientReply("n1", "c1", 0, 1, True, n.sm.sessions["c1"][1]),
    )
    assert out.events[0].text == (
        "value SET x=1 chosen in slot 1: a majority (n1, n3) accepted it at ballot 1.n1"
    )


def test_accepted_for_another_ballot_changes_nothing() -> None:
    n = proposer_in_phase1()
    n.step(Promise("n2", "n1", 1, B1, ()), 10.0)
    before = state(n)
    out = n.step(Accepted("n3", "n1", 1, Ballot(1, "n3"), 1), 20.0)
    assert state(n) == before
    assert out.messages == ()


# ------------------------------------------------------------------- learner: Learn


def test_learn_records_and_applies_the_chosen_value() -> None:
    n = node("n3")
    v = value("1")
    out = n.step(Learn("n1", "n3", 1, B1, 1, (v,)), 0.0)
    assert n.chosen == {1: v}
    assert n.commit_index == 1 and n.sm.data == {"x": "1"}
    assert out.messages == ()
    assert out.events[0].text == "n3 learned from n1 that slot 1 chose SET x=1"
    before = state(n)
    n.step(Learn("n1", "n3", 1, B1, 1, (v,)), 1.0)
    assert state(n) == before


def test_a_client_asking_after_the_decision_is_answered_at_once() -> None:
    n = node("n3")
    n.step(Learn("n1", "n3", 1, B1, 1, (value("1"),)), 0.0)
    out = n.step(ClientRequest("c2", "n3", 0, 1, set_x("2", "c2")), 1.0)
    assert out.messages == (
        ClientReply("n3", "c2", 0, 1, False, error="another value was chosen: SET x=1"),
    )
    assert n.phase is Phase.IDLE


# --------------------------------------------------------------------------- scenarios


def run_basic(h: Harness, limit: float = 5000.0) -> None:
    """Run until every live node learned slot 1 (or the limit passes)."""
    h.run_until(lambda: len(h.chosen()) == sum(1 for n in h.nodes.values() if n), limit)


def test_one_proposer_gets_its_value_chosen_and_learned_everywhere() -> None:
    h = Harness(5, BASIC)
    h.request("n1", set_x("1"))
    h.run(100)
    assert h.chosen() == dict.fromkeys(FIVE, "SET x=1")
    assert all(h.node(i).sm.data == {"x": "1"} for i in FIVE)
    assert [(r.dst, r.ok) for r in h.replies] == [("c1", True)]
    # Prepare, Promise, Accept, Accepted, Learn: one each per other node.
    assert len(h.sent) == 5 * 4


def test_all_proposing_the_same_value_chooses_it() -> None:
    h = Harness(5, BASIC)
    same = set_x("1")
    for i in FIVE:
        h.request(i, same)
    run_basic(h)
    assert h.chosen() == dict.fromkeys(FIVE, "SET x=1")
    assert len(h.replies) == 5 and all(r.ok for r in h.replies)


def test_all_proposing_different_values_chooses_exactly_one() -> None:
    h = Harness(5, BASIC)
    for k, i in enumerate(FIVE, start=1):
        h.request(i, set_x(str(k), f"c{k}"))
    run_basic(h)
    learned = h.chosen()
    assert set(learned) == set(FIVE)
    assert len(set(learned.values())) == 1  # every learner learned the same single value
    winners = [r for r in h.replies if r.ok]
    losers = [r for r in h.replies if not r.ok]
    assert len(winners) == 1 and len(losers) == 4
    assert learned["n1"] == f"SET x={winners[0].dst[1:]}"
    assert all(r.error == f"another value was chosen: {learned['n1']}" for r in losers)


def test_acceptors_that_can_send_but_not_receive_do_not_stop_a_majority() -> None:
    h = Harness(5, BASIC)
    h.deafen("n4")
    h.deafen("n5")
    h.request("n1", set_x("1"))
    h.run(1000)
    assert h.chosen() == dict.fromkeys(("n1", "n2", "n3"), "SET x=1")
    for deaf in ("n4", "n5"):
        assert h.node(deaf).promised_ballot == NO_BALLOT
        assert h.node(deaf).accepted == {}


def test_a_deaf_proposer_never_gets_a_value_chosen() -> None:
    h = Harness(5, BASIC)
    h.deafen("n1")
    h.request("n1", set_x("1"))
    h.run(2000)
    assert h.chosen() == {}
    # Its Prepares arrive, so acceptors keep promising its ever higher ballots.
    assert h.node("n2").promised_ballot.node == "n1"
    assert h.node("n2").promised_ballot.round > 5


def test_partition_without_a_majority_decides_nothing_until_healed() -> None:
    h = Harness(5, BASIC)
    h.partition({"n1", "n3"}, {"n2", "n4"}, {"n5"})
    for k, i in ((1, "n1"), (2, "n2"), (5, "n5")):
        h.request(i, set_x(str(k), f"c{k}"))
    h.run(3000)
    assert h.chosen() == {}
    assert h.replies == []
    h.heal()
    run_basic(h)
    learned = h.chosen()
    assert set(learned) == set(FIVE) and len(set(learned.values())) == 1


def test_partition_with_a_majority_decides_and_everyone_learns_after_healing() -> None:
    h = Harness(5, BASIC)
    h.partition({"n1"}, {"n2", "n3", "n4"}, {"n5"})
    for k, i in ((1, "n1"), (2, "n2"), (5, "n5")):
        h.request(i, set_x(str(k), f"c{k}"))
    h.run(3000)
    assert h.chosen() == dict.fromkeys(("n2", "n3", "n4"), "SET x=2")
    h.heal()
    run_basic(h)
    assert h.chosen() == dict.fromkeys(FIVE, "SET x=2")
    assert sorted((r.dst, r.ok) for r in h.replies) == [
        ("c1", False),
        ("c2", True),
        ("c5", False),
    ]


def test_a_late_proposer_learns_the_chosen_value_instead_of_its_own() -> None:
    h = Harness(5, BASIC)
    h.partition({"n1", "n2", "n3", "n4"}, {"n5"})
    h.request("n1", set_x("A", "c1"))
    h.run(100)
    assert "n5" not in h.chosen() and h.chosen()["n1"] == "SET x=A"
    h.heal()
    h.request("n5", set_x("B", "c5"))
    h.run(h.now + 200)
    assert h.chosen() == dict.fromkeys(FIVE, "SET x=A")
    assert any(
        "so it must propose that value instead of its own SET x=B" in text
        for text in h.event_texts("majority")
    )
    late = [r for r in h.replies if r.dst == "c5"]
    assert late == [ClientReply("n5", "c5", 0, 1, False, error="another value was chosen: SET x=A")]


def dueling(backoff: bool) -> Harness:
    """n1 and n2 propose 5 ms apart on a network with a fixed 10 ms latency."""
    h = Harness(5, PaxosSettings(mode=PaxosMode.BASIC, backoff=backoff))
    h.request("n1", set_x("A", "c1"))
    h.run(5)
    h.request("n2", set_x("B", "c2"))
    return h


def test_dueling_proposers_without_back_off_livelock() -> None:
    h = dueling(backoff=False)
    h.run(2000)
    # Each Prepare reaches the rival proposer before the rival's phase 1 is done, so the rival
    # abandons its ballot and at once prepares a higher one, which does the same in return.
    assert h.event_texts("retry")[:3] == [
        "n1 gave up ballot 1.n1 (its own acceptor promised n2's 1.n2) and tries again at once",
        "n2 gave up ballot 1.n2 (its own acceptor promised n1's 2.n1) and tries again at once",
        "n1 gave up ballot 2.n1 (its own acceptor promised n2's 3.n2) and tries again at once",
    ]
    assert h.node("n1").proposer_round > 50 and h.node("n2").proposer_round > 50
    assert h.count(PaxosKind.PREPARE) > 400
    # Nothing was chosen: no ballot was ever accepted by a majority, and nobody learned a value.
    accepts = Counter(e.data["ballot"] for e in h.events if e.kind == "accepted")
    assert all(count < 3 for count in accepts.values())
    assert h.chosen() == {}
    assert h.replies == []


def test_dueling_proposers_with_random_back_off_choose_a_value() -> None:
    h = dueling(backoff=True)
    run_basic(h, limit=2000)
    learned = h.chosen()
    assert set(learned) == set(FIVE) and len(set(learned.values())) == 1
    assert h.node("n1").proposer_round < 10


def test_a_restarted_acceptor_keeps_its_promise() -> None:
    h = Harness(3, BASIC)
    h.node("n2").step(Prepare("n3", "n2", 5, Ballot(5, "n3"), 1), 0.0)
    h.crash("n2")
    h.restart("n2")
    n2 = h.node("n2")
    assert n2.promised_ballot == Ballot(5, "n3")
    assert n2.current_term == 5
    out = n2.step(Prepare("n1", "n2", 4, Ballot(4, "n1"), 1), 1.0)
    assert [type(m) for m in out.messages] == [Nack]


def test_a_restarted_acceptor_keeps_what_it_accepted_so_the_value_stays_chosen() -> None:
    h = Harness(5, BASIC)
    h.partition({"n1", "n2", "n3"}, {"n4", "n5"})
    h.request("n1", set_x("A", "c1"))
    h.run(100)
    for i in ("n2", "n3"):
        h.crash(i)
        h.restart(i)
    h.partition({"n1"}, {"n2", "n3", "n4", "n5"})
    h.request("n5", set_x("B", "c5"))
    h.run(h.now + 500)
    assert h.chosen()["n5"] == "SET x=A"
    assert h.event_texts("violation") == []


# ---------------------------------------------------------------------- teaching modes


def test_forgetful_acceptors_let_two_values_be_chosen() -> None:
    h = Harness(5, PaxosSettings(mode=PaxosMode.BASIC, forgetful_acceptors=True))
    h.partition({"n1", "n2", "n3"}, {"n4", "n5"})
    h.request("n1", set_x("A", "c1"))
    h.run(100)
    assert h.chosen() == dict.fromkeys(("n1", "n2", "n3"), "SET x=A")
    for i in ("n2", "n3"):  # they forget that they accepted A (and learned it)
        h.crash(i)
        h.restart(i)
        assert h.node(i).accepted == {}
    h.partition({"n1"}, {"n2", "n3", "n4", "n5"})
    h.request("n5", set_x("B", "c5"))
    h.run(h.now + 500)
    assert h.chosen() == {
        "n1": "SET x=A",
        "n2": "SET x=B",
        "n3": "SET x=B",
        "n4": "SET x=B",
        "n5": "SET x=B",
    }
    h.heal()
    h.timeout_now("n1")  # n1 tells everyone again what it learned
    h.run(h.now + 100)
    assert len(h.event_texts("violation")) == 4
    assert h.event_texts("violation")[0].startswith("SAFETY BROKEN: n2 knows slot 1 chose SET x=B")


def test_a_proposer_ignoring_promised_values_gets_a_second_value_chosen() -> None:
    h = Harness(5, PaxosSettings(mode=PaxosMode.BASIC, ignore_promised_values=True))
    h.partition({"n1", "n2", "n3"}, {"n4", "n5"})
    h.request("n1", set_x("A", "c1"))
    h.run(100)
    h.partition({"n1"}, {"n2", "n3", "n4", "n5"})
    h.request("n5", set_x("B", "c5"))
    h.run(h.now + 500)
    assert h.chosen()["n1"] == "SET x=A"
    assert h.chosen()["n5"] == "SET x=B"
    assert any("IGNORES" in text for text in h.event_texts("majority"))
    assert h.event_texts("violation")  # n2 and n3 had learned A and are now told B


@pytest.mark.parametrize("mode", ["basic", "multi"])
def test_settings_accept_the_plain_mode_word_and_reject_others(mode: str) -> None:
    assert PaxosSettings(mode=mode).mode == mode  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown Paxos mode 'fast'; use 'basic' or 'multi'"):
        PaxosSettings(mode="fast")  # type: ignore[arg-type]


def test_timeout_now_without_a_client_value_proposes_a_no_op() -> None:
    h = Harness(3, BASIC)
    h.timeout_now("n2")
    h.run(100)
    assert h.chosen() == dict.fromkeys(THREE, NOOP.describe())
