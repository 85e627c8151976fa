"""Durable sessions: what is acknowledged is stored, and comes back the same by replay.

Each test runs against both backends (a SQLite file and a real redis-server). "Comes back the
same" is checked on the whole snapshot of the cluster and on the command log, never on timing.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from raftviz.service.sessions import Limits, Session, SessionManager, SessionMoved
from raftviz.service.store import SessionStore, StoreError, rebuild
from raftviz.service.store.redis_store import RedisStore
from raftviz.service.store.sqlite_store import SqliteStore
from raftviz.sim.snapshot import snapshot

SET_X = {"type": "client", "op": "set", "key": "x", "value": "1"}


def manager(store: SessionStore, **limits: float) -> SessionManager:
    return SessionManager(Limits(**limits), store=store)  # type: ignore[arg-type]


def act(m: SessionManager, s: Session, fn: Callable[[], object]) -> None:
    """What the web layer does for one event: mark used, act, store before acknowledging."""
    s.used = True
    fn()
    m.save(s)


def trace(s: Session) -> dict[str, object]:
    data = s.history.export_trace()
    data.pop("end")  # the horizon: checked separately where it matters
    return data


def assert_same(a: Session, b: Session) -> None:
    assert b.token == a.token
    assert snapshot(b.history.cluster) == snapshot(a.history.cluster)
    assert trace(b) == trace(a)
    assert b.history.horizon == a.history.horizon
    assert b.history.cursor == a.history.cursor


def test_commands_and_position_come_back(make_store: Callable[[], SessionStore]) -> None:
    m = manager(make_store())
    s = m.open(None)
    act(m, s, lambda: s.advance(2000))
    act(m, s, lambda: s.command(SET_X))
    act(m, s, lambda: s.command({"type": "crash", "node": "n2"}))
    act(m, s, lambda: s.set_speed(0.2))
    for _ in range(3):  # a step stops between events of one instant: the position says where
        act(m, s, s.step)
    back = manager(make_store()).open(s.token)
    assert_same(s, back)
    assert back.speed == 0.2
    assert [e.command.to_json()["type"] for e in back.history.log] == ["client", "crash"]


def reload(make_store: Callable[[], SessionStore], s: Session) -> tuple[SessionManager, Session]:
    """A restarted worker opens the session (and from then on, holds it)."""
    m = manager(make_store())
    back = m.open(s.token)
    assert_same(s, back)
    return m, back


def test_fork_drops_the_stored_future(make_store: Callable[[], SessionStore]) -> None:
    m = manager(make_store())
    s = m.open(None)
    act(m, s, lambda: s.advance(1000))
    act(m, s, lambda: s.command(SET_X))
    act(m, s, lambda: s.advance(1000))
    act(m, s, lambda: s.command({"type": "crash", "node": "n1"}))
    act(m, s, lambda: s.advance(1000))
    act(m, s, lambda: s.seek(1500))  # back: the crash is still the run's recorded future
    m, s = reload(make_store, s)
    act(m, s, lambda: s.command({"type": "timeout", "node": "n3"}))  # forks: the crash is gone
    m, s = reload(make_store, s)
    assert [e.command.to_json()["type"] for e in s.history.log] == ["client", "timeout"]
    act(m, s, lambda: s.seek(3000))  # forward again, on the new future
    act(m, s, lambda: s.reset({"size": 3, "seed": 9}))
    m, s = reload(make_store, s)
    assert s.history.config.size == 3 and s.history.log == []


def test_import_and_export_survive(make_store: Callable[[], SessionStore]) -> None:
    m = manager(make_store())
    source = m.open(None)
    act(m, source, lambda: source.command({"type": "workload", "rate": 10}))
    act(m, source, lambda: source.advance(3000))
    exported = source.export_trace()
    s = m.open(None)
    act(m, s, lambda: s.import_trace(exported))
    back = manager(make_store()).open(s.token)
    assert_same(s, back)
    assert back.export_trace() == exported


def test_a_second_worker_takes_over_and_the_first_is_fenced(
    make_store: Callable[[], SessionStore],
) -> None:
    first = manager(make_store())
    s = first.open(None)
    act(first, s, lambda: s.command(SET_X))
    second = manager(make_store())
    taken = second.open(s.token)
    assert_same(s, taken)
    with pytest.raises(SessionMoved):
        act(first, s, lambda: s.command({"type": "heal"}))
    assert first.get(s.token) is None  # the stale copy is dropped
    act(second, taken, lambda: taken.command({"type": "heal"}))
    assert len(manager(make_store()).open(s.token).history.log) == 2


def test_expiry_follows_the_session_ttl(make_store: Callable[[], SessionStore]) -> None:
    m = manager(make_store(), session_ttl=0.05)
    s = m.open(None)
    act(m, s, lambda: s.command(SET_X))
    import time

    time.sleep(0.2)
    other = manager(make_store())
    other.expire()  # SQLite sweeps; Redis expired the keys itself
    fresh = other.open(s.token)
    assert fresh.token != s.token and fresh.restore_error is None


def test_expiry_on_a_worker_that_lost_the_session_keeps_the_record(
    make_store: Callable[[], SessionStore],
) -> None:
    first = manager(make_store(), session_ttl=0.05)
    s = first.open(None)
    act(first, s, lambda: s.command(SET_X))
    second = manager(make_store())
    taken = second.open(s.token)  # the page went to another worker, which uses it
    act(second, taken, lambda: taken.command({"type": "heal"}))
    import time

    time.sleep(0.1)
    assert first.expire() == [s]  # the first worker's stale copy idles out...
    assert manager(make_store()).open(s.token).token == taken.token  # ...the record stays


def test_an_unused_session_is_not_written(make_store: Callable[[], SessionStore]) -> None:
    store = make_store()
    m = manager(store)
    s = m.open(None)
    m.save(s)
    assert store.claim(s.token) is None


# ------------------------------------------------------------------ bad store content


def _stored(make_store: Callable[[], SessionStore]) -> tuple[SessionStore, Session]:
    store = make_store()
    m = manager(store)
    s = m.open(None)
    act(m, s, lambda: s.command(SET_X))
    act(m, s, lambda: s.command({"type": "crash", "node": "n1"}))
    act(m, s, lambda: s.advance(500))
    bystander = m.open(None)
    act(m, bystander, lambda: bystander.command(SET_X))
    return store, bystander


def _damage(store: SessionStore, token: str, how: str) -> None:
    if isinstance(store, SqliteStore):
        db = store._db
        if how == "truncated":
            db.execute("UPDATE commands SET body = substr(body, 1, 20) WHERE token = ? AND seq = 1",
                       (token,))
        elif how == "lost":
            db.execute("DELETE FROM commands WHERE token = ? AND seq = 0", (token,))
        elif how == "version":
            db.execute("UPDATE sessions SET version = 0 WHERE token = ?", (token,))
        elif how == "config":
            db.execute("UPDATE sessions SET config = '{\"size\": 99}' WHERE token = ?", (token,))
        elif how == "position":
            db.execute("UPDATE sessions SET now = 'soon' WHERE token = ?", (token,))
    else:
        assert isinstance(store, RedisStore)
        r = store.client
        h, c, *_ = store.keys(token)
        if how == "truncated":
            r.lset(c, 1, r.lindex(c, 1)[:20])
        elif how == "lost":
            r.lpop(c)
        elif how == "version":
            r.hset(h, "version", "0")
        elif how == "config":
            r.hset(h, "config", json.dumps({"size": 99}))
        elif how == "position":
            r.hset(h, "now", "soon")


@pytest.mark.parametrize(
    ("how", "says"),
    [
        ("truncated", "stored command 1 is not valid JSON"),
        ("lost", "incomplete"),
        ("version", "record version 0"),
        ("config", "stored configuration is invalid"),
        ("position", "not numeric"),
    ],
)
def test_bad_content_fails_that_session_only(
    make_store: Callable[[], SessionStore], how: str, says: str
) -> None:
    store, bystander = _stored(make_store)
    m = manager(store)
    s = m.open(None)
    act(m, s, lambda: s.command(SET_X))
    act(m, s, lambda: s.command({"type": "crash", "node": "n1"}))
    _damage(store, s.token, how)
    with pytest.raises(StoreError, match=says):
        run = store.claim(s.token)
        assert run is not None
        rebuild(run)
    fresh = manager(store).open(s.token)
    assert fresh.token != s.token  # a new session, and the page is told why
    assert fresh.restore_error is not None and says in fresh.restore_error
    other = manager(store).open(bystander.token)  # another session is untouched
    assert_same(bystander, other)
