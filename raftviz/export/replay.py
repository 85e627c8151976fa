"""Frames of a time range, replayed on a copy of a session's history.

The copy shares the recorded commands and the checkpoints (both immutable once taken: a jump
back deep-copies a checkpoint's cluster before running it) and starts from its own deep copy of
the checkpoint at or before the range, so replaying never touches the live run.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from typing import Any

from raftviz.core.log import RaftLog
from raftviz.sim.engine.cluster import Cluster
from raftviz.sim.history import History
from raftviz.sim.snapshot import snapshot

# Log entries per node a drawing can need (the table shows at most a dozen columns); building
# a long log's every entry for each frame would cost more than drawing the frame.
LOG_WINDOW = 64


def replica(history: History, at: float) -> History:
    """A History standing at the checkpoint at or before ``at``, independent of ``history``.

    Cheap enough to call under the session's lock: two list copies and one cluster deep copy.
    """
    cp = max((c for c in history.checkpoints if c.time <= at), key=lambda c: c.time)
    twin = copy.copy(history)
    twin.log = list(history.log)
    twin.checkpoints = list(history.checkpoints)
    twin.cluster = copy.deepcopy(cp.cluster)
    # The run record is shared with the live run (raftviz/sim/record.py); a replica replaying
    # beside it, perhaps while the live run forks, must not write into it.
    twin.cluster.record = None
    twin.cursor = cp.cursor
    twin.checkpoint_every = math.inf  # a replica only runs forward: checkpoints would be waste
    return twin


def frame_times(start: float, end: float, count: int) -> list[float]:
    """``count`` evenly spaced instants from ``start`` to ``end`` (both included)."""
    if count == 1:
        return [start]
    step = (end - start) / (count - 1)
    return [start + i * step for i in range(count)]


def view_snapshot(cluster: Cluster) -> dict[str, Any]:
    """The snapshot with each Raft log cut to its last ``LOG_WINDOW`` entries."""
    log_from = {}
    for host in cluster.hosts.values():
        log = getattr(host.node if host.node is not None else host.persistent, "log", None)
        if isinstance(log, RaftLog):
            log_from[host.id] = max(1, log.last_index - LOG_WINDOW + 1)
    return snapshot(cluster, log_from=log_from)


def snapshots(twin: History, times: list[float]) -> Iterator[dict[str, Any]]:
    """The snapshot at each of ``times`` (ascending), running ``twin`` forward between them."""
    for t in times:
        twin.run_until(t)
        yield view_snapshot(twin.cluster)
