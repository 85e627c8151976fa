"""Throughput and memory of the live linearizability checker over a long session.

Feeds a linearizable history shaped like a 10-minute simulated session into
`LinearizabilityChecker`, one event at a time in time order, as the simulation would. By
default: 60,000 operations over 10 keys from 5 clients; 1% of operations time out (and of
those, half take effect some time later); every write has a fresh value, and a CAS swaps
the last value its client saw.

Run from the repository root:

    .venv/bin/python -m bench.bench_linearizability [--ops N] [--keys K] [--clients C]
        [--timeout-rate R] [--values V] [--seed S]

`--values V` draws written values from a pool of V instead, so that timed-out writes keep
coinciding with what readers see: a stress case for the search.

Throughput is measured without tracemalloc (which slows Python down several times); peak
memory is measured in a second, traced run.
"""

import argparse
import copy
import heapq
import random
import time
import tracemalloc
from dataclasses import dataclass, replace

from raftviz.sim.checks.linearizability import LinearizabilityChecker, Op, OpKind, Verdict

_Event = tuple[str, Op]  # ("invoke" | "answer", op)

_TIMEOUT_MS = 500.0
_KINDS = [OpKind.GET] * 5 + [OpKind.SET] * 3 + [OpKind.CAS, OpKind.DELETE]


@dataclass(frozen=True, slots=True)
class Workload:
    """The shape of a simulated session."""

    ops: int
    keys: int
    clients: int
    timeout_rate: float
    values: int | None  # size of the pool of written values; None: every value is fresh
    seed: int


def session(workload: Workload) -> list[_Event]:
    """Clients take turns with a real register that applies each op at a random instant
    inside its interval (a timed-out op maybe later, maybe never); returns their events."""
    rng = random.Random(workload.seed)
    keys = [f"k{i}" for i in range(workload.keys)]
    register: dict[str, str] = {}
    seen: dict[tuple[str, str], str | None] = {}  # (client, key) -> last value it learned
    answers: dict[int, Op] = {}  # op_id -> op with the answer its effect produced
    events: list[tuple[float, int, _Event]] = []
    # (time, tie-breaker, what, op_id or client); the tie-breaker keeps the heap deterministic
    agenda: list[tuple[float, int, str, str | int]] = []
    ops: dict[int, Op] = {}
    order = 0
    for i in range(1, workload.clients + 1):
        order += 1
        heapq.heappush(agenda, (rng.uniform(0, 10), order, "issue", f"c{i}"))
    issued = 0
    while agenda:
        now, _, what, subject = heapq.heappop(agenda)
        if what == "issue":
            assert isinstance(subject, str)
            if issued == workload.ops:
                continue
            issued += 1
            op = _draw(rng, workload, issued, subject, rng.choice(keys), now, seen)
            ops[op.op_id] = op
            events.append((now, order, ("invoke", op)))
            if rng.random() < workload.timeout_rate:
                if rng.random() < 0.5:
                    order += 1
                    late = now + rng.uniform(0, 4 * _TIMEOUT_MS)
                    heapq.heappush(agenda, (late, order, "effect", op.op_id))
                order += 1
                heapq.heappush(agenda, (now + _TIMEOUT_MS, order, "gave up", op.op_id))
            else:
                done = now + rng.uniform(2, 40)
                ops[op.op_id] = op = replace(op, complete=done)
                order += 1
                heapq.heappush(agenda, (rng.uniform(now, done), order, "effect", op.op_id))
                order += 1
                heapq.heappush(agenda, (done, order, "answer", op.op_id))
        elif what == "effect":
            assert isinstance(subject, int)
            answers[subject] = _take_effect(ops[subject], register)
        else:
            assert isinstance(subject, int)
            op = ops[subject] if what == "gave up" else answers[subject]
            if op.complete is not None and op.ok is not False:
                seen[(op.client, op.key)] = _learned(op)
            order += 1
            events.append((now, order, ("answer", op)))
            heapq.heappush(agenda, (now + rng.uniform(0, 10), order, "issue", op.client))
    return [event for _, _, event in sorted(events, key=lambda e: e[:2])]


def _draw(
    rng: random.Random,
    workload: Workload,
    op_id: int,
    client: str,
    key: str,
    now: float,
    seen: dict[tuple[str, str], str | None],
) -> Op:
    kind = rng.choice(_KINDS)
    fresh = f"{client}-{op_id}" if workload.values is None else str(rng.randrange(workload.values))
    value = fresh if kind in (OpKind.SET, OpKind.CAS) else None
    expected = seen.get((client, key)) if kind is OpKind.CAS else None
    return Op(op_id, client, kind, key, value, expected, now, None)


def _take_effect(op: Op, register: dict[str, str]) -> Op:
    """Apply `op` to the register; return it with the answer it produced."""
    current = register.get(op.key)
    if op.kind is OpKind.GET:
        return replace(op, result=current)
    if op.kind is OpKind.CAS and current != op.expected:
        return replace(op, ok=False)
    if op.kind is OpKind.DELETE:
        register.pop(op.key, None)
    elif op.value is not None:
        register[op.key] = op.value
    return replace(op, ok=True) if op.kind is OpKind.CAS else op


def _learned(op: Op) -> str | None:
    """The value of its key that a client learns from `op`'s answer (not a failed CAS)."""
    if op.kind is OpKind.GET:
        return op.result
    return None if op.kind is OpKind.DELETE else op.value


def run(events: list[_Event]) -> LinearizabilityChecker:
    """Feed `events` to a fresh checker."""
    checker = LinearizabilityChecker()
    for what, op in events:
        if what == "invoke":
            checker.add_invoke(op)
        else:
            checker.add_complete(op)
    return checker


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=60_000)
    parser.add_argument("--keys", type=int, default=10)
    parser.add_argument("--clients", type=int, default=5)
    parser.add_argument("--timeout-rate", type=float, default=0.01)
    parser.add_argument("--values", type=int, default=None)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    workload = Workload(
        args.ops, args.keys, args.clients, args.timeout_rate, args.values, args.seed
    )
    events = session(workload)

    started = time.perf_counter()
    checker = run(events)
    elapsed = time.perf_counter() - started

    tracemalloc.start()
    traced = run(events)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    started = time.perf_counter()
    for _ in range(100):
        copy.deepcopy(checker)
    deepcopy_us = (time.perf_counter() - started) / 100 * 1e6

    status = checker.status
    assert status == traced.status
    pool = "fresh values" if args.values is None else f"values from a pool of {args.values}"
    print(
        f"{args.ops} ops, {args.keys} keys, {args.clients} clients, "
        f"{args.timeout_rate:.0%} time out, {pool}"
    )
    print(f"  checked in {elapsed:.2f} s: {args.ops / elapsed:,.0f} ops/s")
    print(f"  peak traced memory while checking: {peak / 1024:,.0f} KiB")
    print(f"  deepcopy of the checker: {deepcopy_us:,.0f} us")
    print(f"  status: {status.message}")
    print(
        f"  timed-out writes still possible: {status.pending_unknown}, "
        f"largest frontier: {status.largest_frontier} worlds"
    )
    for note in status.notes:
        print(f"  note: {note}")
    if status.verdict is not Verdict.LINEARIZABLE:
        raise SystemExit("the generated history is linearizable, but the checker disagrees")


if __name__ == "__main__":
    main()
