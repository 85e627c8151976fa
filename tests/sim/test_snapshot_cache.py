"""The snapshot's caches never show a stale value: a snapshot built with warm caches equals one
built from scratch, step after step, through every kind of change the UI can cause.

``raftviz/sim/snapshot.py`` keeps module-level caches (upper-case dicts) of parts that are
costly to rebuild every frame, and, given a ``version`` (History's place in its command log),
reuses a Raft node's entry while only time moves. Each step below compares the snapshot built
that way, with the caches as the run left them, against one built with every cache emptied
and no version, field for field and in the same order, so a cache keyed on too little fails
here instead of freezing a node on the page. Steps of half a millisecond, often without an
event, exercise the reuse; commands, seeks and events between them must end it.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from raftviz.sim import snapshot as snapshot_module
from raftviz.sim.history import CONDITIONS, History, config_from_json
from raftviz.sim.snapshot import snapshot

CACHES = sorted(
    name for name, value in vars(snapshot_module).items()
    if name.isupper() and name.startswith("_") and isinstance(value, dict)
)


def _fresh(cluster: Any, monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> dict[str, Any]:
    with monkeypatch.context() as m:
        for name in CACHES:
            m.setattr(snapshot_module, name, {})
        return snapshot(cluster, **kwargs)


def _check(h: History, monkeypatch: pytest.MonkeyPatch, what: str) -> None:
    c = h.cluster
    version = (h.cursor, len(h.log))
    for log_from in ({}, {n: max(1, c.hosts[n].incarnation) for n in c.hosts}):
        warm = snapshot(c, log_from=log_from, version=version)
        for node in warm["nodes"]:
            node["log_from"] = 0  # as web/frames.py does to what it is handed
        again = snapshot(c, log_from=log_from, version=version)  # reused: nothing happened
        fresh = _fresh(c, monkeypatch, log_from=log_from)
        assert again == fresh, what
        assert json.dumps(again) == json.dumps(fresh), what  # same fields in the same order
    h.run_for(0.5)  # usually no event: only the clocks move
    fresh = _fresh(h.cluster, monkeypatch)
    assert snapshot(h.cluster, version=(h.cursor, len(h.log))) == fresh, f"{what}, then 0.5 ms"


def test_the_module_has_the_caches_this_test_empties() -> None:
    assert CACHES, "no caches found: this test would compare a snapshot with itself"


def test_raft_run_with_faults_writes_compaction_membership_and_seeks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    h = History(config_from_json({
        "seed": 11,
        "settings": {"snapshot_threshold": 15, "snapshot_chunk_size": 64},
    }))
    rng = random.Random(11)
    assert h.run_until_condition(CONDITIONS["leader"], 5000)
    h.apply_json({"type": "workload", "rate": 60, "keys": 4, "read_ratio": 0.2})
    _check(h, monkeypatch, "start")
    actions = 0
    added = False
    for step in range(140):
        ids = list(h.cluster.hosts)
        leader = h.cluster.leader
        roll = rng.random()
        command: dict[str, Any] | None = None
        if roll < 0.07:
            command = {"type": "crash", "node": rng.choice(ids)}
        elif roll < 0.14:
            down = [n for n in ids if h.cluster.hosts[n].node is None]
            if down:
                command = {"type": "restart", "node": rng.choice(down)}
        elif roll < 0.19:
            a = rng.sample(ids, 2)
            command = {"type": "partition", "groups": [a, [n for n in ids if n not in a]]}
        elif roll < 0.24:
            command = {"type": "heal"}
        elif roll < 0.32:
            command = {"type": "client", "op": rng.choice(["set", "cas", "acquire", "delete"]),
                       "key": f"k{rng.randrange(3)}", "value": str(step), "expected": "1",
                       "ttl": 500}
        elif roll < 0.36 and leader is not None:
            command = {"type": "snapshot", "node": leader}
        elif roll < 0.40 and leader is not None and not added:
            command = {"type": "add_server", "node": None}
        elif roll < 0.44 and leader is not None:
            command = {"type": "remove_server", "node": rng.choice(ids)}
        elif roll < 0.47:
            command = {"type": "pause", "node": rng.choice(ids), "freeze_clock": rng.random() < .5}
        elif roll < 0.50:
            command = {"type": "resume", "node": rng.choice(ids)}
        elif roll < 0.53:
            command = {"type": "disk", "fsync_ms": rng.choice([2, 60, 400]),
                       "node": rng.choice(ids)}
        elif roll < 0.56:
            command = {"type": "clock", "node": rng.choice(ids), "rate": rng.choice([0.5, 1, 2])}
        elif roll < 0.59 and leader is not None:
            command = {"type": "transfer_leadership",
                       "node": rng.choice([n for n in ids if n != leader])}
        elif roll < 0.66 and h.now > 200:
            h.seek(rng.uniform(h.now / 2, h.now))  # back in time: a restored checkpoint
            _check(h, monkeypatch, f"step {step}: seek back to {h.now}")
            continue
        if command is not None:
            try:
                h.apply_json(command)
                actions += 1
                added = added or command["type"] == "add_server"
            except ValueError:  # refused (no leader, a change under way ...): changes nothing
                pass
        _check(h, monkeypatch, f"step {step}: after {command}")
        h.run_for(rng.choice([1, 5, 23, 80]))
        _check(h, monkeypatch, f"step {step}: {h.now} ms")
    assert actions > 60
    assert added
    nodes = snapshot(h.cluster)["nodes"]
    assert any(n["snapshot"] for n in nodes), "the run should have compacted a log"


def test_paxos_run_with_faults_and_seeks(monkeypatch: pytest.MonkeyPatch) -> None:
    h = History(config_from_json({"seed": 4, "protocol": "paxos"}))
    rng = random.Random(4)
    h.apply_json({"type": "workload", "rate": 40, "keys": 3})
    for step in range(40):
        ids = list(h.cluster.hosts)
        roll = rng.random()
        if roll < 0.15:
            h.apply_json({"type": "crash", "node": rng.choice(ids)})
        elif roll < 0.3:
            for n in ids:
                if h.cluster.hosts[n].node is None:
                    h.apply_json({"type": "restart", "node": n})
        elif roll < 0.4 and h.now > 200:
            h.seek(rng.uniform(0, h.now))
        _check(h, monkeypatch, f"paxos step {step}")
        h.run_for(rng.choice([5, 40, 120]))
        _check(h, monkeypatch, f"paxos step {step}: {h.now} ms")


def test_a_change_outside_events_and_narration_is_seen_once_the_version_moves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every command narrates today; ``version`` covers one that would not."""
    h = History(config_from_json({"seed": 2}))
    assert h.run_until_condition(CONDITIONS["leader"], 5000)
    c = h.cluster
    follower = next(n for n in c.hosts if n != c.leader)
    assert snapshot(c, version=1) == _fresh(c, monkeypatch)
    c.hosts[follower].paused = True  # behind the dispatcher's back: no event, no narration
    nodes = {n["id"]: n for n in snapshot(c, version=2)["nodes"]}
    assert nodes[follower]["state"] == "paused"
    assert snapshot(c, version=2) == _fresh(c, monkeypatch)
