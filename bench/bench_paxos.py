"""Paxos benchmarks: messages per chosen value, and Multi-Paxos under load.

    .venv/bin/python -m bench.bench_paxos

1. Basic Paxos, 5 nodes, no faults, one proposer: protocol messages until every node knows
   the value (Prepare, Promise, Accept, Accepted, Learn).
2. Multi-Paxos and Raft, 5 nodes, the same steady workload (100 writes/s for 10 s): protocol
   messages (client requests and replies excluded) per committed command.
3. Multi-Paxos, 5 nodes, 100 client writes/s for 60 s of simulated time with every checker on,
   set up exactly as bench_raft_load: wall and CPU time (target: at most 2 s, as for Raft).
"""

from __future__ import annotations

import resource
import time

from raftviz.core.paxos import PaxosNode
from raftviz.sim.engine.cluster import Cluster
from raftviz.sim.engine.commands import apply_command, parse_command
from raftviz.sim.experiments.compare import SCENARIOS, compare, format_table
from raftviz.sim.history import History, config_from_json

CLIENT_KINDS = {"ClientRequest", "ClientReply"}


def protocol_messages(history: History) -> int:
    by_kind = history.cluster.network.sent_by_kind
    return sum(n for kind, n in by_kind.items() if kind not in CLIENT_KINDS)


def basic_paxos_messages() -> tuple[int, dict[str, int]]:
    config = config_from_json({"protocol": "paxos", "size": 5, "seed": 1,
                               "paxos": {"mode": "basic"}})
    h = History(config)
    h.apply_json({"type": "client", "op": "set", "key": "x", "value": "1", "node": "n1",
                  "client": "c1"})

    def everyone_knows(cluster: object) -> bool:
        nodes = [host.node for host in h.cluster.hosts.values()]
        return all(isinstance(n, PaxosNode) and 1 in n.chosen for n in nodes)

    assert h.run_until_condition(everyone_knows, 5000), "the value was not learned everywhere"
    kinds = {k: v for k, v in h.cluster.network.sent_by_kind.items() if k not in CLIENT_KINDS}
    return protocol_messages(h), kinds


def multipaxos_load() -> tuple[float, float, int, int]:
    """The same set-up as bench_raft_load: a bare Cluster (no history checkpoints)."""
    cluster = Cluster(config_from_json({"protocol": "paxos", "size": 5, "seed": 1}))
    workload = {"type": "workload", "rate": 100, "read_ratio": 0.0, "keys": 10}
    wall, cpu = time.perf_counter(), time.process_time()
    apply_command(cluster, parse_command(workload))
    cluster.run_until(60_000)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    violations = sum(s["count"] for s in cluster.monitor.status().values())
    return wall, cpu, int(cluster.metrics["ops_ok"]), violations


def main() -> None:
    total, kinds = basic_paxos_messages()
    detail = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
    print(f"Basic Paxos, 5 nodes, one proposer, no faults: {total} messages per chosen value "
          f"({detail})")
    print("\nSteady workload, 100 writes/s for 10 s, 5 nodes (same seed):")
    print(format_table(compare(SCENARIOS["steady"], seed=1)))
    wall, cpu, ok, violations = multipaxos_load()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nMulti-Paxos, 5 nodes, 100 writes/s for 60 s simulated, all checkers on: "
          f"{wall:.2f} s wall, {cpu:.2f} s CPU (target <= 2 s), {ok} operations ok, "
          f"{violations} violations, peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
