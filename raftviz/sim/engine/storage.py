"""Stable storage: a Raft server persists its term, vote and new log entries before it replies.

Raft's Figure 2 calls ``currentTerm``, ``votedFor`` and ``log[]`` persistent state, "updated on
stable storage before responding to RPCs". The core node changes that state in memory and
hands back the messages it wants sent; the simulation plays the disk, as an etcd application
does with a ``Ready``: after each step it compares the node's persistent state with what was
last written and, if it changed, starts a write and holds the step's messages until the write
has been fsynced. Messages of a later step wait behind any write still in progress, so nothing
a node says ever depends on state a crash could take away.

Like a real disk, writes queue and batch: while one fsync is in progress every further change
joins a single queued write, which captures the node's state when it starts. Each node has its
own fsync latency; a slow disk is just a node whose fsync takes long. A crash loses what was not
yet fsynced: the node restarts from the last durable state, and the messages it held are never
sent (the node never replied, so forgetting a vote or an entry is safe).

The leader's own copy of an entry counts towards the commit only once its disk has it (the
simulation reports completed writes with :meth:`RaftNode.persisted`). The thesis's optimisation
of a leader writing in parallel with replicating (section 10.2.1) is not modelled: a leader's
AppendEntries wait for its own write like every other message.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from raftviz.core.messages import Message
from raftviz.core.raft import PersistentState, RaftNode

DEFAULT_FSYNC_MS = 2.0  # a datacenter SSD's fsync; the network's default is 10-20 ms one way
MAX_FSYNC_MS = 10_000.0

# (current_term, voted_for, last log index, chain digest of the log, snapshot index): equal
# signatures mean equal persistent state, since the digest covers every entry and the
# snapshot's state machine is the one its index and the log determine.
Signature = tuple[int, str | None, int, int, int]


def signature(
    term: int, voted_for: str | None, log_last: int, log_digest: int, snapshot_index: int = 0
) -> Signature:
    return (term, voted_for, log_last, log_digest, snapshot_index)


def node_signature(node: RaftNode) -> Signature:
    """The signature of what the node says it persists (:meth:`RaftNode.persistent_state`).

    Read from the node directly: this runs after every step of every node.
    """
    log = node.log
    last = log.last_index
    return (node.current_term, node.voted_for, last, log.digest(last), log.snapshot_index)


def state_signature(state: PersistentState) -> Signature:
    return signature(state.current_term, state.voted_for, state.log.last_index,
                     state.log.digest(state.log.last_index), state.log.snapshot_index)


def copy_state(node: RaftNode | PersistentState) -> PersistentState:
    """A private copy (full log chunks are shared, so this copies at most the log's tail).

    A node's state is what it says it persists (:meth:`RaftNode.persistent_state`). The
    configuration history is derived from the log's entries, so the log's signature covers it;
    it is copied along so a restart sees the same configurations.
    """
    state = node.persistent_state() if isinstance(node, RaftNode) else node
    configs = state.configs
    return PersistentState(
        state.current_term, state.voted_for, state.log.copy(),
        configs.copy() if configs is not None else None,
        state.snapshot,  # a snapshot is never changed in place
    )


@dataclass(slots=True)
class Write:
    """One fsync in progress: the state it makes durable and the messages waiting for it."""

    state: PersistentState
    started_at: float
    done_at: float
    messages: list[Message] = field(default_factory=list)


class Disk:
    """One node's stable storage: what is durable, the write in progress and the queued one."""

    __slots__ = ("fsync_ms", "durable", "written", "writing", "queued", "writes")

    def __init__(self, fsync_ms: float, state: PersistentState) -> None:
        self.fsync_ms = fsync_ms
        self.durable = copy_state(state)
        self.written = state_signature(state)  # the newest state written or being written
        self.writing: Write | None = None
        # Messages that wait for a write not started yet (None: no write queued).
        self.queued: list[Message] | None = None
        self.writes = 0  # fsyncs completed, for the inspector

    @property
    def busy(self) -> bool:
        return self.writing is not None

    def submit(self, node: RaftNode, messages: tuple[Message, ...], now: float) -> list[Message]:
        """Take one step's messages; returns those that may go now (nothing to wait for)."""
        changed = node_signature(node) != self.written
        if not changed and self.queued is None:
            if self.writing is None:
                return list(messages)
            self.writing.messages.extend(messages)  # they rest on state this write carries
            return []
        if self.queued is None:
            self.queued = []
        self.queued.extend(messages)
        if self.writing is None:
            self.start(node, now)
        return []

    def start(self, node: RaftNode, now: float) -> None:
        """Start the queued write: it captures the node's state as it is now."""
        assert self.writing is None and self.queued is not None
        self.writing = Write(copy_state(node), now, now + self.fsync_ms, self.queued)
        self.written = node_signature(node)
        self.queued = None

    def complete(self) -> Write:
        """The write in progress is on disk: it becomes the durable state."""
        done = self.writing
        assert done is not None
        self.durable = done.state
        self.writing = None
        self.writes += 1
        return done

    def restart_state(self) -> PersistentState:
        """What a crash leaves: a copy of the durable state (the restarted node changes its own)."""
        return copy_state(self.durable)

    def held(self) -> int:
        """Messages waiting for the disk."""
        waiting = len(self.writing.messages) if self.writing is not None else 0
        return waiting + (len(self.queued) if self.queued is not None else 0)


def describe_loss(live: RaftNode, durable: PersistentState) -> str:
    """What a crash took away from ``live``, in words ("" when everything was durable)."""
    lost = []
    if live.current_term != durable.current_term:
        lost.append(f"term {live.current_term} (back to {durable.current_term})")
    if live.voted_for != durable.voted_for and live.voted_for is not None:
        lost.append(f"its vote for {live.voted_for}")
    log, kept = live.log, durable.log
    # Equal digests mean equal prefixes, so the longest common prefix is found by bisection,
    # from where both logs still know their digests (a compacted prefix is in the snapshot).
    top = min(log.last_index, kept.last_index)
    lo = max(log.snapshot_index, kept.snapshot_index)
    if lo > top or log.digest(lo) != kept.digest(lo):
        same = top  # the difference lies inside a snapshot: count what the disk lacks
    else:
        same = lo
        while same < top:
            mid = (same + top + 1) // 2
            if log.digest(mid) == kept.digest(mid):
                same = mid
            else:
                top = mid - 1
    if log.last_index > same:
        n = log.last_index - same
        lost.append(f"{n} log entr{'y' if n == 1 else 'ies'} from index {same + 1}")
    return ", ".join(lost)
