"""RaftLog: 1-based indexing, chunked storage, truncation, chain digests and cheap copies."""

from __future__ import annotations

import copy
import os
import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from raftviz.core.log import CHUNK, RaftLog, command_code
from raftviz.core.membership import Configuration
from raftviz.core.messages import NOOP, Command, LogEntry, Op


def entry(term: int, value: str = "") -> LogEntry:
    """A SET entry whose value names it, so two entries differ when their names differ."""
    return LogEntry(term, Command(Op.SET, "k", value or f"t{term}"))


def log_of(n: int, term: int = 1, tag: str = "") -> RaftLog:
    return RaftLog([entry(term, f"{tag}{i}") for i in range(1, n + 1)])


def test_empty_log_has_the_empty_prefix_only() -> None:
    log = RaftLog()
    assert (len(log), log.last_index, log.last_term) == (0, 0, 0)
    assert log.term_at(0) == 0
    assert log.digest(0) == 0
    assert log.has(0, 0)
    assert log.has(0, 7)  # index 0 matches any prevLogTerm: the empty prefix
    assert not log.has(1, 1)
    with pytest.raises(IndexError, match="no entry at index 1; log has 0"):
        log.entry(1)


def test_indices_are_one_based_and_terms_read_back() -> None:
    log = RaftLog([entry(1), entry(1), entry(2)])
    assert [log.term_at(i) for i in (1, 2, 3)] == [1, 1, 2]
    assert (log.last_index, log.last_term) == (3, 2)
    assert log.has(3, 2) and not log.has(3, 1) and not log.has(4, 2)
    with pytest.raises(IndexError):
        log.entry(0)
    with pytest.raises(IndexError):
        log.entry(4)


@pytest.mark.parametrize("n", [CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 2 * CHUNK + 3])
def test_entries_survive_chunk_boundaries(n: int) -> None:
    log = log_of(n)
    assert len(log) == n
    assert [e.command.value for e in log] == [str(i) for i in range(1, n + 1)]
    for index in (1, CHUNK - 1, CHUNK, CHUNK + 1, n):
        if index <= n:
            assert log.entry(index).command.value == str(index)
    # Full chunks are frozen tuples; only the short tail is a list.
    assert len(log._chunks) == n // CHUNK  # noqa: SLF001 - storage layout under test
    assert len(log._tail) == n % CHUNK  # noqa: SLF001


@pytest.mark.parametrize(
    ("length", "cut"),
    [
        (CHUNK + 10, CHUNK + 1),  # the cut is the first entry of the tail
        (CHUNK + 10, CHUNK),  # the cut is the last entry of a full chunk
        (2 * CHUNK + 5, CHUNK + 1),  # the cut removes a full chunk and the tail
        (2 * CHUNK + 5, 10),  # back inside the first chunk
        (2 * CHUNK, 2 * CHUNK),  # exactly the last entry of the last full chunk
        (CHUNK, 1),  # everything
    ],
)
def test_truncate_across_chunks_keeps_exactly_the_prefix(length: int, cut: int) -> None:
    log = log_of(length)
    reference = log_of(cut - 1)
    log.truncate_from(cut)
    assert log.last_index == cut - 1
    assert list(log) == list(reference)
    assert log.digest(cut - 1) == reference.digest(cut - 1)
    assert log.truncations == length - cut + 1
    # The log keeps working after the cut: appending refills chunks correctly.
    for i in range(cut, length + 1):
        log.append(entry(1, str(i)))
    assert list(log) == list(log_of(length))
    assert log.digest(length) == log_of(length).digest(length)


def test_truncate_past_the_end_changes_nothing() -> None:
    log = log_of(3)
    log.changed_from = 4
    log.truncate_from(4)
    assert (log.last_index, log.truncations, log.changed_from) == (3, 0, 4)


def test_changed_from_tracks_the_lowest_touched_index() -> None:
    log = log_of(5)
    log.changed_from = 6  # an observer has seen everything
    log.append(entry(1, "6"))
    assert log.changed_from == 6
    log.truncate_from(3)
    assert log.changed_from == 3


def test_digests_are_equal_exactly_when_prefixes_are_equal() -> None:
    a = RaftLog([entry(1, "a"), entry(1, "b"), entry(2, "c")])
    same = RaftLog([entry(1, "a"), entry(1, "b"), entry(2, "c")])
    other_value = RaftLog([entry(1, "a"), entry(1, "X"), entry(2, "c")])
    other_term = RaftLog([entry(1, "a"), entry(2, "b"), entry(2, "c")])
    assert [a.digest(i) for i in range(4)] == [same.digest(i) for i in range(4)]
    # A difference at index 2 shows in every later digest, not only at 2 (chain digest).
    assert a.digest(1) == other_value.digest(1)
    assert a.digest(2) != other_value.digest(2)
    assert a.digest(3) != other_value.digest(3)
    assert a.digest(1) == other_term.digest(1)
    assert a.digest(2) != other_term.digest(2)
    assert a.digest(3) != other_term.digest(3)


# Every field of a command, None where it may be (None hashed by address before Python 3.12),
# and configurations (frozensets, ordered by string hashes).
VARIED = [
    LogEntry(1, NOOP),
    LogEntry(1, Command(Op.SET, "k1", "v1", client="c1", request_id=3)),
    LogEntry(2, Command(Op.CAS, "k1", "v2", expected=None)),
    LogEntry(2, Command(Op.ACQUIRE, "lock", client="c2", ttl=500.0)),
    LogEntry(2, Command(Op.RELEASE, "lock", client="c2", token=4)),
    LogEntry(3, Command(Op.CONFIG, config=Configuration.of(["n1", "n2", "n3", "n4"]))),
    LogEntry(3, Command(Op.CONFIG, config=Configuration(frozenset({"n1", "n2"}),
                                                        frozenset({"n1", "n2", "n3"})))),
]
DIGESTS = (
    "from raftviz.core.log import RaftLog; from tests.core.test_log import VARIED; "
    "log = RaftLog(VARIED); print([log.digest(i) for i in range(log.last_index + 1)])"
)


def test_digests_are_the_same_in_every_process() -> None:
    """A checkpoint restored in another worker keeps growing next to logs that were not stored:
    the digest of an entry must not depend on the process that appended it."""
    log = RaftLog(VARIED)
    here = [log.digest(i) for i in range(log.last_index + 1)]
    root = Path(__file__).resolve().parents[2]
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(root)}
        out = subprocess.run([sys.executable, "-c", DIGESTS], env=env, cwd=root, check=True,
                             capture_output=True, text=True).stdout
        assert out.strip() == str(here)


def test_command_code_tells_every_field_apart() -> None:
    base = Command(Op.CAS, "k", "v", expected=None, client="c", request_id=1, ttl=1.0, token=1)
    variants = [
        Command(Op.SET, "k", "v", expected=None, client="c", request_id=1, ttl=1.0, token=1),
        Command(Op.CAS, "K", "v", expected=None, client="c", request_id=1, ttl=1.0, token=1),
        Command(Op.CAS, "", "v", expected=None, client="c", request_id=1, ttl=1.0, token=1),
        Command(Op.CAS, "\0", "v", expected=None, client="c", request_id=1, ttl=1.0, token=1),
        Command(Op.CAS, "k", None, expected=None, client="c", request_id=1, ttl=1.0, token=1),
        Command(Op.CAS, "k", "v", expected="None", client="c", request_id=1, ttl=1.0, token=1),
        Command(Op.CAS, "k", "v", expected=None, client="d", request_id=1, ttl=1.0, token=1),
        Command(Op.CAS, "k", "v", expected=None, client="c", request_id=2, ttl=1.0, token=1),
        Command(Op.CAS, "k", "v", expected=None, client="c", request_id=1, ttl=2.0, token=1),
        Command(Op.CAS, "k", "v", expected=None, client="c", request_id=1, ttl=1.0, token=2),
    ]
    codes = {command_code(c) for c in [base, *variants]}
    assert len(codes) == len(variants) + 1
    joint = Configuration(frozenset({"n1", "n2"}), frozenset({"n1", "n2", "n3"}))
    swapped = Configuration(frozenset({"n1", "n2", "n3"}), frozenset({"n1", "n2"}))
    assert command_code(Command(Op.CONFIG, config=joint)) != command_code(
        Command(Op.CONFIG, config=swapped)
    )


def test_digest_chain_spans_chunks() -> None:
    a = log_of(CHUNK + 5)
    b = log_of(CHUNK + 5)
    assert a.digest(CHUNK + 5) == b.digest(CHUNK + 5)
    b.truncate_from(3)
    for i in range(3, CHUNK + 6):
        b.append(entry(1, "x" if i == 3 else str(i)))
    assert b.digest(2) == a.digest(2)
    assert b.digest(3) != a.digest(3)
    assert b.digest(CHUNK + 5) != a.digest(CHUNK + 5)


def test_deepcopy_is_independent_of_the_original() -> None:
    original = log_of(CHUNK + 3)
    clone = copy.deepcopy(original)
    assert list(clone) == list(original)
    clone.append(entry(2, "new"))
    clone.truncate_from(CHUNK - 1)  # rewrites the tail from a shared chunk
    clone.append(entry(3, "z"))
    assert original.last_index == CHUNK + 3
    assert list(original) == list(log_of(CHUNK + 3))
    assert original.truncations == 0
    original.append(entry(4, "o"))
    assert clone.last_index == CHUNK - 1
    assert clone.last_term == 3


@dataclass
class Expected:
    """What one log must hold: its entries from index 1 (None where compacted) and digests."""

    entries: list[LogEntry | None]
    digests: list[int]
    snapshot: int = 0


def test_copies_and_originals_never_see_each_others_changes() -> None:
    """Logs share chunks and tails with their copies; whichever of them appends, truncates,
    compacts, resets or is copied again, every log keeps exactly its own entries."""
    rng = random.Random(7)
    logs: list[tuple[RaftLog, Expected]] = [(RaftLog(), Expected([], []))]
    for step in range(3000):
        log, want = logs[rng.randrange(len(logs))]
        last = log.last_index
        roll = rng.random()
        if roll < 0.70:
            new = entry(rng.randrange(1, 4), f"s{step}")
            log.append(new)
            want.entries.append(new)
            want.digests.append(log.digest(log.last_index))
        elif roll < 0.80 and last > want.snapshot:
            cut = rng.randrange(want.snapshot + 1, last + 1)
            log.truncate_from(cut)
            del want.entries[cut - 1 :], want.digests[cut - 1 :]
        elif roll < 0.87 and last > want.snapshot:
            want.snapshot = rng.randrange(want.snapshot + 1, last + 1)
            log.compact(want.snapshot)
            want.entries[: want.snapshot] = [None] * want.snapshot
        elif roll < 0.88 and want.snapshot < last:
            log.reset_to_snapshot(last, log.term_at(last), log.digest(last))
            want.snapshot = last
            want.entries[:] = [None] * last
        else:
            twin = copy.deepcopy(log) if roll < 0.95 else log.copy()
            logs.append((twin, Expected(list(want.entries), list(want.digests), want.snapshot)))
            logs = logs[-12:]
        for each, expected in logs:
            held = [e for e in expected.entries if e is not None]
            assert each.last_index == len(expected.entries)
            assert each.snapshot_index == expected.snapshot
            assert list(each) == held
            first = expected.snapshot + 1
            assert each.slice(first, each.last_index) == tuple(held)
            for i in {first, each.last_index, (first + each.last_index) // 2} - {0}:
                if expected.snapshot < i <= each.last_index:
                    assert each.entry(i) is expected.entries[i - 1]
                    assert each.digest(i) == expected.digests[i - 1]


def test_slice_is_inclusive_and_clipped() -> None:
    log = RaftLog([entry(1, "a"), entry(2, "b"), entry(3, "c")])
    assert [e.command.value for e in log.slice(2, 3)] == ["b", "c"]
    assert [e.command.value for e in log.slice(0, 10)] == ["a", "b", "c"]
    assert log.slice(4, 10) == ()


@pytest.mark.parametrize("compacted", [0, 5, CHUNK + 7])
def test_slice_agrees_with_entry_lookups_across_chunks_and_snapshots(compacted: int) -> None:
    """Slices from the tail take a fast path; every range, empty or reversed, must match."""
    log = log_of(2 * CHUNK + 40)
    if compacted:
        log.compact(compacted)
    bounds = [0, 1, compacted, compacted + 1, CHUNK, CHUNK + 1, 2 * CHUNK - 3, 2 * CHUNK,
              2 * CHUNK + 1, 2 * CHUNK + 39, 2 * CHUNK + 40, 2 * CHUNK + 41, 3 * CHUNK]
    for start in bounds:
        for stop in bounds:
            held = range(max(start, log.first_index), min(stop, log.last_index) + 1)
            expected = tuple(log.entry(i) for i in held)
            assert log.slice(start, stop) == expected, (start, stop)


def test_term_lookups_for_the_fast_backup_hint() -> None:
    log = RaftLog([entry(t) for t in (1, 1, 4, 4, 4, 6)])
    assert log.first_index_of_term(5) == 3
    assert log.first_index_of_term(2) == 1
    assert log.first_index_of_term(6) == 6
    assert log.last_index_of_term(4) == 5
    assert log.last_index_of_term(1) == 2
    assert log.last_index_of_term(5) == 0  # no entry of term 5
    assert log.last_index_of_term(7) == 0
