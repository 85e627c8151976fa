"""Random learners: whatever a learner does in a lesson, its journal redoes it exactly.

Hypothesis drives one lesson (split brain) with what a page can send: commands on the canvas,
"show me", answers, Next, Back, jumps to a step, and time (advance, step, seek back, which
forks the run at the next command). After every action the journal, JSON and back as the
store keeps it, is redone on a new runner (each entry at its History position): the lesson's
state, the command log and the cluster's snapshot must be the same.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from raftviz.lessons import LESSONS_FOLDER, LessonRunner, LessonUsageError, load_lessons
from raftviz.sim.engine.cluster import CommandError
from raftviz.sim.snapshot import snapshot
from tests.service.journal import redone

LESSON = {x.id: x for x in load_lessons(LESSONS_FOLDER)[0]}["split-brain"]
NODES = ["n1", "n2", "n3"]

COMMANDS = st.one_of(
    st.builds(lambda n: {"type": "crash", "node": n}, st.sampled_from(NODES)),
    st.builds(lambda n: {"type": "restart", "node": n}, st.sampled_from(NODES)),
    st.builds(lambda n, v: {"type": "client", "op": "set", "key": "x", "value": v, "node": n},
              st.sampled_from(NODES), st.sampled_from(["a", "b"])),
    st.just({"type": "partition", "groups": [["n1"], ["n2", "n3"]]}),
    st.just({"type": "heal"}),
)


def public(runner: LessonRunner) -> Any:
    return json.loads(json.dumps(runner.state()))


class Learner(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.runner = LessonRunner(LESSON)
        self.runner.start()

    @property
    def step(self) -> Any:
        return self.runner.step

    @rule(command=COMMANDS)
    def command(self, command: dict[str, Any]) -> None:
        try:
            self.runner.on_learner_command(command)
        except CommandError:
            pass  # refused, nothing changed

    @rule(data=st.data())
    @precondition(lambda self: bool(self.runner.step.tasks))
    def show_me(self, data: st.DataObject) -> None:
        task = data.draw(st.sampled_from(self.step.tasks))
        try:
            self.runner.perform(task.id)
        except CommandError:
            pass

    @rule(data=st.data(), right=st.booleans())
    @precondition(lambda self: bool(self.runner.step.questions))
    def answer(self, data: st.DataObject, right: bool) -> None:
        question = data.draw(st.sampled_from(self.step.questions))
        choices = [c.value for c in question.choices] or [question.answer, 1]
        choice = question.answer if right else data.draw(st.sampled_from(choices))
        try:
            self.runner.answer(question.id, choice)
        except LessonUsageError:
            pass  # e.g. a prediction before the step's tasks

    @rule(index=st.integers(0, len(LESSON.steps) - 1))
    def goto(self, index: int) -> None:
        self.runner.goto(index)

    @rule(ms=st.sampled_from([10.0, 150.0, 700.0]))
    def advance(self, ms: float) -> None:
        self.runner.history.run_for(ms)

    @rule()
    def single_step(self) -> None:
        self.runner.history.step()

    @rule(back=st.floats(0.0, 1.0))
    def seek_back(self, back: float) -> None:
        h = self.runner.history
        h.seek(h.now * back)

    @invariant()
    def the_journal_redoes_it(self) -> None:
        live = self.runner
        again = redone(live)
        assert public(again) == public(live)
        assert again.history.log == live.history.log
        assert snapshot(again.history.cluster) == snapshot(live.history.cluster)


TestLearner = Learner.TestCase
TestLearner.settings = settings(
    max_examples=min(settings().max_examples, 25), stateful_step_count=15, deadline=None
)
