"""A tiny deterministic discrete-event scheduler in simulated milliseconds.

Like SimPy's core: a heap of ``(time, sequence, event)``. The sequence number breaks ties
first-in-first-out, so the same inputs always give the same order of events.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from raftviz.core.messages import Immutable


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
