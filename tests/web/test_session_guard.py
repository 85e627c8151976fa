"""The work guard at the session: playback into a zero-time loop pauses and says why."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from raftviz.service.sessions import Connection, Limits, Session, TokenBucket
from raftviz.sim.engine.clients import ClientSettings
from raftviz.sim.engine.errors import WorkLimitError
from raftviz.sim.engine.scheduler import WorkBudget
from tests.sim.test_work_guard import WRITE, looping


@pytest.fixture
def session() -> Iterator[Session]:
    yield Session("t", looping(WorkBudget(max_events_at_one_instant=500)), Limits(), 0.0,
                  threading.Lock())


def test_playback_into_a_loop_pauses_and_says_why(session: Session) -> None:
    with pytest.raises(WorkLimitError):
        session.command(WRITE)
    session.play(0.0)
    for _ in range(3):  # even in small steps (playback ticks), the loop is found
        session.play_for(50.0, time.perf_counter() + 10, time.perf_counter)
    assert session.playing is False
    assert "zero-time loop" in session.player_state()["stopped"]
    session.seek(500.0)
    session.play(1.0)
    assert "stopped" not in session.player_state()


def test_a_seek_stopped_part_of_the_way_asks_for_full_frames(session: Session) -> None:
    h = session.history
    h.cluster.client_settings = ClientSettings()
    h.run_for(8000)
    h.budget = WorkBudget(max_events=50)
    conn = Connection("s", TokenBucket(1, 1, 0.0))
    conn.frames.full = False
    session.connections["s"] = conn
    with pytest.raises(WorkLimitError):
        session.seek(4000.0)
    assert conn.frames.full  # the page's copy is of a later time: it needs a full frame
    assert h.now < 4000.0
