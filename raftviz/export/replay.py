"""Frames of a time range, replayed on a copy of a session's history.

The copy shares the recorded commands and the checkpoints (both immutable once taken: a jump
back deep-copies a checkpoint's cluster before running it) and starts from its own deep copy of
the checkpoint at or before the range, so replaying never touches the live run.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from raftviz.sim.history import History
from raftviz.sim.snapshot import snapshot


def replica(history: History, at: float) -> History:
    """A History standing at the checkpoint at or before ``at``, independent of ``history``.

    Cheap enough to call under the session's lock: two list copies and one cluster deep copy.
    """
    cp = max((c for c in history.checkpoints if c.time <= at), key=lambda c: c.time)
    twin = copy.copy(history)
    twin.log = list(history.log)
    twin.checkpoints = list(history.checkpoints)
    twin.cluster = copy.deepcopy(cp.cluster)
    twin.cursor = cp.cursor
    return twin


def frame_times(start: float, end: float, count: int) -> list[float]:
    """``count`` evenly spaced instants from ``start`` to ``end`` (both included)."""
    if count == 1:
        return [start]
    step = (end - start) / (count - 1)
    return [start + i * step for i in range(count)]


def snapshots(twin: History, times: list[float]) -> Iterator[dict[str, Any]]:
    """The snapshot at each of ``times`` (ascending), running ``twin`` forward between them."""
    for t in times:
        twin.run_until(t)
        yield snapshot(twin.cluster)
