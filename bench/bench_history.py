"""Memory and jump time of History over a long session under load.

A 5-node History (checkpoints every 1000 ms by default) runs a background workload of 100
client writes per second over 10 keys for 10 simulated minutes. Then it jumps (``seek``) to 20
random earlier moments, latest first, so that every jump goes back in time (restore the nearest
checkpoint, replay up to one interval). Targets: peak memory at most 100 MB, and at most
100 ms per jump.

Run from the repository root:

    .venv/bin/python -m bench.bench_history [--minutes M] [--checkpoint-every MS] [--tracemalloc]
        [--snapshot-threshold N]

``--snapshot-threshold`` sets log compaction (section 7): 0 turns it off, the default is the
engine's default.

Peak memory is the process's peak resident set size (``resource.getrusage``), which includes
the interpreter itself (printed as the baseline). ``--tracemalloc`` also reports the peak of
Python allocations as tracemalloc sees them; it slows the run several times.
"""

import argparse
import random
import resource
import statistics
import sys
import time
import tracemalloc

from raftviz.core.raft import RaftSettings
from raftviz.sim.engine.cluster import ClusterConfig
from raftviz.sim.history import SCRIPT_BUDGET, History


def rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="simulated minutes")
    parser.add_argument("--rate", type=float, default=100.0, help="client writes per second")
    parser.add_argument("--checkpoint-every", type=float, default=1000.0, metavar="MS")
    parser.add_argument("--jumps", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--snapshot-threshold", type=int,
                        default=RaftSettings().snapshot_threshold, metavar="N",
                        help="snapshot after N applied entries (0 = compaction off)")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="also measure peak traced Python allocations (slow)")
    args = parser.parse_args()

    baseline = rss_mb()
    if args.tracemalloc:
        tracemalloc.start()
    started, cpu = time.perf_counter(), time.process_time()
    settings = RaftSettings(snapshot_threshold=args.snapshot_threshold)
    history = History(ClusterConfig(size=5, seed=args.seed, settings=settings),
                      checkpoint_every=args.checkpoint_every, budget=SCRIPT_BUDGET)
    history.apply_json({"type": "workload", "rate": args.rate, "read_ratio": 0.0, "keys": 10})
    end = args.minutes * 60_000.0
    while history.now < end:
        history.run_until(min(end, history.now + 60_000.0))
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    traced_peak = 0.0
    if args.tracemalloc:
        traced_peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    peak = rss_mb()

    rng = random.Random(args.seed)
    moments = sorted((rng.uniform(0, end) for _ in range(args.jumps)), reverse=True)
    jumps = []
    for moment in moments:
        t0 = time.perf_counter()
        history.seek(moment)
        jumps.append((time.perf_counter() - t0) * 1000)
        assert abs(history.now - moment) < 1e-6

    c = history.cluster
    print(f"History: 5 nodes, {args.rate:g} writes/s, {args.minutes:g} simulated minutes, "
          f"checkpoints every {args.checkpoint_every:g} ms, seed {args.seed}")
    print(f"  session:       {wall:.1f} s wall, {cpu:.1f} s CPU, "
          f"{len(history.checkpoints)} checkpoints, {len(history.log)} logged commands")
    print(f"  peak RSS:      {peak:.1f} MB (interpreter baseline {baseline:.1f} MB, "
          f"so {peak - baseline:.1f} MB for the session)  (target <= 100 MB)")
    if args.tracemalloc:
        print(f"  tracemalloc:   {traced_peak:.1f} MB peak of traced allocations")
    print(f"  {args.jumps} jumps back: max {max(jumps):.1f} ms, median "
          f"{statistics.median(jumps):.1f} ms  (target <= 100 ms)")
    print(f"  after the last jump: t={c.now:.1f} ms, log length "
          f"{max(h.node.log.last_index for h in c.hosts.values() if h.node)}, compaction "
          f"{args.snapshot_threshold or 'off'}, longest log holds "
          f"{max(len(h.node.log) for h in c.hosts.values() if h.node)} entries")


if __name__ == "__main__":
    main()
