"""The administrator's side of membership changes and leadership transfer, on a running cluster.

An operator adds or removes a server by asking the leader (thesis 4.1's AddServer and
RemoveServer RPCs); the leader's :class:`~raftviz.core.raft.RaftNode` does the protocol work. What
lives here is what the protocol leaves to the operator: starting the new server process (a new
host with an empty log that knows only the initial configuration, so it waits for the leader),
and the checks that keep the laboratory within its limits (1 to 9 servers). Every function
raises :class:`~raftviz.sim.engine.cluster.CommandError` and changes nothing when it cannot act.
"""

from __future__ import annotations

from raftviz.core.membership import MembershipError
from raftviz.core.raft import Output, RaftNode
from raftviz.sim.engine.cluster import MAX_NODES, Cluster, CommandError, NodeHost


def _leader(cluster: Cluster, what: str) -> tuple[NodeHost, RaftNode]:
    if cluster.config.protocol != "raft":
        raise CommandError(
            f"{what} is a Raft operation; this cluster runs {cluster.config.protocol}"
        )
    host = cluster.hosts.get(cluster.leader) if cluster.leader else None
    if host is None or not isinstance(host.node, RaftNode):
        raise CommandError(f"there is no leader to ask for {what}; wait for an election")
    return host, host.node


def _ask(cluster: Cluster, host: NodeHost, call: Output | None) -> None:
    assert call is not None
    cluster._run(host, call)  # noqa: SLF001 - the leader's answer goes out like any other step


def add_server(cluster: Cluster, node: str | None) -> None:
    """Ask the leader to add ``node`` (a removed server, or by default a brand-new one)."""
    host, leader = _leader(cluster, "adding a server")
    local = host.local(cluster.now)
    if node is None:
        if len(cluster.hosts) >= MAX_NODES:
            raise CommandError(
                f"the cluster already has {MAX_NODES} servers, the most raftviz runs; re-add a "
                f"removed one by name instead"
            )
        node = f"n{len(cluster.hosts) + 1}"
    else:
        existing = cluster.require_node(node)
        if existing.node is None:
            raise CommandError(f"{node} is down; restart it before adding it")
    try:
        out = leader.add_server(node, local)
    except MembershipError as exc:
        raise CommandError(str(exc)) from None
    if node not in cluster.hosts:
        cluster.add_host(node)
    _ask(cluster, host, out)


def remove_server(cluster: Cluster, node: str) -> None:
    """Ask the leader to remove ``node`` (which may be the leader itself)."""
    cluster.require_node(node)
    host, leader = _leader(cluster, "removing a server")
    try:
        out = leader.remove_server(node, host.local(cluster.now))
    except MembershipError as exc:
        raise CommandError(str(exc)) from None
    _ask(cluster, host, out)


def transfer_leadership(cluster: Cluster, target: str) -> None:
    """Ask the leader to hand leadership to ``target`` (thesis 3.10)."""
    target_host = cluster.require_node(target)
    if target_host.node is None:
        raise CommandError(f"{target} is down; leadership can only go to a running server")
    host, leader = _leader(cluster, "a leadership transfer")
    try:
        out = leader.transfer_leadership(target, host.local(cluster.now))
    except MembershipError as exc:
        raise CommandError(str(exc)) from None
    _ask(cluster, host, out)
