"""A tiny deterministic discrete-event scheduler in simulated milliseconds.

Like SimPy's core: a heap of ``(time, sequence, event)``. The sequence number breaks ties
first-in-first-out, so the same inputs always give the same order of events.

:class:`WorkMeter` guards a request against running away: too many events at one simulated
instant (a zero-time loop), or too many events or too much CPU time in one request.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

from raftviz.core.messages import Immutable
from raftviz.sim.engine.errors import WorkLimitError


@dataclass(frozen=True, slots=True)
class Deliver(Immutable):
    """Deliver the in-flight message with this id."""

    envelope_id: int


@dataclass(frozen=True, slots=True)
class NodeTimer(Immutable):
    """A node's next timer; stale when the node's generation has moved on."""

    node: str
    generation: int
    local_time: float  # the node-clock reading the timer was set for


@dataclass(frozen=True, slots=True)
class ClientTimer(Immutable):
    """A client's retry or give-up timer."""

    client: str
    generation: int


@dataclass(frozen=True, slots=True)
class WorkloadTick(Immutable):
    """Time for the background workload to issue its next operation."""

    generation: int


@dataclass(frozen=True, slots=True)
class DiskDone(Immutable):
    """A node's fsync in progress completes; stale once the node crashed since."""

    node: str
    generation: int


Event = Deliver | NodeTimer | ClientTimer | WorkloadTick | DiskDone


class Scheduler:
    """Event heap keyed by (time, sequence)."""

    __slots__ = ("_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Event]] = []
        self._seq = 0

    def schedule(self, time: float, event: Event) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (time, self._seq, event))

    def peek(self) -> float | None:
        """Time of the next event, or None when nothing is scheduled."""
        return self._heap[0][0] if self._heap else None

    def pop(self) -> tuple[float, Event]:
        time, _, event = heapq.heappop(self._heap)
        return time, event

    def __len__(self) -> int:
        return len(self._heap)


# ------------------------------------------------------------------ work guard


@dataclass(frozen=True, slots=True)
class WorkBudget:
    """How much one request may make the simulation do (docs/deploy.md, "Limits").

    ``max_events_at_one_instant`` catches zero-time loops (events that schedule events at the
    same instant, for ever); the other two bound one request's work, so no request can hold a
    worker (or, in eventlet mode, the whole server) for long.
    """

    max_events_at_one_instant: int = 10_000
    max_events: int = 1_000_000
    max_cpu_seconds: float = 5.0

    def __post_init__(self) -> None:
        if self.max_events_at_one_instant < 1 or self.max_events < 1:
            raise ValueError("a work budget allows at least one event")
        if self.max_cpu_seconds <= 0:
            raise ValueError("a work budget allows some CPU time")


CPU_CHECK_EVERY = 128  # events between CPU clock readings (about 5 ms of work)

# Called every CPU_CHECK_EVERY events of a request, in the thread doing it: the server sets it
# in its worker threads so that long work yields the interpreter to the event loop (see
# raftviz/web/playback.py). None (the default) outside the server.
PACE: ContextVar[Callable[[], None] | None] = ContextVar("raftviz_pace", default=None)


class WorkMeter:
    """Counts one request's events against its :class:`WorkBudget`.

    :meth:`charge` is called before each event is processed and raises before it is, so a
    stopped request leaves the run between two whole events. The count of events at the
    current instant carries over from the previous request (``instant``, ``at_instant``): a
    zero-time loop is not made harmless by being reached in many small requests (playback's
    ticks), and once found it stays found until time moves (a seek back, a reset).
    """

    __slots__ = ("budget", "clock", "started", "events", "instant", "at_instant", "pace")

    def __init__(
        self,
        budget: WorkBudget,
        clock: Callable[[], float],
        instant: float = -math.inf,
        at_instant: int = 0,
    ) -> None:
        self.budget = budget
        self.clock = clock
        self.started = clock()
        self.events = 0
        self.instant = instant
        self.at_instant = at_instant
        self.pace = PACE.get()

    def charge(self, time: float) -> None:
        """Account for one event processed at simulated ``time``; WorkLimitError past the budget."""
        b = self.budget
        if time != self.instant:
            self.instant = time
            self.at_instant = 0
        if self.at_instant >= b.max_events_at_one_instant:
            raise WorkLimitError(
                f"the simulation processed {self.at_instant} events at t={time:g} ms without "
                f"time moving on (a zero-time loop); it stopped there. Seek back to before the "
                f"command that started it and do something else, or reset"
            )
        if self.events >= b.max_events:
            raise WorkLimitError(
                f"this request processed {self.events} events, the most one request may; the "
                f"run stands at t={time:g} ms. Ask for less at a time"
            )
        if self.events % CPU_CHECK_EVERY == 0 and self.events:
            if self.pace is not None:
                self.pace()
            used = self.clock() - self.started
            if used > b.max_cpu_seconds:
                raise WorkLimitError(
                    f"this request used {used:.1f} s of CPU, the most one request may is "
                    f"{b.max_cpu_seconds:g} s; the run stands at t={time:g} ms. Ask for less "
                    f"at a time"
                )
        self.events += 1
        self.at_instant += 1
