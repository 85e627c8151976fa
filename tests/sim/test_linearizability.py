"""Tests for the linearizability checker of the replicated key-value store.

Hand-written histories come first, each a known linearizable or non-linearizable pattern.
Then property tests compare the checker with a brute-force reference (every subset of the
timed-out writes, every order allowed by real time), and the live checker with the batch one.
"""

import copy
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import replace
from itertools import combinations
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from raftviz.sim.checks.linearizability import (
    Candidate,
    LinearizabilityChecker,
    LinearizabilityResult,
    Op,
    OpKind,
    Verdict,
    check_history,
    explain,
)

REPO = Path(__file__).resolve().parents[2]

# --- Building histories -----------------------------------------------------------------------


def put(op_id: int, client: str, value: str, start: float, end: float | None, key: str = "x") -> Op:
    """A SET; `end=None` means the client timed out."""
    return Op(op_id, client, OpKind.SET, key, value, None, start, end)


def get(
    op_id: int, client: str, result: str | None, start: float, end: float | None, key: str = "x"
) -> Op:
    """A GET that returned `result` (None: the key was absent)."""
    return Op(op_id, client, OpKind.GET, key, None, None, start, end, result=result)


def delete(op_id: int, client: str, start: float, end: float | None, key: str = "x") -> Op:
    """A DELETE."""
    return Op(op_id, client, OpKind.DELETE, key, None, None, start, end)


def cas(
    op_id: int,
    client: str,
    expected: str | None,
    new: str,
    ok: bool | None,
    start: float,
    end: float | None,
    key: str = "x",
) -> Op:
    """A CAS from `expected` to `new` that reported `ok`."""
    return Op(op_id, client, OpKind.CAS, key, new, expected, start, end, ok=ok)


def feed(checker: LinearizabilityChecker, events: Iterable[tuple[str, Op]]) -> None:
    """Replay ("invoke" | "answer", op) events into the live checker."""
    for what, op in events:
        if what == "invoke":
            checker.add_invoke(op)
        else:
            checker.add_complete(op)


def live_events(history: Sequence[Op], timeout: float = 25.0) -> list[tuple[str, Op]]:
    """The events as the simulation would emit them.

    Timeouts are reported `timeout` ms after the invocation, and at equal times invocations
    come before answers: the opposite of `check_history`'s order, so ties get exercised.
    """
    timed: list[tuple[float, int, int, tuple[str, Op]]] = []
    for op in history:
        timed.append((op.invoke, 0, op.op_id, ("invoke", op)))
        if op.complete is not None:
            timed.append((op.complete, 1, op.op_id, ("answer", op)))
        else:
            timed.append((op.invoke + timeout, 2, op.op_id, ("answer", op)))
    return [event for *_, event in sorted(timed, key=lambda t: t[:3])]


def check_live(history: Sequence[Op]) -> LinearizabilityChecker:
    """The live checker after the whole of `history`, fed as the simulation would."""
    checker = LinearizabilityChecker()
    feed(checker, live_events(history))
    return checker


def verdict(history: Sequence[Op]) -> bool:
    """The batch verdict, after asserting that the live checker agrees with it."""
    batch = check_history(history)
    live = check_live(history).status
    assert (live.verdict is Verdict.LINEARIZABLE) == batch.ok
    assert live.violation_count == batch.violation_count
    return batch.ok


# --- A brute-force reference ------------------------------------------------------------------


def _spec(op: Op, state: dict[str, str]) -> tuple[dict[str, str], str | bool | None]:
    """The sequential key-value store, written independently of the checker's."""
    current = state.get(op.key)
    after = dict(state)
    if op.kind is OpKind.GET:
        return state, current
    if op.kind is OpKind.CAS and current != op.expected:
        return state, False
    if op.kind is OpKind.DELETE or op.value is None:
        after.pop(op.key, None)
    else:
        after[op.key] = op.value
    return after, True if op.kind is OpKind.CAS else None


def _answer(op: Op) -> str | bool | None:
    return op.ok if op.kind is OpKind.CAS else op.result if op.kind is OpKind.GET else None


def brute_force_ok(history: Sequence[Op]) -> bool:
    """Try every subset of the timed-out writes and every real-time-respecting order."""
    ops = [op for op in history if not (op.kind is OpKind.GET and op.complete is None)]
    known = [op for op in ops if op.complete is not None]
    unknown = [op for op in ops if op.complete is None]

    def search(remaining: list[Op], state: dict[str, str]) -> bool:
        if not remaining:
            return True
        for op in remaining:
            if any(
                p.complete is not None and p.complete <= op.invoke for p in remaining if p is not op
            ):
                continue
            after, answer = _spec(op, state)
            if op.complete is not None and answer != _answer(op):
                continue
            if search([p for p in remaining if p is not op], after):
                return True
        return False

    for size in range(len(unknown) + 1):
        for chosen in combinations(unknown, size):
            by_key: dict[str, list[Op]] = {}
            for op in (*known, *chosen):
                by_key.setdefault(op.key, []).append(op)
            if all(search(key_ops, {}) for key_ops in by_key.values()):
                return True
    return False


# --- Sequential and concurrent basics ---------------------------------------------------------


def test_sequential_history_is_linearizable() -> None:
    history = [
        get(1, "c1", None, 0, 10),
        put(2, "c1", "1", 10, 20),
        get(3, "c2", "1", 25, 30),
        put(4, "c2", "2", 30, 40),
        get(5, "c1", "2", 45, 50),
    ]
    result = check_history(history)
    assert result == LinearizabilityResult(
        ok=True, violations=(), violation_count=0, exact=True, notes=()
    )
    assert result.explanation == "linearizable"
    assert result.key is None
    assert verdict(history)


def test_stale_read_after_completed_write_is_explained() -> None:
    history = [
        put(1, "c3", "3", 1000.0, 1100.0),
        put(2, "c1", "4", 1450.0, 1490.0),
        get(3, "c2", "3", 1500.0, 1520.0),
    ]
    result = check_history(history)
    assert not result.ok
    assert result.key == "x"
    violation = result.violations[0]
    assert violation.op == history[2]
    assert violation.certain
    assert violation.candidates == (Candidate("4", history[1]),)
    assert [op.op_id for op in violation.involved] == [1, 2, 3]
    assert result.explanation == (
        "c2's GET x (op 3, 1500.0-1520.0 ms) returned '3', but the only value x could hold "
        "then was '4' (SET by c1, op 2, 1450.0-1490.0 ms). "
        "'3' was last written by c3's SET (op 1, 1000.0-1100.0 ms)."
    )
    assert not verdict(history)


def test_read_of_a_value_never_written_is_a_violation() -> None:
    history = [put(1, "c1", "1", 0, 10), get(2, "c2", "7", 20, 30)]
    result = check_history(history)
    assert not result.ok
    assert result.explanation.endswith("No operation wrote '7' to x.")
    assert not verdict(history)


def test_read_of_absent_key_after_write_is_a_violation() -> None:
    history = [put(1, "c1", "1", 0, 10), get(2, "c2", None, 20, 30)]
    result = check_history(history)
    assert not result.ok
    assert "found x absent" in result.explanation
    assert result.explanation.endswith("x was absent only before its first write.")


def test_new_old_inversion_between_sequential_readers_is_a_violation() -> None:
    # Two concurrent writes, then three reads one after another: once the writes are done
    # the value is fixed, so readers cannot see it flip.
    writes = [put(1, "c1", "1", 0, 100), put(2, "c2", "2", 0, 100)]
    history = [
        *writes,
        get(3, "c3", "1", 110, 120),
        get(4, "c4", "2", 130, 140),
    ]
    assert not verdict(history)
    assert verdict([*writes, get(3, "c3", "1", 110, 120), get(4, "c4", "1", 130, 140)])
    assert verdict([*writes, get(3, "c3", "2", 110, 120), get(4, "c4", "2", 130, 140)])


def test_new_old_inversion_during_a_slow_write_is_a_violation() -> None:
    # The classic: one reader sees the new value, a later reader the old one.
    history = [
        put(1, "c1", "old", 0, 10),
        put(2, "c2", "new", 20, 200),
        get(3, "c3", "new", 30, 40),
        get(4, "c4", "old", 50, 60),
    ]
    result = check_history(history)
    assert not result.ok
    assert result.violations[0].op.op_id == 4
    assert "the only value x could hold then was 'new'" in result.explanation
    assert not verdict(history)


def test_readers_may_see_a_slow_write_early_or_late() -> None:
    history = [
        put(1, "c1", "old", 0, 10),
        put(2, "c2", "new", 20, 200),
        get(3, "c3", "old", 30, 40),
        get(4, "c4", "new", 50, 60),
        get(5, "c3", "new", 70, 80),
    ]
    assert verdict(history)


def test_overlapping_operations_need_only_one_valid_order() -> None:
    # The read began before both writes and ended after them; it can fall between them.
    history = [
        get(1, "c1", "a", 0, 100),
        put(2, "c2", "a", 10, 20),
        put(3, "c3", "b", 30, 40),
        get(4, "c2", "b", 50, 60),
    ]
    assert verdict(history)


def test_read_cannot_see_a_write_invoked_after_it_returned() -> None:
    history = [get(1, "c1", "a", 0, 10), put(2, "c2", "a", 10, 20)]
    assert not verdict(history)
    assert verdict([get(1, "c1", "a", 0, 10.5), put(2, "c2", "a", 10, 20)])


def test_write_answered_at_the_instant_a_read_is_invoked_precedes_it() -> None:
    history = [put(1, "c1", "a", 0, 10), put(2, "c1", "b", 10, 20), get(3, "c2", "a", 20, 30)]
    assert not verdict(history)


# --- CAS and DELETE -------------------------------------------------------------------------


def test_cas_that_finds_its_expected_value_swaps() -> None:
    history = [
        cas(1, "c1", None, "1", True, 0, 10),
        cas(2, "c2", "1", "2", True, 20, 30),
        cas(3, "c1", "1", "3", False, 40, 50),
        get(4, "c2", "2", 60, 70),
    ]
    assert verdict(history)


def test_two_concurrent_cas_cannot_both_succeed() -> None:
    history = [cas(1, "c1", None, "a", True, 0, 10), cas(2, "c2", None, "b", True, 0, 10)]
    result = check_history(history)
    assert not result.ok
    assert "could not have been absent then" in result.explanation
    assert verdict([cas(1, "c1", None, "a", True, 0, 10), cas(2, "c2", None, "b", False, 0, 10)])


def test_cas_that_fails_although_its_expected_value_was_certain() -> None:
    history = [put(1, "c1", "1", 0, 10), cas(2, "c2", "1", "2", False, 20, 30)]
    result = check_history(history)
    assert not result.ok
    assert result.explanation == (
        "c2's CAS x from '1' to '2' (op 2, 20.0-30.0 ms) failed, but x could only hold "
        "'1' (SET by c1, op 1, 0.0-10.0 ms) then, so it should have swapped."
    )


def test_failed_cas_is_fine_when_a_concurrent_write_may_come_first() -> None:
    history = [
        put(1, "c1", "1", 0, 10),
        put(2, "c3", "9", 15, 40),
        cas(3, "c2", "1", "2", False, 20, 30),
        get(4, "c2", "9", 50, 60),
    ]
    assert verdict(history)


def test_cas_success_must_be_visible_to_later_reads() -> None:
    history = [
        put(1, "c1", "1", 0, 10),
        cas(2, "c2", "1", "2", True, 20, 30),
        get(3, "c1", "1", 40, 50),
    ]
    assert not verdict(history)


def test_read_after_delete_finds_the_key_absent() -> None:
    history = [put(1, "c1", "1", 0, 10), delete(2, "c2", 20, 30), get(3, "c1", None, 40, 50)]
    assert verdict(history)


def test_read_after_completed_delete_cannot_see_the_old_value() -> None:
    history = [put(1, "c1", "1", 0, 10), delete(2, "c2", 20, 30), get(3, "c1", "1", 40, 50)]
    result = check_history(history)
    assert not result.ok
    assert "the only value x could hold then was absent (DELETE by c2, op 2" in result.explanation


def test_delete_of_an_absent_key_is_fine_and_cas_can_recreate_it() -> None:
    history = [
        delete(1, "c1", 0, 10),
        cas(2, "c2", None, "1", True, 20, 30),
        delete(3, "c1", 40, 50),
        get(4, "c2", None, 60, 70),
    ]
    assert verdict(history)


def test_read_concurrent_with_delete_may_see_either_side() -> None:
    for seen in ("1", None):
        history = [put(1, "c1", "1", 0, 10), delete(2, "c2", 20, 40), get(3, "c1", seen, 25, 35)]
        assert verdict(history)


# --- Unknown outcomes -----------------------------------------------------------------------


@pytest.mark.parametrize("seen", ["1", "2"])
def test_timed_out_write_may_or_may_not_be_seen(seen: str) -> None:
    history = [put(1, "c1", "1", 0, 10), put(2, "c2", "2", 15, None), get(3, "c3", seen, 20, 30)]
    assert verdict(history)


def test_timed_out_write_seen_then_unseen_is_a_violation() -> None:
    history = [
        put(1, "c1", "1", 0, 10),
        put(2, "c2", "2", 15, None),
        get(3, "c3", "2", 20, 30),
        get(4, "c3", "1", 40, 50),
    ]
    result = check_history(history)
    assert not result.ok
    assert result.violations[0].op.op_id == 4
    assert "'2' (SET by c2, op 2, invoked at 15.0 ms, outcome unknown)" in result.explanation
    assert not verdict(history)


def test_explanation_lists_answered_writes_before_timed_out_ones() -> None:
    history = [put(1, "c1", "1", 0, 10), put(2, "c2", "2", 15, None), get(3, "c3", "7", 20, 30)]
    assert check_history(history).explanation == (
        "c3's GET x (op 3, 20.0-30.0 ms) returned '7', but the only values x could hold then "
        "were '1' (SET by c1, op 1, 0.0-10.0 ms) or, had a timed-out write landed late, "
        "'2' (SET by c2, op 2, invoked at 15.0 ms, outcome unknown). No operation wrote '7' to x."
    )


def test_timed_out_write_cannot_take_effect_before_it_was_invoked() -> None:
    history = [put(1, "c1", "1", 0, 10), get(2, "c3", "2", 20, 30), put(3, "c2", "2", 30, None)]
    assert not verdict(history)


def test_timed_out_write_seen_much_later_is_fine() -> None:
    history = [put(1, "c1", "0", 0, 10), put(2, "c2", "late", 15, None)]
    t = 100.0
    for i in range(1, 40):
        history.append(put(2 * i + 1, "c1", str(i), t, t + 10))
        history.append(get(2 * i + 2, "c3", str(i), t + 20, t + 30))
        t += 50
    history.append(get(100, "c3", "late", t, t + 10))
    assert verdict(history)
    # Once the late write has landed, the value it replaced cannot come back.
    history.append(get(101, "c1", "39", t + 20, t + 30))
    result = check_history(history)
    assert [v.op.op_id for v in result.violations] == [101]


def test_timed_out_write_that_is_never_seen_stays_possible() -> None:
    history = [put(1, "c1", "0", 0, 10), put(2, "c2", "x2", 15, None)]
    history += [get(10 + i, "c3", "0", 100 + 20 * i, 110 + 20 * i) for i in range(30)]
    checker = check_live(history)
    assert checker.status.verdict is Verdict.LINEARIZABLE
    assert checker.status.pending_unknown == 1
    assert verdict(history)


def test_timed_out_write_is_forgotten_once_it_has_surely_taken_effect() -> None:
    history = [
        put(1, "c1", "0", 0, 10),
        put(2, "c2", "2", 15, None),
        get(3, "c3", "2", 50, 60),
    ]
    checker = check_live(history)
    assert checker.status.pending_unknown == 0
    assert checker.status.largest_frontier == 1


@pytest.mark.parametrize("order", [("1", "2"), ("2", "1")])
def test_timed_out_write_stays_possible_while_the_value_is_uncertain(
    order: tuple[str, str],
) -> None:
    # After the two racing writes x is '1' or '2', and c2's lost write of '2' may land at any
    # time. Reading '2' does not prove it landed (c4's write explains it), so it can still
    # land after c1 writes '3'.
    first, second = order
    history = [
        put(1, "c1", "0", 0, 10),
        put(2, "c2", "2", 15, None),
        put(3, "c3", first, 20, 40),
        put(4, "c4", second, 20, 40),
        get(5, "c1", "2", 50, 60),
        put(6, "c1", "3", 70, 80),
        get(7, "c1", "2", 90, 100),
    ]
    assert verdict(history)
    assert not verdict([*history, get(8, "c1", "3", 110, 120)])


def test_retried_timed_out_writes_count_as_many_as_were_sent() -> None:
    # c2 sent SET 'a' twice and timed out both times; each copy can land once, so readers
    # can see 'a' come back twice after c1's writes, but not three times.
    history = [
        put(1, "c1", "b", 0, 10),
        put(2, "c2", "a", 20, None),
        put(3, "c2", "a", 30, None),
        get(4, "c3", "a", 40, 50),
        put(5, "c1", "b", 60, 70),
        get(6, "c3", "a", 80, 90),
    ]
    assert verdict(history)
    third = [put(7, "c1", "b", 100, 110), get(8, "c3", "a", 120, 130)]
    assert not verdict([*history, *third])
    checker = check_live(history)
    assert checker.status.pending_unknown == 0
    assert checker.status.largest_frontier == 1


def test_retries_keep_the_frontier_small() -> None:
    history = [put(1, "c1", "0", 0, 10)]
    history += [put(2 + i, "c2", "retry", 20 + 10 * i, None) for i in range(30)]
    history += [
        get(100 + i, "c3", "retry" if i % 2 else "0", 400 + 20 * i, 410 + 20 * i) for i in range(2)
    ]
    checker = check_live(history)
    assert checker.status.verdict is Verdict.LINEARIZABLE
    assert checker.status.largest_frontier == 1
    assert checker.status.pending_unknown == 29


def test_timed_out_read_is_ignored() -> None:
    history = [put(1, "c1", "1", 0, 10), get(2, "c2", "nonsense", 20, None)]
    assert verdict(history)


def test_timed_out_cas_applies_only_where_it_would_swap() -> None:
    swapped = [
        put(1, "c1", "1", 0, 10),
        cas(2, "c2", "1", "2", None, 20, None),
        get(3, "c3", "2", 40, 50),
    ]
    assert verdict(swapped)
    cannot_swap = [
        put(1, "c1", "3", 0, 10),
        cas(2, "c2", "1", "2", None, 20, None),
        get(3, "c3", "2", 40, 50),
    ]
    assert not verdict(cannot_swap)


@pytest.mark.parametrize(
    "lurking", [put(2, "c2", "b", 15, None), cas(2, "c2", "a", "b", None, 15, None)]
)
def test_failed_cas_is_explained_by_a_timed_out_write_landing_first(lurking: Op) -> None:
    history = [put(1, "c1", "a", 0, 10), lurking, cas(3, "c3", "a", "c", False, 40, 50)]
    assert verdict(history)
    assert not verdict([history[0], history[2]])
    # Having landed, the timed-out write cannot be undone.
    assert not verdict([*history, get(4, "c1", "a", 60, 70)])


def test_chain_of_timed_out_writes() -> None:
    # Only SET 'a' then CAS 'a'->'b', both timed out, explain the read.
    history = [
        put(1, "c1", "0", 0, 10),
        put(2, "c2", "a", 20, None),
        cas(3, "c3", "a", "b", None, 20, None),
        get(4, "c4", "b", 100, 110),
        get(5, "c4", "b", 120, 130),
    ]
    assert verdict(history)
    assert not verdict([*history, get(6, "c4", "a", 140, 150)])


# --- Keys are independent -------------------------------------------------------------------


def test_keys_are_checked_independently() -> None:
    history = [
        put(1, "c1", "1", 0, 10, key="x"),
        put(2, "c2", "1", 0, 10, key="y"),
        get(3, "c1", "1", 20, 30, key="x"),
        get(4, "c2", None, 20, 30, key="z"),
        put(5, "c1", "2", 40, 50, key="y"),
        get(6, "c2", "1", 60, 70, key="y"),
    ]
    result = check_history(history)
    assert [(v.key, v.op.op_id) for v in result.violations] == [("y", 6)]
    assert result.explanation.startswith("c2's GET y (op 6")
    assert verdict(history[:5])


def test_one_anomaly_is_reported_once() -> None:
    history = [
        put(1, "c1", "1", 0, 10),
        put(2, "c1", "2", 20, 30),
        get(3, "c2", "1", 40, 50),
        get(4, "c2", "1", 60, 70),
        put(5, "c1", "3", 80, 90),
        get(6, "c2", "3", 100, 110),
    ]
    result = check_history(history)
    assert [v.op.op_id for v in result.violations] == [3]


# --- Limits are reported, not hidden ---------------------------------------------------------


def test_world_limit_makes_the_check_approximate_and_says_so() -> None:
    writes = [put(1, "c1", "1", 0, 10), put(2, "c2", "2", 0, 10)]
    checker = LinearizabilityChecker(max_worlds=1)
    feed(checker, live_events(writes))
    status = checker.status
    assert not status.exact
    assert status.verdict is Verdict.LINEARIZABLE
    assert status.notes == (
        "key 'x' at 10.0 ms: more than 1 possible states, so some were dropped. "
        "Later violations on this key may be false alarms.",
    )
    assert "approximate" in status.message
    # Only the world in which c2's write came last was kept, so reading c1's value now
    # looks like a violation; it is flagged as possibly a false alarm.
    read = get(3, "c3", "1", 20, 30)
    checker.add_invoke(read)
    (violation,) = checker.add_complete(read)
    assert not violation.certain
    assert violation.candidates == (Candidate("2", writes[1]),)
    assert check_history([*writes, read]).ok


def test_pending_limit_drops_the_oldest_timed_out_write_and_says_so() -> None:
    history = [put(1, "c1", "a", 0, None), put(2, "c2", "b", 5, None), get(3, "c3", "a", 50, 60)]
    checker = LinearizabilityChecker(max_pending=1)
    feed(checker, live_events(history))
    assert len(checker.violations) == 1
    assert not checker.violations[0].certain
    assert "op 1 is now assumed never to" in checker.status.notes[0]
    assert check_history(history).ok


def test_search_limit_is_reported() -> None:
    history = [put(i, f"c{i}", str(i), 0, 10) for i in range(1, 5)]
    checker = LinearizabilityChecker(max_search=2)
    feed(checker, live_events(history))
    assert not checker.status.exact
    assert "a search stopped after 2 states" in checker.status.notes[0]


def test_violations_beyond_the_limit_are_counted() -> None:
    history = [put(1, "c1", "1", 0, 10)]
    history += [get(2 + i, "c2", f"bad{i}", 20 + 20 * i, 30 + 20 * i) for i in range(5)]
    checker = LinearizabilityChecker(max_violations=2)
    feed(checker, live_events(history))
    assert checker.status.violation_count == 5
    assert len(checker.violations) == 2
    assert checker.status.message == "NOT linearizable: 5 violations in 6 operations"


# --- The live checker -----------------------------------------------------------------------


def test_status_counts_running_and_timed_out_operations() -> None:
    checker = LinearizabilityChecker()
    checker.add_invoke(put(1, "c1", "1", 0, None))
    checker.add_invoke(put(2, "c2", "2", 0, None, key="y"))
    checker.add_complete(put(2, "c2", "2", 0, None, key="y"))
    status = checker.status
    assert (status.keys, status.running, status.pending_unknown, status.ops_checked) == (2, 1, 1, 0)
    checker.add_complete(put(1, "c1", "1", 0, 10))
    assert checker.status.message == "linearizable so far: 1 operations on 2 keys"


def test_add_complete_returns_the_violation_it_found() -> None:
    checker = LinearizabilityChecker()
    feed(checker, live_events([put(1, "c1", "1", 0, 10)]))
    checker.add_invoke(get(2, "c2", "0", 20, None))
    (violation,) = checker.add_complete(get(2, "c2", "0", 20, 30))
    assert checker.violations == (violation,)
    assert checker.status.verdict is Verdict.VIOLATION


def test_answer_is_checked_once_the_operations_overlapping_it_finish() -> None:
    checker = LinearizabilityChecker()
    feed(checker, live_events([put(1, "c1", "1", 0, 10)]))
    checker.add_invoke(put(2, "c2", "2", 15, None))
    checker.add_invoke(get(3, "c3", "2", 20, None))
    assert checker.add_complete(get(3, "c3", "2", 20, 30)) == ()
    assert (checker.status.awaiting, checker.status.ops_checked) == (1, 1)
    checker.add_invoke(get(4, "c3", "1", 40, None))
    assert checker.add_complete(get(4, "c3", "1", 40, 50)) == ()
    # c2's write answers at last: c3 saw it take effect, so reading '1' again was wrong.
    (violation,) = checker.add_complete(put(2, "c2", "2", 15, 60))
    assert violation.op.op_id == 4
    assert "the only value x could hold then was '2' (SET by c2, op 2" in violation.explanation
    assert (checker.status.awaiting, checker.status.ops_checked) == (0, 4)


def test_events_must_arrive_in_time_order() -> None:
    checker = LinearizabilityChecker()
    checker.add_invoke(put(1, "c1", "1", 0, None))
    checker.add_complete(put(1, "c1", "1", 0, 10))
    with pytest.raises(ValueError, match="op 2 was invoked at 5.0 ms, but an answer at 10.0 ms"):
        checker.add_invoke(get(2, "c2", None, 5, None))


def test_answer_without_invocation_is_rejected() -> None:
    checker = LinearizabilityChecker()
    with pytest.raises(ValueError, match="op 1 on key 'x' was not running; call add_invoke"):
        checker.add_complete(put(1, "c1", "1", 0, 10))
    checker.add_invoke(put(1, "c1", "1", 0, None))
    with pytest.raises(ValueError, match="op 1 completed with different value"):
        checker.add_complete(put(1, "c1", "2", 0, 10))


@pytest.mark.parametrize(
    ("history", "message"),
    [
        ([put(1, "c1", "1", 0, 10), get(1, "c2", "1", 20, 30)], "op_id 1 appears twice"),
        ([put(1, "c1", "1", 10, 5)], "op 1 completed at 5.0 ms, before it was invoked"),
        ([cas(1, "c1", None, "1", None, 0, 10)], "a completed CAS needs ok=True or ok=False"),
        ([Op(1, "c1", OpKind.SET, "x", None, None, 0, 10)], "a SET needs a value"),
    ],
)
def test_malformed_histories_are_rejected(history: list[Op], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_history(history)


def test_deepcopy_mid_history_continues_independently() -> None:
    history = [
        put(1, "c1", "1", 0, 10),
        put(2, "c2", "2", 5, None),
        get(3, "c3", "1", 20, 30, key="y"),
        get(4, "c1", "2", 40, 50),
        get(5, "c1", "1", 60, 70),
    ]
    events = live_events(history)
    original = LinearizabilityChecker()
    feed(original, events[:4])
    clone = copy.deepcopy(original)
    feed(original, events[4:])
    assert clone.status.violation_count == 0
    assert clone.status.running == 2
    feed(clone, events[4:])
    assert clone.violations == original.violations
    assert clone.status == original.status
    assert [v.key for v in original.violations] == ["y", "x"]


# --- Property tests against the brute-force reference ----------------------------------------

_KEYS = ("x", "y")
_VALUES = ("1", "2", "3")


@st.composite
def linearizable_histories(draw: st.DrawFn, max_ops: int = 9) -> list[Op]:
    """Histories of a real register: each op takes effect at a random instant inside its
    interval (a timed-out one later, or never), and answers come from that order."""
    drafts: list[tuple[float, Op]] = []
    next_id = 1
    for client in ("c1", "c2", "c3"):
        t = draw(st.integers(0, 4)) * 10
        for _ in range(draw(st.integers(0, 3))):
            if next_id > max_ops:
                break
            kind = draw(st.sampled_from(list(OpKind)))
            key = draw(st.sampled_from(_KEYS))
            value = draw(st.sampled_from(_VALUES)) if kind in (OpKind.SET, OpKind.CAS) else None
            expected = draw(st.sampled_from((None, *_VALUES))) if kind is OpKind.CAS else None
            end = t + draw(st.integers(1, 6)) * 10
            complete: float | None = end
            effect = draw(st.integers(t + 1, end - 1)) + 0.5
            if draw(st.integers(0, 5)) == 0:  # timed out: takes effect some time later, or never
                complete = None
                effect = float("inf") if draw(st.booleans()) else draw(st.integers(t + 1, end + 99))
            drafts.append((effect, Op(next_id, client, kind, key, value, expected, t, complete)))
            next_id += 1
            t = end + draw(st.integers(0, 2)) * 10
    state: dict[str, str] = {}
    history = []
    for effect, op in sorted(drafts, key=lambda d: (d[0], d[1].op_id)):
        if effect == float("inf"):
            history.append(op)
            continue
        state, answer = _spec(op, state)
        if op.complete is None:
            history.append(op)
        elif op.kind is OpKind.GET:
            history.append(replace(op, result=answer if isinstance(answer, str) else None))
        elif op.kind is OpKind.CAS:
            history.append(replace(op, ok=bool(answer)))
        else:
            history.append(op)
    return sorted(history, key=lambda op: op.op_id)


def _corrupt(history: list[Op], index: int, value: str | None) -> list[Op]:
    """`history` with the answer of the `index`-th answered GET or CAS changed."""
    observing = (OpKind.GET, OpKind.CAS)
    answered = [
        i for i, op in enumerate(history) if op.complete is not None and op.kind in observing
    ]
    assume(answered)
    target = answered[index % len(answered)]
    op = history[target]
    if op.kind is OpKind.GET:
        assume(value != op.result)
        changed = replace(op, result=value)
    else:
        changed = replace(op, ok=not op.ok)
    return [*history[:target], changed, *history[target + 1 :]]


@settings(deadline=None)
@given(linearizable_histories())
def test_histories_of_a_real_register_are_linearizable(history: list[Op]) -> None:
    assert brute_force_ok(history)
    assert check_history(history).ok
    assert check_live(history).status.verdict is Verdict.LINEARIZABLE


@settings(deadline=None)
@given(linearizable_histories(), st.integers(0, 20), st.sampled_from((None, *_VALUES)))
def test_corrupted_histories_agree_with_brute_force(
    history: list[Op], index: int, value: str | None
) -> None:
    corrupted = _corrupt(history, index, value)
    expected = brute_force_ok(corrupted)
    assert verdict(corrupted) == expected


@settings(deadline=None)
@given(
    linearizable_histories(max_ops=7),
    st.lists(st.sampled_from((None, *_VALUES)), min_size=7, max_size=7),
    st.lists(st.booleans(), min_size=7, max_size=7),
)
def test_arbitrary_answers_agree_with_brute_force(
    history: list[Op], results: list[str | None], oks: list[bool]
) -> None:
    scrambled = [
        replace(op, result=results[i], ok=oks[i] if op.kind is OpKind.CAS else None)
        if op.complete is not None
        else op
        for i, op in enumerate(history)
    ]
    assert verdict(scrambled) == brute_force_ok(scrambled)


@settings(deadline=None)
@given(linearizable_histories(), st.integers(0, 20), st.integers(0, 20))
def test_deepcopy_at_any_point_gives_the_same_verdicts(
    history: list[Op], index: int, cut: int
) -> None:
    corrupted = _corrupt(history, index, "3")
    events = live_events(corrupted)
    cut %= len(events) + 1
    original = LinearizabilityChecker()
    feed(original, events[:cut])
    clone = copy.deepcopy(original)
    feed(original, events[cut:])
    feed(clone, events[cut:])
    assert clone.violations == original.violations
    assert clone.status == original.status
    fresh = check_live(corrupted)
    assert fresh.violations == original.violations


# --- Determinism --------------------------------------------------------------------------


def test_explanations_do_not_depend_on_string_hashing() -> None:
    script = textwrap.dedent(
        """
        from raftviz.sim.checks.linearizability import Op, OpKind, check_history
        ops = [Op(i, f"c{i}", OpKind.SET, "k", f"v{i}", None, 0.0, None) for i in range(1, 9)]
        ops.append(Op(20, "c0", OpKind.SET, "k", "w", None, 0.0, 5.0))
        ops.append(Op(21, "c0", OpKind.GET, "k", None, None, 10.0, 20.0, result="zzz"))
        print(check_history(ops).explanation)
        """
    )
    outputs = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO)}
        run = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        outputs.add(run.stdout)
    assert len(outputs) == 1
    (text,) = outputs
    assert "'v1' (SET by c1, op 1, invoked at 0.0 ms, outcome unknown)" in text
    assert "3 more" in text


# --- explain: a smallest core, the order tried, one plain sentence ----------------------------


def test_explain_cuts_a_stale_read_down_to_the_write_it_missed() -> None:
    history = [
        put(1, "c3", "3", 1000.0, 1100.0),
        put(2, "c1", "4", 1450.0, 1490.0),
        get(3, "c2", "3", 1500.0, 1520.0),
    ]
    why = explain(check_history(history).violations[0])
    assert [op.op_id for op in why.core] == [1, 2, 3]  # the read keeps the write it saw
    assert [op.op_id for op in why.tried] == [1, 2, 3]
    assert why.fails == history[2]
    assert why.at == 1520.0
    assert why.sentence == (
        "c2's read of x returned '3' after c1's write of '4' to x had completed at "
        "1490.0 ms, so it should have read '4'."
    )


def test_explained_core_is_minimal_one_operation_at_a_time() -> None:
    history = [
        put(1, "c1", "1", 0, 10),
        put(2, "c2", "2", 5, 30),  # overlaps the first write
        get(3, "c3", "2", 35, 40),
        put(4, "c1", "3", 41, 50),
        get(5, "c2", "2", 60, 70),  # stale: 3 was written before it began
        get(6, "c3", "3", 61, 71),
    ]
    result = check_history(history)
    why = explain(result.violations[0])
    assert not check_history(why.core).ok
    assert [op.op_id for op in why.core] == [2, 4, 5]
    for op in why.core:
        if op.op_id != 2:  # c2's write of '2' stays: the stale read saw it
            assert check_history([o for o in why.core if o is not op]).ok
    assert why.fails.op_id == 5
    assert "returned '2' after c1's write of '3' to x had completed at 50.0 ms" in why.sentence


def test_explain_a_read_of_a_value_nobody_wrote() -> None:
    history = [put(1, "c1", "1", 0, 10), get(2, "c2", "7", 20, 30)]
    why = explain(check_history(history).violations[0])
    assert [op.op_id for op in why.core] == [2]
    assert why.sentence == "c2's read of x returned '7', a value no operation here wrote."
