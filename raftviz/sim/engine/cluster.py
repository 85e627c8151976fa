"""A deterministic cluster: Raft nodes, the network, clients and faults on one event loop.

:class:`Cluster` owns simulated time. Everything it does is driven by its scheduler and by the
methods the command dispatcher calls, and every random choice comes from generators seeded from
the cluster's seed, so the same configuration and commands always give the same run.

Each node has its own clock, which may drift (``clock_rate``) or freeze while the node is paused
with ``freeze_clock`` (a suspended virtual machine). The node only ever sees its own clock;
the cluster converts between node time and simulated real time.
"""

from __future__ import annotations

import copy
import math
import random
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from raftviz.core.log import RaftLog
from raftviz.core.messages import (
    ClientReply,
    ClientRequest,
    Command,
    Event,
    LogEntry,
    Message,
    Op,
    ReadMode,
    RequestVote,
    RequestVoteReply,
)
from raftviz.core.paxos import PaxosNode, PaxosPersistent, PaxosSettings
from raftviz.core.raft import Output, PersistentState, RaftNode, RaftSettings, Role
from raftviz.sim import config as config_schema
from raftviz.sim.checks.linearizability import LinearizabilityChecker, OpKind
from raftviz.sim.checks.linearizability import Op as LinOp
from raftviz.sim.checks.membership_invariants import ConfigurationCheck
from raftviz.sim.checks.paxos_invariants import PaxosMonitor
from raftviz.sim.checks.raft_invariants import Monitor, SafetyMonitor
from raftviz.sim.config import MAX_NODES as MAX_NODES
from raftviz.sim.engine.clients import Client, ClientSettings, OpRecord, Status
from raftviz.sim.engine.errors import CommandError as CommandError
from raftviz.sim.engine.network import Drop, Envelope, LinkParams, Network
from raftviz.sim.engine.scheduler import (
    ClientTimer,
    Deliver,
    DiskDone,
    NodeTimer,
    Scheduler,
    WorkloadTick,
)
from raftviz.sim.engine.storage import DEFAULT_FSYNC_MS, MAX_FSYNC_MS, Disk, describe_loss
from raftviz.sim.record import NETWORK, MarkKind, Outcome, Recorder

Node = RaftNode | PaxosNode
Settings = RaftSettings | PaxosSettings
NO_DATA: Mapping[str, Any] = MappingProxyType({})  # shared by the many events without data
# How many narrated events a checkpoint keeps: what a full frame shows. Checkpoints keeping
# longer tails kept most of a long session's events alive.
CHECKPOINT_EVENTS = 50
MAX_CLIENTS = 32
EVENT_HISTORY = 2000
MILESTONE_KINDS = frozenset(
    {"election", "leader", "step_down", "fault", "network", "violation", "command", "settings"}
)


@dataclass(frozen=True, slots=True)
class NodeInit:
    """A node's persistent state at the start of a run (to set up the paper's figures)."""

    term: int = 0
    voted_for: str | None = None
    log: tuple[LogEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """Everything needed to build a cluster; with the command log it reproduces a run."""

    size: int = 5
    seed: int = 1
    protocol: str = "raft"
    settings: RaftSettings = field(default_factory=RaftSettings)
    network: LinkParams = field(default_factory=LinkParams)
    clients: ClientSettings = field(default_factory=ClientSettings)
    initial: tuple[tuple[str, NodeInit], ...] = ()
    paxos: PaxosSettings = field(default_factory=PaxosSettings)
    fsync_ms: float = DEFAULT_FSYNC_MS  # every Raft node's disk (see sim/engine/storage.py)

    @property
    def protocol_settings(self) -> Settings:
        """The settings of the protocol this cluster runs."""
        return self.paxos if self.protocol == "paxos" else self.settings

    def node_ids(self) -> tuple[str, ...]:
        return tuple(f"n{i}" for i in range(1, self.size + 1))

    def validate(self) -> None:
        """Check every field against the one schema (raftviz/sim/config.py)."""
        for name in ("size", "seed", "protocol"):
            config_schema.check_value("config", name, getattr(self, name), f"config.{name}")
        if self.protocol == "paxos" and self.initial:
            raise CommandError("initial logs are for Raft clusters; Paxos starts empty")
        section = "paxos" if self.protocol == "paxos" else "settings"
        config_schema.check(section, self.protocol_settings, f"config.{section}")
        config_schema.check("network", self.network, "config.network")
        config_schema.check("clients", self.clients, "config.clients")
        if not 0 <= self.fsync_ms <= MAX_FSYNC_MS:
            raise CommandError(f"fsync_ms must be 0..{MAX_FSYNC_MS:g} ms, got {self.fsync_ms}")
        ids = set(self.node_ids())
        for node, _init in self.initial:
            if node not in ids:
                raise CommandError(f"initial state names unknown node {node!r}")


@dataclass(frozen=True, slots=True)
class Narration:
    """An event in plain words, stamped with simulated time and a sequence number."""

    seq: int
    time: float
    node: str
    kind: str
    text: str
    data: Mapping[str, Any] = field(default_factory=lambda: NO_DATA, compare=False, hash=False)

    def __deepcopy__(self, memo: dict[int, Any]) -> Narration:
        return self


class NodeHost:
    """A node's place in the cluster: the node (None while crashed), its clock and faults."""

    def __init__(self, node_id: str) -> None:
        self.id = node_id
        self.node: Node | None = None
        self.persistent: PersistentState | PaxosPersistent = PersistentState()
        self.incarnation = 0
        self.paused = False
        self.freeze_clock = False
        self.clock_rate = 1.0
        self.clock_base_real = 0.0
        self.clock_base_local = 0.0
        self.inbox: list[Message] = []
        self.timer_generation = 0
        self.timer_at: float | None = None
        self.disk: Disk | None = None  # Raft nodes only
        self.fsync_ms = 0.0
        self.disk_generation = 0

    @property
    def crashed(self) -> bool:
        return self.node is None

    @property
    def live(self) -> bool:
        return self.node is not None and not self.paused

    def local(self, real: float) -> float:
        """This node's clock reading at simulated real time ``real``."""
        if self.paused and self.freeze_clock:
            return self.clock_base_local
        return self.clock_base_local + self.clock_rate * (real - self.clock_base_real)

    def to_real(self, local: float) -> float:
        return self.clock_base_real + (local - self.clock_base_local) / self.clock_rate

    def rebase(self, real: float) -> None:
        self.clock_base_local = self.local(real)
        self.clock_base_real = real


class Cluster:
    """Nodes, network, clients and checkers on one deterministic event loop."""

    # Deques of immutable records: a checkpoint copies the deque, not each record, and keeps
    # only the tail a snapshot can show, so checkpoints do not keep every old event alive.
    _CHECKPOINT_TAIL = {
        "narration": CHECKPOINT_EVENTS,
        "ops": 50,
        "dropped_recent": 100,
        "milestones": None,
    }

    def __deepcopy__(self, memo: dict[int, Any]) -> Cluster:
        clone = Cluster.__new__(Cluster)
        memo[id(self)] = clone
        for name, value in self.__dict__.items():
            if name in self._CHECKPOINT_TAIL:
                keep = self._CHECKPOINT_TAIL[name]
                tail = list(value)[-keep:] if keep else list(value)
                setattr(clone, name, deque(tail, maxlen=value.maxlen))
            else:
                setattr(clone, name, copy.deepcopy(value, memo))
        return clone

    def __init__(self, config: ClusterConfig, keep_history: bool = False) -> None:
        config.validate()
        self.config = config
        self.settings: Settings = config.protocol_settings
        self.client_settings = config.clients
        self.node_ids = config.node_ids()
        self.now = 0.0
        self.events_processed = 0
        self.scheduler = Scheduler()
        self.network = Network(random.Random(f"{config.seed}:net"), config.network)
        self.workload_rng = random.Random(f"{config.seed}:workload")
        self.hosts: dict[str, NodeHost] = {n: NodeHost(n) for n in self.node_ids}
        self.clients: dict[str, Client] = {}
        self.resource_token = 0
        self.resource_value: str | None = None
        self.next_op_id = 1
        self.narration: deque[Narration] = deque(maxlen=EVENT_HISTORY)
        self.milestones: deque[Narration] = deque(maxlen=EVENT_HISTORY)
        self.next_event_seq = 1
        self.ops: deque[OpRecord] = deque(maxlen=None if keep_history else 500)
        self.monitor: Monitor = (
            PaxosMonitor(self.node_ids) if config.protocol == "paxos"
            else SafetyMonitor(self.node_ids)
        )
        self.linearizability = LinearizabilityChecker()
        self.config_check = ConfigurationCheck() if config.protocol == "raft" else None
        self.metrics: dict[str, float] = {
            "elections": 0,
            "leader_changes": 0,
            "no_leader_ms": 0.0,
            "ops_ok": 0,
            "ops_failed": 0,
            "ops_unknown": 0,
        }
        # Recently lost envelopes with when and why, for the UI's "lost" animation.
        self.dropped_recent: deque[tuple[Envelope, float, str]] = deque(maxlen=100)
        self.leader: str | None = None
        self.leader_term = 0
        # Nodes forced to time out inside a lease (see timeout_now); flagged in snapshots.
        self.lease_breakers: set[str] = set()
        self.workload: dict[str, Any] | None = None
        self.workload_generation = 0
        # The whole-run record for the space-time view (raftviz/sim/record.py); History turns
        # it on, a bare cluster records nothing.
        self.record: Recorder | None = None
        initial = dict(config.initial)
        for node_id, host in self.hosts.items():
            host.fsync_ms = config.fsync_ms
            if config.protocol == "paxos":
                host.persistent = PaxosPersistent()
            init = initial.get(node_id)
            if init is not None:
                host.persistent = PersistentState(init.term, init.voted_for, RaftLog(init.log))
            self._boot(host)
        self.monitor.observe(self, list(self.hosts.values()))
        self.update_leader()

    # ------------------------------------------------------------ running time

    def step(self) -> bool:
        """Process exactly one event; False when nothing is scheduled."""
        if self.scheduler.peek() is None:
            return False
        time, event = self.scheduler.pop()
        self._set_now(max(time, self.now))
        self.events_processed += 1
        # Most frequent first: an isinstance chain costs less than a match on class patterns.
        if isinstance(event, Deliver):
            self._on_deliver(event.envelope_id)
        elif isinstance(event, DiskDone):
            self._on_disk_done(event.node, event.generation)
        elif isinstance(event, NodeTimer):
            self._on_node_timer(event)
        elif isinstance(event, WorkloadTick):
            self._on_workload_tick(event.generation)
        else:
            self._on_client_timer(event.client, event.generation)
        return True

    def next_event_time(self) -> float | None:
        return self.scheduler.peek()

    def run_until(self, time: float) -> None:
        """Process every event up to and including ``time``, then stand at ``time``."""
        while True:
            t = self.scheduler.peek()
            if t is None or t > time:
                break
            self.step()
        if time > self.now:
            self._set_now(time)

    def run_for(self, ms: float) -> None:
        self.run_until(self.now + ms)

    def _set_now(self, t: float) -> None:
        if self.leader is None:
            self.metrics["no_leader_ms"] += t - self.now
        self.now = float(t)

    # --------------------------------------------------------------- nodes

    def _boot(self, host: NodeHost) -> None:
        rng = random.Random(f"{self.config.seed}:{host.id}:{host.incarnation}")
        local = host.local(self.now)
        p, s = host.persistent, self.settings
        if isinstance(p, PaxosPersistent) and isinstance(s, PaxosSettings):
            host.node = PaxosNode(host.id, self.node_ids, s, rng, local, p)
        elif isinstance(p, PersistentState) and isinstance(s, RaftSettings):
            # The initial voters: a server added later learns the rest from the leader's log.
            host.node = RaftNode(host.id, self.config.node_ids(), s, rng, local, p)
            host.disk = Disk(host.fsync_ms, p)
            host.node.durable_index = p.log.last_index
        else:  # pragma: no cover - the constructor keeps them in step
            raise TypeError(f"{host.id}: persistent state does not match the protocol")
        host.timer_at = None
        self._reschedule_timer(host)

    def _run(self, host: NodeHost, out: Output) -> None:
        """Record a node's events, send its messages once its disk allows, re-arm its timer,
        check invariants."""
        if out.events:
            self._narrate_all(out.events)
        messages: Sequence[Message] = out.messages
        disk, node = host.disk, host.node
        started = False
        if disk is not None and isinstance(node, RaftNode):
            idle = disk.writing is None
            messages = disk.submit(node, out.messages, self.now)
            started = idle and disk.writing is not None
        for msg in messages:
            self._send(msg)
        self._reschedule_timer(host)
        self.monitor.observe(self, [host], out.events)
        if self.config_check is not None and out.events:
            self.config_check.observe(self, host, out.events)
        node = host.node
        if self.record is not None and node is not None:
            self.record.observe(self.now, host.id, node.role, node.current_term, node.commit_index)
        if out.events and any(e.kind in ("leader", "step_down", "term", "election")
                              for e in out.events):
            self.update_leader()
        if started:
            self._schedule_disk(host)

    # ---------------------------------------------------------------- storage

    def _schedule_disk(self, host: NodeHost) -> None:
        """Arm the completion of the write that just started (at once for a 0 ms fsync)."""
        assert host.disk is not None and host.disk.writing is not None
        if host.disk.fsync_ms == 0:
            self._complete_write(host)
        else:
            self.scheduler.schedule(
                host.disk.writing.done_at, DiskDone(host.id, host.disk_generation)
            )

    def _on_disk_done(self, node_id: str, generation: int) -> None:
        host = self.hosts[node_id]
        if generation != host.disk_generation or host.node is None or host.paused:
            return  # crashed since (the write is lost) or paused (finished on resume)
        self._complete_write(host)

    def _complete_write(self, host: NodeHost) -> None:
        """The fsync is done: release the messages that waited for it, start the queued write."""
        disk, node = host.disk, host.node
        assert disk is not None and isinstance(node, RaftNode)
        done = disk.complete()
        for msg in done.messages:
            self._send(msg)
        if disk.queued is not None:
            disk.start(node, self.now)
            self._schedule_disk(host)
        out = node.persisted(done.state.log.last_index, host.local(self.now))
        if out.messages or out.events:  # usually a follower, for which nothing follows
            self._run(host, out)

    def set_disk(self, node: str | None, fsync_ms: float) -> None:
        """Set one node's fsync latency (a slow disk), or every node's when ``node`` is None."""
        hosts = [self.require_node(node)] if node is not None else list(self.hosts.values())
        if not 0 <= fsync_ms <= MAX_FSYNC_MS:
            raise CommandError(f"fsync_ms must be 0..{MAX_FSYNC_MS:g} ms, got {fsync_ms:g}")
        if self.config.protocol != "raft":
            raise CommandError("the disk model is for Raft clusters")
        for host in hosts:
            host.fsync_ms = fsync_ms
            if host.disk is not None:
                host.disk.fsync_ms = fsync_ms  # from the next write on
        who = node if node is not None else "every node"
        slow = " (a slow disk)" if fsync_ms > self.config.fsync_ms else ""
        self._narrate(
            node or "cluster", "fault", f"{who}: an fsync now takes {fsync_ms:g} ms{slow}"
        )

    def _reschedule_timer(self, host: NodeHost) -> None:
        node = host.node
        if node is None or host.paused:
            return
        local = node.next_wakeup()
        if math.isinf(local):
            return  # an idle Basic Paxos node waits for a message, not a timer
        real = max(host.to_real(local), self.now)
        # Keep one timer per node: an earlier deadline needs a new event; a later one is
        # picked up when the current event fires (so a follower's many resets cost nothing).
        if host.timer_at is None or real < host.timer_at:
            host.timer_generation += 1
            host.timer_at = real
            self.scheduler.schedule(real, NodeTimer(host.id, host.timer_generation, local))

    def _on_node_timer(self, event: NodeTimer) -> None:
        host = self.hosts[event.node]
        if event.generation != host.timer_generation or host.node is None or host.paused:
            return
        host.timer_at = None
        node = host.node
        local = max(host.local(self.now), event.local_time)
        if local < node.next_wakeup():
            self._reschedule_timer(host)  # the deadline moved later since this was set
            return
        self._run(host, node.tick(local))

    def _send(self, msg: Message) -> None:
        if isinstance(msg, (RequestVote, RequestVoteReply)):
            self.monitor.note_sent(msg)
        record, network = self.record, self.network
        for env in network.send(msg, self.now):
            if record is not None:
                record.sent(env.id, msg, self.now, env.duplicate)
            if not network.manual:
                self.scheduler.schedule(env.deliver_at, Deliver(env.id))

    def _on_deliver(self, envelope_id: int) -> None:
        env = self.network.in_flight.get(envelope_id)
        if env is None:
            return
        if self.network.manual:
            return  # held: the user delivers or drops it by hand
        self._arrive(envelope_id)

    def _arrive(self, envelope_id: int) -> None:
        env = self.network.take(envelope_id)
        if env is None:
            return
        msg = env.msg
        try:
            self.network.arrive(env)
        except Drop as why:
            self._note_drop(env, str(why))
            return
        host = self.hosts.get(msg.dst)
        if host is not None:
            if host.node is None:
                self._note_drop(env, f"{msg.dst} is down")
            elif host.paused:
                self._note_arrival(env, Outcome.QUEUED)
                host.inbox.append(msg)
            else:
                self._note_arrival(env, Outcome.DELIVERED)
                self._run(host, host.node.step(msg, host.local(self.now)))
            return
        client = self.clients.get(msg.dst)
        self._note_arrival(env, Outcome.QUEUED if client and client.paused else Outcome.DELIVERED)
        if client is not None and isinstance(msg, ClientReply):
            if client.paused:
                client.inbox.append(msg)
            else:
                self._client_reply(client, msg)

    def _note_drop(self, env: Envelope, why: str) -> None:
        self.dropped_recent.append((env, self.now, why))
        if self.record is not None:
            self.record.dropped(env.id, self.now, why)

    def _note_arrival(self, env: Envelope, outcome: Outcome) -> None:
        if self.record is not None:
            self.record.ended(env.id, self.now, outcome)

    def _mark(self, node: str, kind: MarkKind) -> None:
        """Put a fault or network change on the run record (see raftviz/sim/record.py)."""
        if self.record is None:
            return
        host = self.hosts.get(node)
        term = host.node.current_term if host is not None and host.node is not None else 0
        if kind is MarkKind.CRASH:
            self.record.forget(node)
        self.record.mark(self.now, node, kind, term)

    def fork_record(self) -> None:
        """Cut the run record at this instant: a new command after a jump back forks the run."""
        if self.record is not None:
            self.record.fork(self.network.next_id, self.network.in_flight, self.now)

    # --------------------------------------------------------------- clients

    def client(self, client_id: str | None) -> Client:
        """The named client (created on first use), or an idle one."""
        if client_id is None:
            for c in self.clients.values():
                if not c.busy and not c.id.startswith("w"):
                    return c
            client_id = f"c{sum(1 for c in self.clients if c.startswith('c')) + 1}"
        existing = self.clients.get(client_id)
        if existing is not None:
            return existing
        if client_id in self.hosts:
            raise CommandError(f"{client_id!r} is a node id, not a client id")
        if len(self.clients) >= MAX_CLIENTS:
            raise CommandError(f"at most {MAX_CLIENTS} clients per cluster")
        # Workload clients share one generator: each Random carries 2.5 KB of state that
        # every checkpoint would copy.
        rng = (
            self.workload_rng
            if client_id.startswith("w")
            else random.Random(f"{self.config.seed}:{client_id}")
        )
        c = Client(client_id, self.node_ids, rng)
        self.clients[client_id] = c
        return c

    def submit(
        self,
        command: Command,
        read_mode: ReadMode = ReadMode.LOG,
        node: str | None = None,
        client_id: str | None = None,
    ) -> OpRecord:
        """Start a client operation; returns its pending record."""
        if node is not None:
            self.require_node(node)
        client = self.client(client_id)
        if client.busy:
            raise CommandError(
                f"client {client.id} is still waiting for operation "
                f"#{client.pending.op_id if client.pending else '?'}; use another client"
            )
        request = self._start_op(client, command, read_mode, node)
        record = client.pending_record()
        assert record is not None
        self._narrate(client.id, "client", f"{client.id} sent {request.summary()} to {request.dst}")
        return record

    def _start_op(
        self, client: Client, command: Command, read_mode: ReadMode, node: str | None
    ) -> ClientRequest:
        """Start an operation on an idle client and tell the linearizability checker."""
        op_id = self.next_op_id
        self.next_op_id += 1
        request = client.start(op_id, command, read_mode, self.now, self.client_settings, node)
        self._send(request)
        self._arm_client(client)
        record = client.pending_record()
        assert record is not None
        lin = _linearizability_op(record)
        if lin is not None:
            self.linearizability.add_invoke(lin)
        return request

    def _arm_client(self, client: Client) -> None:
        if client.timer_at is not None and not client.paused:
            client.timer_generation += 1
            self.scheduler.schedule(
                client.timer_at, ClientTimer(client.id, client.timer_generation)
            )

    def _client_reply(self, client: Client, reply: ClientReply) -> None:
        record = client.on_reply(reply, self.now, self.client_settings)
        if record is not None:
            self._finish_op(record)
        else:
            self._arm_client(client)

    def _on_client_timer(self, client_id: str, generation: int) -> None:
        client = self.clients.get(client_id)
        if client is None or client.paused or generation != client.timer_generation:
            return
        outcome = client.on_timer(self.now, self.client_settings)
        if isinstance(outcome, OpRecord):
            self._finish_op(outcome)
        elif outcome is not None:
            self._send(outcome)
            self._arm_client(client)

    def _finish_op(self, record: OpRecord) -> None:
        self.ops.append(record)
        self.metrics[f"ops_{record.status}"] = self.metrics.get(f"ops_{record.status}", 0) + 1
        verdict = record.result.describe() if record.result else record.error
        self._narrate(
            record.client,
            "client",
            f"{record.client} got {record.status} for #{record.op_id} "
            f"{record.command.describe()}: {verdict}",
        )
        lin = _linearizability_op(record)
        if lin is not None:
            for violation in self.linearizability.add_complete(lin):
                clients = sorted({op.client for op in violation.involved} | {record.client})
                self.monitor.report(self, "Linearizability", violation.explanation, clients, [])

    # --------------------------------------------------------------- workload

    def set_workload(
        self, rate: float, read_ratio: float, keys: int, read_mode: ReadMode
    ) -> None:
        """Background load: ``rate`` operations per second over ``keys`` keys (0 stops it)."""
        if not 0 <= rate <= 1000:
            raise CommandError(f"workload rate must be 0..1000 operations/s, got {rate}")
        if not 0 <= read_ratio <= 1:
            raise CommandError(f"read ratio must be within 0..1, got {read_ratio}")
        if not 1 <= keys <= 100:
            raise CommandError(f"workload keys must be 1..100, got {keys}")
        self.workload_generation += 1
        if rate == 0:
            self.workload = None
            return
        self.workload = {
            "rate": rate,
            "read_ratio": read_ratio,
            "keys": keys,
            "read_mode": read_mode,
        }
        self.scheduler.schedule(
            self.now + 1000.0 / rate, WorkloadTick(self.workload_generation)
        )

    def _on_workload_tick(self, generation: int) -> None:
        w = self.workload
        if w is None or generation != self.workload_generation:
            return
        self.scheduler.schedule(self.now + 1000.0 / w["rate"], WorkloadTick(generation))
        client = next((c for c in self.clients.values()
                       if c.id.startswith("w") and not c.busy and not c.paused), None)
        if client is None:
            pool = sum(1 for c in self.clients if c.startswith("w"))
            if pool >= 16 or len(self.clients) >= MAX_CLIENTS:
                return  # every workload client is waiting: the cluster is not keeping up
            client = self.client(f"w{pool + 1}")
        key = f"k{self.workload_rng.randrange(w['keys'])}"
        if self.workload_rng.random() < w["read_ratio"]:
            cmd = Command(Op.GET, key)
            mode: ReadMode = w["read_mode"]
        else:
            cmd = Command(Op.SET, key, f"v{self.next_op_id}")
            mode = ReadMode.LOG
        self._start_op(client, cmd, mode, None)

    # ------------------------------------------------------------ observations

    def require_node(self, node: str) -> NodeHost:
        host = self.hosts.get(node)
        if host is None:
            raise CommandError(
                f"unknown node {node!r}; this cluster has {self.node_ids[0]}..{self.node_ids[-1]}"
            )
        return host

    def live_nodes(self) -> list[Node]:
        return [h.node for h in self.hosts.values() if h.node is not None and not h.paused]

    def leaders(self) -> list[str]:
        return [
            h.id
            for h in self.hosts.values()
            if h.node is not None and h.node.role is Role.LEADER
        ]

    def update_leader(self) -> None:
        """The leader is the live (running, unpaused) leader of the highest term.

        A candidate stuck alone in a higher term does not depose a leader that still leads
        the majority, so only leaders' terms are compared.
        """
        leaders = [
            h.node
            for h in self.hosts.values()
            if h.node is not None and not h.paused and h.node.role is Role.LEADER
        ]
        top = max(leaders, key=lambda n: n.current_term, default=None)
        leader = top.id if top is not None else None
        if top is not None and (top.id, top.current_term) != (self.leader, self.leader_term):
            self.metrics["leader_changes"] += 1
            self.leader_term = top.current_term
        self.leader = leader

    def _narrate(self, node: str, kind: str, text: str, **data: Any) -> Narration:
        n = Narration(
            self.next_event_seq, round(self.now, 3), node, kind, text, data or NO_DATA
        )
        self.next_event_seq += 1
        self.narration.append(n)
        if kind in MILESTONE_KINDS:
            self.milestones.append(n)
        if kind == "election":
            self.metrics["elections"] += 1
        return n

    def _narrate_all(self, events: tuple[Event, ...]) -> None:
        for e in events:
            self._narrate(e.node, e.kind, e.text, **e.data)

    # ---------------------------------------------------------------- faults

    def crash(self, node: str) -> None:
        host = self.require_node(node)
        if host.node is None:
            raise CommandError(f"{node} is already down")
        self._mark(node, MarkKind.CRASH)
        lost, held = "", 0
        if host.disk is not None and isinstance(host.node, RaftNode):
            lost = describe_loss(host.node, host.disk.durable)
            held = host.disk.held()
            host.persistent = host.disk.restart_state()
            host.disk = None
            host.disk_generation += 1
        else:
            host.persistent = host.node.persistent_state()
        host.node = None
        host.inbox.clear()
        host.rebase(self.now)  # a frozen clock restarts with the machine
        host.paused = False
        host.freeze_clock = False
        host.timer_generation += 1
        host.timer_at = None
        text = f"{node} crashed (term, vote and log are kept on disk)"
        if lost:
            unsent = (
                f"; {held} held message{' was' if held == 1 else 's were'} never sent"
                if held else ""
            )
            text = f"{node} crashed before its disk had {lost}: that is lost{unsent}"
        self._narrate(node, "fault", text)
        self._after_fault([host])

    def restart(self, node: str) -> None:
        host = self.require_node(node)
        if host.node is not None:
            raise CommandError(f"{node} is running; crash it first")
        host.incarnation += 1
        self._boot(host)
        p = host.persistent
        if isinstance(p, PaxosPersistent):
            kept = (
                f"promised ballot {p.promised_ballot} and {len(p.accepted)} accepted "
                f"proposals; it learns the chosen values again"
            )
        elif p.snapshot is not None:
            kept = (
                f"term {p.current_term}, its snapshot through index {p.log.snapshot_index} and "
                f"{len(p.log)} log entries after it; it loaded the snapshot, so its commit "
                f"index starts at {p.log.snapshot_index}"
            )
        else:
            kept = (
                f"term {p.current_term} and {p.log.last_index} log entries; commit index "
                f"starts at 0"
            )
        self._mark(node, MarkKind.RESTART)
        self._narrate(node, "fault", f"{node} restarted with {kept}")
        self._after_fault([host])

    def pause(self, node: str, freeze_clock: bool = False) -> None:
        host = self.require_node(node)
        if host.node is None:
            raise CommandError(f"{node} is down; restart it instead")
        if host.paused:
            raise CommandError(f"{node} is already paused")
        host.rebase(self.now)
        host.paused = True
        host.freeze_clock = freeze_clock
        host.timer_generation += 1
        host.timer_at = None
        clock = " and its clock stopped" if freeze_clock else ""
        self._mark(node, MarkKind.PAUSE)
        self._narrate(node, "fault", f"{node} froze (a long pause){clock}")
        self._after_fault([host])

    def resume(self, node: str) -> None:
        host = self.require_node(node)
        if not host.paused or host.node is None:
            raise CommandError(f"{node} is not paused")
        host.rebase(self.now)
        host.paused = False
        host.freeze_clock = False
        self._mark(node, MarkKind.RESUME)
        self._narrate(
            node, "fault", f"{node} resumed with {len(host.inbox)} messages waiting"
        )
        disk = host.disk
        if disk is not None and disk.writing is not None and disk.writing.done_at <= self.now:
            self._complete_write(host)  # the fsync finished while the process was frozen
        inbox, host.inbox = host.inbox, []
        for msg in inbox:
            if host.node is None:
                break
            self._run(host, host.node.step(msg, host.local(self.now)))
        if host.node is not None:
            self._run(host, host.node.tick(host.local(self.now)))
        self._after_fault([host])

    def timeout_now(self, node: str) -> None:
        host = self.require_node(node)
        if host.node is None or host.paused:
            raise CommandError(f"{node} is not running")
        n = host.node
        local = host.local(self.now)
        if (
            isinstance(n, RaftNode)
            and n.settings.check_quorum
            and n.role is not Role.LEADER
            and n.in_lease(local)
        ):
            # The lease rests on followers waiting out a timeout after each heartbeat; forcing
            # one to campaign early is, for leases, the same fault as a clock running fast.
            self.lease_breakers.add(node)
            self._narrate(
                node,
                "fault",
                f"{node} was forced to time out inside the leader's lease: lease reads are no "
                f"longer safe",
            )
        self._run(host, n.timeout_now(local))

    def snapshot_now(self, node: str) -> None:
        """Section 7 on demand: the node snapshots its state machine and compacts its log."""
        if self.config.protocol != "raft":
            raise CommandError("snapshots are for Raft clusters; this cluster runs Paxos")
        host = self.require_node(node)
        n = host.node
        if not isinstance(n, RaftNode) or host.paused:
            raise CommandError(f"{node} is not running")
        if n.last_applied <= n.log.snapshot_index:
            raise CommandError(
                f"{node} has applied nothing since its snapshot through index "
                f"{n.log.snapshot_index}; commit some entries first"
            )
        self._run(host, n.snapshot_now(host.local(self.now)))

    def set_clock_rate(self, node: str, rate: float) -> None:
        host = self.require_node(node)
        if not 0.1 <= rate <= 10:
            raise CommandError(f"clock rate must be 0.1..10 (1 = accurate), got {rate}")
        host.rebase(self.now)
        host.clock_rate = rate
        host.timer_at = None
        self._reschedule_timer(host)
        self._narrate(node, "fault", f"{node}'s clock now runs at {rate:g}× real time")

    def set_settings(self, changes: dict[str, Any]) -> None:
        section = "paxos" if isinstance(self.settings, PaxosSettings) else "settings"
        new = config_schema.changed(section, self.settings, changes)
        self.settings = new
        for host in self.hosts.values():
            if host.node is not None:
                host.node.update_settings(new, host.local(self.now))  # type: ignore[arg-type]
                host.timer_at = None
                self._reschedule_timer(host)
        described = ", ".join(f"{k}={v}" for k, v in sorted(changes.items()))
        self._narrate("cluster", "settings", f"settings changed: {described}")

    def add_host(self, node: str) -> NodeHost:
        """Start a new server with an empty log (the operator's part of adding a server)."""
        host = NodeHost(node)
        host.clock_base_real = host.clock_base_local = self.now
        host.fsync_ms = self.config.fsync_ms
        self.hosts[node] = host
        self.node_ids = (*self.node_ids, node)
        self._boot(host)
        self._narrate(
            node, "membership", f"{node} started with an empty log; it waits for the leader"
        )
        self._after_fault([host])
        return host

    def _after_fault(self, hosts: list[NodeHost]) -> None:
        self.monitor.observe(self, hosts)
        self.update_leader()

    # ---------------------------------------------------------------- network

    def partition(self, groups: list[list[str]]) -> None:
        for group in groups:
            for node in group:
                self.require_node(node)
        try:
            self.network.partition(groups)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        shown = " | ".join(",".join(g) for g in groups if g)
        self._mark(NETWORK, MarkKind.PARTITION if self.network.groups else MarkKind.HEAL)
        self._narrate("network", "network", f"the network split into {shown}")

    def heal(self) -> None:
        self.network.heal()
        self._mark(NETWORK, MarkKind.HEAL)
        self._narrate("network", "network", "the network healed: every link works again")

    def cut_link(self, src: str, dst: str, both: bool = True) -> None:
        self.require_node(src)
        self.require_node(dst)
        if src == dst:
            raise CommandError("a link joins two different nodes")
        self.network.cut.add((src, dst))
        if both:
            self.network.cut.add((dst, src))
        arrow = "↔" if both else "→"
        self._mark(NETWORK, MarkKind.CUT)
        self._narrate("network", "network", f"link {src}{arrow}{dst} cut")

    def restore_link(self, src: str, dst: str, both: bool = True) -> None:
        self.require_node(src)
        self.require_node(dst)
        self.network.cut.discard((src, dst))
        if both:
            self.network.cut.discard((dst, src))
        arrow = "↔" if both else "→"
        self._mark(NETWORK, MarkKind.CUT)
        self._narrate("network", "network", f"link {src}{arrow}{dst} restored")

    def set_network(self, params: LinkParams, link: tuple[str, str] | None) -> None:
        if link is not None:
            self.require_node(link[0])
            self.require_node(link[1])
        try:
            self.network.set_params(params, link)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        where = f"link {link[0]}↔{link[1]}" if link else "all links"
        self._narrate(
            "network",
            "network",
            f"{where}: latency {params.latency_min:g}-{params.latency_max:g} ms, "
            f"drop {params.drop:.0%}, duplicate {params.duplicate:.0%}",
        )

    def set_dropped_kinds(self, src: str, dst: str, kinds: frozenset[str]) -> None:
        """Scripting: drop every message of these kinds from src to dst ("*": any node)."""
        if kinds:
            self.network.dropped_kinds[(src, dst)] = kinds
        else:
            self.network.dropped_kinds.pop((src, dst), None)
        what = ", ".join(sorted(kinds)) or "nothing"
        self._narrate("network", "network", f"messages {src} → {dst}: dropping {what}")

    def set_jitter(self, ms: float) -> None:
        """Scripting: an extra random delay per message, uniform in [0, ms)."""
        self.network.jitter = ms
        self._narrate("network", "network", f"every message now waits up to {ms:g} ms extra")

    def applied(self, node: str) -> list[dict[str, Any]]:
        """What ``node``'s state machine applied since it last started, in log order.

        Each item is ``{"index", "term", "command"}`` (the command as the UI shows it). A crashed
        node has applied nothing: its state machine is rebuilt from the log after a restart.
        """
        raft = self.require_node(node).node
        if raft is None:
            return []
        if not isinstance(raft, RaftNode):
            raise CommandError("applied works on Raft clusters only")
        return [
            {"index": i, "term": raft.log.entry(i).term,
             "command": raft.log.entry(i).command.describe()}
            for i in range(1, raft.last_applied + 1)
        ]

    def set_manual_delivery(self, on: bool) -> None:
        net = self.network
        if on == net.manual:
            return
        net.manual = on
        if not on:
            # Held messages continue on their way, arriving no earlier than now.
            for env in sorted(net.in_flight.values(), key=lambda e: e.id):
                moved = net.reschedule(env, max(env.deliver_at, self.now))
                self.scheduler.schedule(moved.deliver_at, Deliver(moved.id))
        state = "on: messages wait for you" if on else "off"
        self._narrate("network", "network", f"manual delivery {state}")

    def deliver(self, envelope_id: int) -> None:
        if envelope_id not in self.network.in_flight:
            raise CommandError(f"no message m{envelope_id} in flight")
        self._arrive(envelope_id)

    def drop(self, envelope_id: int) -> None:
        env = self.network.take(envelope_id)
        if env is None:
            raise CommandError(f"no message m{envelope_id} in flight")
        self.network.dropped += 1
        self._note_drop(env, "dropped by you")
        self._narrate(
            "network",
            "network",
            f"you dropped {env.msg.kind} {env.msg.src}→{env.msg.dst} ({env.msg.summary()})",
        )

    # ------------------------------------------------------- clients as faults

    def pause_client(self, client_id: str) -> None:
        client = self.clients.get(client_id)
        if client is None:
            raise CommandError(f"unknown client {client_id!r}")
        client.paused = True
        client.timer_generation += 1
        self._narrate(client_id, "fault", f"client {client_id} froze")

    def resume_client(self, client_id: str) -> None:
        client = self.clients.get(client_id)
        if client is None or not client.paused:
            raise CommandError(f"client {client_id!r} is not paused")
        client.paused = False
        self._narrate(client_id, "fault", f"client {client_id} resumed")
        inbox, client.inbox = client.inbox, []
        for reply in inbox:
            self._client_reply(client, reply)
        if client.pending is not None and client.timer_at is not None:
            client.timer_at = max(client.timer_at, self.now)
            self._arm_client(client)

    def fenced_write(self, client_id: str, value: str) -> bool:
        """The client writes to the protected resource with its latest fencing token."""
        client = self.clients.get(client_id)
        if client is None:
            raise CommandError(f"unknown client {client_id!r}")
        if client.paused:
            raise CommandError(f"client {client_id} is paused")
        token = client.token
        if token == 0:
            raise CommandError(f"client {client_id} holds no fencing token; ACQUIRE a lock first")
        if token < self.resource_token:
            self._narrate(
                client_id,
                "resource",
                f"the storage refused {client_id}'s write {value!r}: token {token} is older "
                f"than {self.resource_token}",
            )
            return False
        self.resource_token = token
        self.resource_value = value
        self._narrate(
            client_id, "resource", f"the storage accepted {client_id}'s write {value!r} "
            f"with token {token}"
        )
        return True


_LIN_KINDS = {Op.SET: OpKind.SET, Op.GET: OpKind.GET, Op.DELETE: OpKind.DELETE, Op.CAS: OpKind.CAS}


def _linearizability_op(record: OpRecord) -> LinOp | None:
    """The checker's view of a finished key-value operation (None for what it ignores)."""
    kind = _LIN_KINDS.get(record.command.op)
    if kind is None:
        return None
    if record.read_mode is ReadMode.FOLLOWER and kind is OpKind.GET:
        return None  # follower reads promise no linearizability; the UI shows them as such
    cmd = record.command
    done = record.status is Status.OK and record.result is not None
    if record.status is Status.FAILED:
        # A refused request took no effect; for the checker that is an op never answered.
        complete = None
    else:
        complete = record.complete
    ok = record.result.ok if (done and record.result and kind is OpKind.CAS) else None
    result = record.result.value if (done and record.result and kind is OpKind.GET) else None
    return LinOp(
        op_id=record.op_id,
        client=record.client,
        kind=kind,
        key=cmd.key,
        value=cmd.value,
        expected=cmd.expected,
        invoke=record.invoke,
        complete=complete,
        result=result,
        ok=ok,
    )
