"""Frames carry only what changed, and a page that applies them holds exactly the engine's state."""

from __future__ import annotations

import json
import random
from typing import Any

from raftviz.core.raft import RaftNode
from raftviz.service.sessions import FrameState
from raftviz.sim.history import CONDITIONS, History, config_from_json
from raftviz.web.frames import ALWAYS_SENT, build_frame

from .conftest import Server

PLAYER = {"playing": False}


def _size(frame: dict[str, Any]) -> int:
    return len(json.dumps(frame, separators=(",", ":")))


def _history_with_logs(entries: int) -> History:
    """5 nodes, a leader, and `entries` committed client writes in every log."""
    history = History(config_from_json({"seed": 3}))
    history.run_until_condition(CONDITIONS["leader"], 5000)
    history.apply_json({"type": "workload", "rate": 200, "keys": 20})
    leader = history.cluster.hosts[history.cluster.leader or ""].node
    assert isinstance(leader, RaftNode)
    while leader.log.last_index < entries:
        history.run_for(20)
    history.apply_json({"type": "workload", "rate": 0})
    history.run_until_condition(CONDITIONS["converged"], 5000)
    return history


def test_a_leader_cut_off_with_writes_loses_its_tail_and_the_page_follows(server: Server) -> None:
    tab = server.page()
    tab.player(action="run_until", condition="leader")
    old = tab.state["leader"]
    others = [n for n in ("n1", "n2", "n3", "n4", "n5") if n != old]
    tab.command(type="client", op="set", key="a", value="1")
    tab.player(action="advance", ms=300)
    tab.command(type="partition", groups=[[old], others])
    for i in range(3):
        tab.command(type="client", op="set", key="lost", value=str(i), node=old, client=f"x{i}")
    tab.player(action="advance", ms=100)
    doomed = tab.node(old)["log_length"]
    tail = tab.log(old)[-3:]
    assert sorted(e[2] for e in tail) == ["SET lost=0", "SET lost=1", "SET lost=2"]
    tab.player(action="run_until", condition="leader", max_ms=3000)
    tab.player(action="advance", ms=1000)
    new = tab.state["leader"]
    assert new != old
    for i in range(4):
        tab.command(type="client", op="set", key="b", value=str(i), node=new, client=f"y{i}")
    tab.player(action="advance", ms=500)
    tab.command(type="heal")
    tab.player(action="run_until", condition="converged", max_ms=5000)
    # The old leader's uncommitted tail was replaced; the frame said from where.
    froms = [n["log_from"] for f in tab.frames[-3:] for n in f["nodes"] if n["id"] == old]
    assert min(froms) <= doomed
    # (The clients retry elsewhere, so the writes may come back, but not at those places.)
    assert all(tab.logs[old][e[0]] != e for e in tail)
    assert tab.log(old) == tab.log(new)
    tab.assert_in_sync()


def test_a_chaotic_run_keeps_the_page_in_sync(server: Server) -> None:
    rng = random.Random(5)
    tab = server.page()
    tab.player(action="run_until", condition="leader")
    tab.command(type="workload", rate=40, read_ratio=0.3)
    nodes = ["n1", "n2", "n3", "n4", "n5"]
    tab.player(action="speed", speed=1.0)
    tab.player(action="play")
    for step in range(120):
        roll = rng.random()
        if roll < 0.08:
            a = rng.sample(nodes, 2)
            tab.command(type="partition", groups=[a, [n for n in nodes if n not in a]])
        elif roll < 0.14:
            tab.command(type="heal")
        elif roll < 0.18:
            down = [n["id"] for n in tab.state["nodes"] if n["state"] == "crashed"]
            if down:
                tab.command(type="restart", node=rng.choice(down))
            else:
                tab.command(type="crash", node=rng.choice(nodes))
        elif roll < 0.21:
            tab.player(action="seek", time=max(0.0, tab.state["time"] - rng.uniform(0, 3000)))
        elif roll < 0.23:
            tab.command(type="client", op="set", key="k", value=str(step), node=rng.choice(nodes))
        server.clock.advance(0.05)
        server.playback.tick()
        tab.receive()
        tab.assert_in_sync()
    assert any(not f["full"] for f in tab.frames)
    assert any(f["full"] for f in tab.frames[1:])  # the seeks back


def test_unchanged_fields_are_left_out_of_a_delta() -> None:
    history = _history_with_logs(20)
    state = FrameState()
    full = build_frame(history.cluster, state, PLAYER)
    assert full["full"] and {"settings", "invariants", "network"} <= set(full)
    assert len(full["milestones"]) >= 1
    delta = build_frame(history.cluster, state, PLAYER)
    assert delta["full"] is False
    assert set(delta) == ALWAYS_SENT
    assert all(n["log"] == [] and n["log_from"] == n["log_length"] + 1 for n in delta["nodes"])
    assert delta["events"] == [] and delta["ops"] == [] and delta["milestones"] == []
    history.apply_json({"type": "settings", "changes": {"pre_vote": True}})
    delta = build_frame(history.cluster, state, PLAYER)
    assert delta["settings"]["pre_vote"] is True
    assert "invariants" not in delta
    assert [m["kind"] for m in delta["milestones"]] == ["settings"]  # only the new one


def test_a_full_frame_sends_at_most_the_last_500_entries() -> None:
    history = _history_with_logs(620)
    frame = build_frame(history.cluster, FrameState(), PLAYER)
    for node in frame["nodes"]:
        assert node["log_from"] == node["log_length"] - 499
        assert [e[0] for e in node["log"]] == list(range(node["log_from"], node["log_length"] + 1))


def test_a_delta_that_would_be_too_long_becomes_a_full_frame() -> None:
    history = _history_with_logs(5)
    state = FrameState()
    build_frame(history.cluster, state, PLAYER, window=10)
    history.apply_json({"type": "workload", "rate": 200})
    history.run_for(300)
    frame = build_frame(history.cluster, state, PLAYER, window=10)
    assert frame["full"] is True
    assert all(len(n["log"]) <= 10 for n in frame["nodes"])


def test_delta_frames_for_200_entry_logs_and_20_messages_fit_in_16_kib() -> None:
    history = _history_with_logs(200)
    history.apply_json({"type": "manual", "on": True})
    while len(history.cluster.network.in_flight) < 20:
        history.run_for(10)
    assert len(history.cluster.network.in_flight) <= 24
    state = FrameState()
    full = build_frame(history.cluster, state, PLAYER)
    assert all(len(n["log"]) >= 200 for n in full["nodes"])
    history.run_for(2.5)  # one playback tick at the default speed
    delta = build_frame(history.cluster, state, PLAYER)
    assert delta["full"] is False
    assert len(delta["messages"]) >= 20
    assert _size(delta) <= 16 * 1024, _size(delta)


def test_dropped_messages_are_only_the_recent_ones() -> None:
    history = _history_with_logs(3)
    history.apply_json({"type": "network", "drop": 0.5})
    history.run_for(3000)
    frame = build_frame(history.cluster, FrameState(), PLAYER)
    assert 0 < len(frame["dropped"]) <= 30
    assert all(d["lost_at"] >= history.now - 1000 for d in frame["dropped"])


def test_a_paxos_cluster_streams_too(server: Server) -> None:
    tab = server.page()
    tab.ok("reset", {"config": {"protocol": "paxos", "size": 3}})
    assert tab.state["protocol"] == "paxos" and tab.frames[-1]["full"] is True
    assert tab.player(action="run_until", condition="leader", max_ms=5000)["reached"] is True
    for i in range(3):
        tab.command(type="client", op="set", key="k", value=str(i), client=f"c{i}")
        tab.player(action="advance", ms=300)
    tab.assert_in_sync()
    assert any(len(tab.logs[n]) >= 3 for n in tab.logs)
    tab.player(action="advance", ms=100)
    quiet = tab.frames[-1]
    assert all(n["log"] == [] for n in quiet["nodes"])  # nothing new: nothing resent
    tab.command(type="crash", node="n1")
    tab.player(action="advance", ms=2000)
    tab.assert_in_sync()
