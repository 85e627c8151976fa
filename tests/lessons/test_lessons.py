"""The real lessons: they load, they play through, and what they claim is what happens.

Every lesson and interview card runs headless from start to end with each task done by its
solution (through the same learner-command path as the page) and each question answered with
its stored answer. A prediction's stored answer must equal what the simulation then does, and
every step's expectations must hold.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from raftviz.lessons import LESSONS_FOLDER, LessonRunner, lessons_check_main, load_lessons
from raftviz.lessons.check import play_through
from raftviz.lessons.model import Lesson, load_lesson_file
from tests.lessons.helpers import frozen

LESSONS, ERRORS = load_lessons(LESSONS_FOLDER)
BY_ID = {lesson.id: lesson for lesson in LESSONS}
# CI lays a copy of shared/ beside the clone; developers have it beside the work tree.
ARTICLE = Path(__file__).resolve().parents[3] / "shared" / "seed" / "consensus-article.txt"


def test_every_lesson_file_loads() -> None:
    assert [str(e) for e in ERRORS] == []
    files = sorted(LESSONS_FOLDER.glob("*.yaml")) + sorted(
        (LESSONS_FOLDER / "interview").glob("*.yaml"))
    assert len(LESSONS) == len(files)


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.id)
def test_lesson_plays_through_and_its_answers_match_the_simulation(lesson: Lesson) -> None:
    assert play_through(lesson) == []


def test_the_curriculum_is_covered() -> None:
    lessons = [x for x in LESSONS if x.kind == "lesson"]
    cards = [x for x in LESSONS if x.kind == "interview"]
    assert len(lessons) >= 14
    assert len(cards) >= 15
    for lesson in lessons:
        assert 3 <= len(lesson.steps) <= 8, lesson.id
    for needed in ("what-consensus-means", "split-brain", "paxos", "leader-election",
                   "log-replication", "safety", "partitions", "availability-and-sizing",
                   "reads", "byzantine", "real-world-systems", "when-to-use-consensus",
                   "operations", "faq-and-interview"):
        assert needed in BY_ID, needed
    # Every card asks the learner to predict, and grades against the simulation.
    for card in cards:
        assert any(q.predict for s in card.steps for q in s.questions), card.id


def test_every_lesson_shows_something_happening() -> None:
    """Each lesson has at least one prediction graded by the simulation or one task."""
    for lesson in LESSONS:
        steps = lesson.steps
        assert any(s.tasks or any(q.predict for q in s.questions) for s in steps), lesson.id


def _texts(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in _texts(v)]
    return []


def _sentences(text: str) -> list[str]:
    flat = re.sub(r"[*`]", "", re.sub(r"\s+", " ", text))
    return [s.strip().lower() for s in re.split(r"(?<=[.!?:])\s", flat) if len(s.split()) >= 8]


@pytest.mark.skipif(not ARTICLE.exists(), reason="the curriculum article is not available")
def test_lessons_are_written_in_their_own_words() -> None:
    """No sentence of eight words or more is copied from the article."""
    article = re.sub(r"\s+", " ", ARTICLE.read_text(encoding="utf-8")).lower()
    copied = []
    for lesson in LESSONS:
        for sentence in (s for text in _texts(lesson.raw) for s in _sentences(text)):
            if sentence.rstrip(".!?:") in article:
                copied.append((lesson.id, sentence))
    assert copied == []


def test_going_back_to_a_step_restores_it_exactly_on_a_real_lesson() -> None:
    lesson = BY_ID["partitions"]
    runner = LessonRunner(lesson)
    runner.start()
    runner.goto(1)
    at_step1 = frozen(runner.history)
    runner.goto(2)
    runner.on_learner_command({"type": "crash", "node": "n3"})
    runner.history.run_for(500)
    runner.goto(1)
    assert frozen(runner.history) == at_step1


def test_lessons_check_on_the_real_folder_exits_0() -> None:
    out = io.StringIO()
    assert lessons_check_main([], out=out) == 0
    summary = out.getvalue().strip().splitlines()[-1]
    assert re.match(r"\d+ lesson file\(s\) checked: \d+ loaded \(\d+ lessons, \d+ interview "
                    r"cards\), 0 unavailable, 0 problem\(s\)", summary), summary


def test_lessons_check_reports_a_broken_file_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "02-split-brain.yaml"
    text = (LESSONS_FOLDER / "02-split-brain.yaml").read_text(encoding="utf-8")
    bad.write_text(text.replace("groups: [[n1], [n2, n3]]", "groups: [[n7], [n2, n3]]", 1),
                   encoding="utf-8")
    out = io.StringIO()
    assert lessons_check_main([str(bad)], out=out) == 1
    lines = out.getvalue().splitlines()
    assert lines[0] == (f"{bad}: step 'cut-off' tasks[0].solution: unknown node 'n7'; this "
                        f"cluster has n1..n3")
    assert lines[-1].endswith("1 unavailable, 1 problem(s)")
    assert load_lesson_file(bad)[0] is None


def test_lessons_check_run_plays_a_file(tmp_path: Path) -> None:
    source = (LESSONS_FOLDER / "interview").glob("*.yaml")
    card = sorted(source)[0]
    out = io.StringIO()
    assert lessons_check_main(["--run", str(card)], out=out) == 0
    assert "and played through" in out.getvalue()
    wrong = tmp_path / card.name
    text = card.read_text(encoding="utf-8")
    wrong.write_text(re.sub(r"(?m)^(\s+answer: )(.+)$", r"\g<1>999", text, count=1),
                     encoding="utf-8")
    out = io.StringIO()
    assert lessons_check_main(["--run", str(wrong)], out=out) == 1


def test_lessons_check_bad_arguments_exit_2() -> None:
    assert lessons_check_main(["--no-such-flag"], out=io.StringIO()) == 2


def test_lessons_check_run_reports_a_solution_that_misses_its_task(tmp_path: Path) -> None:
    """A task left undone makes the step's prediction unaskable: reported, not a traceback."""
    bad = tmp_path / "02-split-brain.yaml"
    text = (LESSONS_FOLDER / "02-split-brain.yaml").read_text(encoding="utf-8")
    bad.write_text(text.replace("solution: {type: partition, groups: [[n1], [n2, n3]]}",
                                "solution: {type: partition, groups: [[n2], [n1, n3]]}", 1),
                   encoding="utf-8")
    out = io.StringIO()
    assert lessons_check_main(["--run", str(bad)], out=out) == 1
    report = out.getvalue()
    assert "tasks[isolate-n1]: the solution does not satisfy the matcher" in report
    assert "questions[how-many-leaders]: do this step's tasks before predicting" in report
