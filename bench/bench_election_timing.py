"""The full election-timing experiment (Raft paper, Figure 16): figures and wall time.

Ten election timeout ranges, 1000 trials each, on one worker process per CPU, on a setup
(``--preset paper`` by default: the paper's LAN with a disk write before every reply). Prints
the experiment's table, the paper's three headline figures next to ours (target: each within
25%, and 150-150 ms never electing within 10 s), the wall time (target: at most 60 s on a quiet
2-core machine) and the CPU time of all processes (which, unlike wall time, hardly depends on
what else the machine is doing), per range as well.

Run from the repository root:

    .venv/bin/python -m bench.bench_election_timing [--trials N] [--workers K]
        [--preset paper|interactive] [--latency MIN-MAX] [--disk MS]
"""

import argparse
import os
import resource
import sys
import time

from raftviz.sim.experiments import election_timing as experiments

# (range, statistic, the paper's figure in ms)
PAPER_FIGURES = (("150-155", "median", 287.0), ("12-24", "mean", 35.0), ("150-200", "max", 513.0))


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
    parser.add_argument("--preset", choices=sorted(experiments.PRESETS), default="paper")
    parser.add_argument("--latency", type=experiments.parse_latency, default=None)
    parser.add_argument("--disk", type=float, default=None)
    args = parser.parse_args()
    setup = experiments.PRESETS[args.preset].with_changes(args.latency, args.disk)

    cpu = cpu_seconds()
    result = experiments.election_timing(
        experiments.DEFAULT_RANGES, args.trials, args.seed, args.workers,
        progress=lambda line: print(line, file=sys.stderr, flush=True), setup=setup,
    )
    cpu = cpu_seconds() - cpu
    print(setup.describe())
    print(experiments.format_table(result))
    print("Against the paper (section 9.3), target within 25%:")
    for label, stat, paper in PAPER_FIGURES:
        timeouts = experiments.TimeoutRange.parse(label)
        ours = getattr(result.summary(timeouts), stat)
        if ours is None:
            print(f"  {label:>8} ms {stat:6}: no leader in some trial (paper {paper:g} ms)")
            continue
        off = (ours - paper) / paper
        verdict = "ok" if abs(off) <= 0.25 else "MISSED"
        print(f"  {label:>8} ms {stat:6}: {ours:7.1f} ms, paper {paper:g} ms ({off:+.0%}) "
              f"{verdict}")
    never = result.summary(experiments.TimeoutRange(150, 150))
    print(f"  150-150 ms: {never.no_leader} of {never.trials} trials without a leader in "
          f"{experiments.NO_LEADER_LIMIT_MS / 1000:g} s (paper: always)")
    print(f"{len(experiments.DEFAULT_RANGES)} ranges x {args.trials} trials on {args.workers} "
          f"worker(s): {result.wall_seconds:.1f} s wall (target <= 60 s), {cpu:.1f} s CPU")

    # CPU per range, measured in this process: shows where the time goes.
    print("CPU per trial, one process, 20 trials per range:")
    for timeouts in experiments.DEFAULT_RANGES:
        started = time.process_time()
        for trial in range(20):
            experiments.run_trial(
                timeouts, experiments.trial_seed(args.seed, timeouts, trial), setup
            )
        per_trial = (time.process_time() - started) / 20 * 1000
        print(f"  {timeouts.label:>8} ms: {per_trial:6.1f} ms")


if __name__ == "__main__":
    main()
