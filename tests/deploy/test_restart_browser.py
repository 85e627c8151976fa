"""A real page across a kill -9 of its server: it reconnects and shows the same cluster."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.deploy.client import PageClient
from tests.deploy.procs import App
from tests.e2e.conftest import Lab


def node_view(lab: Lab) -> dict[str, tuple[str | None, ...]]:
    return {
        n: (
            lab.node(n).get_attribute("data-state"),
            lab.node(n).get_attribute("data-role"),
            lab.node(n).get_attribute("data-term"),
        )
        for n in lab.nodes()
    }


def test_page_gets_its_cluster_back_after_kill_9(
    page: Any, tmp_path: Path, save_screenshot: Any
) -> None:
    app = App(tmp_path, "--store", str(tmp_path / "sessions.sqlite3"))
    try:
        page.set_default_timeout(15000)
        lab = Lab(page, app.url + "/").open()
        lab.fast()
        lab.play()
        leader = lab.leader()
        lab.open_menu(leader).get_by_test_id("action-crash").click()
        expect(lab.node(leader)).to_have_attribute("data-state", "crashed")
        lab.leader()  # a new one, in a higher term
        lab.pause()
        before_time = lab.sim_time()
        before_nodes = node_view(lab)
        before_logs = lab.log_rows()

        app.kill9()
        expect(page.get_by_test_id("connection")).not_to_have_attribute("data-state", "ok")
        app.start()
        # socket.io-client reconnects by itself, with the session token it kept.
        expect(page.get_by_test_id("connection")).to_have_attribute(
            "data-state", "ok", timeout=30000
        )
        lab.wait_until(lambda: lab.sim_time() == before_time, what="the same simulated time")
        assert node_view(lab) == before_nodes
        assert lab.log_rows() == before_logs
        expect(lab.node(leader)).to_have_attribute("data-state", "crashed")
        save_screenshot(page, "after-restart")
        # And it carries on from there.
        lab.play()
        lab.wait_until(lambda: lab.sim_time() > before_time, what="time moving again")
    finally:
        app.stop()


def test_a_lesson_in_progress_comes_back_after_kill_9_and_a_reload(
    page: Any, tmp_path: Path, save_screenshot: Any
) -> None:
    """Half-way through a lesson: after kill -9 the reconnecting page shows the same step with
    the task done and the answers graded; reloading the page keeps it too."""
    app = App(tmp_path, "--store", str(tmp_path / "sessions.sqlite3"))
    try:
        page.set_default_timeout(15000)
        lab = Lab(page, app.url + "/").open()
        page.get_by_test_id("lessons-button").click()
        page.get_by_test_id("lesson-item-split-brain").click()
        page.get_by_test_id("lesson-number-votes-needed").fill("2")
        page.get_by_test_id("lesson-go-votes-needed").click()
        expect(page.get_by_test_id("lesson-grading")).to_be_visible()
        page.get_by_test_id("lesson-next").click()
        expect(page.get_by_test_id("lesson-step-title")).to_have_attribute("data-step", "1")
        page.get_by_test_id("preset-isolate-leader").click()
        task = page.get_by_test_id("lesson-task-isolate-n1")
        expect(task).to_have_attribute("data-done", "true")
        page.get_by_test_id("lesson-choice-how-many-leaders-2").click()
        page.get_by_test_id("lesson-go-how-many-leaders").click()
        grading = page.get_by_test_id("lesson-grading")
        expect(grading).to_be_visible()
        correct = grading.get_attribute("data-correct")
        title = page.get_by_test_id("lesson-step-title").inner_text()
        lab.wait_until(lambda: lab.sim_time() > 0, what="the lesson's cluster")
        before_time = lab.sim_time()
        before_nodes = node_view(lab)

        app.kill9()
        expect(page.get_by_test_id("connection")).not_to_have_attribute("data-state", "ok")
        app.start()
        expect(page.get_by_test_id("connection")).to_have_attribute(
            "data-state", "ok", timeout=30000
        )

        def same_lesson() -> None:
            expect(page.get_by_test_id("lesson-step-title")).to_have_text(title)
            expect(page.get_by_test_id("lesson-progress")).to_have_text("2 / 6")
            expect(page.get_by_test_id("lesson-task-isolate-n1")).to_have_attribute(
                "data-done", "true"
            )
            expect(page.get_by_test_id("lesson-grading")).to_have_attribute(
                "data-correct", str(correct)
            )
            lab.wait_until(lambda: lab.sim_time() == before_time, what="the same time")
            assert node_view(lab) == before_nodes

        same_lesson()
        save_screenshot(page, "lesson-after-restart")
        page.reload()
        same_lesson()
        # And it goes on from there.
        page.get_by_test_id("lesson-back").click()
        expect(page.get_by_test_id("lesson-step-title")).to_have_attribute("data-step", "0")
    finally:
        app.stop()


def test_space_time_says_where_the_record_of_a_restored_session_starts(
    page: Any, tmp_path: Path, save_screenshot: Any
) -> None:
    """A session rebuilt from a stored checkpoint has no record of the run before it: the
    Space-time view says so in words and greys that stretch out, and records from there."""
    db = tmp_path / "sessions.sqlite3"
    app = App(tmp_path, "--store", str(db))
    try:
        page.set_default_timeout(15000)
        page.set_viewport_size({"width": 1366, "height": 768})
        lab = Lab(page, app.url + "/").open()
        token = page.evaluate("() => sessionStorage.getItem('raftviz.session')")
        driver = PageClient(app.url, token=token)  # the same session, driven without clicks
        driver.command(type="workload", rate=20)
        driver.player(action="advance", ms=20_000)
        driver.close()

        def checkpoint() -> float | None:
            with sqlite3.connect(db) as conn:
                row = conn.execute("SELECT time FROM checkpoints WHERE token = ?",
                                   (token,)).fetchone()
            return None if row is None else float(row[0])

        lab.wait_until(lambda: checkpoint() is not None, what="a stored checkpoint")
        since = checkpoint()
        assert since is not None and since > 0
        app.kill9()
        expect(page.get_by_test_id("connection")).not_to_have_attribute("data-state", "ok")
        app.start()
        expect(page.get_by_test_id("connection")).to_have_attribute(
            "data-state", "ok", timeout=30000
        )
        page.get_by_test_id("view-spacetime").click()
        note = page.get_by_test_id("st-since")
        expect(note).to_be_visible()
        expect(note).to_contain_text("restored from storage")
        save_screenshot(page, "spacetime-after-restore", full_page=False)
        page.set_viewport_size({"width": 1920, "height": 1080})
        page.get_by_test_id("st-zoom-out").click()
        page.get_by_test_id("st-zoom-out").click()
        save_screenshot(page, "spacetime-after-restore-wide", full_page=False)
        lab.play()
        lab.wait_until(
            lambda: page.evaluate("() => window.raftviz.spacetime.drawn().arrows.length") > 0,
            what="arrows recorded after the restore",
        )
        lab.pause()
        drawn = page.evaluate("() => window.raftviz.spacetime.drawn()")
        assert all(a["time"] >= since for a in drawn["arrows"])
    finally:
        app.stop()
