"""The scripting commands on the lab page (docs/ui.md, "Scripting controls").

Each control is driven the way a person drives it, and each test asserts what the command did to
the run: timers, terms, votes, logs, deliver times, as the page's snapshot shows them.
"""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import Lab
from tests.e2e.test_accessibility import a11y_page, audit  # noqa: F401 - a11y_page is a fixture

PROJECTOR = {"width": 1920, "height": 1080}


def snapshot(lab: Lab) -> dict[str, Any]:
    return dict(lab.page.evaluate("() => window.raftviz.store.snapshot"))


def node_state(lab: Lab, node_id: str) -> dict[str, Any]:
    return next(n for n in snapshot(lab)["nodes"] if n["id"] == node_id)


def elected(lab: Lab) -> str:
    """Start the run at real-time speed, wait for a leader, pause."""
    lab.fast()
    lab.play()
    leader = lab.leader()
    lab.pause()
    return leader


def open_link_menu(lab: Lab, a: str, b: str) -> Any:
    """The a-b link's menu, through a's server menu ("Link to", the keyboard path: a click on
    the link itself may land on a message paused on it)."""
    menu = lab.open_menu(a)
    menu.get_by_test_id("link-peer").select_option(b)
    menu.get_by_test_id("link-open").click()
    menu = lab.page.get_by_test_id("link-menu")
    expect(menu).to_be_visible()
    return menu


def advance(lab: Lab, ms: int) -> None:
    """Run the paused cluster ``ms`` (10, 100 or 1000) and wait for the frame that shows it."""
    start = lab.sim_time()
    lab.page.get_by_test_id(f"advance-{ms}").click()
    lab.wait_until(lambda: lab.sim_time() >= start + ms - 1e-6, what=f"{ms} ms of the run")


def link_id(a: str, b: str) -> str:
    lo, hi = sorted((a, b), key=lambda x: int(x[1:]))
    return f"link-{lo}-{hi}"


def test_heartbeat_now_restarts_a_followers_election_timer(lab: Lab, save_screenshot: Any) -> None:
    page = lab.page
    leader = elected(lab)
    page.get_by_test_id("manual-toggle").check()
    follower = next(n for n in lab.nodes() if n != leader)
    # 40 ms with every message held: the follower's timer runs (elections take >= 150 ms).
    for _ in range(4):
        advance(lab, 10)
    before = node_state(lab, follower)["election"]["elapsed"]
    assert before >= 40 and node_state(lab, follower)["role"] == "follower"
    in_flight = {m["id"] for m in snapshot(lab)["messages"]}

    menu = lab.open_menu(leader)
    menu.get_by_role("button", name="Send heartbeats now").click()

    def new_heartbeat() -> int | None:
        for m in snapshot(lab)["messages"]:
            if (m["kind"] == "AppendEntries" and m["from"] == leader and m["to"] == follower
                    and m["id"] not in in_flight):
                return int(m["id"])
        return None

    mid = lab.wait_until(new_heartbeat, what=f"a new AppendEntries {leader}→{follower}")
    # Every follower got one, not only this one.
    others = [n for n in lab.nodes() if n != leader]
    sent_to = {m["to"] for m in snapshot(lab)["messages"]
               if m["kind"] == "AppendEntries" and m["from"] == leader and m["id"] not in in_flight}
    assert sent_to == set(others)
    save_screenshot(page, "heartbeats-waiting")

    row = page.locator(f'[data-testid="inflight-item"][data-id="{mid}"]')
    row.get_by_test_id("inflight-deliver").click()
    lab.wait_until(lambda: node_state(lab, follower)["election"]["elapsed"] < before - 30,
                   what=f"{follower}'s election timer to restart")
    assert node_state(lab, follower)["role"] == "follower"


def test_drop_append_entries_on_a_link_makes_that_follower_time_out(
    lab: Lab, save_screenshot: Any
) -> None:
    page = lab.page
    leader = elected(lab)
    follower = next(n for n in lab.nodes() if n != leader)
    term = lab.term(leader)

    menu = open_link_menu(lab, leader, follower)
    menu.get_by_role("combobox", name="kind of message to drop").select_option("AppendEntries")
    menu.get_by_role("combobox", name="direction").select_option(label=f"{leader}→{follower}")
    menu.get_by_role("button", name="Drop", exact=True).click()
    expect(menu).to_be_hidden()

    link = page.get_by_test_id(link_id(leader, follower))
    expect(link).to_have_attribute("data-state", "kind")
    expect(link).to_contain_text(f"⊘ AppendEntries {leader}→{follower}")
    rule = page.locator(
        f'[data-testid="drop-rule"][data-kind="AppendEntries"][data-src="{leader}"][data-dst="{follower}"]'
    )
    expect(rule).to_contain_text(f"AppendEntries {leader} → {follower}")
    expect(page.get_by_test_id("narration")).to_contain_text(
        f"messages {leader} → {follower}: dropping AppendEntries"
    )
    save_screenshot(page, "rule")

    # The follower hears no heartbeat, its timer runs out, and it campaigns in a higher term;
    # its own messages (replies, votes) still reach the leader.
    lab.play()
    lab.wait_until(lambda: lab.term(follower) > term, what=f"{follower} to time out")
    lab.pause()
    assert lab.term(follower) == max(lab.term(n) for n in lab.nodes())

    rule.get_by_role("button", name=re.compile("^Remove")).click()
    expect(rule).to_have_count(0)
    expect(page.get_by_test_id("drop-rules-head")).to_be_hidden()
    expect(link).not_to_have_attribute("data-state", "kind")


def test_cluster_wide_drop_of_request_vote_blocks_every_election(
    lab: Lab, save_screenshot: Any
) -> None:
    page = lab.page
    leader = elected(lab)
    term = lab.term(leader)
    panel = page.get_by_test_id("dropkind-panel")
    expect(panel.get_by_label("kind")).to_be_hidden()
    panel.get_by_text("Drop one kind of message").click()
    panel.get_by_label("kind").select_option("RequestVote")
    expect(panel.get_by_label("from")).to_have_value("*")
    expect(panel.get_by_label("to")).to_have_value("*")
    panel.get_by_role("button", name="Drop this kind").click()
    rule = panel.get_by_test_id("drop-rule")
    expect(rule).to_have_text(re.compile(r"RequestVote any server → any server\s*Remove"))

    lab.open_menu(leader).get_by_test_id("action-crash").click()
    expect(lab.node(leader)).to_have_attribute("data-state", "crashed")
    page.get_by_test_id("advance-1000").click()
    lab.wait_until(lambda: lab.sim_time() > 1000, what="a second of the run")
    # Followers time out and campaign, but no vote request arrives: no one wins.
    assert max(lab.term(n) for n in lab.nodes()) > term
    expect(page.get_by_test_id("leader-id")).to_have_text("none")
    save_screenshot(page)

    rule.get_by_role("button", name="Remove: RequestVote any server → any server").click()
    expect(rule).to_have_count(0)
    lab.play()
    lab.new_leader(leader, above_term=term)


def test_jitter_stretches_deliver_times_and_turns_off(lab: Lab) -> None:
    page = lab.page
    leader = elected(lab)
    latency_max = snapshot(lab)["network"]["defaults"]["latency_max"]

    def longest_trip() -> float:
        return max((m["deliver"] - m["sent"] for m in snapshot(lab)["messages"]), default=0.0)

    assert longest_trip() <= latency_max + 1e-6
    slider = page.get_by_test_id("net-jitter")
    slider.fill("100")
    expect(page.get_by_test_id("net-jitter-out")).to_have_text("+0–100 ms")
    narration = page.get_by_test_id("narration")
    expect(narration).to_contain_text("every message now waits up to 100 ms extra")

    def stretched() -> bool:
        advance(lab, 10)
        return longest_trip() > latency_max

    lab.wait_until(stretched, what="a message slower than the link's latency")

    slider.fill("0")
    expect(page.get_by_test_id("net-jitter-out")).to_have_text("off")
    expect(narration).to_contain_text("every message now waits up to 0 ms extra")
    off_at = lab.sim_time()

    def sent_since() -> list[dict[str, Any]]:
        advance(lab, 10)
        return [m for m in snapshot(lab)["messages"]
                if m["sent"] > off_at and m["from"] == leader]

    fresh = lab.wait_until(sent_since, what="messages sent after jitter went off")
    assert all(m["deliver"] - m["sent"] <= latency_max + 1e-6 for m in fresh), fresh


def test_inject_a_higher_term_request_vote_makes_the_target_step_up_and_vote(
    lab: Lab, save_screenshot: Any
) -> None:
    page = lab.page
    leader = elected(lab)
    target, sender = [n for n in lab.nodes() if n != leader][:2]
    term = lab.term(target)

    # Keyboard only: focus the server, open its menu, tab to the action.
    lab.node(target).focus()
    page.keyboard.press("Enter")
    menu = page.get_by_test_id(f"node-menu-{target}")
    expect(menu).to_be_visible()
    action = menu.get_by_role("button", name="Send this node a hand-made message…")
    action.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name=f"Send {target} a hand-made message")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("kind")).to_be_focused()
    expect(dialog.get_by_label("kind")).to_have_value("RequestVote")
    expect(dialog.get_by_test_id("inject-term")).to_have_value(str(term + 1))
    expect(dialog.get_by_test_id("inject-term-hint")).to_contain_text(f"{target} is at term {term}")
    expect(dialog.get_by_test_id("inject-last_log_index")).to_have_value(
        str(node_state(lab, target)["log_length"])
    )
    dialog.get_by_label("from").select_option(sender)
    save_screenshot(page, "inject")
    dialog.get_by_role("button", name="Send").click()
    expect(dialog).to_be_hidden()
    expect(lab.node(target)).to_be_focused()
    expect(page.get_by_test_id("narration")).to_contain_text(
        f"a script injected RequestVote {sender} → {target}"
    )

    # Within 100 ms the message arrives and is answered; no election timeout (>= 150 ms) ends.
    advance(lab, 100)
    assert lab.term(target) == term + 1
    assert node_state(lab, target)["voted_for"] == sender
    expect(page.get_by_test_id("narration")).to_contain_text(
        f"{target} granted its vote to {sender} for term {term + 1}"
    )

    # The teacher's question: a RequestVote from a stale term is refused, and changes nothing.
    lab.open_menu(target).get_by_test_id("action-inject").click()
    dialog = page.get_by_test_id("script-dialog")
    dialog.get_by_label("from").select_option(leader)
    dialog.get_by_test_id("inject-term").fill(str(term))
    dialog.get_by_role("button", name="Send").click()
    expect(dialog).to_be_hidden()

    # 20 ms: the longest link latency, well inside the target's new election timeout.
    advance(lab, 10)
    advance(lab, 10)
    expect(page.get_by_test_id("narration")).to_contain_text(
        f"{target} refused its vote to {leader} for term {term}: "
        f"its term {term} is older than {term + 1}"
    )
    assert lab.term(target) == term + 1
    assert node_state(lab, target)["voted_for"] == sender

    # A bad field comes back from the server and is shown in the dialog, which stays open.
    lab.open_menu(target).get_by_test_id("action-inject").click()
    dialog = page.get_by_test_id("script-dialog")
    dialog.get_by_label("kind").select_option("AppendEntries")
    dialog.get_by_test_id("inject-entries").fill('[{"term": 0}]')
    dialog.get_by_role("button", name="Send").click()
    expect(dialog.get_by_test_id("script-error")).to_contain_text(
        "inject.message.entries[1].term must be a whole number >= 1"
    )
    dialog.get_by_test_id("inject-entries").fill("[oops")
    dialog.get_by_role("button", name="Send").click()
    expect(dialog.get_by_test_id("script-error")).to_contain_text("entries is not valid JSON")
    save_screenshot(page, "inject-error")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()


def test_raw_request_is_appended_by_the_leader_and_refused_by_a_follower(
    lab: Lab, save_screenshot: Any
) -> None:
    page = lab.page
    leader = elected(lab)
    length = node_state(lab, leader)["log_length"]

    lab.open_menu(leader).get_by_role("button", name="Hand this node a raw request…").click()
    dialog = page.get_by_role("dialog", name=f"Hand {leader} a raw request")
    expect(dialog).to_contain_text("no retries")
    expect(dialog).to_contain_text("linearizability")
    expect(dialog.get_by_label("key")).to_be_focused()
    dialog.get_by_label("key").fill("k")
    dialog.get_by_label("value").fill("42")
    save_screenshot(page, "propose")
    dialog.get_by_role("button", name="Hand it over").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_test_id("narration")).to_contain_text("a script proposed")
    lab.wait_until(lambda: node_state(lab, leader)["log_length"] == length + 1,
                   what="the leader to append the request")
    entry = node_state(lab, leader)["log"][-1]
    assert "k" in str(entry[2]) and "42" in str(entry[2])
    assert not any(o["client"] == "script" for o in snapshot(lab)["ops"])

    follower = next(n for n in lab.nodes() if n != leader)
    flen = node_state(lab, follower)["log_length"]
    lab.open_menu(follower).get_by_test_id("action-propose").click()
    dialog = page.get_by_test_id("script-dialog")
    dialog.get_by_label("operation").select_option("delete")
    expect(dialog.get_by_label("value")).to_be_hidden()
    dialog.get_by_role("button", name="Hand it over").click()
    expect(dialog).to_be_hidden()

    def refusal() -> bool:
        return any(m["kind"] == "ClientReply" and m["from"] == follower and m["to"] == "script"
                   and "not the leader" in m["summary"] for m in snapshot(lab)["messages"])

    lab.wait_until(refusal, what=f"{follower}'s refusal to the script")
    assert node_state(lab, follower)["log_length"] == flen


def test_scripting_controls_have_no_serious_violations_and_fit_the_screen(
    a11y_page: Any, server_url: str, save_screenshot: Any  # noqa: F811
) -> None:
    for viewport, name in ((None, "laptop"), (PROJECTOR, "projector")):
        page = a11y_page(**({"viewport": viewport} if viewport else {}))
        errors: list[str] = []
        page.on("pageerror", lambda exc, seen=errors: seen.append(str(exc)))
        lab = Lab(page, server_url + "/").open()
        if viewport:
            page.get_by_test_id("projector-toggle").click()
        leader = elected(lab)
        follower = next(n for n in lab.nodes() if n != leader)
        menu = lab.open_menu(leader)
        for button in menu.get_by_role("button").all():
            box = button.bounding_box()
            assert box is not None, button.inner_text()
            assert box["height"] >= 24 and box["width"] >= 24, button.inner_text()
        audit(page, f"{name}: leader menu with scripting actions")
        save_screenshot(page, f"{name}-menu", full_page=False)
        page.keyboard.press("Escape")

        menu = open_link_menu(lab, leader, follower)
        menu.get_by_role("button", name="Drop", exact=True).click()
        page.get_by_test_id("net-jitter").fill("50")
        expect(page.get_by_test_id("drop-rule")).to_have_count(1)
        menu = open_link_menu(lab, leader, follower)
        expect(menu.get_by_test_id("link-drop-rules")).to_contain_text("AppendEntries")
        audit(page, f"{name}: link menu with a drop rule")
        save_screenshot(page, f"{name}-link", full_page=False)
        page.keyboard.press("Escape")
        audit(page, f"{name}: network panel with a rule and jitter")

        lab.open_menu(follower).get_by_test_id("action-inject").click()
        expect(page.get_by_test_id("script-dialog")).to_be_visible()
        audit(page, f"{name}: inject dialog")
        save_screenshot(page, f"{name}-inject", full_page=False)
        page.get_by_test_id("script-dialog").get_by_label("kind").select_option("AppendEntries")
        audit(page, f"{name}: inject dialog, AppendEntries")
        page.keyboard.press("Escape")

        lab.open_menu(leader).get_by_test_id("action-propose").click()
        audit(page, f"{name}: propose dialog")
        save_screenshot(page, f"{name}-propose", full_page=False)
        page.keyboard.press("Escape")
        assert not errors, errors


def test_rule_list_follows_the_run_through_a_jump_back_and_other_senders(lab: Lab) -> None:
    page = lab.page
    elected(lab)
    rules = page.get_by_test_id("drop-rule")
    before = lab.sim_time()
    advance(lab, 100)
    # A rule set outside the page's own controls (a lesson, the CLI, a script) is listed too.
    ack = page.evaluate(
        "() => window.raftviz.api.command("
        "{type: 'drop_kind', kinds: ['TimeoutNow', 'AppendEntries'], src: 'n1', dst: '*'})"
    )
    assert ack["ok"], ack
    expect(rules).to_have_count(2)
    expect(rules.first).to_contain_text("any server")
    advance(lab, 100)
    end = lab.sim_time()

    page.get_by_test_id("scrubber").fill(str(int(before)))
    lab.wait_until(lambda: lab.sim_time() <= before + 1, what="the jump back")
    expect(rules).to_have_count(0)
    page.get_by_test_id("scrubber").fill(str(int(end)))
    lab.wait_until(lambda: lab.sim_time() >= int(end), what="the jump forward")
    expect(rules).to_have_count(2)
