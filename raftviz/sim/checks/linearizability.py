"""Linearizability checking for the replicated key-value store.

A history of client operations is linearizable if every operation can be given a single
instant between its invocation and its answer such that, replayed in that order, the
sequential key-value store gives every answer the clients saw. This module decides that,
both for a finished history (`check_history`) and live, one event at a time, while the
simulation runs (`LinearizabilityChecker`).

How it works:

* Per key. Linearizability is compositional (Herlihy & Wing 1990), so a map of independent
  registers is linearizable iff each key's sub-history is; checking keys separately keeps
  every search small (Horn & Kroening's "P-compositionality").
* Wing & Gong's search with Lowe's improvements ("Testing for linearizability", 2017). An
  operation is linearized "just in time": when its answer is checked, possibly preceded by
  operations that overlap it. Search nodes are memoised as (what has been linearized, state)
  pairs, and the search runs breadth-first over them (Lowe's JIT graph search), which makes
  it incremental.
* An answer is checked once every operation that overlapped it has finished (been answered
  or timed out), so that overlapping operations placed ahead of it are checked against their
  real answers rather than guessed. The delay is at most the client timeout.
* The checked prefix is collapsed. Of the past, the checker keeps only each key's frontier:
  the set of *worlds*, one per distinct way of linearizing the history so far. A world is the
  key's value, the timed-out writes that may still take effect, and the unchecked operations
  it has already placed. At a quiescent cut (nothing running on the key) a world is just a
  possible value plus the writes that "still may apply", so the frontier is exactly the set
  of possible states. A world that another one dominates (same value, fewer writes left to
  apply, fewer reads placed) is dropped, which keeps the frontier small.
* Operations with an unknown outcome. A timed-out GET is ignored. A timed-out write may take
  effect at any moment after its invocation, or never; it stays in a world's "may still
  apply" set until that world uses it.

Real-time order: `a` precedes `b` when `a.complete <= b.invoke`. An answer is only sent after
the operation took effect, and a request only takes effect after it is sent, so an answer and
an invocation at the same simulated instant are ordered; this is what makes a client's next
operation come after its previous one.

After a violation, the key continues from every state that either the specification or the
reported answer allows, so one anomaly is reported once rather than on every later read.

All limits are explicit. Dropping worlds only makes the check stricter, so when a limit is
hit a verdict of "linearizable" remains trustworthy, but later violations on that key are
marked as possibly false alarms (`Violation.certain`) and the status says so.
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

DEFAULT_MAX_WORLDS: Final = 512
DEFAULT_MAX_PENDING: Final = 64
DEFAULT_MAX_SEARCH: Final = 20_000
DEFAULT_MAX_VIOLATIONS: Final = 100

# Explanations name the latest writer of a value; remembering every value ever written would
# grow without bound, so only this many distinct recent values per key are kept.
_RECENT_WRITES: Final = 32
# A sentence listing more possible values than this stops being readable.
_SHOWN_CANDIDATES: Final = 6


class OpKind(StrEnum):
    """The operations of the key-value store's client interface."""

    SET = "set"
    GET = "get"
    DELETE = "delete"
    CAS = "cas"


@dataclass(frozen=True, slots=True)
class Op:
    """One client operation on the key-value store, as the client saw it."""

    op_id: int  # unique within a history
    client: str  # e.g. "c1"; a client has at most one outstanding op at a time
    kind: OpKind
    key: str
    value: str | None  # SET: the value written; CAS: the new value; else None
    expected: str | None  # CAS only: the value it must find (None means "key absent")
    invoke: float  # simulated ms when the client invoked it
    complete: float | None  # simulated ms when the client got the answer; None = outcome unknown
    # (timed out: it may have taken effect at any time after invoke, or never)
    result: str | None = None  # GET: the value read (None = key absent)
    ok: bool | None = None  # CAS: whether it swapped (None when outcome unknown)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A value a key could hold at some moment, and the operation that put it there."""

    value: str | None  # None: the key is absent
    source: Op | None  # None: the initial, empty store


@dataclass(frozen=True, slots=True)
class Violation:
    """An answer that no order of the operations on one key can explain."""

    key: str
    op: Op  # the first operation that could not be linearized
    candidates: tuple[Candidate, ...]  # every value the key could hold when `op` took effect
    involved: tuple[Op, ...]  # `op`, the writers of the candidates, overlapping ops; by op_id
    explanation: str
    certain: bool  # False when a limit had dropped possible states of this key


class Verdict(StrEnum):
    """Whether the history checked so far is linearizable."""

    LINEARIZABLE = "linearizable"
    VIOLATION = "violation"


@dataclass(frozen=True, slots=True)
class CheckerStatus:
    """A summary of the live checker, cheap enough to build on every simulation step."""

    verdict: Verdict
    exact: bool  # False once a limit was hit on some key (see `notes`)
    ops_checked: int  # answers checked so far
    violation_count: int
    keys: int
    running: int  # invoked operations with no answer and no timeout yet
    awaiting: int  # answers not checked yet: they wait for the operations overlapping them
    pending_unknown: int  # timed-out writes that may still take effect
    largest_frontier: int  # most worlds kept for one key
    notes: tuple[str, ...]  # one line per key on which a limit was hit

    @property
    def message(self) -> str:
        """One line for the screen."""
        if self.verdict is Verdict.LINEARIZABLE:
            text = f"linearizable so far: {self.ops_checked} operations on {self.keys} keys"
        else:
            plural = "" if self.violation_count == 1 else "s"
            text = (
                f"NOT linearizable: {self.violation_count} violation{plural} "
                f"in {self.ops_checked} operations"
            )
        if not self.exact:
            text += " (approximate: a search limit was hit, see notes)"
        return text


@dataclass(frozen=True, slots=True)
class LinearizabilityResult:
    """The verdict on a whole history."""

    ok: bool
    violations: tuple[Violation, ...]  # in the order found, at most the checker's limit
    violation_count: int
    exact: bool  # False if a limit was hit; an `ok` verdict is still sound then
    notes: tuple[str, ...]

    @property
    def key(self) -> str | None:
        """The key of the first violation, if any."""
        return self.violations[0].key if self.violations else None

    @property
    def explanation(self) -> str:
        """The first violation in words, or a line saying the history is linearizable."""
        return self.violations[0].explanation if self.violations else "linearizable"


# --- The sequential specification -----------------------------------------------------------

# What an operation reports: GET the value read, CAS whether it swapped, SET/DELETE nothing.
_Outcome = str | bool | None


def _apply(op: Op, value: str | None) -> tuple[str | None, _Outcome]:
    """The key's value after `op` runs alone on `value`, and what `op` then reports."""
    match op.kind:
        case OpKind.SET:
            return op.value, None
        case OpKind.DELETE:
            return None, None
        case OpKind.GET:
            return value, value
        case OpKind.CAS:
            if value == op.expected:
                return op.value, True
            return value, False
    raise ValueError(f"op {op.op_id}: unknown kind {op.kind!r}")


def _observed(op: Op) -> _Outcome:
    """What the client was told when `op` completed."""
    match op.kind:
        case OpKind.GET:
            return op.result
        case OpKind.CAS:
            return op.ok
    return None


def _is_blind(op: Op) -> bool:
    """Whether `op` overwrites the value without looking at it (SET, DELETE)."""
    return op.kind in (OpKind.SET, OpKind.DELETE)


def _takes_effect(op: Op, outcome: _Outcome) -> bool:
    """Whether `op`, reporting `outcome`, wrote the key."""
    return _is_blind(op) or (op.kind is OpKind.CAS and outcome is True)


def _written(op: Op) -> str | None:
    """The value a write leaves behind if it takes effect (and, for a CAS, swaps)."""
    return None if op.kind is OpKind.DELETE else op.value


# What a write does, regardless of who sent it: two timed-out writes with the same effect
# are interchangeable, which is what keeps worlds from multiplying when clients retry.
_Effect = tuple[OpKind, str | None, str | None]


def _effect(op: Op) -> _Effect:
    return (op.kind, op.value, op.expected)


# A multiset of effects, encoded as the set of (effect, i) for i below each multiplicity, so
# that multiset inclusion is plain set inclusion.
_Effects = frozenset[tuple[_Effect, int]]


def _multiplicity(effects: _Effects, effect: _Effect) -> int:
    count = 0
    while (effect, count) in effects:
        count += 1
    return count


def _one_more(effects: _Effects, effect: _Effect) -> _Effects:
    return effects | {(effect, _multiplicity(effects, effect))}


def _one_less(effects: _Effects, effect: _Effect) -> _Effects:
    """`effects` with one copy of `effect` fewer (unchanged if there is none)."""
    count = _multiplicity(effects, effect)
    return effects - {(effect, count - 1)} if count else effects


# --- Worlds: the collapsed, checked prefix of one key's history ------------------------------


@dataclass(frozen=True, slots=True)
class _World:
    """One way the key's history so far can have been linearized; a memoised search node.

    Unchecked operations that the world has placed already were checked against their answers
    when placed. They are split by whether they wrote the key, because only placed reads (GETs
    and failed CASes) make one world dominate another (see `_Antichain`).
    """

    value: str | None
    remaining: _Effects  # timed-out writes that may still take effect
    placed_writes: frozenset[int]
    placed_reads: frozenset[int]

    # Transitions build worlds directly: `dataclasses.replace` is several times slower, and
    # the search creates a world per node.

    def placed(self, op_id: int) -> bool:
        """Whether this world has linearized the unchecked op `op_id` already."""
        return op_id in self.placed_writes or op_id in self.placed_reads

    def holding(self, value: str | None) -> _World:
        """This world after an op that leaves `value` and needs no bookkeeping."""
        return _World(value, self.remaining, self.placed_writes, self.placed_reads)

    def placing_write(self, op_id: int, value: str | None) -> _World:
        """This world after placing the unchecked op `op_id`, which wrote `value`."""
        return _World(value, self.remaining, self.placed_writes | {op_id}, self.placed_reads)

    def placing_read(self, op_id: int) -> _World:
        """This world after placing the unchecked op `op_id`, which wrote nothing."""
        return _World(self.value, self.remaining, self.placed_writes, self.placed_reads | {op_id})

    def checked(self, op_id: int) -> _World:
        """This world once the placed op `op_id` has been answered or has timed out."""
        return _World(
            self.value, self.remaining, self.placed_writes - {op_id}, self.placed_reads - {op_id}
        )

    def with_remaining(self, remaining: _Effects) -> _World:
        """This world with a different set of timed-out writes that may still apply."""
        return _World(self.value, remaining, self.placed_writes, self.placed_reads)


# A world, and the op that wrote its value (None: the initial empty store).
_Node = tuple[_World, Op | None]

_START: Final[_Node] = (_World(None, frozenset(), frozenset(), frozenset()), None)


def _dominates(a: _World, b: _World) -> bool:
    """Whether everything that can still happen after `b` can happen after `a`: `a` has at
    least `b`'s timed-out writes left to apply and has already done at least `b`'s reads."""
    return b.remaining <= a.remaining and b.placed_reads <= a.placed_reads


class _Antichain:
    """A set of worlds with dominated ones left out (see `_dominates`).

    Only worlds with the same value and placed writes are compared. Insertion order is kept,
    so iteration never depends on string hashing.
    """

    __slots__ = ("_by_shape", "_sources")

    def __init__(self) -> None:
        self._by_shape: dict[tuple[str | None, frozenset[int]], list[_World]] = {}
        self._sources: dict[_World, Op | None] = {}

    def add(self, world: _World, source: Op | None) -> bool:
        """Keep `world` unless a kept world dominates it; say whether it was kept."""
        kept = self._by_shape.setdefault((world.value, world.placed_writes), [])
        if any(_dominates(other, world) for other in kept):
            return False
        for other in [other for other in kept if _dominates(world, other)]:
            kept.remove(other)
            del self._sources[other]
        kept.append(world)
        self._sources[world] = source
        return True

    def nodes(self) -> tuple[_Node, ...]:
        """The kept worlds, in insertion order."""
        return tuple(self._sources.items())


@dataclass(frozen=True, slots=True)
class _Limits:
    """Bounds on the work and memory spent per key."""

    max_worlds: int
    max_pending: int
    max_search: int


@dataclass(frozen=True, slots=True)
class _KeyState:
    """Everything the checker keeps about one key. Immutable, so copies can share it."""

    key: str
    worlds: tuple[_Node, ...]  # the frontier; never empty
    running: tuple[Op, ...]  # invoked, with no answer and no timeout yet
    finished: tuple[Op, ...]  # answered or timed out but not checked yet, in arrival order
    pending: tuple[Op, ...]  # checked timed-out writes that some world may still apply, oldest
    # first; of several with the same effect, only as many as some world may still apply
    recent_writes: tuple[tuple[str | None, Op], ...]  # (value, its latest writer), newest last
    forgot_writes: bool  # whether `recent_writes` ever dropped a value
    exact: bool  # False once a limit dropped worlds or cut a search short

    @staticmethod
    def fresh(key: str) -> _KeyState:
        """A key nobody has touched: absent, in the only possible world."""
        return _KeyState(key, (_START,), (), (), (), (), False, True)

    def with_ops(self, running: tuple[Op, ...], finished: tuple[Op, ...]) -> _KeyState:
        """This state with other unchecked ops (built directly, as in `_World`)."""
        return _KeyState(
            self.key,
            self.worlds,
            running,
            finished,
            self.pending,
            self.recent_writes,
            self.forgot_writes,
            self.exact,
        )


# --- The just-in-time search ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Search:
    """What linearizing one answered op produced."""

    survivors: tuple[_Node, ...]  # worlds in which the answer fits
    complete: bool  # False if the search budget ran out
    candidates: tuple[Candidate, ...]  # values the key could hold when the op took effect
    recovery: tuple[_Node, ...]  # where to continue if there are no survivors


@dataclass(frozen=True, slots=True)
class _Watchers:
    """What the ops of one search step could notice about the key's value.

    A timed-out write that nobody notices is worth applying only to move the key off a value
    that a failed CAS must not have found.
    """

    values: frozenset[str | None]  # values a GET may read or a CAS (or timed-out CAS) expects
    refuted: frozenset[str | None]  # values a failed CAS says the key did not hold

    @staticmethod
    def of(ops: Iterable[Op]) -> _Watchers:
        """What `ops`, answered or timed out, could notice."""
        values: set[str | None] = set()
        refuted: set[str | None] = set()
        for op in ops:
            if op.kind is OpKind.GET:
                values.add(op.result)
            elif op.kind is OpKind.CAS:
                failed = op.complete is not None and op.ok is False
                (refuted if failed else values).add(op.expected)
        return _Watchers(frozenset(values), frozenset(refuted))

    def care(self, before: str | None, after: str | None) -> bool:
        """Whether anyone could notice a timed-out write changing `before` to `after`."""
        return after in self.values or before in self.refuted


def _search(state: _KeyState, op: Op, limits: _Limits, *, thorough: bool) -> _Search:
    """Linearize the answered `op` in every world, after any overlapping or timed-out ops.

    This is one step of Lowe's just-in-time graph search, with nodes memoised in an antichain.
    Some paths are skipped because another explored path dominates them:

    * a timed-out CAS is applied only where it would swap (otherwise it changes nothing), and
      timed-out writes with the same effect are tried once, being interchangeable;
    * a timed-out blind write is never applied right after another timed-out op, nor is a
      blind `op` linearized right after one: the first write's effect would go unseen;
    * unless `thorough`, a timed-out write is applied only if some operation could notice
      (see `_Watchers`). The thorough pass, run only after a failure, lists every value the
      key could have held, for an honest explanation.
    """
    assert op.complete is not None
    answer = _observed(op)
    overlapping = tuple(
        other
        for other in state.finished[1:]
        if other.invoke < op.complete and not (other.kind is OpKind.GET and other.complete is None)
    )
    watchers = _Watchers.of((op, *overlapping, *state.pending))
    # Timed-out writes by effect, each named by the oldest write with it, and indexed once so
    # that each node looks only at those that could matter there.
    writers: dict[_Effect, Op] = {}
    for write in state.pending:
        writers.setdefault(_effect(write), write)
    cas_by_expected: dict[str | None, list[_Effect]] = {}
    noticed: list[_Effect] = []  # blind writes leaving a value that someone could notice
    unnoticed: list[_Effect] = []  # blind writes that can only move the key off a refuted value
    for effect, write in writers.items():
        if write.kind is OpKind.CAS:
            cas_by_expected.setdefault(write.expected, []).append(effect)
        elif thorough or _written(write) in watchers.values:
            noticed.append(effect)
        else:
            unnoticed.append(effect)

    survivors = _Antichain()
    recovery = _Antichain()
    candidates: dict[str | None, Candidate] = {}
    visited = _Antichain()
    expanded = 0
    cut_short = False

    for start_world, start_source in state.worlds:
        if start_world.placed(op.op_id):
            survivors.add(start_world.checked(op.op_id), start_source)
            continue
        if not visited.add(start_world, start_source):
            continue
        queue = deque([(start_world, start_source, False)])
        while queue:
            world, source, after_pending = queue.popleft()
            if not (after_pending and _is_blind(op)):
                value, outcome = _apply(op, world.value)
                result = world.holding(value)
                result_source = op if _takes_effect(op, outcome) else source
                if outcome == answer:
                    survivors.add(result, result_source)
                elif thorough:
                    if world.value not in candidates or candidates[world.value].source is None:
                        candidates[world.value] = Candidate(world.value, source)
                    # Continue both as the specification says and as the answer claims.
                    recovery.add(result, result_source)
                    if op.kind is OpKind.GET or op.ok:
                        claimed = op.result if op.kind is OpKind.GET else op.value
                        recovery.add(world.holding(claimed), op)
                    else:
                        recovery.add(world, source)
            if expanded >= limits.max_search:
                cut_short = True
                continue
            expanded += 1
            for other in overlapping:
                if world.placed(other.op_id):
                    continue
                value, outcome = _apply(other, world.value)
                writes = _takes_effect(other, outcome)
                if other.complete is not None and outcome != _observed(other):
                    continue
                if other.complete is None and not writes:
                    continue  # a timed-out op that would change nothing may as well not run
                child_source: Op | None
                if writes:
                    child = world.placing_write(other.op_id, value)
                    child_source = other
                else:
                    child = world.placing_read(other.op_id)
                    child_source = source
                if visited.add(child, child_source):
                    queue.append((child, child_source, False))
            blind: Sequence[_Effect] = ()
            if not after_pending:
                blind = (*noticed, *unnoticed) if world.value in watchers.refuted else noticed
            for effect in (*cas_by_expected.get(world.value, ()), *blind):
                if (effect, 0) not in world.remaining:
                    continue
                write = writers[effect]
                if write.kind is OpKind.CAS and not (
                    thorough or watchers.care(world.value, write.value)
                ):
                    continue
                child = _World(
                    _written(write),
                    _one_less(world.remaining, effect),
                    world.placed_writes,
                    world.placed_reads,
                )
                if visited.add(child, write):
                    queue.append((child, write, True))

    ordered = sorted(candidates.values(), key=lambda c: (c.value is not None, c.value or ""))
    return _Search(
        survivors=survivors.nodes(),
        complete=not cut_short,
        candidates=tuple(ordered),
        recovery=recovery.nodes(),
    )


# --- Events on one key --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Step:
    """A key's new state after checking one finished op, and what that revealed."""

    state: _KeyState
    violation: Violation | None = None
    note: str | None = None  # set when this step made the key's check approximate


def _on_timeout(state: _KeyState, op: Op, limits: _Limits, now: float) -> _Step:
    """`op` will never be answered: where it was not placed yet, it may still apply later."""
    worlds = _Antichain()
    for world, source in state.worlds:
        if op.op_id in world.placed_writes:
            worlds.add(world.checked(op.op_id), source)
        elif op.kind is OpKind.GET:
            worlds.add(world, source)
        else:
            worlds.add(world.with_remaining(_one_more(world.remaining, _effect(op))), source)
    if op.kind is OpKind.GET:
        return _settle_key(state, worlds.nodes(), limits, now)
    return _settle_key(state, worlds.nodes(), limits, now, wrote=op, timed_out=True)


def _on_answer(state: _KeyState, op: Op, limits: _Limits) -> _Step:
    """`op` was answered: keep the worlds in which some order of ops gives that answer."""
    assert op.complete is not None
    search = _search(state, op, limits, thorough=False)
    wrote = op if _takes_effect(op, _observed(op)) else None
    if search.survivors:
        return _settle_key(
            state, search.survivors, limits, op.complete, wrote=wrote, searched_all=search.complete
        )
    # A failure is rare, so the thorough pass that explains it can afford to be slower.
    full = _search(state, op, limits, thorough=True)
    violation = _violation(state, op, full.candidates, certain=state.exact and search.complete)
    step = _settle_key(
        state, full.recovery, limits, op.complete, wrote=wrote, searched_all=search.complete
    )
    return _Step(step.state, violation, step.note)


def _settle_key(
    state: _KeyState,
    nodes: tuple[_Node, ...],
    limits: _Limits,
    now: float,
    *,
    wrote: Op | None = None,
    timed_out: bool = False,
    searched_all: bool = True,
) -> _Step:
    """The key's state once its oldest finished op is checked, leaving the worlds `nodes`.

    `wrote` is the op, if any, to remember as the latest writer of its value, and
    `timed_out` says that it is a timed-out write that may still take effect. The limits are
    enforced here, and timed-out writes that no world can still apply are forgotten.
    """
    limits_hit: list[str] = []
    if not searched_all:
        limits_hit.append(f"a search stopped after {limits.max_search} states")
    pending = state.pending
    if timed_out and wrote is not None:
        pending = (*pending, wrote)
    if len(pending) > limits.max_pending:
        dropped = pending[0]
        pending = pending[1:]
        limits_hit.append(
            f"more than {limits.max_pending} timed-out writes might still take effect, "
            f"so op {dropped.op_id} is now assumed never to"
        )
        trimmed = _Antichain()
        for world, source in nodes:
            trimmed.add(world.with_remaining(_one_less(world.remaining, _effect(dropped))), source)
        nodes = trimmed.nodes()
    if len(nodes) > limits.max_worlds:
        limits_hit.append(f"more than {limits.max_worlds} possible states, so some were dropped")
        nodes = nodes[: limits.max_worlds]
    # Forget timed-out writes beyond what any world may still apply.
    usable: dict[_Effect, int] = {}
    for world, _ in nodes:
        for effect, index in world.remaining:
            usable[effect] = max(usable.get(effect, 0), index + 1)
    kept: list[Op] = []
    for write in pending:
        effect = _effect(write)
        if usable.get(effect, 0) > 0:
            usable[effect] -= 1
            kept.append(write)
    recent_writes, forgot_writes = state.recent_writes, state.forgot_writes
    if wrote is not None:
        # Explanations name the latest writer of a value, from a short memory of writes.
        value = _written(wrote)
        others = tuple(pair for pair in recent_writes if pair[0] != value)
        forgot_writes = forgot_writes or len(others) >= _RECENT_WRITES
        recent_writes = (*others[-(_RECENT_WRITES - 1) :], (value, wrote))
    # Only the first limit hit on a key is worth a note: after it the key is approximate anyway.
    note = None
    if limits_hit and state.exact:
        note = (
            f"key {state.key!r} at {_ms(now)} ms: {'; '.join(limits_hit)}. "
            "Later violations on this key may be false alarms."
        )
    settled = _KeyState(
        key=state.key,
        worlds=nodes,
        running=state.running,
        finished=state.finished[1:],
        pending=tuple(kept),
        recent_writes=recent_writes,
        forgot_writes=forgot_writes,
        exact=state.exact and not limits_hit,
    )
    return _Step(settled, note=note)


@dataclass(frozen=True, slots=True)
class _Checked:
    """What checking the finished ops of a key that could be checked produced."""

    state: _KeyState
    answers: int
    violations: tuple[Violation, ...]
    notes: tuple[str, ...]


def _check_ready(state: _KeyState, limits: _Limits, now: float) -> _Checked:
    """Check finished ops in arrival order, as far as the ops they overlap have finished."""
    answers = 0
    violations: list[Violation] = []
    notes: list[str] = []
    while state.finished:
        head = state.finished[0]
        if head.complete is None:
            step = _on_timeout(state, head, limits, now)
        elif any(other.invoke < head.complete for other in state.running):
            break
        else:
            step = _on_answer(state, head, limits)
            answers += 1
        state = step.state
        if step.violation is not None:
            violations.append(step.violation)
        if step.note is not None:
            notes.append(step.note)
    return _Checked(state, answers, tuple(violations), tuple(notes))


# --- Explanations --------------------------------------------------------------------------


def _ms(t: float | None) -> str:
    """A simulated time for people; exact times are in the ops of `Violation.involved`."""
    return "?" if t is None else f"{t:.1f}"


def _fmt(value: str | None) -> str:
    return "absent" if value is None else repr(value)


def _timing(op: Op, running: frozenset[int]) -> str:
    if op.op_id in running:
        return f"invoked at {_ms(op.invoke)} ms, still running"
    if op.complete is None:
        return f"invoked at {_ms(op.invoke)} ms, outcome unknown"
    return f"{_ms(op.invoke)}-{_ms(op.complete)} ms"


def _describe_candidate(candidate: Candidate, running: frozenset[int]) -> str:
    source = candidate.source
    value = _fmt(candidate.value)
    if source is None:
        return f"{value} (nothing written yet)"
    timing = _timing(source, running)
    if source.kind is OpKind.GET:
        # Only after an earlier violation does a value come from a read rather than a write.
        return f"{value} (as read by {source.client}'s GET, op {source.op_id}, {timing})"
    return f"{value} ({source.kind.upper()} by {source.client}, op {source.op_id}, {timing})"


def _either(items: Sequence[str], hidden: int) -> str:
    """'a', 'a or b', 'a, b or c', with 'N more' in place of `hidden` further items."""
    items = [*items, f"{hidden} more"] if hidden else list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _describe_values(candidates: Sequence[Candidate], running: frozenset[int]) -> str:
    """The candidates in words: values from answered writes first, then those that only a
    timed-out write landing late could have left."""
    lurking = [c for c in candidates if c.source is not None and c.source.complete is None]
    settled = [c for c in candidates if c not in lurking]
    shown = settled[:_SHOWN_CANDIDATES]
    room = max(_SHOWN_CANDIDATES - len(shown), 2)
    texts = []
    if settled:
        settled_texts = [_describe_candidate(c, running) for c in shown]
        texts.append(_either(settled_texts, len(settled) - len(shown)))
    if lurking:
        lurking_texts = [_describe_candidate(c, running) for c in lurking[:room]]
        texts.append(_either(lurking_texts, max(len(lurking) - room, 0)))
    return " or, had a timed-out write landed late, ".join(texts)


def _headline(op: Op) -> str:
    when = f"(op {op.op_id}, {_ms(op.invoke)}-{_ms(op.complete)} ms)"
    match op.kind:
        case OpKind.GET:
            seen = f"returned {op.result!r}" if op.result is not None else f"found {op.key} absent"
            return f"{op.client}'s GET {op.key} {when} {seen}"
        case OpKind.CAS:
            verb = "succeeded" if op.ok else "failed"
            swap = f"from {_fmt(op.expected)} to {_fmt(op.value)}"
            return f"{op.client}'s CAS {op.key} {swap} {when} {verb}"
    return f"{op.client}'s {op.kind.upper()} {op.key} {when} was answered"


def _last_writer(state: _KeyState, value: str | None) -> Op | None:
    """The newest checked write of `value`, else an unchecked or running one."""
    for written, writer in reversed(state.recent_writes):
        if written == value:
            return writer
    for op in (*reversed(state.finished), *reversed(state.running)):
        if op.kind is not OpKind.GET and _written(op) == value:
            return op
    return None


def _provenance(state: _KeyState, value: str | None, running: frozenset[int]) -> str:
    """Who last wrote `value`, or that nobody did, as far as the checker remembers."""
    writer = _last_writer(state, value)
    if writer is not None:
        timing = _timing(writer, running)
        by = f"{writer.client}'s {writer.kind.upper()} (op {writer.op_id}, {timing})"
        if writer.op_id in running:
            return f"{_fmt(value)} is only being written by {by}."
        if value is None:
            return f"{state.key} was last deleted by {by}."
        return f"{value!r} was last written by {by}."
    if value is None:
        return f"{state.key} was absent only before its first write."
    if state.forgot_writes:
        return f"None of the last {_RECENT_WRITES} values written to {state.key} is {value!r}."
    return f"No operation wrote {value!r} to {state.key}."


def _violation(
    state: _KeyState, op: Op, candidates: tuple[Candidate, ...], *, certain: bool
) -> Violation:
    """Put the failed search into words a student can check against the timeline."""
    assert op.complete is not None
    answered_at = op.complete
    running = frozenset(other.op_id for other in state.running)
    values = _describe_values(candidates, running)
    were = "value" if len(candidates) == 1 else "values"
    was = "was" if len(candidates) == 1 else "were"
    head = _headline(op)
    if not candidates:
        text = f"{head}, but the search gave up before finding any state {op.key} could hold."
    elif op.kind is OpKind.GET:
        text = f"{head}, but the only {were} {op.key} could hold then {was} {values}. "
        text += _provenance(state, op.result, running)
    elif op.kind is OpKind.CAS and op.ok:
        held = "been absent" if op.expected is None else f"held {op.expected!r}"
        text = (
            f"{head}, but {op.key} could not have {held} then: "
            f"the only {were} it could hold {was} {values}. "
        )
        text += _provenance(state, op.expected, running)
    elif op.kind is OpKind.CAS and all(c.value == op.expected for c in candidates):
        text = f"{head}, but {op.key} could only hold {values} then, so it should have swapped."
    else:
        text = f"{head}, but no order of the operations gives that answer; "
        text += f"{op.key} could hold {values} then."
    involved = {op.op_id: op}
    for candidate in candidates:
        if candidate.source is not None:
            involved.setdefault(candidate.source.op_id, candidate.source)
    for other in state.finished[1:]:
        if other.invoke < answered_at:
            involved.setdefault(other.op_id, other)
    if op.kind is OpKind.GET or op.ok:
        writer = _last_writer(state, op.result if op.kind is OpKind.GET else op.expected)
        if writer is not None:
            involved.setdefault(writer.op_id, writer)
    return Violation(
        key=op.key,
        op=op,
        candidates=candidates,
        involved=tuple(involved[i] for i in sorted(involved)),
        explanation=text,
        certain=certain,
    )


# --- Public entry points ---------------------------------------------------------------------


def _check_invocation(op: Op) -> None:
    """Reject requests that the specification cannot interpret."""
    if not isinstance(op.kind, OpKind):
        kinds = ", ".join(f"OpKind.{k.name}" for k in OpKind)
        raise ValueError(f"op {op.op_id}: kind {op.kind!r} is not an OpKind ({kinds})")
    if op.kind is OpKind.SET and op.value is None:
        raise ValueError(f"op {op.op_id}: a SET needs a value; use DELETE to remove {op.key!r}")


def _check_answer(op: Op) -> None:
    """Reject answers that the specification cannot interpret."""
    if op.complete is not None:
        if op.complete < op.invoke:
            raise ValueError(
                f"op {op.op_id} completed at {_ms(op.complete)} ms, "
                f"before it was invoked at {_ms(op.invoke)} ms"
            )
        if op.kind is OpKind.CAS and op.ok is None:
            raise ValueError(f"op {op.op_id}: a completed CAS needs ok=True or ok=False")


class LinearizabilityChecker:
    """Checks a growing history as the simulation runs, one client event at a time.

    Call `add_invoke(op)` when a client sends a request, and `add_complete(op)` when it gets
    the answer (`op.complete` set) or gives up (`op.complete` None). Events must arrive in
    simulated-time order; events at the same instant may come in any order.

    An answer is checked as soon as every operation that overlapped it has finished, so a
    violation is reported at most one client timeout after the answer that caused it. The
    work per event depends only on the operations that overlap it, never on the length of
    the history, because the checked past is kept only as each key's frontier of worlds.
    Nearly all state is immutable and shared, so `copy.deepcopy` (simulation checkpoints)
    costs time proportional to the number of keys and stored violations.
    """

    def __init__(
        self,
        *,
        max_worlds: int = DEFAULT_MAX_WORLDS,
        max_pending: int = DEFAULT_MAX_PENDING,
        max_search: int = DEFAULT_MAX_SEARCH,
        max_violations: int = DEFAULT_MAX_VIOLATIONS,
    ) -> None:
        """Limits per key: worlds kept, timed-out writes kept, and search nodes expanded per
        answer; and violations stored (all are counted)."""
        limits = {
            "max_worlds": max_worlds,
            "max_pending": max_pending,
            "max_search": max_search,
            "max_violations": max_violations,
        }
        for name, value in limits.items():
            if value < 1:
                raise ValueError(f"{name} must be at least 1, not {value}")
        self._limits = _Limits(max_worlds, max_pending, max_search)
        self._max_violations = max_violations
        self._keys: dict[str, _KeyState] = {}
        self._violations: list[Violation] = []
        self._violation_count = 0
        self._notes: list[str] = []
        self._ops_checked = 0
        self._horizon = float("-inf")  # time of the latest answer received

    def __deepcopy__(self, memo: dict[int, object]) -> LinearizabilityChecker:
        # Key states, violations and ops are immutable, so sharing them is a true deep copy;
        # only the containers that this object mutates need copying.
        clone = copy.copy(self)
        clone._keys = dict(self._keys)
        clone._violations = list(self._violations)
        clone._notes = list(self._notes)
        memo[id(self)] = clone
        return clone

    def add_invoke(self, op: Op) -> None:
        """A client invoked `op`. Only its invocation fields are read."""
        _check_invocation(op)
        if op.invoke < self._horizon:
            raise ValueError(
                f"op {op.op_id} was invoked at {_ms(op.invoke)} ms, but an answer at "
                f"{_ms(self._horizon)} ms was already received; feed events in time order"
            )
        state = self._keys.get(op.key) or _KeyState.fresh(op.key)
        if any(other.op_id == op.op_id for other in (*state.running, *state.finished)):
            raise ValueError(f"op {op.op_id} on key {op.key!r} was already invoked")
        self._keys[op.key] = state.with_ops((*state.running, op), state.finished)

    def add_complete(self, op: Op) -> tuple[Violation, ...]:
        """The client got the answer to `op`, or gave up on it (`op.complete` is None).

        Returns the violations this event let the checker find: for this answer, or for
        earlier answers that were waiting for `op` to finish.
        """
        _check_answer(op)
        state = self._keys.get(op.key)
        invoked = None
        if state is not None:
            invoked = next((other for other in state.running if other.op_id == op.op_id), None)
        if state is None or invoked is None:
            raise ValueError(
                f"op {op.op_id} on key {op.key!r} was not running; "
                "call add_invoke first, and add_complete once"
            )
        fields = ("client", "kind", "value", "expected", "invoke")
        if any(getattr(op, name) != getattr(invoked, name) for name in fields):
            changed = [name for name in fields if getattr(op, name) != getattr(invoked, name)]
            raise ValueError(f"op {op.op_id} completed with different {', '.join(changed)}")
        if op.complete is not None:
            if op.complete < self._horizon:
                raise ValueError(
                    f"op {op.op_id} was answered at {_ms(op.complete)} ms, but an answer at "
                    f"{_ms(self._horizon)} ms was already received; feed events in time order"
                )
            self._horizon = op.complete
        running = tuple(other for other in state.running if other.op_id != op.op_id)
        state = state.with_ops(running, (*state.finished, op))
        checked = _check_ready(state, self._limits, self._horizon)
        self._keys[op.key] = checked.state
        self._ops_checked += checked.answers
        self._notes.extend(checked.notes)
        self._violation_count += len(checked.violations)
        room = self._max_violations - len(self._violations)
        self._violations.extend(checked.violations[: max(room, 0)])
        return checked.violations

    @property
    def violations(self) -> tuple[Violation, ...]:
        """Violations found so far, in order, up to `max_violations`."""
        return tuple(self._violations)

    @property
    def status(self) -> CheckerStatus:
        """A summary for the screen; costs time proportional to the number of keys."""
        states = self._keys.values()
        return CheckerStatus(
            verdict=Verdict.VIOLATION if self._violation_count else Verdict.LINEARIZABLE,
            exact=all(state.exact for state in states),
            ops_checked=self._ops_checked,
            violation_count=self._violation_count,
            keys=len(self._keys),
            running=sum(len(state.running) for state in states),
            awaiting=sum(1 for state in states for op in state.finished if op.complete is not None),
            pending_unknown=sum(len(state.pending) for state in states),
            largest_frontier=max((len(state.worlds) for state in states), default=1),
            notes=tuple(self._notes),
        )


def check_history(ops: Iterable[Op]) -> LinearizabilityResult:
    """Decide whether a finished history is linearizable, naming the first failing op per key.

    The history is replayed through `LinearizabilityChecker` in time order, so the batch and
    live verdicts agree by construction. A timed-out op is treated as giving up right after
    its invocation, which changes nothing: until it is answered, a running op is free to take
    effect or not, just like a timed-out one.
    """
    history = tuple(ops)
    seen: set[int] = set()
    for op in history:
        if op.op_id in seen:
            raise ValueError(f"op_id {op.op_id} appears twice; op ids must be unique")
        seen.add(op.op_id)
    # At one instant: answers first (so touching intervals are ordered), then invocations,
    # then the timeouts of the ops just invoked.
    events: list[tuple[float, int, int, Op]] = []
    for op in history:
        if op.kind is OpKind.GET and op.complete is None:
            continue  # a read with no answer has no effect and no observation
        events.append((op.invoke, 1, op.op_id, op))
        if op.complete is None:
            events.append((op.invoke, 2, op.op_id, op))
        else:
            events.append((op.complete, 0, op.op_id, op))
    events.sort(key=lambda event: event[:3])
    checker = LinearizabilityChecker()
    for _, phase, _, op in events:
        if phase == 1:
            checker.add_invoke(op)
        else:
            checker.add_complete(op)
    status = checker.status
    return LinearizabilityResult(
        ok=status.verdict is Verdict.LINEARIZABLE,
        violations=checker.violations,
        violation_count=status.violation_count,
        exact=status.exact,
        notes=status.notes,
    )


# --- Explaining a violation to a person ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Explanation:
    """A violation cut down to what a student needs to see it.

    ``core`` is a smallest set of operations that cannot be ordered: the checker rejects it,
    and accepts it again with any one operation left out (it is minimal one operation at a
    time, found by deleting operations while the checker still rejects what is left), except
    that a value an answer saw keeps the write that put it there.
    ``tried`` is the real-time order, each operation placed at its answer, in which ``fails``
    is the first operation whose answer that order cannot give; ``sentence`` says it in plain
    words, and ``at`` is the moment to jump to (when ``fails`` was answered).
    """

    core: tuple[Op, ...]
    tried: tuple[Op, ...]
    fails: Op
    sentence: str
    at: float


def _rejects(ops: Sequence[Op]) -> bool:
    return not check_history(ops).ok


def _seen(op: Op) -> str | None:
    """The value an answer says the key held (a read's result, a successful CAS's expected)."""
    if op.kind is OpKind.GET:
        return op.result
    return op.expected if op.kind is OpKind.CAS and op.ok else None


def _grounded(ops: Sequence[Op], writable: frozenset[str]) -> bool:
    """Every value an answer saw (of those some operation wrote) still has a writer here.

    Without this, "a read of '1' alone" would be the smallest core of every stale read: true
    (nothing wrote '1' into an empty store) and useless.
    """
    written = {_written(op) for op in ops if op.kind is not OpKind.GET}
    return all(
        _seen(op) in written for op in ops if _seen(op) is not None and _seen(op) in writable
    )


def _smallest_core(violation: Violation) -> tuple[Op, ...]:
    """Delete operations one at a time while the rest still cannot be ordered."""
    core = list(violation.involved)
    if violation.op not in core:
        core.append(violation.op)
    if not _rejects(core):
        return tuple(sorted(core, key=lambda op: op.op_id))  # limits made it reject; keep all
    writable = frozenset(
        v for op in core if op.kind is not OpKind.GET and (v := _written(op)) is not None
    )
    # Try the failing answer last, so the core keeps it when it can.
    for op in sorted(core, key=lambda op: op.op_id == violation.op.op_id):
        rest = [other for other in core if other.op_id != op.op_id]
        if rest and _grounded(rest, writable) and _rejects(rest):
            core = rest
    return tuple(sorted(core, key=lambda op: op.op_id))


def _what(op: Op) -> str:
    match op.kind:
        case OpKind.GET:
            seen = repr(op.result) if op.result is not None else "nothing (absent)"
            return f"{op.client}'s read of {op.key} returned {seen}"
        case OpKind.SET:
            return f"{op.client}'s write of {op.value!r} to {op.key}"
        case OpKind.DELETE:
            return f"{op.client}'s delete of {op.key}"
    verb = "swapped" if op.ok else "did not swap"
    return f"{op.client}'s compare-and-set of {op.key} from {_fmt(op.expected)} {verb}"


def _sentence(fails: Op, core: Sequence[Op]) -> str:
    """The contradiction in one plain sentence, naming the write that makes it one."""
    before = [
        op for op in core
        if op.kind is not OpKind.GET and op.complete is not None and op.complete <= fails.invoke
    ]
    seen = fails.result if fails.kind is OpKind.GET else fails.expected
    latest = max(before, key=lambda op: op.complete or 0.0, default=None)
    if fails.kind is OpKind.GET and latest is not None and _written(latest) != seen:
        written = _fmt(_written(latest))
        should = "" if latest.kind is OpKind.CAS else f", so it should have read {written}"
        return (
            f"{_what(fails)} after {_what(latest)} had completed at "
            f"{_ms(latest.complete)} ms{should}."
        )
    if fails.kind is OpKind.GET:
        writers = [op for op in core if op.kind is not OpKind.GET and _written(op) == seen]
        if not writers and seen is not None:
            return f"{_what(fails)}, a value no operation here wrote."
        return f"{_what(fails)}, which no order of these {len(core)} operations explains."
    return f"{_what(fails)}, which no order of these {len(core)} operations explains."


def explain(violation: Violation) -> Explanation:
    """Cut ``violation`` down to a smallest core, the order tried, and one plain sentence."""
    core = _smallest_core(violation)
    tried = tuple(
        sorted(core, key=lambda op: (op.complete is None, op.complete or op.invoke, op.op_id))
    )
    value: str | None = None
    fails = violation.op
    for op in tried:
        if op.complete is None:
            continue  # a write with no answer is free to take effect or not
        value, outcome = _apply(op, value)
        if outcome != _observed(op):
            fails = op
            break
    return Explanation(
        core=core,
        tried=tried,
        fails=fails,
        sentence=_sentence(fails, core),
        at=fails.complete if fails.complete is not None else fails.invoke,
    )
