"""Frame sizes (bytes of JSON, as Socket.IO sends them) for a typical busy cluster.

Builds 5 nodes whose logs hold 200 client writes, holds 20 messages in flight (manual
delivery), and measures the full frame a page gets on connect and the delta frames that follow:
one playback tick at the default speed, a client write, and a second of real-time play under a
workload (the busiest case). Target: every delta <= 16 KiB (full frames may be larger; they send
at most the last 500 entries of each log).

Run from the repository root:

    .venv/bin/python -m bench.bench_frame_size
"""

from __future__ import annotations

import json
from typing import Any

from raftviz.core.raft import RaftNode
from raftviz.service.sessions import DEFAULT_SPEED, FrameState
from raftviz.sim.history import CONDITIONS, History, config_from_json
from raftviz.web.frames import build_frame

TICK_MS = 50.0  # real ms between playback frames
PLAYER = {"playing": True, "speed": DEFAULT_SPEED, "now": 0, "horizon": 0, "start": 0,
          "checkpoints": 1, "manual": True}


def size(frame: dict[str, Any]) -> int:
    return len(json.dumps(frame, separators=(",", ":")))


def cluster_with_logs(entries: int, seed: int = 3) -> History:
    history = History(config_from_json({"seed": seed}))
    history.run_until_condition(CONDITIONS["leader"], 5000)
    history.apply_json({"type": "workload", "rate": 200, "keys": 20})
    leader = history.cluster.hosts[history.cluster.leader or ""].node
    assert isinstance(leader, RaftNode)
    while leader.log.last_index < entries:
        history.run_for(20)
    history.apply_json({"type": "workload", "rate": 0})
    history.run_until_condition(CONDITIONS["converged"], 5000)
    return history


def breakdown(frame: dict[str, Any]) -> str:
    parts = sorted(((size(v), k) for k, v in frame.items()), reverse=True)
    return ", ".join(f"{k} {n}" for n, k in parts[:5])


def main() -> None:
    history = cluster_with_logs(200)
    history.apply_json({"type": "manual", "on": True})
    while len(history.cluster.network.in_flight) < 20:
        history.run_for(5)
    state = FrameState()
    full = build_frame(history.cluster, state, PLAYER)
    logs = [n["log_length"] for n in full["nodes"]]
    print(f"5 nodes, logs {logs} entries, {len(full['messages'])} messages in flight")
    print(f"  full frame:                      {size(full):6d} bytes  ({breakdown(full)})")

    history.run_for(TICK_MS * DEFAULT_SPEED)
    tick = build_frame(history.cluster, state, PLAYER)
    print(f"  delta, one tick (default speed): {size(tick):6d} bytes  ({breakdown(tick)})")

    history.apply_json({"type": "client", "op": "set", "key": "x", "value": "42"})
    write = build_frame(history.cluster, state, PLAYER)
    print(f"  delta after a client write:      {size(write):6d} bytes  ({breakdown(write)})")

    history.apply_json({"type": "manual", "on": False})
    history.apply_json({"type": "workload", "rate": 40, "read_ratio": 0.3})
    build_frame(history.cluster, state, PLAYER)
    busiest = 0
    for _ in range(20):  # one second of play at speed 1.0, 20 frames
        history.run_for(TICK_MS)
        frame = build_frame(history.cluster, state, PLAYER)
        busiest = max(busiest, size(frame))
    print(f"  largest delta, 1 s at speed 1 with 40 ops/s: {busiest} bytes")
    worst = max(size(tick), size(write), busiest)
    verdict = "ok" if worst <= 16 * 1024 else "OVER"
    print(f"  target: deltas <= 16384 bytes: {verdict} (largest {worst})")


if __name__ == "__main__":
    main()
