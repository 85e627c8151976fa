"""Paxos in the simulation: the issue's partition scenarios, teaching modes, side by side."""

from __future__ import annotations

import json

import pytest

from raftviz.core.paxos import PaxosNode
from raftviz.sim.engine.cluster import Cluster, CommandError
from raftviz.sim.experiments.compare import SCENARIOS, compare, format_table, load_scenario
from raftviz.sim.history import History, config_from_json, logs_converged
from raftviz.sim.snapshot import snapshot


def basic(size: int = 5, seed: int = 1, **paxos: object) -> History:
    config = {"protocol": "paxos", "size": size, "seed": seed,
              "paxos": {"mode": "basic", **paxos}}
    return History(config_from_json(config))


def learned(cluster: Cluster) -> dict[str, str | None]:
    """What each running node has learned for the single decree (slot 1)."""
    out: dict[str, str | None] = {}
    for host in cluster.hosts.values():
        node = host.node
        if isinstance(node, PaxosNode):
            entry = node.chosen.get(1)
            out[host.id] = entry.command.describe() if entry else None
    return out


def propose_everywhere(h: History, nodes: list[str]) -> None:
    for i, node in enumerate(nodes):
        h.apply_json({"type": "client", "op": "set", "key": "x", "value": f"v{node}",
                      "node": node, "client": f"c{i}"})


def no_violations(cluster: Cluster) -> None:
    broken = {k: v["first"] for k, v in cluster.monitor.status().items() if not v["ok"]}
    assert not broken, broken


def test_split_three_ways_decides_nothing_then_heal_decides_one_value() -> None:
    h = basic()
    h.apply_json({"type": "partition", "groups": [["n1", "n3"], ["n2", "n4"], ["n5"]]})
    propose_everywhere(h, ["n1", "n2", "n5"])
    h.run_for(2000)
    assert set(learned(h.cluster).values()) == {None}  # no group holds a majority
    h.apply_json({"type": "heal"})
    h.run_for(3000)
    values = {v for v in learned(h.cluster).values() if v is not None}
    assert len(values) == 1
    # Everyone learns the one value once every node proposes (or hears a Learn) again.
    for node in h.cluster.node_ids:
        h.apply_json({"type": "timeout", "node": node})
    h.run_for(2000)
    assert set(learned(h.cluster).values()) == values
    no_violations(h.cluster)


def test_the_majority_side_decides_and_the_minorities_learn_it_after_the_heal() -> None:
    h = basic(seed=2)
    h.apply_json({"type": "partition", "groups": [["n1"], ["n2", "n3", "n4"], ["n5"]]})
    propose_everywhere(h, ["n1", "n3", "n5"])
    h.run_for(2000)
    got = learned(h.cluster)
    assert got["n3"] == "SET x=vn3" and got["n1"] is None and got["n5"] is None
    h.apply_json({"type": "heal"})
    for node in ("n1", "n5"):
        h.apply_json({"type": "timeout", "node": node})
    h.run_for(2000)
    assert set(learned(h.cluster).values()) == {"SET x=vn3"}
    no_violations(h.cluster)


def test_a_late_proposer_learns_the_chosen_value_instead_of_its_own() -> None:
    h = basic(seed=3)
    h.apply_json({"type": "client", "op": "set", "key": "x", "value": "first", "node": "n1",
                  "client": "c1"})
    h.run_for(500)
    h.apply_json({"type": "client", "op": "set", "key": "x", "value": "late", "node": "n4",
                  "client": "c2"})
    h.run_for(1000)
    assert set(learned(h.cluster).values()) <= {"SET x=first", None}
    assert learned(h.cluster)["n4"] == "SET x=first"
    no_violations(h.cluster)


def test_forgetful_acceptors_let_two_values_be_chosen_and_the_checker_says_so() -> None:
    h = basic(seed=4, forgetful_acceptors=True, backoff=True)
    h.apply_json({"type": "client", "op": "set", "key": "x", "value": "A", "node": "n1",
                  "client": "c1"})
    h.run_for(400)
    assert learned(h.cluster)["n1"] == "SET x=A"
    # Every acceptor but n1 restarts and forgets; a new proposer cut off from n1 chooses B.
    for node in ("n2", "n3", "n4", "n5"):
        h.apply_json({"type": "crash", "node": node})
        h.apply_json({"type": "restart", "node": node})
    h.apply_json({"type": "partition", "groups": [["n1"], ["n2", "n3", "n4", "n5"]]})
    h.apply_json({"type": "client", "op": "set", "key": "x", "value": "B", "node": "n5",
                  "client": "c2"})
    h.run_for(1500)
    assert learned(h.cluster)["n5"] == "SET x=B"
    status = h.cluster.monitor.status()
    assert not status["Chosen Once"]["ok"]
    assert "slot 1 had SET x=A chosen" in status["Chosen Once"]["first"]["text"]
    assert "forgetful_acceptors" in snapshot(h.cluster)["teaching_modes"]


@pytest.mark.parametrize("backoff", [False, True])
def test_dueling_proposers_livelock_without_backoff(backoff: bool) -> None:
    config = {"protocol": "paxos", "size": 3, "seed": 5,
              "paxos": {"mode": "basic", "backoff": backoff},
              "network": {"latency_min": 10.0, "latency_max": 10.0}}
    h = History(config_from_json(config))
    h.apply_json({"type": "client", "op": "set", "key": "x", "value": "A", "node": "n1",
                  "client": "c1"})
    h.run_for(5.0)
    h.apply_json({"type": "client", "op": "set", "key": "x", "value": "B", "node": "n2",
                  "client": "c2"})
    h.run_for(2000)
    decided = {v for v in learned(h.cluster).values() if v is not None}
    if backoff:
        assert len(decided) == 1
    else:
        assert decided == set()
        rounds = max(n.current_term for n in h.cluster.live_nodes())
        assert rounds > 20  # they kept pre-empting each other
    no_violations(h.cluster)


def test_multipaxos_leader_crash_recovers_and_converges() -> None:
    h = History(config_from_json({"protocol": "paxos", "size": 5, "seed": 6}))
    assert h.run_until_condition(lambda c: c.leader is not None, 3000)
    h.apply_json({"type": "workload", "rate": 50, "keys": 3})
    h.run_for(1000)
    leader = h.cluster.leader
    assert leader is not None
    h.apply_json({"type": "crash", "node": leader})
    h.run_for(2000)
    assert h.cluster.leader not in (None, leader)
    h.apply_json({"type": "restart", "node": leader})
    h.apply_json({"type": "workload", "rate": 0})
    h.apply_json({"type": "client", "op": "set", "key": "z", "value": "end", "client": "last"})
    assert h.run_until_condition(logs_converged, 5000)
    kv = {json.dumps(n.sm.data, sort_keys=True) for n in h.cluster.live_nodes()}
    assert len(kv) == 1
    no_violations(h.cluster)
    assert h.cluster.linearizability.status.violation_count == 0


def test_paxos_trace_round_trip_and_settings() -> None:
    h = History(config_from_json({"protocol": "paxos", "size": 3, "seed": 7}))
    h.run_for(800)
    h.apply_json({"type": "settings", "changes": {"heartbeat_interval": 30}})
    with pytest.raises(CommandError, match="unknown setting 'mode'"):
        h.apply_json({"type": "settings", "changes": {"mode": True}})
    with pytest.raises(CommandError, match="unknown setting 'pre_vote'"):
        h.apply_json({"type": "settings", "changes": {"pre_vote": True}})
    h.run_for(500)
    again = History.import_trace(h.export_trace())
    assert json.dumps(snapshot(again.cluster)) == json.dumps(snapshot(h.cluster))
    with pytest.raises(CommandError, match="must be one of"):
        config_from_json({"protocol": "paxos", "paxos": {"mode": "fancy"}})
    with pytest.raises(CommandError, match="initial logs are for Raft"):
        config_from_json({"protocol": "paxos", "initial": {"n1": {"term": 1}}})


def test_compare_runs_both_protocols_on_one_scenario() -> None:
    scenario = {**SCENARIOS["leader-crash"], "duration": 4000,
                "script": [{"at": 1500, "command": {"type": "crash", "node": "$leader"}}]}
    raft, paxos = compare(scenario, seed=2)
    assert (raft.protocol, paxos.protocol) == ("raft", "paxos")
    for r in (raft, paxos):
        assert r.committed > 250 and r.violations == 0
        assert r.stall_after_crash is not None and r.stall_after_crash > 150  # an election
        assert r.latency_median is not None and 20 < r.latency_median < 200
    # Both leaders piggyback what is committed/chosen: about 2 messages per follower and command.
    for r in (raft, paxos):
        assert 8 <= r.messages_per_command < 12
    assert "Multi-Paxos" in format_table([raft, paxos])
    with pytest.raises(CommandError, match="unknown scenario"):
        load_scenario("no-such-scenario")
