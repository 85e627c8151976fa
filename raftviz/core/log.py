"""The Raft log: 1-based, append-mostly, compactable, cheap to checkpoint.

Entries live in fixed-size chunks; a full chunk is an immutable tuple, so a deep copy of the log
(taken at every history checkpoint) shares every full chunk. The tail, the entries after the
last full chunk, is shared too: only the log that owns a tail list appends to it, in place,
and a copy sees the prefix it was made with (its own last_index bounds it), so nothing a copy
can see ever changes. Every other change makes a new tail list. So a copy costs O(chunks), not
O(tail): the disk model copies a node's log at every write, and a ten-minute session keeps
hundreds of checkpoints in a few megabytes.

Log compaction (Raft paper, section 7) replaces a prefix by a snapshot: the log then remembers
only the snapshot's last included index and term and holds the entries after it. Indices keep
their absolute values, so every caller keeps speaking in the paper's indices; asking for an
entry inside the snapshot raises IndexError, and ``term_at(snapshot_index)`` answers the last
included term, which is all the consistency check and the up-to-date rule need.

Each position also carries a chain digest:
``digest(i) = hash((digest(i-1), term_i, command_code(command_i)))``. Two logs with the same
digest at an index hold identical prefixes up to that index, which lets the Log Matching and
Leader Completeness checkers compare whole prefixes in O(1). A compacted log keeps the digest of
its snapshot's last included entry, so the chain continues across the snapshot (digests of
compacted entries are gone with them). Digests are the same in every process: a stored
checkpoint is restored in another worker, or after a restart, and its logs then grow next to
logs that received the same entries before it was stored. Python's own hash of a command is
not the same: strings are hashed with a per-process key, and before Python 3.12 so is None;
its hash of a tuple of ints and floats is, so :func:`command_code` turns strings into ints.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from typing import Any

from raftviz.core.membership import Configuration
from raftviz.core.messages import Command, LogEntry, Op

CHUNK = 256


def command_code(command: Command) -> int:
    """A number for ``command``'s content that is the same in every process.

    Every string becomes an int exactly (:func:`_number`), so hashing the tuple hashes only
    ints and floats, which Python hashes the same way in every process.
    """
    return hash((
        _OP_NUMBER[command.op], _number(command.key), _number(command.value),
        _number(command.expected), _number(command.client), command.request_id, command.ttl,
        command.token, _config_number(command.config),
    ))


_OP_NUMBER = {op: number for number, op in enumerate(Op)}


def _number(text: str | None) -> int:
    """A string as an int, one to one: a 1 byte, then its UTF-8 bytes (None is -1)."""
    return -1 if text is None else int.from_bytes(b"\x01" + text.encode(), "big")


def _config_number(config: Configuration | None) -> int:
    """A configuration as an int; voter sets are sorted (a frozenset's order is per process)."""
    if config is None:
        return -1
    old = config.old_voters
    voters = hash(tuple(_number(v) for v in sorted(config.voters)))
    return hash((voters, -1 if old is None else hash(tuple(_number(v) for v in sorted(old)))))


class RaftLog:
    """A 1-based list of :class:`LogEntry` with chunked storage, chain digests and a snapshot."""

    __slots__ = (
        "_chunks", "_tail", "_dchunks", "_dtail", "_owns_tail", "_offset", "_tail_from",
        "last_index", "snapshot_index", "snapshot_term", "snapshot_digest", "truncations",
        "changed_from",
    )

    def __init__(self, entries: list[LogEntry] | tuple[LogEntry, ...] = ()) -> None:
        self._chunks: list[tuple[LogEntry, ...]] = []
        self._tail: list[LogEntry] = []
        # Digests are packed 64-bit integers (8 bytes each, not a 36-byte int object apiece);
        # full chunks are never modified again, so checkpoints share them.
        self._dchunks: list[array[int]] = []
        self._dtail: array[int] = array("q")
        # Whether this log may append to _tail and _dtail in place. Lists it does not own may
        # hold more entries than its own tail (last_index - _tail_from), which it never reads.
        self._owns_tail = True
        # Storage position p holds index _offset + p + 1. Compaction drops whole chunks, so a
        # few compacted entries may linger at the front of the first chunk until it goes too.
        self._offset = 0
        # Kept up to date rather than computed: the node, the disk model and the monitors ask
        # for them millions of times a simulated minute. _tail_from is the index just before
        # the tail's first entry (_offset + len(_chunks) * CHUNK); tail entries always follow
        # the snapshot, since compaction drops the tail's front when no chunk is left.
        self._tail_from = 0
        self.last_index = 0
        # The snapshot's last included index and term (0, 0: nothing compacted).
        self.snapshot_index = 0
        self.snapshot_term = 0
        self.snapshot_digest = 0
        # Counts entries removed by conflict truncation; the checkers use it to catch a leader
        # that deletes from its own log (Leader Append-Only).
        self.truncations = 0
        # Lowest index appended or removed since an observer last reset it; lets the safety
        # checkers look only at what changed in a step.
        self.changed_from = 1
        for entry in entries:
            self.append(entry)

    def __len__(self) -> int:
        """Entries held: those after the snapshot."""
        return self.last_index - self.snapshot_index

    @property
    def last_term(self) -> int:
        return self.term_at(self.last_index)

    @property
    def first_index(self) -> int:
        """The first index still held as an entry (one past the snapshot)."""
        return self.snapshot_index + 1

    def entry(self, index: int) -> LogEntry:
        """The entry at 1-based ``index``; raises IndexError outside first_index..last_index."""
        if self._tail_from < index <= self.last_index:
            return self._tail[index - self._tail_from - 1]
        if index <= self.snapshot_index and index >= 1:
            raise IndexError(
                f"entry {index} was compacted into the snapshot (through {self.snapshot_index})"
            )
        if index < 1 or index > self.last_index:
            raise IndexError(f"no entry at index {index}; log has {self.last_index}")
        c, off = divmod(index - self._offset - 1, CHUNK)
        return self._chunks[c][off]

    def term_at(self, index: int) -> int:
        """Term of the entry at ``index``; the last included term at the snapshot index."""
        if self._tail_from < index <= self.last_index:
            return self._tail[index - self._tail_from - 1].term
        if index == self.snapshot_index:
            return self.snapshot_term
        return self.entry(index).term

    def digest(self, index: int) -> int:
        """Chain digest of the prefix ending at ``index`` (known from the snapshot index on)."""
        if self._tail_from < index <= self.last_index:
            return self._dtail[index - self._tail_from - 1]
        if index == self.snapshot_index:
            return self.snapshot_digest
        if index < self.snapshot_index:
            raise IndexError(
                f"digest {index} was compacted into the snapshot (through {self.snapshot_index})"
            )
        if index > self.last_index:
            raise IndexError(f"no entry at index {index}; log has {self.last_index}")
        c, off = divmod(index - self._offset - 1, CHUNK)
        return self._dchunks[c][off]

    def has(self, index: int, term: int) -> bool:
        """Whether the log holds an entry at ``index`` with ``term`` (index 0 always matches).

        ``index`` must not be inside the snapshot: the node clips such a question first.
        """
        return index == 0 or (index <= self.last_index and self.term_at(index) == term)

    def append(self, entry: LogEntry) -> None:
        prev = self.digest(self.last_index)
        if not self._owns_tail:
            self._take_tail()
        self.last_index += 1
        if self.last_index < self.changed_from:
            self.changed_from = self.last_index
        self._tail.append(entry)
        self._dtail.append(hash((prev, entry.term, command_code(entry.command))))
        if len(self._tail) == CHUNK:
            self._chunks.append(tuple(self._tail))
            self._dchunks.append(self._dtail)
            self._tail = []
            self._dtail = array("q")
            self._tail_from += CHUNK

    def _take_tail(self) -> None:
        """Own a private copy of this log's tail before changing it (see the module docstring)."""
        held = self.last_index - self._tail_from
        self._tail = self._tail[:held]
        self._dtail = self._dtail[:held]
        self._owns_tail = True

    def truncate_from(self, index: int) -> None:
        """Delete the entry at ``index`` and all that follow it (Fig. 2, AppendEntries 3)."""
        n = self.last_index
        if index > n:
            return
        if index <= self.snapshot_index:
            raise ValueError(
                f"cannot truncate from {index}: entries through {self.snapshot_index} are "
                f"in the snapshot, which holds only committed entries"
            )
        keep = index - 1
        self.truncations += n - keep
        self.changed_from = min(self.changed_from, keep + 1)
        self._cut_storage(keep - self._offset)

    def _cut_storage(self, keep: int) -> None:
        """Keep the first ``keep`` storage positions."""
        self.last_index = self._offset + keep
        c, off = divmod(keep, CHUNK)
        if c < len(self._chunks):
            self._tail = list(self._chunks[c][:off])
            self._dtail = array("q", self._dchunks[c][:off])
            del self._chunks[c:]
            del self._dchunks[c:]
            self._tail_from = self._offset + c * CHUNK
        else:
            # New lists, not deletions in place: a copy may still see the entries cut here.
            self._tail = self._tail[:off]
            self._dtail = self._dtail[:off]
        self._owns_tail = True

    def compact(self, index: int) -> None:
        """Replace the prefix through ``index`` by a snapshot (section 7); later entries stay.

        Used both when a server snapshots its own applied entries and when an installed
        snapshot is a prefix of the log (Fig. 13, InstallSnapshot receiver 6).
        """
        if not self.snapshot_index < index <= self.last_index:
            raise ValueError(
                f"cannot compact through {index}: the log holds "
                f"{self.first_index}..{self.last_index}"
            )
        self.snapshot_term = self.term_at(index)
        self.snapshot_digest = self.digest(index)
        self.snapshot_index = index
        dead = index - self._offset
        drop = min(dead // CHUNK, len(self._chunks))
        if drop:
            del self._chunks[:drop]
            del self._dchunks[:drop]
            self._offset += drop * CHUNK
            dead -= drop * CHUNK
        if not self._chunks and dead:
            # Only the tail is left: drop its compacted front too (positions restart at 0),
            # into new lists, since a copy may still see those entries.
            held = self.last_index - self._tail_from
            self._tail = self._tail[dead:held]
            self._dtail = self._dtail[dead:held]
            self._owns_tail = True
            self._offset += dead
            self._tail_from = self._offset

    def reset_to_snapshot(self, index: int, term: int, digest: int) -> None:
        """Discard the entire log for a snapshot it does not extend (Fig. 13, receiver 7)."""
        removed = max(self.last_index - index, 0)
        self.truncations += removed
        self.changed_from = min(self.changed_from, min(self.last_index, index) + 1)
        self._chunks, self._dchunks = [], []
        self._tail, self._dtail = [], array("q")
        self._owns_tail = True
        self._offset = self._tail_from = self.last_index = index
        self.snapshot_index, self.snapshot_term, self.snapshot_digest = index, term, digest

    def slice(self, start: int, stop: int) -> tuple[LogEntry, ...]:
        """Entries ``start..stop`` inclusive (1-based), clipped to the entries held."""
        stop = min(stop, self.last_index)
        start = max(start, self.first_index)
        if stop < start:
            return ()
        if start > self._tail_from:  # all in the tail: the usual AppendEntries batch
            return tuple(self._tail[start - self._tail_from - 1 : stop - self._tail_from])
        return tuple(self.entry(i) for i in range(start, stop + 1))

    def first_index_of_term(self, index: int) -> int:
        """The first index holding the same term as ``index`` (for the fast back-up hint)."""
        term = self.term_at(index)
        while index > self.first_index and self.term_at(index - 1) == term:
            index -= 1
        return index

    def last_index_of_term(self, term: int) -> int:
        """The last index holding ``term``, or 0 if the log has none (the snapshot's included)."""
        for i in range(self.last_index, self.snapshot_index - 1, -1):
            if i == 0:
                return 0
            t = self.term_at(i)
            if t == term:
                return i
            if t < term:
                return 0
        return 0

    def __iter__(self) -> Iterator[LogEntry]:
        """The entries held, from first_index on."""
        skip = self.snapshot_index - self._offset
        for chunk in self._chunks:
            if skip >= len(chunk):
                skip -= len(chunk)
                continue
            yield from chunk[skip:] if skip else chunk
            skip = 0
        yield from self._tail[skip : self.last_index - self._tail_from]

    def __deepcopy__(self, memo: dict[int, Any]) -> RaftLog:
        return self.copy()

    def copy(self) -> RaftLog:
        """An independent copy: it shares the full chunks and, until either log changes its
        tail other than by appending, the tail (see the module docstring)."""
        copy = RaftLog.__new__(RaftLog)
        copy._chunks = list(self._chunks)  # full chunks are immutable: shared
        copy._tail = self._tail
        copy._dchunks = list(self._dchunks)
        copy._dtail = self._dtail
        copy._owns_tail = False
        copy._offset = self._offset
        copy._tail_from = self._tail_from
        copy.last_index = self.last_index
        copy.snapshot_index = self.snapshot_index
        copy.snapshot_term = self.snapshot_term
        copy.snapshot_digest = self.snapshot_digest
        copy.truncations = self.truncations
        copy.changed_from = self.changed_from
        return copy

    def __repr__(self) -> str:
        entries = [(e.term, e.command.describe()) for e in self]
        if self.snapshot_index:
            return f"RaftLog(snapshot {self.snapshot_index}/t{self.snapshot_term}, {entries})"
        return f"RaftLog({entries})"
