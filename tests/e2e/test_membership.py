"""Membership changes and leadership transfer in a real browser (thesis 4.1-4.2, 3.10).

A student adds a server (drawn as a learner, then a voter), hands leadership to a chosen
follower from its menu, and removes the leader; the configuration banner says which majorities
count. Each step leaves a screenshot in out/screens/.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect


def test_add_a_server_transfer_leadership_and_remove_the_leader(
    lab: Any, save_screenshot: Any
) -> None:
    page = lab.page
    banner = page.get_by_test_id("config-banner")
    lab.fast()
    lab.play()
    leader = lab.leader()
    expect(banner).to_contain_text("{n1,n2,n3,n4,n5}: 3 of 5")
    started = lab.sim_time()
    lab.wait_until(lambda: lab.sim_time() > started + 300, what="the leader to commit its no-op")

    # Add a server while paused, to see it as a learner before it catches up.
    lab.pause()
    page.get_by_test_id("add-server").click()
    new = lab.node("n6")
    expect(new.locator(".role-label")).to_have_text("learner")
    expect(new).to_have_class(lambda_class("member-learner"))
    expect(banner).to_contain_text("learner n6 catching up")
    save_screenshot(page, "learner")
    lab.play()
    expect(new.locator(".role-label")).to_have_text("follower")
    expect(banner).to_contain_text("{n1,n2,n3,n4,n5,n6}: 4 of 6")

    # Transfer leadership to a follower from its menu.
    target = next(n for n in ("n2", "n3", "n4") if n != leader)
    lab.open_menu(target).get_by_test_id("action-transfer").click()
    lab.wait_until(lambda: lab.leader() == target, what=f"{target} to lead after the transfer")
    expect(page.get_by_test_id("narration")).to_contain_text("sent it TimeoutNow")
    save_screenshot(page, "transferred")

    # Remove the leader: it steps down once its removal commits; the others elect a leader.
    lab.open_menu(target).get_by_test_id("action-remove").click()
    lab.wait_until(lambda: lab.leader() != target, what="a new leader after removing the old one")
    expect(lab.node(target).locator(".role-label")).to_have_text("REMOVED")
    expect(banner).to_contain_text(": 3 of 5")
    expect(banner).not_to_contain_text(target)
    save_screenshot(page, "removed")
    page.set_viewport_size({"width": 1920, "height": 1080})
    expect(lab.node(target).locator(".role-label")).to_have_text("REMOVED")
    save_screenshot(page, "removed-1920")


def lambda_class(name: str) -> Any:
    import re

    return re.compile(rf"\b{name}\b")
