"""The mutant table: classic Raft and Paxos bugs injected into the real core, caught live.

Each mutant monkeypatches one rule of raftviz/core (the way a student's bug would break it),
then seeded chaos schedules (tests/sim/chaos.py) run until the live monitor reports a
violation. Every mutant must be caught by a live monitor, and the unmutated core must stay
clean on the same schedules. The table (mutant, caught by, steps to detection) is printed in
the test output (``pytest -s``) and kept in docs/monitors.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import pytest

import raftviz.core.paxos as paxos_core
import raftviz.core.raft as raft_core
from raftviz.core.messages import AppendEntries, RequestVoteReply
from raftviz.core.paxos import PaxosNode, PaxosPersistent
from raftviz.core.paxos_messages import NO_BALLOT, Accept, Ballot
from raftviz.core.raft import PersistentState, RaftNode, Role
from raftviz.sim.history import History
from tests.sim.chaos import chaos

Patch = Callable[[pytest.MonkeyPatch], None]


# ------------------------------------------------------------------------ Raft mutants


def leader_keeps_leading_in_a_newer_term(mp: pytest.MonkeyPatch) -> None:
    original = RaftNode._become_follower

    def become_follower(self: RaftNode, term: int, now: float, leader: str | None) -> None:
        if self.role is Role.LEADER and term > self.current_term:
            self.current_term, self.voted_for = term, None  # adopts the term, stays leader
            return
        original(self, term, now, leader)

    mp.setattr(RaftNode, "_become_follower", become_follower)


def accept_append_entries_from_a_stale_term(mp: pytest.MonkeyPatch) -> None:
    original = raft_core._HANDLERS[AppendEntries]

    def on_append_entries(self: RaftNode, msg: AppendEntries, now: float) -> None:
        if msg.term < self.current_term and self.role is not Role.LEADER:
            msg = replace(msg, term=self.current_term)  # "any leader is a leader"
        original(self, msg, now)

    mp.setitem(raft_core._HANDLERS, AppendEntries, on_append_entries)


def commit_old_term_entries_by_counting(mp: pytest.MonkeyPatch) -> None:
    def advance_commit(self: RaftNode, now: float) -> None:
        matches = sorted([self.log.last_index, *self.match_index.values()], reverse=True)
        candidate = matches[self.quorum - 1]
        if candidate > self.commit_index:  # no "entry of the current term" check (5.4.2)
            self.commit_index = candidate
            self._serve_reads(now)

    mp.setattr(RaftNode, "_advance_commit", advance_commit)


def keep_the_vote_across_a_term_change(mp: pytest.MonkeyPatch) -> None:
    original = RaftNode._become_follower

    def become_follower(self: RaftNode, term: int, now: float, leader: str | None) -> None:
        vote = self.voted_for
        original(self, term, now, leader)
        self.voted_for = vote

    mp.setattr(RaftNode, "_become_follower", become_follower)


def count_votes_from_an_older_term(mp: pytest.MonkeyPatch) -> None:
    original = raft_core._HANDLERS[RequestVoteReply]

    def on_reply(self: RaftNode, msg: RequestVoteReply, now: float) -> None:
        if not msg.pre_vote and msg.term < self.current_term:
            msg = replace(msg, term=self.current_term)
        original(self, msg, now)

    mp.setitem(raft_core._HANDLERS, RequestVoteReply, on_reply)


def forget_the_vote_on_restart(mp: pytest.MonkeyPatch) -> None:
    def persistent_state(self: RaftNode) -> PersistentState:
        return PersistentState(self.current_term, None, self.log)

    mp.setattr(RaftNode, "persistent_state", persistent_state)


def commit_up_to_the_end_of_the_log(mp: pytest.MonkeyPatch) -> None:
    original = raft_core._HANDLERS[AppendEntries]

    def on_append_entries(self: RaftNode, msg: AppendEntries, now: float) -> None:
        before = self.commit_index
        original(self, msg, now)
        if self.commit_index > before:
            self.commit_index = self.log.last_index  # instead of min(leader_commit, last new)

    mp.setitem(raft_core._HANDLERS, AppendEntries, on_append_entries)


# ----------------------------------------------------------------------- Paxos mutants


def ignore_the_promise(mp: pytest.MonkeyPatch) -> None:
    original = paxos_core._HANDLERS[Accept]

    def on_accept(self: PaxosNode, msg: Accept, now: float) -> None:
        promised = self.promised_ballot
        self.promised_ballot = min(promised, msg.ballot)  # accept below the promise ...
        original(self, msg, now)
        self.promised_ballot = max(promised, self.promised_ballot)  # ... and keep the promise

    mp.setitem(paxos_core._HANDLERS, Accept, on_accept)


def ignore_phase_1_values(mp: pytest.MonkeyPatch) -> None:
    original = PaxosNode._become_leader

    def become_leader(self: PaxosNode, now: float, promisers: str) -> None:
        self.promises = {src: () for src in self.promises}
        original(self, now, promisers)

    mp.setattr(PaxosNode, "_become_leader", become_leader)


def forget_acceptor_state_on_restart(mp: pytest.MonkeyPatch) -> None:
    def persistent_state(self: PaxosNode) -> PaxosPersistent:
        return PaxosPersistent(NO_BALLOT, {}, self.proposer_round)

    mp.setattr(PaxosNode, "persistent_state", persistent_state)


def minority_quorum(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(PaxosNode, "quorum", property(lambda self: (len(self.peers) + 1) // 2))


def ballots_without_the_node_id(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(paxos_core, "Ballot", lambda round_, node: Ballot(round_, "n1"))


# ------------------------------------------------------------------------------ table


@dataclass(frozen=True)
class Mutant:
    name: str
    patch: Patch
    config: dict[str, Any]


RAFT5 = {"size": 5}
PAXOS5 = {"protocol": "paxos", "size": 5}
MUTANTS = [
    Mutant("leader adopts a higher term but stays leader", leader_keeps_leading_in_a_newer_term,
           RAFT5),
    Mutant("followers accept AppendEntries from a stale term",
           accept_append_entries_from_a_stale_term, RAFT5),
    Mutant("commit old-term entries by counting replicas", commit_old_term_entries_by_counting,
           {"size": 5, "settings": {"noop_on_election": False}}),
    Mutant("keep the vote across a term change", keep_the_vote_across_a_term_change, RAFT5),
    Mutant("count votes from an older term", count_votes_from_an_older_term, RAFT5),
    Mutant("forget the vote on restart", forget_the_vote_on_restart, RAFT5),
    Mutant("commit up to the log's end, not leaderCommit", commit_up_to_the_end_of_the_log,
           RAFT5),
    Mutant("Paxos: accept below the promised ballot", ignore_the_promise, PAXOS5),
    Mutant("Paxos: ignore the values reported in phase 1", ignore_phase_1_values, PAXOS5),
    Mutant("Paxos: acceptors forget on restart", forget_acceptor_state_on_restart, PAXOS5),
    Mutant("Paxos: a minority quorum", minority_quorum, PAXOS5),
    Mutant("Paxos: non-unique ballots (no node id)", ballots_without_the_node_id, PAXOS5),
]
SEEDS = range(1, 9)  # schedules tried, in order, until one catches the mutant
CLEAN_SEEDS = range(1, 5)  # every mutant so far is caught within these
ACTIONS = 80


@contextmanager
def mutated(patch: Patch | None) -> Iterator[None]:
    mp = pytest.MonkeyPatch()
    try:
        if patch is not None:
            patch(mp)
        yield
    finally:
        mp.undo()


def run_once(mutant: Mutant, patch: Patch | None, seed: int) -> tuple[str, int] | None:
    """One schedule; the first invariant the live monitor reported and the step count then."""
    caught: list[tuple[str, int]] = []

    def watch(h: History) -> None:
        monitor = h.cluster.monitor
        report = monitor.report

        def first_report(cluster: Any, invariant: str, *args: Any) -> None:
            if not caught:
                caught.append((invariant, cluster.events_processed))
            report(cluster, invariant, *args)

        monitor.report = first_report  # type: ignore[method-assign]

    with mutated(patch):
        chaos({**mutant.config, "seed": seed}, seed, ACTIONS, stop=lambda h: bool(caught),
              prepare=watch, load=20)
    return caught[0] if caught else None


def hunt(mutant: Mutant, patch: Patch | None) -> tuple[str, int, int] | None:
    """Run the schedules until the live monitor reports; (invariant, seed, steps) or None."""
    for seed in SEEDS:
        found = run_once(mutant, patch, seed)
        if found is not None:
            return found[0], seed, found[1]
    return None


RESULTS: dict[str, tuple[str, int, int] | None] = {}


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_every_mutant_is_caught_by_a_live_monitor(mutant: Mutant) -> None:
    result = hunt(mutant, mutant.patch)
    RESULTS[mutant.name] = result
    assert result is not None, f"no live monitor caught {mutant.name!r} in {len(SEEDS)} runs"


@pytest.mark.parametrize("config", [RAFT5, MUTANTS[2].config, PAXOS5], ids=["raft", "raft-no-noop",
                                                                           "paxos"])
def test_the_unmutated_core_stays_clean_on_the_same_schedules(config: dict[str, Any]) -> None:
    for seed in CLEAN_SEEDS:
        h = chaos({**config, "seed": seed}, seed, ACTIONS, load=20)
        assert h.cluster.monitor.violations == [], (seed, h.cluster.monitor.violations[0])


def test_print_the_mutant_table(capsys: pytest.CaptureFixture[str]) -> None:
    """Prints the table for docs/monitors.md (run with -s); each row is hunted if needed."""
    rows = [
        "| mutant | caught by | schedule seed | steps to detection |",
        "| --- | --- | --- | --- |",
    ]
    for mutant in MUTANTS:
        result = RESULTS.get(mutant.name) or hunt(mutant, mutant.patch)
        assert result is not None
        invariant, seed, steps = result
        rows.append(f"| {mutant.name} | {invariant} | {seed} | {steps} |")
    with capsys.disabled():
        print("\n" + "\n".join(rows))
