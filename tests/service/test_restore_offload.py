"""A rebuild runs in the offload the web layer passes (a native thread under eventlet), and two
connections that open one stored session at once share a single restore."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from raftviz.service.sessions import SessionManager
from raftviz.service.store import StoredRun
from raftviz.service.store.sqlite_store import SqliteStore
from raftviz.sim.snapshot import snapshot


class CountingStore(SqliteStore):
    """Counts claims, and notes any store call made from inside the offload (the store's
    clients belong to the event loop)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.claims = 0
        self.offloaded = threading.local()
        self.inside_offload: list[str] = []

    def claim(self, token: str) -> StoredRun | None:
        self.claims += 1
        if getattr(self.offloaded, "on", False):
            self.inside_offload.append("claim")
        return super().claim(token)


def stored_session(path: Path) -> tuple[str, dict[str, Any]]:
    m = SessionManager(store=SqliteStore(path))
    s = m.open(None)
    s.used = True
    s.command({"type": "workload", "rate": 20})
    s.advance(3000)
    m.save(s)
    return s.token, snapshot(s.history.cluster)


def offload_in_thread(store: CountingStore, delay: float, runs: list[str]) -> Callable[..., Any]:
    """An offload like eventlet's tpool: the work runs in another thread; the caller waits."""

    def offload(fn: Callable[[], Any]) -> Any:
        result: list[Any] = []

        def work() -> None:
            store.offloaded.on = True
            time.sleep(delay)  # a slow rebuild
            runs.append(threading.current_thread().name)
            result.append(fn())

        thread = threading.Thread(target=work, name=f"offload-{len(runs)}")
        thread.start()
        thread.join()
        return result[0]

    return offload


def test_the_rebuild_runs_in_the_offload_and_the_store_is_read_outside_it(
    tmp_path: Path,
) -> None:
    token, expected = stored_session(tmp_path / "s.sqlite3")
    store = CountingStore(tmp_path / "s.sqlite3")
    runs: list[str] = []
    back = SessionManager(store=store).open(token, offload=offload_in_thread(store, 0.0, runs))
    assert back.token == token, back.restore_error
    assert snapshot(back.history.cluster) == expected
    assert runs == ["offload-0"]  # the replay ran there, once
    assert store.inside_offload == []


def test_two_connections_restoring_one_session_at_once_share_one_restore(
    tmp_path: Path,
) -> None:
    """Without a single restore both would claim the session: the second claim fences the
    first, and whichever copy the manager kept would fail its next save."""
    token, expected = stored_session(tmp_path / "s.sqlite3")
    store = CountingStore(tmp_path / "s.sqlite3")
    m = SessionManager(store=store)
    runs: list[str] = []
    offload = offload_in_thread(store, 0.3, runs)
    opened: list[Any] = []
    threads = [
        threading.Thread(target=lambda: opened.append(m.open(token, offload=offload)))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(opened) == 2 and opened[0] is opened[1]
    session = opened[0]
    assert session.token == token and snapshot(session.history.cluster) == expected
    assert store.claims == 1 and len(runs) == 1
    session.command({"type": "crash", "node": "n1"})
    m.save(session)  # not fenced: this copy holds the newest epoch
    assert m._restoring == {}  # noqa: SLF001 - the per-token gate is gone again
