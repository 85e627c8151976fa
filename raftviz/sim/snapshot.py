"""The snapshot: one versioned, JSON-ready view of a cluster; the only contract with the UI.

The browser learns everything from this structure plus the events since its last frame. It
never re-derives protocol facts: the commit index, where a log stops matching the leader's
(``diverge_from``), how far each election timer has run and whether a lease is valid are all
computed here. Log entries are compact ``[index, term, command]`` triples (only those after the
node's ``snapshot``, which stands for the compacted prefix); an entry is committed
on a node when its index is at most that node's ``commit_index``, and it is not in the leader's
log when its index is at least ``diverge_from``. See docs/snapshot.md for every field.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Hashable, Reversible
from typing import Any

from raftviz.core.log import RaftLog
from raftviz.core.membership import Configuration
from raftviz.core.messages import InstallSnapshot
from raftviz.core.paxos import PaxosNode, PaxosPersistent
from raftviz.core.raft import PersistentState, RaftNode, Role
from raftviz.sim.engine.clients import OpRecord
from raftviz.sim.engine.cluster import CHECKPOINT_EVENTS, Cluster, Node, NodeHost
from raftviz.sim.engine.network import Envelope

SNAPSHOT_VERSION = 1


def snapshot(
    cluster: Cluster,
    since_event: int = 0,
    log_from: dict[str, int] | None = None,
    max_events: int = CHECKPOINT_EVENTS,
    version: Hashable | None = None,
) -> dict[str, Any]:
    """Everything a view needs; ``log_from`` limits each node's entries to index >= a start.

    ``version`` is the caller's promise about commands: it changes whenever a command may have
    changed the cluster (History's position in its command log does). While neither it nor
    the events processed change, only time has moved, and a Raft node's entry is its previous
    one with the fields that run with the clock brought up to date (see :class:`_Quiet`).
    """
    leader_host = cluster.hosts.get(cluster.leader) if cluster.leader else None
    leader = leader_host.node if leader_host is not None else None
    events = _events_since(cluster.narration, since_event, max_events)
    memo = _memo(cluster, version)
    if memo is not None and memo.reusable:
        same = memo.parts
        nodes = [
            _node_again(cluster, host, memo.nodes[host.id], (log_from or {}).get(host.id, 1))
            for host in cluster.hosts.values()
        ]
    else:
        same = _between_events(cluster)
        nodes = [
            _node(cluster, host, leader, (log_from or {}).get(host.id, 1))
            for host in cluster.hosts.values()
        ]
        if memo is not None:
            memo.parts = same
            memo.nodes = {node["id"]: dict(node) for node in nodes}  # callers add to theirs
    return {
        "version": SNAPSHOT_VERSION,
        "protocol": cluster.config.protocol,
        "time": round(cluster.now, 3),
        "events_processed": cluster.events_processed,
        "seed": cluster.config.seed,
        "size": cluster.config.size,
        "settings": _settings(cluster),
        "teaching_modes": same["teaching_modes"],
        "clock_beyond_bound": same["clock_beyond_bound"],
        "lease_breakers": same["lease_breakers"],
        "leader": cluster.leader,
        "nodes": nodes,
        "messages": [_message(env, cluster.now) for env in cluster.network.in_flight.values()],
        "dropped": [
            {**_message(env, cluster.now), "lost_at": round(t, 3), "why": why}
            for env, t, why in cluster.dropped_recent
        ],
        "network": same["network"],
        "clients": same["clients"],
        "ops": same["ops"],
        "resource": same["resource"],
        "workload": same["workload"],
        "metrics": _metrics(cluster, leader),  # no_leader_ms grows with time alone
        "invariants": same["invariants"],
        "violations": same["violations"],
        "linearizability": same["linearizability"],
        "events": [_event(e) for e in events],
        "last_event_seq": cluster.next_event_seq - 1,
        "milestones": same["milestones"],
    }


def _between_events(cluster: Cluster) -> dict[str, Any]:
    """The top-level parts that only an event or a command changes (time alone does not)."""
    teaching = cluster.settings.teaching_modes()
    bound = getattr(cluster.settings, "lease_drift_bound", None)
    drifting = [
        h.id
        for h in cluster.hosts.values()
        if bound is not None and (abs(h.clock_rate - 1) > bound or h.freeze_clock)
    ]
    if drifting:
        teaching.append("clock_beyond_bound")
    if cluster.lease_breakers:
        teaching.append("forced_timeout_in_lease")
    return {
        "teaching_modes": teaching,
        "clock_beyond_bound": drifting,
        "lease_breakers": sorted(cluster.lease_breakers),
        "network": _network(cluster),
        "clients": _clients(cluster),
        "ops": [_finished_op(r) for r in list(cluster.ops)[-50:]],
        "resource": {"token": cluster.resource_token, "value": cluster.resource_value},
        "workload": _workload(cluster),
        "invariants": cluster.monitor.status(),
        "violations": [v.to_json() for v in cluster.monitor.violations[-20:]],
        "linearizability": _linearizability(cluster),
        "milestones": [
            {"seq": m.seq, "time": m.time, "kind": m.kind, "text": m.text}
            for m in cluster.milestones
        ],
    }


def _events_since(narration: Reversible[Any], since: int, limit: int) -> list[Any]:
    """The last ``limit`` events (all when ``limit`` is 0) numbered above ``since``.

    Read from the newest back (narration is in ``seq`` order), so a frame costs what it sends,
    not the length of the narration.
    """
    newest: list[Any] = []
    for e in reversed(narration):
        if e.seq <= since or len(newest) == limit:
            break
        newest.append(e)
    newest.reverse()
    return newest


def _settings(cluster: Cluster) -> dict[str, Any]:
    """The settings as a dict: the same dict while the (frozen) settings object stays."""
    s = cluster.settings
    cached = _SETTINGS.get(id(s))
    if cached is None or cached[0] is not s:
        if len(_SETTINGS) >= _SETTINGS_MAX:
            _SETTINGS.clear()
        cached = _SETTINGS[id(s)] = (s, {name: getattr(s, name) for name in s.__dataclass_fields__})
    return cached[1]


# Frozen settings objects (each entry keeps its object alive, so an id is never reused while
# cached) and their dicts, shared between frames: nothing may change one in place.
_SETTINGS: dict[int, tuple[object, dict[str, Any]]] = {}
_SETTINGS_MAX = 256


class _Quiet:
    """What a Raft cluster's last snapshot built, and the position it was built at."""

    __slots__ = ("key", "reusable", "parts", "nodes", "__weakref__")

    def __init__(self) -> None:
        self.key: tuple[int, int, Hashable] | None = None
        self.reusable = False  # the cluster still stands at ``key``
        self.parts: dict[str, Any] = {}  # from _between_events
        self.nodes: dict[str, dict[str, Any]] = {}  # node entries by id


# Per cluster object (a jump back restores a copy, which starts afresh). State changes only
# when an event is processed or a command applied; between those, time alone moves the clocks,
# election timers, lease and heartbeat countdowns, the fsync under way, the messages' progress
# and the time without a leader. The parts and entries are shared between snapshots: nothing
# may change them in place.
_QUIET: weakref.WeakKeyDictionary[Cluster, _Quiet] = weakref.WeakKeyDictionary()


def _memo(cluster: Cluster, version: Hashable | None) -> _Quiet | None:
    """The cluster's memo (None without a ``version``, and for Paxos, always built afresh)."""
    if version is None or cluster.config.protocol != "raft":
        return None
    memo = _QUIET.get(cluster)
    if memo is None:
        memo = _QUIET[cluster] = _Quiet()
    key = (cluster.events_processed, cluster.next_event_seq, version)
    memo.reusable = key == memo.key and memo.nodes.keys() == cluster.hosts.keys()
    memo.key = key
    return memo


def _node_again(
    cluster: Cluster, host: NodeHost, before: dict[str, Any], log_from: int
) -> dict[str, Any]:
    """A Raft node's entry when only time moved since ``before`` was built."""
    node = host.node
    assert node is None or isinstance(node, RaftNode)
    local = host.local(cluster.now)
    again = dict(before)
    again["clock"] = _clock(host, local)
    if node is None:
        p = host.persistent
        assert isinstance(p, PersistentState)
        again["log"] = _entries(p.log, log_from)
    else:
        again["log"] = _entries(node.log, log_from)
        if before["election"] is not None:
            again["election"] = _election(node, host, local)
        if before["leader_state"] is not None:
            again["leader_state"] = _leader_state(node, local)
    if before["disk"]["writing"] is not None:  # only its countdown moves
        again["disk"] = _disk(cluster, host)
    return again


def _node(cluster: Cluster, host: NodeHost, leader: Node | None, log_from: int) -> dict[str, Any]:
    if cluster.config.protocol == "paxos":
        return _paxos_node(cluster, host, log_from)
    node = host.node
    assert node is None or isinstance(node, RaftNode)
    assert leader is None or isinstance(leader, RaftNode)
    local = host.local(cluster.now)
    base: dict[str, Any] = {
        "id": host.id,
        "state": "crashed" if node is None else "paused" if host.paused else "up",
        "clock": _clock(host, local),
        "incarnation": host.incarnation,
    }
    if node is None:
        p = host.persistent
        assert isinstance(p, PersistentState)
        log = p.log
        base.update(
            role="crashed",
            term=p.current_term,
            voted_for=p.voted_for,
            commit_index=0,
            last_applied=0,
            log_length=log.last_index,
            log=_entries(log, log_from),
            snapshot=_compacted(log),
            snapshot_download=None,
            diverge_from=diverge_from(log, leader),
            kv={},
            locks={},
            votes=[],
            votes_refused=[],
            leader_id=None,
            election=None,
            leader_state=None,
            inbox=0,
            disk=_disk(cluster, host),
        )
        base.update(_membership(cluster, host.id, p.configs.latest if p.configs else None, leader))
        return base
    role = node.role
    log = node.log
    election = None
    if role is not Role.LEADER and node.campaigns():  # learners never time out
        election = _election(node, host, local)
    leader_state = _leader_state(node, local) if role is Role.LEADER else None
    download = node.snapshot_download
    follower = role is Role.FOLLOWER
    base["role"] = role.value
    base["term"] = node.current_term
    base["voted_for"] = node.voted_for
    base["commit_index"] = node.commit_index
    base["last_applied"] = node.last_applied
    base["log_length"] = log.last_index
    base["log"] = _entries(log, log_from)
    base["snapshot"] = _compacted(log)
    base["snapshot_download"] = None if download is None else {
        "last_included_index": download.last_included_index,
        "received": len(download.data),
        "size": download.size,
    }
    base["diverge_from"] = diverge_from(log, leader)
    base["kv"] = dict(sorted(node.sm.data.items()))
    base["locks"] = node.sm.lock_view()
    base["votes"] = [] if follower else sorted(node.votes_received)
    base["votes_refused"] = [] if follower else sorted(node.votes_refused)
    base["leader_id"] = node.leader_id
    base["election"] = election
    base["leader_state"] = leader_state
    base["inbox"] = len(host.inbox)
    base["disk"] = _disk(cluster, host)
    base.update(_membership(cluster, host.id, node.config, leader))
    if role is Role.LEADER:
        base["config"] = {
            **base["config"], "learner": node.catch_up.server if node.catch_up else None
        }
    return base


def _clock(host: NodeHost, local: float) -> dict[str, Any]:
    return {
        "local": round(local, 3),
        "rate": host.clock_rate,
        "frozen": host.paused and host.freeze_clock,
    }


def _election(node: RaftNode, host: NodeHost, local: float) -> dict[str, Any]:
    """How far the election timer has run (a campaigning node other than the leader)."""
    timeout = node.election_timeout
    elapsed = max(local - node.election_started_at, 0.0)
    return {
        "timeout": round(timeout, 3),
        "elapsed": round(min(elapsed, timeout), 3),
        "fraction": round(min(elapsed / timeout, 1.0), 4),
        "deadline": round(host.to_real(node.election_deadline), 3),
    }


def _leader_state(node: RaftNode, local: float) -> dict[str, Any]:
    last = node.log.last_index
    return {
        "next_index": dict(node.next_index),
        "match_index": dict(node.match_index),
        "lag": {p: last - m for p, m in node.match_index.items()},
        "lease_remaining": round(max(node.lease_until - local, 0.0), 3),
        "heartbeat_in": round(max(node.heartbeat_deadline - local, 0.0), 3),
        "pending_reads": len(node.pending_reads),
        "snapshot_sends": {
            peer: {
                "last_included_index": send.snapshot.last_included_index,
                "offset": send.offset,
                "size": len(send.raw),
            }
            for peer, send in sorted(node.snapshot_sends.items())
        },
        "transfer_to": node.transfer_target,
    }


def _disk(cluster: Cluster, host: NodeHost) -> dict[str, Any]:
    """A Raft node's stable storage: fsync time, the write in progress and what is durable."""
    disk = host.disk
    durable = disk.durable if disk is not None else host.persistent
    assert isinstance(durable, PersistentState)
    writing = None
    if disk is not None and disk.writing is not None:
        w = disk.writing
        writing = {
            "term": w.state.current_term,
            "voted_for": w.state.voted_for,
            "log_length": w.state.log.last_index,
            "started_at": round(w.started_at, 3),
            "done_at": round(w.done_at, 3),
            "remaining": round(max(w.done_at - cluster.now, 0.0), 3),
            "held": len(w.messages),
        }
    return {
        "fsync_ms": host.fsync_ms,
        "default_ms": cluster.config.fsync_ms,
        "slow": host.fsync_ms > cluster.config.fsync_ms,
        "writing": writing,
        "queued": None if disk is None or disk.queued is None else len(disk.queued),
        "durable": {
            "term": durable.current_term,
            "voted_for": durable.voted_for,
            "log_length": durable.log.last_index,
        },
        "writes": disk.writes if disk is not None else 0,
    }


def _membership(
    cluster: Cluster, node_id: str, own: Configuration | None, leader: Node | None
) -> dict[str, Any]:
    """The node's own configuration, and its place in the configuration the leader uses.

    ``membership`` is "voter", "learner" (being caught up, thesis 4.2.1) or "removed", judged
    by the leader's latest configuration (by the node's own when there is no leader).
    """
    config = own or Configuration.of(cluster.config.node_ids())
    judge = leader.config if isinstance(leader, RaftNode) else config
    if isinstance(leader, RaftNode) and leader.catch_up and leader.catch_up.server == node_id:
        membership = "learner"
    elif node_id in judge.members:
        membership = "voter"
    else:
        membership = "removed"
    return {"config": _config_json(config), "membership": membership}


# Configuration.to_json by value (configurations are immutable; a run sees a handful). The
# dicts are shared between nodes and frames, so nothing may change one in place.
_CONFIG_JSON: dict[Configuration, dict[str, object]] = {}
_CONFIG_JSON_MAX = 256


def _config_json(config: Configuration) -> dict[str, object]:
    cached = _CONFIG_JSON.get(config)
    if cached is None:
        if len(_CONFIG_JSON) >= _CONFIG_JSON_MAX:
            _CONFIG_JSON.clear()
        cached = _CONFIG_JSON[config] = config.to_json()
    return cached


def _paxos_node(cluster: Cluster, host: NodeHost, log_from: int) -> dict[str, Any]:
    """A Paxos node in the same shape as a Raft node, plus a ``paxos`` block.

    ``log`` holds what this acceptor accepted, slot by slot (``[slot, ballot round, command,
    ballot]``, the full ballot as text, e.g. "3.n1");
    ``commit_index`` is the prefix of slots it knows to be chosen.
    """
    node = host.node
    local = host.local(cluster.now)
    base: dict[str, Any] = {
        "id": host.id,
        "state": "crashed" if node is None else "paused" if host.paused else "up",
        "clock": _clock(host, local),
        "incarnation": host.incarnation,
        "voted_for": None,
        "diverge_from": None,
        "inbox": len(host.inbox),
        "disk": None,  # the disk model is Raft's
    }
    persistent = host.persistent
    assert isinstance(persistent, PaxosPersistent)
    assert node is None or isinstance(node, PaxosNode)
    accepted = node.accepted if node is not None else persistent.accepted
    slots = sorted(s for s in accepted if s >= log_from)
    base["log"] = [
        [s, accepted[s].ballot.round, accepted[s].value.command.describe(),
         str(accepted[s].ballot)]
        for s in slots
    ]
    base["log_length"] = max(accepted, default=0)
    if node is None:
        base.update(
            role="crashed", term=persistent.promised_ballot.round, commit_index=0,
            last_applied=0, kv={}, locks={}, votes=[], votes_refused=[], leader_id=None,
            election=None, leader_state=None,
            paxos={"promised_ballot": str(persistent.promised_ballot), "phase": "down",
                   "ballot": None, "chosen": [], "accepted_by": {}, "mode": ""},
        )
        return base
    assert isinstance(node, PaxosNode)
    election = None
    started, deadline = (
        (node.retry_started_at, node.retry_deadline) if node.basic
        else (node.election_started_at, node.election_deadline)
    )
    if node.role is not Role.LEADER and math.isfinite(deadline) and deadline > started:
        span = deadline - started
        elapsed = min(max(local - started, 0.0), span)
        election = {"timeout": round(span, 3), "elapsed": round(elapsed, 3),
                    "fraction": round(elapsed / span, 4),
                    "deadline": round(host.to_real(deadline), 3)}
    leader_state = None
    if node.role is Role.LEADER:
        leader_state = {
            "next_slot": node.next_slot,
            "open_slots": {str(k): sorted(v) for k, v in sorted(node.accepted_by.items())},
            "heartbeat_in": round(max(node.heartbeat_deadline - local, 0.0), 3),
        }
    base.update(
        role=node.role.value,
        term=node.current_term,
        commit_index=node.commit_index,
        last_applied=node.last_applied,
        kv=dict(sorted(node.sm.data.items())),
        locks=node.sm.lock_view(),
        votes=sorted(node.promises),
        votes_refused=[],
        leader_id=node.leader_id,
        election=election,
        leader_state=leader_state,
        paxos={
            "mode": node.settings.mode.value,
            "promised_ballot": str(node.promised_ballot),
            "ballot": str(node.ballot) if node.phase.value != "idle" else None,
            "phase": node.phase.value,
            "chosen": sorted(s for s in node.chosen if s >= log_from),
            "chosen_values": {
                str(s): node.chosen[s].command.describe()
                for s in sorted(node.chosen)[-20:]
            },
            "accepted_by": {str(k): sorted(v) for k, v in sorted(node.accepted_by.items())},
        },
    )
    return base


def _entries(log: RaftLog, start: int) -> list[list[Any]]:
    """Entries from ``start`` (none inside the snapshot) as ``[index, term, command]``."""
    entries = []
    for index in range(max(start, log.first_index), log.last_index + 1):
        entry = log.entry(index)
        entries.append([index, entry.term, entry.command.describe()])
    return entries


def _compacted(log: RaftLog) -> dict[str, int] | None:
    """The compacted prefix (section 7): the snapshot's last included index and term."""
    if not log.snapshot_index:
        return None
    return {"last_included_index": log.snapshot_index, "last_included_term": log.snapshot_term}


def diverge_from(log: RaftLog, leader: RaftNode | None) -> int | None:
    """The first index at which ``log`` stops matching the leader's log (None if it never does).

    By Log Matching, equal chain digests at an index mean equal prefixes, so a binary search
    over digests finds the point of divergence in O(log n).
    """
    if leader is None or log is leader.log:
        return None
    lead = leader.log
    top = min(log.last_index, lead.last_index)
    # Digests are known from each log's snapshot index on; a compacted prefix is committed.
    floor = max(log.snapshot_index, lead.snapshot_index)
    if top < floor:
        return None  # the leader compacted past this log's end: nothing left to compare
    if log.digest(top) == lead.digest(top):
        # The usual case, a follower in step: prefixes match up to top.
        return None if top == log.last_index else top + 1
    if log.digest(floor) != lead.digest(floor):
        return log.first_index
    lo, hi = floor, top  # invariant: prefixes match up to lo
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if log.digest(mid) == lead.digest(mid):
            lo = mid
        else:
            hi = mid - 1
    if lo == log.last_index:
        return None
    return lo + 1


def _message(env: Envelope, now: float) -> dict[str, Any]:
    parts = _MESSAGE_PARTS.get(id(env))
    if parts is None or parts[0] is not env:
        if len(_MESSAGE_PARTS) >= _MESSAGE_PARTS_MAX:
            _MESSAGE_PARTS.clear()
        parts = _MESSAGE_PARTS[id(env)] = (env, *_message_parts(env))
    span = max(env.deliver_at - env.sent_at, 1e-9)
    return {
        **parts[1],
        "progress": round(min(max((now - env.sent_at) / span, 0.0), 1.0), 4),
        **parts[2],
    }


# An envelope is immutable, so all of its entry but ``progress`` is built once (by object:
# each entry keeps its envelope alive, so an id is never reused while cached). Shared between
# frames, so nothing may change these dicts in place.
_MESSAGE_PARTS: dict[int, tuple[Envelope, dict[str, Any], dict[str, Any]]] = {}
_MESSAGE_PARTS_MAX = 4096


def _message_parts(env: Envelope) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fields of a message's entry before and after ``progress``."""
    msg = env.msg
    return (
        {
            "id": env.id,
            "kind": msg.kind.value,
            "from": msg.src,
            "to": msg.dst,
            "term": msg.term,
            "sent": env.sent_at,
            "deliver": env.deliver_at,
        },
        {
            "reply": msg.is_reply,
            "doomed": env.lost,
            "duplicate": env.duplicate,
            "summary": msg.summary(),
            "chunk": _chunk(msg) if isinstance(msg, InstallSnapshot) else None,
        },
    )


def _chunk(msg: InstallSnapshot) -> dict[str, Any]:
    """Where an InstallSnapshot chunk sits in its snapshot (Fig. 13's offset and done)."""
    return {
        "last_included_index": msg.last_included_index,
        "last_included_term": msg.last_included_term,
        "offset": msg.offset,
        "length": len(msg.data),
        "size": msg.size,
        "done": msg.done,
    }


def _network(cluster: Cluster) -> dict[str, Any]:
    net = cluster.network
    d = net.defaults
    return {
        "groups": [sorted(g) for g in net.groups],
        "cut": sorted([list(link) for link in net.cut]),
        "manual": net.manual,
        "defaults": {
            "latency_min": d.latency_min,
            "latency_max": d.latency_max,
            "drop": d.drop,
            "duplicate": d.duplicate,
        },
        "links": {
            f"{a}-{b}": {"latency_min": p.latency_min, "latency_max": p.latency_max,
                         "drop": p.drop, "duplicate": p.duplicate}
            for (a, b), p in sorted(net.links.items())
        },
        # Scripting: message kinds dropped on arrival per (src, dst), "*" for any server.
        "dropped_kinds": [
            {"src": a, "dst": b, "kinds": sorted(kinds)}
            for (a, b), kinds in sorted(net.dropped_kinds.items()) if kinds
        ],
        "jitter": net.jitter,
    }


def _clients(cluster: Cluster) -> list[dict[str, Any]]:
    out = []
    for client in cluster.clients.values():
        pending = client.pending_record()
        out.append(
            {
                "id": client.id,
                "paused": client.paused,
                "known_leader": client.known_leader,
                "token": client.token,
                "pending": _op(pending) if pending else None,
            }
        )
    return out


def _finished_op(r: OpRecord) -> dict[str, Any]:
    """A finished operation's entry, built once per (immutable) record."""
    cached = _FINISHED_OPS.get(id(r))
    if cached is None or cached[0] is not r:
        if len(_FINISHED_OPS) >= _FINISHED_OPS_MAX:
            _FINISHED_OPS.clear()
        cached = _FINISHED_OPS[id(r)] = (r, _op(r))
    return cached[1]


# Each entry keeps its record alive, so an id is never reused while cached; the dicts are
# shared between frames, so nothing may change one in place.
_FINISHED_OPS: dict[int, tuple[OpRecord, dict[str, Any]]] = {}
_FINISHED_OPS_MAX = 4096


def _op(r: OpRecord) -> dict[str, Any]:
    return {
        "op_id": r.op_id,
        "client": r.client,
        "command": r.command.describe(),
        "read_mode": r.read_mode.value,
        "invoke": r.invoke,
        "complete": r.complete,
        "status": r.status.value,
        "result": r.result.describe() if r.result else None,
        "node": r.node,
        "error": r.error,
    }


def _workload(cluster: Cluster) -> dict[str, Any] | None:
    w = cluster.workload
    if w is None:
        return None
    return {**w, "read_mode": w["read_mode"].value}


def _metrics(cluster: Cluster, leader: Node | None) -> dict[str, Any]:
    net = cluster.network
    lag = {}
    if isinstance(leader, RaftNode):
        lag = {p: leader.log.last_index - m for p, m in leader.match_index.items()}
    return {
        **{k: round(v, 3) for k, v in cluster.metrics.items()},
        "messages_sent": net.sent,
        "messages_delivered": net.delivered,
        "messages_dropped": net.dropped,
        "messages_duplicated": net.duplicated,
        "in_flight": len(net.in_flight),
        "replication_lag": lag,
    }


def _linearizability(cluster: Cluster) -> dict[str, Any]:
    st = cluster.linearizability.status
    return {
        "verdict": st.verdict.value,
        "ok": st.violation_count == 0,
        "message": st.message,
        "exact": st.exact,
        "ops_checked": st.ops_checked,
        "violations": st.violation_count,
        "running": st.running,
        "pending_unknown": st.pending_unknown,
        "notes": list(st.notes[-5:]),
    }


def _event(e: Any) -> dict[str, Any]:
    return {"seq": e.seq, "time": e.time, "node": e.node, "kind": e.kind, "text": e.text}

