"""Rebuilding by replay lands exactly where the live run stood, including while playing."""

from __future__ import annotations

import time
from pathlib import Path

from raftviz.service.sessions import SessionManager
from raftviz.service.store.sqlite_store import SqliteStore
from raftviz.sim.snapshot import snapshot


def test_commands_between_events_while_playing_replay_exactly(tmp_path: Path) -> None:
    """Playback stops between events; commands then land at event counts that replay must
    honour (several commands before the first event, an event caused by a command)."""
    store = SqliteStore(tmp_path / "s.sqlite3")
    m = SessionManager(store=store)
    s = m.open(None)
    s.used = True
    s.set_speed(1.0)
    s.play(0.0)
    never = time.perf_counter() + 3600  # no CPU budget cut: the run is what real ms say
    for i in range(12):
        s.play_for(3.7, never, time.perf_counter)
        s.command({"type": "client", "op": "set", "key": f"k{i % 3}", "value": str(i)})
        m.save(s)
    s.command({"type": "crash", "node": "n2"})
    m.save(s)
    s.play_for(2.0, never, time.perf_counter)
    m.save(s)
    back = SessionManager(store=SqliteStore(tmp_path / "s.sqlite3")).open(s.token)
    assert back.token == s.token, back.restore_error
    assert back.history.cursor == len(s.history.log) == 13
    assert snapshot(back.history.cluster) == snapshot(s.history.cluster)
