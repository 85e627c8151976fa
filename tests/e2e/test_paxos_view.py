"""The Paxos view of the lab page in a real browser: the protocol switch, Paxos words on the
servers, chosen slots in the log, a new leader with a higher ballot, and Basic Paxos choosing
exactly one value when two servers propose.

Like test_lab.py: fresh page per test, 1× real time, only the page's own controls, polling on
page state (the CSP forbids wait_for_function), a screenshot at each step in out/screens/.
"""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

LEADER_WORD = "LEADER (distinguished proposer)"


def switch_protocol(lab: Any, label: str, mode: str) -> None:
    page = lab.page
    page.locator("label.proto-choice", has_text=label).click()
    expect(page.locator("body")).to_have_attribute("data-protocol", mode)
    expect(page.get_by_test_id(f"protocol-{mode}")).to_be_checked()
    expect(page.get_by_test_id("node-n1")).to_be_visible()


def write(lab: Any, node: str, key: str, value: str) -> None:
    menu = lab.open_menu(node)
    menu.get_by_test_id("write-key").fill(key)
    menu.get_by_test_id("write-value").fill(value)
    menu.get_by_test_id("write-submit").click()
    lab.page.keyboard.press("Escape")


def chosen_commands(lab: Any) -> list[str]:
    """The command of every cell drawn as chosen, over all rows of the slot view."""
    cells = lab.page.locator('[data-testid="logs"] .cell-chosen[data-index="1"]')
    return [str(t) for t in cells.locator(".cell-cmd").all_text_contents()]


def test_multi_paxos_leader_chosen_write_and_new_leader_with_higher_ballot(
    lab: Any, save_screenshot: Any
) -> None:
    page = lab.page
    switch_protocol(lab, "Multi-Paxos", "multi")
    expect(page.get_by_test_id("paxos-log-legend")).to_be_visible()
    expect(page.get_by_test_id("logs")).to_contain_text("Slots")
    expect(page.get_by_test_id("raft-only-note")).to_be_visible()
    lab.fast()
    lab.play()
    leader = lab.leader()
    expect(lab.node(leader).locator(".role-label")).to_have_text(LEADER_WORD)
    expect(lab.node(leader).locator(".term-label")).to_contain_text(
        re.compile(r"promised \d+\.n\d")
    )
    for node in lab.nodes():
        if node != leader:
            expect(lab.node(node).locator(".role-label")).not_to_have_text(LEADER_WORD)
    save_screenshot(page, "leader")

    # A client write becomes chosen on every server: each row shows slot 1 as chosen.
    write(lab, leader, "x", "42")
    lab.wait_until(
        lambda: chosen_commands(lab).count("SET x=42") == 5,
        what="slot 1 chosen on all five servers",
    )
    cell = page.locator('[data-testid="logs"] .cell-chosen[data-index="1"]').first
    # The cell shows the full ballot (round.node), not only its round.
    expect(cell.locator(".cell-term")).to_contain_text(re.compile(r"✓ \d+\.n\d"))
    lab.node(leader).locator(".node-id").click(force=True)
    page.keyboard.press("Escape")
    inspector = page.get_by_test_id("inspector")
    expect(inspector.get_by_test_id("insp-chosen")).to_contain_text("SET x=42")
    expect(inspector.get_by_test_id("insp-promised")).to_contain_text(re.compile(r"\d+\.n\d"))
    save_screenshot(page, "chosen")

    # Crash the leader: another server wins phase 1 with a higher ballot.
    old_round = lab.term(leader)
    lab.open_menu(leader).get_by_test_id("action-crash").click()
    expect(lab.node(leader)).to_have_attribute("data-state", "crashed")
    expect(lab.node(leader).locator(".role-label")).to_have_text("CRASHED")

    new = lab.new_leader(leader, above_term=old_round, what="a new leader with a higher ballot")
    expect(lab.node(new).locator(".role-label")).to_have_text(LEADER_WORD)
    expect(lab.node(new).locator(".term-label")).to_contain_text(f".{new}")
    save_screenshot(page, "new-leader")
    page.set_viewport_size({"width": 1920, "height": 1080})
    expect(lab.node(new).locator(".role-label")).to_have_text(LEADER_WORD)
    save_screenshot(page, "1920")


def test_basic_paxos_two_proposers_choose_exactly_one_value(lab: Any, save_screenshot: Any) -> None:
    page = lab.page
    switch_protocol(lab, "Basic Paxos", "basic")
    expect(page.get_by_test_id("paxos-start-hint")).to_contain_text("acceptor")
    save_screenshot(page, "switched")
    for node in lab.nodes():
        expect(lab.node(node).locator(".role-label")).to_have_text("acceptor")
    # Raft-only read modes are disabled in the server menu.
    menu = lab.open_menu("n1")
    expect(menu.locator('[data-testid="read-mode"] option[value="lease"]')).to_be_disabled()
    page.keyboard.press("Escape")

    write(lab, "n1", "x", "a")
    write(lab, "n2", "x", "b")
    page.get_by_test_id("step-button").click()
    expect(page.locator('[data-paxos-role="proposer"]').first).to_be_visible()
    save_screenshot(page, "proposing")
    lab.fast()
    lab.play()
    lab.wait_until(lambda: len(chosen_commands(lab)) >= 3, what="a value chosen in slot 1")
    values = set(chosen_commands(lab))
    assert len(values) == 1, values
    assert values <= {"SET x=a", "SET x=b"}
    expect(page.get_by_test_id("invariant-chosen-once")).to_have_attribute("data-ok", "true")
    expect(page.get_by_test_id("invariant-learners-agree")).to_have_attribute("data-ok", "true")
    save_screenshot(page, "one-value")

    # A Paxos teaching mode raises the page's UNSAFE banner with its name.
    page.get_by_test_id("setting-forgetful_acceptors").check()
    banner = page.get_by_test_id("teaching-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("forgetful_acceptors")
    save_screenshot(page, "teaching")

    # Back to Raft: Raft words and the Raft legend return.
    switch_protocol(lab, "Raft", "raft")
    expect(page.get_by_test_id("raft-only-note")).to_be_hidden()
    expect(page.locator("#legend")).to_contain_text("RequestVote")
    expect(lab.node("n1").locator(".role-label")).to_have_text("follower")
    expect(lab.node("n1").locator(".term-label")).to_contain_text("term")
