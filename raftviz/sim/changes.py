"""What one step changed on every server: term, vote, role, log entries, commit index.

Stepping one event is how a student follows a rule of the paper; the page highlights what that
event changed. :func:`before_step` notes each server's state (cheaply: logs share their chunks,
so a copy costs a few small objects), :func:`changes` compares it with the state after the step
and returns the frame's ``changed`` block (docs/snapshot.md). For Paxos servers the vote is the
promised ballot and the log is the accepted proposals per slot.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from raftviz.core.log import RaftLog
from raftviz.core.paxos import PaxosNode
from raftviz.core.paxos_messages import Proposal
from raftviz.core.raft import RaftNode
from raftviz.sim.engine.cluster import Cluster

CRASHED = "crashed"


@dataclass(frozen=True, slots=True)
class Before:
    """One server's state before a step."""

    role: str
    term: int
    vote: str | None
    commit_index: int
    log: RaftLog | None  # Raft
    accepted: dict[int, Proposal] | None  # Paxos


def before_step(cluster: Cluster) -> dict[str, Before]:
    """Note every server's state, to compare after the step."""
    out = {}
    for host in cluster.hosts.values():
        node = host.node
        if node is None:
            out[host.id] = Before(CRASHED, 0, None, 0, None, None)
        elif isinstance(node, RaftNode):
            out[host.id] = Before(
                node.role.value, node.current_term, node.voted_for, node.commit_index,
                copy.deepcopy(node.log), None,
            )
        else:
            out[host.id] = Before(
                node.role.value, node.current_term, str(node.promised_ballot), node.commit_index,
                None, dict(node.accepted),
            )
    return out


def _first_difference(a: RaftLog, b: RaftLog) -> int:
    """The first index where the two logs differ (last_index + 1 of the shorter if none)."""
    lo, hi = 0, min(a.last_index, b.last_index)
    if a.digest(hi) == b.digest(hi):
        return hi + 1
    while lo + 1 < hi:  # digest(lo) agrees, digest(hi) does not (prefix digests chain)
        mid = (lo + hi) // 2
        if a.digest(mid) == b.digest(mid):
            lo = mid
        else:
            hi = mid
    return hi


def _log_change(before: Before, node: RaftNode | PaxosNode) -> dict[str, Any] | None:
    if isinstance(node, RaftNode):
        if before.log is None:
            return None
        first = _first_difference(before.log, node.log)
        last = node.log.last_index
        removed = before.log.last_index >= first
        if first > last and not removed:
            return None
        return {"from": first, "to": last, "removed": removed}
    if before.accepted is None:
        return None
    slots = sorted(
        s for s in set(before.accepted) | set(node.accepted)
        if before.accepted.get(s) != node.accepted.get(s)
    )
    return {"slots": slots} if slots else None


def changes(before: dict[str, Before], cluster: Cluster) -> dict[str, dict[str, Any]]:
    """Per server, only what changed: ``{field: [before, after]}``, and ``log`` as a range."""
    out: dict[str, dict[str, Any]] = {}
    for host in cluster.hosts.values():
        was = before.get(host.id)
        if was is None:
            continue
        node = host.node
        now: dict[str, Any] = {}
        if node is None:
            if was.role != CRASHED:
                now["role"] = [was.role, CRASHED]
        else:
            vote = node.voted_for if isinstance(node, RaftNode) else str(node.promised_ballot)
            pairs = {
                "role": (was.role, node.role.value),
                "term": (was.term, node.current_term),
                "voted_for": (was.vote, vote),
                "commit_index": (was.commit_index, node.commit_index),
            }
            now = {k: list(v) for k, v in pairs.items() if v[0] != v[1] and was.role != CRASHED}
            if was.role == CRASHED:
                now["role"] = [CRASHED, node.role.value]
            log = _log_change(was, node)
            if log is not None:
                now["log"] = log
        if now:
            out[host.id] = now
    return out
