"""Classroom mode in real browsers: a presenter and two students, each in its own context.

The students open the join link, see the presenter's cluster live, cannot change it (the
server refuses, the page shows it), and answer a prediction poll the presenter then reveals.
"""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import LAPTOP, Lab


def test_presenter_and_two_students(
    lab: Any, browser: Any, server_url: str, save_screenshot: Any
) -> None:
    host = lab.page
    host.get_by_test_id("classroom-button").click()
    code_box = host.get_by_test_id("class-code")
    expect(code_box).to_have_text(re.compile(r"^[A-Z0-9]{6}$"))
    code = code_box.inner_text().strip()
    expect(host.get_by_test_id("class-link")).to_contain_text(f"/join/{code}")

    contexts = [browser.new_context(viewport=LAPTOP) for _ in range(2)]
    try:
        students = []
        for ctx in contexts:
            page = ctx.new_page()
            page.set_default_timeout(15000)
            students.append(Lab(page, f"{server_url}/join/{code}").open())
        expect(host.get_by_test_id("class-students")).to_have_text("2")
        for pupil in students:
            banner = pupil.page.get_by_test_id("classroom-banner")
            expect(banner).to_contain_text("Following the presenter — read-only")
            expect(pupil.page.locator(".panel-left")).to_have_attribute("inert", "")
            expect(pupil.page.get_by_test_id("classroom-button")).to_be_hidden()

        # The presenter runs the cluster and crashes the leader; the students see it.
        lab.fast()
        lab.play()
        leader = lab.leader()
        lab.open_menu(leader).get_by_test_id("action-crash").click()
        expect(lab.node(leader)).to_have_attribute("data-state", "crashed")
        lab.pause()
        for pupil in students:
            expect(pupil.node(leader)).to_have_attribute("data-state", "crashed")
            expect(pupil.page.get_by_test_id("play-button")).to_have_attribute(
                "data-playing", "false"
            )

        # A student's attempt through the page's own api is refused by the server.
        first = students[0].page
        ack = first.evaluate(
            f"() => window.raftviz.api.command({{type: 'restart', node: '{leader}'}})"
        )
        assert ack["ok"] is False and "read-only" in ack["error"], ack
        expect(first.locator(".toast").last).to_contain_text("read-only")
        first.keyboard.press("h")  # a shortcut (heal): refused the same way
        expect(lab.node(leader)).to_have_attribute("data-state", "crashed")
        save_screenshot(first, "student-refused")

        # A prediction poll round trip.
        host.get_by_test_id("poll-question").fill("Who leads after a restart?")
        host.get_by_test_id("poll-choices").fill(f"{leader} again\nsomeone else\nnobody")
        host.get_by_test_id("poll-open").click()
        for i, pupil in enumerate(students):
            choice = pupil.page.get_by_test_id(f"poll-choice-{i}")
            expect(choice).to_be_visible()
            choice.click()
            expect(choice).to_have_attribute("aria-pressed", "true")
        students[0].page.get_by_test_id("poll-choice-1").click()  # changes their mind
        tally = host.get_by_test_id("poll-tally")
        expect(tally.locator('[data-choice="1"]')).to_have_attribute("data-count", "2")
        expect(host.get_by_test_id("poll-status")).to_contain_text("2 answered")
        save_screenshot(host, "presenter-tally")

        # Run it, then reveal against what happened.
        lab.play()
        lab.leader()
        lab.pause()
        host.get_by_test_id("poll-reveal-1").click()
        for pupil in students:
            expect(pupil.page.get_by_test_id("poll-status")).to_contain_text("Revealed")
            expect(pupil.page.get_by_test_id("poll-tally").locator('[data-choice="1"]')).to_have_attribute(
                "data-count", "2"
            )
        save_screenshot(students[1].page, "student-revealed")
        save_screenshot(host, "presenter-revealed")
    finally:
        for ctx in contexts:
            ctx.close()
