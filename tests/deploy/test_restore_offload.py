"""A slow rebuild does not stall the other sessions on its worker.

A session whose stored run must be replayed from its seed (a loaded run, and a restarted
server with another checkpoint key, so the stored checkpoint is no use) takes seconds to
rebuild. The real server (``app.py``, eventlet) replays it in a worker thread, as heavy requests
run: another session that plays meanwhile keeps receiving its frames. Were the replay on the
event loop, that session would get no frame for the whole rebuild.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.client import PageClient
from tests.deploy.procs import App

pytestmark = pytest.mark.slow

KEY_ENV = "RAFTVIZ_STORE_KEY"  # raftviz/service/store/checkpoint.py (not imported: no eventlet)
MAX_GAP = 0.75  # seconds without a frame: fifteen frame periods (a loaded machine stutters)
MIN_REBUILD = 1.5  # seconds: a rebuild quicker than this could hide in one frame gap


class TimedPage(PageClient):
    """A page that notes when each frame arrives."""

    def _on_frame(self, data: dict[str, Any]) -> None:
        self.arrivals.append(time.monotonic())
        super()._on_frame(data)

    def __init__(self, url: str, token: str = "") -> None:
        self.arrivals: list[float] = []
        super().__init__(url, token=token)


def test_a_slow_rebuild_does_not_stall_another_sessions_frames(tmp_path: Path) -> None:
    app = App(tmp_path, "--store", str(tmp_path / "sessions.sqlite3"),
              env={KEY_ENV: "the first key"})
    try:
        loaded = PageClient(app.url)
        # About twice what a quiet machine needs to take MIN_REBUILD to replay.
        loaded.command(type="workload", rate=30)
        loaded.player(action="advance", ms=60_000)
        kept = loaded.full_frame()
        app.kill9()
        loaded.close()
        app.env = {KEY_ENV: "another key"}  # the stored checkpoint no longer verifies
        app.start()

        watcher = TimedPage(app.url)
        watcher.player(action="play")
        watcher.wait(lambda: len(watcher.arrivals) >= 20, "frames while playing")
        start = time.monotonic()
        back = PageClient(app.url, token=loaded.token)  # returns once rebuilt
        end = time.monotonic()
        assert back.token == loaded.token, back.hello.get("restore_error")
        restored = back.frames[0]
        restored.pop("changed")
        kept.pop("changed")
        assert restored == kept
        assert end - start >= MIN_REBUILD, "the rebuild was too quick to show a stall"
        during = [t for t in watcher.arrivals if start <= t <= end]
        gaps = [b - a for a, b in zip([start, *during], [*during, end], strict=True)]
        assert max(gaps) <= MAX_GAP, (
            f"the playing session got no frame for {max(gaps):.2f} s during a "
            f"{end - start:.2f} s rebuild"
        )
        back.close()
        watcher.close()
    finally:
        app.stop()
