"""The space-time diagram and the operation history in a real browser, on real runs.

Each run is built here with the simulator (same seed, same commands: the server replays it
exactly), uploaded to the page as a trace, and then the views are opened through their tabs.
The tests compare what the page drew (arrows, crosses, duplicates, marks, bars) with the run
record the server reports and with the same run replayed in this process, then click what a
person clicks: a mark, an arrow, the "jump" button of a violation.
"""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from raftviz.sim.checks.linearizability import explain
from raftviz.sim.engine.cluster import ClusterConfig
from raftviz.sim.engine.network import LinkParams
from raftviz.sim.history import History, leader_exists
from raftviz.sim.record import MarkKind, Outcome

DROPS = {Outcome.LOST, Outcome.PARTITIONED, Outcome.DOWN, Outcome.DROPPED}


def crash_with_partition() -> History:
    """A leader crash, then a partition and a heal, on lossy links that duplicate messages."""
    h = History(ClusterConfig(size=5, seed=3, network=LinkParams(10, 20, 0.05, 0.05)))
    h.run_until(600)
    h.apply_json({"type": "client", "op": "set", "key": "x", "value": "1"})
    h.run_for(300)
    leader = h.cluster.leader
    assert leader is not None
    h.apply_json({"type": "crash", "node": leader})
    h.run_for(700)
    h.apply_json({"type": "partition", "groups": [["n1", "n2"], ["n3", "n4", "n5"]]})
    h.run_for(500)
    h.apply_json({"type": "heal"})
    h.apply_json({"type": "client", "op": "set", "key": "x", "value": "2"})
    h.run_for(400)
    return h


def stale_lease_read() -> History:
    """c1 writes x=1 through leader L; L is cut off and paused with its clock frozen (a
    suspended VM); the others elect a new leader and c2 writes x=2; L resumes believing its
    lease is fresh and answers c3's lease read with the stale x=1 (Raft thesis 6.4)."""
    h = History(ClusterConfig(size=5, seed=1))
    h.apply_json({"type": "settings", "changes": {"check_quorum": True}})
    assert h.run_until_condition(leader_exists, 2000)
    c = h.cluster
    old = c.leader
    assert old is not None
    rest = [n for n in c.node_ids if n != old]
    h.apply_json({"type": "client", "op": "set", "key": "x", "value": "1", "node": old,
                  "client": "c1"})
    h.run_for(300)
    node = c.hosts[old].node
    assert node is not None
    h.run_until(node.quorum_deadline - 5)  # type: ignore[union-attr]
    h.apply_json({"type": "partition", "groups": [[old], rest]})
    h.apply_json({"type": "pause", "node": old, "freeze_clock": True})
    assert h.run_until_condition(
        lambda cl: any(cl.hosts[n].node is not None and cl.hosts[n].node.role == "leader"
                       for n in rest), 2000)
    new = next(n for n in rest if c.hosts[n].node and c.hosts[n].node.role == "leader")
    h.apply_json({"type": "client", "op": "set", "key": "x", "value": "2", "node": new,
                  "client": "c2"})
    assert h.run_until_condition(lambda cl: not cl.clients["c2"].busy, 2000)
    h.apply_json({"type": "resume", "node": old})
    h.apply_json({"type": "client", "op": "get", "key": "x", "node": old, "client": "c3",
                  "read_mode": "lease"})
    assert h.run_until_condition(lambda cl: not cl.clients["c3"].busy, 4000)
    h.run_for(50)
    assert c.linearizability.violations, "the lease read should be stale"
    return h


def load(lab: Any, h: History) -> None:
    """Upload the run as a trace and wait until the page stands at its end."""
    ack = lab.page.evaluate("t => window.raftviz.api.traceImport(t)", h.export_trace())
    assert ack["ok"], ack
    lab.wait_until(
        lambda: abs(lab.page.evaluate("() => window.raftviz.store.snapshot.time") - h.now) < 1e-6,
        what="the uploaded run",
    )


def drawn(lab: Any) -> dict[str, Any]:
    result: dict[str, Any] = lab.page.evaluate("() => window.raftviz.spacetime.drawn()")
    return result


def record_counts(h: History) -> dict[str, int]:
    rec = h.cluster.record
    assert rec is not None
    s = rec.store
    outcomes = [Outcome(o) for o in s.outcome]
    counts = {
        "arrows": rec.message_count,
        "dropped": sum(o in DROPS for o in outcomes),
        "duplicates": sum(f & 1 for f in s.flags),
        "in_flight": outcomes.count(Outcome.IN_FLIGHT),
    }
    for k in s.mark_kind:
        name = MarkKind(k).name.lower()
        counts[f"mark:{name}"] = counts.get(f"mark:{name}", 0) + 1
    return counts


def open_whole_run(lab: Any, arrows: int) -> dict[str, Any]:
    page = lab.page
    page.get_by_test_id("view-spacetime").click()
    expect(page.get_by_test_id("spacetime")).to_be_visible()
    page.get_by_test_id("st-whole").click()

    def ready() -> dict[str, Any] | None:
        d = drawn(lab)
        return d if d and d["arrows"] and not isinstance(d["arrows"], int) and len(
            d["arrows"]) == arrows else None

    result: dict[str, Any] = lab.wait_until(ready, what=f"{arrows} arrows drawn")
    return result


def test_spacetime_draws_every_message_and_mark_of_a_crash_with_partition(
    lab: Any, save_screenshot: Any
) -> None:
    page = lab.page
    h = crash_with_partition()
    want = record_counts(h)
    load(lab, h)
    d = open_whole_run(lab, want["arrows"])
    # Against the record the server reports ...
    server = page.evaluate(
        "t => window.raftviz.api.record('spacetime', {start: 0, stop: t})", h.now
    )
    assert server["ok"] and server["total"] == want["arrows"] == len(server["messages"])
    # ... and against the same run replayed here.
    assert d["dropped"] == want["dropped"] > 0
    assert d["duplicates"] == want["duplicates"] > 0
    assert d["inFlight"] == want["in_flight"]
    counts = d["markCounts"]
    for kind in ("crash", "partition", "heal", "leader", "candidate"):
        assert counts.get(kind, 0) == want.get(f"mark:{kind}", 0), kind
    assert counts["crash"] == 1 and counts["partition"] == 1 and counts["leader"] >= 2
    expect(page.get_by_test_id("st-count")).to_contain_text(f"{want['arrows']} arrows")
    save_screenshot(page, "whole")

    # Filters: hiding AppendEntries removes exactly those arrows.
    rec = h.cluster.record
    assert rec is not None
    appends = sum(1 for k in rec.store.kind if rec.store.kinds[k] == "AppendEntries")
    page.get_by_test_id("st-kind-AppendEntries").uncheck()
    lab.wait_until(lambda: len(drawn(lab)["arrows"]) == want["arrows"] - appends,
                   what="AppendEntries hidden")
    page.get_by_test_id("st-kind-AppendEntries").check()
    lab.wait_until(lambda: len(drawn(lab)["arrows"]) == want["arrows"], what="all arrows back")

    # Click the crash mark: the lab jumps there and the inspector shows that server.
    box = page.get_by_test_id("spacetime-canvas").bounding_box()
    assert box is not None
    crash = next(m for m in drawn(lab)["marks"] if m["kind"] == "crash")
    page.mouse.click(box["x"] + crash["x"], box["y"] + crash["y"])
    lab.wait_until(
        lambda: abs(page.evaluate("() => window.raftviz.store.snapshot.time") - crash["time"])
        < 1e-6, what="the jump to the crash")
    expect(page.get_by_test_id("inspector-title")).to_have_text(crash["node"])

    # Zoom in around the partition, click a vote arrow: the lab jumps to its send and the
    # inspector shows that very message, in flight.
    page.get_by_test_id("st-zoom-in").click()
    page.get_by_test_id("st-zoom-in").click()
    arrow = lab.wait_until(
        lambda: next((a for a in drawn(lab)["arrows"]
                      if a["kind"] == "RequestVote" and 0 < a["x1"] < box["width"] - 60
                      and abs(a["x2"] - a["x1"]) > 12), None),
        what="a vote arrow on screen")
    t = 0.5
    page.mouse.click(box["x"] + arrow["x1"] + t * (arrow["x2"] - arrow["x1"]),
                     box["y"] + arrow["y1"] + t * (arrow["y2"] - arrow["y1"]))
    expect(page.get_by_test_id("inspector-title")).to_contain_text("RequestVote m")
    now = page.evaluate("() => window.raftviz.store.snapshot.time")
    title = page.get_by_test_id("inspector-title").inner_text()
    sent = rec.store.sent[int(title.split("m")[-1]) - 1]
    assert abs(now - sent) < 1e-3  # the snapshot shows time to the microsecond
    save_screenshot(page, "zoomed")
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.get_by_test_id("st-whole").click()
    lab.wait_until(lambda: len(drawn(lab)["arrows"]) == want["arrows"], what="redraw at 1920")
    save_screenshot(page, "1920")


def test_spacetime_of_a_paxos_run_labels_arrows_with_ballots(
    lab: Any, save_screenshot: Any
) -> None:
    page = lab.page
    h = History(ClusterConfig(size=3, seed=2, protocol="paxos"))
    h.run_until(800)
    h.apply_json({"type": "client", "op": "set", "key": "x", "value": "1"})
    h.run_for(300)
    want = record_counts(h)
    load(lab, h)
    d = open_whole_run(lab, want["arrows"])
    kinds = {a["kind"] for a in d["arrows"]}
    assert {"Prepare", "Promise", "Accept", "Accepted"} <= kinds
    # Each arrow carries the ballot it is about; a Prepare's ballot is its sender's own.
    assert all(a["ballot"] for a in d["arrows"] if not a["kind"].startswith("Client"))
    assert all(a["ballot"].endswith("." + a["node"]) for a in d["arrows"] if a["kind"] == "Prepare")
    expect(page.get_by_test_id("st-kind-Prepare")).to_be_visible()
    assert d["markCounts"].get("leader", 0) == want.get("mark:leader", 0) >= 1
    save_screenshot(page)


def test_operation_history_explains_a_stale_lease_read(lab: Any, save_screenshot: Any) -> None:
    page = lab.page
    h = stale_lease_read()
    violation = h.cluster.linearizability.violations[0]
    why = explain(violation)
    load(lab, h)
    page.get_by_test_id("view-ophistory").click()
    expect(page.get_by_test_id("ophistory")).to_be_visible()
    expect(page.get_by_test_id("oh-sentence")).to_have_text(why.sentence)
    assert "returned '1' after c2's write of '2'" in why.sentence
    tried = page.get_by_test_id("oh-tried").locator("li")
    expect(tried).to_have_count(len(why.tried))
    expect(tried.last).to_contain_text(f"#{why.fails.op_id}")
    # Every operation of the core is a bar, outlined; the failing read is marked.
    bars = page.get_by_test_id("oh-bar")
    core = page.locator(".oh-bar.oh-core")
    expect(core).to_have_count(len(why.core))
    expect(page.locator(f'.oh-bar.oh-fails[data-op="{why.fails.op_id}"]')).to_have_count(1)
    # All bars against the operations the server reports and the run replayed here.
    page.get_by_test_id("oh-range-all").click()
    server = page.evaluate("() => window.raftviz.api.record('ophistory', {})")
    kv = [r for r in h.cluster.ops if r.command.op.value in ("set", "get", "delete", "cas")]
    assert len(server["ops"]) == len(kv) == 3
    expect(bars).to_have_count(len(kv))
    # Leader changes, the partition and the pause are marked across the lanes.
    marks = page.get_by_test_id("oh-mark")
    kinds = [marks.nth(i).get_attribute("data-kind") for i in range(marks.count())]
    assert kinds.count("partition") == 1 and kinds.count("pause") == 1
    assert kinds.count("leader") == sum(1 for m in server["marks"] if m["kind"] == "leader") >= 2
    save_screenshot(page, "1366")
    page.get_by_test_id("oh-range-auto").click()
    page.get_by_test_id("oh-jump").click()
    lab.wait_until(
        lambda: abs(page.evaluate("() => window.raftviz.store.snapshot.time") - why.at) < 1e-6,
        what="the jump to the stale read")
    page.set_viewport_size({"width": 1920, "height": 1080})
    expect(page.get_by_test_id("oh-sentence")).to_be_visible()
    save_screenshot(page, "1920")


def test_stepping_highlights_what_one_event_changed(lab: Any, save_screenshot: Any) -> None:
    page = lab.page
    h = History(ClusterConfig(size=3, seed=1))
    h.run_until(1000)
    h.apply_json({"type": "client", "op": "set", "key": "x", "value": "1"})
    load(lab, h)
    follower = next(n for n in h.cluster.node_ids if n != h.cluster.leader)
    page.get_by_test_id(f"node-{follower}").click()
    expect(page.get_by_test_id("inspector-title")).to_have_text(follower)

    def changed() -> Any:
        return page.evaluate("() => window.raftviz.store.snapshot.changed")

    # Step until the follower appends the new entry (one event at a time, as a student does).
    for _ in range(100):
        before = page.evaluate("() => window.raftviz.store.snapshot.events_processed")
        page.get_by_test_id("step-button").click()
        lab.wait_until(
            lambda b=before: page.evaluate("() => window.raftviz.store.snapshot.events_processed")
            > b, what="one step")
        now = changed()
        if now and "log" in now.get(follower, {}):
            break
    else:
        raise AssertionError(f"{follower} never appended")
    note = page.get_by_test_id("step-changes")
    expect(note).to_be_visible()
    for node in now:
        expect(note.locator(f'[data-node="{node}"]')).to_have_count(1)
        expect(page.get_by_test_id(f"node-{node}")).to_have_class(re.compile(r"\bchg\b"))
        expect(page.get_by_test_id(f"log-row-{node}")).to_have_class(re.compile(r"\bchg\b"))
    log = now[follower]["log"]
    cells = page.locator(f'#logs .log-row[data-node="{follower}"] .cell.cell-chg')
    expect(cells).to_have_count(log["to"] - log["from"] + 1)
    expect(cells.first).to_have_attribute("data-index", str(log["from"]))
    # The inspector shows the follower: its log length row is marked.
    expect(page.locator(".kv-row.chg")).not_to_have_count(0)
    save_screenshot(page)
    # Moving on by time (not one step) clears every highlight.
    page.get_by_test_id("advance-10").click()
    expect(note).to_be_hidden()
    expect(page.locator("#cluster .node.chg")).to_have_count(0)
    expect(page.locator(".cell.cell-chg")).to_have_count(0)
