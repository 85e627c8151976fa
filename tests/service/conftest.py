"""Session-store fixtures: a SQLite file in a temp dir, and a real redis-server (Debian's)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from raftviz.service.store import SessionStore
from raftviz.service.store.checkpoint import KEY_ENV
from raftviz.service.store.redis_store import RedisStore
from raftviz.service.store.sqlite_store import SqliteStore
from tests.deploy.procs import Redis


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Redis]:
    server = Redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "redis"])
def make_store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[], SessionStore]]:
    """``make()`` opens another handle on one store (as a second worker or a restart would);
    the handles share the checkpoint key, as workers started by scripts/cluster.sh do."""
    monkeypatch.setenv(KEY_ENV, "a key the test workers share")
    opened: list[SessionStore] = []
    if request.param == "redis":
        server: Redis = request.getfixturevalue("redis_server")
        RedisStore(server.url).client.flushdb()

    def make() -> SessionStore:
        store: SessionStore = (
            SqliteStore(tmp_path / "sessions.sqlite3")
            if request.param == "sqlite"
            else RedisStore(request.getfixturevalue("redis_server").url)
        )
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()
