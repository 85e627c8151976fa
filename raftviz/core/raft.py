"""A Raft node as a pure state machine (Raft paper, Figure 2 and section 5).

The node never touches a clock, a socket or the global random module. The simulation calls
:meth:`RaftNode.step` with a message, :meth:`RaftNode.tick` when the node's next timer is due
and :meth:`RaftNode.timeout_now` when the user forces an election; each returns an
:class:`Output` with the messages to send and plain-word events. ``now`` is always the node's
own clock reading in milliseconds, which may drift from simulated real time. Randomness
(election timeouts) comes from the ``random.Random`` the simulation hands in.

Log compaction (section 7): a server snapshots its state machine when it has applied
``snapshot_threshold`` entries since its last snapshot, or when told to; a leader whose
next_index for a follower falls inside its snapshot sends the snapshot with InstallSnapshot, in
chunks (Fig. 13).

Optional behaviour from the Raft thesis (PreVote, CheckQuorum, ReadIndex and lease reads, fast
log back-up, joint consensus instead of single-server changes) and the teaching modes that
break safety on purpose are switched by :class:`RaftSettings`.

Membership changes (thesis chapter 4, paper section 6) and leadership transfer (thesis 3.10) are
driven by :meth:`RaftNode.add_server`, :meth:`RaftNode.remove_server` and
:meth:`RaftNode.transfer_leadership`, the administrator's requests to the leader. Which servers
vote and which majorities count is the business of :mod:`raftviz.core.membership`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from raftviz.core.compaction import Snapshot, decode_snapshot, encode_snapshot
from raftviz.core.log import RaftLog
from raftviz.core.membership import ConfigHistory, Configuration, MembershipError
from raftviz.core.messages import (
    NOOP,
    AppendEntries,
    AppendEntriesReply,
    ClientReply,
    ClientRequest,
    Command,
    Event,
    InstallSnapshot,
    InstallSnapshotReply,
    LogEntry,
    Message,
    Op,
    ReadMode,
    RequestVote,
    RequestVoteReply,
    TimeoutNow,
)
from raftviz.core.state_machine import KVStateMachine


class Role(StrEnum):
    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre-candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"


@dataclass(frozen=True, slots=True)
class RaftSettings:
    """Protocol settings; every field can be changed on a running cluster."""

    election_timeout_min: float = 150.0
    election_timeout_max: float = 300.0
    heartbeat_interval: float = 50.0
    noop_on_election: bool = True  # a no-op at the start of each term (section 8)
    # The follower's conflict term/index hint instead of one entry per round trip (5.3).
    fast_backup: bool = True
    pre_vote: bool = False  # thesis 9.6
    # The leader steps down without a majority; followers in their lease ignore votes.
    check_quorum: bool = False
    max_batch: int = 64  # entries per AppendEntries
    lease_drift_bound: float = 0.05  # assumed bound on clock drift rate, shortens the lease
    # Section 7: snapshot after this many entries applied since the last snapshot (0 = never).
    # On by default, as in etcd and Consul, so long sessions keep bounded logs; set far above
    # what a lesson or a short demo appends, so those never compact unless asked to.
    snapshot_threshold: int = 1000
    snapshot_chunk_size: int = 1024  # bytes of snapshot per InstallSnapshot message
    # Teaching modes: each breaks safety on purpose, and the snapshot flags it.
    no_majority: bool = False  # a candidate wins alone and a leader commits alone
    commit_old_terms: bool = False  # count replicas of old-term entries (the Figure 8 mistake)
    unsafe_lease: bool = False  # the lease outlives the election timeout
    # A new leader may change the configuration before committing an entry of its own term:
    # the single-server change bug (thesis 4.1, found in 2015).
    unsafe_config_change: bool = False
    # Membership changes go through C_old,new (paper section 6) instead of one server at a time.
    joint_consensus: bool = False

    def teaching_modes(self) -> list[str]:
        """Names of the unsafe teaching modes that are on."""
        names = ("no_majority", "commit_old_terms", "unsafe_lease", "unsafe_config_change")
        return [name for name in names if getattr(self, name)]

    @property
    def lease_duration(self) -> float:
        """How long after sending a majority-acknowledged heartbeat the leader may serve reads.

        Followers in CheckQuorum mode refuse votes for ``election_timeout_min`` after hearing
        from the leader, so no other leader can appear before then; the lease stays inside that
        window, shortened by the assumed drift bound.
        """
        if self.unsafe_lease:
            return 3 * self.election_timeout_max
        # The leader's clock may run slow and a follower's fast, each by up to the bound.
        bound = self.lease_drift_bound
        return self.election_timeout_min * (1 - bound) / (1 + bound)


@dataclass(frozen=True, slots=True)
class Output:
    """What one input made the node do."""

    messages: tuple[Message, ...] = ()
    events: tuple[Event, ...] = ()


@dataclass(slots=True)
class PendingRead:
    """A ReadIndex or lease read waiting for its leadership round and for the state machine."""

    client: str
    request_id: int
    key: str
    seq: int  # the heartbeat round that must be acknowledged by a majority (ReadIndex)
    read_index: int | None  # commit index when leadership was confirmed; None until known


@dataclass(slots=True)
class CatchUp:
    """Thesis 4.2.1: a new server replicates as a non-voting learner, in rounds, before it votes.

    Each round replicates everything the leader's log held when the round began. A round that
    finishes within an election timeout shows the learner keeps up: it is then added.
    """

    server: str
    round: int
    round_end: int  # the leader's last index when this round began
    round_started: float


CATCH_UP_ROUNDS = 10  # rounds before the leader gives up on a learner that cannot keep up


@dataclass(slots=True)
class PersistentState:
    """What Raft keeps on stable storage: it survives a crash (Fig. 2, persistent state).

    ``configs`` are the log's configuration entries over the configuration in force before
    the log's first entry (None: the voters the node is built with, and a scan of the log).
    """

    current_term: int = 0
    voted_for: str | None = None
    log: RaftLog = field(default_factory=RaftLog)
    configs: ConfigHistory | None = None
    snapshot: Snapshot | None = None  # the log's compacted prefix (section 7)


@dataclass(slots=True)
class SnapshotSend:
    """A leader's transfer of one snapshot to one follower: the bytes and how many it holds."""

    snapshot: Snapshot
    raw: bytes
    offset: int = 0  # the follower acknowledged every byte before this one


@dataclass(slots=True)
class SnapshotDownload:
    """A follower's partly received snapshot (Fig. 13's snapshot file, before it is saved)."""

    last_included_index: int
    size: int  # the whole snapshot's bytes, as the leader announced them
    data: bytes = b""


class RaftNode:
    """One Raft server. See the module docstring for how it is driven."""

    def __init__(
        self,
        node_id: str,
        peers: tuple[str, ...],
        settings: RaftSettings,
        rng: random.Random,
        now: float,
        persistent: PersistentState | None = None,
    ) -> None:
        self.id = node_id
        self.settings = settings
        self.rng = rng
        state = persistent if persistent is not None else PersistentState()
        # Persistent state on all servers (Fig. 2).
        self.current_term = state.current_term
        self.voted_for = state.voted_for
        self.log = state.log
        self.snapshot = state.snapshot
        if state.configs is not None:
            self.configs = ConfigHistory(state.configs.base, state.configs.entries)
        else:
            base = self.snapshot.configuration if self.snapshot else Configuration.of(peers)
            self.configs = ConfigHistory(
                base,
                (
                    (i, entry.command.config)
                    for i, entry in enumerate(self.log, start=self.log.first_index)
                    if entry.command.config is not None
                ),
            )
        self.peers: tuple[str, ...] = ()
        # Volatile state on all servers. A snapshot holds only committed, applied entries, so
        # a restart resumes from it rather than from an empty state machine.
        self.commit_index = 0
        self.last_applied = 0
        self.role = Role.FOLLOWER
        self.leader_id: str | None = None
        self.sm = KVStateMachine()
        if self.snapshot is not None:
            self.sm = KVStateMachine.from_image(self.snapshot.state)
            self.commit_index = self.last_applied = self.snapshot.last_included_index
        self.snapshot_download: SnapshotDownload | None = None
        self.votes_received: set[str] = set()
        self.votes_refused: set[str] = set()
        self.heard_from_leader_at: float | None = None
        self.started_at = now
        self.election_timeout = 0.0
        self.election_deadline = 0.0
        self.election_started_at = now
        # Volatile state on leaders, reinitialized after election.
        self.next_index: dict[str, int] = {}
        self.match_index: dict[str, int] = {}
        self.sent_upto: dict[str, int] = {}  # last index carried by the latest AppendEntries
        self.heartbeat_deadline = 0.0
        self.quorum_deadline = 0.0
        self.recent_active: set[str] = set()
        self.seq = 0
        self.acked_seq: dict[str, int] = {}
        self.round_sent: dict[int, float] = {}
        self.lease_until = 0.0
        self.pending_writes: dict[int, tuple[str, int]] = {}  # log index -> (client, request id)
        self.pending_reads: list[PendingRead] = []
        # How far the log is on stable storage, when the simulation models a disk (None: every
        # appended entry counts as stored at once).
        self.durable_index: int | None = None
        self.snapshot_sends: dict[str, SnapshotSend] = {}
        self.catch_up: CatchUp | None = None
        self.transfer_target: str | None = None
        self.transfer_deadline = 0.0
        self.timeout_now_sent = False
        self._refresh_peers()
        self._messages: list[Message] = []
        self._events: list[Event] = []
        self._reset_election_timer(now)

    # ----------------------------------------------------------------- public inputs

    def step(self, msg: Message, now: float) -> Output:
        """Handle one incoming message."""
        self._maybe_snapshot()
        if self._observe_term(msg, now):
            handler = _HANDLERS.get(type(msg))
            if handler is None:
                raise TypeError(f"{self.id} cannot handle {type(msg).__name__}")
            handler(self, msg, now)
        self._apply_committed(now)
        return self._flush()

    def tick(self, now: float) -> Output:
        """Fire every timer that is due at ``now`` (election, heartbeat, quorum check)."""
        self._maybe_snapshot()
        if self.role is Role.LEADER:
            if now >= self.heartbeat_deadline:
                self.heartbeat_deadline = now + self.settings.heartbeat_interval
                self._broadcast_append(now)
                self._check_catch_up(now)
            if self.transfer_target is not None and now >= self.transfer_deadline:
                self._abort_transfer(now)
            if self.settings.check_quorum and now >= self.quorum_deadline:
                self._check_quorum(now)
        elif now >= self.election_deadline and self.campaigns():
            self._on_election_timeout(now, forced=False)
        self._apply_committed(now)
        return self._flush()

    def timeout_now(self, now: float) -> Output:
        """Force the election timer to expire now (the UI's "time out now")."""
        self._maybe_snapshot()
        self._on_election_timeout(now, forced=True)
        self._apply_committed(now)
        return self._flush()

    def persisted(self, last_index: int, now: float) -> Output:
        """Stable storage holds the log up to ``last_index``; the leader may count its own copy.

        Thesis 10.2.1: the leader's entry counts towards a majority once it is on its disk.
        """
        self.durable_index = last_index
        if self.role is Role.LEADER:
            self._advance_commit(now)
        self._apply_committed(now)
        return self._flush()

    def snapshot_now(self, now: float) -> Output:
        """Snapshot the state machine and compact the log now (the UI's "Snapshot now")."""
        if self.last_applied > self.log.snapshot_index:
            self._take_snapshot("was told to snapshot")
        return self._flush()

    def heartbeat_now(self, now: float) -> Output:
        """A leader sends AppendEntries to every follower now, ahead of its heartbeat timer."""
        if self.role is Role.LEADER:
            self.heartbeat_deadline = now + self.settings.heartbeat_interval
            self._broadcast_append(now)
        self._apply_committed(now)
        return self._flush()

    def next_wakeup(self) -> float:
        """The local time at which :meth:`tick` next has something to do."""
        if self.role is Role.LEADER:
            wake = self.heartbeat_deadline
            if self.settings.check_quorum:
                wake = min(wake, self.quorum_deadline)
            if self.transfer_target is not None:
                wake = min(wake, self.transfer_deadline)
            return wake
        if not self.campaigns():
            return math.inf  # not a voter: it waits for a leader and never campaigns
        return self.election_deadline

    def update_settings(self, settings: RaftSettings, now: float) -> None:
        """Switch settings on a running node; timers keep their current deadlines."""
        turning_on_quorum = settings.check_quorum and not self.settings.check_quorum
        self.settings = settings
        if turning_on_quorum and self.role is Role.LEADER:
            self.recent_active = set()
            self.quorum_deadline = now + settings.election_timeout_min

    def persistent_state(self) -> PersistentState:
        """The state a crash leaves behind."""
        return PersistentState(
            self.current_term, self.voted_for, self.log, self.configs, self.snapshot
        )

    def campaigns(self) -> bool:
        """Whether this server may start elections: it is a voter, or it is being removed.

        Thesis 4.2.2: a server whose removal is in its log but not yet committed may still be
        needed to elect the leader that commits it, so it keeps campaigning until then. A
        learner, in no configuration yet, never does.
        """
        if self.id in self.config.members:
            return True
        if self.configs.latest_index <= self.commit_index:
            return False
        return self.id in self.configs.previous.members

    @property
    def config(self) -> Configuration:
        """Thesis 4.1: the latest configuration in the log, whether committed or not."""
        return self.configs.latest

    @property
    def quorum(self) -> int:
        """Votes or replicas needed from the (new) voters: a majority (1 in no-majority mode)."""
        if self.settings.no_majority:
            return 1
        return len(self.config.voters) // 2 + 1

    def _has_quorum(self, granted: set[str] | frozenset[str]) -> bool:
        """Whether ``granted`` is a majority of every voter set that counts now."""
        if self.settings.no_majority:
            return bool(granted)
        return self.config.has_quorum(granted)

    def _agreed(self, values: dict[str, int]) -> int:
        """The highest value a counting majority has reached (the largest in no-majority mode)."""
        if self.settings.no_majority:
            return max(values.values())
        return self.config.agreed(values)

    def in_lease(self, now: float) -> bool:
        """Whether this node heard from a leader within the minimum election timeout.

        With CheckQuorum on, such a node ignores RequestVote from other candidates (thesis
        4.2.3); that is what keeps a leader's lease safe.
        """
        if self.role is Role.LEADER:
            return True
        if now - self.started_at < self.settings.election_timeout_min:
            # A restarted node forgot whom it heard from; it waits out one timeout.
            return True
        return (
            self.leader_id is not None
            and self.heard_from_leader_at is not None
            and now - self.heard_from_leader_at < self.settings.election_timeout_min
        )

    def _lease_reason(self, now: float) -> str:
        """Why this node is inside a lease, in words (for refusals)."""
        if self.role is Role.LEADER:
            return f"{self.id} is the leader"
        if now - self.started_at < self.settings.election_timeout_min:
            return f"{self.id} restarted less than an election timeout ago"
        return f"{self.id} heard from leader {self.leader_id} less than an election timeout ago"

    # ------------------------------------------------------------- term bookkeeping

    def _observe_term(self, msg: Message, now: float) -> bool:
        """Fig. 2, Rules for All Servers, 2: a higher term makes this node a follower.

        Returns False when the message must be ignored entirely.
        """
        if msg.term <= self.current_term or isinstance(msg, (ClientRequest, ClientReply)):
            return True
        if isinstance(msg, RequestVote):
            # Thesis 3.10: a transfer's election is wanted, so a lease does not stop it.
            if self.settings.check_quorum and self.in_lease(now) and not msg.transfer:
                self._event(
                    "vote_ignored",
                    f"{self.id} ignored {msg.src}'s {'pre-vote ' if msg.pre_vote else ''}"
                    f"RequestVote for term {msg.term}: {self._lease_reason(now)}",
                )
                return False
            if msg.pre_vote:
                return True  # a pre-vote's term is only proposed; it changes nobody's term
        if isinstance(msg, RequestVoteReply) and msg.pre_vote and msg.vote_granted:
            return True
        self._become_follower(msg.term, now, leader=self._leader_of(msg))
        return True

    @staticmethod
    def _leader_of(msg: Message) -> str | None:
        return msg.src if isinstance(msg, (AppendEntries, InstallSnapshot)) else None

    # ---------------------------------------------------------------- elections

    def _on_election_timeout(self, now: float, forced: bool) -> None:
        """Fig. 2, Followers 2 / Candidates 3: start an election (after a pre-vote, thesis 9.6).

        With PreVote on, every timeout goes through a pre-vote, a candidate's too: a node that
        lost a split vote or lost contact must not raise its term at each timeout, or it would
        depose a healthy leader when it rejoins (etcd's PreCandidate does the same).
        """
        why = "was told to time out" if forced else "timed out"
        if not self.campaigns():
            self._event(
                "not_voter",
                f"{self.id} is not a voter in its configuration {self.config.describe()} and "
                f"does not campaign",
            )
            return
        if self.role is Role.LEADER:
            self._event(
                "step_down", f"{self.id} stepped down as leader of term {self.current_term}"
            )
            self._clear_leader_state()
        if self.settings.pre_vote:
            self.role = Role.PRE_CANDIDATE
            self.leader_id = None
            self.votes_received = {self.id}
            self.votes_refused = set()
            self._reset_election_timer(now)
            self._event(
                "prevote",
                f"{self.id} {why} and asked for pre-votes for term {self.current_term + 1}",
            )
            if self._has_quorum(self.votes_received):
                self._start_election(now, why)
                return
            msg_term = self.current_term + 1
            for peer in self.peers:
                self._send(
                    RequestVote(
                        self.id, peer, msg_term, self.log.last_index, self.log.last_term, True
                    )
                )
            return
        self._start_election(now, why)

    def _start_election(self, now: float, why: str, transfer: bool = False) -> None:
        """Fig. 2, Candidates 1: increment term, vote for self, reset timer, send RequestVote."""
        self.current_term += 1
        self.role = Role.CANDIDATE
        self.voted_for = self.id
        self.leader_id = None
        self.votes_received = {self.id}
        self.votes_refused = set()
        self._reset_election_timer(now)
        self._event(
            "election",
            f"{self.id} {why} and started an election for term {self.current_term}",
            term=self.current_term,
        )
        if self._has_quorum(self.votes_received):
            self._become_leader(now)
            return
        for peer in self.peers:
            self._send(
                RequestVote(
                    self.id,
                    peer,
                    self.current_term,
                    self.log.last_index,
                    self.log.last_term,
                    transfer=transfer,
                )
            )

    def _log_is_current(self, last_log_term: int, last_log_index: int) -> bool:
        """Section 5.4.1: is a candidate's log at least as up-to-date as ours?"""
        if last_log_term != self.log.last_term:
            return last_log_term > self.log.last_term
        return last_log_index >= self.log.last_index

    def _on_request_vote(self, msg: RequestVote, now: float) -> None:
        """Fig. 2, RequestVote receiver 1-2 (with the pre-vote variant of thesis 9.6)."""
        up_to_date = self._log_is_current(msg.last_log_term, msg.last_log_index)
        if msg.pre_vote:
            heard_recently = self.in_lease(now)
            grant = msg.term > self.current_term and up_to_date and not heard_recently
            reason = (
                "its log is behind" if not up_to_date
                else self._lease_reason(now) if heard_recently
                else f"its term is not above {self.current_term}"
            )
            self._vote_event(msg, grant, reason)
            term = msg.term if grant else self.current_term
            self._send(RequestVoteReply(self.id, msg.src, term, grant, pre_vote=True))
            return
        if msg.term < self.current_term:
            grant, reason = False, f"its term {msg.term} is older than {self.current_term}"
        elif self.voted_for not in (None, msg.src):
            grant, reason = False, f"already voted for {self.voted_for} in term {self.current_term}"
        elif not up_to_date:
            grant, reason = False, (
                f"its log (last term {msg.last_log_term}, index {msg.last_log_index}) is less "
                f"up-to-date than {self.id}'s (last term {self.log.last_term}, "
                f"index {self.log.last_index})"
            )
        else:
            grant, reason = True, ""
            self.voted_for = msg.src
            self._reset_election_timer(now)
        self._vote_event(msg, grant, reason)
        self._send(RequestVoteReply(self.id, msg.src, self.current_term, grant))

    def _vote_event(self, msg: RequestVote, grant: bool, reason: str) -> None:
        what = "pre-vote" if msg.pre_vote else "vote"
        if grant:
            self._event("vote", f"{self.id} granted its {what} to {msg.src} for term {msg.term}")
        else:
            self._event(
                "vote_refused",
                f"{self.id} refused its {what} to {msg.src} for term {msg.term}: {reason}",
            )

    def _on_request_vote_reply(self, msg: RequestVoteReply, now: float) -> None:
        """Fig. 2, Candidates 2: a majority of votes makes the candidate leader."""
        if msg.pre_vote:
            if self.role is not Role.PRE_CANDIDATE:
                return
            if msg.vote_granted and msg.term == self.current_term + 1:
                self.votes_received.add(msg.src)
            elif not msg.vote_granted:
                self.votes_refused.add(msg.src)
            if self._has_quorum(self.votes_received):
                self._start_election(now, "won the pre-vote")
            elif not self._has_quorum(self.config.members - self.votes_refused):
                self.role = Role.FOLLOWER
                self._event("prevote_lost", f"{self.id} lost the pre-vote and stays a follower")
            return
        if self.role is not Role.CANDIDATE or msg.term != self.current_term:
            return
        (self.votes_received if msg.vote_granted else self.votes_refused).add(msg.src)
        if msg.vote_granted and self._has_quorum(self.votes_received):
            self._become_leader(now)

    def _become_leader(self, now: float) -> None:
        """Fig. 2, Leaders: initialize next_index and match_index, then assert leadership."""
        self.role = Role.LEADER
        self.leader_id = self.id
        self.next_index = {p: self.log.last_index + 1 for p in self.peers}
        self.match_index = {p: 0 for p in self.peers}
        self.snapshot_sends = {}
        self.acked_seq = {p: 0 for p in self.peers}
        self.round_sent = {}
        self.recent_active = set()
        self.lease_until = 0.0
        self.quorum_deadline = now + self.settings.election_timeout_min
        votes = ", ".join(sorted(self.votes_received))
        self._event(
            "leader",
            f"{self.id} won the election for term {self.current_term} with votes from {votes}",
            term=self.current_term,
        )
        if self.settings.noop_on_election:
            self._append_local(NOOP, now)
        self.heartbeat_deadline = now + self.settings.heartbeat_interval
        self._broadcast_append(now)
        self._advance_commit(now)
        if self.config.joint and self.configs.latest_index <= self.commit_index:
            # C_old,new committed under an earlier leader that never appended C_new: finish it.
            self._append_config(Configuration(self.config.voters), now)

    def _become_follower(self, term: int, now: float, leader: str | None) -> None:
        """Adopt a newer term as a follower (the vote is reset with the term)."""
        was = self.role
        if was is Role.LEADER:
            self._event(
                "step_down",
                f"{self.id} saw term {term} and stepped down as leader of term {self.current_term}",
            )
            self._clear_leader_state()
        elif term > self.current_term:
            self._event("term", f"{self.id} saw term {term} and became a follower")
        if term > self.current_term:
            self.current_term = term
            self.voted_for = None
        self.role = Role.FOLLOWER
        self.leader_id = leader
        self.votes_received = set()
        self.votes_refused = set()
        if was is Role.LEADER:
            self._reset_election_timer(now)

    def _clear_leader_state(self) -> None:
        if self.catch_up is not None:
            self._event(
                "catch_up_aborted",
                f"{self.id} stopped catching up learner {self.catch_up.server}: it is no longer "
                f"leader",
            )
        self.catch_up = None
        self.transfer_target = None
        self.timeout_now_sent = False
        for client, request_id in self.pending_writes.values():
            self._refuse_client(client, request_id, "leadership lost")
        for read in self.pending_reads:
            self._refuse_client(read.client, read.request_id, "leadership lost")
        self.pending_writes = {}
        self.pending_reads = []
        self.next_index = {}
        self.match_index = {}
        self.snapshot_sends = {}
        self.lease_until = 0.0
        self.role = Role.FOLLOWER
        self.leader_id = None
        self._refresh_peers()

    def _check_quorum(self, now: float) -> None:
        """CheckQuorum: a leader that has not heard from a majority in a timeout steps down."""
        active = self.recent_active | {self.id}
        self.recent_active = set()
        self.quorum_deadline = now + self.settings.election_timeout_min
        if not self._has_quorum(active):
            heard = len(active & self.config.members)
            self._event(
                "step_down",
                f"{self.id} heard from only {heard} of {len(self.config.members)} voters in an "
                f"election timeout and stepped down (CheckQuorum)",
            )
            self._clear_leader_state()
            self._reset_election_timer(now)

    def _reset_election_timer(self, now: float) -> None:
        s = self.settings
        self.election_timeout = self.rng.uniform(s.election_timeout_min, s.election_timeout_max)
        self.election_started_at = now
        self.election_deadline = now + self.election_timeout

    # -------------------------------------------------------------- replication

    def _broadcast_append(self, now: float) -> None:
        """Send AppendEntries (entries from next_index, or a heartbeat) to every follower."""
        self.seq += 1
        self.round_sent[self.seq] = now
        # Only recent rounds can still be acknowledged in time to extend the lease.
        self.round_sent.pop(self.seq - 64, None)
        for peer in self.peers:
            self._send_append(peer)

    def _send_append(self, peer: str) -> None:
        next_index = self.next_index[peer]
        if next_index <= self.log.snapshot_index:
            # The entries this follower needs were compacted away: send the snapshot instead.
            self._send_snapshot_chunk(peer)
            return
        # The follower no longer needs a snapshot (it caught up another way): end any transfer.
        self.snapshot_sends.pop(peer, None)
        prev = next_index - 1
        entries = self.log.slice(next_index, next_index + self.settings.max_batch - 1)
        self.sent_upto[peer] = prev + len(entries)
        self._send(
            AppendEntries(
                self.id,
                peer,
                self.current_term,
                prev,
                self.log.term_at(prev),
                entries,
                self.commit_index,
                self.seq,
            )
        )

    def _on_append_entries(self, msg: AppendEntries, now: float) -> None:
        """Fig. 2, AppendEntries receiver 1-5."""
        if msg.term < self.current_term:
            self._refuse_append(
                msg,
                f"{self.id} rejected AppendEntries from {msg.src}: its term {msg.term} is older "
                f"than {self.current_term}",
            )
            return
        if self.role is Role.LEADER:
            # Two leaders in one term: only possible in the no-majority teaching mode.
            self._refuse_append(
                msg,
                f"{self.id} is itself leader of term {self.current_term} and rejected "
                f"AppendEntries from {msg.src}, another leader of the same term",
            )
            return
        if self.role is not Role.FOLLOWER:
            self._event(
                "term",
                f"{self.id} heard from leader {msg.src} of term {msg.term} and became a follower",
            )
            self._become_follower(msg.term, now, leader=msg.src)
        if self.leader_id != msg.src:
            self.leader_id = msg.src
        self.heard_from_leader_at = now
        self._reset_election_timer(now)
        prev, entries = msg.prev_log_index, msg.entries
        if prev < self.log.snapshot_index:
            # Entries through our snapshot are committed, and a leader of our term holds every
            # committed entry (Leader Completeness): they match; only what follows is news.
            entries = entries[self.log.snapshot_index - prev :]
            prev = self.log.snapshot_index
        elif not self.log.has(prev, msg.prev_log_term):
            self._reject_append(msg, prev)
            return
        index = prev
        for entry in entries:
            index += 1
            if index <= self.log.last_index:
                if self.log.term_at(index) == entry.term:
                    continue  # a matching entry is never truncated (stale or repeated message)
                dropped = self.log.last_index - index + 1
                self._event(
                    "truncate",
                    f"{self.id} removed {dropped} conflicting entr{'y' if dropped == 1 else 'ies'} "
                    f"from index {index} (term {self.log.term_at(index)}, leader has term "
                    f"{entry.term})",
                    index=index,
                )
                self.log.truncate_from(index)
                if self.configs.truncated_from(index):
                    self._on_config_changed()
            self.log.append(entry)
            if entry.command.config is not None:
                self.configs.appended(index, entry.command.config)
                self._on_config_changed()
        last_new = prev + len(entries)
        if msg.leader_commit > self.commit_index:
            new_commit = min(msg.leader_commit, last_new)
            if new_commit > self.commit_index:
                self.commit_index = new_commit
                self._event(
                    "commit",
                    f"{self.id} learned from {msg.src} that entries up to {new_commit} "
                    f"are committed",
                    index=new_commit,
                )
        self._send(
            AppendEntriesReply(
                self.id, msg.src, self.current_term, True, match_index=last_new, seq=msg.seq
            )
        )

    def _refuse_append(self, msg: AppendEntries, why: str) -> None:
        """Fig. 2, AppendEntries receiver 1: refuse a leader we do not follow, with our term."""
        self._event("append_rejected", why)
        self._send(
            AppendEntriesReply(
                self.id, msg.src, self.current_term, False, reject_index=msg.prev_log_index
            )
        )

    def _reject_append(self, msg: AppendEntries, prev: int) -> None:
        """Fig. 2, AppendEntries receiver 2: the log lacks prev_log_index/prev_log_term."""
        if prev > self.log.last_index:
            why = f"no entry at index {prev}"
            conflict_term, conflict_index = 0, self.log.last_index + 1
        else:
            term = self.log.term_at(prev)
            why = f"entry {prev} has term {term}, not {msg.prev_log_term}"
            conflict_term, conflict_index = term, self.log.first_index_of_term(prev)
        self._event(
            "append_rejected", f"{self.id} rejected AppendEntries from {msg.src}: {why}", index=prev
        )
        self._send(
            AppendEntriesReply(
                self.id,
                msg.src,
                self.current_term,
                False,
                reject_index=prev,
                conflict_term=conflict_term,
                conflict_index=conflict_index,
                seq=msg.seq,
            )
        )

    def _on_append_entries_reply(self, msg: AppendEntriesReply, now: float) -> None:
        """Fig. 2, Leaders 3.1-3.2: advance match_index, or back next_index off and retry."""
        if self.role is not Role.LEADER or msg.term != self.current_term:
            return
        peer = msg.src
        if peer not in self.next_index:
            return  # a server removed from the configuration since: no longer replicated to
        self.recent_active.add(peer)
        if msg.seq > self.acked_seq.get(peer, 0):
            self.acked_seq[peer] = msg.seq
            self._on_round_acknowledged(now)
        if msg.success:
            if msg.match_index > self.match_index[peer]:
                self.match_index[peer] = msg.match_index
            self.next_index[peer] = max(self.next_index[peer], self.match_index[peer] + 1)
            if self.next_index[peer] > self.log.snapshot_index:
                self.snapshot_sends.pop(peer, None)  # caught up another way: no snapshot due
            self._advance_commit(now)
            if self.role is not Role.LEADER or peer not in self.next_index:
                return  # a committed configuration removed this leader or this peer
            if self.catch_up is not None and peer == self.catch_up.server:
                self._on_learner_progress(now)
            if peer == self.transfer_target:
                self._send_timeout_now_when_current()
            if self.sent_upto.get(peer, 0) < self.log.last_index and (
                self.match_index[peer] >= self.sent_upto.get(peer, 0)
            ):
                # A catch-up batch was capped at max_batch: send the next one right away.
                # (New entries are already broadcast when appended, so nothing else is needed.)
                self._send_append(peer)
            return
        if msg.reject_index != self.next_index[peer] - 1:
            return  # a rejection of an older probe; a newer one is already on its way
        if not msg.conflict_index:
            # Refused outright (another leader of this term, in the no-majority teaching mode):
            # the logs are not the problem, and probing again at once would loop forever.
            return
        if self.settings.fast_backup:
            target = msg.conflict_index
            if msg.conflict_term:
                last_of_term = self.log.last_index_of_term(msg.conflict_term)
                if last_of_term:
                    target = last_of_term + 1
        else:
            target = self.next_index[peer] - 1
        target = min(target, self.next_index[peer] - 1)
        self.next_index[peer] = max(target, self.match_index[peer] + 1, 1)
        self._send_append(peer)

    def _advance_commit(self, now: float) -> None:
        """Fig. 2, Leaders 4 and section 5.4.2: commit by counting current-term replicas only."""
        own = self.log.last_index
        if self.durable_index is not None:
            own = min(own, self.durable_index)
        candidate = self._agreed({**self.match_index, self.id: own})
        before = self.commit_index
        if candidate <= before:
            return
        if not self.settings.commit_old_terms:
            # Only an entry of the current term is committed by counting; earlier ones follow.
            if self.log.term_at(candidate) != self.current_term:
                return
        self.commit_index = candidate
        holders = [self.id] + [p for p in self.peers if self.match_index[p] >= candidate]
        self._event(
            "commit",
            f"{self.id} committed entries up to {candidate}: stored on "
            f"{', '.join(sorted(holders))}",
            index=candidate,
        )
        self._serve_reads(now)
        if before < self.configs.latest_index <= candidate:
            self._on_config_committed(now)

    # ------------------------------------------------------- membership changes

    def add_server(self, server: str, now: float) -> Output:
        """Thesis 4.2.1 (AddServer): catch ``server`` up as a learner, then add it as a voter."""
        self._check_change_allowed()
        if server in self.config.members:
            raise MembershipError(f"{server} is already a voter in {self.config.describe()}")
        self.catch_up = CatchUp(server, 1, self.log.last_index, now)
        self._refresh_peers()
        self._event(
            "learner",
            f"{self.id} started catching up {server} as a non-voting learner (thesis 4.2.1): "
            f"round 1 replicates up to index {self.log.last_index}",
            server=server,
        )
        self._send_append(server)
        return self._flush()

    def remove_server(self, server: str, now: float) -> Output:
        """Thesis 4.1 (RemoveServer): append a configuration without ``server``."""
        self._check_change_allowed()
        old = self.config.voters
        if server not in old:
            raise MembershipError(f"{server} is not a voter in {self.config.describe()}")
        if len(old) == 1:
            raise MembershipError(f"{server} is the last voter; a cluster needs at least one")
        self._append_config(self._next_config(old - {server}), now)
        self._apply_committed(now)
        return self._flush()

    def transfer_leadership(self, target: str, now: float) -> Output:
        """Thesis 3.10: stop taking writes, bring ``target`` up to date, then send TimeoutNow."""
        if self.role is not Role.LEADER:
            raise MembershipError(f"{self.id} is not the leader; only a leader can transfer")
        if target == self.id:
            raise MembershipError(f"{target} is already the leader")
        if target not in self.config.voters:
            raise MembershipError(
                f"{target} is not a voter in {self.config.describe()}; leadership can only go "
                f"to a voter"
            )
        if self.transfer_target is not None:
            raise MembershipError(f"a transfer to {self.transfer_target} is already under way")
        self.transfer_target = target
        self.transfer_deadline = now + self.settings.election_timeout_max
        self.timeout_now_sent = False
        self._event(
            "transfer",
            f"{self.id} began transferring leadership to {target} (thesis 3.10): it takes no "
            f"new requests and brings {target} up to date",
            target=target,
        )
        self._send_timeout_now_when_current()
        if not self.timeout_now_sent:
            self._send_append(target)
        return self._flush()

    def _check_change_allowed(self) -> None:
        """The preconditions of a membership change; raises MembershipError saying which fails."""
        if self.role is not Role.LEADER:
            raise MembershipError(f"{self.id} is not the leader; send the change to the leader")
        if self.transfer_target is not None:
            raise MembershipError(
                f"{self.id} is transferring leadership to {self.transfer_target}; try again after"
            )
        if self.catch_up is not None:
            raise MembershipError(
                f"{self.id} is still catching up learner {self.catch_up.server}; one change at "
                f"a time"
            )
        if self.configs.latest_index > self.commit_index:
            raise MembershipError(
                f"the configuration entry at index {self.configs.latest_index} "
                f"({self.config.describe()}) is not committed yet; one change at a time "
                f"(thesis 4.1)"
            )
        if (
            not self.settings.joint_consensus
            and not self.settings.unsafe_config_change
            and self.log.term_at(self.commit_index) != self.current_term
        ):
            raise MembershipError(
                f"{self.id} has not yet committed an entry of its own term {self.current_term}; "
                f"a new leader must do that before a single-server change (the fix for the "
                f"single-server change bug)"
            )

    def _next_config(self, voters: frozenset[str]) -> Configuration:
        """The configuration to append: C_new directly, or C_old,new first in joint mode."""
        if self.settings.joint_consensus:
            return Configuration(voters, old_voters=self.config.voters)
        return Configuration(voters)

    def _append_config(self, config: Configuration, now: float) -> None:
        """Thesis 4.1: append a configuration entry; it is in force from this moment."""
        index = self._append_local(Command(Op.CONFIG, config=config), now)
        self._event(
            "config",
            f"{self.id} appended configuration {config.describe()} at index {index}; it counts "
            f"from now on, before it commits",
            index=index,
        )
        self._broadcast_append(now)
        self._advance_commit(now)

    def _refresh_peers(self) -> None:
        """Talk to the configuration's voters (and, as leader, the learner being caught up)."""
        others = set(self.config.members)
        if self.role is Role.LEADER and self.catch_up is not None:
            others.add(self.catch_up.server)
        others.discard(self.id)
        self.peers = tuple(sorted(others))
        if self.role is not Role.LEADER:
            return
        for gone in [p for p in self.next_index if p not in others]:
            # Thesis 4.2.3: the leader stops replicating to a server once it is removed.
            del self.next_index[gone]
            self.match_index.pop(gone, None)
            self.acked_seq.pop(gone, None)
            self.sent_upto.pop(gone, None)
        for peer in self.peers:
            if peer not in self.next_index:
                self.next_index[peer] = self.log.last_index + 1
                self.match_index[peer] = 0
                self.acked_seq[peer] = 0

    def _on_config_changed(self) -> None:
        """A configuration entry was appended or truncated away: adopt the latest one."""
        if self.catch_up is not None and self.catch_up.server in self.config.members:
            self.catch_up = None  # the learner is a voter now
        self._refresh_peers()

    def _on_config_committed(self, now: float) -> None:
        """Paper section 6 and thesis 4.2.2: after C_old,new append C_new; leave if removed."""
        config = self.config
        self._event(
            "config_committed",
            f"{self.id} committed configuration {config.describe()}",
            index=self.configs.latest_index,
        )
        if config.joint:
            self._append_config(Configuration(config.voters), now)
            return
        if self.id not in config.members:
            self._event(
                "step_down",
                f"{self.id} committed its own removal and stepped down as leader of term "
                f"{self.current_term} (thesis 4.2.2)",
            )
            self._broadcast_append(now)  # tell the others the removal is committed
            self._clear_leader_state()
            self._reset_election_timer(now)

    def _check_catch_up(self, now: float) -> None:
        """Thesis 4.2.1: give up on a learner whose round never finishes (down, cut off)."""
        c = self.catch_up
        limit = CATCH_UP_ROUNDS * self.settings.election_timeout_max
        if c is None or now - c.round_started < limit:
            return
        self._event(
            "catch_up_aborted",
            f"{self.id} gave up adding {c.server}: round {c.round} did not finish in "
            f"{limit:g} ms (is {c.server} down or cut off?)",
        )
        self.catch_up = None
        self._refresh_peers()

    def _on_learner_progress(self, now: float) -> None:
        """Thesis 4.2.1: a round that ends within an election timeout makes the learner a voter."""
        c = self.catch_up
        assert c is not None
        if self.match_index[c.server] < c.round_end:
            return
        took = now - c.round_started
        if took < self.settings.election_timeout_min:
            self._event(
                "learner_ready",
                f"{c.server} finished catch-up round {c.round} in {took:.0f} ms, under an "
                f"election timeout: {self.id} adds it as a voter",
            )
            self._append_config(self._next_config(self.config.voters | {c.server}), now)
            return
        if c.round >= CATCH_UP_ROUNDS:
            self._event(
                "catch_up_aborted",
                f"{self.id} gave up adding {c.server}: after {c.round} rounds it still needs "
                f"longer than an election timeout to catch up",
            )
            self.catch_up = None
            self._refresh_peers()
            return
        self.catch_up = CatchUp(c.server, c.round + 1, self.log.last_index, now)
        self._event(
            "learner",
            f"{c.server} took {took:.0f} ms for round {c.round}; round {c.round + 1} replicates "
            f"up to index {self.log.last_index}",
        )

    def _send_timeout_now_when_current(self) -> None:
        """Thesis 3.10: once the target's log matches ours, tell it to campaign now."""
        target = self.transfer_target
        if target is None or self.timeout_now_sent:
            return
        if self.match_index.get(target, 0) < self.log.last_index:
            return
        self.timeout_now_sent = True
        self._event(
            "transfer",
            f"{target} is up to date; {self.id} sent it TimeoutNow",
            target=target,
        )
        self._send(TimeoutNow(self.id, target, self.current_term))

    def _abort_transfer(self, now: float) -> None:
        """Thesis 3.10: the target did not win within an election timeout; take writes again."""
        self._event(
            "transfer_aborted",
            f"{self.transfer_target} did not take over within an election timeout: {self.id} "
            f"aborted the transfer and takes requests again",
        )
        self.transfer_target = None
        self.timeout_now_sent = False

    def _on_timeout_now(self, msg: TimeoutNow, now: float) -> None:
        """Thesis 3.10, TimeoutNow receiver: start an election at once, skipping PreVote."""
        if msg.term < self.current_term or self.role is Role.LEADER:
            self._event(
                "transfer_ignored",
                f"{self.id} ignored a stale TimeoutNow from {msg.src} (term {msg.term})",
            )
            return
        if not self.campaigns():
            self._event(
                "not_voter",
                f"{self.id} ignored TimeoutNow from {msg.src}: it is not a voter in "
                f"{self.config.describe()}",
            )
            return
        self._start_election(now, f"was told by {msg.src} to time out", transfer=True)

    # ------------------------------------------------------------ log compaction

    def _config_at(self, index: int) -> Configuration:
        """The configuration in force at ``index``: what a snapshot through it records (Fig. 12)."""
        config = self.configs.base
        for at, entry in self.configs.entries:
            if at <= index:
                config = entry
        return config

    def _rebase_configs(self, index: int, base: Configuration) -> None:
        """The log now starts after ``index``: its configuration entries there fold into base."""
        before = self.config
        kept = [(at, c) for at, c in self.configs.entries if at > index]
        self.configs = ConfigHistory(base, kept)
        if self.config != before:
            self._on_config_changed()

    def _maybe_snapshot(self) -> None:
        """Section 7: snapshot once ``snapshot_threshold`` entries were applied since the last.

        Checked when the next input arrives, so a snapshot covers only entries applied in
        earlier steps (real servers snapshot in the background, after applying).
        """
        threshold = self.settings.snapshot_threshold
        if threshold and self.last_applied - self.log.snapshot_index >= threshold:
            self._take_snapshot(f"had applied {threshold} entries since its last snapshot")

    def _take_snapshot(self, why: str) -> None:
        """Section 7: write the state machine to a snapshot, then discard the entries it covers."""
        index = self.last_applied
        held = len(self.log)
        self.snapshot = Snapshot(
            index,
            self.log.term_at(index),
            self._config_at(index),
            self.sm.image(),
            self.log.digest(index),
        )
        self.log.compact(index)
        self._rebase_configs(index, self.snapshot.configuration)
        dropped = held - len(self.log)
        self._event(
            "snapshot",
            f"{self.id} {why}: it saved a snapshot through index {index} (term "
            f"{self.snapshot.last_included_term}) and discarded {dropped} log entries",
            index=index,
        )

    def _send_snapshot_chunk(self, peer: str) -> None:
        """Fig. 13: send the next chunk of the snapshot to a follower that needs it."""
        send = self.snapshot_sends.get(peer)
        assert self.snapshot is not None  # a compacted log always has its snapshot
        if send is not None and send.offset == 0 and send.snapshot is not self.snapshot:
            # Nothing of the older snapshot has arrived yet: send the newest one instead.
            send = self.snapshot_sends[peer] = SnapshotSend(
                self.snapshot, encode_snapshot(self.snapshot)
            )
        if send is None:
            send = SnapshotSend(self.snapshot, encode_snapshot(self.snapshot))
            self.snapshot_sends[peer] = send
            self._event(
                "snapshot_send",
                f"{self.id} needs to send {peer} entries from index {self.next_index[peer]}, "
                f"but they are in its snapshot: it sends the snapshot through index "
                f"{send.snapshot.last_included_index} ({len(send.raw)} bytes) instead",
                index=send.snapshot.last_included_index,
            )
        chunk = send.raw[send.offset : send.offset + self.settings.snapshot_chunk_size]
        snap = send.snapshot
        self._send(
            InstallSnapshot(
                self.id,
                peer,
                self.current_term,
                snap.last_included_index,
                snap.last_included_term,
                send.offset,
                chunk,
                send.offset + len(chunk) >= len(send.raw),
                len(send.raw),
                self.seq,
            )
        )

    def _on_install_snapshot(self, msg: InstallSnapshot, now: float) -> None:
        """Fig. 13, InstallSnapshot receiver 1-8."""
        if msg.term < self.current_term:
            self._event(
                "snapshot_rejected",
                f"{self.id} rejected InstallSnapshot from {msg.src}: its term {msg.term} is "
                f"older than {self.current_term}",
            )
            self._reply_snapshot(msg, 0, installed=False)
            return
        if self.role is Role.LEADER:
            # Two leaders in one term: only possible in the no-majority teaching mode.
            self._event(
                "snapshot_rejected",
                f"{self.id} is itself leader of term {self.current_term} and rejected "
                f"InstallSnapshot from {msg.src}, another leader of the same term",
            )
            self._reply_snapshot(msg, 0, installed=False)
            return
        if self.role is not Role.FOLLOWER:
            self._become_follower(msg.term, now, leader=msg.src)
        self.leader_id = msg.src
        self.heard_from_leader_at = now
        self._reset_election_timer(now)
        index = msg.last_included_index
        end = msg.offset + len(msg.data)
        if index <= self.log.snapshot_index:
            # 5: we already hold this snapshot or a newer one; a repeated chunk changes nothing.
            self._reply_snapshot(msg, end, installed=True)
            return
        download = self.snapshot_download
        if msg.offset == 0 and (download is None or download.last_included_index != index):
            download = self.snapshot_download = SnapshotDownload(index, msg.size)  # 2: new file
        if download is None or download.last_included_index != index or (
            msg.offset > len(download.data)
        ):
            # A chunk went missing (or we restarted mid-transfer): say where we stand.
            held = len(download.data) if download and download.last_included_index == index else 0
            self._reply_snapshot(msg, held, installed=False)
            return
        if end > len(download.data):
            download.data = download.data[: msg.offset] + msg.data  # 3: write at offset
        if not msg.done:
            self._reply_snapshot(msg, len(download.data), installed=False)  # 4: wait for more
            return
        self.snapshot_download = None
        self._install_snapshot(decode_snapshot(download.data), msg.src)  # 5-8
        self._reply_snapshot(msg, end, installed=True)

    def _install_snapshot(self, snap: Snapshot, leader: str) -> None:
        """Fig. 13, receiver 5-8: save the snapshot, keep a matching suffix, reset the state."""
        index, term = snap.last_included_index, snap.last_included_term
        if self.log.has(index, term):
            kept = self.log.last_index - index
            self.log.compact(index)  # 6: the snapshot is a prefix of our log
            self._rebase_configs(index, snap.configuration)
            what = f"kept the {kept} log entries after it"
        else:
            dropped = len(self.log)
            self.log.reset_to_snapshot(index, term, snap.digest)  # 7: discard the entire log
            self._rebase_configs(self.log.last_index, snap.configuration)  # 8: its config too
            what = f"discarded its whole log ({dropped} entries)"
        self.snapshot = snap
        if self.last_applied < index:
            self.sm = KVStateMachine.from_image(snap.state)  # 8: reset the state machine
            self.last_applied = index
            what += " and loaded the snapshot into its state machine"
        self.commit_index = max(self.commit_index, index)
        self._event(
            "snapshot_installed",
            f"{self.id} installed {leader}'s snapshot through index {index} (term {term}): it "
            f"{what}",
            index=index,
        )

    def _reply_snapshot(self, msg: InstallSnapshot, received: int, installed: bool) -> None:
        self._send(
            InstallSnapshotReply(
                self.id,
                msg.src,
                self.current_term,
                msg.last_included_index,
                received,
                installed,
                msg.seq,
            )
        )

    def _on_install_snapshot_reply(self, msg: InstallSnapshotReply, now: float) -> None:
        """Fig. 13 (leader side): send the next chunk, or move on once it is installed."""
        if self.role is not Role.LEADER or msg.term != self.current_term:
            return
        peer = msg.src
        self.recent_active.add(peer)
        if msg.seq > self.acked_seq.get(peer, 0):
            self.acked_seq[peer] = msg.seq
            self._on_round_acknowledged(now)
        send = self.snapshot_sends.get(peer)
        if send is None or send.snapshot.last_included_index != msg.last_included_index:
            return  # a reply about a transfer that is over
        if msg.installed:
            del self.snapshot_sends[peer]
            index = msg.last_included_index
            self.match_index[peer] = max(self.match_index[peer], index)
            self.next_index[peer] = max(self.next_index[peer], index + 1)
            self._advance_commit(now)
            self._send_append(peer)  # the entries after the snapshot follow at once
            return
        if msg.received == send.offset:
            return  # a repeat: the next heartbeat resends the chunk if it was lost
        send.offset = msg.received
        self._send_snapshot_chunk(peer)

    # ------------------------------------------------------------------ clients

    def _on_client_request(self, msg: ClientRequest, now: float) -> None:
        """Section 8: only the leader serves clients; others point at the leader they know."""
        cmd = msg.command
        if cmd.op is Op.GET and msg.read_mode is ReadMode.FOLLOWER:
            result = self.sm.read(cmd.key)
            self._event(
                "read",
                f"{self.id} answered {msg.src}'s GET {cmd.key} from its own state: "
                f"{result.value} (may be stale)",
            )
            self._send(ClientReply(self.id, msg.src, 0, msg.request_id, True, result))
            return
        if self.role is not Role.LEADER:
            self._refuse_client(msg.src, msg.request_id, "not the leader", self.leader_id)
            return
        if self.transfer_target is not None:
            # Thesis 3.10: new requests would only be lost or delayed by the coming election.
            why = f"leadership transfer to {self.transfer_target} in progress"
            self._refuse_client(msg.src, msg.request_id, why, self.transfer_target)
            return
        if cmd.op is Op.GET and msg.read_mode is not ReadMode.LOG:
            self._start_read(msg, now)
            return
        seen = self.sm.sessions.get(cmd.client) if cmd.client else None
        if seen is not None and seen[0] == cmd.request_id:
            self._send(ClientReply(self.id, msg.src, 0, msg.request_id, True, seen[1]))
            return
        for owner in self.pending_writes.values():
            if owner == (msg.src, msg.request_id):
                return  # a retry of an entry already in our log: answer when it applies
        index = self._append_local(cmd, now)
        self.pending_writes[index] = (msg.src, msg.request_id)
        self._event(
            "append",
            f"{self.id} appended {cmd.describe()} at index {index} (term {self.current_term})",
            index=index,
        )
        self._broadcast_append(now)
        self._advance_commit(now)

    def _append_local(self, cmd: Command, now: float) -> int:
        self.log.append(LogEntry(self.current_term, cmd, round(now, 3)))
        if cmd.config is not None:
            self.configs.appended(self.log.last_index, cmd.config)
            self._on_config_changed()
        return self.log.last_index

    def _start_read(self, msg: ClientRequest, now: float) -> None:
        """Thesis 6.4: ReadIndex confirms leadership with a round; a lease read skips it."""
        read = PendingRead(msg.src, msg.request_id, msg.command.key, self.seq + 1, None)
        if msg.read_mode is ReadMode.LEASE:
            if not self.settings.check_quorum:
                # Without CheckQuorum, followers vote for others while the lease runs.
                why = "lease reads need CheckQuorum on"
                self._refuse_client(msg.src, msg.request_id, why, self.id)
                return
            if now >= self.lease_until:
                self._refuse_client(msg.src, msg.request_id, "no valid lease", self.id)
                return
            read.seq = 0  # the lease stands in for the round
        self.pending_reads.append(read)
        if read.seq:
            self._broadcast_append(now)
            self._on_round_acknowledged(now)  # a one-node cluster confirms at once
        self._serve_reads(now)

    def _on_round_acknowledged(self, now: float) -> None:
        """A majority acknowledged round ``seq``: extend the lease, confirm ReadIndex reads."""
        confirmed = self._agreed({**self.acked_seq, self.id: self.seq})
        sent = self.round_sent.get(confirmed)
        if sent is not None:
            self.lease_until = max(self.lease_until, sent + self.settings.lease_duration)
        for old in [s for s in self.round_sent if s < confirmed]:
            del self.round_sent[old]
        for read in self.pending_reads:
            if read.seq and read.seq <= confirmed:
                read.seq = 0
        self._serve_reads(now)

    def _serve_reads(self, now: float) -> None:
        """Answer reads whose round is confirmed once the state machine reaches read_index."""
        if not self.pending_reads:
            return
        # The leader knows the commit index only after committing an entry of its own term.
        knows_commit = self.log.term_at(self.commit_index) == self.current_term
        waiting: list[PendingRead] = []
        for read in self.pending_reads:
            if read.seq:
                waiting.append(read)
                continue
            if read.read_index is None:
                if not knows_commit:
                    waiting.append(read)
                    continue
                read.read_index = self.commit_index
            if self.last_applied < read.read_index:
                waiting.append(read)
                continue
            result = self.sm.read(read.key)
            self._event(
                "read",
                f"{self.id} answered {read.client}'s GET {read.key} = {result.value} "
                f"at read index {read.read_index}",
            )
            self._send(ClientReply(self.id, read.client, 0, read.request_id, True, result))
        self.pending_reads = waiting

    # ---------------------------------------------------------------- applying

    def _apply_committed(self, now: float) -> None:
        """Fig. 2, Rules for All Servers 1: apply committed entries in log order."""
        while self.last_applied < self.commit_index:
            self.last_applied += 1
            entry = self.log.entry(self.last_applied)
            result = self.sm.apply(entry)
            owner = self.pending_writes.pop(self.last_applied, None)
            if owner is not None:
                self._send(ClientReply(self.id, owner[0], 0, owner[1], True, result))
        if self.pending_reads:
            self._serve_reads(now)

    # -------------------------------------------------------------------- output

    def _send(self, msg: Message) -> None:
        self._messages.append(msg)

    def _refuse_client(
        self, client: str, request_id: int, error: str, hint: str | None = None
    ) -> None:
        """Answer a client with an error (and where the leader is, when known)."""
        reply = ClientReply(self.id, client, 0, request_id, False, error=error, leader_hint=hint)
        self._send(reply)

    def _event(self, kind: str, text: str, **data: Any) -> None:
        self._events.append(Event(self.id, kind, text, data))

    def _flush(self) -> Output:
        if not self._messages and not self._events:
            return _NOTHING
        out = Output(tuple(self._messages), tuple(self._events))
        self._messages.clear()
        self._events.clear()
        return out


_NOTHING = Output()  # immutable, so every input that did nothing shares it


_HANDLERS: dict[type[Message], Callable[[RaftNode, Any, float], None]] = {
    RequestVote: RaftNode._on_request_vote,
    RequestVoteReply: RaftNode._on_request_vote_reply,
    AppendEntries: RaftNode._on_append_entries,
    AppendEntriesReply: RaftNode._on_append_entries_reply,
    InstallSnapshot: RaftNode._on_install_snapshot,
    InstallSnapshotReply: RaftNode._on_install_snapshot_reply,
    ClientRequest: RaftNode._on_client_request,
    TimeoutNow: RaftNode._on_timeout_now,
}

