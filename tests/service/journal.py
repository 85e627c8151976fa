"""Redo a lesson from a live runner's journal, as a restore does (through its stored form)."""

from __future__ import annotations

from raftviz.lessons import LessonRunner
from raftviz.service.store.lessons import decode_journal, encode_entry, move_to


def redone(live: LessonRunner) -> LessonRunner:
    """A fresh runner that redid ``live``'s journal entry by entry, at each entry's position,
    and stands where ``live`` stands."""
    journal = decode_journal(tuple(encode_entry(e) for e in live.journal))
    again = LessonRunner(live.lesson)
    for entry in journal:
        if entry["op"] != "start":
            move_to(again.history, entry["events"], float(entry["time"]))
        again.redo(entry)
    move_to(again.history, live.history.cluster.events_processed, live.history.now)
    return again
