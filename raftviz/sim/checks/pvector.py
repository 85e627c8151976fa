"""An append-mostly list whose deep copy shares all full chunks (cheap checkpoints)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")
CHUNK = 256


class PVector(Generic[T]):
    """A list of immutable items; a deep copy costs O(len / CHUNK), not O(len)."""

    __slots__ = ("_chunks", "_tail")

    def __init__(self) -> None:
        self._chunks: list[tuple[T, ...]] = []
        self._tail: list[T] = []

    def __len__(self) -> int:
        return len(self._chunks) * CHUNK + len(self._tail)

    def __getitem__(self, i: int) -> T:
        c, off = divmod(i, CHUNK)
        if i >= 0:
            full = len(self._chunks)
            if c < full:
                return self._chunks[c][off]
            if c == full and off < len(self._tail):
                return self._tail[off]
        raise IndexError(i)

    def __setitem__(self, i: int, value: T) -> None:
        if i < 0 or i >= len(self):
            raise IndexError(i)
        c, off = divmod(i, CHUNK)
        if c < len(self._chunks):
            chunk = list(self._chunks[c])  # copy on write: older checkpoints keep the old chunk
            chunk[off] = value
            self._chunks[c] = tuple(chunk)
        else:
            self._tail[off] = value

    def append(self, value: T) -> None:
        self._tail.append(value)
        if len(self._tail) == CHUNK:
            self._chunks.append(tuple(self._tail))
            self._tail = []

    def __iter__(self) -> Iterator[T]:
        for chunk in self._chunks:
            yield from chunk
        yield from self._tail

    def __deepcopy__(self, memo: dict[int, Any]) -> PVector[T]:
        copy: PVector[T] = PVector()
        copy._chunks = list(self._chunks)
        copy._tail = list(self._tail)
        return copy
