"""A stored guided lesson: which lesson, and the runner's journal, replayed on restore.

While a lesson runs, the session's History is the lesson's, so the stored run (configuration,
commands, position) already holds its cluster. What it does not hold is the lesson itself: the
step, the tasks done, the answers graded, and the cluster as each earlier step began (for going
back). The runner is deterministic, so the journal of what the learner did (each entry with the
History position it was made at) rebuilds all of it: a new runner redoes the entries, each at
its position, and must arrive at exactly the stored command log, else the lesson file changed
or the record is damaged and the restore fails with a :class:`StoreError` for that session only.
The rebuilt History of the stored run (quick, from its checkpoint) then takes over from the
runner's own, at the stored position.
"""

from __future__ import annotations

import copy
import gc
import hashlib
import json
import math
from collections.abc import Callable
from typing import Any

from raftviz.lessons import Lesson, LessonRunner
from raftviz.lessons.runner import JOURNAL_OPS, MAX_JOURNAL
from raftviz.service.store.base import (
    LessonWrite,
    Position,
    StoredRun,
    StoreError,
    encode_command,
    replay_to,
)
from raftviz.sim.history import MAX_TRACE_TIME, History

LESSON_RECORD_VERSION = 1


# Lesson objects are loaded once per server: their digests are kept off the save path (a
# digest costs about 0.3 ms, a save during a lesson happens before every acknowledgement).
_DIGESTS: dict[int, tuple[Lesson, str]] = {}


def digest(lesson: Lesson) -> str:
    """What the lesson file said, so a journal is never replayed on an edited lesson."""
    cached = _DIGESTS.get(id(lesson))
    if cached is not None and cached[0] is lesson:
        return cached[1]
    text = json.dumps(lesson.raw, sort_keys=True, separators=(",", ":"), default=str)
    value = hashlib.sha256(text.encode()).hexdigest()
    if len(_DIGESTS) >= 256:
        _DIGESTS.clear()
    _DIGESTS[id(lesson)] = (lesson, value)
    return value


def encode_header(runner: LessonRunner) -> str:
    lesson = runner.lesson
    return json.dumps(
        {"version": LESSON_RECORD_VERSION, "id": lesson.id, "digest": digest(lesson)},
        separators=(",", ":"),
    )


def encode_entry(entry: dict[str, Any]) -> str:
    return json.dumps(entry, separators=(",", ":"), allow_nan=False)


def lesson_write(runner: LessonRunner | None, stored: int = 0) -> LessonWrite:
    """The write that brings the store from ``stored`` journal entries of ``runner`` to all of
    them (None: the session runs no lesson any more)."""
    if runner is None:
        return LessonWrite(None)
    entries = tuple(encode_entry(e) for e in runner.journal[stored:])
    return LessonWrite(encode_header(runner), stored, entries)


def find_stored_lesson(header: str, find: Callable[[str], Lesson | None] | None) -> Lesson:
    """The lesson a stored header names, checked against this server's copy of it."""
    try:
        data = json.loads(header)
    except (ValueError, RecursionError):
        raise StoreError("the stored lesson record is not valid JSON (truncated?)") from None
    if not isinstance(data, dict):
        raise StoreError("the stored lesson record is not an object")
    if data.get("version") != LESSON_RECORD_VERSION:
        raise StoreError(
            f"the stored lesson has record version {data.get('version')!r}; this server reads "
            f"version {LESSON_RECORD_VERSION} (it was written by another release of raftviz)"
        )
    lesson_id = data.get("id")
    if not isinstance(lesson_id, str) or not lesson_id:
        raise StoreError("the stored lesson record does not name its lesson")
    lesson = None if find is None else find(lesson_id)
    if lesson is None:
        raise StoreError(f"the stored lesson {lesson_id[:100]!r} is not on this server")
    if data.get("digest") != digest(lesson):
        raise StoreError(
            f"the lesson {lesson.title!r} was changed on the server since your progress in it "
            "was saved"
        )
    return lesson


def decode_journal(texts: tuple[str, ...]) -> list[dict[str, Any]]:
    if len(texts) > MAX_JOURNAL:
        raise StoreError(f"the stored lesson journal has {len(texts)} entries, too many")
    journal = []
    for i, text in enumerate(texts):
        try:
            entry = json.loads(text)
        except (ValueError, RecursionError):
            raise StoreError(f"stored lesson entry {i} is not valid JSON (truncated?)") from None
        if not isinstance(entry, dict) or entry.get("op") not in JOURNAL_OPS:
            raise StoreError(f"stored lesson entry {i} is not one of {', '.join(JOURNAL_OPS)}")
        events, time = entry.get("events"), entry.get("time")
        if isinstance(events, bool) or not isinstance(events, int) or events < 0:
            raise StoreError(f"stored lesson entry {i}: events must be a whole number >= 0")
        if (
            isinstance(time, bool) or not isinstance(time, (int, float))
            or not math.isfinite(time) or not 0 <= time <= MAX_TRACE_TIME
        ):
            raise StoreError(f"stored lesson entry {i}: time must be within "
                             f"0..{MAX_TRACE_TIME:g}")
        if i == 0 and entry["op"] != "start":
            raise StoreError("the stored lesson journal does not begin with its start")
        journal.append(entry)
    return journal


def move_to(history: History, events: int, time: float) -> None:
    """Put ``history`` exactly at (``events``, ``time``), back from a checkpoint if need be."""
    c = history.cluster
    if (c.events_processed, c.now) > (events, time):
        cp = max(
            (cp for cp in history.checkpoints if (cp.events, cp.time) <= (events, time)),
            key=lambda cp: (cp.events, cp.time),
        )
        history.cluster = copy.deepcopy(cp.cluster)  # as History.seek does
        history.cursor = cp.cursor
    replay_to(history, Position(events, time, max(time, history.horizon), 0.0))


def skip_ahead(mine: History, stored: History, target: tuple[int, float]) -> None:
    """Start ``mine`` from the stored run's latest checkpoint on its way to ``target`` when the
    two runs are the same up to it, instead of replaying to it (a learner who played ten
    minutes inside a step, then answered, would otherwise replay all ten).

    They are the same up to the checkpoint when they have one configuration and the commands
    before it: ``mine`` stands at a position reached by its own first commands, and goes on
    applying its logged commands as they come due, exactly as the stored run did.
    """
    if mine.config != stored.config:
        return
    here = (mine.cluster.events_processed, mine.now)
    for cp in reversed(stored.checkpoints):
        at = (cp.events, cp.time)
        if not here < at <= target:
            continue
        n = cp.cursor
        if mine.log[:n] != stored.log[:n]:
            continue
        if len(mine.log) > n and (mine.log[n].events, mine.log[n].time) <= at:
            continue  # mine has another command before the checkpoint
        mine.cluster = copy.deepcopy(cp.cluster)  # the checkpoint itself is never run
        mine.cursor = n
        mine.checkpoints.append(cp)
        mine.horizon = max(mine.horizon, cp.time)
        return


def resume_lesson(
    lesson: Lesson, journal: list[dict[str, Any]], run: StoredRun, history: History
) -> LessonRunner:
    """Redo ``journal`` on a new runner of ``lesson``; it then goes on with ``history`` (the
    stored run, rebuilt), which must be the very run the journal makes."""
    runner = LessonRunner(lesson)
    enabled = gc.isenabled()
    gc.disable()  # as rebuild does: replay makes no cycles
    try:
        for i, entry in enumerate(journal):
            try:
                if entry["op"] != "start":
                    target = (entry["events"], float(entry["time"]))
                    skip_ahead(runner.history, history, target)
                    move_to(runner.history, *target)
                runner.redo(entry)
            except Exception as exc:  # untrusted content: whatever it breaks, only this session
                raise StoreError(
                    f"stored lesson entry {i} ({entry['op']}) does not replay: {exc}"
                ) from None
    finally:
        if enabled:
            gc.enable()
    if len(runner.journal) != len(journal):  # an entry that changed nothing (a repeat)
        raise StoreError("the stored lesson journal repeats an action that changes nothing")
    mine = runner.history
    if mine.config != history.config or [encode_command(e) for e in mine.log] != run.commands:
        raise StoreError(
            f"the stored lesson {lesson.title!r} does not lead to the stored cluster "
            "(a damaged record, or a lesson file changed)"
        )
    runner.adopt(history)
    return runner
