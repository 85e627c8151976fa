"""Rebuilding by replay lands exactly where the live run stood, including while playing."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from raftviz.service.sessions import CHECKPOINT_GAP, SessionManager
from raftviz.service.store import SessionStore
from raftviz.service.store.checkpoint import unseal
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


def test_a_stored_checkpoint_shortens_the_rebuild_and_lands_on_the_same_state(
    make_store: Callable[[], SessionStore],
) -> None:
    m = SessionManager(store=make_store())
    s = m.open(None)
    s.used = True
    s.command({"type": "workload", "rate": 20})
    s.advance(30_000)
    m.save(s)
    assert m.store_checkpoint(s, lambda fn: fn())
    assert s.stored is not None and s.stored.checkpoint is not None
    s.command({"type": "crash", "node": "n1"})
    s.advance(2_000)
    m.save(s)
    run = make_store().claim(s.token)
    assert run is not None and run.checkpoint is not None
    assert run.checkpoint.events >= CHECKPOINT_GAP
    back = SessionManager(store=make_store()).open(s.token)
    assert back.token == s.token, back.restore_error
    assert snapshot(back.history.cluster) == snapshot(s.history.cluster)
    assert back.history.export_trace() == s.history.export_trace()
    # It started from the checkpoint (which a jump back can reuse), not from the seed.
    assert back.history.checkpoints[1].events == run.checkpoint.events


def test_a_checkpoint_past_a_fork_is_dropped(make_store: Callable[[], SessionStore]) -> None:
    m = SessionManager(store=make_store())
    s = m.open(None)
    s.used = True
    s.command({"type": "workload", "rate": 20})
    s.advance(30_000)
    m.save(s)
    assert m.store_checkpoint(s, lambda fn: fn())
    s.seek(5_000)
    m.save(s)
    run = make_store().claim(s.token)
    assert run is not None and run.checkpoint is not None  # still the run's future
    m = SessionManager(store=make_store())
    s = m.open(s.token)
    s.command({"type": "crash", "node": "n1"})  # forks at 5 s: the 30 s checkpoint is wrong now
    m.save(s)
    s.advance(3_000)
    m.save(s)
    run = make_store().claim(s.token)
    assert run is not None and run.checkpoint is None
    back = SessionManager(store=make_store()).open(s.token)
    assert snapshot(back.history.cluster) == snapshot(s.history.cluster)


def test_a_forged_checkpoint_is_never_unpickled(make_store: Callable[[], SessionStore]) -> None:
    """A checkpoint signed with another key is ignored: the run replays from its seed."""
    store = make_store()
    m = SessionManager(store=store)
    s = m.open(None)
    s.used = True
    s.command({"type": "workload", "rate": 20})
    s.advance(20_000)
    m.save(s)
    real_key = store.key
    store.key = b"someone else's key"
    assert m.store_checkpoint(s, lambda fn: fn())
    store.key = real_key
    run = make_store().claim(s.token)
    assert run is not None and run.checkpoint is not None
    assert unseal(run.checkpoint.blob, real_key) is None
    damaged = run.checkpoint.blob[:-10] + b"0123456789"
    assert unseal(damaged, real_key) is None
    back = SessionManager(store=make_store()).open(s.token)
    assert back.token == s.token, back.restore_error
    assert snapshot(back.history.cluster) == snapshot(s.history.cluster)
