"""Classroom records beside the sessions, so a classroom outlives the server that ran it.

A classroom is its presenter's session (stored like any session) plus a small record: its code,
the presenter secret and the poll (raftviz/service/classroom.py, ``Classroom.record``). After a
restart (or a redeploy) the presenter's page presents again with its secret and gets the same
code; students' pages reconnect with that code and follow again, even before the presenter is
back (the session is rebuilt from the store by replay). A record lives as long as a session
would (the session TTL from its last save); the text is untrusted when read back.

Each backend keeps its records next to the sessions: a table in the SQLite file, or keys in the
same Redis (``raftviz:room:<code>``, a hash of token and record, and ``raftviz:roomtok:<token>``,
the code of that session's classroom).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

import redis

from raftviz.service.store.base import SessionStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS rooms (
    code TEXT PRIMARY KEY,
    token TEXT NOT NULL UNIQUE,
    record TEXT NOT NULL,
    expires REAL NOT NULL
);
"""


class RoomStore(ABC):
    """Where classroom records live between processes (safe to call from any thread)."""

    @abstractmethod
    def save(self, code: str, token: str, record: str, ttl: float) -> None:
        """Store (or replace) classroom ``code`` of session ``token``; it expires ``ttl`` s on."""

    @abstractmethod
    def load(self, code: str) -> tuple[str, str] | None:
        """(session token, record text) of classroom ``code``; None when there is none."""

    @abstractmethod
    def code_of(self, token: str) -> str | None:
        """The code of session ``token``'s classroom, if it has one stored."""

    @abstractmethod
    def drop(self, code: str, token: str) -> None:
        """Forget a classroom (closed by its presenter)."""

    def close(self) -> None:  # noqa: B027 - not every backend holds anything
        """Release the connection."""


class SqliteRooms(RoomStore):
    def __init__(self, path: str | Path, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=10.0
        )
        self._db.executescript(SCHEMA)

    def save(self, code: str, token: str, record: str, ttl: float) -> None:
        with self._lock:
            # A session runs one classroom: a new code for this token replaces the old one.
            self._db.execute("DELETE FROM rooms WHERE token = ? AND code <> ?", (token, code))
            self._db.execute(
                "INSERT INTO rooms (code, token, record, expires) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(code) DO UPDATE SET token = excluded.token, "
                "record = excluded.record, expires = excluded.expires",
                (code, token, record, self._clock() + ttl),
            )

    def load(self, code: str) -> tuple[str, str] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT token, record FROM rooms WHERE code = ? AND expires > ?",
                (code, self._clock()),
            ).fetchone()
        return None if row is None else (str(row[0]), str(row[1]))

    def code_of(self, token: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT code FROM rooms WHERE token = ? AND expires > ?", (token, self._clock())
            ).fetchone()
        return None if row is None else str(row[0])

    def drop(self, code: str, token: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM rooms WHERE code = ? OR expires <= ?",
                             (code, self._clock()))

    def close(self) -> None:
        with self._lock:
            self._db.close()


class RedisRooms(RoomStore):
    PREFIX = "raftviz:"

    def __init__(self, client: redis.Redis) -> None:
        self.r = client  # the session store's own connection (decode_responses=True)

    def save(self, code: str, token: str, record: str, ttl: float) -> None:
        ms = max(int(ttl * 1000), 1)
        key, tok = f"{self.PREFIX}room:{code}", f"{self.PREFIX}roomtok:{token}"
        pipe = self.r.pipeline()
        pipe.hset(key, mapping={"token": token, "record": record})
        pipe.pexpire(key, ms)
        pipe.set(tok, code, px=ms)
        pipe.execute()

    def load(self, code: str) -> tuple[str, str] | None:
        found = self.r.hgetall(f"{self.PREFIX}room:{code}")
        token, record = found.get("token"), found.get("record")
        if not isinstance(token, str) or not isinstance(record, str):
            return None
        return token, record

    def code_of(self, token: str) -> str | None:
        code = self.r.get(f"{self.PREFIX}roomtok:{token}")
        return code if isinstance(code, str) else None

    def drop(self, code: str, token: str) -> None:
        self.r.delete(f"{self.PREFIX}room:{code}", f"{self.PREFIX}roomtok:{token}")


def rooms_for(store: SessionStore | None) -> RoomStore | None:
    """Classroom records kept where ``store`` keeps its sessions (None without a store)."""
    if store is None:
        return None
    from raftviz.service.store.redis_store import RedisStore
    from raftviz.service.store.sqlite_store import SqliteStore

    if isinstance(store, SqliteStore):
        return SqliteRooms(store.path)
    if isinstance(store, RedisStore):
        return RedisRooms(store.client)
    return None
