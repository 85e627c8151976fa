"""The history of client operations, as the page's operation-history view draws it.

Per key, one lane per client, each operation a bar from its call to its return (an operation
whose outcome is unknown is open-ended); leader changes, partitions, crashes and pauses from the
run record (raftviz/sim/record.py) to mark across the lanes; and each linearizability violation
explained by :func:`raftviz.sim.checks.linearizability.explain`: the smallest set of operations
that cannot be ordered, the order the explanation tried, and a plain sentence. The page only
draws this; every fact comes from here.
"""

from __future__ import annotations

from typing import Any

from raftviz.core.messages import Op
from raftviz.sim.checks.linearizability import Op as LinOp
from raftviz.sim.checks.linearizability import explain
from raftviz.sim.engine.clients import OpRecord
from raftviz.sim.engine.cluster import Cluster
from raftviz.sim.record import MARK_NAMES, NETWORK, MarkKind

# Explaining runs the checker on small sets of operations; the page shows the first few.
EXPLAINED_VIOLATIONS = 10
ACROSS_LANES = frozenset(
    {
        MarkKind.LEADER,
        MarkKind.CRASH,
        MarkKind.RESTART,
        MarkKind.PAUSE,
        MarkKind.RESUME,
        MarkKind.PARTITION,
        MarkKind.HEAL,
        MarkKind.CUT,
    }
)
_KV = frozenset({Op.SET, Op.GET, Op.DELETE, Op.CAS})


def _op(r: OpRecord) -> dict[str, Any]:
    c = r.command
    return {
        "op_id": r.op_id,
        "client": r.client,
        "op": c.op.value,
        "key": c.key,
        "value": c.value,
        "expected": c.expected,
        "read_mode": r.read_mode.value,
        "invoke": r.invoke,
        "complete": r.complete,
        "status": r.status.value,
        "result": None if r.result is None else r.result.value,
        "ok": None if r.result is None else r.result.ok,
        "node": r.node,
        "error": r.error,
    }


def _lin_op(op: LinOp) -> dict[str, Any]:
    return {
        "op_id": op.op_id,
        "client": op.client,
        "op": op.kind.value,
        "key": op.key,
        "value": op.value,
        "expected": op.expected,
        "invoke": op.invoke,
        "complete": op.complete,
        "result": op.result,
        "ok": op.ok,
    }


def op_history(cluster: Cluster) -> dict[str, Any]:
    """The key-value operations the cluster keeps, the marks across them, the violations."""
    records = [r for r in cluster.ops if r.command.op in _KV]
    for client in cluster.clients.values():
        pending = client.pending_record()
        if pending is not None and pending.command.op in _KV:
            records.append(pending)
    records.sort(key=lambda r: r.op_id)
    ops = [_op(r) for r in records]
    start = min((r.invoke for r in records), default=cluster.now)
    marks = []
    rec = cluster.record
    if rec is not None:
        s = rec.store
        for row in range(rec.mark_count):
            t = s.mark_time[row]
            kind = MarkKind(s.mark_kind[row])
            if kind in ACROSS_LANES and start <= t <= cluster.now:
                node = s.names[s.mark_node[row]]
                marks.append(
                    {"time": t, "node": node, "kind": MARK_NAMES[kind], "term": s.mark_term[row],
                     "network": node == NETWORK}
                )
    violations = []
    for v in cluster.linearizability.violations[:EXPLAINED_VIOLATIONS]:
        why = explain(v)
        violations.append(
            {
                "key": v.key,
                "op_id": v.op.op_id,
                "certain": v.certain,
                "explanation": v.explanation,
                "sentence": why.sentence,
                "core": [_lin_op(op) for op in why.core],
                "tried": [op.op_id for op in why.tried],
                "fails": why.fails.op_id,
                "at": why.at,
            }
        )
    return {
        "now": cluster.now,
        "ops": ops,
        "keys": sorted({r.command.key for r in records}),
        "clients": sorted({r.client for r in records}),
        "marks": marks,
        "violations": violations,
        "violation_count": cluster.linearizability.status.violation_count,
        "kept": cluster.ops.maxlen,
    }
