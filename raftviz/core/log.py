"""The Raft log: 1-based, append-mostly, cheap to checkpoint.

Entries live in fixed-size chunks; a full chunk is an immutable tuple, so a deep copy of the log
(taken at every history checkpoint) shares every full chunk and copies only the short tail.
That is what lets a ten-minute session keep hundreds of checkpoints in a few megabytes.

Each position also carries a chain digest: ``digest(i) = hash((digest(i-1), term_i, command_i))``.
Two logs with the same digest at an index hold identical prefixes up to that index, which lets
the Log Matching and Leader Completeness checkers compare whole prefixes in O(1). The digest is
process-local (Python's hash) and never leaves the process.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from typing import Any

from raftviz.core.messages import LogEntry

CHUNK = 256


class RaftLog:
    """A 1-based list of :class:`LogEntry` with chunked storage and chain digests."""

    __slots__ = ("_chunks", "_tail", "_dchunks", "_dtail", "_len", "truncations", "changed_from")

    def __init__(self, entries: list[LogEntry] | tuple[LogEntry, ...] = ()) -> None:
        self._chunks: list[tuple[LogEntry, ...]] = []
        self._tail: list[LogEntry] = []
        # Digests are packed 64-bit integers (8 bytes each, not a 36-byte int object apiece);
        # full chunks are never modified again, so checkpoints share them.
        self._dchunks: list[array[int]] = []
        self._dtail: array[int] = array("q")
        self._len = 0
        # Counts entries removed by conflict truncation; the checkers use it to catch a leader
        # that deletes from its own log (Leader Append-Only).
        self.truncations = 0
        # Lowest index appended or removed since an observer last reset it; lets the safety
        # checkers look only at what changed in a step.
        self.changed_from = 1
        for entry in entries:
            self.append(entry)

    def __len__(self) -> int:
        return self._len

    @property
    def last_index(self) -> int:
        return self._len

    @property
    def last_term(self) -> int:
        return self.term_at(self._len)

    def entry(self, index: int) -> LogEntry:
        """The entry at 1-based ``index``; raises IndexError outside 1..last_index."""
        if index < 1 or index > self._len:
            raise IndexError(f"no entry at index {index}; log has {len(self)}")
        i = index - 1
        c, off = divmod(i, CHUNK)
        if c < len(self._chunks):
            return self._chunks[c][off]
        return self._tail[off]

    def term_at(self, index: int) -> int:
        """Term of the entry at ``index``; 0 for index 0 (the empty prefix)."""
        if index == 0:
            return 0
        return self.entry(index).term

    def digest(self, index: int) -> int:
        """Chain digest of the prefix ending at ``index`` (0 for the empty prefix)."""
        if index == 0:
            return 0
        i = index - 1
        c, off = divmod(i, CHUNK)
        if c < len(self._dchunks):
            return self._dchunks[c][off]
        return self._dtail[off]

    def has(self, index: int, term: int) -> bool:
        """Whether the log holds an entry at ``index`` with ``term`` (index 0 always matches)."""
        return index == 0 or (index <= self._len and self.term_at(index) == term)

    def append(self, entry: LogEntry) -> None:
        prev = self.digest(self._len)
        self.changed_from = min(self.changed_from, self._len + 1)
        self._tail.append(entry)
        self._dtail.append(hash((prev, entry.term, entry.command)))
        self._len += 1
        if len(self._tail) == CHUNK:
            self._chunks.append(tuple(self._tail))
            self._dchunks.append(self._dtail)
            self._tail = []
            self._dtail = array("q")

    def truncate_from(self, index: int) -> None:
        """Delete the entry at ``index`` and all that follow it (Fig. 2, AppendEntries 3)."""
        n = self._len
        if index > n:
            return
        keep = max(index - 1, 0)
        self.truncations += n - keep
        self.changed_from = min(self.changed_from, keep + 1)
        self._len = keep
        c, off = divmod(keep, CHUNK)
        if c < len(self._chunks):
            self._tail = list(self._chunks[c][:off])
            self._dtail = array("q", self._dchunks[c][:off])
            del self._chunks[c:]
            del self._dchunks[c:]
        else:
            del self._tail[off:]
            del self._dtail[off:]

    def slice(self, start: int, stop: int) -> tuple[LogEntry, ...]:
        """Entries ``start..stop`` inclusive (1-based), clipped to the log."""
        stop = min(stop, self._len)
        return tuple(self.entry(i) for i in range(max(start, 1), stop + 1))

    def first_index_of_term(self, index: int) -> int:
        """The first index holding the same term as ``index`` (for the fast back-up hint)."""
        term = self.term_at(index)
        while index > 1 and self.term_at(index - 1) == term:
            index -= 1
        return index

    def last_index_of_term(self, term: int) -> int:
        """The last index holding ``term``, or 0 if the log has none."""
        for i in range(self._len, 0, -1):
            t = self.term_at(i)
            if t == term:
                return i
            if t < term:
                return 0
        return 0

    def __iter__(self) -> Iterator[LogEntry]:
        for chunk in self._chunks:
            yield from chunk
        yield from self._tail

    def __deepcopy__(self, memo: dict[int, Any]) -> RaftLog:
        copy = RaftLog.__new__(RaftLog)
        copy._chunks = list(self._chunks)  # full chunks are immutable: shared
        copy._tail = list(self._tail)
        copy._dchunks = list(self._dchunks)
        copy._dtail = array("q", self._dtail)
        copy._len = self._len
        copy.truncations = self.truncations
        copy.changed_from = self.changed_from
        return copy

    def __repr__(self) -> str:
        return f"RaftLog({[(e.term, e.command.describe()) for e in self]})"
