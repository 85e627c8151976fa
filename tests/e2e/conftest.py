"""Real-browser tests: the app runs as a subprocess, Playwright drives Debian's Chromium.

The server is a separate process on purpose: eventlet must never be imported or monkey-patched
in the pytest process, where Playwright runs (a patched pytest passes its tests, then hangs at
exit). Keep `app` / `raftviz.web` imports out of this directory.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.live_server import live_server

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


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """Start `app.py` (default async mode) on a free port; yield its base URL."""
    OUT_DIR.mkdir(exist_ok=True)
    try:
        with live_server(log_path=OUT_DIR / "e2e-server.log") as (url, _proc):
            yield url
    except RuntimeError as exc:  # the server did not start: show its log, not a traceback
        pytest.fail(str(exc), pytrace=False)


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


# --------------------------------------------------------------------------- the lab page
# Playwright's wait_for_function evaluates strings, which the page's Content-Security-Policy
# (no 'unsafe-eval') forbids; the tests wait with `expect` on locators or poll with `wait_until`.

LAPTOP = {"width": 1366, "height": 768}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    """A student's laptop screen, and downloads allowed (trace download test)."""
    return {**browser_context_args, "viewport": LAPTOP, "accept_downloads": True}


class Lab:
    """The lab page, driven the way a person drives it (clicks, drags, keys)."""

    def __init__(self, page: Any, url: str) -> None:
        self.page = page
        self.url = url

    def open(self) -> Lab:
        from playwright.sync_api import expect

        self.page.goto(self.url)
        expect(self.page.get_by_test_id("connection")).to_have_attribute("data-state", "ok")
        expect(self.page.get_by_test_id("node-n1")).to_be_visible()
        return self

    def wait_until(
        self, check: Callable[[], Any], timeout: float = 20.0, what: str = "condition"
    ) -> Any:
        """Poll page state until ``check()`` is truthy (no fixed sleeps: each poll yields)."""
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
            self.page.wait_for_timeout(50)

    def fast(self) -> None:
        """Player speed 1× (real time) through the speed slider."""
        from playwright.sync_api import expect

        self.page.get_by_test_id("speed-slider").fill("0")
        expect(self.page.get_by_test_id("speed-label")).to_have_text("1×")

    def play(self) -> None:
        from playwright.sync_api import expect

        button = self.page.get_by_test_id("play-button")
        if button.get_attribute("data-playing") != "true":
            button.click()
        expect(button).to_have_attribute("data-playing", "true")

    def pause(self) -> None:
        from playwright.sync_api import expect

        button = self.page.get_by_test_id("play-button")
        if button.get_attribute("data-playing") == "true":
            button.click()
        expect(button).to_have_attribute("data-playing", "false")

    def leader(self, timeout: float = 15.0) -> str:
        """The id of the one server drawn as leader (waits for exactly one)."""
        from playwright.sync_api import expect

        leaders = self.page.locator('[data-testid^="node-n"][data-role="leader"]')
        expect(leaders).to_have_count(1, timeout=timeout * 1000)
        return str(leaders.get_attribute("data-node"))

    def new_leader(
        self,
        old: str,
        above_term: int = -1,
        what: str = "a new leader",
        each_poll: Callable[[], Any] | None = None,
    ) -> str:
        """Wait for a server other than ``old`` drawn as leader in a term above ``above_term``
        (``each_poll`` runs before each look, e.g. to advance the run)."""
        leaders = self.page.locator('[data-testid^="node-n"][data-role="leader"]')

        def found() -> str | None:
            if each_poll is not None:
                each_poll()
            for i in range(leaders.count()):
                node = str(leaders.nth(i).get_attribute("data-node"))
                if node != old and self.term(node) > above_term:
                    return node
            return None

        return str(self.wait_until(found, what=what))

    def node(self, node_id: str) -> Any:
        return self.page.get_by_test_id(f"node-{node_id}")

    def nodes(self) -> list[str]:
        ids = self.page.locator('[data-testid^="node-n"]').evaluate_all(
            "els => els.map(e => e.dataset.node)"
        )
        return [str(i) for i in ids]

    def term(self, node_id: str) -> int:
        return int(self.node(node_id).get_attribute("data-term") or 0)

    def sim_time(self) -> float:
        return float(self.page.get_by_test_id("sim-time").get_attribute("data-time") or 0)

    def node_center(self, node_id: str) -> tuple[float, float]:
        box = self.node(node_id).locator(".node-id").bounding_box()
        assert box is not None, f"{node_id} is not drawn"
        return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2

    def open_menu(self, node_id: str) -> Any:
        from playwright.sync_api import expect

        self.node(node_id).locator(".node-id").click(force=True)
        menu = self.page.get_by_test_id(f"node-menu-{node_id}")
        expect(menu).to_be_visible()
        return menu

    def settled_center(self, node_id: str) -> tuple[float, float]:
        """The node's centre once it has stopped moving (the ring animates after a partition
        change, and a drag that starts where the node was a moment ago grabs nothing)."""
        last: tuple[float, float] | None = None
        for _ in range(50):
            center = self.node_center(node_id)
            if center == last:
                return center
            last = center
            self.page.wait_for_timeout(100)
        return last if last is not None else self.node_center(node_id)

    def drag_node_to(self, node_id: str, zone_testid: str) -> None:
        """Drag a server onto a drop zone (zones appear once the drag starts)."""
        from playwright.sync_api import expect

        mouse = self.page.mouse
        x, y = self.settled_center(node_id)
        mouse.move(x, y)
        mouse.down()
        mouse.move(x + 15, y + 10, steps=3)
        zone = self.page.get_by_test_id(zone_testid)
        expect(zone).to_be_visible()
        box = zone.bounding_box()
        assert box is not None
        tx, ty = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        mouse.move(tx, ty, steps=8)
        mouse.up()

    def log_rows(self) -> dict[str, dict[str, str]]:
        rows = self.page.locator('[data-testid^="log-row-"]').evaluate_all(
            "els => els.map(e => "
            "[e.dataset.node, e.dataset.digest, e.dataset.length, e.dataset.commit])"
        )
        return {r[0]: {"digest": r[1], "length": r[2], "commit": r[3]} for r in rows}


@pytest.fixture
def lab(page: Any, server_url: str) -> Lab:
    """A fresh lab page (a new browser context, so a new session and a new cluster)."""
    page.set_default_timeout(15000)
    return Lab(page, server_url + "/").open()


@pytest.fixture
def open_lab(server_url: str) -> Callable[[Any, str], Lab]:
    """Open the lab at a path (e.g. a share link) in a given page: `open_lab(page, "/?seed=7")`."""

    def open_at(page: Any, path: str) -> Lab:
        page.set_default_timeout(15000)
        return Lab(page, server_url + path).open()

    return open_at
