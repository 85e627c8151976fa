"""What a page has been sent so far, so the next frame can be a delta (docs/protocol.md).

Shared by a session's connections and a classroom's one broadcast stream; it imports nothing
from the service layer, so sessions and classrooms both build on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class LogMark:
    """What one page holds of one node's log: entries ``first..length`` and digests to check.

    ``anchors`` are ``(index, digest)`` pairs at ``length``, ``length - 1``, ``length - 2``,
    ``length - 4``, ... (down to ``first``): the highest anchor whose digest still matches
    the node's log is where the page's copy stops being right.
    """

    first: int
    length: int
    anchors: tuple[tuple[int, int], ...]


@dataclass(slots=True)
class FrameState:
    """Per connection: what was last sent, so the next frame can carry only changes."""

    full: bool = True  # the next frame must be full
    last_event_seq: int = 0
    last_op_id: int | None = None  # the newest finished operation sent
    last_milestone_seq: int = 0
    logs: dict[str, LogMark] = field(default_factory=dict)
    sent: dict[str, Any] = field(default_factory=dict)  # omittable top-level fields last sent
    plain_logs: dict[str, list[Any]] = field(default_factory=dict)  # logs without digests
