"""Finished exports, held in memory for a while so the page can download them by link.

A download link carries an unguessable id (like a session token). Memory is bounded: results
expire after ``ttl`` seconds, a session keeps only its latest few, and the oldest go first when
the total passes ``max_bytes``.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from raftviz.export.jobs import ExportResult


@dataclass(frozen=True, slots=True)
class Stored:
    owner: str  # the session token
    result: ExportResult
    expires: float


class ExportStore:
    def __init__(
        self,
        clock: Callable[[], float],
        ttl: float = 600.0,
        per_session: int = 3,
        max_bytes: int = 256 * 2**20,
    ) -> None:
        self.clock = clock
        self.ttl = ttl
        self.per_session = per_session
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, Stored] = OrderedDict()
        # Results arrive from worker threads and are read by request handlers.
        self._lock = threading.Lock()

    @staticmethod
    def new_id() -> str:
        return secrets.token_urlsafe(18)

    def put(self, key: str, owner: str, result: ExportResult) -> None:
        with self._lock:
            self._items[key] = Stored(owner, result, self.clock() + self.ttl)
            self._trim()

    def get(self, key: str) -> ExportResult | None:
        with self._lock:
            self._trim()
            item = self._items.get(key)
            return None if item is None else item.result

    def __len__(self) -> int:
        return len(self._items)

    def total_bytes(self) -> int:
        return sum(len(item.result.data) for item in self._items.values())

    def _trim(self) -> None:
        now = self.clock()
        for key in [k for k, item in self._items.items() if item.expires <= now]:
            del self._items[key]
        owners: dict[str, int] = {}
        for key in reversed(list(self._items)):  # newest first: a session keeps its latest
            owner = self._items[key].owner
            owners[owner] = owners.get(owner, 0) + 1
            if owners[owner] > self.per_session:
                del self._items[key]
        while self._items and self.total_bytes() > self.max_bytes:
            self._items.popitem(last=False)
