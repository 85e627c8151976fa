"""Helpers for scenario tests: build runs from the paper's figures and read their outcome."""

from __future__ import annotations

from typing import Any

from raftviz.core.raft import RaftNode, Role
from raftviz.sim.engine.clients import OpRecord
from raftviz.sim.engine.cluster import Cluster
from raftviz.sim.history import History, config_from_json


def history(
    size: int,
    seed: int = 1,
    *,
    settings: dict[str, Any] | None = None,
    initial: dict[str, list[int]] | None = None,
    terms: dict[str, int] | None = None,
    clients: dict[str, Any] | None = None,
    network: dict[str, Any] | None = None,
) -> History:
    """A run from plain data; ``initial`` gives each node's log as the paper draws it (terms).

    A node's term defaults to the last term in its log; ``terms`` overrides it.
    """
    state = {
        node: {"term": (terms or {}).get(node, max(log, default=0)), "log": log}
        for node, log in (initial or {}).items()
    }
    for node, term in (terms or {}).items():
        state.setdefault(node, {"term": term, "log": []})
    config: dict[str, Any] = {"size": size, "seed": seed, "initial": state}
    if settings:
        config["settings"] = settings
    if clients:
        config["clients"] = clients
    if network:
        config["network"] = network
    return History(config_from_json(config), keep_history=True)


def node(cluster: Cluster, node_id: str) -> RaftNode:
    n = cluster.hosts[node_id].node
    assert n is not None, f"{node_id} is down"
    return n


def terms(cluster: Cluster, node_id: str) -> list[int]:
    """A node's log as the paper draws it: the term of each entry."""
    return [entry.term for entry in node(cluster, node_id).log]


def values(cluster: Cluster, node_id: str) -> list[str]:
    """What each entry of a node's log does, e.g. ``["no-op", "SET x=1"]``."""
    return [entry.command.describe() for entry in node(cluster, node_id).log]


def leaders(cluster: Cluster, among: list[str] | None = None) -> list[str]:
    ids = among if among is not None else list(cluster.node_ids)
    return [
        n for n in ids
        if cluster.hosts[n].node is not None and node(cluster, n).role is Role.LEADER
    ]


def violations(cluster: Cluster) -> dict[str, dict[str, Any]]:
    """The broken invariants, each with its first violation (empty when all hold)."""
    return {
        name: status["first"]
        for name, status in cluster.monitor.status().items()
        if not status["ok"]
    }


def op(cluster: Cluster, client: str) -> OpRecord:
    """The one finished operation of ``client``."""
    done = [record for record in cluster.ops if record.client == client]
    assert len(done) == 1, f"{client} finished {len(done)} operations"
    return done[0]


def idle(client: str) -> Any:
    """Condition: the client has no operation outstanding."""
    return lambda cluster: client in cluster.clients and not cluster.clients[client].busy


def transcript(h: History) -> list[tuple[float, str, str]]:
    return [(event.time, event.node, event.text) for event in h.cluster.narration]
