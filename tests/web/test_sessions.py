"""SessionManager and Session without Flask: caps, expiry, rate limits, bounded memory."""

from __future__ import annotations

import pytest

from raftviz.service.sessions import Limits, ServerFull, SessionManager, TokenBucket
from raftviz.sim.engine.cluster import CommandError
from raftviz.sim.history import History, config_from_json

from .conftest import FakeClock


def test_open_gets_or_creates_by_token() -> None:
    manager = SessionManager(clock=FakeClock())
    first = manager.open(None)
    assert manager.open(first.token) is first
    assert manager.open("") is not first
    unknown = manager.open("made-up")
    assert unknown.token != "made-up"
    assert len(manager) == 3
    assert len({first.token, unknown.token}) == 2 and len(first.token) >= 32


def test_the_cap_refuses_new_sessions_but_not_known_ones() -> None:
    manager = SessionManager(Limits(max_sessions=2), clock=FakeClock())
    a = manager.open(None)
    manager.open(None)
    with pytest.raises(ServerFull):
        manager.open(None)
    assert manager.open(a.token) is a


def test_idle_expiry_uses_the_injected_clock() -> None:
    clock = FakeClock()
    manager = SessionManager(Limits(session_ttl=60), clock=clock)
    idle = manager.open(None)
    playing = manager.open(None)
    playing.playing = True
    used = manager.open(None)
    clock.advance(50)
    used.touch(clock())
    clock.advance(20)
    assert manager.expire() == [idle]
    assert manager.get(idle.token) is None
    assert manager.get(playing.token) is playing and manager.get(used.token) is used


def test_sessions_nobody_used_or_watches_expire_sooner() -> None:
    clock = FakeClock()
    manager = SessionManager(Limits(session_ttl=1800, unused_ttl=120), clock=clock)
    dropped = manager.open(None)
    watched = manager.open(None)
    manager.attach("sid", watched)
    used = manager.open(None)
    used.used = True
    clock.advance(121)
    assert manager.expire() == [dropped]
    clock.advance(1700)
    assert sorted(s.token for s in manager.expire()) == sorted([watched.token, used.token])


def test_connections_map_to_sessions_and_the_last_one_leaving_pauses() -> None:
    manager = SessionManager(clock=FakeClock())
    session = manager.open(None)
    manager.attach("a", session)
    manager.attach("b", session)
    session.playing = True
    found = manager.connection("a")
    assert found is not None and found[0] is session and found[1].sid == "a"
    assert manager.detach("a") is session and session.playing
    assert manager.detach("b") is session and not session.playing
    assert manager.connection("a") is None and manager.detach("a") is None


def test_token_bucket() -> None:
    bucket = TokenBucket(rate=30, burst=60, now=0.0)
    assert sum(bucket.allow(0.0) for _ in range(100)) == 60
    assert not bucket.allow(0.0)
    assert sum(bucket.allow(0.5) for _ in range(100)) == 15
    assert sum(bucket.allow(100.0) for _ in range(100)) == 60


def test_commands_per_session_are_capped_with_a_clear_error() -> None:
    manager = SessionManager(Limits(max_commands=3), clock=FakeClock())
    session = manager.open(None)
    session.advance(100)
    for _ in range(3):
        session.command({"type": "heal"})
    with pytest.raises(CommandError, match="recorded 3 commands"):
        session.command({"type": "heal"})
    assert len(session.history.log) == 3
    # Seeking back makes room: the next command forks history and drops the later ones.
    session.seek(50)
    session.command({"type": "heal"})
    assert len(session.history.log) == 1


def test_checkpoints_are_thinned_beyond_the_cap_and_seeking_back_still_works() -> None:
    manager = SessionManager(Limits(max_checkpoints=10), clock=FakeClock())
    session = manager.open(None)
    session.history.checkpoint_events = 50  # an idle cluster: checkpoint about every second
    for _ in range(5):
        session.advance(10_000)
        assert len(session.history.checkpoints) <= 10
    assert session.history.checkpoints[0].time == 0
    assert session.history.checkpoint_every > 1000  # taken less often from now on
    assert session.history.checkpoint_events > 50
    reference = History(config_from_json({}))
    reference.run_for(12_345)
    session.seek(12_345)
    assert session.history.cluster.events_processed == reference.cluster.events_processed


def test_imports_are_bounded_before_any_replay() -> None:
    manager = SessionManager(Limits(max_commands=2, max_time=5000), clock=FakeClock())
    session = manager.open(None)
    trace = session.export_trace()
    with pytest.raises(CommandError, match="at most 5000 ms"):
        session.import_trace({**trace, "end": 6000})
    with pytest.raises(CommandError, match="at most 2"):
        session.import_trace({**trace, "commands": [{}] * 3})


def test_a_session_refuses_clusters_larger_than_the_node_cap() -> None:
    manager = SessionManager(Limits(max_nodes=5), clock=FakeClock())
    session = manager.open(None)
    with pytest.raises(CommandError, match="at most 5 nodes"):
        session.reset({"size": 7})
    assert session.history.config.size == 5


def test_limits_are_validated() -> None:
    for bad in ({"max_sessions": 0}, {"max_nodes": 10}, {"rate": 0}, {"max_time": 1e12}):
        with pytest.raises(ValueError):
            Limits(**bad)  # type: ignore[arg-type]
