"""A durable checkpoint leaves the run record out: it belongs to the live run."""

from __future__ import annotations

from pathlib import Path

import pytest

from raftviz.service.sessions import SessionManager
from raftviz.service.store.checkpoint import KEY_ENV, seal, unseal
from raftviz.service.store.sqlite_store import SqliteStore
from raftviz.sim.engine.cluster import ClusterConfig
from raftviz.sim.history import History


def test_a_sealed_cluster_leaves_the_record_out() -> None:
    h = History(ClusterConfig(size=3, seed=1))
    h.run_until(800)
    assert h.cluster.record is not None and h.cluster.record.message_count > 0
    restored = unseal(seal(h.cluster, b"k" * 32), b"k" * 32)
    assert restored is not None
    assert restored.record is None and restored.now == h.now
    assert h.cluster.record.message_count > 0  # the live record is untouched


def test_a_session_rebuilt_from_a_checkpoint_records_from_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The record of a restored run starts at its checkpoint: later messages and marks are
    recorded under their own envelope ids, nothing before is invented, and jumping back to
    the restore point and forking keeps the record matching the run."""
    monkeypatch.setenv(KEY_ENV, "test key")
    m = SessionManager(store=SqliteStore(tmp_path / "s.sqlite3"))
    s = m.open(None)
    s.used = True
    s.command({"type": "workload", "rate": 20})
    s.advance(20_000)
    m.save(s)
    assert m.store_checkpoint(s, lambda fn: fn())
    assert s.stored is not None and s.stored.checkpoint is not None
    since = s.stored.checkpoint[1]
    s.advance(1_000)
    m.save(s)
    back = SessionManager(store=SqliteStore(tmp_path / "s.sqlite3")).open(s.token)
    assert back.token == s.token, back.restore_error
    record, live = back.history.cluster.record, s.history.cluster.record
    assert record is not None and live is not None
    window = record.window(0, back.history.now)
    assert window["since"] == since
    assert window["messages"] and min(row[0] for row in window["messages"]) > 1
    assert all(row[4] >= since for row in window["messages"])
    # From the checkpoint on, the rows are the live run's rows (same ids, same outcomes) and
    # the marks the same, without a "became leader" mark at the restore.
    ours = {row[0]: row[1:] for row in window["messages"]}
    theirs = {row[0]: row[1:] for row in live.window(since, back.history.now)["messages"]
              if row[0] in ours}
    assert ours.keys() == theirs.keys()
    kinds, live_kinds = window["kinds"], live.window(0, 1)["kinds"]
    assert all(kinds[a[0]] == live_kinds[b[0]] and a[3:] == b[3:]
               for a, b in zip(ours.values(), theirs.values(), strict=True))
    marks = [(t, n, k) for _, t, n, k, *_ in window["marks"]]
    live_marks = [(t, n, k) for _, t, n, k, *_ in live.window(since, back.history.now)["marks"]
                  if t > since]
    assert len(marks) == len(live_marks)
    first = min(ours)
    assert record.message(first) is not None and record.message(first - 1) is None
    # Back to the restore point (the stored checkpoint), a new command there, on again.
    count = record.message_count
    back.seek(since)
    back.command({"type": "crash", "node": "n1"})
    back.advance(500)
    again = back.history.cluster.record
    assert again is not None and again.window(0, back.history.now)["since"] == since
    assert 0 < again.message_count < count + 200
    assert again.window(since, back.history.now)["marks"]
