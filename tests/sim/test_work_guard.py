"""The work guard (WorkMeter): zero-time loops and over-budget requests stop between two events.

The schema keeps every configuration out of zero-time loops, so these tests reach past it
(``cluster.client_settings`` set after the fact) to make the loop of issue 13 happen anyway:
the guard must hold on its own.
"""

from __future__ import annotations

import json
import time
from itertools import count

import pytest

from raftviz.sim.engine.clients import ClientSettings
from raftviz.sim.engine.cluster import ClusterConfig
from raftviz.sim.engine.errors import WorkLimitError
from raftviz.sim.engine.scheduler import WorkBudget, WorkMeter
from raftviz.sim.history import History, leader_exists
from raftviz.sim.snapshot import snapshot

WRITE = {"type": "client", "op": "set", "key": "x", "value": "1"}


def looping(budget: WorkBudget | None = None) -> History:
    """A cluster with a leader whose clients retry at once, for ever (issue 13)."""
    h = History(ClusterConfig(size=5, seed=1), budget=budget)
    h.run_for(1000)
    h.cluster.client_settings = ClientSettings(attempt_timeout=0.0)
    return h


def test_the_issue_13_loop_stops_with_a_clear_error_between_two_events() -> None:
    h = looping(WorkBudget(max_events_at_one_instant=500))
    with pytest.raises(WorkLimitError, match=r"processed 500 events at t=1000 ms without time "
                                             r"moving on \(a zero-time loop\)"):
        h.apply_json(WRITE)
    assert h.now == 1000.0
    assert h.cursor == len(h.log) == 1  # the command was applied; what it set off was stopped
    assert h.horizon == h.now
    # Found once, the loop stays found: the next request at the same instant stops at once.
    events = h.cluster.events_processed
    with pytest.raises(WorkLimitError, match="zero-time loop"):
        h.run_for(100)
    assert h.cluster.events_processed == events


def test_after_the_guard_the_session_is_usable_seek_back_and_fork() -> None:
    h = looping(WorkBudget(max_events_at_one_instant=500))
    with pytest.raises(WorkLimitError):
        h.apply_json(WRITE)
    h.seek(600.0)
    assert h.now == 600.0 and h.cursor == 0
    h.cluster.client_settings = ClientSettings()
    h.apply_json({"type": "crash", "node": "n1"})  # a new command forks: the loop is gone
    assert len(h.log) == 1
    assert h.run_until_condition(leader_exists, 5000)
    assert not h.cluster.monitor.violations


def test_an_event_budget_stops_a_long_request_where_it_got_to() -> None:
    h = History(ClusterConfig(size=3, seed=4), budget=WorkBudget(max_events=200))
    with pytest.raises(WorkLimitError, match="this request processed 200 events"):
        h.run_for(60_000)
    stopped = h.now
    assert 0 < stopped < 60_000 and h.horizon == stopped
    h.run_for(10)  # a new request has a new budget
    assert h.now == stopped + 10


def test_a_cpu_budget_is_measured_by_the_injected_clock() -> None:
    ticks = count()
    h = History(
        ClusterConfig(size=3, seed=4),
        budget=WorkBudget(max_cpu_seconds=5.0),
        work_clock=lambda: float(next(ticks)),  # one "second" per reading
    )
    with pytest.raises(WorkLimitError, match=r"used \d+\.\d s of CPU, the most one request may "
                                             r"is 5 s"):
        h.run_for(60_000)
    assert h.now < 60_000


def test_a_stopped_request_leaves_a_state_that_replays_exactly() -> None:
    """Stopping between events is a consistent state: a trace of it replays to the same snapshot."""
    h = History(ClusterConfig(size=5, seed=9), budget=WorkBudget(max_events=333))
    h.run_for(900)
    h.apply_json(WRITE)
    with pytest.raises(WorkLimitError):
        h.run_for(30_000)
    again = History.import_trace(h.export_trace())
    assert json.dumps(snapshot(again.cluster)) == json.dumps(snapshot(h.cluster))


def test_the_guard_does_not_change_a_run() -> None:
    """Same seed and commands, with and without a tight (but sufficient) budget: same run."""
    runs = []
    for budget in (None, WorkBudget(max_events_at_one_instant=50)):
        h = History(ClusterConfig(size=5, seed=3), budget=budget)
        h.run_for(800)
        h.apply_json(WRITE)
        h.run_for(2000)
        runs.append(json.dumps(snapshot(h.cluster)))
    assert runs[0] == runs[1]


def test_a_trace_that_needs_more_work_than_allowed_is_refused() -> None:
    h = History(ClusterConfig(size=3, seed=4))
    h.run_for(5000)
    with pytest.raises(WorkLimitError, match="the trace was not imported: this request processed"):
        History.import_trace(h.export_trace(), budget=WorkBudget(max_events=100))


def test_meter_counts_one_instant_across_requests_until_time_moves() -> None:
    m = WorkMeter(WorkBudget(max_events_at_one_instant=3), time.monotonic, 5.0, 2)
    m.charge(5.0)
    with pytest.raises(WorkLimitError):
        m.charge(5.0)
    m.charge(6.0)  # time moved on
    assert (m.instant, m.at_instant) == (6.0, 1)
