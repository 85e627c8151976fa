"""``python -m raftviz lessons check [FILES...]``, and playing a lesson through headless.

:func:`play_through` does what a diligent learner would: every task (by its solution), every
question (with the stored answer), and checks each step's expectations. For a prediction the
stored answer must equal what the simulation then does, so a lesson whose text has drifted
from the engine's behaviour fails here rather than in front of a student.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from raftviz.lessons.model import Lesson, LessonError, load_lesson_file, load_lessons
from raftviz.lessons.runner import LessonRunner, LessonUsageError
from raftviz.sim.engine.cluster import CommandError

LESSONS_FOLDER = Path(__file__).resolve().parent.parent.parent / "lessons"


def play_through(lesson: Lesson) -> list[str]:
    """Run a lesson from start to end as a learner who does everything; returns problems."""
    problems: list[str] = []
    runner = LessonRunner(lesson)
    runner.start()
    json.dumps(runner.state())  # the page's view must always be JSON
    for index, step in enumerate(lesson.steps):
        if index:
            runner.goto(index)
        where = f"step {step.id!r}"
        for task in step.tasks:
            try:
                # Exactly what the page sends: the solution as plain JSON, no references left.
                done = runner.on_learner_command(runner.solution_command(task.id))
            except CommandError as exc:
                problems.append(f"{where} tasks[{task.id}]: the solution was refused: {exc}")
                continue
            if task.id not in done:
                problems.append(
                    f"{where} tasks[{task.id}]: the solution does not satisfy the matcher"
                )
        for question in step.questions:
            try:
                result = runner.answer(question.id, question.answer)
            except LessonUsageError as exc:  # e.g. a question asked before its tasks are done
                problems.append(f"{where} questions[{question.id}]: {exc}")
                continue
            problems += [f"{where} {f}" for f in result["failures"]]
            if not result["correct"]:
                problems.append(
                    f"{where} questions[{question.id}]: stored answer {question.answer!r} but "
                    f"the simulation gives {result['actual']!r}"
                )
            problems += [f"{where} questions[{question.id}].watch[{i}]: {p}"
                         for i, p in _watch_problems(question.watch, result["watch"])]
        problems += runner.check_expectations()
        json.dumps(runner.state())
    return [f"{lesson.file}: {p}" for p in problems]


WATCH_TOLERANCE_MS = 50.0


def _watch_problems(patterns: tuple[dict[str, Any], ...], found: list[dict[str, Any]]
                    ) -> list[tuple[int, str]]:
    """A watched event must happen, and near ``at_ms`` when the explanation quotes a time."""
    seen = {item["pattern"]: item for item in found}
    problems = []
    for i, pattern in enumerate(patterns):
        event = seen.get(i)
        if event is None:
            problems.append((i, f"no event like {pattern} happened"))
        elif "at_ms" in pattern and abs(event["time"] - pattern["at_ms"]) > WATCH_TOLERANCE_MS:
            problems.append((i, f"the event came at {event['time']:g} ms, not near "
                                f"{pattern['at_ms']:g} ms: {event['text']}"))
    return problems


def lessons_check_main(argv: list[str], out: TextIO | None = None) -> int:
    """``raftviz lessons check [--run] [FILES or FOLDERS...]`` (argv is what follows
    ``check``). Prints every problem as ``file: step 'id' field: message`` and a summary;
    returns 1 if there was any problem, 0 otherwise, 2 for bad arguments."""
    out = out or sys.stdout
    parser = argparse.ArgumentParser(
        prog="raftviz lessons check",
        description="Validate lesson files (structure and meaning). With --run, also play "
        "every lesson through on the simulator and check its expectations and answers.",
    )
    parser.add_argument("paths", nargs="*", type=Path, metavar="FILE",
                        help=f"lesson files or folders (default: {LESSONS_FOLDER})")
    parser.add_argument("--run", action="store_true",
                        help="also play each lesson through headless (slower)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    lessons: list[Lesson] = []
    errors: list[LessonError] = []
    files = 0
    for path in args.paths or [LESSONS_FOLDER]:
        if path.is_dir():
            found, problems = load_lessons(path)
            files += len(list(path.glob("*.yaml"))) + len(list(path.glob("interview/*.yaml")))
        else:
            lesson, problems = load_lesson_file(path)
            found = [lesson] if lesson else []
            files += 1
        lessons += found
        errors += problems
    messages = [str(e) for e in errors]
    if args.run:
        for lesson in lessons:
            messages += play_through(lesson)
    for message in messages:
        print(message, file=out)
    broken = len({e.file for e in errors})
    played = " and played through" if args.run else ""
    print(
        f"{files} lesson file(s) checked{played}: {len(lessons)} loaded "
        f"({sum(1 for x in lessons if x.kind == 'lesson')} lessons, "
        f"{sum(1 for x in lessons if x.kind == 'interview')} interview cards), "
        f"{broken} unavailable, {len(messages)} problem(s)",
        file=out,
    )
    return 1 if messages else 0
