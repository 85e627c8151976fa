"""Player actions: step, advance, seek (back and forth), play/pause/speed, run_until."""

from __future__ import annotations

from collections.abc import Callable

from raftviz.service.sessions import Limits

from .conftest import Page, Server


def test_step_processes_one_event(tab: Page) -> None:
    before = tab.state["events_processed"]
    ack = tab.player(action="step")
    assert ack == {"ok": True, "stepped": True}
    assert tab.state["events_processed"] == before + 1
    assert tab.state["time"] > 0
    tab.assert_in_sync()


def test_advance_runs_simulated_time(tab: Page) -> None:
    tab.player(action="advance", ms=750)
    assert tab.state["time"] == 750
    assert tab.state["player"]["now"] == 750
    assert tab.state["player"]["horizon"] == 750
    assert tab.frames[-1]["full"] is False
    tab.assert_in_sync()


def test_seek_back_shows_an_earlier_time_and_earlier_logs(tab: Page) -> None:
    tab.player(action="run_until", condition="leader")
    leader = tab.state["leader"]
    tab.player(action="advance", ms=200)
    middle = tab.state["time"]
    tab.command(type="client", op="set", key="k", value="1", client="c1")
    tab.player(action="advance", ms=3000)
    late_length = tab.node(leader)["log_length"]
    assert late_length >= 2
    # An idle cluster is checkpointed by events as well as time, so the start may be the only
    # checkpoint here; the jump below then replays from it.
    assert tab.state["player"]["checkpoints"] >= 1

    tab.player(action="seek", time=middle)
    assert tab.frames[-1]["full"] is True
    assert tab.state["time"] == middle
    assert tab.node(leader)["log_length"] < late_length
    assert all(e[2] != "SET k=1" for e in tab.log(leader))
    assert tab.state["player"]["horizon"] == 3000 + middle
    tab.assert_in_sync()

    # Seeking forward again replays the same run: the command comes back.
    tab.player(action="seek", time=middle + 3000)
    assert tab.frames[-1]["full"] is False
    assert tab.node(leader)["log_length"] == late_length
    tab.assert_in_sync()


def test_a_command_after_seeking_back_forks_history(tab: Page) -> None:
    tab.player(action="advance", ms=2000)
    tab.player(action="seek", time=500)
    tab.command(type="crash", node="n1")
    assert tab.state["player"]["horizon"] == 500
    trace = tab.ok("trace_export")["trace"]
    assert [c["command"]["type"] for c in trace["commands"]] == ["crash"]


def test_seek_can_jump_far_ahead(tab: Page) -> None:
    tab.player(action="seek", time=75_000)
    assert tab.state["time"] == 75_000 and tab.state["player"]["horizon"] == 75_000
    tab.assert_in_sync()


def test_seek_is_bounded(tab: Page) -> None:
    assert "within" in tab.refused("player", {"action": "seek", "time": 600_001})
    assert "within" in tab.refused("player", {"action": "seek", "time": -1})
    assert "within" in tab.refused("player", {"action": "advance", "ms": 0})
    assert "within" in tab.refused("player", {"action": "advance", "ms": 60_001})
    assert tab.state["time"] == 0


def test_run_until_reports_whether_the_condition_held(tab: Page) -> None:
    assert tab.player(action="run_until", condition="leader", max_ms=5000)["reached"] is True
    assert tab.state["leader"] is not None
    tab.command(type="partition", groups=[["n1"], ["n2"], ["n3"], ["n4"], ["n5"]])
    ack = tab.player(action="run_until", condition="converged", max_ms=50)
    assert ack["ok"] is True and isinstance(ack["reached"], bool)
    assert "unknown condition" in tab.refused(
        "player", {"action": "run_until", "condition": "pigs_fly"}
    )


def test_play_pause_and_speed(server: Server) -> None:
    page = server.page()
    page.player(action="speed", speed=0.5)
    page.player(action="play")
    assert page.state["player"]["playing"] is True
    server.clock.advance(0.1)  # 100 ms of real time at half speed: 50 ms simulated
    server.playback.tick()
    page.receive()
    assert page.state["time"] == 50
    server.clock.advance(0.05)
    server.playback.tick()
    page.receive()
    assert page.state["time"] == 75
    assert page.frames[-1]["full"] is False
    page.player(action="pause")
    assert page.state["player"]["playing"] is False
    server.clock.advance(0.1)
    server.playback.tick()
    assert page.receive() == []
    assert page.state["time"] == 75
    page.assert_in_sync()


def test_playback_makes_up_for_at_most_a_quarter_second(
    make_server: Callable[..., Server],
) -> None:
    server = make_server(budget_ms=1000.0)  # about catching up, not the CPU budget
    page = server.page()
    page.player(action="speed", speed=1.0)
    page.player(action="play")
    server.clock.advance(10)  # a stalled server does not jump ten seconds ahead
    server.playback.tick()
    page.receive()
    assert page.state["time"] == 250


def test_play_stops_at_the_time_limit(make_server: Callable[..., Server]) -> None:
    server = make_server(limits=Limits(max_time=1000.0, max_advance_ms=900.0))
    page = server.page()
    page.player(action="advance", ms=900)
    page.player(action="speed", speed=1.0)
    page.player(action="play")
    for _ in range(3):
        server.clock.advance(0.2)
        server.playback.tick()
    page.receive()
    assert page.state["time"] == 1000
    assert page.state["player"]["playing"] is False
    assert "limit" in page.refused("player", {"action": "play"})
    assert "at most" in page.refused("player", {"action": "advance", "ms": 10})


def test_speed_bounds(tab: Page) -> None:
    for speed in (0, 0.0009, 1.5, -1):
        assert "speed must be within" in tab.refused("player", {"action": "speed", "speed": speed})
    tab.player(action="speed", speed=0.001)
    tab.player(action="speed", speed=1)
    assert tab.state["player"]["speed"] == 1


def test_a_slow_session_slows_down_instead_of_starving_others(
    make_server: Callable[..., Server],
) -> None:
    server = make_server(budget_ms=0.0)  # no CPU at all per tick: one event, then stop
    page = server.page()
    page.player(action="speed", speed=1.0)
    page.player(action="play")
    server.clock.advance(0.2)
    server.playback.tick()
    page.receive()
    assert page.state["time"] < 200
    assert server.playback.behind == 1
