"""The read-only record events: `spacetime` windows of the run and the `ophistory` view data."""

from __future__ import annotations

from .conftest import Page


def _run(tab: Page) -> str:
    assert tab.player(action="run_until", condition="leader")["reached"] is True
    leader = tab.state["leader"]
    tab.command(type="client", op="set", key="x", value="1")
    tab.player(action="advance", ms=300)
    tab.command(type="crash", node=leader)
    tab.player(action="advance", ms=800)
    return str(leader)


def test_spacetime_window_matches_the_run(tab: Page) -> None:
    leader = _run(tab)
    now = tab.state["time"]
    w = tab.ok("spacetime", {"start": 0, "stop": now})
    assert abs(w["now"] - now) < 1e-6 and w["nodes"] == ["n1", "n2", "n3", "n4", "n5"]
    names, kinds, marks = w["names"], w["kinds"], w["mark_kinds"]
    assert len(w["messages"]) == w["total"] == w["messages_recorded"]
    crashes = [m for m in w["marks"] if marks[m[3]] == "crash"]
    assert [names[m[2]] for m in crashes] == [leader]
    assert sum(marks[m[3]] == "leader" for m in w["marks"]) >= 2
    assert {"RequestVote", "AppendEntries", "ClientRequest"} <= set(kinds)
    first = w["messages"][0]
    one = tab.ok("spacetime", {"start": 0, "stop": 0, "message": first[0]})["message"]
    assert one["id"] == first[0] and one["kind"] == kinds[first[1]]
    votes = tab.ok("spacetime", {"start": 0, "stop": now, "kinds": ["RequestVote"]})
    assert votes["messages"] and all(kinds[m[1]] == "RequestVote" for m in votes["messages"])


def test_spacetime_refuses_bad_windows_and_changes_nothing(tab: Page) -> None:
    _run(tab)
    before = tab.truth()
    assert "start <= stop" in tab.refused("spacetime", {"start": 50, "stop": 10})
    assert "number" in tab.refused("spacetime", {"start": "a", "stop": 10})
    assert "kinds" in tab.refused("spacetime", {"start": 0, "stop": 10, "kinds": "all"})
    assert "message" in tab.refused("spacetime", {"start": 0, "stop": 10, "message": -1})
    assert "unexpected" in tab.refused("spacetime", {"start": 0, "stop": 10, "x": 1})
    assert tab.truth() == before


def test_ophistory_lists_operations_and_marks(tab: Page) -> None:
    leader = _run(tab)
    h = tab.ok("ophistory", {})
    assert [o["op"] for o in h["ops"]] == ["set"]
    assert h["ops"][0]["status"] == "ok" and h["ops"][0]["complete"] is not None
    assert {"kind": "crash", "node": leader} in [
        {"kind": m["kind"], "node": m["node"]} for m in h["marks"]
    ]
    assert h["violations"] == [] and h["violation_count"] == 0
