"""Real-browser tests: the app runs as a subprocess, Playwright drives Debian's Chromium.

The server is a separate process on purpose: eventlet must never be imported or monkey-patched
in the pytest process, where Playwright runs (a patched pytest passes its tests, then hangs at
exit). Keep `app` / `raftviz.web` imports out of this directory.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
OUT_DIR = REPO_ROOT / "out"
SCREENS_DIR = OUT_DIR / "screens"
E2E_DIR = Path(__file__).resolve().parent

# Playwright cannot download its own browser here; Debian's package provides this one.
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# No GPU, no sandbox (we run as root), and no background calls home: the network is closed,
# and without these flags Chromium keeps retrying refused connections.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
SERVER_START_TIMEOUT = 20.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # This hook sees every collected item, not only this directory's: filter by path.
    for item in items:
        if E2E_DIR in item.path.parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Extend pytest-playwright's launch args (keeps --headed, --slowmo) with our Chromium."""
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [*browser_type_launch_args.get("args", []), *CHROMIUM_ARGS],
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """Start `app.py` (default async mode) on a free port; yield its base URL."""
    port = _free_port()
    OUT_DIR.mkdir(exist_ok=True)
    # A file, not a pipe: an unread pipe fills up and blocks the server once it logs enough.
    log_path = OUT_DIR / "e2e-server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "app.py", "--port", str(port), "--host", "127.0.0.1"],
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while not _accepts(port):
            if proc.poll() is not None:
                pytest.fail(
                    f"app.py exited with {proc.returncode} before listening on port {port}:\n"
                    + log_path.read_text(errors="replace"),
                    pytrace=False,
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"app.py not listening on port {port} after {SERVER_START_TIMEOUT:.0f}s:\n"
                    + log_path.read_text(errors="replace"),
                    pytrace=False,
                )
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def save_screenshot(request: pytest.FixtureRequest) -> Callable[..., Path]:
    """Return `save(page, name="")` that writes a PNG under out/screens/ and returns its path.

    Files are named after the test (plus `name`), e.g. out/screens/test_home_chromium-start.png;
    they are for humans to look at, not compared by the tests.
    """

    def save(page: Any, name: str = "", *, full_page: bool = True) -> Path:
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name).strip("_")
        path = SCREENS_DIR / (stem + (f"-{name}" if name else "") + ".png")
        SCREENS_DIR.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return save
