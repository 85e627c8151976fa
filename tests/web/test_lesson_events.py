"""The lesson events over Socket.IO: list, start, navigate, answer, show me, exit, bad input.

Each test drives a real app through Flask-SocketIO's test client (tests/web/conftest.py) and
compares what the page is told with what a LessonRunner does on its own.
"""

from __future__ import annotations

from typing import Any

import pytest

from raftviz.lessons import LESSONS_FOLDER, LessonRunner, load_lessons
from raftviz.sim.snapshot import snapshot
from tests.web.conftest import Page

LESSONS = {x.id: x for x in load_lessons(LESSONS_FOLDER)[0]}
SPLIT_BRAIN = "split-brain"


def lesson_events(page: Page) -> list[dict[str, Any]]:
    """The `lesson` events this page received since the last call (frames are applied too)."""
    got = []
    for message in page.client.get_received():
        if message["name"] == "frame":
            page.apply(message["args"][0])
            page.frames.append(message["args"][0])
        elif message["name"] == "lesson":
            got.append(message["args"][0])
    return got


def send(page: Page, event: str, *args: Any) -> dict[str, Any]:
    ack = page.client.emit(event, *args, callback=True)
    assert isinstance(ack, dict), ack
    return ack


def started(page: Page, lesson_id: str = SPLIT_BRAIN, **extra: Any) -> dict[str, Any]:
    ack = send(page, "lesson_start", {"id": lesson_id, **extra})
    assert ack["ok"] is True, ack
    return ack


def test_list_gives_lessons_and_interview_cards(tab: Page) -> None:
    ack = tab.ok("lesson_list")
    cat = ack["catalog"]
    ids = [x["id"] for x in cat["lessons"]]
    assert SPLIT_BRAIN in ids
    assert cat["interview"] and all(x["kind"] == "interview" for x in cat["interview"])
    for entry in cat["lessons"] + cat["interview"]:
        assert {"id", "title", "summary", "minutes", "kind", "section", "steps"} <= set(entry)
    assert cat["unavailable"] == []


def test_start_replaces_the_cluster_and_sends_a_full_frame_and_the_state(tab: Page) -> None:
    lesson_events(tab)
    ack = started(tab)
    state = ack["state"]
    assert state["started"] and state["step"]["index"] == 0
    assert state["lesson"]["id"] == SPLIT_BRAIN
    assert "<script" not in state["step"]["html"]
    events = lesson_events(tab)
    assert events[-1]["state"]["step"]["id"] == state["step"]["id"]
    assert tab.frames[-1]["full"] is True
    runner = tab.session.lesson
    assert runner is not None and tab.session.history is runner.history
    # The same lesson run on its own reaches the same cluster.
    alone = LessonRunner(LESSONS[SPLIT_BRAIN])
    alone.start()
    assert snapshot(alone.history.cluster)["time"] == tab.frames[-1]["time"]
    tab.assert_in_sync()


def test_next_then_back_restores_the_cluster_as_the_step_began(tab: Page) -> None:
    started(tab)
    first = snapshot(tab.session.history.cluster)
    ack = send(tab, "lesson_next", {})
    assert ack["ok"] and ack["state"]["step"]["index"] == 1
    lesson_events(tab)
    assert tab.frames[-1]["time"] >= first["time"]
    ack = send(tab, "lesson_back", {})
    assert ack["ok"] and ack["state"]["step"]["index"] == 0
    events = lesson_events(tab)
    assert events[-1]["state"]["step"]["index"] == 0
    assert tab.frames[-1]["full"] is True
    again = snapshot(tab.session.history.cluster)
    assert again["time"] == first["time"]
    assert again["nodes"] == first["nodes"]
    tab.assert_in_sync()


def test_goto_and_start_at_a_step(tab: Page) -> None:
    started(tab, step=2)
    assert tab.session.lesson is not None and tab.session.lesson.current == 2
    ack = send(tab, "lesson_goto", {"step": 0})
    assert ack["ok"] and ack["state"]["step"]["index"] == 0


def first_question(lesson_id: str) -> tuple[int, Any, Any]:
    """The first step with a quiz or prediction question that has no tasks, and its question."""
    for i, step in enumerate(LESSONS[lesson_id].steps):
        if step.questions and not step.tasks:
            return i, step, step.questions[0]
    raise AssertionError("no question without tasks")


@pytest.mark.parametrize("lesson_id", [SPLIT_BRAIN, "two-of-five-down"])
def test_answer_grading_agrees_with_the_runner(tab: Page, lesson_id: str) -> None:
    index, step, question = first_question(lesson_id)
    wrong = next((c.value for c in question.choices if c.value != question.answer), None)
    choice = question.answer if wrong is None else wrong
    started(tab, lesson_id, step=index)
    ack = send(tab, "lesson_answer", {"question": question.id, "choice": choice})
    assert ack["ok"], ack
    alone = LessonRunner(LESSONS[lesson_id])
    alone.start()
    alone.goto(index)
    expected = alone.answer(question.id, choice)
    result = ack["result"]
    for key in ("correct", "actual", "explanation_html", "watch"):
        assert result[key] == expected[key], key
    assert ack["state"]["step"]["questions"][0]["result"] is not None
    assert snapshot(tab.session.history.cluster)["time"] == snapshot(alone.history.cluster)["time"]
    tab.receive()
    tab.assert_in_sync()


def test_a_task_done_on_the_canvas_counts_and_show_me_does_the_next(tab: Page) -> None:
    lesson = LESSONS[SPLIT_BRAIN]
    index = next(i for i, s in enumerate(lesson.steps) if s.tasks)
    started(tab, step=index)
    runner = tab.session.lesson
    assert runner is not None
    task = lesson.steps[index].tasks[0]
    ack = send(tab, "command", {"command": runner.solution_command(task.id)})
    assert ack == {"ok": True, "completed": [task.id]}
    events = lesson_events(tab)
    done = {t["id"]: t["done_by"] for t in events[-1]["state"]["step"]["tasks"]}
    assert done[task.id] == "learner"
    rest = [t for t in lesson.steps[index].tasks if t.id != task.id]
    if rest:
        ack = send(tab, "lesson_show_me", {"task": rest[0].id})
        assert ack["ok"] and ack["completed"] == [rest[0].id]


def test_exit_keeps_the_cluster_and_commands_are_free_play_again(tab: Page) -> None:
    started(tab)
    history = tab.session.history
    assert send(tab, "lesson_exit", {}) == {"ok": True}
    assert tab.session.lesson is None and tab.session.history is history
    assert lesson_events(tab)[-1] == {"state": None}
    assert send(tab, "command", {"command": {"type": "heal"}}) == {"ok": True}
    assert send(tab, "lesson_state", {}) == {"ok": True, "state": None}


def test_reset_ends_the_lesson(tab: Page) -> None:
    started(tab)
    tab.ok("reset", {})
    assert tab.session.lesson is None


@pytest.mark.parametrize(
    ("event", "payload", "message"),
    [
        ("lesson_start", {"id": "no-such-lesson"}, "no lesson or interview card"),
        ("lesson_start", {"id": 3}, "id must be"),
        ("lesson_start", {}, "id must be"),
        ("lesson_start", {"id": SPLIT_BRAIN, "step": 99}, "no step 99"),
        ("lesson_start", {"id": SPLIT_BRAIN, "step": "1"}, "step must be"),
        ("lesson_start", {"id": SPLIT_BRAIN, "extra": 1}, "unexpected field"),
        ("lesson_goto", {"step": 1}, "no lesson is running"),
        ("lesson_next", {}, "no lesson is running"),
        ("lesson_answer", {"question": "q", "choice": 1}, "no lesson is running"),
        ("lesson_show_me", {"task": "t"}, "no lesson is running"),
        ("lesson_exit", {}, "no lesson is running"),
        ("lesson_list", {"x": 1}, "unexpected field"),
    ],
)
def test_bad_input_before_a_lesson_is_refused(
    tab: Page, event: str, payload: dict[str, Any], message: str
) -> None:
    before = snapshot(tab.session.history.cluster)
    error = tab.refused(event, payload)
    assert message in error
    assert tab.session.lesson is None
    assert snapshot(tab.session.history.cluster) == before


@pytest.mark.parametrize(
    ("event", "payload", "message"),
    [
        ("lesson_goto", {"step": -1}, "no step -1"),
        ("lesson_goto", {"step": 1000}, "no step 1000"),
        ("lesson_goto", {"step": 1.5}, "step must be"),
        ("lesson_goto", {"step": True}, "step must be"),
        ("lesson_back", {}, "first step"),
        ("lesson_answer", {"question": "nope", "choice": 1}, "no question 'nope'"),
        ("lesson_answer", {"question": "q", "choice": {"a": 1}}, "choice must be"),
        ("lesson_answer", {"question": "q"}, "choice is missing"),
        ("lesson_show_me", {"task": "nope"}, "no task 'nope'"),
        ("lesson_show_me", {"task": ["x"]}, "task must be"),
    ],
)
def test_bad_input_during_a_lesson_changes_nothing(
    tab: Page, event: str, payload: dict[str, Any], message: str
) -> None:
    started(tab)
    lesson_events(tab)
    runner = tab.session.lesson
    assert runner is not None
    before = (runner.current, snapshot(tab.session.history.cluster), runner.state())
    error = tab.refused(event, payload)
    assert message in error
    assert tab.session.lesson is runner
    assert (runner.current, snapshot(tab.session.history.cluster), runner.state()) == before


def test_a_prediction_before_the_tasks_is_refused(tab: Page) -> None:
    lesson = LESSONS[SPLIT_BRAIN]
    index, question = next(
        (i, q) for i, s in enumerate(lesson.steps) if s.tasks for q in s.questions if q.predict
    )
    started(tab, step=index)
    error = tab.refused(
        "lesson_answer", {"question": question.id, "choice": question.choices[0].value}
    )
    assert "tasks" in error


def test_a_broken_file_is_listed_as_unavailable_and_the_rest_still_start(
    server: Any, tmp_path: Any
) -> None:
    (tmp_path / "01-split-brain.yaml").write_text(
        (LESSONS_FOLDER / "02-split-brain.yaml").read_text()
    )
    (tmp_path / "02-broken.yaml").write_text("kind: lesson\nid: broken\ntitle: [unclosed\n")
    events = server.app.extensions["raftviz"].handlers.events
    events["lesson_list"][2].__self__.folder = tmp_path  # the LessonEvents behind the handlers
    page = server.page()
    cat = page.ok("lesson_list")["catalog"]
    assert [x["id"] for x in cat["lessons"]] == [SPLIT_BRAIN]
    assert [u["file"] for u in cat["unavailable"]] == [f"{tmp_path.name}/02-broken.yaml"]
    assert cat["unavailable"][0]["errors"]
    assert page.refused("lesson_start", {"id": "broken"})
    started(page)


# ------------------------------------------------------------------ a stored lesson


def test_a_lesson_comes_back_on_another_server_and_lesson_exit_is_stored(
    make_server: Any, tmp_path: Any
) -> None:
    """Two servers on one store, as a restart (or another worker) is: the page reconnects
    to the second with its token and its lesson is there; leaving it is stored too."""
    from raftviz.service.store.sqlite_store import SqliteStore

    first = make_server(store=SqliteStore(tmp_path / "s.sqlite3"))
    page = first.page()
    started(page)
    send(page, "lesson_answer", {"question": "votes-needed", "choice": 2})
    send(page, "lesson_next")
    before = send(page, "lesson_state")["state"]
    second = make_server(store=SqliteStore(tmp_path / "s.sqlite3"))
    again = second.page(page.token)
    assert again.token == page.token
    assert send(again, "lesson_state")["state"] == before
    assert snapshot(again.session.history.cluster) == snapshot(page.session.history.cluster)
    assert send(again, "lesson_exit")["ok"]
    third = make_server(store=SqliteStore(tmp_path / "s.sqlite3"))
    last = third.page(page.token)
    assert last.token == page.token
    assert send(last, "lesson_state")["state"] is None  # the cluster stays, the lesson does not
    assert snapshot(last.session.history.cluster) == snapshot(again.session.history.cluster)
