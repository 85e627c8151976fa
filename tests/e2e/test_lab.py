"""The lab page in a real browser: what a student clicks, and what they should then see.

Every test gets a fresh page (a new browser context, so a new session and a new cluster), runs
the player at 1× real time, acts through the page's own controls (clicks, drags, file inputs),
and waits on page state. Each test leaves a screenshot in out/screens/.
"""

from __future__ import annotations

import json
import re
from typing import Any

from playwright.sync_api import expect


def test_page_loads_and_a_leader_appears(lab: Any, save_screenshot: Any) -> None:
    page = lab.page
    expect(page.get_by_test_id("status-line")).to_be_visible()
    assert len(lab.nodes()) == 5
    lab.fast()
    lab.play()
    leader = lab.leader()
    expect(lab.node(leader).locator(".role-label")).to_have_text("LEADER")
    expect(page.get_by_test_id("leader-id")).to_have_text(leader)
    # The role is a word and a shape, not only a colour.
    expect(lab.node(leader)).to_have_class(re.compile(r"\brole-leader\b"))
    others = [n for n in lab.nodes() if n != leader]
    for node in others:
        expect(lab.node(node).locator(".role-label")).not_to_have_text("LEADER")
    expect(page.get_by_test_id("narration")).to_contain_text("won the election")
    save_screenshot(page)
    # A projector: the same page at 1920x1080.
    page.set_viewport_size({"width": 1920, "height": 1080})
    expect(lab.node(leader).locator(".role-label")).to_have_text("LEADER")
    save_screenshot(page, "1920")


def test_crashing_the_leader_elects_a_new_one_in_a_higher_term(
    lab: Any, save_screenshot: Any
) -> None:
    page = lab.page
    lab.fast()
    lab.play()
    old = lab.leader()
    old_term = lab.term(old)
    menu = lab.open_menu(old)
    menu.get_by_test_id("action-crash").click()
    expect(lab.node(old)).to_have_attribute("data-state", "crashed")
    expect(lab.node(old).locator(".role-label")).to_have_text("CRASHED")

    new = lab.new_leader(old, above_term=old_term, what="a new leader in a higher term")
    assert lab.term(new) > old_term
    expect(page.get_by_test_id("leader-id")).to_have_text(new)
    save_screenshot(page)


def test_partition_minority_has_no_leader_majority_commits_then_heal_converges(
    lab: Any, save_screenshot: Any
) -> None:
    page = lab.page
    lab.fast()
    lab.play()
    leader = lab.leader()
    followers = [n for n in lab.nodes() if n != leader]
    minority = followers[:2]

    # Drag one follower to a new side, then the second follower onto that side.
    lab.drag_node_to(minority[0], "zone-new")
    expect(page.get_by_test_id("side-B")).to_contain_text("1 of 5")
    lab.drag_node_to(minority[1], "zone-1")
    expect(page.get_by_test_id("side-B")).to_contain_text("2 of 5 · minority")
    expect(page.get_by_test_id("side-A")).to_contain_text("3 of 5 · majority")

    # A client write through the leader's menu commits on the majority side.
    menu = lab.open_menu(leader)
    menu.get_by_test_id("write-key").fill("x")
    menu.get_by_test_id("write-value").fill("42")
    menu.get_by_test_id("write-submit").click()
    page.get_by_test_id("tab-state").click()
    majority = [n for n in lab.nodes() if n not in minority]
    for node in majority:
        expect(page.get_by_test_id(f"kv-row-{node}")).to_contain_text("42")
    # Long enough for several election timeouts on the minority side: still no leader there.
    start = lab.sim_time()
    lab.wait_until(lambda: lab.sim_time() > start + 1000, what="one more simulated second")
    for node in minority:
        assert lab.node(node).get_attribute("data-role") != "leader"
        expect(page.get_by_test_id(f"kv-row-{node}")).not_to_contain_text("42")
    expect(lab.node(leader)).to_have_attribute("data-role", "leader")
    save_screenshot(page, "partitioned")

    page.get_by_test_id("preset-heal").click()
    expect(page.get_by_test_id("side-A")).to_have_count(0)

    def converged() -> bool:
        rows = lab.log_rows()
        digests = {r["digest"] for r in rows.values()}
        commits = {r["commit"] for r in rows.values()}
        lengths = {r["length"] for r in rows.values()}
        return len(digests) == 1 and commits == lengths and int(next(iter(lengths))) >= 2

    lab.wait_until(converged, timeout=30, what="all logs equal and committed after healing")
    for node in minority:
        expect(page.get_by_test_id(f"kv-row-{node}")).to_contain_text("42")
    save_screenshot(page, "healed")


def test_scrubbing_back_shows_the_earlier_state(lab: Any, save_screenshot: Any) -> None:
    page = lab.page
    page.get_by_test_id("advance-1000").click()
    lab.wait_until(lambda: lab.sim_time() >= 1000, what="1 s of simulated time")
    leader = lab.leader()
    page.get_by_test_id("advance-1000").click()
    lab.wait_until(lambda: lab.sim_time() >= 2000, what="2 s of simulated time")
    assert lab.term(leader) >= 1

    # Click early on the scrubber's track, as a person would.
    box = page.get_by_test_id("scrubber").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] * 0.02, box["y"] + box["height"] / 2)
    lab.wait_until(lambda: lab.sim_time() < 150, what="the time to go back")
    # At that moment nobody had been elected yet: every server is in term 0 or 1, no leader.
    assert max(lab.term(n) for n in lab.nodes()) <= 1
    expect(page.get_by_test_id("leader-id")).to_have_text("none")
    # The history is still there: the horizon did not move back.
    assert float(page.get_by_test_id("scrubber").get_attribute("max") or 0) >= 2000
    save_screenshot(page)


def test_manual_delivery_messages_wait_deliver_one_drop_one(lab: Any, save_screenshot: Any) -> None:
    page = lab.page
    page.get_by_test_id("advance-1000").click()
    lab.wait_until(lambda: lab.sim_time() >= 1000, what="1 s of simulated time")
    lab.leader()
    page.get_by_test_id("manual-toggle").check()
    items = page.get_by_test_id("inflight-item")
    page.get_by_test_id("advance-100").click()
    expect(items.first).to_be_visible()
    waiting = items.first.get_attribute("data-id")

    # Messages wait: 100 ms later (far beyond any latency) the same message is still there.
    before = lab.sim_time()
    page.get_by_test_id("advance-100").click()
    lab.wait_until(lambda: lab.sim_time() >= before + 100, what="100 ms more")
    expect(page.locator(f'[data-testid="inflight-item"][data-id="{waiting}"]')).to_have_count(1)
    save_screenshot(page, "waiting")

    # Clicking a waiting message on the canvas offers the same choice.
    spots = lab.wait_until(
        lambda: page.evaluate("() => window.raftviz.messageSpots()"),
        what="messages drawn on the canvas",
    )
    box = page.get_by_test_id("message-layer").bounding_box()
    spot = spots[0]
    page.mouse.click(box["x"] + spot["x"], box["y"] + spot["y"])
    expect(page.get_by_test_id("message-menu")).to_be_visible()
    expect(page.get_by_test_id("inspector-title")).to_contain_text(f"m{spot['id']}")
    page.get_by_test_id("msg-deliver").click()
    expect(page.locator(f'[data-testid="inflight-item"][data-id="{spot["id"]}"]')).to_have_count(0)

    first = items.nth(0)
    delivered = first.get_attribute("data-id")
    first.get_by_test_id("inflight-deliver").click()
    expect(page.locator(f'[data-testid="inflight-item"][data-id="{delivered}"]')).to_have_count(0)

    victim = items.nth(0)
    dropped = victim.get_attribute("data-id")
    victim.get_by_test_id("inflight-drop").click()
    expect(page.locator(f'[data-testid="inflight-item"][data-id="{dropped}"]')).to_have_count(0)
    expect(page.get_by_test_id("narration")).to_contain_text("you dropped")
    save_screenshot(page)


def test_trace_download_and_upload_round_trip(
    lab: Any, save_screenshot: Any, tmp_path: Any
) -> None:
    page = lab.page
    page.get_by_test_id("advance-1000").click()
    lab.wait_until(lambda: lab.sim_time() >= 1000, what="1 s of simulated time")
    leader = lab.leader()
    menu = lab.open_menu(leader)
    menu.get_by_test_id("write-key").fill("color")
    menu.get_by_test_id("write-value").fill("blue")
    menu.get_by_test_id("write-submit").click()
    page.keyboard.press("Escape")
    victim = next(n for n in lab.nodes() if n != leader)
    lab.open_menu(victim).get_by_test_id("action-crash").click()
    expect(lab.node(victim)).to_have_attribute("data-state", "crashed")
    page.get_by_test_id("advance-100").click()
    lab.wait_until(lambda: lab.sim_time() >= 1100, what="100 ms more")
    saved_time = lab.sim_time()
    saved_logs = lab.log_rows()

    with page.expect_download() as info:
        page.get_by_test_id("trace-download").click()
    path = tmp_path / "run.json"
    info.value.save_as(path)
    trace = json.loads(path.read_text())
    assert trace["format"] == "raftviz-trace"
    assert any(c["command"]["type"] == "crash" for c in trace["commands"])

    # Something else entirely: a new cluster with another seed and size.
    page.get_by_test_id("cfg-size").fill("3")
    page.get_by_test_id("cfg-seed").fill("99")
    page.get_by_test_id("reset-button").click()
    expect(page.locator('[data-testid^="node-n"]')).to_have_count(3)

    page.get_by_test_id("trace-upload").set_input_files(str(path))
    expect(page.locator('[data-testid^="node-n"]')).to_have_count(5)
    lab.wait_until(lambda: abs(lab.sim_time() - saved_time) < 0.01, what="the saved time")
    lab.wait_until(lambda: lab.log_rows() == saved_logs, what="the saved logs")
    expect(lab.node(victim)).to_have_attribute("data-state", "crashed")
    page.get_by_test_id("tab-state").click()
    expect(page.get_by_test_id(f"kv-row-{leader}")).to_contain_text("blue")
    save_screenshot(page)


def test_copy_link_recreates_the_run_in_a_new_session(
    lab: Any, save_screenshot: Any, browser: Any, open_lab: Any
) -> None:
    page = lab.page
    page.get_by_test_id("advance-1000").click()
    lab.wait_until(lambda: lab.sim_time() >= 1000, what="1 s of simulated time")
    leader = lab.leader()
    lab.open_menu(leader).get_by_test_id("action-crash").click()
    expect(lab.node(leader)).to_have_attribute("data-state", "crashed")
    page.get_by_test_id("advance-100").click()
    lab.wait_until(lambda: lab.sim_time() >= 1100, what="100 ms more")
    saved_time = lab.sim_time()
    saved_logs = lab.log_rows()

    page.get_by_test_id("copy-link").click()
    link = page.get_by_test_id("share-link")
    expect(link).to_have_value(re.compile(r"\?trace=[A-Za-z0-9_-]+$"))
    url = link.input_value()

    context = browser.new_context(viewport={"width": 1366, "height": 768})
    try:
        other = context.new_page()
        copy = open_lab(other, url[url.index("/?") :])
        expect(other.get_by_test_id(f"node-{leader}")).to_have_attribute("data-state", "crashed")
        copy.wait_until(lambda: abs(copy.sim_time() - saved_time) < 0.01, what="the same time")
        copy.wait_until(lambda: copy.log_rows() == saved_logs, what="the same logs")
        assert "trace=" not in other.url  # the address bar is cleaned after loading
        save_screenshot(other)
    finally:
        context.close()


def test_keyboard_shortcuts_and_help(lab: Any, save_screenshot: Any) -> None:
    page = lab.page
    page.keyboard.press("?")
    expect(page.get_by_test_id("help-overlay")).to_be_visible()
    save_screenshot(page, "help")
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("help-overlay")).to_be_hidden()

    page.keyboard.press("2")
    expect(page.get_by_test_id("inspector-title")).to_have_text("n2")
    page.keyboard.press("c")
    expect(lab.node("n2")).to_have_attribute("data-state", "crashed")
    page.keyboard.press("c")
    expect(lab.node("n2")).to_have_attribute("data-state", "up")
    page.keyboard.press("3")
    page.keyboard.press("p")
    expect(lab.node("n3")).to_have_attribute("data-state", "paused")
    expect(lab.node("n3").locator(".role-label")).to_contain_text("PAUSED")
    page.keyboard.press("p")
    expect(lab.node("n3")).to_have_attribute("data-state", "up")

    page.keyboard.press("t")  # n3 times out at once and stands for election
    expect(page.get_by_test_id("narration")).to_contain_text("n3 was told to time out")
    page.keyboard.press("w")
    expect(page.get_by_test_id("node-menu-n3")).to_be_visible()
    expect(page.get_by_test_id("write-value")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("node-menu-n3")).to_be_hidden()

    before = lab.sim_time()
    page.keyboard.press(".")
    lab.wait_until(lambda: lab.sim_time() > before, what="one step")
    page.keyboard.press("]")
    expect(page.get_by_test_id("speed-label")).to_have_text("1/10×")
    page.keyboard.press("Space")
    expect(page.get_by_test_id("play-button")).to_have_attribute("data-playing", "true")
    page.keyboard.press("Space")
    expect(page.get_by_test_id("play-button")).to_have_attribute("data-playing", "false")
    save_screenshot(page)


def test_cut_and_heal_one_link_from_its_popover(lab: Any, save_screenshot: Any) -> None:
    page = lab.page
    ax, ay = lab.node_center("n1")
    bx, by = lab.node_center("n2")
    # A point on the n1-n2 link, away from both servers' circles and labels.
    page.mouse.click(ax + (bx - ax) * 0.5, ay + (by - ay) * 0.5)
    menu = page.get_by_test_id("link-menu")
    expect(menu).to_be_visible()
    expect(menu).to_contain_text("link n1 — n2")
    menu.get_by_test_id("link-cut-ab").click()
    link = page.get_by_test_id("link-n1-n2")
    expect(link).to_have_attribute("data-state", "oneway")
    expect(link).to_contain_text("n1→n2 ✕")
    expect(page.get_by_test_id("narration")).to_contain_text("link n1→n2 cut")
    save_screenshot(page, "one-way")

    page.mouse.click(ax + (bx - ax) * 0.5, ay + (by - ay) * 0.5)
    page.get_by_test_id("link-menu").get_by_test_id("link-heal").click()
    expect(link).to_have_attribute("data-state", "ok")
    save_screenshot(page)


def test_teaching_mode_violation_with_partition_and_manual_delivery(
    lab: Any, save_screenshot: Any
) -> None:
    """The showcase: an unsafe teaching mode, a partition, a violation and held messages."""
    page = lab.page
    page.get_by_test_id("advance-1000").click()
    lab.wait_until(lambda: lab.sim_time() >= 1000, what="1 s of simulated time")
    leader = lab.leader()

    page.get_by_test_id("setting-no_majority").check()
    banner = page.get_by_test_id("teaching-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("UNSAFE teaching mode")
    page.get_by_test_id("preset-split").click()  # the leader and one follower: a minority
    expect(page.get_by_test_id("side-A")).to_contain_text("minority")

    menu = lab.open_menu(leader)
    menu.get_by_test_id("write-key").fill("x")
    menu.get_by_test_id("write-value").fill("lost-write")
    menu.get_by_test_id("write-submit").click()
    page.keyboard.press("Escape")
    page.get_by_test_id("advance-1000").click()
    chip = page.get_by_test_id("safety-chip")
    expect(chip).to_have_attribute("data-ok", "false")
    expect(chip).to_contain_text("violated")

    expect(page.get_by_test_id("mark-violation").first).to_be_attached()  # on the timeline
    page.get_by_test_id("tab-safety").click()
    bad = page.locator('[data-testid^="invariant-"][data-ok="false"]').first
    expect(bad).to_contain_text("VIOLATED")
    expect(bad.locator(".inv-icon")).to_have_text("✗")
    page.get_by_test_id("manual-toggle").check()
    page.get_by_test_id("advance-100").click()
    expect(page.get_by_test_id("inflight-item").first).to_be_visible()
    save_screenshot(page, "1366")
    page.set_viewport_size({"width": 1920, "height": 1080})
    expect(page.get_by_test_id("cluster")).to_be_visible()
    page.get_by_test_id("projector-toggle").click()
    expect(page.get_by_test_id("projector-toggle")).to_have_attribute("aria-pressed", "true")
    save_screenshot(page, "1920-projector")

    # "Jump to the moment" goes back to the first violation.
    now = lab.sim_time()
    bad.locator("button").click()
    lab.wait_until(lambda: lab.sim_time() < now, what="the jump back")
    page.get_by_test_id("projector-toggle").click()
    save_screenshot(page, "1920-moment")


def test_seed_link_resets_to_that_seed_size_and_time(
    page: Any, open_lab: Any, save_screenshot: Any
) -> None:
    lab = open_lab(page, "/?seed=7&size=3&t=700")
    expect(page.locator('[data-testid^="node-n"]')).to_have_count(3)
    expect(page.get_by_test_id("cfg-seed")).to_have_value("7")
    lab.wait_until(lambda: abs(lab.sim_time() - 700) < 0.01, what="t=700")
    assert "seed=" not in page.url
    save_screenshot(page)
