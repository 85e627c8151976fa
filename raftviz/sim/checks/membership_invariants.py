"""Election safety across configurations (thesis 4.1): a check kept apart from Figure 3's.

Raft's Election Safety holds across membership changes only because any two configurations that
can elect leaders at the same time have overlapping majorities: single-server changes make
consecutive configurations overlap, joint consensus needs both majorities. When that breaks (the
single-server change bug), two leaders of one term are elected by disjoint majorities of
*different* configurations. This check records, for every election, the configuration the
winner counted and the votes it counted, and explains such a pair in those terms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from raftviz.core.membership import Configuration
from raftviz.core.messages import Event
from raftviz.core.raft import RaftNode

if TYPE_CHECKING:
    from raftviz.sim.engine.cluster import Cluster, NodeHost

INVARIANT = "Configuration Overlap"  # its statement is in raft_invariants.INVARIANTS


@dataclass(frozen=True, slots=True)
class Election:
    leader: str
    config: Configuration
    votes: frozenset[str]


class ConfigurationCheck:
    """Remembers each term's winner with its configuration and votes; see the module docstring."""

    def __init__(self) -> None:
        self.elections: dict[int, Election] = {}

    def observe(self, cluster: Cluster, host: NodeHost, events: tuple[Event, ...]) -> None:
        node = host.node
        if not isinstance(node, RaftNode) or not any(e.kind == "leader" for e in events):
            return
        won = Election(node.id, node.config, frozenset(node.votes_received))
        earlier = self.elections.setdefault(node.current_term, won)
        if earlier.leader == node.id:
            return
        shared = sorted(earlier.votes & won.votes)
        why = (
            f"they share voter(s) {', '.join(shared)}, which should have been impossible"
            if shared
            else "the two majorities share no server"
        )
        cluster.monitor.report(
            cluster,
            INVARIANT,
            f"{won.leader} won term {node.current_term} with votes {_ids(won.votes)} of "
            f"{won.config.describe()}, while {earlier.leader} had won it with votes "
            f"{_ids(earlier.votes)} of {earlier.config.describe()}: {why}",
            [earlier.leader, won.leader],
            [],
        )


def _ids(ids: frozenset[str]) -> str:
    return "{" + ",".join(sorted(ids)) + "}"
