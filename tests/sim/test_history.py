"""History: rewind, replay, fork, traces; and command parsing that refuses bad input."""

from __future__ import annotations

import copy
import json

import pytest

from raftviz.sim.engine.cluster import ClusterConfig, CommandError
from raftviz.sim.engine.commands import parse_command
from raftviz.sim.history import History, committed_on_majority, config_from_json, leader_exists
from raftviz.sim.snapshot import snapshot


def transcript(h: History) -> list[tuple[float, str, str]]:
    return [(e.time, e.node, e.text) for e in h.cluster.narration]


def busy_history(seed: int = 3) -> History:
    h = History(ClusterConfig(size=5, seed=seed), checkpoint_every=200.0)
    h.run_until(600)
    h.apply_json({"type": "client", "op": "set", "key": "x", "value": "1"})
    h.run_for(300)
    leader = h.cluster.leader
    assert leader is not None
    h.apply_json({"type": "crash", "node": leader})
    h.run_for(700)
    h.apply_json({"type": "client", "op": "set", "key": "x", "value": "2"})
    h.run_for(400)
    return h


def test_same_seed_and_commands_give_identical_runs() -> None:
    a, b = busy_history(), busy_history()
    assert transcript(a) == transcript(b)
    assert json.dumps(snapshot(a.cluster)) == json.dumps(snapshot(b.cluster))
    assert transcript(busy_history(seed=4)) != transcript(a)


def test_seek_back_shows_the_earlier_state_exactly() -> None:
    h = busy_history()
    reference = History(ClusterConfig(size=5, seed=3))
    reference.run_until(600)
    reference.apply_json({"type": "client", "op": "set", "key": "x", "value": "1"})
    reference.run_until(850)
    h.seek(850)
    assert h.now == 850
    assert json.dumps(snapshot(h.cluster)) == json.dumps(snapshot(reference.cluster))


def test_running_forward_after_a_seek_replays_the_recorded_commands() -> None:
    h = busy_history()
    end = h.now
    final = json.dumps(snapshot(h.cluster))
    h.seek(100)
    h.run_until(end)
    assert json.dumps(snapshot(h.cluster)) == final
    assert h.cursor == len(h.log)


def test_step_after_seek_matches_the_original_event_order() -> None:
    h = busy_history()
    h.seek(700)
    seen = []
    for _ in range(30):
        h.step()
        seen.append((h.cluster.events_processed, h.now))
    again = busy_history()
    again.seek(700)
    for expected in seen:
        again.step()
        assert (again.cluster.events_processed, again.now) == expected


def test_a_new_command_after_a_seek_forks_history() -> None:
    h = busy_history()
    assert len(h.log) == 3
    h.seek(750)
    h.apply_json({"type": "partition", "groups": [["n1"], ["n2", "n3", "n4", "n5"]]})
    assert [e.command.type for e in h.log] == ["client", "partition"]
    assert h.horizon == 750
    h.run_for(100)
    assert h.cluster.network.groups


def test_refused_command_changes_nothing_and_is_not_logged() -> None:
    h = busy_history()
    before = json.dumps(snapshot(h.cluster))
    for bad in (
        {"type": "crash", "node": "n9"},
        {"type": "restart", "node": "n1"} if h.cluster.hosts["n1"].node else {"type": "x"},
        {"type": "client", "op": "set", "key": "x", "node": "n7", "value": "1"},
        {"type": "client", "op": "fly", "key": "x"},
        {"type": "partition", "groups": [["n1"], ["n1", "n2"]]},
        {"type": "deliver", "id": 999999},
        {"type": "settings", "changes": {"warp": True}},
        {"type": "settings", "changes": {"election_timeout_min": 500.0}},
        {"type": "network", "latency_min": 30, "latency_max": 10},
    ):
        with pytest.raises(CommandError):
            h.apply_json(bad)
    assert json.dumps(snapshot(h.cluster)) == before
    assert len(h.log) == 3


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (None, "JSON object"),
        ([], "JSON object"),
        ({"type": "nope"}, "unknown command type"),
        ({"type": "crash"}, "missing field 'node'"),
        ({"type": "crash", "node": 3}, "must be a string"),
        ({"type": "crash", "node": "n1", "extra": 1}, "unexpected field"),
        ({"type": "crash", "node": "x" * 500}, "1 to 64 characters"),
        ({"type": "deliver", "id": True}, "whole number"),
        ({"type": "clock", "node": "n1", "rate": float("nan")}, "out of range"),
        ({"type": "manual", "on": "yes"}, "true or false"),
        ({"type": "partition", "groups": "n1|n2"}, "list"),
    ],
)
def test_parse_command_explains_what_is_wrong(data: object, fragment: str) -> None:
    with pytest.raises(CommandError, match=fragment):
        parse_command(data)


def test_trace_round_trip_reproduces_the_run() -> None:
    h = busy_history()
    h.seek(1500)
    trace = json.loads(h.to_json_text())
    again = History.import_trace(trace)
    assert again.now == h.now
    assert json.dumps(snapshot(again.cluster)) == json.dumps(snapshot(h.cluster))
    again.run_until(h.horizon)
    h.run_until(h.horizon)
    assert transcript(again) == transcript(h)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: t.update(format="other"),
        lambda t: t.update(version=99),
        lambda t: t.update(config="big"),
        lambda t: t["config"].update(size=12),
        lambda t: t["config"].update(seed=-1),
        lambda t: t["config"]["settings"].update(heartbeat_interval="fast"),
        lambda t: t.update(commands="none"),
        lambda t: t["commands"].append({"events": 1, "time": 0, "command": {"type": "boom"}}),
        lambda t: t["commands"].insert(0, {"events": 10**9, "time": 1e12, "command": {}}),
        lambda t: t.update(end=float("inf")),
        lambda t: t["commands"].reverse(),
    ],
)
def test_malformed_traces_are_refused_with_a_message(mutate: object) -> None:
    trace = busy_history().export_trace()
    bad = copy.deepcopy(trace)
    mutate(bad)  # type: ignore[operator]
    with pytest.raises(CommandError):
        History.import_trace(bad)


def test_config_from_json_sets_up_initial_logs() -> None:
    config = config_from_json(
        {
            "size": 3,
            "seed": 9,
            "initial": {"n1": {"term": 3, "log": [1, 1, {"term": 3, "op": "set", "key": "a",
                                                          "value": "v"}]}},
        }
    )
    h = History(config)
    log = h.cluster.hosts["n1"].node.log  # type: ignore[union-attr]
    assert [e.term for e in log] == [1, 1, 3]
    assert h.cluster.hosts["n1"].node.current_term == 3  # type: ignore[union-attr]
    with pytest.raises(CommandError, match="must not decrease"):
        config_from_json({"initial": {"n1": {"term": 3, "log": [2, 1]}}})
    with pytest.raises(CommandError, match="unknown node"):
        config_from_json({"size": 3, "initial": {"n4": {"term": 1}}})


def test_checkpoints_share_log_chunks() -> None:
    h = History(ClusterConfig(size=3, seed=5), checkpoint_every=500.0)
    h.run_until(500)
    h.apply_json({"type": "workload", "rate": 200, "keys": 3})
    h.run_for(5000)
    first = h.checkpoints[-2].cluster.hosts["n1"].node
    last = h.checkpoints[-1].cluster.hosts["n1"].node
    assert first is not None and last is not None
    assert first.log._chunks[0] is last.log._chunks[0]  # noqa: SLF001 - shared, not copied


def test_run_until_an_entry_commits() -> None:
    h = History(ClusterConfig(size=5, seed=11))
    assert h.run_until_condition(leader_exists, 2000)
    leader = h.cluster.leader
    assert leader is not None
    log = h.cluster.hosts[leader].node.log  # type: ignore[union-attr]
    before = log.last_index

    def appended(_: object) -> bool:
        return log.last_index > before

    h.apply_json({"type": "client", "op": "set", "key": "x", "value": "1", "node": leader})
    assert h.run_until_condition(appended, 200)  # the request reached the leader
    assert h.run_until_condition(committed_on_majority(log.last_index), 1000)
    # Cut the leader off with one follower: its next entry cannot commit.
    other = next(n for n in h.cluster.node_ids if n != leader)
    rest = [n for n in h.cluster.node_ids if n not in (leader, other)]
    h.apply_json({"type": "partition", "groups": [[leader, other], rest]})
    before = log.last_index
    h.apply_json({"type": "client", "op": "set", "key": "x", "value": "2", "node": leader})
    assert h.run_until_condition(appended, 200)
    assert not h.run_until_condition(committed_on_majority(log.last_index), 100)
