"""reset with a config; trace export and import reproduce a run exactly."""

from __future__ import annotations

from .conftest import Page, Server


def test_reset_with_a_config_builds_that_cluster(tab: Page) -> None:
    tab.player(action="advance", ms=1000)
    tab.ok("reset", {"config": {"size": 3, "seed": 7, "settings": {"pre_vote": True}}})
    assert tab.frames[-1]["full"] is True
    assert tab.state["time"] == 0
    assert tab.state["seed"] == 7
    assert [n["id"] for n in tab.state["nodes"]] == ["n1", "n2", "n3"]
    assert tab.state["settings"]["pre_vote"] is True
    assert tab.state["player"]["horizon"] == 0
    assert tab.ops == [] and tab.state["player"]["playing"] is False
    tab.assert_in_sync()


def test_reset_without_a_config_is_the_default_cluster(tab: Page) -> None:
    tab.ok("reset", {"config": {"size": 3}})
    tab.ok("reset")
    assert len(tab.state["nodes"]) == 5 and tab.state["seed"] == 1
    tab.ok("reset", {})
    assert len(tab.state["nodes"]) == 5


def test_reset_with_initial_logs(tab: Page) -> None:
    config = {
        "size": 3,
        "initial": {
            "n1": {"term": 2, "log": [1, 1, {"term": 2, "op": "set", "key": "a", "value": "b"}]}
        },
    }
    tab.ok("reset", {"config": config})
    assert tab.log("n1") == [[1, 1, "no-op"], [2, 1, "no-op"], [3, 2, "SET a=b"]]
    assert tab.log("n2") == []


def test_trace_round_trip_reproduces_the_same_snapshot(server: Server) -> None:
    tab = server.page()
    tab.ok("reset", {"config": {"size": 5, "seed": 11}})
    tab.player(action="run_until", condition="leader")
    tab.command(type="workload", rate=30)
    tab.player(action="advance", ms=800)
    tab.command(type="partition", groups=[["n1", "n2"], ["n3", "n4", "n5"]])
    tab.player(action="advance", ms=1500)
    tab.command(type="heal")
    tab.player(action="advance", ms=1200)
    tab.player(action="seek", time=2000)  # stand in the middle: `now` < `end`
    trace = tab.ok("trace_export")["trace"]
    assert trace["format"] == "raftviz-trace" and trace["version"] == 1
    assert trace["now"] == 2000 and trace["end"] > 2000
    original = tab.truth()

    other = server.page()
    other.ok("trace_import", {"trace": trace})
    assert other.frames[-1]["full"] is True
    assert other.truth() == original
    assert other.state["time"] == 2000
    assert other.state["player"]["horizon"] == trace["end"]
    other.assert_in_sync()
    # Both runs go on identically.
    tab.player(action="advance", ms=3000)
    other.player(action="advance", ms=3000)
    assert other.truth() == tab.truth()


def test_resync_sends_a_full_frame_to_that_page_only(server: Server) -> None:
    first = server.page()
    second = server.page(first.token)
    first.player(action="advance", ms=300)
    second.receive()
    first.ok("resync")
    assert first.frames[-1]["full"] is True
    assert second.receive() == []
    first.ok("resync", {})
    first.assert_in_sync()
