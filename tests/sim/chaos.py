"""Seeded chaos schedules for monitor tests, driven only through user commands: crashes,
restarts, partitions, an isolated leader, split votes with a flapping voter, lossy links,
forced timeouts, client writes and bursts of background load.

A schedule is a pure function of its seed, so a mutant that is caught is caught on every run,
and the step at which it is caught is a stable figure for the mutant table.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from raftviz.sim.engine.cluster import CommandError
from raftviz.sim.history import History, config_from_json


def chaos(
    config: dict[str, Any],
    seed: int,
    actions: int = 60,
    stop: Callable[[History], bool] = lambda h: False,
    prepare: Callable[[History], None] = lambda h: None,
    load: float = 0,
) -> History:
    """Build a cluster from ``config`` and play ``actions`` random actions on it.

    Stops early once ``stop`` holds (checked after every action). ``prepare`` runs right after
    the cluster is built (e.g. to hook a reference checker). ``load`` starts background
    writes at that many per second, so entries are in flight whenever a fault strikes.
    """
    h = History(config_from_json(config))
    prepare(h)
    if load:
        h.apply_json({"type": "workload", "rate": load})
    rng = random.Random(seed)
    nodes = list(h.cluster.node_ids)
    paxos = config.get("protocol") == "paxos"
    writes = 0
    for _ in range(actions):
        roll = rng.random()
        command: dict[str, Any]
        if roll < 0.24:
            h.run_for(rng.uniform(20, 400))
        elif roll < 0.30:
            # Two nodes campaign at once (a split vote) and a third flaps: crashed and back
            # within a few milliseconds, while vote requests are still arriving.
            a, b, c = rng.sample(nodes, 3) if len(nodes) >= 3 else (nodes * 3)[:3]
            for command in ({"type": "timeout", "node": a}, {"type": "timeout", "node": b}):
                try:
                    h.apply_json(command)
                except CommandError:
                    pass
            h.run_for(rng.uniform(5, 15))
            for command in ({"type": "crash", "node": c}, {"type": "restart", "node": c}):
                try:
                    h.apply_json(command)
                except CommandError:
                    pass
            h.run_for(rng.uniform(20, 200))
        else:
            if roll < 0.42:
                command = {"type": "crash", "node": rng.choice(nodes)}
            elif roll < 0.56:
                down = [n for n in nodes if h.cluster.hosts[n].node is None]
                command = {"type": "restart", "node": rng.choice(down or nodes)}
            elif roll < 0.60 and h.cluster.leader is not None:
                # Jepsen's favourite: cut the leader off while the rest carry on.
                leader = h.cluster.leader
                command = {"type": "partition",
                           "groups": [[leader], [n for n in nodes if n != leader]]}
            elif roll < 0.64:
                rng.shuffle(nodes)
                cut = rng.randint(1, len(nodes) - 1)
                command = {"type": "partition", "groups": [nodes[:cut], nodes[cut:]]}
            elif roll < 0.72:
                command = {"type": "heal"}
            elif roll < 0.80:
                command = {"type": "timeout", "node": rng.choice(nodes)}
            elif roll < 0.83:
                command = {"type": "workload", "rate": rng.choice([0, 0, 20, 60])}
            elif roll < 0.87:
                command = {
                    "type": "network",
                    "latency_min": 5,
                    "latency_max": rng.choice([20, 80, 150]),
                    "drop": rng.choice([0.0, 0.1, 0.3]),
                    "duplicate": rng.choice([0.0, 0.2]),
                }
            else:
                writes += 1
                command = {
                    "type": "client",
                    "op": "set",
                    "key": rng.choice("xyz"),
                    "value": str(writes),
                    "node": rng.choice(nodes),
                }
                if paxos and config.get("paxos", {}).get("mode") == "basic":
                    command = {"type": "timeout", "node": rng.choice(nodes)}
            try:
                h.apply_json(command)
            except CommandError:
                pass  # e.g. restarting a running node: refused, nothing changed
            h.run_for(rng.uniform(0, 60))
        if stop(h):
            break
    return h
