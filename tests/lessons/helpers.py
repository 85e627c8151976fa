"""Helpers for lesson tests: build lessons from YAML text and read snapshots."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from raftviz.lessons.model import Lesson, LessonError, parse_lesson_text
from raftviz.sim.history import History
from raftviz.sim.snapshot import snapshot

HEADER = """\
id: demo
title: Demo
summary: A lesson for tests.
minutes: 1
section: tests
"""


def lesson_text(body: str, setup: str = "setup: {size: 3, seed: 2}") -> str:
    """A complete lesson file: the standard header, a setup line, then ``body`` (steps)."""
    return HEADER + setup + "\n" + textwrap.dedent(body)


def parse(text: str, name: str = "lessons/demo.yaml") -> tuple[Lesson | None, list[LessonError]]:
    return parse_lesson_text(text, name)


def build(body: str, setup: str = "setup: {size: 3, seed: 2}") -> Lesson:
    lesson, errors = parse(lesson_text(body, setup))
    assert not errors, [str(e) for e in errors]
    assert lesson is not None
    return lesson


def errors_of(text: str, name: str = "lessons/demo.yaml") -> list[str]:
    lesson, errors = parse(text, name)
    assert lesson is None, "expected the lesson to be refused"
    return [str(e) for e in errors]


def frozen(history: History) -> str:
    """Everything the page could see of a cluster, as one comparable text."""
    return json.dumps(snapshot(history.cluster), sort_keys=True)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
