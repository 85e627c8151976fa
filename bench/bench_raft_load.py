"""Simulation speed under steady client load, with every safety checker on.

A 5-node cluster (seed 1, default settings) runs a background workload of 100 client writes
per second over 10 keys for 60 s of simulated time; the safety monitors and the live
linearizability checker run after every step, as they always do. Target: at most 2 s of wall
time. The CPU time is printed too: unlike wall time, it hardly depends on what else the
machine is running.

Run from the repository root:

    .venv/bin/python -m bench.bench_raft_load [--seconds S] [--rate R] [--profile [N]]
        [--snapshot-threshold N]

``--snapshot-threshold`` sets log compaction (section 7): 0 turns it off, the default is the
engine's default; compare the two to see what snapshots cost.

``--profile`` runs the same session a second time under cProfile and prints the N functions
with the most time of their own (default 25), then the same list by cumulative time.
"""

import argparse
import cProfile
import io
import pstats
import resource
import sys
import time

from raftviz.core.raft import RaftSettings
from raftviz.sim.engine.cluster import Cluster, ClusterConfig
from raftviz.sim.engine.commands import apply_command, parse_command


def session(seconds: float, rate: float, seed: int, threshold: int) -> Cluster:
    """Build the cluster, start the workload and run it for ``seconds`` of simulated time."""
    settings = RaftSettings(snapshot_threshold=threshold)
    cluster = Cluster(ClusterConfig(size=5, seed=seed, settings=settings))
    workload = {"type": "workload", "rate": rate, "read_ratio": 0.0, "keys": 10}
    apply_command(cluster, parse_command(workload))
    cluster.run_until(seconds * 1000.0)
    return cluster


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="simulated seconds")
    parser.add_argument("--rate", type=float, default=100.0, help="client writes per second")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--snapshot-threshold", type=int,
                        default=RaftSettings().snapshot_threshold, metavar="N",
                        help="snapshot after N applied entries (0 = compaction off)")
    parser.add_argument("--profile", type=int, nargs="?", const=25, metavar="N",
                        help="also profile, printing the top N functions")
    args = parser.parse_args()

    started, cpu = time.perf_counter(), time.process_time()
    cluster = session(args.seconds, args.rate, args.seed, args.snapshot_threshold)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu

    m = cluster.metrics
    ops = int(m["ops_ok"] + m["ops_failed"] + m["ops_unknown"])
    broken = {name: s["count"] for name, s in cluster.monitor.status().items() if not s["ok"]}
    print(f"5 nodes, {args.rate:g} writes/s over 10 keys, {args.seconds:g} s simulated, seed "
          f"{args.seed}")
    print(f"  wall time:          {wall:.2f} s  (target <= 2 s); CPU time {cpu:.2f} s")
    print(f"  events processed:   {cluster.events_processed:,} "
          f"({cluster.events_processed / wall:,.0f} events/s)")
    print(f"  ops completed:      {ops:,} ({int(m['ops_ok']):,} ok, {int(m['ops_failed'])} "
          f"failed, {int(m['ops_unknown'])} unknown)")
    print(f"  messages sent:      {cluster.network.sent:,}")
    print(f"  elections:          {int(m['elections'])}, leader {cluster.leader} "
          f"(term {cluster.leader_term})")
    held = max(len(h.node.log) for h in cluster.hosts.values() if h.node)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_mb = peak / 1024 if sys.platform != "darwin" else peak / 2**20
    print(f"  compaction:         threshold {args.snapshot_threshold or 'off'}; longest log "
          f"holds {held:,} entries; peak RSS {peak_mb:.1f} MB")
    print(f"  linearizability:    {cluster.linearizability.status.message}")
    print(f"  violations:         {broken if broken else 'none'}")

    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        session(args.seconds, args.rate, args.seed, args.snapshot_threshold)
        profiler.disable()
        for order in ("tottime", "cumulative"):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(args.profile)
            print(f"\n--- profile, by {order} (cProfile slows the run several times) ---")
            print(out.getvalue().split("\n\n", 1)[-1].strip())
    if broken:
        raise SystemExit("safety or linearizability was violated under load")


if __name__ == "__main__":
    main()
