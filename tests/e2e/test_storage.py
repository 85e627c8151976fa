"""Browser test: a slow disk on the leader, set from its menu, and what it does.

The leader's writes wait 400 ms for their fsync; its messages (heartbeats too) wait with them,
so the page shows the pending write on the node and in the inspector, and the followers, who
stop hearing heartbeats, elect another leader. Screenshots in out/screens/.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect


def test_a_slow_disk_set_from_the_menu_shows_its_pending_write_and_costs_the_leadership(
    lab: Any, save_screenshot: Any
) -> None:
    page = lab.page
    page.get_by_test_id("advance-1000").click()
    lab.wait_until(lambda: lab.sim_time() >= 1000, what="1 s of simulated time")
    leader = lab.leader()
    term = lab.term(leader)

    menu = lab.open_menu(leader)
    menu.get_by_test_id("action-slow-disk").click()
    label = page.get_by_test_id(f"disk-label-{leader}")
    expect(label).to_have_text("SLOW DISK")

    # A write reaches the leader: it appends, then waits for its slow fsync with the
    # AppendEntries (and every later heartbeat) held behind it.
    menu = lab.open_menu(leader)
    menu.get_by_test_id("write-key").fill("x")
    menu.get_by_test_id("write-value").fill("1")
    menu.get_by_test_id("write-submit").click()
    page.keyboard.press("Escape")
    page.get_by_test_id("advance-100").click()
    badge = page.get_by_test_id(f"disk-badge-{leader}")
    expect(badge).to_be_visible()
    expect(label).to_contain_text("held")
    pending = page.get_by_test_id("insp-pending-write")
    expect(pending).to_contain_text(f"term {term}")
    expect(pending).to_contain_text("held")
    expect(page.get_by_test_id("insp-disk")).to_contain_text("SLOW DISK")
    save_screenshot(page, "pending-write-1366")
    page.set_viewport_size({"width": 1920, "height": 1080})
    expect(page.get_by_test_id("cluster")).to_be_visible()
    save_screenshot(page, "pending-write-1920")
    page.set_viewport_size({"width": 1366, "height": 768})

    # Its followers hear nothing for longer than an election timeout and elect someone else.
    other = lab.new_leader(
        leader,
        above_term=term,
        what="a leader other than the slow-disk one",
        each_poll=page.get_by_test_id("advance-100").click,
    )
    assert lab.term(other) > term
    expect(page.get_by_test_id("leader-id")).to_have_text(other)
    save_screenshot(page, "new-leader")

    # The node menu puts the normal disk back.
    menu = lab.open_menu(leader)
    menu.get_by_test_id("action-normal-disk").click()
    expect(label).to_have_text("")
