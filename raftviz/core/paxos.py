"""A Paxos node as a pure state machine: Basic Paxos and Multi-Paxos (Lamport, "Paxos Made Simple").

Every node plays all three roles of the paper: proposer, acceptor and learner. The node is driven
exactly like :class:`~raftviz.core.raft.RaftNode`: :meth:`PaxosNode.step` with a message,
:meth:`PaxosNode.tick` when its next timer is due and :meth:`PaxosNode.timeout_now` when the user
wants it to propose now; each returns an :class:`~raftviz.core.raft.Output`. It never reads a
clock or the global random module.

The two phases, for one slot:

* Phase 1. A proposer picks a ballot higher than any it has seen and sends ``Prepare`` to every
  acceptor. An acceptor that has not promised a higher ballot promises this one and answers
  ``Promise`` with the proposal it has accepted, if any; otherwise it answers ``Nack`` with the
  higher ballot it promised.
* Phase 2. With promises from a majority, the proposer sends ``Accept`` with the value of the
  highest-ballot proposal reported, or its own value if none was reported. An acceptor accepts
  unless it promised a higher ballot, and answers ``Accepted`` (or ``Nack``).

Learning: acceptors send ``Accepted`` to the proposer only. The proposer that counts a majority
of acceptors for one ballot knows the value is chosen and tells every other node with ``Learn``
(fewer messages than every acceptor telling every learner, at the price of one more hop).

A proposer abandons its ballot as soon as it knows another proposer began a higher one: an
acceptor refused it with ``Nack``, or its own acceptor promised or accepted the higher ballot
(Paxos Made Simple, 2.2). A majority may already have accepted its value by then: the value is
chosen even though nobody knows it yet, and the next ballot's phase 1 will find it.

Basic Paxos (mode ``basic``) decides one value, in slot 1. Any node a client asks becomes a
proposer for that client's command. A proposer that abandoned its ballot, or heard from no
majority within ``proposal_timeout``, tries again with a higher ballot: at once, or, with
back-off on, after a random wait. Without back-off two proposers can pre-empt each other for
ever (Paxos Made Simple, 2.4).

Multi-Paxos (mode ``multi``) decides a log of slots. A node that hears from no leader for a
randomized election timeout runs phase 1 once for every slot it does not know to be chosen. When
a majority promised, it is the leader: it re-proposes the highest-ballot value reported for each
slot, fills the gaps with no-ops, and from then on runs only phase 2 per client command. Its
heartbeats carry how far it knows the log to be chosen; a learner that is behind asks with
``CatchUp`` and the leader answers with ``Learn``. A candidate or leader that abandons its
ballot, or hears a Heartbeat or Accept from the leader of a higher one, becomes a follower.

A node's messages to itself (its proposer asking its own acceptor) never touch the network: they
are handled at once, inside the same step, and are not part of the Output.
"""

from __future__ import annotations

import copy
import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from raftviz.core.messages import (
    NOOP,
    ClientReply,
    ClientRequest,
    Command,
    Event,
    LogEntry,
    Message,
    Op,
    ReadMode,
    Result,
)
from raftviz.core.paxos_messages import (
    NO_BALLOT,
    Accept,
    Accepted,
    Ballot,
    CatchUp,
    Heartbeat,
    Learn,
    Nack,
    PaxosKind,
    PaxosMessage,
    Prepare,
    Promise,
    Proposal,
    node_order,
)
from raftviz.core.raft import Output, Role
from raftviz.core.state_machine import KVStateMachine


class PaxosMode(StrEnum):
    BASIC = "basic"  # single-decree Paxos: one value, in slot 1
    MULTI = "multi"  # a log of slots with a distinguished leader


class Phase(StrEnum):
    """Where this node's proposer is."""

    IDLE = "idle"  # not proposing
    PREPARE = "prepare"  # phase 1: Prepare sent, counting promises
    ACCEPT = "accept"  # phase 2: Accept sent, counting Accepted (a Multi-Paxos leader stays here)
    BACKOFF = "backoff"  # Basic Paxos: pre-empted, waiting a random time before a higher ballot


@dataclass(frozen=True, slots=True)
class PaxosSettings:
    """Protocol settings; every field but ``mode`` can be changed on a running cluster."""

    mode: PaxosMode = PaxosMode.MULTI
    election_timeout_min: float = 150.0  # Multi-Paxos: silence from the leader before phase 1
    election_timeout_max: float = 300.0
    heartbeat_interval: float = 50.0  # Multi-Paxos leader
    proposal_timeout: float = 200.0  # Basic Paxos: give a round up without a majority by then
    backoff: bool = True  # Basic Paxos: wait a random time before retrying a pre-empted round
    backoff_max: float = 100.0  # the wait is uniform in [0, backoff_max) ms
    max_batch: int = 64  # slots per catch-up Learn, and per Accept retransmission round
    # Teaching modes: each breaks safety on purpose.
    forgetful_acceptors: bool = False  # acceptors keep promises and accepted values in memory only
    ignore_promised_values: bool = False  # proposers ignore the values reported in phase 1

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "mode", PaxosMode(self.mode))
        except ValueError:
            raise ValueError(
                f"unknown Paxos mode {self.mode!r}; use 'basic' or 'multi'"
            ) from None

    def teaching_modes(self) -> list[str]:
        """Names of the unsafe teaching modes that are on."""
        names = ("forgetful_acceptors", "ignore_promised_values")
        return [name for name in names if getattr(self, name)]


@dataclass(slots=True)
class PaxosPersistent:
    """What a Paxos node keeps on stable storage: it survives a crash.

    The acceptor's promise and accepted proposals must survive, or a restarted acceptor could
    help choose a second value. The highest round this node used as a proposer survives too, so
    it never reuses a ballot. What a node learned is not here: like Raft's commit index it is
    learned again after a restart.
    """

    promised_ballot: Ballot = NO_BALLOT
    accepted: dict[int, Proposal] = field(default_factory=dict)
    proposer_round: int = 0


# A client waiting for a slot: (client id, request id, the command it asked for).
Waiter = tuple[str, int, Command]


class PaxosNode:
    """One Paxos server: proposer, acceptor and learner. See the module docstring."""

    def __init__(
        self,
        node_id: str,
        peers: tuple[str, ...],
        settings: PaxosSettings,
        rng: random.Random,
        now: float,
        persistent: PaxosPersistent | None = None,
    ) -> None:
        self.id = node_id
        self.peers = tuple(p for p in peers if p != node_id)
        self.settings = settings
        self.rng = rng
        state = persistent if persistent is not None else PaxosPersistent()
        # Acceptor state (persistent).
        self.promised_ballot = state.promised_ballot
        self.accepted: dict[int, Proposal] = dict(state.accepted)
        # Proposer state. ``ballot`` is the ballot of this node's latest round as a proposer.
        self.proposer_round = state.proposer_round
        self.ballot = NO_BALLOT
        self.phase = Phase.IDLE
        self.role = Role.FOLLOWER
        self.leader_id: str | None = None
        self.promises: dict[str, tuple[Proposal, ...]] = {}  # phase 1 answers for ``ballot``
        self.proposals: dict[int, LogEntry] = {}  # phase 2: the value proposed in each open slot
        self.accepted_by: dict[int, set[str]] = {}  # phase 2: who accepted it, per open slot
        self.proposed_at: dict[int, float] = {}  # when each open slot's Accept was last sent
        self.next_slot = 1  # Multi-Paxos leader: the next free slot
        self.own_command: Command | None = None  # Basic Paxos: the client command to propose
        self.pending_writes: dict[int, Waiter] = {}  # slot -> the client waiting for it
        # Learner state (volatile).
        self.chosen: dict[int, LogEntry] = {}
        # Multi-Paxos: the ballot whose chosen prefix was last read, and how far (see
        # _learn_accepted), so each heartbeat reads only the new slots.
        self.learned_for: tuple[Ballot, int] = (NO_BALLOT, 0)
        self.commit_index = 0  # slots 1..commit_index are all chosen and known here
        self.last_applied = 0
        self.sm = KVStateMachine()
        # The round of the highest ballot this node has seen: what the UI shows as its term.
        self.current_term = max(self.promised_ballot.round, self.proposer_round)
        # Timers. Multi-Paxos uses the election and heartbeat timers (named as in Raft);
        # Basic Paxos uses the retry timer: proposal timeout or back-off wait.
        self.heard_from_leader_at: float | None = None
        self.election_timeout = 0.0
        self.election_started_at = now
        self.election_deadline = math.inf
        self.heartbeat_deadline = math.inf
        self.retry_started_at = now
        self.retry_deadline = math.inf
        self._messages: list[Message] = []
        self._events: list[Event] = []
        self._loopback: deque[Message] = deque()
        if not self.basic:
            self._reset_election_timer(now)

    # ----------------------------------------------------------------- public inputs

    def __deepcopy__(self, memo: dict[int, Any]) -> PaxosNode:
        """A checkpoint copy: the slot tables hold immutable records, so they are copied
        shallowly (a C-level dict copy), which keeps checkpoints of long runs cheap."""
        clone = copy.copy(self)
        memo[id(self)] = clone
        clone.rng = copy.deepcopy(self.rng, memo)
        clone.sm = copy.deepcopy(self.sm, memo)
        clone.accepted = dict(self.accepted)
        clone.chosen = dict(self.chosen)
        clone.promises = dict(self.promises)
        clone.proposals = dict(self.proposals)
        clone.accepted_by = {slot: set(who) for slot, who in self.accepted_by.items()}
        clone.proposed_at = dict(self.proposed_at)
        clone.pending_writes = dict(self.pending_writes)
        clone._messages = list(self._messages)
        clone._events = list(self._events)
        clone._loopback = deque(self._loopback)
        return clone

    def step(self, msg: Message, now: float) -> Output:
        """Handle one incoming message."""
        self._deliver(msg, now)
        return self._finish(now)

    def tick(self, now: float) -> Output:
        """Fire every timer that is due at ``now``."""
        if self.basic:
            if now >= self.retry_deadline:
                self._on_retry_timer(now)
        elif self.role is Role.LEADER:
            if now >= self.heartbeat_deadline:
                self._on_heartbeat_timer(now)
        elif now >= self.election_deadline:
            self._on_election_timeout(now)
        return self._finish(now)

    def timeout_now(self, now: float) -> Output:
        """Make this node propose now (the UI's "time out now")."""
        if self.basic and 1 in self.chosen:
            self._event(
                "learn",
                f"{self.id} already knows slot 1 chose {self.chosen[1].command.describe()}; "
                f"it tells everyone again",
            )
            self._send_learn(1, self.chosen[1])
        else:
            self._clear_proposer()
            self._start_phase1(now, "was told to propose now")
        return self._finish(now)

    def next_wakeup(self) -> float:
        """The local time at which :meth:`tick` next has something to do (``inf``: nothing)."""
        if self.basic:
            return self.retry_deadline
        if self.role is Role.LEADER:
            return self.heartbeat_deadline
        return self.election_deadline

    def update_settings(self, settings: PaxosSettings, now: float) -> None:
        """Switch settings on a running node; timers keep their current deadlines."""
        if settings.mode != self.settings.mode:
            raise ValueError(
                f"the Paxos mode is fixed when a cluster is built; {self.id} runs "
                f"{self.settings.mode.value!r}, so build a new cluster for "
                f"{settings.mode.value!r}"
            )
        self.settings = settings

    def persistent_state(self) -> PaxosPersistent:
        """The state a crash leaves behind (acceptor state is lost with forgetful acceptors)."""
        if self.settings.forgetful_acceptors:
            return PaxosPersistent(NO_BALLOT, {}, self.proposer_round)
        return PaxosPersistent(self.promised_ballot, dict(self.accepted), self.proposer_round)

    @property
    def quorum(self) -> int:
        """Acceptors needed for a promise round or to choose a value: a majority of the cluster."""
        return (len(self.peers) + 1) // 2 + 1

    @property
    def basic(self) -> bool:
        return self.settings.mode is PaxosMode.BASIC

    def accepted_ballot(self, slot: int = 1) -> Ballot | None:
        """The ballot of the proposal this acceptor accepted in ``slot``, if any."""
        proposal = self.accepted.get(slot)
        return proposal.ballot if proposal is not None else None

    def accepted_value(self, slot: int = 1) -> LogEntry | None:
        """The value this acceptor accepted in ``slot``, if any."""
        proposal = self.accepted.get(slot)
        return proposal.value if proposal is not None else None

    # ---------------------------------------------------------------- acceptor

    def _on_prepare(self, msg: Prepare, now: float) -> None:
        """Paxos Made Simple, phase 1(b): promise the ballot and report what was accepted."""
        if msg.ballot < self.promised_ballot:
            self._refuse(msg, PaxosKind.PREPARE)
            return
        self.promised_ballot = msg.ballot
        report = tuple(p for slot, p in sorted(self.accepted.items()) if slot >= msg.from_slot)
        reported = (
            "reporting " + "; ".join(p.describe() for p in report[:3])
            + (f" and {len(report) - 3} more" if len(report) > 3 else "")
            if report
            else "it had accepted nothing"
        )
        to = "itself" if msg.src == self.id else msg.src
        self._event(
            "promise",
            f"{self.id} promised ballot {msg.ballot} to {to} ({reported})",
            ballot=str(msg.ballot),
        )
        self._send(Promise(self.id, msg.src, msg.term, msg.ballot, report))
        if msg.src != self.id:
            self._rival_seen(msg.ballot, f"its own acceptor promised {msg.src}'s {msg.ballot}", now)
            if not self.basic:
                # Give the new proposer time to finish phase 1 before starting a rival ballot.
                self.leader_id = None
                self._reset_election_timer(now)

    def _on_accept(self, msg: Accept, now: float) -> None:
        """Paxos Made Simple, phase 2(b): accept unless a higher ballot was promised."""
        if msg.ballot < self.promised_ballot:
            self._refuse(msg, PaxosKind.ACCEPT, msg.slot)
            return
        self.promised_ballot = msg.ballot  # accepting a ballot also promises it
        self.accepted[msg.slot] = Proposal(msg.slot, msg.ballot, msg.value)
        self._event(
            "accepted",
            f"{self.id} accepted {msg.value.command.describe()} in slot {msg.slot} "
            f"at ballot {msg.ballot}",
            slot=msg.slot,
            ballot=str(msg.ballot),
        )
        self._send(Accepted(self.id, msg.src, msg.term, msg.ballot, msg.slot))
        if msg.src != self.id:
            self._rival_seen(msg.ballot, f"its own acceptor accepted {msg.src}'s {msg.ballot}", now)
            if not self.basic:
                self._follow(msg.src, msg.ballot, now)
                self._learn_accepted(msg.ballot, msg.chosen_upto, msg.src)

    def _refuse(self, msg: PaxosMessage, refused: PaxosKind, slot: int = 0) -> None:
        """Paxos Made Simple, 2.2: an acceptor that ignores a request tells the proposer why."""
        where = f" for slot {slot}" if slot else ""
        self._event(
            "refused",
            f"{self.id} rejected {refused}({msg.ballot}){where} from {msg.src}: "
            f"it promised {self.promised_ballot}",
            ballot=str(msg.ballot),
        )
        promised = self.promised_ballot
        self._send(Nack(self.id, msg.src, promised.round, msg.ballot, refused, promised, slot))

    # ---------------------------------------------------------------- proposer

    def _start_phase1(self, now: float, why: str) -> None:
        """Paxos Made Simple, phase 1(a): pick a higher ballot, send Prepare to every acceptor."""
        self.proposer_round = max(self.current_term, self.proposer_round) + 1
        self.current_term = self.proposer_round
        self.ballot = Ballot(self.proposer_round, self.id)
        self._clear_round()
        self.phase = Phase.PREPARE
        self.role = Role.CANDIDATE
        self.leader_id = None
        from_slot = self.commit_index + 1
        if self.basic:
            self._set_retry_timer(now, self.settings.proposal_timeout)
            kind, slots = "prepare", ""
        else:
            self._reset_election_timer(now)
            kind, slots = "election", f" for slots {from_slot} onwards"
        self._event(
            kind,
            f"{self.id} {why}: it sends Prepare({self.ballot}){slots} to every acceptor",
            ballot=str(self.ballot),
            term=self.current_term,
        )
        for node in self._everyone():
            self._send(Prepare(self.id, node, self.ballot.round, self.ballot, from_slot))

    def _on_promise(self, msg: Promise, now: float) -> None:
        """Paxos Made Simple, phase 2(a) precondition: count promises up to a majority."""
        if self.phase is not Phase.PREPARE or msg.ballot != self.ballot:
            return  # a promise for a ballot this node has given up, or a late one
        self.promises[msg.src] = msg.accepted
        if len(self.promises) < self.quorum:
            return
        promisers = ", ".join(sorted(self.promises, key=node_order))
        if self.basic:
            self._start_phase2(now, promisers)
        else:
            self._become_leader(now, promisers)

    def _start_phase2(self, now: float, promisers: str) -> None:
        """Paxos Made Simple, phase 2(a): propose the highest-ballot value reported, or our own."""
        reported = [(p, src) for src, ps in self.promises.items() for p in ps if p.slot == 1]
        own = self.own_command if self.own_command is not None else NOOP
        got = f"{self.id} got promises from a majority ({promisers}) for ballot {self.ballot}"
        if reported and not self.settings.ignore_promised_values:
            best, src = max(reported, key=lambda r: r[0].ballot)
            value = best.value
            instead = (
                f" instead of its own {own.describe()}" if own != value.command else ""
            )
            why = (
                f"{src} had accepted {value.command.describe()} at {best.ballot}, so it must "
                f"propose that value{instead}"
            )
        else:
            value = LogEntry(self.ballot.round, own, round(now, 3))
            if reported:
                why = (
                    f"it IGNORES the values the acceptors reported (teaching mode) and proposes "
                    f"its own {own.describe()}"
                )
            else:
                why = f"none had accepted anything, so it proposes its own {own.describe()}"
        self._event("majority", f"{got}; {why}", ballot=str(self.ballot))
        self.phase = Phase.ACCEPT
        self._set_retry_timer(now, self.settings.proposal_timeout)
        self._propose(1, value, now)

    def _become_leader(self, now: float, promisers: str) -> None:
        """Multi-Paxos: phase 1 done for all open slots; recover accepted values, fill gaps."""
        self.role = Role.LEADER
        self.leader_id = self.id
        self.phase = Phase.ACCEPT
        start = self.commit_index + 1
        best: dict[int, Proposal] = {}
        if not self.settings.ignore_promised_values:
            for reported in self.promises.values():
                for p in reported:
                    if p.slot >= start and (p.slot not in best or p.ballot > best[p.slot].ballot):
                        best[p.slot] = p
        last = max([self.commit_index, *best, *self.chosen])
        self._event(
            "leader",
            f"{self.id} got promises from a majority ({promisers}) for ballot {self.ballot} "
            f"and leads from slot {start}: from now on each command needs only phase 2",
            ballot=str(self.ballot),
            term=self.current_term,
        )
        if self.settings.ignore_promised_values:
            reported_slots = sorted({p.slot for ps in self.promises.values() for p in ps})
            if reported_slots:
                self._event(
                    "recover",
                    f"{self.id} IGNORES the values reported for slots "
                    f"{_slot_list(reported_slots)} (teaching mode)",
                )
        recovered: list[str] = []
        gaps: list[int] = []
        for slot in range(start, last + 1):
            if slot in self.chosen:
                continue
            if slot in best:
                value = best[slot].value
                recovered.append(
                    f"slot {slot}: {value.command.describe()} (accepted at {best[slot].ballot})"
                )
            else:
                value = LogEntry(self.ballot.round, NOOP, round(now, 3))
                gaps.append(slot)
            self._propose(slot, value, now)
        if recovered:
            self._event(
                "recover",
                f"{self.id} proposes again the highest-ballot value reported for each slot: "
                + "; ".join(recovered),
            )
        if gaps:
            self._event(
                "noop", f"{self.id} fills the gaps with no-ops: slots {_slot_list(gaps)}"
            )
        self.next_slot = last + 1
        self._broadcast_heartbeat(now)

    def _propose(self, slot: int, value: LogEntry, now: float) -> None:
        """Phase 2(a) for one slot: send Accept to every acceptor."""
        self.proposals[slot] = value
        self.accepted_by[slot] = set()
        self.proposed_at[slot] = now
        for node in self._everyone():
            self._send(self._accept_message(node, slot, value))

    def _accept_message(self, node: str, slot: int, value: LogEntry) -> Accept:
        """Phase 2(a); a Multi-Paxos leader also carries its chosen prefix, like Raft's commit."""
        chosen_upto = 0 if self.basic else self.commit_index
        return Accept(self.id, node, self.ballot.round, self.ballot, slot, value, chosen_upto)

    def _on_nack(self, msg: Nack, now: float) -> None:
        """Paxos Made Simple, 2.2: a proposer told of a higher ballot abandons its own."""
        if msg.ballot != self.ballot or self.phase not in (Phase.PREPARE, Phase.ACCEPT):
            return  # about a ballot this node has already given up
        self._give_up(f"{msg.src} refused it: it promised {msg.promised}", now)

    def _on_accepted(self, msg: Accepted, now: float) -> None:
        """Paxos Made Simple, 2.3: a value is chosen once a majority of acceptors accepted it."""
        if msg.ballot != self.ballot or msg.slot not in self.proposals:
            return  # a late answer, or the slot is already chosen
        voters = self.accepted_by[msg.slot]
        voters.add(msg.src)
        if len(voters) >= self.quorum:
            self._choose(msg.slot, now)

    def _choose(self, slot: int, now: float) -> None:
        """A majority accepted the proposal in ``slot``: it is chosen; tell every learner."""
        value = self.proposals.pop(slot)
        voters = self.accepted_by.pop(slot)
        self.proposed_at.pop(slot, None)
        names = ", ".join(sorted(voters, key=node_order))
        self._event(
            "chosen",
            f"value {value.command.describe()} chosen in slot {slot}: a majority ({names}) "
            f"accepted it at ballot {self.ballot}",
            slot=slot,
            ballot=str(self.ballot),
        )
        self._learn(slot, value)
        if self.basic:
            self._send_learn(slot, value)
        # Multi-Paxos: learners hear it with the next Accept or heartbeat (chosen_upto).

    def _rival_seen(self, higher: Ballot, why: str, now: float) -> None:
        """Paxos Made Simple, 2.2: abandon a ballot once another proposer began a higher one."""
        if self.phase in (Phase.PREPARE, Phase.ACCEPT) and higher > self.ballot:
            self._give_up(why, now)

    def _give_up(self, why: str, now: float) -> None:
        """Abandon the current ballot: Basic Paxos retries, a Multi-Paxos node follows."""
        if self.basic:
            self._back_off(now, why)
        else:
            self._step_down(why, now)

    def _back_off(self, now: float, why: str) -> None:
        """Basic Paxos: retry with a higher ballot, at once or after a random wait."""
        gave_up = f"{self.id} gave up ballot {self.ballot} ({why})"
        self._clear_round()
        if not self.settings.backoff:
            self._event("retry", f"{gave_up} and tries again at once")
            self._start_phase1(now, "retries with a higher ballot")
            return
        wait = self.rng.uniform(0.0, self.settings.backoff_max)
        self.phase = Phase.BACKOFF
        self.role = Role.FOLLOWER
        self._set_retry_timer(now, wait)
        self._event(
            "backoff",
            f"{gave_up} and waits {wait:.0f} ms (random back-off) before trying a higher ballot",
        )

    def _on_retry_timer(self, now: float) -> None:
        """Basic Paxos: the back-off wait is over, or a round heard from no majority in time."""
        if self.phase is Phase.BACKOFF:
            self._start_phase1(now, "finished its back-off")
        else:
            self._back_off(
                now, f"no majority answered within {self.settings.proposal_timeout:g} ms"
            )

    def _clear_round(self) -> None:
        """Forget the answers counted for the current ballot."""
        self.promises = {}
        self.proposals = {}
        self.accepted_by = {}
        self.proposed_at = {}

    def _clear_proposer(self) -> None:
        """Stop proposing; a Multi-Paxos leader's waiting clients hear that leadership is lost."""
        if not self.basic:
            for client, request_id, _ in self.pending_writes.values():
                self._send(
                    ClientReply(self.id, client, 0, request_id, False, error="leadership lost")
                )
            self.pending_writes = {}
        self._clear_round()
        self.phase = Phase.IDLE
        self.role = Role.FOLLOWER
        self.leader_id = None
        self.heartbeat_deadline = math.inf
        self.retry_deadline = math.inf

    # ------------------------------------------------------------- Multi-Paxos leader

    def _on_election_timeout(self, now: float) -> None:
        """Multi-Paxos: no leader was heard for an election timeout; run phase 1 to lead."""
        if self.role is Role.CANDIDATE:
            why = f"did not finish phase 1 within {self.election_timeout:.0f} ms"
        else:
            why = f"heard from no leader for {self.election_timeout:.0f} ms"
        self._start_phase1(now, why)

    def _on_heartbeat_timer(self, now: float) -> None:
        """Multi-Paxos leader: heartbeat, and resend Accept for slots not chosen yet."""
        self._broadcast_heartbeat(now)
        due = now - self.settings.heartbeat_interval
        stale = [slot for slot in sorted(self.proposals) if self.proposed_at[slot] <= due]
        for slot in stale[: self.settings.max_batch]:
            self.proposed_at[slot] = now
            value = self.proposals[slot]
            for peer in self.peers:
                if peer not in self.accepted_by[slot]:
                    self._send(self._accept_message(peer, slot, value))

    def _broadcast_heartbeat(self, now: float) -> None:
        self.heartbeat_deadline = now + self.settings.heartbeat_interval
        for peer in self.peers:
            self._send(Heartbeat(self.id, peer, self.ballot.round, self.ballot, self.commit_index))

    def _on_heartbeat(self, msg: Heartbeat, now: float) -> None:
        """Multi-Paxos: the leader's heartbeat holds off new ballots and shows what is chosen."""
        if msg.ballot < self.promised_ballot:
            self._refuse(msg, PaxosKind.HEARTBEAT)
            return
        self._rival_seen(msg.ballot, f"{msg.src} leads with the higher ballot {msg.ballot}", now)
        self._follow(msg.src, msg.ballot, now)
        self._learn_accepted(msg.ballot, msg.chosen_upto, msg.src)
        if msg.chosen_upto > self.commit_index:
            self._send(
                CatchUp(self.id, msg.src, msg.term, msg.ballot, self.commit_index + 1)
            )

    def _follow(self, leader: str, ballot: Ballot, now: float) -> None:
        """Multi-Paxos: hearing from the leader of a ballot no lower than our promise."""
        if self.leader_id != leader:
            self._event("follow", f"{self.id} follows leader {leader} (ballot {ballot})")
        self.leader_id = leader
        self.heard_from_leader_at = now
        self._reset_election_timer(now)

    def _on_catch_up(self, msg: CatchUp, now: float) -> None:
        """Multi-Paxos: send a lagging learner the chosen values it is missing."""
        last = min(self.commit_index, msg.from_slot + self.settings.max_batch - 1)
        if last < msg.from_slot:
            return
        values = tuple(self.chosen[slot] for slot in range(msg.from_slot, last + 1))
        self._send(Learn(self.id, msg.src, self.ballot.round, self.ballot, msg.from_slot, values))

    def _step_down(self, why: str, now: float) -> None:
        """Multi-Paxos: a candidate or leader that sees a higher ballot becomes a follower."""
        was = "leader" if self.role is Role.LEADER else "candidate"
        self._event(
            "step_down",
            f"{self.id} stopped being {was} with ballot {self.ballot}: {why}",
            term=self.current_term,
        )
        self._clear_proposer()
        self._reset_election_timer(now)

    def _reset_election_timer(self, now: float) -> None:
        s = self.settings
        self.election_timeout = self.rng.uniform(s.election_timeout_min, s.election_timeout_max)
        self.election_started_at = now
        self.election_deadline = now + self.election_timeout

    def _set_retry_timer(self, now: float, wait: float) -> None:
        self.retry_started_at = now
        self.retry_deadline = now + wait

    # ---------------------------------------------------------------- learner

    def _on_learn(self, msg: Learn, now: float) -> None:
        """Paxos Made Simple, 2.3: a learner records the values it is told were chosen."""
        new = [
            slot
            for slot, value in enumerate(msg.values, start=msg.slot)
            if self._learn(slot, value, msg.src)
        ]
        if len(new) == 1:
            value = self.chosen[new[0]]
            self._event(
                "learn",
                f"{self.id} learned from {msg.src} that slot {new[0]} chose "
                f"{value.command.describe()}",
                slot=new[0],
            )
        elif new:
            self._event(
                "learn",
                f"{self.id} learned from {msg.src} the values chosen in slots "
                f"{_slot_list(new)}",
                slot=new[-1],
            )

    def _learn(self, slot: int, value: LogEntry, source: str | None = None) -> bool:
        """Record that ``value`` was chosen in ``slot``; True if that is news."""
        known = self.chosen.get(slot)
        if known is not None:
            if known != value:
                told = f" by {source}" if source else ""
                self._event(
                    "violation",
                    f"SAFETY BROKEN: {self.id} knows slot {slot} chose "
                    f"{known.command.describe()}, but is told{told} it chose "
                    f"{value.command.describe()}: two values were chosen for one slot",
                    slot=slot,
                )
            return False
        self.chosen[slot] = value
        if self.basic:
            self._clear_proposer()  # the one decision is made: nothing left to propose
            self.own_command = None
        self.proposals.pop(slot, None)
        self.accepted_by.pop(slot, None)
        self.proposed_at.pop(slot, None)
        return True

    def _learn_accepted(self, ballot: Ballot, chosen_upto: int, leader: str) -> None:
        """Multi-Paxos: the leader of ``ballot`` says slots up to ``chosen_upto`` are chosen.

        It proposed one value per slot at its ballot, so where this acceptor accepted at that
        ballot, what it accepted is what was chosen. A slot it already knows is checked (two
        values chosen for one slot is reported); a gap waits for a catch-up.
        """
        seen_ballot, done = self.learned_for
        start = done + 1 if seen_ballot == ballot else 1
        new: list[int] = []
        slot = start - 1
        for slot in range(start, chosen_upto + 1):
            proposal = self.accepted.get(slot)
            if proposal is not None and proposal.ballot == ballot:
                if self._learn(slot, proposal.value, leader):
                    new.append(slot)
            elif slot not in self.chosen:
                slot -= 1
                break
        self.learned_for = (ballot, max(slot, done if seen_ballot == ballot else 0))
        if new:
            self._event(
                "learn",
                f"{self.id} learned from {leader} that slots {_slot_list(new)} are chosen "
                f"(the values it accepted at ballot {ballot})",
                slot=new[-1],
            )
            while self.commit_index + 1 in self.chosen:
                self.commit_index += 1

    def _send_learn(self, slot: int, value: LogEntry) -> None:
        for peer in self.peers:
            self._send(Learn(self.id, peer, self.ballot.round, self.ballot, slot, (value,)))

    def _apply_chosen(self) -> None:
        """Apply chosen values in slot order; answer the client waiting for each slot."""
        while self.commit_index + 1 in self.chosen:
            self.commit_index += 1
        while self.last_applied < self.commit_index:
            self.last_applied += 1
            value = self.chosen[self.last_applied]
            result = self.sm.apply(value)
            waiter = self.pending_writes.pop(self.last_applied, None)
            if waiter is not None:
                self._answer(waiter, value, result)

    def _answer(self, waiter: Waiter, value: LogEntry, result: Result) -> None:
        client, request_id, command = waiter
        if value.command == command:
            self._send(ClientReply(self.id, client, 0, request_id, True, result))
        else:
            error = f"another value was chosen: {value.command.describe()}"
            self._send(ClientReply(self.id, client, 0, request_id, False, error=error))

    # ------------------------------------------------------------------ clients

    def _on_client_request(self, msg: ClientRequest, now: float) -> None:
        """Serve a client: follower reads locally; everything else goes through a slot."""
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
        if cmd.op is Op.GET and msg.read_mode is not ReadMode.LOG:
            protocol = "Basic Paxos" if self.basic else "Multi-Paxos"
            self._send(
                ClientReply(
                    self.id,
                    msg.src,
                    0,
                    msg.request_id,
                    False,
                    error=f"read mode not supported by {protocol}",
                )
            )
            return
        if self.basic:
            self._propose_single(msg, now)
        else:
            self._propose_in_log(msg, now)

    def _propose_single(self, msg: ClientRequest, now: float) -> None:
        """Basic Paxos: the node a client asks becomes a proposer of its command for slot 1."""
        cmd = msg.command
        waiter = (msg.src, msg.request_id, cmd)
        decided = self.chosen.get(1)
        if decided is not None:
            seen = self.sm.sessions.get(cmd.client) if cmd.client else None
            same = decided.command == cmd
            result = seen[1] if same and seen is not None else Result(True)
            self._answer(waiter, decided, result)
            return
        if self.own_command is not None and self.own_command != cmd:
            self._send(
                ClientReply(
                    self.id,
                    msg.src,
                    0,
                    msg.request_id,
                    False,
                    error=f"busy: {self.id} is already proposing {self.own_command.describe()}",
                )
            )
            return
        self.pending_writes[1] = waiter
        if self.own_command is not None:
            return  # a retry of the command already being proposed
        self.own_command = cmd
        self._start_phase1(now, f"was asked by {msg.src} to propose {cmd.describe()}")

    def _propose_in_log(self, msg: ClientRequest, now: float) -> None:
        """Multi-Paxos: the leader puts the command in the next free slot (phase 2 only)."""
        cmd = msg.command
        if self.role is not Role.LEADER:
            self._send(
                ClientReply(
                    self.id,
                    msg.src,
                    0,
                    msg.request_id,
                    False,
                    error="not the leader",
                    leader_hint=self.leader_id,
                )
            )
            return
        seen = self.sm.sessions.get(cmd.client) if cmd.client else None
        if seen is not None and seen[0] == cmd.request_id:
            self._send(ClientReply(self.id, msg.src, 0, msg.request_id, True, seen[1]))
            return
        waiter = (msg.src, msg.request_id, cmd)
        slot = self._slot_in_flight(waiter)
        if slot is not None:
            self.pending_writes[slot] = waiter  # answer when that slot is applied
            return
        slot = self.next_slot
        self.next_slot += 1
        self.pending_writes[slot] = waiter
        self._event(
            "propose",
            f"{self.id} proposes {cmd.describe()} in slot {slot} at ballot {self.ballot}",
            slot=slot,
        )
        self._propose(slot, LogEntry(self.ballot.round, cmd, round(now, 3)), now)

    def _slot_in_flight(self, waiter: Waiter) -> int | None:
        """The slot already carrying this request (proposed, or chosen but not yet applied)."""
        client, request_id, cmd = waiter
        for slot, other in self.pending_writes.items():
            if other[:2] == (client, request_id):
                return slot
        if not cmd.client:
            return None
        for slot, value in self.proposals.items():
            if value.command == cmd:
                return slot
        # Chosen but not yet applied: only slots between last_applied and next_slot qualify.
        for slot in range(self.last_applied + 1, self.next_slot):
            chosen = self.chosen.get(slot)
            if chosen is not None and chosen.command == cmd:
                return slot
        return None

    # -------------------------------------------------------------------- plumbing

    def _deliver(self, msg: Message, now: float) -> None:
        if isinstance(msg, PaxosMessage):
            self.current_term = max(self.current_term, msg.term)
        handler = _HANDLERS.get(type(msg))
        if handler is None:
            raise TypeError(f"{self.id} cannot handle {type(msg).__name__}")
        handler(self, msg, now)

    def _finish(self, now: float) -> Output:
        """Deliver this node's messages to itself, apply what is chosen, hand back the rest."""
        while self._loopback:
            self._deliver(self._loopback.popleft(), now)
        self._apply_chosen()
        out = Output(tuple(self._messages), tuple(self._events))
        self._messages.clear()
        self._events.clear()
        return out

    def _everyone(self) -> tuple[str, ...]:
        """Every acceptor, this node first (its own answer arrives at once)."""
        return (self.id, *self.peers)

    def _send(self, msg: Message) -> None:
        if msg.dst == self.id:
            self._loopback.append(msg)
        else:
            self._messages.append(msg)

    def _event(self, kind: str, text: str, **data: Any) -> None:
        self._events.append(Event(self.id, kind, text, data))


def _slot_list(slots: list[int]) -> str:
    """Slot numbers with runs shortened: [2, 4, 5, 6] -> "2, 4-6"."""
    runs: list[list[int]] = []
    for slot in slots:
        if runs and slot == runs[-1][1] + 1:
            runs[-1][1] = slot
        else:
            runs.append([slot, slot])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


_HANDLERS: dict[type[Message], Callable[[PaxosNode, Any, float], None]] = {
    Prepare: PaxosNode._on_prepare,
    Promise: PaxosNode._on_promise,
    Nack: PaxosNode._on_nack,
    Accept: PaxosNode._on_accept,
    Accepted: PaxosNode._on_accepted,
    Learn: PaxosNode._on_learn,
    Heartbeat: PaxosNode._on_heartbeat,
    CatchUp: PaxosNode._on_catch_up,
    ClientRequest: PaxosNode._on_client_request,
}
