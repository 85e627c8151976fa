"""Wall time of the full default election-timing experiment (Raft paper, Figure 16).

Ten election timeout ranges, 1000 trials each, on one worker process per CPU. Target: at most
60 s of wall time on a 2-core machine. Prints the experiment's table, the wall time and the
CPU time of all processes (which, unlike wall time, hardly depends on what else the machine
is doing), per range as well.

Run from the repository root:

    .venv/bin/python -m bench.bench_election_timing [--trials N] [--workers K]
"""

import argparse
import os
import resource
import sys
import time

from raftviz.sim.experiments import election_timing as experiments


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the worker processes)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    cpu = cpu_seconds()
    result = experiments.election_timing(
        experiments.DEFAULT_RANGES, args.trials, args.seed, args.workers,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    cpu = cpu_seconds() - cpu
    print(experiments.format_table(result))
    print(f"{len(experiments.DEFAULT_RANGES)} ranges x {args.trials} trials on {args.workers} "
          f"worker(s): {result.wall_seconds:.1f} s wall (target <= 60 s), {cpu:.1f} s CPU")

    # CPU per range, measured in this process: shows where the time goes.
    print("CPU per trial, one process, 20 trials per range:")
    for timeouts in experiments.DEFAULT_RANGES:
        started = time.process_time()
        for trial in range(20):
            experiments.run_trial(timeouts, experiments.trial_seed(args.seed, timeouts, trial))
        per_trial = (time.process_time() - started) / 20 * 1000
        print(f"  {timeouts.label:>8} ms: {per_trial:6.1f} ms")


if __name__ == "__main__":
    main()
