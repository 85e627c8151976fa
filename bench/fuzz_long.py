"""A long fuzz run of the socket handlers (the machine of tests/web/test_fuzz.py, for longer).

Drives one page of a real app with fuzzed configurations, settings, commands, player actions
and traces, with the same checks as the CI test (no exception escapes, every call within its
work budget, a refused input changes nothing, the safety monitors hold in safe modes), and
prints how many events it tried, how many were refused or stopped by a work guard, and the
worst CPU time of one call. Nothing to install: Hypothesis is in requirements-dev.txt.

Run from the repository root:

    .venv/bin/python -m bench.fuzz_long [--examples 300] [--steps 60] [--seed N]
"""

from __future__ import annotations

import argparse
import time

from hypothesis import HealthCheck, seed, settings

from tests.web import test_fuzz
from tests.web.test_fuzz import FUZZ_BUDGET, STATS, HandlersUnderFuzz


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=300, help="runs of the state machine")
    parser.add_argument("--steps", type=int, default=60, help="events per run")
    parser.add_argument("--seed", type=int, default=None, help="replay a given run")
    args = parser.parse_args()
    HandlersUnderFuzz.TestCase.settings = settings(
        max_examples=args.examples,
        stateful_step_count=args.steps,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    case = HandlersUnderFuzz.TestCase()
    run = case.runTest if args.seed is None else seed(args.seed)(case.runTest)
    started = time.perf_counter()
    failure = None
    try:
        run()
    except Exception as exc:  # reported below, with what was tried before it
        failure = exc
    wall = time.perf_counter() - started
    print(f"fuzzed the socket handlers for {wall:.0f} s "
          f"({args.examples} runs of up to {args.steps} events)")
    tried = ", ".join(f"{name} {n}" for name, n in sorted(STATS.events.items()))
    print(f"  events tried:   {STATS.calls} ({tried})")
    print(f"  refused:        {STATS.refused} (with a specific error; none changed anything)")
    common = sorted(STATS.errors.items(), key=lambda item: -item[1])[:6]
    for words, n in common:
        print(f"    {n:6d}  {words} ...")
    print(f"  work guard:     {STATS.guarded} stopped by the budget "
          f"({FUZZ_BUDGET.max_events} events, {FUZZ_BUDGET.max_cpu_seconds:g} s CPU, "
          f"{FUZZ_BUDGET.max_events_at_one_instant} at one instant)")
    print(f"  worst latency:  {STATS.worst_cpu * 1000:.1f} ms of CPU for one call "
          f"(limit {(FUZZ_BUDGET.max_cpu_seconds + test_fuzz.CPU_SLACK) * 1000:.0f} ms)")
    print(f"                  {STATS.worst_call}")
    if failure is not None:
        print(f"  FAILED: {type(failure).__name__}: {failure}")
        raise SystemExit(1)
    print("  errors:         none (no exception escaped, no check failed)")


if __name__ == "__main__":
    main()
