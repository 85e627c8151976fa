"""Classroom records beside the sessions (raftviz/service/store/rooms.py), in both backends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from raftviz.service.classroom import Classroom, ClassroomError, Poll
from raftviz.service.store.rooms import RedisRooms, RoomStore, SqliteRooms, rooms_for
from raftviz.service.store.sqlite_store import SqliteStore
from tests.deploy.procs import Redis


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", "redis"])
def rooms(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[RoomStore, Clock]]:
    clock = Clock()
    if request.param == "sqlite":
        store: RoomStore = SqliteRooms(tmp_path / "sessions.sqlite3", clock)
    else:
        import redis

        server: Redis = request.getfixturevalue("redis_server")
        client = redis.Redis.from_url(server.url, decode_responses=True)
        client.flushdb()
        store = RedisRooms(client)
    yield store, clock
    store.close()


def test_a_record_comes_back_by_code_and_by_token(rooms: tuple[RoomStore, Clock]) -> None:
    store, _ = rooms
    assert store.load("ABC346") is None and store.code_of("tok") is None
    store.save("ABC346", "tok", '{"r": 1}', ttl=60)
    assert store.load("ABC346") == ("tok", '{"r": 1}')
    assert store.code_of("tok") == "ABC346"
    store.save("ABC346", "tok", '{"r": 2}', ttl=60)  # a later save replaces it
    assert store.load("ABC346") == ("tok", '{"r": 2}')
    store.drop("ABC346", "tok")
    assert store.load("ABC346") is None and store.code_of("tok") is None


def test_a_sqlite_record_expires_with_its_ttl(tmp_path: Path) -> None:
    clock = Clock()
    store = SqliteRooms(tmp_path / "s.sqlite3", clock)
    store.save("ABC346", "tok", "{}", ttl=60)
    clock.now += 59
    assert store.load("ABC346") is not None
    clock.now += 2
    assert store.load("ABC346") is None and store.code_of("tok") is None
    store.close()


def test_rooms_live_in_the_session_stores_own_file(tmp_path: Path) -> None:
    sessions = SqliteStore(tmp_path / "sessions.sqlite3")
    rooms = rooms_for(sessions)
    assert isinstance(rooms, SqliteRooms)
    rooms.save("ABC346", "tok", "{}", ttl=60)
    again = rooms_for(SqliteStore(tmp_path / "sessions.sqlite3"))  # after a restart
    assert again is not None and again.load("ABC346") == ("tok", "{}")
    assert rooms_for(None) is None


def test_a_classroom_round_trips_its_record_without_answers() -> None:
    room = Classroom("ABC346", "s3cret", "tok", "presenter-sid")
    room.open_poll("Who leads next?", ["n2", "n3"])
    room.poll.answers["old-sid"] = 1  # type: ignore[union-attr]
    again = Classroom.from_record("ABC346", "tok", json.loads(json.dumps(room.record())), None)
    assert again.secret == "s3cret" and again.presenter_sids == set()
    assert again.poll == Poll("Who leads next?", ["n2", "n3"])  # the sockets are all new
    taken = Classroom.from_record("ABC346", "tok", room.record(), "sid", keep_answers=True)
    assert taken.poll is not None and taken.poll.answers == {"old-sid": 1}  # a takeover


@pytest.mark.parametrize(
    ("record", "complaint"),
    [
        ([], "version"),
        ({"version": 99, "secret": "s"}, "version"),
        ({"version": 1}, "no secret"),
        ({"version": 1, "secret": ""}, "no secret"),
        ({"version": 1, "secret": "s", "poll": {"question": 3}}, "question"),
    ],
)
def test_a_bad_stored_record_is_refused_with_a_reason(record: Any, complaint: str) -> None:
    with pytest.raises(ClassroomError, match=complaint):
        Classroom.from_record("ABC346", "tok", record, None)


