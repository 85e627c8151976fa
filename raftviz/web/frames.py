"""Frames: the snapshot sent to one page, carrying only what changed since its last frame.

docs/protocol.md is the contract. A page holds the logs, the narration, the finished
operations, the milestones and the slow-changing parts of the snapshot, so a delta frame sends,
per node, only the log entries from the first index the page may hold wrongly (``log_from``),
only the events, operations and milestones newer than its last frame, and omits top-level
fields equal to what this page was last sent.

Finding ``log_from`` uses the logs' chain digests: equal digests at an index mean equal
prefixes. For each node we remember the digests at the length we sent and at exponentially
spaced points below it; the highest one that still matches is where the page's copy stops being
right (usually the top one, when entries were only appended). A Raft follower truncates only
its uncommitted tail, so this is close to the true point of divergence at a few lookups a node.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from raftviz.core.log import RaftLog
from raftviz.service.frame_state import FrameState, LogMark
from raftviz.sim.engine.cluster import Cluster, NodeHost
from raftviz.sim.snapshot import snapshot

LOG_WINDOW = 500  # entries per node in a full frame; a delta needing more becomes a full frame
DROPPED_WINDOW_MS = 1000.0
MAX_DROPPED = 30
# Top-level fields every frame carries; any other field is left out of a delta when unchanged.
ALWAYS_SENT = frozenset(
    {"version", "time", "full", "player", "nodes", "events", "ops", "milestones", "last_event_seq"}
)


def node_log(host: NodeHost) -> RaftLog | None:
    """A Raft node's log, also while it is crashed (the log is on its disk); None otherwise.

    A node without a :class:`RaftLog` (a Paxos node: accepted slots, maybe with gaps) is
    patched by comparing its entries with those last sent (:func:`_patch_plain_logs`).
    """
    state = host.node if host.node is not None else host.persistent
    log = getattr(state, "log", None)
    return log if isinstance(log, RaftLog) else None


def log_mark(log: RaftLog, first: int) -> LogMark:
    """Digests at the end of ``log`` and at doubling distances below it, down to ``first``."""
    length = log.last_index
    anchors = []
    index, gap = length, 1
    low = max(first, log.snapshot_index, 1)  # digests below the snapshot are gone
    while index >= low:
        anchors.append((index, log.digest(index)))
        index = length - gap
        gap *= 2
    return LogMark(first, length, tuple(anchors))


def resume_point(log: RaftLog, mark: LogMark) -> int:
    """The first index from which the page's copy (``mark``) must be replaced."""
    for index, digest in mark.anchors:
        if log.snapshot_index <= index <= log.last_index and log.digest(index) == digest:
            return index + 1
    return min(mark.first, log.last_index + 1)


def build_frame(
    cluster: Cluster,
    state: FrameState,
    player: dict[str, Any],
    window: int = LOG_WINDOW,
    version: Hashable | None = None,
) -> dict[str, Any]:
    """The next frame for one page; updates ``state`` to what the page will then hold.

    ``version`` changes whenever a command may have changed the cluster (see
    :func:`~raftviz.sim.snapshot.snapshot`); None builds every part afresh.
    """
    everyone = {host.id: node_log(host) for host in cluster.hosts.values()}
    logs = {node: log for node, log in everyone.items() if log is not None}
    full = state.full or set(state.logs) != set(logs)
    starts = {node: 1 for node, log in everyone.items() if log is None}
    if not full:
        for node, log in logs.items():
            start = resume_point(log, state.logs[node])
            if log.last_index - start + 1 > window:
                full = True  # cheaper to start over than to patch
                break
            starts[node] = start
    if full:
        starts.update({node: max(1, log.last_index - window + 1) for node, log in logs.items()})

    frame = snapshot(
        cluster,
        since_event=0 if full else state.last_event_seq,
        log_from=starts,
        version=version,
    )
    for node in frame["nodes"]:
        node["log_from"] = starts[node["id"]]
    _patch_plain_logs(frame, state, full, set(logs))
    _trim_dropped(frame, cluster.now)
    _new_ops(frame, state, full)
    _new_milestones(frame, state, full)

    if full:
        state.logs = {node: log_mark(log, starts[node]) for node, log in logs.items()}
        state.sent = {k: v for k, v in frame.items() if k not in ALWAYS_SENT}
    else:
        for node, log in logs.items():
            mark = state.logs[node]
            if starts[node] == mark.length + 1 and log.last_index == mark.length:
                continue  # nothing changed in this log
            state.logs[node] = log_mark(log, min(mark.first, starts[node]))
        sent = state.sent
        for key in [k for k in frame if k not in ALWAYS_SENT]:
            value = frame[key]
            # The snapshot hands out the same object for a part it did not rebuild.
            if key in sent and (sent[key] is value or sent[key] == value):
                del frame[key]
            else:
                sent[key] = value
    state.last_event_seq = frame["last_event_seq"]
    state.full = False
    frame["full"] = full
    frame["player"] = player
    return frame


def _patch_plain_logs(
    frame: dict[str, Any], state: FrameState, full: bool, raft_nodes: set[str]
) -> None:
    """Logs without digests: send from the first entry that differs from what was sent."""
    for node in frame["nodes"]:
        if node["id"] in raft_nodes:
            continue
        new = node["log"]
        old = state.plain_logs.get(node["id"])
        state.plain_logs[node["id"]] = new
        if full or old is None:
            continue
        same = 0
        for a, b in zip(old, new, strict=False):
            if a != b:
                break
            same += 1
        candidates = [entries[same][0] for entries in (old, new) if same < len(entries)]
        if candidates:
            node["log_from"] = min(candidates)
        else:  # nothing changed
            node["log_from"] = new[-1][0] + 1 if new else 1
        node["log"] = new[same:]


def _new_ops(frame: dict[str, Any], state: FrameState, full: bool) -> None:
    """In a delta, only the operations finished since this page's last frame (appended)."""
    ops = frame["ops"]
    if not full and state.last_op_id is not None:
        for i in range(len(ops) - 1, -1, -1):
            if ops[i]["op_id"] == state.last_op_id:
                frame["ops"] = ops = ops[i + 1 :]
                break
    if ops or full:
        state.last_op_id = ops[-1]["op_id"] if ops else None


def _new_milestones(frame: dict[str, Any], state: FrameState, full: bool) -> None:
    """In a delta, only the milestones newer than this page's last frame (appended)."""
    milestones = frame["milestones"]
    if not full:
        last = state.last_milestone_seq
        start = len(milestones)
        while start > 0 and milestones[start - 1]["seq"] > last:
            start -= 1
        frame["milestones"] = milestones = milestones[start:]
    if milestones or full:
        state.last_milestone_seq = milestones[-1]["seq"] if milestones else 0


def _trim_dropped(frame: dict[str, Any], now: float) -> None:
    since = now - DROPPED_WINDOW_MS
    frame["dropped"] = [d for d in frame["dropped"] if d["lost_at"] >= since][-MAX_DROPPED:]
