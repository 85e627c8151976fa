"""Low-level scripting actions for autograders and test authors (docs/commands.md, "Scripting").

Each action is reached through a command of :mod:`raftviz.sim.engine.commands`, so it lands in
the command log like any other and replays exactly: proposing a raw value at a node without the
retrying client, injecting a protocol message built by hand, making a leader heartbeat now. The
network-side actions (drop by kind, extra per-message delay) live in
:class:`~raftviz.sim.engine.network.Network`, and ``Cluster.applied`` / ``History.applied``
read what a node's state machine has applied.
"""

from __future__ import annotations

from typing import Any

from raftviz.core.messages import (
    AppendEntries,
    AppendEntriesReply,
    ClientRequest,
    Command,
    Message,
    ReadMode,
    RequestVote,
    RequestVoteReply,
)
from raftviz.core.raft import RaftNode, Role
from raftviz.sim.checks.raft_invariants import SafetyMonitor
from raftviz.sim.engine.cluster import Cluster, CommandError, NodeHost

SCRIPT_CLIENT = "script"  # the endpoint raw proposals come from; its replies are discarded
MAX_INJECTED_ENTRIES = 256

# Message kinds a script may build, with each field's type (beyond src, dst and term).
INJECTABLE: dict[str, tuple[type[Message], dict[str, type]]] = {
    "RequestVote": (RequestVote, {"last_log_index": int, "last_log_term": int, "pre_vote": bool}),
    "RequestVoteReply": (RequestVoteReply, {"vote_granted": bool, "pre_vote": bool}),
    "AppendEntries": (
        AppendEntries,
        {"prev_log_index": int, "prev_log_term": int, "entries": list, "leader_commit": int,
         "seq": int},
    ),
    "AppendEntriesReply": (
        AppendEntriesReply,
        {"success": bool, "match_index": int, "reject_index": int, "conflict_term": int,
         "conflict_index": int, "seq": int},
    ),
}


def running_raft(cluster: Cluster, node: str) -> tuple[NodeHost, RaftNode]:
    host = cluster.require_node(node)
    if host.node is None or host.paused:
        raise CommandError(f"{node} is not running (crashed or paused)")
    if not isinstance(host.node, RaftNode):
        raise CommandError("this command works on Raft clusters only")
    return host, host.node


def propose(cluster: Cluster, node: str, command: Command) -> None:
    """Hand ``command`` to ``node`` now, as one client request with no retry.

    A leader appends it and replicates it; any other node refuses it (narrated). Unlike the
    ``client`` command nothing follows leader hints, retries or records an operation for the
    linearizability checker.
    """
    host, raft = running_raft(cluster, node)
    cluster.next_op_id += 1
    request = ClientRequest(SCRIPT_CLIENT, node, 0, cluster.next_op_id, command, ReadMode.LOG)
    cluster._narrate(  # noqa: SLF001 - the scripting actions are part of the engine
        SCRIPT_CLIENT, "script", f"a script proposed {command.describe()} at {node}"
    )
    cluster._run(host, raft.step(request, host.local(cluster.now)))  # noqa: SLF001


def heartbeat(cluster: Cluster, node: str) -> None:
    """Make a Raft leader send AppendEntries to every follower now."""
    host, raft = running_raft(cluster, node)
    if raft.role is not Role.LEADER:
        raise CommandError(f"{node} is not a leader (it is a {raft.role})")
    cluster._run(host, raft.heartbeat_now(host.local(cluster.now)))  # noqa: SLF001


def build_message(data: Any) -> Message:
    """A Raft protocol message from JSON, every field checked (raises CommandError)."""
    from raftviz.sim.history import entry_from_json

    if not isinstance(data, dict):
        raise CommandError("inject.message must be an object with a kind, src, dst and term")
    kind = data.get("kind")
    if kind not in INJECTABLE:
        raise CommandError(
            f"inject.message.kind must be one of {', '.join(INJECTABLE)}, got {kind!r}"
        )
    cls, schema = INJECTABLE[kind]
    allowed = {"kind", "src", "dst", "term", *schema}
    extra = set(data) - allowed
    if extra:
        raise CommandError(
            f"inject.message: unexpected field(s) {', '.join(sorted(extra))} for {kind}; "
            f"allowed: {', '.join(sorted(allowed - {'kind'}))}"
        )
    values: dict[str, Any] = {}
    for name in ("src", "dst"):
        text = data.get(name)
        if not isinstance(text, str) or not 0 < len(text) <= 64:
            raise CommandError(f"inject.message.{name} must be a node id")
        values[name] = text
    for name, kind_of in {"term": int, **schema}.items():
        where = f"inject.message.{name}"
        if name not in data:
            if name in ("term", *_required(kind)):
                raise CommandError(f"{where} is missing")
            continue
        value = data[name]
        if kind_of is bool:
            if not isinstance(value, bool):
                raise CommandError(f"{where} must be true or false, got {value!r}")
        elif kind_of is int:
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**9:
                raise CommandError(f"{where} must be a whole number 0..1000000000, got {value!r}")
        else:
            if not isinstance(value, list) or len(value) > MAX_INJECTED_ENTRIES:
                raise CommandError(
                    f"{where} must be a list of at most {MAX_INJECTED_ENTRIES} entries"
                )
            value = tuple(entry_from_json(item, f"{where}[{i}]") for i, item in
                          enumerate(value, start=1))
        values[name] = value
    return cls(**values)


def _required(kind: str) -> tuple[str, ...]:
    """Fields without a default in the message dataclass."""
    return {
        "RequestVote": ("last_log_index", "last_log_term"),
        "RequestVoteReply": ("vote_granted",),
        "AppendEntries": ("prev_log_index", "prev_log_term", "entries", "leader_commit"),
        "AppendEntriesReply": ("success",),
    }[kind]


def inject(cluster: Cluster, data: Any) -> None:
    """Put a hand-built message on the network from ``src`` to ``dst``, as if ``src`` sent it.

    It then travels like any message: latency, loss, partitions, manual delivery.
    """
    msg = build_message(data)
    cluster.require_node(msg.dst)
    if cluster.config.protocol == "paxos":
        raise CommandError("inject works on Raft clusters only")
    if isinstance(msg, RequestVote) and not msg.pre_vote and isinstance(
        cluster.monitor, SafetyMonitor
    ):
        # A vote granted to a forged request is the script's doing, not a kept old vote.
        cluster.monitor.note_candidate(msg.src, msg.term)
    cluster._narrate(  # noqa: SLF001
        SCRIPT_CLIENT, "script", f"a script injected {msg.kind} {msg.src} → {msg.dst}: "
        f"{msg.summary()}"
    )
    cluster._send(msg)  # noqa: SLF001
