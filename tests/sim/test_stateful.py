"""Hypothesis stateful test: random faults and client operations never break Raft's safety.

Random ticks, deliveries, drops, duplicates, partitions, one-way cuts, crashes, restarts,
pauses, slow disks (a crash then loses writes not yet fsynced), clock drift within the bound,
forced timeouts and client operations in every read mode, on clusters of 1 to 7 nodes with
PreVote, CheckQuorum and fast back-up switched at random. After every step every Figure 3
invariant and linearizability must hold; the same machine runs against Multi-Paxos and Basic
Paxos with the Paxos invariants. Rewinding and running forward again must reproduce the run
exactly, and once the faults stop the cluster must elect a leader and converge. A compacting
machine adds log compaction with tiny thresholds and chunks, snapshots on demand and
background writes. A third machine interleaves membership changes (single-server or joint
consensus) and leadership transfers with all of those faults.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from raftviz.core.raft import RaftNode, RaftSettings
from raftviz.sim.engine.cluster import Cluster, ClusterConfig, CommandError
from raftviz.sim.history import History, config_from_json, logs_converged
from raftviz.sim.snapshot import snapshot

NODE_INDEX = st.integers(min_value=0, max_value=8)
KEYS = st.sampled_from(["x", "y"])
VALUES = st.sampled_from(["1", "2", "3", "4"])
READ_MODES = st.sampled_from(["log", "read_index", "lease", "follower"])


class RaftUnderFaults(RuleBasedStateMachine):
    history: History

    @initialize(
        size=st.integers(min_value=1, max_value=7),
        seed=st.integers(min_value=0, max_value=2**32),
        pre_vote=st.booleans(),
        check_quorum=st.booleans(),
        fast_backup=st.booleans(),
        noop=st.booleans(),
    )
    def build(
        self,
        size: int,
        seed: int,
        pre_vote: bool,
        check_quorum: bool,
        fast_backup: bool,
        noop: bool,
    ) -> None:
        settings = RaftSettings(
            pre_vote=pre_vote,
            check_quorum=check_quorum,
            fast_backup=fast_backup,
            noop_on_election=noop,
        )
        self.history = History(
            ClusterConfig(size=size, seed=seed, settings=settings), checkpoint_every=250.0
        )
        self.size = size

    def node(self, i: int) -> str:
        ids = list(self.history.cluster.hosts)  # servers added while running count too
        return ids[i % len(ids)]

    def command(self, data: dict[str, object]) -> bool:
        try:
            self.history.apply_json(data)
        except CommandError:
            return False  # e.g. crashing a node that is already down: refused, nothing changes
        return True

    # ------------------------------------------------------------------ time

    @rule(ms=st.floats(min_value=0.5, max_value=400.0))
    def advance(self, ms: float) -> None:
        self.history.run_for(ms)

    @rule(n=st.integers(min_value=1, max_value=40))
    def step_events(self, n: int) -> None:
        for _ in range(n):
            self.history.step()

    @rule(back=st.floats(min_value=1.0, max_value=1500.0))
    def rewind_and_replay(self, back: float) -> None:
        """Jumping back and running forward again reproduces the present exactly."""
        h = self.history
        now = h.now
        h.run_until(now)  # after single steps, finish the instant: seek(t) means "all of t"
        before = json.dumps(snapshot(h.cluster))
        h.seek(max(0.0, now - back))
        h.run_until(now)
        assert json.dumps(snapshot(h.cluster)) == before

    # ---------------------------------------------------------------- faults

    @rule(i=NODE_INDEX)
    def crash(self, i: int) -> None:
        self.command({"type": "crash", "node": self.node(i)})

    @rule(i=NODE_INDEX)
    def restart(self, i: int) -> None:
        self.command({"type": "restart", "node": self.node(i)})

    @rule(i=NODE_INDEX)
    def pause(self, i: int) -> None:
        self.command({"type": "pause", "node": self.node(i)})

    @rule(i=NODE_INDEX)
    def resume(self, i: int) -> None:
        self.command({"type": "resume", "node": self.node(i)})

    @rule(i=NODE_INDEX)
    def timeout_now(self, i: int) -> None:
        self.command({"type": "timeout", "node": self.node(i)})

    @rule(i=NODE_INDEX, rate=st.sampled_from([0.97, 1.0, 1.02]))
    def drift(self, i: int, rate: float) -> None:
        self.command({"type": "clock", "node": self.node(i), "rate": rate})

    @rule(i=NODE_INDEX, fsync_ms=st.sampled_from([0.0, 2.0, 40.0, 400.0]))
    def disk(self, i: int, fsync_ms: float) -> None:
        """A slow (or instant) disk: crashes now lose writes that were not fsynced."""
        self.command({"type": "disk", "node": self.node(i), "fsync_ms": fsync_ms})

    @rule(assignment=st.lists(st.integers(min_value=0, max_value=2), min_size=9, max_size=9))
    def partition(self, assignment: list[int]) -> None:
        groups: list[list[str]] = [[], [], []]
        for i in range(len(self.history.cluster.hosts)):
            groups[assignment[i]].append(self.node(i))
        self.command({"type": "partition", "groups": [g for g in groups if g]})

    @rule()
    def heal(self) -> None:
        self.command({"type": "heal"})

    @rule(a=NODE_INDEX, b=NODE_INDEX, both=st.booleans())
    def cut(self, a: int, b: int, both: bool) -> None:
        self.command({"type": "cut", "src": self.node(a), "dst": self.node(b), "both": both})

    @rule(
        drop=st.sampled_from([0.0, 0.05, 0.3]),
        duplicate=st.sampled_from([0.0, 0.1, 0.5]),
        slow=st.booleans(),
    )
    def network(self, drop: float, duplicate: float, slow: bool) -> None:
        high = 120.0 if slow else 20.0
        self.command(
            {
                "type": "network",
                "latency_min": 5.0,
                "latency_max": high,
                "drop": drop,
                "duplicate": duplicate,
            }
        )

    # --------------------------------------------------------------- clients

    @rule(
        op=st.sampled_from(["set", "get", "delete", "cas"]),
        key=KEYS,
        value=VALUES,
        expected=st.one_of(st.none(), VALUES),
        read_mode=READ_MODES,
        at=st.one_of(st.none(), NODE_INDEX),
        client=st.sampled_from(["c1", "c2", "c3"]),
    )
    def client_op(
        self,
        op: str,
        key: str,
        value: str,
        expected: str | None,
        read_mode: str,
        at: int | None,
        client: str,
    ) -> None:
        data: dict[str, object] = {"type": "client", "op": op, "key": key, "client": client}
        if op in ("set", "cas"):
            data["value"] = value
        if op == "cas":
            data["expected"] = expected
        if op == "get":
            data["read_mode"] = read_mode
        if at is not None:
            data["node"] = self.node(at)
        self.command(data)

    # ------------------------------------------------------------ invariants

    @invariant()
    def safety_holds(self) -> None:
        status = self.history.cluster.monitor.status()
        broken = {name: s["first"] for name, s in status.items() if not s["ok"]}
        assert not broken, broken

    @precondition(lambda self: hasattr(self, "history"))
    @rule()
    def settle_and_check_liveness(self) -> None:
        """Once every fault is repaired, a leader is elected and every log converges."""
        h = self.history
        self.command({"type": "heal"})
        self.command({"type": "network", "latency_min": 10.0, "latency_max": 20.0})
        for i in range(len(h.cluster.hosts)):
            self.command({"type": "resume", "node": self.node(i)})
            self.command({"type": "restart", "node": self.node(i)})
            self.command({"type": "clock", "node": self.node(i), "rate": 1.0})
        self.command({"type": "disk", "fsync_ms": 2.0})
        assert h.run_until_condition(lambda c: c.leader is not None, max_ms=20_000)
        self.retire_removed_servers()
        # A fresh write in the leader's term makes every earlier entry commit everywhere.
        # (A fresh client each time: an earlier settle's write may still be in flight.)
        self.settles = getattr(self, "settles", 0) + 1
        writer = f"settle{self.settles}"
        self.command({"type": "client", "op": "set", "key": "z", "value": "1", "client": writer})
        assert h.run_until_condition(logs_converged, max_ms=20_000), [
            (n.id, n.role, n.log.last_index, n.commit_index) for n in h.cluster.live_nodes()
        ]


    def retire_removed_servers(self) -> None:
        """Membership machine only: the operator shuts down servers the leader no longer has."""


class RaftMembershipUnderFaults(RaftUnderFaults):
    """Adding, removing and transferring, interleaved with every fault above."""

    @initialize(
        size=st.integers(min_value=1, max_value=5),
        seed=st.integers(min_value=0, max_value=2**32),
        pre_vote=st.booleans(),
        check_quorum=st.booleans(),
        joint=st.booleans(),
    )
    def build(  # type: ignore[override]
        self, size: int, seed: int, pre_vote: bool, check_quorum: bool, joint: bool
    ) -> None:
        settings = RaftSettings(pre_vote=pre_vote, check_quorum=check_quorum,
                                joint_consensus=joint)
        self.history = History(
            ClusterConfig(size=size, seed=seed, settings=settings), checkpoint_every=250.0
        )
        self.size = size

    @rule(again=st.one_of(st.none(), NODE_INDEX))
    def add_server(self, again: int | None) -> None:
        # Give an election a chance first: adds otherwise mostly meet "no leader".
        self.history.run_until_condition(lambda c: c.leader is not None, max_ms=1000)
        data: dict[str, object] = {"type": "add_server"}
        if again is not None:
            data["node"] = self.node(again)  # a removed server coming back
        event(f"add_server accepted: {self.command(data)}")

    @rule(i=NODE_INDEX)
    def remove_server(self, i: int) -> None:
        done = self.command({"type": "remove_server", "node": self.node(i)})
        event(f"remove_server accepted: {done}")

    @rule(i=NODE_INDEX)
    def transfer_leadership(self, i: int) -> None:
        done = self.command({"type": "transfer_leadership", "node": self.node(i)})
        event(f"transfer_leadership accepted: {done}")

    def retire_removed_servers(self) -> None:
        h = self.history

        def settled(c: Cluster) -> bool:
            """A leader with no change under way: its configuration is final and committed."""
            n = c.hosts[c.leader].node if c.leader else None
            return (
                isinstance(n, RaftNode)
                and n.catch_up is None
                and not n.config.joint
                and n.configs.latest_index <= n.commit_index
            )

        assert h.run_until_condition(settled, max_ms=20_000)
        leader = h.cluster.hosts[h.cluster.leader or ""].node
        assert isinstance(leader, RaftNode)
        for host in list(h.cluster.hosts.values()):
            if host.id not in leader.config.members and host.node is not None:
                self.command({"type": "crash", "node": host.id})
        assert h.run_until_condition(lambda c: c.leader is not None, max_ms=20_000)


class RaftCompactingUnderFaults(RaftUnderFaults):
    """The same faults with log compaction on (section 7): tiny thresholds and chunks, so
    snapshots, InstallSnapshot transfers, lost and duplicated chunks and restarts from a
    snapshot all happen, interleaved with everything else."""

    @initialize(
        size=st.integers(min_value=1, max_value=7),
        seed=st.integers(min_value=0, max_value=2**32),
        pre_vote=st.booleans(),
        check_quorum=st.booleans(),
        fast_backup=st.booleans(),
        threshold=st.sampled_from([1, 2, 3, 5]),
        chunk=st.sampled_from([16, 48, 200]),
    )
    def build(  # type: ignore[override]
        self,
        size: int,
        seed: int,
        pre_vote: bool,
        check_quorum: bool,
        fast_backup: bool,
        threshold: int,
        chunk: int,
    ) -> None:
        settings = RaftSettings(
            pre_vote=pre_vote,
            check_quorum=check_quorum,
            fast_backup=fast_backup,
            snapshot_threshold=threshold,
            snapshot_chunk_size=chunk,
        )
        self.history = History(
            ClusterConfig(size=size, seed=seed, settings=settings), checkpoint_every=250.0
        )
        self.size = size

    @rule(i=NODE_INDEX)
    def snapshot_now(self, i: int) -> None:
        self.command({"type": "snapshot", "node": self.node(i)})

    @rule(rate=st.sampled_from([0.0, 20.0]))
    def workload(self, rate: float) -> None:
        """Background writes, so logs outgrow the threshold while faults come and go."""
        self.command({"type": "workload", "rate": rate, "keys": 3})

    @precondition(lambda self: hasattr(self, "history"))
    @rule()
    def settle_and_check_liveness(self) -> None:
        """As for every Raft run, once the background writes stop too."""
        self.command({"type": "workload", "rate": 0.0})
        super().settle_and_check_liveness()

    @rule(threshold=st.sampled_from([0, 1, 3]))
    def change_threshold(self, threshold: int) -> None:
        self.command({"type": "settings", "changes": {"snapshot_threshold": threshold}})

    @invariant()
    def snapshots_cover_only_applied_entries(self) -> None:
        for host in self.history.cluster.hosts.values():
            n = host.node
            if n is None:
                continue
            snap = getattr(n, "snapshot", None)
            index = n.log.snapshot_index  # type: ignore[union-attr]
            assert (snap.last_included_index if snap else 0) == index
            assert index <= n.last_applied <= n.commit_index <= n.log.last_index  # type: ignore[union-attr]


class PaxosUnderFaults(RaftUnderFaults):
    """The same faults and client operations against Multi-Paxos and Basic Paxos."""

    @initialize(
        size=st.integers(min_value=1, max_value=7),
        seed=st.integers(min_value=0, max_value=2**32),
        mode=st.sampled_from(["multi", "multi", "basic"]),
        backoff=st.booleans(),
    )
    def build(self, size: int, seed: int, mode: str, backoff: bool) -> None:  # type: ignore[override]
        config = config_from_json(
            {
                "protocol": "paxos",
                "size": size,
                "seed": seed,
                "paxos": {"mode": mode, "backoff": backoff or mode == "multi"},
            }
        )
        self.history = History(config, checkpoint_every=250.0)
        self.size = size
        self.basic = mode == "basic"

    @rule()
    def settle_and_check_liveness(self) -> None:
        """Multi-Paxos converges once faults stop; Basic Paxos decides at most one value."""
        if self.basic:
            return  # a single decree: liveness is the dueling-proposers lesson, not a property
        super().settle_and_check_liveness()


SETTINGS = settings(
    settings(),
    # 60 runs of 40 steps: thousands of random steps per protocol, in well under a minute each.
    max_examples=min(settings().max_examples, 60),
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestRaftUnderFaults = RaftUnderFaults.TestCase
TestRaftUnderFaults.settings = SETTINGS
TestRaftMembershipUnderFaults = RaftMembershipUnderFaults.TestCase
TestRaftMembershipUnderFaults.settings = SETTINGS
TestRaftCompactingUnderFaults = RaftCompactingUnderFaults.TestCase
TestRaftCompactingUnderFaults.settings = SETTINGS
TestPaxosUnderFaults = PaxosUnderFaults.TestCase
TestPaxosUnderFaults.settings = SETTINGS
