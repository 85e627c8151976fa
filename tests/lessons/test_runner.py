"""LessonRunner: steps, tasks from the learner's commands, graded predictions, rewinding."""

from __future__ import annotations

import json

import pytest

from raftviz.lessons.runner import LessonRunner, LessonUsageError
from raftviz.sim.engine.cluster import CommandError
from tests.lessons.helpers import build, frozen

BODY = """\
steps:
  - id: elect
    title: Elect
    text: n1 is told to campaign.
    actions:
      - command: {type: timeout, node: n1}
      - run_until: {condition: {leader_is: n1}, max_ms: 500}
    tasks:
      - id: write
        text: Write x.
        match: {type: client, op: set, key: x}
        solution: {type: client, op: set, key: x, value: "1", client: c1}
        hint: Click a node, then **Write**.
        hint_after_ms: 100
        hint_after_s: 30
    questions:
      - id: committed
        predict: true
        prompt: Will index 2 be committed within 200 ms?
        probe: {holds: {committed: 2}}
        choices: [{label: "Yes", value: true}, {label: "No", value: false}]
        answer: true
        then: [{run: {ms: 200}}]
        watch: [{node: n1, kind: commit, text: "up to 2"}]
        explanation: A majority stored it.
      - id: majority
        kind: number
        prompt: How many nodes make a majority of three?
        answer: 2
        explanation: More than half.
    expect: [{committed: 2}, {kv: {node: n2, key: x, value: "1"}}]
  - id: crash
    title: Crash
    text: Crash the leader.
    tasks:
      - id: crash-leader
        text: Crash the leader.
        match: {type: crash, node: $leader}
        then: [{run_until: {condition: leader, max_ms: 2000}}]
    questions:
      - id: new-term
        predict: true
        prompt: Which term does the next leader have?
        probe: leader_term
        kind: number
        answer: 2
        explanation: One election later.
    expect: [leader, {term_at_least: 2}, no_violations]
  - id: done
    title: Done
    text: The end.
    actions:
      - run: {ms: 100}
"""


@pytest.fixture
def runner() -> LessonRunner:
    r = LessonRunner(build(BODY), clock=FakeClock())
    r.start()
    return r


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_start_sets_the_scene(runner: LessonRunner) -> None:
    assert runner.current == 0
    assert runner.history.cluster.leader == "n1"
    state = runner.state()
    assert state["step"]["id"] == "elect"
    assert [t["done"] for t in state["step"]["tasks"]] == [False]
    assert state["progress"] == {
        "step": 0, "steps": 3, "tasks_done": 0, "tasks_total": 2, "questions_answered": 0,
        "questions_correct": 0, "finished": False,
    }
    json.dumps(state)  # the page gets it as JSON


def test_tasks_are_recognised_from_the_learners_own_commands(runner: LessonRunner) -> None:
    assert runner.on_learner_command({"type": "client", "op": "get", "key": "x"}) == []
    assert runner.on_learner_command(
        {"type": "client", "op": "set", "key": "y", "value": "2", "client": "c7"}) == []
    done = runner.on_learner_command(
        {"type": "client", "op": "set", "key": "x", "value": "9", "client": "c8"})
    assert done == ["write"]
    assert runner.state()["step"]["tasks"][0]["done_by"] == "learner"
    # Done once: the same command again completes nothing new.
    assert runner.on_learner_command(
        {"type": "client", "op": "set", "key": "x", "value": "9", "client": "c9"}) == []


def test_a_refused_command_changes_nothing_and_completes_nothing(runner: LessonRunner) -> None:
    before = frozen(runner.history)
    with pytest.raises(CommandError, match="unknown node 'n9'"):
        runner.on_learner_command({"type": "crash", "node": "n9"})
    assert frozen(runner.history) == before


def test_leader_reference_is_resolved_when_the_task_starts(runner: LessonRunner) -> None:
    runner.goto(1)
    assert runner.history.cluster.leader == "n1"
    # Crashing a follower first does not count; it also does not move the target.
    assert runner.on_learner_command({"type": "crash", "node": "n2"}) == []
    assert runner.on_learner_command({"type": "crash", "node": "n1"}) == ["crash-leader"]


def test_predictions_are_graded_by_what_the_simulation_does(runner: LessonRunner) -> None:
    with pytest.raises(LessonUsageError, match="tasks before predicting"):
        runner.answer("committed", True)
    runner.perform("write")
    result = runner.answer("committed", False)
    assert result["correct"] is False
    assert (result["actual"], result["actual_label"]) == (True, "Yes")
    assert result["explanation_html"] == "<p>A majority stored it.</p>"
    assert result["watch"][0]["node"] == "n1" and "up to 2" in result["watch"][0]["text"]
    # Asking again does not run the simulation again and keeps the first verdict.
    now = runner.history.now
    assert runner.answer("committed", True) == result
    assert runner.history.now == now
    assert runner.check_expectations() == []


def test_quiz_answers_and_bad_choices(runner: LessonRunner) -> None:
    assert runner.answer("majority", 2)["correct"] is True
    with pytest.raises(LessonUsageError, match="takes a number"):
        runner.answer("majority", "two")
    with pytest.raises(LessonUsageError, match="not one of the choices"):
        runner.answer("committed", "perhaps")
    with pytest.raises(LessonUsageError, match="no question 'nope' in this step"):
        runner.answer("nope", 1)
    with pytest.raises(LessonUsageError, match="no step 7"):
        runner.goto(7)


def test_hints_come_after_simulated_or_real_time(runner: LessonRunner) -> None:
    clock = runner.clock
    assert isinstance(clock, FakeClock)
    assert runner.hint_due() == []
    clock.now += 31
    assert runner.hint_due() == [
        {"task": "write", "hint_html": "<p>Click a node, then <strong>Write</strong>.</p>"}
    ]
    clock.now -= 31
    runner.history.run_for(100)
    assert [h["task"] for h in runner.hint_due()] == ["write"]
    runner.perform("write")
    assert runner.hint_due() == []


def test_going_back_restores_the_step_exactly(runner: LessonRunner) -> None:
    at_step0 = frozen(runner.history)
    runner.perform("write")
    runner.answer("committed", True)
    runner.goto(1)
    at_step1 = frozen(runner.history)
    commands_at_step1 = len(runner.history.log)
    runner.perform("crash-leader")
    runner.on_learner_command({"type": "partition", "groups": [["n2"], ["n3"]]})
    runner.history.run_for(700)
    runner.goto(1)
    assert frozen(runner.history) == at_step1
    assert len(runner.history.log) == commands_at_step1  # the old future is gone
    assert runner.state()["step"]["tasks"][0]["done"] is False
    runner.goto(0)
    assert frozen(runner.history) == at_step0
    assert runner.state()["progress"]["questions_answered"] == 0


def test_after_going_back_the_history_still_replays_itself(runner: LessonRunner) -> None:
    runner.perform("write")
    runner.answer("committed", True)
    runner.goto(2)
    runner.goto(1)
    runner.perform("crash-leader")
    h = runner.history
    end = h.now
    expected = frozen(h)
    h.seek(0)
    h.run_until(end)
    assert frozen(h) == expected


def test_going_forward_does_what_the_learner_skipped(runner: LessonRunner) -> None:
    runner.goto(2)
    assert runner.current == 2
    c = runner.history.cluster
    assert c.hosts["n1"].node is None  # the lesson crashed the leader for them
    assert c.leader in ("n2", "n3")
    assert [o.command.describe() for o in c.ops] == ["SET x=1"]
    runner.goto(1)
    assert runner.state()["step"]["tasks"][0]["done"] is False


def test_a_whole_run_ends_finished(runner: LessonRunner) -> None:
    runner.perform("write")
    runner.answer("committed", True)
    runner.answer("majority", 3)
    runner.next()
    runner.perform("crash-leader")
    assert runner.answer("new-term", 2)["correct"] is True
    assert runner.check_expectations() == []
    runner.next()
    progress = runner.state()["progress"]
    assert progress == {
        "step": 2, "steps": 3, "tasks_done": 2, "tasks_total": 2, "questions_answered": 3,
        "questions_correct": 2, "finished": True,
    }


def test_failed_actions_and_expectations_are_reported() -> None:
    lesson = build("""\
        steps:
          - id: s
            title: S
            text: Text.
            actions:
              - run_until: {condition: {leaders: 2}, max_ms: 300}
              - command: {type: crash, node: $follower3}
            expect: [{terms: {n1: 5}}]
        """)
    r = LessonRunner(lesson)
    r.start()
    assert r.check_expectations() == [
        "step 's' actions[0]: leaders: 2 was not reached within 300 ms",
        "step 's' actions[1]: $follower3: only 2 live nodes besides the leader",
        "step 's' expect[0] (terms: {'n1': 5}) does not hold",
    ]
    assert r.state()["step"]["problems"][0].startswith("actions[0]")


MANUAL = """\
steps:
  - id: quiet
    title: Quiet
    text: Manual delivery.
    actions:
      - command: {type: timeout, node: n1}
      - run_until: {condition: converged, max_ms: 1000}
      - run_until: {condition: quiet, max_ms: 500}
      - command: {type: manual, on: true}
      - command: {type: client, op: set, key: x, value: "1", node: n1, client: c1}
    tasks:
      - id: to-leader
        text: Deliver the client's request.
        match: {type: deliver, message: {kind: ClientRequest, to: n1}}
        solution: {type: deliver, id: {kind: ClientRequest, to: n1}}
    expect:
      - {in_flight: {kind: AppendEntries, from: n1, to: n2}}
      - {log_contains: {node: n1, command: "SET x=1"}}
  - id: replicate
    title: Replicate
    text: Deliver to n2.
    tasks:
      - id: to-n2
        text: Deliver n1's AppendEntries to n2.
        match: {type: deliver, message: {kind: AppendEntries, from: $leader, to: n2}}
        solution: {type: deliver, id: {kind: AppendEntries, to: n2}}
    expect:
      - {log_contains: {node: n2, command: "SET x=1"}}
      - {commit_index_is: {node: n2, index: 1}}
"""


def test_messages_are_matched_by_what_was_delivered() -> None:
    # Time stands still between hand deliveries: an instant disk lets each reply leave at once
    # (with a real fsync it would wait for time to move; see tests/sim/test_storage.py).
    r = LessonRunner(build(MANUAL, "setup: {size: 3, seed: 2, fsync_ms: 0}"))
    r.start()
    c = r.history.cluster
    (request,) = c.network.in_flight.values()
    assert request.msg.kind.value == "ClientRequest"
    assert r.on_learner_command({"type": "deliver", "id": request.id}) == ["to-leader"]
    assert r.check_expectations() == []
    r.goto(1)
    to_n3 = next(e.id for e in c.network.in_flight.values() if e.msg.dst == "n3")
    assert r.on_learner_command({"type": "deliver", "id": to_n3}) == []
    assert r.perform("to-n2") == ["to-n2"]
    assert r.check_expectations() == []


def test_a_step_with_its_own_setup_gets_a_fresh_cluster_and_back_again() -> None:
    lesson = build("""\
        steps:
          - id: small
            title: Small
            text: Three.
            actions: [{run_until: {condition: leader, max_ms: 2000}}]
          - id: big
            title: Big
            text: Five.
            setup: {size: 5, seed: 3}
            actions: [{run_until: {condition: leader, max_ms: 2000}}]
        """)
    r = LessonRunner(lesson)
    r.start()
    small, generation = r.history, r.state()["generation"]
    at_small = frozen(small)
    r.next()
    assert r.history is not small and r.history.config.size == 5
    assert r.state()["generation"] > generation
    r.goto(0)
    assert r.history is small and frozen(small) == at_small


def test_run_until_takes_a_condition_inline_and_the_solution_is_plain_json() -> None:
    lesson = build("""\
        steps:
          - id: s
            title: S
            text: Text.
            actions:
              - command: {type: timeout, node: n1}
              - run_until: {leader_is: n1, max_ms: 500}
              - command: {type: client, op: set, key: x, value: "1", node: n1, client: c1}
              - run_until: {committed: 2, max_ms: 500}
            tasks:
              - {id: t, text: Crash the leader., match: {type: crash, node: $leader}}
            expect: [{committed_on: {nodes: [n1], index: 2}}]
        """)
    r = LessonRunner(lesson)
    r.start()
    assert r.check_expectations() == []
    assert r.solution_command("t") == {"type": "crash", "node": "n1"}
    assert r.on_learner_command(r.solution_command("t")) == ["t"]
    with pytest.raises(LessonUsageError, match="no task 'u'"):
        r.perform("u")
