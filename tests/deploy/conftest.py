"""Deployment tests: real app.py workers, redis-server and nginx as subprocesses.

Browser tests here reuse tests/e2e's Chromium setup and carry the e2e mark, like that folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.procs import Redis
from tests.e2e.conftest import (  # noqa: F401 - the same browser setup as tests/e2e
    browser_context_args,
    browser_type_launch_args,
    save_screenshot,
)

DEPLOY_DIR = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Redis]:
    server = Redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if DEPLOY_DIR in item.path.parents and "page" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.e2e)
