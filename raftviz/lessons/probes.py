"""What a lesson can ask of a running cluster: references, conditions and probes.

- A *reference* names a node by its role at the moment it is resolved: ``$leader`` (the live
  leader), ``$follower`` / ``$follower1``.. ``$follower8`` (live nodes other than the leader,
  in id order). Lesson commands, task matchers and arguments may use them wherever a node id
  goes.
- A *condition* is a named yes/no question (``leader``, ``committed: 3``, ``violation:
  Election Safety``...). Conditions are what ``run_until`` waits for and what ``expect`` checks.
  In YAML a condition is a bare name (``no_violations``) or a one-key mapping
  (``{term_at_least: 2}``).
- A *probe* reads one value (``leader_term``, ``value_of: x``...). A prediction is graded by
  comparing the learner's choice with the probe's value. ``{holds: <condition>}`` turns any
  condition into a true/false probe.

Every entry knows how to validate its argument (for ``lessons check``) and how to evaluate it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from raftviz.core.messages import Message, Op
from raftviz.core.paxos import PaxosNode
from raftviz.core.raft import PersistentState, RaftNode, Role
from raftviz.sim.checks.paxos_invariants import PAXOS_INVARIANTS
from raftviz.sim.checks.raft_invariants import INVARIANTS
from raftviz.sim.engine.clients import OpRecord
from raftviz.sim.engine.cluster import Cluster
from raftviz.sim.history import logs_converged

REF = re.compile(r"^\$(leader|follower[1-8]?)$")
ROLES = ("follower", "pre-candidate", "candidate", "leader", "crashed", "paused")
OP_STATUSES = ("ok", "failed", "unknown", "pending")
MESSAGE_KINDS = (
    "RequestVote",
    "RequestVoteReply",
    "AppendEntries",
    "AppendEntriesReply",
    "InstallSnapshot",
    "InstallSnapshotReply",
    "ClientRequest",
    "ClientReply",
)


class ResolveError(ValueError):
    """A reference that does not name anything right now (``$leader`` with no leader)."""


# ------------------------------------------------------------------------ references


def resolve_ref(name: str, cluster: Cluster) -> str:
    """The node a reference stands for now; plain node ids come back unchanged."""
    m = REF.match(name)
    if not m:
        return name
    which = m.group(1)
    if which == "leader":
        if cluster.leader is None:
            raise ResolveError("$leader: there is no leader right now")
        return cluster.leader
    index = int(which[8:] or "1")
    followers = [
        h.id for h in cluster.hosts.values() if h.live and h.id != cluster.leader
    ]
    if len(followers) < index:
        raise ResolveError(f"{name}: only {len(followers)} live nodes besides the leader")
    return followers[index - 1]


def resolve(value: Any, cluster: Cluster) -> Any:
    """Replace every reference inside ``value`` (strings, lists, mappings)."""
    if isinstance(value, str):
        return resolve_ref(value, cluster)
    if isinstance(value, list):
        return [resolve(v, cluster) for v in value]
    if isinstance(value, dict):
        return {resolve(k, cluster): resolve(v, cluster) for k, v in value.items()}
    return value


def node_problem(value: Any, size: int) -> str | None:
    """Why ``value`` is not a node id or reference for a cluster of ``size`` (None if it is)."""
    if not isinstance(value, str):
        return f"a node id must be a string like 'n1', got {value!r}"
    if REF.match(value):
        return None
    if re.fullmatch(r"n[1-9]", value) and int(value[1:]) <= size:
        return None
    if value.startswith("$"):
        return f"unknown reference {value!r}; use $leader, $follower or $follower1..$follower8"
    return f"unknown node {value!r}; this cluster has n1..n{size}"


# ------------------------------------------------------------------------ arguments

Validator = Callable[[Any, int], list[str]]


def _none(arg: Any, size: int) -> list[str]:
    return [] if arg is None else ["takes no argument"]


def _int(low: int) -> Validator:
    def check(arg: Any, size: int) -> list[str]:
        if isinstance(arg, bool) or not isinstance(arg, int) or arg < low:
            return [f"must be a whole number >= {low}, got {arg!r}"]
        return []

    return check


def _node(arg: Any, size: int) -> list[str]:
    problem = node_problem(arg, size)
    return [problem] if problem else []


def _text(arg: Any, size: int) -> list[str]:
    if not isinstance(arg, str) or not arg or len(arg) > 64:
        return [f"must be a string of 1 to 64 characters, got {arg!r}"]
    return []


ALL_INVARIANTS = {**INVARIANTS, **PAXOS_INVARIANTS}


def _invariant(arg: Any, size: int) -> list[str]:
    if arg not in ALL_INVARIANTS:
        return [f"unknown invariant {arg!r}; known: {', '.join(ALL_INVARIANTS)}"]
    return []


def _value(arg: Any, size: int) -> list[str]:
    if arg is not None and not isinstance(arg, str):
        return [f"must be a string or null (absent), got {arg!r}"]
    return []


def _one_of(options: tuple[str, ...]) -> Validator:
    def check(arg: Any, size: int) -> list[str]:
        if arg not in options:
            return [f"must be one of {', '.join(options)}, got {arg!r}"]
        return []

    return check


def _nodes(arg: Any, size: int) -> list[str]:
    if not isinstance(arg, list) or not arg:
        return ["must be a non-empty list of node ids"]
    return [p for v in arg for p in _node(v, size)]


def _object(required: dict[str, Validator], optional: dict[str, Validator] | None = None
            ) -> Validator:
    optional = optional or {}

    def check(arg: Any, size: int) -> list[str]:
        if not isinstance(arg, dict):
            return [f"must be a mapping with {', '.join(required) or 'fields'}, got {arg!r}"]
        problems = [f"missing field {k!r}" for k in required if k not in arg]
        for key, value in arg.items():
            validator = required.get(key) or optional.get(key)
            if validator is None:
                known = ", ".join([*required, *optional])
                problems.append(f"unknown field {key!r}; fields are {known}")
                continue
            problems += [f"{key}: {p}" for p in validator(value, size)]
        return problems

    return check


def _node_map(values: Validator) -> Validator:
    def check(arg: Any, size: int) -> list[str]:
        if not isinstance(arg, dict) or not arg:
            return ["must map node ids to values, e.g. {n1: leader}"]
        problems = []
        for key, value in arg.items():
            problems += _node(key, size)
            problems += [f"{key}: {p}" for p in values(value, size)]
        return problems

    return check


_MESSAGE = _object({}, {"kind": _one_of(MESSAGE_KINDS), "from": _text, "to": _text})


# ------------------------------------------------------------------------ reading a cluster


def _node_of(cluster: Cluster, node_id: str) -> RaftNode | None:
    """The running Raft node with this id (None while it is down)."""
    host = cluster.hosts.get(node_id)
    node = host.node if host is not None else None
    return node if isinstance(node, RaftNode) else None


def _role(cluster: Cluster, node_id: str) -> str:
    host = cluster.hosts[node_id]
    if host.node is None:
        return "crashed"
    if host.paused:
        return "paused"
    return host.node.role.value


def _leader_node(cluster: Cluster) -> RaftNode | None:
    return _node_of(cluster, cluster.leader) if cluster.leader else None


def last_op(cluster: Cluster, client: str) -> OpRecord | None:
    """The client's most recently finished operation."""
    for record in reversed(cluster.ops):
        if record.client == client:
            return record
    return None


def op_status(cluster: Cluster, client: str) -> str | None:
    """"pending" while the client waits, else the status of its last finished operation."""
    c = cluster.clients.get(client)
    if c is not None and c.pending is not None:
        return "pending"
    record = last_op(cluster, client)
    return record.status.value if record else None


def _read_result(cluster: Cluster, client: str) -> str | None:
    record = last_op(cluster, client)
    if record is None or record.result is None:
        return None
    return record.result.value


def _last_read(cluster: Cluster) -> str | None:
    """The value returned by the most recent successful GET of any client."""
    for record in reversed(cluster.ops):
        if record.command.op is Op.GET and record.result is not None:
            return record.result.value
    return None


def _token_of(cluster: Cluster, client: str) -> int:
    c = cluster.clients.get(client)
    return c.token if c is not None else 0


def _cas_swapped(cluster: Cluster) -> int:
    """How many compare-and-swap operations succeeded (found the expected value)."""
    return sum(
        1 for r in cluster.ops
        if r.command.op is Op.CAS and r.result is not None and r.result.ok
    )


def _violated(cluster: Cluster) -> list[str]:
    return [name for name, count in cluster.monitor.counts.items() if count]


def _persistent(cluster: Cluster, node_id: str) -> PersistentState | None:
    """A Raft node's term, vote and log, whether it is running or down."""
    host = cluster.hosts[node_id]
    if isinstance(host.node, RaftNode):
        return host.node.persistent_state()
    return host.persistent if isinstance(host.persistent, PersistentState) else None


def _term_of(cluster: Cluster, node_id: str) -> int:
    state = _persistent(cluster, node_id)
    return state.current_term if state else 0


def _terms(cluster: Cluster) -> list[int]:
    return [_term_of(cluster, node_id) for node_id in cluster.hosts]


def _log_descriptions(cluster: Cluster, node_id: str) -> list[str]:
    state = _persistent(cluster, node_id)
    return [entry.command.describe() for entry in state.log] if state else []


def _snapshot_index(cluster: Cluster, node_id: str) -> int:
    """The last included index of this node's snapshot (0: never compacted), up or down."""
    state = _persistent(cluster, node_id)
    return state.log.snapshot_index if state else 0


def _running(cluster: Cluster, node_id: str) -> RaftNode | PaxosNode | None:
    """The running node with this id, whatever its protocol (None while it is down)."""
    host = cluster.hosts.get(node_id)
    return host.node if host is not None else None


def _commit_index(cluster: Cluster, node_id: str) -> int:
    node = _running(cluster, node_id)
    return node.commit_index if node else 0


def _kv(cluster: Cluster, node_id: str, key: str) -> str | None:
    node = _running(cluster, node_id)
    return node.sm.data.get(key) if node else None


def _paxos(cluster: Cluster, node_id: str) -> PaxosNode | None:
    node = _running(cluster, node_id)
    return node if isinstance(node, PaxosNode) else None


def _chosen_on(cluster: Cluster, node_id: str) -> str | None:
    """Paxos: the command this node knows to be chosen in slot 1."""
    node = _paxos(cluster, node_id)
    entry = node.chosen.get(1) if node else None
    return entry.command.describe() if entry else None


def _accepted_on(cluster: Cluster, node_id: str) -> str | None:
    """Paxos: the command this node's acceptor has accepted in slot 1."""
    node = _paxos(cluster, node_id)
    proposal = node.accepted.get(1) if node else None
    return proposal.value.command.describe() if proposal else None


def _promised_on(cluster: Cluster, node_id: str) -> str | None:
    """Paxos: the ballot this node's acceptor has promised (e.g. "2.n1"), or null."""
    node = _paxos(cluster, node_id)
    if node is None or node.promised_ballot.round == 0:
        return None
    return str(node.promised_ballot)


def _matching_messages(cluster: Cluster, spec: dict[str, Any]) -> list[int]:
    """Ids of messages in flight matching ``{kind, from, to}`` (all optional), oldest first."""
    found = []
    for env in sorted(cluster.network.in_flight.values(), key=lambda e: e.id):
        msg = env.msg
        if "kind" in spec and msg.kind.value != spec["kind"]:
            continue
        if "from" in spec and msg.src != spec["from"]:
            continue
        if "to" in spec and msg.dst != spec["to"]:
            continue
        found.append(env.id)
    return found


def _lag(cluster: Cluster, node_id: str) -> int:
    leader = _leader_node(cluster)
    if leader is None or node_id not in leader.match_index:
        return 0
    return leader.log.last_index - leader.match_index[node_id]


# ------------------------------------------------------------------------ conditions


@dataclass(frozen=True, slots=True)
class Entry:
    """A condition or probe: how to check its argument, how to evaluate it, what it means."""

    validate: Validator
    evaluate: Callable[[Cluster, Any], Any]
    doc: str


def _client_done(c: Cluster, client: str) -> bool:
    return op_status(c, client) not in ("pending", None)


def _last_op_matches(c: Cluster, arg: dict[str, Any]) -> bool:
    record = last_op(c, arg["client"])
    if record is None or op_status(c, arg["client"]) == "pending":
        return False
    if "status" in arg and record.status.value != arg["status"]:
        return False
    if "value" in arg:
        value = record.result.value if record.result else None
        return bool(value == arg["value"])
    return True


def _resource_matches(c: Cluster, arg: dict[str, Any]) -> bool:
    if "token" in arg and c.resource_token != arg["token"]:
        return False
    return "value" not in arg or c.resource_value == arg["value"]


CONDITIONS: dict[str, Entry] = {
    "leader": Entry(_none, lambda c, a: c.leader is not None, "a live leader exists"),
    "no_leader": Entry(_none, lambda c, a: c.leader is None, "no live leader exists"),
    "converged": Entry(
        _none, lambda c, a: logs_converged(c),
        "every live node holds the same log and has applied all of it",
    ),
    "committed": Entry(
        _int(1),
        lambda c, a: any(
            n.role is Role.LEADER and n.commit_index >= a for n in c.live_nodes()
        ),
        "a live leader has committed index N",
    ),
    "leader_is": Entry(_node, lambda c, a: c.leader == a, "the live leader is this node"),
    "term_at_least": Entry(
        _int(0), lambda c, a: max(_terms(c), default=0) >= a,
        "some node has reached term N or higher",
    ),
    "no_violations": Entry(
        _none, lambda c, a: not _violated(c), "no safety invariant has been violated"
    ),
    "violation": Entry(
        _invariant, lambda c, a: c.monitor.counts.get(a, 0) > 0,
        "the checker has reported this invariant as violated",
    ),
    "committed_on": Entry(
        _object({"nodes": _nodes, "index": _int(0)}),
        lambda c, a: all(_commit_index(c, n) >= a["index"] for n in a["nodes"]),
        "each of these nodes knows index N is committed",
    ),
    "commit_index_is": Entry(
        _object({"node": _node, "index": _int(0)}),
        lambda c, a: _commit_index(c, a["node"]) == a["index"],
        "this node's commit index is exactly N",
    ),
    "roles": Entry(
        _node_map(_one_of(ROLES)),
        lambda c, a: all(_role(c, n) == r for n, r in a.items()),
        "each node has this role (follower, candidate, leader, crashed, paused...)",
    ),
    "terms": Entry(
        _node_map(_int(0)),
        lambda c, a: all(_term_of(c, n) == t for n, t in a.items()),
        "each node is in exactly this term",
    ),
    "leaders": Entry(
        _int(0), lambda c, a: len(c.leaders()) == a,
        "exactly N nodes believe they are leader",
    ),
    "elections_at_least": Entry(
        _int(0), lambda c, a: c.metrics["elections"] >= a, "at least N elections have started"
    ),
    "client_done": Entry(
        _text, _client_done, "this client has finished its last operation (ok, failed or unknown)"
    ),
    "last_op": Entry(
        _object({"client": _text}, {"status": _one_of(OP_STATUSES[:3]), "value": _value}),
        _last_op_matches,
        "the client's last operation finished with this status (and read this value)",
    ),
    "kv": Entry(
        _object({"node": _node, "key": _text, "value": _value}),
        lambda c, a: _kv(c, a["node"], a["key"]) == a["value"],
        "this node's state machine holds this value for the key (null: absent)",
    ),
    "log_contains": Entry(
        _object({"node": _node, "command": _text}),
        lambda c, a: a["command"] in _log_descriptions(c, a["node"]),
        "this node's log holds an entry with this command (as shown, e.g. 'SET x=1')",
    ),
    "log_lacks": Entry(
        _object({"node": _node, "command": _text}),
        lambda c, a: a["command"] not in _log_descriptions(c, a["node"]),
        "this node's log holds no entry with this command",
    ),
    "resource": Entry(
        _object({}, {"token": _int(0), "value": _value}),
        _resource_matches,
        "the fenced storage holds this token and value",
    ),
    "lagging": Entry(
        _object({"node": _node, "at_least": _int(1)}),
        lambda c, a: _lag(c, a["node"]) >= a["at_least"],
        "the leader knows this follower is at least N entries behind",
    ),
    "chosen": Entry(
        _node, lambda c, a: _chosen_on(c, a) is not None,
        "Paxos: this node has learned which value was chosen in slot 1",
    ),
    "quiet": Entry(
        _none, lambda c, a: not c.network.in_flight, "no message is in flight"
    ),
    "snapshot_at_least": Entry(
        _object({"node": _node, "index": _int(1)}),
        lambda c, a: _snapshot_index(c, a["node"]) >= a["index"],
        "this node's snapshot covers at least the entries up to this index",
    ),
    "in_flight": Entry(
        _MESSAGE, lambda c, a: bool(_matching_messages(c, a)),
        "a message like this is in flight ({kind, from, to}, all optional)",
    ),
}
CONDITION_ALIASES = {"leader_exists": "leader", "logs_converged": "converged"}


def split_condition(spec: Any) -> tuple[str, Any]:
    """``"leader"`` -> ("leader", None); ``{"committed": 3}`` -> ("committed", 3)."""
    if isinstance(spec, str):
        name, arg = spec, None
    elif isinstance(spec, dict) and len(spec) == 1:
        ((name, arg),) = spec.items()
    else:
        raise ValueError(f"a condition is a name or a one-key mapping, got {spec!r}")
    return CONDITION_ALIASES.get(name, name), arg


def condition_problems(spec: Any, size: int) -> list[str]:
    try:
        name, arg = split_condition(spec)
    except ValueError as exc:
        return [str(exc)]
    entry = CONDITIONS.get(name)
    if entry is None:
        known = ", ".join(sorted([*CONDITIONS, *CONDITION_ALIASES]))
        return [f"unknown condition {name!r}; known conditions: {known}"]
    return [f"{name}: {p}" for p in entry.validate(arg, size)]


def holds(spec: Any, cluster: Cluster) -> bool:
    """Evaluate a condition (references in its argument are resolved now)."""
    name, arg = split_condition(spec)
    return bool(CONDITIONS[name].evaluate(cluster, resolve(arg, cluster)))


def describe_condition(spec: Any) -> str:
    name, arg = split_condition(spec)
    return name if arg is None else f"{name}: {arg}"


# ------------------------------------------------------------------------ probes


PROBES: dict[str, Entry] = {
    "leader": Entry(_none, lambda c, a: c.leader, "the live leader's id, or null"),
    "has_leader": Entry(_none, lambda c, a: c.leader is not None, "whether a live leader exists"),
    "leader_term": Entry(
        _none,
        lambda c, a: n.current_term if (n := _leader_node(c)) else None,
        "the live leader's term, or null",
    ),
    "term": Entry(_none, lambda c, a: max(_terms(c), default=0), "the highest term of any node"),
    "term_of": Entry(_node, _term_of, "this node's current term"),
    "role_of": Entry(_node, _role, "this node's role (follower, candidate, leader, crashed...)"),
    "leaders": Entry(_none, lambda c, a: len(c.leaders()), "how many nodes believe they lead"),
    "commit_index": Entry(
        _none,
        lambda c, a: n.commit_index if (n := _leader_node(c)) else None,
        "the live leader's commit index, or null",
    ),
    "commit_index_of": Entry(_node, _commit_index, "this node's commit index (0 while down)"),
    "log_length": Entry(
        _node, lambda c, a: len(_log_descriptions(c, a)),
        "how many entries this node's log holds (after its snapshot, if any)",
    ),
    "snapshot_index_of": Entry(
        _node, _snapshot_index,
        "the last included index of this node's snapshot (0 if it never compacted)",
    ),
    "value_of": Entry(
        _text,
        lambda c, a: n.sm.data.get(a) if (n := _leader_node(c)) else None,
        "the value of a key in the live leader's state machine (null: absent or no leader)",
    ),
    "value_on": Entry(
        _object({"node": _node, "key": _text}),
        lambda c, a: _kv(c, a["node"], a["key"]),
        "the value of a key in this node's state machine",
    ),
    "violations": Entry(
        _none, lambda c, a: _violated(c),
        "names of the invariants violated so far (in the checker's list order)",
    ),
    "violated": Entry(
        _invariant, lambda c, a: c.monitor.counts.get(a, 0) > 0,
        "whether the checker reported this invariant",
    ),
    "stale_read": Entry(
        _none,
        lambda c, a: c.monitor.counts.get("Linearizability", 0) > 0,
        "whether the linearizability checker caught a read of an out-of-date value",
    ),
    "elections": Entry(_none, lambda c, a: int(c.metrics["elections"]), "elections started so far"),
    "ops_ok": Entry(
        _none, lambda c, a: int(c.metrics["ops_ok"]), "client operations that succeeded"
    ),
    "ops_failed": Entry(
        _none, lambda c, a: int(c.metrics["ops_failed"]), "client operations refused"
    ),
    "ops_unknown": Entry(
        _none, lambda c, a: int(c.metrics["ops_unknown"]),
        "client operations given up with an unknown outcome",
    ),
    "op_status": Entry(
        _text, lambda c, a: op_status(c, a),
        "the client's operation: pending, or how its last one ended (ok, failed, unknown)",
    ),
    "last_status": Entry(
        _none,
        lambda c, a: c.ops[-1].status.value if c.ops else None,
        "how the most recently finished operation (any client) ended: ok, failed, unknown",
    ),
    "last_read": Entry(
        _none, lambda c, a: _last_read(c),
        "the value the most recent successful read (any client) returned",
    ),
    "read_result": Entry(
        _text, _read_result, "the value the client's last finished operation returned"
    ),
    "chosen_on": Entry(
        _node, _chosen_on, "Paxos: the command this node knows was chosen in slot 1 (or null)"
    ),
    "accepted_on": Entry(
        _node, _accepted_on, "Paxos: the command this node's acceptor accepted in slot 1"
    ),
    "promised_on": Entry(
        _node, _promised_on, "Paxos: the ballot this node's acceptor promised, like '2.n1'"
    ),
    "token_of": Entry(
        _text, _token_of, "the fencing token of the last lock this client was granted (0: none)"
    ),
    "cas_swapped": Entry(
        _none, lambda c, a: _cas_swapped(c), "how many compare-and-swap operations succeeded"
    ),
    "leader_changes": Entry(
        _none, lambda c, a: int(c.metrics["leader_changes"]), "how often leadership changed"
    ),
    "resource_value": Entry(
        _none, lambda c, a: c.resource_value, "the value in the fenced storage"
    ),
    "resource_token": Entry(
        _none, lambda c, a: c.resource_token, "the highest fencing token the storage has seen"
    ),
    "holds": Entry(
        lambda arg, size: condition_problems(arg, size),
        lambda c, a: holds(a, c),
        "whether a condition holds (true/false)",
    ),
}


def split_probe(spec: Any) -> tuple[str, Any]:
    if isinstance(spec, str):
        return spec, None
    if isinstance(spec, dict) and len(spec) == 1:
        ((name, arg),) = spec.items()
        return name, arg
    raise ValueError(f"a probe is a name or a one-key mapping, got {spec!r}")


def probe_problems(spec: Any, size: int) -> list[str]:
    try:
        name, arg = split_probe(spec)
    except ValueError as exc:
        return [str(exc)]
    entry = PROBES.get(name)
    if entry is None:
        return [f"unknown probe {name!r}; known probes: {', '.join(sorted(PROBES))}"]
    return [f"{name}: {p}" for p in entry.validate(arg, size)]


def probe(spec: Any, cluster: Cluster) -> Any:
    """Evaluate a probe (``holds`` keeps its condition unresolved until it is checked)."""
    name, arg = split_probe(spec)
    if name != "holds":
        arg = resolve(arg, cluster)
    return PROBES[name].evaluate(cluster, arg)


def message_problems(spec: Any, size: int) -> list[str]:
    return _MESSAGE(spec, size)


def select_message(spec: dict[str, Any], cluster: Cluster) -> int:
    """The id of the oldest message in flight matching ``{kind, from, to}``."""
    found = _matching_messages(cluster, resolve(spec, cluster))
    if not found:
        shown = ", ".join(f"{k}={v}" for k, v in spec.items()) or "any"
        raise ResolveError(f"no message in flight matches {shown}")
    return found[0]


def message_matches(spec: dict[str, Any], msg: Message, cluster: Cluster) -> bool:
    """Whether a message fits ``{kind, from, to}`` (all optional)."""
    spec = resolve(spec, cluster)
    actual = {"kind": msg.kind.value, "from": msg.src, "to": msg.dst}
    return all(spec[k] == v for k, v in actual.items() if k in spec)
