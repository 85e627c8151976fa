"""The lab without a mouse, with a screen reader and with reduced motion, in a real browser.

Partitioning, cutting a link, manual delivery and scrubbing the timeline are done with keys
only (no clicks, no drags); the live region speaks leader changes at a listenable pace; with
prefers-reduced-motion the servers jump to their new places instead of gliding.
"""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import Lab


def press(page: Any, *keys: str) -> None:
    for key in keys:
        page.keyboard.press(key)


def focus_testid(page: Any, testid: str, limit: int = 60) -> None:
    """Tab until the element with this test id has the focus (as a keyboard user would)."""
    for _ in range(limit):
        if page.evaluate(f"() => document.activeElement?.dataset?.testid === '{testid}'"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached [data-testid={testid}]")


def test_partition_and_cut_a_link_with_the_keyboard_only(lab: Any, save_screenshot: Any) -> None:
    page = lab.page
    press(page, "2", "Enter")  # select n2, open its menu
    menu = page.get_by_test_id("node-menu-n2")
    expect(menu).to_be_visible()
    focus_testid(page, "move-side")
    page.keyboard.press("End")  # the last choice: a side of its own
    expect(page.get_by_test_id("move-side")).to_have_value("new")
    focus_testid(page, "move-submit")
    press(page, "Enter")
    expect(page.get_by_test_id("side-A")).to_be_visible()
    expect(page.get_by_test_id("side-B")).to_be_visible()
    sides = " | ".join((page.get_by_test_id(f"side-{s}").text_content() or "") for s in "AB")
    assert "1 of 5 · minority" in sides and "4 of 5 · majority" in sides, sides
    expect(page.get_by_test_id("narration")).to_contain_text("the network split into")

    press(page, "h")  # heal, then cut the n1-n3 link from n1's menu
    expect(page.get_by_test_id("side-A")).to_have_count(0)
    press(page, "1", "Enter")
    expect(page.get_by_test_id("node-menu-n1")).to_be_visible()
    focus_testid(page, "link-peer")
    page.keyboard.press("ArrowDown")  # n2 -> n3
    expect(page.get_by_test_id("link-peer")).to_have_value("n3")
    focus_testid(page, "link-open")
    press(page, "Enter")
    link_menu = page.get_by_test_id("link-menu")
    expect(link_menu).to_contain_text("link n1 — n3")
    focus_testid(page, "link-cut-both")
    press(page, "Enter")
    expect(page.get_by_test_id("link-n1-n3")).to_have_attribute("data-state", "cut")
    save_screenshot(page)


def test_manual_delivery_and_scrubbing_with_the_keyboard(lab: Any) -> None:
    page = lab.page
    press(page, "m")  # manual delivery on
    expect(page.get_by_test_id("inflight-deliver")).to_have_count(0)
    press(page, "1", "t")  # n1 times out; its RequestVotes wait for its fsync, then for us
    press(page, ",")  # 10 ms: n1's term and vote are on disk and its RequestVotes leave
    deliver = page.get_by_test_id("inflight-deliver")
    expect(deliver.first).to_be_visible()
    waiting = deliver.count()
    assert waiting == 4, f"n1 should ask the 4 others for votes, {waiting} messages held"
    focus_testid(page, "inflight-deliver")
    press(page, "Enter")
    expect(page.get_by_test_id("narration")).to_contain_text("n1")
    # The delivered request is gone; n2's reply waits for n2's fsync while time stands still.
    expect(page.get_by_test_id("inflight-item")).to_have_count(waiting - 1)
    focus_testid(page, "inflight-drop")
    held = page.get_by_test_id("inflight-item").count()
    before = lab.sim_time()
    press(page, "Enter")
    expect(page.get_by_test_id("inflight-item")).to_have_count(held - 1)
    expect(page.get_by_test_id("narration")).to_contain_text("you dropped")

    # The timeline slider scrubs back with the arrow keys.
    press(page, "m")
    press(page, ",", ",", ",")
    lab.wait_until(lambda: lab.sim_time() > before, what="time to move on")
    after = lab.sim_time()
    slider = page.get_by_test_id("scrubber")
    slider.focus()
    press(page, "Home")
    lab.wait_until(lambda: lab.sim_time() < after, what="the timeline to jump back")


def test_the_live_region_speaks_a_leader_change(lab: Any) -> None:
    page = lab.page
    region = page.get_by_test_id("announcer")
    expect(region).to_have_attribute("role", "status")
    expect(page.get_by_test_id("announce-level")).to_have_value("key")
    lab.fast()
    lab.play()
    leader = lab.leader()
    expect(region).to_contain_text(re.compile(rf"{leader}.*(won|leader)"), timeout=10000)
    # Off says nothing more.
    page.get_by_test_id("announce-level").select_option("off")
    spoken = region.inner_text()
    count = region.get_attribute("data-count")
    lab.open_menu(leader).get_by_test_id("action-crash").click()
    lab.wait_until(lambda: lab.leader() != leader, what="a new leader")
    assert region.inner_text() == spoken and region.get_attribute("data-count") == count


def test_reduced_motion_moves_servers_without_gliding(
    browser: Any, server_url: str
) -> None:
    ctx = browser.new_context(reduced_motion="reduce", viewport={"width": 1366, "height": 768})
    try:
        page = ctx.new_page()
        page.set_default_timeout(15000)
        lab = Lab(page, server_url + "/").open()
        assert page.evaluate("() => matchMedia('(prefers-reduced-motion: reduce)').matches")
        x0, y0 = lab.settled_center("n1")
        press(page, "1", "Enter")
        page.get_by_test_id("move-side").select_option("new")
        page.get_by_test_id("move-submit").click()
        expect(page.get_by_test_id("side-A")).to_be_visible()
        # Two animation frames later the server is already where it settles (no tween).
        page.evaluate(
            "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
        )
        x1, y1 = lab.node_center("n1")
        page.wait_for_timeout(400)
        x2, y2 = lab.node_center("n1")
        assert (x1, y1) != (x0, y0), "n1 should have moved to its own side"
        assert abs(x2 - x1) < 0.5 and abs(y2 - y1) < 0.5, "n1 glided instead of jumping"
    finally:
        ctx.close()
