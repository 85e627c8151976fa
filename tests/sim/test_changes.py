"""What one step changed: each field compared with the state before it, nothing else listed."""

from __future__ import annotations

from typing import Any

from raftviz.core.messages import Command, LogEntry, Op
from raftviz.sim.changes import before_step, changes
from raftviz.sim.engine.cluster import ClusterConfig, NodeInit
from raftviz.sim.history import History


def step_until(h: History, wanted: Any, limit: int = 5000) -> dict[str, dict[str, Any]]:
    """Step one event at a time until ``wanted(changed)`` holds; return that step's changes."""
    for _ in range(limit):
        before = before_step(h.cluster)
        assert h.step()
        changed = changes(before, h.cluster)
        if wanted(changed):
            return changed
    raise AssertionError("no such step")


def test_a_timeout_changes_role_term_and_vote_of_that_server_only() -> None:
    h = History(ClusterConfig(size=3, seed=1))
    changed = step_until(h, lambda c: any(v.get("role") == ["follower", "candidate"]
                                          for v in c.values()))
    (node, what), = ((n, v) for n, v in changed.items() if "role" in v)
    assert what == {
        "role": ["follower", "candidate"],
        "term": [0, 1],
        "voted_for": [None, node],
    }
    assert list(changed) == [node], "one timer firing changes one server"


def test_replication_lists_the_new_entries_and_the_commit() -> None:
    h = History(ClusterConfig(size=3, seed=1))
    h.run_until(1000)
    h.apply_json({"type": "client", "op": "set", "key": "x", "value": "1"})
    leader = h.cluster.leader
    assert leader is not None
    # The request is still on its way: its entry will follow the leader's last one.
    last = h.cluster.hosts[leader].node.log.last_index + 1  # type: ignore[union-attr]
    changed = step_until(h, lambda c: any("log" in v for n, v in c.items() if n != leader))
    follower, what = next((n, v) for n, v in changed.items() if "log" in v)
    assert what["log"] == {"from": last, "to": last, "removed": False}
    commit = step_until(h, lambda c: "commit_index" in c.get(leader, {}))
    assert commit[leader]["commit_index"][1] == last


def test_overwriting_a_conflicting_tail_says_entries_were_removed() -> None:
    noop = Command(Op.NOOP)
    initial = (
        ("n1", NodeInit(3, None, (LogEntry(1, noop), LogEntry(3, noop)))),
        ("n2", NodeInit(2, None, (LogEntry(1, noop), LogEntry(2, noop), LogEntry(2, noop)))),
        ("n3", NodeInit(3, None, (LogEntry(1, noop), LogEntry(3, noop)))),
    )
    h = History(ClusterConfig(size=3, seed=1, initial=initial))
    changed = step_until(h, lambda c: c.get("n2", {}).get("log", {}).get("removed"))
    log = changed["n2"]["log"]
    assert log["from"] == 2 and log["removed"] is True
    node = h.cluster.hosts["n2"].node
    assert node is not None and node.log.term_at(2) == 3  # type: ignore[union-attr]


def test_a_crash_between_steps_and_paxos_promises() -> None:
    h = History(ClusterConfig(size=3, seed=2, protocol="paxos"))
    changed = step_until(h, lambda c: any("voted_for" in v for v in c.values()))
    node, what = next((n, v) for n, v in changed.items() if "voted_for" in v)
    promised = what["voted_for"][1]  # a Paxos server's vote is the ballot it promised
    round_, proposer = promised.split(".")
    assert int(round_) == h.cluster.hosts[node].node.current_term  # type: ignore[union-attr]
    assert proposer in h.cluster.node_ids
    before = before_step(h.cluster)
    h.apply_json({"type": "crash", "node": node})
    assert changes(before, h.cluster) == {node: {"role": [before[node].role, "crashed"]}}
