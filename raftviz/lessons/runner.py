"""The lesson runner: one lesson driving one History, step by step, with no web code.

A step unfolds in a fixed order: its ``actions`` set the scene (commands and runs of simulated
time), then the learner does its ``tasks`` (recognised from the learner's own commands), then
answers its ``questions`` (a prediction runs its ``then`` actions on the live cluster and is
graded by what really happened), and its ``expect`` conditions should then hold.

The runner records the cluster as it was when each step began, so :meth:`LessonRunner.goto`
back to a step restores that moment exactly (and drops the future, as a new command after a
rewind does in History). Going forward completes the steps in between the way the lesson
would: it performs the tasks the learner skipped and runs the predictions left unanswered.

Everything the learner did is kept in :attr:`LessonRunner.journal` (JSON data, each entry with
the History position it was made at), because the runner is deterministic: a new runner that
redoes the journal (:meth:`~LessonRunner.redo`), each entry at its position, is the same lesson
at the same step with the same answers. That is how a stored session resumes its lesson
(raftviz/service/store/lessons.py).
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from raftviz.lessons.markdown import render_inline, render_markdown
from raftviz.lessons.model import COMPARATORS, Action, Lesson, Question, Step, Task
from raftviz.lessons.probes import (
    ResolveError,
    describe_condition,
    holds,
    message_matches,
    probe,
    resolve,
    select_message,
)
from raftviz.sim.engine.cluster import Cluster, ClusterConfig, CommandError
from raftviz.sim.engine.commands import SimCommand, parse_command
from raftviz.sim.engine.network import Envelope
from raftviz.sim.history import History

DEFAULT_HINT_AFTER_S = 20.0
# Journal entries one lesson run keeps (a learner command, an answer, a step change each add
# one; going back does not remove any): a bound on what a stored lesson replays.
MAX_JOURNAL = 10_000
JOURNAL_OPS = ("start", "goto", "command", "perform", "answer")


class LessonUsageError(ValueError):
    """A request the runner cannot honour (unknown question, a choice that is not offered)."""


@dataclass(slots=True)
class _Mark:
    """A History position with a private copy of the cluster at that moment."""

    history: History
    cluster: Cluster
    cursor: int
    events: int
    time: float


@dataclass(slots=True)
class _StepState:
    mark: _Mark
    first_event: int  # narration seq at which the step began
    ready_time: float = 0.0  # simulated time when the scene was set
    ready_real: float = 0.0
    matchers: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    done: dict[str, str] = field(default_factory=dict)  # task id -> "learner" | "lesson"
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


class LessonRunner:
    """Runs one lesson on its own History; see the module docstring and docs/lessons.md."""

    def __init__(self, lesson: Lesson, clock: Callable[[], float] = time.monotonic) -> None:
        self.lesson = lesson
        self.clock = clock
        self.history = History(lesson.setup)
        self.generation = 0  # bumped whenever self.history becomes a different object
        self._steps: list[_StepState] = []
        # What the learner did, in order: {"op", "events", "time", ...its arguments}.
        self.journal: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ navigation

    @property
    def current(self) -> int:
        """Index of the current step (-1 before :meth:`start`)."""
        return len(self._steps) - 1

    @property
    def step(self) -> Step:
        if not self._steps:
            raise LessonUsageError("the lesson has not started; call start()")
        return self.lesson.steps[self.current]

    def start(self) -> None:
        """Begin the lesson from its first step on a fresh cluster."""
        at = self._at()
        self._start()
        self._record("start", at)

    def _start(self) -> None:
        self._new_history(self.lesson.setup)
        self._steps = []
        self._begin(0)

    def goto(self, index: int) -> None:
        """Go to step ``index``: back restores it as it began; forward completes the steps
        in between (their tasks and predictions) the way the lesson would."""
        if isinstance(index, bool) or not isinstance(index, int) or not (
            0 <= index < len(self.lesson.steps)
        ):
            raise LessonUsageError(
                f"no step {index!r}; this lesson has steps 0..{len(self.lesson.steps) - 1}"
            )
        at = self._at()
        if not self._steps:
            self._start()
        if index <= self.current:
            mark = self._steps[index].mark
            del self._steps[index:]
            self._restore(mark)
            self._begin(index)
        else:
            while self.current < index:
                self._complete_current()
                self._begin(self.current + 1)
        self._record("goto", at, step=index)

    def next(self) -> None:
        """Go to the following step (completing this one first)."""
        self.goto(self.current + 1)

    def restart_step(self) -> None:
        """Back to the beginning of the current step (after experimenting)."""
        self.goto(self.current)

    # ------------------------------------------------------------------ the journal

    def redo(self, entry: Any) -> None:
        """Repeat one :attr:`journal` entry of another runner of this lesson; the caller has
        put :attr:`history` where the entry was made (``events``, ``time``) first.

        Raises LessonUsageError or CommandError for an entry this lesson cannot repeat.
        """
        if not isinstance(entry, dict):
            raise LessonUsageError("a journal entry must be an object")
        op = entry.get("op")
        if op == "start":
            self.start()
        elif op == "goto":
            self.goto(entry.get("step"))  # type: ignore[arg-type] # goto checks it
        elif op == "command":
            self.on_learner_command(entry.get("command"))
        elif op == "perform":
            task = entry.get("task")
            if not isinstance(task, str):
                raise LessonUsageError("a show-me names its task")
            performed = len(self.journal)
            self.perform(task)
            if len(self.journal) == performed:
                raise LessonUsageError(f"task {task!r} was done already")
        elif op == "answer":
            question = entry.get("question")
            if not isinstance(question, str):
                raise LessonUsageError("an answer names its question")
            answered = len(self.journal)
            result = self.answer(question, entry.get("choice"))
            if len(self.journal) == answered:
                raise LessonUsageError(f"question {question!r} was answered already")
            if "watch" in entry:
                # What the learner was shown: the narration it came from may be older than the
                # checkpoint a restore started from (raftviz/service/store/lessons.py).
                result["watch"] = self.journal[-1]["watch"] = _checked_watch(
                    entry["watch"], next(q for q in self.step.questions if q.id == question)
                )
        else:
            raise LessonUsageError(f"unknown journal entry {op!r}; entries are "
                                   f"{', '.join(JOURNAL_OPS)}")

    def adopt(self, history: History) -> None:
        """Go on with ``history`` in place of :attr:`history`: the same run, rebuilt apart
        (the same configuration and command log, standing at a later position)."""
        old = self.history
        for state in self._steps:
            if state.mark.history is old:
                state.mark.history = history
        self.history = history

    def _at(self) -> tuple[int, float]:
        if len(self.journal) >= MAX_JOURNAL:
            raise CommandError(
                f"this lesson has recorded {MAX_JOURNAL} actions, the most one run keeps; "
                "start the lesson again"
            )
        return self.history.cluster.events_processed, self.history.now

    def _record(self, op: str, at: tuple[int, float], **fields: Any) -> None:
        self.journal.append({"op": op, "events": at[0], "time": at[1], **fields})

    # ------------------------------------------------------------------ the learner

    def on_learner_command(self, data: Any) -> list[str]:
        """Apply a learner's command (JSON) and return the ids of the tasks it completed (at
        most one: the first unfinished task of the step whose matcher fits).

        Raises CommandError (nothing changes) when the engine refuses the command.
        """
        state = self._state()
        at = self._at()
        command = parse_command(data)
        envelope = self._envelope(command)
        self.history.apply(command)
        completed = self._check_tasks(state, command, envelope, by="learner")
        self._record("command", at, command=command.to_json())
        return completed

    def solution_command(self, task_id: str) -> dict[str, Any]:
        """The task's solution as the JSON command a learner would send right now."""
        task = self._task(task_id)
        try:
            return self._resolve_command(task.solution)
        except ResolveError as exc:
            raise CommandError(f"task {task.id!r} cannot be done now: {exc}") from None

    def perform(self, task_id: str) -> list[str]:
        """Do a task for the learner ("show me"): apply its solution as a learner command and
        return the ids of the tasks it completed (none if the task is done already).

        Raises CommandError (nothing changes) when the engine refuses the solution or when,
        resolved now, it would not do the task (the task asks for the leader as the step
        began, say, and the learner has since crashed it: "$leader" now names another node).
        """
        at = self._at()
        completed = self._perform(task_id)
        if completed is None:
            return []
        # Recorded whenever the solution went into the History, even if it completed nothing:
        # a redo must apply it too, or the journal no longer makes the run it recorded.
        self._record("perform", at, task=task_id)
        return completed

    def _perform(self, task_id: str) -> list[str] | None:
        """Apply the task's solution (None: the task is done already, nothing was applied)."""
        state = self._state()
        task = self._task(task_id)
        if task.id in state.done:
            return None
        data = self.solution_command(task.id)
        command = parse_command(data)
        envelope = self._envelope(command)
        matcher = state.matchers.get(task.id) or self._resolve_matcher(task)
        if matcher is None or not self._matches(matcher, command.to_json(), envelope):
            wants = "cannot be worked out now" if matcher is None else _compact(matcher)
            raise CommandError(
                f"task {task.id!r} cannot be done for you now: its solution here would be "
                f"{_compact(data)}, which does not do what the task asks ({wants})"
            )
        self.history.apply(command)
        return self._check_tasks(state, command, envelope, by="lesson")

    def answer(self, question_id: str, choice: Any) -> dict[str, Any]:
        """Grade an answer. A prediction runs its ``then`` actions first and compares the
        choice with what the probe reads from the cluster; answering again returns the first
        result."""
        state = self._state()
        question = next((q for q in self.step.questions if q.id == question_id), None)
        if question is None:
            ids = ", ".join(q.id for q in self.step.questions) or "none"
            raise LessonUsageError(
                f"no question {question_id!r} in this step; its questions: {ids}"
            )
        self._check_choice(question, choice)
        if question_id in state.answers:
            return state.answers[question_id]
        at = self._at()
        failures: list[str] = []
        if question.predict:
            missing = [t.id for t in self.step.tasks if t.id not in state.done]
            if missing:
                raise LessonUsageError(
                    "do this step's tasks before predicting what happens next: "
                    + ", ".join(missing)
                )
            since = self.history.cluster.next_event_seq
            failures = self._run(question.then)
            actual = probe(question.probe, self.history.cluster)
        else:
            since = state.first_event
            actual = question.answer
        result = {
            "question": question.id,
            "choice": choice,
            "correct": _same(choice, actual, question.tolerance),
            "actual": actual,
            "actual_label": _label(question, actual),
            "explanation": question.explanation,
            "explanation_html": render_markdown(question.explanation),
            "watch": self._watch(question, since, state.first_event),
            "failures": failures,
        }
        state.answers[question.id] = result
        self._record("answer", at, question=question.id, choice=choice, watch=result["watch"])
        return result

    def hint_due(self) -> list[dict[str, Any]]:
        """Hints of unfinished tasks whose time has come (simulated ms or real seconds)."""
        state = self._state()
        due = []
        waited_ms = self.history.now - state.ready_time
        waited_s = self.clock() - state.ready_real
        for task in self.step.tasks:
            if task.id in state.done or not task.hint:
                continue
            after_ms, after_s = task.hint_after_ms, task.hint_after_s
            if after_ms is None and after_s is None:
                after_s = DEFAULT_HINT_AFTER_S
            if (after_ms is not None and waited_ms >= after_ms) or (
                after_s is not None and waited_s >= after_s
            ):
                due.append({"task": task.id, "hint_html": render_markdown(task.hint)})
        return due

    def check_expectations(self) -> list[str]:
        """What does not hold now of the step's ``expect`` list, plus what went wrong while
        running the step's own actions (a command refused, a run_until not reached)."""
        state = self._state()
        failures = list(state.failures)
        for e, spec in enumerate(self.step.expect):
            try:
                ok = holds(spec, self.history.cluster)
            except ResolveError as exc:
                failures.append(f"expect[{e}] ({describe_condition(spec)}): {exc}")
                continue
            if not ok:
                failures.append(f"expect[{e}] ({describe_condition(spec)}) does not hold")
        return [f"step {self.step.id!r} {f}" for f in failures]

    def state(self) -> dict[str, Any]:
        """The lesson as the page shows it (``*_html`` fields are safe HTML)."""
        lesson = self.lesson
        if not self._steps:
            return {"lesson": self._lesson_json(), "started": False}
        state = self._state()
        step = self.step
        hints = {h["task"]: h["hint_html"] for h in self.hint_due()}
        tasks_total = sum(len(s.tasks) for s in lesson.steps)
        tasks_done = sum(len(s.done) for s in self._steps)
        answered = [a for s in self._steps for a in s.answers.values()]
        last = self.current == len(lesson.steps) - 1
        return {
            "lesson": self._lesson_json(),
            "started": True,
            "generation": self.generation,
            "step": {
                "index": self.current,
                "id": step.id,
                "title": step.title,
                "html": render_markdown(step.text),
                "tasks": [
                    {
                        "id": t.id,
                        "html": render_markdown(t.text),
                        "done": t.id in state.done,
                        "done_by": state.done.get(t.id),
                        "hint_html": hints.get(t.id),
                    }
                    for t in step.tasks
                ],
                "questions": [self._question_json(q, state) for q in step.questions],
                "expect": [describe_condition(e) for e in step.expect],
                "started_at": state.mark.time,
                "ready_at": state.ready_time,
                "problems": list(state.failures),
            },
            "progress": {
                "step": self.current,
                "steps": len(lesson.steps),
                "tasks_done": tasks_done,
                "tasks_total": tasks_total,
                "questions_answered": len(answered),
                "questions_correct": sum(1 for a in answered if a["correct"]),
                "finished": last and self._step_complete(state, step),
            },
            "now": self.history.now,
        }

    # ------------------------------------------------------------------ internals

    def _state(self) -> _StepState:
        if not self._steps:
            raise LessonUsageError("the lesson has not started; call start()")
        return self._steps[-1]

    def _task(self, task_id: str) -> Task:
        task = next((t for t in self.step.tasks if t.id == task_id), None)
        if task is None:
            ids = ", ".join(t.id for t in self.step.tasks) or "none"
            raise LessonUsageError(f"no task {task_id!r} in this step; its tasks: {ids}")
        return task

    def _new_history(self, config: ClusterConfig) -> None:
        self.history = History(config)
        self.generation += 1

    def _begin(self, index: int) -> None:
        step = self.lesson.steps[index]
        if step.setup is not None:
            self._new_history(step.setup)
        cluster = self.history.cluster
        state = _StepState(self._mark(), cluster.next_event_seq)
        self._steps.append(state)
        state.failures += self._run(step.actions)
        state.ready_time = self.history.now
        state.ready_real = self.clock()
        for task in step.tasks:
            state.matchers[task.id] = self._resolve_matcher(task)

    def _complete_current(self) -> None:
        """Finish the current step the way the lesson would, before moving on."""
        state = self._state()
        for task in self.step.tasks:
            if task.id not in state.done:
                try:
                    self._perform(task.id)
                except CommandError as exc:
                    state.failures.append(f"tasks[{task.id}]: {exc}")
        for question in self.step.questions:
            if question.predict and question.id not in state.answers:
                state.failures += self._run(question.then)

    def _mark(self) -> _Mark:
        h = self.history
        return _Mark(h, copy.deepcopy(h.cluster), h.cursor, h.cluster.events_processed, h.now)

    def _restore(self, mark: _Mark) -> None:
        """Put the History back exactly at ``mark`` and drop what came after it.

        History has no public "restore a position" call: ``seek`` works by time, which cannot
        tell apart moments at the same instant. So the runner keeps its own copy of the
        cluster and trims the command log and checkpoints as History's own fork does.
        """
        h = mark.history
        if h is not self.history:
            self.history = h
            self.generation += 1
        h.cluster = copy.deepcopy(mark.cluster)
        h.cluster.fork_record()
        del h.log[mark.cursor :]
        h.cursor = mark.cursor
        position = (mark.events, mark.time)
        h.checkpoints = [
            cp for cp in h.checkpoints
            if (cp.events, cp.time) <= position and cp.cursor <= mark.cursor
        ]
        h.horizon = mark.time

    def _run(self, actions: tuple[Action, ...]) -> list[str]:
        """Run lesson actions; returns what went wrong, each with where the action is."""
        failures = []
        for action in actions:
            where = action.where
            try:
                if action.kind == "command":
                    assert action.command is not None
                    self.history.apply_json(self._resolve_command(action.command))
                elif action.kind == "run":
                    self.history.run_for(action.ms)
                else:
                    condition = action.condition
                    if not self.history.run_until_condition(_holding(condition), action.max_ms):
                        failures.append(
                            f"{where}: {describe_condition(condition)} was not reached within "
                            f"{action.max_ms:g} ms"
                        )
            except (CommandError, ResolveError) as exc:
                failures.append(f"{where}: {exc}")
        return failures

    def _resolve_command(self, command: dict[str, Any]) -> dict[str, Any]:
        cluster = self.history.cluster
        data = dict(command)
        if data.get("type") in ("deliver", "drop") and isinstance(data.get("id"), dict):
            data["id"] = select_message(data["id"], cluster)
        resolved = resolve(data, cluster)
        assert isinstance(resolved, dict)
        return resolved

    def _resolve_matcher(self, task: Task) -> dict[str, Any] | None:
        try:
            resolved = resolve(task.match, self.history.cluster)
        except ResolveError:
            return None  # resolved again when the learner acts
        assert isinstance(resolved, dict)
        return resolved

    def _envelope(self, command: SimCommand) -> Envelope | None:
        if command.type in ("deliver", "drop"):
            return self.history.cluster.network.in_flight.get(command.to_json()["id"])
        return None

    def _check_tasks(self, state: _StepState, command: SimCommand, envelope: Envelope | None,
                     by: str) -> list[str]:
        completed = []
        data = command.to_json()
        for task in self.step.tasks:
            if task.id in state.done:
                continue
            matcher = state.matchers.get(task.id) or self._resolve_matcher(task)
            if matcher is None or not self._matches(matcher, data, envelope):
                continue
            state.done[task.id] = by
            completed.append(task.id)
            state.failures += self._run(task.then)
            break  # one command does one task: "crash two nodes" takes two crashes
        return completed

    def _matches(self, matcher: dict[str, Any], data: dict[str, Any],
                 envelope: Envelope | None) -> bool:
        if matcher["type"] != data["type"]:
            return False
        size = self.history.config.size
        for key, expected in matcher.items():
            if key == "type":
                continue
            if key == "isolates":
                group = _group_of(data.get("groups", []), expected)
                if group is None or 2 * len(group) > size:
                    return False
            elif key == "separates":
                a = _group_index(data.get("groups", []), expected[0])
                b = _group_index(data.get("groups", []), expected[1])
                if a is None or b is None or a == b:
                    return False
            elif key == "message":
                if envelope is None or not message_matches(
                    expected, envelope.msg, self.history.cluster
                ):
                    return False
            elif not _value_matches(expected, data.get(key)):
                return False
        return True

    def _watch(self, question: Question, since: int, step_start: int) -> list[dict[str, Any]]:
        """For each ``watch`` pattern (by its index), the first narration event that fits:
        from ``since`` (what the question's own actions caused) or else from the start of the
        step. Patterns that match nothing are left out."""
        found = []
        narration = list(self.history.cluster.narration)
        for index, pattern in enumerate(question.watch):
            for start in (since, step_start):
                match = next(
                    (
                        e for e in narration
                        if e.seq >= start
                        and pattern.get("node", e.node) == e.node
                        and pattern.get("kind", e.kind) == e.kind
                        and pattern.get("text", "") in e.text
                    ),
                    None,
                )
                if match is not None:
                    found.append({"pattern": index, "seq": match.seq, "time": match.time,
                                  "node": match.node, "kind": match.kind, "text": match.text})
                    break
        return found

    def _check_choice(self, question: Question, choice: Any) -> None:
        if question.kind == "number":
            if isinstance(choice, bool) or not isinstance(choice, (int, float)):
                raise LessonUsageError(f"question {question.id!r} takes a number")
            return
        if not any(_same(choice, c.value, 0.0) for c in question.choices):
            raise LessonUsageError(f"{choice!r} is not one of the choices of {question.id!r}")

    def _step_complete(self, state: _StepState, step: Step) -> bool:
        return all(t.id in state.done for t in step.tasks) and all(
            q.id in state.answers for q in step.questions
        )

    def _question_json(self, q: Question, state: _StepState) -> dict[str, Any]:
        return {
            "id": q.id,
            "kind": q.kind,
            "predict": q.predict,
            "html": render_markdown(q.prompt),
            "choices": [
                {"label_html": render_inline(c.label), "value": c.value} for c in q.choices
            ],
            "result": state.answers.get(q.id),
        }

    def _lesson_json(self) -> dict[str, Any]:
        return {
            **self.lesson.summary_json(),
            "step_titles": [{"id": s.id, "title": s.title} for s in self.lesson.steps],
        }


_WATCH_FIELDS: dict[str, type | tuple[type, ...]] = {
    "pattern": int, "seq": int, "time": (int, float), "node": str, "kind": str, "text": str,
}


def _checked_watch(watch: Any, question: Question) -> list[dict[str, Any]]:
    """A journal's ``watch`` list, checked field by field (it comes from a store)."""
    if not isinstance(watch, list) or len(watch) > len(question.watch):
        raise LessonUsageError(f"question {question.id!r} watches {len(question.watch)} patterns")
    for item in watch:
        if not isinstance(item, dict) or set(item) != set(_WATCH_FIELDS) or any(
            isinstance(item[k], bool) or not isinstance(item[k], t)
            for k, t in _WATCH_FIELDS.items()
        ):
            raise LessonUsageError(f"a watched event must have {', '.join(_WATCH_FIELDS)}")
        if not 0 <= item["pattern"] < len(question.watch) or len(item["text"]) > 1000:
            raise LessonUsageError("a watched event is out of range")
    return watch


def _compact(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), sort_keys=True, default=str)


def _holding(condition: Any) -> Callable[[Cluster], bool]:
    return lambda cluster: holds(condition, cluster)


def _same(a: Any, b: Any, tolerance: float) -> bool:
    numbers = (int, float)
    if (
        isinstance(a, numbers) and isinstance(b, numbers)
        and not isinstance(a, bool) and not isinstance(b, bool)
    ):
        return abs(a - b) <= tolerance
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _label(question: Question, value: Any) -> str | None:
    for c in question.choices:
        if _same(c.value, value, question.tolerance):
            return c.label
    return None


def _group_of(groups: list[list[str]], node: str) -> list[str] | None:
    return next((g for g in groups if node in g), None)


def _group_index(groups: list[list[str]], node: str) -> int | None:
    return next((i for i, g in enumerate(groups) if node in g), None)


def _value_matches(expected: Any, actual: Any) -> bool:
    if isinstance(expected, dict) and expected and set(expected) <= COMPARATORS:
        for op, bound in expected.items():
            if op == "one_of":
                if not any(_value_matches(b, actual) for b in bound):
                    return False
                continue
            if isinstance(actual, bool) or not isinstance(actual, (int, float)):
                return False
            if not {"lt": actual < bound, "le": actual <= bound, "gt": actual > bound,
                    "ge": actual >= bound}[op]:
                return False
        return True
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            _value_matches(v, actual.get(k)) for k, v in expected.items()
        )
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        return isinstance(actual, (int, float)) and not isinstance(actual, bool) and (
            expected == actual
        )
    return bool(expected == actual)
