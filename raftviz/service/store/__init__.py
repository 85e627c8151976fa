"""Durable sessions: a small store interface with SQLite (default) and Redis backends."""

from __future__ import annotations

import os
from pathlib import Path

from raftviz.service.store.base import (
    RECORD_VERSION,
    Fenced,
    Position,
    SessionStore,
    StoredRun,
    StoreError,
    rebuild,
)

__all__ = [
    "RECORD_VERSION",
    "Fenced",
    "Position",
    "SessionStore",
    "StoreError",
    "StoredRun",
    "default_sqlite_path",
    "open_store",
    "rebuild",
]


def default_sqlite_path() -> Path:
    """``$XDG_DATA_HOME/raftviz/sessions.sqlite3`` (``~/.local/share/raftviz/...``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "raftviz" / "sessions.sqlite3"


def open_store(sqlite_path: str | Path | None = None, redis_url: str | None = None) -> SessionStore:
    """The Redis store when ``redis_url`` is given, else SQLite at ``sqlite_path``."""
    if redis_url:
        from raftviz.service.store.redis_store import RedisStore

        return RedisStore(redis_url)
    from raftviz.service.store.sqlite_store import SqliteStore

    return SqliteStore(sqlite_path or default_sqlite_path())
