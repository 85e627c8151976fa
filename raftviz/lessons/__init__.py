"""Guided lessons and interview cards: lesson files as data, validated, run on a live cluster.

- :mod:`raftviz.lessons.model`: reading and validating lesson files (``load_lessons``)
- :mod:`raftviz.lessons.runner`: :class:`LessonRunner`, one lesson driving one History
- :mod:`raftviz.lessons.probes`: references (``$leader``), conditions and probes
- :mod:`raftviz.lessons.markdown`: the safe Markdown subset (``render_markdown``)
- :mod:`raftviz.lessons.check`: ``python -m raftviz lessons check`` (``lessons_check_main``)

The lesson files themselves live in the repository's ``lessons/`` folder; docs/lessons.md
describes the format and the runner API.
"""

from raftviz.lessons.check import LESSONS_FOLDER, lessons_check_main, play_through
from raftviz.lessons.markdown import render_inline, render_markdown
from raftviz.lessons.model import (
    Lesson,
    LessonError,
    catalog,
    load_lesson_file,
    load_lessons,
)
from raftviz.lessons.runner import LessonRunner, LessonUsageError

__all__ = [
    "LESSONS_FOLDER",
    "Lesson",
    "LessonError",
    "LessonRunner",
    "LessonUsageError",
    "catalog",
    "lessons_check_main",
    "load_lesson_file",
    "load_lessons",
    "play_through",
    "render_inline",
    "render_markdown",
]
