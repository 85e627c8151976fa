"""Log compaction in the browser: snapshot a leader, then catch a crashed follower up with
InstallSnapshot over a slow link, asserting on what the page draws (Raft paper, section 7)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect


def set_number(page: Any, name: str, value: int) -> None:
    settings = page.locator("#sec-settings")
    if settings.get_attribute("open") is None:
        settings.locator("summary").click()  # the Settings section starts folded
    field = page.get_by_test_id(f"setting-{name}")
    field.fill(str(value))
    field.press("Tab")  # commits the change
    expect(field).to_have_value(str(value))


def snapshot_cell(page: Any, node: str) -> Any:
    return page.get_by_test_id(f"snapshot-cell-{node}")


def test_compact_and_catch_up_a_crashed_follower_with_install_snapshot(
    lab: Any, save_screenshot: Any
) -> None:
    page = lab.page
    lab.fast()
    lab.play()
    leader = lab.leader()
    follower = next(n for n in lab.nodes() if n != leader)
    set_number(page, "snapshot_threshold", 0)  # off: this test compacts by hand
    set_number(page, "snapshot_chunk_size", 64)
    lab.open_menu(follower).get_by_test_id("action-crash").click()
    expect(lab.node(follower)).to_have_attribute("data-state", "crashed")

    # Client load grows the log well past what the crashed follower holds.
    load = page.get_by_test_id("workload-rate")
    load.fill("25")
    lab.wait_until(lambda: int(lab.log_rows()[leader]["commit"]) >= 30, what="30 committed")
    load.fill("0")
    expect(page.locator("#workload-out")).to_have_text("off")

    menu = lab.open_menu(leader)
    button = menu.get_by_test_id("action-snapshot")
    expect(button).to_be_enabled()
    button.click()
    cell = snapshot_cell(page, leader)
    expect(cell).to_be_visible()
    through = int(cell.get_attribute("data-last-included-index") or 0)
    assert through >= 30
    expect(cell).to_contain_text(f"snapshot ≤ {through}")
    # The crashed follower holds none of it: its row shows no snapshot.
    expect(snapshot_cell(page, follower)).to_be_hidden()
    save_screenshot(page, "leader-snapshot")

    # A slower network (40-80 ms, still inside the election timeout), so each chunk is seen
    # crossing the link.
    page.get_by_test_id("net-latency").fill("80")
    lab.open_menu(follower).get_by_test_id("action-restart").click()

    def chunk_in_flight() -> Any:
        spots = page.evaluate("() => window.raftviz.messageSpots()")
        return next((s for s in spots if s["chunk"]), None)

    spot = lab.wait_until(chunk_in_flight, what="an InstallSnapshot chunk drawn in flight")
    assert spot["chunk"].startswith("chunk ")
    k, total = map(int, spot["chunk"].removeprefix("chunk ").split("/"))
    assert 1 <= k <= total and total >= 2  # 64-byte chunks: the snapshot takes several
    # The follower's row shows the snapshot file growing, chunk by chunk (Fig. 13, 2-4).
    receiving = lab.wait_until(
        lambda: snapshot_cell(page, follower).get_attribute("data-receiving"),
        what="the follower's row to show a snapshot being received",
    )
    got, size = map(int, receiving.split("/"))
    assert 0 < got < size
    expect(snapshot_cell(page, follower)).to_contain_text("receiving snapshot")
    save_screenshot(page, "chunk-in-flight")

    expect(snapshot_cell(page, follower)).to_have_attribute(
        "data-last-included-index", str(through), timeout=30_000
    )
    expect(page.get_by_test_id("narration")).to_contain_text("installed")
    page.get_by_test_id("net-latency").fill("15")

    def caught_up() -> bool:
        rows = lab.log_rows()
        return rows[follower]["length"] == rows[leader]["length"] and (
            rows[follower]["commit"] == rows[leader]["commit"]
        )

    lab.wait_until(caught_up, timeout=30, what="the follower's log to match the leader's")
    save_screenshot(page, "caught-up")
    page.set_viewport_size({"width": 1920, "height": 1080})
    expect(snapshot_cell(page, follower)).to_be_visible()
    save_screenshot(page, "caught-up-1920")
