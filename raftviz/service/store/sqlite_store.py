"""SQLite session store: one file, WAL mode, every change committed before it is acknowledged.

``synchronous=NORMAL`` with WAL: a committed change survives the process being killed (the
data is in the operating system's hands at commit); a power cut may lose the last few
commits. A commit then never waits for the disk; only copying the WAL back into the database
does (an fsync), so that is not left to whichever commit fills the WAL: automatic
checkpoints are off and :meth:`SqliteStore.maintain` runs them from a worker thread, on its
own connection. One connection serves the process's requests, behind a lock (every statement
here is short).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from raftviz.service.store.base import (
    RECORD_VERSION,
    Fenced,
    LessonWrite,
    Position,
    SessionStore,
    StoredRun,
    StoreError,
    decode_position,
)
from raftviz.service.store.checkpoint import StoredCheckpoint, load_key

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    token TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    config TEXT NOT NULL,
    events INTEGER NOT NULL,
    now REAL NOT NULL,
    horizon REAL NOT NULL,
    speed REAL NOT NULL,
    count INTEGER NOT NULL,
    expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS commands (
    token TEXT NOT NULL,
    seq INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (token, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (
    token TEXT PRIMARY KEY,
    events INTEGER NOT NULL,
    time REAL NOT NULL,
    cursor INTEGER NOT NULL,
    blob BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS lessons (
    token TEXT PRIMARY KEY,
    header TEXT NOT NULL,
    count INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS journal (
    token TEXT NOT NULL,
    seq INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (token, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sessions_expires ON sessions (expires);
"""

TABLES = ("commands", "checkpoints", "journal", "lessons", "sessions")


class SqliteStore(SessionStore):
    def __init__(self, path: str | Path, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.description = f"sqlite:{self.path}"
        self._clock = clock
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            str(self.path), check_same_thread=False, isolation_level=None, timeout=10.0
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA wal_autocheckpoint=0")
        self._upkeep: sqlite3.Connection | None = None
        self._db.executescript(SCHEMA)
        self.key = load_key(self.path.with_name(self.path.name + ".key"))

    def write(
        self,
        token: str,
        epoch: int,
        *,
        config: str | None,
        keep: int,
        commands: list[str],
        position: Position,
        ttl: float,
        drop_checkpoint: bool = False,
        lesson: LessonWrite | None = None,
    ) -> bool:
        expires = self._clock() + ttl
        pos = (position.events, position.now, position.horizon, position.speed)
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute(
                    "SELECT epoch, count FROM sessions WHERE token = ?", (token,)
                ).fetchone()
                if row is None and config is None:
                    db.execute("ROLLBACK")
                    return False
                if row is not None and row[0] != epoch:
                    db.execute("ROLLBACK")
                    raise Fenced(token)
                if config is not None or drop_checkpoint:
                    db.execute("DELETE FROM checkpoints WHERE token = ?", (token,))
                if config is not None:
                    db.execute("DELETE FROM commands WHERE token = ?", (token,))
                    db.execute(
                        "INSERT OR REPLACE INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (token, RECORD_VERSION, epoch, config, *pos, len(commands), expires),
                    )
                    first = 0
                else:
                    if keep < row[1]:
                        db.execute(
                            "DELETE FROM commands WHERE token = ? AND seq >= ?", (token, keep)
                        )
                    first = keep
                    db.execute(
                        "UPDATE sessions SET events = ?, now = ?, horizon = ?, speed = ?, "
                        "count = ?, expires = ? WHERE token = ?",
                        (*pos, keep + len(commands), expires, token),
                    )
                if commands:
                    db.executemany(
                        "INSERT OR REPLACE INTO commands VALUES (?, ?, ?)",
                        [(token, first + i, body) for i, body in enumerate(commands)],
                    )
                if lesson is not None:
                    self._write_lesson(token, lesson)
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        return True

    def _write_lesson(self, token: str, lesson: LessonWrite) -> None:
        db = self._db
        if lesson.header is None:
            db.execute("DELETE FROM journal WHERE token = ?", (token,))
            db.execute("DELETE FROM lessons WHERE token = ?", (token,))
            return
        db.execute("DELETE FROM journal WHERE token = ? AND seq >= ?", (token, lesson.keep))
        db.execute("INSERT OR REPLACE INTO lessons VALUES (?, ?, ?)",
                   (token, lesson.header, lesson.keep + len(lesson.entries)))
        db.executemany(
            "INSERT OR REPLACE INTO journal VALUES (?, ?, ?)",
            [(token, lesson.keep + i, body) for i, body in enumerate(lesson.entries)],
        )

    def write_checkpoint(self, token: str, epoch: int, checkpoint: StoredCheckpoint) -> None:
        cp = checkpoint
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT epoch FROM sessions WHERE token = ?", (token,)).fetchone()
                if row is not None and row[0] != epoch:
                    raise Fenced(token)
                if row is not None:
                    db.execute(
                        "INSERT OR REPLACE INTO checkpoints VALUES (?, ?, ?, ?, ?)",
                        (token, cp.events, cp.time, cp.cursor, cp.blob),
                    )
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    def claim(self, token: str) -> StoredRun | None:
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute(
                    "SELECT version, epoch, config, events, now, horizon, speed, count, expires "
                    "FROM sessions WHERE token = ?",
                    (token,),
                ).fetchone()
                if row is None or row[8] < self._clock():
                    db.execute("ROLLBACK")
                    return None
                if isinstance(row[1], bool) or not isinstance(row[1], int):
                    raise StoreError(f"the stored epoch is not a whole number: {row[1]!r}")
                epoch = row[1] + 1
                db.execute("UPDATE sessions SET epoch = ? WHERE token = ?", (epoch, token))
                bodies = db.execute(
                    "SELECT seq, body FROM commands WHERE token = ? ORDER BY seq", (token,)
                ).fetchall()
                cp = db.execute(
                    "SELECT events, time, cursor, blob FROM checkpoints WHERE token = ?", (token,)
                ).fetchone()
                lesson = db.execute(
                    "SELECT header, count FROM lessons WHERE token = ?", (token,)
                ).fetchone()
                entries = db.execute(
                    "SELECT seq, body FROM journal WHERE token = ? ORDER BY seq", (token,)
                ).fetchall()
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        count = row[7]
        if [seq for seq, _ in bodies] != list(range(len(bodies))) or count != len(bodies):
            raise StoreError(
                f"the stored command log is incomplete: {len(bodies)} of {count} commands, "
                "or a gap in their numbering"
            )
        texts = [b if isinstance(b, str) else "" for _, b in bodies]
        config = row[2] if isinstance(row[2], str) else ""
        checkpoint = None
        if cp is not None and isinstance(cp[3], bytes) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in cp[:3]
        ):
            checkpoint = StoredCheckpoint(int(cp[0]), float(cp[1]), int(cp[2]), cp[3])
        header = None
        if lesson is not None:
            header = lesson[0] if isinstance(lesson[0], str) else ""
            if [seq for seq, _ in entries] != list(range(len(entries))) or lesson[1] != len(
                entries
            ):
                raise StoreError(
                    f"the stored lesson journal is incomplete: {len(entries)} of {lesson[1]} "
                    "entries, or a gap in their numbering"
                )
        return StoredRun(
            token, epoch, row[0], config, texts,
            decode_position(row[3], row[4], row[5], row[6]), checkpoint,
            header, tuple(b if isinstance(b, str) else "" for _, b in entries),
        )

    def delete(self, token: str, epoch: int | None = None) -> None:
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            if epoch is not None:
                row = db.execute("SELECT epoch FROM sessions WHERE token = ?", (token,)).fetchone()
                if row is not None and row[0] != epoch:
                    db.execute("ROLLBACK")
                    return
            for table in TABLES:
                db.execute(f"DELETE FROM {table} WHERE token = ?", (token,))  # noqa: S608
            db.execute("COMMIT")

    def sweep(self) -> int:
        now = self._clock()
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            rows = db.execute("SELECT token FROM sessions WHERE expires < ?", (now,))
            gone = [r[0] for r in rows]
            for token in gone:
                for table in TABLES:
                    db.execute(f"DELETE FROM {table} WHERE token = ?", (token,))  # noqa: S608
            db.execute("COMMIT")
        return len(gone)

    def maintain(self) -> None:
        """Copy the WAL into the database (PASSIVE: never blocks the request connection)."""
        if self._upkeep is None:
            self._upkeep = sqlite3.connect(
                str(self.path), check_same_thread=False, isolation_level=None, timeout=10.0
            )
        self._upkeep.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        with self._lock:
            self._db.close()
            if self._upkeep is not None:
                self._upkeep.close()
