"""Log compaction and InstallSnapshot, handler by handler (Raft paper, section 7, Figure 13).

As in test_raft_handlers: build a node in a stated situation, feed it one input, assert its
whole relevant state and the exact messages it sent. "Fig. 13, n" names the InstallSnapshot
receiver step under test.
"""

from __future__ import annotations

import copy
import random
from dataclasses import replace
from typing import Any

import pytest

from raftviz.core.compaction import Snapshot, decode_snapshot, encode_snapshot
from raftviz.core.log import CHUNK, RaftLog
from raftviz.core.membership import Configuration
from raftviz.core.messages import (
    NOOP,
    AppendEntries,
    AppendEntriesReply,
    ClientReply,
    ClientRequest,
    Command,
    InstallSnapshot,
    InstallSnapshotReply,
    LogEntry,
    Op,
    RequestVote,
    RequestVoteReply,
    Result,
)
from raftviz.core.raft import PersistentState, RaftNode, RaftSettings, Role
from raftviz.core.state_machine import KVStateMachine

THREE = ("n1", "n2", "n3")
OFF = RaftSettings(snapshot_threshold=0)


def e(term: int, name: str = "", key: str = "k") -> LogEntry:
    return LogEntry(term, Command(Op.SET, key, name or f"t{term}"))


def snapshot_of(entries: list[LogEntry], through: int) -> tuple[RaftLog, Snapshot]:
    """The log of ``entries`` compacted through ``through``, and the snapshot that covers it."""
    sm = KVStateMachine()
    for entry in entries[:through]:
        sm.apply(entry)
    log = RaftLog(entries)
    snap = Snapshot(
        through, log.term_at(through), Configuration.of(THREE), sm.image(), log.digest(through)
    )
    log.compact(through)
    return log, snap


def make_node(
    entries: list[LogEntry] | tuple[LogEntry, ...] = (),
    *,
    through: int = 0,
    term: int = 1,
    settings: RaftSettings = OFF,
    node_id: str = "n1",
) -> RaftNode:
    log, snap = snapshot_of(list(entries), through) if through else (RaftLog(entries), None)
    state = PersistentState(term, None, log, snapshot=snap)
    return RaftNode(node_id, THREE, settings, random.Random(7), 0.0, state)


def make_leader(entries: list[LogEntry], through: int, term: int, **kw: Any) -> RaftNode:
    node = make_node(entries, through=through, term=term - 1, **kw)
    node.timeout_now(0.0)
    node.step(RequestVoteReply("n2", "n1", term, True), 0.0)
    assert node.role is Role.LEADER
    return node


def view(node: RaftNode) -> dict[str, Any]:
    return {
        "role": node.role,
        "term": node.current_term,
        "snapshot": (node.log.snapshot_index, node.log.snapshot_term),
        "log": [(x.term, x.command.value) for x in node.log],
        "last_index": node.log.last_index,
        "commit_index": node.commit_index,
        "last_applied": node.last_applied,
        "kv": dict(node.sm.data),
        "leader_id": node.leader_id,
    }


def chunk(
    data: bytes, offset: int, size: int, *, index: int = 3, term: int = 1, msg_term: int = 2,
    done: bool | None = None,
) -> InstallSnapshot:
    piece = data[offset : offset + size]
    finished = offset + len(piece) >= len(data) if done is None else done
    return InstallSnapshot("n2", "n1", msg_term, index, term, offset, piece, finished, len(data))


FIVE_ENTRIES = [e(1, "a", "x"), e(1, "b", "y"), e(1, "c", "x"), e(2, "d", "z"), e(2, "e", "y")]


# ------------------------------------------------------------------------------- RaftLog


def test_compacted_log_keeps_absolute_indices_and_the_last_included_term() -> None:
    full = RaftLog(FIVE_ENTRIES)
    log = RaftLog(FIVE_ENTRIES)
    log.compact(3)
    assert (log.snapshot_index, log.snapshot_term, log.first_index) == (3, 1, 4)
    assert (log.last_index, log.last_term, len(log)) == (5, 2, 2)
    assert [x.command.value for x in log] == ["d", "e"]
    assert log.term_at(3) == 1 and log.entry(4).command.value == "d"
    # The chain continues across the snapshot: later digests equal the uncompacted log's.
    assert [log.digest(i) for i in (3, 4, 5)] == [full.digest(i) for i in (3, 4, 5)]
    with pytest.raises(IndexError, match="compacted into the snapshot"):
        log.entry(2)
    with pytest.raises(IndexError, match="compacted"):
        log.digest(2)
    with pytest.raises(ValueError, match="in the snapshot"):
        log.truncate_from(3)
    with pytest.raises(ValueError, match="cannot compact through 3"):
        log.compact(3)
    assert log.slice(1, 9) == tuple(FIVE_ENTRIES[3:])
    assert log.last_index_of_term(1) == 3  # the snapshot's last included term counts
    assert log.first_index_of_term(5) == 4  # never reaches into the snapshot


@pytest.mark.parametrize("through", [1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 5, 3 * CHUNK])
def test_compaction_across_chunk_boundaries_frees_whole_chunks(through: int) -> None:
    entries = [e(1 + i // 100, str(i)) for i in range(1, 3 * CHUNK + 11)]
    full = RaftLog(entries)
    log = RaftLog(entries)
    before = copy.deepcopy(log)
    log.compact(through)
    assert [x.command.value for x in log] == [x.command.value for x in entries[through:]]
    assert len(log._chunks) <= (len(entries) - through) // CHUNK + 1  # noqa: SLF001
    for i in range(through, len(entries) + 1):
        assert log.digest(i) == full.digest(i)
    log.append(e(99, "new"))
    log.truncate_from(log.last_index)
    assert log.last_index == len(entries)
    # A checkpoint taken before compaction still holds every entry.
    assert [x.command.value for x in before] == [x.command.value for x in entries]


def test_reset_to_snapshot_discards_the_whole_log() -> None:
    log = RaftLog(FIVE_ENTRIES)
    log.reset_to_snapshot(9, 4, 1234)
    assert (log.snapshot_index, log.snapshot_term, log.last_index, len(log)) == (9, 4, 9, 0)
    assert log.digest(9) == 1234 and log.has(9, 4) and not log.has(9, 3)
    log.append(e(4, "z"))
    assert (log.last_index, log.entry(10).command.value) == (10, "z")


def test_snapshot_bytes_round_trip_with_locks_and_sessions() -> None:
    sm = KVStateMachine()
    sm.apply(LogEntry(1, Command(Op.SET, "x", "1", client="c1", request_id=4)))
    sm.apply(LogEntry(1, Command(Op.ACQUIRE, "lock", client="c2", request_id=1, ttl=500), 10.0))
    snap = Snapshot(2, 1, Configuration(frozenset(THREE), frozenset(THREE[:2])), sm.image(), 77)
    assert decode_snapshot(encode_snapshot(snap)) == snap
    restored = KVStateMachine.from_image(snap.state)
    assert restored.sessions == sm.sessions and restored.locks == sm.locks
    assert restored.next_token == sm.next_token


# ------------------------------------------------------------------ taking snapshots


def test_a_node_snapshots_once_it_has_applied_the_threshold() -> None:
    """Section 7: past the threshold the node saves its state machine and drops those entries."""
    node = make_node(FIVE_ENTRIES, term=2, settings=RaftSettings(snapshot_threshold=3))
    node.step(AppendEntries("n2", "n1", 2, 5, 2, (), 4), 10.0)
    assert (node.last_applied, node.log.snapshot_index) == (4, 0)  # applied in this step
    out = node.tick(11.0)
    assert [ev.kind for ev in out.events] == ["snapshot"]
    assert "snapshot through index 4 (term 2) and discarded 4 log entries" in out.events[0].text
    assert node.snapshot is not None
    assert node.snapshot.state == node.sm.image()
    assert node.snapshot.configuration == Configuration.of(THREE)
    assert view(node)["log"] == [(2, "e")]
    assert node.persistent_state().snapshot is node.snapshot


def test_below_the_threshold_or_when_off_nothing_is_compacted() -> None:
    for settings in (OFF, RaftSettings(snapshot_threshold=5)):
        node = make_node(FIVE_ENTRIES, term=2, settings=settings)
        node.step(AppendEntries("n2", "n1", 2, 5, 2, (), 4), 10.0)
        node.tick(11.0)
        assert node.log.snapshot_index == 0 and node.snapshot is None


def test_snapshot_now_compacts_through_last_applied_and_not_further() -> None:
    node = make_node(FIVE_ENTRIES, term=2)
    assert node.snapshot_now(0.0).events == ()  # nothing applied: nothing to snapshot
    node.step(AppendEntries("n2", "n1", 2, 5, 2, (), 2), 10.0)
    out = node.snapshot_now(12.0)
    assert [ev.kind for ev in out.events] == ["snapshot"]
    assert view(node)["snapshot"] == (2, 1)
    assert view(node)["log"] == [(1, "c"), (2, "d"), (2, "e")]
    assert node.snapshot_now(13.0).events == ()


# --------------------------------------------------------------- leader sends a snapshot


def test_leader_sends_install_snapshot_when_next_index_is_inside_its_snapshot() -> None:
    leader = make_leader(FIVE_ENTRIES, 3, term=3, settings=replace(OFF, snapshot_chunk_size=40))
    raw = encode_snapshot(leader.snapshot)  # type: ignore[arg-type]
    # n2 says its log ends at index 1: next_index backs up into the snapshot.
    leader.next_index["n2"] = 2
    out = leader.step(
        AppendEntriesReply("n2", "n1", 3, False, reject_index=1, conflict_index=2, seq=leader.seq),
        5.0,
    )
    assert [ev.kind for ev in out.events] == ["snapshot_send"]
    assert out.messages == (
        InstallSnapshot("n1", "n2", 3, 3, 1, 0, raw[:40], False, len(raw), leader.seq),
    )
    # Fig. 13: each acknowledged chunk brings the next one, at the offset the follower holds.
    out = leader.step(InstallSnapshotReply("n2", "n1", 3, 3, 40, False), 6.0)
    assert out.messages == (
        InstallSnapshot("n1", "n2", 3, 3, 1, 40, raw[40:80], len(raw) <= 80, len(raw), leader.seq),
    )
    assert leader.step(InstallSnapshotReply("n2", "n1", 3, 3, 40, False), 6.5).messages == ()
    # A follower that lost its partial file asks from the start again.
    out = leader.step(InstallSnapshotReply("n2", "n1", 3, 3, 0, False), 7.0)
    assert [(m.offset, m.data) for m in out.messages] == [(0, raw[:40])]  # type: ignore[attr-defined]
    # Installed: match_index is the snapshot's index and the entries after it follow at once.
    out = leader.step(InstallSnapshotReply("n2", "n1", 3, 3, len(raw), True), 8.0)
    assert (leader.match_index["n2"], leader.next_index["n2"]) == (3, 4)
    (append,) = out.messages
    assert isinstance(append, AppendEntries)
    assert (append.prev_log_index, append.prev_log_term) == (3, 1)
    assert [x.command for x in append.entries] == [FIVE_ENTRIES[3].command,
                                                   FIVE_ENTRIES[4].command, NOOP]
    assert "n2" not in leader.snapshot_sends


def test_heartbeat_resends_the_unacknowledged_chunk() -> None:
    leader = make_leader(FIVE_ENTRIES, 3, term=3)
    leader.next_index["n2"] = 1
    leader.match_index["n2"] = 0
    out = leader.tick(leader.heartbeat_deadline)
    sent = [m for m in out.messages if m.dst == "n2"]
    assert len(sent) == 1 and isinstance(sent[0], InstallSnapshot)
    assert sent[0].offset == 0 and sent[0].done  # 1024-byte chunks: this snapshot fits in one


def test_stale_snapshot_replies_are_ignored() -> None:
    leader = make_leader(FIVE_ENTRIES, 3, term=3)
    before = (dict(leader.next_index), dict(leader.match_index))
    assert leader.step(InstallSnapshotReply("n2", "n1", 3, 3, 99, True), 1.0).messages == ()
    assert leader.step(InstallSnapshotReply("n2", "n1", 2, 3, 99, True), 1.0).messages == ()
    assert (dict(leader.next_index), dict(leader.match_index)) == before


# ------------------------------------------------------------- follower installs a snapshot


def leader_snapshot() -> tuple[Snapshot, bytes]:
    _, snap = snapshot_of(FIVE_ENTRIES, 3)
    return snap, encode_snapshot(snap)


def test_install_snapshot_from_an_older_term_is_rejected_and_changes_nothing() -> None:
    """Fig. 13, 1: reply immediately if term < currentTerm."""
    node = make_node([e(1)], term=5)
    before = (view(node), node.election_deadline)
    _, raw = leader_snapshot()
    out = node.step(chunk(raw, 0, 1024, msg_term=4), 10.0)
    assert out.messages == (InstallSnapshotReply("n1", "n2", 5, 3, 0, False),)
    assert (view(node), node.election_deadline) == before
    assert node.snapshot_download is None


def test_chunks_are_written_at_their_offset_and_answered_until_done() -> None:
    """Fig. 13, 2-4: a new file at offset 0; write each chunk; reply and wait until done."""
    node = make_node([e(1, "old")], term=2)
    before = view(node)
    _, raw = leader_snapshot()
    out = node.step(chunk(raw, 0, 50), 10.0)
    assert out.messages == (InstallSnapshotReply("n1", "n2", 2, 3, 50, False),)
    assert node.snapshot_download is not None and node.snapshot_download.data == raw[:50]
    assert view(node) == {**before, "leader_id": "n2"}  # nothing installed yet
    assert node.election_started_at == 10.0  # it is the leader talking: the timer resets
    # A repeated chunk changes nothing; a chunk past a gap is refused with what we hold.
    out = node.step(chunk(raw, 0, 50), 11.0)
    assert out.messages == (InstallSnapshotReply("n1", "n2", 2, 3, 50, False),)
    out = node.step(chunk(raw, 100, 50), 12.0)
    assert out.messages == (InstallSnapshotReply("n1", "n2", 2, 3, 50, False),)
    assert node.snapshot_download.data == raw[:50]


def test_a_snapshot_that_is_a_prefix_keeps_the_following_entries() -> None:
    """Fig. 13, 6: an entry at the last included index and term: keep the entries after it."""
    node = make_node(FIVE_ENTRIES, term=2)
    snap, raw = leader_snapshot()
    out = node.step(chunk(raw, 0, len(raw)), 10.0)
    assert out.messages == (InstallSnapshotReply("n1", "n2", 2, 3, len(raw), True),)
    assert view(node) == {
        "role": Role.FOLLOWER, "term": 2, "snapshot": (3, 1), "log": [(2, "d"), (2, "e")],
        "last_index": 5, "commit_index": 3, "last_applied": 3, "kv": {"x": "c", "y": "b"},
        "leader_id": "n2",
    }
    assert node.snapshot == snap
    assert [ev.kind for ev in out.events] == ["snapshot_installed"]
    assert "kept the 2 log entries after it" in out.events[0].text


def test_a_conflicting_log_is_discarded_and_the_state_machine_reset() -> None:
    """Fig. 13, 7-8: otherwise discard the entire log and load the snapshot."""
    committed = [e(1, "a", "x"), e(1, "b", "y"), e(2, "c", "x")]
    _, snap = snapshot_of(committed, 3)
    raw = encode_snapshot(snap)
    # Index 3 holds an uncommitted entry of term 1 from a deposed leader; the snapshot's is t2.
    node = make_node([e(1, "a", "x"), e(1, "b", "y"), e(1, "q", "w"), e(1, "r", "w")], term=1)
    node.step(AppendEntries("n3", "n1", 1, 4, 1, (), 1), 5.0)  # applied index 1 only
    out = node.step(chunk(raw, 0, 64, term=2), 10.0)
    while not out.messages[0].installed:  # type: ignore[attr-defined]
        held = out.messages[0].received  # type: ignore[attr-defined]
        out = node.step(chunk(raw, held, 64, term=2), 10.0)
    assert view(node) == {
        "role": Role.FOLLOWER, "term": 2, "snapshot": (3, 2), "log": [], "last_index": 3,
        "commit_index": 3, "last_applied": 3, "kv": {"x": "c", "y": "b"}, "leader_id": "n2",
    }
    assert node.log.truncations == 1  # the stale entry at index 4 went with the log
    assert node.snapshot_download is None


def test_a_log_that_ends_before_the_snapshot_is_replaced_by_it() -> None:
    """Fig. 13, 7-8, the crashed-long-ago follower: its whole log goes."""
    node = make_node([e(1, "a", "x")], term=1)
    _, raw = leader_snapshot()
    out = node.step(chunk(raw, 0, len(raw)), 10.0)
    assert out.messages == (InstallSnapshotReply("n1", "n2", 2, 3, len(raw), True),)
    assert view(node) == {
        "role": Role.FOLLOWER, "term": 2, "snapshot": (3, 1), "log": [], "last_index": 3,
        "commit_index": 3, "last_applied": 3, "kv": {"x": "c", "y": "b"}, "leader_id": "n2",
    }
    assert "discarded its whole log (1 entries)" in out.events[-1].text
    assert node.log.truncations == 0  # nothing after the snapshot index was removed


def test_a_snapshot_older_than_our_own_changes_nothing() -> None:
    """Fig. 13, 5: discard any snapshot with a smaller index than the one we hold."""
    node = make_node(FIVE_ENTRIES, through=4, term=2)
    before = view(node)
    _, raw = leader_snapshot()
    out = node.step(chunk(raw, 0, len(raw)), 10.0)
    assert out.messages == (InstallSnapshotReply("n1", "n2", 2, 3, len(raw), True),)
    assert view(node) == {**before, "leader_id": "n2"}


def test_a_candidate_receiving_install_snapshot_of_its_term_becomes_follower() -> None:
    node = make_node([e(1)], term=1)
    node.timeout_now(0.0)
    assert node.role is Role.CANDIDATE and node.current_term == 2
    _, raw = leader_snapshot()
    node.step(chunk(raw, 0, 10), 10.0)
    assert (node.role, node.leader_id) == (Role.FOLLOWER, "n2")


# ------------------------------------------------------ indexing across the snapshot


def test_append_entries_overlapping_the_snapshot_appends_only_what_follows() -> None:
    """Entries through the snapshot are committed: they match, whatever prev says."""
    node = make_node(FIVE_ENTRIES[:4], through=3, term=2)
    msg = AppendEntries("n2", "n1", 2, 1, 1, tuple(FIVE_ENTRIES[1:5]), 5)
    out = node.step(msg, 10.0)
    assert out.messages == (AppendEntriesReply("n1", "n2", 2, True, match_index=5),)
    assert view(node)["log"] == [(2, "d"), (2, "e")]
    assert (node.commit_index, node.last_applied, node.sm.data["y"]) == (5, 5, "e")


def test_append_entries_right_after_the_snapshot_checks_the_last_included_term() -> None:
    node = make_node(FIVE_ENTRIES[:3], through=3, term=2)
    out = node.step(AppendEntries("n2", "n1", 2, 3, 1, (FIVE_ENTRIES[3],), 0), 10.0)
    assert out.messages == (AppendEntriesReply("n1", "n2", 2, True, match_index=4),)
    out = node.step(AppendEntries("n2", "n1", 2, 5, 2, (), 0), 11.0)
    assert out.messages[0].success is False  # type: ignore[attr-defined]


def test_up_to_date_rule_uses_the_last_included_term_of_an_empty_log() -> None:
    """Section 5.4.1 over a snapshot: the compacted log's last term is the snapshot's."""
    node = make_node(FIVE_ENTRIES, through=5, term=2)
    assert (node.log.last_index, node.log.last_term, len(node.log)) == (5, 2, 0)
    out = node.step(RequestVote("n2", "n1", 3, 4, 2), 10.0)
    assert out.messages == (RequestVoteReply("n1", "n2", 3, False),)
    out = node.step(RequestVote("n3", "n1", 3, 5, 2), 10.0)
    assert out.messages == (RequestVoteReply("n1", "n3", 3, True),)


def test_restart_restores_the_state_machine_and_sessions_from_the_snapshot() -> None:
    """A restarted server loads its snapshot: a retry of an old request is not re-applied."""
    write = LogEntry(1, Command(Op.SET, "x", "1", client="c1", request_id=7))
    node = make_node([write, e(1, "b", "y")], term=1)
    node.step(AppendEntries("n2", "n1", 1, 2, 1, (), 2), 5.0)
    node.snapshot_now(6.0)
    again = RaftNode("n1", THREE, OFF, random.Random(1), 100.0, node.persistent_state())
    assert view(again) == {**view(node), "leader_id": None}
    assert again.sm.sessions == {"c1": (7, Result(True))}
    # Elected, it answers the retry from the session instead of appending it again.
    again.timeout_now(100.0)
    again.step(RequestVoteReply("n2", "n1", 2, True), 100.0)
    out = again.step(ClientRequest("c1", "n1", 0, 3, write.command), 101.0)
    assert out.messages == (ClientReply("n1", "c1", 0, 3, True, Result(True)),)


def test_a_follower_that_caught_up_otherwise_ends_the_transfer() -> None:
    """A success reply past the snapshot (say from an older AppendEntries) makes it moot."""
    leader = make_leader(FIVE_ENTRIES, 3, term=3, settings=replace(OFF, snapshot_chunk_size=40))
    leader.next_index["n2"] = 1
    leader.match_index["n2"] = 0
    leader.tick(leader.heartbeat_deadline)
    assert "n2" in leader.snapshot_sends
    leader.step(AppendEntriesReply("n2", "n1", 3, True, match_index=6), 5.0)
    assert "n2" not in leader.snapshot_sends
    assert (leader.match_index["n2"], leader.next_index["n2"]) == (6, 7)
    assert leader.step(InstallSnapshotReply("n2", "n1", 3, 3, 40, False), 6.0).messages == ()
