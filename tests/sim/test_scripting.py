"""The scripting commands (docs/commands.md, "Scripting"): propose, inject, heartbeat,
drop_kind, jitter, and History.applied. Each is a command in the log, so it replays exactly."""

from __future__ import annotations

import json

import pytest

from raftviz.core.messages import AppendEntries, Kind, RequestVote
from raftviz.core.raft import RaftNode, Role
from raftviz.sim.engine.cluster import CommandError
from raftviz.sim.history import History, config_from_json
from raftviz.sim.snapshot import snapshot


def elected(size: int = 3, seed: int = 1) -> tuple[History, str]:
    h = History(config_from_json({"size": size, "seed": seed}), keep_history=True)
    assert h.run_until_condition(lambda c: c.leader is not None, 2000)
    h.run_for(100)
    leader = h.cluster.leader
    assert leader is not None
    return h, leader


def raft(h: History, node: str) -> RaftNode:
    n = h.cluster.hosts[node].node
    assert isinstance(n, RaftNode)
    return n


def follower_of(h: History, leader: str) -> str:
    return next(n for n in h.cluster.node_ids if n != leader)


# ------------------------------------------------------------------------------- propose


def test_propose_at_the_leader_appends_commits_and_applies_once() -> None:
    h, leader = elected()
    h.apply_json({"type": "propose", "node": leader, "op": "set", "key": "x", "value": "7"})
    assert [e.command.describe() for e in raft(h, leader).log][-1] == "SET x=7"
    h.run_for(200)
    for node in h.cluster.node_ids:
        assert h.applied(node)[-1] == {"index": 2, "term": 1, "command": "SET x=7"}
    assert not h.cluster.ops  # no client operation was recorded


def test_propose_at_a_follower_is_refused_and_nothing_retries() -> None:
    h, leader = elected()
    follower = follower_of(h, leader)
    h.apply_json({"type": "propose", "node": follower, "op": "set", "key": "x", "value": "7"})
    h.run_for(1000)
    assert all("SET x=7" not in [e.command.describe() for e in raft(h, n).log]
               for n in h.cluster.node_ids)


@pytest.mark.parametrize(
    ("command", "error"),
    [
        ({"op": "acquire"}, "propose takes set, get, delete or cas"),
        ({"op": "set"}, "set needs a value"),
        ({"op": "jump"}, "unknown operation 'jump'"),
        ({"op": "set", "value": "1", "node": "n9"}, "n9"),
    ],
)
def test_propose_refuses_bad_input_and_changes_nothing(command: dict[str, str], error: str) -> None:
    h, leader = elected()
    before = json.dumps(snapshot(h.cluster))
    with pytest.raises(CommandError, match=error):
        h.apply_json({"type": "propose", "node": leader, "key": "x", **command})
    assert json.dumps(snapshot(h.cluster)) == before


# -------------------------------------------------------------------------------- inject


def test_an_injected_request_vote_of_a_higher_term_deposes_the_leader() -> None:
    h, leader = elected()
    voter = follower_of(h, leader)
    h.apply_json({"type": "inject", "message": {
        "kind": "RequestVote", "src": voter, "dst": leader, "term": 9,
        "last_log_index": 0, "last_log_term": 0}})
    h.run_for(30)
    n = raft(h, leader)
    assert n.current_term == 9 and n.role is not Role.LEADER
    assert n.voted_for is None  # the forged candidate's log is behind: no vote
    assert h.cluster.monitor.violations == []


def test_an_injected_append_entries_is_handled_like_a_leaders() -> None:
    h, leader = elected()
    follower = follower_of(h, leader)
    term = raft(h, leader).current_term
    h.apply_json({"type": "manual", "on": True})
    h.apply_json({"type": "inject", "message": {
        "kind": "AppendEntries", "src": leader, "dst": follower, "term": term,
        "prev_log_index": 1, "prev_log_term": 1, "leader_commit": 1,
        "entries": [{"term": term, "op": "set", "key": "y", "value": "2"}]}})
    (env,) = [e for e in h.cluster.network.in_flight.values() if e.msg.dst == follower
              and isinstance(e.msg, AppendEntries) and e.msg.entries]
    h.apply_json({"type": "deliver", "id": env.id})
    assert [e.command.describe() for e in raft(h, follower).log][-1] == "SET y=2"


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"kind": "Hello"}, "kind must be one of"),
        ({"kind": "RequestVote", "src": "n1", "dst": "n2", "term": 1}, "last_log_index is missing"),
        ({"kind": "RequestVote", "src": "n1", "dst": "n2", "term": -1, "last_log_index": 0,
          "last_log_term": 0}, "term must be a whole number"),
        ({"kind": "RequestVote", "src": "n1", "dst": "n2", "term": 1, "last_log_index": 0,
          "last_log_term": 0, "entries": []}, "unexpected field"),
        ({"kind": "AppendEntries", "src": "n1", "dst": "n7", "term": 1, "prev_log_index": 0,
          "prev_log_term": 0, "leader_commit": 0, "entries": []}, "n7"),
        ({"kind": "AppendEntries", "src": "n1", "dst": "n2", "term": 1, "prev_log_index": 0,
          "prev_log_term": 0, "leader_commit": 0, "entries": [{"term": 0}]}, r"entries\[1\]"),
    ],
)
def test_inject_refuses_bad_messages_and_changes_nothing(
    message: dict[str, object], error: str
) -> None:
    h, _ = elected()
    before = json.dumps(snapshot(h.cluster))
    with pytest.raises(CommandError, match=error):
        h.apply_json({"type": "inject", "message": message})
    assert json.dumps(snapshot(h.cluster)) == before


# ----------------------------------------------------------------------------- heartbeat


def test_heartbeat_sends_append_entries_to_every_follower_now() -> None:
    h, leader = elected()
    h.apply_json({"type": "manual", "on": True})
    before = {e.id for e in h.cluster.network.in_flight.values()}
    h.apply_json({"type": "heartbeat", "node": leader})
    new = [e.msg for e in h.cluster.network.in_flight.values() if e.id not in before]
    assert sorted(m.dst for m in new if isinstance(m, AppendEntries)) == sorted(
        n for n in h.cluster.node_ids if n != leader
    )


def test_heartbeat_at_a_follower_is_refused() -> None:
    h, leader = elected()
    with pytest.raises(CommandError, match="is not a leader"):
        h.apply_json({"type": "heartbeat", "node": follower_of(h, leader)})


# ----------------------------------------------------------------------------- drop_kind


def test_dropping_requests_lets_replies_through() -> None:
    """Only AppendEntries from the leader are lost: followers time out and elect anew, while
    the leader's own replies (to votes) still flow."""
    h, leader = elected(5)
    term = raft(h, leader).current_term
    h.apply_json({"type": "drop_kind", "kinds": ["AppendEntries"], "src": leader})
    h.run_for(1500)
    assert h.cluster.leader != leader and raft(h, leader).current_term > term
    lost = [e.msg.kind for e, _, why in h.cluster.dropped_recent if "being dropped" in why]
    assert lost and set(lost) == {Kind.APPEND_ENTRIES}
    h.apply_json({"type": "drop_kind", "kinds": [], "src": leader})
    assert h.cluster.network.dropped_kinds == {}


def test_drop_kind_refuses_an_unknown_kind() -> None:
    h, _ = elected()
    with pytest.raises(CommandError, match="unknown kind 'Vote'; kinds are"):
        h.apply_json({"type": "drop_kind", "kinds": ["Vote"]})


# -------------------------------------------------------------------------------- jitter


def test_a_run_with_jitter_replays_exactly() -> None:
    h, leader = elected()
    h.apply_json({"type": "jitter", "ms": 200})
    for i in range(6):
        h.apply_json({"type": "propose", "node": leader, "op": "set", "key": "x", "value": str(i)})
        h.run_for(5)
    h.run_for(1000)
    again = History.import_trace(json.loads(h.to_json_text()))
    again.run_until(h.now)
    assert json.dumps(snapshot(again.cluster)) == json.dumps(snapshot(h.cluster))
    with pytest.raises(CommandError, match="jitter.ms must be 0..10000"):
        h.apply_json({"type": "jitter", "ms": -1})


def test_jitter_delays_messages_beyond_the_link_latency() -> None:
    h, leader = elected()
    h.apply_json({"type": "manual", "on": True})
    h.apply_json({"type": "jitter", "ms": 500})
    h.apply_json({"type": "heartbeat", "node": leader})
    delays = [e.deliver_at - e.sent_at for e in h.cluster.network.in_flight.values()]
    assert delays and max(delays) > 20  # the link's latency is 10-20 ms


def test_without_jitter_the_random_streams_are_unchanged() -> None:
    a, _ = elected()
    b, _ = elected()
    b.apply_json({"type": "jitter", "ms": 0})
    a.run_for(2000)
    b.run_for(2000)
    def story(h: History) -> list[tuple[float, str]]:
        return [(n.time, n.text) for n in h.cluster.narration if n.kind != "network"]

    assert story(a) == story(b)


# ------------------------------------------------------------------------------- applied


def test_applied_lists_what_the_state_machine_applied_and_restarts_with_the_node() -> None:
    h, leader = elected()
    follower = follower_of(h, leader)
    h.apply_json({"type": "client", "op": "set", "key": "x", "value": "1"})
    h.run_for(300)
    assert [a["command"] for a in h.applied(follower)] == ["no-op", "SET x=1"]
    h.apply_json({"type": "crash", "node": follower})
    assert h.applied(follower) == []
    h.apply_json({"type": "restart", "node": follower})
    h.run_for(300)
    assert [a["index"] for a in h.applied(follower)] == [1, 2]
    with pytest.raises(CommandError):
        h.applied("n9")


def test_injected_request_vote_is_typed() -> None:
    from raftviz.sim.engine.scripting import build_message

    msg = build_message({"kind": "RequestVote", "src": "n1", "dst": "n2", "term": 3,
                         "last_log_index": 4, "last_log_term": 2, "pre_vote": True})
    assert msg == RequestVote("n1", "n2", 3, 4, 2, True)


def test_the_snapshot_shows_drop_rules_and_jitter_in_force_also_after_a_seek() -> None:
    h, leader = elected()
    assert snapshot(h.cluster)["network"]["dropped_kinds"] == []
    assert snapshot(h.cluster)["network"]["jitter"] == 0
    h.apply_json({"type": "drop_kind", "kinds": ["RequestVote", "AppendEntries"], "src": leader})
    h.apply_json({"type": "jitter", "ms": 40})
    at = h.now
    h.run_for(50)
    h.apply_json({"type": "drop_kind", "kinds": [], "src": leader})
    net = snapshot(h.cluster)["network"]
    assert net["dropped_kinds"] == [] and net["jitter"] == 40
    h.seek(at + 10)
    net = snapshot(h.cluster)["network"]
    assert net["dropped_kinds"] == [
        {"src": leader, "dst": "*", "kinds": ["AppendEntries", "RequestVote"]}]
    assert net["jitter"] == 40
