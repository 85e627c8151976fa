"""Socket.IO events of the guided-lesson player and interview mode (docs/lessons.md).

A session runs at most one :class:`~raftviz.lessons.LessonRunner` (``session.lesson``). While
it runs, the session shows the runner's History: after every lesson event the session's
``history`` is set to ``runner.history`` (a different object after a step with its own setup),
and every page of the session gets a frame (full when the cluster jumped) and a ``lesson`` event
with the runner's state. The events go through the lab's dispatcher (rate limit, payload checks,
acknowledgement), so they never raise and a refused one changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from raftviz.lessons import (
    LESSONS_FOLDER,
    Lesson,
    LessonRunner,
    LessonUsageError,
    catalog,
    load_lessons,
)
from raftviz.service.sessions import Connection, Session
from raftviz.web.events import MAX_PAYLOAD, Ack, BadRequest, EventHandlers, error, ok

MAX_ID = 100  # characters of a lesson, task or question id


def _only(event: str, data: dict[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(data) - allowed)
    if extra:
        expected = ", ".join(sorted(allowed)) or "no fields"
        raise BadRequest(f"{event}: unexpected field(s) {', '.join(map(repr, extra))}; "
                         f"expected {expected}")


def _text(data: dict[str, Any], name: str, event: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value or len(value) > MAX_ID:
        raise BadRequest(f"{event}: {name} must be a non-empty string of at most {MAX_ID} "
                         f"characters")
    return value


def _index(data: dict[str, Any], name: str, event: str) -> int:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{event}: {name} must be a whole number (a step index from 0)")
    return value


class LessonEvents:
    """The ``lesson_*`` events, added to the lab's :class:`EventHandlers` before it registers."""

    def __init__(self, handlers: EventHandlers, folder: Path = LESSONS_FOLDER) -> None:
        self.handlers = handlers
        self.folder = folder
        self._loaded: tuple[dict[str, Lesson], dict[str, Any]] | None = None

    def install(self) -> None:
        """Add the events to the dispatcher and route the lab's ``command`` through lessons."""
        events: dict[str, Callable[[Session, Connection, Any], Ack]] = {
            "lesson_list": self.lesson_list,
            "lesson_start": self.lesson_start,
            "lesson_goto": self.lesson_goto,
            "lesson_next": self.lesson_next,
            "lesson_back": self.lesson_back,
            "lesson_answer": self.lesson_answer,
            "lesson_show_me": self.lesson_show_me,
            "lesson_exit": self.lesson_exit,
            "lesson_state": self.lesson_state,
        }
        for name, handler in events.items():
            self.handlers.events[name] = (MAX_PAYLOAD, True, handler)
        self.handlers.after_lesson_command = self.broadcast
        self.handlers.manager.find_lesson = self.find  # to restore a stored session's lesson

    # ------------------------------------------------------------ lessons

    def _library(self) -> tuple[dict[str, Lesson], dict[str, Any]]:
        """Lessons by id and the catalog, read once (the files do not change while serving)."""
        if self._loaded is None:
            lessons, errors = load_lessons(self.folder)
            self._loaded = ({x.id: x for x in lessons}, catalog(lessons, errors))
        return self._loaded

    def find(self, lesson_id: str) -> Lesson | None:
        """The lesson (or interview card) with this id."""
        return self._library()[0].get(lesson_id)

    def _runner(self, session: Session, event: str) -> LessonRunner:
        runner = session.lesson
        if runner is None:
            raise BadRequest(f"{event}: no lesson is running; start one with lesson_start")
        return runner

    def _change(self, session: Session, event: str, act: Callable[[LessonRunner], Ack],
                full: bool = False) -> Ack:
        """Run ``act`` on the session's runner under its lock, then send frames (full ones when
        the cluster jumped or became another object) and the new state to every page."""
        runner = self._runner(session, event)

        def action() -> Ack:
            generation, history = runner.generation, runner.history
            result = act(runner)
            if full or runner.generation != generation or runner.history is not history:
                self._show(session, runner)
            return result

        result = self.handlers._act(session, action, heavy=True)
        self.broadcast(session)
        return result

    def _show(self, session: Session, runner: LessonRunner) -> None:
        """Make the session show the runner's cluster from scratch, paused."""
        session.history = runner.history
        session.playing = False
        session.need_full_frames()

    def broadcast(self, session: Session) -> None:
        """Send every page of the session the ``lesson`` event (the state, or null)."""
        with session.lock:
            state = None if session.lesson is None else self._state(session.lesson)
            sids = list(session.connections)
        for sid in sids:
            self.handlers.socketio.emit("lesson", {"state": state}, to=sid)

    @staticmethod
    def _state(runner: LessonRunner) -> dict[str, Any]:
        state = runner.state()
        if state.get("started"):
            state["hints"] = runner.hint_due()
        return state

    # ------------------------------------------------------------- events

    def lesson_list(self, session: Session, conn: Connection, data: dict[str, Any]) -> Ack:
        _only("lesson_list", data, set())
        return ok(catalog=self._library()[1])

    def lesson_start(self, session: Session, conn: Connection, data: dict[str, Any]) -> Ack:
        _only("lesson_start", data, {"id", "step"})
        lesson_id = _text(data, "id", "lesson_start")
        step = _index(data, "step", "lesson_start") if "step" in data else 0
        lessons = self._library()[0]
        lesson = lessons.get(lesson_id)
        if lesson is None:
            return error(f"lesson_start: no lesson or interview card {lesson_id!r}")
        if not 0 <= step < len(lesson.steps):
            return error(f"lesson_start: no step {step}; {lesson.title!r} has steps "
                         f"0..{len(lesson.steps) - 1}")
        if lesson.setup.size > session.limits.max_nodes:
            return error(f"this server runs clusters of at most {session.limits.max_nodes} nodes")

        def action() -> Ack:
            runner = LessonRunner(lesson)
            runner.start()
            if step:
                runner.goto(step)
            session.lesson = runner
            self._show(session, runner)
            return ok(state=self._state(runner))

        result = self.handlers._act(session, action, heavy=True)
        self.broadcast(session)
        return result

    def lesson_goto(self, session: Session, conn: Connection, data: dict[str, Any]) -> Ack:
        _only("lesson_goto", data, {"step"})
        step = _index(data, "step", "lesson_goto")
        runner = self._runner(session, "lesson_goto")
        if not 0 <= step < len(runner.lesson.steps):
            return error(f"lesson_goto: no step {step}; this lesson has steps "
                         f"0..{len(runner.lesson.steps) - 1}")
        return self._change(session, "lesson_goto", lambda r: self._go(r, step), full=True)

    def lesson_next(self, session: Session, conn: Connection, data: dict[str, Any]) -> Ack:
        _only("lesson_next", data, set())
        runner = self._runner(session, "lesson_next")
        if runner.current + 1 >= len(runner.lesson.steps):
            return error("lesson_next: this is the last step")
        return self._change(session, "lesson_next", lambda r: self._go(r, r.current + 1),
                            full=True)

    def lesson_back(self, session: Session, conn: Connection, data: dict[str, Any]) -> Ack:
        _only("lesson_back", data, set())
        runner = self._runner(session, "lesson_back")
        if runner.current <= 0:
            return error("lesson_back: this is the first step")
        return self._change(session, "lesson_back", lambda r: self._go(r, r.current - 1),
                            full=True)

    def _go(self, runner: LessonRunner, step: int) -> Ack:
        runner.goto(step)
        return ok(state=self._state(runner))

    def lesson_answer(self, session: Session, conn: Connection, data: dict[str, Any]) -> Ack:
        _only("lesson_answer", data, {"question", "choice"})
        question = _text(data, "question", "lesson_answer")
        if "choice" not in data:
            raise BadRequest("lesson_answer: choice is missing")
        choice = data["choice"]
        if isinstance(choice, (dict, list)):
            raise BadRequest("lesson_answer: choice must be a number, a string or a boolean")

        def act(runner: LessonRunner) -> Ack:
            try:
                result = runner.answer(question, choice)
            except LessonUsageError as exc:
                return error(str(exc))
            grading = {k: result[k] for k in ("question", "choice", "correct", "actual",
                                              "actual_label", "explanation_html", "watch")}
            return ok(result=grading, state=self._state(runner))

        return self._change(session, "lesson_answer", act)

    def lesson_show_me(self, session: Session, conn: Connection, data: dict[str, Any]) -> Ack:
        _only("lesson_show_me", data, {"task"})
        task = _text(data, "task", "lesson_show_me")

        def act(runner: LessonRunner) -> Ack:
            try:
                completed = runner.perform(task)
            except LessonUsageError as exc:
                return error(str(exc))
            return ok(completed=completed, state=self._state(runner))

        return self._change(session, "lesson_show_me", act)

    def lesson_exit(self, session: Session, conn: Connection, data: dict[str, Any]) -> Ack:
        _only("lesson_exit", data, set())
        self._runner(session, "lesson_exit")
        with session.lock:
            session.lesson = None  # the cluster stays: free play goes on from here
            self.handlers.manager.save(session)  # a restore must not bring the lesson back
            session.touch(self.handlers.manager.clock())
        self.broadcast(session)
        return ok()

    def lesson_state(self, session: Session, conn: Connection, data: dict[str, Any]) -> Ack:
        _only("lesson_state", data, set())
        with session.lock:
            runner = session.lesson
            return ok(state=None if runner is None else self._state(runner))
